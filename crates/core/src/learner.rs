//! The learner: `LearnerRecv` and `LearnerDecide` with `ChosenIn`.
//!
//! [`Learner::handle`] takes a received 2b; when a quorum of the learner's
//! own (`TrustLive`) has sent 2b for `(l, b, v)`, the learner decides `v` in
//! `b`. A decision certificate is exactly such a set of 2b messages, so a
//! lagging learner catches up by feeding a certificate through `handle`.

use crate::accset::AccSet;
use crate::effects::{Decision, Durable, Effects, Rejection, SpecAction};
use crate::ids::{Ballot, LearnerId, Slot};
use crate::msg::{Message, Msg2b};
use crate::trust::Trust;
use crate::value::{Digest, Value};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, Default)]
struct LearnerSlot {
    /// Senders of 2b per `(b, v)`: `receivedByLearner[l]` indexed.
    two_b: BTreeMap<(Ballot, Digest), (Value, AccSet)>,
    /// The 2b messages themselves, for decision certificates.
    msgs: BTreeMap<(Ballot, Digest), Vec<Msg2b>>,
    /// `decision[l, b]` for this slot.
    decided: BTreeMap<Ballot, BTreeSet<Value>>,
}

// Equality and hashing of a slot skip `msgs`: its content is determined by
// `two_b` (one 2b per sender per `(b, v)`), only its arrival order is not.
impl PartialEq for LearnerSlot {
    fn eq(&self, o: &LearnerSlot) -> bool {
        self.two_b == o.two_b && self.decided == o.decided
    }
}
impl Eq for LearnerSlot {}
impl std::hash::Hash for LearnerSlot {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.two_b.hash(h);
        self.decided.hash(h);
    }
}

/// One learner of all slots.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Learner {
    id: LearnerId,
    trust: Trust,
    slots: BTreeMap<Slot, LearnerSlot>,
    compacted_below: Slot,
}

impl Learner {
    pub fn new(id: LearnerId, trust: Trust) -> Learner {
        Learner {
            id,
            trust,
            slots: BTreeMap::new(),
            compacted_below: Slot(0),
        }
    }

    /// A learner restarted from its durable decisions.
    pub fn restore(id: LearnerId, trust: Trust, durable: &[Durable]) -> Learner {
        let mut l = Learner::new(id, trust);
        for d in durable {
            match d {
                Durable::Decided { slot, lr, bal, val } if *lr == id => {
                    l.slots
                        .entry(*slot)
                        .or_default()
                        .decided
                        .entry(*bal)
                        .or_default()
                        .insert(val.clone());
                }
                Durable::Compacted { below } => {
                    l.compacted_below = l.compacted_below.max(*below);
                    l.slots = l.slots.split_off(below);
                }
                _ => {}
            }
        }
        l
    }

    pub fn id(&self) -> LearnerId {
        self.id
    }

    /// The value decided for `slot` (the first ballot's, if several).
    pub fn decided(&self, slot: Slot) -> Option<&Value> {
        self.slots
            .get(&slot)
            .and_then(|s| s.decided.values().next())
            .and_then(|vs| vs.iter().next())
    }

    /// Every `(ballot, value)` decided for `slot`: `decision[l, b]`.
    pub fn decisions(&self, slot: Slot) -> impl Iterator<Item = (Ballot, &Value)> {
        self.slots.get(&slot).into_iter().flat_map(|s| {
            s.decided
                .iter()
                .flat_map(|(b, vs)| vs.iter().map(move |v| (*b, v)))
        })
    }

    /// A decision certificate: a quorum's 2b messages for the decided value.
    ///
    /// `None` when the 2b messages held do not form a quorum, which happens
    /// after a restart: decisions are durable, the 2b messages behind them
    /// are not (a node that must serve certificates stores them itself).
    pub fn certificate(&self, slot: Slot) -> Option<Vec<Msg2b>> {
        let s = self.slots.get(&slot)?;
        s.decided.iter().find_map(|(b, vs)| {
            vs.iter().find_map(|v| {
                let key = (*b, v.digest());
                let senders = &s.two_b.get(&key)?.1;
                if !self.trust.is_quorum(self.id, senders) {
                    return None;
                }
                s.msgs.get(&key).cloned()
            })
        })
    }

