//! Batch frames: one signature for every message of one driver iteration
//! to one peer that is never evidence, and what each message costs.
//!
//! Data flow: out, the driver puts each payload of an iteration into an
//! [`Outbox`] (evidence goes around it: a 1b, 2av, 2b or attestation is
//! sealed in a frame of its own), and [`Outbox::seal`] turns what it holds
//! into frames after the iteration's fsync: one [`Payload::Bundle`] per
//! destination (split at [`BUNDLE_MAX_BYTES`]), or the bare payload when
//! there is only one. In, a connection reader opens the frame (one
//! signature check, batched with the other frames of the read by
//! [`crate::verify`]) and [`unbundle`] decodes the items, refusing the
//! whole frame (counted as `bad_bundle`) if one item is malformed, is a
//! bundle, a handshake frame or evidence.
//!
//! ## Why it stays attributable
//!
//! The spec's `FakeSend` lets a Byzantine acceptor send any message in its
//! own name and none in another's: the model attributes each message to
//! its sender. A frame signed by node N authenticates every item in it as
//! N's (the signature covers the domain tag, N's index and all the item
//! bytes), and the receiver checks each item as if it had come alone: a
//! 1a/1c only from a proposer node, the `acc` of anything per acceptor
//! against the acceptor N runs. What a bundle cannot do is be *relayed*:
//! its signature vouches for all its items together. So every message
//! that may be shown to a third node keeps a frame and a signature of its
//! own: the 2b (decision certificates, vote transfers to a new leader,
//! witness relays), the 1b (witness relays: equivocation evidence), the
//! 2av (relayed behind a vote in `Relay2av`: a signed proposal) and the
//! attestation (snapshot proofs). The receiver enforces it: a bundle with
//! such an item is refused, so no node can make a certificate out of one.
//!
//! ## What each message costs
//!
//! Per message a node sends (to all its peers at once: one signature
//! whatever their number; each receiver verifies once). A frame adds 71
//! bytes around a payload below 128 bytes, 72 up to 16 KiB (4-byte
//! length, sender index, payload length, signature length, 64-byte
//! signature). Bytes from `message_sizes` below (slot 12,345, a clock
//! ballot, 512-byte value); times from `sig_cost` and `batch_verify_cost`
//! (release build, loaded 2-core machine): sign 28-45 us, verify 29 us
//! alone and 15 us per frame in a batch of 3 or more.
//!
//! | message | before (frame v2, no bundles) | now |
//! |---|---|---|
//! | 2b, 2av | 1 signature, 116-byte frame, 1 verification per receiver | the same frame and signature (evidence); the receiver verifies it in one batch with the other frames of the same read: ~15 instead of ~29 us |
//! | 1b | 1 signature, 86 bytes + about 40 per vote or proposal (learner, ballot, digest) | the same (evidence), verified in a batch |
//! | 1c | 1 signature, 87 bytes + the batch bytes | an item of the iteration's bundle to all peers: no signature of its own, its encoding + 2-3 bytes (3 1c with 512-byte values: 1,661 bytes and 1 signature instead of 1,797 and 3) |
//! | 1a, status heartbeat, fetch, value answer, forward, sync and vote requests | 1 signature and 71-72 bytes of frame each | items of the iteration's bundle to that destination: together 1 signature, 72 bytes + 1-3 per item |
//! | certificates, vote answers, witness and 2av relays | 1 signature each around inner frames with their own signatures | items of the bundle; the inner 2b/1b/2av frames keep their signatures and are verified in one batch per answer |
//! | attestation, snapshot | 1 signature each | the same (a proof relayed in snapshots; a snapshot is large) |
//!
//! A lone message to a destination goes in a bare frame, exactly as before
//! (no bundle for one item).

use crate::wire::{encode, seal_encoded, NodeIdx, Payload};
use bytes::Bytes;
use ed25519_dalek::SigningKey;
use hpaxos_core::Message;

/// A bundle is cut when its items reach this many bytes (a frame of its
/// own carries a payload larger than this).
pub const BUNDLE_MAX_BYTES: usize = 1 << 20;

/// Whether `p` must travel in a frame of its own: evidence (1b, 2av, 2b),
/// a proof (attestation), a snapshot (large, and carries proofs), the
/// handshake, or a bundle.
pub fn needs_own_frame(p: &Payload) -> bool {
    match p {
        Payload::Protocol(m) => is_evidence(m),
        Payload::Attest { .. }
        | Payload::Snapshot { .. }
        | Payload::Hello { .. }
        | Payload::Welcome { .. }
        | Payload::Refused { .. }
        | Payload::Bundle { .. } => true,
        _ => false,
    }
}

/// A 1b, 2av or 2b: a message relayed to third nodes as evidence.
pub fn is_evidence(m: &Message) -> bool {
    matches!(m, Message::M1b(_) | Message::M2av(_) | Message::M2b(_))
}

