//! Wire format between nodes: length-delimited frames, each one signed
//! envelope whose payload is a postcard-encoded [`Payload`].
//!
//! Data flow: the driver builds a [`Payload`], [`seal`]s it with the node's
//! Ed25519 key into frame bytes (length prefix included) once, and the
//! transport copies those bytes to every peer queue. A connection reader
//! splits the byte stream with [`FrameReader`] (rejecting frames larger than
//! the configured maximum before allocating), then [`open`] checks the
//! signature against the sender's configured public key and decodes the
//! payload. Only then does anything reach the driver.
//!
//! A frame body is `postcard(Envelope)`; the signature covers a domain tag,
//! the sender index and the payload bytes, so an envelope cannot be replayed
//! under another sender's name, and a signed 2b can be forwarded verbatim as
//! part of a decision certificate. A [`Payload::Bundle`] carries several
//! payloads under one signature (`crate::bundle`); it is a new variant, not
//! a new meaning of the signed bytes, so the domain tag stays `v2` (a node
//! without bundles refuses a bundle frame as malformed, and is sent a bare
//! frame whenever an iteration has one message for it).

use bytes::Bytes;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use hpaxos_core::node::Status;
use hpaxos_core::{Digest, LearnerId, Message, Slot};
use serde::{Deserialize, Serialize};

/// Default maximum frame size (length prefix excluded): 4 MiB.
pub const DEFAULT_MAX_FRAME: usize = 4 << 20;

/// Domain separation tag for signatures. `v2`: 1b, 2av and 2b carry value
/// digests, not bytes (frames of `v1` nodes fail the signature check
/// rather than being misread).
const SIG_DOMAIN: &[u8] = b"hpaxos/frame/v2\0";

/// Index of a node in the cluster configuration (nodes sorted by name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeIdx(pub u16);

