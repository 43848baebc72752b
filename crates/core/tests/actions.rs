//! Unit tests of every acceptor and learner action, enabled and disabled,
//! each named after the spec conjunct it exercises. Messages from other
//! acceptors are crafted by hand and fed to acceptor `a0` (or a learner).

use hpaxos_core::*;

const ALICE: LearnerId = LearnerId(0);
const BOB: LearnerId = LearnerId(1);
const S: Slot = Slot(7);

fn set(ids: &[u16]) -> AccSet {
    ids.iter().map(|&i| AcceptorId(i)).collect()
}

fn three_of_four() -> Family {
    Family::threshold(3, set(&[0, 1, 2, 3]), vec![])
}

/// a0..a3; alice and bob both with 3-of-4 quorums; each agrees with itself
/// while 3 of 4 are safe, and alice agrees with bob only while all 4 are.
fn two_learners() -> Trust {
    let g = LearnerGraph {
        acceptors: (0..4).map(|i| format!("a{i}")).collect(),
        learners: vec![
            LearnerSpec {
                name: "alice".into(),
                quorums: three_of_four(),
            },
            LearnerSpec {
                name: "bob".into(),
                quorums: three_of_four(),
            },
        ],
        edges: vec![
            SafetyEdge {
                learners: (ALICE, ALICE),
                safe: three_of_four(),
            },
            SafetyEdge {
                learners: (BOB, BOB),
                safe: three_of_four(),
            },
            SafetyEdge {
                learners: (ALICE, BOB),
                safe: Family::superset_of(set(&[0, 1, 2, 3])),
            },
        ],
    };
    graph::validate(g).expect("the two-learner test graph is valid")
}

fn v(s: &str) -> Value {
    Value::new(s.as_bytes().to_vec())
}

fn a0() -> Acceptor {
    Acceptor::new(AcceptorId(0), two_learners(), AcceptorOptions::default())
}

fn feed(a: &mut Acceptor, m: Message) -> Effects {
    let mut fx = Effects::recording();
    a.handle(&m, &mut fx);
    fx
}

fn m1a(lr: LearnerId, bal: u64) -> Message {
    Message::M1a(Msg1a {
        slot: S,
        lr,
        bal: Ballot(bal),
    })
}

fn m1b(acc: u16, lr: LearnerId, bal: u64, votes: Vec<Vote>, proposals: Vec<Vote>) -> Message {
    Message::M1b(Msg1b {
        slot: S,
        lr,
        acc: AcceptorId(acc),
        bal: Ballot(bal),
        votes,
        proposals,
    })
}

fn m1c(lr: LearnerId, bal: u64, val: &str) -> Message {
    Message::M1c(Msg1c {
        slot: S,
        lr,
        bal: Ballot(bal),
        val: v(val),
    })
}

fn m2av(acc: u16, lr: LearnerId, bal: u64, val: &str) -> Message {
    Message::M2av(Msg2av {
        slot: S,
        lr,
        acc: AcceptorId(acc),
        bal: Ballot(bal),
        val: v(val),
    })
}

fn m2b(acc: u16, lr: LearnerId, bal: u64, val: &str) -> Message {
    Message::M2b(Msg2b {
        slot: S,
        lr,
        acc: AcceptorId(acc),
        bal: Ballot(bal),
        val: v(val),
    })
}

fn vote(lr: LearnerId, bal: u64, val: &str) -> Vote {
    Vote {
        lr,
        bal: Ballot(bal),
        val: v(val),
    }
}

fn sent_1b(fx: &Effects) -> Vec<Msg1b> {
    fx.send
        .iter()
        .filter_map(|m| {
            if let Message::M1b(b) = m {
                Some(b.clone())
            } else {
                None
            }
        })
        .collect()
}

fn sent_2av(fx: &Effects) -> Vec<Msg2av> {
    fx.send
        .iter()
        .filter_map(|m| {
            if let Message::M2av(b) = m {
                Some(b.clone())
            } else {
                None
            }
        })
        .collect()
}

fn sent_2b(fx: &Effects) -> Vec<Msg2b> {
    fx.send
        .iter()
        .filter_map(|m| {
            if let Message::M2b(b) = m {
                Some(b.clone())
            } else {
                None
            }
        })
        .collect()
}

