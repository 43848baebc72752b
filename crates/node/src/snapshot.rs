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
