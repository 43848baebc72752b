//! Equivocation cross-check: makes the conflicting signed 1b/2b of a
//! Byzantine acceptor meet, counts the evidence per acceptor and logs it
//! once.
//!
//! An equivocating acceptor sends one 1b/2b to some peers and a conflicting
//! one to the others, so no single honest node receives both and its core
//! (which keeps evidence only of what it receives) sees nothing. Here every
//! node relays a bounded sample of the signed 1b/2b it received directly
//! from other nodes (`Payload::Witness`, at most `[cluster]
//! witness_frames`, [`DEFAULT_RELAY_FRAMES`] by default, every
//! [`RELAY_PERIOD`]); a receiver checks each frame's signature against the
//! acceptor's node (the transport does, as for certificates) and compares
//! it, and every 1b/2b it receives directly or in certificates and vote
//! answers, with what it saw before for the same `(slot, learner, ballot,
//! acceptor)`: a safe acceptor's 1b for `(l, b)` always reports the same
//! votes and proposals that only grow (late `Phase2av`, see
//! `spec/HPaxosLate.tla`, may add one below `b`), and it votes one value
//! per `(l, b)`; so two signed 1b whose votes differ or whose proposals
//! neither contain the other, or two 2b with different values, are proof
//! (the same rule as the core's `OneBBucket::conflicting`).
//!
//! Where it sits: the driver feeds [`Witness::observe`] and
//! [`Witness::core_evidence`], takes the frames to relay with
//! [`Witness::take_relay`] once per iteration, and shows
//! [`Witness::status`] in `/v1/status`. Relayed frames are only compared:
//! they never reach the protocol roles. Memory is bounded: at most
//! [`SEEN_MAX`] digests (lowest slots forgotten first) and one record per
//! acceptor.

use crate::metrics::Metrics;
use bytes::Bytes;
use hpaxos_core::{AcceptorId, Ballot, LearnerId, Message, Msg2b, Slot, Trust};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// Default of `[cluster] witness_frames`: most frames relayed per period.
pub const DEFAULT_RELAY_FRAMES: usize = 16;
/// How often the sample is relayed.
pub const RELAY_PERIOD: Duration = Duration::from_millis(500);
/// Most bytes of frames relayed per period.
const RELAY_BYTES: usize = 128 * 1024;
/// Digests kept at most.
pub const SEEN_MAX: usize = 32_768;

/// Which message of an acceptor a digest is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    slot: Slot,
    kind: u8,
    lr: LearnerId,
    bal: Ballot,
    acc: AcceptorId,
}

impl Key {
    fn of(m: &Message) -> Option<Key> {
        let (kind, lr, bal, acc) = match m {
            Message::M1b(b) => (1, b.lr, b.bal, b.acc),
            Message::M2b(b) => (2, b.lr, b.bal, b.acc),
            _ => return None,
        };
        Some(Key {
            slot: m.slot(),
            kind,
            lr,
            bal,
            acc,
        })
    }

    fn kind_name(&self) -> &'static str {
        if self.kind == 1 {
            "1b"
        } else {
            "2b"
        }
    }
}

struct Seen {
    /// A 2b's value, a 1b's votes.
    digest: [u8; 16],
    /// A 1b's proposals, each by digest, sorted (the largest set seen).
    proposals: Vec<[u8; 16]>,
    /// Evidence of this key was counted already.
    conflicted: bool,
}

/// The evidence against one acceptor, as `/v1/status` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptorEvidence {
    /// Distinct `(slot, learner, ballot, kind)` with two conflicting
    /// signed messages.
    pub count: u64,
    /// The first one: kind, slot, learner, ballot.
    first: Key,
}

/// See the module doc.
pub struct Witness {
    /// Frames relayed per period at most (0: none).
    relay_max: usize,
    seen: BTreeMap<Key, Seen>,
    relay: VecDeque<Bytes>,
    relayed_at: Option<Instant>,
    evidence: BTreeMap<AcceptorId, AcceptorEvidence>,
}

/// The first 16 bytes of a value's digest.
fn prefix16(d: &[u8; 32]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&d[..16]);
    out
}

fn digest16(bytes: &[u8]) -> [u8; 16] {
    let h = Sha256::digest(bytes);
    let mut d = [0u8; 16];
    d.copy_from_slice(&h[..16]);
    d
}

