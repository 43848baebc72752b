//! Multi-process tests on loopback: real `hpaxos-node` processes, real TCP,
//! real fsync. Every wait is bounded.
//!
//! Scenarios (issue 5): a 4-acceptor cluster decides and serves reads; a
//! `kill -9` of an acceptor mid-load then a restart loses no acknowledged
//! command and the learners' logs agree (the spec's `Safety` for the
//! entangled pair alice/bob, and durability of `votesSent`/`maxBal`); an
//! equivocating Byzantine acceptor cannot make entangled learners disagree
//! (`Safety` with one `FakeAcceptor` inside alice's and bob's safe set).

mod common;

use common::*;
use std::collections::BTreeMap;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_acceptors_decide_and_serve_reads() {
    let mut c = four_nodes();
    c.spawn_all().unwrap();
    c.wait_healthy(T).await.unwrap();
    let n1 = c.http("n1").unwrap();
    let mut tasks = Vec::new();
    for i in 0..40 {
        tasks.push(tokio::spawn(async move {
            put(n1, &format!("k{i}"), &format!("v{i}")).await
        }));
    }
    for t in tasks {
        let r = t.await.unwrap();
        assert!(r.is_some(), "a put was not committed\n{}", node_logs(&c));
    }
    let addrs: Vec<_> = c.names().iter().filter_map(|n| c.http(n)).collect();
    let logs = converge(&addrs, &["alice", "bob"], 1, T).await;
    assert!(
        logs.windows(2).all(|w| w[0] == w[1]),
        "replicas differ: {logs:?}"
    );
    // Reads from every node's replicas of both learners.
    for a in &addrs {
        for l in ["alice", "bob"] {
            let j = get_json(*a, &format!("/v1/kv/{l}/k7")).await.unwrap();
            assert_eq!(j["value"], "v7");
        }
    }
    // A read through the log returns the current value.
    let body = serde_json::json!({"op": "get", "key": "k3"});
    let r = hpaxos_node::client::request(n1, "POST", "/v1/commands", Some(&body), T)
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json().unwrap()["results"]["alice"], "v3");
    // A large value is replicated; one too large for a frame is refused.
    let big = "x".repeat(100_000);
    assert!(put(n1, "big", &big).await.is_some());
    let huge = serde_json::json!({"op": "put", "key": "huge", "value": "y".repeat(1 << 20)});
    let r = hpaxos_node::client::request(n1, "POST", "/v1/commands", Some(&huge), T)
        .await
        .unwrap();
    assert_eq!(r.status, 413);
    let st = get_json(n1, "/v1/status").await.unwrap();
    assert_eq!(st["learners"][0]["name"], "alice");
    // The gauges are refreshed by the driver every 100 ms or so: poll
    // (bounded) until the live-quorum gauge has caught up with the peers.
    let mut m = hpaxos_node::client::request(n1, "GET", "/metrics", None, T)
        .await
        .unwrap();
    let t0 = std::time::Instant::now();
    while t0.elapsed() < T
        && !m
            .body
            .lines()
            .any(|l| l.starts_with("hpaxos_learner_live_quorum{learner=\"alice\"} 1"))
    {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        m = hpaxos_node::client::request(n1, "GET", "/metrics", None, T)
            .await
            .unwrap();
    }
    assert!(metric(&m.body, "hpaxos_fsyncs_total") > 0);
    assert!(metric(&m.body, "hpaxos_decisions_total{learner=\"alice\"}") > 0);
    // The new families (docs/OPERATIONS.md, "Metrics"), on a busy node.
    for line in [
        "hpaxos_learner_decided_slots{learner=\"alice\"}",
        "hpaxos_learner_applied_slots{learner=\"bob\"}",
        "hpaxos_learner_live_quorum{learner=\"alice\"} 1",
        "hpaxos_decision_latency_seconds_count{learner=\"alice\"}",
        "hpaxos_current_ballot{learner=\"alice\"}",
        "hpaxos_leader{node=\"n1\"} 1",
        "hpaxos_peer_up{peer=\"n2\"} 1",
        "hpaxos_queue_depth{queue=\"driver_events\"}",
        "hpaxos_peer_queue_depth{peer=\"n4\"}",
        "hpaxos_build_info{",
        "hpaxos_view ",
        "hpaxos_witness_frames_sent_total ",
    ] {
        assert!(
            m.body.lines().any(|l| l.starts_with(line)),
            "no {line} in\n{}",
            m.body
        );
    }
    assert!(metric(&m.body, "hpaxos_learner_applied_slots{learner=\"alice\"}") > 0);
    // No node of an honest cluster finds evidence against anyone.
    for a in &addrs {
        let st = get_json(*a, "/v1/status").await.unwrap();
        assert_eq!(st["evidence"], serde_json::json!({}), "{st}");
    }
    assert_eq!(metric(&m.body, "hpaxos_evidence_total"), 0);
    // Graceful stop on SIGTERM: every node exits 0.
    let bad = c.terminate_all(Duration::from_secs(10));
    assert!(bad.is_empty(), "nodes {bad:?} did not exit 0 on SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_of_an_acceptor_mid_load_loses_no_acknowledged_command() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    let mut c = four_nodes();
    c.spawn_all().unwrap();
    c.wait_healthy(T).await.unwrap();
    let n1 = c.http("n1").unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let acks = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (next, acks, stop) = (next.clone(), acks.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut failed = 0;
            while !stop.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if put(n1, &format!("key{i}"), &format!("val{i}"))
                    .await
                    .is_some()
                {
                    acked.push(i);
                    acks.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed += 1;
                }
            }
            (acked, failed)
        }));
    }
    let wait_acks = |n: usize| {
        let acks = acks.clone();
        async move {
            let t = std::time::Instant::now();
            while acks.load(Ordering::Relaxed) < n && t.elapsed() < T {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    // Mid-load: kill -9 acceptor a4's node; the load goes on for longer
    // than peers keep frames for it, then it restarts from its log.
    wait_acks(60).await;
    c.kill9("n4").unwrap();
    let down = acks.load(Ordering::Relaxed);
    wait_acks(down + 60).await;
    tokio::time::sleep(hpaxos_node::transport::STALE + Duration::from_millis(500)).await;
    c.spawn("n4").unwrap();
    c.wait_healthy(T).await.unwrap();
    let up = acks.load(Ordering::Relaxed);
    wait_acks(up + 60).await;
    stop.store(true, Ordering::Relaxed);
    let mut acked: Vec<usize> = Vec::new();
    let mut failed = 0;
    for t in tasks {
        let (a, f) = t.await.unwrap();
        acked.extend(a);
        failed += f;
    }
    // A quorum (3 of 4) stayed up throughout: everything was acknowledged.
    assert_eq!(failed, 0, "\n{}", node_logs(&c));
    assert!(acked.len() >= up + 60);
    let addrs: Vec<_> = c.names().iter().filter_map(|n| c.http(n)).collect();
    let logs = converge(&addrs, &["alice", "bob"], 1, T).await;
    assert!(
        logs.windows(2).all(|w| w[0] == w[1]),
        "logs differ after restart:\n{logs:?}\n{}",
        node_logs(&c)
    );
    // A restarted honest acceptor re-sends what it sent before (its log
    // holds its votes): no node takes that for equivocation.
    for a in &addrs {
        let st = get_json(*a, "/v1/status").await.unwrap();
        assert_eq!(st["evidence"], serde_json::json!({}), "{st}");
    }
    // The restarted node caught up from decision certificates of its peers.
    let m = hpaxos_node::client::request(c.http("n4").unwrap(), "GET", "/metrics", None, T)
        .await
        .unwrap();
    assert!(
        metric(&m.body, "hpaxos_certificate_messages_received_total") > 0,
        "n4 never needed a certificate"
    );
    // No acknowledged command lost, on any replica (the restarted one too).
    for a in &addrs {
        for l in ["alice", "bob"] {
            for i in acked.iter().step_by(5) {
                let j = get_json(*a, &format!("/v1/kv/{l}/key{i}")).await.unwrap();
                assert_eq!(j["value"], format!("val{i}"), "node {a} learner {l}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equivocating_acceptor_cannot_split_entangled_learners() {
    let mut c = four_nodes();
    c.set_extra_args("n4", &["--byzantine", "equivocate"])
        .unwrap();
    c.spawn_all().unwrap();
    c.wait_healthy(T).await.unwrap();
    let n1 = c.http("n1").unwrap();
    let mut tasks = Vec::new();
    for i in 0..60 {
        tasks.push(tokio::spawn(async move {
            put(n1, &format!("k{i}"), &format!("v{i}")).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap().is_some() {
            ok += 1;
        }
    }
    // Three honest acceptors form a quorum: the cluster stays live.
    assert_eq!(ok, 60, "\n{}", node_logs(&c));
    // alice and bob are entangled while a1..a3 are safe: on the honest
    // nodes, every replica of both learners holds the same log, slot by slot.
    let honest: Vec<_> = ["n1", "n2", "n3"]
        .iter()
        .filter_map(|n| c.http(n))
        .collect();
    let logs = converge(&honest, &["alice", "bob"], 1, T).await;
    let mut by_slot: BTreeMap<u64, String> = BTreeMap::new();
    for log in &logs {
        for (s, d) in log {
            let e = by_slot.entry(*s).or_insert_with(|| d.clone());
            assert_eq!(e, d, "learners disagree in slot {s}");
        }
    }
    assert!(logs.windows(2).all(|w| w[0] == w[1]));
    // The liar's twins were sent: its peers saw conflicting values.
    let st = get_json(c.http("n4").unwrap(), "/v1/status").await.unwrap();
    assert_eq!(st["byzantine"], "Equivocate");
    // Each honest node received only one of each pair; the relayed samples
    // (`Payload::Witness`) make them meet: every honest node counts
    // evidence against a4, shows it in its status and metrics, and logs
    // it once.
    for n in ["n1", "n2", "n3"] {
        let http = c.http(n).unwrap();
        let mut st = serde_json::Value::Null;
        for _ in 0..100 {
            st = get_json(http, "/v1/status").await.unwrap_or_default();
            if st["evidence"]["a4"]["count"].as_u64().unwrap_or(0) >= 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            st["evidence"]["a4"]["count"].as_u64().unwrap_or(0) >= 1,
            "{n} found no evidence against a4: {}\n{}",
            st["evidence"],
            node_logs(&c)
        );
        assert_eq!(
            st["evidence"].as_object().map(|o| o.len()),
            Some(1),
            "{n}: {}",
            st["evidence"]
        );
        let m = hpaxos_node::client::request(http, "GET", "/metrics", None, T)
            .await
            .unwrap();
        assert!(
            metric(&m.body, "hpaxos_acceptor_evidence_total{acceptor=\"a4\"}") >= 1,
            "{n}:\n{}",
            m.body
        );
        assert!(metric(&m.body, "hpaxos_evidence_total") >= 1);
        let log = std::fs::read_to_string(c.log_path(n)).unwrap_or_default();
        assert_eq!(
            log.matches("equivocation: acceptor a4 signed two different")
                .count(),
            1,
            "{n} should log the evidence against a4 once:\n{log}"
        );
    }
    let bad = c.terminate_all(Duration::from_secs(10));
    assert!(bad.is_empty(), "{bad:?}");
}
