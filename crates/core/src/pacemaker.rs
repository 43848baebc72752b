//! The pacemaker: liveness logic for proposers, shared by the simulator and
//! the node. Pure: no clock, no RNG, no I/O. The caller passes the current
//! time `now` (in abstract [`Tick`]s of its choosing: the simulator uses
//! virtual microseconds, the node real milliseconds) and gets back
//! [`Action`]s to carry out with a [`crate::Proposer`].
//!
//! Where it sits: client commands go in with [`Pacemaker::submit`]; the
//! caller calls [`Pacemaker::poll`] whenever something happened or
//! [`Pacemaker::next_wakeup`] is reached, and executes the actions:
//!
//! - [`Action::Start`] `{slot, ballot, value}` → `proposer.start(slot, learners, ballot, value, fx)`
//! - [`Action::Retransmit`] `{slot, ..}` → `proposer.retransmit(slot, fx)`
//!
//! and reports what it observes: every ballot seen in a 1b (or 2av/2b) of a
//! slot ([`Pacemaker::observe`]), and every learner decision
//! ([`Pacemaker::on_decided`]). Nothing here touches safety: the spec puts
//! no guard on `Phase1a`/`Phase1c`, and the acceptors' `KnowsSafeAt` decides
//! what may be voted. The pacemaker only decides *when* to run *which*
//! ballot of *which* slot with *which* value.
//!
//! Rules:
//! - **Ballot ownership.** Ballot `b` is owned by proposer `b mod n`
//!   ([`owner`]); a proposer only starts ballots it owns, so two correct
//!   proposers never run the same ballot of a slot. Ballot 0 is never used
//!   (it is every acceptor's initial `maxBal`).
//! - **Slot lanes.** Slot `s` is *home* to proposer `s mod n`; a proposer
//!   starts new slots only in its own lane, at most `window` at a time.
//!   When another lane runs ahead, an idle proposer fills its skipped slots
//!   with empty batches (no-ops) so that learners' logs have no holes.
//! - **Timeouts with backoff.** A ballot that has not completed after
//!   `timeout(level)` is retransmitted (1a and 1c again) up to
//!   `retransmits` times, then abandoned for the next owned ballot above
//!   every ballot observed for the slot; each new ballot doubles the timeout
//!   up to `max_timeout`. A deterministic per-(proposer, slot, level) jitter
//!   of up to half the timeout breaks symmetry between proposers.
//! - **Adoption.** A slot of another lane that was seen started (a 1b for
//!   it was observed) but has not completed after `adopt_timeout` (plus a
//!   stagger by ring distance, so the next proposer goes first) is taken
//!   over with a no-op at an owned ballot: a crashed proposer's slots
//!   still complete.
//! - **Batching.** Commands are cut into a batch when `max_batch` commands
//!   (or `max_batch_bytes`) are queued, or when the oldest has waited
//!   `batch_delay`. A batch becomes a [`Value`] by [`encode_batch`], whose
//!   header names the proposer and slot, so distinct proposals are distinct
//!   values. If a slot completes with another value than this proposer's
//!   (a value forced by `KnowsSafeAt`), its commands are queued again.
//! - **Completion.** A slot completes when every learner in `required` has
//!   decided it ([`Pacemaker::on_decided`]).

use crate::ids::{Ballot, LearnerId, Slot};
use crate::value::Value;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// A point in the caller's abstract time (monotone, any unit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tick(pub u64);

impl Tick {
    /// `self + d`, saturating.
    pub fn after(self, d: u64) -> Tick {
        Tick(self.0.saturating_add(d))
    }
}

/// Index of a proposer among the `n` proposers that share ballots and slots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProposerIndex(pub u16);

