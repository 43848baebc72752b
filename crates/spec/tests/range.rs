//! Range Phase 1 (issue 9, item 1) against the refinement checker: a range
//! 1a / 1b is the set of per-slot spec messages it stands for, every
//! recorded step expands into per-slot `Phase1a` / `Phase1b` / `Recv` steps
//! whose guards and `FullSafetyInvariant` are checked, and a steady-state
//! slot is then 1c -> 2av -> 2b. Byzantine range 1b (hiding a vote, or
//! contradicting the sender's per-slot 1b) are harmless or evidence.

use hpaxos_core::*;
use hpaxos_spec::{Refinement, RefinementError};
use std::collections::VecDeque;

fn set(ids: &[u16]) -> AccSet {
    ids.iter().map(|&i| AcceptorId(i)).collect()
}

fn v(s: &str) -> Value {
    Value::new(s.as_bytes().to_vec())
}

const ALICE: LearnerId = LearnerId(0);

/// 4 acceptors, one learner with quorums 3 of 4 (tolerates 1 Byzantine).
fn classic() -> Trust {
    let q = Family::threshold(3, set(&[0, 1, 2, 3]), vec![]);
    let g = LearnerGraph {
        acceptors: (1..=4).map(|i| format!("a{i}")).collect(),
        learners: vec![LearnerSpec {
            name: "alice".into(),
            quorums: q.clone(),
        }],
        edges: vec![SafetyEdge {
            learners: (ALICE, ALICE),
            safe: q,
        }],
    };
    graph::validate(g).expect("classic config is valid")
}

/// A FIFO network of the safe acceptors, the learner and a range proposer;
/// every step's actions are replayed on the refinement checker, and every
/// message any role sent is kept.
struct Net {
    acceptors: Vec<Acceptor>,
    learner: Learner,
    leader: RangeProposer,
    queue: VecDeque<Message>,
    refinement: Refinement,
    sent: Vec<Message>,
    evidence: Vec<Evidence>,
    rejected: Vec<Rejection>,
    /// Every durable record, per safe acceptor (index into `acceptors`).
    wal: Vec<Vec<Durable>>,
}

impl Net {
    fn new(trust: &Trust, fake: AccSet, opts: AcceptorOptions) -> Net {
        let acceptors: Vec<Acceptor> = trust
            .acceptors()
            .filter(|a| !fake.contains(*a))
            .map(|a| Acceptor::new(a, trust.clone(), opts))
            .collect();
        Net {
            wal: vec![Vec::new(); acceptors.len()],
            acceptors,
            learner: Learner::new(ALICE, trust.clone()),
            leader: RangeProposer::new(trust.clone()),
            queue: VecDeque::new(),
            refinement: Refinement::new(trust, fake).with_late(opts.late),
            sent: Vec::new(),
            evidence: Vec::new(),
            rejected: Vec::new(),
        }
    }

    fn step(&mut self, fx: &mut Effects, who: Option<usize>) {
        self.refinement
            .apply(&fx.actions)
            .unwrap_or_else(|e| panic!("refinement failed: {e}"));
        self.refinement
            .check_sent(&fx.send)
            .unwrap_or_else(|e| panic!("refinement failed: {e}"));
        if let Some(i) = who {
            self.wal[i].append(&mut fx.persist);
        }
        self.evidence.append(&mut fx.evidence);
        self.rejected.append(&mut fx.rejected);
        self.sent.extend(fx.send.iter().cloned());
        self.queue.extend(fx.send.drain(..));
        fx.clear();
    }

    /// A fake acceptor's message (or anyone's 1a/1c) enters `msgs`.
    fn fake(&mut self, m: Message) {
        self.refinement
            .fake_send(&m)
            .unwrap_or_else(|e| panic!("fake send: {e}"));
        self.queue.push_back(m);
    }

