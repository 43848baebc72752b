//! The invariants of the seed: every conjunct of `FullSafetyInvariant`
//! (`TypeOK`, `MsgInv`, `2avSentSpec1-3`, `VotesSentSpec1-4`,
//! `ReceivedSpec`, `ReceivedByLearnerSpec`, `ConnectedSpec`, `DecisionSpec`,
//! `HeterogeneousSpec`, `Safety`), each transcribed from its TLA+ text.
//!
//! Quantifiers over `Learner` and `SafeAcceptor` range over the instance.
//! Quantifiers over `Ballot` and `Value` range over a [`Domain`]: in a finite
//! instance, the instance's sets; in an open one (`Ballot = Nat`, values
//! are any bytes), the ballots and values that occur in the state, the
//! successor of every occurring ballot, ballot 0, and one value that occurs
//! nowhere (`None`). This is equivalent for these invariants:
//! - a `\A V` or `\A B` whose body is an implication from a membership in a
//!   state variable (`VotesSentSpec2`, `2avSentSpec2/3`, `DecisionSpec`,
//!   `Safety`) is vacuous for values and ballots that do not occur;
//! - `VotesSentSpec3`'s body depends on `B` only through the set
//!   `{v \in votesSent[A] : v.bal < B}`, which is the same for `B` and for
//!   `1 +` the largest vote ballot below `B` (a successor of an occurring
//!   ballot);
//! - in `HeterogeneousSpec`, `CannotDecide(Q, L1, B1, V1)` depends on `B1`
//!   through `LeftBallot` (`B1 < m.bal` for 1b messages) and `VotedFor`
//!   (`m.bal = B1` for 2b messages), so it is constant between consecutive
//!   occurring ballots: ballot 0 and the successors of occurring ballots
//!   represent every interval; it depends on `V1` only through `VotedFor`,
//!   which is false for every value that occurs nowhere, so one such value
//!   (`None`) represents them all.

use crate::model::Model;
use crate::msg::{Msg, Val, Vote};
use crate::state::State;
use hpaxos_core::{AccSet, AcceptorId, Ballot, LearnerId};
use std::collections::BTreeSet;

/// Names of the conjuncts of `FullSafetyInvariant`, in the seed's order.
pub const FULL_SAFETY_INVARIANT: [&str; 15] = [
    "TypeOK",
    "MsgInv",
    "2avSentSpec1",
    "2avSentSpec2",
    "2avSentSpec3",
    "VotesSentSpec1",
    "VotesSentSpec2",
    "VotesSentSpec3",
    "VotesSentSpec4",
    "ReceivedSpec",
    "ReceivedByLearnerSpec",
    "ConnectedSpec",
    "DecisionSpec",
    "HeterogeneousSpec",
    "Safety",
];

/// An invariant that does not hold, with a witness.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invariant {name} violated: {detail}")]
pub struct InvariantViolation {
    pub name: &'static str,
    pub detail: String,
}

/// The ranges of `\A B \in Ballot` and `\A V \in Value` (see the module doc).
#[derive(Clone, Debug)]
pub struct Domain<V> {
    pub ballots: Vec<Ballot>,
    /// `None` stands for a value that occurs nowhere in the state.
    pub values: Vec<Option<V>>,
}

impl<V: Val> Domain<V> {
    /// The domain of a state: the instance's sets if finite, else what
    /// occurs (see the module doc).
    pub fn of(model: &Model<V>, s: &State<V>) -> Domain<V> {
        if let Some(f) = &model.inst.finite {
            return Domain {
                ballots: f.ballots.clone(),
                values: f.values.iter().cloned().map(Some).collect(),
            };
        }
        let mut bs: BTreeSet<Ballot> = BTreeSet::new();
        let mut vs: BTreeSet<V> = BTreeSet::new();
        let vote = |p: &Vote<V>, bs: &mut BTreeSet<Ballot>, vs: &mut BTreeSet<V>| {
            bs.insert(p.bal);
            vs.insert(p.val.clone());
        };
        for m in model.msgs_of(&s.msgs) {
            bs.insert(m.bal());
            if let Some(v) = m.val() {
                vs.insert(v.clone());
            }
            if let Msg::M1b {
                votes, proposals, ..
            } = m
            {
                for p in votes.iter().chain(proposals.iter()) {
                    vote(p, &mut bs, &mut vs);
                }
            }
        }
        for set in s.votes_sent.iter().chain(s.two_av_sent.iter()) {
            for p in set.iter() {
                vote(p, &mut bs, &mut vs);
            }
        }
        for (_, b, v) in s.decision.iter() {
            bs.insert(*b);
            vs.insert(v.clone());
        }
        bs.extend(s.max_bal.iter().copied());
        let succ: Vec<Ballot> = bs.iter().map(|b| b.next()).collect();
        bs.extend(succ);
        bs.insert(Ballot(0));
        Domain {
            ballots: bs.into_iter().collect(),
            values: vs
                .into_iter()
                .map(Some)
                .chain(std::iter::once(None))
                .collect(),
        }
    }
}

