//! Range Phase 1: one 1a and one 1b per acceptor for every slot from some
//! slot on, so that a stable proposer runs Phase 1 once per leadership and
//! a steady-state slot is 1c -> 2av -> 2b.
//!
//! Where it sits: [`super::Acceptor::handle`] dispatches a received
//! [`Msg1aRange`] or [`Msg1bRange`] here; what it sends and persists goes
//! out through [`Effects`] like every other step, and the refinement checker
//! (`hpaxos_spec::Refinement`) expands the recorded
//! [`SpecAction::Phase1aRange`] / [`SpecAction::Phase1bRange`] and the `Recv`
//! of a range message into per-slot spec steps.
//!
//! # Why this is a refinement of the per-slot spec
//!
//! *Range messages are sets of spec messages.* A range 1a `(from, l, b)`
//! is, by definition, the set of spec messages `[type |-> "1a", lr |-> l,
//! bal |-> b]` of every slot `k >= from`. Sending it is one `Phase1a(l, b)`
//! step in each slot's instance (the action has no guard, so it may be taken
//! in any slot at any time). A range 1b `(from, l, a, b, reports)` is the set
//! of 1b `[lr |-> l, acc |-> a, bal |-> b, votes |-> V_k, proposals |->
//! P_k]` of every slot `k >= from`, where `V_k, P_k` are the report for `k`,
//! or empty sets for a slot without one. A safe acceptor sends it only in
//! [`Acceptor::phase_1b_range`], whose guard is the conjunction over all
//! `k >= from` of `Phase1b(l, b, a)`'s guard in slot `k`: `maxBal[l, a] =<
//! b` (every existing slot's, and every earlier range promise, since a
//! promise covers slots beyond any existing one) and `InitializedBallot(l,
//! b)` (a received range 1a from a slot `=< from`). Its reports are computed
//! from each existing slot's `votesSent[a]` and `2avSent[a]` exactly as
//! `Phase1b` computes `votes` and `proposals`; a slot this acceptor has no
//! state for has empty `votesSent[a]` and `2avSent[a]` there, so its 1b is
//! the empty one the range implies. So every element of the set is the
//! message `Phase1b(l, b, a)` sends in its slot at that moment: the range 1b
//! is one `Phase1b` step in each slot. The refinement checker takes these
//! steps eagerly in every slot instance that exists and, for a slot whose
//! instance is created later, replays them (in the order they were taken)
//! when it is created: no step happened in that slot in between, so the
//! guard and the message are what they were when the range was sent.
//! Receiving a range message is `Recv(_, a)` of each of its elements (every
//! one is in its slot's `msgs`); the acceptor indexes them lazily (a slot
//! created later starts with the range messages received that cover it),
//! which is sound because `received[a]` is a ghost variable and every guard
//! is monotone in it. A Byzantine acceptor's range 1b is `FakeSend` of each
//! element, in its own name: a range 1b that hides a slot's vote is a set of
//! 1b that a fake acceptor may send, and the quorum intersection argument
//! of the spec applies to each slot unchanged.
//!
//! *The durable promise is `maxBal`.* A range 1b persists one
//! [`Durable::Promise`] `(from, l, b)` before it is sent. The mapping of
//! `maxBal[l, a]` in slot `k` is the maximum of the slot's own `MaxBal`
//! records and every promise with `from =< k` ([`promised`]); `Phase1b`'s
//! `maxBal' = [maxBal EXCEPT ![l, a] = b]` in every slot `k >= from` is
//! exactly what the record does to that maximum (the guard ensured that no
//! slot was above `b`). A slot that this acceptor first touches after the
//! promise (a 1c, a 2av, a per-slot 1a of a later slot) is created with
//! `maxBal` from the promises ([`Received::fresh_slot`]), so the guards of
//! `Phase2av` and `Phase2b` there see the promise: no vote and (in the
//! seed) no proposal below `b` can follow, which is why the empty 1b the
//! range stands for stays what `Phase1b` would send there (`MsgInv1b`).
//! The same slot starts with the range 1a (`InitializedBallot`) and the
//! range 1b received (the `S` of `KnowsSafeAt`) that cover it, so a 1c for
//! it is answered by a 2av with no further Phase 1 message.
//!
//! *Late Phase1b (HPaxosLate).* With [`super::AcceptorOptions::late`] the
//! guard drops `maxBal[l, a] =< b` (it is `Phase1b \/ Phase1bLate` in each
//! slot): a late range 1b reports, per slot, the max votes and proposals
//! below `b`, as `Phase1bLate` does, and its promise never lowers `maxBal`
//! (the record is a maximum). Later late 2av below `b` may be missing from
//! a range 1b sent before them, which `MsgInv1bLate` allows (a 1b's
//! proposals are a subset of its sender's `2avSent` below its ballot), as
//! for a per-slot late 1b.

