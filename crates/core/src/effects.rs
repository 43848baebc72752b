//! What a state machine step produces: the driver contract.
//!
//! One input goes in (a received message, a request to propose); out come
//! [`Effects`]: the records that must be durable before anything in `send`
//! leaves the process, the messages to broadcast, decisions, evidence of
//! Byzantine behaviour, and (when recording is on) the spec actions taken, in
//! order, for the refinement checker.

use crate::ids::{AcceptorId, Ballot, LearnerId, Slot};
use crate::msg::{Message, Vote};
use crate::value::Value;
use serde::{Deserialize, Serialize};

/// A record of durable acceptor or learner state. Applying the records of a
/// run in order to an empty state rebuilds exactly what the node had.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Durable {
    /// `maxBal[lr, a]` for `slot` is now `bal`.
    MaxBal {
        slot: Slot,
        lr: LearnerId,
        bal: Ballot,
    },
    /// `vote` joined `votesSent[a]` for `slot` (a 2b was sent).
    Voted { slot: Slot, vote: Vote },
    /// `vote` joined `2avSent[a]` for `slot` (a 2av was sent).
    Proposed { slot: Slot, vote: Vote },
    /// The pair left `connected[a]` (all slots).
    Disconnected { pair: (LearnerId, LearnerId) },
    /// Learner `lr` decided `val` (its digest) in ballot `bal` for `slot`.
    Decided {
        slot: Slot,
        lr: LearnerId,
        bal: Ballot,
        #[serde(with = "crate::value::as_digest")]
        val: Value,
    },
    /// Slots below `slot` were garbage-collected.
    Compacted { below: Slot },
    /// The bytes of `val`, needed here from `slot` on (a value this node's
    /// acceptor proposed or voted, or its learner decided): written once
    /// per value, before or with the first record that names it, so that
    /// a restarted node still serves and applies it. Ignored by the roles'
    /// state (`crate::node::store` keeps it).
    Batch { slot: Slot, val: Value },
    /// `maxBal[lr, a]` is now at least `bal` in every slot from `from` on
    /// (a range `Phase1b`: see `crate::acceptor::range`). Appended last:
    /// WAL records are postcard, whose tags are variant indexes.
    Promise {
        from: Slot,
        lr: LearnerId,
        bal: Ballot,
    },
}

/// A learner decision (`v \in decision[lr, bal]`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Decision {
    pub slot: Slot,
    pub lr: LearnerId,
    pub bal: Ballot,
    pub val: Value,
}

/// One action of the spec's `Next`, as the implementation took it.
/// The refinement checker replays these against the reference model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpecAction {
    Phase1a {
        slot: Slot,
        lr: LearnerId,
        bal: Ballot,
    },
    Phase1c {
        slot: Slot,
        lr: LearnerId,
        bal: Ballot,
        val: Value,
    },
    Phase1b {
        slot: Slot,
        lr: LearnerId,
        bal: Ballot,
        acc: AcceptorId,
    },
    Phase2av {
        slot: Slot,
        lr: LearnerId,
        bal: Ballot,
        acc: AcceptorId,
        val: Value,
    },
    Phase2b {
        slot: Slot,
        lr: LearnerId,
        bal: Ballot,
        acc: AcceptorId,
        val: Value,
    },
    /// `Recv(_, acc)` of `msg` (the message is in `msgs`).
    Recv {
        acc: AcceptorId,
        msg: Message,
    },
    /// `Disconnect(acc)` removing `pairs` (in every slot).
    Disconnect {
        acc: AcceptorId,
        pairs: Vec<(LearnerId, LearnerId)>,
    },
    LearnerRecv {
        lr: LearnerId,
        msg: Message,
    },
    LearnerDecide {
        slot: Slot,
        lr: LearnerId,
        bal: Ballot,
        val: Value,
    },
    /// `acc` receives the 1b that `from` sends at `(lr, bal)` now, reporting
    /// the proposal `(lr, c, val)` of a 2av of `from` that `acc` holds:
    /// `Phase1b`/`Phase1bLate(lr, bal, from)` then `Recv(_, acc)` if `from`
    /// is safe, `FakeSend(from)` then `Recv(_, acc)` if not
    /// (`crate::ksa_index::OneBBucket::add_2av` argues it).
    Recv1bOf {
        slot: Slot,
        lr: LearnerId,
        bal: Ballot,
        from: AcceptorId,
        acc: AcceptorId,
        c: Ballot,
        val: Value,
    },
    /// `Phase1a(lr, bal)` in every slot from `from` on (a range 1a sent).
    Phase1aRange {
        from: Slot,
        lr: LearnerId,
        bal: Ballot,
    },
    /// `Phase1b(lr, bal, acc)` in every slot from `from` on (a range 1b
    /// sent): one spec step per slot, each with its own guard.
    Phase1bRange {
        from: Slot,
        lr: LearnerId,
        bal: Ballot,
        acc: AcceptorId,
    },
}

/// Why a received message was not acted on (counted, never a panic).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Rejection {
    #[error("learner id {0} is not in the configuration")]
    UnknownLearner(u16),
    #[error("acceptor id {0} is not in the configuration")]
    UnknownAcceptor(u16),
    #[error("slot {0} was already garbage-collected")]
    CompactedSlot(u64),
    #[error("message kind not handled by this role")]
    WrongRole,
    /// Bytes answered for a digest they do not hash to.
    #[error("bytes that do not hash to the digest they were sent for")]
    DigestMismatch,
    /// A range 1b whose reports are not sorted by slot, repeat a slot, or
    /// name a slot below the range's start.
    #[error("range 1b with reports out of order or below its first slot")]
    MalformedRange,
}

/// Evidence of Byzantine behaviour: two messages signed by `acc` that no safe
/// acceptor could both have sent.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Evidence {
    pub acc: AcceptorId,
    pub first: Message,
    pub second: Message,
}

/// Outputs of one step. Reuse one value across steps with [`Effects::clear`].
#[derive(Clone, Debug, Default)]
pub struct Effects {
    /// Must be durable before any message of `send` leaves the node.
    pub persist: Vec<Durable>,
    /// Messages to broadcast (acceptors' messages go to every role).
    pub send: Vec<Message>,
    /// Other acceptors' messages to forward to every role, as their
    /// senders signed them (the 2av behind a vote this acceptor reports:
    /// see `Acceptor::relay_votes`).
    pub relay: Vec<Message>,
    pub decisions: Vec<Decision>,
    pub evidence: Vec<Evidence>,
    pub rejected: Vec<Rejection>,
    /// Spec actions taken, in order; filled only when recording is on.
    pub actions: Vec<SpecAction>,
    pub record_actions: bool,
}

impl Effects {
    pub fn recording() -> Effects {
        Effects {
            record_actions: true,
            ..Effects::default()
        }
    }

    pub fn clear(&mut self) {
        self.persist.clear();
        self.send.clear();
        self.relay.clear();
        self.decisions.clear();
        self.evidence.clear();
        self.rejected.clear();
        self.actions.clear();
    }

    /// Nothing to carry out (and no action recorded).
    pub fn is_empty(&self) -> bool {
        self.persist.is_empty()
            && self.send.is_empty()
            && self.relay.is_empty()
            && self.decisions.is_empty()
            && self.evidence.is_empty()
            && self.rejected.is_empty()
            && self.actions.is_empty()
    }

    pub(crate) fn action(&mut self, f: impl FnOnce() -> SpecAction) {
        if self.record_actions {
            self.actions.push(f());
        }
    }
}
