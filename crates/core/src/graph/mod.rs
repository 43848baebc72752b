//! Learner-graph analysis: closure, validity with counterexamples,
//! entanglement and liveness under a set of faulty acceptors.
//!
//! Data flow: the config crate builds a [`LearnerGraph`]; [`validate`] checks
//! every closure edge exactly ([`validity`], a SAT encoding, no enumeration)
//! and is the only way to obtain a validated [`Trust`]; [`explain`] says what
//! holds for a given faulty set, and [`broken`] which of its entangled
//! pairs an invalid graph does not actually keep in agreement. [`brute`] is the exponential reference the
//! property tests compare against.

pub mod broken;
pub mod brute;
pub mod explain;
mod lemmas;
mod sat;
pub mod validity;

use crate::accset::AccSet;
use crate::ids::LearnerId;
use crate::trust::{check_shape, LearnerGraph, ShapeError, Trust};

pub use explain::{explain, Explanation};

/// A genuine counterexample to validity of a closure edge: `safe` is in the
/// closure's family for `learners`, `quorums.0` / `quorums.1` are quorums of
/// the two learners, and the three sets share no acceptor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub learners: (LearnerId, LearnerId),
    pub safe: AccSet,
    pub quorums: (AccSet, AccSet),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error(transparent)]
    Shape(#[from] ShapeError),
    #[error("the learner graph is invalid: {} violation(s)", .0.len())]
    Invalid(Vec<Violation>),
    /// The checker found a violation it could not confirm against the
    /// definitions: an internal error, reported rather than read as "valid".
    #[error("internal error in the graph checker: a violation for learners {0:?} could not be confirmed")]
    Unconfirmed((LearnerId, LearnerId)),
}

/// All validity violations of the closure, one per invalid learner pair
/// (self-pairs included), `(i, j)` with `i <= j` by learner index. Exact.
pub fn violations(g: &LearnerGraph) -> Vec<Violation> {
    validity::violations(g)
}

/// Checks every closure edge (self-edges included) for validity and returns
/// the configuration the core may run on.
pub fn validate(g: LearnerGraph) -> Result<Trust, GraphError> {
    check_shape(&g)?;
    let violations = validity::violations(&g);
    if let Some(v) = violations.iter().find(|v| !validity::is_genuine(&g, v)) {
        return Err(GraphError::Unconfirmed(v.learners));
    }
    if violations.is_empty() {
        Ok(Trust::from_validated(g))
    } else {
        Err(GraphError::Invalid(violations))
    }
}

#[cfg(test)]
mod proptests;
