//! `hpaxos check FILE`: exhaustive model check of the real protocol core on
//! a small instance of the configuration in FILE (issue 3).
//!
//! Data flow: FILE -> `hpaxos_config::load_file` -> validated `Trust` (or,
//! with `--allow-invalid`, `Trust::unchecked`) -> `hpaxos_check::Instance`
//! with the options below -> `hpaxos_check::run::check` (DFS with sleep
//! sets, swarm, or stateright BFS) -> summary (human or `--json`),
//! with the trace of every violation. Exit 0: no violation and the model can
//! decide; 1: a violation (or a vacuous model); 2: unusable input; 3: with
//! `--require-complete`, the run stopped at a bound before exploring every
//! state (without it such a run exits 0 and its last line says
//! "incomplete: nothing proven" and which bound it hit).

use crate::Outcome;
use anyhow::{bail, Context};
use hpaxos_check::model::CheckModel;
use hpaxos_check::run::{self, Engine, Limits, Progress};
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
    /// Fake 1b messages: none, empty (no vote, no proposal), one (at most
    /// one of each), top (one at the highest ballot, empty below).
    #[arg(long, default_value = "empty")]
    pub fake_1b: String,
    /// Fake acceptors send no 2av (a smaller fake domain: fewer Byzantine
    /// behaviours covered, not a reduction).
    #[arg(long)]
    pub no_fake_2av: bool,
    /// Fake acceptors send no 2b (a smaller fake domain, as --no-fake-2av).
    #[arg(long)]
    pub no_fake_2b: bool,
    /// Also send every 1c(l, b, v) of the domain from the start (the spec's unguarded Phase1c).
    #[arg(long)]
    pub any_1c: bool,
    /// The network may also lose messages (it always reorders and duplicates).
    #[arg(long)]
    pub lossy: bool,
    /// Safe acceptors also take Phase1b and Phase2av below their maxBal
    /// (spec/HPaxosLate.tla, as the node runs them); refinement is then
    /// checked against HPaxosLate.
    #[arg(long)]
    pub late: bool,
    /// Phase 1 by range messages (issue 9): proposers send a range 1a (every
    /// slot from the model's slot on), acceptors answer with range 1b, fake
    /// 1b are range 1b; refinement expands each into its per-slot steps.
    #[arg(long)]
    pub range: bool,
    /// Also run the refinement check (hpaxos-spec) on every explored step.
    #[arg(long)]
    pub refinement: bool,
    /// Run even if the learner graph is invalid (to see what goes wrong).
    #[arg(long)]
    pub allow_invalid: bool,
    /// Stop after about this many states (the run is then incomplete). In
    /// swarm search, the budget of each seed. Default: 5000000 (bfs),
    /// 100000000 (dfs), 200000 (swarm).
    #[arg(long)]
    pub max_states: Option<usize>,
    /// Stop when the explorer's state table reaches this many MiB (dfs and
    /// swarm; the run is then incomplete).
    #[arg(long, default_value_t = 4096)]
    pub max_memory: u64,
    /// Do not explore beyond this depth (the run is then incomplete).
    #[arg(long)]
    pub max_depth: Option<usize>,
    /// Stop after this many seconds (the run is then incomplete).
    #[arg(long)]
    pub timeout: Option<u64>,
    /// Checker threads (bfs and swarm; default: available cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Exit 3 instead of 0 when the run stops at a bound (states, depth,
    /// memory, time, seeds) before exploring every reachable state.
    #[arg(long)]
    pub require_complete: bool,
    /// Explorer: dfs (depth-first with sleep sets, exhaustive), swarm
    /// (random-order DFS runs from --seed, --seeds of them, to find deep
    /// counterexamples), bfs (stateright's breadth-first: shortest traces).
    #[arg(long, default_value = "dfs")]
    pub search: String,
    /// Turn the sleep-set (partial-order) reduction off (dfs, swarm).
    #[arg(long)]
    pub no_sleep_sets: bool,
    /// Symmetry reduction (dfs, swarm): on explores one state per orbit of
    /// the permutations of interchangeable safe acceptors the trust allows
    /// (sleep sets stay on unless --no-sleep-sets); off (the default)
    /// explores every state.
    #[arg(long, default_value = "off", value_parser = ["on", "off"])]
    pub symmetry: String,
    /// Dead-message reduction (dfs, swarm): on (the default) keys each
    /// safe acceptor by what of its state a guard can still read (index
    /// entries below its maxBal, and receipts that only added such entries,
    /// are left out), so states differing only there are explored once
    /// (exact: the same verdicts); off explores every state. Ignored with
    /// --search bfs.
    #[arg(long, default_value = "on", value_parser = ["on", "off"])]
    pub dead: String,
    /// dfs: one unbounded search instead of iterative deepening (depth
    /// bounds 12, 24, 48, ...); cheaper when no violation is expected,
    /// slower to find a shallow one.
    #[arg(long)]
    pub no_deepening: bool,
    /// Random action order from this seed (dfs), or the first seed (swarm).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Swarm seeds to run.
    #[arg(long, default_value_t = 64)]
    pub seeds: u64,
    /// Comma-separated safe acceptors that may crash and restart from
    /// their durable records.
    #[arg(long, default_value = "")]
    pub restart: String,
    /// Restarts each acceptor of --restart may take.
    #[arg(long, default_value_t = 1)]
    pub restarts: u8,
    /// Test builds only (feature `mutations`): weaken one guard of the core
    /// (a name from crates/core/src/mutations.rs, e.g. phase2b-ignore-maxbal);
    /// the check must then find a violation.
    #[cfg(feature = "mutations")]
    #[arg(long)]
    pub mutation: Option<String>,
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
    let restart: AccSet = cfg.parse_acceptor_list(&a.restart)?.into_iter().collect();
    let fake_1b = match a.fake_1b.as_str() {
        "none" => Fake1b::None,
        "empty" => Fake1b::Empty,
        "one" => Fake1b::One,
        "top" => Fake1b::Top,
        other => bail!("--fake-1b must be none, empty, one or top, not `{other}`"),
    };
    Ok(Options {
        ballots: a.ballots,
        values: a.values,
        proposers: a.proposers,
        fake,
        fake_1b,
        fake_2av: !a.no_fake_2av,
        fake_2b: !a.no_fake_2b,
        any_1c: a.any_1c,
        lossy: a.lossy,
        restart,
        restarts: a.restarts,
        late: a.late,
        range: a.range,
    })
}

