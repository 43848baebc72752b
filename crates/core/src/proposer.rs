//! The proposer: `Phase1a` and `Phase1c`.
//!
//! The spec puts no guard on either (anyone may send a 1a or a 1c); safety
//! rests entirely on the acceptors' `KnowsSafeAt`. For progress, a proposer
//! runs one ballot for a set of learners at once (same slot and ballot),
//! collects their 1b messages, and announces a value **per learner**: as
//! soon as one learner's 1b messages make a value safe for it (`KnowsSafeAt`
//! computed with every pair connected, the strictest view, so any
//! acceptor's view accepts it too), that learner gets its 1c. A learner
//! whose quorum is down therefore never holds back one whose quorum is up
//! (the ballot used to wait for a value safe for *every* learner). A value
//! already announced in the round is preferred, so learners whose quorums
//! are all up get one value and one 2av per acceptor (Phase2av's
//! one-value-per-ballot conjunct is per connected learner pair).
//! A *pinned* round (a learner retried at the ballot another learner
//! decided in) announces exactly the given value or nothing.
//! When to start a ballot (timeouts, backoff, ballot ownership) is the
//! pacemaker's.

use crate::connected::Connected;
use crate::effects::{Effects, SpecAction};
use crate::ids::{Ballot, LearnerId, Slot};
use crate::ksa_index::OneBBucket;
use crate::msg::{Message, Msg1a, Msg1c};
use crate::trust::Trust;
use crate::value::Value;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Round {
    bal: Ballot,
    learners: Vec<LearnerId>,
    own: Value,
    /// Announce `own` only.
    pinned: bool,
    one_b: BTreeMap<LearnerId, OneBBucket>,
    /// The 1c message sent per learner, once a value was found for it.
    announced: BTreeMap<LearnerId, Msg1c>,
}

/// A proposer of all slots; at most one live ballot per slot.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Proposer {
    trust: Trust,
    all_connected: Connected,
    rounds: BTreeMap<Slot, Round>,
}

impl Proposer {
    pub fn new(trust: Trust) -> Proposer {
        let all_connected = Connected::all(trust.n_learners());
        Proposer {
            trust,
            all_connected,
            rounds: BTreeMap::new(),
        }
    }

    /// The ballot currently run for `slot`, if any.
    pub fn ballot(&self, slot: Slot) -> Option<Ballot> {
        self.rounds.get(&slot).map(|r| r.bal)
    }

    /// The value announced for `slot` in the current ballot, if any.
    pub fn announced(&self, slot: Slot) -> Option<&Value> {
        self.rounds
            .get(&slot)
            .and_then(|r| r.announced.values().next())
            .map(|m| &m.val)
    }

    /// Forgets a slot (decided, or garbage-collected).
    pub fn finish(&mut self, slot: Slot) {
        self.rounds.remove(&slot);
    }

    /// Starts ballot `bal` of `slot` for `learners`, proposing `own` unless
    /// the 1b messages force another value: `Phase1a(l, bal)` for each.
    pub fn start(
        &mut self,
        slot: Slot,
        learners: &[LearnerId],
        bal: Ballot,
        own: Value,
        fx: &mut Effects,
    ) {
        self.start_for(slot, learners, bal, own, false, fx);
    }

    /// [`Proposer::start`], and with `pinned` the round announces `own` or
    /// nothing (a retry at the ballot another learner decided `own` in).
    pub fn start_for(
        &mut self,
        slot: Slot,
        learners: &[LearnerId],
        bal: Ballot,
        own: Value,
        pinned: bool,
        fx: &mut Effects,
    ) {
        let learners: Vec<LearnerId> = learners
            .iter()
            .copied()
            .filter(|l| l.index() < self.trust.n_learners())
            .collect();
        self.rounds.insert(
            slot,
            Round {
                bal,
                learners: learners.clone(),
                own,
                pinned,
                one_b: BTreeMap::new(),
                announced: BTreeMap::new(),
            },
        );
        for l in learners {
            self.phase_1a(slot, l, bal, fx);
        }
    }

