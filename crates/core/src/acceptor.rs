//! The safe acceptor: `Phase1b`, `Phase2av`, `Phase2b`, `Recv`, `Disconnect`.
//!
//! Sans-IO: [`Acceptor::handle`] takes one received message and appends to
//! [`Effects`] everything the spec's actions enabled by it produce. A safe
//! acceptor takes every action a received message enables (1b on a 1a; 2av
//! once an announced value is known safe; 2b on a 2av quorum), so a cluster
//! progresses without anyone choosing actions. Durable records come out in
//! `Effects::persist` and must be stored before `Effects::send` leaves.
//!
//! Received messages are indexed by `(slot, learner, ballot, kind)`; a 1b or
//! 2av costs one bucket update plus the quorum tests of that bucket. Range
//! 1a/1b (Phase 1 for every slot from some slot on) are in [`range`], with
//! the argument that they refine the per-slot spec actions.

mod live;
pub mod range;

use crate::accset::AccSet;
use crate::connected::Connected;
use crate::effects::{Durable, Effects, Evidence, Rejection, SpecAction};
use crate::ids::{AcceptorId, Ballot, LearnerId, Slot};
use crate::ksa_index::OneBBucket;
use crate::msg::{Message, Msg1a, Msg1b, Msg1c, Msg2av, Msg2b, Vote};
use crate::trust::Trust;
use crate::value::{Digest, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The durable part of one slot: `maxBal[*, a]`, `votesSent[a]`, `2avSent[a]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SlotDurable {
    /// `maxBal[l, a]`, absent meaning 0.
    pub max_bal: BTreeMap<LearnerId, Ballot>,
    pub votes_sent: BTreeSet<Vote>,
    pub two_av_sent: BTreeSet<Vote>,
}

/// Everything an acceptor must find again after a restart.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AcceptorDurable {
    pub slots: BTreeMap<Slot, SlotDurable>,
    pub disconnected: BTreeSet<(LearnerId, LearnerId)>,
    pub compacted_below: Slot,
    /// Range promises: `maxBal[l, a] >= bal` in every slot `>= from`, keyed
    /// `(l, from)` (see [`range`]).
    pub promises: BTreeMap<(LearnerId, Slot), Ballot>,
}

impl AcceptorDurable {
    /// `maxBal[l, a]` promised by ranges for `slot` (0 without any).
    pub fn promised(&self, l: LearnerId, slot: Slot) -> Ballot {
        range::promised(&self.promises, l, slot)
    }

    /// The slot's durable state, created (with the range promises that
    /// cover it) on first use.
    fn slot_mut(&mut self, slot: Slot) -> &mut SlotDurable {
        if !self.slots.contains_key(&slot) {
            let fresh = SlotDurable {
                max_bal: range::promised_all(&self.promises, slot),
                ..SlotDurable::default()
            };
            self.slots.insert(slot, fresh);
        }
        self.slots.entry(slot).or_default()
    }

    /// Replays one durable record (used on restart, in order of writing).
    pub fn apply(&mut self, d: &Durable) {
        #[cfg(feature = "mutations")]
        if crate::mutations::forgets(d) {
            return;
        }
        match d {
            Durable::MaxBal { slot, lr, bal } => {
                let e = self.slot_mut(*slot).max_bal.entry(*lr).or_default();
                *e = (*e).max(*bal);
            }
            Durable::Voted { slot, vote } => {
                self.slot_mut(*slot).votes_sent.insert(vote.clone());
            }
            Durable::Proposed { slot, vote } => {
                self.slot_mut(*slot).two_av_sent.insert(vote.clone());
            }
            Durable::Promise { from, lr, bal } => {
                range::add_promise(&mut self.promises, *lr, *from, *bal);
                for sd in self.slots.range_mut(*from..).map(|(_, sd)| sd) {
                    let e = sd.max_bal.entry(*lr).or_default();
                    *e = (*e).max(*bal);
                }
            }
            Durable::Disconnected { pair } => {
                self.disconnected.insert(*pair);
            }
            Durable::Compacted { below } => {
                self.compacted_below = self.compacted_below.max(*below);
                let keep = self.slots.split_off(below);
                self.slots = keep;
            }
            Durable::Decided { .. } | Durable::Batch { .. } => {}
        }
    }
}

/// Received-message index of one slot (volatile: lost on restart, which is
/// safe because every guard is monotone in `received`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct SlotIndex {
    /// 1a received: `InitializedBallot(l, b)`.
    initialized: BTreeSet<(LearnerId, Ballot)>,
    /// 1c received, by ballot: `AnnouncedValue(_, b, v)` (any learner).
    announced: BTreeMap<Ballot, BTreeMap<Digest, Value>>,
    /// Distinct 1b messages per `(l, b)`: the `S` of `KnowsSafeAt`.
    one_b: BTreeMap<(LearnerId, Ballot), OneBBucket>,
    /// Senders of 2av per `(l, b, v)`.
    two_av: BTreeMap<(LearnerId, Ballot, Digest), AccSet>,
    /// First 2b seen per `(l, b, acc)`, for equivocation evidence.
    two_b_seen: BTreeMap<(LearnerId, Ballot, AcceptorId), Msg2b>,
    /// 1b deferred per learner because of this acceptor's own lone vote
    /// (see [`Acceptor::defers_1b`]; bounded by [`OWN_VOTE_DEFERRALS`]).
    own_deferrals: BTreeMap<LearnerId, u32>,
}

/// How many 1a of a learner a lone vote of this acceptor's own defers.
const OWN_VOTE_DEFERRALS: u32 = 4;

/// What an acceptor received in one slot ([`Acceptor::received`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotReceived {
    /// `(l, b, senders of the 1b held, KnowsSafeAt1)`.
    pub one_b: Vec<(LearnerId, Ballot, AccSet, bool)>,
    /// `(l, b, digest, senders of 2av)`.
    pub two_av: Vec<(LearnerId, Ballot, Digest, AccSet)>,
    /// Ballots some 1c announced.
    pub announced: Vec<Ballot>,
}

/// One slot: durable state plus the index of what was received.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct SlotState {
    d: SlotDurable,
    idx: SlotIndex,
    /// `max_L maxBal[L, a]`, so the Phase2b guard is O(1).
    max_any: Ballot,
}

impl SlotState {
    fn max_bal(&self, l: LearnerId) -> Ballot {
        self.d.max_bal.get(&l).copied().unwrap_or_default()
    }
}

/// Options of a safe acceptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AcceptorOptions {
    /// Take `Disconnect` when evidence proves a pair is not entangled.
    pub disconnect: bool,
    /// Defer `Phase1b(l, b)` above a vote `l` cannot step over (see
    /// [`Acceptor::defers_1b`]). A liveness rule: off, the acceptor takes a
    /// superset of the steps it takes on, so the model checker (which runs
    /// it off) covers both.
    pub defer_1b: bool,
    /// Take `Phase1b` and `Phase2av` at ballots below `maxBal[l, a]` too
    /// (`Phase1bLate`, `Phase2avLate` of `spec/HPaxosLate.tla`): not a
    /// refinement of the seed but of HPaxosLate, whose safety TLC checks
    /// (`spec/MCHPaxosLate.cfg`, `spec/MCStallSafety.cfg`) and whose point
    /// is liveness: without it, a learner whose `maxBal` rose above a
    /// ballot where another learner voted before it had its own proposals
    /// there can never decide the slot (`spec/MCStall.tla`). The refinement
    /// checker must then run with `Refinement::with_late(true)`.
    ///
    /// On in [`AcceptorOptions::live`] (the node's `[cluster] late_steps`,
    /// default on, and the simulator's default). It was off for a while:
    /// two container runs of the fault harness (schedule ci, seed 3) left
    /// alice undecided from the first slot. With the 1b deferral no longer
    /// waiting for proposals that cannot form ([`Acceptor::defers_1b`]) the
    /// same schedule passes with it on.
    pub late: bool,
    /// With [`AcceptorOptions::late`]: count a 2av held from an acceptor
    /// as that acceptor's proposal in `KnowsSafeAt2` once it sent a 1b at
    /// the ballot (`crate::ksa_index::OneBBucket::add_2av`: a step of
    /// HPaxosLate), and relay the 2av behind each vote a 1b of this
    /// acceptor reports ([`Acceptor::relay_votes`]). A liveness rule: a
    /// proposer that announced two values at one ballot splits the safe
    /// acceptors' 2av there, and a fake acceptor whose 2av completed a
    /// quorum for one of them can then deny it in every 1b; the learner's
    /// `WQ` at that ballot needs the fake, and a safe acceptor's vote there
    /// keeps `KnowsSafeAt1` from holding above it, so without its signed
    /// 2av no value is ever safe for the learner again.
    pub signed_proposals: bool,
}

impl Default for AcceptorOptions {
    fn default() -> Self {
        AcceptorOptions {
            disconnect: true,
            defer_1b: false,
            late: false,
            signed_proposals: false,
        }
    }
}

impl AcceptorOptions {
    /// What the node and the simulator run: every option on.
    pub fn live() -> Self {
        AcceptorOptions {
            disconnect: true,
            defer_1b: true,
            late: true,
            signed_proposals: true,
        }
    }
}

/// A safe acceptor of all slots.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Acceptor {
    id: AcceptorId,
    trust: Trust,
    opts: AcceptorOptions,
    connected: Connected,
    /// Acceptors proven faulty (equivocating 1b messages), with the proof.
    faulty: BTreeMap<AcceptorId, Evidence>,
    slots: BTreeMap<Slot, SlotState>,
    compacted_below: Slot,
    /// Durable range promises (`AcceptorDurable::promises`).
    promises: BTreeMap<(LearnerId, Slot), Ballot>,
    /// Range 1a and 1b received (volatile, like the per-slot index; they
    /// stand for messages of every slot they cover, and a slot created
    /// later starts with them: see [`range`]).
    ranges: range::Received,
}

impl Acceptor {
    /// A fresh acceptor (`Init`).
    pub fn new(id: AcceptorId, trust: Trust, opts: AcceptorOptions) -> Acceptor {
        Acceptor::restore(id, trust, opts, AcceptorDurable::default())
    }

    /// An acceptor restarted from its durable state.
    pub fn restore(
        id: AcceptorId,
        trust: Trust,
        opts: AcceptorOptions,
        d: AcceptorDurable,
    ) -> Acceptor {
        let mut connected = Connected::all(trust.n_learners());
        for (l1, l2) in &d.disconnected {
            connected.remove(*l1, *l2);
        }
        let promises = d.promises;
        let slots = d
            .slots
            .into_iter()
            .map(|(s, mut sd)| {
                for (l, b) in range::promised_all(&promises, s) {
                    let e = sd.max_bal.entry(l).or_default();
                    *e = (*e).max(b);
                }
                let max_any = sd.max_bal.values().copied().max().unwrap_or_default();
                (
                    s,
                    SlotState {
                        d: sd,
                        idx: SlotIndex::default(),
                        max_any,
                    },
                )
            })
            .collect();
        Acceptor {
            id,
            trust,
            opts,
            connected,
            faulty: BTreeMap::new(),
            slots,
            compacted_below: d.compacted_below,
            promises,
            ranges: range::Received::default(),
        }
    }

    pub fn id(&self) -> AcceptorId {
        self.id
    }

    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// `connected[a]`.
    pub fn connected(&self) -> &Connected {
        &self.connected
    }

    /// Acceptors this one holds proof against.
    pub fn proven_faulty(&self) -> AccSet {
        self.faulty.keys().copied().collect()
    }

    /// The durable state of one slot (`maxBal`, `votesSent`, `2avSent`).
    pub fn slot_durable(&self, slot: Slot) -> Option<&SlotDurable> {
        self.slots.get(&slot).map(|s| &s.d)
    }

    /// What this acceptor received in `slot`, for diagnostics (`/v1/status`
    /// shows it for the first slot a learner has not applied): per
    /// `(l, b)` the senders of the 1b it holds and whether
    /// `KnowsSafeAt1` holds there; per `(l, b, v)` the senders of 2av; the
    /// ballots announced by a 1c.
    pub fn received(&self, slot: Slot) -> Option<SlotReceived> {
        let st = self.slots.get(&slot)?;
        Some(SlotReceived {
            one_b: st
                .idx
                .one_b
                .iter()
                .map(|((l, b), k)| (*l, *b, k.senders(), k.knows_safe_at1(&self.trust)))
                .collect(),
            two_av: st
                .idx
                .two_av
                .iter()
                .map(|((l, b, d), s)| (*l, *b, *d, *s))
                .collect(),
            announced: st.idx.announced.keys().copied().collect(),
        })
    }

    /// `maxBal[l, a]` in `slot`: the slot's own, or what the range promises
    /// give a slot this acceptor has no state for yet.
    pub fn max_bal(&self, slot: Slot, l: LearnerId) -> Ballot {
        match self.slots.get(&slot) {
            Some(st) => st.max_bal(l),
            None => range::promised(&self.promises, l, slot),
        }
    }

    /// The range promises, keyed `(l, from)` (for snapshots of the WAL).
    pub fn promises(&self) -> &BTreeMap<(LearnerId, Slot), Ballot> {
        &self.promises
    }

    /// Slots with state, in order.
    pub fn slots(&self) -> impl Iterator<Item = Slot> + '_ {
        self.slots.keys().copied()
    }

    /// Slots below this were garbage-collected.
    pub fn compacted_below(&self) -> Slot {
        self.compacted_below
    }

    /// Garbage-collects every slot below `below` (the node calls this once
    /// all learners it serves have applied them). Later messages for those
    /// slots are rejected as [`Rejection::CompactedSlot`].
    pub fn compact(&mut self, below: Slot, fx: &mut Effects) {
        if below <= self.compacted_below {
            return;
        }
        self.compacted_below = below;
        self.slots = self.slots.split_off(&below);
        fx.persist.push(Durable::Compacted { below });
    }

    /// `Recv(_, a)` of `msg`, then every acceptor action it enables.
    pub fn handle(&mut self, msg: &Message, fx: &mut Effects) {
        if let Err(r) = self.admit(msg) {
            fx.rejected.push(r);
            return;
        }
        fx.action(|| SpecAction::Recv {
            acc: self.id,
            msg: msg.clone(),
        });
        match msg {
            Message::M1a(m) => self.on_1a(m, fx),
            Message::M1b(m) => self.on_1b(m, fx),
            Message::M1c(m) => self.on_1c(m, fx),
            Message::M2av(m) => self.on_2av(m, fx),
            Message::M2b(m) => self.on_2b(m, fx),
            Message::M1aRange(m) => self.on_1a_range(m, fx),
            Message::M1bRange(m) => self.on_1b_range(m, fx),
        }
    }

    fn admit(&self, msg: &Message) -> Result<(), Rejection> {
        if msg.lr().index() >= self.trust.n_learners() {
            return Err(Rejection::UnknownLearner(msg.lr().0));
        }
        if let Some(a) = msg.acc() {
            if a.index() >= self.trust.n_acceptors() {
                return Err(Rejection::UnknownAcceptor(a.0));
            }
        }
        if let Message::M1b(m) = msg {
            for p in m.votes.iter().chain(m.proposals.iter()) {
                if p.lr.index() >= self.trust.n_learners() {
                    return Err(Rejection::UnknownLearner(p.lr.0));
                }
            }
        }
        if let Message::M1bRange(m) = msg {
            if !m.well_formed() {
                return Err(Rejection::MalformedRange);
            }
            for r in &m.reports {
                for p in r.votes.iter().chain(r.proposals.iter()) {
                    if p.lr.index() >= self.trust.n_learners() {
                        return Err(Rejection::UnknownLearner(p.lr.0));
                    }
                }
            }
        }
        if msg.slot() < self.compacted_below {
            return Err(Rejection::CompactedSlot(msg.slot().0));
        }
        Ok(())
    }

    /// The slot's state, created on first use with what the range
    /// promises and the range messages received say of it
    /// ([`range::Received::fresh_slot`]).
    fn slot(&mut self, s: Slot) -> &mut SlotState {
        if !self.slots.contains_key(&s) {
            let fresh = self.ranges.fresh_slot(&self.promises, &self.connected, s);
            self.slots.insert(s, fresh);
        }
        self.slots.entry(s).or_default()
    }

    fn on_1a(&mut self, m: &Msg1a, fx: &mut Effects) {
        self.slot(m.slot).idx.initialized.insert((m.lr, m.bal));
        let before = fx.send.len();
        let deferred = self.opts.defer_1b && self.defers_1b(m.slot, m.lr, m.bal) && {
            // A lone vote of this acceptor's own defers a bounded number
            // of times; a vote that meets every quorum of `l` as long as
            // the proposals are missing.
            let own_only = !self.defers_1b_witnessed(m.slot, m.lr, m.bal);
            let st = self.slot(m.slot);
            let n = st.idx.own_deferrals.entry(m.lr).or_insert(0);
            if own_only && *n >= OWN_VOTE_DEFERRALS {
                false
            } else {
                *n += u32::from(own_only);
                true
            }
        };
        if !deferred {
            // With `late`, also below `maxBal[l, a]` (`Phase1bLate`).
            self.phase_1b(m.slot, m.lr, m.bal, fx);
        } else {
            self.resend_own_proposals(m.slot, m.lr, m.bal, fx);
        }
        let cur = self.slot(m.slot).max_bal(m.lr);
        let late_1b = self.opts.late && !deferred && cur > m.bal;
        if late_1b {
            // The late 1b at `m.bal` lets the learner's proposals there
            // form (`Phase2avLate`); the 1b at `maxBal` below tells the
            // proposer which ballot to go above.
            self.try_phase_2av(m.slot, m.lr, m.bal, fx);
        }
        if (fx.send.len() == before || late_1b) && (cur > m.bal || (deferred && cur > Ballot::ZERO))
        {
            // A stale proposer: take `Phase1b(l, maxBal[l, a], a)` again
            // (enabled: `maxBal =< maxBal`, and that ballot is initialized,
            // since `maxBal[l, a]` only ever got its value from a Phase1b
            // that required `InitializedBallot`). The 1b is the same as the
            // one already sent (no vote or proposal below `maxBal` can have
            // been added since), and it tells the proposer which ballot to
            // go above: without it, a ballot no proposer saw (a restarted
            // proposer's, or a Byzantine one's) would silence the slot.
            self.slot(m.slot).idx.initialized.insert((m.lr, cur));
            self.phase_1b(m.slot, m.lr, cur, fx);
            return;
        }
        // The ballot is now initialized: announced values may become proposable.
        self.try_phase_2av(m.slot, m.lr, m.bal, fx);
    }

    fn on_1b(&mut self, m: &Msg1b, fx: &mut Effects) {
        let mut m = m.clone();
        m.canonicalize();
        let (slot, lr, bal) = (m.slot, m.lr, m.bal);
        self.slot(slot);
        let conn = &self.connected;
        let signed = self.opts.late && self.opts.signed_proposals;
        let st = self.slots.entry(slot).or_default();
        let idx = &mut st.idx;
        let bucket = idx.one_b.entry((lr, bal)).or_insert_with(|| {
            let mut k = OneBBucket::new(lr, bal);
            if signed {
                // The 2av already held below `bal` (`OneBBucket::add_2av`).
                for ((l, c, d), accs) in &idx.two_av {
                    if *l == lr && *c < bal {
                        let v = Value::from_digest(*d);
                        for a in accs.iter() {
                            k.add_2av(*c, &v, a, conn);
                        }
                    }
                }
            }
            k
        });
        // Two different 1b for one (slot, l, b) from one acceptor: a safe
        // acceptor's 1b for (l, b) never changes once sent (see Phase1b), so
        // this proves `m.acc` faulty.
        let conflict = bucket.conflicting(&m).cloned();
        if !bucket.insert(m.clone(), conn) {
            return;
        }
        if let Some(first) = conflict {
            self.record_fault(first.acc, Message::M1b(first), Message::M1b(m.clone()), fx);
        }
        self.try_phase_2av(m.slot, m.lr, m.bal, fx);
    }

    fn on_1c(&mut self, m: &Msg1c, fx: &mut Effects) {
        let fresh = self
            .slot(m.slot)
            .idx
            .announced
            .entry(m.bal)
            .or_default()
            .insert(m.val.digest(), m.val.clone())
            .is_none();
        if fresh {
            // `AnnouncedValue` ignores the 1c's learner: every learner's
            // ballot `m.bal` may now propose `m.val`.
            for l in self.trust.learners().collect::<Vec<_>>() {
                self.try_phase_2av(m.slot, l, m.bal, fx);
            }
        } else {
            self.retransmit(m, fx);
            // A late 2av skipped while no vote at `m.bal` was known (see
            // `phase_2av`) is taken on the proposer's retry once one is.
            if self.opts.late && self.votes_known_at(m.slot, m.bal) {
                self.try_phase_2av(m.slot, m.lr, m.bal, fx);
            }
        }
    }

    /// Should `Phase1b(l, b)` wait? Yes while some ballot `c` with
    /// `maxBal[l, a] =< c < b` holds votes for one value (this acceptor's
    /// own, and 2b received) whose voters meet every quorum of `l`, and no
    /// quorum of `l` is known to have proposed (2av) there. Taking the
    /// step would give up this acceptor's part in `l`'s proposals at `c`
    /// (`Phase2av(l, c, a, _)` needs `maxBal[l, a] =< c`), which every
    /// later `KnowsSafeAt2(l, _, _)` needs (see the pacemaker's `pins`
    /// module): enough acceptors taking it leave `l` unable to decide the
    /// slot for ever, as an uninformed proposer's fresh ballot during a
    /// partition did. Not taking an enabled step is always allowed; the
    /// proposer, pinned at `c`, gets `l` its proposals there, after which
    /// the step is taken on the next 1a (or at once, when the missing 2av
    /// arrive). A vote that some quorum of `l` avoids (a lone one, maybe a
    /// Byzantine acceptor's) defers nothing, except this acceptor's own:
    /// it knows that vote is real, and it is often the first to know of it
    /// (a proposer that has not heard of the ballot yet sends its 1a while
    /// the vote is being cast). Since `l` may be unable to get proposals
    /// there for other reasons, that case defers only the first
    /// [`OWN_VOTE_DEFERRALS`] 1a of `l` in the slot, so no acceptor holds a
    /// learner back for ever on its own. Nor does a vote whose proposals
    /// for `l` can no longer form: once the acceptors not known to have sent
    /// a 2av at `c` for another value to a learner connected to `l` (and
    /// those that proposed this value) are no quorum of `l`, `l` cannot get
    /// its proposals there, so waiting for them would stall `l` for ever
    /// (a Byzantine acceptor's value proposed to `l` at the ballot where
    /// another learner voted a safe one did that in the simulator).
    pub fn defers_1b(&self, slot: Slot, l: LearnerId, b: Ballot) -> bool {
        self.deferring_votes(slot, l, b, true)
    }

    /// [`Acceptor::defers_1b`] counting only votes whose voters meet every
    /// quorum of `l`.
    fn defers_1b_witnessed(&self, slot: Slot, l: LearnerId, b: Ballot) -> bool {
        self.deferring_votes(slot, l, b, false)
    }

    fn deferring_votes(&self, slot: Slot, l: LearnerId, b: Ballot, own_counts: bool) -> bool {
        let Some(st) = self.slots.get(&slot) else {
            return false;
        };
        let floor = st.max_bal(l);
        // (ballot, value) -> (voters, one of them is this acceptor)
        let mut voters: BTreeMap<(Ballot, Digest), (AccSet, bool)> = BTreeMap::new();
        for v in &st.d.votes_sent {
            if v.bal >= floor && v.bal < b {
                let e = voters.entry((v.bal, v.val.digest())).or_default();
                e.0.insert(self.id);
                e.1 = true;
            }
        }
        for ((_, c, acc), m) in &st.idx.two_b_seen {
            if *c >= floor && *c < b {
                voters
                    .entry((*c, m.val.digest()))
                    .or_default()
                    .0
                    .insert(*acc);
            }
        }
        let all = self.trust.all_acceptors();
        voters.iter().any(|((c, d), (vs, own))| {
            let unavoidable = !self.trust.is_quorum(l, &all.difference(vs));
            // The 2av received, and this acceptor's own (after a restart
            // the index of what was received is gone, and a retransmitted
            // 2av is not received again by its sender).
            let mut proposers = st.idx.two_av.get(&(l, *c, *d)).copied().unwrap_or_default();
            if st
                .d
                .two_av_sent
                .iter()
                .any(|p| p.lr == l && p.bal == *c && p.val.digest() == *d)
            {
                proposers.insert(self.id);
            }
            let proposed = self.trust.is_quorum(l, &proposers);
            // Proposals that can no longer form are not worth waiting for:
            // an acceptor that sent a 2av at `c` for another value to a
            // learner connected to `l` can never send `l`'s 2av for this
            // one there (Phase2av's "every 2av already sent at `b` to a
            // connected learner is for `v`"). If the others cannot make a
            // quorum of `l`, deferring would hold `l` back for ever.
            let mut blocked = AccSet::default();
            for ((l2, c2, d2), senders) in &st.idx.two_av {
                if c2 == c && d2 != d && self.connected.contains(*l2, l) {
                    blocked = blocked.union(senders);
                }
            }
            if st
                .d
                .two_av_sent
                .iter()
                .any(|p| p.bal == *c && p.val.digest() != *d && self.connected.contains(p.lr, l))
            {
                blocked.insert(self.id);
            }
            let possible = all.difference(&blocked).union(&proposers);
            let formable = self.trust.is_quorum(l, &possible);
            (unavoidable || (own_counts && *own)) && !proposed && formable
        })
    }

    /// A repeated 1c is a proposer's retry: send again the 2av and 2b this
    /// acceptor already sent at its ballot for its value, for every learner
    /// (a 1c announces the value to every learner's ballot `m.bal`, see
    /// `AnnouncedValue`). Messages already in `msgs`: no state change, a
    /// stutter of the spec. The network of the spec loses nothing; a real
    /// one does (a sender drops frames queued too long for a peer that was
    /// paused), and a 2av lost on its way to one acceptor can keep that
    /// acceptor from the 2av quorum it votes on for good unless it is sent
    /// again.
    fn retransmit(&mut self, m: &Msg1c, fx: &mut Effects) {
        let Some(st) = self.slots.get(&m.slot) else {
            return;
        };
        let d = m.val.digest();
        for p in
            st.d.two_av_sent
                .iter()
                .filter(|p| p.bal == m.bal && p.val.digest() == d)
        {
            fx.send.push(Message::M2av(Msg2av {
                slot: m.slot,
                lr: p.lr,
                acc: self.id,
                bal: p.bal,
                val: p.val.clone(),
            }));
        }
        for v in
            st.d.votes_sent
                .iter()
                .filter(|v| v.bal == m.bal && v.val.digest() == d)
        {
            fx.send.push(Message::M2b(Msg2b {
                slot: m.slot,
                lr: v.lr,
                acc: self.id,
                bal: v.bal,
                val: v.val.clone(),
            }));
        }
    }

    /// A 1b of `l` at `b` deferred ([`Acceptor::defers_1b`]) waits for `l`'s
    /// proposals at a vote ballot `c < b`: this acceptor sends its own
    /// proposals of `l` from `maxBal[l, a]` up to `b` again, so that the
    /// acceptors that lost them (see [`Acceptor::retransmit`]) can complete
    /// the 2av quorum they wait for too. A stutter: every message sent is
    /// already in `msgs`.
    fn resend_own_proposals(&mut self, slot: Slot, l: LearnerId, b: Ballot, fx: &mut Effects) {
        let Some(st) = self.slots.get(&slot) else {
            return;
        };
        let floor = st.max_bal(l);
        for p in
            st.d.two_av_sent
                .iter()
                .filter(|p| p.lr == l && p.bal >= floor && p.bal < b)
        {
            fx.send.push(Message::M2av(Msg2av {
                slot,
                lr: l,
                acc: self.id,
                bal: p.bal,
                val: p.val.clone(),
            }));
        }
    }

    fn on_2av(&mut self, m: &Msg2av, fx: &mut Effects) {
        let senders = self
            .slot(m.slot)
            .idx
            .two_av
            .entry((m.lr, m.bal, m.val.digest()))
            .or_default();
        if !senders.insert(m.acc) {
            return;
        }
        self.phase_2b(m.slot, m.lr, m.bal, &m.val, fx);
        if self.opts.defer_1b {
            self.take_deferred_1b(m.slot, m.lr, fx);
        }
        if self.signed_proposals() {
            let conn = &self.connected;
            let mut grown = Vec::new();
            if let Some(st) = self.slots.get_mut(&m.slot) {
                for ((l, b), bucket) in st.idx.one_b.iter_mut() {
                    if *l == m.lr && *b > m.bal && bucket.add_2av(m.bal, &m.val, m.acc, conn) {
                        grown.push(*b);
                    }
                }
            }
            for b in grown {
                self.try_phase_2av(m.slot, m.lr, b, fx);
            }
        }
    }

    fn signed_proposals(&self) -> bool {
        self.opts.late && self.opts.signed_proposals
    }

    /// The other acceptors' 2av behind the votes `votes` (this acceptor's
    /// own, reported in a 1b it sends), forwarded as signed so that
    /// whoever reads the 1b can count them (`OneBBucket::add_2av`) even if
    /// one of their senders denies them in its own 1b. Only 1b that report
    /// votes relay anything: a ballot change after a vote, not the steady
    /// state.
    fn relay_votes(&self, slot: Slot, votes: &[Vote], fx: &mut Effects) {
        let Some(st) = self.slots.get(&slot) else {
            return;
        };
        for v in votes {
            let Some(senders) = st.idx.two_av.get(&(v.lr, v.bal, v.val.digest())) else {
                continue;
            };
            for acc in senders.iter().filter(|a| *a != self.id) {
                fx.relay.push(Message::M2av(Msg2av {
                    slot,
                    lr: v.lr,
                    acc,
                    bal: v.bal,
                    val: v.val.digest_only(),
                }));
            }
        }
    }

    /// Takes `Phase1b(l, b)` for the highest ballot `b` initialized for
    /// `l` above `maxBal[l, a]` once [`Acceptor::defers_1b`] no longer
    /// holds it back (the learner's proposals below it are complete now).
    fn take_deferred_1b(&mut self, slot: Slot, l: LearnerId, fx: &mut Effects) {
        let Some(st) = self.slots.get(&slot) else {
            return;
        };
        let floor = st.max_bal(l);
        let top = st
            .idx
            .initialized
            .iter()
            .filter(|(lr, b)| *lr == l && *b > floor)
            .map(|(_, b)| *b)
            .max();
        if let Some(b) = top {
            if !self.defers_1b(slot, l, b) {
                self.phase_1b(slot, l, b, fx);
                self.try_phase_2av(slot, l, b, fx);
            }
        }
    }

    fn on_2b(&mut self, m: &Msg2b, fx: &mut Effects) {
        // Acceptors do not act on 2b; a conflicting pair is kept as evidence
        // (reported, not used to disconnect: see `record_fault`).
        let st = self.slot(m.slot);
        match st.idx.two_b_seen.get(&(m.lr, m.bal, m.acc)) {
            None => {
                st.idx.two_b_seen.insert((m.lr, m.bal, m.acc), m.clone());
            }
            Some(first) if first.val != m.val => {
                fx.evidence.push(Evidence {
                    acc: m.acc,
                    first: Message::M2b(first.clone()),
                    second: Message::M2b(m.clone()),
                });
            }
            Some(_) => {}
        }
    }

    /// `Phase1b(l, b, a)`:
    /// ```text
    /// /\ maxBal[l, a] =< b
    /// /\ InitializedBallot(l, b)
    /// /\ maxBal' = [maxBal EXCEPT ![l, a] = b]
    /// /\ Send([type |-> "1b", lr |-> l, acc |-> a, bal |-> b,
    ///          votes |-> {p \in votesSent[a] : MaxVote(a, b, p)},
    ///          proposals |-> {p \in 2avSent[a] : p.bal < b /\ p.lr = l}])
    /// ```
    /// Taken on every 1a received. In the seed a repeated 1a re-sends the
    /// same 1b (once sent, a 1b for `(l, b)` cannot change, since later
    /// votes and proposals of this acceptor are at ballots `>= b`).
    ///
    /// With [`AcceptorOptions::late`] it is also `Phase1bLate(l, b, a)` of
    /// `spec/HPaxosLate.tla`: the same guard without `maxBal[l, a] =< b`,
    /// and `maxBal` unchanged when `b` is below it. A 1b for `(l, b)` then
    /// keeps its votes but may report more proposals when sent again (a
    /// late 2av below `b` came in between), which is why two such 1b are not
    /// evidence ([`crate::ksa_index::OneBBucket::conflicting`]).
    pub fn phase_1b(&mut self, slot: Slot, l: LearnerId, b: Ballot, fx: &mut Effects) {
        let id = self.id;
        let late = self.opts.late;
        let st = self.slot(slot);
        let enabled = (mutant!(Phase1bIgnoreMaxBal) || late || st.max_bal(l) <= b)
            && st.idx.initialized.contains(&(l, b));
        if !enabled {
            return;
        }
        // `maxBal' = b` (Phase1b), or unchanged when `b < maxBal[l, a]`
        // (Phase1bLate).
        if st.max_bal(l) < b {
            st.d.max_bal.insert(l, b);
            st.max_any = st.max_any.max(b);
            fx.persist.push(Durable::MaxBal {
                slot,
                lr: l,
                bal: b,
            });
        }
        let votes = max_votes(&st.d.votes_sent, b);
        let proposals: Vec<Vote> =
            st.d.two_av_sent
                .iter()
                .filter(|p| p.bal < b && p.lr == l)
                .cloned()
                .collect();
        let m = Msg1b {
            slot,
            lr: l,
            acc: id,
            bal: b,
            votes,
            proposals,
        };
        fx.action(|| SpecAction::Phase1b {
            slot,
            lr: l,
            bal: b,
            acc: id,
        });
        if self.signed_proposals() && !m.votes.is_empty() {
            self.relay_votes(slot, &m.votes, fx);
        }
        self.send_and_receive(Message::M1b(m), fx);
    }

    /// Does this acceptor know of a vote at ballot `b` of `slot`: its own, a
    /// 2b received, or one a received 1b reports (2b are sent once; 1b are
    /// sent again on every 1a)?
    fn votes_known_at(&self, slot: Slot, b: Ballot) -> bool {
        self.slots.get(&slot).is_some_and(|st| {
            st.d.votes_sent.iter().any(|v| v.bal == b)
                || st.idx.two_b_seen.keys().any(|(_, c, _)| *c == b)
                || st
                    .idx
                    .one_b
                    .values()
                    .any(|k| k.msgs().iter().any(|m| m.votes.iter().any(|v| v.bal == b)))
        })
    }

    /// Tries `Phase2av(l, b, a, v)` for every value announced at `b`.
    fn try_phase_2av(&mut self, slot: Slot, l: LearnerId, b: Ballot, fx: &mut Effects) {
        let vals: Vec<Value> = match self.slots.get(&slot).and_then(|s| s.idx.announced.get(&b)) {
            _ if mutant!(Phase2avAnnouncedAnyBallot) => {
                self.slots.get(&slot).map_or(Vec::new(), |s| {
                    s.idx
                        .announced
                        .values()
                        .flat_map(|vs| vs.values().cloned())
                        .collect()
                })
            }
            Some(vs) => vs.values().cloned().collect(),
            None => return,
        };
        for v in vals {
            self.phase_2av(slot, l, b, &v, fx);
        }
    }

    /// `Phase2av(l, b, a, v)`:
    /// ```text
    /// /\ maxBal[l, a] =< b
    /// /\ InitializedBallot(l, b)
    /// /\ AnnouncedValue(l, b, v)
    /// /\ \A P \in {p \in 2avSent[a] : p.bal = b /\ <<p.lr, l>> \in connected[a]} : P.val = v
    /// /\ KnowsSafeAt(l, a, b, v)
    /// /\ Send([type |-> "2av", lr |-> l, acc |-> a, bal |-> b, val |-> v])
    /// /\ 2avSent' = [2avSent EXCEPT ![a] = 2avSent[a] \cup {[lr |-> l, bal |-> b, val |-> v]}]
    /// ```
    /// Does nothing when the 2av was already sent. With
    /// [`AcceptorOptions::late`] it is also `Phase2avLate(l, b, a, v)` of
    /// `spec/HPaxosLate.tla`: every conjunct but the first.
    pub fn phase_2av(&mut self, slot: Slot, l: LearnerId, b: Ballot, v: &Value, fx: &mut Effects) {
        let id = self.id;
        let Some(st) = self.slots.get(&slot) else {
            return;
        };
        let vote = Vote {
            lr: l,
            bal: b,
            val: v.clone(),
        };
        let enabled = (mutant!(Phase2avIgnoreMaxBal) || self.opts.late || st.max_bal(l) <= b)
            && (mutant!(Phase2avWithout1a) || st.idx.initialized.contains(&(l, b)))
            && (mutant!(Phase2avAnnouncedAnyBallot)
                || st
                    .idx
                    .announced
                    .get(&b)
                    .is_some_and(|vs| vs.contains_key(&v.digest())))
            && !st.d.two_av_sent.contains(&vote)
            && (mutant!(Phase2avTwoValues)
                || st
                    .d
                    .two_av_sent
                    .iter()
                    .filter(|p| p.bal == b && self.connected.contains(p.lr, l))
                    .all(|p| &p.val == v))
            && st
                .idx
                .one_b
                .get(&(l, b))
                .is_some_and(|bucket| bucket.knows_safe_at(&self.trust, v));
        if !enabled {
            return;
        }
        // A late 2av (below `maxBal[l, a]`) only where some learner voted:
        // that is what it is for (the learner's proposals at a vote's
        // ballot, `spec/MCStall.tla`). Elsewhere it can only complete a 2av
        // quorum for acceptors still at `b`, whose votes there the round
        // above (begun on 1b that reported no such proposals) never saw:
        // the fault harness (schedule ci, seeds 1 and 2) lost alice a slot
        // for good that way. Not taking an enabled step is always allowed.
        if self.opts.late && st.max_bal(l) > b && !self.votes_known_at(slot, b) {
            return;
        }
        if fx.record_actions && self.signed_proposals() {
            let support = st
                .idx
                .one_b
                .get(&(l, b))
                .map(|k| k.signed_support(&self.trust, v))
                .unwrap_or_default();
            for (c, from) in support {
                fx.action(|| SpecAction::Recv1bOf {
                    slot,
                    lr: l,
                    bal: b,
                    from,
                    acc: id,
                    c,
                    val: v.clone(),
                });
            }
        }
        let st = self.slot(slot);
        st.d.two_av_sent.insert(vote.clone());
        fx.persist.push(Durable::Proposed { slot, vote });
        fx.action(|| SpecAction::Phase2av {
            slot,
            lr: l,
            bal: b,
            acc: id,
            val: v.clone(),
        });
        let m = Msg2av {
            slot,
            lr: l,
            acc: id,
            bal: b,
            val: v.clone(),
        };
        self.send_and_receive(Message::M2av(m), fx);
    }

    /// `Phase2b(l, b, a, v)`:
    /// ```text
    /// /\ \A L \in Learner : maxBal[L, a] =< b
    /// /\ \E Q \in ByzQuorum : [lr |-> l, q |-> Q] \in TrustLive /\
    ///      \A aa \in Q : \E m \in {mm \in received[a] : mm.type = "2av" /\ mm.lr = l /\ mm.bal = b} :
    ///        m.val = v /\ m.acc = aa
    /// /\ Send([type |-> "2b", lr |-> l, acc |-> a, bal |-> b, val |-> v])
    /// /\ votesSent' = [votesSent EXCEPT ![a] = votesSent[a] \cup {[lr |-> l, bal |-> b, val |-> v]}]
    /// ```
    /// Does nothing when the vote was already cast.
    pub fn phase_2b(&mut self, slot: Slot, l: LearnerId, b: Ballot, v: &Value, fx: &mut Effects) {
        let id = self.id;
        let Some(st) = self.slots.get(&slot) else {
            return;
        };
        let vote = Vote {
            lr: l,
            bal: b,
            val: v.clone(),
        };
        let enabled = (mutant!(Phase2bIgnoreMaxBal)
            || if mutant!(Phase2bOwnLearnerMaxBal) {
                st.max_bal(l) <= b
            } else {
                st.max_any <= b
            })
            && !st.d.votes_sent.contains(&vote)
            && st
                .idx
                .two_av
                .get(&(l, b, v.digest()))
                .is_some_and(|senders| {
                    (mutant!(Phase2bAnySenders) && !senders.is_empty())
                        || self.trust.is_quorum(l, senders)
                });
        if !enabled {
            return;
        }
        let st = self.slot(slot);
        st.d.votes_sent.insert(vote.clone());
        fx.persist.push(Durable::Voted { slot, vote });
        fx.action(|| SpecAction::Phase2b {
            slot,
            lr: l,
            bal: b,
            acc: id,
            val: v.clone(),
        });
        fx.send.push(Message::M2b(Msg2b {
            slot,
            lr: l,
            acc: id,
            bal: b,
            val: v.clone(),
        }));
    }

    /// `Send(m)` then `Recv(_, a)` of the acceptor's own message: its 1b and
    /// 2av count in its own quorums, as any received message does.
    fn send_and_receive(&mut self, m: Message, fx: &mut Effects) {
        fx.send.push(m.clone());
        self.handle(&m, fx);
    }

    /// Keeps proof that `acc` equivocated; with disconnection on, takes
    /// `Disconnect(a)` for the pairs that are not entangled even if every
    /// acceptor not yet proven faulty is safe.
    fn record_fault(&mut self, acc: AcceptorId, first: Message, second: Message, fx: &mut Effects) {
        let ev = Evidence { acc, first, second };
        fx.evidence.push(ev.clone());
        if self.faulty.insert(acc, ev).is_some() || !self.opts.disconnect {
            return;
        }
        self.disconnect(fx);
    }

    /// `Disconnect(a)`:
    /// ```text
    /// /\ \E P \in SUBSET {LL \in Learner \X Learner : LL \notin Ent} :
    ///      connected' = [connected EXCEPT ![a] = connected[a] \ P]
    /// ```
    /// The safe set is unknown; it is a subset of the acceptors not proven
    /// faulty, and closure families are upward-closed, so a pair whose
    /// closure edge fails even for that superset is certainly not in `Ent`.
    pub fn disconnect(&mut self, fx: &mut Effects) {
        let maybe_safe = self.trust.all_acceptors().difference(&self.proven_faulty());
        let learners: Vec<LearnerId> = self.trust.learners().collect();
        let mut removed = Vec::new();
        for &l1 in &learners {
            for &l2 in &learners {
                if self.connected.contains(l1, l2)
                    && (mutant!(DisconnectEntangled) || !self.trust.entangled(l1, l2, &maybe_safe))
                {
                    self.connected.remove(l1, l2);
                    removed.push((l1, l2));
                }
            }
        }
        if removed.is_empty() {
            return;
        }
        for pair in &removed {
            fx.persist.push(Durable::Disconnected { pair: *pair });
        }
        let acc = self.id;
        fx.action(|| SpecAction::Disconnect {
            acc,
            pairs: removed.clone(),
        });
        // Fewer connected pairs can only enable more 2av (guards are monotone).
        for st in self.slots.values_mut() {
            for bucket in st.idx.one_b.values_mut() {
                bucket.rebuild(&self.connected);
            }
        }
        let keys: Vec<(Slot, LearnerId, Ballot)> = self
            .slots
            .iter()
            .flat_map(|(s, st)| st.idx.one_b.keys().map(move |(l, b)| (*s, *l, *b)))
            .collect();
        for (s, l, b) in keys {
            self.try_phase_2av(s, l, b, fx);
        }
    }
}

/// `{p \in votesSent[a] : MaxVote(a, b, p)}` where
/// ```text
/// MaxVote(a, b, vote) == /\ vote.bal < b
///                        /\ \A other \in votesSent[a] :
///                             other.lr = vote.lr /\ other.bal < b => other.bal =< vote.bal
/// ```
pub fn max_votes(votes_sent: &BTreeSet<Vote>, b: Ballot) -> Vec<Vote> {
    #[cfg(feature = "mutations")]
    if crate::mutations::active(crate::mutations::Mutation::Ignore1bVotes) {
        return Vec::new();
    }
    let mut top: BTreeMap<LearnerId, Ballot> = BTreeMap::new();
    for v in votes_sent.iter().filter(|v| v.bal < b) {
        let e = top.entry(v.lr).or_insert(v.bal);
        *e = (*e).max(v.bal);
    }
    votes_sent
        .iter()
        .filter(|v| v.bal < b && top.get(&v.lr) == Some(&v.bal))
        .cloned()
        .collect()
}
