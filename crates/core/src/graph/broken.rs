//! What an *invalid* learner graph still promises for one safe set: the
//! pairs that `explain` lists as entangled (their closure edge holds for the
//! non-faulty acceptors `S`) but whose agreement is not guaranteed.
//!
//! The safety proof uses validity only for the edges that hold for the
//! actual safe set. Entanglement for `S` is an equivalence on the learners
//! it relates (the closure is symmetric and transitive for the same set),
//! so its classes are the groups of learners that must all agree. A pair is
//! **broken** when its class holds two learners `X`, `Y` (possibly equal,
//! possibly the pair itself) with a quorum each that share no acceptor of
//! `S`: the faulty acceptors in the overlap can vote for two values, `X`
//! and `Y` decide differently, and every member of the class is supposed to
//! agree with both. The counterexample is that triple (`S`, `QX`, `QY`),
//! checked against the definitions; the pair's own one is preferred.
//!
//! A valid graph has no broken pair for any `S` (every closure edge
//! satisfies validity for every safe set of its family); `hpaxos graph
//! explain` only asks when `validate` failed. Exact: one SAT question per
//! pair in a class, on the encoding of [`super::sat`].

use super::sat::Encoder;
use super::validity::{is_genuine, shrink};
use super::Violation;
use crate::accset::AccSet;
use crate::ids::LearnerId;
use crate::trust::LearnerGraph;

/// An entangled pair whose agreement the invalid graph does not guarantee.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken {
    /// As listed in `Explanation::entangled` (by name).
    pub learners: (LearnerId, LearnerId),
    /// Two learners of the pair's class (`safe` = the non-faulty set) and
    /// a quorum of each sharing no safe acceptor.
    pub witness: Violation,
}

/// Quorums of `x` and `y` that share no acceptor of `safe`, if any
/// (exact; readable: minimal quorums).
fn disjoint_in(
    g: &LearnerGraph,
    enc: &mut Encoder<'_>,
    roots: &[[batsat::Lit; 2]],
    safe: &AccSet,
    x: LearnerId,
    y: LearnerId,
) -> Option<Violation> {
    if !enc.solve(&[roots[x.index()][0], roots[y.index()][1]]) {
        return None;
    }
    let (r1, r2) = (enc.model_set(0), enc.model_set(1));
    let f1 = &g.learners[x.index()].quorums;
    let f2 = &g.learners[y.index()].quorums;
    let q1 = shrink(f1, r1, &r2);
    let q2 = shrink(f2, r2, &q1);
    let (q1, q2) = if q1.intersection(&q2).intersection(safe).is_empty() {
        (q1, q2)
    } else {
        (r1, r2)
    };
    Some(Violation {
        learners: (x, y),
        safe: *safe,
        quorums: (q1, q2),
    })
}

/// The broken pairs among `entangled` (the pairs whose closure edge holds
/// for `safe`, as `explain` lists them), in that order. A witness that
/// fails the definitions is an internal error, reported as `Err` with its
/// pair rather than dropped (fail closed).
pub fn broken(
    g: &LearnerGraph,
    safe: &AccSet,
    entangled: &[(LearnerId, LearnerId)],
) -> Result<Vec<Broken>, (LearnerId, LearnerId)> {
    let nl = g.learners.len();
    // Classes: union of the entangled pairs (an equivalence on its members).
    let mut class: Vec<usize> = (0..nl).collect();
    fn find(c: &mut [usize], x: usize) -> usize {
        let mut r = x;
        while c[r] != r {
            r = c[r];
        }
        c[x] = r;
        r
    }
    for &(a, b) in entangled {
        let (ra, rb) = (find(&mut class, a.index()), find(&mut class, b.index()));
        class[ra.max(rb)] = ra.min(rb);
    }
    let n = g.acceptors.len();
    let mut enc = Encoder::new(n, 2);
    for a in safe.iter().filter(|a| a.index() < n) {
        let c = [!enc.member(0, a.index()), !enc.member(1, a.index())];
        enc.clause(&c);
    }
    let roots: Vec<[batsat::Lit; 2]> = g
        .learners
        .iter()
        .map(|l| [enc.family(0, &l.quorums), enc.family(1, &l.quorums)])
        .collect();
    // The first witness of each class, over its entangled pairs in order.
    let mut class_witness: Vec<Option<Violation>> = vec![None; nl];
    let mut own: Vec<Option<Violation>> = Vec::with_capacity(entangled.len());
    for &(a, b) in entangled {
        let w = disjoint_in(g, &mut enc, &roots, safe, a, b);
        if let Some(v) = &w {
            if !is_genuine(g, v) {
                return Err((a, b));
            }
            let c = find(&mut class, a.index());
            class_witness[c].get_or_insert_with(|| v.clone());
        }
        own.push(w);
    }
    let mut out = Vec::new();
    for (&(a, b), w) in entangled.iter().zip(own) {
        let c = find(&mut class, a.index());
        if let Some(witness) = w.or_else(|| class_witness[c].clone()) {
            out.push(Broken {
                learners: (a, b),
                witness,
            });
        }
    }
    Ok(out)
}