/// Settings of one proposer's pacemaker. Durations are in [`Tick`]s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacemakerConfig {
    /// This proposer.
    pub me: ProposerIndex,
    /// Number of proposers sharing ballots and slots (`n >= 1`).
    pub proposers: u16,
    /// Learners whose decisions complete a slot.
    pub required: Vec<LearnerId>,
    /// Timeout of a first ballot.
    pub base_timeout: u64,
    /// Cap of the exponential backoff.
    pub max_timeout: u64,
    /// Retransmissions of a ballot before moving to the next owned ballot.
    pub retransmits: u32,
    /// Own-lane slots in flight at once (`>= 1`).
    pub window: usize,
    /// Commands per batch (`>= 1`).
    pub max_batch: usize,
    /// Bytes of commands per batch (a single larger command still goes alone).
    pub max_batch_bytes: usize,
    /// How long the oldest queued command waits for a fuller batch.
    pub batch_delay: u64,
    /// Silence after which a started slot of another lane is adopted.
    pub adopt_timeout: u64,
    /// An own slot in flight for longer than this stops counting toward the
    /// window (it is still retried): a slot that cannot be decided (see
    /// the simulator's notes on poisoned slots) must not stall the lane.
    /// `0` disables this.
    pub stuck_after: u64,
}

impl PacemakerConfig {
    /// Sensible defaults for proposer `me` of `proposers`, with time in
    /// units where one message delay is about `delay` ticks.
    pub fn new(me: ProposerIndex, proposers: u16, required: Vec<LearnerId>, delay: u64) -> Self {
        let delay = delay.max(1);
        PacemakerConfig {
            me,
            proposers,
            required,
            base_timeout: 12 * delay,
            max_timeout: 96 * delay,
            retransmits: 1,
            window: 8,
            max_batch: 16,
            max_batch_bytes: 64 * 1024,
            batch_delay: delay,
            adopt_timeout: 40 * delay,
            stuck_after: 0,
        }
    }
}

/// A configuration the pacemaker cannot run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PacemakerError {
    #[error("there must be at least one proposer")]
    NoProposers,
    #[error("proposer index {0} is not below the number of proposers {1}")]
    BadIndex(u16, u16),
    #[error("window and max_batch must be at least 1")]
    ZeroSize,
    #[error("base_timeout must be at least 1 and at most max_timeout")]
    BadTimeout,
}

/// What the caller must do now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Start `ballot` of `slot` proposing `value`:
    /// `proposer.start(slot, learners, ballot, value, fx)`.
    Start {
        slot: Slot,
        ballot: Ballot,
        value: Value,
    },
    /// Send the current ballot's 1a/1c again: `proposer.retransmit(slot, fx)`.
    Retransmit { slot: Slot, ballot: Ballot },
}

/// The proposer that owns ballot `b` among `n`: `b mod n`.
pub fn owner(b: Ballot, n: u16) -> ProposerIndex {
    ProposerIndex((b.0 % u64::from(n.max(1))) as u16)
}

/// The smallest ballot above `above` owned by `me` among `n` (never 0).
pub fn next_owned(me: ProposerIndex, n: u16, above: Ballot) -> Ballot {
    let n = u64::from(n.max(1));
    let me = u64::from(me.0) % n;
    let start = above.0.saturating_add(1).max(1);
    let r = start % n;
    let add = (me + n - r) % n;
    Ballot(start.saturating_add(add))
}

/// The proposer whose lane slot `s` is in: `s mod n`.
pub fn home(s: Slot, n: u16) -> ProposerIndex {
    ProposerIndex((s.0 % u64::from(n.max(1))) as u16)
}

/// A decoded batch: who proposed it, for which slot, and its commands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    pub proposer: ProposerIndex,
    pub slot: Slot,
    pub commands: Vec<Vec<u8>>,
}

/// A value that is not a well-formed batch.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("value is not a batch (bad header)")]
    Header,
    #[error("batch is truncated")]
    Truncated,
}

const BATCH_MAGIC: u8 = b'H';

/// Encodes a batch as value bytes:
/// `'H' | proposer u16 LE | slot u64 LE | count u32 LE | (len u32 LE | bytes)*`.
pub fn encode_batch(proposer: ProposerIndex, slot: Slot, commands: &[Vec<u8>]) -> Value {
    let len: usize = commands.iter().map(|c| 4 + c.len()).sum();
    let mut out = Vec::with_capacity(15 + len);
    out.push(BATCH_MAGIC);
    out.extend_from_slice(&proposer.0.to_le_bytes());
    out.extend_from_slice(&slot.0.to_le_bytes());
    out.extend_from_slice(&(commands.len() as u32).to_le_bytes());
    for c in commands {
        out.extend_from_slice(&(c.len() as u32).to_le_bytes());
        out.extend_from_slice(c);
    }
    Value::new(out)
}