impl NodeIdx {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// What one frame carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Payload {
    /// A protocol message of the spec.
    Protocol(Message),
    /// A lagging learner asks for decision certificates of `lr` from `from`.
    SyncRequest {
        lr: LearnerId,
        from: Slot,
        limit: u32,
    },
    /// Decision certificates: for each slot, the signed 2b frames (complete
    /// frames, length prefix included) of a quorum of `lr`.
    SyncResponse {
        lr: LearnerId,
        #[serde(with = "byte_strings::nested")]
        certs: Vec<Vec<Vec<u8>>>,
    },
    /// The node's heartbeat: its view and decided prefixes
    /// (`hpaxos_core::node::Status`).
    Status(Status),
    /// Client commands forwarded to the leader.
    Forward {
        #[serde(with = "byte_strings")]
        cmds: Vec<Vec<u8>>,
    },
    /// A new leader asks for the 2b held in slots `[from, to)`
    /// (`hpaxos_core::node::Control::VotesRequest`).
    VotesRequest { from: Slot, to: Slot },
    /// The answer: signed 2b frames (complete frames, length prefix
    /// included), each verified against its acceptor's key on arrival.
    Votes {
        #[serde(with = "byte_strings")]
        frames: Vec<Vec<u8>>,
    },
    // New variants go last: a variant's index is its postcard tag.
    /// A sample of the signed 1b/2b frames (length prefix included) the
    /// sender received directly from other nodes, relayed so that an
    /// acceptor's conflicting messages meet (`crate::witness`).
    Witness {
        #[serde(with = "byte_strings")]
        frames: Vec<Vec<u8>>,
    },
    /// The first frame on a connection: the dialling node names the
    /// cluster (`crate::handshake::cluster_id`) and itself.
    Hello {
        cluster: String,
        node: String,
        version: String,
    },
    /// The listener's answer to a [`Payload::Hello`] it accepts.
    Welcome { cluster: String, node: String },
    /// The listener's answer to a [`Payload::Hello`] it refuses, and why
    /// (it closes the connection after it).
    Refused { reason: String },
    /// A checkpoint attestation (`hpaxos_core::node::Attestation`; its
    /// signer is the frame's sender): learner `lr`'s replica state after
    /// every slot below `slot` has this digest.
    Attest {
        lr: LearnerId,
        slot: Slot,
        digest: Digest,
    },
    /// A snapshot of `lr` at checkpoint `slot`: the sender's canonical
    /// state there (when it runs `lr`) and the signed [`Payload::Attest`]
    /// frames (complete frames, length prefix included) that authenticate
    /// it, each verified against its signer's key on arrival.
    Snapshot {
        lr: LearnerId,
        slot: Slot,
        #[serde(with = "serde_bytes")]
        state: Option<Vec<u8>>,
        #[serde(with = "byte_strings")]
        atts: Vec<Vec<u8>>,
    },
    /// Asks for the bytes of these values
    /// (`hpaxos_core::node::Control::Fetch`).
    Fetch { digests: Vec<Digest> },
    /// Value bytes, each with the digest it was asked for
    /// (`hpaxos_core::node::Control::Batches`); the receiver checks them.
    Batches {
        batches: Vec<(Digest, serde_bytes::ByteBuf)>,
    },
    /// Other acceptors' signed 2av frames (complete frames, length prefix
    /// included), relayed behind a vote (`hpaxos_core::node::relay`);
    /// each is verified against its signer's key on arrival.
    Relay2av {
        #[serde(with = "byte_strings")]
        frames: Vec<Vec<u8>>,
    },
    /// Several payloads under the one signature of this frame
    /// (`crate::bundle`): each item is a postcard-encoded [`Payload`] that
    /// is never evidence (no 1b, 2av, 2b or attestation, which keep their
    /// own frames), nor a bundle, nor part of the handshake. Items are
    /// byte strings, decoded one by one after the signature check, so a
    /// frame cannot nest payloads (no recursion on decoding).
    Bundle {
        #[serde(with = "byte_strings")]
        items: Vec<Vec<u8>>,
    },
    /// Part of a snapshot state too large for one frame, sent ahead of its
    /// [`Payload::Snapshot`] (`hpaxos_core::node::Control::SnapshotPart`);
    /// the receiver checks the whole state against the attested digest.
    SnapshotPart {
        lr: LearnerId,
        slot: Slot,
        total: u64,
        offset: u64,
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
}

/// The signed frame body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub from: NodeIdx,
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub sig: Vec<u8>,
}

/// Lists of byte strings, each encoded as one byte string: postcard writes
/// a length and the bytes, exactly as for a sequence of `u8`, so frames
/// and logs are unchanged; decoding takes slices instead of byte by byte.
mod byte_strings {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_bytes::{ByteBuf, Bytes};

    pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        let b: Vec<&Bytes> = v.iter().map(|x| Bytes::new(x)).collect();
        b.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        let v = Vec::<ByteBuf>::deserialize(d)?;
        Ok(v.into_iter().map(ByteBuf::into_vec).collect())
    }

    /// Lists of lists of byte strings (the certificates of a sync answer).
    pub mod nested {
        use super::*;

        pub fn serialize<S: Serializer>(v: &[Vec<Vec<u8>>], s: S) -> Result<S::Ok, S::Error> {
            let b: Vec<Vec<&Bytes>> = v
                .iter()
                .map(|c| c.iter().map(|x| Bytes::new(x)).collect())
                .collect();
            b.serialize(s)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<Vec<u8>>>, D::Error> {
            let v = Vec::<Vec<ByteBuf>>::deserialize(d)?;
            Ok(v.into_iter()
                .map(|c| c.into_iter().map(ByteBuf::into_vec).collect())
                .collect())
        }
    }
}

/// Why a frame was rejected (counted and logged by the caller).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    Oversized { len: usize, max: usize },
    #[error("truncated frame")]
    Truncated,
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("unknown sender node #{0}")]
    UnknownSender(u16),
    #[error("bad signature from node #{0}")]
    BadSignature(u16),
}

