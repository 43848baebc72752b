//! Test-only guard weakenings (feature `mutations`): the mutation suite turns
//! one on and shows that the model checker and simulator find the resulting
//! disagreement, or the refinement check the non-spec step. Never compiled
//! into release builds of the node.
//!
//! One mutation per guard conjunct of every acceptor and learner action of
//! the spec, and one per durable record, each a one-line switch consulted
//! where the core evaluates that conjunct (`acceptor.rs`, `learner.rs`,
//! `ksa_index.rs`, `connected.rs`) or replays that record on restart
//! (`AcceptorDurable::apply`). Conjuncts with no mutation, and why:
//! `InitializedBallot(l, b)` of `Phase1b` (the core takes `Phase1b` only on
//! receiving that 1a, so dropping the test changes nothing: an equivalent
//! mutant).

use crate::effects::Durable;
use std::sync::atomic::{AtomicU8, Ordering};

/// One weakened guard, or one durable record not replayed on restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Mutation {
    None = 0,
    /// The `connected` filter keeps only the learner's own votes: votes for
    /// other learners are ignored in `KnowsSafeAt` and in the 2av guard.
    DropConnectedFilter = 1,
    /// The 1b reports no votes (ignores `MaxVote`).
    Ignore1bVotes = 2,
    /// `KnowsSafeAt` accepts any non-empty set of 1b messages (its `BQ` /
    /// `WQ` need no quorum).
    KnowsSafeAtAnySet = 3,
    /// A learner decides on a single 2b message (`ChosenIn` needs no quorum).
    DecideOnOne2b = 4,
    /// `Phase1b` without `maxBal[l, a] =< b`.
    Phase1bIgnoreMaxBal = 5,
    /// `Phase2av` without `maxBal[l, a] =< b`.
    Phase2avIgnoreMaxBal = 6,
    /// `Phase2av` without `InitializedBallot(l, b)`.
    Phase2avWithout1a = 7,
    /// `Phase2av` with `AnnouncedValue` of any ballot, not `b`.
    Phase2avAnnouncedAnyBallot = 8,
    /// `Phase2av` without "every 2av already sent at `b` to a connected
    /// learner is for `v`".
    Phase2avTwoValues = 9,
    /// `KnowsSafeAt1` without "every connected vote is at `b` or above".
    KnowsSafeAt1IgnoreVotes = 10,
    /// `KnowsSafeAt2` without its `WQ` conjunct (a quorum proposed `v` at `c`).
    KnowsSafeAt2NoProposalQuorum = 11,
    /// `KnowsSafeAt2` without `p.bal = c => p.val = v`.
    KnowsSafeAt2AnyValueAtC = 12,
    /// `KnowsSafeAt2` without `p.bal =< c`.
    KnowsSafeAt2VotesAboveC = 13,
    /// `Phase2b` without `\A L : maxBal[L, a] =< b`.
    Phase2bIgnoreMaxBal = 14,
    /// `Phase2b` checks `maxBal[l, a] =< b` for its own learner only.
    Phase2bOwnLearnerMaxBal = 15,
    /// `Phase2b` on 2av messages from any non-empty set (no quorum).
    Phase2bAnySenders = 16,
    /// `ChosenIn` counts 2b messages for `v` of every ballot together.
    ChosenInAcrossBallots = 17,
    /// `Disconnect` removes every pair, entangled or not.
    DisconnectEntangled = 18,
    /// The `MaxBal` record is not replayed on restart.
    ForgetMaxBal = 19,
    /// The `Voted` record (`votesSent`) is not replayed on restart.
    ForgetVoted = 20,
    /// The `Proposed` record (`2avSent`) is not replayed on restart.
    ForgetProposed = 21,
    /// The `Disconnected` record is not replayed on restart.
    ForgetDisconnected = 22,
}

static ACTIVE: AtomicU8 = AtomicU8::new(0);