    fn run(&mut self) {
        while let Some(m) = self.queue.pop_front() {
            for i in 0..self.acceptors.len() {
                if m.acc() != Some(self.acceptors[i].id()) {
                    let mut fx = Effects::recording();
                    self.acceptors[i].handle(&m, &mut fx);
                    self.step(&mut fx, Some(i));
                }
            }
            let mut fx = Effects::recording();
            self.learner.handle(&m, &mut fx);
            fx.rejected.clear(); // the learner takes 2b only
            self.step(&mut fx, None);
            self.leader.handle(&m);
        }
        for a in &self.acceptors {
            self.refinement
                .check_acceptor(a)
                .unwrap_or_else(|e| panic!("acceptor state: {e}"));
        }
        self.refinement
            .check_learner(&self.learner)
            .unwrap_or_else(|e| panic!("learner state: {e}"));
        self.refinement
            .check_invariants()
            .unwrap_or_else(|e| panic!("FullSafetyInvariant: {e}"));
    }

    fn lead(&mut self, from: Slot, b: Ballot) {
        let mut fx = Effects::recording();
        self.leader.start(from, &[ALICE], b, &mut fx);
        self.step(&mut fx, None);
    }

    fn propose(&mut self, slot: Slot, val: &str) -> bool {
        let mut fx = Effects::recording();
        let ok = self.leader.phase_1c(slot, v(val), &mut fx);
        self.step(&mut fx, None);
        ok
    }

    /// A per-slot 1a / 1c from anyone (`Phase1a` / `Phase1c`).
    fn per_slot(&mut self, m: Message) {
        self.fake(m);
    }

    fn count(&self, f: impl Fn(&Message) -> bool) -> usize {
        self.sent.iter().filter(|m| f(m)).count()
    }
}

fn one_a(slot: u64, b: u64) -> Message {
    Message::M1a(Msg1a {
        slot: Slot(slot),
        lr: ALICE,
        bal: Ballot(b),
    })
}

fn one_c(slot: u64, b: u64, val: &str) -> Message {
    Message::M1c(Msg1c {
        slot: Slot(slot),
        lr: ALICE,
        bal: Ballot(b),
        val: v(val),
    })
}

/// Issue 9 item 1: Phase 1 once per leadership. One range 1a, one range 1b
/// per acceptor, then each of three slots (none of which existed when the
/// range was sent) decides with 1c -> 2av -> 2b only: no per-slot 1a or 1b
/// is sent, and every step refines the per-slot spec (`Phase1b`'s guard
/// replayed on each slot instance created after the promise).
#[test]
fn one_range_phase1_then_each_slot_decides_in_three_sends() {
    let trust = classic();
    let mut net = Net::new(&trust, AccSet::EMPTY, AcceptorOptions::default());
    net.lead(Slot(0), Ballot(1));
    net.run();
    assert_eq!(net.count(|m| matches!(m, Message::M1bRange(_))), 4);
    for s in 0..3 {
        assert!(net.leader.free(Slot(s)), "slot {s} free after the range 1b");
        assert!(net.propose(Slot(s), &format!("cmd{s}")));
        net.run();
        assert_eq!(
            net.learner.decided(Slot(s)),
            Some(&v(&format!("cmd{s}"))),
            "slot {s}"
        );
    }
    assert_eq!(
        net.count(|m| matches!(m, Message::M1a(_) | Message::M1b(_))),
        0
    );
    // The spec saw Phase1b(alice, 1, a) in each slot, one per acceptor.
    for s in 0..3 {
        let st = net.refinement.state(Slot(s)).expect("slot instance");
        for a in trust.acceptors() {
            assert_eq!(st.max_bal(ALICE, a), Ballot(1), "maxBal in slot {s}");
        }
    }
}

