//! The refinement check on runs of the real core: a cluster run passes
//! (every recorded action is a spec step, every state satisfies
//! `FullSafetyInvariant`, the core's durable state equals the mapped spec
//! variables), and hand-made non-spec steps are rejected with the failing
//! guard named.

use hpaxos_core::*;
use hpaxos_spec::{Refinement, RefinementError};
use std::collections::VecDeque;

fn set(ids: &[u16]) -> AccSet {
    ids.iter().map(|&i| AcceptorId(i)).collect()
}

/// 4 acceptors, one learner with quorums 3 of 4 (tolerates 1 Byzantine).
fn classic() -> Trust {
    let q = Family::threshold(3, set(&[0, 1, 2, 3]), vec![]);
    let g = LearnerGraph {
        acceptors: (1..=4).map(|i| format!("a{i}")).collect(),
        learners: vec![LearnerSpec {
            name: "alice".into(),
            quorums: q.clone(),
        }],
        edges: vec![SafetyEdge {
            learners: (LearnerId(0), LearnerId(0)),
            safe: q,
        }],
    };
    graph::validate(g).expect("classic config is valid")
}

/// 4 acceptors, two learners with quorums 3 of 4, entangled while any 3 are safe.
fn two_learners() -> Trust {
    let q = Family::threshold(3, set(&[0, 1, 2, 3]), vec![]);
    let spec = |n: &str| LearnerSpec {
        name: n.into(),
        quorums: q.clone(),
    };
    let g = LearnerGraph {
        acceptors: (1..=4).map(|i| format!("a{i}")).collect(),
        learners: vec![spec("alice"), spec("bob")],
        edges: vec![SafetyEdge {
            learners: (LearnerId(0), LearnerId(1)),
            safe: q,
        }],
    };
    graph::validate(g).expect("two-learner config is valid")
}

/// A FIFO network delivering every message to every role, replaying every
/// step's recorded actions on the refinement checker.
struct Net {
    acceptors: Vec<Acceptor>,
    learners: Vec<Learner>,
    proposer: Proposer,
    queue: VecDeque<Message>,
    refinement: Refinement,
    steps: u64,
}

impl Net {
    fn new(trust: &Trust, fake: AccSet) -> Net {
        Net {
            acceptors: trust
                .acceptors()
                .filter(|a| !fake.contains(*a))
                .map(|a| Acceptor::new(a, trust.clone(), AcceptorOptions::default()))
                .collect(),
            learners: trust
                .learners()
                .map(|l| Learner::new(l, trust.clone()))
                .collect(),
            proposer: Proposer::new(trust.clone()),
            queue: VecDeque::new(),
            refinement: Refinement::new(trust, fake),
            steps: 0,
        }
    }

    fn step(&mut self, fx: &mut Effects) {
        self.refinement
            .apply(&fx.actions)
            .unwrap_or_else(|e| panic!("refinement failed: {e}"));
        self.refinement
            .check_sent(&fx.send)
            .unwrap_or_else(|e| panic!("refinement failed: {e}"));
        self.queue.extend(fx.send.drain(..));
        fx.clear();
        self.steps += 1;
    }

    fn run(&mut self) {
        while let Some(m) = self.queue.pop_front() {
            for i in 0..self.acceptors.len() {
                if m.acc() != Some(self.acceptors[i].id()) {
                    let mut fx = Effects::recording();
                    self.acceptors[i].handle(&m, &mut fx);
                    self.step(&mut fx);
                }
            }
            for i in 0..self.learners.len() {
                let mut fx = Effects::recording();
                self.learners[i].handle(&m, &mut fx);
                self.step(&mut fx);
            }
            let mut fx = Effects::recording();
            self.proposer.handle(&m, &mut fx);
            self.step(&mut fx);
        }
        for a in &self.acceptors {
            self.refinement
                .check_acceptor(a)
                .unwrap_or_else(|e| panic!("acceptor state: {e}"));
        }
        for l in &self.learners {
            self.refinement
                .check_learner(l)
                .unwrap_or_else(|e| panic!("learner state: {e}"));
        }
    }

    fn start(&mut self, slot: Slot, learners: &[LearnerId], b: Ballot, v: &str) {
        let mut fx = Effects::recording();
        self.proposer.start(
            slot,
            learners,
            b,
            Value::new(v.as_bytes().to_vec()),
            &mut fx,
        );
        self.step(&mut fx);
    }
}

fn v(s: &str) -> Value {
    Value::new(s.as_bytes().to_vec())
}

/// Scenario: the classic cluster decides in ballot 1, then a second ballot
/// keeps the decided value (KnowsSafeAt2); every step refines the spec.
#[test]
fn classic_cluster_run_refines_the_spec() {
    let trust = classic();
    let mut net = Net::new(&trust, AccSet::EMPTY);
    net.start(Slot(0), &[LearnerId(0)], Ballot(1), "x");
    net.run();
    net.start(Slot(0), &[LearnerId(0)], Ballot(2), "y");
    net.run();
    assert_eq!(net.learners[0].decided(Slot(0)), Some(&v("x")));
    let st = net
        .refinement
        .state(Slot(0))
        .expect("slot 0 has a spec instance");
    // Both ballots decided x: decision[alice, 1] = decision[alice, 2] = {x}.
    assert_eq!(st.decision.len(), 2);
    assert!(net.refinement.actions_applied() > 50);
    net.refinement
        .check_invariants()
        .expect("FullSafetyInvariant");
}