    /// Slots with state (2b received or a decision), in order.
    pub fn slots(&self) -> impl Iterator<Item = Slot> + '_ {
        self.slots.keys().copied()
    }

    /// Slots below this were garbage-collected.
    pub fn compacted_below(&self) -> Slot {
        self.compacted_below
    }

    pub fn compact(&mut self, below: Slot, fx: &mut Effects) {
        if below > self.compacted_below {
            self.compacted_below = below;
            self.slots = self.slots.split_off(&below);
            fx.persist.push(Durable::Compacted { below });
        }
    }

    /// `LearnerRecv(l)` of a 2b, then `LearnerDecide(l, b)` if it completes a
    /// quorum. Messages for other learners and other kinds are rejected.
    pub fn handle(&mut self, msg: &Message, fx: &mut Effects) {
        let Message::M2b(m) = msg else {
            fx.rejected.push(Rejection::WrongRole);
            return;
        };
        if m.lr != self.id {
            return;
        }
        if m.acc.index() >= self.trust.n_acceptors() {
            fx.rejected.push(Rejection::UnknownAcceptor(m.acc.0));
            return;
        }
        if m.slot < self.compacted_below {
            fx.rejected.push(Rejection::CompactedSlot(m.slot.0));
            return;
        }
        let st = self.slots.entry(m.slot).or_default();
        let key = (m.bal, m.val.digest());
        let entry = st
            .two_b
            .entry(key)
            .or_insert_with(|| (m.val.clone(), AccSet::EMPTY));
        if !entry.1.insert(m.acc) {
            return;
        }
        st.msgs.entry(key).or_default().push(m.clone());
        fx.action(|| SpecAction::LearnerRecv {
            lr: m.lr,
            msg: msg.clone(),
        });
        self.learner_decide(m.slot, m.bal, &m.val, fx);
    }

    /// `LearnerDecide(l, b)`:
    /// ```text
    /// /\ \E v \in {vv \in Value : ChosenIn(l, b, vv)} :
    ///      decision' = [decision EXCEPT ![l, b] = decision[l, b] \cup {v}]
    /// ```
    pub fn learner_decide(&mut self, slot: Slot, b: Ballot, v: &Value, fx: &mut Effects) {
        if !self.chosen_in(slot, b, v) {
            return;
        }
        let id = self.id;
        let st = self.slots.entry(slot).or_default();
        if !st.decided.entry(b).or_default().insert(v.clone()) {
            return;
        }
        fx.persist.push(Durable::Decided {
            slot,
            lr: id,
            bal: b,
            val: v.clone(),
        });
        fx.action(|| SpecAction::LearnerDecide {
            slot,
            lr: id,
            bal: b,
            val: v.clone(),
        });
        fx.decisions.push(Decision {
            slot,
            lr: id,
            bal: b,
            val: v.clone(),
        });
    }

    /// `ChosenIn(lr, bal, v)`:
    /// ```text
    /// \E Q \in ByzQuorum : /\ [lr |-> lr, q |-> Q] \in TrustLive
    ///   /\ \A aa \in Q : \E m \in {mm \in receivedByLearner[lr] : mm.bal = bal} :
    ///        m.val = v /\ m.acc = aa
    /// ```
    pub fn chosen_in(&self, slot: Slot, b: Ballot, v: &Value) -> bool {
        let Some((_, senders)) = self
            .slots
            .get(&slot)
            .and_then(|s| s.two_b.get(&(b, v.digest())))
        else {
            return false;
        };
        if mutant!(ChosenInAcrossBallots) {
            let all: AccSet = self.slots.get(&slot).map_or(AccSet::EMPTY, |s| {
                s.two_b
                    .values()
                    .filter(|(w, _)| w == v)
                    .fold(AccSet::EMPTY, |a, (_, x)| a.union(x))
            });
            return self.trust.is_quorum(self.id, &all);
        }
        #[cfg(feature = "mutations")]
        if crate::mutations::active(crate::mutations::Mutation::DecideOnOne2b) {
            return !senders.is_empty();
        }
        self.trust.is_quorum(self.id, senders)
    }
}
