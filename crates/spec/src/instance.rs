//! The constants of one spec instance: `Acceptor`, `SafeAcceptor`,
//! `FakeAcceptor`, `Learner`, `TrustLive`, `Ent`, and, for a finite model,
//! `Ballot`, `Value` and the fake acceptors' message domain.
//!
//! Two kinds of instance share the model code. A *finite* instance (the
//! BFS explorer's, equal to a TLC model) lists `Ballot`, `Value` and
//! `TrustLive` explicitly. An *open* instance (the refinement checker's)
//! takes `TrustLive` from a validated [`Trust`] (quorum families are
//! upward-closed, so `\E Q : [lr |-> l, q |-> Q] \in TrustLive /\ Q \subseteq S`
//! is `trust.is_quorum(l, S)`), and leaves `Ballot = Nat` and `Value` open:
//! quantifiers then range over what occurs in the state (see
//! [`crate::invariants::Domain`]).

use crate::msg::Msg;
use hpaxos_core::{AccSet, AcceptorId, Ballot, LearnerId, Trust};

/// `TrustLive`, as the learners' quorums.
#[derive(Clone, Debug)]
pub enum Quorums {
    /// `TrustLive` listed: `quorums[l]` are the `q` with `[lr |-> l, q |-> q] \in TrustLive`.
    Explicit(Vec<Vec<AccSet>>),
    /// `TrustLive` as the upward-closed families of a configuration.
    Trust(Trust),
}

/// The finite parts of a TLC-style model.
#[derive(Clone, Debug)]
pub struct Finite<V> {
    /// `Ballot` (sorted, the model's `MCBallot`).
    pub ballots: Vec<Ballot>,
    /// `Value`.
    pub values: Vec<V>,
    /// The stated domain of `FakeSend`: messages a fake acceptor may send.
    pub fake_domain: Vec<Msg<V>>,
}

/// One instance of the spec's constants.
#[derive(Clone, Debug)]
pub struct Instance<V> {
    pub n_acceptors: usize,
    pub n_learners: usize,
    pub safe: AccSet,
    pub fake: AccSet,
    pub quorums: Quorums,
    /// `Ent`, as a `n_learners x n_learners` matrix.
    pub ent: Vec<bool>,
    /// `Some` for a finite model, `None` for an open (refinement) instance.
    pub finite: Option<Finite<V>>,
    /// The actions are HPaxosLate's (`spec/HPaxosLate.tla`): `Phase1b` and
    /// `Phase2av` without their `maxBal[l, a] =< b` conjunct (`Phase1b`
    /// then leaves a higher `maxBal` as it is), and `MsgInv1b` with
    /// `proposals` a subset. False: the seed's.
    pub late: bool,
}

impl<V> Instance<V> {
    pub fn acceptors(&self) -> impl Iterator<Item = AcceptorId> {
        (0..self.n_acceptors as u16).map(AcceptorId)
    }

    pub fn learners(&self) -> impl Iterator<Item = LearnerId> {
        (0..self.n_learners as u16).map(LearnerId)
    }

    pub fn safe_acceptors(&self) -> impl Iterator<Item = AcceptorId> + '_ {
        self.safe.iter()
    }

    pub fn all_acceptors(&self) -> AccSet {
        AccSet::first_n(self.n_acceptors)
    }

    /// `<<l1, l2>> \in Ent`.
    pub fn ent(&self, l1: LearnerId, l2: LearnerId) -> bool {
        let n = self.n_learners;
        l1.index() < n && l2.index() < n && self.ent[l1.index() * n + l2.index()]
    }

    /// `\E Q \in ByzQuorum : [lr |-> l, q |-> Q] \in TrustLive /\ \A a \in Q : a \in set`.
    pub fn is_quorum(&self, l: LearnerId, set: &AccSet) -> bool {
        match &self.quorums {
            Quorums::Explicit(qs) => qs
                .get(l.index())
                .is_some_and(|qs| qs.iter().any(|q| q.is_subset(set))),
            Quorums::Trust(t) => t.is_quorum(l, set),
        }
    }

    /// `\A Q \in ByzQuorum : [lr |-> l, q |-> Q] \in TrustLive => Q \cap w # {}`.
    /// For an upward-closed family this is "the complement of `w` is not a
    /// quorum" (a quorum avoiding `w` lies inside the complement, and the
    /// complement itself is then a quorum).
    pub fn every_quorum_meets(&self, l: LearnerId, w: &AccSet) -> bool {
        match &self.quorums {
            Quorums::Explicit(qs) => qs
                .get(l.index())
                .is_none_or(|qs| qs.iter().all(|q| !q.intersection(w).is_empty())),
            Quorums::Trust(t) => !t.is_quorum(l, &self.all_acceptors().difference(w)),
        }
    }

    /// `l \in Learner`, `a \in Acceptor`, `b \in Ballot`, `v \in Value`.
    pub fn is_learner(&self, l: LearnerId) -> bool {
        l.index() < self.n_learners
    }

    pub fn is_acceptor(&self, a: AcceptorId) -> bool {
        a.index() < self.n_acceptors
    }

    pub fn is_ballot(&self, b: Ballot) -> bool {
        match &self.finite {
            Some(f) => f.ballots.contains(&b),
            None => true,
        }
    }
}

impl<V: PartialEq> Instance<V> {
    pub fn is_value(&self, v: &V) -> bool {
        match &self.finite {
            Some(f) => f.values.contains(v),
            None => true,
        }
    }
}

impl Instance<hpaxos_core::Value> {
    /// The open instance of a configuration, with `FakeAcceptor = fake`,
    /// `SafeAcceptor` the rest, and `Ent` from the closure of the learner
    /// graph at the actual safe set (`trust.entangled(l1, l2, &safe)`).
    pub fn open(trust: &Trust, fake: AccSet) -> Instance<hpaxos_core::Value> {
        let all = trust.all_acceptors();
        let fake = fake.intersection(&all);
        let safe = all.difference(&fake);
        let n = trust.n_learners();
        let mut ent = vec![false; n * n];
        for l1 in trust.learners() {
            for l2 in trust.learners() {
                ent[l1.index() * n + l2.index()] = trust.entangled(l1, l2, &safe);
            }
        }
        Instance {
            n_acceptors: trust.n_acceptors(),
            n_learners: n,
            safe,
            fake,
            quorums: Quorums::Trust(trust.clone()),
            ent,
            finite: None,
            late: false,
        }
    }
}
