//! Helpers of the multi-process tests: a 4-acceptor configuration, a local
//! cluster of `hpaxos-node` processes in a temporary directory, and HTTP
//! helpers with bounded waits.
#![allow(dead_code)]

use hpaxos_node::client::request;
use hpaxos_node::cluster::{LocalCluster, NodePlan};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Classic Byzantine cluster: 4 acceptors, learners alice and bob with
/// quorums 3 of 4, entangled (with themselves and each other) while any 3
/// acceptors are safe (so with one Byzantine acceptor).
pub const FOUR: &str = r#"
[acceptors]
a1 = {}
a2 = {}
a3 = {}
a4 = {}

[learners.alice]
quorums = "3 of {a1, a2, a3, a4}"

[learners.bob]
quorums = [["a1", "a2", "a3"], ["a1", "a2", "a4"], ["a1", "a3", "a4"], ["a2", "a3", "a4"]]

[[safety]]
learners = ["alice", "alice"]
safe = "3 of {a1, a2, a3, a4}"

[[safety]]
learners = ["bob", "bob"]
safe = "3 of {a1, a2, a3, a4}"

[[safety]]
learners = ["alice", "bob"]
safe = "3 of {a1, a2, a3, a4}"

[cluster]
window = 4
batch_max = 32
timeout_ms = 200
"#;

pub struct TestCluster {
    pub c: LocalCluster,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for TestCluster {
    type Target = LocalCluster;
    fn deref(&self) -> &LocalCluster {
        &self.c
    }
}
impl std::ops::DerefMut for TestCluster {
    fn deref_mut(&mut self) -> &mut LocalCluster {
        &mut self.c
    }
}

/// Four nodes n1..n4 running a1..a4 and both learners; n1 proposes.
pub fn four_nodes() -> TestCluster {
    four_nodes_with(FOUR)
}

/// [`four_nodes`] with another base configuration.
pub fn four_nodes_with(base: &str) -> TestCluster {
    let plans: Vec<NodePlan> = (1..=4)
        .map(|i| NodePlan {
            name: format!("n{i}"),
            acceptor: Some(format!("a{i}")),
            learners: vec!["alice".into(), "bob".into()],
            proposer: i == 1,
        })
        .collect();
    cluster_of(base, &plans)
}

/// A cluster of the given node plans in a fresh temporary directory.
pub fn cluster_of(base: &str, plans: &[NodePlan]) -> TestCluster {
    let dir = tempfile::tempdir().expect("temp dir");
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_hpaxos-node"));
    let c = LocalCluster::prepare(base, plans, &exe, &["node"], dir.path(), false)
        .expect("prepare cluster");
    TestCluster { c, _dir: dir }
}

pub fn node_logs(c: &LocalCluster) -> String {
    let mut s = String::new();
    for n in c.names() {
        let t = std::fs::read_to_string(c.log_path(&n)).unwrap_or_default();
        let tail: Vec<&str> = t.lines().rev().take(15).collect();
        s.push_str(&format!("--- {n}\n"));
        for l in tail.into_iter().rev() {
            s.push_str(l);
            s.push('\n');
        }
    }
    s
}

pub const T: Duration = Duration::from_secs(20);

/// `put key value` through `addr`; the reply JSON on success.
pub async fn put(addr: SocketAddr, key: &str, value: &str) -> Option<serde_json::Value> {
    let body = serde_json::json!({"op": "put", "key": key, "value": value});
    let r = request(addr, "POST", "/v1/commands", Some(&body), T)
        .await
        .ok()?;
    if r.status == 200 {
        r.json()
    } else {
        None
    }
}

pub async fn get_json(addr: SocketAddr, path: &str) -> Option<serde_json::Value> {
    let r = request(addr, "GET", path, None, Duration::from_secs(5))
        .await
        .ok()?;
    if r.status == 200 {
        r.json()
    } else {
        None
    }
}

/// `(slot, digest)` of a learner's applied log on a node.
pub async fn log_of(addr: SocketAddr, learner: &str) -> Vec<(u64, String)> {
    let Some(j) = get_json(addr, &format!("/v1/log/{learner}?limit=100000")).await else {
        return Vec::new();
    };
    j["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| {
            (
                e["slot"].as_u64().unwrap_or(u64::MAX),
                e["digest"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Waits (bounded) until every listed node's learners have applied at
/// least `min_slots` slots and hold identical logs; returns the logs.
pub async fn converge(
    addrs: &[SocketAddr],
    learners: &[&str],
    min_slots: usize,
    timeout: Duration,
) -> Vec<Vec<(u64, String)>> {
    let t = Instant::now();
    loop {
        let mut logs = Vec::new();
        for a in addrs {
            for l in learners {
                logs.push(log_of(*a, l).await);
            }
        }
        let same = logs.windows(2).all(|w| w[0] == w[1]);
        let long = logs.iter().all(|l| l.len() >= min_slots);
        if (same && long) || t.elapsed() > timeout {
            return logs;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of a Prometheus counter line `name{label="x"} v` (0 if absent).
pub fn metric(text: &str, prefix: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}
