//! `hpaxos-harness`: black-box fault tests of an hpaxos cluster in
//! containers, Jepsen-style. Outside the nodes, through the client HTTP API
//! only, it runs a workload of puts, gets and deletes on several keys per
//! learner while a seeded nemesis partitions, kills and pauses nodes (one
//! node may be Byzantine for the whole run), heals everything, and checks
//! that no acknowledged write is lost, that entangled learners' logs agree
//! slot by slot, that each learner's history is linearizable (stateright's
//! tester), and that every learner that must progress does so within a
//! bound after the heal.
//!
//! Data flow: [`cluster`] (containers from `hpaxos testnet`'s files) ->
//! [`workload`] + [`nemesis`] concurrently -> heal -> final reads ->
//! [`checks`] and [`lincheck`] -> `OUT/` (`history.jsonl`, `schedule.json`,
//! `nemesis.jsonl`, `verdict.json`, `summary.txt`, `timeline.svg`, `logs/`).
//! Every container, network and volume it created is removed on every exit
//! path ([`docker`]).
//!
//! Exit: 0 every check passed, 1 a check failed, 2 could not run, 3
//! inconclusive (a linearizability search ran out of time); with no Docker
//! daemon it prints `SKIPPED` and exits 0 (2 with `--require-docker`).

mod checks;
mod cluster;
mod docker;
mod history;
mod lincheck;
mod nemesis;
mod plot;
mod report;
mod run;
mod sampler;
mod workload;

use anyhow::Context;
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Clone)]
#[command(
    name = "hpaxos-harness",
    about = "Black-box fault tests of an hpaxos cluster in containers"
)]
pub struct Args {
    /// `ci` (about 2 min of load, ~45 s of faults), `long` (5 min of faults),
    /// `byzantine` (ci's faults with n5 equivocating throughout).
    #[arg(long, default_value = "ci")]
    pub schedule: String,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory (created; must not exist or be empty).
    #[arg(long, default_value = "harness-out")]
    pub out: PathBuf,
    #[arg(long, default_value = "hpaxos:latest")]
    pub image: String,
    #[arg(long, default_value_t = 5)]
    pub nodes: usize,
    /// Seconds of faults (overrides the schedule's).
    #[arg(long)]
    pub fault_secs: Option<u64>,
    /// Seconds every live learner has to acknowledge an operation after the heal.
    #[arg(long, default_value_t = 30)]
    pub recovery_bound: u64,
    /// Clients per learner.
    #[arg(long, default_value_t = 2)]
    pub clients: usize,
    /// Keys per learner.
    #[arg(long, default_value_t = 3)]
    pub keys: usize,
    /// Seconds a client waits for one operation before it counts as
    /// unknown; the client then avoids that node for `--avoid-secs`. Short,
    /// as a client with several endpoints would wait: a paused or killed
    /// node answers nothing, and a client waiting on it for the whole fault
    /// window would hide whether the others make progress.
    #[arg(long, default_value_t = 2.0)]
    pub op_timeout: f64,
    /// Seconds a client avoids a node after an operation there timed out
    /// or could not connect.
    #[arg(long, default_value_t = 3.0)]
    pub avoid_secs: f64,
    /// Seconds the linearizability search may take per key.
    #[arg(long, default_value_t = 60)]
    pub check_budget: u64,
    /// Fail (exit 2) instead of skipping when no Docker daemon answers.
    #[arg(long)]
    pub require_docker: bool,
    /// A `[cluster]` key of the nodes' configuration, `KEY=VALUE` with VALUE
    /// in TOML (`--set late_steps=true --set window=16`); repeatable. The
    /// node refuses unknown keys, so a typo fails the start.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
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
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let code = rt.block_on(async_main(args));
    // Abandoned linearizability searches must not keep the process alive.
    rt.shutdown_background();
    ExitCode::from(code)
}

/// Resolves on SIGTERM (never, where it cannot be watched).
async fn sigterm() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending::<()>().await,
    }
}

async fn async_main(args: Args) -> u8 {
    if !docker::Docker::available().await {
        if args.require_docker {
            eprintln!("error: no Docker daemon answers (`docker info` failed)");
            return 2;
        }
        println!("hpaxos-harness: SKIPPED: no Docker daemon answers (`docker info` failed)");
        return 0;
    }
    let run = format!("hpx{}-{}", args.seed, std::process::id());
    let d = std::sync::Arc::new(docker::Docker::new(&run));
    let job = {
        let d = d.clone();
        let args = args.clone();
        let run = run.clone();
        tokio::spawn(async move { report::run(&d, &args, &run).await })
    };
    let res = tokio::select! {
        r = job => match r {
            Ok(r) => r,
            Err(e) => Err(anyhow::anyhow!("the run panicked: {e}")),
        },
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted (SIGINT)")),
        _ = sigterm() => Err(anyhow::anyhow!("terminated (SIGTERM)")),
    };
    let removed = d.cleanup().await;
    eprintln!(
        "cleanup: removed {} containers, {} networks, {} volumes{}",
        removed.containers,
        removed.networks,
        removed.volumes,
        if removed.errors.is_empty() {
            String::new()
        } else {
            format!("; errors: {}", removed.errors.join("; "))
        }
    );
    match res.context("hpaxos-harness") {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    }
}
