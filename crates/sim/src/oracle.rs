//! The oracles every run is judged by.
//!
//! - **Safety** (the spec's `Safety` for the actual fake set): whenever a
//!   learner replica decides, its value is compared with every decision
//!   already taken in that slot; two different values for learners that are
//!   entangled under the run's safe set (`trust.entangled(l1, l2, safe)`,
//!   self-pairs included) are a violation. Checked on every decision, so
//!   entangled learners' logs agree slot by slot at all times.
//! - **Liveness** (after GST): every slot a correct proposer started is
//!   decided by every replica of every live learner (a learner with a quorum
//!   of safe acceptors) within the stated bound after `max(GST, start)`;
//!   checked on the final state of the replicas.
//! - **Refinement** failures and forged senders are reported here too.

use crate::params::Micros;
use hpaxos_core::{AccSet, Ballot, LearnerId, Slot, Trust, Value};
use std::collections::BTreeMap;

/// One decision as observed.
#[derive(Clone, Debug)]
pub struct Dec {
    pub t: Micros,
    pub node: u16,
    pub lr: LearnerId,
    pub bal: Ballot,
    pub val: Value,
}

/// Something that must never happen.
#[derive(Clone, Debug)]
pub enum Violation {
    /// Entangled learners decided different values in one slot.
    Safety { slot: Slot, first: Dec, second: Dec },
    /// A live learner replica did not decide a started slot in time.
    Liveness {
        slot: Slot,
        node: u16,
        lr: LearnerId,
        started: Micros,
        deadline: Micros,
    },
    /// The refinement check or a spec invariant failed.
    Refinement { t: Micros, what: String },
    /// A message claimed another acceptor as its sender.
    Forgery { t: Micros, from: u16, claimed: u16 },
}

impl Violation {
    pub fn kind(&self) -> &'static str {
        match self {
            Violation::Safety { .. } => "safety",
            Violation::Liveness { .. } => "liveness",
            Violation::Refinement { .. } => "refinement",
            Violation::Forgery { .. } => "forgery",
        }
    }
}

/// Decisions and starts of one run, with the entanglement of its fake set.
pub struct Oracle {
    n_learners: usize,
    /// `ent[l1 * n + l2]`: entangled under the actual safe set.
    ent: Vec<bool>,
    /// Learners with a quorum of safe acceptors.
    pub live: Vec<bool>,
    pub decisions: BTreeMap<Slot, Vec<Dec>>,
    /// First start of each slot by a correct proposer.
    pub started: BTreeMap<Slot, Micros>,
    pub violations: Vec<Violation>,
}

impl Oracle {
    pub fn new(trust: &Trust, fake: &AccSet) -> Oracle {
        let safe = trust.all_acceptors().difference(fake);
        let n = trust.n_learners();
        let mut ent = vec![false; n * n];
        for l1 in trust.learners() {
            for l2 in trust.learners() {
                ent[l1.index() * n + l2.index()] = trust.entangled(l1, l2, &safe);
            }
        }
        let live = trust
            .learners()
            .map(|l| trust.is_quorum(l, &safe))
            .collect();
        Oracle {
            n_learners: n,
            ent,
            live,
            decisions: BTreeMap::new(),
            started: BTreeMap::new(),
            violations: Vec::new(),
        }
    }

    pub fn entangled(&self, l1: LearnerId, l2: LearnerId) -> bool {
        self.ent
            .get(l1.index() * self.n_learners + l2.index())
            .copied()
            .unwrap_or(false)
    }

    /// Records a decision; returns true if it violates safety.
    pub fn decide(&mut self, slot: Slot, d: Dec) -> bool {
        let list = self.decisions.entry(slot).or_default();
        let clash = list
            .iter()
            .find(|o| {
                o.val != d.val
                    && self
                        .ent
                        .get(o.lr.index() * self.n_learners + d.lr.index())
                        .copied()
                        .unwrap_or(false)
            })
            .cloned();
        list.push(d.clone());
        if let Some(first) = clash {
            self.violations.push(Violation::Safety {
                slot,
                first,
                second: d,
            });
            return true;
        }
        false
    }

    pub fn start(&mut self, slot: Slot, t: Micros) {
        self.started.entry(slot).or_insert(t);
    }
}