impl WireError {
    /// Short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            WireError::Oversized { .. } => "oversized",
            WireError::Truncated => "truncated",
            WireError::Malformed(_) => "malformed",
            WireError::UnknownSender(_) => "unknown_sender",
            WireError::BadSignature(_) => "bad_signature",
        }
    }
}

fn signed_bytes(from: NodeIdx, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIG_DOMAIN.len() + 2 + payload.len());
    m.extend_from_slice(SIG_DOMAIN);
    m.extend_from_slice(&from.0.to_be_bytes());
    m.extend_from_slice(payload);
    m
}

/// Encodes and signs `p` into a complete frame (4-byte big-endian length,
/// then the envelope).
pub fn seal(from: NodeIdx, key: &SigningKey, p: &Payload) -> Bytes {
    seal_encoded(from, key, encode(p))
}

/// The postcard encoding of a payload (what a frame signs, and what a
/// [`Payload::Bundle`] item is).
pub fn encode(p: &Payload) -> Vec<u8> {
    postcard::to_stdvec(p).unwrap_or_default() // ok: encoding to a Vec cannot fail for these types
}

/// Signs an encoded payload into a complete frame.
pub fn seal_encoded(from: NodeIdx, key: &SigningKey, payload: Vec<u8>) -> Bytes {
    let sig = key.sign(&signed_bytes(from, &payload)).to_bytes().to_vec();
    frame_of(&Envelope { from, payload, sig })
}

/// Frames an envelope as it is (used by tests to forge bad frames).
pub fn frame_of(env: &Envelope) -> Bytes {
    let body = postcard::to_stdvec(env).unwrap_or_default(); // ok: as above
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    Bytes::from(out)
}

/// Decodes a frame body and checks its signature; `keys[i]` is node `i`'s key.
pub fn open(body: &[u8], keys: &[VerifyingKey]) -> Result<(NodeIdx, Payload), WireError> {
    let u = unverified(body, keys)?;
    u.key
        .verify(&u.signed_bytes(), &u.sig)
        .map_err(|_| WireError::BadSignature(u.from.0))?;
    u.decode()
}

/// A frame body whose envelope decoded and whose sender is known, its
/// signature not checked yet (`crate::verify` checks many at once).
pub(crate) struct Unverified<'a> {
    pub from: NodeIdx,
    pub payload: &'a [u8],
    pub sig: Signature,
    pub key: &'a VerifyingKey,
}

impl Unverified<'_> {
    /// The bytes the signature covers.
    pub fn signed_bytes(&self) -> Vec<u8> {
        signed_bytes(self.from, self.payload)
    }

    /// The payload, once the signature is known to be good.
    pub fn decode(&self) -> Result<(NodeIdx, Payload), WireError> {
        let p: Payload =
            postcard::from_bytes(self.payload).map_err(|e| WireError::Malformed(e.to_string()))?;
        Ok((self.from, p))
    }
}

/// Decodes a frame body's envelope (its byte fields borrowed from the
/// frame, not copied) and finds the claimed sender's key.
pub(crate) fn unverified<'a>(
    body: &'a [u8],
    keys: &'a [VerifyingKey],
) -> Result<Unverified<'a>, WireError> {
    let env: EnvelopeRef<'_> =
        postcard::from_bytes(body).map_err(|e| WireError::Malformed(e.to_string()))?;
    let key = keys
        .get(env.from.index())
        .ok_or(WireError::UnknownSender(env.from.0))?;
    let sig: [u8; 64] = env
        .sig
        .try_into()
        .map_err(|_| WireError::BadSignature(env.from.0))?;
    Ok(Unverified {
        from: env.from,
        payload: env.payload,
        sig: Signature::from_bytes(&sig),
        key,
    })
}

/// Decodes a frame body **without** checking its signature: only to read
/// why a peer of another cluster refused a handshake, or what a refused
/// handshake claimed (never to act on).
pub fn peek(body: &[u8]) -> Option<(NodeIdx, Payload)> {
    let env: EnvelopeRef<'_> = postcard::from_bytes(body).ok()?;
    let p: Payload = postcard::from_bytes(env.payload).ok()?;
    Some((env.from, p))
}