use super::{max_votes, Acceptor, SlotState};
use crate::connected::Connected;
use crate::effects::{Durable, Effects, SpecAction};
use crate::ids::{AcceptorId, Ballot, LearnerId, Slot};
use crate::ksa_index::OneBBucket;
use crate::msg::{Message, Msg1aRange, Msg1bRange, SlotReport, Vote};
use std::collections::{BTreeMap, BTreeSet};

/// How many range 1b one sender may have stored here; further ones are
/// dropped (not receiving a message is always allowed: guards are monotone
/// in `received`), which bounds what a Byzantine acceptor can make us hold.
pub const MAX_RANGES_PER_SENDER: usize = 8;

/// How many range 1a are stored (anyone may send one); the lowest ballots
/// go first.
pub const MAX_RANGE_1A: usize = 64;

/// `maxBal[l, a]` in `slot` by the range promises alone.
pub fn promised(
    promises: &BTreeMap<(LearnerId, Slot), Ballot>,
    l: LearnerId,
    slot: Slot,
) -> Ballot {
    promises
        .range((l, Slot(0))..=(l, slot))
        .map(|(_, b)| *b)
        .max()
        .unwrap_or_default()
}

/// The promised `maxBal[l, a]` of `slot` for every learner with a promise.
pub fn promised_all(
    promises: &BTreeMap<(LearnerId, Slot), Ballot>,
    slot: Slot,
) -> BTreeMap<LearnerId, Ballot> {
    let mut out: BTreeMap<LearnerId, Ballot> = BTreeMap::new();
    for ((l, from), b) in promises {
        if *from <= slot {
            let e = out.entry(*l).or_default();
            *e = (*e).max(*b);
        }
    }
    out
}

/// Records the promise `(from, l, b)`, dropping the ones it dominates (a
/// later start and a ballot no higher): the maximum [`promised`] gives for
/// every slot is unchanged by the drop.
pub fn add_promise(
    promises: &mut BTreeMap<(LearnerId, Slot), Ballot>,
    l: LearnerId,
    from: Slot,
    b: Ballot,
) {
    if promised(promises, l, from) >= b {
        return;
    }
    promises.retain(|(pl, pf), pb| !(*pl == l && *pf >= from && *pb <= b));
    promises.insert((l, from), b);
}

/// The range messages an acceptor received (volatile).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Received {
    one_a: BTreeSet<Msg1aRange>,
    one_b: BTreeSet<Msg1bRange>,
}

impl Received {
    /// A slot this acceptor has no state for, as the ranges make it:
    /// `maxBal` from the promises, the ballots their 1a initialized, and
    /// the 1b they stand for in its buckets.
    pub(super) fn fresh_slot(
        &self,
        promises: &BTreeMap<(LearnerId, Slot), Ballot>,
        conn: &Connected,
        slot: Slot,
    ) -> SlotState {
        let mut st = SlotState::default();
        st.d.max_bal = promised_all(promises, slot);
        st.max_any = st.d.max_bal.values().copied().max().unwrap_or_default();
        for r in self.one_a.iter().filter(|r| r.covers(slot)) {
            st.idx.initialized.insert((r.lr, r.bal));
        }
        for r in self.one_b.iter().filter(|r| r.covers(slot)) {
            st.idx
                .one_b
                .entry((r.lr, r.bal))
                .or_insert_with(|| OneBBucket::new(r.lr, r.bal))
                .insert(r.at(slot), conn);
        }
        st
    }

    /// Stores a range 1a; false if it was already there.
    fn insert_1a(&mut self, m: &Msg1aRange) -> bool {
        if !self.one_a.insert(m.clone()) {
            return false;
        }
        while self.one_a.len() > MAX_RANGE_1A {
            let Some(low) = self.one_a.iter().min_by_key(|r| r.bal).cloned() else {
                break;
            };
            self.one_a.remove(&low);
        }
        true
    }

    /// Stores a range 1b; false if it was already there or its sender has
    /// [`MAX_RANGES_PER_SENDER`] stored.
    fn insert_1b(&mut self, m: &Msg1bRange) -> bool {
        if self.one_b.contains(m) {
            return false;
        }
        let n = self.one_b.iter().filter(|r| r.acc == m.acc).count();
        if n >= MAX_RANGES_PER_SENDER {
            return false;
        }
        self.one_b.insert(m.clone())
    }

    /// A range 1a received for `(l, b)` covering every slot from `from`.
    fn initializes(&self, from: Slot, l: LearnerId, b: Ballot) -> Option<Slot> {
        self.one_a
            .iter()
            .filter(|r| r.lr == l && r.bal == b && r.from <= from)
            .map(|r| r.from)
            .min()
    }

    /// The highest-ballot range 1a received for `l`.
    fn top_1a(&self, l: LearnerId) -> Option<&Msg1aRange> {
        self.one_a
            .iter()
            .filter(|r| r.lr == l)
            .max_by_key(|r| r.bal)
    }
}

