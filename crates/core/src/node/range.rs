//! Range Phase 1 at the node's leader: Phase 1 once per leadership, so a
//! steady-state slot is 1c -> 2av -> 2b (issue 9, item 1).
//!
//! Where it sits: inside [`super::NodeCore`], between the pacemaker's
//! [`Action`](crate::pacemaker::Action)s and the per-slot
//! [`Proposer`](crate::proposer::Proposer). When this node's pacemaker
//! leads (and `takeover_grace` after it began to, so that the answers to
//! the takeover's vote query have moved the pacemaker's first fresh slot
//! past every slot in use), [`RangeLead`] starts a leadership: one range 1a
//! per learner ([`RangeProposer::start`]) from the pacemaker's first slot
//! not started, at an owned ballot above every ballot the pacemaker has
//! seen and its floor ([`Pacemaker::leadership_ballot`]); the pacemaker
//! gives every slot from there that ballot as its first one
//! ([`Pacemaker::lead_from`]). The range 1b come back through
//! [`super::NodeCore`]'s message loop (`on_1b_range`). A slot's first
//! ballot (an [`Action::Start`] at the leadership ballot) then goes:
//!
//! - **free** (for every learner of the start, a quorum of range 1b that
//!   report nothing for the slot): `Phase1c` at once
//!   ([`Proposer::start_ranged`]), no per-slot 1a or 1b;
//! - **reported** (some range 1b names a vote or proposal there): today's
//!   per-slot round at the same ballot ([`Proposer::start_for`]), whose 1b
//!   carry what `KnowsSafeAt2` needs to choose the value;
//! - **not yet known** (range 1b missing): the slot waits for them; if the
//!   slot's timeout comes first the pacemaker retransmits (the range 1a
//!   again) and then starts a per-slot ballot above the leadership's, as
//!   for any ballot that did not complete.
//!
//! A range 1b above the leadership ballot (an acceptor promised a higher
//! one: a rival leader's) or a learner newly served (its quorum heard
//! again) ends the leadership: its waiting slots become per-slot rounds at
//! their ballot and a new leadership starts, at a ballot above the one
//! seen, from the next slot not started (so no slot in flight changes
//! ballot). Stepping down ends it too.
//!
//! # Why the node's use is a refinement of the spec
//!
//! Each range message is, by definition, the set of per-slot spec messages
//! it stands for ([`crate::acceptor::range`] argues the acceptor side:
//! a range 1b is one `Phase1b` step in every slot it covers, and its
//! promise is `maxBal`). On the proposer side:
//!
//! - *The range 1a* is `Phase1a(l, b)` in every slot `k >= from`: an action
//!   without guard, recorded as [`crate::effects::SpecAction::Phase1aRange`],
//!   which the refinement checker (`hpaxos_spec::Refinement`) expands into
//!   one `Phase1a` per slot instance, including instances created later.
//! - *The 1c of a free slot* is `Phase1c(l, b, v)`, also without guard, in
//!   one slot: recorded and checked exactly as a per-slot 1c. What makes it
//!   useful (not what makes it allowed) is that every acceptor holds, for
//!   that slot, the range 1b of a quorum of `l` at `b` with empty `votes`
//!   and `proposals` there, so `KnowsSafeAt1(l, b)` holds for it (the
//!   acceptor's guard for `Phase2av`, checked there, not here).
//! - *Ballots.* The leadership ballot is above every ballot this proposer
//!   saw, so its range 1a do not step below a ballot in use; per-slot
//!   retries go above it (the pacemaker's next owned ballot above the
//!   slot's current one); and no acceptor lets an old ballot through a
//!   promise: a range promise is `maxBal[l, a]` of every slot it covers,
//!   so a 1b, 2av or 2b below it is refused by the guards of `Phase1b`,
//!   `Phase2av` and `Phase2b` in those slots (`acceptor::range`).
//! - *Byzantine acceptors.* A fake acceptor's range 1b (one that hides a
//!   slot's vote: the simulator's `range_lie`) is `FakeSend` of each of
//!   its elements, in its own name. Calling a slot free on it is a
//!   `Phase1c`, which has no guard; safe acceptors propose only where
//!   their own `KnowsSafeAt` holds, and the quorum intersection argument
//!   of the spec applies to each slot unchanged.
//!
//! Nothing here changes what an acceptor or learner does: the proposer's
//! choices (when, which ballot, which value) are liveness only.

