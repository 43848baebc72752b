//! The proposer's liveness logic: batching, a window of slots in flight,
//! ballot ownership, timeouts with backoff, and taking over stalled slots.
//!
//! Pure: no clock (the caller passes `now_ms`), no I/O. It drives the
//! core's [`Proposer`] (which owns `Phase1a`/`Phase1c`) and is told what
//! the local learners decided. Safety never depends on anything here: the
//! spec lets anyone send any 1a or 1c; this only decides *when*.
//!
//! Ballot ownership: proposer `p` of `n` owns the ballots `r * n + p + 1`
//! (`r = 0, 1, ...`), so two proposers never run the same ballot. A slot is
//! started at the proposer's lowest owned ballot above every ballot seen for
//! it; on timeout the next owned ballot above the highest seen is started,
//! and the timeout doubles up to a cap. A slot below the highest slot seen
//! that no local learner has decided for a while (its proposer may have
//! died) is taken over with an empty batch; the 1b messages make the
//! proposer re-announce any value that may have been chosen.

use crate::kv::{Batch, Command};
use hpaxos_core::{Ballot, Effects, LearnerId, Message, Proposer, Slot, Value};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Slots further than this above the decided prefix are ignored (a
/// Byzantine sender could otherwise make the proposer skip ahead forever).
pub const HORIZON: u64 = 4096;

/// Tuning of the proposer.
#[derive(Clone, Debug)]
pub struct PacerOptions {
    /// Slots in flight at once.
    pub window: usize,
    /// Commands per value at most.
    pub batch_max: usize,
    /// First timeout of a ballot.
    pub timeout_ms: u64,
    /// Cap of the doubled timeout.
    pub max_timeout_ms: u64,
    /// Pending commands accepted at most (beyond: backpressure to clients).
    pub queue_max: usize,
}

impl Default for PacerOptions {
    fn default() -> Self {
        PacerOptions {
            window: 8,
            batch_max: 256,
            timeout_ms: 400,
            max_timeout_ms: 4000,
            queue_max: 100_000,
        }
    }
}

#[derive(Debug)]
struct Flight {
    bal: Ballot,
    value: Value,
    cmds: Vec<Command>,
    deadline: u64,
    timeout: u64,
}

/// One proposer's schedule.
#[derive(Debug)]
pub struct Pacer {
    me: u64,
    n: u64,
    learners: Vec<LearnerId>,
    opts: PacerOptions,
    pending: VecDeque<Command>,
    flights: BTreeMap<Slot, Flight>,
    next_slot: Slot,
    /// Highest ballot seen per undecided slot.
    max_bal: BTreeMap<Slot, Ballot>,
    /// Undecided slots below `next_slot` not run by this proposer, with
    /// when they were first noticed.
    watch: BTreeMap<Slot, u64>,
    /// Slots at or above `decided_below` that every local learner decided.
    decided: BTreeSet<Slot>,
    /// Slots below this are decided by every local learner.
    decided_below: Slot,
    started: u64,
}

impl Pacer {
    /// Proposer `me` of `n` proposing for `learners`.
    pub fn new(me: u64, n: u64, learners: Vec<LearnerId>, opts: PacerOptions) -> Pacer {
        Pacer {
            me,
            n: n.max(1),
            learners,
            opts,
            pending: VecDeque::new(),
            flights: BTreeMap::new(),
            next_slot: Slot(0),
            max_bal: BTreeMap::new(),
            watch: BTreeMap::new(),
            decided: BTreeSet::new(),
            decided_below: Slot(0),
            started: 0,
        }
    }

    /// Queues a client command; `false` when the queue is full.
    pub fn enqueue(&mut self, c: Command) -> bool {
        if self.pending.len() >= self.opts.queue_max {
            return false;
        }
        self.pending.push_back(c);
        true
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    pub fn in_flight(&self) -> usize {
        self.flights.len()
    }

    pub fn next_slot(&self) -> Slot {
        self.next_slot
    }

    /// Ballots started so far.
    pub fn ballots_started(&self) -> u64 {
        self.started
    }

    /// The current ballot of `slot` if this proposer runs it.
    pub fn ballot(&self, slot: Slot) -> Option<Ballot> {
        self.flights.get(&slot).map(|f| f.bal)
    }

    /// The lowest ballot this proposer owns that is above `b`.
    pub fn owned_above(&self, b: Ballot) -> Ballot {
        owned_above(self.me, self.n, b)
    }

    /// Notes a message seen on the network (any sender): slots in use and
    /// ballots reached.
    pub fn observe(&mut self, m: &Message, now: u64) {
        let s = m.slot();
        if s < self.decided_below || s.0 >= self.decided_below.0.saturating_add(HORIZON) {
            return;
        }
        let e = self.max_bal.entry(s).or_default();
        *e = (*e).max(m.bal());
        if s >= self.next_slot {
            self.next_slot = Slot(s.0 + 1);
        }
        if !self.flights.contains_key(&s) {
            self.watch.entry(s).or_insert(now);
        }
    }

    /// Every local learner decided `slot` with `val`. A flight that lost
    /// the slot to another value puts its commands back in front.
    pub fn decided(&mut self, slot: Slot, val: &Value, proposer: &mut Proposer) {
        self.watch.remove(&slot);
        self.max_bal.remove(&slot);
        if slot >= self.decided_below {
            self.decided.insert(slot);
        }
        if slot >= self.next_slot {
            self.next_slot = Slot(slot.0 + 1);
        }
        if let Some(f) = self.flights.remove(&slot) {
            proposer.finish(slot);
            if &f.value != val {
                for c in f.cmds.into_iter().rev() {
                    self.pending.push_front(c);
                }
            }
        }
    }

    /// After a restart: every local learner applied the slots below
    /// `applied`, and some decided slots up to `last`.
    pub fn resume(&mut self, applied: Slot, last: Option<Slot>) {
        self.decided_below(applied);
        if let Some(last) = last {
            if last >= self.next_slot {
                self.next_slot = Slot(last.0 + 1);
            }
        }
        if applied > self.next_slot {
            self.next_slot = applied;
        }
    }

    /// Every local learner has decided every slot below `s`.
    pub fn decided_below(&mut self, s: Slot) {
        if s > self.decided_below {
            self.decided_below = s;
            self.watch = self.watch.split_off(&s);
            self.decided = self.decided.split_off(&s);
            self.max_bal = self.max_bal.split_off(&s);
        }
    }

    /// Starts, restarts and takes over ballots as time requires.
    pub fn tick(&mut self, now: u64, proposer: &mut Proposer, fx: &mut Effects) {
        // Timed-out flights: next owned ballot, doubled timeout.
        let late: Vec<Slot> = self
            .flights
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(s, _)| *s)
            .collect();
        for s in late {
            let seen = self.max_bal.get(&s).copied().unwrap_or_default();
            let Some(f) = self.flights.get_mut(&s) else {
                continue;
            };
            let bal = owned_above(self.me, self.n, seen.max(f.bal));
            f.bal = bal;
            f.timeout = (f.timeout * 2).min(self.opts.max_timeout_ms);
            f.deadline = now + f.timeout;
            let v = f.value.clone();
            self.started += 1;
            proposer.start(s, &self.learners, bal, v, fx);
        }
        // Every undecided slot below `next_slot` is watched: its proposer
        // may be dead, or nobody ever started it (a gap).
        for s in self.decided_below.0..self.next_slot.0 {
            let s = Slot(s);
            if !self.flights.contains_key(&s) && !self.decided.contains(&s) {
                self.watch.entry(s).or_insert(now);
            }
        }
        // Stalled slots: take over with an empty batch.
        let stalled: Vec<Slot> = self
            .watch
            .iter()
            .filter(|(s, t)| {
                **s >= self.decided_below
                    && !self.flights.contains_key(s)
                    && now.saturating_sub(**t) >= self.opts.timeout_ms * 2
            })
            .map(|(s, _)| *s)
            .collect();
        for s in stalled {
            self.watch.remove(&s);
            self.launch(s, Vec::new(), now, proposer, fx);
        }
        // New slots for pending commands, within the window.
        while self.flights.len() < self.opts.window && !self.pending.is_empty() {
            let n = self.pending.len().min(self.opts.batch_max);
            let cmds: Vec<Command> = self.pending.drain(..n).collect();
            let s = self.next_slot;
            self.next_slot = Slot(s.0 + 1);
            self.launch(s, cmds, now, proposer, fx);
        }
    }

    fn launch(
        &mut self,
        s: Slot,
        cmds: Vec<Command>,
        now: u64,
        proposer: &mut Proposer,
        fx: &mut Effects,
    ) {
        let seen = self.max_bal.get(&s).copied().unwrap_or_default();
        let bal = owned_above(self.me, self.n, seen);
        let value = Batch { cmds: cmds.clone() }.to_value();
        self.flights.insert(
            s,
            Flight {
                bal,
                value: value.clone(),
                cmds,
                deadline: now + self.opts.timeout_ms,
                timeout: self.opts.timeout_ms,
            },
        );
        self.started += 1;
        proposer.start(s, &self.learners, bal, value, fx);
    }
}

fn owned_above(me: u64, n: u64, b: Ballot) -> Ballot {
    let r = b.0 / n;
    let cand = r * n + me + 1;
    if cand > b.0 {
        Ballot(cand)
    } else {
        Ballot(cand + n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::{CmdId, Op};
    use hpaxos_core::{graph, AccSet, AcceptorId, Family, LearnerGraph, LearnerSpec, SafetyEdge};

    fn trust() -> hpaxos_core::Trust {
        let all: AccSet = (0..4).map(AcceptorId).collect();
        let q = Family::threshold(3, all, vec![]);
        graph::validate(LearnerGraph {
            acceptors: (1..=4).map(|i| format!("a{i}")).collect(),
            learners: vec![LearnerSpec {
                name: "l".into(),
                quorums: q.clone(),
            }],
            edges: vec![SafetyEdge {
                learners: (LearnerId(0), LearnerId(0)),
                safe: q,
            }],
        })
        .unwrap()
    }

    fn cmd(seq: u64) -> Command {
        Command {
            id: CmdId { origin: 0, seq },
            op: Op::Get { key: "k".into() },
        }
    }

    #[test]
    fn proposers_own_disjoint_ballots() {
        for b in 0..20 {
            let a = owned_above(0, 3, Ballot(b));
            let c = owned_above(2, 3, Ballot(b));
            assert!(a.0 > b && c.0 > b);
            assert_eq!((a.0 - 1) % 3, 0);
            assert_eq!((c.0 - 1) % 3, 2);
            assert!(a.0 <= b + 3 && c.0 <= b + 3);
        }
    }

    #[test]
    fn batches_fill_the_window_and_timeouts_raise_the_ballot() {
        let opts = PacerOptions {
            window: 2,
            batch_max: 3,
            timeout_ms: 100,
            ..PacerOptions::default()
        };
        let mut p = Pacer::new(1, 2, vec![LearnerId(0)], opts);
        let mut prop = Proposer::new(trust());
        for i in 0..10 {
            assert!(p.enqueue(cmd(i)));
        }
        let mut fx = Effects::default();
        p.tick(0, &mut prop, &mut fx);
        assert_eq!(p.in_flight(), 2);
        assert_eq!(p.pending(), 4);
        assert_eq!(p.ballot(Slot(0)), Some(Ballot(2)));
        p.tick(100, &mut prop, &mut fx);
        assert_eq!(p.ballot(Slot(0)), Some(Ballot(4)));
        // Losing slot 0 to another value requeues its commands first.
        p.decided(Slot(0), &Value::new(b"other".to_vec()), &mut prop);
        assert_eq!(p.pending(), 7);
        p.tick(150, &mut prop, &mut fx);
        assert_eq!(p.in_flight(), 2);
        assert_eq!(p.ballot(Slot(2)), Some(Ballot(2)));
    }
}
