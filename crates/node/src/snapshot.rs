//! What a compacted write-ahead log starts with, and how the driver builds
//! it from its live state.
//!
//! Data flow: the driver garbage-collects the slots below a mark
//! (`Acceptor::compact`, `Learner::compact`, `Replica::compact`), then
//! [`build`] turns what remains into a [`NodeSnapshot`] plus the `Durable`
//! records that rebuild the acceptor and learners, and `Wal::rewrite`
//! writes them as the new log. On restart `run` restores each replica from
//! its [`ReplicaSnapshot`] and replays the records as usual
//! (`AcceptorDurable::apply`, `Learner::restore`).

use crate::kv::{Replica, ReplicaSnapshot};
use hpaxos_core::{Acceptor, Durable, Learner, LearnerId, Slot, Trust};
use serde::{Deserialize, Serialize};

/// The node-level part of a snapshot: the compaction mark and the applied
/// state of every local replica.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSnapshot {
    pub compacted_below: Slot,
    pub replicas: Vec<(LearnerId, ReplicaSnapshot)>,
}

/// The snapshot and the records that, replayed after it, rebuild exactly
/// the acceptor's durable state (`maxBal`, `votesSent`, `2avSent` of the
/// remaining slots, the disconnected pairs, the mark) and every local
/// learner's decisions at or above the mark.
pub fn build(
    trust: &Trust,
    below: Slot,
    acceptor: Option<&Acceptor>,
    learners: &[(&Learner, &Replica)],
) -> (NodeSnapshot, Vec<Durable>) {
    let mut recs = vec![Durable::Compacted { below }];
    if let Some(a) = acceptor {
        let ls: Vec<LearnerId> = trust.learners().collect();
        for (i, l1) in ls.iter().enumerate() {
            for l2 in &ls[i..] {
                if !a.connected().contains(*l1, *l2) {
                    recs.push(Durable::Disconnected { pair: (*l1, *l2) });
                }
            }
        }
        // Range promises first: they cover slots above the mark that have
        // no record of their own yet (`hpaxos_core::acceptor::range`).
        for ((lr, from), bal) in a.promises() {
            recs.push(Durable::Promise {
                from: *from,
                lr: *lr,
                bal: *bal,
            });
        }
        for slot in a.slots() {
            let Some(d) = a.slot_durable(slot) else {
                continue;
            };
            for (lr, bal) in &d.max_bal {
                recs.push(Durable::MaxBal {
                    slot,
                    lr: *lr,
                    bal: *bal,
                });
            }
            for vote in &d.votes_sent {
                recs.push(Durable::Voted {
                    slot,
                    vote: vote.clone(),
                });
            }
            for vote in &d.two_av_sent {
                recs.push(Durable::Proposed {
                    slot,
                    vote: vote.clone(),
                });
            }
        }
    }
    let mut replicas = Vec::new();
    for (l, r) in learners {
        for slot in l.slots() {
            for (bal, val) in l.decisions(slot) {
                recs.push(Durable::Decided {
                    slot,
                    lr: l.id(),
                    bal,
                    val: val.clone(),
                });
            }
        }
        replicas.push((l.id(), r.snapshot()));
    }
    (
        NodeSnapshot {
            compacted_below: below,
            replicas,
        },
        recs,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use hpaxos_core::{
        AcceptorDurable, AcceptorId, AcceptorOptions, Ballot, Effects, Message, Msg1a, Msg1aRange,
        Msg1b, Msg1c, Msg2av, Msg2b, Value,
    };

    const CFG: &str = r#"
[acceptors]
a1 = {}
a2 = {}
a3 = {}
a4 = {}
[learners.alice]
quorums = "3 of {a1, a2, a3, a4}"
[learners.bob]
quorums = "3 of {a1, a2, a3, a4}"
[[safety]]
learners = ["alice", "bob"]
safe = "3 of {a1, a2, a3, a4}"
"#;

    /// Drives acceptor a1 through Phase1b, Phase2av and Phase2b in slots
    /// 0..10 for both learners, and learner alice to decisions.
    fn run() -> (Trust, Acceptor, Learner, Replica, Vec<Durable>) {
        let trust = hpaxos_config::parse_str(CFG).unwrap().validate().unwrap();
        let me = AcceptorId(0);
        let mut a = Acceptor::new(me, trust.clone(), AcceptorOptions::default());
        let mut l = Learner::new(LearnerId(0), trust.clone());
        let mut r = Replica::new();
        let mut log = Vec::new();
        let mut fx = Effects::default();
        for s in 0..10u64 {
            let slot = Slot(s);
            let val = Value::new(format!("v{s}").into_bytes());
            for lr in [LearnerId(0), LearnerId(1)] {
                let bal = Ballot(1);
                let mut msgs = vec![Message::M1a(Msg1a { slot, lr, bal })];
                for o in 1..3u16 {
                    msgs.push(Message::M1b(Msg1b {
                        slot,
                        lr,
                        acc: AcceptorId(o),
                        bal,
                        votes: vec![],
                        proposals: vec![],
                    }));
                }
                msgs.push(Message::M1c(Msg1c {
                    slot,
                    lr,
                    bal,
                    val: val.clone(),
                }));
                for o in 1..3u16 {
                    msgs.push(Message::M2av(Msg2av {
                        slot,
                        lr,
                        acc: AcceptorId(o),
                        bal,
                        val: val.clone(),
                    }));
                }
                for m in msgs {
                    a.handle(&m, &mut fx);
                }
            }
            for o in 0..3u16 {
                let m = Message::M2b(Msg2b {
                    slot,
                    lr: LearnerId(0),
                    acc: AcceptorId(o),
                    bal: Ballot(1),
                    val: val.clone(),
                });
                l.handle(&m, &mut fx);
            }
            for d in fx.decisions.drain(..) {
                r.decide(d.slot, d.bal, d.val);
            }
            log.append(&mut fx.persist);
            fx.clear();
        }
        (trust, a, l, r, log)
    }

    /// The snapshot's records rebuild exactly the durable state that the
    /// full log, compacted at the same mark, rebuilds: `maxBal`,
    /// `votesSent`, `2avSent` of the remaining slots, the mark, and the
    /// learner's decisions at or above it.
    #[test]
    fn snapshot_records_rebuild_the_compacted_durable_state() {
        let (trust, mut a, mut l, mut r, mut log) = run();
        assert!(log.iter().any(|d| matches!(d, Durable::Voted { .. })));
        assert!(log.iter().any(|d| matches!(d, Durable::Proposed { .. })));
        assert_eq!(r.next_slot(), Slot(10));
        let below = Slot(6);
        let mut fx = Effects::default();
        a.compact(below, &mut fx);
        l.compact(below, &mut fx);
        r.compact(below);
        log.push(Durable::Compacted { below });
        let (snap, recs) = build(&trust, below, Some(&a), &[(&l, &r)]);
        assert_eq!(snap.compacted_below, below);
        let mut want = AcceptorDurable::default();
        let mut got = AcceptorDurable::default();
        log.iter().for_each(|d| want.apply(d));
        recs.iter().for_each(|d| got.apply(d));
        assert_eq!(got, want);
        assert_eq!(got.slots.keys().next(), Some(&below));
        let l2 = Learner::restore(LearnerId(0), trust.clone(), &recs);
        let l1 = Learner::restore(LearnerId(0), trust, &log);
        for s in 0..10 {
            assert_eq!(l2.decided(Slot(s)), l1.decided(Slot(s)), "slot {s}");
        }
        assert!(l2.decided(Slot(7)).is_some());
        let back = Replica::from_snapshot(snap.replicas[0].1.clone());
        assert_eq!(back.kv(), r.kv());
        assert_eq!(back.next_slot(), Slot(10));
    }

    /// A range promise (`Durable::Promise`, `maxBal` of every slot from its
    /// start) survives compaction: the snapshot's records rebuild it, so a
    /// slot above the mark that has no record yet still has the promised
    /// `maxBal` after a restart.
    #[test]
    fn snapshot_records_keep_range_promises() {
        let (trust, mut a, mut l, mut r, mut log) = run();
        let mut fx = Effects::default();
        let range = Message::M1aRange(Msg1aRange {
            from: Slot(8),
            lr: LearnerId(1),
            bal: Ballot(4),
        });
        a.handle(&range, &mut fx);
        assert!(fx
            .persist
            .iter()
            .any(|d| matches!(d, Durable::Promise { bal: Ballot(4), .. })));
        log.append(&mut fx.persist);
        let below = Slot(6);
        a.compact(below, &mut fx);
        l.compact(below, &mut fx);
        r.compact(below);
        log.push(Durable::Compacted { below });
        let (_, recs) = build(&trust, below, Some(&a), &[(&l, &r)]);
        let mut want = AcceptorDurable::default();
        let mut got = AcceptorDurable::default();
        log.iter().for_each(|d| want.apply(d));
        recs.iter().for_each(|d| got.apply(d));
        assert_eq!(got, want);
        assert_eq!(got.promised(LearnerId(1), Slot(20)), Ballot(4));
        assert_eq!(got.slots[&Slot(9)].max_bal[&LearnerId(1)], Ballot(4));
        let back = Acceptor::restore(AcceptorId(0), trust, AcceptorOptions::default(), got);
        assert_eq!(back.max_bal(Slot(20), LearnerId(1)), Ballot(4));
        assert_eq!(back.max_bal(Slot(7), LearnerId(1)), Ballot(1));
    }
}