use super::NodeCore;
use crate::accset::AccSet;
use crate::ids::{Ballot, LearnerId, Slot};
use crate::msg::Msg1bRange;
use crate::pacemaker::Tick;
use crate::range_proposer::RangeProposer;
use crate::trust::Trust;
use crate::value::Value;
use std::collections::BTreeMap;

/// The first ballot of a slot waiting for the leadership's range 1b.
#[derive(Clone, Debug)]
struct Waiting {
    bal: Ballot,
    value: Value,
    learners: Vec<LearnerId>,
}

/// The range Phase 1 state of a proposer node (see the module doc).
#[derive(Clone, Debug)]
pub struct RangeLead {
    rp: RangeProposer,
    waiting: BTreeMap<Slot, Waiting>,
    /// When this node's pacemaker began to lead (the leadership starts
    /// `takeover_grace` later).
    since: Option<Tick>,
    /// Highest ballot of a range 1b above the leadership's: a new
    /// leadership goes above it.
    above: Ballot,
}

impl RangeLead {
    pub fn new(trust: Trust) -> RangeLead {
        RangeLead {
            rp: RangeProposer::new(trust),
            waiting: BTreeMap::new(),
            since: None,
            above: Ballot::ZERO,
        }
    }

    /// The current leadership, `(from, ballot)`.
    pub fn leadership(&self) -> Option<(Slot, Ballot)> {
        self.rp.leadership()
    }

    /// Forgets the slots below `below` (compacted).
    pub(crate) fn compact(&mut self, below: Slot) {
        self.waiting = self.waiting.split_off(&below);
    }
}

impl<P: Clone> NodeCore<P> {
    /// Starts, keeps or ends the leadership (called before the pacemaker
    /// is polled, its effects in `self.fx`). `served`: the learners a
    /// fresh ballot is run for (those with a quorum heard, or all).
    pub(super) fn range_lead(&mut self, now: Tick, served: &[LearnerId]) {
        let (Some(rl), Some((p, pm))) = (&mut self.range, &mut self.proposer) else {
            return;
        };
        if !pm.is_leader() {
            rl.rp.stop();
            rl.waiting.clear();
            rl.since = None;
            return;
        }
        let since = *rl.since.get_or_insert(now);
        if now < since.after(pm.config().takeover_grace) {
            return;
        }
        let current = match (rl.rp.leadership(), pm.leadership()) {
            (Some(a), Some(b)) if a == b => Some(a),
            _ => None,
        };
        let stale = match current {
            None => true,
            Some((_, b)) => rl.above > b || served.iter().any(|l| !rl.rp.learners().contains(l)),
        };
        if !stale {
            return;
        }
        // The old leadership's waiting slots: per-slot rounds at their
        // ballot (its range 1a stands for their 1a there).
        for (slot, w) in std::mem::take(&mut rl.waiting) {
            self.stats.range_fallbacks += 1;
            p.start_for(slot, &w.learners, w.bal, w.value, false, &mut self.fx);
        }
        pm.observe_ballot(rl.above);
        let from = pm.next_fresh_slot();
        let bal = pm.leadership_ballot();
        pm.lead_from(from, bal);
        rl.rp.start(from, served, bal, &mut self.fx);
        self.stats.range_leaderships += 1;
    }

