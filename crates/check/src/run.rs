//! Running the checker over [`CheckModel`]: the project's depth-first
//! explorer with sleep sets ([`crate::search`], the default), swarm search
//! (many random-order DFS runs), or stateright's breadth-first search
//! (shortest traces); with limits, periodic progress, and a [`Report`] that
//! says how many states were explored, whether the exploration was complete
//! (and if not, which bound stopped it), and every property that failed with
//! its trace.

use crate::model::{CheckModel, SysState};
use crate::search::{self, Cut, DfsOptions, Live};
use crate::trace;
use stateright::{Checker, HasDiscoveries, Model};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Which explorer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// stateright's breadth-first search: shortest traces, no reduction.
    Bfs,
    /// Depth-first with sleep sets (unless off), in the model's action order
    /// or, with a seed, a random one.
    Dfs { sleep_sets: bool, seed: Option<u64> },
    /// Seeds `first..first + seeds`, each a random-order DFS of at most
    /// `Limits::max_states` states.
    Swarm {
        sleep_sets: bool,
        first: u64,
        seeds: u64,
    },
}

/// Bounds on one run.
#[derive(Clone, Debug)]
pub struct Limits {
    pub threads: usize,
    /// Stop after about this many states (incomplete run). In swarm search,
    /// the budget of each seed.
    pub max_states: Option<usize>,
    /// Do not expand states at this depth (incomplete run if reached).
    pub max_depth: Option<usize>,
    pub timeout: Option<Duration>,
    /// Stop when the state table would exceed this many bytes (DFS and
    /// swarm; BFS keeps whole states in its queue and is bounded by
    /// `max_states`).
    pub max_bytes: Option<u64>,
    pub engine: Engine,
    /// DFS without `max_depth`: iterative deepening (see [`deepening`]).
    /// Off, one unbounded DFS: cheaper when no violation is expected.
    pub deepening: bool,
    /// With a symmetric model: explore every state anyway and count the
    /// orbits among them (`Report::orbits`), the exactness check of
    /// symmetry reduction.
    pub count_orbits: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            max_states: None,
            max_depth: None,
            timeout: None,
            max_bytes: None,
            engine: Engine::Dfs {
                sleep_sets: true,
                seed: None,
            },
            deepening: true,
            count_orbits: false,
        }
    }
}

/// The bound that stopped an incomplete run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    States(usize),
    Depth(usize),
    Timeout(Duration),
    Memory(u64),
    /// Every seed of a swarm ran to its state budget.
    Seeds {
        seeds: u64,
        per_seed: usize,
    },
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::States(n) => write!(f, "state limit {n} hit (--max-states)"),
            Stop::Depth(d) => write!(f, "depth limit {d} hit (--max-depth)"),
            Stop::Timeout(t) => write!(f, "timeout {} s hit (--timeout)", t.as_secs()),
            Stop::Memory(b) => write!(
                f,
                "memory limit {} MiB hit (--max-memory)",
                b / (1024 * 1024)
            ),
            Stop::Seeds { seeds, per_seed } => write!(
                f,
                "{seeds} swarm seeds each stopped at their {per_seed}-state budget (--seeds, --max-states)"
            ),
        }
    }
}

/// A property that failed: an invariant broken, or `decided` unreachable.
#[derive(Clone, Debug)]
pub struct Found {
    pub property: &'static str,
    /// What went wrong, in one line.
    pub summary: String,
    /// The steps from the initial state, formatted.
    pub trace: Vec<String>,
}

