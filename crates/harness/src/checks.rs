//! The checks after healing, all through the client API:
//!
//! 1. convergence: every honest node running a learner reports the same
//!    applied slot count and log hash for it (`/v1/status`), within a bound;
//! 2. every acknowledged write is in the acknowledging learner's log: the
//!    learner's log on the node that acknowledged it (`/v1/log/L`) has a
//!    valid entry with commands at the acknowledged slot (the log shows
//!    digests, not commands: that the entry holds *this* command is what
//!    the linearizability check adds, as each put returns the value it
//!    replaced);
//! 3. entangled learners agree slot by slot: for every pair of learners the
//!    learner graph entangles when the Byzantine node's acceptor is the only
//!    faulty one (`hpaxos_core::graph::explain`), the logs of every two
//!    honest nodes running them have the same digest in every slot both have;
//! 4. progress: every learner that is live and entangled with itself
//!    acknowledges an operation invoked after the heal within the bound,
//!    and (1) holds on every honest node: no replica is left behind;
//! 5. progress during faults: in each fault window (after a grace for the
//!    failover), every learner that is live and entangled with itself with
//!    the window's acceptors faulty acknowledges operations at the nodes
//!    outside the window (a learner whose quorums are up keeps deciding,
//!    whatever happens to the others).
//!
//! Data flow: `main` calls these after the workload and the final reads.

use crate::cluster::{Cluster, Node};
use crate::history::{OpRecord, Outcome};
use hpaxos_core::AccSet;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

async fn get_json(n: &Node, path: &str) -> Option<serde_json::Value> {
    let r = hpaxos_node::client::request(n.http, "GET", path, None, Duration::from_secs(5))
        .await
        .ok()?;
    if r.status != 200 {
        return None;
    }
    r.json()
}

/// (applied slots, log hash) per learner of `n`.
async fn status(n: &Node) -> Option<BTreeMap<String, (u64, String)>> {
    let j = get_json(n, "/v1/status").await?;
    let mut out = BTreeMap::new();
    for l in j["learners"].as_array()? {
        out.insert(
            l["name"].as_str()?.to_string(),
            (l["applied_slots"].as_u64()?, l["log_hash"].to_string()),
        );
    }
    Some(out)
}

#[derive(Clone, Debug, Serialize)]
pub struct Convergence {
    pub converged: bool,
    pub millis: u128,
    /// Applied slots per learner per honest node at the end.
    pub applied: BTreeMap<String, BTreeMap<String, u64>>,
    /// Replicas (learner, node, applied, most applied on any node) behind
    /// at the end that applied nothing during the last [`STALL`].
    pub stalled: Vec<(String, String, u64, u64)>,
}

/// Applied slots per learner per node.
type AppliedBy = BTreeMap<String, BTreeMap<String, u64>>;

/// How long a replica behind the others must stand still to count as stalled.
pub const STALL: Duration = Duration::from_secs(5);

