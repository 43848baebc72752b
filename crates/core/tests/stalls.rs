//! The spec-level stalls of the liveness issue (item 4), reproduced
//! deterministically on the real acceptors and learners, and what avoids
//! them: "a multi-learner ballot cut short" (the scheduling below) and "a
//! vote raised over" (late Phase1b/Phase2av, `spec/HPaxosLate.tla`, at the
//! end of the file).
//!
//! Trust: the demo's (alice any 4 of 5, bob any 3 of 5, entangled while all
//! five are safe). Ballot 1 runs for alice and bob with value `v`, but
//! bob's 1a never arrives: alice's 2av quorum forms and four acceptors vote
//! `v` for alice at ballot 1, while bob has no proposal at ballot 1.
//! - Moving bob to a higher ballot (what a proposer that times out does)
//!   stalls bob for good: his 1b messages report alice's votes at 1
//!   (connected, since alice and bob are entangled), so `KnowsSafeAt1`
//!   fails for every quorum of bob, and `KnowsSafeAt2` with `c = 1` needs a
//!   quorum of *bob's* proposals at 1, which will never exist: no
//!   acceptor sends a 2av for bob at any later ballot.
//! - Retrying bob at ballot 1 itself (the pacemaker's pinned retry) is
//!   live: no acceptor's `maxBal` for bob is above 1, bob's 1b messages at
//!   1 report no vote below 1, `v` is already announced at 1 (the spec's
//!   `AnnouncedValue` ignores the 1c's learner), and `Phase2b`'s
//!   `\A L : maxBal[L, a] =< 1` holds: bob decides `v` at ballot 1.

use hpaxos_core::{
    graph, AccSet, Acceptor, AcceptorId, AcceptorOptions, Ballot, Effects, Family, Learner,
    LearnerGraph, LearnerId, LearnerSpec, Message, Msg1a, Msg1b, Msg1c, Msg2av, Msg2b, SafetyEdge,
    Slot, Trust, Value,
};
use std::collections::VecDeque;

const ALICE: LearnerId = LearnerId(0);
const BOB: LearnerId = LearnerId(1);
const S: Slot = Slot(0);

fn trust() -> Trust {
    let all: AccSet = (0..5).map(AcceptorId).collect();
    let g = LearnerGraph {
        acceptors: (1..=5).map(|i| format!("a{i}")).collect(),
        learners: vec![
            LearnerSpec {
                name: "alice".into(),
                quorums: Family::threshold(4, all, vec![]),
            },
            LearnerSpec {
                name: "bob".into(),
                quorums: Family::threshold(3, all, vec![]),
            },
        ],
        edges: vec![
            SafetyEdge {
                learners: (ALICE, ALICE),
                safe: Family::threshold(4, all, vec![]),
            },
            SafetyEdge {
                learners: (BOB, BOB),
                safe: Family::superset_of(all),
            },
            SafetyEdge {
                learners: (ALICE, BOB),
                safe: Family::superset_of(all),
            },
        ],
    };
    graph::validate(g).expect("valid demo graph")
}

/// Five safe acceptors and both learners on a reliable network.
struct Net {
    accs: Vec<Acceptor>,
    alice: Learner,
    bob: Learner,
    queue: VecDeque<Message>,
    /// 2av messages for bob sent by anyone, per ballot.
    bob_2av: Vec<Ballot>,
    /// 2av messages for alice sent by anyone, per ballot.
    alice_2av: Vec<Ballot>,
}

impl Net {
    fn new() -> Net {
        Net::with(AcceptorOptions::default())
    }

    fn with(opts: AcceptorOptions) -> Net {
        let t = trust();
        Net {
            accs: (0..5)
                .map(|i| Acceptor::new(AcceptorId(i), t.clone(), opts))
                .collect(),
            alice: Learner::new(ALICE, t.clone()),
            bob: Learner::new(BOB, t),
            queue: VecDeque::new(),
            bob_2av: Vec::new(),
            alice_2av: Vec::new(),
        }
    }

    /// Delivers `m` and everything it causes to every acceptor (and 2b to
    /// the learners) until the network is quiet.
    fn run(&mut self, m: Message) {
        self.run_to(m, &[0, 1, 2, 3, 4]);
    }

    /// Delivers `m` to the acceptors `first` only (a partition), and what
    /// it causes to everyone, until the network is quiet.
    fn run_to(&mut self, m: Message, first: &[u16]) {
        let mut fx = Effects::default();
        for a in &mut self.accs {
            if first.contains(&a.id().0) {
                a.handle(&m, &mut fx);
            }
        }
        self.queue.extend(fx.send);
        let mut steps = 0;
        while let Some(m) = self.queue.pop_front() {
            steps += 1;
            assert!(steps < 100_000, "the network does not quiesce");
            if let Message::M2av(x) = &m {
                if x.lr == BOB {
                    self.bob_2av.push(x.bal);
                } else {
                    self.alice_2av.push(x.bal);
                }
            }
            let mut fx = Effects::default();
            self.bob.handle(&m, &mut fx);
            self.alice.handle(&m, &mut fx);
            for a in &mut self.accs {
                if m.acc() != Some(a.id()) {
                    a.handle(&m, &mut fx);
                }
            }
            self.queue.extend(fx.send);
        }
    }