/// Decodes value bytes made by [`encode_batch`]; any other bytes are an error.
pub fn decode_batch(bytes: &[u8]) -> Result<Batch, BatchError> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], BatchError> {
        if b.len() < n {
            return Err(BatchError::Truncated);
        }
        let (h, t) = b.split_at(n);
        *b = t;
        Ok(h)
    }
    fn arr<const N: usize>(b: &mut &[u8]) -> Result<[u8; N], BatchError> {
        let mut a = [0u8; N];
        a.copy_from_slice(take(b, N)?);
        Ok(a)
    }
    let mut b = bytes;
    if take(&mut b, 1)? != [BATCH_MAGIC] {
        return Err(BatchError::Header);
    }
    let proposer = ProposerIndex(u16::from_le_bytes(arr(&mut b)?));
    let slot = Slot(u64::from_le_bytes(arr(&mut b)?));
    let count = u32::from_le_bytes(arr(&mut b)?) as usize;
    let mut commands = Vec::with_capacity(count.min(b.len() / 4));
    for _ in 0..count {
        let n = u32::from_le_bytes(arr(&mut b)?) as usize;
        commands.push(take(&mut b, n)?.to_vec());
    }
    if !b.is_empty() {
        return Err(BatchError::Header);
    }
    Ok(Batch {
        proposer,
        slot,
        commands,
    })
}

/// One slot this proposer is driving.
#[derive(Clone, Debug)]
struct InFlight {
    ballot: Ballot,
    value: Value,
    /// Commands of `value` (re-queued if another value completes the slot).
    commands: Vec<Vec<u8>>,
    /// Highest ballot observed for this slot.
    observed: Ballot,
    deadline: Tick,
    /// Backoff level: number of ballots started so far minus one.
    level: u32,
    retransmits_left: u32,
    /// In this proposer's lane (counts toward the window until stuck).
    own: bool,
    /// When this proposer first started the slot.
    since: Tick,
    /// No longer counted toward the window (`stuck_after` passed).
    stuck: bool,
    decided_by: BTreeSet<LearnerId>,
    /// The value decided by some required learner, if any.
    decided_value: Option<Value>,
}

/// Counters for status pages and the simulator's summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacemakerStats {
    pub ballots_started: u64,
    pub retransmits: u64,
    pub slots_completed: u64,
    pub slots_adopted: u64,
    pub noops: u64,
    pub commands_requeued: u64,
    pub slots_stuck: u64,
}

/// One proposer's liveness state machine. See the module doc.
#[derive(Clone, Debug)]
pub struct Pacemaker {
    cfg: PacemakerConfig,
    queue: VecDeque<(Tick, Vec<u8>)>,
    queued_bytes: usize,
    next_slot: Slot,
    slots: BTreeMap<Slot, InFlight>,
    own_in_flight: usize,
    /// Slots of other lanes seen started, not yet completed: first seen, highest ballot.
    foreign: BTreeMap<Slot, (Tick, Ballot)>,
    /// Highest slot seen started by anyone (fill target).
    highest_seen: Option<Slot>,
    /// Completed slots at or above `done_below` (below it everything is complete).
    done: BTreeSet<Slot>,
    done_below: Slot,
    stats: PacemakerStats,
}

impl Pacemaker {
    /// A pacemaker for `cfg`; errors on a configuration it cannot run.
    pub fn new(cfg: PacemakerConfig) -> Result<Pacemaker, PacemakerError> {
        if cfg.proposers == 0 {
            return Err(PacemakerError::NoProposers);
        }
        if cfg.me.0 >= cfg.proposers {
            return Err(PacemakerError::BadIndex(cfg.me.0, cfg.proposers));
        }
        if cfg.window == 0 || cfg.max_batch == 0 {
            return Err(PacemakerError::ZeroSize);
        }
        if cfg.base_timeout == 0 || cfg.base_timeout > cfg.max_timeout {
            return Err(PacemakerError::BadTimeout);
        }
        Ok(Pacemaker {
            next_slot: Slot(u64::from(cfg.me.0)),
            cfg,
            queue: VecDeque::new(),
            queued_bytes: 0,
            slots: BTreeMap::new(),
            own_in_flight: 0,
            foreign: BTreeMap::new(),
            highest_seen: None,
            done: BTreeSet::new(),
            done_below: Slot(0),
            stats: PacemakerStats::default(),
        })
    }

