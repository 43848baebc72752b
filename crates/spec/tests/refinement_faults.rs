//! The refinement check across faults: a restarted acceptor (durable state
//! only; the spec's ghost `received` keeps everything) still refines the
//! spec, and `Disconnect` taken on equivocation evidence is a spec step
//! (the removed pairs are not in `Ent`), applied to every slot and to slots
//! created later.

use hpaxos_core::*;
use hpaxos_spec::Refinement;

fn set(ids: &[u16]) -> AccSet {
    ids.iter().map(|&i| AcceptorId(i)).collect()
}

fn v(s: &str) -> Value {
    Value::new(s.as_bytes().to_vec())
}

/// Delivers every queued message to every acceptor (not its own) and every
/// learner, replaying recorded actions; keeps each acceptor's durable log.
struct Net {
    acceptors: Vec<Acceptor>,
    logs: Vec<Vec<Durable>>,
    learners: Vec<Learner>,
    refinement: Refinement,
}

impl Net {
    fn deliver_all(&mut self, mut queue: Vec<Message>) {
        while !queue.is_empty() {
            let mut next = Vec::new();
            for m in &queue {
                for (i, a) in self.acceptors.iter_mut().enumerate() {
                    if m.acc() == Some(a.id()) {
                        continue;
                    }
                    let mut fx = Effects::recording();
                    a.handle(m, &mut fx);
                    self.refinement
                        .apply(&fx.actions)
                        .unwrap_or_else(|e| panic!("{e}"));
                    self.logs[i].append(&mut fx.persist);
                    next.append(&mut fx.send);
                }
                for l in &mut self.learners {
                    let mut fx = Effects::recording();
                    l.handle(m, &mut fx);
                    self.refinement
                        .apply(&fx.actions)
                        .unwrap_or_else(|e| panic!("{e}"));
                }
            }
            queue = next;
        }
        for a in &self.acceptors {
            self.refinement
                .check_acceptor(a)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        for l in &self.learners {
            self.refinement
                .check_learner(l)
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }

    fn propose(&mut self, slot: Slot, l: LearnerId, b: u64, val: &str) {
        let m1a = Message::M1a(Msg1a {
            slot,
            lr: l,
            bal: Ballot(b),
        });
        let m1c = Message::M1c(Msg1c {
            slot,
            lr: l,
            bal: Ballot(b),
            val: v(val),
        });
        self.refinement.fake_send(&m1a).expect("Phase1a");
        self.refinement.fake_send(&m1c).expect("Phase1c");
        self.deliver_all(vec![m1a, m1c]);
    }
}

/// Scenario: 4 acceptors, one learner (3 of 4); a1 restarts from its
/// durable log between two ballots; ballot 2 keeps the decided value.
#[test]
fn restarted_acceptor_still_refines_the_spec() {
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
    let trust = graph::validate(g).expect("valid");
    let mut net = Net {
        acceptors: trust
            .acceptors()
            .map(|a| Acceptor::new(a, trust.clone(), AcceptorOptions::default()))
            .collect(),
        logs: vec![Vec::new(); 4],
        learners: vec![Learner::new(LearnerId(0), trust.clone())],
        refinement: Refinement::new(&trust, AccSet::EMPTY),
    };
    net.propose(Slot(0), LearnerId(0), 1, "x");
    let mut d = AcceptorDurable::default();
    for r in &net.logs[0] {
        d.apply(r);
    }
    net.acceptors[0] =
        Acceptor::restore(AcceptorId(0), trust.clone(), AcceptorOptions::default(), d);
    net.refinement
        .check_acceptor(&net.acceptors[0])
        .expect("restored durable state is the spec state");
    net.propose(Slot(0), LearnerId(0), 2, "y");
    let decided: Vec<Value> = net.learners[0]
        .decisions(Slot(0))
        .map(|(_, v)| v.clone())
        .collect();
    assert!(!decided.is_empty());
    assert!(decided.iter().all(|d| *d == v("x")), "{decided:?}");
}

/// Scenario: learners alice and bob agree only while all of a1..a4 are
/// safe; a4 is fake and equivocates (two different 1b for one ballot). The
/// safe acceptors disconnect (alice, bob), a spec step since the pair is not
/// in Ent; a slot created afterwards starts with the same connected set.
#[test]
fn disconnect_on_equivocation_is_a_spec_step_in_every_slot() {
    let q = Family::threshold(3, set(&[0, 1, 2, 3]), vec![]);
    let all = Family::superset_of(set(&[0, 1, 2, 3]));
    let spec = |n: &str| LearnerSpec {
        name: n.into(),
        quorums: q.clone(),
    };
    let g = LearnerGraph {
        acceptors: (1..=4).map(|i| format!("a{i}")).collect(),
        learners: vec![spec("alice"), spec("bob")],
        edges: vec![
            SafetyEdge {
                learners: (LearnerId(0), LearnerId(0)),
                safe: q.clone(),
            },
            SafetyEdge {
                learners: (LearnerId(1), LearnerId(1)),
                safe: q.clone(),
            },
            SafetyEdge {
                learners: (LearnerId(0), LearnerId(1)),
                safe: all,
            },
        ],
    };
    let trust = graph::validate(g).expect("valid");
    let fake = set(&[3]);
    let mut net = Net {
        acceptors: (0..3)
            .map(|a| Acceptor::new(AcceptorId(a), trust.clone(), AcceptorOptions::default()))
            .collect(),
        logs: vec![Vec::new(); 3],
        learners: vec![
            Learner::new(LearnerId(0), trust.clone()),
            Learner::new(LearnerId(1), trust.clone()),
        ],
        refinement: Refinement::new(&trust, fake),
    };
    assert!(!net.refinement.entangled(LearnerId(0), LearnerId(1)));
    net.propose(Slot(0), LearnerId(0), 1, "x");
    let lie = |votes: Vec<Vote>| {
        Message::M1b(Msg1b {
            slot: Slot(0),
            lr: LearnerId(0),
            acc: AcceptorId(3),
            bal: Ballot(5),
            votes,
            proposals: vec![],
        })
    };
    let m1 = lie(vec![]);
    let m2 = lie(vec![Vote {
        lr: LearnerId(0),
        bal: Ballot(0),
        val: v("z"),
    }]);
    net.refinement.fake_send(&m1).expect("a4 is fake");
    net.refinement.fake_send(&m2).expect("a4 is fake");
    net.deliver_all(vec![m1, m2]);
    for a in &net.acceptors {
        assert!(!a.connected().contains(LearnerId(0), LearnerId(1)));
        assert_eq!(a.proven_faulty(), set(&[3]));
    }
    // A new slot starts from Init plus the Disconnect steps taken so far.
    net.propose(Slot(1), LearnerId(1), 1, "y");
    let st = net.refinement.state(Slot(1)).expect("slot 1 exists");
    assert!(!st.connected(AcceptorId(0), LearnerId(0), LearnerId(1)));
    assert_eq!(net.learners[1].decided(Slot(1)), Some(&v("y")));
}