    /// Ballot 1 for alice only (bob's 1a lost), announcing `v`.
    fn cut_short_ballot(&mut self, v: &Value) {
        self.run(Message::M1c(Msg1c {
            slot: S,
            lr: ALICE,
            bal: Ballot(1),
            val: v.clone(),
        }));
        self.run(Message::M1a(Msg1a {
            slot: S,
            lr: ALICE,
            bal: Ballot(1),
        }));
    }
}

fn v() -> Value {
    Value::new(b"v".to_vec())
}

#[test]
fn a_ballot_cut_short_for_bob_stalls_him_at_every_higher_ballot() {
    let mut n = Net::new();
    n.cut_short_ballot(&v());
    // Alice's votes at 1 exist: her 2av quorum formed.
    assert!(n.accs.iter().all(|a| a
        .slot_durable(S)
        .is_some_and(|d| d.votes_sent.iter().any(|x| x.lr == ALICE))));
    // Bob at ballots 2..=6, each announcing `v` (the only value that could
    // be safe) and any other value: no acceptor ever sends a 2av for bob.
    for b in 2..=6 {
        for val in [v(), Value::new(b"w".to_vec())] {
            n.run(Message::M1c(Msg1c {
                slot: S,
                lr: BOB,
                bal: Ballot(b),
                val,
            }));
        }
        n.run(Message::M1a(Msg1a {
            slot: S,
            lr: BOB,
            bal: Ballot(b),
        }));
    }
    assert!(n.bob_2av.is_empty(), "bob got a 2av: {:?}", n.bob_2av);
    assert!(n.bob.decided(S).is_none());
}

#[test]
fn retrying_bob_at_the_voted_ballot_decides() {
    let mut n = Net::new();
    n.cut_short_ballot(&v());
    // The pinned retry: Phase1a(bob, 1); the 1c of `v` at 1 is in msgs.
    n.run(Message::M1a(Msg1a {
        slot: S,
        lr: BOB,
        bal: Ballot(1),
    }));
    assert_eq!(n.bob.decided(S), Some(&v()));
    assert!(n.bob_2av.iter().all(|b| *b == Ballot(1)));
}

fn m1a(lr: LearnerId, b: u64) -> Message {
    Message::M1a(Msg1a {
        slot: S,
        lr,
        bal: Ballot(b),
    })
}

fn m1c(lr: LearnerId, b: u64, val: Value) -> Message {
    Message::M1c(Msg1c {
        slot: S,
        lr,
        bal: Ballot(b),
        val,
    })
}

/// "A vote raised over" (`spec/MCStall.tla`, scaled up to the demo): during
/// a partition an uninformed proposer's 1a for alice at ballot 2 reaches a4
/// and a5 first; then ballot 1 runs for both learners with `v`, alice's 1a
/// reaching a1..a3 only. Bob's quorum a1..a3 votes `v` at 1 (a4 and a5
/// cannot: `maxBal[alice] = 2`), while alice's 1b at 1 come from three
/// acceptors only, so none of her proposals at 1 exists.
fn raise_over_a_vote(n: &mut Net) {
    n.run_to(m1a(ALICE, 2), &[3, 4]);
    n.run(m1c(BOB, 1, v()));
    n.run(m1a(BOB, 1));
    n.run_to(m1a(ALICE, 1), &[0, 1, 2]);
    assert_eq!(n.bob.decided(S), Some(&v()), "bob decides v at 1");
    assert!(n.alice_2av.is_empty());
}

/// In the seed, alice can never decide: every 1b of hers above 1 reports
/// bob's vote at 1 (`KnowsSafeAt1` fails), `KnowsSafeAt2` needs her
/// proposals at 1 from 4 acceptors, and a4, a5 can send neither a 1b nor a
/// 2av for her at 1 (`maxBal[alice] = 2`). Retried at 1 (the pacemaker's
/// pin) and at 3..=6 with either value, she gets no 2av at all.
#[test]
fn a_vote_raised_over_stalls_alice_for_good_in_the_seed() {
    let mut n = Net::new();
    raise_over_a_vote(&mut n);
    for b in [1, 3, 4, 5, 6] {
        for val in [v(), Value::new(b"w".to_vec())] {
            n.run(m1c(ALICE, b, val));
        }
        n.run(m1a(ALICE, b));
    }
    assert!(n.alice_2av.is_empty(), "alice got a 2av: {:?}", n.alice_2av);
    assert!(n.alice.decided(S).is_none());
}

