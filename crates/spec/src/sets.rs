//! Finite sets used by the reference model's state.
//!
//! [`IdSet`] is a set of hash-consed records (messages, learner pairs) given
//! by their dense ids: a bitset kept in canonical form (no trailing zero
//! words), so that equal sets are equal and hash equally. [`SortedSet`] is a
//! set of small records (votes, decisions) kept as a sorted vector. Both are
//! plain sets: the model's operations on them are the spec's `\in`, `\cup`,
//! `\` and set comprehension.

/// A set of dense ids (bitset, canonical form). The first 64 ids live
/// inline, so cloning a small set allocates nothing.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdSet {
    first: u64,
    /// Words 1.. (no trailing zero words).
    rest: Vec<u64>,
}

impl IdSet {
    pub const fn new() -> IdSet {
        IdSet {
            first: 0,
            rest: Vec::new(),
        }
    }

    fn nwords(&self) -> usize {
        1 + self.rest.len()
    }

    fn word(&self, i: usize) -> u64 {
        if i == 0 {
            self.first
        } else {
            self.rest.get(i - 1).copied().unwrap_or(0)
        }
    }

    pub fn contains(&self, id: u32) -> bool {
        self.word(id as usize / 64) & (1u64 << (id % 64)) != 0
    }

    /// Adds `id`; returns whether it was new.
    pub fn insert(&mut self, id: u32) -> bool {
        let (w, b) = (id as usize / 64, 1u64 << (id % 64));
        let x = if w == 0 {
            &mut self.first
        } else {
            if self.rest.len() < w {
                self.rest.resize(w, 0);
            }
            &mut self.rest[w - 1] // ok: resized just above
        };
        let fresh = *x & b == 0;
        *x |= b;
        fresh
    }

    /// Removes `id`; returns whether it was present.
    pub fn remove(&mut self, id: u32) -> bool {
        let was = self.contains(id);
        let (w, b) = (id as usize / 64, 1u64 << (id % 64));
        if w == 0 {
            self.first &= !b;
        } else if let Some(x) = self.rest.get_mut(w - 1) {
            *x &= !b;
        }
        while self.rest.last() == Some(&0) {
            self.rest.pop();
        }
        was
    }

    pub fn is_empty(&self) -> bool {
        self.first == 0 && self.rest.is_empty()
    }

    pub fn len(&self) -> usize {
        (0..self.nwords())
            .map(|i| self.word(i).count_ones() as usize)
            .sum()
    }

    /// `self \subseteq o`.
    pub fn is_subset(&self, o: &IdSet) -> bool {
        (0..self.nwords()).all(|i| self.word(i) & !o.word(i) == 0)
    }

    /// Members in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.nwords()).flat_map(move |w| bits(w, self.word(w)))
    }

    /// Members of `self` not in `o`.
    pub fn iter_minus<'a>(&'a self, o: &'a IdSet) -> impl Iterator<Item = u32> + 'a {
        (0..self.nwords()).flat_map(move |w| bits(w, self.word(w) & !o.word(w)))
    }
}

fn bits(w: usize, word: u64) -> impl Iterator<Item = u32> {
    let mut bits = word;
    std::iter::from_fn(move || {
        if bits == 0 {
            return None;
        }
        let t = bits.trailing_zeros();
        bits &= bits - 1;
        Some(w as u32 * 64 + t)
    })
}

impl FromIterator<u32> for IdSet {
    fn from_iter<T: IntoIterator<Item = u32>>(iter: T) -> Self {
        let mut s = IdSet::new();
        for i in iter {
            s.insert(i);
        }
        s
    }
}

impl std::fmt::Debug for IdSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// A set of records as a sorted vector without duplicates.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SortedSet<T>(Vec<T>);

impl<T> Default for SortedSet<T> {
    fn default() -> Self {
        SortedSet(Vec::new())
    }
}

impl<T: Ord> SortedSet<T> {
    pub const fn new() -> SortedSet<T> {
        SortedSet(Vec::new())
    }

    pub fn contains(&self, x: &T) -> bool {
        self.0.binary_search(x).is_ok()
    }

    /// Adds `x`; returns whether it was new.
    pub fn insert(&mut self, x: T) -> bool {
        match self.0.binary_search(&x) {
            Ok(_) => false,
            Err(i) => {
                self.0.insert(i, x);
                true
            }
        }
    }

    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[T] {
        &self.0
    }
}

impl<T: Ord> FromIterator<T> for SortedSet<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut v: Vec<T> = iter.into_iter().collect();
        v.sort();
        v.dedup();
        SortedSet(v)
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for SortedSet<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idset_is_canonical_after_remove() {
        let mut a = IdSet::new();
        a.insert(3);
        a.insert(130);
        a.remove(130);
        let b: IdSet = [3].into_iter().collect();
        assert_eq!(a, b);
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![3]);
        assert!(b.is_subset(&a));
        let c: IdSet = [3, 70].into_iter().collect();
        assert_eq!(c.iter_minus(&a).collect::<Vec<_>>(), vec![70]);
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn sorted_set_dedups() {
        let s: SortedSet<u8> = [3, 1, 3, 2].into_iter().collect();
        assert_eq!(s.as_slice(), &[1, 2, 3]);
        let mut t = SortedSet::new();
        assert!(t.insert(2u8));
        assert!(!t.insert(2));
        assert!(t.contains(&2));
    }
}
