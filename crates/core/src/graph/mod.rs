//! Learner-graph analysis: closure, validity with counterexamples,
//! entanglement and liveness under a set of faulty acceptors.
//!
//! [`validate`] is the only way to obtain a validated [`Trust`].

pub mod brute;

use crate::accset::AccSet;
use crate::ids::LearnerId;
use crate::trust::{check_shape, LearnerGraph, ShapeError, Trust};

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
}

/// Checks every closure edge (self-edges included) for validity and returns
/// the configuration the core may run on.
pub fn validate(g: LearnerGraph) -> Result<Trust, GraphError> {
    check_shape(&g)?;
    let violations = brute::violations(&g);
    if violations.is_empty() {
        Ok(Trust::from_validated(g))
    } else {
        Err(GraphError::Invalid(violations))
    }
}
