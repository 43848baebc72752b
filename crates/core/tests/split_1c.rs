//! A proposer that announces two values at one ballot (issue 8 item 6),
//! with a fake acceptor in the learner's quorums: the stall it leaves under
//! the seed's `KnowsSafeAt`, and what removes it
//! (`AcceptorOptions::signed_proposals`: a signed 2av counts as its
//! sender's proposal, `OneBBucket::add_2av`, and acceptors relay the 2av
//! behind the votes their 1b report).
//!
//! Trust: the demo's (alice any 4 of 5); a1 is fake, a2..a5 are safe.
//! Ballot 2 for alice: the 1c of `x` reaches a2, a3, a5 and the 1c of `y`
//! reaches a4, so the safe 2av split 3 to 1; the fake's 2av for `x`
//! reaches a4 alone, which then holds a quorum {a1, a2, a3, a5} of 2av for
//! `x` and votes `x` at 2. At ballot 3 the fake's 1b denies its proposal
//! and reports a vote at 0. Then, in the seed:
//! - `KnowsSafeAt1` at 3 needs four 1b without a vote below 3: only a2,
//!   a3, a5 have none (a4 voted at 2, the fake claims one at 0);
//! - `KnowsSafeAt2` with `c = 2`, `v = x` needs four 1b proposing `x` at
//!   2: only a2, a3, a5 report it (a4 proposed `y`, the fake denies);
//! - no other `c`, `v` has any proposal quorum.
//!
//! So no value is ever safe for alice above 2 and the slot is dead, with
//! four safe acceptors up. With signed proposals, a4's 1b at 3 relays the
//! 2av it voted on, the fake's among them, and `x` is safe at 3.

use hpaxos_core::{
    graph, AccSet, Acceptor, AcceptorId, AcceptorOptions, Ballot, Effects, Family, Learner,
    LearnerGraph, LearnerId, LearnerSpec, Message, Msg1a, Msg1b, Msg1c, Msg2av, SafetyEdge, Slot,
    Trust, Value, Vote,
};
use std::collections::VecDeque;

const ALICE: LearnerId = LearnerId(0);
const BOB: LearnerId = LearnerId(1);
const S: Slot = Slot(0);
const FAKE: AcceptorId = AcceptorId(0);

/// The demo's trust (the same as `stalls.rs`; the crate's `testing`
/// fixtures are private to its unit tests).
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

/// The four safe acceptors (a2..a5, ids 1..4) and alice on a reliable
/// network; the fake's messages are injected by the test.
struct Net {
    accs: Vec<Acceptor>,
    alice: Learner,
    relayed: usize,
    alice_2av_at_3: usize,
}

impl Net {
    fn new(signed_proposals: bool) -> Net {
        let t = trust();
        let opts = AcceptorOptions {
            late: true,
            signed_proposals,
            ..AcceptorOptions::default()
        };
        Net {
            accs: (1..5)
                .map(|i| Acceptor::new(AcceptorId(i), t.clone(), opts))
                .collect(),
            alice: Learner::new(ALICE, t),
            relayed: 0,
            alice_2av_at_3: 0,
        }
    }

    /// Delivers `m` to the safe acceptors `to` (ids), then everything it
    /// causes (sends and relays) to every safe acceptor and alice.
    fn deliver(&mut self, m: Message, to: &[u16]) {
        let mut q = VecDeque::new();
        let mut fx = Effects::default();
        for a in self.accs.iter_mut().filter(|a| to.contains(&a.id().0)) {
            a.handle(&m, &mut fx);
        }
        self.relayed += fx.relay.len();
        q.extend(fx.send.drain(..).chain(fx.relay.drain(..)));
        let mut steps = 0;
        while let Some(m) = q.pop_front() {
            steps += 1;
            assert!(steps < 100_000, "the network does not quiesce");
            if let Message::M2av(x) = &m {
                if x.bal == Ballot(3) {
                    self.alice_2av_at_3 += 1;
                }
            }
            let mut fx = Effects::default();
            self.alice.handle(&m, &mut fx);
            for a in &mut self.accs {
                if m.acc() != Some(a.id()) {
                    a.handle(&m, &mut fx);
                }
            }
            self.relayed += fx.relay.len();
            q.extend(fx.send.drain(..).chain(fx.relay.drain(..)));
        }
    }

    /// The split ballot 2, a4's vote for `x` there, and ballot 3 begun
    /// with the fake's lying 1b; then the 1c of `x` at 3.
    fn scenario(&mut self) {
        let all = [1, 2, 3, 4];
        let (x, y) = (val("x"), val("y"));
        self.deliver(m1a(2), &all);
        self.deliver(fake_1b(2, vec![]), &all);
        self.deliver(m1c(2, &x), &[1, 2, 4]);
        self.deliver(m1c(2, &y), &[3]);
        let fake_2av = Message::M2av(Msg2av {
            slot: S,
            lr: ALICE,
            acc: FAKE,
            bal: Ballot(2),
            val: x.clone(),
        });
        self.deliver(fake_2av, &[3]);
        assert!(
            self.accs[2].slot_durable(S).is_some_and(|d| d
                .votes_sent
                .iter()
                .any(|v| v.bal == Ballot(2) && v.val == x)),
            "a4 votes x at 2 on the fake's 2av"
        );
        self.deliver(m1a(3), &all);
        let lie = vec![Vote {
            lr: ALICE,
            bal: Ballot(0),
            val: val("z"),
        }];
        self.deliver(fake_1b(3, lie), &all);
        self.deliver(m1c(3, &x), &all);
    }
}

fn val(s: &str) -> Value {
    Value::new(s.as_bytes().to_vec())
}

fn m1a(b: u64) -> Message {
    Message::M1a(Msg1a {
        slot: S,
        lr: ALICE,
        bal: Ballot(b),
    })
}

fn m1c(b: u64, v: &Value) -> Message {
    Message::M1c(Msg1c {
        slot: S,
        lr: ALICE,
        bal: Ballot(b),
        val: v.clone(),
    })
}

/// The fake's 1b at `b`: no proposals (it denies its 2av), `votes`.
fn fake_1b(b: u64, votes: Vec<Vote>) -> Message {
    Message::M1b(Msg1b {
        slot: S,
        lr: ALICE,
        acc: FAKE,
        bal: Ballot(b),
        votes,
        proposals: vec![],
    })
}

#[test]
fn a_split_1c_with_a_denying_fake_stalls_the_learner_in_the_seed() {
    let mut n = Net::new(false);
    n.scenario();
    assert_eq!(n.alice_2av_at_3, 0, "no value may be safe for alice at 3");
    assert_eq!(n.relayed, 0);
    assert!(n.alice.decided(S).is_none());
}

#[test]
fn signed_proposals_relayed_behind_a_vote_make_the_voted_value_safe() {
    let mut n = Net::new(true);
    n.scenario();
    assert!(n.relayed > 0, "a4's 1b at 3 relays the 2av behind its vote");
    assert_eq!(n.alice_2av_at_3, 4, "every safe acceptor proposes x at 3");
    assert_eq!(n.alice.decided(S), Some(&val("x")));
}