/// Switches the process-wide mutation (tests run mutants one at a time).
pub fn set(m: Mutation) {
    ACTIVE.store(m as u8, Ordering::SeqCst);
}

pub fn active(m: Mutation) -> bool {
    ACTIVE.load(Ordering::Relaxed) == m as u8
}

/// Whether the active mutation skips replaying `d` on restart.
pub fn forgets(d: &Durable) -> bool {
    match d {
        Durable::MaxBal { .. } => active(Mutation::ForgetMaxBal),
        Durable::Voted { .. } => active(Mutation::ForgetVoted),
        Durable::Proposed { .. } => active(Mutation::ForgetProposed),
        Durable::Disconnected { .. } => active(Mutation::ForgetDisconnected),
        _ => false,
    }
}

impl Mutation {
    pub const ALL: [Mutation; 22] = [
        Mutation::DropConnectedFilter,
        Mutation::Ignore1bVotes,
        Mutation::KnowsSafeAtAnySet,
        Mutation::DecideOnOne2b,
        Mutation::Phase1bIgnoreMaxBal,
        Mutation::Phase2avIgnoreMaxBal,
        Mutation::Phase2avWithout1a,
        Mutation::Phase2avAnnouncedAnyBallot,
        Mutation::Phase2avTwoValues,
        Mutation::KnowsSafeAt1IgnoreVotes,
        Mutation::KnowsSafeAt2NoProposalQuorum,
        Mutation::KnowsSafeAt2AnyValueAtC,
        Mutation::KnowsSafeAt2VotesAboveC,
        Mutation::Phase2bIgnoreMaxBal,
        Mutation::Phase2bOwnLearnerMaxBal,
        Mutation::Phase2bAnySenders,
        Mutation::ChosenInAcrossBallots,
        Mutation::DisconnectEntangled,
        Mutation::ForgetMaxBal,
        Mutation::ForgetVoted,
        Mutation::ForgetProposed,
        Mutation::ForgetDisconnected,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mutation::None => "none",
            Mutation::DropConnectedFilter => "drop-connected-filter",
            Mutation::Ignore1bVotes => "ignore-1b-votes",
            Mutation::KnowsSafeAtAnySet => "knows-safe-at-any-set",
            Mutation::DecideOnOne2b => "decide-on-one-2b",
            Mutation::Phase1bIgnoreMaxBal => "phase1b-ignore-maxbal",
            Mutation::Phase2avIgnoreMaxBal => "phase2av-ignore-maxbal",
            Mutation::Phase2avWithout1a => "phase2av-without-1a",
            Mutation::Phase2avAnnouncedAnyBallot => "phase2av-announced-any-ballot",
            Mutation::Phase2avTwoValues => "phase2av-two-values",
            Mutation::KnowsSafeAt1IgnoreVotes => "ksa1-ignore-votes",
            Mutation::KnowsSafeAt2NoProposalQuorum => "ksa2-no-proposal-quorum",
            Mutation::KnowsSafeAt2AnyValueAtC => "ksa2-any-value-at-c",
            Mutation::KnowsSafeAt2VotesAboveC => "ksa2-votes-above-c",
            Mutation::Phase2bIgnoreMaxBal => "phase2b-ignore-maxbal",
            Mutation::Phase2bOwnLearnerMaxBal => "phase2b-own-learner-maxbal",
            Mutation::Phase2bAnySenders => "phase2b-any-senders",
            Mutation::ChosenInAcrossBallots => "chosen-in-across-ballots",
            Mutation::DisconnectEntangled => "disconnect-entangled",
            Mutation::ForgetMaxBal => "forget-maxbal",
            Mutation::ForgetVoted => "forget-voted",
            Mutation::ForgetProposed => "forget-proposed",
            Mutation::ForgetDisconnected => "forget-disconnected",
        }
    }

    pub fn parse(s: &str) -> Option<Mutation> {
        Mutation::ALL.into_iter().find(|m| m.name() == s)
    }
}
