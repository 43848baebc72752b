//! The spec-level stall "a multi-learner ballot cut short" (liveness issue,
//! item 4), reproduced deterministically on the real acceptors and
//! learner, and the scheduling that avoids it.
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
    LearnerGraph, LearnerId, LearnerSpec, Message, Msg1a, Msg1c, SafetyEdge, Slot, Trust, Value,
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

/// Five safe acceptors and bob's learner on a reliable network.
struct Net {
    accs: Vec<Acceptor>,
    bob: Learner,
    queue: VecDeque<Message>,
    /// 2av messages for bob sent by anyone, per ballot.
    bob_2av: Vec<Ballot>,
}

impl Net {
    fn new() -> Net {
        let t = trust();
        Net {
            accs: (0..5)
                .map(|i| Acceptor::new(AcceptorId(i), t.clone(), AcceptorOptions::default()))
                .collect(),
            bob: Learner::new(BOB, t),
            queue: VecDeque::new(),
            bob_2av: Vec::new(),
        }
    }

    /// Delivers `m` and everything it causes to every acceptor (and 2b to
    /// bob's learner) until the network is quiet.
    fn run(&mut self, m: Message) {
        self.queue.push_back(m);
        let mut steps = 0;
        while let Some(m) = self.queue.pop_front() {
            steps += 1;
            assert!(steps < 100_000, "the network does not quiesce");
            if let Message::M2av(x) = &m {
                if x.lr == BOB {
                    self.bob_2av.push(x.bal);
                }
            }
            let mut fx = Effects::default();
            self.bob.handle(&m, &mut fx);
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