/// With late steps (`AcceptorOptions::late`, HPaxosLate) the same retries
/// decide: the pinned 1a at 1 gets a4's and a5's late 1b there, which
/// completes alice's 1b quorum at 1 (no vote below 1: `KnowsSafeAt1`), so
/// all five send her 2av at 1 (a4, a5 late); at ballot 3 her 1b report bob's
/// vote and her own proposals at 1 (`KnowsSafeAt2` with `c = 1`), and she
/// decides `v`, bob's value.
#[test]
fn late_steps_let_alice_decide_over_a_raised_vote() {
    let mut n = Net::with(AcceptorOptions {
        late: true,
        ..AcceptorOptions::default()
    });
    raise_over_a_vote(&mut n);
    n.run(m1a(ALICE, 1));
    assert_eq!(
        n.alice_2av.iter().filter(|b| **b == Ballot(1)).count(),
        5,
        "every acceptor proposes for alice at 1: {:?}",
        n.alice_2av
    );
    assert!(
        n.alice.decided(S).is_none(),
        "a1..a3 alone cannot decide at 1"
    );
    n.run(m1c(ALICE, 3, v()));
    n.run(m1a(ALICE, 3));
    assert_eq!(n.alice.decided(S), Some(&v()));
}

/// Deferral (`Acceptor::defers_1b`) must not wait for proposals that can
/// no longer form. Bob's vote for `v` at 2 by a2, a3, a4 meets every quorum
/// of alice, so a1 defers alice's 1a above 2 until alice's proposals at 2
/// are in. But a4 and a5 already sent alice's 2av for `w` at 2 (a Byzantine
/// value a proposer announced there, as in `hpaxos sim crates/node/src/demo.toml
/// --no-net-faults --no-crashes --late --judge-all --seeds 1 --seed 3`):
/// Phase2av's "every 2av already sent at `b` to a connected learner is for
/// `v`" bars them from proposing `v` for alice at 2, and a1, a2, a3 are no
/// quorum of alice (4 of 5). Deferring then held alice back for ever; the
/// 1a must be answered at its ballot.
#[test]
fn no_deferral_for_proposals_that_cannot_form() {
    let m2b = |acc: u16| {
        Message::M2b(Msg2b {
            slot: S,
            lr: BOB,
            acc: AcceptorId(acc),
            bal: Ballot(2),
            val: v(),
        })
    };
    let m2av = |acc: u16, val: Value| {
        Message::M2av(Msg2av {
            slot: S,
            lr: ALICE,
            acc: AcceptorId(acc),
            bal: Ballot(2),
            val,
        })
    };
    let w = Value::new(b"w".to_vec());
    for blocked in [false, true] {
        let mut a1 = Acceptor::new(AcceptorId(0), trust(), AcceptorOptions::live());
        let mut fx = Effects::default();
        for acc in 1..=3 {
            a1.handle(&m2b(acc), &mut fx);
        }
        if blocked {
            for acc in 3..=4 {
                a1.handle(&m2av(acc, w.clone()), &mut fx);
            }
        }
        assert_eq!(
            a1.defers_1b(S, ALICE, Ballot(5)),
            !blocked,
            "blocked proposals: {blocked}"
        );
        let mut fx = Effects::default();
        a1.handle(&m1a(ALICE, 5), &mut fx);
        let answered_at_5 = fx
            .send
            .iter()
            .any(|m| matches!(m, Message::M1b(b) if b.bal == Ballot(5)));
        assert_eq!(answered_at_5, blocked, "blocked proposals: {blocked}");
    }
}

/// A late 2av (below `maxBal`) only where some learner voted (the liveness
/// restriction of `Acceptor::phase_2av`): the fault harness lost alice a
/// slot when late 2av at a ballot nobody had voted in completed a 2av
/// quorum for acceptors still there, after the round above had begun on
/// 1b that reported no proposals. a1 is at 3 for alice; ballot 1 has a 1b
/// quorum of alice and `v` announced: no 2av while no vote at 1 is known;
/// once a 2b at 1 (bob's, from a2) is in, the proposer's repeated 1c gets
/// the late 2av.
#[test]
fn a_late_2av_only_where_a_vote_is_known() {
    let opts = AcceptorOptions {
        late: true,
        ..AcceptorOptions::default()
    };
    let mut a1 = Acceptor::new(AcceptorId(0), trust(), opts);
    let step = |a: &mut Acceptor, m: Message| {
        let mut fx = Effects::default();
        a.handle(&m, &mut fx);
        fx.send
    };
    step(&mut a1, m1a(ALICE, 1));
    step(&mut a1, m1a(ALICE, 3));
    for acc in 1..=3 {
        step(
            &mut a1,
            Message::M1b(Msg1b {
                slot: S,
                lr: ALICE,
                acc: AcceptorId(acc),
                bal: Ballot(1),
                votes: vec![],
                proposals: vec![],
            }),
        );
    }
    let late_2av = |sent: &[Message]| {
        sent.iter()
            .any(|m| matches!(m, Message::M2av(x) if x.lr == ALICE && x.bal == Ballot(1)))
    };
    let sent = step(&mut a1, m1c(ALICE, 1, v()));
    assert!(
        !late_2av(&sent),
        "a late 2av at 1 with no vote known: {sent:?}"
    );
    step(
        &mut a1,
        Message::M2b(Msg2b {
            slot: S,
            lr: BOB,
            acc: AcceptorId(1),
            bal: Ballot(1),
            val: v(),
        }),
    );
    let sent = step(&mut a1, m1c(ALICE, 1, v()));
    assert!(
        late_2av(&sent),
        "no late 2av at 1 after a vote there: {sent:?}"
    );
}
