//! `connected[a]`: the learner pairs an acceptor still treats as connected.
//!
//! Starts as `Learner \X Learner`; only shrinks, and only by `Disconnect`,
//! which removes pairs that evidence proves are not entangled.

use crate::ids::LearnerId;

/// A learner-pair matrix (`SUBSET (Learner \X Learner)`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Connected {
    n: usize,
    bits: Vec<bool>,
}

impl Connected {
    /// `connected[A] = Learner \X Learner` (Init).
    pub fn all(n: usize) -> Connected {
        Connected {
            n,
            bits: vec![true; n * n],
        }
    }

    /// `<<l1, l2>> \in connected[a]`.
    pub fn contains(&self, l1: LearnerId, l2: LearnerId) -> bool {
        #[cfg(feature = "mutations")]
        if crate::mutations::active(crate::mutations::Mutation::DropConnectedFilter) {
            return l1 == l2;
        }
        let (i, j) = (l1.index(), l2.index());
        i < self.n && j < self.n && self.bits[i * self.n + j]
    }

    /// Removes the ordered pair; returns whether it was present.
    pub fn remove(&mut self, l1: LearnerId, l2: LearnerId) -> bool {
        let (i, j) = (l1.index(), l2.index());
        if i < self.n && j < self.n {
            std::mem::replace(&mut self.bits[i * self.n + j], false)
        } else {
            false
        }
    }

    /// The pairs still connected, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (LearnerId, LearnerId)> + '_ {
        (0..self.n * self.n).filter(|k| self.bits[*k]).map(|k| {
            (
                LearnerId((k / self.n) as u16),
                LearnerId((k % self.n) as u16),
            )
        })
    }
}
