//! Property tests: the exact graph analysis against the brute-force
//! reference on small random configurations (issue 2, item 4): closure
//! (`closure_holds` against the rule fixpoint), validity (the same invalid
//! pairs, and every reported counterexample genuine), entanglement and
//! liveness for every faulty set.

#![allow(clippy::needless_range_loop)]

use super::{brute, explain, validity};
use crate::accset::AccSet;
use crate::family::Family;
use crate::ids::{AcceptorId, LearnerId};
use crate::trust::{LearnerGraph, LearnerSpec, SafetyEdge};
use proptest::prelude::*;
use std::collections::BTreeSet;

/// A tiny deterministic generator driven by proptest's seed.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn family(r: &mut Gen, n: usize, depth: u32) -> Family {
    loop {
        let mut accs = AccSet::EMPTY;
        for a in 0..n {
            if r.below(3) == 0 {
                accs.insert(AcceptorId(a as u16));
            }
        }
        let subs: Vec<Family> = if depth > 0 {
            (0..r.below(3)).map(|_| family(r, n, depth - 1)).collect()
        } else {
            Vec::new()
        };
        let items = accs.len() + subs.len();
        if items == 0 {
            continue;
        }
        let k = 1 + r.below(items as u64) as u32;
        return Family::threshold(k, accs, subs);
    }
}

fn graph(seed: u64) -> LearnerGraph {
    let mut r = Gen(seed | 1);
    let n = 1 + r.below(5) as usize;
    let nl = 1 + r.below(4) as usize;
    let learners = (0..nl)
        .map(|i| LearnerSpec {
            name: format!("l{}", nl - i), // names not in id order
            quorums: family(&mut r, n, 1),
        })
        .collect();
    let ne = r.below(7) as usize;
    let edges = (0..ne)
        .map(|_| SafetyEdge {
            learners: (
                LearnerId(r.below(nl as u64) as u16),
                LearnerId(r.below(nl as u64) as u16),
            ),
            safe: family(&mut r, n, 1),
        })
        .collect();
    LearnerGraph {
        acceptors: (0..n).map(|i| format!("a{i}")).collect(),
        learners,
        edges,
    }
}

/// Organisation-structured graphs (nested thresholds over the same
/// organisations), where the counting lemmas of `lemmas.rs` apply.
fn org_graph(seed: u64) -> LearnerGraph {
    let mut r = Gen(seed | 1);
    let orgs = 2 + r.below(2) as usize; // 2 or 3 organisations
    let per = 2usize;
    let n = orgs * per;
    let nested = |r: &mut Gen| {
        let mut subs: Vec<Family> = Vec::new();
        for o in 0..orgs {
            if r.below(5) == 0 {
                continue;
            }
            let accs: AccSet = (o * per..o * per + per)
                .map(|a| AcceptorId(a as u16))
                .collect();
            subs.push(Family::threshold(
                1 + r.below(per as u64) as u32,
                accs,
                vec![],
            ));
        }
        if subs.is_empty() {
            return Family::acceptor(AcceptorId(0));
        }
        let k = 1 + r.below(subs.len() as u64) as u32;
        Family::threshold(k, AccSet::EMPTY, subs)
    };
    let nl = 1 + r.below(3) as usize;
    let learners = (0..nl)
        .map(|i| LearnerSpec {
            name: format!("l{i}"),
            quorums: nested(&mut r),
        })
        .collect();
    let edges = (0..r.below(5))
        .map(|_| SafetyEdge {
            learners: (
                LearnerId(r.below(nl as u64) as u16),
                LearnerId(r.below(nl as u64) as u16),
            ),
            safe: nested(&mut r),
        })
        .collect();
    LearnerGraph {
        acceptors: (0..n).map(|i| format!("a{i}")).collect(),
        learners,
        edges,
    }
}

fn subsets(n: usize) -> impl Iterator<Item = AccSet> {
    (0..1usize << n).map(move |m| {
        (0..n)
            .filter(|i| m & (1 << i) != 0)
            .map(|i| AcceptorId(i as u16))
            .collect()
    })
}

