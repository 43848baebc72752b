//! The spec's variables (`vars`) for one instance, and `Init`.
//!
//! ```text
//! vars == <<maxBal, votesSent, 2avSent, received, connected,
//!           receivedByLearner, decision, msgs>>
//! ```
//! Functions over `Acceptor`, `Learner` and `Learner \X Acceptor` are vectors
//! indexed by ids; `decision[l, b]` is kept as the set of triples
//! `<<l, b, v>>` with `v \in decision[l, b]`. Sets of messages are sets of
//! hash-consed ids ([`crate::msg::MsgTable`]). Per-acceptor and
//! per-learner vectors are shared between states (`Arc`, copied on write),
//! so a successor state shares everything its action did not change.

use crate::instance::Instance;
use crate::msg::Vote;
use crate::sets::{IdSet, SortedSet};
use hpaxos_core::{AcceptorId, Ballot, LearnerId};
use std::sync::Arc;

/// One state of the spec.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State<V> {
    /// `msgs`.
    pub msgs: IdSet,
    /// `maxBal[l, a]` at `l * n_acceptors + a`.
    pub max_bal: Arc<Vec<Ballot>>,
    /// `votesSent[a]`.
    pub votes_sent: Arc<Vec<SortedSet<Vote<V>>>>,
    /// `2avSent[a]`.
    pub two_av_sent: Arc<Vec<SortedSet<Vote<V>>>>,
    /// `received[a]`.
    pub received: Arc<Vec<IdSet>>,
    /// `connected[a]`: pair `<<l1, l2>>` at id `l1 * n_learners + l2`.
    pub connected: Arc<Vec<IdSet>>,
    /// `receivedByLearner[l]`.
    pub received_by_learner: Arc<Vec<IdSet>>,
    /// `decision`: `<<l, b, v>>` for every `v \in decision[l, b]`.
    pub decision: Arc<SortedSet<(LearnerId, Ballot, V)>>,
}

impl<V: Ord + Clone> State<V> {
    /// `Init`, with every variable assigned explicitly:
    /// ```text
    /// /\ msgs = {}
    /// /\ \A L \in Learner : \A A \in SafeAcceptor : maxBal[L, A] = 0
    /// /\ \A A \in SafeAcceptor : 2avSent[A] = {}
    /// /\ \A A \in SafeAcceptor : votesSent[A] = {}
    /// /\ \A A \in SafeAcceptor : connected[A] = Learner \X Learner
    /// /\ \A A \in Acceptor : received[A] = {}
    /// /\ \A L \in Learner : receivedByLearner[L] = {}
    /// /\ \A L \in Learner : \A B \in Ballot : decision[L, B] = {}
    /// ```
    /// The seed's `Init` leaves `maxBal`, `2avSent`, `votesSent` and
    /// `connected` of *fake* acceptors free (any value allowed by `TypeOK`).
    /// No action reads or writes those entries and no invariant mentions
    /// them (all quantify over `SafeAcceptor`), so every choice gives the
    /// same behaviours up to those entries; the model fixes them to the safe
    /// acceptors' initial values (so does `MCInit` in `spec/MC*.tla`).
    pub fn init(inst: &Instance<V>) -> State<V> {
        let (na, nl) = (inst.n_acceptors, inst.n_learners);
        let all_pairs: IdSet = (0..(nl * nl) as u32).collect();
        State {
            msgs: IdSet::new(),
            max_bal: Arc::new(vec![Ballot(0); nl * na]),
            votes_sent: Arc::new(vec![SortedSet::new(); na]),
            two_av_sent: Arc::new(vec![SortedSet::new(); na]),
            received: Arc::new(vec![IdSet::new(); na]),
            connected: Arc::new(vec![all_pairs; na]),
            received_by_learner: Arc::new(vec![IdSet::new(); nl]),
            decision: Arc::new(SortedSet::new()),
        }
    }
}

impl<V: Clone> State<V> {
    /// `maxBal[l, a]`.
    pub fn max_bal(&self, l: LearnerId, a: AcceptorId) -> Ballot {
        let na = self.votes_sent.len();
        self.max_bal[l.index() * na + a.index()] // ok: ids validated by the caller (TypeOK)
    }

    pub fn set_max_bal(&mut self, l: LearnerId, a: AcceptorId, b: Ballot) {
        let na = self.votes_sent.len();
        Arc::make_mut(&mut self.max_bal)[l.index() * na + a.index()] = b; // ok: ids validated by the caller
    }

    /// `<<l1, l2>> \in connected[a]`.
    pub fn connected(&self, a: AcceptorId, l1: LearnerId, l2: LearnerId) -> bool {
        let nl = self.received_by_learner.len();
        self.connected[a.index()].contains((l1.index() * nl + l2.index()) as u32)
    }

    /// Removes `<<l1, l2>>` from `connected[a]`.
    pub fn disconnect(&mut self, a: AcceptorId, l1: LearnerId, l2: LearnerId) {
        let nl = self.received_by_learner.len();
        Arc::make_mut(&mut self.connected)[a.index()].remove((l1.index() * nl + l2.index()) as u32);
    }

    /// The pairs of `connected[a]`, in order.
    pub fn connected_pairs(&self, a: AcceptorId) -> Vec<(LearnerId, LearnerId)> {
        let nl = self.received_by_learner.len().max(1);
        self.connected[a.index()]
            .iter()
            .map(|k| {
                (
                    LearnerId(k as u16 / nl as u16),
                    LearnerId(k as u16 % nl as u16),
                )
            })
            .collect()
    }
}
