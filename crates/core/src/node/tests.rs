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
    held: Vec<(u64, NodeId, NodeId, Pkt)>,
    /// Held messages older than this many ticks are lost at the resume, as
    /// the node's transport drops frames older than `transport::STALE`.
    stale: Option<u64>,
    /// Until tick `.0`, every `.1`-th protocol message is lost (an
    /// overloaded network dropping frames), counted in `.2`.
    lossy: Option<(u64, u64, u64)>,
    now: u64,
    net: VecDeque<(u64, NodeId, NodeId, Pkt)>,
    /// Decisions per node per learner: slot -> value.
    decided: Vec<BTreeMap<(LearnerId, Slot), Value>>,
    next_token: u64,
    /// Each node's durable records, in order (what a restart rebuilds from).
    disk: Vec<Vec<Durable>>,
    /// Rejections each node reported.
    rejected: Vec<Vec<Rejection>>,
    /// Value bytes never reach this node: its 1c arrive digest-only and
    /// answers to its fetches are lost.
    starve: Option<usize>,
    /// Every 1c to this node is lost (bytes only by fetch).
    no_1c_to: Option<usize>,
    /// Answers to this node's fetches carry other bytes than asked for.
    corrupt_to: Option<usize>,
    proposers: u16,
    /// Protocol messages broadcast, by kind ([`label`]).
    sent: BTreeMap<&'static str, u64>,
}

/// A message's kind, telling range messages apart.
fn label(m: &Message) -> &'static str {
    match m {
        Message::M1a(_) => "1a",
        Message::M1b(_) => "1b",
        Message::M1c(_) => "1c",
        Message::M2av(_) => "2av",
        Message::M2b(_) => "2b",
        Message::M1aRange(_) => "1a-range",
        Message::M1bRange(_) => "1b-range",
    }
}

/// Node `i` of a [`Cluster`] built from its durable records.
fn node_from(trust: &Trust, i: u16, proposers: u16, records: &[Durable]) -> NodeCore<()> {
    let n = trust.n_acceptors() as u16;
    let props: Vec<NodeId> = (0..proposers).map(NodeId).collect();
    let pm = (i < proposers).then(|| {
        let mut c =
            PacemakerConfig::new(ProposerIndex(i), proposers, trust.learners().collect(), 1);
        c.max_batch = 4;
        Pacemaker::new(c).expect("valid pacemaker")
    });
    let mut d = crate::acceptor::AcceptorDurable::default();
    for r in records {
        d.apply(r);
    }
    let learners = trust
        .learners()
        .map(|l| {
            let decided = records
                .iter()
                .filter_map(|r| match r {
                    Durable::Decided { slot, lr, .. } if *lr == l => Some(*slot),
                    _ => None,
                })
                .collect();
            (Learner::restore(l, trust.clone(), records), decided)
        })
        .collect();
    let values = records
        .iter()
        .filter_map(|r| match r {
            Durable::Batch { slot, val } => Some((*slot, val.clone())),
            _ => None,
        })
        .collect();
    NodeCore::new(NodeSetup {
        me: NodeId(i),
        trust: trust.clone(),
        acceptor: Some(Acceptor::restore(
            AcceptorId(i),
            trust.clone(),
            AcceptorOptions::live(),
            d,
        )),
        learners,
        pacemaker: pm,
        proposers: props,
        acceptor_nodes: (0..n).map(NodeId).collect(),
        timing: NodeTiming::new(1),
        retain_slots: 1 << 20,
        horizon: DEFAULT_HORIZON,
        record_actions: false,
        values,
        range_phase1: true,
    })
}

impl Cluster {
    fn new(proposers: u16) -> Cluster {
        let trust = demo_trust();
        let n = trust.n_acceptors() as u16;
        let nodes = (0..n)
            .map(|i| node_from(&trust, i, proposers, &[]))
            .collect();
        Cluster {
            trust,
            nodes,
            up: vec![true; n as usize],
            paused: vec![false; n as usize],
            held: Vec::new(),
            stale: None,
            lossy: None,
            now: 0,
            net: VecDeque::new(),
            decided: vec![BTreeMap::new(); n as usize],
            next_token: 1,
            disk: vec![Vec::new(); n as usize],
            rejected: vec![Vec::new(); n as usize],
            starve: None,
            no_1c_to: None,
            corrupt_to: None,
            proposers,
            sent: BTreeMap::new(),
        }
    }

