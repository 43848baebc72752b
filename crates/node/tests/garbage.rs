//! Raw-socket garbage against a node's peer port: malformed, truncated and
//! oversized frames, bad signatures, unknown senders, messages in another
//! acceptor's name (the spec's attribution assumption: a fake acceptor
//! sends only in its own name) and messages for unknown learners. Each is
//! rejected and counted, the node keeps running, and its durable state (the
//! write-ahead log) is not touched.

mod common;

use common::*;
use hpaxos_core::{AcceptorId, Ballot, LearnerId, Message, Msg1b, Msg2b, Slot, Value, Vote};
use hpaxos_node::keys::read_secret;
use hpaxos_node::wire::{frame_of, seal, Envelope, NodeIdx, Payload};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

async fn send_raw(addr: std::net::SocketAddr, bytes: &[u8]) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(bytes).await;
    let _ = s.flush().await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    drop(s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_socket_garbage_is_rejected_without_touching_durable_state() {
    let mut c = four_nodes();
    c.spawn_all().unwrap();
    c.wait_healthy(T).await.unwrap();
    let peer = c.peer_addr("n1").unwrap();
    let http = c.http("n1").unwrap();
    let wal = c.dir().join("data/n1/wal");
    // The leader starts range Phase 1 soon after start (one range 1a per
    // learner), and every acceptor logs its promise once: wait until n1's
    // log is quiet (bounded: at most 15 s) before taking it as the
    // reference. Garbage must not add anything to it afterwards.
    let mut wal_before = std::fs::read(&wal).unwrap();
    let mut quiet = std::time::Instant::now();
    let give_up = std::time::Instant::now() + Duration::from_secs(15);
    while quiet.elapsed() < Duration::from_secs(1) && std::time::Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = std::fs::read(&wal).unwrap();
        if now != wal_before {
            wal_before = now;
            quiet = std::time::Instant::now();
        }
    }
    let fsyncs_before = {
        let m = hpaxos_node::client::request(http, "GET", "/metrics", None, T)
            .await
            .unwrap();
        metric(&m.body, "hpaxos_fsyncs_total")
    };

    // Malformed body with a valid length prefix.
    let mut f = 9u32.to_be_bytes().to_vec();
    f.extend_from_slice(b"\xff\xff\xff\xff\xffgarb");
    send_raw(peer, &f).await;
    // Oversized: a 4 GiB frame announced.
    send_raw(peer, &u32::MAX.to_be_bytes()).await;
    // Truncated: half of a valid frame, then the connection closes.
    let n2 = NodeIdx(1); // nodes are indexed in name order: n1, n2, n3, n4
    let k2 = read_secret(&c.dir().join("keys/n2.key")).unwrap();
    let m2b = |acc: u16, lr: u16| {
        Payload::Protocol(Message::M2b(Msg2b {
            slot: Slot(5),
            lr: LearnerId(lr),
            acc: AcceptorId(acc),
            bal: Ballot(1),
            val: Value::new(b"forged".to_vec()),
        }))
    };
    let good = seal(n2, &k2, &m2b(1, 0));
    send_raw(peer, &good[..good.len() / 2]).await;
    // Bad signature: n2's name, another key.
    let other = hpaxos_node::keys::generate();
    send_raw(peer, &seal(n2, &other, &m2b(1, 0))).await;
    // Unknown sender index.
    send_raw(peer, &seal(NodeIdx(99), &k2, &m2b(1, 0))).await;
    // A signature of the wrong length.
    let env = Envelope {
        from: n2,
        payload: vec![1, 2, 3],
        sig: vec![0; 10],
    };
    send_raw(peer, &frame_of(&env)).await;
    // Validly signed by n2 but in acceptor a1's name (n1 runs a1).
    send_raw(peer, &seal(n2, &k2, &m2b(0, 0))).await;
    // Validly signed by n2 (acceptor a2) for a learner that does not exist.
    send_raw(peer, &seal(n2, &k2, &m2b(1, 77))).await;
    let bad_1b = Payload::Protocol(Message::M1b(Msg1b {
        slot: Slot(3),
        lr: LearnerId(0),
        acc: AcceptorId(1),
        bal: Ballot(2),
        votes: vec![Vote {
            lr: LearnerId(500),
            bal: Ballot(1),
            val: Value::new(b"x".to_vec()),
        }],
        proposals: vec![],
    }));
    send_raw(peer, &seal(n2, &k2, &bad_1b)).await;
    // Validly signed by n2, which is not a proposer: a 1a at a huge ballot
    // (it would push every acceptor's maxBal up) is not admitted.
    let forged_1a = Payload::Protocol(Message::M1a(hpaxos_core::Msg1a {
        slot: Slot(0),
        lr: LearnerId(0),
        bal: Ballot(u64::MAX / 2),
    }));
    send_raw(peer, &seal(n2, &k2, &forged_1a)).await;
    // The same as a range 1a (issue 9: every slot from 0 on): not admitted
    // either, so no acceptor persists a promise (the WAL stays as it was).
    let forged_range = Payload::Protocol(Message::M1aRange(hpaxos_core::Msg1aRange {
        from: Slot(0),
        lr: LearnerId(0),
        bal: Ballot(u64::MAX / 2),
    }));
    send_raw(peer, &seal(n2, &k2, &forged_range)).await;
    // A range 1b in n2's own name whose report lies below its first slot:
    // it names no set of spec 1b, and is rejected as `malformed_range`.
    let bad_range = Payload::Protocol(Message::M1bRange(hpaxos_core::Msg1bRange {
        from: Slot(4),
        lr: LearnerId(0),
        acc: AcceptorId(1),
        bal: Ballot(2),
        reports: vec![hpaxos_core::SlotReport {
            slot: Slot(1),
            votes: vec![],
            proposals: vec![],
        }],
    }));
    send_raw(peer, &seal(n2, &k2, &bad_range)).await;
    // Batch frames (issue 9 item 4), validly signed by n2: one carrying
    // a 2b (evidence travels alone), one with a garbage item, one nested;
    // each refused whole and counted as `bad_bundle`.
    let enc = |p: &Payload| postcard::to_stdvec(p).unwrap();
    let status = Payload::Status(hpaxos_core::node::Status {
        view: 0,
        next: vec![],
        hears_leader: false,
    });
    for items in [
        vec![enc(&status), enc(&m2b(1, 0))],
        vec![enc(&status), vec![0xff, 0xff, 0x07]],
        vec![enc(&Payload::Bundle {
            items: vec![enc(&status)],
        })],
    ] {
        send_raw(peer, &seal(n2, &k2, &Payload::Bundle { items })).await;
    }

    // Counted by reason, and the node is still healthy.
    let mut text = String::new();
    for _ in 0..50 {
        let m = hpaxos_node::client::request(http, "GET", "/metrics", None, T)
            .await
            .unwrap();
        text = m.body;
        if metric(&text, "hpaxos_rejected_total{reason=\"unknown_learner\"}") >= 2
            && metric(&text, "hpaxos_rejected_total{reason=\"not_a_proposer\"}") >= 2
            && metric(&text, "hpaxos_rejected_total{reason=\"malformed_range\"}") >= 1
            && metric(&text, "hpaxos_rejected_total{reason=\"bad_bundle\"}") >= 3
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for reason in [
        "malformed",
        "oversized",
        "truncated",
        "bad_signature",
        "unknown_sender",
        "acc_mismatch",
        "unknown_learner",
        "not_a_proposer",
        "malformed_range",
        "bad_bundle",
    ] {
        let n = metric(
            &text,
            &format!("hpaxos_rejected_total{{reason=\"{reason}\"}}"),
        );
        assert!(n >= 1, "no `{reason}` rejection counted:\n{text}");
    }
    assert_eq!(
        metric(&text, "hpaxos_rejected_total{reason=\"bad_signature\"}"),
        2
    );
    assert_eq!(
        metric(&text, "hpaxos_rejected_total{reason=\"not_a_proposer\"}"),
        2
    );
    assert_eq!(
        metric(&text, "hpaxos_rejected_total{reason=\"bad_bundle\"}"),
        3
    );
    assert_eq!(std::fs::read(&wal).unwrap(), wal_before, "WAL changed");
    assert_eq!(metric(&text, "hpaxos_fsyncs_total"), fsyncs_before);
    // ... and still serves: a command is decided afterwards.
    assert!(put(http, "still", "alive").await.is_some());
    let bad = c.terminate_all(Duration::from_secs(10));
    assert!(bad.is_empty());
}
