//! The spec's operators and actions over one instance: `InitializedBallot`,
//! `AnnouncedValue`, `ChosenIn`, `KnowsSafeAt`, `MaxVote`, and every action
//! of `Next` as a guard ([`Model::check`]) plus an effect ([`Model::step`]).
//!
//! This is the reference model: each function transcribes the TLA+ text it
//! quotes, without indexes or shortcuts (it scans `received[a]`, `msgs`, ...).
//! The BFS explorer enumerates actions and calls [`Model::step`]; the
//! refinement checker maps the core's recorded actions to [`Action`]s and
//! calls the same function.
//!
//! Guards are written as the spec's conjuncts (`!(maxBal <= b)` for a failing
//! `maxBal[l, a] =< b`), hence the lint allowance.
#![allow(clippy::nonminimal_bool)]

use crate::instance::Instance;
use crate::msg::{Msg, MsgId, MsgTable, Val, Vote};
use crate::sets::SortedSet;
use crate::state::State;
use hpaxos_core::{AccSet, AcceptorId, Ballot, LearnerId};
use std::fmt;
use std::sync::Arc;

/// One action of `Next`, with every existentially chosen argument.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Action<V> {
    /// `Phase1a(l, b)`.
    Phase1a { l: LearnerId, b: Ballot },
    /// `Phase1c(l, b, v)`.
    Phase1c { l: LearnerId, b: Ballot, v: V },
    /// `Phase1b(l, b, a)`.
    Phase1b {
        l: LearnerId,
        b: Ballot,
        a: AcceptorId,
    },
    /// `Phase2av(l, b, a, v)`.
    Phase2av {
        l: LearnerId,
        b: Ballot,
        a: AcceptorId,
        v: V,
    },
    /// `Phase2b(l, b, a, v)`.
    Phase2b {
        l: LearnerId,
        b: Ballot,
        a: AcceptorId,
        v: V,
    },
    /// `Recv(_, a)` receiving `m` (the learner argument is unused).
    Recv { a: AcceptorId, m: MsgId },
    /// `Disconnect(a)` with `P = pairs`.
    Disconnect {
        a: AcceptorId,
        pairs: Vec<(LearnerId, LearnerId)>,
    },
    /// `FakeSend(a)` sending `m`.
    FakeSend { a: AcceptorId, m: MsgId },
    /// `LearnerDecide(l, b)` choosing `v`.
    LearnerDecide { l: LearnerId, b: Ballot, v: V },
    /// `LearnerRecv(l)` receiving `m`.
    LearnerRecv { l: LearnerId, m: MsgId },
}

impl<V: fmt::Debug> fmt::Debug for Action<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Phase1a { l, b } => write!(f, "Phase1a({l}, {b})"),
            Action::Phase1c { l, b, v } => write!(f, "Phase1c({l}, {b}, {v:?})"),
            Action::Phase1b { l, b, a } => write!(f, "Phase1b({l}, {b}, {a})"),
            Action::Phase2av { l, b, a, v } => write!(f, "Phase2av({l}, {b}, {a}, {v:?})"),
            Action::Phase2b { l, b, a, v } => write!(f, "Phase2b({l}, {b}, {a}, {v:?})"),
            Action::Recv { a, m } => write!(f, "Recv(_, {a}) of msg #{}", m.0),
            Action::Disconnect { a, pairs } => write!(f, "Disconnect({a}) removing {pairs:?}"),
            Action::FakeSend { a, m } => write!(f, "FakeSend({a}) of msg #{}", m.0),
            Action::LearnerDecide { l, b, v } => write!(f, "LearnerDecide({l}, {b}) of {v:?}"),
            Action::LearnerRecv { l, m } => write!(f, "LearnerRecv({l}) of msg #{}", m.0),
        }
    }
}

/// A guard conjunct of an action that does not hold.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{action}: guard `{conjunct}` does not hold: {detail}")]
pub struct GuardError {
    /// The action, with its arguments.
    pub action: String,
    /// The conjunct, in TLA+.
    pub conjunct: &'static str,
    /// What the state holds instead.
    pub detail: String,
}