/// What must not differ between two messages of one key: a 2b's value, a
/// 1b's votes.
fn digest(m: &Message) -> [u8; 16] {
    match m {
        Message::M2b(b) => prefix16(&b.val.digest().0),
        Message::M1b(b) => {
            let mut votes = b.votes.clone();
            votes.sort();
            votes.dedup();
            // ok: encoding to a Vec cannot fail for these types
            let bytes = postcard::to_stdvec(&votes).unwrap_or_default();
            digest16(&bytes)
        }
        _ => [0; 16],
    }
}

/// A 1b's proposals, each by digest, sorted and deduplicated.
fn proposal_digests(m: &Message) -> Vec<[u8; 16]> {
    let Message::M1b(b) = m else {
        return Vec::new();
    };
    let mut ds: Vec<[u8; 16]> = b
        .proposals
        .iter()
        // ok: encoding to a Vec cannot fail for these types
        .map(|p| digest16(&postcard::to_stdvec(p).unwrap_or_default()))
        .collect();
    ds.sort();
    ds.dedup();
    ds
}

/// Every digest of `a` is in `b` (both sorted).
fn within(a: &[[u8; 16]], b: &[[u8; 16]]) -> bool {
    a.iter().all(|d| b.binary_search(d).is_ok())
}

impl Witness {
    pub fn new(relay_max: usize) -> Witness {
        Witness {
            relay_max,
            seen: BTreeMap::new(),
            relay: VecDeque::new(),
            relayed_at: None,
            evidence: BTreeMap::new(),
        }
    }

    /// A signed 1b/2b received directly from its acceptor's node, with its
    /// frame: compared, and sampled for relaying.
    pub fn direct(&mut self, m: &Message, frame: &Bytes, trust: &Trust, metrics: &Metrics) {
        if Key::of(m).is_none() {
            return;
        }
        self.observe(m, trust, metrics);
        if self.relay_max == 0 {
            return;
        }
        if self.relay.len() >= self.relay_max {
            self.relay.pop_front();
        }
        self.relay.push_back(frame.clone());
    }

    /// Compares a signed 1b/2b (received directly, relayed, or in a
    /// certificate) with what was seen for its key. True when it is new
    /// evidence.
    pub fn observe(&mut self, m: &Message, trust: &Trust, metrics: &Metrics) -> bool {
        let Some(key) = Key::of(m) else {
            return false;
        };
        self.check(key, digest(m), proposal_digests(m), trust, metrics)
    }

    /// [`Witness::observe`] for a 2b (from a certificate or a vote answer).
    pub fn observe_2b(&mut self, b: &Msg2b, trust: &Trust, metrics: &Metrics) -> bool {
        let key = Key {
            slot: b.slot,
            kind: 2,
            lr: b.lr,
            bal: b.bal,
            acc: b.acc,
        };
        self.check(key, prefix16(&b.val.digest().0), Vec::new(), trust, metrics)
    }

    fn check(
        &mut self,
        key: Key,
        d: [u8; 16],
        proposals: Vec<[u8; 16]>,
        trust: &Trust,
        metrics: &Metrics,
    ) -> bool {
        match self.seen.get_mut(&key) {
            None => {
                if self.seen.len() >= SEEN_MAX {
                    self.seen.pop_first();
                }
                self.seen.insert(
                    key,
                    Seen {
                        digest: d,
                        proposals,
                        conflicted: false,
                    },
                );
                false
            }
            Some(s) if s.conflicted => false,
            Some(s) if s.digest == d && within(&s.proposals, &proposals) => {
                // The same, or a 1b sent again with more proposals.
                s.proposals = proposals;
                false
            }
            Some(s) if s.digest == d && within(&proposals, &s.proposals) => false,
            Some(s) => {
                s.conflicted = true;
                self.record(
                    key,
                    trust,
                    metrics,
                    "conflicting signed messages relayed by peers",
                );
                true
            }
        }
    }

    pub fn core_evidence(&mut self, e: &hpaxos_core::Evidence, trust: &Trust, metrics: &Metrics) {
        let Some(key) = Key::of(&e.second) else {
            metrics.evidence.inc();
            return;
        };
        let s = self.seen.entry(key).or_insert(Seen {
            digest: digest(&e.first),
            proposals: proposal_digests(&e.first),
            conflicted: false,
        });
        if s.conflicted {
            return;
        }
        s.conflicted = true;
        self.record(key, trust, metrics, "conflicting signed messages received");
    }

