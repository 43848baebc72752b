//! `hpaxos sim FILE --seeds N [--seed S] [--json] ...` (issue 4): loads the
//! configuration, builds a [`hpaxos_sim::Sim`] from the flags, runs the
//! seeds (or a `--duration` soak) with a progress bar on a terminal, and
//! prints the summary table, the first failure's report (seed, replay
//! command, causal trace), or one JSON object. Exit 0 when no violation was
//! found, 1 when one was, 2 on unusable input.

use crate::Outcome;
use anyhow::{bail, Context};
use hpaxos_core::{AccSet, Trust};
use hpaxos_sim::sweep::{sweep, Plan};
use hpaxos_sim::{FakeChoice, RefineChoice, Sim, SimParams, Summary};
use serde_json::json;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args)]
pub struct SimArgs {
    /// The configuration file (PRODUCT.md format).
    pub file: PathBuf,
    /// Number of seeds to run (from --seed on).
    #[arg(long)]
    pub seeds: Option<u64>,
    /// First seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print one JSON object: {"runs", "violations", "decisions", ...}.
    #[arg(long)]
    pub json: bool,
    /// Soak mode: keep running seeds for this many wall-clock seconds
    /// (with --seeds, at most that many).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Simulate an invalid learner graph anyway (to watch it fail).
    #[arg(long)]
    pub allow_invalid: bool,
    /// Byzantine acceptors, comma-separated (default: drawn per seed).
    #[arg(long, value_name = "IDS", allow_hyphen_values = true)]
    pub fake: Option<String>,
    /// Byzantine acceptors behave like safe ones (no attacks).
    #[arg(long)]
    pub no_attacks: bool,
    /// No loss, duplication, partitions or slow links before GST.
    #[arg(long)]
    pub no_net_faults: bool,
    /// No crashes and restarts.
    #[arg(long)]
    pub no_crashes: bool,
    /// Safe acceptors also take Phase1b and Phase2av below their maxBal
    /// (spec/HPaxosLate.tla; refinement is then checked against
    /// HPaxosLate). The default, as in the node (kept for old replay
    /// lines).
    #[arg(long, conflicts_with = "no_late")]
    pub late: bool,
    /// The seed's acceptors: no late Phase1b/Phase2av (refinement against
    /// HPaxos itself).
    #[arg(long)]
    pub no_late: bool,
    /// Safe acceptors neither count a signed 2av as its sender's proposal
    /// nor relay the 2av behind their votes (`AcceptorOptions::
    /// signed_proposals`), to show the stalls a proposer that announces
    /// two values at one ballot leaves without them.
    #[arg(long)]
    pub no_signed_proposals: bool,
    /// The nodes take 1a/1c at any ballot (no ballot ceiling), to show what
    /// a fake's 1a at ballot u64::MAX does to a slot.
    #[arg(long)]
    pub no_ballot_ceiling: bool,
    /// The leader runs per-slot Phase 1 only (no range 1a/1b): every slot
    /// 1a -> 1b -> 1c -> 2av -> 2b, as before range Phase 1.
    #[arg(long)]
    pub no_range: bool,
    /// Switch attacks off (comma-separated: equivocate, lie-1b, withhold,
    /// compete-1c, hijack, inflate, max-ballot, random, replay), to tell
    /// which attack a failing seed needs; the rest of the seed is unchanged.
    #[arg(long, value_name = "ATTACKS")]
    pub without: Option<String>,
    /// Do not check liveness after GST.
    #[arg(long)]
    pub no_liveness: bool,
    /// Judge every slot, also those started before GST in runs with a
    /// Byzantine acceptor or several learners (where the spec's protocol
    /// can still leave a slot undecidable).
    #[arg(long)]
    pub judge_all: bool,
    /// Refinement check and spec invariants: off, on, or a percentage of
    /// the seeds (e.g. 5).
    #[arg(long, default_value = "off")]
    pub refine: String,
    /// Check the spec invariants every N replayed actions (and at the end).
    #[arg(long, default_value_t = 64)]
    pub refine_every: u64,
    /// The CI sweep's parameters (60 ms of chaos, faster network after GST,
    /// 0.5 ms pacemaker unit), as the tests' replay lines say.
    #[arg(long)]
    pub quick: bool,
    /// Virtual milliseconds of chaos before GST.
    #[arg(long, value_name = "MS")]
    pub gst_ms: Option<u64>,
    /// Proposers.
    #[arg(long)]
    pub proposers: Option<u16>,
    /// Replicas per learner.
    #[arg(long)]
    pub replicas: Option<u16>,
    /// Client commands per proposer per virtual second.
    #[arg(long)]
    pub rate: Option<u64>,
    /// Worker threads (each seed is deterministic whatever the count).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Recent events shown in a failure trace.
    #[arg(long, default_value_t = 48)]
    pub trace: usize,
}

