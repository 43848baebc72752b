//! Counting lemmas that make the SAT check fast on organisation-structured
//! configurations (nested thresholds), without changing its answer.
//!
//! The question [`super::validity`] asks is: can three families hold at once
//! on sets `X1, X2, X3` (quorums of two learners, and a safe set) when no
//! acceptor is in all three? For three threshold nodes whose items line up
//! (the same direct acceptors, and sub-families paired by equal support),
//! count item memberships: an acceptor item is in at most 2 of the 3 sets,
//! and a paired sub-family triple that cannot hold at once also counts at
//! most 2, otherwise 3. If the thresholds need more (`k1 + k2 + k3 > cap`),
//! the three nodes can never hold together, and the clause
//! `not n1 or not n2 or not n3` is a consequence of the encoding. Adding it
//! spares the solver from rediscovering pigeonhole-style counting arguments,
//! which plain resolution finds only slowly. Every lemma is sound, so the
//! check stays exact; configurations without such structure get no lemma.

use crate::accset::AccSet;
use crate::family::Family;
use std::collections::HashMap;

type Key<'g> = (*const Family, *const Family, *const Family);

/// Memoised "these three nodes cannot hold at once" by counting.
pub struct Blocked<'g> {
    memo: HashMap<Key<'g>, bool>,
    /// Blocked aligned triples found, outermost last.
    pub found: Vec<(&'g Family, &'g Family, &'g Family)>,
}

impl<'g> Blocked<'g> {
    pub fn new() -> Self {
        Blocked {
            memo: HashMap::new(),
            found: Vec::new(),
        }
    }

    /// Whether `(a, b, c)` provably cannot hold at once; records every
    /// blocked triple met on the way (including this one) in `found`.
    pub fn check(&mut self, a: &'g Family, b: &'g Family, c: &'g Family) -> bool {
        let key: Key<'g> = (a, b, c);
        if let Some(&r) = self.memo.get(&key) {
            return r;
        }
        let r = self.compute(a, b, c);
        self.memo.insert(key, r);
        if r {
            self.found.push((a, b, c));
        }
        r
    }

    fn compute(&mut self, a: &'g Family, b: &'g Family, c: &'g Family) -> bool {
        // Acceptor items: in all three nodes -> at most 2 memberships, else
        // at most the number of nodes that list it.
        let all3 = a.accs().intersection(b.accs()).intersection(c.accs());
        let listed = a.accs().len() + b.accs().len() + c.accs().len();
        let mut cap = listed - all3.len();
        let (Some(am), Some(bm), Some(cm)) = (by_support(a), by_support(b), by_support(c)) else {
            return false;
        };
        cap += b.subs().len() + c.subs().len();
        for (sup, sa) in &am {
            match (bm.get(sup), cm.get(sup)) {
                (Some(sb), Some(sc)) => {
                    // Paired in all three: 2 if they cannot hold at once.
                    cap -= 2;
                    cap += if self.check(sa, sb, sc) { 2 } else { 3 };
                }
                (Some(_), None) | (None, Some(_)) => cap += 1,
                (None, None) => cap += 1,
            }
        }
        (a.k() as usize + b.k() as usize + c.k() as usize) > cap
    }
}

/// Sub-families keyed by support, or `None` when two share a support.
fn by_support(f: &Family) -> Option<HashMap<AccSet, &Family>> {
    let mut m = HashMap::with_capacity(f.subs().len());
    for s in f.subs() {
        if m.insert(s.support(), s).is_some() {
            return None;
        }
    }
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::AcceptorId;

    fn org(o: u16, k: u32) -> Family {
        Family::threshold(k, (o * 10..o * 10 + 10).map(AcceptorId).collect(), vec![])
    }

    fn nested(outer: u32, inner: u32) -> Family {
        Family::threshold(
            outer,
            AccSet::EMPTY,
            (0..10).map(|o| org(o, inner)).collect(),
        )
    }

    #[test]
    fn counting_blocks_byzantine_overlap_of_organisations() {
        // 7+7+8 > 2*10 in each organisation; then 7+7+7 > 2*10 organisations.
        let (q1, q2, s) = (nested(7, 7), nested(7, 7), nested(7, 8));
        let mut b = Blocked::new();
        assert!(b.check(&q1, &q2, &s));
        // 6+6+6 <= 20 at the top: no lemma (and indeed a counterexample exists).
        let (w1, w2) = (nested(6, 6), nested(6, 6));
        let mut b = Blocked::new();
        assert!(!b.check(&w1, &w2, &s));
    }
}
