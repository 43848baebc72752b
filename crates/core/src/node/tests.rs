//! Whole-cluster tests of the node layer on a tiny deterministic network
//! (one tick per hop, FIFO): the scenarios of the liveness issue, driven
//! through exactly the code the tokio node and the simulator run.

use super::*;
use crate::acceptor::AcceptorOptions;
use crate::ids::AcceptorId;
use crate::ids::Ballot;
use crate::msg::Msg2b;
use crate::pacemaker::{decode_batch, PacemakerConfig, ProposerIndex};
use crate::testing::demo_trust;
use crate::value::Value;

const ALICE: LearnerId = LearnerId(0);
const BOB: LearnerId = LearnerId(1);

enum Pkt {
    Proto(Message),
    Ctl(Control<()>),
}

/// Five nodes, node i runs acceptor a(i+1), both learners, and the first
/// `proposers` nodes are proposers.
struct Cluster {
    trust: Trust,
    nodes: Vec<NodeCore<()>>,
    up: Vec<bool>,
    /// Paused (SIGSTOP): no ticks, messages to it held until it resumes.
    paused: Vec<bool>,
    held: Vec<(NodeId, NodeId, Pkt)>,
    now: u64,
    net: VecDeque<(u64, NodeId, NodeId, Pkt)>,
    /// Decisions per node per learner: slot -> value.
    decided: Vec<BTreeMap<(LearnerId, Slot), Value>>,
    next_token: u64,
}

impl Cluster {
    fn new(proposers: u16) -> Cluster {
        let trust = demo_trust();
        let n = trust.n_acceptors() as u16;
        let props: Vec<NodeId> = (0..proposers).map(NodeId).collect();
        let nodes = (0..n)
            .map(|i| {
                let pm = (i < proposers).then(|| {
                    let mut c = PacemakerConfig::new(
                        ProposerIndex(i),
                        proposers,
                        trust.learners().collect(),
                        1,
                    );
                    c.max_batch = 4;
                    Pacemaker::new(c).expect("valid pacemaker")
                });
                NodeCore::new(NodeSetup {
                    me: NodeId(i),
                    trust: trust.clone(),
                    acceptor: Some(Acceptor::new(
                        AcceptorId(i),
                        trust.clone(),
                        AcceptorOptions::live(),
                    )),
                    learners: trust
                        .learners()
                        .map(|l| (Learner::new(l, trust.clone()), BTreeSet::new()))
                        .collect(),
                    pacemaker: pm,
                    proposers: props.clone(),
                    acceptor_nodes: (0..n).map(NodeId).collect(),
                    timing: NodeTiming::new(1),
                    retain_slots: 1 << 20,
                    horizon: DEFAULT_HORIZON,
                    record_actions: false,
                    values: Vec::new(),
                })
            })
            .collect();
        Cluster {
            trust,
            nodes,
            up: vec![true; n as usize],
            paused: vec![false; n as usize],
            held: Vec::new(),
            now: 0,
            net: VecDeque::new(),
            decided: vec![BTreeMap::new(); n as usize],
            next_token: 1,
        }
    }

    fn step(&mut self, i: usize, input: Input<()>) {
        let mut out = Ready::default();
        self.nodes[i].step(Tick(self.now), input, &mut out);
        let me = NodeId(i as u16);
        let t = self.now + 1;
        for m in &out.broadcast {
            if let Message::M2b(b) = m {
                self.nodes[i].own_proof(b, ());
            }
        }
        for m in out.broadcast {
            for j in 0..self.nodes.len() {
                if j != i {
                    self.net
                        .push_back((t, me, NodeId(j as u16), Pkt::Proto(m.clone())));
                }
            }
        }
        for c in out.send_all {
            for j in 0..self.nodes.len() {
                if j != i {
                    self.net
                        .push_back((t, me, NodeId(j as u16), Pkt::Ctl(c.clone())));
                }
            }
        }
        for (to, c) in out.send {
            self.net.push_back((t, me, to, Pkt::Ctl(c)));
        }
        for d in out.decided {
            let prev = self.decided[i].insert((d.lr, d.slot), d.val.clone());
            assert!(
                prev.is_none() || prev == Some(d.val),
                "a learner changed its mind"
            );
        }
    }