/// [`Envelope`] as decoded from a frame, its byte fields borrowed.
#[derive(Deserialize)]
struct EnvelopeRef<'a> {
    from: NodeIdx,
    #[serde(borrow, with = "serde_bytes")]
    payload: &'a [u8],
    #[serde(borrow, with = "serde_bytes")]
    sig: &'a [u8],
}

/// Opens a complete frame (length prefix included), as carried inside
/// certificates.
pub fn open_frame(
    frame: &[u8],
    keys: &[VerifyingKey],
    max: usize,
) -> Result<(NodeIdx, Payload), WireError> {
    let mut r = FrameReader::new(max);
    r.extend(frame);
    match r.next_frame()? {
        Some(body) if r.buffered() == 0 => open(&body, keys),
        Some(_) => Err(WireError::Malformed("trailing bytes after frame".into())),
        None => Err(WireError::Truncated),
    }
}

/// A buffer above this is shrunk when it empties.
const SHRINK_ABOVE: usize = 1 << 20;

/// Incremental splitter of a byte stream into frame bodies.
#[derive(Debug)]
pub struct FrameReader {
    buf: Vec<u8>,
    /// Bytes of `buf` before this were already returned.
    start: usize,
    max: usize,
}

impl FrameReader {
    pub fn new(max: usize) -> FrameReader {
        FrameReader {
            buf: Vec::new(),
            start: 0,
            max,
        }
    }

