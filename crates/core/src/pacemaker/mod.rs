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
//! - **Range Phase 1.** While the node layer runs a leadership
//!   (`crate::node::range`, [`Pacemaker::lead_from`]), the first ballot
//!   of every slot from the leadership's first slot is the leadership's
//!   ballot (an owned one above every ballot seen, [`Pacemaker::
//!   leadership_ballot`]), unless the slot already saw that ballot or a
//!   higher one; its retries go above it as for any ballot.
//! - **Per-learner progress.** A slot stops occupying the window as soon as
//!   *one* learner decided it: a learner whose quorum is up is never held
//!   back by another learner's. The learners still missing it are retried,
//!   lowest slots first and at most `window` slots at a time, with the
//!   backoff below.
//! - **Pinned retries.** When learner `L` decided `v` at ballot `c`, a
//!   missing learner is first retried at the *same* ballot `c` with `v`
//!   (`Phase1a(l, c)` and, at once, a 1c of `v` only). Its acceptors have not voted
//!   above `c` for anyone (Phase2b needs every `maxBal =< c`), so `l`'s 1b
//!   messages at `c` report the same votes below `c` that made `v` safe for
//!   `L`, and `l` gets 2av messages *at `c`*: exactly the proposals that
//!   `KnowsSafeAt2` of any later ballot of `l` asks for at the ballot of
//!   `L`'s votes. Moving `l` to a higher ballot instead is what leaves it
//!   with `L`'s votes at `c` and none of its own proposals there, for ever
//!   (the simulator's "cut-short ballot" stall). With votes at several
//!   ballots the pinned tries climb them, lowest first, and a learner moves
//!   from a pinned ballot to the next, and at last to a fresh ballot, only
//!   once its own proposals there (2av, or the proposals its 1b report)
//!   were seen from one of its quorums (rule (a), see [`pins`]). A vote
//!   that some quorum of the learner avoids (a lone one, maybe a Byzantine
//!   acceptor's) pins for `pin_tries` attempts only.
//! - **Ask before stepping up.** Before a fresh ballot above the ones a
//!   slot already ran, the node asks every acceptor node for the 2b it
//!   holds there (as for a slot taken over, [`Pacemaker::take_probe`]) and
//!   waits `takeover_grace`: a vote this proposer missed pins the retry
//!   instead. A fresh ballot also re-sends the 1a and 1c of the vote
//!   ballots below it ([`Action::Refresh`]), for the acceptors that defer
//!   their 1b until they see the learner's proposals there.
//! - **Same value again (rule (b)).** The proposer announces the value it
//!   announced at its previous ballot of the slot again when it is safe
//!   ([`crate::Proposer`]).
//! - **Timeouts with backoff.** A ballot that has not completed after
//!   `timeout(level)` is retransmitted up to `retransmits` times, then
//!   abandoned for the next owned ballot above every ballot observed for
//!   the slot; each new ballot doubles the timeout up to `max_timeout`, with
//!   a deterministic per-(proposer, slot, level) jitter of up to half.
//! - **Batching.** Commands are cut into a batch when `max_batch` commands
//!   (or `max_batch_bytes`) are queued, or when the oldest has waited
//!   `batch_delay`. Commands that arrive while the window is full, or that
//!   did not fit in the batch cut before them, wait only for the next free
//!   slot: they leave with it whatever their age (the delay is there to
//!   fill a batch when the pipe is idle, not to hold back a backlog). A batch becomes a [`Value`] by [`encode_batch`], whose
//!   header names the proposer and slot, so distinct proposals are distinct
//!   values. If a slot is decided with another value than this proposer's,
//!   its commands are queued again; when leadership is lost, every command
//!   not yet decided is handed back ([`Pacemaker::take_commands`]).

use crate::ids::{AcceptorId, Ballot, LearnerId, Slot};
use crate::trust::Trust;
use crate::value::Value;
use pins::SlotEvidence;
use std::collections::{BTreeMap, VecDeque};