fn params(a: &SimArgs, cfg: &hpaxos_config::Config) -> anyhow::Result<SimParams> {
    let mut p = if a.quick {
        SimParams::quick()
    } else {
        SimParams::default()
    };
    if let Some(list) = &a.fake {
        let ids = cfg
            .parse_acceptor_list(list)
            .with_context(|| format!("--fake {list:?}"))?;
        p.fake = FakeChoice::Fixed(ids.into_iter().collect::<AccSet>());
    }
    p.attacks = !a.no_attacks;
    p.net_faults = !a.no_net_faults;
    p.crashes = !a.no_crashes;
    p.late = !a.no_late;
    p.ballot_ceiling = !a.no_ballot_ceiling;
    p.signed_proposals = !a.no_signed_proposals;
    p.range_phase1 = !a.no_range;
    if let Some(list) = &a.without {
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let Some(at) = hpaxos_sim::scenario::AttackName::parse(name) else {
                let known: Vec<&str> = hpaxos_sim::scenario::AttackName::ALL
                    .iter()
                    .map(|(_, n)| *n)
                    .collect();
                bail!(
                    "--without {name:?}: not an attack (known: {})",
                    known.join(", ")
                );
            };
            p.without.push(at);
        }
    }
    p.liveness = !a.no_liveness;
    p.judge_all = a.judge_all;
    p.refine = match a.refine.as_str() {
        "off" => RefineChoice::Off,
        "on" => RefineChoice::On,
        pct => match pct.trim_end_matches('%').parse::<u8>() {
            Ok(n) if n <= 100 => RefineChoice::Share(n),
            _ => bail!("--refine takes off, on, or a percentage 0..100, not {pct:?}"),
        },
    };
    if let Some(ms) = a.gst_ms {
        p.gst = ms.saturating_mul(1000);
    }
    if let Some(n) = a.proposers {
        if n == 0 {
            bail!("--proposers must be at least 1");
        }
        p.proposers = n;
    }
    if let Some(n) = a.replicas {
        if n == 0 {
            bail!("--replicas must be at least 1");
        }
        p.learner_replicas = n;
    }
    if let Some(r) = a.rate {
        p.commands_per_sec = r.max(1);
    }
    p.trace_ring = a.trace;
    Ok(p)
}

/// The flags that shape a run (everything but seeds, output and threads),
/// for the replay command.
fn replay_command(a: &SimArgs) -> String {
    let mut s = format!("hpaxos sim {}", a.file.display());
    let mut flag = |cond: bool, f: &str| {
        if cond {
            s.push(' ');
            s.push_str(f);
        }
    };
    flag(a.allow_invalid, "--allow-invalid");
    flag(a.no_attacks, "--no-attacks");
    flag(a.no_net_faults, "--no-net-faults");
    flag(a.no_crashes, "--no-crashes");
    flag(a.no_late, "--no-late");
    flag(a.no_ballot_ceiling, "--no-ballot-ceiling");
    flag(a.no_signed_proposals, "--no-signed-proposals");
    flag(a.no_range, "--no-range");
    flag(a.no_liveness, "--no-liveness");
    flag(a.judge_all, "--judge-all");
    flag(a.quick, "--quick");
    if let Some(f) = &a.fake {
        s.push_str(&format!(" --fake '{f}'"));
    }
    if let Some(w) = &a.without {
        s.push_str(&format!(" --without '{w}'"));
    }
    if a.refine != "off" {
        s.push_str(" --refine on");
        if a.refine_every != 64 {
            s.push_str(&format!(" --refine-every {}", a.refine_every));
        }
    }
    for (name, v) in [
        ("--gst-ms", a.gst_ms),
        ("--proposers", a.proposers.map(u64::from)),
        ("--replicas", a.replicas.map(u64::from)),
        ("--rate", a.rate),
    ] {
        if let Some(v) = v {
            s.push_str(&format!(" {name} {v}"));
        }
    }
    s
}

fn trust(a: &SimArgs, cfg: &hpaxos_config::Config) -> anyhow::Result<Trust> {
    match cfg.validate() {
        Ok(t) => Ok(t),
        Err(e) if a.allow_invalid => {
            eprintln!("warning: {e}; simulating it anyway (--allow-invalid)");
            Ok(Trust::unchecked(cfg.graph.clone())?)
        }
        Err(e) => bail!(
            "{e} (see `hpaxos graph check {}`; --allow-invalid simulates it anyway)",
            a.file.display()
        ),
    }
}

/// A one-line progress bar on stderr, redrawn at most ten times a second.
struct Progress {
    on: bool,
    last: Option<std::time::Instant>,
}