type R = Result<(), InvariantViolation>;

fn violated(name: &'static str, detail: String) -> R {
    Err(InvariantViolation { name, detail })
}

/// Checks every conjunct of `FullSafetyInvariant`; the first violated one
/// is returned.
pub fn full_safety_invariant<V: Val>(model: &Model<V>, s: &State<V>) -> R {
    let dom = Domain::of(model, s);
    for name in FULL_SAFETY_INVARIANT {
        check(model, s, &dom, name)?;
    }
    Ok(())
}

/// Checks one named invariant (a conjunct of `FullSafetyInvariant`).
pub fn check<V: Val>(model: &Model<V>, s: &State<V>, dom: &Domain<V>, name: &str) -> R {
    match name {
        "TypeOK" => type_ok(model, s),
        "MsgInv" => msg_inv(model, s),
        "2avSentSpec1" => two_av_sent_spec1(model, s),
        "2avSentSpec2" => two_av_sent_spec2(model, s),
        "2avSentSpec3" => two_av_sent_spec3(model, s),
        "VotesSentSpec1" => votes_sent_spec1(model, s),
        "VotesSentSpec2" => votes_sent_spec2(model, s),
        "VotesSentSpec3" => votes_sent_spec3(model, s, dom),
        "VotesSentSpec4" => votes_sent_spec4(model, s),
        "ReceivedSpec" => received_spec(model, s),
        "ReceivedByLearnerSpec" => received_by_learner_spec(model, s),
        "ConnectedSpec" => connected_spec(model, s),
        "DecisionSpec" => decision_spec(model, s),
        "HeterogeneousSpec" => heterogeneous_spec(model, s, dom),
        "Safety" => safety(model, s),
        _ => violated("(unknown)", format!("no invariant named {name}")),
    }
}

/// `VotedFor(lr, acc, bal, val) == \E m \in msgs : m.type = "2b" /\ m.lr = lr
///   /\ m.acc = acc /\ m.bal = bal /\ m.val = val`
/// (`m.lr = lr` restored: a rendering error displaced that line).
pub fn voted_for<V: Val>(
    model: &Model<V>,
    s: &State<V>,
    lr: LearnerId,
    acc: AcceptorId,
    bal: Ballot,
    val: Option<&V>,
) -> bool {
    model.msgs_of(&s.msgs).any(|m| {
        matches!(m, Msg::M2b { lr: l, acc: a, bal: b, val: v }
            if *l == lr && *a == acc && *b == bal && Some(v) == val)
    })
}

/// `Proposed(lr, acc, bal, val) == \E m \in msgs : m.type = "2av" /\ m.lr = lr
///   /\ m.acc = acc /\ m.bal = bal /\ m.val = val`.
pub fn proposed<V: Val>(
    model: &Model<V>,
    s: &State<V>,
    lr: LearnerId,
    acc: AcceptorId,
    bal: Ballot,
    val: &V,
) -> bool {
    model.msgs_of(&s.msgs).any(|m| {
        matches!(m, Msg::M2av { lr: l, acc: a, bal: b, val: v }
            if *l == lr && *a == acc && *b == bal && v == val)
    })
}

