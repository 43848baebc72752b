//! # hpaxos-core
//!
//! The Heterogeneous Paxos protocol as pure state machines: no I/O, no clock,
//! no randomness, no async. The runtime (node), the simulator and the model
//! checker all drive these same types.
//!
//! Data flow: a configuration is parsed (config crate) into a
//! [`LearnerGraph`], validated by [`graph::validate`] into a [`Trust`], and
//! handed to [`Acceptor`], [`Learner`] and [`Proposer`]. Each takes one input
//! at a time and appends its outputs to [`Effects`]: durable records (persist
//! first), messages to send, decisions, evidence, and the spec actions taken.
//!
//! Every spec action is one function named after it (`phase_1b`,
//! `phase_2av`, `phase_2b`, `disconnect`, `learner_decide`, `chosen_in`,
//! `knows_safe_at`, `phase_1a`, `phase_1c`) whose doc quotes the TLA+ guard.

/// `mutant!(Name)`: whether test-only mutation `Name` is on (always false
/// without feature `mutations`); see [`mutations`].
#[cfg(feature = "mutations")]
macro_rules! mutant {
    ($m:ident) => {
        crate::mutations::active(crate::mutations::Mutation::$m)
    };
}
#[cfg(not(feature = "mutations"))]
macro_rules! mutant {
    ($m:ident) => {
        false
    };
}

pub mod acceptor;
pub mod accset;
pub mod connected;
pub mod effects;
pub mod family;
pub mod graph;
pub mod ids;
pub mod ksa_index;
pub mod learner;
pub mod msg;
#[cfg(feature = "mutations")]
pub mod mutations;
pub mod node;
pub mod pacemaker;
pub mod proposer;
pub mod range_proposer;
pub mod safety;
#[cfg(test)]
mod testing;
pub mod trust;
pub mod value;

pub use acceptor::{Acceptor, AcceptorDurable, AcceptorOptions, SlotDurable};
pub use accset::AccSet;
pub use connected::Connected;
pub use effects::{Decision, Durable, Effects, Evidence, Rejection, SpecAction};
pub use family::Family;
pub use ids::{AcceptorId, Ballot, LearnerId, Slot};
pub use learner::Learner;
pub use msg::{
    Kind, Message, Msg1a, Msg1aRange, Msg1b, Msg1bRange, Msg1c, Msg2av, Msg2b, SlotReport, Vote,
};
pub use proposer::Proposer;
pub use range_proposer::RangeProposer;
pub use trust::{LearnerGraph, LearnerSpec, SafetyEdge, Trust};
pub use value::{Digest, Value};
