//! # hpaxos-check
//!
//! Exhaustive model checking of the real protocol core with stateright: safe
//! acceptors, learners and proposers are the unmodified `hpaxos-core` state
//! machines; fake acceptors may send any message of a bounded domain in
//! their own name; the network reorders, duplicates and (optionally) loses
//! messages. Properties: `safety` (entangled learners, for the actual fake
//! set, never decide differently), `decided` (some learner can decide: a
//! vacuous model is caught) and, with a monitor, `refinement`.
//!
//! Data flow: [`Instance`] (trust + options) -> [`model::CheckModel`] ->
//! [`run::check`] (stateright BFS) -> [`run::Report`] with traces
//! ([`trace`]) for the command line (`hpaxos check`).

pub mod fake;
pub mod instance;
pub mod intern;
pub mod model;
pub mod monitor;
pub mod run;
pub mod trace;

pub use instance::{Fake1b, Instance, InstanceError, Options};
pub use run::{check, Found, Limits, Report};