/// Waits (at most `limit`) until every honest node agrees, per learner, on
/// the applied count and log hash, twice in a row 500 ms apart.
pub async fn converge(c: &Cluster, limit: Duration) -> Convergence {
    let t0 = Instant::now();
    let mut stable = 0;
    let mut last = None;
    let mut seen: Vec<(Instant, AppliedBy)> = Vec::new();
    loop {
        let mut per: BTreeMap<String, BTreeMap<String, (u64, String)>> = BTreeMap::new();
        let mut all = true;
        for n in c.nodes.iter().filter(|n| !n.byzantine) {
            match status(n).await {
                Some(s) => {
                    for (l, v) in s {
                        per.entry(l).or_default().insert(n.name.clone(), v);
                    }
                }
                None => all = false,
            }
        }
        let same = all
            && per.values().all(|m| {
                let mut vs = m.values();
                let first = vs.next();
                vs.all(|v| Some(v) == first)
            });
        let snapshot: BTreeMap<String, BTreeMap<String, u64>> = per
            .iter()
            .map(|(l, m)| (l.clone(), m.iter().map(|(n, v)| (n.clone(), v.0)).collect()))
            .collect();
        if same && last.as_ref() == Some(&snapshot) {
            stable += 1;
        } else {
            stable = 0;
        }
        last = Some(snapshot.clone());
        seen.push((Instant::now(), snapshot.clone()));
        if stable >= 1 || t0.elapsed() > limit {
            let old = seen
                .iter()
                .rev()
                .find(|(t, _)| t.elapsed() >= STALL)
                .map(|(_, s)| s);
            let mut stalled = Vec::new();
            for (l, m) in &snapshot {
                let top = m.values().copied().max().unwrap_or(0);
                for (n, a) in m.iter().filter(|(_, a)| **a < top) {
                    let before = old.and_then(|o| o.get(l)).and_then(|o| o.get(n));
                    if stable == 0 && before == Some(a) {
                        stalled.push((l.clone(), n.clone(), *a, top));
                    }
                }
            }
            return Convergence {
                converged: stable >= 1,
                millis: t0.elapsed().as_millis(),
                applied: snapshot,
                stalled,
            };
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One learner's log on one node: slot -> (digest, valid with commands).
pub type Log = BTreeMap<u64, (String, bool)>;

/// Fetches the logs of every learner on every honest node.
pub async fn fetch_logs(c: &Cluster) -> BTreeMap<(String, String), Log> {
    let mut out = BTreeMap::new();
    for n in c.nodes.iter().filter(|n| !n.byzantine) {
        for l in &n.learners {
            let mut log = Log::new();
            let mut from = 0u64;
            // At most 100 pages of 10 000 entries.
            for _ in 0..100 {
                let Some(j) = get_json(n, &format!("/v1/log/{l}?from={from}&limit=10000")).await
                else {
                    break;
                };
                let Some(es) = j["entries"].as_array() else {
                    break;
                };
                if es.is_empty() {
                    break;
                }
                for e in es {
                    if let (Some(s), Some(d)) = (e["slot"].as_u64(), e["digest"].as_str()) {
                        let good = e["valid"].as_bool() == Some(true)
                            && e["commands"].as_u64().unwrap_or(0) > 0;
                        log.insert(s, (d.to_string(), good));
                        from = from.max(s + 1);
                    }
                }
            }
            out.insert((n.name.clone(), l.clone()), log);
        }
    }
    out
}

#[derive(Clone, Debug, Serialize)]
pub struct Lost {
    pub learner: String,
    pub node: String,
    pub key: String,
    pub value: Option<String>,
    pub slot: Option<u64>,
    pub why: String,
}

/// Check 2: acknowledged writes not found in the acknowledging learner's log.
pub fn lost_writes(history: &[OpRecord], logs: &BTreeMap<(String, String), Log>) -> Vec<Lost> {
    let mut out = Vec::new();
    for o in history
        .iter()
        .filter(|o| o.outcome == Outcome::Ok && o.is_write())
    {
        let why = match (o.slot, logs.get(&(o.node.clone(), o.learner.clone()))) {
            (None, _) => Some("acknowledged without a slot".to_string()),
            (_, None) => Some("the acknowledging node's log could not be read".to_string()),
            (Some(s), Some(log)) => match log.get(&s) {
                None => Some(format!("slot {s} missing from the log")),
                Some((_, false)) => Some(format!("slot {s} holds no valid command")),
                Some((_, true)) => None,
            },
        };
        if let Some(why) = why {
            out.push(Lost {
                learner: o.learner.clone(),
                node: o.node.clone(),
                key: o.key.clone(),
                value: o.value.clone(),
                slot: o.slot,
                why,
            });
        }
    }
    out
}

#[derive(Clone, Debug, Serialize)]
pub struct PairAgreement {
    pub learners: (String, String),
    pub node_pairs: usize,
    pub slots_compared: usize,
    pub disagreements: Vec<(String, String, u64)>,
}

/// Learner pairs (names) entangled when exactly `faulty` are faulty.
pub fn entangled_pairs(c: &Cluster, faulty: &AccSet) -> Vec<(String, String)> {
    let t = &c.config.trust;
    hpaxos_core::graph::explain(t.graph(), faulty)
        .entangled
        .iter()
        .map(|(a, b)| {
            (
                t.learner_name(*a).to_string(),
                t.learner_name(*b).to_string(),
            )
        })
        .collect()
}

/// Live learners (a quorum of non-faulty acceptors) when `faulty` are faulty.
pub fn live_learners(c: &Cluster, faulty: &AccSet) -> Vec<String> {
    let t = &c.config.trust;
    hpaxos_core::graph::explain(t.graph(), faulty)
        .live
        .iter()
        .map(|l| t.learner_name(*l).to_string())
        .collect()
}

/// Check 3.
pub fn agreement(
    pairs: &[(String, String)],
    logs: &BTreeMap<(String, String), Log>,
) -> Vec<PairAgreement> {
    let mut out = Vec::new();
    for (l1, l2) in pairs {
        let mut pa = PairAgreement {
            learners: (l1.clone(), l2.clone()),
            node_pairs: 0,
            slots_compared: 0,
            disagreements: Vec::new(),
        };
        let a: Vec<_> = logs.iter().filter(|((_, l), _)| l == l1).collect();
        let b: Vec<_> = logs.iter().filter(|((_, l), _)| l == l2).collect();
        for ((n1, _), g1) in &a {
            for ((n2, _), g2) in &b {
                if l1 == l2 && n1 >= n2 {
                    continue;
                }
                pa.node_pairs += 1;
                for (s, (d1, _)) in g1.iter() {
                    if let Some((d2, _)) = g2.get(s) {
                        pa.slots_compared += 1;
                        if d1 != d2 && pa.disagreements.len() < 100 {
                            pa.disagreements.push((n1.clone(), n2.clone(), *s));
                        }
                    }
                }
            }
        }
        out.push(pa);
    }
    out
}

#[derive(Clone, Debug, Serialize)]
pub struct Recovery {
    pub learner: String,
    /// Required to progress (live and entangled with itself).
    pub required: bool,
    /// From the heal to the completion of the first acknowledged operation
    /// invoked after it.
    pub recovery_ms: Option<f64>,
    pub within_bound: bool,
}

/// Check 4.
pub fn recovery(
    history: &[OpRecord],
    learners: &[String],
    required: &[String],
    heal_ms: f64,
    bound: Duration,
) -> Vec<Recovery> {
    learners
        .iter()
        .map(|l| {
            let r = history
                .iter()
                .filter(|o| &o.learner == l && o.outcome == Outcome::Ok && o.invoke_ms >= heal_ms)
                .map(|o| o.complete_ms - heal_ms)
                .min_by(|a, b| a.total_cmp(b));
            Recovery {
                learner: l.clone(),
                required: required.contains(l),
                recovery_ms: r,
                within_bound: r.is_some_and(|ms| ms <= bound.as_secs_f64() * 1000.0),
            }
        })
        .collect()
}

/// Check 5 (the liveness issue's item 1): during each fault window, every
/// learner that `graph explain --faulty F` reports live and entangled with
/// itself (F: the acceptors of the window's nodes and of the Byzantine
/// node) gets commands acknowledged at the nodes outside the window.
#[derive(Clone, Debug, Serialize)]
pub struct WindowLiveness {
    pub window: usize,
    pub nodes: Vec<String>,
    /// The judged interval: from the window's start plus the grace (leader
    /// failover, timeouts) to its end, in ms since the run started.
    pub from_ms: f64,
    pub to_ms: f64,
    /// (learner, acknowledged operations completed in the interval at nodes
    /// outside the window) for each learner required to progress.
    pub acked: Vec<(String, usize)>,
    /// Too short to judge (shorter than `min_judged` after the grace).
    pub judged: bool,
}

/// Acknowledged operations of `learner` completed in `[from_ms, to_ms]` at
/// nodes not in `faulty_nodes`.
pub fn acked_in(
    history: &[OpRecord],
    learner: &str,
    faulty_nodes: &[String],
    from_ms: f64,
    to_ms: f64,
) -> usize {
    history
        .iter()
        .filter(|o| {
            o.learner == learner
                && o.outcome == Outcome::Ok
                && !faulty_nodes.contains(&o.node)
                && o.complete_ms >= from_ms
                && o.complete_ms <= to_ms
        })
        .count()
}

pub fn live_during_faults(
    c: &Cluster,
    history: &[OpRecord],
    windows: &[crate::nemesis::Window],
    grace: Duration,
    min_judged: Duration,
) -> Vec<WindowLiveness> {
    let byz: Vec<usize> = c
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.byzantine)
        .map(|(i, _)| i)
        .collect();
    windows
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let faulty: AccSet = c
                .nodes
                .iter()
                .zip(&c.config.nodes)
                .enumerate()
                .filter(|(j, (n, _))| w.nodes.contains(&n.name) || byz.contains(j))
                .filter_map(|(_, (_, s))| s.acceptor)
                .collect();
            let pairs = entangled_pairs(c, &faulty);
            let required: Vec<String> = live_learners(c, &faulty)
                .into_iter()
                .filter(|l| pairs.iter().any(|(a, b)| a == l && b == l))
                .collect();
            let from_ms = w.start_ms as f64 + grace.as_secs_f64() * 1000.0;
            let to_ms = w.end_ms as f64;
            let judged = to_ms - from_ms >= min_judged.as_secs_f64() * 1000.0;
            let acked = required
                .iter()
                .map(|l| (l.clone(), acked_in(history, l, &w.nodes, from_ms, to_ms)))
                .collect();
            WindowLiveness {
                window: i,
                nodes: w.nodes.clone(),
                from_ms,
                to_ms,
                acked,
                judged,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Kind;

    fn put(node: &str, slot: u64, out: Outcome) -> OpRecord {
        OpRecord {
            process: 1,
            learner: "alice".into(),
            node: node.into(),
            kind: Kind::Put,
            key: "k".into(),
            value: Some(format!("v{slot}")),
            invoke_ms: 0.0,
            complete_ms: 1.0,
            outcome: out,
            result: None,
            slot: Some(slot),
            error: None,
        }
    }

    fn log(entries: &[(u64, &str, bool)]) -> Log {
        entries
            .iter()
            .map(|(s, d, ok)| (*s, (d.to_string(), *ok)))
            .collect()
    }

    /// Check 2: an acknowledged write whose slot is missing from (or empty
    /// in) the acknowledging node's log of that learner is lost; unknown
    /// and failed writes are not acknowledged, so never lost.
    /// Check 5 counts only acknowledgements inside the judged interval,
    /// of the learner asked, at nodes outside the fault window.
    #[test]
    fn acks_during_a_window_count_only_outside_nodes_and_the_interval() {
        let mut h = vec![
            put("n1", 1, Outcome::Ok),
            put("n2", 2, Outcome::Ok),
            put("n3", 3, Outcome::Info),
        ];
        for (o, t) in h.iter_mut().zip([1500.0, 1600.0, 1700.0]) {
            o.complete_ms = t;
        }
        let faulty = vec!["n2".to_string()];
        assert_eq!(
            acked_in(&h, &h[0].learner.clone(), &faulty, 1000.0, 2000.0),
            1
        );
        assert_eq!(
            acked_in(&h, &h[0].learner.clone(), &faulty, 1550.0, 2000.0),
            0
        );
        assert_eq!(acked_in(&h, "nobody", &faulty, 0.0, 9e9), 0);
    }

    #[test]
    fn acknowledged_write_missing_from_its_log_is_lost() {
        let mut logs = BTreeMap::new();
        logs.insert(
            ("n1".into(), "alice".into()),
            log(&[(0, "a", true), (1, "b", false)]),
        );
        let h = vec![
            put("n1", 0, Outcome::Ok),
            put("n1", 1, Outcome::Ok),
            put("n1", 2, Outcome::Ok),
            put("n1", 3, Outcome::Info),
            put("n2", 0, Outcome::Ok),
        ];
        let lost = lost_writes(&h, &logs);
        let why: Vec<&str> = lost.iter().map(|l| l.why.as_str()).collect();
        assert_eq!(
            why,
            [
                "slot 1 holds no valid command",
                "slot 2 missing from the log",
                "the acknowledging node's log could not be read"
            ]
        );
    }

    /// Check 3 (agreement of entangled learners, spec `Agreement`): two
    /// honest nodes whose logs of entangled learners hold different values
    /// in one slot are reported; slots only one of them has are not compared.
    #[test]
    fn different_digests_in_one_slot_are_a_disagreement() {
        let mut logs = BTreeMap::new();
        logs.insert(
            ("n1".into(), "alice".into()),
            log(&[(0, "a", true), (1, "b", true)]),
        );
        logs.insert(
            ("n2".into(), "alice".into()),
            log(&[(0, "a", true), (1, "X", true), (2, "c", true)]),
        );
        logs.insert(("n1".into(), "bob".into()), log(&[(0, "a", true)]));
        let pairs = vec![
            ("alice".to_string(), "alice".to_string()),
            ("alice".into(), "bob".into()),
        ];
        let a = agreement(&pairs, &logs);
        assert_eq!(a[0].node_pairs, 1);
        assert_eq!(a[0].slots_compared, 2);
        assert_eq!(
            a[0].disagreements,
            vec![("n1".to_string(), "n2".to_string(), 1)]
        );
        assert_eq!((a[1].node_pairs, a[1].slots_compared), (2, 2));
        assert!(a[1].disagreements.is_empty());
    }
}
