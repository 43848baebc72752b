//! State transfer (issue 10, item 3), multi-process on loopback (every
//! wait bounded, every process stopped at the end).
//!
//! With `retain_slots = 16` the nodes compact every few slots and keep the
//! certificates of only the last 64 slots per learner, and attest their
//! replica state every 4 slots (`hpaxos_core::node::snapshot`). A node
//! down for longer than that, or rebuilt after `--truncate-corrupt-wal`,
//! cannot catch up from certificates: it installs a peer's snapshot,
//! authenticated by attestations of a quorum of each learner, and then
//! serves the same reads as the others. Forged snapshots (a state that is
//! not the attested one, attestations that are no quorum) are refused and
//! counted.

mod common;

use common::*;
use hpaxos_core::{Digest, LearnerId, Slot};
use hpaxos_node::wire::{seal, NodeIdx, Payload};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn small() -> String {
    FOUR.replace("batch_max = 32", "batch_max = 2\nretain_slots = 16")
}

/// Puts `k{i % 40} = v{i}` for `i` in `range`, six at a time, through `n1`.
async fn puts(n1: SocketAddr, range: std::ops::Range<usize>, c: &TestCluster) {
    let ids: Vec<usize> = range.collect();
    for wave in ids.chunks(6) {
        let mut tasks = Vec::new();
        for &i in wave {
            tasks.push(tokio::spawn(async move {
                put(n1, &format!("k{}", i % 40), &format!("v{i}")).await
            }));
        }
        for t in tasks {
            assert!(
                t.await.unwrap().is_some(),
                "a put was not committed\n{}",
                node_logs(c)
            );
        }
    }
}

async fn status(a: SocketAddr) -> serde_json::Value {
    get_json(a, "/v1/status").await.unwrap_or_default()
}