    fn record(&mut self, key: Key, trust: &Trust, metrics: &Metrics, how: &str) {
        let name = trust.acceptor_name(key.acc);
        metrics.evidence.inc();
        metrics.evidence_by_acceptor.inc(name);
        match self.evidence.get_mut(&key.acc) {
            Some(e) => {
                e.count += 1;
                tracing::debug!(
                    acceptor = name,
                    kind = key.kind_name(),
                    slot = key.slot.0,
                    ballot = key.bal.0,
                    "more equivocation evidence"
                );
            }
            None => {
                tracing::warn!(
                    acceptor = name,
                    kind = key.kind_name(),
                    slot = key.slot.0,
                    learner = trust.learner_name(key.lr),
                    ballot = key.bal.0,
                    "equivocation: acceptor {name} signed two different {} for one slot, learner and ballot ({how}); it is Byzantine. Further evidence is counted in hpaxos_acceptor_evidence_total{{acceptor=\"{name}\"}} without a log line",
                    key.kind_name()
                );
                self.evidence.insert(
                    key.acc,
                    AcceptorEvidence {
                        count: 1,
                        first: key,
                    },
                );
            }
        }
    }

    /// The frames to relay now, if the period passed (at most
    /// `[cluster] witness_frames` and within `max_bytes`).
    pub fn take_relay(&mut self, max_bytes: usize) -> Option<Vec<Vec<u8>>> {
        if self.relay.is_empty() || self.relayed_at.is_some_and(|t| t.elapsed() < RELAY_PERIOD) {
            return None;
        }
        self.relayed_at = Some(Instant::now());
        let mut room = max_bytes.min(RELAY_BYTES);
        let mut out = Vec::new();
        while let Some(f) = self.relay.pop_back() {
            if f.len() > room {
                continue;
            }
            room -= f.len();
            out.push(f.to_vec());
        }
        Some(out)
    }

    /// Forgets the digests of slots below `below` (compacted).
    pub fn compact(&mut self, below: Slot) {
        self.seen = self.seen.split_off(&Key {
            slot: below,
            kind: 0,
            lr: LearnerId(0),
            bal: Ballot(0),
            acc: AcceptorId(0),
        });
    }

    /// Evidence per acceptor, for `/v1/status`.
    pub fn status(&self, trust: &Trust) -> serde_json::Value {
        let m: serde_json::Map<String, serde_json::Value> = self
            .evidence
            .iter()
            .map(|(a, e)| {
                (
                    trust.acceptor_name(*a).to_string(),
                    serde_json::json!({
                        "count": e.count,
                        "first": {
                            "kind": e.first.kind_name(),
                            "slot": e.first.slot.0,
                            "learner": trust.learner_name(e.first.lr),
                            "ballot": e.first.bal.0,
                        },
                    }),
                )
            })
            .collect();
        serde_json::Value::Object(m)
    }

