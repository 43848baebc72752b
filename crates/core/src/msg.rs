//! Protocol messages: one struct per kind of the spec's `Message` set, each
//! carrying the slot it belongs to (one single-decree instance per slot).
//!
//! `1a` and `1c` carry no sender (anyone may send them, as in the spec); `1b`,
//! `2av` and `2b` carry `acc`, which the transport authenticates: no node can
//! send one in another acceptor's name.

use crate::ids::{AcceptorId, Ballot, LearnerId, Slot};
use crate::value::Value;
use serde::{Deserialize, Serialize};

/// A `[lr, bal, val]` record: an entry of `votesSent[a]` or `2avSent[a]`,
/// and an element of a 1b's `votes` / `proposals`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Vote {
    pub lr: LearnerId,
    pub bal: Ballot,
    #[serde(with = "crate::value::as_digest")]
    pub val: Value,
}

/// `[type |-> "1a", lr, bal]`: start ballot `bal` for learner `lr`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Msg1a {
    pub slot: Slot,
    pub lr: LearnerId,
    pub bal: Ballot,
}

/// `[type |-> "1b", lr, acc, bal, votes, proposals]`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Msg1b {
    pub slot: Slot,
    pub lr: LearnerId,
    pub acc: AcceptorId,
    pub bal: Ballot,
    /// Sorted, without duplicates (a set in the spec).
    pub votes: Vec<Vote>,
    /// Sorted, without duplicates (a set in the spec).
    pub proposals: Vec<Vote>,
}

/// `[type |-> "1c", lr, bal, val]`: announce `val` at ballot `bal`. The
/// one message that carries a value's bytes (or, when its sender does not
/// hold them, only the digest: see `crate::node::store`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Msg1c {
    pub slot: Slot,
    pub lr: LearnerId,
    pub bal: Ballot,
    pub val: Value,
}

/// `[type |-> "2av", lr, acc, bal, val]`: acceptor `acc` proposes `val`
/// (by digest: only the 1c carries bytes).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Msg2av {
    pub slot: Slot,
    pub lr: LearnerId,
    pub acc: AcceptorId,
    pub bal: Ballot,
    #[serde(with = "crate::value::as_digest")]
    pub val: Value,
}

/// `[type |-> "2b", lr, acc, bal, val]`: acceptor `acc` votes for `val`
/// (by digest).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Msg2b {
    pub slot: Slot,
    pub lr: LearnerId,
    pub acc: AcceptorId,
    pub bal: Ballot,
    #[serde(with = "crate::value::as_digest")]
    pub val: Value,
}

/// A range 1a: "ballot `bal` for learner `lr`, every slot from `from` on".
/// By definition the set `{[type |-> "1a", lr, bal] of slot k : k >= from}`
/// of spec messages (see [`crate::acceptor::range`] for the refinement).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Msg1aRange {
    pub from: Slot,
    pub lr: LearnerId,
    pub bal: Ballot,
}

/// What a range 1b reports for one slot: that slot's 1b `votes` and
/// `proposals` (both sorted, without duplicates; at least one non-empty).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SlotReport {
    pub slot: Slot,
    pub votes: Vec<Vote>,
    pub proposals: Vec<Vote>,
}

/// A range 1b: by definition the set, for every slot `k >= from`, of the
/// 1b `[lr, acc, bal, votes_k, proposals_k]`, where `votes_k` and
/// `proposals_k` are those of the report for `k` in `reports`, and empty
/// for a slot without a report.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Msg1bRange {
    pub from: Slot,
    pub lr: LearnerId,
    pub acc: AcceptorId,
    pub bal: Ballot,
    /// Sorted by slot, one per slot, every slot `>= from`.
    pub reports: Vec<SlotReport>,
}

/// Any protocol message. Variants are only ever appended (postcard tags
/// are the variant indexes).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Message {
    M1a(Msg1a),
    M1b(Msg1b),
    M1c(Msg1c),
    M2av(Msg2av),
    M2b(Msg2b),
    M1aRange(Msg1aRange),
    M1bRange(Msg1bRange),
}

/// The spec's message kinds, for indexing and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Kind {
    K1a,
    K1b,
    K1c,
    K2av,
    K2b,
}

impl Message {
    pub fn slot(&self) -> Slot {
        match self {
            Message::M1a(m) => m.slot,
            Message::M1b(m) => m.slot,
            Message::M1c(m) => m.slot,
            Message::M2av(m) => m.slot,
            Message::M2b(m) => m.slot,
            Message::M1aRange(m) => m.from,
            Message::M1bRange(m) => m.from,
        }
    }

