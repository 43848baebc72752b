//! State transfer on a tiny deterministic network (one tick per hop): a
//! node cut off while the others decide and compact far past it catches up
//! from a snapshot authenticated by a quorum's attestations; forged states
//! and attestation sets that are no quorum are refused and counted.
//!
//! Each node runs a toy replica per learner: its state is (next slot, a
//! hash chain of the decided values' digests), applied in slot order and
//! handed to the core at every checkpoint slot, as the real node's
//! key-value replica is.

use super::super::*;
use super::{state_digest, Attestation};
use crate::acceptor::AcceptorOptions;
use crate::ids::AcceptorId;
use crate::pacemaker::{PacemakerConfig, ProposerIndex};
use crate::testing::demo_trust;
use crate::value::Value;

const ALICE: LearnerId = LearnerId(0);
const BOB: LearnerId = LearnerId(1);
const RETAIN: u64 = 16;

#[derive(Clone, Default, PartialEq, Eq, Debug)]
struct Rep {
    next: u64,
    hash: u64,
    waiting: BTreeMap<u64, Value>,
}

impl Rep {
    fn bytes(&self) -> Vec<u8> {
        let mut b = self.next.to_le_bytes().to_vec();
        b.extend_from_slice(&self.hash.to_le_bytes());
        b
    }

    fn from_bytes(b: &[u8]) -> Rep {
        let n = u64::from_le_bytes(b[..8].try_into().unwrap());
        let h = u64::from_le_bytes(b[8..16].try_into().unwrap());
        Rep {
            next: n,
            hash: h,
            waiting: BTreeMap::new(),
        }
    }

    /// Applies what is contiguous; returns the checkpoint states reached.
    fn decide(&mut self, slot: u64, v: Value, every: u64) -> Vec<(u64, Vec<u8>)> {
        if slot >= self.next {
            self.waiting.entry(slot).or_insert(v);
        }
        let mut cps = Vec::new();
        while let Some(v) = self.waiting.remove(&self.next) {
            for b in v.digest().0 {
                self.hash = (self.hash ^ b as u64).wrapping_mul(0x100000001b3);
            }
            self.next += 1;
            if self.next.is_multiple_of(every) {
                cps.push((self.next, self.bytes()));
            }
        }
        cps
    }
}

type Tamper = Box<dyn FnMut(NodeId, NodeId, &mut Control<()>)>;
/// A message in flight: due tick, from, to, control message, or a protocol
/// message (then the control message is a placeholder).
type Hop = (u64, NodeId, NodeId, Control<()>, Option<Message>);

struct Net {
    nodes: Vec<NodeCore<()>>,
    up: Vec<bool>,
    now: u64,
    q: VecDeque<Hop>,
    reps: Vec<BTreeMap<LearnerId, Rep>>,
    token: u64,
    tamper: Option<Tamper>,
}

fn core(i: u16, trust: &Trust) -> NodeCore<()> {
    let n = trust.n_acceptors() as u16;
    let pm = (i == 0).then(|| {
        let mut c = PacemakerConfig::new(ProposerIndex(0), 1, trust.learners().collect(), 1);
        c.max_batch = 2;
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
        proposers: vec![NodeId(0)],
        acceptor_nodes: (0..n).map(NodeId).collect(),
        timing: NodeTiming::new(1),
        retain_slots: RETAIN,
        horizon: DEFAULT_HORIZON,
        record_actions: false,
        values: Vec::new(),
        range_phase1: true,
    })
}

impl Net {
    fn new() -> Net {
        let trust = demo_trust();
        let n = trust.n_acceptors();
        let reps = (0..n)
            .map(|_| trust.learners().map(|l| (l, Rep::default())).collect())
            .collect();
        Net {
            nodes: (0..n as u16).map(|i| core(i, &trust)).collect(),
            up: vec![true; n],
            now: 0,
            q: VecDeque::new(),
            reps,
            token: 1,
            tamper: None,
        }
    }

