//! The pacemaker: liveness logic for one proposer, shared by the node and
//! the simulator through [`crate::node::NodeCore`]. Pure: no clock, no RNG,
//! no I/O. The caller passes the current time `now` (in abstract [`Tick`]s
//! of its choosing: the simulator uses virtual microseconds, the node real
//! milliseconds) and gets back [`Action`]s to carry out with a
//! [`crate::Proposer`].
//!
//! Where it sits: client commands go in with [`Pacemaker::submit`]; the
//! caller calls [`Pacemaker::poll`] whenever something happened or
//! [`Pacemaker::next_wakeup`] is reached, and executes the actions:
//!
//! - [`Action::Start`] `{slot, ballot, value, learners, pinned}` →
//!   `proposer.start_for(slot, learners, ballot, value, pinned, fx)`
//! - [`Action::Retransmit`] `{slot, ..}` → `proposer.retransmit(slot, fx)`
//!
//! and reports what it observes: every ballot seen in a 1b, 2av or 2b of a
//! slot ([`Pacemaker::observe`]), and every learner decision
//! ([`Pacemaker::on_decided`]). Nothing here touches safety: the spec puts
//! no guard on `Phase1a`/`Phase1c`, and the acceptors' `KnowsSafeAt` decides
//! what may be voted. The pacemaker only decides *when* to run *which*
//! ballot of *which* slot for *which* learners with *which* value.
//!
//! Rules:
//! - **One leader.** Only the proposer the node layer made leader
//!   ([`Pacemaker::set_leader`], from the view it tracks) starts slots; the
//!   others only observe, so that a correct cluster has one proposer at a
//!   time and no slot is left a hole by a proposer that died with a lane of
//!   its own. Slots are numbered contiguously above every slot seen.
//! - **Takeover.** A new leader first drives every slot it knows of that
//!   is not decided by every learner: slots seen started and never decided
//!   get a no-op at an owned ballot above every ballot observed (if a value
//!   was already chosen there, `KnowsSafeAt` forces it), and holes below
//!   the highest slot seen are filled with no-ops, so learners' logs have
//!   no gap left by the old leader.
//! - **Ballot ownership.** Ballot `b` is owned by proposer `b mod n`
//!   ([`owner`]); a proposer only starts fresh ballots it owns, so two
//!   correct proposers never announce two values at one ballot. Ballot 0 is
//!   never used (it is every acceptor's initial `maxBal`).
//! - **Per-learner progress.** A slot stops occupying the window as soon as
//!   *one* learner decided it: a learner whose quorum is up is never held
//!   back by another learner's. The learners still missing it are retried,
//!   lowest slots first and at most `window` slots at a time, with the
//!   backoff below.
//! - **Pinned retries.** When learner `L` decided `v` at ballot `c`, a
//!   missing learner is first retried at the *same* ballot `c` with `v`
//!   (`Phase1a(l, c)`, then a 1c of `v` only). Its acceptors have not voted
//!   above `c` for anyone (Phase2b needs every `maxBal =< c`), so `l`'s 1b
//!   messages at `c` report the same votes below `c` that made `v` safe for
//!   `L`, and `l` gets 2av messages *at `c`*: exactly the proposals that
//!   `KnowsSafeAt2` of any later ballot of `l` asks for at the ballot of
//!   `L`'s votes. Moving `l` to a higher ballot instead is what leaves it
//!   with `L`'s votes at `c` and none of its own proposals there, for ever
//!   (the simulator's "cut-short ballot" stall). With votes at several
//!   ballots the pinned tries climb them, lowest first (proposals at the
//!   lower one are what the higher one needs). A slot stays pinned while no
//!   ballot above its highest vote is observed, if a decision or a vote of
//!   two acceptors backs it; otherwise (a lone, maybe Byzantine, vote) and
//!   once a higher ballot is observed, a retry moves above every observed
//!   ballot after `pin_tries` attempts per pinned ballot.
//! - **Timeouts with backoff.** A ballot that has not completed after
//!   `timeout(level)` is retransmitted up to `retransmits` times, then
//!   abandoned for the next owned ballot above every ballot observed for
//!   the slot; each new ballot doubles the timeout up to `max_timeout`, with
//!   a deterministic per-(proposer, slot, level) jitter of up to half.
//! - **Batching.** Commands are cut into a batch when `max_batch` commands
//!   (or `max_batch_bytes`) are queued, or when the oldest has waited
//!   `batch_delay`. A batch becomes a [`Value`] by [`encode_batch`], whose
//!   header names the proposer and slot, so distinct proposals are distinct
//!   values. If a slot is decided with another value than this proposer's,
//!   its commands are queued again; when leadership is lost, every command
//!   not yet decided is handed back ([`Pacemaker::take_commands`]).

use crate::ids::{AcceptorId, Ballot, LearnerId, Slot};
use crate::value::Value;
use std::collections::{BTreeMap, VecDeque};

/// A point in the caller's abstract time (monotone, any unit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tick(pub u64);

impl Tick {
    /// `self + d`, saturating.
    pub fn after(self, d: u64) -> Tick {
        Tick(self.0.saturating_add(d))
    }
}

/// Index of a proposer among the `n` proposers that share ballots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProposerIndex(pub u16);

