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
//! [`run::check`] (the own depth-first explorer with sleep sets and swarm
//! mode, [`search`], or stateright's BFS) -> counterexamples shrunk
//! ([`shrink`]) -> [`run::Report`] with traces ([`trace`]) for the command
//! line (`hpaxos check`).
//!
//! What keeps the state space small, and why each is exact for the
//! properties checked:
//! - the fake acceptors' whole bounded domain is in the network from the
//!   start ([`fake`]): the network never forgets a message, so "sent at the
//!   start, delivered later" covers "sent later";
//! - each sent message is delivered at most once to each actor: a second
//!   delivery is a no-op for every core state machine (`tests/duplicates.rs`
//!   checks this on every reachable state), and a delivery that changes
//!   nothing is not a transition (the message stays deliverable);
//! - learners receive each 2b in the step that sends it: they send nothing
//!   and their decisions only grow, so delaying a 2b only hides decisions;
//! - 2b messages are not routed to acceptors (they only keep them as
//!   evidence, which no guard reads), 1b messages only to acceptors and the
//!   proposer of their ballot, and with `any_1c` (every 1c a proposer could
//!   announce is sent from the start) to acceptors only: a proposer's 1b
//!   then changes nothing but what it collected (`tests/proposer_1b.rs`);
//! - loss (`--lossy`) is optional: dropping an envelope is, for safety, the
//!   same as never delivering it, which the non-lossy model already
//!   explores; it only adds states.
//!
//! - acceptors named in `Options::restart` crash and restart from exactly
//!   their durable records (`Action::Restart`), at most `restarts` times.
//!
//! - with `--symmetry on` ([`symmetry`]), one state per orbit of the
//!   permutations of interchangeable safe acceptors the trust allows (the
//!   transition relation and the properties commute with them; sleep sets
//!   compose with it).
//!
//! - with `--dead on` ([`dead`]), states that differ only in index entries
//!   of an acceptor that no guard can read again (below its `maxBal`), and
//!   in whether it received messages that only added such entries, share
//!   one entry of the visited table (a bisimulation: the same verdicts).
//!
//! Even so, full interleavings of several acceptors grow fast: the classic
//! 4-acceptor cluster completes with one ballot and symmetry (1.1M orbits
//! of 6.5M states), not with two, even with the dead-message reduction
//! (`docs/MODEL-CHECK.md`). The instances
//! that do (one or two safe acceptors plus a fake, the classic cluster with
//! one ballot, `data/*.toml`) are the CI instances (`.ci/run`).

pub mod dead;
pub mod fake;
pub mod instance;
pub mod intern;
pub mod model;
pub mod monitor;
pub mod run;
pub mod search;
pub mod shrink;
pub mod symmetry;
pub mod trace;

pub use instance::{Fake1b, Instance, InstanceError, Options};
pub use run::{check, Engine, Found, Limits, Report, Stop};