fn unordered(pairs: impl IntoIterator<Item = (LearnerId, LearnerId)>) -> BTreeSet<(u16, u16)> {
    pairs
        .into_iter()
        .map(|(a, b)| (a.0.min(b.0), a.0.max(b.0)))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// LearnerGraphAssumption: closure_holds equals the least fixpoint of the
    /// symmetric / transitive / superset rules, for every triple.
    #[test]
    fn closure_matches_rule_fixpoint(seed in any::<u64>()) {
        let g = graph(seed);
        let c = brute::closure(&g);
        let n = g.acceptors.len();
        for (m, q) in subsets(n).enumerate() {
            for i in 0..g.learners.len() {
                for j in 0..g.learners.len() {
                    let (li, lj) = (LearnerId(i as u16), LearnerId(j as u16));
                    prop_assert_eq!(g.closure_holds(li, lj, &q), c[i][j][m], "({}, {}, {:?})", i, j, q);
                }
            }
        }
    }

    /// Validity of every closure edge: the SAT check finds exactly the invalid
    /// pairs brute force finds, and each counterexample is genuine.
    #[test]
    fn validity_matches_brute_force(seed in any::<u64>()) {
        let g = graph(seed);
        let fast = validity::violations(&g);
        let slow = brute::violations(&g);
        let c = brute::closure(&g);
        for v in &fast {
            prop_assert!(validity::is_genuine(&g, v), "{:?}", v);
            let (i, j) = (v.learners.0.index(), v.learners.1.index());
            let m = v.safe.iter().fold(0usize, |m, a| m | 1 << a.index());
            prop_assert!(c[i][j][m], "safe set not in the fixpoint closure: {:?}", v);
            prop_assert!(v.safe.intersection(&v.quorums.0).intersection(&v.quorums.1).is_empty());
        }
        prop_assert_eq!(
            unordered(fast.iter().map(|v| v.learners)),
            unordered(slow.iter().map(|v| v.learners))
        );
    }

    /// The same on organisation-structured graphs, where counting lemmas are
    /// added to the SAT encoding: they must not change the answer.
    #[test]
    fn validity_with_counting_lemmas_matches_brute_force(seed in any::<u64>()) {
        let g = org_graph(seed);
        let fast = validity::violations(&g);
        for v in &fast {
            prop_assert!(validity::is_genuine(&g, v), "{:?}", v);
        }
        let slow = unordered(brute::violations(&g).iter().map(|v| v.learners));
        prop_assert_eq!(unordered(fast.iter().map(|v| v.learners)), slow.clone());
        // And the plain encoding (no lemmas) agrees too.
        let plain = validity::violations_with(&g, false);
        prop_assert_eq!(unordered(plain.iter().map(|v| v.learners)), slow);
    }

    /// Entanglement and liveness for every faulty set against brute force.
    #[test]
    fn explain_matches_brute_force(seed in any::<u64>()) {
        let g = graph(seed);
        for faulty in subsets(g.acceptors.len()) {
            let e = explain(&g, &faulty);
            prop_assert_eq!(unordered(e.entangled.iter().copied()), unordered(brute::entangled(&g, &faulty)));
            let live: BTreeSet<_> = e.live.iter().copied().collect();
            let want: BTreeSet<_> = brute::live(&g, &faulty).into_iter().collect();
            prop_assert_eq!(live, want);
            for (a, b) in &e.entangled {
                prop_assert!(g.learners[a.index()].name <= g.learners[b.index()].name);
            }
        }
    }

    /// The entangled pairs an invalid graph does not keep in agreement, for
    /// every faulty set, against brute force; each witness is genuine (its
    /// closure edge holds for the safe set, two quorums missing it), and a
    /// valid graph has none.
    #[test]
    fn broken_matches_brute_force(seed in any::<u64>()) {
        let g = graph(seed);
        let valid = validity::violations(&g).is_empty();
        for faulty in subsets(g.acceptors.len()) {
            let e = explain(&g, &faulty);
            let b = super::broken::broken(&g, &e.safe, &e.entangled).expect("genuine witnesses");
            for x in &b {
                prop_assert!(validity::is_genuine(&g, &x.witness), "{:?}", x);
                prop_assert_eq!(x.witness.safe, e.safe);
            }
            prop_assert_eq!(unordered(b.iter().map(|x| x.learners)), unordered(brute::broken(&g, &faulty)));
            if valid {
                prop_assert!(b.is_empty(), "a valid graph has no broken pair: {:?}", b);
            }
        }
    }
}
