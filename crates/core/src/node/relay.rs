//! The signed 2av a node's acceptor may have to relay.
//!
//! Where it sits: [`super::NodeCore::protocol`] keeps the proof (the
//! signed frame in the node, nothing in the simulator) of every 2av that
//! reaches it; when the acceptor sends a 1b that reports a vote, it asks
//! for the 2av behind that vote to be relayed (`Effects::relay`,
//! `Acceptor::relay_votes`), and the node sends them, with their proofs,
//! as one [`super::Control::Relay`] to every peer, which feeds each one
//! through its node like a 2av received from its sender. The receiver can
//! then count a proposal that its sender denies in its own 1b
//! (`crate::ksa_index::OneBBucket::add_2av`).
//!
//! Bounded: at most [`PER_SLOT`] proofs per slot (the first ones: a safe
//! acceptor sends a 2av per learner and ballot, so only a Byzantine one
//! fills a slot), dropped with the slot at compaction.

use crate::ids::{AcceptorId, Ballot, LearnerId, Slot};
use crate::msg::Msg2av;
use crate::value::Digest;
use std::collections::BTreeMap;

/// Proofs kept per slot.
pub const PER_SLOT: usize = 64;

type Key = (Slot, LearnerId, Ballot, AcceptorId, Digest);

/// Proofs of received 2av, by slot.
#[derive(Clone, Debug)]
pub struct Proofs2av<P> {
    proofs: BTreeMap<Key, P>,
    per_slot: BTreeMap<Slot, usize>,
}

impl<P> Default for Proofs2av<P> {
    fn default() -> Self {
        Proofs2av {
            proofs: BTreeMap::new(),
            per_slot: BTreeMap::new(),
        }
    }
}

fn key(m: &Msg2av) -> Key {
    (m.slot, m.lr, m.bal, m.acc, m.val.digest())
}

impl<P: Clone> Proofs2av<P> {
    /// Keeps the proof of `m` unless the slot is full or it is held.
    pub fn note(&mut self, m: &Msg2av, proof: P) {
        let n = self.per_slot.entry(m.slot).or_default();
        if *n >= PER_SLOT {
            return;
        }
        if let std::collections::btree_map::Entry::Vacant(e) = self.proofs.entry(key(m)) {
            e.insert(proof);
            *n += 1;
        }
    }

    /// The proof of `m`, if held.
    pub fn get(&self, m: &Msg2av) -> Option<&P> {
        self.proofs.get(&key(m))
    }

    /// Drops every slot below `below`.
    pub fn compact(&mut self, below: Slot) {
        self.proofs = self.proofs.split_off(&(
            below,
            LearnerId(0),
            Ballot(0),
            AcceptorId(0),
            Digest([0; 32]),
        ));
        self.per_slot = self.per_slot.split_off(&below);
    }

    /// Proofs held.
    pub fn len(&self) -> usize {
        self.proofs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.proofs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    fn m(slot: u64, acc: u16, val: &str) -> Msg2av {
        Msg2av {
            slot: Slot(slot),
            lr: LearnerId(0),
            acc: AcceptorId(acc),
            bal: Ballot(1),
            val: Value::new(val.as_bytes().to_vec()),
        }
    }

    #[test]
    fn keeps_the_first_proof_per_message_bounded_per_slot_and_compacts() {
        let mut p = Proofs2av::default();
        p.note(&m(1, 0, "x"), 10u32);
        p.note(&m(1, 0, "x"), 11);
        assert_eq!(p.get(&m(1, 0, "x")), Some(&10));
        assert_eq!(p.get(&m(1, 0, "y")), None);
        for k in 0..2 * PER_SLOT {
            p.note(&m(2, 1, &format!("v{k}")), k as u32);
        }
        assert_eq!(p.len(), 1 + PER_SLOT);
        p.compact(Slot(2));
        assert_eq!(p.get(&m(1, 0, "x")), None);
        assert_eq!(p.len(), PER_SLOT);
    }
}
