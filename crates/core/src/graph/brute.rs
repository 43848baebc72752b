//! Brute-force reference for small configurations: enumerates subsets.
//! Exponential; used as the oracle of property tests and for tiny graphs.

use super::Violation;
use crate::accset::AccSet;
use crate::ids::{AcceptorId, LearnerId};
use crate::trust::LearnerGraph;

fn subsets(n: usize) -> impl Iterator<Item = AccSet> {
    (0u64..(1u64 << n)).map(move |m| {
        (0..n)
            .filter(|i| m & (1 << i) != 0)
            .map(|i| AcceptorId(i as u16))
            .collect()
    })
}

/// All validity violations, one per closure edge (learner pair, smallest
/// failing triple found first). Only for `acceptors.len() <= 12`.
pub fn violations(g: &LearnerGraph) -> Vec<Violation> {
    let n = g.acceptors.len().min(12);
    let all: Vec<AccSet> = subsets(n).collect();
    let mut out = Vec::new();
    let nl = g.learners.len();
    for i in 0..nl {
        for j in i..nl {
            let (li, lj) = (LearnerId(i as u16), LearnerId(j as u16));
            'edge: for q in &all {
                if !g.closure_holds(li, lj, q) {
                    continue;
                }
                for q1 in all.iter().filter(|s| g.learners[i].quorums.contains(s)) {
                    for q2 in all.iter().filter(|s| g.learners[j].quorums.contains(s)) {
                        if q.intersection(q1).intersection(q2).is_empty() {
                            out.push(Violation {
                                learners: (li, lj),
                                safe: *q,
                                quorums: (*q1, *q2),
                            });
                            break 'edge;
                        }
                    }
                }
            }
        }
    }
    out
}