/// `LeftBallot(lr, acc, bal) == \E m \in msgs : m.type = "1b" /\ m.lr = lr
///   /\ m.acc = acc /\ bal < m.bal`.
pub fn left_ballot<V: Val>(
    model: &Model<V>,
    s: &State<V>,
    lr: LearnerId,
    acc: AcceptorId,
    bal: Ballot,
) -> bool {
    model.msgs_of(&s.msgs).any(|m| {
        matches!(m, Msg::M1b { lr: l, acc: a, bal: b, .. } if *l == lr && *a == acc && bal < *b)
    })
}

/// `TypeOK`: every variable has its type (ids in range; in a finite
/// instance, ballots in `Ballot` and values in `Value`).
pub fn type_ok<V: Val>(model: &Model<V>, s: &State<V>) -> R {
    let i = &model.inst;
    let vote_ok = |p: &Vote<V>| i.is_learner(p.lr) && i.is_ballot(p.bal) && i.is_value(&p.val);
    for set in [&s.msgs]
        .into_iter()
        .chain(s.received.iter())
        .chain(s.received_by_learner.iter())
    {
        for m in model.msgs_of(set) {
            if !model.typed_msg(m) {
                return violated("TypeOK", format!("{m:?} is not in Message"));
            }
        }
    }
    if let Some(b) = s.max_bal.iter().find(|b| !i.is_ballot(**b)) {
        return violated("TypeOK", format!("maxBal holds {b}, not in Ballot"));
    }
    for (a, set) in s.votes_sent.iter().chain(s.two_av_sent.iter()).enumerate() {
        if let Some(p) = set.iter().find(|p| !vote_ok(p)) {
            return violated("TypeOK", format!("votesSent/2avSent #{a} holds {p:?}"));
        }
    }
    if let Some(d) = s
        .decision
        .iter()
        .find(|(l, b, v)| !(i.is_learner(*l) && i.is_ballot(*b) && i.is_value(v)))
    {
        return violated("TypeOK", format!("decision holds {d:?}"));
    }
    Ok(())
}

/// `MsgInv == \A m \in msgs : m.acc \in SafeAcceptor =>
///   /\ (m.type = "1b") => MsgInv1b(m) /\ (m.type = "2av") => MsgInv2av(m)
///   /\ (m.type = "2b") => MsgInv2b(m)` (1a and 1c have no `acc`: no condition).
pub fn msg_inv<V: Val>(model: &Model<V>, s: &State<V>) -> R {
    let i = &model.inst;
    for m in model.msgs_of(&s.msgs) {
        let Some(acc) = m.acc() else { continue };
        if !i.safe.contains(acc) {
            continue;
        }
        match m {
            Msg::M1b { lr, bal, .. } => {
                // MsgInv1b(m)
                if *bal > s.max_bal(*lr, acc) {
                    return violated("MsgInv", format!("{m:?}: m.bal > maxBal[m.lr, m.acc]"));
                }
                let now = model.one_b_of(s, *lr, *bal, acc);
                let holds = if i.late {
                    // MsgInv1bLate: the same votes, proposals a subset.
                    match (&now, m) {
                        (
                            Msg::M1b {
                                votes, proposals, ..
                            },
                            Msg::M1b {
                                votes: mv,
                                proposals: mp,
                                ..
                            },
                        ) => votes == mv && mp.iter().all(|p| proposals.contains(p)),
                        _ => false,
                    }
                } else {
                    now == *m
                };
                if !holds {
                    return violated(
                        "MsgInv",
                        format!("{m:?}: votes/proposals differ from MaxVote/2avSent now"),
                    );
                }
            }
            Msg::M2av { lr, bal, val, .. } => {
                // MsgInv2av(m)
                if !model.initialized_ballot(s, *lr, *bal) {
                    return violated("MsgInv", format!("{m:?}: not InitializedBallot"));
                }
                if !model.announced_value(s, *lr, *bal, val) {
                    return violated("MsgInv", format!("{m:?}: not AnnouncedValue"));
                }
                if !model.knows_safe_at(s, *lr, acc, *bal, val) {
                    return violated("MsgInv", format!("{m:?}: not KnowsSafeAt"));
                }
                let v = Vote {
                    lr: *lr,
                    bal: *bal,
                    val: val.clone(),
                };
                if !s.two_av_sent[acc.index()].contains(&v) {
                    return violated("MsgInv", format!("{m:?}: not in 2avSent[m.acc]"));
                }
                let q: AccSet = model
                    .msgs_of(&s.received[acc.index()])
                    .filter(|x| matches!(x, Msg::M1b { lr: l, bal: b, .. } if l == lr && b == bal))
                    .filter_map(|x| x.acc())
                    .collect();
                if !i.is_quorum(*lr, &q) {
                    return violated("MsgInv", format!("{m:?}: no 1b quorum in received[m.acc]"));
                }
            }
            Msg::M2b { lr, bal, val, .. } => {
                // MsgInv2b(m)
                let v = Vote {
                    lr: *lr,
                    bal: *bal,
                    val: val.clone(),
                };
                if !s.votes_sent[acc.index()].contains(&v) {
                    return violated("MsgInv", format!("{m:?}: not in votesSent[m.acc]"));
                }
                let q: AccSet = model
                    .msgs_of(&s.received[acc.index()])
                    .filter(|x| {
                        matches!(x, Msg::M2av { lr: l, bal: b, val: w, .. }
                            if l == lr && b == bal && w == val)
                    })
                    .filter_map(|x| x.acc())
                    .collect();
                if !i.is_quorum(*lr, &q) {
                    return violated("MsgInv", format!("{m:?}: no 2av quorum in received[m.acc]"));
                }
            }
            Msg::M1a { .. } | Msg::M1c { .. } => {}
        }
    }
    Ok(())
}