    /// Appends received bytes. Memory stays bounded: the buffer holds at
    /// most one partly received frame (at most the maximum, which
    /// [`FrameReader::next_frame`] checks from its length prefix) plus what
    /// one read returned, and the room a large frame needed is given back
    /// once it has been returned.
    pub fn extend(&mut self, data: &[u8]) {
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
            if self.buf.capacity() > SHRINK_ABOVE && self.buf.len() < SHRINK_ABOVE / 4 {
                self.buf.shrink_to(SHRINK_ABOVE / 4);
            }
        }
        self.buf.extend_from_slice(data);
    }

    /// Changes the largest frame accepted from here on (a connection
    /// accepts small frames only until its peer is authenticated).
    pub fn set_max(&mut self, max: usize) {
        self.max = max;
    }

    /// Bytes allocated for the buffer.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Bytes received but not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete frame body, `None` if more bytes are needed, or an
    /// error when the announced length exceeds the maximum (checked before
    /// the body arrives, so nothing is allocated for it).
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        let rest = &self.buf[self.start..];
        let Some(hdr) = rest.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
        if len > self.max {
            return Err(WireError::Oversized { len, max: self.max });
        }
        let Some(body) = rest.get(4..4 + len) else {
            return Ok(None);
        };
        let body = body.to_vec();
        self.start += 4 + len;
        Ok(Some(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hpaxos_core::{AcceptorId, Ballot, Msg2b, Value};
    use proptest::prelude::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn msg() -> Payload {
        Payload::Protocol(Message::M2b(Msg2b {
            slot: Slot(3),
            lr: LearnerId(0),
            acc: AcceptorId(1),
            bal: Ballot(2),
            val: Value::new(b"x".to_vec()),
        }))
    }

    /// The byte fields encoded as byte strings (serde_bytes) are exactly
    /// the bytes the earlier plain `Vec<u8>` fields were: frames, values and
    /// therefore write-ahead-log records stay compatible both ways.
    #[test]
    fn byte_strings_encode_as_the_plain_vectors_did() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct OldEnvelope {
            from: NodeIdx,
            payload: Vec<u8>,
            sig: Vec<u8>,
        }
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        enum OldPayload {
            Protocol(OldMessage),
            SyncRequest {
                lr: LearnerId,
                from: Slot,
                limit: u32,
            },
            SyncResponse {
                lr: LearnerId,
                certs: Vec<Vec<Vec<u8>>>,
            },
            Status(Status),
            Forward {
                cmds: Vec<Vec<u8>>,
            },
        }
        /// Stands in for `Message`: variant index 4 (2b), with the value as
        /// its 32-byte digest (since frame v2; v1 had the bytes here).
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        enum OldMessage {
            A,
            B,
            C,
            D,
            M2b {
                slot: Slot,
                lr: LearnerId,
                acc: AcceptorId,
                bal: Ballot,
                val: [u8; 32],
            },
        }
        let env = Envelope {
            from: NodeIdx(3),
            payload: (0..=255u8).collect(),
            sig: vec![9; 64],
        };
        let old = OldEnvelope {
            from: NodeIdx(3),
            payload: env.payload.clone(),
            sig: env.sig.clone(),
        };
        let a = postcard::to_stdvec(&env).unwrap();
        assert_eq!(a, postcard::to_stdvec(&old).unwrap());
        assert_eq!(postcard::from_bytes::<Envelope>(&a).unwrap(), env);
        let cmds = vec![vec![1u8; 300], vec![], vec![2, 3]];
        let f = postcard::to_stdvec(&Payload::Forward { cmds: cmds.clone() }).unwrap();
        assert_eq!(
            f,
            postcard::to_stdvec(&OldPayload::Forward { cmds: cmds.clone() }).unwrap()
        );
        assert_eq!(
            postcard::from_bytes::<Payload>(&f).unwrap(),
            Payload::Forward { cmds }
        );
        let certs = vec![vec![vec![5u8; 200], vec![6]], vec![]];
        let p = Payload::SyncResponse {
            lr: LearnerId(1),
            certs: certs.clone(),
        };
        let o = OldPayload::SyncResponse {
            lr: LearnerId(1),
            certs,
        };
        let b = postcard::to_stdvec(&p).unwrap();
        assert_eq!(b, postcard::to_stdvec(&o).unwrap());
        assert_eq!(postcard::from_bytes::<Payload>(&b).unwrap(), p);
        // A 2b names its value by digest: 32 bytes whatever the batch.
        let val = Value::new(vec![7u8; 700]);
        let m = Payload::Protocol(Message::M2b(Msg2b {
            slot: Slot(3),
            lr: LearnerId(0),
            acc: AcceptorId(1),
            bal: Ballot(2),
            val: val.clone(),
        }));
        let o = OldPayload::Protocol(OldMessage::M2b {
            slot: Slot(3),
            lr: LearnerId(0),
            acc: AcceptorId(1),
            bal: Ballot(2),
            val: val.digest().0,
        });
        let b = postcard::to_stdvec(&m).unwrap();
        assert_eq!(b, postcard::to_stdvec(&o).unwrap());
        assert!(b.len() < 48, "{} bytes", b.len());
        let Payload::Protocol(Message::M2b(back)) = postcard::from_bytes::<Payload>(&b).unwrap()
        else {
            panic!("not a 2b");
        };
        assert!(back.val == val && !back.val.has_bytes());
    }

    #[test]
    fn sealed_frame_opens_with_the_senders_key() {
        let keys = vec![key(1).verifying_key(), key(2).verifying_key()];
        let f = seal(NodeIdx(1), &key(2), &msg());
        let (from, p) = open_frame(&f, &keys, DEFAULT_MAX_FRAME).unwrap();
        assert_eq!(from, NodeIdx(1));
        assert_eq!(p, msg());
    }

    #[test]
    fn frame_signed_by_another_key_is_rejected() {
        let keys = vec![key(1).verifying_key(), key(2).verifying_key()];
        // Node 0 claims to be node 1.
        let f = seal(NodeIdx(1), &key(1), &msg());
        assert_eq!(
            open_frame(&f, &keys, DEFAULT_MAX_FRAME),
            Err(WireError::BadSignature(1))
        );
        let f = seal(NodeIdx(7), &key(1), &msg());
        assert_eq!(
            open_frame(&f, &keys, DEFAULT_MAX_FRAME),
            Err(WireError::UnknownSender(7))
        );
    }

    #[test]
    fn oversized_length_is_rejected_before_the_body() {
        let mut r = FrameReader::new(100);
        r.extend(&1000u32.to_be_bytes());
        assert_eq!(
            r.next_frame(),
            Err(WireError::Oversized {
                len: 1000,
                max: 100
            })
        );
    }

    /// The room a large frame needed is given back after it.
    #[test]
    fn a_large_frame_does_not_keep_its_buffer() {
        let mut r = FrameReader::new(DEFAULT_MAX_FRAME);
        let body = vec![7u8; 3 << 20];
        let mut f = (body.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(&body);
        r.extend(&f);
        assert_eq!(r.next_frame().unwrap().map(|b| b.len()), Some(body.len()));
        r.extend(&[0, 0]);
        assert!(r.capacity() <= SHRINK_ABOVE, "{}", r.capacity());
        assert_eq!(r.buffered(), 2);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any byte string fed in any chunking: the decoder never panics and
        /// opening any frame it yields fails cleanly.
        #[test]
        fn decoder_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600), cut in 0usize..600) {
            let keys = vec![key(1).verifying_key()];
            let mut r = FrameReader::new(256);
            let cut = cut.min(data.len());
            r.extend(&data[..cut]);
            r.extend(&data[cut..]);
            while let Ok(Some(body)) = r.next_frame() {
                let _ = open(&body, &keys);
            }
        }

        /// A valid frame with any single byte flipped never opens as a
        /// different payload from the same sender.
        #[test]
        fn flipped_byte_never_yields_a_forgery(pos in 0usize..200, bit in 0u8..8) {
            let keys = vec![key(1).verifying_key()];
            let f = seal(NodeIdx(0), &key(1), &msg()).to_vec();
            let mut g = f.clone();
            let pos = pos % g.len();
            g[pos] ^= 1 << bit;
            if let Ok((_, p)) = open_frame(&g, &keys, DEFAULT_MAX_FRAME) {
                prop_assert_eq!(p, msg());
            }
        }

        /// Truncating a valid frame anywhere yields "need more bytes".
        #[test]
        fn truncated_frame_is_never_decoded(cut in 0usize..120) {
            let f = seal(NodeIdx(0), &key(1), &msg()).to_vec();
            let cut = cut % f.len();
            let mut r = FrameReader::new(DEFAULT_MAX_FRAME);
            r.extend(&f[..cut]);
            prop_assert_eq!(r.next_frame(), Ok(None));
        }
    }
}

