//! `hpaxos check FILE`: exhaustive model check of the real protocol core on
//! a small instance of the configuration in FILE (issue 3).
//!
//! Data flow: FILE -> `hpaxos_config::load_file` -> validated `Trust` (or,
//! with `--allow-invalid`, `Trust::unchecked`) -> `hpaxos_check::Instance`
//! with the options below -> stateright BFS -> summary (human or `--json`),
//! with the trace of every violation. Exit 0: no violation and the model can
//! decide; 1: a violation (or a vacuous model); 2: unusable input.

use crate::Outcome;
use anyhow::{bail, Context};
use hpaxos_check::model::CheckModel;
use hpaxos_check::run::{self, Limits, Progress};
use hpaxos_check::{Fake1b, Instance, Options, Report};
use hpaxos_core::{graph::GraphError, AccSet, Trust};
use std::io::{IsTerminal, Write};
use std::time::Duration;

#[derive(clap::Args)]
pub struct CheckArgs {
    /// The configuration (TOML) to check.
    pub file: std::path::PathBuf,
    /// Print one JSON object: {"states", "complete", "violations", ...}.
    #[arg(long)]
    pub json: bool,
    /// Ballots 1..=N.
    #[arg(long, default_value_t = 2)]
    pub ballots: u64,
    /// Number of distinct values (x, y, z, ...).
    #[arg(long, default_value_t = 2)]
    pub values: usize,
    /// Number of proposers (default: one per ballot).
    #[arg(long)]
    pub proposers: Option<usize>,
    /// Comma-separated acceptors that are fake (Byzantine), e.g. `a4`.
    #[arg(long, default_value = "")]
    pub fake: String,
    /// Fake 1b messages: none, empty (no vote, no proposal), one (at most one of each).
    #[arg(long, default_value = "empty")]
    pub fake_1b: String,
    /// Also send every 1c(l, b, v) of the domain from the start (the spec's unguarded Phase1c).
    #[arg(long)]
    pub any_1c: bool,
    /// The network may also lose messages (it always reorders and duplicates).
    #[arg(long)]
    pub lossy: bool,
    /// Also run the refinement check (hpaxos-spec) on every explored step.
    #[arg(long)]
    pub refinement: bool,
    /// Run even if the learner graph is invalid (to see what goes wrong).
    #[arg(long)]
    pub allow_invalid: bool,
    /// Stop after about this many generated states (the run is then
    /// incomplete). A memory guard: a distinct state takes up to ~10 KB.
    #[arg(long, default_value_t = 5_000_000)]
    pub max_states: usize,
    /// Do not explore beyond this depth (the run is then incomplete).
    #[arg(long)]
    pub max_depth: Option<usize>,
    /// Stop after this many seconds (the run is then incomplete).
    #[arg(long)]
    pub timeout: Option<u64>,
    /// Checker threads (default: available cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

fn trust(cfg: &hpaxos_config::Config, allow_invalid: bool) -> anyhow::Result<Trust> {
    match cfg.validate() {
        Ok(t) => Ok(t),
        Err(GraphError::Invalid(v)) if allow_invalid => {
            eprintln!(
                "warning: the learner graph is invalid ({} violation(s)); running it anyway",
                v.len()
            );
            Ok(Trust::unchecked(cfg.graph.clone())?)
        }
        Err(GraphError::Invalid(v)) => bail!(
            "the learner graph is invalid ({} violation(s); see `hpaxos graph check`); \
             pass --allow-invalid to model-check it anyway",
            v.len()
        ),
        Err(e) => Err(e.into()),
    }
}

fn options(a: &CheckArgs, cfg: &hpaxos_config::Config) -> anyhow::Result<Options> {
    let fake: AccSet = cfg.parse_acceptor_list(&a.fake)?.into_iter().collect();
    let fake_1b = match a.fake_1b.as_str() {
        "none" => Fake1b::None,
        "empty" => Fake1b::Empty,
        "one" => Fake1b::One,
        other => bail!("--fake-1b must be none, empty or one, not `{other}`"),
    };
    Ok(Options {
        ballots: a.ballots,
        values: a.values,
        proposers: a.proposers,
        fake,
        fake_1b,
        any_1c: a.any_1c,
        lossy: a.lossy,
        ..Options::default()
    })
}

pub fn run(a: CheckArgs) -> anyhow::Result<Outcome> {
    let cfg = hpaxos_config::load_file(&a.file)
        .with_context(|| format!("cannot use {}", a.file.display()))?;
    let trust = trust(&cfg, a.allow_invalid)?;
    let inst = Instance::new(trust, options(&a, &cfg)?)?;
    let t = inst.trust.clone();
    let safe: Vec<String> = inst
        .safe
        .iter()
        .map(|x| t.acceptor_name(x).to_string())
        .collect();
    let fake: Vec<String> = inst
        .opts
        .fake
        .iter()
        .map(|x| t.acceptor_name(x).to_string())
        .collect();
    let entangled: Vec<[String; 2]> = inst
        .entangled
        .iter()
        .map(|(x, y)| {
            [
                t.learner_name(*x).to_string(),
                t.learner_name(*y).to_string(),
            ]
        })
        .collect();
    let limits = Limits {
        threads: a.threads.unwrap_or(Limits::default().threads),
        max_states: Some(a.max_states).filter(|n| *n > 0),
        max_depth: a.max_depth,
        timeout: a.timeout.map(Duration::from_secs),
    };
    let tty = std::io::stderr().is_terminal();
    let mut progress = |p: Progress| {
        if tty {
            eprint!(
                "\r  {} states, depth {}, {:.0} s   ",
                p.states,
                p.depth,
                p.elapsed.as_secs_f64()
            );
            let _ = std::io::stderr().flush();
        }
    };
    let monitor: Option<std::sync::Arc<dyn hpaxos_check::monitor::MonitorFactory>> = if a.refinement
    {
        Some(std::sync::Arc::new(hpaxos_check::monitor::RefinementCheck))
    } else {
        None
    };
    let report = run::check(CheckModel::new(inst, monitor), &limits, &mut progress);
    if tty {
        eprint!("\r{:60}\r", "");
    }
    if a.json {
        print_json(&report, &entangled);
    } else {
        print_human(&a, &report, &safe, &fake, &entangled);
    }
    Ok(if report.violations.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Violation
    })
}