    pub fn config(&self) -> &PacemakerConfig {
        &self.cfg
    }

    pub fn stats(&self) -> PacemakerStats {
        self.stats
    }

    /// Commands queued, not yet in a batch.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Slots being driven (own and adopted).
    pub fn in_flight(&self) -> usize {
        self.slots.len()
    }

    /// The ballot currently run for `slot` by this proposer, if any.
    pub fn ballot(&self, slot: Slot) -> Option<Ballot> {
        self.slots.get(&slot).map(|f| f.ballot)
    }

    /// Has `slot` completed (decided by every required learner), as far as
    /// this pacemaker was told?
    pub fn is_complete(&self, slot: Slot) -> bool {
        slot < self.done_below || self.done.contains(&slot)
    }

    /// After a restart: start the own lane at the first own slot at or
    /// above `slot` (so slots already used are not proposed again).
    pub fn resume_from(&mut self, slot: Slot) {
        let n = u64::from(self.cfg.proposers);
        let me = u64::from(self.cfg.me.0);
        let mut s = slot.0 - slot.0 % n + me;
        if s < slot.0 {
            s += n;
        }
        self.next_slot = self.next_slot.max(Slot(s));
    }

    /// Queues a client command.
    pub fn submit(&mut self, now: Tick, command: Vec<u8>) {
        self.queued_bytes += command.len();
        self.queue.push_back((now, command));
    }

    /// Reports a ballot seen in a message of `slot` (1b, 2av or 2b). Marks
    /// a slot of another lane as started, and raises the ballot floor for
    /// this proposer's next ballot of the slot.
    pub fn observe(&mut self, now: Tick, slot: Slot, ballot: Ballot) {
        if self.is_complete(slot) {
            return;
        }
        self.highest_seen = Some(self.highest_seen.map_or(slot, |h| h.max(slot)));
        if let Some(f) = self.slots.get_mut(&slot) {
            f.observed = f.observed.max(ballot);
            return;
        }
        if home(slot, self.cfg.proposers) == self.cfg.me {
            // An own-lane slot not (or no longer) in flight: nothing to adopt.
            return;
        }
        let e = self.foreign.entry(slot).or_insert((now, ballot));
        e.1 = e.1.max(ballot);
    }

    /// Reports that learner `lr` decided `value` in `slot`. Completes the
    /// slot once every required learner has decided; if the completing
    /// value is not this proposer's, its commands are queued again.
    pub fn on_decided(&mut self, now: Tick, slot: Slot, lr: LearnerId, value: &Value) {
        if self.is_complete(slot) || !self.cfg.required.contains(&lr) {
            return;
        }
        let all_decided = match self.slots.get_mut(&slot) {
            Some(f) => {
                f.decided_by.insert(lr);
                if f.decided_value.is_none() {
                    f.decided_value = Some(value.clone());
                }
                self.cfg.required.iter().all(|l| f.decided_by.contains(l))
            }
            None => {
                // Not driven here: track it as a foreign slot so that the
                // decision set is remembered, then complete if possible.
                let mut f = InFlight {
                    ballot: Ballot::ZERO,
                    value: value.clone(),
                    commands: Vec::new(),
                    observed: Ballot::ZERO,
                    deadline: Tick(u64::MAX),
                    level: 0,
                    retransmits_left: 0,
                    own: false,
                    since: now,
                    stuck: false,
                    decided_by: BTreeSet::new(),
                    decided_value: Some(value.clone()),
                };
                f.decided_by.insert(lr);
                let all = self.cfg.required.iter().all(|l| f.decided_by.contains(l));
                if !all {
                    // Remember partial decisions without driving the slot.
                    self.foreign.entry(slot).or_insert((now, Ballot::ZERO));
                    self.slots.insert(slot, f);
                    // Not ours to drive: deadline MAX keeps it passive.
                    return;
                }
                self.slots.insert(slot, f);
                true
            }
        };
        if all_decided {
            self.complete(slot);
        }
    }