    /// Evidence counted against `acc`.
    pub fn count(&self, acc: AcceptorId) -> u64 {
        self.evidence.get(&acc).map_or(0, |e| e.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hpaxos_core::Value;

    fn trust() -> Trust {
        let cfg = hpaxos_config::parse_str(
            r#"
[acceptors]
a1 = {}
a2 = {}
a3 = {}
a4 = {}
[learners.alice]
quorums = "3 of {a1, a2, a3, a4}"
[[safety]]
learners = ["alice", "alice"]
safe = "3 of {a1, a2, a3, a4}"
"#,
        )
        .unwrap();
        cfg.validate().unwrap()
    }

    fn vote(slot: u64, bal: u64, acc: u16, v: &str) -> Message {
        Message::M2b(Msg2b {
            slot: Slot(slot),
            lr: LearnerId(0),
            acc: AcceptorId(acc),
            bal: Ballot(bal),
            val: Value::new(v.as_bytes().to_vec()),
        })
    }

    #[test]
    fn conflicting_votes_are_counted_once_per_key_per_acceptor() {
        let t = trust();
        let m = Metrics::default();
        let mut w = Witness::new(DEFAULT_RELAY_FRAMES);
        assert!(!w.observe(&vote(1, 1, 3, "x"), &t, &m));
        assert!(!w.observe(&vote(1, 1, 3, "x"), &t, &m));
        // Same acceptor, same (slot, learner, ballot), another value.
        assert!(w.observe(&vote(1, 1, 3, "y"), &t, &m));
        // The same conflict again (relayed by another peer): not new.
        assert!(!w.observe(&vote(1, 1, 3, "z"), &t, &m));
        // Another ballot of another acceptor is no conflict.
        assert!(!w.observe(&vote(1, 2, 3, "y"), &t, &m));
        assert!(!w.observe(&vote(1, 1, 2, "y"), &t, &m));
        assert!(w.observe(&vote(2, 1, 3, "y2"), &t, &m) || w.observe(&vote(2, 1, 3, "y3"), &t, &m));
        assert_eq!(w.count(AcceptorId(3)), 2);
        assert_eq!(w.count(AcceptorId(2)), 0);
        assert_eq!(m.evidence_by_acceptor.get("a4"), 2);
        assert_eq!(m.evidence.get(), 2);
        let st = w.status(&t);
        assert_eq!(st["a4"]["count"], 2);
        assert_eq!(st["a4"]["first"]["slot"], 1);
        assert_eq!(st["a4"]["first"]["kind"], "2b");
    }

    fn one_b(acc: u16, votes: &[(u64, &str)], proposals: &[(u64, &str)]) -> Message {
        let vs = |xs: &[(u64, &str)]| {
            xs.iter()
                .map(|(b, v)| hpaxos_core::Vote {
                    lr: LearnerId(0),
                    bal: Ballot(*b),
                    val: Value::new(v.as_bytes().to_vec()),
                })
                .collect()
        };
        Message::M1b(hpaxos_core::Msg1b {
            slot: Slot(1),
            lr: LearnerId(0),
            acc: AcceptorId(acc),
            bal: Ballot(5),
            votes: vs(votes),
            proposals: vs(proposals),
        })
    }

    /// HPaxosLate (`spec/HPaxosLate.tla`): a safe acceptor's 1b for (l, b)
    /// sent again after a late 2av reports one proposal more; that is no
    /// evidence, in either order. Different votes, or proposals neither of
    /// which contains the other, are.
    #[test]
    fn a_1b_whose_proposals_only_grew_is_no_evidence() {
        let t = trust();
        let m = Metrics::default();
        let mut w = Witness::new(DEFAULT_RELAY_FRAMES);
        assert!(!w.observe(&one_b(1, &[(2, "x")], &[(2, "x")]), &t, &m));
        assert!(!w.observe(&one_b(1, &[(2, "x")], &[(1, "y"), (2, "x")]), &t, &m));
        assert!(!w.observe(&one_b(1, &[(2, "x")], &[(2, "x")]), &t, &m));
        assert_eq!(w.count(AcceptorId(1)), 0);
        // Proposals that neither contain the other.
        assert!(w.observe(&one_b(1, &[(2, "x")], &[(3, "z")]), &t, &m));
        // Votes that differ.
        assert!(!w.observe(&one_b(2, &[(2, "x")], &[]), &t, &m));
        assert!(w.observe(&one_b(2, &[(3, "x")], &[]), &t, &m));
        assert_eq!(w.count(AcceptorId(1)), 1);
        assert_eq!(w.count(AcceptorId(2)), 1);
    }

    #[test]
    fn no_relay_when_turned_off_but_still_compared() {
        let t = trust();
        let m = Metrics::default();
        let mut w = Witness::new(0);
        w.direct(&vote(1, 1, 3, "x"), &Bytes::from_static(b"f"), &t, &m);
        assert!(w.take_relay(1 << 20).is_none());
        assert!(w.observe(&vote(1, 1, 3, "y"), &t, &m));
    }

    #[test]
    fn memory_and_relay_are_bounded() {
        let t = trust();
        let m = Metrics::default();
        let mut w = Witness::new(DEFAULT_RELAY_FRAMES);
        for s in 0..(SEEN_MAX as u64 + 100) {
            let v = vote(s, 1, 0, "x");
            w.direct(&v, &Bytes::from(vec![0u8; 10]), &t, &m);
        }
        assert_eq!(w.seen.len(), SEEN_MAX);
        let r = w.take_relay(1 << 20).unwrap();
        assert_eq!(r.len(), DEFAULT_RELAY_FRAMES);
        // Nothing more until new frames arrive.
        assert!(w.take_relay(1 << 20).is_none());
        w.compact(Slot(SEEN_MAX as u64));
        assert_eq!(w.seen.len(), 100);
    }
}
