//! The proposer: `Phase1a` and `Phase1c`.
//!
//! The spec puts no guard on either (anyone may send a 1a or a 1c); safety
//! rests entirely on the acceptors' `KnowsSafeAt`. For progress, a proposer
//! runs one ballot for a set of learners at once (same slot, ballot and
//! value), collects their 1b messages, and announces in the 1c a value that
//! `KnowsSafeAt` accepts for every learner (computed with every pair
//! connected, the strictest view, so any acceptor's view accepts it too).
//! When to start a ballot (timeouts, backoff, ballot ownership) is the
//! caller's: see the liveness logic shared by the simulator and the node.

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
    one_b: BTreeMap<LearnerId, OneBBucket>,
    /// The 1c messages sent, once a value was found.
    announced: Vec<Msg1c>,
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
            .and_then(|r| r.announced.first())
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
                one_b: BTreeMap::new(),
                announced: Vec::new(),
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
        for m in &r.announced {
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
            r.announced.push(m.clone());
        }
        fx.send.push(Message::M1c(m));
    }

    /// Takes a 1b of the current ballot; once every learner of the round has
    /// 1b messages from which a value is safe, announces it.
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
        if m.bal != r.bal || !r.learners.contains(&m.lr) || !r.announced.is_empty() {
            return;
        }
        let mut m = m.clone();
        m.canonicalize();
        let (lr, bal) = (m.lr, m.bal);
        let bucket = r
            .one_b
            .entry(lr)
            .or_insert_with(|| OneBBucket::new(lr, bal));
        if !bucket.insert(m.clone(), &self.all_connected) {
            return;
        }
        if let Some(v) = self.choose_value(m.slot) {
            let (bal, learners) = match self.rounds.get(&m.slot) {
                Some(r) => (r.bal, r.learners.clone()),
                None => return,
            };
            for l in learners {
                self.phase_1c(m.slot, l, bal, v.clone(), fx);
            }
        }
    }

    /// A value `KnowsSafeAt` accepts for every learner of the round, from the
    /// 1b messages so far: proposals at the highest ballots first, then the
    /// proposer's own value.
    fn choose_value(&self, slot: Slot) -> Option<Value> {
        let r = self.rounds.get(&slot)?;
        let candidates = r
            .one_b
            .values()
            .flat_map(|bucket| bucket.safe_by_proposals(&self.trust));
        for v in candidates.chain(std::iter::once(r.own.clone())) {
            let safe_for_all = r.learners.iter().all(|l| {
                r.one_b
                    .get(l)
                    .is_some_and(|bucket| bucket.knows_safe_at(&self.trust, &v))
            });
            if safe_for_all {
                return Some(v);
            }
        }
        None
    }
}
