//! End-to-end runs of the core with a trivial in-memory network: every
//! message is delivered to every role, in FIFO order. Scenario: the classic
//! Byzantine cluster (4 acceptors, learner quorums 3 of 4) decides; a second
//! ballot after a decision keeps the decided value (KnowsSafeAt2).

use hpaxos_core::*;
use std::collections::VecDeque;

fn set(ids: &[u16]) -> AccSet {
    ids.iter().map(|&i| AcceptorId(i)).collect()
}

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

struct Net {
    acceptors: Vec<Acceptor>,
    learner: Learner,
    proposer: Proposer,
    queue: VecDeque<Message>,
    decisions: Vec<Decision>,
}

impl Net {
    fn new(trust: &Trust) -> Net {
        Net {
            acceptors: trust
                .acceptors()
                .map(|a| Acceptor::new(a, trust.clone(), AcceptorOptions::default()))
                .collect(),
            learner: Learner::new(LearnerId(0), trust.clone()),
            proposer: Proposer::new(trust.clone()),
            queue: VecDeque::new(),
            decisions: Vec::new(),
        }
    }

    fn run(&mut self, fx: Effects) {
        self.queue.extend(fx.send);
        while let Some(m) = self.queue.pop_front() {
            let mut fx = Effects::default();
            for a in &mut self.acceptors {
                // An acceptor has already received its own messages.
                if m.acc() != Some(a.id()) {
                    a.handle(&m, &mut fx);
                }
            }
            self.learner.handle(&m, &mut fx);
            self.proposer.handle(&m, &mut fx);
            self.decisions.append(&mut fx.decisions);
            self.queue.extend(fx.send);
        }
    }
}

#[test]
fn classic_cluster_decides_the_proposed_value() {
    let trust = classic();
    let mut net = Net::new(&trust);
    let mut fx = Effects::default();
    net.proposer.start(
        Slot(0),
        &[LearnerId(0)],
        Ballot(1),
        Value::new(b"x".to_vec()),
        &mut fx,
    );
    net.run(fx);
    assert_eq!(
        net.learner.decided(Slot(0)),
        Some(&Value::new(b"x".to_vec()))
    );
    assert!(net
        .decisions
        .iter()
        .all(|d| d.val == Value::new(b"x".to_vec())));
}

#[test]
fn later_ballot_keeps_the_decided_value() {
    let trust = classic();
    let mut net = Net::new(&trust);
    let mut fx = Effects::default();
    net.proposer.start(
        Slot(0),
        &[LearnerId(0)],
        Ballot(1),
        Value::new(b"x".to_vec()),
        &mut fx,
    );
    net.run(fx);
    let mut fx = Effects::default();
    net.proposer.start(
        Slot(0),
        &[LearnerId(0)],
        Ballot(2),
        Value::new(b"y".to_vec()),
        &mut fx,
    );
    net.run(fx);
    let decided: Vec<_> = net
        .learner
        .decisions(Slot(0))
        .map(|(b, v)| (b, v.clone()))
        .collect();
    assert_eq!(
        decided,
        vec![
            (Ballot(1), Value::new(b"x".to_vec())),
            (Ballot(2), Value::new(b"x".to_vec()))
        ]
    );
}