    fn step(&mut self, i: usize, input: Input<()>) {
        let mut out = Ready::default();
        self.nodes[i].step(Tick(self.now), input, &mut out);
        let me = NodeId(i as u16);
        let t = self.now + 1;
        let n = self.nodes.len();
        for m in &out.broadcast {
            if let Message::M2b(b) = m {
                self.nodes[i].own_proof(b, ());
            }
        }
        let dummy = || Control::Forward { cmds: vec![] };
        for m in out.broadcast {
            for j in (0..n).filter(|j| *j != i) {
                self.q
                    .push_back((t, me, NodeId(j as u16), dummy(), Some(m.clone())));
            }
        }
        for c in out.send_all {
            if let Control::Attest { att, .. } = &c {
                self.nodes[i].own_attestation(att, ());
            }
            let c = match c {
                Control::Attest { att, .. } => Control::Attest {
                    att,
                    proof: Some(()),
                },
                c => c,
            };
            for j in (0..n).filter(|j| *j != i) {
                self.q.push_back((t, me, NodeId(j as u16), c.clone(), None));
            }
        }
        for (to, c) in out.send {
            self.q.push_back((t, me, to, c, None));
        }
        for ins in out.install {
            let mut r = Rep::from_bytes(&ins.state);
            let old = self.reps[i].remove(&ins.lr).unwrap_or_default();
            r.waiting = old
                .waiting
                .into_iter()
                .filter(|(s, _)| *s >= r.next)
                .collect();
            self.reps[i].insert(ins.lr, r);
        }
        let every = self.nodes[i].checkpoint_every();
        let mut cps = Vec::new();
        for d in out.decided {
            if let Some(r) = self.reps[i].get_mut(&d.lr) {
                for (s, st) in r.decide(d.slot.0, d.val, every) {
                    cps.push((d.lr, s, st));
                }
            }
        }
        for (lr, s, state) in cps {
            self.step(
                i,
                Input::Checkpoint {
                    lr,
                    slot: Slot(s),
                    state,
                },
            );
        }
    }

    fn run(&mut self, ticks: u64) {
        let end = self.now + ticks;
        while self.now < end {
            while self.q.front().is_some_and(|(t, ..)| *t <= self.now) {
                let Some((_, from, to, mut c, m)) = self.q.pop_front() else {
                    break;
                };
                if !self.up[from.index()] || !self.up[to.index()] {
                    continue;
                }
                let input = match m {
                    Some(msg) => Input::Protocol { msg, proof: () },
                    None => {
                        if let Some(t) = self.tamper.as_mut() {
                            t(from, to, &mut c);
                        }
                        Input::Control { from, msg: c }
                    }
                };
                self.step(to.index(), input);
            }
            for i in 0..self.nodes.len() {
                if self.up[i] {
                    self.step(i, Input::Tick);
                }
            }
            self.now += 1;
        }
    }

    /// Submits `n` commands at node 0, running between them.
    fn load(&mut self, n: usize) {
        for k in 0..n {
            let token = self.token;
            self.token += 1;
            self.step(
                0,
                Input::Submit {
                    token,
                    cmd: format!("c{token}-{k}").into_bytes(),
                },
            );
            self.run(2);
        }
        self.run(40);
    }
}

/// Node 3 is cut off while the others decide over 200 slots and compact
/// them (retention 16: certificates of only the last 64 slots per learner
/// are kept); back, it cannot get certificates from slot 0 and installs
/// the peers' snapshot instead, both learners' replicas then equal node
/// 0's, and its acceptor is compacted below the checkpoint.
fn lagging_node_case(tamper: Option<Tamper>) -> Net {
    lagging_case(Net::new(), tamper)
}

fn lagging_case(mut c: Net, mut tamper: Option<Tamper>) -> Net {
    c.run(5);
    c.load(2);
    c.up[3] = false;
    c.load(260);
    let low = c.nodes[0].low_water().unwrap().0;
    assert!(low > 150, "only {low} slots decided");
    assert!(c.nodes[0].compacted_below().0 > 0);
    assert!(c.reps[3][&ALICE].next < 10);
    c.tamper = tamper.take();
    c.up[3] = true;
    c.load(10);
    c.run(200);
    c
}

#[test]
fn a_node_behind_compacted_peers_catches_up_from_an_attested_snapshot() {
    let c = lagging_node_case(None);
    let st = c.nodes[3].stats;
    assert!(st.snapshots_installed >= 2, "{st:?}");
    assert_eq!(st.snapshots_refused, 0);
    for lr in [ALICE, BOB] {
        let (a, b) = (&c.reps[0][&lr], &c.reps[3][&lr]);
        assert!(b.next > 150, "{lr:?}: node 3 at {}", b.next);
        assert_eq!((a.next, a.hash), (b.next, b.hash), "{lr:?}");
    }
    assert!(c.nodes[3].compacted_below().0 > 100);
    assert!(c.nodes[3].acceptor().unwrap().compacted_below().0 > 100);
    assert!(
        c.nodes
            .iter()
            .map(|n| n.stats.snapshots_served)
            .sum::<u64>()
            > 0
    );
}

/// A peer that alters the state it serves (the attestations are genuine):
/// its digest is not the attested one, so node 3 refuses it and counts it.
#[test]
fn a_forged_state_is_refused() {
    let c = lagging_node_case(Some(Box::new(|_, _, m| {
        if let Control::Snapshot { state: Some(s), .. } = m {
            s[9] ^= 1;
        }
    })));
    let st = c.nodes[3].stats;
    assert!(st.snapshots_refused > 0, "{st:?}");
    assert!(c.reps[3][&ALICE].next < 10, "a forged state was installed");
}

