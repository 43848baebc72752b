//! Many seeds: a fixed count from a start seed, or a wall-clock soak
//! (`--duration`), on one or more threads. Each seed is an independent,
//! deterministic run; the summary is order-independent (failing seeds are
//! sorted), so the result of a counted sweep does not depend on `jobs`.

use crate::{RunReport, Sim, SimError, Summary};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Which seeds to run.
#[derive(Clone, Copy, Debug)]
pub enum Plan {
    /// Seeds `start .. start + n`.
    Count { start: u64, n: u64 },
    /// Seeds from `start` on until `wall` has passed (at most `max` seeds).
    Soak {
        start: u64,
        wall: Duration,
        max: Option<u64>,
    },
}

/// The outcome of a sweep.
pub struct SweepResult {
    pub summary: Summary,
    /// The failing run with the smallest seed, with its report.
    pub first_failure: Option<RunReport>,
    pub wall: Duration,
}

/// Runs `plan` on `jobs` threads; `progress(summary, total, elapsed)` is
/// called on the calling thread after every finished seed.
pub fn sweep(
    sim: &Sim,
    plan: Plan,
    jobs: usize,
    progress: &mut dyn FnMut(&Summary, Option<u64>, Duration),
) -> Result<SweepResult, SimError> {
    let t0 = Instant::now();
    let (start, limit, wall) = match plan {
        Plan::Count { start, n } => (start, Some(n), None),
        Plan::Soak { start, wall, max } => (start, max, Some(wall)),
    };
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<Result<RunReport, SimError>>();
    let mut summary = Summary::default();
    let mut first: Option<RunReport> = None;
    let mut err = None;
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            let tx = tx.clone();
            let (next, stop) = (&next, &stop);
            s.spawn(move || loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if wall.is_some_and(|w| t0.elapsed() >= w) {
                    break;
                }
                let k = next.fetch_add(1, Ordering::Relaxed);
                if limit.is_some_and(|n| k >= n) {
                    break;
                }
                if tx.send(sim.run_seed(start.wrapping_add(k))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for r in rx {
            match r {
                Ok(r) => {
                    summary.add(&r);
                    if r.failure.is_some() && first.as_ref().is_none_or(|f| r.seed < f.seed) {
                        first = Some(r);
                    }
                    progress(&summary, limit.filter(|_| wall.is_none()), t0.elapsed());
                }
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    err.get_or_insert(e);
                }
            }
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    summary.failing_seeds.sort_unstable();
    Ok(SweepResult {
        summary,
        first_failure: first,
        wall: t0.elapsed(),
    })
}
