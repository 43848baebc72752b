//! The spec's message records (`Message`) and the `[lr, bal, val]` records of
//! `votesSent`, `2avSent`, 1b `votes` and 1b `proposals`, plus the table that
//! hash-conses messages into dense ids ([`MsgId`]).
//!
//! A state stores sets of messages as sets of ids (see [`crate::sets::IdSet`]);
//! the table is shared by every state of one exploration (or of one slot of a
//! refinement run), so equal messages always get the same id.

use crate::sets::SortedSet;
use hpaxos_core::{AcceptorId, Ballot, LearnerId};
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

/// What a model value must support: the spec only compares values.
pub trait Val: Clone + Ord + Hash + fmt::Debug {}
impl<T: Clone + Ord + Hash + fmt::Debug> Val for T {}

/// `[lr |-> lr, bal |-> bal, val |-> val]`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Vote<V> {
    pub lr: LearnerId,
    pub bal: Ballot,
    pub val: V,
}

impl<V: fmt::Debug> fmt::Debug for Vote<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {}, {:?}]", self.lr, self.bal, self.val)
    }
}

/// One record of the spec's `Message` set.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Msg<V> {
    /// `[type |-> "1a", lr, bal]`
    M1a { lr: LearnerId, bal: Ballot },
    /// `[type |-> "1b", lr, acc, bal, votes, proposals]`
    M1b {
        lr: LearnerId,
        acc: AcceptorId,
        bal: Ballot,
        votes: SortedSet<Vote<V>>,
        proposals: SortedSet<Vote<V>>,
    },
    /// `[type |-> "1c", lr, bal, val]`
    M1c { lr: LearnerId, bal: Ballot, val: V },
    /// `[type |-> "2av", lr, acc, bal, val]`
    M2av {
        lr: LearnerId,
        acc: AcceptorId,
        bal: Ballot,
        val: V,
    },
    /// `[type |-> "2b", lr, acc, bal, val]`
    M2b {
        lr: LearnerId,
        acc: AcceptorId,
        bal: Ballot,
        val: V,
    },
}

impl<V> Msg<V> {
    /// `m.lr`.
    pub fn lr(&self) -> LearnerId {
        match self {
            Msg::M1a { lr, .. }
            | Msg::M1b { lr, .. }
            | Msg::M1c { lr, .. }
            | Msg::M2av { lr, .. }
            | Msg::M2b { lr, .. } => *lr,
        }
    }

    /// `m.bal`.
    pub fn bal(&self) -> Ballot {
        match self {
            Msg::M1a { bal, .. }
            | Msg::M1b { bal, .. }
            | Msg::M1c { bal, .. }
            | Msg::M2av { bal, .. }
            | Msg::M2b { bal, .. } => *bal,
        }
    }

    /// `m.acc` (1b, 2av and 2b only).
    pub fn acc(&self) -> Option<AcceptorId> {
        match self {
            Msg::M1b { acc, .. } | Msg::M2av { acc, .. } | Msg::M2b { acc, .. } => Some(*acc),
            Msg::M1a { .. } | Msg::M1c { .. } => None,
        }
    }

    /// `m.val` (1c, 2av and 2b only).
    pub fn val(&self) -> Option<&V> {
        match self {
            Msg::M1c { val, .. } | Msg::M2av { val, .. } | Msg::M2b { val, .. } => Some(val),
            Msg::M1a { .. } | Msg::M1b { .. } => None,
        }
    }

    /// `m.type`, as the spec spells it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Msg::M1a { .. } => "1a",
            Msg::M1b { .. } => "1b",
            Msg::M1c { .. } => "1c",
            Msg::M2av { .. } => "2av",
            Msg::M2b { .. } => "2b",
        }
    }
}

impl<V: fmt::Debug> fmt::Debug for Msg<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::M1a { lr, bal } => write!(f, "1a({lr}, {bal})"),
            Msg::M1b {
                lr,
                acc,
                bal,
                votes,
                proposals,
            } => write!(
                f,
                "1b({lr}, {acc}, {bal}, votes {votes:?}, proposals {proposals:?})"
            ),
            Msg::M1c { lr, bal, val } => write!(f, "1c({lr}, {bal}, {val:?})"),
            Msg::M2av { lr, acc, bal, val } => write!(f, "2av({lr}, {acc}, {bal}, {val:?})"),
            Msg::M2b { lr, acc, bal, val } => write!(f, "2b({lr}, {acc}, {bal}, {val:?})"),
        }
    }
}

/// A hash-consed message: index into a [`MsgTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MsgId(pub u32);

/// The hash-consing table of messages. Cloning is cheap (shared, copied
/// on the first new message a clone interns), so harnesses can clone a
/// checker per explored state.
#[derive(Clone, Debug)]
pub struct MsgTable<V> {
    table: Arc<Vec<Msg<V>>>,
    index: Arc<HashMap<Msg<V>, MsgId>>,
}

impl<V: Val> Default for MsgTable<V> {
    fn default() -> Self {
        MsgTable {
            table: Arc::new(Vec::new()),
            index: Arc::new(HashMap::new()),
        }
    }
}

impl<V: Val> MsgTable<V> {
    /// The id of `m`, adding it to the table if new.
    pub fn intern(&mut self, m: Msg<V>) -> MsgId {
        if let Some(id) = self.index.get(&m) {
            return *id;
        }
        let id = MsgId(self.table.len() as u32);
        Arc::make_mut(&mut self.table).push(m.clone());
        Arc::make_mut(&mut self.index).insert(m, id);
        id
    }

    /// The id of `m` if it was ever interned.
    pub fn lookup(&self, m: &Msg<V>) -> Option<MsgId> {
        self.index.get(m).copied()
    }

    /// The record of an id handed out by this table.
    pub fn get(&self, id: MsgId) -> &Msg<V> {
        &self.table[id.0 as usize] // ok: ids only come from this table
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}
