//! # hpaxos-spec
//!
//! The seed specification (`spec/HPaxos.tla`) as an executable reference
//! model, and the tools built on it:
//! - [`model`]: the spec's state ([`state::State`]), operators and actions
//!   (guards and effects), a direct transcription of the TLA+;
//! - [`invariants`]: every conjunct of `FullSafetyInvariant`;
//! - [`explore`]: breadth-first exploration of a finite instance (the same
//!   instance as a TLC model in `spec/`, reaching the same number of
//!   distinct states);
//! - [`refinement`]: the refinement checker that replays the core's recorded
//!   [`hpaxos_core::SpecAction`]s on the model, one spec instance per slot.

pub mod explore;
pub mod instance;
pub mod instances;
pub mod invariants;
pub mod model;
pub mod msg;
pub mod refinement;
pub mod sets;
pub mod state;

pub use instance::{Finite, Instance, Quorums};
pub use invariants::{InvariantViolation, FULL_SAFETY_INVARIANT};
pub use model::{Action, GuardError, Model};
pub use msg::{Msg, MsgId, Vote};
pub use refinement::{Refinement, RefinementError};
pub use state::State;