/// The outcome of one run.
#[derive(Clone, Debug)]
pub struct Report {
    /// Distinct states explored.
    pub states: usize,
    /// States generated (with repeats).
    pub generated: usize,
    /// Every reachable state was explored (no limit hit, no early stop).
    pub complete: bool,
    pub max_depth: usize,
    pub violations: Vec<Found>,
    /// Some state has a decision (the model is not vacuous).
    pub decided: bool,
    /// Distinct messages seen.
    pub messages: usize,
    pub elapsed: Duration,
    /// Why the run is incomplete, when it is and no violation stopped it.
    pub stop: Option<Stop>,
    /// `bfs`, `dfs` or `swarm`.
    pub engine: &'static str,
    /// Bytes of the explorer's state table per distinct state (DFS, swarm).
    pub bytes_per_state: Option<f64>,
    /// Bound on the probability that a fingerprint collision hid a state.
    pub collision_bound: f64,
    /// The seed whose run found the violations (random DFS and swarm).
    pub seed: Option<u64>,
    /// Swarm seeds run.
    pub seeds_run: u64,
    /// Steps that sent a new message without changing their actor (0 in the
    /// real core; the sleep-set reduction assumes it).
    pub unchanged_sends: u64,
    /// Permutations of the symmetry group the run reduced by (1: none).
    pub symmetry: usize,
    /// Sleep sets were used (with or without symmetry reduction).
    pub sleep_sets: bool,
    /// With `Limits::count_orbits`: orbits among the states explored.
    pub orbits: Option<usize>,
    /// Bytes of the symmetry reduction's memo of images (0 without it).
    pub memo_bytes: u64,
    /// The dead-message reduction keyed states ([`crate::dead`]).
    pub dead: bool,
}