    /// Runs `ticks` ticks: deliveries, then a tick for every live node.
    fn run(&mut self, ticks: u64) {
        let end = self.now + ticks;
        while self.now < end {
            while self.net.front().is_some_and(|(t, ..)| *t <= self.now) {
                let Some((_, from, to, p)) = self.net.pop_front() else {
                    break;
                };
                if !self.up[from.index()] || !self.up[to.index()] {
                    continue;
                }
                if self.paused[to.index()] {
                    self.held.push((from, to, p));
                    continue;
                }
                let input = match p {
                    Pkt::Proto(msg) => Input::Protocol { msg, proof: () },
                    Pkt::Ctl(msg) => Input::Control { from, msg },
                };
                self.step(to.index(), input);
            }
            for i in 0..self.nodes.len() {
                if self.up[i] && !self.paused[i] {
                    self.step(i, Input::Tick);
                }
            }
            self.now += 1;
        }
    }

    /// Pauses or resumes node `i` (a resumed node gets what was held).
    fn pause(&mut self, i: usize, paused: bool) {
        self.paused[i] = paused;
        if !paused {
            let held = std::mem::take(&mut self.held);
            for (from, to, p) in held {
                if to.index() == i {
                    self.net.push_back((self.now, from, to, p));
                } else {
                    self.held.push((from, to, p));
                }
            }
        }
    }

    /// Slots `lr` decided at `node`, contiguous from 0.
    fn prefix(&self, node: usize, lr: LearnerId) -> u64 {
        let mut n = 0;
        while self.decided[node].contains_key(&(lr, Slot(n))) {
            n += 1;
        }
        n
    }

    fn submit(&mut self, node: usize, cmd: &str) {
        let token = self.next_token;
        self.next_token += 1;
        self.step(
            node,
            Input::Submit {
                token,
                cmd: cmd.as_bytes().to_vec(),
            },
        );
    }

    /// Does `lr` at `node` have `cmd` in a decided slot?
    fn has(&self, node: usize, lr: LearnerId, cmd: &str) -> bool {
        self.decided[node].iter().any(|((l, _), v)| {
            *l == lr
                && decode_batch(v.bytes().unwrap_or_default())
                    .map(|b| b.commands.iter().any(|c| c == cmd.as_bytes()))
                    .unwrap_or(false)
        })
    }

    fn assert_agreement(&self) {
        // Safety: with every acceptor safe, alice and bob are entangled.
        let mut seen: BTreeMap<Slot, Value> = BTreeMap::new();
        for d in &self.decided {
            for ((_, s), v) in d {
                let prev = seen.entry(*s).or_insert_with(|| v.clone());
                assert_eq!(prev, v, "entangled learners disagree at {s}");
            }
        }
        let _ = &self.trust;
    }
}

#[test]
fn a_command_at_a_non_proposer_is_forwarded_and_decided_everywhere() {
    let mut c = Cluster::new(3);
    c.run(5);
    c.submit(4, "x");
    c.run(60);
    for n in 0..5 {
        assert!(c.has(n, ALICE, "x") && c.has(n, BOB, "x"), "node {n}");
    }
    assert!(c.nodes[0].is_leader());
    c.assert_agreement();
}

#[test]
fn killing_the_leader_fails_over_and_the_log_has_no_hole() {
    // Scenario of the issue: three proposers, kill -9 of the leader.
    let mut c = Cluster::new(3);
    c.run(5);
    c.submit(3, "before");
    c.run(60);
    assert!(c.has(3, BOB, "before"));
    c.up[0] = false;
    c.submit(3, "after");
    // Leader silence (100 ticks) plus a view change and a ballot.
    c.run(400);
    assert!(c.has(3, BOB, "after"), "no failover");
    assert!(c.has(3, ALICE, "after"), "alice: 4 of 5 still up");
    assert!(c.nodes[3].view() >= 1);
    assert_eq!(c.nodes[3].leader_node(), Some(NodeId(1)));
    // Every learner's log is contiguous: no slot left a hole.
    for lr in [ALICE, BOB] {
        let slots: Vec<Slot> = c.decided[3]
            .keys()
            .filter(|(l, _)| *l == lr)
            .map(|(_, s)| *s)
            .collect();
        for (i, s) in slots.iter().enumerate() {
            assert_eq!(s.0, i as u64, "hole in {lr:?}'s log: {slots:?}");
        }
    }
    c.assert_agreement();
}