    /// The first ballot `ballot` of `slot` for `learners`, if it is the
    /// leadership's: run on range Phase 1 (free), per-slot (reported), or
    /// kept waiting for the range 1b. False: not the leadership's, the
    /// caller runs it per-slot.
    pub(super) fn range_start(
        &mut self,
        slot: Slot,
        ballot: Ballot,
        value: &Value,
        learners: &[LearnerId],
    ) -> bool {
        let Some(rl) = &mut self.range else {
            return false;
        };
        rl.waiting.remove(&slot);
        let ours = rl
            .rp
            .leadership()
            .is_some_and(|(from, b)| slot >= from && b == ballot);
        if !ours {
            return false;
        }
        rl.waiting.insert(
            slot,
            Waiting {
                bal: ballot,
                value: value.clone(),
                learners: learners.to_vec(),
            },
        );
        self.range_wake(slot, slot);
        true
    }

    /// A retransmission of a slot waiting for the range 1b: the range 1a
    /// again. False: not waiting, the per-slot proposer retransmits.
    pub(super) fn range_retransmit(&mut self, slot: Slot) -> bool {
        let Some(rl) = &mut self.range else {
            return false;
        };
        if !rl.waiting.contains_key(&slot) {
            return false;
        }
        rl.rp.retransmit(&mut self.fx);
        true
    }

    /// A range 1b this node received or sent (admitted, at most the
    /// ballot ceiling): the leadership's quorum grows, its reports are
    /// evidence for the pacemaker as a per-slot 1b's are, and a ballot
    /// above the leadership's ends it at the next poll.
    pub(super) fn on_1b_range(&mut self, now: Tick, m: &Msg1bRange) {
        let ceiling = self.ballot_ceiling;
        if let Some((_, pm)) = &mut self.proposer {
            for r in &m.reports {
                pm.observe(now, r.slot, m.bal);
                pm.observe_1b(r.slot, m.lr, m.bal, m.acc);
                for v in r.votes.iter().filter(|v| v.bal <= ceiling) {
                    pm.observe_vote(r.slot, v.bal, &v.val, m.acc);
                }
                for q in r.proposals.iter().filter(|q| q.bal <= ceiling) {
                    pm.observe_proposal(r.slot, q.lr, q.bal, m.acc, &q.val);
                }
            }
        }
        let Some(rl) = &mut self.range else {
            return;
        };
        if let Some((_, b)) = rl.rp.leadership() {
            if m.bal > b {
                rl.above = rl.above.max(m.bal);
            }
        }
        rl.rp.handle(&crate::msg::Message::M1bRange(m.clone()));
        self.range_wake(m.from, Slot(u64::MAX));
    }

    /// Runs the waiting slots in `[lo, hi]` that the range 1b now tell
    /// about: free ones on range Phase 1, reported ones per-slot; slots
    /// some learner decided meanwhile are dropped (the pacemaker retries
    /// the others).
    fn range_wake(&mut self, lo: Slot, hi: Slot) {
        let (Some(rl), Some((p, pm))) = (&mut self.range, &mut self.proposer) else {
            return;
        };
        let slots: Vec<Slot> = rl.waiting.range(lo..=hi).map(|(s, _)| *s).collect();
        for slot in slots {
            if pm.is_decided_by_any(slot) || pm.ballot(slot).is_none() {
                rl.waiting.remove(&slot);
                continue;
            }
            let Some(w) = rl.waiting.get(&slot) else {
                continue;
            };
            if rl.rp.free_for(slot, &w.learners) {
                p.start_ranged(slot, &w.learners, w.bal, w.value.clone(), &mut self.fx);
                self.stats.range_slots += 1;
            } else if rl.rp.reported(slot) {
                p.start_for(
                    slot,
                    &w.learners,
                    w.bal,
                    w.value.clone(),
                    false,
                    &mut self.fx,
                );
                self.stats.range_fallbacks += 1;
            } else {
                continue;
            }
            rl.waiting.remove(&slot);
        }
    }
}

/// The learners a fresh ballot serves: those with a quorum in `reachable`,
/// or all of `all` when none has.
pub(super) fn served(trust: &Trust, all: &[LearnerId], reachable: &AccSet) -> Vec<LearnerId> {
    let s: Vec<LearnerId> = all
        .iter()
        .copied()
        .filter(|l| trust.is_quorum(*l, reachable))
        .collect();
    if s.is_empty() {
        all.to_vec()
    } else {
        s
    }
}
