//! Linearizability of each learner's history, with stateright's
//! `LinearizabilityTester` (the checker is stateright's; this module only
//! states the sequential object and feeds it the history).
//!
//! The object is one key of the key-value store as the node applies it: a
//! register whose `put` and `delete` return the previous value and whose
//! `get` returns the current one (`None` when absent). Linearizability is
//! local (a history is linearizable iff its restriction to each object is),
//! so each (learner, key) is checked on its own. Events are fed in time
//! order, an invocation before a completion at the same instant (the weaker
//! real-time order: never a false alarm).
//!
//! Operations whose outcome is unknown (`info`) stay in flight for ever:
//! the tester may place them at any point after their invocation, or
//! nowhere. Two kinds are dropped before checking, which cannot change the
//! verdict: an unknown `get` (no effect), and an unknown `put` whose value
//! no completed operation ever returned (if it took effect, the next
//! operation on the key, or the final read, would have returned it; values
//! are unique). `fail` operations never happened and are left out.

use crate::history::{Kind, OpRecord, Outcome};
use serde::Serialize;
use stateright::semantics::{ConsistencyTester, LinearizabilityTester, SequentialSpec};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// One key of the store.
#[derive(Clone, Debug, Default)]
pub struct KvCell(Option<String>);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvOp {
    Put(String),
    Get,
    Delete,
}

impl SequentialSpec for KvCell {
    type Op = KvOp;
    /// Previous value (put, delete) or current value (get).
    type Ret = Option<String>;