    /// Node `i` crashes and restarts from exactly its durable records.
    fn restart(&mut self, i: usize) {
        let fresh = node_from(&self.trust, i as u16, self.proposers, &self.disk[i]);
        self.nodes[i] = fresh;
        self.net.retain(|(_, _, to, _)| to.index() != i);
    }

    /// What the network does to a packet for node `to` (false: lost).
    fn tamper(&self, to: usize, p: &mut Pkt) -> bool {
        if self.starve == Some(to) {
            match p {
                Pkt::Proto(Message::M1c(c)) => c.val.strip(),
                Pkt::Ctl(Control::Batches { .. }) => return false,
                _ => {}
            }
        }
        if self.no_1c_to == Some(to) && matches!(p, Pkt::Proto(Message::M1c(_))) {
            return false;
        }
        if self.corrupt_to == Some(to) {
            if let Pkt::Ctl(Control::Batches { batches }) = p {
                for (_, v) in batches.iter_mut() {
                    *v = Value::new(b"forged bytes".to_vec());
                }
            }
        }
        true
    }

    fn step(&mut self, i: usize, input: Input<()>) {
        let mut out = Ready::default();
        self.nodes[i].step(Tick(self.now), input, &mut out);
        self.disk[i].append(&mut out.persist);
        self.rejected[i].append(&mut out.rejected);
        let me = NodeId(i as u16);
        let t = self.now + 1;
        for m in &out.broadcast {
            if let Message::M2b(b) = m {
                self.nodes[i].own_proof(b, ());
            }
        }
        for m in out.broadcast {
            *self.sent.entry(label(&m)).or_default() += 1;
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
                let Some((_, from, to, mut p)) = self.net.pop_front() else {
                    break;
                };
                if !self.tamper(to.index(), &mut p) {
                    continue;
                }
                if let (Some((until, k, n)), Pkt::Proto(_)) = (&mut self.lossy, &p) {
                    if self.now < *until {
                        *n += 1;
                        if n.is_multiple_of(*k) {
                            continue;
                        }
                    }
                }
                if !self.up[from.index()] || !self.up[to.index()] {
                    continue;
                }
                if self.paused[to.index()] {
                    self.held.push((self.now, from, to, p));
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
            let now = self.now;
            let fresh = |at: u64| self.stale.is_none_or(|s| now.saturating_sub(at) <= s);
            let mut keep = Vec::new();
            for (at, from, to, p) in held {
                if to.index() != i {
                    keep.push((at, from, to, p));
                } else if fresh(at) {
                    self.net.push_back((now, from, to, p));
                }
            }
            self.held = keep;
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
fn a_view_change_passes_over_a_proposer_that_is_down() {
    // Three proposers; the leader (node 0) and the next view's leader
    // (node 1) are both down: the survivors must go straight to view 2
    // (node 2) instead of waiting out a leader timeout in view 1.
    let mut c = Cluster::new(3);
    c.run(5);
    c.submit(3, "before");
    c.run(60);
    assert!(c.has(3, BOB, "before"));
    c.up[0] = false;
    c.up[1] = false;
    c.submit(3, "after");
    c.run(400);
    assert!(c.has(3, BOB, "after"), "no failover");
    for i in 2..5 {
        assert_eq!(c.nodes[i].view(), 2, "node {i}");
        assert_eq!(c.nodes[i].leader_node(), Some(NodeId(2)));
        assert_eq!(
            c.nodes[i].stats.view_changes, 1,
            "node {i} went through the dead node's view"
        );
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

/// Issue 8 item 6 (a Byzantine proposer's 1a at ballot `u64::MAX`): with
/// the ballot ceiling the node drops it before its acceptor sees it, so
/// `maxBal` stays where honest proposers can go above it and the slot is
/// decided; without the ceiling the acceptor takes `Phase1b` at
/// `u64::MAX` (its `maxBal` for bob is the largest ballot), after which no
/// proposer can start a ballot it would vote in (`Phase2b` needs
/// `maxBal[L, a] =< b`), and with two values announced there to two pairs
/// of acceptors that ballot cannot decide either: bob stops at slot 0.
#[test]
fn a_1a_above_the_ballot_ceiling_is_dropped_before_the_acceptor() {
    for ceiling in [true, false] {
        let mut c = Cluster::new(1);
        let top = Message::M1a(crate::msg::Msg1a {
            slot: Slot(0),
            lr: BOB,
            bal: crate::ids::Ballot(u64::MAX),
        });
        // And two values there, to two pairs of acceptors: neither can get
        // bob's quorum (3 of 5), and the pairs' 2av bar them from any other
        // value at that ballot.
        let split = |v: &str| {
            Message::M1c(crate::msg::Msg1c {
                slot: Slot(0),
                lr: BOB,
                bal: crate::ids::Ballot(u64::MAX),
                val: crate::value::Value::new(v.as_bytes().to_vec()),
            })
        };
        for i in 0..c.nodes.len() {
            if ceiling {
                c.nodes[i].set_ballot_ceiling(crate::ids::Ballot(1 << 40));
            }
            let mut msgs = vec![top.clone()];
            match i {
                0 | 1 => msgs.push(split("x")),
                2 | 3 => msgs.push(split("y")),
                _ => {}
            }
            for msg in msgs {
                c.step(i, Input::Protocol { msg, proof: () });
            }
        }
        let raised = c.nodes[1]
            .acceptor
            .as_ref()
            .and_then(|a| a.slot_durable(Slot(0)))
            .is_some_and(|d| d.max_bal.get(&BOB) == Some(&crate::ids::Ballot(u64::MAX)));
        assert_eq!(raised, !ceiling, "ceiling {ceiling}");
        assert_eq!(
            c.nodes[1].stats.above_ceiling,
            2 * u64::from(ceiling),
            "ceiling {ceiling}"
        );
        c.run(5);
        c.submit(0, "k");
        c.run(300);
        let slot0 = c.decided[2].contains_key(&(BOB, Slot(0)));
        assert_eq!(slot0, ceiling, "ceiling {ceiling}");
        if ceiling {
            assert!(c.has(2, BOB, "k"));
        }
        c.assert_agreement();
    }
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
    paused_away_case(None, None);
}

/// The same with real pauses: what was sent to a paused node more than
/// `stale` ticks before its resume is lost (the transport drops frames
/// older than `STALE`), and for 300 ticks after the resume every
/// `lossy`-th protocol message is lost (a saturated network), so the 2av
/// and 1b sent at the ballots the paused nodes missed reach them only when
/// sent again (a repeated 1a or 1c: `Acceptor::retransmit`). Twelve
/// combinations; each must let alice decide every slot bob decided.
#[test]
fn alice_decides_again_after_a_lossy_pause_of_her_quorum() {
    let mut bad = Vec::new();
    for stale in [0, 5, 20, 200] {
        for lossy in [2, 3, 7] {
            if let Err(e) = std::panic::catch_unwind(|| lossy_pause_case(stale, lossy)) {
                bad.push(format!("{stale}/{lossy}: {:?}", e.downcast_ref::<String>()));
            }
        }
    }
    assert!(bad.is_empty(), "{} cases stalled: {bad:#?}", bad.len());
}

fn lossy_pause_case(stale: u64, lossy: u64) {
    paused_away_case(Some(stale), Some(lossy));
}

/// n2 and n4 paused while commands arrive for both learners, then resumed
/// (held messages older than `stale` ticks lost, then every `lossy`-th
/// protocol message for 300 ticks): alice must decide every slot bob
/// decided and her own new command.
fn paused_away_case(stale: Option<u64>, lossy: Option<u64>) {
    let mut c = Cluster::new(3);
    c.stale = stale;
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
    c.lossy = lossy.map(|k| (c.now + 300, k, 0));
    c.submit(0, "after");
    c.run(3000);
    let (a, b) = (c.prefix(0, ALICE), c.prefix(0, BOB));
    assert!(
        a >= bob_then && c.has(0, ALICE, "after"),
        "stale {stale:?} lossy {lossy:?}: alice stalled: alice {a} bob {b} (bob had {bob_then} at the resume)"
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

/// Issue 9, "a batch whose bytes never arrive at some acceptor does not
/// block the others": node 4 gets every 1c by digest only and no answer to
/// its fetches. Its acceptor never takes `Phase2av` (it never holds the
/// bytes: the 1c waits, parked), the four others do, and alice (4 of 5)
/// and bob (3 of 5) decide everywhere else; node 4's learners decide the
/// digests (its acceptor still votes 2b on the others' 2av quorum) but
/// apply nothing without the bytes. Once bytes can reach it, it fetches
/// and applies every slot, the same values as everyone.
#[test]
fn a_batch_whose_bytes_never_reach_one_acceptor_does_not_block_the_others() {
    let mut c = Cluster::new(1);
    c.starve = Some(4);
    c.run(5);
    for k in 0..4 {
        c.submit(1, &format!("s{k}"));
    }
    c.run(200);
    for n in 0..4 {
        for k in 0..4 {
            let cmd = format!("s{k}");
            assert!(
                c.has(n, BOB, &cmd) && c.has(n, ALICE, &cmd),
                "node {n} {cmd}"
            );
        }
    }
    for k in 0..4 {
        assert!(!c.has(4, BOB, &format!("s{k}")), "applied without bytes");
    }
    let starved = &c.nodes[4];
    assert!(starved.decisions_awaiting_bytes() > 0);
    assert!(starved.stats.fetches_sent > 0 && starved.stats.parked_1c > 0);
    let a = starved.acceptor().unwrap();
    for s in a.slots().collect::<Vec<_>>() {
        assert!(
            a.slot_durable(s).unwrap().two_av_sent.is_empty(),
            "a 2av without the bytes in slot {s:?}"
        );
    }
    assert!(
        a.slots()
            .any(|s| !a.slot_durable(s).unwrap().votes_sent.is_empty()),
        "the starved acceptor still votes on the others' proposals"
    );
    c.starve = None;
    c.run(400);
    for k in 0..4 {
        let cmd = format!("s{k}");
        assert!(c.has(4, BOB, &cmd) && c.has(4, ALICE, &cmd), "node 4 {cmd}");
    }
    assert_eq!(c.nodes[4].decisions_awaiting_bytes(), 0);
    c.assert_agreement();
}

/// Issue 9, "a learner that decided a digest without its bytes fetches and
/// applies them": no 1c ever reaches node 4, so each of its learners'
/// decisions (on a quorum of 2b over the digest) has no bytes; it fetches
/// them from the acceptors whose 2b it counted and applies them.
#[test]
fn a_learner_that_decided_a_digest_without_its_bytes_fetches_and_applies_them() {
    let mut c = Cluster::new(1);
    c.no_1c_to = Some(4);
    c.run(5);
    for k in 0..6 {
        c.submit(2, &format!("f{k}"));
    }
    c.run(300);
    for k in 0..6 {
        let cmd = format!("f{k}");
        assert!(c.has(4, BOB, &cmd) && c.has(4, ALICE, &cmd), "node 4 {cmd}");
    }
    assert!(c.nodes[4].stats.values_fetched > 0);
    assert!(c.nodes.iter().map(|n| n.stats.values_served).sum::<u64>() > 0);
    assert_eq!(c.nodes[4].decisions_awaiting_bytes(), 0);
    c.assert_agreement();
}

/// Issue 9, "bytes that do not match their digest are rejected and
/// counted": every answer to node 4's fetches carries other bytes. Each
/// is rejected (`Rejection::DigestMismatch`, counted in the node's stats)
/// and nothing is applied from them; once the answers are honest, node 4
/// applies the decided values.
#[test]
fn bytes_that_do_not_match_their_digest_are_rejected_and_counted() {
    let mut c = Cluster::new(1);
    c.no_1c_to = Some(4);
    c.corrupt_to = Some(4);
    c.run(5);
    for k in 0..3 {
        c.submit(1, &format!("m{k}"));
    }
    c.run(200);
    assert!(c.has(0, BOB, "m2"));
    let n4 = &c.nodes[4];
    assert!(n4.stats.digest_mismatches > 0);
    assert!(c.rejected[4].contains(&Rejection::DigestMismatch));
    assert!(c.decided[4].is_empty(), "applied forged bytes");
    assert_eq!(n4.value(&Digest::of(b"forged bytes")), None);
    c.corrupt_to = None;
    c.run(300);
    for k in 0..3 {
        assert!(c.has(4, BOB, &format!("m{k}")));
    }
    c.assert_agreement();
}

/// Issue 9, "restart/recovery keeps serving bytes": the 2av, 2b and
/// decision records name values by digest (a few dozen bytes whatever the
/// batch), each value's bytes are logged once (`Batch`), and a node
/// restarted from exactly its records keeps its votes and answers a fetch
/// with bytes that hash to the digest.
#[test]
fn a_restarted_node_keeps_its_votes_and_serves_their_bytes() {
    let mut c = Cluster::new(1);
    c.run(5);
    for k in 0..3 {
        c.submit(1, &format!("r{k}"));
    }
    c.run(100);
    assert!(c.has(3, BOB, "r2"));
    let mut batches: BTreeMap<Digest, usize> = BTreeMap::new();
    let mut voted = Vec::new();
    for r in &c.disk[3] {
        match r {
            Durable::Batch { val, .. } => *batches.entry(val.digest()).or_default() += 1,
            Durable::Voted { vote, .. } | Durable::Proposed { vote, .. } => {
                assert!(!vote.val.has_bytes(), "a vote record with bytes");
                voted.push(vote.val.digest());
            }
            Durable::Decided { val, .. } => assert!(!val.has_bytes()),
            _ => {}
        }
    }
    assert!(!voted.is_empty());
    assert!(batches.values().all(|n| *n == 1), "{batches:?}");
    for d in &voted {
        assert!(batches.contains_key(d), "no bytes logged for a vote");
    }
    c.restart(3);
    let a = c.nodes[3].acceptor().unwrap();
    assert!(a
        .slots()
        .any(|s| !a.slot_durable(s).unwrap().votes_sent.is_empty()));
    let mut out = Ready::default();
    c.nodes[3].step(
        Tick(c.now),
        Input::Control {
            from: NodeId(4),
            msg: Control::Fetch {
                digests: voted.clone(),
            },
        },
        &mut out,
    );
    let served: Vec<(Digest, Value)> = out
        .send
        .into_iter()
        .filter_map(|(to, m)| match m {
            Control::Batches { batches } if to == NodeId(4) => Some(batches),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(!served.is_empty());
    for (d, v) in &served {
        assert!(voted.contains(d));
        assert_eq!(Digest::of(v.bytes().unwrap()), *d);
    }
    // And the restarted node keeps deciding with the others.
    c.submit(1, "after");
    c.run(200);
    assert!(c.has(3, BOB, "after"));
    c.assert_agreement();
}

#[test]
fn steady_state_slots_use_range_phase1_and_no_per_slot_1a_or_1b() {
    // Issue 9, item 1: the leader's range 1a is `Phase1a(l, b)` in every
    // slot from its `from` on, and each acceptor's range 1b is
    // `Phase1b(l, b, a)` in each of them (empty `votes`/`proposals` where
    // it reports nothing); with a quorum of those for every learner,
    // `KnowsSafeAt1(l, b)` holds in a new slot, so its 1c is answered by
    // 2av and 2b with no per-slot 1a or 1b.
    let mut c = Cluster::new(3);
    c.run(5);
    c.submit(0, "warm-up");
    c.run(60);
    assert!(c.has(0, ALICE, "warm-up") && c.has(0, BOB, "warm-up"));
    let lead = c.nodes[0].range.as_ref().and_then(|r| r.leadership());
    assert!(lead.is_some(), "the leader started a leadership");
    assert!(
        c.sent.get("1a-range").copied().unwrap_or(0) >= 2,
        "one per learner"
    );
    let before = c.sent.clone();
    let slots_before = c.nodes[0].stats.range_slots;
    for k in 0..12 {
        c.submit(k % 5, &format!("cmd{k}"));
        c.run(8);
    }
    c.run(80);
    for k in 0..12 {
        let cmd = format!("cmd{k}");
        for n in 0..5 {
            assert!(c.has(n, ALICE, &cmd) && c.has(n, BOB, &cmd), "{cmd} at {n}");
        }
    }
    let delta = |k: &str| c.sent.get(k).copied().unwrap_or(0) - before.get(k).copied().unwrap_or(0);
    assert_eq!(delta("1a"), 0, "no per-slot 1a in steady state");
    assert_eq!(delta("1b"), 0, "no per-slot 1b in steady state");
    assert_eq!(delta("1a-range") + delta("1b-range"), 0, "Phase 1 ran once");
    assert!(delta("1c") > 0 && delta("2av") > 0 && delta("2b") > 0);
    assert!(c.nodes[0].stats.range_slots > slots_before);
    assert_eq!(c.nodes[0].stats.range_fallbacks, 0);
    // The leadership did not change, and no slot needed another ballot.
    assert_eq!(c.nodes[0].range.as_ref().and_then(|r| r.leadership()), lead);
    c.assert_agreement();
}

#[test]
fn without_range_phase1_every_slot_runs_per_slot_phase1() {
    // The switch (`[cluster] range_phase1 = false`): per-slot `Phase1a`
    // and `Phase1b` in every slot, no range message.
    let mut c = Cluster::new(3);
    for (i, n) in c.nodes.iter_mut().enumerate() {
        let _ = i;
        n.range = None;
    }
    c.run(5);
    c.submit(0, "x");
    c.run(60);
    assert!(c.has(0, ALICE, "x") && c.has(0, BOB, "x"));
    assert!(c.sent.get("1a").copied().unwrap_or(0) > 0);
    assert_eq!(c.sent.get("1a-range").copied().unwrap_or(0), 0);
    c.assert_agreement();
}

#[test]
fn after_the_leader_is_killed_the_next_leader_runs_its_own_range_phase1() {
    // A learner whose proposer disappears mid-range still decides via
    // another proposer: the new leader's leadership ballot is above every
    // ballot it saw (so its range 1a is `Phase1a(l, b)` at a `b` above
    // the old promise, and each acceptor's `maxBal[l, a] =< b` holds for
    // its range `Phase1b`), and its slots go straight to 1c again.
    let mut c = Cluster::new(3);
    c.run(5);
    for k in 0..4 {
        c.submit(3, &format!("a{k}"));
        c.run(6);
    }
    c.run(60);
    let (_, old) = c.nodes[0]
        .range
        .as_ref()
        .and_then(|r| r.leadership())
        .expect("node 0 leads on range Phase 1");
    c.up[0] = false;
    c.submit(3, "after");
    c.run(400);
    assert!(
        c.has(3, BOB, "after") && c.has(3, ALICE, "after"),
        "no failover"
    );
    assert_eq!(c.nodes[3].leader_node(), Some(NodeId(1)));
    let (_, new) = c.nodes[1]
        .range
        .as_ref()
        .and_then(|r| r.leadership())
        .expect("node 1 leads on range Phase 1");
    assert!(new > old, "the new leadership is above the old one");
    let before = c.sent.clone();
    let ranged = c.nodes[1].stats.range_slots;
    for k in 0..4 {
        c.submit(2, &format!("b{k}"));
        c.run(6);
    }
    c.run(60);
    for k in 0..4 {
        assert!(c.has(3, BOB, &format!("b{k}")) && c.has(3, ALICE, &format!("b{k}")));
    }
    let delta = |k: &str| c.sent.get(k).copied().unwrap_or(0) - before.get(k).copied().unwrap_or(0);
    assert_eq!(
        delta("1a") + delta("1b"),
        0,
        "steady state again after failover"
    );
    assert!(c.nodes[1].stats.range_slots > ranged);
    c.assert_agreement();
}

#[test]
fn a_leader_restarted_from_its_records_leads_on_range_phase1_again() {
    // A leader that restarts remembers no ballot but its acceptor's
    // promise: its new range 1a may be below it, and then the acceptors'
    // guard `maxBal[l, a] =< b` fails in every slot the promise covers;
    // they answer at the promised ballot, and the new leadership goes
    // above it. The log stays contiguous and both learners decide.
    let mut c = Cluster::new(2);
    c.run(5);
    for k in 0..3 {
        c.submit(0, &format!("p{k}"));
        c.run(6);
    }
    c.run(60);
    c.restart(0);
    c.run(40);
    for k in 0..3 {
        c.submit(2, &format!("q{k}"));
        c.run(6);
    }
    c.run(300);
    for k in 0..3 {
        for cmd in [format!("p{k}"), format!("q{k}")] {
            assert!(c.has(2, BOB, &cmd) && c.has(2, ALICE, &cmd), "{cmd}");
        }
    }
    assert!(c.nodes[0].is_leader());
    assert!(c.nodes[0].stats.range_leaderships >= 1);
    assert!(c.nodes[0].stats.range_slots >= 1, "q* went straight to 1c");
    for lr in [ALICE, BOB] {
        let slots: Vec<Slot> = c.decided[2]
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