#[test]
fn bob_keeps_deciding_with_two_acceptors_down_and_alice_does_not() {
    // Per-learner liveness: bob's quorums (3 of 5) are up, alice's (4 of 5)
    // are not; bob must not wait for alice.
    let mut c = Cluster::new(2);
    c.run(5);
    c.up[3] = false;
    c.up[4] = false;
    for k in 0..5 {
        c.submit(1, &format!("c{k}"));
        c.run(40);
    }
    c.run(200);
    for k in 0..5 {
        assert!(c.has(0, BOB, &format!("c{k}")), "bob missed c{k}");
        assert!(!c.has(0, ALICE, &format!("c{k}")), "alice cannot decide");
    }
    // Alice's quorum comes back: the pinned retries give her every slot.
    c.up[3] = true;
    c.up[4] = true;
    c.run(2000);
    for k in 0..5 {
        assert!(c.has(0, ALICE, &format!("c{k}")), "alice never got c{k}");
    }
    c.assert_agreement();
}

#[test]
fn a_restarted_node_catches_up_in_an_idle_cluster() {
    // Catch-up from heartbeats, with no new command after the node returns.
    let mut c = Cluster::new(2);
    c.run(5);
    c.up[4] = false;
    for k in 0..6 {
        c.submit(2, &format!("k{k}"));
    }
    c.run(100);
    assert!(!c.has(4, BOB, "k0"));
    c.up[4] = true;
    c.run(200);
    for k in 0..6 {
        assert!(c.has(4, BOB, &format!("k{k}")), "node 4 missed k{k}");
        assert!(c.has(4, ALICE, &format!("k{k}")));
    }
    assert!(c.nodes[4].stats.sync_requests > 0 || c.nodes[4].stats.certs_received > 0);
    c.assert_agreement();
}

#[test]
fn messages_beyond_the_slot_horizon_are_dropped_before_any_role() {
    let mut c = Cluster::new(1);
    let far = Message::M1a(crate::msg::Msg1a {
        slot: Slot(10 * DEFAULT_HORIZON),
        lr: BOB,
        bal: crate::ids::Ballot(1),
    });
    let mut out = Ready::default();
    c.nodes[1].step(
        Tick(0),
        Input::Protocol {
            msg: far,
            proof: (),
        },
        &mut out,
    );
    assert!(out.persist.is_empty() && out.broadcast.is_empty());
    assert_eq!(c.nodes[1].stats.beyond_horizon, 1);
    assert_eq!(
        c.nodes[1].acceptor.as_ref().map(|a| a.slots().count()),
        Some(0)
    );
}

#[test]
fn decided_slots_are_served_as_certificates() {
    let mut c = Cluster::new(1);
    c.run(5);
    for k in 0..4 {
        c.submit(1, &format!("s{k}"));
    }
    c.run(100);
    assert!(c.has(2, BOB, "s3"));
    let mut out = Ready::default();
    c.nodes[2].step(
        Tick(c.now),
        Input::Control {
            from: NodeId(3),
            msg: Control::SyncRequest {
                lr: BOB,
                from: Slot(0),
                limit: 8,
            },
        },
        &mut out,
    );
    let served: usize = out
        .send
        .iter()
        .filter_map(|(to, m)| match m {
            Control::Certs { lr, certs } if *to == NodeId(3) && *lr == BOB => Some(certs.len()),
            _ => None,
        })
        .sum();
    assert!(
        served >= 1,
        "no certificate served: {:?}",
        c.nodes[2].certs_held()
    );
}

/// A learner whose quorum comes back after its peer decided hundreds of
/// slots catches up quickly: the missing slots stay pinned at the ballot
/// the other learner decided in (no ballot above it was seen) and the
/// lowest 8 x window are retried each base timeout. (Before this, their
/// pinned tries were spent while alice was away and the retries had backed
/// off: the same backlog took about 500 ticks.)
#[test]
fn a_returning_learner_catches_up_a_long_backlog() {
    let mut c = Cluster::new(2);
    c.run(5);
    c.up[3] = false;
    c.up[4] = false;
    for k in 0..400 {
        c.submit(1, &format!("c{k}"));
        if k % 4 == 0 {
            c.run(3);
        }
    }
    c.run(300);
    let bob = c.decided[0].keys().filter(|(l, _)| *l == BOB).count();
    assert!(bob > 300, "bob decided {bob}");
    c.up[3] = true;
    c.up[4] = true;
    c.run(200);
    let alice = c.decided[0].keys().filter(|(l, _)| *l == ALICE).count();
    assert!(alice >= bob, "alice {alice} of bob's {bob} after 200 ticks");
    c.assert_agreement();
}

