//! The bridge to the spec helper's refinement checker: every step a node
//! takes is replayed as spec actions on `hpaxos_spec::Refinement` (one spec
//! instance per slot), fake acceptors' messages as `FakeSend` (or the
//! unguarded `Phase1a`/`Phase1c`), and at the end the invariants and each
//! safe acceptor's durable state are checked against the spec state.
//!
//! Steps are replayed when they become durable (see `world`), so a crash
//! that loses an unsynced step also never shows it to the checker: what a
//! node sent is always what the spec allows.

use crate::{Refiner, RefinerFactory};
use hpaxos_core::{AccSet, Acceptor, Message, SpecAction, Trust};
use hpaxos_spec::Refinement;

/// `hpaxos_spec::Refinement` as a [`Refiner`].
pub struct SpecRefiner {
    r: Refinement,
}

impl SpecRefiner {
    /// Invariants are checked every `check_every` actions (and at the end).
    /// `late`: check against HPaxosLate (acceptors with late steps).
    pub fn new(trust: &Trust, fake: AccSet, check_every: u64, late: bool) -> SpecRefiner {
        SpecRefiner {
            r: Refinement::new(trust, fake)
                .with_late(late)
                .with_check_every(check_every),
        }
    }
}

impl Refiner for SpecRefiner {
    fn apply(&mut self, actions: &[SpecAction]) -> Result<(), String> {
        self.r.apply(actions).map_err(|e| e.to_string())
    }

    fn fake_send(&mut self, m: &Message) -> Result<(), String> {
        self.r.fake_send(m).map_err(|e| e.to_string())
    }

    fn check_sent(&mut self, sent: &[Message]) -> Result<(), String> {
        self.r.check_sent(sent).map_err(|e| e.to_string())
    }

    fn check(&mut self) -> Result<(), String> {
        self.r.check_invariants().map_err(|e| e.to_string())
    }

    fn check_acceptor(&mut self, a: &Acceptor) -> Result<(), String> {
        self.r.check_acceptor(a).map_err(|e| e.to_string())
    }
}

/// A factory for [`crate::Sim::refiner`] using the spec's checker.
pub fn spec_refiner(check_every: u64) -> RefinerFactory {
    Box::new(move |trust, fake, late| Box::new(SpecRefiner::new(trust, fake, check_every, late)))
}
