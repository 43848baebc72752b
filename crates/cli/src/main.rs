//! `hpaxos`: the command line. Each subcommand lives in its own module;
//! this file only parses arguments and maps outcomes to exit codes
//! (PRODUCT.md: 0 fine, 1 violation found / invalid, 2 unusable input;
//! `check --require-complete` adds 3: incomplete run).

use clap::{CommandFactory, Parser, Subcommand};
use std::process::ExitCode;

mod bench;
mod check_cmd;
mod docs_cmd;
mod graph_cmd;
mod k8s_cmd;
mod node_cmd;
mod sim_cmd;
mod testnet_cmd;

#[derive(Parser)]
#[command(
    name = "hpaxos",
    version,
    about = "Heterogeneous Paxos: learner-graph tools, model checker, simulator and node"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Learner-graph tools: validity and what holds under failures.
    Graph {
        #[command(subcommand)]
        cmd: graph_cmd::GraphCmd,
    },
    /// Exhaustive model check of the implementation on a small instance.
    Check(check_cmd::CheckArgs),
    /// Deterministic simulation of whole clusters.
    Sim(sim_cmd::SimArgs),
    /// Write a whole cluster (keys, cluster.toml, start/stop scripts,
    /// optionally a compose file): exit 0, or 2.
    Testnet(testnet_cmd::TestnetArgs),
    /// Render Kubernetes manifests (StatefulSet + headless Service per
    /// node, ConfigMap, Secrets, volume claims) for a cluster file.
    K8s(k8s_cmd::K8sArgs),
    #[command(flatten)]
    Node(node_cmd::NodeCmd),
    /// Start a local multi-process cluster, drive a workload and report
    /// throughput and latency beside the machine's measured limits: exit 0, or 2.
    Bench(bench::BenchArgs),
    /// Print a shell completion script (e.g. `hpaxos completions bash`).
    Completions(docs_cmd::CompletionsArgs),
    /// Print the man page, or write all of them with --out DIR.
    Man(docs_cmd::ManArgs),
}

/// How a command ended, mapped to the fixed exit codes.
pub enum Outcome {
    /// Exit 0.
    Ok,
    /// Exit 1: invalid graph or violation found.
    Violation,
    /// Exit 3: `hpaxos check --require-complete` stopped at a bound.
    Incomplete,
    /// Another documented exit code (e.g. `hpaxos client`'s 3 and 4); the
    /// command printed its own message.
    Exit(u8),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(2),
            };
        }
    };
    let res = match cli.cmd {
        Cmd::Graph { cmd } => graph_cmd::run(cmd),
        Cmd::Check(a) => check_cmd::run(a),
        Cmd::Sim(a) => sim_cmd::run(a),
        Cmd::Testnet(a) => testnet_cmd::run(a),
        Cmd::K8s(a) => k8s_cmd::run(a),
        Cmd::Node(c) => node_cmd::run(c),
        Cmd::Bench(a) => bench::run(a),
        Cmd::Completions(a) => docs_cmd::completions(a, Cli::command()),
        Cmd::Man(a) => docs_cmd::man(a, Cli::command()),
    };
    match res {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Violation) => ExitCode::from(1),
        Ok(Outcome::Incomplete) => ExitCode::from(3),
        Ok(Outcome::Exit(c)) => ExitCode::from(c),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
