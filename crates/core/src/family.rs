//! Upward-closed families of acceptor sets, compiled from set expressions.
//!
//! A [`Family`] is a threshold tree: "at least `k` of these items hold", where
//! an item is an acceptor or a nested family. `all`, `any` and explicit lists
//! of minimal sets are special cases. Testing membership of an [`AccSet`]
//! costs one popcount per node, so quorum tests in the protocol are cheap.
//! Families are monotone: if a set is in the family, so is every superset.

use crate::accset::AccSet;
use crate::ids::AcceptorId;
use serde::{Deserialize, Serialize};

/// "At least `k` of (`accs` ∪ `subs`) hold": an upward-closed set family.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Family {
    k: u32,
    accs: AccSet,
    subs: Vec<Family>,
}

impl Family {
    /// `INT of { items }`: at least `k` of the acceptors and sub-families hold.
    pub fn threshold(k: u32, accs: AccSet, subs: Vec<Family>) -> Family {
        Family { k, accs, subs }
    }

    /// The family of all supersets of `set` (`all {set}`).
    pub fn superset_of(set: AccSet) -> Family {
        Family::threshold(set.len() as u32, set, Vec::new())
    }

    /// Explicit minimal sets: any superset of one of them.
    pub fn any_superset_of(sets: &[AccSet]) -> Family {
        Family::any(sets.iter().map(|s| Family::superset_of(*s)).collect())
    }

    pub fn acceptor(a: AcceptorId) -> Family {
        Family::superset_of(AccSet::singleton(a))
    }

    /// Every item holds.
    pub fn all(items: Vec<Family>) -> Family {
        let k = items.len() as u32;
        Family::threshold(k, AccSet::EMPTY, items)
    }

    /// At least one item holds (`any {}` is the empty family).
    pub fn any(items: Vec<Family>) -> Family {
        Family::threshold(1, AccSet::EMPTY, items)
    }

    /// The family that contains no set at all.
    pub fn never() -> Family {
        Family::any(Vec::new())
    }

    pub fn k(&self) -> u32 {
        self.k
    }
    pub fn accs(&self) -> &AccSet {
        &self.accs
    }
    pub fn subs(&self) -> &[Family] {
        &self.subs
    }

    /// Number of items (acceptors plus sub-families) at this node.
    pub fn item_count(&self) -> usize {
        self.accs.len() + self.subs.len()
    }

    /// Is `set` a member of the family (does it contain a minimal set of it)?
    pub fn contains(&self, set: &AccSet) -> bool {
        let k = self.k as usize;
        let mut count = self.accs.count_common(set);
        if count >= k {
            return true;
        }
        // Not enough even if every sub-family holds: stop early.
        if count + self.subs.len() < k {
            return false;
        }
        for (i, sub) in self.subs.iter().enumerate() {
            if sub.contains(set) {
                count += 1;
                if count >= k {
                    return true;
                }
            } else if count + (self.subs.len() - i - 1) < k {
                return false;
            }
        }
        false
    }

    /// Every acceptor mentioned anywhere in the expression.
    pub fn support(&self) -> AccSet {
        self.subs
            .iter()
            .fold(self.accs, |acc, s| acc.union(&s.support()))
    }

    /// Whether the family has any member at all (the full support set is the
    /// largest candidate, and families are monotone).
    pub fn is_satisfiable(&self) -> bool {
        self.contains(&self.support())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[u16]) -> AccSet {
        ids.iter().map(|&i| AcceptorId(i)).collect()
    }

    #[test]
    fn three_of_four_is_a_threshold() {
        let f = Family::threshold(3, set(&[0, 1, 2, 3]), vec![]);
        assert!(f.contains(&set(&[0, 1, 2])));
        assert!(f.contains(&set(&[0, 1, 2, 3, 9])));
        assert!(!f.contains(&set(&[0, 1, 9])));
    }

    #[test]
    fn nested_thresholds_across_organisations() {
        // 2 of {3 of {a0..a3}, 3 of {a4..a7}, a8}
        let org1 = Family::threshold(3, set(&[0, 1, 2, 3]), vec![]);
        let org2 = Family::threshold(3, set(&[4, 5, 6, 7]), vec![]);
        let f = Family::threshold(2, set(&[8]), vec![org1, org2]);
        assert!(f.contains(&set(&[0, 1, 2, 8])));
        assert!(f.contains(&set(&[0, 1, 2, 4, 5, 6])));
        assert!(!f.contains(&set(&[0, 1, 4, 5, 8])));
        assert_eq!(f.support(), set(&[0, 1, 2, 3, 4, 5, 6, 7, 8]));
    }

    #[test]
    fn empty_any_is_never_and_empty_all_is_always() {
        assert!(!Family::never().contains(&set(&[0, 1])));
        assert!(!Family::never().is_satisfiable());
        assert!(Family::all(vec![]).contains(&AccSet::EMPTY));
    }
}
