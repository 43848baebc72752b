//! Configurations shared by the model-checking tests, built directly as
//! learner graphs (the same shapes as the TOML examples).

#![allow(dead_code)]

use hpaxos_core::{
    graph, AccSet, AcceptorId, Family, LearnerGraph, LearnerId, LearnerSpec, SafetyEdge, Trust,
};

pub fn set(ids: &[u16]) -> AccSet {
    ids.iter().map(|&i| AcceptorId(i)).collect()
}

fn names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("a{i}")).collect()
}

/// The classic Byzantine cluster: a1..a4, learner alice with quorums 3 of 4,
/// self-edge while any 3 are safe (tolerates one Byzantine acceptor).
pub fn classic() -> Trust {
    let q = Family::threshold(3, set(&[0, 1, 2, 3]), vec![]);
    graph::validate(LearnerGraph {
        acceptors: names(4),
        learners: vec![LearnerSpec {
            name: "alice".into(),
            quorums: q.clone(),
        }],
        edges: vec![SafetyEdge {
            learners: (LearnerId(0), LearnerId(0)),
            safe: q,
        }],
    })
    .expect("classic is valid")
}

/// Two learners with the classic quorums (3 of 4), entangled while any 3 are
/// safe: the smallest setting where the `connected` filter matters.
pub fn two_learners() -> Trust {
    let q = Family::threshold(3, set(&[0, 1, 2, 3]), vec![]);
    graph::validate(LearnerGraph {
        acceptors: names(4),
        learners: vec![
            LearnerSpec {
                name: "alice".into(),
                quorums: q.clone(),
            },
            LearnerSpec {
                name: "bob".into(),
                quorums: q.clone(),
            },
        ],
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
                safe: q,
            },
        ],
    })
    .expect("two learners are valid")
}

/// An invalid graph: alice's quorum {a1, a2} and bob's {a3, a4} share no
/// acceptor, yet the file claims they agree while all four are safe.
pub fn invalid_graph() -> LearnerGraph {
    let all = Family::superset_of(set(&[0, 1, 2, 3]));
    LearnerGraph {
        acceptors: names(4),
        learners: vec![
            LearnerSpec {
                name: "alice".into(),
                quorums: Family::superset_of(set(&[0, 1])),
            },
            LearnerSpec {
                name: "bob".into(),
                quorums: Family::superset_of(set(&[2, 3])),
            },
        ],
        edges: vec![SafetyEdge {
            learners: (LearnerId(0), LearnerId(1)),
            safe: all,
        }],
    }
}

pub fn invalid() -> Trust {
    Trust::unchecked(invalid_graph()).expect("shape is fine")
}

/// The smallest configuration with a Byzantine acceptor and a safety claim:
/// a1 safe, a2 fake; every quorum is {a1, a2}; learners agree while a1 is
/// safe. One safe acceptor does all the work, so traces are short.
pub fn one_safe(learners: &[&str]) -> Trust {
    let q = Family::superset_of(set(&[0, 1]));
    let safe = Family::acceptor(AcceptorId(0));
    let mut edges = Vec::new();
    for i in 0..learners.len() {
        for j in i..learners.len() {
            edges.push(SafetyEdge {
                learners: (LearnerId(i as u16), LearnerId(j as u16)),
                safe: safe.clone(),
            });
        }
    }
    graph::validate(LearnerGraph {
        acceptors: names(2),
        learners: learners
            .iter()
            .map(|n| LearnerSpec {
                name: n.to_string(),
                quorums: q.clone(),
            })
            .collect(),
        edges,
    })
    .expect("one-safe configuration is valid")
}

/// An invalid graph on two acceptors: alice trusts only a1, bob only a2, and
/// the file claims they agree while both are safe.
pub fn tiny_invalid() -> Trust {
    Trust::unchecked(LearnerGraph {
        acceptors: names(2),
        learners: vec![
            LearnerSpec {
                name: "alice".into(),
                quorums: Family::acceptor(AcceptorId(0)),
            },
            LearnerSpec {
                name: "bob".into(),
                quorums: Family::acceptor(AcceptorId(1)),
            },
        ],
        edges: vec![SafetyEdge {
            learners: (LearnerId(0), LearnerId(1)),
            safe: Family::superset_of(set(&[0, 1])),
        }],
    })
    .expect("shape is fine")
}

/// Two safe acceptors and a fake: alice's quorums are a1 plus a2 or a3;
/// alice agrees with herself while a1 is safe (run with a3 fake).
pub fn two_safe() -> Trust {
    let q = Family::all(vec![
        Family::acceptor(AcceptorId(0)),
        Family::any(vec![
            Family::acceptor(AcceptorId(1)),
            Family::acceptor(AcceptorId(2)),
        ]),
    ]);
    graph::validate(LearnerGraph {
        acceptors: names(3),
        learners: vec![LearnerSpec {
            name: "alice".into(),
            quorums: q,
        }],
        edges: vec![SafetyEdge {
            learners: (LearnerId(0), LearnerId(0)),
            safe: Family::acceptor(AcceptorId(0)),
        }],
    })
    .expect("two-safe configuration is valid")
}
