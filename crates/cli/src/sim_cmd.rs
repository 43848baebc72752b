//! `hpaxos sim` (issue 4).
use crate::Outcome;

#[derive(clap::Args)]
pub struct SimArgs {
    pub file: std::path::PathBuf,
    #[arg(long)]
    pub seeds: u64,
    #[arg(long)]
    pub json: bool,
}

pub fn run(_a: SimArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("the simulator is not implemented yet")
}