/// The items of a received bundle, each decoded; `Err` (the reason
/// counted) when any is malformed or may not be in a bundle.
pub fn unbundle(items: &[Vec<u8>]) -> Result<Vec<Payload>, &'static str> {
    items
        .iter()
        .map(|b| {
            let p: Payload = postcard::from_bytes(b).map_err(|_| "bad_bundle")?;
            if needs_own_frame(&p) {
                return Err("bad_bundle");
            }
            Ok(p)
        })
        .collect()
}

/// The payloads of one iteration that may share a frame, per destination:
/// every peer (`all`) or one (`to`), in the order they were put.
#[derive(Default)]
pub struct Outbox {
    all: Vec<Vec<u8>>,
    to: Vec<(NodeIdx, Vec<u8>)>,
}

impl Outbox {
    /// Queues `p` for every peer.
    pub fn all(&mut self, p: &Payload) {
        self.all.push(encode(p));
    }

    /// Queues `p` for `peer`.
    pub fn to(&mut self, peer: NodeIdx, p: &Payload) {
        self.to.push((peer, encode(p)));
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_empty() && self.to.is_empty()
    }

    /// Signs what was queued: the frames for every peer, then per peer its
    /// own frames (peers in index order). Empties the outbox.
    pub fn seal(&mut self, me: NodeIdx, key: &SigningKey) -> Sealed {
        let all = frames(me, key, std::mem::take(&mut self.all));
        let mut per: std::collections::BTreeMap<NodeIdx, Vec<Vec<u8>>> = Default::default();
        for (peer, item) in self.to.drain(..) {
            per.entry(peer).or_default().push(item);
        }
        let to = per
            .into_iter()
            .map(|(peer, items)| (peer, frames(me, key, items)))
            .collect();
        Sealed { all, to }
    }
}

/// Frames made by [`Outbox::seal`].
pub struct Sealed {
    pub all: Vec<Bytes>,
    pub to: Vec<(NodeIdx, Vec<Bytes>)>,
}

impl Sealed {
    /// Signatures made (one per frame).
    pub fn frames(&self) -> usize {
        self.all.len() + self.to.iter().map(|(_, f)| f.len()).sum::<usize>()
    }
}

/// One frame per run of items within [`BUNDLE_MAX_BYTES`]; a lone item
/// is sent bare (the frame a node without bundles would send).
fn frames(me: NodeIdx, key: &SigningKey, items: Vec<Vec<u8>>) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut run: Vec<Vec<u8>> = Vec::new();
    let mut bytes = 0usize;
    let flush = |run: &mut Vec<Vec<u8>>, out: &mut Vec<Bytes>| match run.len() {
        0 => {}
        1 => {
            if let Some(p) = run.pop() {
                out.push(seal_encoded(me, key, p));
            }
        }
        _ => {
            let items = std::mem::take(run);
            out.push(seal_encoded(me, key, encode(&Payload::Bundle { items })));
        }
    };
    for item in items {
        if !run.is_empty() && bytes + item.len() > BUNDLE_MAX_BYTES {
            flush(&mut run, &mut out);
            bytes = 0;
        }
        bytes += item.len();
        run.push(item);
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{open_frame, DEFAULT_MAX_FRAME};
    use hpaxos_core::node::Status;
    use hpaxos_core::{AcceptorId, Ballot, LearnerId, Msg1a, Msg1c, Msg2b, Slot, Value};

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[5; 32])
    }

    fn m1a(slot: u64) -> Payload {
        Payload::Protocol(Message::M1a(Msg1a {
            slot: Slot(slot),
            lr: LearnerId(0),
            bal: Ballot(3),
        }))
    }

    fn m1c(slot: u64, len: usize) -> Payload {
        Payload::Protocol(Message::M1c(Msg1c {
            slot: Slot(slot),
            lr: LearnerId(0),
            bal: Ballot(3),
            val: Value::new(vec![slot as u8; len]),
        }))
    }

    fn m2b() -> Payload {
        Payload::Protocol(Message::M2b(Msg2b {
            slot: Slot(1),
            lr: LearnerId(0),
            acc: AcceptorId(0),
            bal: Ballot(3),
            val: Value::new(b"v".to_vec()),
        }))
    }

    fn open(f: &[u8]) -> Payload {
        let keys = vec![key().verifying_key()];
        open_frame(f, &keys, DEFAULT_MAX_FRAME).unwrap().1
    }

    /// Several payloads to the same destination share one frame (one
    /// signature) and come out as they went in, in order; a lone payload
    /// is sent bare.
    #[test]
    fn an_iteration_to_a_peer_is_one_frame() {
        let mut o = Outbox::default();
        let ps = vec![
            m1a(1),
            m1c(2, 100),
            Payload::Status(Status {
                view: 1,
                next: vec![(LearnerId(0), Slot(2))],
                hears_leader: true,
            }),
        ];
        for p in &ps {
            o.all(p);
        }
        o.to(NodeIdx(2), &m1a(9));
        let s = o.seal(NodeIdx(0), &key());
        assert!(o.is_empty());
        assert_eq!(s.frames(), 2);
        let Payload::Bundle { items } = open(&s.all[0]) else {
            panic!("not a bundle");
        };
        assert_eq!(unbundle(&items), Ok(ps));
        assert_eq!(s.to.len(), 1);
        assert_eq!(s.to[0].0, NodeIdx(2));
        assert_eq!(open(&s.to[0].1[0]), m1a(9));
    }

    /// A bundle is cut at its byte bound: large 1c batches get frames of
    /// their own, the small messages after them share one.
    #[test]
    fn bundles_are_cut_by_bytes() {
        let mut o = Outbox::default();
        let big = BUNDLE_MAX_BYTES - 1000;
        o.all(&m1c(1, big));
        o.all(&m1c(2, big));
        o.all(&m1a(3));
        o.all(&m1a(4));
        let s = o.seal(NodeIdx(0), &key());
        assert_eq!(s.all.len(), 2);
        assert_eq!(open(&s.all[0]), m1c(1, big));
        let Payload::Bundle { items } = open(&s.all[1]) else {
            panic!("not a bundle");
        };
        assert_eq!(unbundle(&items), Ok(vec![m1c(2, big), m1a(3), m1a(4)]));
    }

    /// Evidence, proofs, the handshake and bundles never ride in a bundle:
    /// a received bundle holding one is refused whole, as is one with a
    /// malformed item.
    #[test]
    fn a_bundle_with_evidence_or_garbage_is_refused() {
        assert_eq!(
            unbundle(&[encode(&m1a(1)), encode(&m2b())]),
            Err("bad_bundle")
        );
        let nested = Payload::Bundle {
            items: vec![encode(&m1a(1))],
        };
        assert_eq!(unbundle(&[encode(&nested)]), Err("bad_bundle"));
        let att = Payload::Attest {
            lr: LearnerId(0),
            slot: Slot(4),
            digest: Value::new(b"s".to_vec()).digest(),
        };
        assert_eq!(unbundle(&[encode(&att)]), Err("bad_bundle"));
        let hello = Payload::Refused { reason: "x".into() };
        assert_eq!(unbundle(&[encode(&hello)]), Err("bad_bundle"));
        assert_eq!(
            unbundle(&[encode(&m1a(1)), vec![0xff; 3]]),
            Err("bad_bundle")
        );
        assert_eq!(unbundle(&[]), Ok(vec![]));
        assert!(needs_own_frame(&m2b()) && !needs_own_frame(&m1a(1)));
    }
}

