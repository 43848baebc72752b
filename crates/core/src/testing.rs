//! Test fixtures shared by the core's unit tests.

use crate::accset::AccSet;
use crate::family::Family;
use crate::graph;
use crate::ids::{AcceptorId, LearnerId};
use crate::trust::{LearnerGraph, LearnerSpec, SafetyEdge, Trust};

const ALICE: LearnerId = LearnerId(0);
const BOB: LearnerId = LearnerId(1);

fn set(ids: &[u16]) -> AccSet {
    ids.iter().map(|&i| AcceptorId(i)).collect()
}

/// The demo's trust: alice any 4 of 5 (tolerates one Byzantine), bob any
/// 3 of 5 (crash-only: agrees with himself and alice while all are safe).
pub fn demo_trust() -> Trust {
    let all = set(&[0, 1, 2, 3, 4]);
    let g = LearnerGraph {
        acceptors: (1..=5).map(|i| format!("a{i}")).collect(),
        learners: vec![
            LearnerSpec {
                name: "alice".into(),
                quorums: Family::threshold(4, all, vec![]),
            },
            LearnerSpec {
                name: "bob".into(),
                quorums: Family::threshold(3, all, vec![]),
            },
        ],
        edges: vec![
            SafetyEdge {
                learners: (ALICE, ALICE),
                safe: Family::threshold(4, all, vec![]),
            },
            SafetyEdge {
                learners: (BOB, BOB),
                safe: Family::superset_of(all),
            },
            SafetyEdge {
                learners: (ALICE, BOB),
                safe: Family::superset_of(all),
            },
        ],
    };
    graph::validate(g).expect("the demo graph is valid")
}