/// `Phase1b`'s `votes`: a range 1b reports the votes of a slot that has
/// any, so the leader does not treat it as free, and the acceptors'
/// `KnowsSafeAt` refuses another value there at the new ballot (only the
/// voted one is safe, via `KnowsSafeAt2`).
#[test]
fn range_1b_reports_votes_and_the_voted_slot_is_not_free() {
    let trust = classic();
    let mut net = Net::new(&trust, AccSet::EMPTY, AcceptorOptions::default());
    // Slot 1 decides x at ballot 1 by per-slot Phase 1.
    net.per_slot(one_a(1, 1));
    net.run();
    net.per_slot(one_c(1, 1, "x"));
    net.run();
    assert_eq!(net.learner.decided(Slot(1)), Some(&v("x")));
    net.lead(Slot(0), Ballot(2));
    net.run();
    let reports: Vec<&SlotReport> = net
        .sent
        .iter()
        .filter_map(|m| match m {
            Message::M1bRange(r) => Some(r),
            _ => None,
        })
        .flat_map(|r| r.reports.iter())
        .collect();
    assert_eq!(reports.len(), 4, "each acceptor reports slot 1");
    assert!(reports
        .iter()
        .all(|r| r.slot == Slot(1) && r.votes.iter().any(|x| x.val == v("x"))));
    assert!(net.leader.free(Slot(0)));
    assert!(!net.leader.free(Slot(1)));
    assert!(
        !net.propose(Slot(1), "y"),
        "not free: no 1c from the leader"
    );
    // Anyone may still send a 1c for y at ballot 2: no acceptor proposes it.
    net.per_slot(one_c(1, 2, "y"));
    net.run();
    let y_2av = |m: &Message| matches!(m, Message::M2av(p) if p.slot == Slot(1) && p.val == v("y"));
    assert_eq!(net.count(y_2av), 0);
    // x is safe at ballot 2 (KnowsSafeAt2 with c = 1).
    net.per_slot(one_c(1, 2, "x"));
    net.run();
    let x_2av =
        |m: &Message| matches!(m, Message::M2av(p) if p.slot == Slot(1) && p.bal == Ballot(2));
    assert_eq!(net.count(x_2av), 4);
}

/// The durable promise is `maxBal` for every slot from its start, including
/// slots the acceptor first touches after it and after a restart: a
/// per-slot 1a below it gets no 1b at its ballot (`maxBal[l, a] =< b`), and
/// the replayed state equals the spec's (`check_acceptor`).
#[test]
fn promise_is_max_bal_of_later_slots_and_survives_restart() {
    let trust = classic();
    let mut net = Net::new(&trust, AccSet::EMPTY, AcceptorOptions::default());
    net.lead(Slot(5), Ballot(3));
    net.run();
    assert!(net.wal[0].iter().any(|d| matches!(
        d,
        Durable::Promise {
            from: Slot(5),
            lr: ALICE,
            bal: Ballot(3)
        }
    )));
    // Restart acceptor a1 from its records.
    let mut d = AcceptorDurable::default();
    for r in &net.wal[0] {
        d.apply(r);
    }
    net.acceptors[0] =
        Acceptor::restore(AcceptorId(0), trust.clone(), AcceptorOptions::default(), d);
    assert_eq!(net.acceptors[0].max_bal(Slot(9), ALICE), Ballot(3));
    assert_eq!(net.acceptors[0].max_bal(Slot(4), ALICE), Ballot(0));
    net.per_slot(one_a(9, 1));
    net.run();
    let low_1b = |m: &Message| matches!(m, Message::M1b(b) if b.bal == Ballot(1));
    assert_eq!(net.count(low_1b), 0, "no Phase1b below the promise");
    // Below the range's first slot nothing was promised.
    net.per_slot(one_a(4, 1));
    net.run();
    let slot4 =
        |m: &Message| matches!(m, Message::M1b(b) if b.slot == Slot(4) && b.bal == Ballot(1));
    assert_eq!(net.count(slot4), 4);
}

