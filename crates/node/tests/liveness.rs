//! Liveness on real processes (loopback, bounded): the scenarios of the
//! liveness issue with the demo's trust (alice any 4 of 5, bob any 3 of 5):
//! - `kill -9` of the leading proposer under load: another proposer takes
//!   over and commands are acknowledged again (time printed);
//! - two acceptors killed: bob keeps committing, alice does not;
//! - a node restarted into an idle cluster catches up without new commands.

mod common;

use common::{cluster_of, get_json, TestCluster, T};
use hpaxos_node::client::request;
use hpaxos_node::cluster::NodePlan;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const DEMO: &str = r#"
[acceptors]
a1 = {}
a2 = {}
a3 = {}
a4 = {}
a5 = {}

[learners.alice]
quorums = "4 of {a1, a2, a3, a4, a5}"

[learners.bob]
quorums = "3 of {a1, a2, a3, a4, a5}"

[[safety]]
learners = ["alice", "alice"]
safe = "4 of {a1, a2, a3, a4, a5}"

[[safety]]
learners = ["bob", "bob"]
safe = "all {a1, a2, a3, a4, a5}"

[[safety]]
learners = ["alice", "bob"]
safe = "all {a1, a2, a3, a4, a5}"

[cluster]
window = 8
batch_max = 32
timeout_ms = 200
"#;

/// n1..n5 run a1..a5 and both learners; n1, n2, n3 are proposers.
fn demo_cluster() -> TestCluster {
    let plans: Vec<NodePlan> = (1..=5)
        .map(|i| NodePlan {
            name: format!("n{i}"),
            acceptor: Some(format!("a{i}")),
            learners: vec!["alice".into(), "bob".into()],
            proposer: i <= 3,
        })
        .collect();
    cluster_of(DEMO, &plans)
}

/// `put` waiting for `learner`, with a bounded wait; the reply on success.
async fn put_for(
    addr: SocketAddr,
    learner: &str,
    key: &str,
    value: &str,
    wait: Duration,
) -> Option<serde_json::Value> {
    let body = serde_json::json!({"op": "put", "key": key, "value": value});
    let path = format!("/v1/commands?learner={learner}");
    let r = request(addr, "POST", &path, Some(&body), wait).await.ok()?;
    (r.status == 200).then(|| r.json()).flatten()
}