    fn complete(&mut self, slot: Slot) {
        if let Some(f) = self.slots.remove(&slot) {
            if f.own && !f.stuck {
                self.own_in_flight -= 1;
            }
            if f.decided_value.as_ref() != Some(&f.value) && !f.commands.is_empty() {
                self.stats.commands_requeued += f.commands.len() as u64;
                for c in f.commands.into_iter().rev() {
                    self.queued_bytes += c.len();
                    self.queue.push_front((Tick(0), c));
                }
            }
            if f.deadline != Tick(u64::MAX) {
                self.stats.slots_completed += 1;
            }
        }
        self.foreign.remove(&slot);
        self.done.insert(slot);
        while self.done.remove(&self.done_below) {
            self.done_below = Slot(self.done_below.0 + 1);
        }
    }

    fn timeout(&self, slot: Slot, level: u32) -> u64 {
        let t = self
            .cfg
            .base_timeout
            .saturating_mul(1u64 << level.min(32))
            .min(self.cfg.max_timeout);
        t + jitter(self.cfg.me, slot, level) % (t / 2 + 1)
    }

    fn start(&mut self, now: Tick, slot: Slot, f: InFlight, out: &mut Vec<Action>) {
        self.stats.ballots_started += 1;
        out.push(Action::Start {
            slot,
            ballot: f.ballot,
            value: f.value.clone(),
        });
        let _ = now;
        if f.own {
            self.own_in_flight += 1;
        }
        self.slots.insert(slot, f);
    }

    fn fresh(&self, now: Tick, slot: Slot, commands: Vec<Vec<u8>>, own: bool) -> InFlight {
        let value = encode_batch(self.cfg.me, slot, &commands);
        let floor = self.foreign.get(&slot).map_or(Ballot::ZERO, |x| x.1);
        InFlight {
            ballot: next_owned(self.cfg.me, self.cfg.proposers, floor),
            value,
            commands,
            observed: floor,
            deadline: now.after(self.timeout(slot, 0)),
            level: 0,
            retransmits_left: self.cfg.retransmits,
            own,
            since: now,
            stuck: false,
            decided_by: BTreeSet::new(),
            decided_value: None,
        }
    }

    fn cut_batch(&mut self) -> Vec<Vec<u8>> {
        let mut cmds = Vec::new();
        let mut bytes = 0usize;
        while let Some((_, c)) = self.queue.front() {
            if cmds.len() >= self.cfg.max_batch
                || (!cmds.is_empty() && bytes + c.len() > self.cfg.max_batch_bytes)
            {
                break;
            }
            bytes += c.len();
            if let Some((_, c)) = self.queue.pop_front() {
                self.queued_bytes -= c.len();
                cmds.push(c);
            }
        }
        cmds
    }

    fn batch_ready(&self, now: Tick) -> bool {
        match self.queue.front() {
            None => false,
            Some((t, _)) => {
                self.queue.len() >= self.cfg.max_batch
                    || self.queued_bytes >= self.cfg.max_batch_bytes
                    || now >= t.after(self.cfg.batch_delay)
            }
        }
    }

    fn adopt_at(&self, slot: Slot, first_seen: Tick) -> Tick {
        let n = self.cfg.proposers;
        let h = home(slot, n).0;
        let dist = (self.cfg.me.0 + n - h) % n;
        first_seen.after(
            self.cfg
                .adopt_timeout
                .saturating_mul(u64::from(dist.max(1))),
        )
    }