pub fn run(a: CheckArgs) -> anyhow::Result<Outcome> {
    #[cfg(feature = "mutations")]
    if let Some(name) = &a.mutation {
        use hpaxos_core::mutations::{self, Mutation};
        let Some(m) = Mutation::parse(name) else {
            let all: Vec<&str> = Mutation::ALL.iter().map(|m| m.name()).collect();
            bail!("unknown --mutation `{name}`; one of: {}", all.join(", "));
        };
        mutations::set(m);
        eprintln!("warning: mutation {name} is on: the core is deliberately broken");
    }
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
    let sleep_sets = !a.no_sleep_sets;
    let (engine, default_states) = match a.search.as_str() {
        "dfs" => (
            Engine::Dfs {
                sleep_sets,
                seed: a.seed,
            },
            100_000_000,
        ),
        "swarm" => (
            Engine::Swarm {
                sleep_sets,
                first: a.seed.unwrap_or(0),
                seeds: a.seeds,
            },
            200_000,
        ),
        "bfs" => (Engine::Bfs, 5_000_000),
        other => bail!("--search must be dfs, swarm or bfs, not `{other}`"),
    };
    let limits = Limits {
        threads: a.threads.unwrap_or(Limits::default().threads),
        max_states: Some(a.max_states.unwrap_or(default_states)).filter(|n| *n > 0),
        max_depth: a.max_depth,
        timeout: a.timeout.map(Duration::from_secs),
        max_bytes: Some(a.max_memory.saturating_mul(1024 * 1024)).filter(|n| *n > 0),
        engine,
        deepening: !a.no_deepening,
        count_orbits: false,
    };
    let tty = std::io::stderr().is_terminal();
    // On a terminal the line is redrawn; otherwise (CI logs) one line every
    // 10 s, so a long run shows it is alive.
    let mut last_line = std::time::Instant::now();
    let mut progress = |p: Progress| {
        let line = if p.seeds > 0 {
            format!(
                "  {} states, depth {}, {} seeds done, {:.0} s",
                p.states,
                p.depth,
                p.seeds,
                p.elapsed.as_secs_f64()
            )
        } else {
            format!(
                "  {} states, depth {}, {:.0} s",
                p.states,
                p.depth,
                p.elapsed.as_secs_f64()
            )
        };
        if tty {
            eprint!("\r{line}   ");
            let _ = std::io::stderr().flush();
        } else if last_line.elapsed() >= Duration::from_secs(10) {
            last_line = std::time::Instant::now();
            eprintln!("{line}");
        }
    };
    let monitor: Option<std::sync::Arc<dyn hpaxos_check::monitor::MonitorFactory>> = if a.refinement
    {
        Some(std::sync::Arc::new(hpaxos_check::monitor::RefinementCheck))
    } else {
        None
    };
    let mut model = CheckModel::new(inst, monitor);
    if a.symmetry == "on" {
        if matches!(limits.engine, Engine::Bfs) {
            bail!("--symmetry on works with --search dfs or swarm, not bfs");
        }
        model.with_symmetry();
    }
    // stateright's BFS keys states itself: the reduction is the own
    // explorer's.
    model.dead = a.dead == "on" && !matches!(limits.engine, Engine::Bfs);
    let report = run::check(model, &limits, &mut progress);
    if tty {
        eprint!("\r{:70}\r", "");
    }
    if !report.complete && report.violations.is_empty() && !report.decided {
        eprintln!(
            "warning: no explored state has a decision: the part explored says nothing \
             about what happens once learners decide"
        );
    }
    if report.unchanged_sends > 0 && report.sleep_sets {
        eprintln!(
            "warning: {} steps sent a new message without changing their actor; the \
             sleep-set reduction assumes none (rerun with --no-sleep-sets)",
            report.unchanged_sends
        );
    }
    if a.json {
        print_json(&report, &entangled);
    } else {
        print_human(&a, &report, &safe, &fake, &entangled);
    }
    Ok(if !report.violations.is_empty() {
        Outcome::Violation
    } else if !report.complete && a.require_complete {
        Outcome::Incomplete
    } else {
        Outcome::Ok
    })
}