/// `2avSentSpec1 == \A A \in SafeAcceptor : \A p \in 2avSent[A] : Proposed(p.lr, A, p.bal, p.val)`.
pub fn two_av_sent_spec1<V: Val>(model: &Model<V>, s: &State<V>) -> R {
    for a in model.inst.safe_acceptors() {
        for p in s.two_av_sent[a.index()].iter() {
            if !proposed(model, s, p.lr, a, p.bal, &p.val) {
                return violated(
                    "2avSentSpec1",
                    format!("2avSent[{a}] holds {p:?}, no 2av sent"),
                );
            }
        }
    }
    Ok(())
}

/// `2avSentSpec2 == \A L, A \in SafeAcceptor, B, V : Proposed(L, A, B, V) =>
///   [lr |-> L, bal |-> B, val |-> V] \in 2avSent[A]` (over the 2av in `msgs`).
pub fn two_av_sent_spec2<V: Val>(model: &Model<V>, s: &State<V>) -> R {
    for m in model.msgs_of(&s.msgs) {
        if let Msg::M2av { lr, acc, bal, val } = m {
            if model.inst.safe.contains(*acc)
                && !s.two_av_sent[acc.index()].contains(&Vote {
                    lr: *lr,
                    bal: *bal,
                    val: val.clone(),
                })
            {
                return violated("2avSentSpec2", format!("{m:?} sent, not in 2avSent"));
            }
        }
    }
    Ok(())
}

/// `2avSentSpec3 == \A L1, L2, A \in SafeAcceptor, B, V1, V2 : <<L1, L2>> \in Ent
///   /\ [L1, B, V1] \in 2avSent[A] /\ [L2, B, V2] \in 2avSent[A] => V1 = V2`.
pub fn two_av_sent_spec3<V: Val>(model: &Model<V>, s: &State<V>) -> R {
    for a in model.inst.safe_acceptors() {
        let set = &s.two_av_sent[a.index()];
        for p1 in set.iter() {
            for p2 in set.iter() {
                if model.inst.ent(p1.lr, p2.lr) && p1.bal == p2.bal && p1.val != p2.val {
                    return violated(
                        "2avSentSpec3",
                        format!("2avSent[{a}] holds {p1:?} and {p2:?}"),
                    );
                }
            }
        }
    }
    Ok(())
}

/// `VotesSentSpec1 == \A A \in SafeAcceptor : \A vote \in votesSent[A] :
///   VotedFor(vote.lr, A, vote.bal, vote.val)`.
pub fn votes_sent_spec1<V: Val>(model: &Model<V>, s: &State<V>) -> R {
    for a in model.inst.safe_acceptors() {
        for p in s.votes_sent[a.index()].iter() {
            if !voted_for(model, s, p.lr, a, p.bal, Some(&p.val)) {
                return violated(
                    "VotesSentSpec1",
                    format!("votesSent[{a}] holds {p:?}, no 2b"),
                );
            }
        }
    }
    Ok(())
}

