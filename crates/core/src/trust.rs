//! The trust configuration the protocol runs on: acceptors, learners with
//! their quorums (`TrustLive`) and the learner graph (`TrustSafe`).
//!
//! Data flow: the config crate parses a file into a [`LearnerGraph`]; the
//! graph module checks it ([`crate::graph`]); only a validated graph becomes a
//! [`Trust`], the one type the protocol state machines accept. A deliberately
//! unchecked `Trust` exists for tools that must run invalid configurations
//! (`--allow-invalid`) to show what goes wrong.

use crate::accset::{AccSet, MAX_ACCEPTORS};
use crate::family::Family;
use crate::ids::{AcceptorId, LearnerId};
use std::sync::Arc;

/// A learner and its quorum family (its `TrustLive` entries).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LearnerSpec {
    pub name: String,
    pub quorums: Family,
}

/// One `[[safety]]` entry: `learners.0` and `learners.1` must agree while the
/// safe acceptors form a set of `safe`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SafetyEdge {
    pub learners: (LearnerId, LearnerId),
    pub safe: Family,
}

/// A parsed but not yet validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LearnerGraph {
    pub acceptors: Vec<String>,
    pub learners: Vec<LearnerSpec>,
    pub edges: Vec<SafetyEdge>,
}

impl LearnerGraph {
    pub fn all_acceptors(&self) -> AccSet {
        AccSet::first_n(self.acceptors.len())
    }

    /// Is `(l1, l2, q)` in the closure of the edges (symmetric, transitive for
    /// the same `q`, superset-closed)? Exact: `q` is in the closure's family
    /// for `(l1, l2)` iff `l2` is reachable from `l1` by a path of one or more
    /// edges each of whose family contains `q` (self-edges are paths
    /// `l1 -> x -> l1`).
    pub fn closure_holds(&self, l1: LearnerId, l2: LearnerId, q: &AccSet) -> bool {
        let n = self.learners.len();
        let mut adj = vec![Vec::new(); n];
        for e in &self.edges {
            if e.safe.contains(q) {
                let (a, b) = (e.learners.0.index(), e.learners.1.index());
                if a < n && b < n {
                    adj[a].push(b);
                    adj[b].push(a);
                }
            }
        }
        let mut seen = vec![false; n];
        let mut stack: Vec<usize> = adj.get(l1.index()).cloned().unwrap_or_default();
        while let Some(x) = stack.pop() {
            if x == l2.index() {
                return true;
            }
            if !std::mem::replace(&mut seen[x], true) {
                stack.extend(adj[x].iter().copied());
            }
        }
        false
    }

    pub fn learner_id(&self, name: &str) -> Option<LearnerId> {
        self.learners
            .iter()
            .position(|l| l.name == name)
            .map(|i| LearnerId(i as u16))
    }

    pub fn acceptor_id(&self, name: &str) -> Option<AcceptorId> {
        self.acceptors
            .iter()
            .position(|a| a == name)
            .map(|i| AcceptorId(i as u16))
    }
}

/// A configuration the protocol core trusts. Cheap to clone (shared).
///
/// Equality is by content (shared copies compare in O(1)); the hash covers
/// only the flag and the sizes, which equal configurations share, so state
/// machines holding a `Trust` can be hashed cheaply (the model checker).
#[derive(Clone, Debug)]
pub struct Trust {
    inner: Arc<LearnerGraph>,
    validated: bool,
}

impl PartialEq for Trust {
    fn eq(&self, o: &Trust) -> bool {
        self.validated == o.validated
            && (Arc::ptr_eq(&self.inner, &o.inner) || self.inner == o.inner)
    }
}
impl Eq for Trust {}
impl std::hash::Hash for Trust {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.validated.hash(h);
        self.inner.acceptors.len().hash(h);
        self.inner.learners.len().hash(h);
    }
}

impl Trust {
    /// Wraps a graph that [`crate::graph::validate`] has accepted. Only the
    /// graph module calls this.
    pub(crate) fn from_validated(g: LearnerGraph) -> Trust {
        Trust {
            inner: Arc::new(g),
            validated: true,
        }
    }

