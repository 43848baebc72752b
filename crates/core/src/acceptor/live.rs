//! What of an acceptor's received-message index can still matter: the
//! *live* part of its state, for the model checker's dead-message
//! reduction (`crates/check/src/dead.rs`, which carries the argument).
//!
//! An entry of the volatile index is **dead** when no guard of any later
//! step can read it with a result that matters, until the index is lost on
//! a restart (which loses every entry, dead or not, so two acceptors that
//! differ only in dead entries restart to the same state). Every rule below
//! rests on `maxBal[l, a]` (and so `max_any`) never decreasing between
//! restarts, and on which guard reads which entry:
//!
//! - `initialized (l, b)` with `b < maxBal[l, a]`: read only by the guards
//!   of `Phase1b(l, b)` and `Phase2av(l, b, _)`, both of which need
//!   `maxBal[l, a] =< b` (the deferral of 1b, the only other reader, is off
//!   here).
//! - `announced[b]` with `b < maxBal[L, a]` for every learner `L`: read only
//!   by `Phase2av(L, b, _)` (needs `maxBal[L, a] =< b`) and by `on_1c`'s
//!   test of a repeated 1c, whose other branch (a retransmission) sends
//!   only messages this acceptor sent before.
//! - `two_av[(l, b, v)]` with `b < max_any` or a vote `(l, b, v)` already
//!   cast: read only by `Phase2b(l, b, v)`, which needs
//!   `max_L maxBal[L, a] =< b` and no such vote yet (the deferral and the
//!   signed proposals, the other readers, are off here).
//!
//! The rules follow the guards as mutated: a mutation that drops the
//! `maxBal` conjunct of a guard (or widens what `Phase2av` reads of
//! `announced`) turns the matching rule off, so a mutant's dead entries
//! are dead in the mutant too. Everything else (the 1b buckets, read for
//! equivocation evidence at any ballot; the durable state; connections,
//! evidence, range state) is always live. With the late steps, the 1b
//! deferral, signed proposals or any range state, nothing is pruned
//! ([`Acceptor::prunable`] is false and the live hash is the whole state).
//!
//! Answering "live" where "dead" would do is always safe (the checker just
//! merges fewer states); the converse is not, so every test errs that way.

use super::{Acceptor, SlotState};
use crate::ids::{Ballot, LearnerId};
use crate::msg::Message;
use crate::value::Digest;
use std::hash::{Hash, Hasher};

impl Acceptor {
    /// Whether dead entries are pruned at all (see the module doc).
    pub fn prunable(&self) -> bool {
        !self.opts.late
            && !self.opts.defer_1b
            && !self.opts.signed_proposals
            && self.promises.is_empty()
            && self.ranges == super::range::Received::default()
    }

    /// Hashes the acceptor's live state: everything [`Hash`] hashes but
    /// the dead entries of the index. Two acceptors with equal live hashes
    /// (and equal ids, trust, options) take the same steps from here on,
    /// up to those entries.
    pub fn hash_live<H: Hasher>(&self, h: &mut H) {
        if !self.prunable() {
            self.hash(h);
            return;
        }
        self.id.hash(h);
        self.trust.hash(h);
        self.opts.hash(h);
        self.connected.hash(h);
        self.faulty.hash(h);
        self.compacted_below.hash(h);
        self.slots.len().hash(h);
        for (slot, st) in &self.slots {
            slot.hash(h);
            self.hash_slot_live(st, h);
        }
    }

    fn hash_slot_live<H: Hasher>(&self, st: &SlotState, h: &mut H) {
        st.d.hash(h);
        st.max_any.hash(h);
        let idx = &st.idx;
        let init: Vec<_> = idx
            .initialized
            .iter()
            .filter(|(l, b)| !dead_initialized(st, *l, *b))
            .collect();
        init.hash(h);
        let floor = self.announced_floor(st);
        let ann: Vec<_> = idx
            .announced
            .iter()
            .filter(|(b, _)| floor.is_none_or(|f| **b >= f))
            .collect();
        ann.hash(h);
        idx.one_b.hash(h);
        let two: Vec<_> = idx
            .two_av
            .iter()
            .filter(|((l, b, d), _)| !dead_2av(st, *l, *b, d))
            .collect();
        two.hash(h);
        idx.two_b_seen.hash(h);
        idx.own_deferrals.hash(h);
    }

    /// The ballot below which `announced` is dead (`None`: none is).
    // Without the `mutations` feature both mutants are `false`.
    #[allow(clippy::nonminimal_bool)]
    fn announced_floor(&self, st: &SlotState) -> Option<Ballot> {
        if mutant!(Phase2avIgnoreMaxBal) || mutant!(Phase2avAnnouncedAnyBallot) {
            return None;
        }
        self.trust.learners().map(|l| st.max_bal(l)).min()
    }

    /// Would receiving `m` now change only dead entries of the index and
    /// send nothing new, now and (the entries staying dead) later? Then
    /// whether it was received does not matter: the checker forgets it.
    /// Only 2av and 1c are ever answered yes.
    pub fn absorbs_dead(&self, m: &Message) -> bool {
        if !self.prunable() || self.admit(m).is_err() {
            return false;
        }
        match m {
            // `on_2av`: the senders of `(l, b, v)` grow, then `Phase2b(l, b,
            // v)` is tried, whose guard fails (see `dead_2av`).
            Message::M2av(x) => self
                .slots
                .get(&x.slot)
                .is_some_and(|st| dead_2av(st, x.lr, x.bal, &x.val.digest())),
            // `on_1c`: `announced[b]` grows and `Phase2av(L, b, _)` is tried
            // for every learner, each failing on `maxBal[L, a] =< b`; or it
            // was announced before and only old messages are sent again.
            Message::M1c(x) => self
                .slots
                .get(&x.slot)
                .is_some_and(|st| self.announced_floor(st).is_some_and(|f| x.bal < f)),
            _ => false,
        }
    }
}

/// `initialized (l, b)` can no longer enable anything.
fn dead_initialized(st: &SlotState, l: LearnerId, b: Ballot) -> bool {
    !mutant!(Phase1bIgnoreMaxBal) && !mutant!(Phase2avIgnoreMaxBal) && b < st.max_bal(l)
}

/// The 2av senders of `(l, b, v)` can no longer enable `Phase2b(l, b, v)`.
fn dead_2av(st: &SlotState, l: LearnerId, b: Ballot, d: &Digest) -> bool {
    let voted =
        st.d.votes_sent
            .iter()
            .any(|v| v.lr == l && v.bal == b && v.val.digest() == *d);
    let below = if mutant!(Phase2bIgnoreMaxBal) {
        false
    } else if mutant!(Phase2bOwnLearnerMaxBal) {
        b < st.max_bal(l)
    } else {
        b < st.max_any
    };
    voted || below
}
