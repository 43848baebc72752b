//! Test-only guard weakenings (feature `mutations`): the mutation suite turns
//! one on and shows that the model checker and simulator find the resulting
//! disagreement. Never compiled into release builds of the node.

use std::sync::atomic::{AtomicU8, Ordering};

/// One weakened guard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Mutation {
    None = 0,
    /// The `connected` filter keeps only the learner's own votes: votes for
    /// other learners are ignored in `KnowsSafeAt` and in the 2av guard.
    DropConnectedFilter = 1,
    /// The 1b reports no votes (ignores `MaxVote`).
    Ignore1bVotes = 2,
    /// `KnowsSafeAt` accepts any non-empty set of 1b messages.
    KnowsSafeAtAnySet = 3,
    /// A learner decides on a single 2b message.
    DecideOnOne2b = 4,
}

static ACTIVE: AtomicU8 = AtomicU8::new(0);

/// Switches the process-wide mutation (tests run mutants one at a time).
pub fn set(m: Mutation) {
    ACTIVE.store(m as u8, Ordering::SeqCst);
}

pub fn active(m: Mutation) -> bool {
    ACTIVE.load(Ordering::Relaxed) == m as u8
}

impl Mutation {
    pub const ALL: [Mutation; 4] = [
        Mutation::DropConnectedFilter,
        Mutation::Ignore1bVotes,
        Mutation::KnowsSafeAtAnySet,
        Mutation::DecideOnOne2b,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mutation::None => "none",
            Mutation::DropConnectedFilter => "drop-connected-filter",
            Mutation::Ignore1bVotes => "ignore-1b-votes",
            Mutation::KnowsSafeAtAnySet => "knows-safe-at-any-set",
            Mutation::DecideOnOne2b => "decide-on-one-2b",
        }
    }

    pub fn parse(s: &str) -> Option<Mutation> {
        Mutation::ALL.into_iter().find(|m| m.name() == s)
    }
}