/// Drives `a` through ballot `bal` of `lr` up to its 2av for `val`: 1a, 1b
/// from a1 and a2 with the given votes/proposals, then the 1c.
fn prepare(
    a: &mut Acceptor,
    lr: LearnerId,
    bal: u64,
    others: &[(Vec<Vote>, Vec<Vote>)],
    val: &str,
) -> Effects {
    let mut all = Effects::recording();
    let mut msgs = vec![m1a(lr, bal)];
    for (i, (votes, props)) in others.iter().enumerate() {
        msgs.push(m1b(i as u16 + 1, lr, bal, votes.clone(), props.clone()));
    }
    msgs.push(m1c(lr, bal, val));
    for m in msgs {
        let fx = feed(a, m);
        all.send.extend(fx.send);
        all.persist.extend(fx.persist);
        all.actions.extend(fx.actions);
        all.evidence.extend(fx.evidence);
    }
    all
}

// ---------------------------------------------------------------- Phase1b

#[test]
fn phase1b_max_bal_leq_b_allows_ballot_zero() {
    // maxBal[l, a] =< b (the rendering shows <, which would block ballot 0).
    let mut a = a0();
    let fx = feed(&mut a, m1a(ALICE, 0));
    assert_eq!(sent_1b(&fx).len(), 1);
    assert!(fx.actions.contains(&SpecAction::Phase1b {
        slot: S,
        lr: ALICE,
        bal: Ballot(0),
        acc: AcceptorId(0)
    }));
}

#[test]
fn phase1b_sets_max_bal_and_persists_it() {
    // maxBal' = [maxBal EXCEPT ![l, a] = b]
    let mut a = a0();
    let fx = feed(&mut a, m1a(ALICE, 4));
    assert_eq!(
        fx.persist,
        vec![Durable::MaxBal {
            slot: S,
            lr: ALICE,
            bal: Ballot(4)
        }]
    );
    assert_eq!(
        a.slot_durable(S).and_then(|d| d.max_bal.get(&ALICE)),
        Some(&Ballot(4))
    );
    // maxBal is per learner: bob's stays 0.
    assert_eq!(a.slot_durable(S).and_then(|d| d.max_bal.get(&BOB)), None);
}

#[test]
fn phase1b_disabled_when_max_bal_above_b() {
    let mut a = a0();
    feed(&mut a, m1a(ALICE, 5));
    let fx = feed(&mut a, m1a(ALICE, 3));
    // No 1b at 3 and no state change; the stale proposer gets the 1b of
    // ballot 5 again (Phase1b(alice, 5, a) retaken: a message already sent).
    assert!(fx.persist.is_empty());
    let again = sent_1b(&fx);
    assert_eq!(again.len(), 1);
    assert!(again.iter().all(|m| m.bal == Ballot(5)));
    // Other learners' ballots are independent (maxBal[l, a]).
    let fx = feed(&mut a, m1a(BOB, 3));
    assert_eq!(sent_1b(&fx).len(), 1);
}

#[test]
fn phase1b_requires_initialized_ballot() {
    // InitializedBallot(l, b): no 1a, no 1b.
    let mut a = a0();
    let mut fx = Effects::recording();
    a.phase_1b(S, ALICE, Ballot(2), &mut fx);
    assert!(fx.send.is_empty());
}

#[test]
fn phase1b_repeated_1a_resends_identical_1b() {
    let mut a = a0();
    let first = sent_1b(&feed(&mut a, m1a(ALICE, 2)));
    let fx = feed(&mut a, m1a(ALICE, 2));
    assert_eq!(sent_1b(&fx), first);
    assert!(
        fx.persist.is_empty(),
        "maxBal unchanged: nothing to persist"
    );
}