/// A Byzantine peer that makes up the state and signs its digest itself
/// (it can sign for no other node: the driver checks every signature):
/// one acceptor is no quorum of alice or bob, refused. So is a set whose
/// signers repeat one node.
#[test]
fn attestations_that_are_no_quorum_are_refused() {
    for repeat in [false, true] {
        let c = lagging_node_case(Some(Box::new(move |from, _, m| {
            if let Control::Snapshot {
                state: Some(s),
                atts,
                lr,
                slot,
            } = m
            {
                s[9] ^= 1;
                let digest = state_digest(s);
                let att = Attestation {
                    lr: *lr,
                    slot: *slot,
                    digest,
                    node: from,
                };
                let n = if repeat { 5 } else { 1 };
                *atts = vec![(att, ()); n];
            }
        })));
        let st = c.nodes[3].stats;
        assert!(st.snapshots_refused > 0, "{st:?}");
        assert!(
            c.reps[3][&ALICE].next < 10,
            "an unattested state was installed"
        );
        assert!(
            c.reps[3][&BOB].next < 10,
            "an unattested state was installed"
        );
    }
}

/// A node rebuilt from nothing (its log lost, e.g. truncated at its
/// first record) catches up the same way.
#[test]
fn a_rebuilt_node_catches_up_from_a_snapshot() {
    let mut c = Net::new();
    c.run(5);
    c.load(220);
    let trust = demo_trust();
    c.nodes[2] = core(2, &trust);
    c.reps[2] = trust.learners().map(|l| (l, Rep::default())).collect();
    c.load(10);
    c.run(200);
    assert!(c.nodes[2].stats.snapshots_installed > 0);
    for lr in [ALICE, BOB] {
        let (a, b) = (&c.reps[0][&lr], &c.reps[2][&lr]);
        assert_eq!((a.next, a.hash), (b.next, b.hash), "{lr:?}");
    }
}

/// A decision that waits for its bytes below the snapshot slot is covered
/// by the installed state: the install drops it, so it holds neither
/// `low_water` nor compaction below the checkpoint. (Before the fix a
/// decision of a slot the peers had compacted could never get its bytes,
/// and the node never compacted again.)
#[test]
fn an_install_drops_the_decisions_it_covers_that_wait_for_bytes() {
    let mut c = Net::new();
    c.run(5);
    c.load(2);
    c.up[3] = false;
    c.load(260);
    let d = Decision {
        slot: Slot(5),
        lr: ALICE,
        bal: Ballot(1),
        val: Value::from_digest(crate::value::Digest([7; 32])),
    };
    c.nodes[3].awaiting.insert((ALICE, Slot(5)), d);
    assert!(c.nodes[3].low_water().is_some_and(|l| l <= Slot(5)));
    c.up[3] = true;
    c.load(10);
    c.run(200);
    let n3 = &c.nodes[3];
    assert!(n3.stats.snapshots_installed >= 1, "{:?}", n3.stats);
    assert_eq!(n3.decisions_awaiting_bytes(), 0);
    assert!(
        n3.low_water().is_some_and(|l| l.0 > 150),
        "{:?}",
        n3.low_water()
    );
    assert!(n3.compacted_below().0 > 100, "{:?}", n3.compacted_below());
}

/// [`lagging_node_case`] with snapshot states sent in parts of 5 bytes.
fn lagging_in_parts(tamper: Option<Tamper>) -> Net {
    let mut c = Net::new();
    for n in &mut c.nodes {
        n.set_snapshot_part_bytes(5);
    }
    lagging_case(c, tamper)
}

/// A state longer than a part (16 bytes here, parts of 5) goes as four
/// `SnapshotPart` ahead of its `Snapshot`, is reassembled, checked against
/// the attested digest and installed as when sent whole.
#[test]
fn a_state_larger_than_a_part_is_sent_in_parts_and_installed() {
    let c = lagging_in_parts(None);
    let st = c.nodes[3].stats;
    assert!(st.snapshots_installed >= 2, "{st:?}");
    assert_eq!(st.snapshots_refused, 0);
    for lr in [ALICE, BOB] {
        let (a, b) = (&c.reps[0][&lr], &c.reps[3][&lr]);
        assert!(b.next > 150, "{lr:?}: node 3 at {}", b.next);
        assert_eq!((a.next, a.hash), (b.next, b.hash), "{lr:?}");
    }
    assert_eq!(c.nodes[3].snapshot_bytes_receiving(), 0);
}

/// Parts of a forged state (genuine attestations): the reassembled state
/// does not hash to the attested digest and is refused.
#[test]
fn a_forged_state_in_parts_is_refused() {
    let c = lagging_in_parts(Some(Box::new(|_, _, m| {
        if let Control::SnapshotPart {
            offset: 5, bytes, ..
        } = m
        {
            bytes[0] ^= 1;
        }
    })));
    let st = c.nodes[3].stats;
    assert!(st.snapshots_refused > 0, "{st:?}");
    assert_eq!(st.snapshots_installed, 0, "{st:?}");
    assert!(c.reps[3][&ALICE].next < 10, "a forged state was installed");
}