impl Progress {
    fn draw(&mut self, s: &Summary, total: Option<u64>, elapsed: Duration, force: bool) {
        if !self.on {
            return;
        }
        let now = std::time::Instant::now();
        if !force
            && self
                .last
                .is_some_and(|t| now.duration_since(t) < Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(now);
        let rate = s.totals.delivered as f64 / elapsed.as_secs_f64().max(1e-9);
        let bar = match total {
            Some(n) if n > 0 => {
                let w = 24usize;
                let k = ((s.runs as f64 / n as f64) * w as f64) as usize;
                format!(
                    "[{}{}] {}/{n}",
                    "=".repeat(k.min(w)),
                    " ".repeat(w - k.min(w)),
                    s.runs
                )
            }
            _ => format!("{} seeds, {:.0}s", s.runs, elapsed.as_secs_f64()),
        };
        let _ = write!(
            std::io::stderr(),
            "\r\x1b[2K{bar}  violations {}  {:.0}k msgs/s",
            s.violations,
            rate / 1e3
        );
        let _ = std::io::stderr().flush();
    }
}

pub fn run(a: SimArgs) -> anyhow::Result<Outcome> {
    let cfg = hpaxos_config::load_file(&a.file)?;
    let trust = trust(&a, &cfg)?;
    let params = params(&a, &cfg)?;
    let plan = match (a.seeds, a.duration) {
        (n, Some(secs)) => {
            if !(secs.is_finite() && secs > 0.0) {
                bail!("--duration must be a positive number of seconds");
            }
            Plan::Soak {
                start: a.seed,
                wall: Duration::from_secs_f64(secs),
                max: n,
            }
        }
        (Some(n), None) => Plan::Count { start: a.seed, n },
        (None, None) => bail!("give --seeds N (or --duration SECS for a soak)"),
    };
    let mut sim = Sim::new(trust.clone(), params);
    sim.replay = replay_command(&a);
    if a.refine != "off" {
        sim.refiner = Some(hpaxos_sim::refine::spec_refiner(a.refine_every));
    }
    let mut bar = Progress {
        on: std::io::stderr().is_terminal(),
        last: None,
    };
    let res = sweep(&sim, plan, a.jobs, &mut |s, total, el| {
        bar.draw(s, total, el, false)
    })?;
    if bar.on {
        bar.draw(&res.summary, None, res.wall, true);
        eprintln!();
    }
    let s = &res.summary;
    if a.json {
        let first = res.first_failure.as_ref().map(|r| {
            json!({
                "seed": r.seed,
                "replay": format!("{} --seeds 1 --seed {}", sim.replay, r.seed),
                "violations": r.violations.iter().map(|v| v.kind()).collect::<Vec<_>>(),
            })
        });
        let per_learner: serde_json::Map<String, serde_json::Value> = s
            .decided_per_learner
            .iter()
            .enumerate()
            .map(|(i, n)| {
                (
                    trust
                        .learner_name(hpaxos_core::LearnerId(i as u16))
                        .to_string(),
                    json!(n),
                )
            })
            .collect();
        let t = &s.totals;
        let out = json!({
            "runs": s.runs,
            "violations": s.violations,
            "decisions": t.decisions,
            "undecided": t.undecided,
            "not_judged": t.unchecked_slots,
            "judged": t.judged_slots,
            "stalled_not_judged": t.stalled_unchecked,
            "view_changes": t.view_changes,
            "safety_violations": s.safety,
            "liveness_violations": s.liveness,
            "refinement_violations": s.refinement,
            "refinement_checked_runs": s.refined_runs,
            "slots_decided": per_learner,
            "slots_started": t.slots_started,
            "messages_sent": t.sent,
            "messages_delivered": t.delivered,
            "faults": s.faults(),
            "crashes": t.crashes,
            "partitions": t.partitions,
            "lost": t.dropped,
            "duplicated": t.duplicated,
            "replayed": t.replayed,
            "byzantine_actions": t.byz_attacks,
            "failing_seeds": s.failing_seeds,
            "first_failure": first,
            "wall_seconds": res.wall.as_secs_f64(),
            "messages_per_second": t.delivered as f64 / res.wall.as_secs_f64().max(1e-9),
        });
        println!("{out}");
    } else {
        if let Some(r) = &res.first_failure {
            if let Some(f) = &r.failure {
                println!("{f}");
            }
        }
        println!(
            "hpaxos sim {}: {} acceptors, {} learners, liveness bound {} ms after GST ({} ms)",
            a.file.display(),
            trust.n_acceptors(),
            trust.n_learners(),
            sim.params.liveness_bound() / 1000,
            sim.params.gst / 1000
        );
        print!("{}", s.table(&trust, res.wall.as_secs_f64()));
        if let Some(r) = &res.first_failure {
            println!(
                "  {:<22} {} --seeds 1 --seed {}",
                "replay first failure", sim.replay, r.seed
            );
        }
    }
    Ok(if s.violations > 0 {
        Outcome::Violation
    } else {
        Outcome::Ok
    })
}