#[test]
fn phase1b_votes_are_max_votes_below_b_per_learner() {
    // votes |-> {p \in votesSent[a] : MaxVote(a, b, p)}
    let mut a = a0();
    // Vote for alice at 1 (2av quorum a0, a1, a2), then at 2 (x is safe at 2
    // by KnowsSafeAt2 with c = 1).
    prepare(&mut a, ALICE, 1, &[(vec![], vec![]), (vec![], vec![])], "x");
    for acc in 1..=2 {
        feed(&mut a, m2av(acc, ALICE, 1, "x"));
    }
    let p = vec![vote(ALICE, 1, "x")];
    prepare(
        &mut a,
        ALICE,
        2,
        &[(p.clone(), p.clone()), (p.clone(), p.clone())],
        "x",
    );
    for acc in 1..=2 {
        feed(&mut a, m2av(acc, ALICE, 2, "x"));
    }
    let d = a.slot_durable(S).expect("slot state");
    assert!(
        d.votes_sent.contains(&vote(ALICE, 1, "x")) && d.votes_sent.contains(&vote(ALICE, 2, "x"))
    );
    let b = sent_1b(&feed(&mut a, m1a(ALICE, 5)));
    assert_eq!(
        b[0].votes,
        vec![vote(ALICE, 2, "x")],
        "only the highest vote below b"
    );
    // Ballot 2 itself: votes strictly below b.
    let b = sent_1b(&feed(&mut a, m1a(BOB, 2)));
    assert_eq!(b[0].votes, vec![vote(ALICE, 1, "x")]);
}

#[test]
fn phase1b_proposals_are_own_2av_below_b_for_l() {
    // proposals |-> {p \in 2avSent[a] : p.bal < b /\ p.lr = l}
    let mut a = a0();
    prepare(&mut a, ALICE, 1, &[(vec![], vec![]), (vec![], vec![])], "x");
    assert!(a
        .slot_durable(S)
        .is_some_and(|d| d.two_av_sent.contains(&vote(ALICE, 1, "x"))));
    let b = sent_1b(&feed(&mut a, m1a(ALICE, 3)));
    assert_eq!(b[0].proposals, vec![vote(ALICE, 1, "x")]);
    let b = sent_1b(&feed(&mut a, m1a(BOB, 3)));
    assert!(b[0].proposals.is_empty(), "alice's proposals are not bob's");
}

// ---------------------------------------------------------------- Phase2av

#[test]
fn phase2av_enabled_by_knows_safe_at1_on_a_quorum_of_empty_1b() {
    let mut a = a0();
    let fx = prepare(&mut a, ALICE, 1, &[(vec![], vec![]), (vec![], vec![])], "x");
    let avs = sent_2av(&fx);
    assert_eq!(avs.len(), 1);
    assert_eq!(avs[0].val, v("x"));
    assert!(fx.persist.contains(&Durable::Proposed {
        slot: S,
        vote: vote(ALICE, 1, "x")
    }));
}

#[test]
fn phase2av_requires_a_quorum_of_1b() {
    // KnowsSafeAt: \E BQ with [lr |-> l, q |-> BQ] \in TrustLive; own 1b + one other is 2 of 4.
    let mut a = a0();
    let fx = prepare(&mut a, ALICE, 1, &[(vec![], vec![])], "x");
    assert!(sent_2av(&fx).is_empty());
}

#[test]
fn phase2av_requires_announced_value() {
    // AnnouncedValue(l, b, v): without a 1c nothing is proposed.
    let mut a = a0();
    let mut fx = feed(&mut a, m1a(ALICE, 1));
    for acc in 1..=2 {
        fx = feed(&mut a, m1b(acc, ALICE, 1, vec![], vec![]));
    }
    assert!(sent_2av(&fx).is_empty());
}

#[test]
fn phase2av_announced_value_ignores_the_1c_learner() {
    // AnnouncedValue(lr, bal, val) does not check the 1c's learner.
    let mut a = a0();
    feed(&mut a, m1a(ALICE, 1));
    for acc in 1..=2 {
        feed(&mut a, m1b(acc, ALICE, 1, vec![], vec![]));
    }
    let fx = feed(&mut a, m1c(BOB, 1, "x"));
    let avs = sent_2av(&fx);
    assert_eq!(avs.len(), 1);
    assert_eq!(avs[0].lr, ALICE);
}

#[test]
fn phase2av_requires_initialized_ballot() {
    // InitializedBallot(l, b): 1b and 1c without a 1a received.
    let mut a = a0();
    feed(&mut a, m1b(1, ALICE, 1, vec![], vec![]));
    feed(&mut a, m1b(2, ALICE, 1, vec![], vec![]));
    feed(&mut a, m1b(3, ALICE, 1, vec![], vec![]));
    let fx = feed(&mut a, m1c(ALICE, 1, "x"));
    assert!(sent_2av(&fx).is_empty());
}

#[test]
fn phase2av_disabled_when_max_bal_above_b() {
    let mut a = a0();
    feed(&mut a, m1a(ALICE, 9));
    let fx = prepare(&mut a, ALICE, 1, &[(vec![], vec![]), (vec![], vec![])], "x");
    assert!(sent_2av(&fx).is_empty());
}