/// A Byzantine acceptor's range 1b that hides its vote (`FakeSend` of each
/// element, in its own name) is harmless: a decided value stays the only
/// one any safe acceptor proposes at the next ballot.
#[test]
fn byzantine_range_1b_hiding_a_vote_is_harmless() {
    let trust = classic();
    let fake = set(&[3]);
    let mut net = Net::new(&trust, fake, AcceptorOptions::default());
    net.per_slot(one_a(0, 1));
    net.run();
    // The fake a4 joins the vote: 2av and 2b for x.
    for m in [
        Message::M2av(Msg2av {
            slot: Slot(0),
            lr: ALICE,
            acc: AcceptorId(3),
            bal: Ballot(1),
            val: v("x"),
        }),
        Message::M1c(Msg1c {
            slot: Slot(0),
            lr: ALICE,
            bal: Ballot(1),
            val: v("x"),
        }),
    ] {
        if m.acc().is_some() {
            net.fake(m);
        } else {
            net.per_slot(m);
        }
    }
    net.run();
    assert_eq!(net.learner.decided(Slot(0)), Some(&v("x")));
    net.lead(Slot(0), Ballot(2));
    // a4 claims it has nothing anywhere (it voted x in slot 0).
    net.fake(Message::M1bRange(Msg1bRange {
        from: Slot(0),
        lr: ALICE,
        acc: AcceptorId(3),
        bal: Ballot(2),
        reports: Vec::new(),
    }));
    net.run();
    assert!(!net.leader.free(Slot(0)), "the safe reports still show x");
    net.per_slot(one_c(0, 2, "y"));
    net.run();
    let y_2av = |m: &Message| matches!(m, Message::M2av(p) if p.val == v("y"));
    assert_eq!(net.count(y_2av), 0, "no safe acceptor proposes y");
    net.per_slot(one_c(0, 2, "x"));
    net.run();
    let x_2b = |m: &Message| matches!(m, Message::M2b(p) if p.bal == Ballot(2) && p.val == v("x"));
    assert_eq!(net.count(x_2b), 3);
}

/// Two 1b of one acceptor for one `(slot, l, b)` with different votes
/// prove it faulty (`OneBBucket::conflicting`): a range 1b that hides the
/// vote its per-slot 1b reported is such a pair, caught at every safe
/// acceptor that holds both.
#[test]
fn byzantine_range_1b_contradicting_its_1b_is_evidence() {
    let trust = classic();
    let fake = set(&[3]);
    let mut net = Net::new(&trust, fake, AcceptorOptions::default());
    net.per_slot(one_a(0, 2));
    net.lead(Slot(0), Ballot(2));
    net.run();
    let vote = Vote {
        lr: ALICE,
        bal: Ballot(1),
        val: v("x"),
    };
    net.fake(Message::M1b(Msg1b {
        slot: Slot(0),
        lr: ALICE,
        acc: AcceptorId(3),
        bal: Ballot(2),
        votes: vec![vote],
        proposals: Vec::new(),
    }));
    net.fake(Message::M1bRange(Msg1bRange {
        from: Slot(0),
        lr: ALICE,
        acc: AcceptorId(3),
        bal: Ballot(2),
        reports: Vec::new(),
    }));
    net.run();
    let against_a4: Vec<&Evidence> = net
        .evidence
        .iter()
        .filter(|e| e.acc == AcceptorId(3))
        .collect();
    assert_eq!(against_a4.len(), 3, "each safe acceptor holds the proof");
    assert!(against_a4
        .iter()
        .all(|e| matches!(e.second, Message::M1b(ref b) if b.votes.is_empty())));
}