fn print_json(r: &Report, entangled: &[[String; 2]]) {
    let found: Vec<serde_json::Value> = r
        .violations
        .iter()
        .map(|v| {
            serde_json::json!({
                "property": v.property,
                "summary": v.summary,
                "trace": v.trace,
            })
        })
        .collect();
    let out = serde_json::json!({
        "states": r.states,
        "complete": r.complete,
        "violations": r.violations.len(),
        "generated": r.generated,
        "depth": r.max_depth,
        "decided": r.decided,
        "messages": r.messages,
        "seconds": r.elapsed.as_secs_f64(),
        "states_per_second": r.states_per_second(),
        "entangled": entangled,
        "found": found,
    });
    println!("{out}");
}

fn print_human(
    a: &CheckArgs,
    r: &Report,
    safe: &[String],
    fake: &[String],
    entangled: &[[String; 2]],
) {
    let pairs: Vec<String> = entangled.iter().map(|[x, y]| format!("{x}-{y}")).collect();
    println!("model check of {}", a.file.display());
    println!("  safe        {}", safe.join(", "));
    println!(
        "  fake        {}",
        if fake.is_empty() {
            "none".into()
        } else {
            fake.join(", ")
        }
    );
    println!(
        "  entangled   {}",
        if pairs.is_empty() {
            "none (safety claims nothing)".into()
        } else {
            pairs.join(", ")
        }
    );
    println!(
        "  states      {} ({}), depth {}, {} messages",
        r.states,
        if r.complete {
            "complete"
        } else if r.violations.is_empty() {
            "INCOMPLETE: a limit was hit"
        } else {
            "stopped at the first violation"
        },
        r.max_depth,
        r.messages
    );
    println!(
        "  time        {:.1} s, {:.0} states/s",
        r.elapsed.as_secs_f64(),
        r.states_per_second()
    );
    println!(
        "  decided     {}",
        if r.decided {
            "reachable"
        } else {
            "not reached"
        }
    );
    if r.violations.is_empty() {
        println!("no violation found");
        return;
    }
    for v in &r.violations {
        println!();
        println!("VIOLATION of {}: {}", v.property, v.summary);
        for line in &v.trace {
            println!("{line}");
        }
    }
}