#[test]
fn phase2av_one_value_per_ballot_for_connected_learners() {
    // \A P \in {p \in 2avSent[a] : p.bal = b /\ <<p.lr, l>> \in connected[a]} : P.val = v
    let mut a = a0();
    prepare(&mut a, ALICE, 1, &[(vec![], vec![]), (vec![], vec![])], "x");
    let fx = feed(&mut a, m1c(ALICE, 1, "y"));
    assert!(
        sent_2av(&fx).is_empty(),
        "same learner, same ballot, other value"
    );
    let fx = prepare(&mut a, BOB, 1, &[(vec![], vec![]), (vec![], vec![])], "y");
    let avs = sent_2av(&fx);
    assert!(
        avs.iter().all(|m| m.val == v("x")),
        "bob is connected to alice: only x at ballot 1, got {avs:?}"
    );
}

#[test]
fn knows_safe_at1_disabled_by_a_connected_vote_below_b() {
    // \A p \in {pp \in m.votes : <<pp.lr, l>> \in connected[ac]} : b =< p.bal
    let mut a = a0();
    let others = [(vec![vote(BOB, 0, "y")], vec![]), (vec![], vec![])];
    let fx = prepare(&mut a, ALICE, 1, &others, "x");
    // a0, a2 are clean but a1 reported a vote: a0, a2 alone are not a quorum... a3 missing.
    assert!(sent_2av(&fx).is_empty());
    let fx = feed(&mut a, m1b(3, ALICE, 1, vec![], vec![]));
    assert_eq!(sent_2av(&fx).len(), 1, "a0, a2, a3 form a clean quorum");
}

#[test]
fn knows_safe_at2_enabled_by_proposal_quorum_at_c() {
    // c < b, votes =< c with votes at c for v, and a quorum proposed v at c.
    let mut a = a0();
    // a0 itself proposed x for alice at 1 (so its own 1b at 3 carries the proposal).
    prepare(&mut a, ALICE, 1, &[(vec![], vec![]), (vec![], vec![])], "x");
    let p = vec![vote(ALICE, 1, "x")];
    let others = [(vec![vote(ALICE, 1, "x")], p.clone()), (vec![], p.clone())];
    let fx = prepare(&mut a, ALICE, 3, &others, "y");
    assert!(
        sent_2av(&fx).is_empty(),
        "y is not safe: a quorum proposed x at 1"
    );
    let fx = feed(&mut a, m1c(ALICE, 3, "x"));
    assert_eq!(
        sent_2av(&fx).len(),
        1,
        "x is safe at 3 by KnowsSafeAt2 with c = 1"
    );
}

#[test]
fn knows_safe_at2_disabled_when_a_vote_at_c_is_for_another_value() {
    // (p.bal = c) => (p.val = v)
    let mut a = a0();
    prepare(&mut a, ALICE, 1, &[(vec![], vec![]), (vec![], vec![])], "x");
    let p = vec![vote(ALICE, 1, "x")];
    // a1 and a2 both report a vote for y at 1: only a0 supports x at c = 1.
    let others = [
        (vec![vote(ALICE, 1, "y")], p.clone()),
        (vec![vote(ALICE, 1, "y")], p.clone()),
    ];
    let fx = prepare(&mut a, ALICE, 3, &others, "x");
    assert!(sent_2av(&fx).is_empty());
}

// ---------------------------------------------------------------- Phase2b

#[test]
fn phase2b_enabled_on_a_quorum_of_2av() {
    let mut a = a0();
    prepare(&mut a, ALICE, 1, &[(vec![], vec![]), (vec![], vec![])], "x");
    let fx = feed(&mut a, m2av(1, ALICE, 1, "x"));
    assert!(sent_2b(&fx).is_empty(), "2 of 4 is not a quorum");
    let fx = feed(&mut a, m2av(2, ALICE, 1, "x"));
    assert_eq!(sent_2b(&fx).len(), 1);
    assert!(fx.persist.contains(&Durable::Voted {
        slot: S,
        vote: vote(ALICE, 1, "x")
    }));
}