/// The byte figures of the module doc's table, checked: what a frame adds
/// around its payload, what a 2b, 2av, 1b and 1c frame weigh, and what
/// an item costs inside a bundle.
#[cfg(test)]
mod sizes {
    use super::*;
    use hpaxos_core::{AcceptorId, Ballot, LearnerId, Msg1b, Msg1c, Msg2av, Msg2b, Slot, Value};

    #[test]
    fn message_sizes() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let me = NodeIdx(3);
        // Realistic field values: a ballot from the clock (`run.rs`), a
        // slot in the thousands.
        let (slot, bal, lr, acc) = (
            Slot(12_345),
            Ballot(1_764_800_000 << 16),
            LearnerId(0),
            AcceptorId(3),
        );
        let val = Value::new(vec![1u8; 512]);
        let p2b = Payload::Protocol(Message::M2b(Msg2b {
            slot,
            lr,
            acc,
            bal,
            val: val.clone(),
        }));
        let p2av = Payload::Protocol(Message::M2av(Msg2av {
            slot,
            lr,
            acc,
            bal,
            val: val.clone(),
        }));
        let p1b = Payload::Protocol(Message::M1b(Msg1b {
            slot,
            lr,
            acc,
            bal,
            votes: vec![],
            proposals: vec![],
        }));
        let p1c = Payload::Protocol(Message::M1c(Msg1c {
            slot,
            lr,
            bal,
            val: val.clone(),
        }));
        let frame = |p: &Payload| seal_encoded(me, &key, encode(p)).len();
        let overhead = |p: &Payload| frame(p) - encode(p).len();
        // 4-byte length, sender index, payload length, signature length
        // and 64 signature bytes: 71 bytes around a payload below 128
        // bytes, 72 up to 16 KiB.
        for p in [&p2b, &p2av, &p1b] {
            assert_eq!(overhead(p), 71, "{p:?}");
        }
        assert_eq!(overhead(&p1c), 72);
        // Digests: a 2b/2av weighs the same whatever the value.
        assert_eq!(frame(&p2b), 116);
        assert_eq!(frame(&p2av), 116);
        // A 1b without votes; each vote or proposal adds its digest.
        assert_eq!(frame(&p1b), 86);
        // The 1c carries the bytes: 512 of them and 87 around.
        assert_eq!(frame(&p1c), 512 + 87);
        // Three 1c alone: 3 signatures, 1,797 bytes; in one bundle: one
        // signature, 136 bytes less (two frames' overhead, less the
        // bundle's tag, count and item lengths).
        let items = vec![encode(&p1c), encode(&p1c), encode(&p1c)];
        let alone: usize = (0..3).map(|_| frame(&p1c)).sum();
        let bundled = seal_encoded(me, &key, encode(&Payload::Bundle { items })).len();
        assert_eq!((alone, bundled), (1797, 1661));
    }
}