/// Settings of one proposer's pacemaker. Durations are in [`Tick`]s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacemakerConfig {
    /// This proposer.
    pub me: ProposerIndex,
    /// Number of proposers sharing ballots (`n >= 1`).
    pub proposers: u16,
    /// Every learner of the configuration (a slot is done when all decided it).
    pub learners: Vec<LearnerId>,
    /// Timeout of a first ballot.
    pub base_timeout: u64,
    /// Cap of the exponential backoff.
    pub max_timeout: u64,
    /// Retransmissions of a ballot before moving to the next owned ballot.
    pub retransmits: u32,
    /// Slots in flight at once that no learner decided yet (`>= 1`), and
    /// partly decided slots retried at once.
    pub window: usize,
    /// Commands per batch (`>= 1`).
    pub max_batch: usize,
    /// Bytes of commands per batch (a single larger command still goes alone).
    pub max_batch_bytes: usize,
    /// How long the oldest queued command waits for a fuller batch.
    pub batch_delay: u64,
    /// Attempts of a missing learner at the ballot another learner decided in.
    pub pin_tries: u32,
    /// Fresh ballots are above this: a restarted proposer (which remembers
    /// nothing) must not reuse a ballot it announced a value in before its
    /// crash. The driver passes a floor that grows across restarts.
    pub ballot_floor: Ballot,
    /// How long a slot taken over waits before its first ballot: the
    /// node asks the acceptor nodes for their 2b of the slots taken over
    /// meanwhile. A new leader (a restarted one remembers nothing) that
    /// ran a fresh ballot at once would send `Phase1a(l, b)` for every
    /// learner `l` above a ballot `c` where another learner voted,
    /// raising `maxBal[l]` above `c` before `l` has its own proposals at
    /// `c`: then every later `KnowsSafeAt2` of `l` asks for proposals at
    /// `c` that can no longer be made (the simulator's takeover stall).
    /// Knowing the votes, the first ballot is pinned at `c` instead.
    pub takeover_grace: u64,
}

