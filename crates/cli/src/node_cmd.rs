//! `hpaxos node|keygen|client|demo` (issue 5).
use crate::Outcome;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum NodeCmd {
    /// Start a local cluster, run a workload, print decisions, stop.
    Demo,
}

pub fn run(_c: NodeCmd) -> anyhow::Result<Outcome> {
    anyhow::bail!("the node is not implemented yet")
}
