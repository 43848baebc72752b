//! The nemesis: a fault schedule drawn from a seed, and its execution with
//! the Docker CLI.
//!
//! Faults, one window at a time (each 3-8 s, 2-4 s apart):
//! - `isolate`: `docker network disconnect` of 1-2 nodes from the peer
//!   network (they keep taking client commands on the client network);
//!   healed by reconnecting with the same address and host name;
//! - `kill`: `docker kill -s KILL` of 1-2 nodes; healed by `docker start`
//!   (the node recovers from its write-ahead log in its volume);
//! - `pause`: `docker pause` (SIGSTOP of every process) of 1-2 nodes;
//!   healed by `docker unpause`.
//!
//! A Byzantine node (`--byzantine equivocate`) is chosen at cluster start
//! and stays for the whole run; it is named in the schedule. After the
//! last window, [`heal_all`] undoes every fault on every node, whatever
//! happened before.
//!
//! Data flow: `main` plans with [`plan`], runs [`execute`] beside the
//! workload, then [`heal_all`]; the applied events go to `nemesis.jsonl`.

use crate::cluster::{Cluster, Node};
use crate::docker::Docker;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    Isolate,
    Kill,
    Pause,
}

/// One planned fault window (times from the start of the run).
#[derive(Clone, Debug, Serialize)]
pub struct Window {
    pub kind: FaultKind,
    pub nodes: Vec<String>,
    pub start_ms: u64,
    pub end_ms: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Schedule {
    pub name: String,
    pub seed: u64,
    /// The node running `--byzantine equivocate` for the whole run.
    pub byzantine: Option<String>,
    pub windows: Vec<Window>,
    /// When the last window ends (everything healed by then).
    pub heal_ms: u64,
}

/// Draws a schedule: faults from `from_ms` for about `fault_secs`.
pub fn plan(
    name: &str,
    seed: u64,
    nodes: &[String],
    byzantine: Option<String>,
    from_ms: u64,
    fault_secs: u64,
) -> Schedule {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut windows = Vec::new();
    let mut t = from_ms;
    let end = from_ms + fault_secs * 1000;
    let kinds = [FaultKind::Isolate, FaultKind::Kill, FaultKind::Pause];
    while t < end && windows.len() < 1000 {
        let kind = kinds[windows.len() % 3];
        let k = rng.random_range(1..=2usize).min(nodes.len());
        let mut pick: Vec<String> = nodes.to_vec();
        pick.shuffle(&mut rng);
        pick.truncate(k);
        pick.sort();
        let d = rng.random_range(3000..=8000);
        windows.push(Window {
            kind,
            nodes: pick,
            start_ms: t,
            end_ms: t + d,
        });
        t += d + rng.random_range(2000..=4000);
    }
    // Kinds rotate so that every kind occurs; the order of kinds is shuffled too.
    let mut order: Vec<usize> = (0..windows.len()).collect();
    order.shuffle(&mut rng);
    let kinds_shuffled: Vec<FaultKind> = order.iter().map(|i| windows[*i].kind).collect();
    for (w, k) in windows.iter_mut().zip(kinds_shuffled) {
        w.kind = k;
    }
    let heal_ms = windows.last().map_or(from_ms, |w| w.end_ms);
    Schedule {
        name: name.to_string(),
        seed,
        byzantine,
        windows,
        heal_ms,
    }
}

/// One action the nemesis took.
#[derive(Clone, Debug, Serialize)]
pub struct Applied {
    /// Index of the window in the schedule (`None`: the final heal).
    pub window: Option<usize>,
    pub t_ms: f64,
    pub action: String,
    pub node: String,
    pub ok: bool,
    pub error: Option<String>,
}

async fn act(d: &Docker, c: &Cluster, n: &Node, what: &str) -> Result<(), String> {
    let r = match what {
        "disconnect" => {
            d.run(&["network", "disconnect", "-f", &c.peer_net, &n.container])
                .await
        }
        "connect" => {
            d.run(&[
                "network",
                "connect",
                "--ip",
                &n.peer_ip,
                "--alias",
                &n.name,
                &c.peer_net,
                &n.container,
            ])
            .await
        }
        "kill" => d.run(&["kill", "-s", "KILL", &n.container]).await,
        "start" => d.run(&["start", &n.container]).await,
        "pause" => d.run(&["pause", &n.container]).await,
        "unpause" => d.run(&["unpause", &n.container]).await,
        other => return Err(format!("unknown action {other}")),
    };
    r.map(|_| ()).map_err(|e| e.to_string())
}

async fn record(
    d: &Docker,
    c: &Cluster,
    (t0, window): (Instant, Option<usize>),
    n: &Node,
    what: &str,
    log: &mut Vec<Applied>,
) {
    let r = act(d, c, n, what).await;
    let a = Applied {
        window,
        t_ms: t0.elapsed().as_secs_f64() * 1000.0,
        action: what.to_string(),
        node: n.name.clone(),
        ok: r.is_ok(),
        error: r.err(),
    };
    eprintln!(
        "  nemesis {:>7.1} s  {:<10} {}{}",
        a.t_ms / 1000.0,
        a.action,
        a.node,
        a.error
            .as_deref()
            .map(|e| format!("  ({e})"))
            .unwrap_or_default()
    );
    log.push(a);
}

/// Runs the windows of `s` (times relative to `t0`).
pub async fn execute(d: &Docker, c: &Cluster, s: &Schedule, t0: Instant) -> Vec<Applied> {
    let mut log = Vec::new();
    for (i, w) in s.windows.iter().enumerate() {
        let (on, off) = match w.kind {
            FaultKind::Isolate => ("disconnect", "connect"),
            FaultKind::Kill => ("kill", "start"),
            FaultKind::Pause => ("pause", "unpause"),
        };
        sleep_until(t0, w.start_ms).await;
        for name in &w.nodes {
            if let Some(n) = c.node(name) {
                record(d, c, (t0, Some(i)), n, on, &mut log).await;
            }
        }
        sleep_until(t0, w.end_ms).await;
        for name in &w.nodes {
            if let Some(n) = c.node(name) {
                record(d, c, (t0, Some(i)), n, off, &mut log).await;
            }
        }
    }
    log
}

async fn sleep_until(t0: Instant, ms: u64) {
    let at = t0 + Duration::from_millis(ms);
    tokio::time::sleep_until(at.into()).await;
}

/// Undoes every fault on every node: unpause, start, reconnect (each
/// ignored where it does not apply). Returns the actions that did
/// something.
pub async fn heal_all(d: &Docker, c: &Cluster, t0: Instant) -> Vec<Applied> {
    let mut log = Vec::new();
    for n in &c.nodes {
        let state = d
            .run(&["inspect", "-f", "{{.State.Status}}", &n.container])
            .await
            .unwrap_or_default();
        if state == "paused" {
            record(d, c, (t0, None), n, "unpause", &mut log).await;
        } else if state != "running" {
            record(d, c, (t0, None), n, "start", &mut log).await;
        }
        let ip = d.ip(&n.container, &c.peer_net).await.unwrap_or_default();
        if ip.is_empty() || ip.contains("no value") {
            record(d, c, (t0, None), n, "connect", &mut log).await;
        }
    }
    log
}

/// The schedule as it happened: each window from its first fault action
/// to its last heal action (docker commands take time on a loaded host).
pub fn actual(s: &Schedule, applied: &[Applied], heal_ms: f64) -> Schedule {
    let mut out = s.clone();
    for (i, w) in out.windows.iter_mut().enumerate() {
        let ts: Vec<f64> = applied
            .iter()
            .filter(|a| a.window == Some(i))
            .map(|a| a.t_ms)
            .collect();
        if let (Some(a), Some(b)) = (
            ts.iter().copied().reduce(f64::min),
            ts.iter().copied().reduce(f64::max),
        ) {
            w.start_ms = a as u64;
            w.end_ms = b as u64;
        }
    }
    out.heal_ms = heal_ms as u64;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seeded: the same seed gives the same schedule (replays are exact),
    /// windows do not overlap, every kind occurs, at most 2 nodes each.
    #[test]
    fn plan_is_deterministic_and_well_formed() {
        let nodes: Vec<String> = (1..=5).map(|i| format!("n{i}")).collect();
        let a = plan("ci", 7, &nodes, None, 5000, 45);
        let b = plan("ci", 7, &nodes, None, 5000, 45);
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
        let c = plan("ci", 8, &nodes, None, 5000, 45);
        assert_ne!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&c).unwrap()
        );
        for w in a.windows.windows(2) {
            assert!(w[0].end_ms < w[1].start_ms);
        }
        for k in [FaultKind::Isolate, FaultKind::Kill, FaultKind::Pause] {
            assert!(a.windows.iter().any(|w| w.kind == k), "{k:?} missing");
        }
        assert!(a.windows.iter().all(|w| (1..=2).contains(&w.nodes.len())));
        assert!(a.windows[0].start_ms == 5000 && a.heal_ms == a.windows.last().unwrap().end_ms);
    }
}