/// Measures the cost of authentication: `cargo test -p hpaxos-node --release
/// --lib -- --ignored --nocapture sig_cost` prints the figures.
#[cfg(test)]
mod bench {
    use super::*;
    use hpaxos_core::{AcceptorId, Ballot, Msg2b, Value};
    use std::time::Instant;

    #[test]
    #[ignore = "benchmark: prints figures"]
    fn sig_cost() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let keys = vec![key.verifying_key()];
        for size in [64usize, 1024, 16 * 1024] {
            let p = Payload::Protocol(Message::M2b(Msg2b {
                slot: Slot(1),
                lr: LearnerId(0),
                acc: AcceptorId(0),
                bal: Ballot(1),
                val: Value::new(vec![7u8; size]),
            }));
            let n = 2000;
            let t = Instant::now();
            let mut frames = Vec::with_capacity(n);
            for _ in 0..n {
                frames.push(seal(NodeIdx(0), &key, &p));
            }
            let seal_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
            let t = Instant::now();
            for f in &frames {
                let (_, q) = open_frame(f, &keys, DEFAULT_MAX_FRAME).unwrap();
                assert_eq!(q, p);
            }
            let open_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
            // The same work without the signature (encode + decode only).
            let t = Instant::now();
            for _ in 0..n {
                let b = postcard::to_stdvec(&p).unwrap();
                let _: Payload = postcard::from_bytes(&b).unwrap();
            }
            let plain_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
            println!(
                "2b with a {size:>5}-byte value: seal (encode+sign) {seal_us:6.1} us, open (verify+decode) {open_us:6.1} us, encode+decode without signature {plain_us:6.1} us"
            );
        }
    }
}