    pub fn lr(&self) -> LearnerId {
        match self {
            Message::M1a(m) => m.lr,
            Message::M1b(m) => m.lr,
            Message::M1c(m) => m.lr,
            Message::M2av(m) => m.lr,
            Message::M2b(m) => m.lr,
            Message::M1aRange(m) => m.lr,
            Message::M1bRange(m) => m.lr,
        }
    }

    pub fn bal(&self) -> Ballot {
        match self {
            Message::M1a(m) => m.bal,
            Message::M1b(m) => m.bal,
            Message::M1c(m) => m.bal,
            Message::M2av(m) => m.bal,
            Message::M2b(m) => m.bal,
            Message::M1aRange(m) => m.bal,
            Message::M1bRange(m) => m.bal,
        }
    }

    /// Is this a range message (a 1a or 1b for every slot from `slot()` on)?
    pub fn is_range(&self) -> bool {
        matches!(self, Message::M1aRange(_) | Message::M1bRange(_))
    }

    /// The sender named in the message (`acc`), for 1b, 2av and 2b.
    pub fn acc(&self) -> Option<AcceptorId> {
        match self {
            Message::M1b(m) => Some(m.acc),
            Message::M2av(m) => Some(m.acc),
            Message::M2b(m) => Some(m.acc),
            Message::M1bRange(m) => Some(m.acc),
            Message::M1a(_) | Message::M1c(_) | Message::M1aRange(_) => None,
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Message::M1a(_) => Kind::K1a,
            Message::M1b(_) => Kind::K1b,
            Message::M1c(_) => Kind::K1c,
            Message::M2av(_) => Kind::K2av,
            Message::M2b(_) => Kind::K2b,
            Message::M1aRange(_) => Kind::K1a,
            Message::M1bRange(_) => Kind::K1b,
        }
    }
}

impl Message {
    /// The message as it travels between nodes: a 1b, 2av or 2b names its
    /// values by digest only (their bytes are dropped); a 1c is unchanged.
    pub fn strip_bytes(&mut self) {
        match self {
            Message::M1b(m) => {
                for v in m.votes.iter_mut().chain(m.proposals.iter_mut()) {
                    v.val.strip();
                }
            }
            Message::M2av(m) => m.val.strip(),
            Message::M2b(m) => m.val.strip(),
            Message::M1bRange(m) => {
                for r in &mut m.reports {
                    for v in r.votes.iter_mut().chain(r.proposals.iter_mut()) {
                        v.val.strip();
                    }
                }
            }
            Message::M1a(_) | Message::M1c(_) | Message::M1aRange(_) => {}
        }
    }
}

impl Msg1b {
    /// Puts `votes` and `proposals` in canonical (sorted, deduplicated) form,
    /// so that two 1b messages are equal exactly when the spec's records are.
    pub fn canonicalize(&mut self) {
        self.votes.sort();
        self.votes.dedup();
        self.proposals.sort();
        self.proposals.dedup();
    }
}

impl Msg1aRange {
    /// Does the range stand for a 1a of `slot`?
    pub fn covers(&self, slot: Slot) -> bool {
        slot >= self.from
    }

    /// The spec 1a of `slot` this range stands for.
    pub fn at(&self, slot: Slot) -> Msg1a {
        Msg1a {
            slot,
            lr: self.lr,
            bal: self.bal,
        }
    }
}

impl Msg1bRange {
    /// Does the range stand for a 1b of `slot`?
    pub fn covers(&self, slot: Slot) -> bool {
        slot >= self.from
    }

    /// The spec 1b of `slot` this range stands for (canonical: the report's
    /// votes and proposals sorted and deduplicated, or empty sets).
    pub fn at(&self, slot: Slot) -> Msg1b {
        let mut m = Msg1b {
            slot,
            lr: self.lr,
            acc: self.acc,
            bal: self.bal,
            votes: Vec::new(),
            proposals: Vec::new(),
        };
        if let Some(r) = self.reports.iter().find(|r| r.slot == slot) {
            m.votes = r.votes.clone();
            m.proposals = r.proposals.clone();
        }
        m.canonicalize();
        m
    }

    /// Is the message well formed: reports sorted by slot, one per slot,
    /// none below `from`? A message that is not names no set of spec
    /// messages and is rejected before any state changes.
    pub fn well_formed(&self) -> bool {
        self.reports.first().is_none_or(|r| r.slot >= self.from)
            && self.reports.windows(2).all(|w| w[0].slot < w[1].slot)
    }
}