#[test]
fn phase2b_counts_2av_per_value() {
    // m.val = v for every member of the quorum.
    let mut a = a0();
    feed(&mut a, m2av(1, ALICE, 1, "x"));
    feed(&mut a, m2av(2, ALICE, 1, "y"));
    let fx = feed(&mut a, m2av(3, ALICE, 1, "x"));
    assert!(sent_2b(&fx).is_empty());
}

#[test]
fn phase2b_requires_max_bal_leq_b_for_every_learner() {
    // \A L \in Learner : maxBal[L, a] =< b
    let mut a = a0();
    feed(&mut a, m1a(BOB, 4));
    for acc in 1..=3 {
        feed(&mut a, m2av(acc, ALICE, 2, "x"));
    }
    assert!(a.slot_durable(S).is_some_and(|d| d.votes_sent.is_empty()));
}

// ---------------------------------------------------------------- Evidence and Disconnect

#[test]
fn conflicting_1b_is_evidence_and_disconnects_only_non_entangled_pairs() {
    let mut a = a0();
    feed(&mut a, m1b(1, ALICE, 1, vec![], vec![]));
    let fx = feed(&mut a, m1b(1, ALICE, 1, vec![vote(ALICE, 0, "x")], vec![]));
    assert_eq!(fx.evidence.len(), 1);
    assert_eq!(fx.evidence[0].acc, AcceptorId(1));
    // With a1 faulty, {a0, a2, a3} is not "all 4": alice-bob is not entangled,
    // but each learner still is with itself.
    let dis: Vec<_> = fx
        .actions
        .iter()
        .filter_map(|x| {
            if let SpecAction::Disconnect { pairs, .. } = x {
                Some(pairs.clone())
            } else {
                None
            }
        })
        .collect();
    assert_eq!(dis, vec![vec![(ALICE, BOB), (BOB, ALICE)]]);
    assert!(a.connected().contains(ALICE, ALICE) && a.connected().contains(BOB, BOB));
    assert!(!a.connected().contains(ALICE, BOB));
}

/// Alice has 2av'd x at ballot 1; bob's ballot-1 1b messages make only y
/// safe for bob. Returns the 2av messages a0 sends for bob at ballot 1.
fn bob_after_alice(evidence_first: bool) -> Vec<Msg2av> {
    let mut a = a0();
    prepare(&mut a, ALICE, 1, &[(vec![], vec![]), (vec![], vec![])], "x");
    if evidence_first {
        // Two different 1b from a3 for one (slot, l, b): a3 is faulty.
        feed(&mut a, m1b(3, BOB, 9, vec![], vec![]));
        feed(&mut a, m1b(3, BOB, 9, vec![vote(BOB, 0, "z")], vec![]));
    }
    let y0 = vec![vote(BOB, 0, "y")];
    feed(&mut a, m1a(BOB, 1));
    for acc in 1..=3 {
        let fx = feed(&mut a, m1b(acc, BOB, 1, y0.clone(), y0.clone()));
        assert!(
            sent_2av(&fx).iter().all(|m| m.lr != BOB),
            "x is not safe for bob"
        );
    }
    let fx = feed(&mut a, m1c(BOB, 1, "y"));
    sent_2av(&fx).into_iter().filter(|m| m.lr == BOB).collect()
}

#[test]
fn phase2av_connected_alice_blocks_another_value_for_bob_at_the_same_ballot() {
    // <<p.lr, l>> \in connected[a]: alice's x at ballot 1 binds bob while connected.
    assert!(bob_after_alice(false).is_empty());
}

#[test]
fn phase2av_after_disconnect_bob_may_get_another_value() {
    // Once evidence proves alice and bob are not entangled, the pair is
    // disconnected and alice's 2av no longer constrains bob's.
    let avs = bob_after_alice(true);
    assert_eq!(avs.len(), 1);
    assert_eq!(avs[0].val, v("y"));
}

#[test]
fn disconnect_never_removes_entangled_pairs_without_evidence() {
    let mut a = a0();
    let mut fx = Effects::recording();
    a.disconnect(&mut fx);
    assert!(fx.actions.is_empty());
    assert_eq!(a.connected().pairs().count(), 4);
}

// ---------------------------------------------------------------- Learner

