//! Running the checker: stateright's breadth-first search over
//! [`CheckModel`], with limits, periodic progress, and a [`Report`] that says
//! how many states were explored, whether the exploration was complete, and
//! every property that failed with its (shortest) trace.

use crate::model::{CheckModel, SysState};
use crate::trace;
use stateright::{Checker, HasDiscoveries, Model};
use std::time::{Duration, Instant};

/// Bounds on one run.
#[derive(Clone, Debug)]
pub struct Limits {
    pub threads: usize,
    /// Stop after about this many generated states (incomplete run).
    pub max_states: Option<usize>,
    /// Do not expand states at this depth (incomplete run if reached).
    pub max_depth: Option<usize>,
    pub timeout: Option<Duration>,
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
}

impl Report {
    pub fn states_per_second(&self) -> f64 {
        self.states as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Progress so far, as passed to the callback about twice a second.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub states: usize,
    pub depth: usize,
    pub elapsed: Duration,
}

/// Explores `model` breadth-first; stops at the first failed invariant.
pub fn check(model: CheckModel, limits: &Limits, progress: &mut dyn FnMut(Progress)) -> Report {
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
        let summary = match (name, last) {
            ("safety", Some(s)) => {
                trace::disagreement(model, s).unwrap_or_else(|| "safety violated".into())
            }
            ("refinement", Some(s)) => s
                .monitor
                .as_ref()
                .and_then(|m| m.violation())
                .unwrap_or_else(|| "refinement violated".into()),
            _ => format!("{name} violated"),
        };
        violations.push(Found {
            property: name,
            summary,
            trace: trace::format_path(model, &steps),
        });
    }
    let generated = checker.state_count();
    let max_depth = checker.max_depth();
    let cut = limits.max_states.is_some_and(|n| generated >= n)
        || limits.max_depth.is_some_and(|d| max_depth >= d)
        || limits.timeout.is_some_and(|t| elapsed >= t);
    let complete = !cut && violations.is_empty();
    if complete && !decided {
        violations.push(Found {
            property: "decided",
            summary: "no learner can ever decide: the model is vacuous".into(),
            trace: Vec::new(),
        });
    }
    Report {
        states: checker.unique_state_count(),
        generated,
        complete,
        max_depth,
        violations,
        decided,
        messages: model.interner.len(),
        elapsed,
    }
}
