//! Brute-force reference for small configurations: enumerates subsets.
//! Exponential; the oracle of the property tests (closure, validity,
//! entanglement, liveness). Independent of [`LearnerGraph::closure_holds`]:
//! the closure here is the least fixpoint of the closure rules, applied
//! literally over explicit triples.

#![allow(clippy::needless_range_loop)] // index loops mirror the definitions

use super::Violation;
use crate::accset::AccSet;
use crate::ids::{AcceptorId, LearnerId};
use crate::trust::LearnerGraph;

/// The largest acceptor count the brute force accepts.
pub const MAX_BRUTE_ACCEPTORS: usize = 10;

fn subset(n: usize, m: usize) -> AccSet {
    (0..n)
        .filter(|i| m & (1 << i) != 0)
        .map(|i| AcceptorId(i as u16))
        .collect()
}

fn mask(s: &AccSet) -> usize {
    s.iter().fold(0, |m, a| m | (1 << a.index()))
}

/// `closure[i][j][mask]`: is `(learner i, learner j, subset mask)` in the
/// closure of the `[[safety]]` edges under the rules symmetric, transitive
/// (same safe set) and superset? Computed as a fixpoint.
pub fn closure(g: &LearnerGraph) -> Vec<Vec<Vec<bool>>> {
    let n = g.acceptors.len().min(MAX_BRUTE_ACCEPTORS);
    let nl = g.learners.len();
    let size = 1usize << n;
    let mut c = vec![vec![vec![false; size]; nl]; nl];
    for e in &g.edges {
        let (a, b) = (e.learners.0.index(), e.learners.1.index());
        for m in 0..size {
            if e.safe.contains(&subset(n, m)) {
                c[a][b][m] = true;
            }
        }
    }
    loop {
        let mut changed = false;
        for m in 0..size {
            for i in 0..nl {
                for j in 0..nl {
                    if !c[i][j][m] {
                        continue;
                    }
                    // symmetric
                    if !c[j][i][m] {
                        c[j][i][m] = true;
                        changed = true;
                    }
                    // superset
                    for bit in 0..n {
                        let sup = m | (1 << bit);
                        if !c[i][j][sup] {
                            c[i][j][sup] = true;
                            changed = true;
                        }
                    }
                    // transitive for the same safe set
                    for k in 0..nl {
                        if c[j][k][m] && !c[i][k][m] {
                            c[i][k][m] = true;
                            changed = true;
                        }
                    }
                }
            }
        }
        if !changed {
            return c;
        }
    }
}

/// All validity violations, one per invalid closure learner pair `(i, j)`,
/// `i <= j`, the first failing triple in enumeration order.
pub fn violations(g: &LearnerGraph) -> Vec<Violation> {
    let n = g.acceptors.len().min(MAX_BRUTE_ACCEPTORS);
    let c = closure(g);
    let all: Vec<AccSet> = (0..1usize << n).map(|m| subset(n, m)).collect();
    let mut out = Vec::new();
    let nl = g.learners.len();
    for i in 0..nl {
        for j in i..nl {
            let (li, lj) = (LearnerId(i as u16), LearnerId(j as u16));
            'edge: for q in &all {
                if !c[i][j][mask(q)] {
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

/// Learners with a quorum made only of acceptors outside `faulty`, by
/// enumerating every subset of the non-faulty acceptors.
pub fn live(g: &LearnerGraph, faulty: &AccSet) -> Vec<LearnerId> {
    let n = g.acceptors.len().min(MAX_BRUTE_ACCEPTORS);
    (0..g.learners.len())
        .filter(|&l| {
            (0..1usize << n).any(|m| {
                let s = subset(n, m);
                s.intersection(faulty).is_empty() && g.learners[l].quorums.contains(&s)
            })
        })
        .map(|l| LearnerId(l as u16))
        .collect()
}

/// Unordered learner pairs (by index, `i <= j`) entangled when exactly the
/// acceptors outside `faulty` are safe, read off the fixpoint closure.
pub fn entangled(g: &LearnerGraph, faulty: &AccSet) -> Vec<(LearnerId, LearnerId)> {
    let n = g.acceptors.len().min(MAX_BRUTE_ACCEPTORS);
    let safe = mask(&AccSet::first_n(n).difference(faulty));
    let c = closure(g);
    let nl = g.learners.len();
    let mut out = Vec::new();
    for i in 0..nl {
        for j in i..nl {
            if c[i][j][safe] {
                out.push((LearnerId(i as u16), LearnerId(j as u16)));
            }
        }
    }
    out
}

/// Unordered pairs (by index) entangled for the safe set outside `faulty`
/// whose class of entangled learners (read off the fixpoint closure) holds
/// two learners with quorums sharing no safe acceptor, by enumerating every
/// pair of subsets. The reference for [`super::broken::broken`].
pub fn broken(g: &LearnerGraph, faulty: &AccSet) -> Vec<(LearnerId, LearnerId)> {
    let n = g.acceptors.len().min(MAX_BRUTE_ACCEPTORS);
    let safe = AccSet::first_n(n).difference(faulty);
    let ent = entangled(g, faulty);
    let related = |i: usize, j: usize| {
        ent.iter()
            .any(|(a, b)| (a.index(), b.index()) == (i.min(j), i.max(j)))
    };
    let nl = g.learners.len();
    let disjoint = |x: usize, y: usize| {
        (0..1usize << n).any(|m1| {
            let q1 = subset(n, m1);
            g.learners[x].quorums.contains(&q1)
                && (0..1usize << n).any(|m2| {
                    let q2 = subset(n, m2);
                    g.learners[y].quorums.contains(&q2)
                        && q1.intersection(&q2).intersection(&safe).is_empty()
                })
        })
    };
    ent.iter()
        .copied()
        .filter(|(a, _)| {
            // The class of a: every learner entangled with it.
            let class: Vec<usize> = (0..nl).filter(|&k| related(a.index(), k)).collect();
            class
                .iter()
                .any(|&x| class.iter().any(|&y| x <= y && disjoint(x, y)))
        })
        .collect()
}