    fn invoke(&mut self, op: &KvOp) -> Option<String> {
        match op {
            KvOp::Put(v) => self.0.replace(v.clone()),
            KvOp::Get => self.0.clone(),
            KvOp::Delete => self.0.take(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Linearizable,
    NotLinearizable,
    /// The checker did not finish within its time budget.
    Unknown,
}

#[derive(Clone, Debug, Serialize)]
pub struct KeyVerdict {
    pub learner: String,
    pub key: String,
    pub verdict: Verdict,
    /// Operations given to the checker (after dropping the ones above).
    pub ops: usize,
    pub unknown_ops: usize,
    pub millis: u128,
}

enum Ev {
    Invoke(u64, KvOp),
    Return(u64, Option<String>),
}

/// The events of one key's history, pruned as the module doc says.
fn events(ops: &[&OpRecord]) -> (Vec<(f64, u8, Ev)>, usize, usize) {
    let observed: BTreeSet<&str> = ops
        .iter()
        .filter(|o| o.outcome == Outcome::Ok)
        .filter_map(|o| o.result.as_deref())
        .collect();
    let mut evs = Vec::new();
    let (mut n, mut unknown) = (0, 0);
    for o in ops {
        let op = match (o.kind, &o.value) {
            (Kind::Put, Some(v)) => KvOp::Put(v.clone()),
            (Kind::Put, None) => continue,
            (Kind::Get, _) => KvOp::Get,
            (Kind::Delete, _) => KvOp::Delete,
        };
        match o.outcome {
            Outcome::Fail => continue,
            Outcome::Info => {
                let keep = match &op {
                    KvOp::Get => false,
                    KvOp::Put(v) => observed.contains(v.as_str()),
                    KvOp::Delete => true,
                };
                if keep {
                    evs.push((o.invoke_ms, 0, Ev::Invoke(o.process, op)));
                    n += 1;
                    unknown += 1;
                }
            }
            Outcome::Ok => {
                evs.push((o.invoke_ms, 0, Ev::Invoke(o.process, op)));
                evs.push((o.complete_ms, 1, Ev::Return(o.process, o.result.clone())));
                n += 1;
            }
        }
    }
    evs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    (evs, n, unknown)
}

/// Checks one key's history; `Err` when the history itself is malformed
/// (a process with two operations in flight: a harness bug).
fn check_key(evs: Vec<(f64, u8, Ev)>) -> Result<bool, String> {
    let mut t = LinearizabilityTester::<u64, KvCell>::new(KvCell::default());
    for (_, _, e) in evs {
        match e {
            Ev::Invoke(p, op) => t.on_invoke(p, op).map(|_| ())?,
            Ev::Return(p, r) => t.on_return(p, r).map(|_| ())?,
        }
    }
    Ok(t.is_consistent())
}

/// Checks every (learner, key) of `history`, each within `budget` (the
/// search is exponential in the worst case; past the budget the verdict is
/// `Unknown` and the search is abandoned in its thread).
pub fn check_all(history: &[OpRecord], budget: Duration) -> Vec<KeyVerdict> {
    let mut by_key: BTreeMap<(&str, &str), Vec<&OpRecord>> = BTreeMap::new();
    for o in history {
        by_key
            .entry((o.learner.as_str(), o.key.as_str()))
            .or_default()
            .push(o);
    }
    let mut out = Vec::new();
    for ((learner, key), ops) in by_key {
        let (evs, n, unknown) = events(&ops);
        let t0 = std::time::Instant::now();
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name(format!("lin-{learner}-{key}"))
            .stack_size(1 << 30)
            .spawn(move || {
                let _ = tx.send(check_key(evs));
            });
        let verdict = match spawned {
            Err(_) => Verdict::Unknown,
            Ok(_) => match rx.recv_timeout(budget) {
                Ok(Ok(true)) => Verdict::Linearizable,
                Ok(Ok(false)) => Verdict::NotLinearizable,
                Ok(Err(e)) => {
                    eprintln!("harness bug: malformed history for {learner}/{key}: {e}");
                    Verdict::Unknown
                }
                Err(_) => Verdict::Unknown,
            },
        };
        out.push(KeyVerdict {
            learner: learner.to_string(),
            key: key.to_string(),
            verdict,
            ops: n,
            unknown_ops: unknown,
            millis: t0.elapsed().as_millis(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(
        p: u64,
        kind: Kind,
        v: Option<&str>,
        t: (f64, f64),
        out: Outcome,
        r: Option<&str>,
    ) -> OpRecord {
        OpRecord {
            process: p,
            learner: "alice".into(),
            node: "n1".into(),
            kind,
            key: "k".into(),
            value: v.map(String::from),
            invoke_ms: t.0,
            complete_ms: t.1,
            outcome: out,
            result: r.map(String::from),
            slot: None,
            error: None,
        }
    }

    /// Linearizability (Herlihy & Wing): a read that starts after a write
    /// was acknowledged must see it (or a later write).
    #[test]
    fn stale_read_after_acknowledged_write_is_not_linearizable() {
        let h = vec![
            op(1, Kind::Put, Some("a"), (0.0, 10.0), Outcome::Ok, None),
            op(2, Kind::Get, None, (20.0, 30.0), Outcome::Ok, None),
        ];
        let v = check_all(&h, Duration::from_secs(10));
        assert_eq!(v[0].verdict, Verdict::NotLinearizable);
        let h = vec![
            op(1, Kind::Put, Some("a"), (0.0, 10.0), Outcome::Ok, None),
            op(2, Kind::Get, None, (5.0, 30.0), Outcome::Ok, None),
        ];
        assert_eq!(
            check_all(&h, Duration::from_secs(10))[0].verdict,
            Verdict::Linearizable
        );
    }

    /// A put returns the previous value: two acknowledged puts cannot both
    /// have replaced the same value (a lost write), concurrent or not.
    #[test]
    fn two_puts_replacing_the_same_value_is_a_lost_write() {
        let h = vec![
            op(1, Kind::Put, Some("a"), (0.0, 10.0), Outcome::Ok, None),
            op(
                2,
                Kind::Put,
                Some("b"),
                (20.0, 40.0),
                Outcome::Ok,
                Some("a"),
            ),
            op(
                3,
                Kind::Put,
                Some("c"),
                (21.0, 41.0),
                Outcome::Ok,
                Some("a"),
            ),
        ];
        assert_eq!(
            check_all(&h, Duration::from_secs(10))[0].verdict,
            Verdict::NotLinearizable
        );
    }

    /// An unknown write may take effect late (after later operations
    /// started), and its value may then be read; unobserved unknown writes
    /// are dropped.
    #[test]
    fn unknown_write_may_take_effect_late() {
        let h = vec![
            op(1, Kind::Put, Some("a"), (0.0, 0.0), Outcome::Info, None),
            op(2, Kind::Get, None, (10.0, 20.0), Outcome::Ok, None),
            op(3, Kind::Get, None, (30.0, 40.0), Outcome::Ok, Some("a")),
            op(4, Kind::Put, Some("z"), (30.0, 40.0), Outcome::Info, None),
            op(5, Kind::Put, Some("y"), (30.0, 40.0), Outcome::Fail, None),
        ];
        let v = check_all(&h, Duration::from_secs(10));
        assert_eq!(v[0].verdict, Verdict::Linearizable);
        assert_eq!((v[0].ops, v[0].unknown_ops), (3, 1));
        // ...but not before it was invoked.
        let h = vec![
            op(2, Kind::Get, None, (10.0, 20.0), Outcome::Ok, Some("a")),
            op(1, Kind::Put, Some("a"), (30.0, 30.0), Outcome::Info, None),
        ];
        assert_eq!(
            check_all(&h, Duration::from_secs(10))[0].verdict,
            Verdict::NotLinearizable
        );
    }
}