/// A range 1b whose reports are out of order names no set of spec messages:
/// rejected before any state changes.
#[test]
fn malformed_range_1b_is_rejected() {
    let trust = classic();
    let mut a = Acceptor::new(AcceptorId(0), trust, AcceptorOptions::default());
    let report = |s: u64| SlotReport {
        slot: Slot(s),
        votes: vec![Vote {
            lr: ALICE,
            bal: Ballot(0),
            val: v("x"),
        }],
        proposals: Vec::new(),
    };
    for reports in [
        vec![report(3), report(2)],
        vec![report(2), report(2)],
        vec![report(0)],
    ] {
        let m = Message::M1bRange(Msg1bRange {
            from: Slot(1),
            lr: ALICE,
            acc: AcceptorId(1),
            bal: Ballot(1),
            reports,
        });
        let mut fx = Effects::recording();
        a.handle(&m, &mut fx);
        assert_eq!(fx.rejected, vec![Rejection::MalformedRange]);
        assert!(fx.actions.is_empty() && fx.send.is_empty() && fx.persist.is_empty());
        assert_eq!(a.ranges_from(AcceptorId(1)).count(), 0);
    }
}

/// The checker's teeth: a range `Phase1b` without a range 1a is not a spec
/// step in an existing slot (`InitializedBallot`), and a range 1b that
/// reports a vote no `Phase1b` produced is not in `msgs`.
#[test]
fn refinement_rejects_range_steps_the_spec_does_not_allow() {
    let trust = classic();
    let mut r = Refinement::new(&trust, AccSet::EMPTY);
    r.fake_send(&one_a(0, 1)).expect("Phase1a has no guard");
    r.fake_send(&one_a(1, 2)).expect("Phase1a has no guard");
    let err = r
        .apply(&[SpecAction::Phase1bRange {
            from: Slot(0),
            lr: ALICE,
            bal: Ballot(1),
            acc: AcceptorId(0),
        }])
        .expect_err("slot 1 has no 1a at ballot 1");
    assert!(
        matches!(&err, RefinementError::Guard { slot: Slot(1), .. }),
        "{err}"
    );
    assert!(err.to_string().contains("InitializedBallot"), "{err}");
    // A safe acceptor's range 1b claiming a vote in slot 0.
    let mut r = Refinement::new(&trust, AccSet::EMPTY);
    r.apply(&[
        SpecAction::Phase1aRange {
            from: Slot(0),
            lr: ALICE,
            bal: Ballot(1),
        },
        SpecAction::Phase1bRange {
            from: Slot(0),
            lr: ALICE,
            bal: Ballot(1),
            acc: AcceptorId(0),
        },
    ])
    .expect("a range Phase1b after a range 1a");
    let lie = Message::M1bRange(Msg1bRange {
        from: Slot(0),
        lr: ALICE,
        acc: AcceptorId(0),
        bal: Ballot(1),
        reports: vec![SlotReport {
            slot: Slot(4),
            votes: vec![Vote {
                lr: ALICE,
                bal: Ballot(0),
                val: v("x"),
            }],
            proposals: Vec::new(),
        }],
    });
    let err = r.check_sent(&[lie]).expect_err("no such 1b was sent");
    assert!(
        matches!(err, RefinementError::NotInMsgs { slot: Slot(4), .. }),
        "{err}"
    );
}

/// HPaxosLate: with late steps a range 1a below a promise still gets the
/// range 1b at its ballot (`Phase1bLate` in each slot, `maxBal` kept), and
/// the acceptor answers with its promise's range 1b too, so the leader
/// knows what to go above.
#[test]
fn late_range_1b_keeps_the_promise_and_echoes_it() {
    let trust = classic();
    let mut net = Net::new(&trust, AccSet::EMPTY, AcceptorOptions::live());
    net.lead(Slot(0), Ballot(5));
    net.run();
    net.lead(Slot(2), Ballot(3));
    net.run();
    let at = |b: u64| move |m: &Message| matches!(m, Message::M1bRange(r) if r.bal == Ballot(b));
    assert_eq!(net.count(at(3)), 4, "late range 1b at ballot 3");
    assert_eq!(net.count(at(5)), 8, "the promise's range 1b, sent again");
    for a in &net.acceptors {
        assert_eq!(a.max_bal(Slot(7), ALICE), Ballot(5));
    }
}
