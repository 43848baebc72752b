//! `hpaxos-node node --config FILE --name NAME ...`: the node alone, for the
//! multi-process tests of this crate (`hpaxos node` is the same entry point
//! with the same options). Usage errors exit 2 (clap's convention, and the
//! product's "unusable input").

use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "hpaxos-node",
    version,
    about = "One hpaxos node (the same as `hpaxos node`)"
)]
enum Cli {
    /// Run one node of a cluster until SIGTERM/SIGINT.
    Node {
        /// The cluster configuration (PRODUCT.md file plus [nodes.*] tables).
        #[arg(long)]
        config: PathBuf,
        /// This node's name (a [nodes.NAME] table).
        #[arg(long)]
        name: String,
        /// Data directory (overrides the node table's data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Secret key file (overrides the node table's key_file).
        #[arg(long = "key")]
        key_file: Option<PathBuf>,
        /// Fault-test mode: misbehave (`equivocate`). Never in production.
        #[arg(long, value_parser = hpaxos_node::parse_byzantine)]
        byzantine: Option<hpaxos_node::Byzantine>,
        /// Drop a corrupt write-ahead-log tail instead of refusing to start.
        #[arg(long)]
        truncate_corrupt_wal: bool,
    },
}

fn main() -> std::process::ExitCode {
    let Cli::Node {
        config,
        name,
        data_dir,
        key_file,
        byzantine,
        truncate_corrupt_wal,
    } = Cli::parse();
    hpaxos_node::init_logging();
    let a = hpaxos_node::NodeArgs {
        config,
        name,
        data_dir,
        key_file,
        byzantine,
        truncate_corrupt_wal,
    };
    match hpaxos_node::run_node(a) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The whole chain of causes, as `hpaxos` prints it.
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            eprintln!("error: {msg}");
            std::process::ExitCode::from(2)
        }
    }
}