#[test]
fn chosen_in_requires_a_quorum_of_2b_at_one_ballot() {
    let trust = two_learners();
    let mut l = Learner::new(ALICE, trust);
    let mut fx = Effects::recording();
    l.handle(&m2b(0, ALICE, 1, "x"), &mut fx);
    l.handle(&m2b(1, ALICE, 1, "x"), &mut fx);
    l.handle(&m2b(2, ALICE, 2, "x"), &mut fx);
    assert!(
        fx.decisions.is_empty(),
        "2b at different ballots do not combine"
    );
    l.handle(&m2b(2, ALICE, 1, "x"), &mut fx);
    assert_eq!(fx.decisions.len(), 1);
    assert_eq!(l.decided(S), Some(&v("x")));
    assert_eq!(l.certificate(S).map(|c| c.len()), Some(3));
}

#[test]
fn learner_ignores_2b_for_other_learners_and_duplicates() {
    // LearnerRecv(l): mm.type = "2b" /\ mm.lr = l
    let mut l = Learner::new(ALICE, two_learners());
    let mut fx = Effects::recording();
    for acc in 0..3 {
        l.handle(&m2b(acc, BOB, 1, "x"), &mut fx);
        l.handle(&m2b(0, ALICE, 1, "x"), &mut fx);
    }
    assert!(fx.decisions.is_empty());
}

#[test]
fn learner_restores_its_decisions() {
    let trust = two_learners();
    let mut l = Learner::new(ALICE, trust.clone());
    let mut fx = Effects::recording();
    for acc in 0..3 {
        l.handle(&m2b(acc, ALICE, 1, "x"), &mut fx);
    }
    let restored = Learner::restore(ALICE, trust, &fx.persist);
    assert_eq!(restored.decided(S), Some(&v("x")));
    // The decision is durable, the 2b behind it are not: no certificate
    // until a quorum of 2b is held again.
    assert_eq!(restored.certificate(S), None);
}

#[test]
fn acceptor_restores_exactly_its_durable_state() {
    let trust = two_learners();
    let mut a = Acceptor::new(AcceptorId(0), trust.clone(), AcceptorOptions::default());
    let fx = prepare(&mut a, ALICE, 1, &[(vec![], vec![]), (vec![], vec![])], "x");
    let mut d = AcceptorDurable::default();
    for r in &fx.persist {
        d.apply(r);
    }
    let b = Acceptor::restore(AcceptorId(0), trust, AcceptorOptions::default(), d);
    assert_eq!(a.slot_durable(S), b.slot_durable(S));
}

#[test]
fn unknown_ids_and_compacted_slots_are_rejected() {
    let mut a = a0();
    let fx = feed(&mut a, m1a(LearnerId(9), 1));
    assert_eq!(fx.rejected, vec![Rejection::UnknownLearner(9)]);
    let fx = feed(&mut a, m2av(42, ALICE, 1, "x"));
    assert_eq!(fx.rejected, vec![Rejection::UnknownAcceptor(42)]);
    let mut fx = Effects::default();
    a.compact(Slot(100), &mut fx);
    let fx = feed(&mut a, m1a(ALICE, 1));
    assert_eq!(fx.rejected, vec![Rejection::CompactedSlot(S.0)]);
}

#[test]
fn a_byzantine_sender_keeps_at_most_two_1b_per_bucket() {
    // Memory bound: the second 1b is the proof; further ones are dropped
    // (sound: KnowsSafeAt is monotone in the set of 1b messages).
    let mut a = a0();
    for i in 0..50u64 {
        feed(
            &mut a,
            m1b(1, ALICE, 1, vec![vote(ALICE, 0, &format!("v{i}"))], vec![]),
        );
    }
    let mut bucket = hpaxos_core::ksa_index::OneBBucket::new(ALICE, Ballot(1));
    let conn = Connected::all(2);
    let accepted = (0..50)
        .filter(|i| {
            let mut m = Msg1b {
                slot: S,
                lr: ALICE,
                acc: AcceptorId(1),
                bal: Ballot(1),
                votes: vec![vote(ALICE, 0, &format!("v{i}"))],
                proposals: vec![],
            };
            m.canonicalize();
            bucket.insert(m, &conn)
        })
        .count();
    assert_eq!(accepted, hpaxos_core::ksa_index::MAX_PER_SENDER);
    assert_eq!(bucket.msgs().len(), 2);
}

