//! Sets of acceptors as fixed-size bitsets.
//!
//! Every quorum test in the core ("does this set contain a quorum of `l`?")
//! runs on an [`AccSet`]: membership, union and intersection are a few word
//! operations, and the type is `Copy`, so indexes can keep one per bucket.

use crate::ids::AcceptorId;
use serde::{Deserialize, Serialize};

/// The largest number of acceptors a configuration may have.
pub const MAX_ACCEPTORS: usize = 256;
const WORDS: usize = MAX_ACCEPTORS / 64;

/// A set of acceptors, as a bitset over [`AcceptorId`] indexes.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AccSet([u64; WORDS]);

impl AccSet {
    pub const EMPTY: AccSet = AccSet([0; WORDS]);

    /// The set `{0, .., n-1}` (all acceptors of an `n`-acceptor configuration).
    pub fn first_n(n: usize) -> AccSet {
        let mut s = AccSet::EMPTY;
        for i in 0..n.min(MAX_ACCEPTORS) {
            s.0[i / 64] |= 1 << (i % 64);
        }
        s
    }

    pub fn singleton(a: AcceptorId) -> AccSet {
        let mut s = AccSet::EMPTY;
        s.insert(a);
        s
    }

    /// Adds `a`; ids at or beyond [`MAX_ACCEPTORS`] are ignored (configurations
    /// are validated to stay below it).
    pub fn insert(&mut self, a: AcceptorId) -> bool {
        let i = a.index();
        if i >= MAX_ACCEPTORS {
            return false;
        }
        let (w, b) = (i / 64, 1u64 << (i % 64));
        let fresh = self.0[w] & b == 0;
        self.0[w] |= b;
        fresh
    }

    pub fn remove(&mut self, a: AcceptorId) {
        let i = a.index();
        if i < MAX_ACCEPTORS {
            self.0[i / 64] &= !(1u64 << (i % 64));
        }
    }

    pub fn contains(&self, a: AcceptorId) -> bool {
        let i = a.index();
        i < MAX_ACCEPTORS && self.0[i / 64] & (1u64 << (i % 64)) != 0
    }

    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    pub fn union(&self, o: &AccSet) -> AccSet {
        let mut r = *self;
        for (x, y) in r.0.iter_mut().zip(o.0.iter()) {
            *x |= *y;
        }
        r
    }

    pub fn intersection(&self, o: &AccSet) -> AccSet {
        let mut r = *self;
        for (x, y) in r.0.iter_mut().zip(o.0.iter()) {
            *x &= *y;
        }
        r
    }

    pub fn difference(&self, o: &AccSet) -> AccSet {
        let mut r = *self;
        for (x, y) in r.0.iter_mut().zip(o.0.iter()) {
            *x &= !*y;
        }
        r
    }

    pub fn is_subset(&self, o: &AccSet) -> bool {
        self.0.iter().zip(o.0.iter()).all(|(x, y)| x & !y == 0)
    }

    /// Number of members shared with `o` (one popcount per word).
    pub fn count_common(&self, o: &AccSet) -> usize {
        self.0
            .iter()
            .zip(o.0.iter())
            .map(|(x, y)| (x & y).count_ones() as usize)
            .sum()
    }

    /// Members in increasing id order.
    pub fn iter(&self) -> impl Iterator<Item = AcceptorId> + '_ {
        self.0.iter().enumerate().flat_map(|(w, word)| {
            let mut bits = *word;
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let t = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                Some(AcceptorId((w * 64 + t) as u16))
            })
        })
    }
}

impl FromIterator<AcceptorId> for AccSet {
    fn from_iter<T: IntoIterator<Item = AcceptorId>>(iter: T) -> Self {
        let mut s = AccSet::EMPTY;
        for a in iter {
            s.insert(a);
        }
        s
    }
}

impl std::fmt::Debug for AccSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter().map(|a| a.0)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_algebra_matches_a_btreeset() {
        let a: AccSet = [1, 5, 70, 200].iter().map(|&i| AcceptorId(i)).collect();
        let b: AccSet = [5, 70, 71].iter().map(|&i| AcceptorId(i)).collect();
        assert_eq!(a.len(), 4);
        assert_eq!(
            a.intersection(&b).iter().map(|x| x.0).collect::<Vec<_>>(),
            vec![5, 70]
        );
        assert_eq!(a.union(&b).len(), 5);
        assert_eq!(
            a.difference(&b).iter().map(|x| x.0).collect::<Vec<_>>(),
            vec![1, 200]
        );
        assert_eq!(a.count_common(&b), 2);
        assert!(a.intersection(&b).is_subset(&a));
        assert!(!a.is_subset(&b));
        assert!(AccSet::first_n(3).contains(AcceptorId(2)));
        assert!(!AccSet::first_n(3).contains(AcceptorId(3)));
        assert!(!a.contains(AcceptorId(999)));
    }
}