    /// Runs a graph *without* validity: for `--allow-invalid` demonstrations
    /// and tests that must show an invalid graph failing. Shapes are still
    /// checked (ids in range, sizes within limits).
    pub fn unchecked(g: LearnerGraph) -> Result<Trust, ShapeError> {
        check_shape(&g)?;
        Ok(Trust {
            inner: Arc::new(g),
            validated: false,
        })
    }

    pub fn is_validated(&self) -> bool {
        self.validated
    }

    pub fn graph(&self) -> &LearnerGraph {
        &self.inner
    }

    pub fn n_acceptors(&self) -> usize {
        self.inner.acceptors.len()
    }

    pub fn n_learners(&self) -> usize {
        self.inner.learners.len()
    }

    pub fn acceptors(&self) -> impl Iterator<Item = AcceptorId> {
        (0..self.n_acceptors() as u16).map(AcceptorId)
    }

    pub fn learners(&self) -> impl Iterator<Item = LearnerId> {
        (0..self.n_learners() as u16).map(LearnerId)
    }

    pub fn all_acceptors(&self) -> AccSet {
        self.inner.all_acceptors()
    }

    pub fn learner_name(&self, l: LearnerId) -> &str {
        self.inner
            .learners
            .get(l.index())
            .map(|s| s.name.as_str())
            .unwrap_or("?")
    }

    pub fn acceptor_name(&self, a: AcceptorId) -> &str {
        self.inner
            .acceptors
            .get(a.index())
            .map(|s| s.as_str())
            .unwrap_or("?")
    }

    /// `\E Q \in ByzQuorum : [lr |-> l, q |-> Q] \in TrustLive /\ Q \subseteq set`.
    pub fn is_quorum(&self, l: LearnerId, set: &AccSet) -> bool {
        self.inner
            .learners
            .get(l.index())
            .is_some_and(|s| s.quorums.contains(set))
    }

    /// `[from |-> l1, to |-> l2, q |-> safe] \in TrustSafe` for the closure:
    /// are `l1` and `l2` entangled when exactly `safe` are the safe acceptors?
    pub fn entangled(&self, l1: LearnerId, l2: LearnerId, safe: &AccSet) -> bool {
        self.inner.closure_holds(l1, l2, safe)
    }
}

/// A configuration whose shape the core cannot run (independent of validity).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("no acceptors")]
    NoAcceptors,
    #[error("{0} acceptors, more than the limit of {MAX_ACCEPTORS}")]
    TooManyAcceptors(usize),
    #[error("no learners")]
    NoLearners,
    #[error("{0} learners, more than the limit of 65535")]
    TooManyLearners(usize),
    #[error("learner {learner} refers to acceptors that do not exist")]
    UnknownAcceptor { learner: String },
    #[error("a safety edge names a learner index {0} that does not exist")]
    UnknownLearner(u16),
    #[error("a safety edge refers to acceptors that do not exist")]
    UnknownSafeAcceptor,
    #[error("learner {0} has no quorum")]
    NoQuorum(String),
}

/// Structural checks shared by validated and unchecked graphs.
pub fn check_shape(g: &LearnerGraph) -> Result<(), ShapeError> {
    if g.acceptors.is_empty() {
        return Err(ShapeError::NoAcceptors);
    }
    if g.acceptors.len() > MAX_ACCEPTORS {
        return Err(ShapeError::TooManyAcceptors(g.acceptors.len()));
    }
    if g.learners.is_empty() {
        return Err(ShapeError::NoLearners);
    }
    if g.learners.len() > u16::MAX as usize {
        return Err(ShapeError::TooManyLearners(g.learners.len()));
    }
    let all = g.all_acceptors();
    for l in &g.learners {
        if !l.quorums.support().is_subset(&all) {
            return Err(ShapeError::UnknownAcceptor {
                learner: l.name.clone(),
            });
        }
        if !l.quorums.is_satisfiable() {
            return Err(ShapeError::NoQuorum(l.name.clone()));
        }
    }
    for e in &g.edges {
        for l in [e.learners.0, e.learners.1] {
            if l.index() >= g.learners.len() {
                return Err(ShapeError::UnknownLearner(l.0));
            }
        }
        if !e.safe.support().is_subset(&all) {
            return Err(ShapeError::UnknownSafeAcceptor);
        }
    }
    Ok(())
}