#[test]
fn a_safety_edge_naming_an_unknown_acceptor_is_a_shape_error() {
    let g = LearnerGraph {
        acceptors: vec!["a0".into()],
        learners: vec![LearnerSpec {
            name: "alice".into(),
            quorums: Family::acceptor(AcceptorId(0)),
        }],
        edges: vec![SafetyEdge {
            learners: (ALICE, ALICE),
            safe: Family::acceptor(AcceptorId(200)),
        }],
    };
    assert_eq!(
        graph::validate(g).map(|_| ()),
        Err(graph::GraphError::Shape(
            hpaxos_core::trust::ShapeError::UnknownSafeAcceptor
        ))
    );
}

fn live_a0() -> Acceptor {
    Acceptor::new(AcceptorId(0), two_learners(), AcceptorOptions::live())
}

fn took_1b_at(fx: &Effects, bal: u64) -> bool {
    sent_1b(fx).iter().any(|b| b.bal == Ballot(bal))
}

/// `Phase1b(alice, 5, a0)` is enabled (`maxBal = 0 =< 5`,
/// `InitializedBallot`), but bob's votes at 2 by a1 and a2 meet every alice
/// quorum (3 of 4) and alice has no 2av at 2: the live acceptor defers it
/// (a step not taken), the model checker's acceptor takes it, and the live
/// one takes it as soon as alice's 2av quorum at 2 arrives.
#[test]
fn phase1b_is_deferred_above_a_vote_the_learner_cannot_step_over() {
    let votes = [m2b(1, BOB, 2, "x"), m2b(2, BOB, 2, "x")];
    let mut plain = a0();
    for m in &votes {
        feed(&mut plain, m.clone());
    }
    assert!(took_1b_at(&feed(&mut plain, m1a(ALICE, 5)), 5));

    let mut a = live_a0();
    for m in &votes {
        feed(&mut a, m.clone());
    }
    assert!(a.defers_1b(S, ALICE, Ballot(5)));
    // Bob needs his own proposals at 2 as well (`KnowsSafeAt2(bob, 5, _)`);
    // his 2av quorum there, once seen, frees him.
    assert!(a.defers_1b(S, BOB, Ballot(5)));
    assert!(!a.defers_1b(S, ALICE, Ballot(2)), "nothing below 2");
    let fx = feed(&mut a, m1a(ALICE, 5));
    assert!(!took_1b_at(&fx, 5), "{:?}", fx.send);
    assert_eq!(a.slot_durable(S).and_then(|d| d.max_bal.get(&ALICE)), None);
    for acc in 1..=3 {
        feed(&mut a, m2av(acc, BOB, 2, "x"));
    }
    assert!(!a.defers_1b(S, BOB, Ballot(5)));
    assert!(
        a.defers_1b(S, ALICE, Ballot(5)),
        "bob's 2av are not alice's"
    );
    feed(&mut a, m2av(1, ALICE, 2, "x"));
    feed(&mut a, m2av(2, ALICE, 2, "x"));
    let fx = feed(&mut a, m2av(3, ALICE, 2, "x"));
    assert!(
        took_1b_at(&fx, 5),
        "taken once alice proposed at 2: {:?}",
        fx.send
    );
    assert_eq!(
        a.slot_durable(S).and_then(|d| d.max_bal.get(&ALICE)),
        Some(&Ballot(5))
    );
}

/// A lone vote seen from another acceptor (maybe a Byzantine one's made-up
/// 2b) defers nothing; this acceptor's own lone vote defers only the first
/// few 1a of the learner, so no acceptor holds a learner back for ever.
#[test]
fn a_lone_vote_defers_little_or_nothing() {
    let mut a = live_a0();
    feed(&mut a, m2b(3, BOB, 2, "x"));
    assert!(!a.defers_1b(S, ALICE, Ballot(5)));
    assert!(took_1b_at(&feed(&mut a, m1a(ALICE, 5)), 5));

    let mut a = live_a0();
    for acc in 1..=3 {
        feed(&mut a, m2av(acc, BOB, 2, "x"));
    }
    let voted = a
        .slot_durable(S)
        .is_some_and(|d| d.votes_sent.contains(&vote(BOB, 2, "x")));
    assert!(voted, "Phase2b(bob, 2, a0, x) on a 2av quorum");
    let mut deferred = 0;
    for _ in 0..10 {
        if took_1b_at(&feed(&mut a, m1a(ALICE, 5)), 5) {
            break;
        }
        deferred += 1;
    }
    assert!((1..10).contains(&deferred), "deferred {deferred} times");
}
