//! What holds when a given set of acceptors is faulty: the entangled learner
//! pairs (closure edges whose family contains the set of non-faulty
//! acceptors) and the live learners (those with a quorum of non-faulty
//! acceptors). Pure; `hpaxos graph explain` only formats the result.

use crate::accset::AccSet;
use crate::ids::LearnerId;
use crate::trust::LearnerGraph;

/// The answer for one faulty set. Pairs and learners are ordered by learner
/// name; each pair has `name(first) <= name(second)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    pub faulty: AccSet,
    /// The non-faulty acceptors.
    pub safe: AccSet,
    pub entangled: Vec<(LearnerId, LearnerId)>,
    pub live: Vec<LearnerId>,
}

/// Learner ids sorted by name (ties by id).
pub fn by_name(g: &LearnerGraph) -> Vec<LearnerId> {
    let mut ids: Vec<LearnerId> = (0..g.learners.len()).map(|i| LearnerId(i as u16)).collect();
    ids.sort_by(|a, b| {
        g.learners[a.index()]
            .name
            .cmp(&g.learners[b.index()].name)
            .then(a.cmp(b))
    });
    ids
}

/// Entangled pairs and live learners when exactly `faulty` are faulty.
pub fn explain(g: &LearnerGraph, faulty: &AccSet) -> Explanation {
    let safe = g.all_acceptors().difference(faulty);
    let order = by_name(g);
    let mut entangled = Vec::new();
    for (i, &l1) in order.iter().enumerate() {
        for &l2 in &order[i..] {
            if g.closure_holds(l1, l2, &safe) {
                entangled.push((l1, l2));
            }
        }
    }
    let live = order
        .iter()
        .copied()
        .filter(|l| g.learners[l.index()].quorums.contains(&safe))
        .collect();
    Explanation {
        faulty: *faulty,
        safe,
        entangled,
        live,
    }
}