    /// Does everything due at `now`, appending the actions to `out`:
    /// new batches and no-op fills in the own lane (within the window),
    /// adoptions of stalled foreign slots, retransmissions and new ballots
    /// of slots whose timeout expired.
    pub fn poll(&mut self, now: Tick, out: &mut Vec<Action>) {
        let n = u64::from(self.cfg.proposers);
        // Stuck slots leave the window (they keep being retried).
        if self.cfg.stuck_after > 0 {
            for f in self.slots.values_mut() {
                if f.own && !f.stuck && now >= f.since.after(self.cfg.stuck_after) {
                    f.stuck = true;
                    self.own_in_flight -= 1;
                    self.stats.slots_stuck += 1;
                }
            }
        }
        // New batches.
        while self.own_in_flight < self.cfg.window && self.batch_ready(now) {
            let slot = self.next_slot;
            self.next_slot = Slot(slot.0 + n);
            if self.is_complete(slot) {
                continue;
            }
            let cmds = self.cut_batch();
            let f = self.fresh(now, slot, cmds, true);
            self.start(now, slot, f, out);
        }
        // No-op fills: another lane ran ahead of ours.
        while self.own_in_flight < self.cfg.window
            && self.queue.is_empty()
            && self.highest_seen.is_some_and(|h| self.next_slot < h)
        {
            let slot = self.next_slot;
            self.next_slot = Slot(slot.0 + n);
            if self.is_complete(slot) || self.slots.contains_key(&slot) {
                continue;
            }
            self.stats.noops += 1;
            let f = self.fresh(now, slot, Vec::new(), true);
            self.start(now, slot, f, out);
        }
        // Adoptions.
        let due: Vec<Slot> = self
            .foreign
            .iter()
            .filter(|(s, (t, _))| {
                self.slots
                    .get(s)
                    .is_none_or(|f| f.deadline == Tick(u64::MAX))
                    && now >= self.adopt_at(**s, *t)
            })
            .map(|(s, _)| *s)
            .collect();
        for slot in due {
            self.stats.slots_adopted += 1;
            let mut f = self.fresh(now, slot, Vec::new(), false);
            if let Some(prev) = self.slots.remove(&slot) {
                f.decided_by = prev.decided_by;
                f.decided_value = prev.decided_value;
            }
            self.start(now, slot, f, out);
        }
        // Timeouts.
        let expired: Vec<Slot> = self
            .slots
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(s, _)| *s)
            .collect();
        for slot in expired {
            let to = |lvl| self.timeout(slot, lvl);
            let Some(f) = self.slots.get(&slot) else {
                continue;
            };
            if f.retransmits_left > 0 {
                let d = to(f.level);
                if let Some(f) = self.slots.get_mut(&slot) {
                    f.retransmits_left -= 1;
                    f.deadline = now.after(d);
                    self.stats.retransmits += 1;
                    out.push(Action::Retransmit {
                        slot,
                        ballot: f.ballot,
                    });
                }
            } else {
                let level = f.level.saturating_add(1);
                let d = to(level);
                let (me, np) = (self.cfg.me, self.cfg.proposers);
                let retransmits = self.cfg.retransmits;
                if let Some(f) = self.slots.get_mut(&slot) {
                    f.level = level;
                    f.ballot = next_owned(me, np, f.ballot.max(f.observed));
                    f.retransmits_left = retransmits;
                    f.deadline = now.after(d);
                    self.stats.ballots_started += 1;
                    out.push(Action::Start {
                        slot,
                        ballot: f.ballot,
                        value: f.value.clone(),
                    });
                }
            }
        }
    }

    /// The earliest time at which [`Pacemaker::poll`] has something to do
    /// (a timeout, a batch delay, an adoption), if any.
    pub fn next_wakeup(&self) -> Option<Tick> {
        let mut t: Option<Tick> = None;
        let mut take = |x: Tick| t = Some(t.map_or(x, |y| y.min(x)));
        for f in self.slots.values() {
            if f.deadline != Tick(u64::MAX) {
                take(f.deadline);
            }
        }
        if self.cfg.stuck_after > 0 && self.own_in_flight >= self.cfg.window {
            for f in self.slots.values() {
                if f.own && !f.stuck {
                    take(f.since.after(self.cfg.stuck_after));
                }
            }
        }
        if self.own_in_flight < self.cfg.window {
            if let Some((q, _)) = self.queue.front() {
                take(q.after(self.cfg.batch_delay));
            }
        }
        for (s, (seen, _)) in &self.foreign {
            if self
                .slots
                .get(s)
                .is_none_or(|f| f.deadline == Tick(u64::MAX))
            {
                take(self.adopt_at(*s, *seen));
            }
        }
        t
    }
}