/// Polls `/ready` until `done(status, body)` or `T`; the last answer.
async fn ready_until(
    addr: SocketAddr,
    done: impl Fn(u16, &serde_json::Value) -> bool,
) -> (u16, serde_json::Value) {
    let t = Instant::now();
    let mut last = (0, serde_json::Value::Null);
    while t.elapsed() < T {
        if let Ok(r) = request(addr, "GET", "/ready", None, Duration::from_secs(2)).await {
            last = (r.status, r.json().unwrap_or_default());
            if done(last.0, &last.1) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    last
}

fn live(body: &serde_json::Value, learner: &str) -> Option<bool> {
    body["learners"]
        .as_array()?
        .iter()
        .find(|l| l["name"] == learner)?["live_quorum"]
        .as_bool()
}

async fn applied(addr: SocketAddr, learner: &str) -> Option<u64> {
    let st = get_json(addr, "/v1/status").await?;
    st["learners"]
        .as_array()?
        .iter()
        .find(|l| l["name"] == learner)?["applied_slots"]
        .as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_fails_over_to_another_proposer() {
    let mut c = demo_cluster();
    c.spawn_all().unwrap();
    c.wait_healthy(T).await.unwrap();
    let n4 = c.http("n4").unwrap();
    // A non-proposer node accepts commands (forwarded to the leader n1).
    for i in 0..5 {
        assert!(
            put_for(n4, "bob", &format!("k{i}"), "v", T).await.is_some(),
            "{}",
            common::node_logs(&c)
        );
    }
    c.kill9("n1").unwrap();
    let t0 = Instant::now();
    let mut ok = None;
    while t0.elapsed() < Duration::from_secs(30) {
        if put_for(n4, "bob", "after", "kill", Duration::from_secs(5))
            .await
            .is_some()
        {
            ok = Some(t0.elapsed());
            break;
        }
    }
    let Some(failover) = ok else {
        panic!(
            "no command acknowledged after killing the leader\n{}",
            common::node_logs(&c)
        );
    };
    println!("failover: kill -9 of the leader to the next acknowledged command: {failover:?}");
    let st = get_json(n4, "/v1/status").await.unwrap();
    assert_ne!(st["leader"], "n1", "{st}");
    assert!(st["view"].as_u64().unwrap_or(0) >= 1);
    // Alice (4 of 5 still up) gets it too.
    assert!(put_for(n4, "alice", "after2", "kill", T).await.is_some());
    c.kill_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bob_commits_with_two_acceptors_down_and_alice_does_not() {
    let mut c = demo_cluster();
    c.spawn_all().unwrap();
    c.wait_healthy(T).await.unwrap();
    let n2 = c.http("n2").unwrap();
    assert!(put_for(n2, "alice", "warm", "up", T).await.is_some());
    // `/ready` (PRODUCT.md): each learner has a quorum of heard acceptors.
    let (code, body) = ready_until(n2, |c, _| c == 200).await;
    assert_eq!(code, 200, "{body}");
    c.kill9("n4").unwrap();
    c.kill9("n5").unwrap();
    // Alice (4 of 5) has lost her quorum, bob (3 of 5) has his: not ready.
    let (code, body) = ready_until(n2, |c, b| c == 503 && live(b, "alice") == Some(false)).await;
    assert_eq!(code, 503, "{body}");
    assert_eq!(live(&body, "alice"), Some(false), "{body}");
    assert_eq!(live(&body, "bob"), Some(true), "{body}");
    // The operator is told: a warning that alice lost her last live quorum
    // (not bob), peers n4 and n5 down, and the gauges agree.
    let mut log = String::new();
    for _ in 0..100 {
        log = std::fs::read_to_string(c.log_path("n2")).unwrap_or_default();
        if log.contains("learner lost its last live quorum")
            && log.matches("peer down").count() >= 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lost: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("learner lost its last live quorum"))
        .collect();
    assert_eq!(lost.len(), 1, "{log}");
    assert!(
        lost[0].contains("\"alice\"") && lost[0].contains("WARN"),
        "{}",
        lost[0]
    );
    for peer in ["n4", "n5"] {
        assert!(
            log.lines()
                .any(|l| l.contains("peer down") && l.contains(&format!("peer={peer}"))),
            "no `peer down` for {peer}:\n{log}"
        );
    }
    let m = hpaxos_node::client::request(n2, "GET", "/metrics", None, T)
        .await
        .unwrap()
        .body;
    assert_eq!(
        common::metric(&m, "hpaxos_learner_live_quorum{learner=\"alice\"}"),
        0,
        "{m}"
    );
    assert_eq!(
        common::metric(&m, "hpaxos_learner_live_quorum{learner=\"bob\"}"),
        1,
        "{m}"
    );
    let t = Instant::now();
    let mut bob_ok = 0;
    for i in 0..10 {
        if put_for(n2, "bob", &format!("b{i}"), "x", T).await.is_some() {
            bob_ok += 1;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!("bob with alice's quorum gone: {bob_ok} commands in {secs:.2} s");
    assert_eq!(bob_ok, 10, "{}", common::node_logs(&c));
    // Alice cannot decide: her command is not acknowledged.
    assert!(
        put_for(n2, "alice", "a0", "x", Duration::from_secs(3))
            .await
            .is_none(),
        "alice decided with only 3 of 5 acceptors up"
    );
    let (alice, bob) = (applied(n2, "alice").await, applied(n2, "bob").await);
    assert!(bob > alice, "bob {bob:?} alice {alice:?}");
    c.kill_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_catches_up_in_an_idle_cluster() {
    let mut c = demo_cluster();
    c.spawn_all().unwrap();
    c.wait_healthy(T).await.unwrap();
    let n1 = c.http("n1").unwrap();
    c.kill9("n5").unwrap();
    for i in 0..20 {
        assert!(put_for(n1, "bob", &format!("k{i}"), "v", T).await.is_some());
    }
    let target = applied(n1, "bob").await.unwrap();
    c.spawn("n5").unwrap();
    c.wait_healthy(T).await.unwrap();
    let n5 = c.http("n5").unwrap();
    // No new command: the heartbeats tell n5 it is behind.
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(20) {
        if applied(n5, "bob").await.unwrap_or(0) >= target
            && applied(n5, "alice").await.unwrap_or(0) >= target
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (b, a) = (applied(n5, "bob").await, applied(n5, "alice").await);
    println!("idle catch-up of {target} slots: {:?}", t.elapsed());
    assert!(
        b >= Some(target) && a >= Some(target),
        "n5 bob {b:?} alice {a:?} of {target}"
    );
    c.kill_all();
}

/// The fault harness's stall (schedule ci, seed 1): two nodes (one of them
/// a proposer) cut away while clients of both learners keep submitting;
/// bob (3 of 5) keeps deciding, alice (4 of 5) cannot, and the nodes on
/// the majority side change views because alice's commands make no
/// progress. When the two return, alice must decide again: every slot bob
/// decided meanwhile is retried for her pinned at bob's ballot, which her
/// returning acceptors have not passed (`KnowsSafeAt2` needs alice's own
/// proposals at the ballot of the highest vote).
///
/// OPEN (ignored, fails today; run with `--ignored --nocapture`): alice
/// stops in a slot where three acceptors voted for her at bob's ballot
/// and the two that were paused sent their 2av but never their 2b (the
/// status's `next_slot_here` shows it on every node). The deterministic
/// version in `hpaxos-core` (`node::tests`) passes, so the cause is in
/// what real pauses add (frames dropped as stale by the sender's queue,
/// held frames delivered late); see the liveness issue's note.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn alice_decides_again_when_her_quorum_returns() {
    let mut c = demo_cluster();
    c.spawn_all().unwrap();
    c.wait_healthy(T).await.unwrap();
    let (n1, n3) = (c.http("n1").unwrap(), c.http("n3").unwrap());
    assert!(put_for(n1, "alice", "warm", "up", T).await.is_some());
    c.pause("n2", true).unwrap();
    c.pause("n4", true).unwrap();
    // Load on both learners for 6 s while alice's quorum is away.
    let t = Instant::now();
    let mut tasks = Vec::new();
    for (i, (addr, lr)) in [(n1, "alice"), (n3, "alice"), (n1, "bob"), (n3, "bob")]
        .into_iter()
        .enumerate()
    {
        tasks.push(tokio::spawn(async move {
            let mut ok = 0;
            let mut k = 0;
            while t.elapsed() < Duration::from_secs(6) {
                if put_for(addr, lr, &format!("p{i}-{k}"), "x", Duration::from_secs(2))
                    .await
                    .is_some()
                {
                    ok += 1;
                }
                k += 1;
            }
            ok
        }));
    }
    let mut oks = Vec::new();
    for t in tasks {
        oks.push(t.await.unwrap());
    }
    println!("acknowledged while n2, n4 were paused (alice, alice, bob, bob): {oks:?}");
    assert!(oks[2] + oks[3] > 0, "bob made no progress with 3 of 5 up");
    let bob_then = applied(n1, "bob").await.unwrap_or(0);
    c.pause("n2", false).unwrap();
    c.pause("n4", false).unwrap();
    // Alice catches up with bob's slots and decides new commands.
    let t = Instant::now();
    let mut acked = false;
    while t.elapsed() < Duration::from_secs(90) {
        if put_for(n1, "alice", "after", "return", Duration::from_secs(1))
            .await
            .is_some()
        {
            acked = true;
            break;
        }
        let mut line = String::new();
        for n in ["n1", "n2", "n3", "n4", "n5"] {
            let st = get_json(c.http(n).unwrap(), "/v1/status")
                .await
                .unwrap_or_default();
            line += &format!(
                " {n}:a{}/b{} v{} L{} ",
                st["learners"][0]["applied_slots"],
                st["learners"][1]["applied_slots"],
                st["view"],
                st["leader"]
            );
            if n == "n1" {
                line += &format!("P{} ", st["proposer"]);
            }
        }
        println!("  {:>5.1} s:{line}", t.elapsed().as_secs_f64());
    }
    let (a, b) = (applied(n1, "alice").await, applied(n1, "bob").await);
    println!(
        "alice after the return: acked={acked} in {:?}, alice {a:?} bob {b:?}",
        t.elapsed()
    );
    if !acked {
        if let Ok(dir) = std::env::var("KEEP_LOGS") {
            let _ = std::fs::create_dir_all(&dir);
            for n in c.names() {
                let _ = std::fs::copy(c.log_path(&n), format!("{dir}/{n}.log"));
            }
        }
        for n in ["n1", "n2", "n3", "n4", "n5"] {
            let st = get_json(c.http(n).unwrap(), "/v1/status")
                .await
                .unwrap_or_default();
            println!(
                "{n}: {}  proposer {} view {}",
                st["learners"][0], st["proposer"], st["view"]
            );
        }
    }
    assert!(
        acked && a >= Some(bob_then),
        "alice stalled after her quorum returned: alice {a:?} bob {b:?} (bob had {bob_then})\n{}",
        common::node_logs(&c)
    );
    c.kill_all();
}

/// Figures for the liveness note (run with `--ignored --nocapture`):
/// failover times over 20 leader kills, bob's throughput with and without
/// alice's quorum, and catch-up after a node is paused 12 s under load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn liveness_figures() {
    // Failover: kill -9 of the leader, time to the next acknowledged command.
    let mut times = Vec::new();
    for _ in 0..20 {
        let mut c = demo_cluster();
        c.spawn_all().unwrap();
        c.wait_healthy(T).await.unwrap();
        let n4 = c.http("n4").unwrap();
        assert!(put_for(n4, "bob", "warm", "up", T).await.is_some());
        c.kill9("n1").unwrap();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(30) {
            if put_for(n4, "bob", "after", "kill", Duration::from_secs(5))
                .await
                .is_some()
            {
                times.push(t0.elapsed().as_secs_f64() * 1e3);
                break;
            }
        }
        c.kill_all();
    }
    times.sort_by(|a, b| a.total_cmp(b));
    println!(
        "failover over {} runs: median {:.0} ms, max {:.0} ms",
        times.len(),
        times[times.len() / 2],
        times[times.len() - 1]
    );
    // Bob's throughput, healthy and with two acceptors down (closed loop,
    // 16 clients, 3 s each).
    let mut c = demo_cluster();
    c.spawn_all().unwrap();
    c.wait_healthy(T).await.unwrap();
    let n2 = c.http("n2").unwrap();
    let rate = |addr: SocketAddr| async move {
        let stop = Instant::now() + Duration::from_secs(3);
        let mut tasks = Vec::new();
        for k in 0..16 {
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < stop {
                    if put_for(
                        addr,
                        "bob",
                        &format!("t{k}-{n}"),
                        "v",
                        Duration::from_secs(5),
                    )
                    .await
                    .is_some()
                    {
                        n += 1;
                    }
                }
                n
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap_or(0);
        }
        total as f64 / 3.0
    };
    let healthy = rate(n2).await;
    c.kill9("n4").unwrap();
    c.kill9("n5").unwrap();
    let _ = put_for(n2, "bob", "settle", "x", T).await;
    let degraded = rate(n2).await;
    println!("bob commands/s: healthy {healthy:.0}, alice's quorum gone {degraded:.0}");
    c.kill_all();
    // Pause a node 12 s under load, then time its catch-up.
    let mut c = demo_cluster();
    c.spawn_all().unwrap();
    c.wait_healthy(T).await.unwrap();
    let n1 = c.http("n1").unwrap();
    let n5 = c.http("n5").unwrap();
    c.pause("n5", true).unwrap();
    let stop = Instant::now() + Duration::from_secs(12);
    let mut tasks = Vec::new();
    for k in 0..8 {
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while Instant::now() < stop {
                let _ = put_for(n1, "bob", &format!("p{k}-{i}"), "v", Duration::from_secs(5)).await;
                i += 1;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let target = applied(n1, "bob").await.unwrap_or(0);
    c.pause("n5", false).unwrap();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(60) {
        if applied(n5, "bob").await.unwrap_or(0) >= target {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "catch-up of {target} slots after a 12 s pause under load: {:?} (n5 at {:?})",
        t.elapsed(),
        applied(n5, "bob").await
    );
    c.kill_all();
}

/// Figures (run with `--ignored --nocapture`): alice (any 4 of 5) with one
/// acceptor down needs every one of the other four; the fault harness's
/// check 5 saw her acknowledge nothing for 2-3.5 s in such windows. Kills
/// one node at a time (a plain acceptor, the leader, another proposer)
/// under load on both learners at two surviving nodes, and prints, per
/// outage, the time to alice's first acknowledgement after the kill and
/// her longest gap between acknowledgements while the node is down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn alice_through_single_acceptor_outages() {
    let mut c = demo_cluster();
    c.spawn_all().unwrap();
    c.wait_healthy(T).await.unwrap();
    let mut report = Vec::new();
    for victim in ["n5", "n1", "n3", "n4"] {
        let others: Vec<SocketAddr> = ["n2", "n4", "n5", "n1"]
            .iter()
            .filter(|n| **n != victim)
            .take(2)
            .map(|n| c.http(n).unwrap())
            .collect();
        assert!(put_for(others[0], "alice", "warm", "up", T).await.is_some());
        c.kill9(victim).unwrap();
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for (i, addr) in others.iter().copied().enumerate() {
            for lr in ["alice", "alice", "bob"] {
                tasks.push(tokio::spawn(async move {
                    let mut acks = Vec::new();
                    let mut k = 0;
                    while t0.elapsed() < Duration::from_secs(8) {
                        let key = format!("{lr}{i}-{k}");
                        if put_for(addr, lr, &key, "x", Duration::from_secs(2))
                            .await
                            .is_some()
                        {
                            acks.push(t0.elapsed().as_secs_f64());
                        }
                        k += 1;
                    }
                    (lr, acks)
                }));
            }
        }
        let mut alice = Vec::new();
        let mut bob = 0;
        for t in tasks {
            let (lr, acks) = t.await.unwrap();
            if lr == "alice" {
                alice.extend(acks);
            } else {
                bob += acks.len();
            }
        }
        alice.sort_by(|a, b| a.total_cmp(b));
        let first = alice.first().copied();
        let mut gap: f64 = 0.0;
        let mut prev = first.unwrap_or(8.0);
        for &t in &alice {
            gap = gap.max(t - prev);
            prev = t;
        }
        gap = gap.max(8.0 - prev);
        let line = format!(
            "{victim} down: alice {} acks, first {first:?} s, longest gap {gap:.2} s; bob {bob} acks",
            alice.len()
        );
        println!("{line}");
        report.push(line);
        c.spawn(victim).unwrap();
        c.wait_healthy(T).await.unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    if let Ok(dir) = std::env::var("KEEP_LOGS") {
        let _ = std::fs::create_dir_all(&dir);
        for n in c.names() {
            let _ = std::fs::copy(c.log_path(&n), format!("{dir}/{n}.log"));
        }
    }
    println!("{}", report.join("\n"));
    c.kill_all();
}
