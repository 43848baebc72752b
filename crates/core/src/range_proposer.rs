//! The proposer side of range Phase 1: one range 1a per learner when a
//! leadership starts, then a 1c for each slot the range 1b quorum proves
//! free, with no per-slot Phase 1.
//!
//! Where it sits: beside [`crate::proposer::Proposer`] (per-slot rounds,
//! which stay the way to run a slot the ranges do not prove free). It takes
//! the range 1b the acceptors send ([`RangeProposer::handle`]) and answers
//! [`RangeProposer::free`] for a slot: every learner of the leadership has a
//! quorum of range 1b at the leadership's ballot that report nothing for
//! the slot. Each such 1b stands for the slot's spec 1b with empty `votes`
//! and `proposals` (see [`crate::acceptor::range`]), so `KnowsSafeAt1` holds
//! for that learner, slot and ballot for any value, in any acceptor's view;
//! [`RangeProposer::phase_1c`] then announces the value (`Phase1c`, which has
//! no guard: safety rests on the acceptors' `KnowsSafeAt` as always). A slot
//! some report names is not free: it needs the per-slot proposer's choice of
//! value (`KnowsSafeAt2`), and is left to it.

use crate::accset::AccSet;
use crate::effects::{Effects, SpecAction};
use crate::ids::{AcceptorId, Ballot, LearnerId, Slot};
use crate::msg::{Message, Msg1aRange, Msg1bRange, Msg1c};
use crate::trust::Trust;
use crate::value::Value;
use std::collections::BTreeMap;

/// One leadership: a ballot for some learners from a slot on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Leadership {
    from: Slot,
    bal: Ballot,
    learners: Vec<LearnerId>,
    /// The range 1b received at `(l, bal)`, one per sender (the first; a
    /// second, different one from the same sender is ignored here and is
    /// evidence at the acceptors).
    one_b: BTreeMap<(LearnerId, AcceptorId), Msg1bRange>,
}

/// The proposer of range Phase 1 (one leadership at a time).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RangeProposer {
    trust: Trust,
    current: Option<Leadership>,
}

impl RangeProposer {
    pub fn new(trust: Trust) -> RangeProposer {
        RangeProposer {
            trust,
            current: None,
        }
    }

    /// The ballot and first slot of the current leadership.
    pub fn leadership(&self) -> Option<(Slot, Ballot)> {
        self.current.as_ref().map(|c| (c.from, c.bal))
    }

    /// Starts a leadership: `Phase1a(l, bal)` in every slot from `from`
    /// on, for each learner, as one range 1a per learner.
    pub fn start(&mut self, from: Slot, learners: &[LearnerId], bal: Ballot, fx: &mut Effects) {
        self.current = Some(Leadership {
            from,
            bal,
            learners: learners.to_vec(),
            one_b: BTreeMap::new(),
        });
        for &l in learners {
            self.phase_1a_range(from, l, bal, fx);
        }
    }

    /// `Phase1a(l, b)` in every slot `k >= from`:
    /// ```text
    /// \A k >= from : Send_k([type |-> "1a", lr |-> l, bal |-> b])
    /// ```
    pub fn phase_1a_range(&mut self, from: Slot, l: LearnerId, b: Ballot, fx: &mut Effects) {
        fx.action(|| SpecAction::Phase1aRange {
            from,
            lr: l,
            bal: b,
        });
        fx.send.push(Message::M1aRange(Msg1aRange {
            from,
            lr: l,
            bal: b,
        }));
    }

    /// Takes a range 1b of the current leadership (others are ignored).
    pub fn handle(&mut self, msg: &Message) {
        let (Some(c), Message::M1bRange(m)) = (&mut self.current, msg) else {
            return;
        };
        if m.bal != c.bal || m.from > c.from || !c.learners.contains(&m.lr) || !m.well_formed() {
            return;
        }
        if m.acc.index() >= self.trust.n_acceptors() {
            return;
        }
        c.one_b.entry((m.lr, m.acc)).or_insert_with(|| m.clone());
    }

    /// Acceptors whose range 1b for learner `l` report nothing for `slot`.
    fn silent_at(&self, c: &Leadership, l: LearnerId, slot: Slot) -> AccSet {
        c.one_b
            .iter()
            .filter(|((ml, _), m)| {
                *ml == l && m.covers(slot) && m.reports.iter().all(|r| r.slot != slot)
            })
            .map(|((_, a), _)| *a)
            .collect()
    }

    /// The learners the current leadership runs for.
    pub fn learners(&self) -> &[LearnerId] {
        self.current.as_ref().map_or(&[], |c| &c.learners)
    }

    /// Ends the current leadership (this proposer no longer leads).
    pub fn stop(&mut self) {
        self.current = None;
    }

    /// Sends the range 1a of the current leadership again, for each of its
    /// learners that has no quorum of range 1b yet (after loss).
    pub fn retransmit(&mut self, fx: &mut Effects) {
        let Some(c) = &self.current else {
            return;
        };
        let (from, bal) = (c.from, c.bal);
        let waiting: Vec<LearnerId> = c
            .learners
            .iter()
            .copied()
            .filter(|&l| {
                let heard: AccSet = c
                    .one_b
                    .keys()
                    .filter(|(ml, _)| *ml == l)
                    .map(|(_, a)| *a)
                    .collect();
                !self.trust.is_quorum(l, &heard)
            })
            .collect();
        for l in waiting {
            self.phase_1a_range(from, l, bal, fx);
        }
    }

    /// Does some range 1b of the current leadership report `slot` (a vote
    /// or a proposal there)? Such a slot is not free: its value is the
    /// per-slot proposer's to choose (`KnowsSafeAt2`).
    pub fn reported(&self, slot: Slot) -> bool {
        self.current.as_ref().is_some_and(|c| {
            c.one_b
                .values()
                .any(|m| m.covers(slot) && m.reports.iter().any(|r| r.slot == slot))
        })
    }

    /// Is `slot` free for each of `learners` in the current leadership (a
    /// quorum of range 1b of each that report nothing for it)? False for a
    /// learner outside the leadership.
    pub fn free_for(&self, slot: Slot, learners: &[LearnerId]) -> bool {
        let Some(c) = &self.current else {
            return false;
        };
        slot >= c.from
            && !learners.is_empty()
            && learners.iter().all(|&l| {
                c.learners.contains(&l) && self.trust.is_quorum(l, &self.silent_at(c, l, slot))
            })
    }

    /// Is `slot` free for the current leadership: for every learner, a
    /// quorum of range 1b that report nothing for it (`KnowsSafeAt1` for
    /// any value)?
    pub fn free(&self, slot: Slot) -> bool {
        let Some(c) = &self.current else {
            return false;
        };
        slot >= c.from
            && c.learners
                .iter()
                .all(|&l| self.trust.is_quorum(l, &self.silent_at(c, l, slot)))
    }

    /// `Phase1c(l, b, v)` for every learner of the leadership, in a free
    /// slot: the steady-state slot's only proposer message. False (and
    /// nothing sent) when the slot is not free.
    pub fn phase_1c(&mut self, slot: Slot, v: Value, fx: &mut Effects) -> bool {
        if !self.free(slot) {
            return false;
        }
        let Some(c) = &self.current else {
            return false;
        };
        for &l in &c.learners {
            let b = c.bal;
            let val = v.clone();
            fx.action(|| SpecAction::Phase1c {
                slot,
                lr: l,
                bal: b,
                val,
            });
            fx.send.push(Message::M1c(Msg1c {
                slot,
                lr: l,
                bal: b,
                val: v.clone(),
            }));
        }
        true
    }
}