/// Scenario: two entangled learners, acceptor a4 fake and silent, two slots;
/// each slot is its own spec instance, and both learners agree.
#[test]
fn two_learners_two_slots_with_a_silent_fake_refine_the_spec() {
    let trust = two_learners();
    let mut net = Net::new(&trust, set(&[3]));
    assert!(net.refinement.entangled(LearnerId(0), LearnerId(1)));
    net.start(Slot(0), &[LearnerId(0), LearnerId(1)], Ballot(1), "x");
    net.run();
    net.start(Slot(1), &[LearnerId(0), LearnerId(1)], Ballot(1), "y");
    net.run();
    for l in &net.learners {
        assert_eq!(l.decided(Slot(0)), Some(&v("x")));
        assert_eq!(l.decided(Slot(1)), Some(&v("y")));
    }
    assert_eq!(net.refinement.slots().count(), 2);
}

/// A fake acceptor's 2av enters msgs by FakeSend; the same message in a
/// safe acceptor's name is rejected (FakeSend requires `a \in FakeAcceptor`).
#[test]
fn fake_send_requires_a_fake_sender() {
    let trust = two_learners();
    let mut r = Refinement::new(&trust, set(&[3]));
    let m = |acc: u16| {
        Message::M2av(Msg2av {
            slot: Slot(0),
            lr: LearnerId(0),
            acc: AcceptorId(acc),
            bal: Ballot(1),
            val: v("z"),
        })
    };
    r.fake_send(&m(3)).expect("a4 is fake");
    let err = r.fake_send(&m(0)).expect_err("a1 is safe");
    assert!(err.to_string().contains("a \\in FakeAcceptor"), "{err}");
}

/// Non-spec step: a 2b without a quorum of 2av received (Phase2b's quorum
/// conjunct fails).
#[test]
fn phase2b_without_2av_quorum_is_rejected() {
    let trust = classic();
    let mut r = Refinement::new(&trust, AccSet::EMPTY);
    let err = r
        .apply(&[SpecAction::Phase2b {
            slot: Slot(0),
            lr: LearnerId(0),
            bal: Ballot(1),
            acc: AcceptorId(0),
            val: v("x"),
        }])
        .expect_err("no 2av received");
    match &err {
        RefinementError::Guard { source, .. } => {
            assert!(source.conjunct.contains("TrustLive"), "{err}");
        }
        other => panic!("unexpected error {other}"),
    }
}

/// Non-spec step: a 1b for a ballot that no 1a initialized
/// (`InitializedBallot(l, b)` fails), then one below `maxBal` (`maxBal[l, a] =< b`).
#[test]
fn phase1b_guards_are_checked() {
    let trust = classic();
    let mut r = Refinement::new(&trust, AccSet::EMPTY);
    let p1b = |b: u64| SpecAction::Phase1b {
        slot: Slot(0),
        lr: LearnerId(0),
        bal: Ballot(b),
        acc: AcceptorId(1),
    };
    let err = r.apply(&[p1b(2)]).expect_err("no 1a");
    assert!(err.to_string().contains("InitializedBallot"), "{err}");
    let p1a = |b: u64| SpecAction::Phase1a {
        slot: Slot(0),
        lr: LearnerId(0),
        bal: Ballot(b),
    };
    r.apply(&[p1a(1), p1a(2), p1b(2)]).expect("a spec run");
    let err = r.apply(&[p1b(1)]).expect_err("ballot below maxBal");
    assert!(err.to_string().contains("maxBal[l, a] =< b"), "{err}");
}

/// Non-spec step: a Recv of a message nobody sent; a decision without a
/// 2b quorum (`ChosenIn` fails); a Disconnect of an entangled pair.
#[test]
fn recv_decide_and_disconnect_guards_are_checked() {
    let trust = two_learners();
    let mut r = Refinement::new(&trust, AccSet::EMPTY);
    let m = Message::M1a(Msg1a {
        slot: Slot(0),
        lr: LearnerId(0),
        bal: Ballot(1),
    });
    let err = r
        .apply(&[SpecAction::Recv {
            acc: AcceptorId(0),
            msg: m,
        }])
        .expect_err("never sent");
    assert!(err.to_string().contains("m \\in msgs"), "{err}");
    let err = r
        .apply(&[SpecAction::LearnerDecide {
            slot: Slot(0),
            lr: LearnerId(1),
            bal: Ballot(1),
            val: v("x"),
        }])
        .expect_err("no 2b");
    assert!(err.to_string().contains("ChosenIn"), "{err}");
    let err = r
        .apply(&[SpecAction::Disconnect {
            acc: AcceptorId(0),
            pairs: vec![(LearnerId(0), LearnerId(1))],
        }])
        .expect_err("entangled");
    assert!(err.to_string().contains("Ent"), "{err}");
}

/// The durable-state comparison catches a core acceptor whose state is not
/// the mapped spec state (here: it took a step the checker never saw).
#[test]
fn check_acceptor_detects_unreported_steps() {
    let trust = classic();
    let r = Refinement::new(&trust, AccSet::EMPTY);
    let mut a = Acceptor::new(AcceptorId(0), trust.clone(), AcceptorOptions::default());
    let mut fx = Effects::recording();
    a.handle(
        &Message::M1a(Msg1a {
            slot: Slot(0),
            lr: LearnerId(0),
            bal: Ballot(3),
        }),
        &mut fx,
    );
    let err = r.check_acceptor(&a).expect_err("maxBal moved to 3");
    assert!(err.to_string().contains("maxBal"), "{err}");
}