    /// Sends again the current ballot's 1a and 1c messages (after loss).
    pub fn retransmit(&self, slot: Slot, fx: &mut Effects) {
        let Some(r) = self.rounds.get(&slot) else {
            return;
        };
        for &l in &r.learners {
            fx.send.push(Message::M1a(Msg1a {
                slot,
                lr: l,
                bal: r.bal,
            }));
        }
        for m in r.announced.values() {
            fx.send.push(Message::M1c(m.clone()));
        }
    }

    /// `Phase1a(l, b)`: `Send([type |-> "1a", lr |-> l, bal |-> b])` (no guard).
    pub fn phase_1a(&mut self, slot: Slot, l: LearnerId, b: Ballot, fx: &mut Effects) {
        fx.action(|| SpecAction::Phase1a {
            slot,
            lr: l,
            bal: b,
        });
        fx.send.push(Message::M1a(Msg1a {
            slot,
            lr: l,
            bal: b,
        }));
    }

    /// `Phase1c(l, b, v)`: `Send([type |-> "1c", lr |-> l, bal |-> b, val |-> v])` (no guard).
    pub fn phase_1c(&mut self, slot: Slot, l: LearnerId, b: Ballot, v: Value, fx: &mut Effects) {
        fx.action(|| SpecAction::Phase1c {
            slot,
            lr: l,
            bal: b,
            val: v.clone(),
        });
        let m = Msg1c {
            slot,
            lr: l,
            bal: b,
            val: v,
        };
        if let Some(r) = self.rounds.get_mut(&slot) {
            r.announced.insert(l, m.clone());
        }
        fx.send.push(Message::M1c(m));
    }

    /// Takes a 1b of the current ballot; once the 1b messages of one of the
    /// round's learners make a value safe for it, announces it to that
    /// learner.
    pub fn handle(&mut self, msg: &Message, fx: &mut Effects) {
        let Message::M1b(m) = msg else { return };
        let (na, nl) = (self.trust.n_acceptors(), self.trust.n_learners());
        let well_formed = m.acc.index() < na
            && m.votes
                .iter()
                .chain(m.proposals.iter())
                .all(|p| p.lr.index() < nl);
        if !well_formed {
            return;
        }
        let Some(r) = self.rounds.get_mut(&m.slot) else {
            return;
        };
        if m.bal != r.bal || !r.learners.contains(&m.lr) || r.announced.contains_key(&m.lr) {
            return;
        }
        let mut m = m.clone();
        m.canonicalize();
        let (lr, bal, slot) = (m.lr, m.bal, m.slot);
        let bucket = r
            .one_b
            .entry(lr)
            .or_insert_with(|| OneBBucket::new(lr, bal));
        if !bucket.insert(m, &self.all_connected) {
            return;
        }
        if let Some(v) = self.choose_value(slot, lr) {
            self.phase_1c(slot, lr, bal, v, fx);
        }
    }

    /// A value `KnowsSafeAt` accepts for learner `lr` from the round's 1b
    /// messages so far: a value already announced in the round first, then
    /// proposals at the highest ballots, then the proposer's own value (a
    /// pinned round: its own value only).
    fn choose_value(&self, slot: Slot, lr: LearnerId) -> Option<Value> {
        let r = self.rounds.get(&slot)?;
        let bucket = r.one_b.get(&lr)?;
        let safe = |v: &Value| bucket.knows_safe_at(&self.trust, v);
        if r.pinned {
            return safe(&r.own).then(|| r.own.clone());
        }
        let announced = r.announced.values().map(|m| m.val.clone());
        let by_proposals = r
            .one_b
            .values()
            .flat_map(|b| b.safe_by_proposals(&self.trust));
        announced
            .chain(by_proposals)
            .chain(std::iter::once(r.own.clone()))
            .find(|v| safe(v))
    }
}