/// The fault harness's stall (schedule ci, seed 1), deterministically: n2
/// (a proposer) and n4 paused while commands for both learners arrive at
/// the other nodes; bob decides, alice cannot, and the majority changes
/// views (alice's commands make no progress). After the resume alice must
/// decide every slot bob decided and her own new commands.
#[test]
fn alice_decides_again_after_her_quorum_was_paused_away() {
    let mut c = Cluster::new(3);
    c.run(5);
    c.submit(0, "warm");
    c.run(60);
    assert!(c.has(0, ALICE, "warm"));
    c.pause(1, true);
    c.pause(3, true);
    for i in 0..40 {
        c.submit([0, 2, 4][i % 3], &format!("p{i}"));
        c.run(25);
    }
    let bob_then = c.prefix(0, BOB);
    assert!(
        bob_then > 5,
        "bob made no progress with 3 of 5 up: {bob_then}"
    );
    c.pause(1, false);
    c.pause(3, false);
    c.submit(0, "after");
    c.run(3000);
    let (a, b) = (c.prefix(0, ALICE), c.prefix(0, BOB));
    assert!(
        a >= bob_then && c.has(0, ALICE, "after"),
        "alice stalled: alice {a} bob {b} (bob had {bob_then} at the resume)"
    );
    c.assert_agreement();
}

fn bob_2b(acc: u16, bal: u64, val: &Value) -> Msg2b {
    Msg2b {
        slot: Slot(0),
        lr: BOB,
        acc: AcceptorId(acc),
        bal: Ballot(bal),
        val: val.clone(),
    }
}

/// The takeover vote query at the node level: a leader that learns of a
/// started slot asks every peer for the 2b it holds there, and bob's votes
/// in the answer (two voters at ballot 7: every alice quorum of 4 of 5
/// meets them) pin alice's first ballot at 7 with bob's value, the only
/// ballot at which `KnowsSafeAt2` of alice can ever be satisfied.
#[test]
fn a_vote_answer_pins_the_first_ballot_of_a_slot_taken_over() {
    let mut c = Cluster::new(1);
    let v = Value::new(b"bob's".to_vec());
    let mut out = Ready::default();
    // Someone started slot 0: a 1b of bob at 7 shows it (no votes in it).
    let seen = Message::M1b(crate::msg::Msg1b {
        slot: Slot(0),
        lr: BOB,
        acc: AcceptorId(2),
        bal: Ballot(7),
        votes: vec![],
        proposals: vec![],
    });
    c.nodes[0].step(
        Tick(1),
        Input::Protocol {
            msg: seen,
            proof: (),
        },
        &mut out,
    );
    assert!(
        out.send_all
            .iter()
            .any(|m| matches!(m, Control::VotesRequest { from: Slot(0), .. })),
        "no vote query: {:?}",
        out.send_all
    );
    // The answer: bob's 2b at 7 from a2 and a3.
    let votes = vec![(bob_2b(1, 7, &v), ()), (bob_2b(2, 7, &v), ())];
    let mut out = Ready::default();
    c.nodes[0].step(
        Tick(2),
        Input::Control {
            from: NodeId(1),
            msg: Control::Votes { votes },
        },
        &mut out,
    );
    // After the grace, alice's first ballot of slot 0 is 7, with bob's value.
    let mut sent = Vec::new();
    for t in 3..200 {
        let mut out = Ready::default();
        c.nodes[0].step(Tick(t), Input::Tick, &mut out);
        sent.extend(out.broadcast.into_iter().filter(|m| m.slot() == Slot(0)));
    }
    let alice_1a: Vec<Ballot> = sent
        .iter()
        .filter_map(|m| match m {
            Message::M1a(a) if a.lr == ALICE => Some(a.bal),
            _ => None,
        })
        .collect();
    assert!(!alice_1a.is_empty(), "alice never retried: {sent:?}");
    assert!(alice_1a.iter().all(|b| *b == Ballot(7)), "{alice_1a:?}");
    assert!(sent
        .iter()
        .any(|m| matches!(m, Message::M1c(x) if x.lr == ALICE && x.val == v)));
}
