//! Teeth of the refinement check: with a weakened guard in the core
//! (feature `mutations`), a cluster run is no longer a spec behaviour and the
//! checker says which step is not. One test per binary: the mutation switch
//! is process-wide.
#![cfg(feature = "mutations")]

use hpaxos_core::mutations::{set, Mutation};
use hpaxos_core::*;
use hpaxos_spec::Refinement;
use std::collections::VecDeque;

fn v(s: &str) -> Value {
    Value::new(s.as_bytes().to_vec())
}

/// Mutation "ignore-1b-votes": the core's 1b omits MaxVote's votes, so the
/// 1b it sends (and receives itself) is not the one `Phase1b` sends.
#[test]
fn ignoring_1b_votes_is_not_a_spec_step() {
    let q = Family::threshold(3, (0..4).map(AcceptorId).collect(), vec![]);
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
    set(Mutation::Ignore1bVotes);
    let mut acceptors: Vec<Acceptor> = trust
        .acceptors()
        .map(|a| Acceptor::new(a, trust.clone(), AcceptorOptions::default()))
        .collect();
    let mut learner = Learner::new(LearnerId(0), trust.clone());
    let mut proposer = Proposer::new(trust.clone());
    let mut r = Refinement::new(&trust, AccSet::EMPTY);
    let mut first_error = None;
    for (b, val) in [(1, "x"), (2, "y")] {
        let mut fx = Effects::recording();
        proposer.start(Slot(0), &[LearnerId(0)], Ballot(b), v(val), &mut fx);
        let mut queue: VecDeque<Message> = fx.send.drain(..).collect();
        r.apply(&fx.actions).expect("Phase1a has no guard");
        while let Some(m) = queue.pop_front() {
            let mut fx = Effects::recording();
            for a in acceptors.iter_mut().filter(|a| m.acc() != Some(a.id())) {
                a.handle(&m, &mut fx);
            }
            learner.handle(&m, &mut fx);
            proposer.handle(&m, &mut fx);
            if let Err(e) = r.apply(&fx.actions) {
                first_error.get_or_insert(e);
            }
            queue.extend(fx.send.drain(..));
        }
    }
    set(Mutation::None);
    let err = first_error.expect("the mutant's second ballot is not a spec behaviour");
    assert!(err.to_string().contains("m \\in msgs"), "{err}");
}