/// An instance plus its message table: everything needed to evaluate the
/// spec's operators on a [`State`].
#[derive(Clone, Debug)]
pub struct Model<V> {
    /// The constants (shared: cloning a model is cheap).
    pub inst: Arc<Instance<V>>,
    pub table: MsgTable<V>,
}

impl<V: Val> Model<V> {
    pub fn new(inst: Instance<V>) -> Model<V> {
        Model {
            inst: Arc::new(inst),
            table: MsgTable::default(),
        }
    }

    /// A model over shared constants (one per slot of a refinement run).
    pub fn shared(inst: Arc<Instance<V>>) -> Model<V> {
        Model {
            inst,
            table: MsgTable::default(),
        }
    }

    pub fn init(&self) -> State<V> {
        State::init(&self.inst)
    }

    /// The record of a message id.
    pub fn msg(&self, id: MsgId) -> &Msg<V> {
        self.table.get(id)
    }

    /// The messages of a set of ids.
    pub fn msgs_of<'a>(
        &'a self,
        set: &'a crate::sets::IdSet,
    ) -> impl Iterator<Item = &'a Msg<V>> + 'a {
        set.iter().map(move |i| self.table.get(MsgId(i)))
    }

    /// `InitializedBallot(lr, bal) == \E m \in msgs : m.type = "1a" /\ m.lr = lr /\ m.bal = bal`.
    pub fn initialized_ballot(&self, s: &State<V>, lr: LearnerId, bal: Ballot) -> bool {
        self.msgs_of(&s.msgs)
            .any(|m| matches!(m, Msg::M1a { lr: l, bal: b } if *l == lr && *b == bal))
    }

    /// `AnnouncedValue(lr, bal, val) == \E m \in msgs : m.type = "1c" /\ m.bal = bal /\ m.val = val`
    /// (the 1c's learner is not checked, as in the seed).
    pub fn announced_value(&self, s: &State<V>, _lr: LearnerId, bal: Ballot, val: &V) -> bool {
        self.msgs_of(&s.msgs)
            .any(|m| matches!(m, Msg::M1c { bal: b, val: v, .. } if *b == bal && v == val))
    }

    /// `ChosenIn(lr, bal, v) == \E Q \in ByzQuorum : /\ [lr |-> lr, q |-> Q] \in TrustLive
    ///   /\ \A aa \in Q : \E m \in {mm \in receivedByLearner[lr] : mm.bal = bal} : m.val = v /\ m.acc = aa`.
    pub fn chosen_in(&self, s: &State<V>, lr: LearnerId, bal: Ballot, v: &V) -> bool {
        let Some(rbl) = s.received_by_learner.get(lr.index()) else {
            return false;
        };
        let senders: AccSet = self
            .msgs_of(rbl)
            .filter(|m| m.bal() == bal && m.val() == Some(v))
            .filter_map(|m| m.acc())
            .collect();
        self.inst.is_quorum(lr, &senders)
    }

    /// `S == {mm \in received[ac] : mm.type = "1b" /\ mm.lr = l /\ mm.bal = b}` as
    /// `(acc, votes, proposals)`.
    #[allow(clippy::type_complexity)]
    fn one_b_set<'a>(
        &'a self,
        s: &'a State<V>,
        l: LearnerId,
        ac: AcceptorId,
        b: Ballot,
    ) -> impl Iterator<Item = (AcceptorId, &'a SortedSet<Vote<V>>, &'a SortedSet<Vote<V>>)> + 'a
    {
        self.msgs_of(&s.received[ac.index()])
            .filter_map(move |m| match m {
                Msg::M1b {
                    lr,
                    acc,
                    bal,
                    votes,
                    proposals,
                } if *lr == l && *bal == b => Some((*acc, votes, proposals)),
                _ => None,
            })
    }

    /// `KnowsSafeAt1(l, ac, b, v)`:
    /// ```text
    /// \E BQ \in ByzQuorum : /\ [lr |-> l, q |-> BQ] \in TrustLive
    ///   /\ \A a \in BQ : \E m \in S : /\ m.acc = a
    ///        /\ \A p \in {pp \in m.votes : <<pp.lr, l>> \in connected[ac]} : b =< p.bal
    /// ```
    pub fn knows_safe_at1(&self, s: &State<V>, l: LearnerId, ac: AcceptorId, b: Ballot) -> bool {
        let bq: AccSet = self
            .one_b_set(s, l, ac, b)
            .filter(|(_, votes, _)| {
                votes
                    .iter()
                    .filter(|p| s.connected(ac, p.lr, l))
                    .all(|p| b <= p.bal)
            })
            .map(|(a, _, _)| a)
            .collect();
        self.inst.is_quorum(l, &bq)
    }

    /// `KnowsSafeAt2(l, ac, b, v)`:
    /// ```text
    /// \E c \in Ballot : /\ c < b
    ///   /\ \E BQ \in ByzQuorum : /\ [lr |-> l, q |-> BQ] \in TrustLive
    ///        /\ \A a \in BQ : \E m \in S : /\ m.acc = a
    ///             /\ \A p \in {pp \in m.votes : <<pp.lr, l>> \in connected[ac]} :
    ///                  /\ p.bal =< c /\ (p.bal = c) => (p.val = v)
    ///   /\ \E WQ \in ByzQuorum : /\ [lr |-> l, q |-> WQ] \in TrustLive
    ///        /\ \A a \in WQ : \E m \in S : /\ m.acc = a
    ///             /\ \E p \in m.proposals : p.lr = l /\ p.bal = c /\ p.val = v
    /// ```
    /// In a finite instance `c` ranges over `Ballot`. In an open one
    /// (`Ballot = Nat`) it ranges over the ballots of proposals in `S`: any
    /// other `c` has an empty `WQ` set, which is a quorum only if the empty
    /// set is one, and then `KnowsSafeAt1` already holds, so `KnowsSafeAt`
    /// is the same.
    pub fn knows_safe_at2(
        &self,
        s: &State<V>,
        l: LearnerId,
        ac: AcceptorId,
        b: Ballot,
        v: &V,
    ) -> bool {
        let candidates: Vec<Ballot> = match &self.inst.finite {
            Some(f) => f.ballots.iter().copied().filter(|c| *c < b).collect(),
            None => {
                let mut cs: Vec<Ballot> = self
                    .one_b_set(s, l, ac, b)
                    .flat_map(|(_, _, props)| props.iter())
                    .filter(|p| p.lr == l && p.bal < b && &p.val == v)
                    .map(|p| p.bal)
                    .collect();
                cs.sort();
                cs.dedup();
                cs
            }
        };
        candidates.into_iter().any(|c| {
            let bq: AccSet = self
                .one_b_set(s, l, ac, b)
                .filter(|(_, votes, _)| {
                    votes
                        .iter()
                        .filter(|p| s.connected(ac, p.lr, l))
                        .all(|p| p.bal <= c && (p.bal != c || &p.val == v))
                })
                .map(|(a, _, _)| a)
                .collect();
            let wq: AccSet = self
                .one_b_set(s, l, ac, b)
                .filter(|(_, _, props)| {
                    props.iter().any(|p| p.lr == l && p.bal == c && &p.val == v)
                })
                .map(|(a, _, _)| a)
                .collect();
            self.inst.is_quorum(l, &bq) && self.inst.is_quorum(l, &wq)
        })
    }

    /// `KnowsSafeAt(l, ac, b, v) == KnowsSafeAt1(l, ac, b, v) \/ KnowsSafeAt2(l, ac, b, v)`.
    pub fn knows_safe_at(
        &self,
        s: &State<V>,
        l: LearnerId,
        ac: AcceptorId,
        b: Ballot,
        v: &V,
    ) -> bool {
        self.knows_safe_at1(s, l, ac, b) || self.knows_safe_at2(s, l, ac, b, v)
    }

    /// `MaxVote(a, b, vote) == /\ vote.bal < b
    ///   /\ \A other \in votesSent[a] : other.lr = vote.lr /\ other.bal < b => other.bal =< vote.bal`.
    pub fn max_vote(&self, s: &State<V>, a: AcceptorId, b: Ballot, vote: &Vote<V>) -> bool {
        vote.bal < b
            && s.votes_sent[a.index()]
                .iter()
                .all(|o| !(o.lr == vote.lr && o.bal < b) || o.bal <= vote.bal)
    }

    /// The 1b that `Phase1b(l, b, a)` sends:
    /// `votes |-> {p \in votesSent[a] : MaxVote(a, b, p)}`,
    /// `proposals |-> {p \in 2avSent[a] : p.bal < b /\ p.lr = l}`.
    pub fn one_b_of(&self, s: &State<V>, l: LearnerId, b: Ballot, a: AcceptorId) -> Msg<V> {
        Msg::M1b {
            lr: l,
            acc: a,
            bal: b,
            votes: s.votes_sent[a.index()]
                .iter()
                .filter(|p| self.max_vote(s, a, b, p))
                .cloned()
                .collect(),
            proposals: s.two_av_sent[a.index()]
                .iter()
                .filter(|p| p.bal < b && p.lr == l)
                .cloned()
                .collect(),
        }
    }

    /// Is `m` in `Message` (`TypeOK`'s typing of one record)?
    pub fn typed_msg(&self, m: &Msg<V>) -> bool {
        let i = &self.inst;
        let vote_ok = |p: &Vote<V>| i.is_learner(p.lr) && i.is_ballot(p.bal) && i.is_value(&p.val);
        i.is_learner(m.lr())
            && i.is_ballot(m.bal())
            && m.acc().is_none_or(|a| i.is_acceptor(a))
            && m.val().is_none_or(|v| i.is_value(v))
            && match m {
                Msg::M1b {
                    votes, proposals, ..
                } => votes.iter().all(vote_ok) && proposals.iter().all(vote_ok),
                _ => true,
            }
    }

    /// Checks the guard of `act` on `s` (including the typing of its
    /// arguments: the ranges of the existential quantifiers of `Next`).
    pub fn check(&self, s: &State<V>, act: &Action<V>) -> Result<(), GuardError> {
        self.guard(s, act, true)
    }

    /// Whether the guard of `act` holds (no explanation built: the
    /// explorer's fast path).
    pub fn enabled(&self, s: &State<V>, act: &Action<V>) -> bool {
        self.guard(s, act, false).is_ok()
    }

    fn guard(&self, s: &State<V>, act: &Action<V>, explain: bool) -> Result<(), GuardError> {
        let i = &self.inst;
        let fail = |conjunct: &'static str, detail: &dyn Fn() -> String| {
            Err(GuardError {
                action: if explain {
                    format!("{act:?}")
                } else {
                    String::new()
                },
                conjunct,
                detail: if explain { detail() } else { String::new() },
            })
        };
        let learner = |l: LearnerId| -> Result<(), GuardError> {
            if i.is_learner(l) {
                Ok(())
            } else {
                fail("lrn \\in Learner", &|| format!("{l} is not a learner"))
            }
        };
        let ballot = |b: Ballot| -> Result<(), GuardError> {
            if i.is_ballot(b) {
                Ok(())
            } else {
                fail("bal \\in Ballot", &|| format!("{b} is not in Ballot"))
            }
        };
        let value = |v: &V| -> Result<(), GuardError> {
            if i.is_value(v) {
                Ok(())
            } else {
                fail("val \\in Value", &|| format!("{v:?} is not in Value"))
            }
        };
        let safe = |a: AcceptorId| -> Result<(), GuardError> {
            if i.safe.contains(a) && i.is_acceptor(a) {
                Ok(())
            } else {
                fail("acc \\in SafeAcceptor", &|| {
                    format!("{a} is not a safe acceptor")
                })
            }
        };
        let in_msgs = |m: MsgId| -> Result<(), GuardError> {
            if s.msgs.contains(m.0) {
                Ok(())
            } else {
                fail("m \\in msgs", &|| {
                    format!("{:?} was never sent", self.table.get(m))
                })
            }
        };
        match act {
            Action::Phase1a { l, b } => {
                learner(*l)?;
                ballot(*b)
            }
            Action::Phase1c { l, b, v } => {
                learner(*l)?;
                ballot(*b)?;
                value(v)
            }
            Action::Phase1b { l, b, a } => {
                learner(*l)?;
                ballot(*b)?;
                safe(*a)?;
                let mb = s.max_bal(*l, *a);
                // HPaxosLate: Phase1b \/ Phase1bLate drops this conjunct.
                if !(i.late || mb <= *b) {
                    return fail("maxBal[l, a] =< b", &|| format!("maxBal[{l}, {a}] = {mb}"));
                }
                if !self.initialized_ballot(s, *l, *b) {
                    return fail("InitializedBallot(l, b)", &|| {
                        "no 1a for (l, b) in msgs".into()
                    });
                }
                Ok(())
            }
            Action::Phase2av { l, b, a, v } => {
                learner(*l)?;
                ballot(*b)?;
                safe(*a)?;
                value(v)?;
                let mb = s.max_bal(*l, *a);
                // HPaxosLate: Phase2av \/ Phase2avLate drops this conjunct.
                if !(i.late || mb <= *b) {
                    return fail("maxBal[l, a] =< b", &|| format!("maxBal[{l}, {a}] = {mb}"));
                }
                if !self.initialized_ballot(s, *l, *b) {
                    return fail("InitializedBallot(l, b)", &|| {
                        "no 1a for (l, b) in msgs".into()
                    });
                }
                if !self.announced_value(s, *l, *b, v) {
                    return fail("AnnouncedValue(l, b, v)", &|| {
                        "no 1c for (b, v) in msgs".into()
                    });
                }
                if let Some(p) = s.two_av_sent[a.index()]
                    .iter()
                    .find(|p| p.bal == *b && s.connected(*a, p.lr, *l) && &p.val != v)
                {
                    return fail(
"\\A P \\in {p \\in 2avSent[a] : p.bal = b /\\ <<p.lr, l>> \\in connected[a]} : P.val = v", &|| format!("2avSent[{a}] holds {p:?}"),
                    );
                }
                if !self.knows_safe_at(s, *l, *a, *b, v) {
                    return fail("KnowsSafeAt(l, a, b, v)", &|| {
                        format!(
                            "received[{a}] holds no quorum of 1b messages for ({l}, {b}) showing {v:?} safe"
                        )
                    });
                }
                Ok(())
            }
            Action::Phase2b { l, b, a, v } => {
                learner(*l)?;
                ballot(*b)?;
                safe(*a)?;
                value(v)?;
                for ll in i.learners() {
                    let mb = s.max_bal(ll, *a);
                    if !(mb <= *b) {
                        return fail("\\A L \\in Learner : maxBal[L, a] =< b", &|| {
                            format!("maxBal[{ll}, {a}] = {mb}")
                        });
                    }
                }
                let senders: AccSet = self
                    .msgs_of(&s.received[a.index()])
                    .filter(|m| {
                        matches!(m, Msg::M2av { lr, bal, val, .. } if lr == l && bal == b && val == v)
                    })
                    .filter_map(|m| m.acc())
                    .collect();
                if !i.is_quorum(*l, &senders) {
                    return fail(
"\\E Q \\in ByzQuorum : [lr |-> l, q |-> Q] \\in TrustLive /\\ \\A aa \\in Q : <2av (l, b, v) from aa in received[a]>", &|| format!("2av senders received: {senders:?}, not a quorum of {l}"),
                    );
                }
                Ok(())
            }
            Action::Recv { a, m } => {
                if !i.is_acceptor(*a) {
                    return fail("acc \\in Acceptor", &|| format!("{a} is not an acceptor"));
                }
                in_msgs(*m)
            }
            Action::Disconnect { a, pairs } => {
                safe(*a)?;
                for (l1, l2) in pairs {
                    learner(*l1)?;
                    learner(*l2)?;
                    if i.ent(*l1, *l2) {
                        return fail(
                            "P \\in SUBSET {LL \\in Learner \\X Learner : LL \\notin Ent}",
                            &|| format!("<<{l1}, {l2}>> is in Ent"),
                        );
                    }
                }
                Ok(())
            }
            Action::FakeSend { a, m } => {
                if !(i.fake.contains(*a) && i.is_acceptor(*a)) {
                    return fail("a \\in FakeAcceptor", &|| {
                        format!("{a} is not a fake acceptor")
                    });
                }
                let rec = self.table.get(*m);
                if rec.acc() != Some(*a) {
                    return fail(
                        "mm.acc = a /\\ mm.type \\in {\"1b\", \"2av\", \"2b\"}",
                        &|| format!("{rec:?} is not a 1b/2av/2b of {a}"),
                    );
                }
                if !self.typed_msg(rec) {
                    return fail("mm \\in Message", &|| format!("{rec:?} is not well typed"));
                }
                if let Some(f) = &i.finite {
                    if !f.fake_domain.contains(rec) {
                        return fail("mm \\in FakeDomain (the model's stated domain)", &|| {
                            format!("{rec:?}")
                        });
                    }
                }
                Ok(())
            }
            Action::LearnerDecide { l, b, v } => {
                learner(*l)?;
                ballot(*b)?;
                value(v)?;
                if !self.chosen_in(s, *l, *b, v) {
                    return fail("v \\in {vv \\in Value : ChosenIn(l, b, vv)}", &|| {
                        format!("receivedByLearner[{l}] holds no quorum of 2b for ({b}, {v:?})")
                    });
                }
                Ok(())
            }
            Action::LearnerRecv { l, m } => {
                learner(*l)?;
                in_msgs(*m)?;
                let rec = self.table.get(*m);
                if !matches!(rec, Msg::M2b { lr, .. } if lr == l) {
                    return fail(
                        "m \\in {mm \\in msgs : mm.type = \"2b\" /\\ mm.lr = l}",
                        &|| format!("{rec:?} is not a 2b for {l}"),
                    );
                }
                Ok(())
            }
        }
    }

    /// Applies the effect of `act` to `s` (the guard must hold: see
    /// [`Model::check`]; [`Model::step`] does both).
    pub fn effect(&mut self, s: &mut State<V>, act: &Action<V>) {
        match act {
            Action::Phase1a { l, b } => {
                let id = self.table.intern(Msg::M1a { lr: *l, bal: *b });
                s.msgs.insert(id.0);
            }
            Action::Phase1c { l, b, v } => {
                let id = self.table.intern(Msg::M1c {
                    lr: *l,
                    bal: *b,
                    val: v.clone(),
                });
                s.msgs.insert(id.0);
            }
            Action::Phase1b { l, b, a } => {
                let m = self.one_b_of(s, *l, *b, *a);
                // `maxBal' = b`; Phase1bLate (b below maxBal) leaves it.
                if s.max_bal(*l, *a) <= *b {
                    s.set_max_bal(*l, *a, *b);
                }
                let id = self.table.intern(m);
                s.msgs.insert(id.0);
            }
            Action::Phase2av { l, b, a, v } => {
                let id = self.table.intern(Msg::M2av {
                    lr: *l,
                    acc: *a,
                    bal: *b,
                    val: v.clone(),
                });
                s.msgs.insert(id.0);
                Arc::make_mut(&mut s.two_av_sent)[a.index()].insert(Vote {
                    lr: *l,
                    bal: *b,
                    val: v.clone(),
                });
            }
            Action::Phase2b { l, b, a, v } => {
                let id = self.table.intern(Msg::M2b {
                    lr: *l,
                    acc: *a,
                    bal: *b,
                    val: v.clone(),
                });
                s.msgs.insert(id.0);
                Arc::make_mut(&mut s.votes_sent)[a.index()].insert(Vote {
                    lr: *l,
                    bal: *b,
                    val: v.clone(),
                });
            }
            Action::Recv { a, m } => {
                Arc::make_mut(&mut s.received)[a.index()].insert(m.0);
            }
            Action::Disconnect { a, pairs } => {
                for (l1, l2) in pairs {
                    s.disconnect(*a, *l1, *l2);
                }
            }
            Action::FakeSend { m, .. } => {
                s.msgs.insert(m.0);
            }
            Action::LearnerDecide { l, b, v } => {
                Arc::make_mut(&mut s.decision).insert((*l, *b, v.clone()));
            }
            Action::LearnerRecv { l, m } => {
                Arc::make_mut(&mut s.received_by_learner)[l.index()].insert(m.0);
            }
        }
    }

    /// Checks the guard of `act`, then applies its effect.
    pub fn step(&mut self, s: &mut State<V>, act: &Action<V>) -> Result<(), GuardError> {
        self.check(s, act)?;
        self.effect(s, act);
        Ok(())
    }
}
