//! Message interning and message bitsets: the model's network state.
//!
//! Every distinct [`Message`] that appears during a model-checking run gets a
//! dense id, shared by all checker threads. A state then keeps the set of
//! messages sent (the spec's `msgs`) and, per recipient, the set already
//! delivered, as bitsets over those ids: cheap to clone, hash and compare.
//! Ids are assigned in discovery order, which may differ between runs with
//! several threads; within one run the map is a bijection, so two states are
//! equal exactly when their message sets are.

use hpaxos_core::Message;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Dense id of an interned message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MsgId(pub u32);

/// The shared message table of one run.
#[derive(Debug, Default)]
pub struct Interner {
    inner: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    ids: HashMap<Message, MsgId>,
    msgs: Vec<Arc<Entry>>,
}

/// An interned message and the actors it is routed to.
#[derive(Debug)]
pub struct Entry {
    pub msg: Message,
    pub to: Vec<usize>,
}

impl Interner {
    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        match self.inner.lock() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The id of `m`, assigning a fresh one (routed by `route`) on first sight.
    pub fn intern(&self, m: &Message, route: impl FnOnce(&Message) -> Vec<usize>) -> MsgId {
        let mut t = self.table();
        if let Some(id) = t.ids.get(m) {
            return *id;
        }
        let id = MsgId(t.msgs.len() as u32);
        let to = route(m);
        t.msgs.push(Arc::new(Entry { msg: m.clone(), to }));
        t.ids.insert(m.clone(), id);
        id
    }

    /// The message with id `id` (ids only come from [`Interner::intern`]).
    pub fn get(&self, id: MsgId) -> Option<Arc<Message>> {
        self.entry(id).map(|e| Arc::new(e.msg.clone()))
    }

    pub fn entry(&self, id: MsgId) -> Option<Arc<Entry>> {
        self.table().msgs.get(id.0 as usize).cloned()
    }

    /// The entries of `ids`, under one lock.
    pub fn entries(&self, ids: impl Iterator<Item = MsgId>) -> Vec<(MsgId, Arc<Entry>)> {
        let t = self.table();
        ids.filter_map(|id| t.msgs.get(id.0 as usize).map(|e| (id, Arc::clone(e))))
            .collect()
    }

    /// Number of distinct messages seen so far.
    pub fn len(&self) -> usize {
        self.table().msgs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A set of message ids. Canonical (no trailing zero words), so the derived
/// equality and hash are those of the set.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Bits {
    words: Vec<u64>,
}

impl Bits {
    pub fn contains(&self, id: MsgId) -> bool {
        let i = id.0 as usize;
        self.words
            .get(i / 64)
            .is_some_and(|w| w & (1u64 << (i % 64)) != 0)
    }

    /// Adds `id`; returns whether it was new.
    pub fn insert(&mut self, id: MsgId) -> bool {
        let i = id.0 as usize;
        if self.words.len() <= i / 64 {
            self.words.resize(i / 64 + 1, 0);
        }
        let bit = 1u64 << (i % 64);
        let fresh = self.words[i / 64] & bit == 0;
        self.words[i / 64] |= bit;
        fresh
    }

    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }

    /// Members in increasing id order.
    pub fn iter(&self) -> impl Iterator<Item = MsgId> + '_ {
        self.words.iter().enumerate().flat_map(|(w, word)| {
            let mut bits = *word;
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let t = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                Some(MsgId((w * 64 + t) as u32))
            })
        })
    }
}

impl std::fmt::Debug for Bits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter().map(|m| m.0)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hpaxos_core::{Ballot, LearnerId, Msg1a, Slot};

    #[test]
    fn interning_is_a_bijection_and_bits_are_canonical_sets() {
        let t = Interner::default();
        let m = |b| {
            Message::M1a(Msg1a {
                slot: Slot(0),
                lr: LearnerId(0),
                bal: Ballot(b),
            })
        };
        let a = t.intern(&m(1), |_| vec![0]);
        let b = t.intern(&m(2), |_| vec![1]);
        assert_ne!(a, b);
        assert_eq!(t.intern(&m(1), |_| vec![]), a);
        assert_eq!(t.entry(a).map(|e| e.to.clone()), Some(vec![0]));
        assert_eq!(t.get(b).as_deref(), Some(&m(2)));
        let mut x = Bits::default();
        let mut y = Bits::default();
        assert!(x.insert(MsgId(70)));
        assert!(!x.insert(MsgId(70)));
        x.insert(MsgId(3));
        y.insert(MsgId(3));
        y.insert(MsgId(70));
        assert_eq!(x, y);
        assert_eq!(x.iter().collect::<Vec<_>>(), vec![MsgId(3), MsgId(70)]);
        assert_eq!(x.len(), 2);
    }
}