/// The replay line of a violation found by a random-order run.
fn replay(a: &CheckArgs, seed: u64) -> String {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // Drop the search options, then pin the one seed that found it: a
    // swarm seed's run is the random-order DFS of that seed, cut at its
    // budget, so the DFS of that seed meets the same violation.
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let x = std::mem::take(&mut args[i]);
        let takes_value = ["--search", "--seed", "--seeds", "--threads"];
        if takes_value.contains(&x.as_str()) {
            i += 2;
            continue;
        }
        if takes_value.iter().any(|f| x.starts_with(&format!("{f}="))) || x == "--json" {
            i += 1;
            continue;
        }
        out.push(x);
        i += 1;
    }
    let _ = a;
    format!("hpaxos {} --search dfs --seed {seed}", out.join(" "))
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
        "search": r.engine,
        "stopped_by": r.stop.as_ref().map(|s| s.to_string()),
        "bytes_per_state": r.bytes_per_state,
        "collision_bound": r.collision_bound,
        "seed": r.seed,
        "seeds_run": r.seeds_run,
        "symmetry_group": r.symmetry,
        "sleep_sets": r.sleep_sets,
        "memo_bytes": r.memo_bytes,
        "dead": r.dead,
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
        "  states      {} ({}), depth {}, {} messages, {} transitions",
        r.states,
        if r.complete {
            "complete"
        } else if r.violations.is_empty() {
            "INCOMPLETE: a limit was hit"
        } else {
            "stopped at the first violation"
        },
        r.max_depth,
        r.messages,
        r.generated
    );
    println!(
        "  time        {:.1} s, {:.0} states/s, search {}{}",
        r.elapsed.as_secs_f64(),
        r.states_per_second(),
        r.engine,
        if r.seeds_run > 1 {
            format!(" ({} seeds)", r.seeds_run)
        } else {
            String::new()
        }
    );
    if let Some(b) = r.bytes_per_state {
        println!(
            "  memory      {b:.0} bytes/state (fingerprint table); collision bound {:.1e}",
            r.collision_bound
        );
    }
    if a.symmetry == "on" {
        if r.symmetry > 1 {
            println!(
                "  symmetry    {} permutations of the safe acceptors: one state per orbit \
                 (sleep sets {}; memo of images {:.1} MiB)",
                r.symmetry,
                if r.sleep_sets { "on" } else { "off" },
                r.memo_bytes as f64 / (1024.0 * 1024.0)
            );
        } else {
            println!("  symmetry    none: the trust allows no permutation of the safe acceptors");
        }
    }
    if r.dead {
        println!(
            "  dead        on: acceptors keyed by their live state (index entries below \
             maxBal, and receipts that only added them, left out)"
        );
    }
    println!(
        "  decided     {}",
        if r.decided {
            "reachable"
        } else {
            "not reached"
        }
    );
    if r.violations.is_empty() {
        match &r.stop {
            None => println!("no violation found: every reachable state was checked"),
            Some(stop) => {
                println!("no violation found in the states explored");
                println!("incomplete: nothing proven ({stop})");
            }
        }
        return;
    }
    if let Some(seed) = r.seed {
        println!("  found by    seed {seed}; replay: {}", replay(a, seed));
    }
    for v in &r.violations {
        println!();
        println!("VIOLATION of {}: {}", v.property, v.summary);
        for line in &v.trace {
            println!("{line}");
        }
    }
}
