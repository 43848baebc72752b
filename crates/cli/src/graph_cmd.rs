//! `hpaxos graph check|explain` (issue 2).
use crate::Outcome;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum GraphCmd {
    /// Validate the learner graph of FILE.
    Check {
        file: std::path::PathBuf,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(_cmd: GraphCmd) -> anyhow::Result<Outcome> {
    anyhow::bail!("graph commands are not implemented yet")
}