/// Per learner: (applied slots, log hash, keys).
fn learners(st: &serde_json::Value) -> Vec<(u64, String, u64)> {
    st["learners"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|l| {
            (
                l["applied_slots"].as_u64().unwrap_or(0),
                l["log_hash"].as_str().unwrap_or("").to_string(),
                l["keys"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// Every key `k0..k40` of both learners as `addr` reads it.
async fn reads(addr: SocketAddr) -> Vec<Option<serde_json::Value>> {
    let mut out = Vec::new();
    for k in 0..40 {
        for l in ["alice", "bob"] {
            let j = get_json(addr, &format!("/v1/kv/{l}/k{k}")).await;
            out.push(j.map(|j| j["value"].clone()));
        }
    }
    out
}

/// Keeps the load going (a few puts at a time) until `n`'s learners have
/// the same applied slots and log hash as n1's; returns n's status.
async fn catch_up(c: &TestCluster, n: &str, mut i: usize) -> serde_json::Value {
    let n1 = c.http("n1").unwrap();
    let a = c.http(n).unwrap();
    let t = Instant::now();
    let mut st = serde_json::Value::Null;
    while t.elapsed() < 3 * T {
        puts(n1, i..i + 2, c).await;
        i += 2;
        // Quiet for a moment so that both sides reach the same slot.
        tokio::time::sleep(Duration::from_millis(300)).await;
        st = status(a).await;
        let mine = learners(&st);
        if !mine.is_empty() && mine == learners(&status(n1).await) {
            return st;
        }
    }
    panic!(
        "{n} did not catch up: {st}\nn1: {}\n{}",
        status(n1).await,
        node_logs(c)
    );
}

/// Stops `n` (SIGTERM) and lets the others decide enough slots that every
/// peer compacted past it and holds no certificate of the slot it needs.
async fn run_without(c: &mut TestCluster, n: &str, from: usize, to: usize) -> u64 {
    let was = learners(&status(c.http(n).unwrap()).await)[0].0;
    assert!(c.terminate(n, Duration::from_secs(10)).unwrap());
    let n1 = c.http("n1").unwrap();
    puts(n1, from..to, c).await;
    // Every peer, not only n1, must have compacted past it: a slower one
    // still holding certificates would serve them instead (under load a
    // peer can lag n1 by more than the certificates kept). Bounded by T.
    let peers: Vec<String> = c.names().into_iter().filter(|m| m != n).collect();
    let t = Instant::now();
    let mut i = to;
    loop {
        let mut behind = None;
        for p in &peers {
            let st = status(c.http(p).unwrap()).await;
            if st["compacted_below"].as_u64().unwrap_or(0) <= was + 64 {
                behind = Some((p.clone(), st));
                break;
            }
        }
        let Some((p, st)) = behind else {
            break;
        };
        assert!(
            t.elapsed() < T,
            "{p} did not compact far enough past {n} (at {was}): {st}"
        );
        puts(n1, i..i + 20, c).await;
        i += 20;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The peers' transports still hold the frames sent to `n` in the last
    // `STALE` and deliver them when it reconnects: on a fast machine the
    // whole outage fits in that window and `n` would catch up from its
    // peers' 2b instead. Frames older than `STALE` are dropped, so waiting
    // it out leaves the gap that only a snapshot can fill.
    tokio::time::sleep(hpaxos_node::transport::STALE + Duration::from_millis(500)).await;
    was
}

/// A node down while its peers compacted far past it catches up from a
/// snapshot (certificates from its slot exist nowhere any more), serves
/// the same reads as n1, and a kill -9 right after resumes from the
/// installed state (the install is durable).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_down_while_its_peers_compacted_catches_up_from_a_snapshot() {
    let mut c = four_nodes_with(&small());
    c.spawn_all().unwrap();
    c.wait_healthy(T).await.unwrap();
    let n1 = c.http("n1").unwrap();
    puts(n1, 0..30, &c).await;
    let was = run_without(&mut c, "n4", 30, 500).await;
    c.spawn("n4").unwrap();
    c.wait_healthy(T).await.unwrap();
    let st = catch_up(&c, "n4", 500).await;
    eprintln!("n4 after catching up from slot {was}: {st}");
    assert!(
        st["snapshots_installed"].as_u64().unwrap_or(0) >= 1,
        "no snapshot installed: {st}\n{}",
        std::fs::read_to_string(c.log_path("n4")).unwrap_or_default()
    );
    assert_eq!(st["snapshots_refused"].as_u64(), Some(0), "{st}");
    assert!(
        st["compacted_below"].as_u64().unwrap_or(0) > was + 64,
        "{st}"
    );
    let n4 = c.http("n4").unwrap();
    assert_eq!(reads(n4).await, reads(n1).await, "n4 serves other reads");
    let log = std::fs::read_to_string(c.log_path("n4")).unwrap();
    assert!(log.contains("caught up from a snapshot"), "{log}");
    let m = hpaxos_node::client::request(n4, "GET", "/metrics", None, T)
        .await
        .unwrap();
    assert!(
        metric(&m.body, "hpaxos_state_transfer_total{event=\"installed\"}") >= 1,
        "{}",
        m.body
    );

    // Durable: a kill -9 now resumes from the installed state.
    let before = learners(&status(n4).await);
    c.kill9("n4").unwrap();
    c.spawn("n4").unwrap();
    c.wait_healthy(T).await.unwrap();
    let after = learners(&status(c.http("n4").unwrap()).await);
    for (b, a) in before.iter().zip(&after) {
        assert!(a.0 >= b.0, "n4 went back from {before:?} to {after:?}");
    }
    catch_up(&c, "n4", 700).await;
    let bad = c.terminate_all(Duration::from_secs(10));
    assert!(bad.is_empty(), "nodes {bad:?} did not exit 0 on SIGTERM");
}

/// A node whose log is corrupt at its first record, started with
/// `--truncate-corrupt-wal` (so it starts from nothing) after its peers
/// compacted, catches up from a snapshot and serves the same reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_rebuilt_after_truncate_corrupt_wal_catches_up_from_a_snapshot() {
    let mut c = four_nodes_with(&small());
    c.spawn_all().unwrap();
    c.wait_healthy(T).await.unwrap();
    let n1 = c.http("n1").unwrap();
    puts(n1, 0..30, &c).await;
    run_without(&mut c, "n3", 30, 500).await;
    // Corrupt the first record after the magic: everything is dropped.
    let wal = c.dir().join("data/n3/wal");
    let mut data = std::fs::read(&wal).unwrap();
    assert!(data.len() > 20);
    data[16] ^= 0xff;
    std::fs::write(&wal, &data).unwrap();
    c.set_extra_args("n3", &["--truncate-corrupt-wal"]).unwrap();
    c.spawn("n3").unwrap();
    c.wait_healthy(T).await.unwrap();
    let st = catch_up(&c, "n3", 500).await;
    assert!(st["snapshots_installed"].as_u64().unwrap_or(0) >= 1, "{st}");
    assert_eq!(reads(c.http("n3").unwrap()).await, reads(n1).await);
    let log = std::fs::read_to_string(c.log_path("n3")).unwrap();
    assert!(
        log.contains("dropped a corrupt write-ahead log tail")
            && log.contains("counts as faulty in the learner graph"),
        "{log}"
    );
    let bad = c.terminate_all(Duration::from_secs(10));
    assert!(bad.is_empty(), "nodes {bad:?} did not exit 0 on SIGTERM");
}

/// A state larger than a frame (64 KiB frames, so parts of 32 KiB; about
/// 120 KiB of values) goes in parts: n4, down while its peers compacted,
/// installs it and serves the large values like n1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_larger_than_a_frame_is_transferred_in_parts() {
    let cfg = small().replace(
        "retain_slots = 16",
        "retain_slots = 16\nmax_frame_bytes = 65536\nbatch_bytes = 16384",
    );
    let mut c = four_nodes_with(&cfg);
    c.spawn_all().unwrap();
    c.wait_healthy(T).await.unwrap();
    let n1 = c.http("n1").unwrap();
    let big = |j: usize| format!("{j}-{}", "x".repeat(4000));
    for j in 0..30 {
        assert!(put(n1, &format!("big{j}"), &big(j)).await.is_some());
    }
    let was = run_without(&mut c, "n4", 0, 500).await;
    c.spawn("n4").unwrap();
    c.wait_healthy(T).await.unwrap();
    let st = catch_up(&c, "n4", 500).await;
    assert!(
        st["snapshots_installed"].as_u64().unwrap_or(0) >= 1,
        "no snapshot installed after slot {was}: {st}"
    );
    assert_eq!(st["snapshots_refused"].as_u64(), Some(0), "{st}");
    let n4 = c.http("n4").unwrap();
    for j in [0, 17, 29] {
        for l in ["alice", "bob"] {
            let path = format!("/v1/kv/{l}/big{j}");
            let got = get_json(n4, &path).await.map(|v| v["value"].clone());
            assert_eq!(got, Some(serde_json::json!(big(j))), "{path}");
        }
    }
    let log = std::fs::read_to_string(c.log_path("n1")).unwrap_or_default();
    assert!(!log.contains("does not fit in a frame"), "{log}");
    let bad = c.terminate_all(Duration::from_secs(10));
    assert!(bad.is_empty(), "nodes {bad:?} did not exit 0 on SIGTERM");
}

/// Forged snapshots sent to n4 by "n3" (whose key the test holds, as a
/// Byzantine n3 would): (1) a made-up state with n3's own attestation of
/// its digest (one acceptor: no quorum of alice), (2) a made-up state with
/// attestations of a quorum (n1, n2, n3) of another digest. Both refused,
/// counted in `/v1/status`, and n4's replica is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_snapshots_are_refused_and_counted() {
    use tokio::io::AsyncWriteExt;
    let mut c = four_nodes_with(&small());
    c.spawn("n4").unwrap();
    c.wait_healthy(T).await.unwrap();
    let n4 = c.http("n4").unwrap();
    let cfg = hpaxos_node::ClusterConfig::load(c.config_path()).unwrap();
    let key =
        |n: &str| hpaxos_node::keys::read_secret(&c.dir().join(format!("keys/{n}.key"))).unwrap();
    let idx = |n: &str| NodeIdx(cfg.node_by_name(n).unwrap().idx.0);
    let state = b"a state nobody attested".to_vec();
    let forged = hpaxos_core::node::snapshot::state_digest(&state);
    let other = Digest([7; 32]);
    let slot = Slot(1 << 20);
    let att = |n: &str, digest: Digest| {
        seal(
            idx(n),
            &key(n),
            &Payload::Attest {
                lr: LearnerId(0),
                slot,
                digest,
            },
        )
        .to_vec()
    };
    let snapshot = |atts: Vec<Vec<u8>>| {
        seal(
            idx("n3"),
            &key("n3"),
            &Payload::Snapshot {
                lr: LearnerId(0),
                slot,
                state: Some(state.clone()),
                atts,
            },
        )
    };
    let frames = [
        snapshot(vec![att("n3", forged)]),
        snapshot(vec![att("n1", other), att("n2", other), att("n3", other)]),
    ];
    let t = Instant::now();
    let mut st = serde_json::Value::Null;
    while t.elapsed() < T {
        // A fresh connection each round (n4 may drop an idle one).
        if let Ok(mut s) = tokio::net::TcpStream::connect(c.peer_addr("n4").unwrap()).await {
            for f in &frames {
                let _ = s.write_all(f).await;
            }
            let _ = s.flush().await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        st = status(n4).await;
        if st["snapshots_refused"].as_u64().unwrap_or(0) >= 2 {
            break;
        }
    }
    assert!(
        st["snapshots_refused"].as_u64().unwrap_or(0) >= 2,
        "forged snapshots not refused: {st}\n{}",
        node_logs(&c)
    );
    assert_eq!(st["snapshots_installed"].as_u64(), Some(0), "{st}");
    assert_eq!(learners(&st)[0].0, 0, "n4's replica moved: {st}");
    let m = hpaxos_node::client::request(n4, "GET", "/metrics", None, T)
        .await
        .unwrap();
    assert!(
        metric(&m.body, "hpaxos_state_transfer_total{event=\"refused\"}") >= 2,
        "{}",
        m.body
    );
    let log = std::fs::read_to_string(c.log_path("n4")).unwrap();
    assert!(
        log.contains("refused a snapshot: the attesting acceptors are not a quorum of the learner")
            && log.contains("refused a snapshot: the state does not match the attested digest"),
        "{log}"
    );
    let bad = c.terminate_all(Duration::from_secs(10));
    assert!(bad.is_empty(), "nodes {bad:?} did not exit 0 on SIGTERM");
}