impl Acceptor {
    /// `Recv(_, a)` of a range 1a (every 1a it stands for), then the range
    /// `Phase1b` it enables; a stale proposer (a ballot below this
    /// acceptor's promise) gets the range 1b at the promised ballot again,
    /// when a range 1a initialized it, so that it knows what to go above.
    pub(super) fn on_1a_range(&mut self, m: &Msg1aRange, fx: &mut Effects) {
        self.ranges.insert_1a(m);
        let existing: Vec<Slot> = self.slots.range(m.from..).map(|(s, _)| *s).collect();
        for s in &existing {
            self.slot(*s).idx.initialized.insert((m.lr, m.bal));
        }
        let before = fx.send.len();
        self.phase_1b_range(m.from, m.lr, m.bal, fx);
        if fx.send.len() == before || self.top_promise(m.lr) > m.bal {
            if let Some(top) = self.ranges.top_1a(m.lr).cloned() {
                if top.bal > m.bal {
                    self.phase_1b_range(top.from, top.lr, top.bal, fx);
                }
            }
        }
        for s in existing {
            self.try_phase_2av(s, m.lr, m.bal, fx);
        }
    }

    /// `Recv(_, a)` of a range 1b (every 1b it stands for): indexed in
    /// every existing slot it covers (as that slot's 1b would be, with
    /// equivocation evidence and the 2av it enables) and kept for slots
    /// created later.
    pub(super) fn on_1b_range(&mut self, m: &Msg1bRange, fx: &mut Effects) {
        if !self.ranges.insert_1b(m) {
            return;
        }
        let existing: Vec<Slot> = self.slots.range(m.from..).map(|(s, _)| *s).collect();
        for s in existing {
            self.on_1b(&m.at(s), fx);
        }
    }

    /// The highest range promise of learner `l`.
    fn top_promise(&self, l: LearnerId) -> Ballot {
        self.promises
            .range((l, Slot(0))..=(l, Slot(u64::MAX)))
            .map(|(_, b)| *b)
            .max()
            .unwrap_or_default()
    }

    /// `Phase1b(l, b, a)` in every slot `k >= from`, as one range 1b:
    /// ```text
    /// \A k >= from :
    ///   /\ maxBal_k[l, a] =< b
    ///   /\ InitializedBallot_k(l, b)
    ///   /\ maxBal_k' = [maxBal_k EXCEPT ![l, a] = b]
    ///   /\ Send_k([type |-> "1b", lr |-> l, acc |-> a, bal |-> b,
    ///              votes |-> {p \in votesSent_k[a] : MaxVote(a, b, p)},
    ///              proposals |-> {p \in 2avSent_k[a] : p.bal < b /\ p.lr = l}])
    /// ```
    /// `maxBal_k` of a slot without state is the range promises' (so the
    /// first conjunct is: every existing slot `>= from` and every promise
    /// of `l` at most `b`); `InitializedBallot_k` holds for every `k >=
    /// from` when a range 1a for `(l, b)` from a slot `=< from` was
    /// received. With [`super::AcceptorOptions::late`] the first conjunct
    /// is dropped in every slot (`Phase1bLate`) and `maxBal` never lowers.
    pub fn phase_1b_range(&mut self, from: Slot, l: LearnerId, b: Ballot, fx: &mut Effects) {
        let id = self.id;
        let late = self.opts.late;
        let initialized = self.ranges.initializes(from, l, b).is_some();
        let below = mutant!(Phase1bIgnoreMaxBal)
            || late
            || (self.top_promise(l) <= b
                && self.slots.range(from..).all(|(_, st)| st.max_bal(l) <= b));
        if !(initialized && below) {
            return;
        }
        if self.top_promise(l) < b || self.slots.range(from..).any(|(_, st)| st.max_bal(l) < b) {
            add_promise(&mut self.promises, l, from, b);
            fx.persist.push(Durable::Promise {
                from,
                lr: l,
                bal: b,
            });
        }
        let mut reports = Vec::new();
        for (slot, st) in self.slots.range_mut(from..) {
            if st.max_bal(l) < b {
                st.d.max_bal.insert(l, b);
                st.max_any = st.max_any.max(b);
            }
            let votes = max_votes(&st.d.votes_sent, b);
            let proposals: Vec<Vote> =
                st.d.two_av_sent
                    .iter()
                    .filter(|p| p.bal < b && p.lr == l)
                    .cloned()
                    .collect();
            if !votes.is_empty() || !proposals.is_empty() {
                reports.push(SlotReport {
                    slot: *slot,
                    votes,
                    proposals,
                });
            }
        }
        fx.action(|| SpecAction::Phase1bRange {
            from,
            lr: l,
            bal: b,
            acc: id,
        });
        let m = Msg1bRange {
            from,
            lr: l,
            acc: id,
            bal: b,
            reports,
        };
        self.send_and_receive(Message::M1bRange(m), fx);
    }

    /// The range 1b messages received from `acc` (for tests and metrics).
    pub fn ranges_from(&self, acc: AcceptorId) -> impl Iterator<Item = &Msg1bRange> + '_ {
        self.ranges.one_b.iter().filter(move |r| r.acc == acc)
    }
}
