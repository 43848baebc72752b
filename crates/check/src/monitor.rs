//! Step monitors: a checker of each model step that lives in the state.
//!
//! The refinement check is one: it keeps the spec's variables for the
//! run so far, and each step's recorded spec actions (from
//! [`hpaxos_core::Effects::recording`]) must be a spec step from them, with
//! every invariant holding after. Monitor state is part of the model state
//! (its fingerprint is hashed with the rest), so the check is exact: every
//! explored transition is checked from the monitor state of a path that
//! reaches it. When the monitor's state is a function of the implementation
//! state (as a refinement mapping is), this adds no states.

use crate::instance::Instance;
use hpaxos_core::{Message, SpecAction};

/// A per-path checker of model steps.
pub trait Monitor: std::fmt::Debug + Send + Sync {
    /// A hash of the monitor's state (equal states, equal fingerprints).
    fn fingerprint(&self) -> u64;
    fn boxed_clone(&self) -> Box<dyn Monitor>;
    /// The fake acceptors' messages, all sent at the start.
    fn on_fake_sends(&mut self, msgs: &[Message]);
    /// The spec actions of one step, in the order the core took them.
    fn on_step(&mut self, actions: &[SpecAction]);
    /// The first violation seen on this path, if any.
    fn violation(&self) -> Option<String>;
}

/// Makes the monitor of the initial state.
pub trait MonitorFactory: Send + Sync {
    fn start(&self, inst: &Instance) -> Box<dyn Monitor>;
    fn name(&self) -> &'static str;
}
