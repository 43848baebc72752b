//! Shrinking counterexamples: a depth-first or swarm search reaches a
//! violation along whatever path its order took, often with many steps that
//! play no part in it. [`shrink`] replays the path from the initial state
//! with one step left out at a time and keeps every omission after which the
//! same property still fails (greedy, to a 1-minimal path: no single step
//! can be dropped). The result is a real execution of the model (every step
//! is replayed through `next_state`), so it is as replayable as the original.
//!
//! Data flow: [`crate::run`] (DFS and swarm violations) -> [`shrink`] ->
//! [`crate::trace::format_path`].

use crate::model::{Action, CheckModel, SysState};
use crate::search::Path;
use stateright::{Expectation, Model};

/// Replays `acts` from the first initial state; the path up to the first
/// state where `holds` is false, or `None` if some step is not enabled
/// (not among `actions`, or a no-op) or the property never fails.
fn replay(
    model: &CheckModel,
    acts: &[Action],
    holds: fn(&CheckModel, &SysState) -> bool,
) -> Option<Path> {
    let mut s = model.init_states().into_iter().next()?;
    let mut path: Path = Vec::with_capacity(acts.len() + 1);
    if !holds(model, &s) {
        return Some(vec![(s, None)]);
    }
    let mut enabled = Vec::new();
    for a in acts {
        // Only actions the model offers in this state (`next_state` alone
        // would deliver a message that was never sent).
        enabled.clear();
        model.actions(&s, &mut enabled);
        if !enabled.contains(a) {
            return None;
        }
        let next = model.next_state(&s, a.clone())?;
        path.push((s, Some(a.clone())));
        s = next;
        if !holds(model, &s) {
            path.push((s, None));
            return Some(path);
        }
    }
    None
}

/// A 1-minimal sub-path of `path` on which the `always` property `name`
/// still fails; `path` itself when it cannot be replayed.
pub fn shrink(model: &CheckModel, name: &str, path: &Path) -> Path {
    let Some(prop) = model
        .properties()
        .into_iter()
        .find(|p| p.name == name && p.expectation == Expectation::Always)
    else {
        return path.clone();
    };
    let holds = prop.condition;
    let mut acts: Vec<Action> = path.iter().filter_map(|(_, a)| a.clone()).collect();
    let Some(mut best) = replay(model, &acts, holds) else {
        return path.clone();
    };
    acts.truncate(best.len().saturating_sub(1));
    let mut i = 0;
    while i < acts.len() {
        let mut trial = acts.clone();
        trial.remove(i);
        match replay(model, &trial, holds) {
            Some(p) => {
                trial.truncate(p.len().saturating_sub(1));
                acts = trial;
                best = p;
            }
            None => i += 1,
        }
    }
    best
}