/// `VotesSentSpec2 == \A L, A \in SafeAcceptor, B, V : VotedFor(L, A, B, V) =>
///   [lr |-> L, bal |-> B, val |-> V] \in votesSent[A]` (over the 2b in `msgs`).
pub fn votes_sent_spec2<V: Val>(model: &Model<V>, s: &State<V>) -> R {
    for m in model.msgs_of(&s.msgs) {
        if let Msg::M2b { lr, acc, bal, val } = m {
            if model.inst.safe.contains(*acc)
                && !s.votes_sent[acc.index()].contains(&Vote {
                    lr: *lr,
                    bal: *bal,
                    val: val.clone(),
                })
            {
                return violated("VotesSentSpec2", format!("{m:?} sent, not in votesSent"));
            }
        }
    }
    Ok(())
}

/// `VotesSentSpec3 == \A A \in SafeAcceptor : \A B \in Ballot : \A vote \in votesSent[A] :
///   vote.bal < B => \E P \in votesSent[A] : MaxVote(A, B, P) /\ P.lr = vote.lr /\ vote.bal =< P.bal`.
pub fn votes_sent_spec3<V: Val>(model: &Model<V>, s: &State<V>, dom: &Domain<V>) -> R {
    for a in model.inst.safe_acceptors() {
        let set = &s.votes_sent[a.index()];
        for b in &dom.ballots {
            for vote in set.iter() {
                if vote.bal < *b
                    && !set.iter().any(|p| {
                        model.max_vote(s, a, *b, p) && p.lr == vote.lr && vote.bal <= p.bal
                    })
                {
                    return violated("VotesSentSpec3", format!("{a}, {b}, {vote:?}"));
                }
            }
        }
    }
    Ok(())
}

/// `VotesSentSpec4 == \A A \in SafeAcceptor : \A vote1, vote2 \in votesSent[A] :
///   <<vote1.lr, vote2.lr>> \in Ent /\ vote1.bal = vote2.bal => vote1.val = vote2.val`.
pub fn votes_sent_spec4<V: Val>(model: &Model<V>, s: &State<V>) -> R {
    for a in model.inst.safe_acceptors() {
        let set = &s.votes_sent[a.index()];
        for p1 in set.iter() {
            for p2 in set.iter() {
                if model.inst.ent(p1.lr, p2.lr) && p1.bal == p2.bal && p1.val != p2.val {
                    return violated(
                        "VotesSentSpec4",
                        format!("votesSent[{a}] holds {p1:?} and {p2:?}"),
                    );
                }
            }
        }
    }
    Ok(())
}

/// `ReceivedSpec == \A A \in SafeAcceptor : received[A] \subseteq msgs`.
pub fn received_spec<V: Val>(model: &Model<V>, s: &State<V>) -> R {
    for a in model.inst.safe_acceptors() {
        if let Some(m) = s.received[a.index()].iter_minus(&s.msgs).next() {
            return violated(
                "ReceivedSpec",
                format!(
                    "received[{a}] holds {:?}, not in msgs",
                    model.msg(crate::msg::MsgId(m))
                ),
            );
        }
    }
    Ok(())
}

/// `ReceivedByLearnerSpec ==
///   /\ receivedByLearner \in [Learner -> SUBSET {mm \in msgs : mm.type = "2b"}]
///   /\ \A L \in Learner : \A mm \in Message : mm \in receivedByLearner[L] => mm.lr = L`.
pub fn received_by_learner_spec<V: Val>(model: &Model<V>, s: &State<V>) -> R {
    for (l, set) in s.received_by_learner.iter().enumerate() {
        for id in set.iter() {
            let m = model.msg(crate::msg::MsgId(id));
            if !s.msgs.contains(id) || !matches!(m, Msg::M2b { .. }) || m.lr().index() != l {
                return violated(
                    "ReceivedByLearnerSpec",
                    format!("receivedByLearner[l#{l}] holds {m:?}"),
                );
            }
        }
    }
    Ok(())
}

