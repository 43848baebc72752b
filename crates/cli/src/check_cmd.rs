//! `hpaxos check` (issue 3).
use crate::Outcome;

#[derive(clap::Args)]
pub struct CheckArgs {
    pub file: std::path::PathBuf,
    #[arg(long)]
    pub json: bool,
}

pub fn run(_a: CheckArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("the model checker is not implemented yet")
}