impl Report {
    pub fn states_per_second(&self) -> f64 {
        self.states as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Progress so far, as passed to the callback about five times a second.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub states: usize,
    pub depth: usize,
    pub elapsed: Duration,
    /// Swarm seeds finished.
    pub seeds: usize,
}

/// Explores `model` with `limits.engine`; stops at the first failed invariant.
pub fn check(model: CheckModel, limits: &Limits, progress: &mut dyn FnMut(Progress)) -> Report {
    match limits.engine {
        Engine::Bfs => check_bfs(model, limits, progress),
        _ => check_dfs(model, limits, progress),
    }
}

fn summary(model: &CheckModel, name: &'static str, last: Option<&SysState>) -> String {
    match (name, last) {
        ("safety", Some(s)) => {
            trace::disagreement(model, s).unwrap_or_else(|| "safety violated".into())
        }
        ("refinement", Some(s)) => s
            .monitor
            .as_ref()
            .and_then(|m| m.violation())
            .unwrap_or_else(|| "refinement violated".into()),
        _ => format!("{name} violated"),
    }
}

/// The vacuity check of a complete run: `decided` must be reachable.
fn vacuity(complete: bool, decided: bool, violations: &mut Vec<Found>) {
    if complete && !decided {
        violations.push(Found {
            property: "decided",
            summary: "no learner can ever decide: the model is vacuous".into(),
            trace: Vec::new(),
        });
    }
}

/// Iterative deepening: without a `--max-depth`, a plain DFS can spend
/// millions of states under an early choice that rules a shallow violation
/// out, so the search runs with depth bounds 12, 24, 48, ... until one run
/// finds a violation or is not cut by its bound (it then visited every
/// reachable state: complete). Each run starts from an empty table; the
/// outcome is the last run's, with the transitions of all of them.
fn deepening(model: &CheckModel, o: &DfsOptions, live: &Live) -> search::Outcome {
    if o.max_depth.is_some() {
        return search::dfs(model, o, live);
    }
    let mut bound = 12usize;
    let mut transitions = 0;
    loop {
        live.states.store(0, Ordering::Relaxed);
        let mut r = search::dfs(
            model,
            &DfsOptions {
                max_depth: Some(bound),
                ..*o
            },
            live,
        );
        transitions += r.transitions;
        if !r.failures.is_empty() || r.cut != Some(Cut::Depth) {
            r.transitions = transitions;
            return r;
        }
        bound *= 2;
    }
}

fn check_dfs(model: CheckModel, limits: &Limits, progress: &mut dyn FnMut(Progress)) -> Report {
    let start = Instant::now();
    let live = Live::default();
    let reduced = model.sym.is_some() && !limits.count_orbits;
    let symmetry = if reduced {
        model.sym.as_ref().map_or(1, |s| s.perms.len())
    } else {
        1
    };
    // Sleep sets compose with symmetry (see `crate::search`).
    let used_sleep_sets = match limits.engine {
        Engine::Dfs { sleep_sets, .. } | Engine::Swarm { sleep_sets, .. } => sleep_sets,
        Engine::Bfs => false,
    };
    let base = DfsOptions {
        count_orbits: limits.count_orbits,
        sleep_sets: true,
        seed: None,
        max_states: limits.max_states,
        max_depth: limits.max_depth,
        max_bytes: limits.max_bytes,
        deadline: search::deadline(limits.timeout),
    };
    let (engine, outcomes) = std::thread::scope(|sc| {
        let model = &model;
        let live_ref = &live;
        let worker = sc.spawn(move || match limits.engine {
            Engine::Swarm {
                sleep_sets,
                first,
                seeds,
            } => {
                let per_seed = limits.max_states.unwrap_or(100_000);
                let o = DfsOptions { sleep_sets, ..base };
                (
                    "swarm",
                    search::swarm(model, &o, first, seeds, per_seed, limits.threads, live_ref),
                )
            }
            Engine::Dfs { sleep_sets, seed } => {
                let o = DfsOptions {
                    sleep_sets,
                    seed,
                    ..base
                };
                let r = if limits.deepening {
                    deepening(model, &o, live_ref)
                } else {
                    search::dfs(model, &o, live_ref)
                };
                ("dfs", vec![r])
            }
            Engine::Bfs => ("dfs", vec![search::dfs(model, &base, live_ref)]),
        });
        let mut last = Instant::now();
        while !worker.is_finished() {
            std::thread::sleep(Duration::from_millis(10));
            if last.elapsed() >= Duration::from_millis(200) {
                last = Instant::now();
                progress(Progress {
                    states: live.states.load(Ordering::Relaxed),
                    depth: live.depth.load(Ordering::Relaxed),
                    elapsed: start.elapsed(),
                    seeds: live.seeds_done.load(Ordering::Relaxed),
                });
            }
        }
        match worker.join() {
            Ok(r) => r,
            Err(p) => std::panic::resume_unwind(p),
        }
    });
    let elapsed = start.elapsed();
    let mut violations = Vec::new();
    let mut seed = None;
    let mut decided = false;
    let (mut states, mut generated, mut max_depth, mut bytes) = (0usize, 0usize, 0usize, 0u64);
    let mut complete_seed = false;
    let mut cut = None;
    for o in &outcomes {
        states += o.states;
        generated += o.transitions;
        max_depth = max_depth.max(o.max_depth);
        bytes = bytes.max(o.table_bytes);
        decided |= o.satisfied.contains(&"decided");
        if o.cut.is_none() && o.failures.is_empty() {
            complete_seed = true;
        }
        if o.cut.is_some() && o.cut != Some(Cut::Cancelled) {
            cut = cut.or(o.cut);
        }
        if violations.is_empty() && !o.failures.is_empty() {
            seed = o.seed;
            let mut fs = o.failures.clone();
            fs.sort_by_key(|(n, _)| *n);
            for (name, path) in fs {
                // The search's path, cut to a 1-minimal one (see `shrink`).
                let path = crate::shrink::shrink(&model, name, &path);
                violations.push(Found {
                    property: name,
                    summary: summary(&model, name, path.last().map(|(s, _)| s)),
                    trace: trace::format_path(&model, &path),
                });
            }
        }
    }
    let complete = complete_seed && violations.is_empty();
    let stop = if complete || !violations.is_empty() {
        None
    } else {
        Some(match (cut, limits.engine) {
            (Some(Cut::Timeout), _) => Stop::Timeout(limits.timeout.unwrap_or_default()),
            (Some(Cut::Memory), _) => Stop::Memory(limits.max_bytes.unwrap_or_default()),
            (Some(Cut::Depth), _) => Stop::Depth(limits.max_depth.unwrap_or_default()),
            (_, Engine::Swarm { seeds, .. }) => Stop::Seeds {
                seeds,
                per_seed: limits.max_states.unwrap_or(100_000),
            },
            _ => Stop::States(limits.max_states.unwrap_or_default()),
        })
    };
    vacuity(complete, decided, &mut violations);
    // One seed's table is what is alive at a time per worker.
    let per_state = outcomes
        .iter()
        .filter(|o| o.states > 0)
        .map(|o| o.table_bytes as f64 / o.states as f64)
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    let _ = bytes;
    let unchanged_sends = model.unchanged_sends.load(Ordering::Relaxed);
    Report {
        states,
        generated,
        complete,
        max_depth,
        violations,
        decided,
        messages: model.interner.len(),
        elapsed,
        stop,
        engine,
        bytes_per_state: per_state,
        collision_bound: outcomes
            .iter()
            .map(|o| search::collision_bound(o.states))
            .sum(),
        seed,
        seeds_run: outcomes.len() as u64,
        unchanged_sends,
        symmetry,
        sleep_sets: used_sleep_sets,
        orbits: outcomes.iter().find_map(|o| o.orbits),
        memo_bytes: model.sym.as_ref().map_or(0, |s| s.memo_bytes()),
        dead: model.dead && !limits.count_orbits,
    }
}

/// Explores `model` breadth-first with stateright; stops at the first failed invariant.
fn check_bfs(model: CheckModel, limits: &Limits, progress: &mut dyn FnMut(Progress)) -> Report {
    let start = Instant::now();
    let mut builder = model
        .checker()
        .threads(limits.threads.max(1))
        .finish_when(HasDiscoveries::AnyFailures);
    if let Some(n) = limits.max_states {
        builder = builder.target_state_count(n);
    }
    if let Some(d) = limits.max_depth {
        builder = builder.target_max_depth(d);
    }
    if let Some(t) = limits.timeout {
        builder = builder.timeout(t);
    }
    let checker = builder.spawn_bfs();
    let mut last = Instant::now();
    while !checker.is_done() {
        std::thread::sleep(Duration::from_millis(10));
        if last.elapsed() >= Duration::from_millis(200) {
            last = Instant::now();
            progress(Progress {
                states: checker.unique_state_count(),
                depth: checker.max_depth(),
                elapsed: start.elapsed(),
                seeds: 0,
            });
        }
    }
    let checker = checker.join();
    let elapsed = start.elapsed();
    let model = checker.model();
    let discoveries = checker.discoveries();
    let mut violations = Vec::new();
    let mut decided = false;
    let mut names: Vec<&'static str> = discoveries.keys().copied().collect();
    names.sort();
    for name in names {
        let Some(path) = discoveries.get(name) else {
            continue;
        };
        let steps = path.clone().into_vec();
        if name == "decided" {
            decided = true;
            continue;
        }
        let last: Option<&SysState> = steps.last().map(|(s, _)| s);
        violations.push(Found {
            property: name,
            summary: summary(model, name, last),
            trace: trace::format_path(model, &steps),
        });
    }
    let generated = checker.state_count();
    let max_depth = checker.max_depth();
    let stop = if limits.timeout.is_some_and(|t| elapsed >= t) {
        limits.timeout.map(Stop::Timeout)
    } else if limits.max_states.is_some_and(|n| generated >= n) {
        limits.max_states.map(Stop::States)
    } else if limits.max_depth.is_some_and(|d| max_depth >= d) {
        limits.max_depth.map(Stop::Depth)
    } else {
        None
    };
    let complete = stop.is_none() && violations.is_empty();
    let stop = stop.filter(|_| violations.is_empty());
    vacuity(complete, decided, &mut violations);
    let states = checker.unique_state_count();
    Report {
        states,
        generated,
        complete,
        max_depth,
        violations,
        decided,
        messages: model.interner.len(),
        elapsed,
        stop,
        engine: "bfs",
        bytes_per_state: None,
        collision_bound: search::collision_bound(states),
        seed: None,
        seeds_run: 0,
        unchanged_sends: model.unchanged_sends.load(Ordering::Relaxed),
        symmetry: 1,
        sleep_sets: false,
        orbits: None,
        memo_bytes: 0,
        dead: false,
    }
}