/// `ConnectedSpec == \A A \in SafeAcceptor : \A L1, L2 \in Learner :
///   <<L1, L2>> \in Ent => <<L1, L2>> \in connected[A]`.
pub fn connected_spec<V: Val>(model: &Model<V>, s: &State<V>) -> R {
    for a in model.inst.safe_acceptors() {
        for l1 in model.inst.learners() {
            for l2 in model.inst.learners() {
                if model.inst.ent(l1, l2) && !s.connected(a, l1, l2) {
                    return violated(
                        "ConnectedSpec",
                        format!("<<{l1}, {l2}>> not in connected[{a}]"),
                    );
                }
            }
        }
    }
    Ok(())
}

/// `DecisionSpec == \A L, B, V : V \in decision[L, B] => ChosenIn(L, B, V)`.
pub fn decision_spec<V: Val>(model: &Model<V>, s: &State<V>) -> R {
    for (l, b, v) in s.decision.iter() {
        if !model.chosen_in(s, *l, *b, v) {
            return violated(
                "DecisionSpec",
                format!("{v:?} in decision[{l}, {b}], not ChosenIn"),
            );
        }
    }
    Ok(())
}

/// ```text
/// CannotDecide(Q, L, B, V) == \E A \in SafeAcceptor : /\ A \in Q
///   /\ \E L0 \in Learner : LeftBallot(L0, A, B) /\ ~VotedFor(L, A, B, V)
/// HeterogeneousSpec == \A L1, L2, B1, B2, V1, V2, A2 \in SafeAcceptor, Q \in ByzQuorum, M \in msgs :
///   /\ <<L1, L2>> \in Ent /\ [lr |-> L1, q |-> Q] \in TrustLive
///   /\ M.type = "2av" /\ M.lr = L2 /\ M.acc = A2 /\ M.bal = B2 /\ M.val = V2
///   /\ B1 < B2 /\ V1 # V2
///   => CannotDecide(Q, L1, B1, V1)
/// ```
/// For fixed `(L1, B1, V1)`, the `A` that witness `CannotDecide` form a set
/// `W`, and the conclusion for every quorum `Q` of `L1` is "every quorum of
/// `L1` meets `W`" ([`crate::instance::Instance::every_quorum_meets`]).
pub fn heterogeneous_spec<V: Val>(model: &Model<V>, s: &State<V>, dom: &Domain<V>) -> R {
    let i = &model.inst;
    for m in model.msgs_of(&s.msgs) {
        let Msg::M2av {
            lr: l2,
            acc: a2,
            bal: b2,
            val: v2,
        } = m
        else {
            continue;
        };
        if !i.safe.contains(*a2) {
            continue;
        }
        for l1 in i.learners().filter(|l1| i.ent(*l1, *l2)) {
            for b1 in dom.ballots.iter().filter(|b1| *b1 < b2) {
                for v1 in dom.values.iter().filter(|v1| v1.as_ref() != Some(v2)) {
                    let w: AccSet = i
                        .safe_acceptors()
                        .filter(|a| {
                            i.learners().any(|l0| left_ballot(model, s, l0, *a, *b1))
                                && !voted_for(model, s, l1, *a, *b1, v1.as_ref())
                        })
                        .collect();
                    if !i.every_quorum_meets(l1, &w) {
                        return violated(
                            "HeterogeneousSpec",
                            format!(
                                "{m:?}: a quorum of {l1} may still decide {v1:?} in {b1} (CannotDecide witnesses: {w:?})"
                            ),
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

/// `Safety == \A L1, L2, B1, B2, V1, V2 : <<L1, L2>> \in Ent /\
///   V1 \in decision[L1, B1] /\ V2 \in decision[L2, B2] => V1 = V2`.
pub fn safety<V: Val>(model: &Model<V>, s: &State<V>) -> R {
    for (l1, b1, v1) in s.decision.iter() {
        for (l2, b2, v2) in s.decision.iter() {
            if model.inst.ent(*l1, *l2) && v1 != v2 {
                return violated(
                    "Safety",
                    format!("{l1} decided {v1:?} in {b1}, {l2} decided {v2:?} in {b2}"),
                );
            }
        }
    }
    Ok(())
}
