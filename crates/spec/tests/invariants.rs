//! Teeth of the invariants: hand-made states that break one conjunct of
//! `FullSafetyInvariant` are caught, with the conjunct named.

use hpaxos_core::{AcceptorId, Ballot, LearnerId};
use hpaxos_spec::instances::McParams;
use hpaxos_spec::invariants::full_safety_invariant;
use hpaxos_spec::{Action, Msg, Vote};
use std::sync::Arc;

const L1: LearnerId = LearnerId(0);
const L2: LearnerId = LearnerId(1);
const A1: AcceptorId = AcceptorId(0);

/// `Safety` (and `DecisionSpec`): two entangled learners decided different
/// values, without any 2b (so not `ChosenIn` either).
#[test]
fn conflicting_decisions_violate_the_invariant() {
    let (model, _) = McParams::ci().build();
    let mut s = model.init();
    full_safety_invariant(&model, &s).expect("Init satisfies FullSafetyInvariant");
    let d = Arc::make_mut(&mut s.decision);
    d.insert((L1, Ballot(0), 0));
    d.insert((L2, Ballot(1), 1));
    let err = full_safety_invariant(&model, &s).expect_err("violated");
    assert_eq!(err.name, "DecisionSpec", "{err}");
    let err = hpaxos_spec::invariants::safety(&model, &s).expect_err("Safety violated");
    assert_eq!(err.name, "Safety", "{err}");
}

/// `VotesSentSpec2`: a safe acceptor's 2b in msgs that is not in its
/// votesSent (a forged vote in a safe acceptor's name); MsgInv is checked
/// first and also fails (no 2av quorum behind the 2b).
#[test]
fn forged_2b_of_a_safe_acceptor_violates_msg_inv() {
    let (mut model, _) = McParams::ci().build();
    let mut s = model.init();
    let m = model.table.intern(Msg::M2b {
        lr: L1,
        acc: A1,
        bal: Ballot(0),
        val: 0,
    });
    s.msgs.insert(m.0);
    let err = full_safety_invariant(&model, &s).expect_err("violated");
    assert_eq!(err.name, "MsgInv", "{err}");
    Arc::make_mut(&mut s.votes_sent)[0].insert(Vote {
        lr: L1,
        bal: Ballot(0),
        val: 0,
    });
    let err = full_safety_invariant(&model, &s).expect_err("still no 2av quorum");
    assert_eq!(err.name, "MsgInv", "{err}");
}

/// A spec run (Phase1a, Phase1b, Phase1c, Recv, Phase2av, Recv, Phase2b,
/// LearnerRecv, LearnerDecide) satisfies every conjunct after each step;
/// a 2av for a second value at the same ballot is refused by Phase2av's
/// guard.
#[test]
fn a_decision_run_keeps_the_invariant_and_guards_refuse_a_second_value() {
    let (mut model, _) = McParams::ci().build();
    let mut s = model.init();
    let b0 = Ballot(0);
    let steps = [
        Action::Phase1a { l: L1, b: b0 },
        Action::Phase1b {
            l: L1,
            b: b0,
            a: A1,
        },
        Action::Phase1c { l: L1, b: b0, v: 0 },
        Action::Phase1c { l: L1, b: b0, v: 1 },
    ];
    for a in &steps {
        model.step(&mut s, a).expect("enabled");
        full_safety_invariant(&model, &s).expect("invariant");
    }
    let one_b = model.one_b_of(&s, L1, b0, A1);
    let id = model.table.lookup(&one_b).expect("sent");
    model
        .step(&mut s, &Action::Recv { a: A1, m: id })
        .expect("Recv");
    model
        .step(
            &mut s,
            &Action::Phase2av {
                l: L1,
                b: b0,
                a: A1,
                v: 0,
            },
        )
        .expect("KnowsSafeAt1 with quorum {a1}");
    let err = model
        .step(
            &mut s,
            &Action::Phase2av {
                l: L1,
                b: b0,
                a: A1,
                v: 1,
            },
        )
        .expect_err("one value per ballot");
    assert!(err.conjunct.contains("2avSent"), "{err}");
    let two_av = model
        .table
        .lookup(&Msg::M2av {
            lr: L1,
            acc: A1,
            bal: b0,
            val: 0,
        })
        .expect("sent");
    model
        .step(&mut s, &Action::Recv { a: A1, m: two_av })
        .expect("Recv");
    model
        .step(
            &mut s,
            &Action::Phase2b {
                l: L1,
                b: b0,
                a: A1,
                v: 0,
            },
        )
        .expect("2av quorum {a1}");
    let two_b = model
        .table
        .lookup(&Msg::M2b {
            lr: L1,
            acc: A1,
            bal: b0,
            val: 0,
        })
        .expect("sent");
    model
        .step(&mut s, &Action::LearnerRecv { l: L1, m: two_b })
        .expect("LearnerRecv");
    model
        .step(&mut s, &Action::LearnerDecide { l: L1, b: b0, v: 0 })
        .expect("ChosenIn");
    full_safety_invariant(&model, &s).expect("invariant after the decision");
    assert!(s.decision.contains(&(L1, b0, 0)));
}