mod pins;

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
    /// (`pinned`: announce exactly `value`, at once).
    Start {
        slot: Slot,
        ballot: Ballot,
        value: Value,
        learners: Vec<LearnerId>,
        pinned: bool,
    },
    /// Send the current ballot's 1a/1c again: `proposer.retransmit(slot, fx)`.
    Retransmit { slot: Slot, ballot: Ballot },
    /// Send again the 1c of `value` at the lower `ballot` where a vote or
    /// decision was seen, for `learners`: `proposer.refresh(..)`. Acceptors
    /// answer a repeated 1c with their 2av there again, so that those that
    /// defer `Phase1b` above it (`AcceptorOptions::defer_1b`) learn that
    /// the learners' proposals there are complete.
    Refresh {
        slot: Slot,
        ballot: Ballot,
        value: Value,
        learners: Vec<LearnerId>,
    },
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
    /// Pinned attempts per ballot (the pinned ballots of this slot only).
    tries: BTreeMap<Ballot, u32>,
    /// Pinned attempts per ballot that a quorum of every missing learner
    /// answered with its 1b there and still no proposals followed (see
    /// [`pins::choose`]).
    answered: BTreeMap<Ballot, u32>,
    /// The ballot of the last pinned attempt, while it is the current one.
    pinned_at: Option<Ballot>,
    /// The votes were asked for since the last ballot started here.
    probed: bool,
    /// Vote and decision ballots below the current (fresh) ballot, with
    /// their values: refreshed with the ballot (see [`Action::Refresh`]).
    refresh: Vec<(Ballot, Value)>,
    /// A ballot was started (else the next expiry starts `ballot`).
    started: bool,
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
    /// The queued commands waited for a free slot of a full window (or
    /// did not fit in the batch cut before them): they leave with the next
    /// free slot, without another `batch_delay`.
    backlog: bool,
    /// The next fresh slot this proposer would start.
    next_slot: Slot,
    slots: BTreeMap<Slot, InFlight>,
    /// Highest ballot seen per slot not done (for slots not driven here too).
    seen: BTreeMap<Slot, Ballot>,
    /// Decisions of slots not yet decided by every learner.
    decided: BTreeMap<Slot, Decided>,
    /// Every slot below this is decided by every learner.
    done_below: Slot,
    /// The votes and proposals seen per slot not done (bounded, see
    /// [`pins`]).
    evidence: BTreeMap<Slot, SlotEvidence>,
    /// The learners' quorums, to tell when a vote meets all of them and
    /// when a learner's proposals are complete (set by the node layer).
    trust: Option<Trust>,
    /// Highest slot seen anywhere.
    highest_seen: Option<Slot>,
    /// Slots taken over and not yet asked about (`[from, to)`).
    probe: Option<(Slot, Slot)>,
    /// Highest ballot seen in any message (every slot), and in range 1b:
    /// a new leadership's ballot goes above it.
    top_ballot: Ballot,
    /// The range Phase 1 leadership this proposer runs, `(from, ballot)`:
    /// the first ballot of every slot `>= from` is `ballot` (see
    /// [`Pacemaker::lead_from`]).
    leadership: Option<(Slot, Ballot)>,
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
            backlog: false,
            next_slot: Slot(0),
            slots: BTreeMap::new(),
            seen: BTreeMap::new(),
            decided: BTreeMap::new(),
            evidence: BTreeMap::new(),
            trust: None,
            done_below: Slot(0),
            highest_seen: None,
            probe: None,
            top_ballot: Ballot::ZERO,
            leadership: None,
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
        self.evidence = self.evidence.split_off(&slot);
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
    /// More acceptors are reachable than before (a node came back from a
    /// crash, a pause or a partition): every slot in flight is retried
    /// within one base timeout and its backoff starts over. While the node
    /// was away its slots' timeouts doubled up to `max_timeout` (with
    /// jitter, up to 1.5x that), so a slot that needs the returning
    /// acceptor for a learner's quorum would otherwise wait seconds for
    /// its next ballot (the fault harness, schedule ci seed 2: alice
    /// stalled for a whole fault window after a `docker pause` ended).
    /// Timing only: when a ballot starts never matters to safety.
    pub fn hurry(&mut self, now: Tick) {
        let soon = now.after(self.cfg.base_timeout);
        for f in self.slots.values_mut() {
            f.level = 0;
            if f.deadline > soon {
                f.deadline = soon;
            }
        }
    }

    pub fn set_leader(&mut self, now: Tick, leader: bool) {
        if leader == self.leader {
            return;
        }
        self.leader = leader;
        self.leadership = None;
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
            // Highest slot first, each pushed to the front: the queue
            // keeps the commands in the order they were proposed.
            let own: Vec<Slot> = self.slots.keys().copied().collect();
            for s in own.into_iter().rev() {
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
        self.backlog = false;
        self.queue.drain(..).map(|(_, c)| c).collect()
    }

    /// The first slot this proposer has not started: where a new range
    /// Phase 1 leadership begins.
    pub fn next_fresh_slot(&self) -> Slot {
        self.next_slot.max(self.done_below)
    }

    /// Reports a ballot seen in a range message (a stale proposer's range
    /// 1b is answered at the promised ballot): the next leadership goes
    /// above it.
    pub fn observe_ballot(&mut self, ballot: Ballot) {
        self.top_ballot = self.top_ballot.max(ballot);
    }

    /// The ballot of a new leadership: the smallest owned one above every
    /// ballot seen anywhere and the floor (a restarted proposer never
    /// reuses one).
    pub fn leadership_ballot(&self) -> Ballot {
        next_owned(
            self.cfg.me,
            self.cfg.proposers,
            self.top_ballot.max(self.cfg.ballot_floor),
        )
    }

    /// Starts (or replaces) the range Phase 1 leadership `(from, ballot)`:
    /// from now on the first ballot of a slot `>= from` is `ballot` (its
    /// retries go above it as for any ballot). Only while leader, and only
    /// from a slot not started here, so no slot in flight changes ballot.
    pub fn lead_from(&mut self, from: Slot, ballot: Ballot) {
        if !self.leader || from < self.next_fresh_slot() {
            return;
        }
        self.top_ballot = self.top_ballot.max(ballot);
        self.leadership = Some((from, ballot));
    }

    /// The current range Phase 1 leadership, `(from, ballot)`.
    pub fn leadership(&self) -> Option<(Slot, Ballot)> {
        self.leadership
    }

    /// Reports a ballot seen in a message of `slot` (1b, 2av or 2b): the
    /// floor for this proposer's next ballot of the slot, and a slot in use.
    pub fn observe(&mut self, _now: Tick, slot: Slot, ballot: Ballot) {
        self.top_ballot = self.top_ballot.max(ballot);
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

    /// Reports a 1b of `acc` for learner `lr` at `ballot` in `slot`: a
    /// pinned retry there was answered (see [`pins::choose`]).
    pub fn observe_1b(&mut self, slot: Slot, lr: LearnerId, ballot: Ballot, acc: AcceptorId) {
        if self.is_complete(slot) {
            return;
        }
        if let Some(e) = self.evidence.get_mut(&slot) {
            e.answer(lr, ballot, acc);
        }
    }

    /// Reports a vote (2b) of `acc` seen at `ballot` for `value` in
    /// `slot`: a ballot a missing learner's retry is pinned to (see
    /// [`pins`]): a vote whose voters meet every quorum of the learner, or
    /// a decision, pins until the learner's own proposals there are seen;
    /// an avoidable one (maybe a Byzantine acceptor's 2b at a made-up
    /// ballot) pins for `pin_tries` attempts only.
    pub fn observe_vote(&mut self, slot: Slot, ballot: Ballot, value: &Value, acc: AcceptorId) {
        if self.is_complete(slot) {
            return;
        }
        self.evidence
            .entry(slot)
            .or_default()
            .vote(ballot, value, acc);
    }

    /// Reports a 2av of `acc` for learner `lr` at `ballot` in `slot`: once
    /// a quorum of `lr` proposed at a pinned ballot, `lr` may be retried
    /// above it (see [`pins`]).
    pub fn observe_proposal(
        &mut self,
        slot: Slot,
        lr: LearnerId,
        ballot: Ballot,
        acc: AcceptorId,
        val: &Value,
    ) {
        if self.is_complete(slot) {
            return;
        }
        self.evidence
            .entry(slot)
            .or_default()
            .proposal(lr, ballot, acc, val);
    }

    /// The learners' quorums (the node layer sets them): without them a
    /// vote of two acceptors pins until the slot is decided.
    pub fn set_trust(&mut self, trust: Trust) {
        self.trust = Some(trust);
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
            self.evidence.remove(&slot);
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
        self.add_probe(slot);
    }

    /// Adds `slot` to the range the node asks the votes of.
    fn add_probe(&mut self, slot: Slot) {
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
        let ballot = match self.leadership {
            // The leadership's ballot, when nothing in the slot is at or
            // above it (its range 1a stands for the slot's 1a there).
            Some((from, lb)) if slot >= from && seen < lb => lb,
            _ => next_owned(self.cfg.me, self.cfg.proposers, floor),
        };
        InFlight {
            ballot,
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
            tries: BTreeMap::new(),
            answered: BTreeMap::new(),
            pinned_at: None,
            probed: false,
            refresh: Vec::new(),
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
        // What did not fit waits only for the next slot.
        self.backlog = !self.queue.is_empty();
        cmds
    }

    fn batch_ready(&self, now: Tick) -> bool {
        match self.queue.front() {
            None => false,
            Some((t, _)) => {
                self.backlog
                    || self.queue.len() >= self.cfg.max_batch
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
        if !self.queue.is_empty() && self.undecided_in_flight() >= self.cfg.window {
            self.backlog = true;
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
        let floor = self.cfg.ballot_floor;
        let retransmits = self.cfg.retransmits;
        let base = self.cfg.base_timeout;
        let grace = self.cfg.takeover_grace;
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
                push_refresh(out, slot, &f.refresh, &missing);
            }
            return;
        }
        // A pinned attempt that every missing learner's quorum answered
        // (its 1b at the pinned ballot) without the proposals following.
        if let Some(c) = f.pinned_at {
            let answered = self
                .evidence
                .get(&slot)
                .is_some_and(|e| e.answered(self.trust.as_ref(), &missing, c));
            if let Some(e) = self.evidence.get_mut(&slot) {
                e.forget_answers(c);
            }
            if answered {
                if let Some(f) = self.slots.get_mut(&slot) {
                    *f.answered.entry(c).or_insert(0) += 1;
                }
            }
        }
        let Some(f) = self.slots.get(&slot) else {
            return;
        };
        // Rule (a) (see `pins`): the lowest vote or decision ballot where a
        // missing learner has no proposals yet, if any.
        let ev = self.evidence.get(&slot);
        let decided = self
            .decided
            .get(&slot)
            .into_iter()
            .flat_map(|d| d.values().cloned());
        let pin = pins::choose(
            ev,
            decided,
            self.trust.as_ref(),
            &missing,
            &f.tries,
            &f.answered,
            self.cfg.pin_tries,
        );
        let mut refresh: Vec<(Ballot, Value)> = ev.map(|e| e.ballots()).unwrap_or_default();
        if let Some(d) = self.decided.get(&slot) {
            refresh.extend(d.values().cloned());
        }
        refresh.sort();
        refresh.dedup();
        let forced = ev.and_then(|e| e.highest_value()).cloned().or_else(|| {
            self.decided
                .get(&slot)
                .and_then(|d| d.values().next().map(|(_, v)| v.clone()))
        });
        if pin.is_none() && started && grace > 0 && !f.probed {
            // Leaving the ballots tried for a fresh one: first ask every
            // acceptor node where anyone voted (a vote this proposer missed
            // would be stepped over, which rule (a) forbids).
            if let Some(f) = self.slots.get_mut(&slot) {
                f.probed = true;
                f.deadline = now.after(grace);
            }
            self.add_probe(slot);
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
        f.probed = false;
        f.pinned_at = None;
        f.refresh.clear();
        f.level = level;
        f.retransmits_left = retransmits;
        f.deadline = now.after(d);
        self.stats.ballots_started += 1;
        match pin {
            Some(p) => {
                // Pinned tries stay at the first timeout, without
                // retransmissions: each is a retransmission at the ballot.
                *f.tries.entry(p.ballot).or_insert(0) += 1;
                f.pinned_at = Some(p.ballot);
                f.pins += 1;
                f.level = level.saturating_sub(1);
                f.retransmits_left = 0;
                f.deadline = now.after(base);
                f.ballot = p.ballot;
                f.value = p.value.clone();
                self.stats.pinned_retries += 1;
                out.push(Action::Start {
                    slot,
                    ballot: p.ballot,
                    value: p.value,
                    learners: missing,
                    pinned: true,
                });
            }
            None => {
                if started || f.pins > 0 {
                    f.ballot = next_owned(me, np, f.ballot.max(f.observed).max(floor));
                }
                if let Some(v) = forced {
                    f.value = v;
                } else if f.commands.is_empty() {
                    self.stats.noops += 1;
                }
                refresh.retain(|(c, _)| *c < f.ballot);
                push_refresh(out, slot, &refresh, &missing);
                f.refresh = refresh;
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
                take(if self.backlog {
                    *q
                } else {
                    q.after(self.cfg.batch_delay)
                });
            }
        }
        t
    }
}

/// One [`Action::Refresh`] per vote or decision ballot of `slot` in `refresh`.
fn push_refresh(
    out: &mut Vec<Action>,
    slot: Slot,
    refresh: &[(Ballot, Value)],
    missing: &[LearnerId],
) {
    for (c, v) in refresh {
        out.push(Action::Refresh {
            slot,
            ballot: *c,
            value: v.clone(),
            learners: missing.to_vec(),
        });
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
mod tests;