impl PacemakerConfig {
    /// Sensible defaults for proposer `me` of `proposers`, with time in
    /// units where one message delay is about `delay` ticks.
    pub fn new(me: ProposerIndex, proposers: u16, learners: Vec<LearnerId>, delay: u64) -> Self {
        let delay = delay.max(1);
        PacemakerConfig {
            me,
            proposers,
            learners,
            base_timeout: 12 * delay,
            max_timeout: 96 * delay,
            retransmits: 1,
            window: 8,
            max_batch: 16,
            max_batch_bytes: 64 * 1024,
            batch_delay: delay,
            pin_tries: 2,
            ballot_floor: Ballot::ZERO,
            takeover_grace: 2 * delay,
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
    /// Start `ballot` of `slot` for `learners` proposing `value`
    /// (`pinned`: announce exactly `value` or nothing).
    Start {
        slot: Slot,
        ballot: Ballot,
        value: Value,
        learners: Vec<LearnerId>,
        pinned: bool,
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
    /// Commands of `value` (re-queued if another value is decided).
    commands: Vec<Vec<u8>>,
    /// Highest ballot observed for this slot.
    observed: Ballot,
    deadline: Tick,
    /// Backoff level: number of ballots started so far minus one.
    level: u32,
    retransmits_left: u32,
    /// Pinned attempts made for the missing learners.
    pins: u32,
    /// A ballot was started (else the next expiry starts `ballot`).
    started: bool,
}

/// Vote ballots remembered per slot (a Byzantine acceptor cannot grow it).
const VOTE_BALLOTS_KEPT: usize = 8;

/// A vote (2b) ballot seen in a slot: its value and voters.
#[derive(Clone, Debug)]
struct Voted {
    val: Value,
    voters: std::collections::BTreeSet<AcceptorId>,
}

/// What is known of a slot's decisions: learner -> (ballot, value).
type Decided = BTreeMap<LearnerId, (Ballot, Value)>;

/// Counters for status pages and the simulator's summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacemakerStats {
    pub ballots_started: u64,
    pub retransmits: u64,
    pub slots_completed: u64,
    pub slots_adopted: u64,
    pub noops: u64,
    pub commands_requeued: u64,
    pub pinned_retries: u64,
    pub takeovers: u64,
}

/// One proposer's liveness state machine. See the module doc.
#[derive(Clone, Debug)]
pub struct Pacemaker {
    cfg: PacemakerConfig,
    leader: bool,
    queue: VecDeque<(Tick, Vec<u8>)>,
    queued_bytes: usize,
    /// The next fresh slot this proposer would start.
    next_slot: Slot,
    slots: BTreeMap<Slot, InFlight>,
    /// Highest ballot seen per slot not done (for slots not driven here too).
    seen: BTreeMap<Slot, Ballot>,
    /// Decisions of slots not yet decided by every learner.
    decided: BTreeMap<Slot, Decided>,
    /// Every slot below this is decided by every learner.
    done_below: Slot,
    /// The highest ballots (at most [`VOTE_BALLOTS_KEPT`]) at which a 2b
    /// (a vote) was seen, per slot not done, with the value and voters.
    voted: BTreeMap<Slot, BTreeMap<Ballot, Voted>>,
    /// Highest slot seen anywhere.
    highest_seen: Option<Slot>,
    /// Slots taken over and not yet asked about (`[from, to)`).
    probe: Option<(Slot, Slot)>,
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
            cfg,
            leader: false,
            queue: VecDeque::new(),
            queued_bytes: 0,
            next_slot: Slot(0),
            slots: BTreeMap::new(),
            seen: BTreeMap::new(),
            decided: BTreeMap::new(),
            voted: BTreeMap::new(),
            done_below: Slot(0),
            highest_seen: None,
            probe: None,
            stats: PacemakerStats::default(),
        })
    }

    pub fn config(&self) -> &PacemakerConfig {
        &self.cfg
    }

    pub fn stats(&self) -> PacemakerStats {
        self.stats
    }

    pub fn is_leader(&self) -> bool {
        self.leader
    }

    /// Commands queued, not yet in a batch.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Slots being driven.
    pub fn in_flight(&self) -> usize {
        self.slots.len()
    }

    /// The ballot currently run for `slot` by this proposer, if any.
    pub fn ballot(&self, slot: Slot) -> Option<Ballot> {
        self.slots.get(&slot).map(|f| f.ballot)
    }

    /// Has every learner decided `slot`, as far as this pacemaker was told?
    pub fn is_complete(&self, slot: Slot) -> bool {
        slot < self.done_below
            || self
                .decided
                .get(&slot)
                .is_some_and(|d| d.len() >= self.cfg.learners.len())
    }

    /// Has some learner decided `slot`?
    pub fn is_decided_by_any(&self, slot: Slot) -> bool {
        slot < self.done_below || self.decided.contains_key(&slot)
    }

    /// Every slot below this is decided by every learner.
    pub fn done_below(&self) -> Slot {
        self.done_below
    }

    /// After a restart or a compaction: every slot below `slot` is decided
    /// by every learner (nothing there is proposed again).
    pub fn resume_from(&mut self, slot: Slot) {
        if slot <= self.done_below {
            return;
        }
        self.done_below = slot;
        self.next_slot = self.next_slot.max(slot);
        self.decided = self.decided.split_off(&slot);
        self.seen = self.seen.split_off(&slot);
        self.voted = self.voted.split_off(&slot);
        let below: Vec<Slot> = self.slots.range(..slot).map(|(s, _)| *s).collect();
        for s in below {
            self.slots.remove(&s);
        }
    }

    /// Queues a client command (proposed only while leader).
    pub fn submit(&mut self, now: Tick, command: Vec<u8>) {
        self.queued_bytes += command.len();
        self.queue.push_back((now, command));
    }

    /// Becomes or stops being the leader. On becoming leader, every known
    /// slot not decided by everyone is taken over at the next [`poll`].
    /// On stepping down, nothing more is started or retried here; the
    /// commands not yet decided are available from [`take_commands`].
    ///
    /// [`poll`]: Pacemaker::poll
    /// [`take_commands`]: Pacemaker::take_commands
    pub fn set_leader(&mut self, now: Tick, leader: bool) {
        if leader == self.leader {
            return;
        }
        self.leader = leader;
        if leader {
            self.stats.takeovers += 1;
            self.next_slot = self
                .next_slot
                .max(self.highest_seen.map_or(Slot(0), |h| Slot(h.0 + 1)))
                .max(self.done_below);
            // Holes and started-but-undecided slots are driven from here.
            let top = self.next_slot;
            let mut s = self.done_below;
            while s < top {
                if !self.slots.contains_key(&s) && !self.is_decided_by_any(s) {
                    self.adopt(now, s);
                }
                s = Slot(s.0 + 1);
            }
        } else {
            let own: Vec<Slot> = self.slots.keys().copied().collect();
            for s in own {
                if let Some(f) = self.slots.remove(&s) {
                    if !self.is_decided_by_any(s) {
                        for c in f.commands.into_iter().rev() {
                            self.queued_bytes += c.len();
                            self.queue.push_front((Tick(0), c));
                        }
                    }
                }
            }
        }
    }

    /// Takes every queued command (to forward them to the new leader).
    pub fn take_commands(&mut self) -> Vec<Vec<u8>> {
        self.queued_bytes = 0;
        self.queue.drain(..).map(|(_, c)| c).collect()
    }

    /// Reports a ballot seen in a message of `slot` (1b, 2av or 2b): the
    /// floor for this proposer's next ballot of the slot, and a slot in use.
    pub fn observe(&mut self, _now: Tick, slot: Slot, ballot: Ballot) {
        if self.is_complete(slot) {
            return;
        }
        self.highest_seen = Some(self.highest_seen.map_or(slot, |h| h.max(slot)));
        if let Some(f) = self.slots.get_mut(&slot) {
            f.observed = f.observed.max(ballot);
        }
        let e = self.seen.entry(slot).or_insert(ballot);
        *e = (*e).max(ballot);
        if self.leader && slot >= self.next_slot {
            // Someone else (an old leader) started it: do not reuse it,
            // and take it over (its value is forced if one was chosen).
            let mut s = self.next_slot;
            while s <= slot {
                if !self.slots.contains_key(&s) && !self.is_decided_by_any(s) {
                    self.adopt(_now, s);
                }
                s = Slot(s.0 + 1);
            }
            self.next_slot = Slot(slot.0 + 1);
        }
    }

    /// Reports a vote (2b) of `acc` seen at `ballot` for `value` in
    /// `slot`: the ballot a retry is pinned to first (see the module doc).
    /// A vote seen from one acceptor only pins for `pin_tries` attempts (a
    /// Byzantine acceptor's vote at a made-up ballot must not hold the slot
    /// there for ever); one seen from two acceptors, or a decision, pins
    /// for as long as no higher ballot is observed.
    pub fn observe_vote(&mut self, slot: Slot, ballot: Ballot, value: &Value, acc: AcceptorId) {
        if self.is_complete(slot) {
            return;
        }
        let votes = self.voted.entry(slot).or_default();
        match votes.get_mut(&ballot) {
            Some(w) => {
                if &w.val == value {
                    w.voters.insert(acc);
                }
            }
            None => {
                if votes.len() >= VOTE_BALLOTS_KEPT {
                    match votes.keys().next().copied() {
                        Some(lowest) if lowest < ballot => {
                            votes.remove(&lowest);
                        }
                        _ => return,
                    }
                }
                votes.insert(
                    ballot,
                    Voted {
                        val: value.clone(),
                        voters: [acc].into_iter().collect(),
                    },
                );
            }
        }
    }

    /// Reports that learner `lr` decided `value` at `bal` in `slot`.
    pub fn on_decided(
        &mut self,
        _now: Tick,
        slot: Slot,
        lr: LearnerId,
        bal: Ballot,
        value: &Value,
    ) {
        if slot < self.done_below || !self.cfg.learners.contains(&lr) {
            return;
        }
        self.highest_seen = Some(self.highest_seen.map_or(slot, |h| h.max(slot)));
        let d = self.decided.entry(slot).or_default();
        let first = d.is_empty();
        d.entry(lr).or_insert((bal, value.clone()));
        let all = d.len() >= self.cfg.learners.len();
        if first {
            if let Some(f) = self.slots.get_mut(&slot) {
                if &f.value != value && !f.commands.is_empty() {
                    self.stats.commands_requeued += f.commands.len() as u64;
                    for c in std::mem::take(&mut f.commands).into_iter().rev() {
                        self.queued_bytes += c.len();
                        self.queue.push_front((Tick(0), c));
                    }
                }
                // The missing learners are retried pinned, after a timeout.
                f.value = value.clone();
                f.commands.clear();
                f.pins = 0;
                f.level = 0;
                f.started = true;
                f.retransmits_left = 0;
                f.deadline = _now.after(self.cfg.base_timeout);
            }
            if self.leader && slot >= self.next_slot {
                self.next_slot = Slot(slot.0 + 1);
            }
        }
        if all {
            if self.slots.remove(&slot).is_some() {
                self.stats.slots_completed += 1;
            }
            self.seen.remove(&slot);
            self.voted.remove(&slot);
            while self.is_complete(self.done_below) {
                self.decided.remove(&self.done_below);
                self.done_below = Slot(self.done_below.0 + 1);
            }
            self.next_slot = self.next_slot.max(self.done_below);
        }
    }

    /// Takes over `slot` (started elsewhere, or a hole): its first ballot
    /// waits `takeover_grace`, for the answers to the vote query the node
    /// sends for it ([`Pacemaker::take_probe`]).
    fn adopt(&mut self, now: Tick, slot: Slot) {
        self.stats.slots_adopted += 1;
        let mut f = self.fresh(now, slot, Vec::new());
        f.deadline = now.after(self.cfg.takeover_grace);
        self.slots.insert(slot, f);
        self.probe = Some(match self.probe {
            Some((lo, hi)) => (lo.min(slot), hi.max(Slot(slot.0 + 1))),
            None => (slot, Slot(slot.0 + 1)),
        });
    }

    /// The slots taken over since the last call, as `[from, to)`: the node
    /// asks every acceptor node for the 2b messages it holds there before
    /// their first ballot (see [`PacemakerConfig::takeover_grace`]).
    pub fn take_probe(&mut self) -> Option<(Slot, Slot)> {
        self.probe.take()
    }

    fn timeout(&self, slot: Slot, level: u32) -> u64 {
        let t = self
            .cfg
            .base_timeout
            .saturating_mul(1u64 << level.min(32))
            .min(self.cfg.max_timeout);
        t + jitter(self.cfg.me, slot, level) % (t / 2 + 1)
    }

    fn fresh(&self, now: Tick, slot: Slot, commands: Vec<Vec<u8>>) -> InFlight {
        let value = encode_batch(self.cfg.me, slot, &commands);
        let seen = self.seen.get(&slot).copied().unwrap_or(Ballot::ZERO);
        let floor = seen.max(self.cfg.ballot_floor);
        InFlight {
            ballot: next_owned(self.cfg.me, self.cfg.proposers, floor),
            value,
            commands,
            // Only ballots seen in messages: this proposer's own floor is
            // no evidence that some acceptor's `maxBal` moved above a
            // pinned ballot (counting it cut a new leader's pinned retries
            // short, and its move above the vote left the missing learner
            // without proposals at the vote's ballot for ever).
            observed: seen,
            deadline: now.after(self.timeout(slot, 0)),
            level: 0,
            retransmits_left: self.cfg.retransmits,
            pins: 0,
            started: false,
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

    /// Slots in flight that no learner decided yet.
    fn undecided_in_flight(&self) -> usize {
        self.slots
            .keys()
            .filter(|s| !self.is_decided_by_any(**s))
            .count()
    }

    fn missing(&self, slot: Slot) -> Vec<LearnerId> {
        let d = self.decided.get(&slot);
        self.cfg
            .learners
            .iter()
            .copied()
            .filter(|l| d.is_none_or(|d| !d.contains_key(l)))
            .collect()
    }

    /// Does everything due at `now`, appending the actions to `out`: new
    /// batches (within the window), retransmissions and new ballots of
    /// slots whose timeout expired, pinned retries of partly decided slots.
    pub fn poll(&mut self, now: Tick, out: &mut Vec<Action>) {
        if !self.leader {
            return;
        }
        // New batches.
        while self.undecided_in_flight() < self.cfg.window && self.batch_ready(now) {
            let slot = self.next_slot;
            self.next_slot = Slot(slot.0 + 1);
            if self.is_decided_by_any(slot) || self.slots.contains_key(&slot) {
                continue;
            }
            let cmds = self.cut_batch();
            let mut f = self.fresh(now, slot, cmds);
            f.started = true;
            self.stats.ballots_started += 1;
            out.push(Action::Start {
                slot,
                ballot: f.ballot,
                value: f.value.clone(),
                learners: self.cfg.learners.clone(),
                pinned: false,
            });
            self.slots.insert(slot, f);
        }
        // Partly decided slots whose missing learners are retried: the
        // lowest `8 * window` of them (a learner applies in slot order, and
        // one whose quorum comes back may have a long backlog: each retry
        // is only a 1a per missing learner).
        let partly: Vec<Slot> = self
            .decided
            .keys()
            .copied()
            .filter(|s| !self.is_complete(*s))
            .take(self.cfg.window.saturating_mul(8).max(64))
            .collect();
        let active: std::collections::BTreeSet<Slot> = partly.iter().copied().collect();
        let last_active = partly.last().copied();
        for s in partly {
            if !self.slots.contains_key(&s) {
                let Some(d) = self.decided.get(&s) else {
                    continue;
                };
                let Some((_, v)) = d.values().next() else {
                    continue;
                };
                let mut f = self.fresh(now, s, Vec::new());
                f.value = v.clone();
                f.deadline = now;
                self.slots.insert(s, f);
            }
        }
        // Timeouts.
        let expired: Vec<Slot> = self
            .slots
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(s, _)| *s)
            .collect();
        let base = self.cfg.base_timeout;
        for slot in expired {
            // Partly decided slots beyond the active lowest ones wait their
            // turn (no message while a learner's quorum is away).
            let partly = self.decided.contains_key(&slot) && !self.is_complete(slot);
            if partly && !active.contains(&slot) && last_active.is_some_and(|l| slot > l) {
                if let Some(f) = self.slots.get_mut(&slot) {
                    f.deadline = now.after(base);
                }
                continue;
            }
            self.expire(now, slot, out);
        }
    }

    fn expire(&mut self, now: Tick, slot: Slot, out: &mut Vec<Action>) {
        let (me, np) = (self.cfg.me, self.cfg.proposers);
        let missing = self.missing(slot);
        // The ballots to pin at, lowest first, as (ballot, value, sticky)
        // (see `observe_vote`): the vote ballots seen and the ballots a
        // learner decided in. Pinned tries climb them in turn: a missing
        // learner `l` can be served at the highest only once it has its
        // own proposals at the one below (`KnowsSafeAt2` of `l` at `c'`
        // asks for `l`'s 2av at the ballot of the highest vote below `c'`),
        // and trying a higher one first would raise `l`'s `maxBal` above
        // the lower one before `l`'s 2av there.
        let mut pins: BTreeMap<Ballot, (Value, bool)> = self
            .voted
            .get(&slot)
            .map(|vs| {
                vs.iter()
                    .map(|(b, w)| (*b, (w.val.clone(), w.voters.len() >= 2)))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(d) = self.decided.get(&slot) {
            for (b, v) in d.values() {
                pins.insert(*b, (v.clone(), true));
            }
        }
        let sticky = pins.values().any(|(_, s)| *s);
        let top = pins.keys().next_back().copied();
        let pins: Vec<(Ballot, Value)> = pins.into_iter().map(|(b, (v, _))| (b, v)).collect();
        let pin = match self.slots.get(&slot) {
            Some(f) if !pins.is_empty() => {
                let (c, v) = pins[f.pins as usize % pins.len()].clone();
                Some((c, v, sticky, top.unwrap_or(c)))
            }
            _ => None,
        };
        let pin_tries = self.cfg.pin_tries;
        let floor = self.cfg.ballot_floor;
        let retransmits = self.cfg.retransmits;
        let base = self.cfg.base_timeout;
        let Some(f) = self.slots.get(&slot) else {
            return;
        };
        let (level, started) = (f.level, f.started);
        if started && f.retransmits_left > 0 {
            let d = self.timeout(slot, level);
            if let Some(f) = self.slots.get_mut(&slot) {
                f.retransmits_left -= 1;
                f.deadline = now.after(d);
                self.stats.retransmits += 1;
                out.push(Action::Retransmit {
                    slot,
                    ballot: f.ballot,
                });
            }
            return;
        }
        let level = if started {
            level.saturating_add(1)
        } else {
            level
        };
        let d = self.timeout(slot, level);
        let Some(f) = self.slots.get_mut(&slot) else {
            return;
        };
        f.started = true;
        f.level = level;
        f.retransmits_left = retransmits;
        f.deadline = now.after(d);
        self.stats.ballots_started += 1;
        match pin {
            // Pinned while no ballot above `c` was seen (a higher one may
            // hold the learner's maxBal above `c`: then move up).
            Some((c, v, sticky, top))
                if f.pins < pin_tries.max(1) * u32::try_from(pins.len()).unwrap_or(u32::MAX)
                    || (sticky && f.observed <= top) =>
            {
                // Pinned tries stay at the first timeout, without
                // retransmissions: each is a retransmission at `c`.
                f.pins += 1;
                f.level = level.saturating_sub(1);
                f.retransmits_left = 0;
                f.deadline = now.after(base);
                f.ballot = c;
                f.value = v.clone();
                self.stats.pinned_retries += 1;
                out.push(Action::Start {
                    slot,
                    ballot: c,
                    value: v,
                    learners: missing,
                    pinned: true,
                });
            }
            Some((_, v, _, _)) => {
                if started || f.pins > 0 {
                    f.ballot = next_owned(me, np, f.ballot.max(f.observed).max(floor));
                }
                f.value = v.clone();
                out.push(Action::Start {
                    slot,
                    ballot: f.ballot,
                    value: v,
                    learners: missing,
                    pinned: false,
                });
            }
            None => {
                if started {
                    f.ballot = next_owned(me, np, f.ballot.max(f.observed).max(floor));
                }
                if f.commands.is_empty() {
                    self.stats.noops += 1;
                }
                out.push(Action::Start {
                    slot,
                    ballot: f.ballot,
                    value: f.value.clone(),
                    learners: missing,
                    pinned: false,
                });
            }
        }
    }

    /// The earliest time at which [`Pacemaker::poll`] has something to do
    /// (a timeout, a batch delay), if any.
    pub fn next_wakeup(&self) -> Option<Tick> {
        if !self.leader {
            return None;
        }
        let mut t: Option<Tick> = None;
        let mut take = |x: Tick| t = Some(t.map_or(x, |y| y.min(x)));
        for f in self.slots.values() {
            take(f.deadline);
        }
        if self.undecided_in_flight() < self.cfg.window {
            if let Some((q, _)) = self.queue.front() {
                take(q.after(self.cfg.batch_delay));
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

    const A: LearnerId = LearnerId(0);
    const B: LearnerId = LearnerId(1);

    fn cfg(me: u16, n: u16) -> PacemakerConfig {
        let mut c = PacemakerConfig::new(ProposerIndex(me), n, vec![A, B], 10);
        c.max_batch = 2;
        c.window = 2;
        c
    }

    fn leader(me: u16, n: u16) -> Pacemaker {
        let mut p = Pacemaker::new(cfg(me, n)).unwrap();
        p.set_leader(Tick(0), true);
        p
    }

    fn starts(out: &[Action]) -> Vec<(Slot, Ballot)> {
        out.iter()
            .filter_map(|a| match a {
                Action::Start { slot, ballot, .. } => Some((*slot, *ballot)),
                _ => None,
            })
            .collect()
    }

    fn value_of(out: &[Action], i: usize) -> Value {
        match &out[i] {
            Action::Start { value, .. } => value.clone(),
            other => panic!("not a start: {other:?}"),
        }
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
    fn only_the_leader_starts_slots_and_they_are_contiguous() {
        let mut f = Pacemaker::new(cfg(1, 3)).unwrap();
        f.submit(Tick(0), vec![1]);
        f.submit(Tick(0), vec![2]);
        let mut out = Vec::new();
        f.poll(Tick(100), &mut out);
        assert!(out.is_empty(), "a follower starts nothing");
        assert_eq!(f.next_wakeup(), None);
        let mut p = leader(1, 3);
        for i in 0..7u8 {
            p.submit(Tick(0), vec![i]);
        }
        p.poll(Tick(0), &mut out);
        // Window 2, batch 2: slots 0 and 1 at proposer 1's first ballot.
        assert_eq!(
            starts(&out),
            vec![(Slot(0), Ballot(1)), (Slot(1), Ballot(1))]
        );
        assert_eq!(p.queued(), 3);
    }

    #[test]
    fn one_learner_deciding_frees_the_window() {
        // Per-learner progress: B's missing decision does not hold A back.
        let mut p = leader(0, 1);
        for i in 0..6u8 {
            p.submit(Tick(0), vec![i]);
        }
        let mut out = Vec::new();
        p.poll(Tick(0), &mut out);
        assert_eq!(starts(&out).len(), 2);
        let v0 = value_of(&out, 0);
        p.on_decided(Tick(5), Slot(0), A, Ballot(1), &v0);
        out.clear();
        p.poll(Tick(5), &mut out);
        assert_eq!(starts(&out), vec![(Slot(2), Ballot(1))]);
        assert!(!p.is_complete(Slot(0)));
        assert!(p.is_decided_by_any(Slot(0)));
    }

    #[test]
    fn missing_learner_is_retried_at_the_decided_ballot_first() {
        let mut p = leader(0, 2);
        p.submit(Tick(0), b"a".to_vec());
        p.submit(Tick(0), b"b".to_vec());
        let mut out = Vec::new();
        p.poll(Tick(0), &mut out);
        let v = value_of(&out, 0);
        // A decided at ballot 2 (the first owned of proposer 0 among 2).
        p.on_decided(Tick(1), Slot(0), A, Ballot(2), &v);
        p.observe(Tick(1), Slot(0), Ballot(2));
        out.clear();
        let t = p.next_wakeup().unwrap();
        p.poll(t, &mut out);
        match &out[..] {
            [Action::Start {
                slot,
                ballot,
                value,
                learners,
                pinned,
            }] => {
                assert_eq!((*slot, *ballot), (Slot(0), Ballot(2)));
                assert_eq!(value, &v);
                assert_eq!(learners, &vec![B]);
                assert!(*pinned);
            }
            other => panic!("expected one pinned start, got {other:?}"),
        }
        // While no ballot above 2 is seen, it stays pinned (B's quorum may
        // just be away: it must find its ballot when it returns).
        for _ in 0..5 {
            out.clear();
            let t = p.next_wakeup().unwrap();
            p.poll(t, &mut out);
            assert!(
                out.iter().all(|a| matches!(
                    a,
                    Action::Start {
                        pinned: true,
                        ballot: Ballot(2),
                        ..
                    }
                )),
                "{out:?}"
            );
        }
        // A higher ballot seen (someone raised maxBal above 2): after
        // pin_tries attempts it moves above it.
        p.observe(Tick(1), Slot(0), Ballot(5));
        let mut pinned = 0;
        for _ in 0..20 {
            out.clear();
            let t = p.next_wakeup().unwrap();
            p.poll(t, &mut out);
            for a in &out {
                if let Action::Start {
                    pinned: pin,
                    ballot,
                    ..
                } = a
                {
                    if *pin {
                        pinned += 1;
                        assert_eq!(*ballot, Ballot(2));
                    } else {
                        assert!(*ballot > Ballot(5));
                        return;
                    }
                }
            }
        }
        panic!("never moved above the pinned ballot ({pinned} pinned tries)");
    }

    #[test]
    fn timeout_retransmits_then_moves_above_observed_ballot_with_backoff() {
        let mut p = leader(1, 2);
        p.submit(Tick(0), b"a".to_vec());
        p.submit(Tick(0), b"b".to_vec());
        let mut out = Vec::new();
        p.poll(Tick(0), &mut out);
        assert_eq!(starts(&out), vec![(Slot(0), Ballot(1))]);
        let t1 = p.next_wakeup().unwrap();
        assert!(t1 >= Tick(120) && t1 <= Tick(180));
        out.clear();
        p.poll(t1, &mut out);
        assert_eq!(
            out,
            vec![Action::Retransmit {
                slot: Slot(0),
                ballot: Ballot(1)
            }]
        );
        p.observe(t1, Slot(0), Ballot(8));
        let t2 = p.next_wakeup().unwrap();
        out.clear();
        p.poll(t2, &mut out);
        assert_eq!(starts(&out), vec![(Slot(0), Ballot(9))]);
        let t3 = p.next_wakeup().unwrap();
        assert!(t3.0 - t2.0 >= 240 && t3.0 - t2.0 <= 360);
    }

    #[test]
    fn forced_value_requeues_the_commands() {
        let mut p = leader(0, 1);
        p.submit(Tick(0), b"a".to_vec());
        p.submit(Tick(0), b"b".to_vec());
        let mut out = Vec::new();
        p.poll(Tick(0), &mut out);
        assert_eq!(p.queued(), 0);
        let other = Value::new(b"someone else's".to_vec());
        p.on_decided(Tick(1), Slot(0), A, Ballot(1), &other);
        p.on_decided(Tick(1), Slot(0), B, Ballot(1), &other);
        assert!(p.is_complete(Slot(0)));
        assert_eq!(p.queued(), 2);
        out.clear();
        p.poll(Tick(1), &mut out);
        assert_eq!(starts(&out), vec![(Slot(1), Ballot(1))]);
        let b = decode_batch(value_of(&out, 0).bytes()).unwrap();
        assert_eq!(b.commands, vec![b"a".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn a_new_leader_takes_over_started_slots_and_fills_holes() {
        // Proposer 1 of 2 saw slot 3 started by the old leader (ballot 2),
        // and slot 1 decided; slots 0 and 2 were never seen (holes).
        let mut p = Pacemaker::new(cfg(1, 2)).unwrap();
        p.observe(Tick(0), Slot(3), Ballot(2));
        let v = Value::new(b"x".to_vec());
        p.on_decided(Tick(0), Slot(1), A, Ballot(2), &v);
        p.on_decided(Tick(0), Slot(1), B, Ballot(2), &v);
        p.set_leader(Tick(10), true);
        // The taken-over slots wait for the answers to the vote query.
        assert_eq!(p.take_probe(), Some((Slot(0), Slot(4))));
        assert_eq!(p.take_probe(), None);
        let mut out = Vec::new();
        p.poll(Tick(10), &mut out);
        assert!(starts(&out).is_empty(), "{out:?}");
        let grace = p.config().takeover_grace;
        p.poll(Tick(10 + grace), &mut out);
        let mut s = starts(&out);
        s.sort();
        assert_eq!(
            s,
            vec![
                (Slot(0), Ballot(1)),
                (Slot(2), Ballot(1)),
                (Slot(3), Ballot(3))
            ]
        );
        assert_eq!(p.stats().takeovers, 1);
        // New commands go above every slot seen.
        p.submit(Tick(10), b"c".to_vec());
        p.submit(Tick(10), b"d".to_vec());
        out.clear();
        let t = Tick(11 + grace);
        p.on_decided(t, Slot(0), A, Ballot(1), &v);
        p.on_decided(t, Slot(2), A, Ballot(1), &v);
        p.poll(t, &mut out);
        assert!(starts(&out).contains(&(Slot(4), Ballot(1))));
    }

    /// The fault harness's stall: a new leader (its ballot floor far above
    /// the old leader's ballots, as after a restart) takes over a slot that
    /// A decided at ballot 2. B stays pinned at 2 for as long as no ballot
    /// above 2 is seen: its own floor is not an observed ballot, and moving
    /// B above 2 would leave B's 1b reporting A's votes at 2 with no B
    /// proposals there (`KnowsSafeAt2` unsatisfiable for ever).
    #[test]
    fn a_new_leaders_ballot_floor_does_not_cut_pinned_retries_short() {
        let mut c = cfg(1, 2);
        c.ballot_floor = Ballot(1 << 20);
        let mut p = Pacemaker::new(c).unwrap();
        let v = Value::new(b"x".to_vec());
        p.observe(Tick(0), Slot(0), Ballot(2));
        p.observe_vote(Slot(0), Ballot(2), &v, AcceptorId(0));
        p.on_decided(Tick(0), Slot(0), A, Ballot(2), &v);
        p.set_leader(Tick(0), true);
        let mut pinned = 0;
        for _ in 0..10 {
            let mut out = Vec::new();
            let t = p.next_wakeup().unwrap_or(Tick(1));
            p.poll(t, &mut out);
            for a in &out {
                match a {
                    Action::Start {
                        slot: Slot(0),
                        ballot,
                        value,
                        learners,
                        pinned: pin,
                    } => {
                        assert!(*pin, "moved B above its pinned ballot: {a:?}");
                        assert_eq!((*ballot, value, learners), (Ballot(2), &v, &vec![B]));
                        pinned += 1;
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        assert_eq!(pinned, 10);
        // Once a higher ballot is seen, it moves above it (after the pinned tries).
        p.observe(Tick(0), Slot(0), Ballot(7));
        let mut moved = None;
        for _ in 0..5 {
            let mut out = Vec::new();
            let t = p.next_wakeup().unwrap_or(Tick(1));
            p.poll(t, &mut out);
            if let Some(Action::Start {
                ballot,
                pinned: false,
                ..
            }) = out.first()
            {
                moved = Some(*ballot);
                break;
            }
        }
        let b = moved.expect("never moved above the observed ballot");
        assert!(
            b > Ballot(1 << 20) && owner(b, 2) == ProposerIndex(1),
            "{b:?}"
        );
    }

    /// A vote seen from one acceptor only (it may be a Byzantine acceptor's
    /// 2b at a made-up ballot) pins the slot for `pin_tries` attempts, then
    /// the proposer moves above it: no single acceptor holds a slot for ever.
    #[test]
    fn a_lone_vote_pins_only_for_the_pinned_tries() {
        let mut p = leader(0, 2);
        let w = Value::new(b"w".to_vec());
        p.observe(Tick(0), Slot(0), Ballot(1 << 30));
        p.observe_vote(Slot(0), Ballot(1 << 30), &w, AcceptorId(3));
        let mut kinds = Vec::new();
        let mut t = Tick(0);
        for _ in 0..6 {
            let mut out = Vec::new();
            p.poll(t, &mut out);
            for a in &out {
                if let Action::Start { ballot, pinned, .. } = a {
                    kinds.push((*pinned, *ballot > Ballot(1 << 30)));
                }
            }
            t = p.next_wakeup().unwrap_or(t);
        }
        assert_eq!(kinds.iter().filter(|k| k.0).count(), 2, "{kinds:?}");
        assert!(kinds.iter().any(|k| !k.0 && k.1), "{kinds:?}");
    }

    #[test]
    fn stepping_down_hands_back_undecided_commands() {
        let mut p = leader(0, 2);
        for i in 0..3u8 {
            p.submit(Tick(0), vec![i]);
        }
        let mut out = Vec::new();
        p.poll(Tick(0), &mut out);
        p.set_leader(Tick(1), false);
        let cmds = p.take_commands();
        assert_eq!(cmds, vec![vec![0], vec![1], vec![2]]);
        assert_eq!(p.in_flight(), 0);
        out.clear();
        p.poll(Tick(1000), &mut out);
        assert!(out.is_empty());
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
