//! The peer port against what is not a peer, on real processes over
//! loopback: a foreign process on a configured peer address is not counted
//! as a connected peer (and the operator is told why), a node of another
//! cluster is refused with the reason, a flood of bad frames is counted in
//! full but logged a bounded number of times, and `HPAXOS_LOG_FORMAT=json`
//! writes one JSON object per line. Every wait is bounded; every process
//! and task started here is stopped.

mod common;

use common::*;
use hpaxos_node::config::ClusterConfig;
use hpaxos_node::handshake::cluster_id;
use hpaxos_node::wire::{peek, seal, FrameReader, NodeIdx, Payload};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn metrics(http: std::net::SocketAddr) -> String {
    hpaxos_node::client::request(http, "GET", "/metrics", None, T)
        .await
        .map(|r| r.body)
        .unwrap_or_default()
}

fn log_of(c: &TestCluster, n: &str) -> String {
    std::fs::read_to_string(c.log_path(n)).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_peer_port_refuses_strangers_and_rate_limits_its_warnings() {
    let mut c = four_nodes();
    c.set_env("n1", "HPAXOS_LOG_FORMAT", "json").unwrap();
    // n4's peer address is held by a foreign process that answers
    // something else than a handshake.
    let foreign = TcpListener::bind(c.peer_addr("n4").unwrap()).await.unwrap();
    let squatter = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = foreign.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let _ = s.write_all(b"SSH-2.0-OpenSSH_9.6\r\n").await;
                let mut buf = [0u8; 1024];
                while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    for n in ["n1", "n2", "n3"] {
        c.spawn(n).unwrap();
    }
    c.wait_healthy(T).await.unwrap();
    let http = c.http("n1").unwrap();

    // 1. n2 and n3 are up; the squatter on n4's address is not counted,
    // and n1's log says why.
    let mut text = String::new();
    for _ in 0..150 {
        text = metrics(http).await;
        let log = log_of(&c, "n1");
        if metric(&text, "hpaxos_peer_up{peer=\"n2\"}") == 1
            && metric(&text, "hpaxos_peer_up{peer=\"n3\"}") == 1
            && log.contains("peer n4 at")
            && log.contains("handshake failed")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(metric(&text, "hpaxos_peer_up{peer=\"n4\"}"), 0, "{text}");
    assert_eq!(metric(&text, "hpaxos_peers_connected"), 2, "{text}");
    let log = log_of(&c, "n1");
    assert!(
        log.lines()
            .any(|l| l.contains("peer n4 at") && l.contains("handshake failed")),
        "{log}"
    );

    // 2. A node of another cluster (another key, another cluster id) is
    // refused and told why.
    let cfg = ClusterConfig::load(c.config_path()).unwrap();
    let ours = cluster_id(&cfg);
    let stranger = hpaxos_node::keys::generate();
    let hello = seal(
        NodeIdx(1),
        &stranger,
        &Payload::Hello {
            cluster: "0123456789abcdef".into(),
            node: "n2".into(),
            version: "0.1.0".into(),
        },
    );
    let mut s = TcpStream::connect(c.peer_addr("n1").unwrap())
        .await
        .unwrap();
    s.write_all(&hello).await.unwrap();
    let mut fr = FrameReader::new(1 << 16);
    let mut buf = [0u8; 4096];
    let mut answer = None;
    for _ in 0..100 {
        match tokio::time::timeout(T, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => fr.extend(&buf[..n]),
            _ => break,
        }
        if let Ok(Some(b)) = fr.next_frame() {
            answer = Some(b);
            break;
        }
    }
    let answer = answer.expect("no answer to the handshake");
    let Some((_, Payload::Refused { reason })) = peek(&answer) else {
        panic!("not a refusal: {:?}", peek(&answer));
    };
    assert_eq!(
        reason,
        format!(
            "this is node n1 of cluster {ours}; node n2 belongs to cluster 0123456789abcdef (a node of another cluster dials this address)"
        )
    );
    // The listener closed the connection after its answer.
    let closed = tokio::time::timeout(T, s.read(&mut buf)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");

    // 3. A flood of malformed frames on one connection: every one is
    // counted, few are logged.
    let flood_start = Instant::now();
    let mut s = TcpStream::connect(c.peer_addr("n1").unwrap())
        .await
        .unwrap();
    let mut f = Vec::new();
    for _ in 0..500 {
        f.extend_from_slice(&9u32.to_be_bytes());
        f.extend_from_slice(b"\xff\xff\xff\xff\xffgarb");
    }
    s.write_all(&f).await.unwrap();
    s.flush().await.unwrap();
    for _ in 0..100 {
        text = metrics(http).await;
        if metric(&text, "hpaxos_rejected_total{reason=\"malformed\"}") >= 500 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(s);
    assert!(
        metric(&text, "hpaxos_rejected_total{reason=\"malformed\"}") >= 500,
        "{text}"
    );
    assert!(
        metric(&text, "hpaxos_rejected_total{reason=\"handshake_refused\"}") >= 1,
        "{text}"
    );
    let log = log_of(&c, "n1");
    let lines = log
        .lines()
        .filter(|l| l.contains("rejected frame from") && l.contains("malformed"))
        .count() as u64;
    // One line per rate-limit period (10 s) at most, whatever the flood.
    let periods = flood_start.elapsed().as_secs() / 10 + 1;
    assert!(
        lines >= 1 && lines <= periods,
        "{lines} warning lines:\n{log}"
    );

    // 4. One node may hold only PER_NODE_INBOUND connections (n2's own
    // connection to n1 is one of them): the next one is refused, saying why.
    let k2 = hpaxos_node::keys::read_secret(&c.dir().join("keys/n2.key")).unwrap();
    let hello2 = seal(
        NodeIdx(1),
        &k2,
        &Payload::Hello {
            cluster: ours.clone(),
            node: "n2".into(),
            version: "0.1.0".into(),
        },
    );
    let mut held = Vec::new();
    let mut refusal = None;
    for _ in 0..hpaxos_node::transport::PER_NODE_INBOUND + 2 {
        let mut s = TcpStream::connect(c.peer_addr("n1").unwrap())
            .await
            .unwrap();
        s.write_all(&hello2).await.unwrap();
        let mut fr = FrameReader::new(1 << 16);
        let mut answer = None;
        for _ in 0..100 {
            match tokio::time::timeout(T, s.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => fr.extend(&buf[..n]),
                _ => break,
            }
            if let Ok(Some(b)) = fr.next_frame() {
                answer = Some(b);
                break;
            }
        }
        match answer.as_deref().and_then(peek) {
            Some((_, Payload::Welcome { .. })) => held.push(s),
            Some((_, Payload::Refused { reason })) => {
                refusal = Some(reason);
                break;
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(
        refusal.as_deref(),
        Some("node n2 has 4 connections open to node n1 already"),
        "{} welcomed",
        held.len()
    );
    assert!(held.len() <= 3, "{}", held.len());
    drop(held);

    // 5. Silent connections: more than the inbound limit are refused at
    // once, the others are closed when their first frame does not come.
    let max = hpaxos_node::transport::max_inbound(&cfg);
    let mut silent = Vec::new();
    for _ in 0..max + 8 {
        if let Ok(s) = TcpStream::connect(c.peer_addr("n1").unwrap()).await {
            silent.push(s);
        }
    }
    for _ in 0..150 {
        text = metrics(http).await;
        if metric(&text, "hpaxos_rejected_total{reason=\"handshake_timeout\"}") >= 8
            && metric(
                &text,
                "hpaxos_rejected_total{reason=\"too_many_connections\"}",
            ) >= 8
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(silent);
    assert!(
        metric(
            &text,
            "hpaxos_rejected_total{reason=\"too_many_connections\"}"
        ) >= 8,
        "{text}"
    );
    assert!(
        metric(&text, "hpaxos_rejected_total{reason=\"handshake_timeout\"}") >= 8,
        "{text}"
    );
    let log = log_of(&c, "n1");
    assert!(
        log.contains(&format!(": {max} peer connections are open already\""))
            && log.contains("refused a connection from 127.0.0.1:"),
        "{log}"
    );
    assert!(
        log.contains(": no complete first frame within 3s\"")
            && log.contains("closed the connection from 127.0.0.1:"),
        "{log}"
    );
    // n2 and n3 stayed connected throughout.
    assert_eq!(metric(&text, "hpaxos_peers_connected"), 2, "{text}");

    // 6. n1 logged JSON: one object per line, with a level and fields.
    let mut objects = 0;
    for l in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{l}");
        objects += 1;
    }
    assert!(objects > 3, "{log}");
    let refused = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["fields"]["reason"] == "handshake_refused");
    assert!(refused.is_some(), "{log}");

    // The squatter is reported once (the same failure is not logged again).
    let squatter_lines = log
        .lines()
        .filter(|l| l.contains("peer n4 at") && l.contains("handshake failed"))
        .count();
    assert_eq!(squatter_lines, 1, "{log}");
    squatter.abort();
    let bad = c.terminate_all(Duration::from_secs(10));
    assert!(bad.is_empty(), "{bad:?}");
}