/// Deterministic jitter from (proposer, slot, level): a splitmix64 hash.
fn jitter(me: ProposerIndex, slot: Slot, level: u32) -> u64 {
    let mut z = slot
        .0
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(u64::from(me.0) << 40)
        .wrapping_add(u64::from(level));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(me: u16, n: u16) -> PacemakerConfig {
        let mut c = PacemakerConfig::new(ProposerIndex(me), n, vec![LearnerId(0)], 10);
        c.max_batch = 2;
        c.window = 2;
        c
    }

    fn starts(out: &[Action]) -> Vec<(Slot, Ballot)> {
        out.iter()
            .filter_map(|a| match a {
                Action::Start { slot, ballot, .. } => Some((*slot, *ballot)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn ballots_are_owned_round_robin_and_never_zero() {
        for n in 1..5u16 {
            for me in 0..n {
                let mut b = Ballot::ZERO;
                for _ in 0..10 {
                    let nb = next_owned(ProposerIndex(me), n, b);
                    assert!(nb > b && nb.0 > 0);
                    assert_eq!(owner(nb, n), ProposerIndex(me));
                    // No owned ballot is skipped.
                    assert!((b.0 + 1..nb.0).all(|x| owner(Ballot(x), n).0 != me || x == 0));
                    b = nb;
                }
            }
        }
    }

    #[test]
    fn batches_round_trip_and_reject_garbage() {
        let cmds = vec![b"put a 1".to_vec(), Vec::new(), b"x".to_vec()];
        let v = encode_batch(ProposerIndex(3), Slot(77), &cmds);
        let b = decode_batch(v.bytes()).unwrap();
        assert_eq!(b.proposer, ProposerIndex(3));
        assert_eq!(b.slot, Slot(77));
        assert_eq!(b.commands, cmds);
        assert!(decode_batch(b"").is_err());
        assert!(decode_batch(&v.bytes()[..v.bytes().len() - 1]).is_err());
        assert!(decode_batch(b"Zxxxxxxxxxxxxxxx").is_err());
    }

    #[test]
    fn full_batches_start_in_own_lane_within_the_window() {
        let mut p = Pacemaker::new(cfg(1, 3)).unwrap();
        for i in 0..7u8 {
            p.submit(Tick(0), vec![i]);
        }
        let mut out = Vec::new();
        p.poll(Tick(0), &mut out);
        // Window 2, batch 2: slots 1 and 4 (lane of proposer 1 of 3), ballot 1.
        assert_eq!(
            starts(&out),
            vec![(Slot(1), Ballot(1)), (Slot(4), Ballot(1))]
        );
        assert_eq!(p.queued(), 3);
        // Completing slot 1 frees the window.
        if let Action::Start { value, .. } = &out[0] {
            p.on_decided(Tick(5), Slot(1), LearnerId(0), value);
        }
        let mut out = Vec::new();
        p.poll(Tick(5), &mut out);
        assert_eq!(starts(&out), vec![(Slot(7), Ballot(1))]);
    }

    #[test]
    fn partial_batch_waits_for_the_batch_delay() {
        let mut p = Pacemaker::new(cfg(0, 1)).unwrap();
        p.submit(Tick(100), b"a".to_vec());
        let mut out = Vec::new();
        p.poll(Tick(105), &mut out);
        assert!(out.is_empty());
        assert_eq!(p.next_wakeup(), Some(Tick(110)));
        p.poll(Tick(110), &mut out);
        assert_eq!(starts(&out), vec![(Slot(0), Ballot(1))]);
    }

    #[test]
    fn timeout_retransmits_then_moves_above_observed_ballot_with_backoff() {
        let mut p = Pacemaker::new(cfg(1, 2)).unwrap();
        p.submit(Tick(0), b"a".to_vec());
        p.submit(Tick(0), b"b".to_vec());
        let mut out = Vec::new();
        p.poll(Tick(0), &mut out);
        assert_eq!(starts(&out), vec![(Slot(1), Ballot(1))]);
        let t1 = p.next_wakeup().unwrap();
        assert!(t1 >= Tick(120) && t1 <= Tick(180));
        out.clear();
        p.poll(t1, &mut out);
        assert_eq!(
            out,
            vec![Action::Retransmit {
                slot: Slot(1),
                ballot: Ballot(1)
            }]
        );
        // Someone ran ballot 8 (ballot inflation): the next ballot is above it.
        p.observe(t1, Slot(1), Ballot(8));
        let t2 = p.next_wakeup().unwrap();
        out.clear();
        p.poll(t2, &mut out);
        assert_eq!(starts(&out), vec![(Slot(1), Ballot(9))]);
        let t3 = p.next_wakeup().unwrap();
        // Level 1: base 120 doubled, plus jitter below half.
        assert!(t3.0 - t2.0 >= 240 && t3.0 - t2.0 <= 360);
    }

    #[test]
    fn forced_value_requeues_the_commands() {
        let mut p = Pacemaker::new(cfg(0, 1)).unwrap();
        p.submit(Tick(0), b"a".to_vec());
        p.submit(Tick(0), b"b".to_vec());
        let mut out = Vec::new();
        p.poll(Tick(0), &mut out);
        assert_eq!(p.queued(), 0);
        let other = Value::new(b"someone else's".to_vec());
        p.on_decided(Tick(1), Slot(0), LearnerId(0), &other);
        assert!(p.is_complete(Slot(0)));
        assert_eq!(p.queued(), 2);
        out.clear();
        p.poll(Tick(1), &mut out);
        assert_eq!(starts(&out), vec![(Slot(1), Ballot(1))]);
        if let Action::Start { value, .. } = &out[0] {
            let b = decode_batch(value.bytes()).unwrap();
            assert_eq!(b.commands, vec![b"a".to_vec(), b"b".to_vec()]);
        }
    }

    #[test]
    fn stalled_foreign_slot_is_adopted_and_own_lane_is_filled() {
        let mut p = Pacemaker::new(cfg(1, 2)).unwrap();
        // Proposer 0 started slot 4 and went silent.
        p.observe(Tick(0), Slot(4), Ballot(2));
        let mut out = Vec::new();
        p.poll(Tick(0), &mut out);
        // Own lane slots 1 and 3 (below 4) are filled with no-ops.
        assert_eq!(
            starts(&out),
            vec![(Slot(1), Ballot(1)), (Slot(3), Ballot(1))]
        );
        out.clear();
        p.poll(Tick(400), &mut out);
        assert!(starts(&out).contains(&(Slot(4), Ballot(3))));
        assert_eq!(p.stats().slots_adopted, 1);
    }

    #[test]
    fn stuck_slots_leave_the_window_but_keep_being_retried() {
        let mut c = cfg(0, 1);
        c.window = 1;
        c.max_batch = 1;
        c.stuck_after = 1000;
        let mut p = Pacemaker::new(c).unwrap();
        p.submit(Tick(0), b"a".to_vec());
        p.submit(Tick(0), b"b".to_vec());
        let mut out = Vec::new();
        p.poll(Tick(0), &mut out);
        assert_eq!(starts(&out), vec![(Slot(0), Ballot(1))]);
        out.clear();
        p.poll(Tick(999), &mut out);
        assert!(!starts(&out).iter().any(|(s, _)| *s == Slot(1)));
        out.clear();
        p.poll(Tick(1000), &mut out);
        assert!(starts(&out).contains(&(Slot(1), Ballot(1))));
        assert_eq!(p.stats().slots_stuck, 1);
        assert!(p.ballot(Slot(0)).is_some());
    }

    #[test]
    fn bad_configurations_are_rejected() {
        let mut c = cfg(0, 1);
        c.proposers = 0;
        assert_eq!(Pacemaker::new(c).err(), Some(PacemakerError::NoProposers));
        assert!(Pacemaker::new(cfg(2, 2)).is_err());
        let mut c = cfg(0, 1);
        c.window = 0;
        assert!(Pacemaker::new(c).is_err());
    }
}
