//! Identifier newtypes: acceptors, learners, ballots and log slots.
//!
//! Acceptor and learner ids are dense indexes into the validated configuration
//! ([`crate::Trust`]); names live there. Ballots are per learner in the spec
//! (`maxBal[l, a]`), and every slot is an independent single-decree instance.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Index of an acceptor in the validated configuration (`Acceptor` in the spec).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AcceptorId(pub u16);

/// Index of a learner in the validated configuration (`Learner` in the spec).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LearnerId(pub u16);

/// A ballot number (`Ballot == Nat`). Ballot 0 is the initial `maxBal`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Ballot(pub u64);

/// A log position; each slot runs one independent instance of the spec.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Slot(pub u64);

impl AcceptorId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl LearnerId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl Ballot {
    pub const ZERO: Ballot = Ballot(0);
    pub fn next(self) -> Ballot {
        Ballot(self.0.saturating_add(1))
    }
}

impl fmt::Display for AcceptorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a#{}", self.0)
    }
}
impl fmt::Display for LearnerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "l#{}", self.0)
    }
}
impl fmt::Display for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b{}", self.0)
    }
}
impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}
