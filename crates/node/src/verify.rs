//! Signature verification of many frames at once: Ed25519 batch
//! verification over the frames one read of a connection returned, and
//! over the frames relayed inside one certificate, vote or witness answer.
//!
//! Data flow: a connection reader ([`crate::inbound`]) splits what one read
//! returned into frame bodies and hands them to [`open_all`], which
//! decodes every envelope, checks all their signatures with one
//! `ed25519_dalek::verify_batch` call, and decodes the payloads. The
//! readers are tokio tasks, one per peer connection, on the node's
//! multi-threaded runtime (one worker per core): verification never runs
//! on the driver thread, and the connections of different peers are
//! verified on all cores at once.
//!
//! A batch check accepts only if every signature in it is good, so the
//! answer for each frame is the one a single check would give, with one
//! exception: `verify_batch` checks a random linear combination of the
//! signature equations (the randomness derived from the signatures and
//! messages), and a signature whose `R` carries a small-order component
//! can satisfy the combination while failing the single (cofactorless)
//! check, or the other way round. Only the holder of the secret key can
//! make such a signature, so a frame accepted here is still one its
//! claimed sender signed (nothing is forged, nothing is attributed to
//! anybody else): at worst a Byzantine node's frame is accepted by one
//! node and refused by another that checks it alone (a relayed copy),
//! which is the same as that node sending it to one peer and not to the
//! other. When a batch fails, every frame of it is checked alone, so a bad
//! frame never takes good ones with it.
//!
//! Batches below [`BATCH_MIN`] frames are checked one by one: measured
//! (`batch_verify_cost` below, release build, 2-core machine), a batch of
//! 2 costs about what two single checks cost, and from 4 frames on the
//! batch is 1.5-2x cheaper per signature.

use crate::wire::{unverified, FrameReader, NodeIdx, Payload, Unverified, WireError};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};

/// Fewest frames checked with one batch verification.
pub const BATCH_MIN: usize = 3;

/// Opens frame bodies (length prefix excluded) as [`crate::wire::open`]
/// does, one result per body in order, checking the signatures of the
/// well-formed ones together.
pub fn open_all(
    bodies: &[Vec<u8>],
    keys: &[VerifyingKey],
) -> Vec<Result<(NodeIdx, Payload), WireError>> {
    let parsed: Vec<Result<Unverified<'_>, WireError>> =
        bodies.iter().map(|b| unverified(b, keys)).collect();
    let ok = check_all(&parsed);
    parsed
        .iter()
        .zip(ok)
        .map(|(u, good)| match u {
            Err(e) => Err(e.clone()),
            Ok(u) if good => u.decode(),
            Ok(u) => Err(WireError::BadSignature(u.from.0)),
        })
        .collect()
}

/// Opens complete frames (length prefix included), as relayed inside
/// certificates, vote answers and witness relays: one result per frame.
pub fn open_frames(
    frames: &[Vec<u8>],
    keys: &[VerifyingKey],
    max: usize,
) -> Vec<Result<(NodeIdx, Payload), WireError>> {
    let mut bodies = Vec::with_capacity(frames.len());
    let mut errs: Vec<Option<WireError>> = Vec::with_capacity(frames.len());
    for f in frames {
        match body_of(f, max) {
            Ok(b) => {
                bodies.push(b);
                errs.push(None);
            }
            Err(e) => errs.push(Some(e)),
        }
    }
    let mut opened = open_all(&bodies, keys).into_iter();
    errs.into_iter()
        .map(|e| match e {
            Some(e) => Err(e),
            None => opened.next().unwrap_or(Err(WireError::Truncated)), // ok: one result per body
        })
        .collect()
}

/// The body of one complete frame, which must be nothing else.
fn body_of(frame: &[u8], max: usize) -> Result<Vec<u8>, WireError> {
    let mut r = FrameReader::new(max);
    r.extend(frame);
    match r.next_frame()? {
        Some(body) if r.buffered() == 0 => Ok(body),
        Some(_) => Err(WireError::Malformed("trailing bytes after frame".into())),
        None => Err(WireError::Truncated),
    }
}

/// Whether each well-formed frame's signature is good (`false` for the
/// malformed ones, whose error is reported instead).
fn check_all(parsed: &[Result<Unverified<'_>, WireError>]) -> Vec<bool> {
    let good: Vec<&Unverified<'_>> = parsed.iter().filter_map(|u| u.as_ref().ok()).collect();
    let batch_ok = good.len() >= BATCH_MIN && {
        let msgs: Vec<Vec<u8>> = good.iter().map(|u| u.signed_bytes()).collect();
        let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
        let sigs: Vec<Signature> = good.iter().map(|u| u.sig).collect();
        let ks: Vec<VerifyingKey> = good.iter().map(|u| *u.key).collect();
        ed25519_dalek::verify_batch(&refs, &sigs, &ks).is_ok()
    };
    parsed
        .iter()
        .map(|u| match u {
            Err(_) => false,
            Ok(_) if batch_ok => true,
            Ok(u) => u.key.verify(&u.signed_bytes(), &u.sig).is_ok(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{open, seal};
    use ed25519_dalek::SigningKey;
    use hpaxos_core::{AcceptorId, Ballot, LearnerId, Message, Msg2b, Slot, Value};

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn m2b(slot: u64, acc: u16) -> Payload {
        Payload::Protocol(Message::M2b(Msg2b {
            slot: Slot(slot),
            lr: LearnerId(0),
            acc: AcceptorId(acc),
            bal: Ballot(2),
            val: Value::new(format!("v{slot}").into_bytes()),
        }))
    }

    fn body(f: &[u8]) -> Vec<u8> {
        f[4..].to_vec()
    }

    fn keys() -> Vec<VerifyingKey> {
        (1..=4).map(|i| key(i).verifying_key()).collect()
    }

    /// Batched or not, every frame gets the answer a single check gives:
    /// good frames open, a forged one (signed by another node's key) and
    /// a malformed one are refused, and neither takes the good ones with
    /// it (the batch fails, the frames are checked one by one).
    #[test]
    fn a_bad_frame_in_a_batch_is_refused_alone() {
        let ks = keys();
        for n in [1usize, 2, 3, 8, 40] {
            let mut bodies: Vec<Vec<u8>> = (0..n)
                .map(|i| {
                    let from = (i % 4) as u16;
                    body(&seal(
                        NodeIdx(from),
                        &key(from as u8 + 1),
                        &m2b(i as u64, from),
                    ))
                })
                .collect();
            let forged = body(&seal(NodeIdx(1), &key(3), &m2b(99, 1)));
            bodies.insert(n / 2, forged);
            bodies.push(vec![0xff, 0x01]);
            let got = open_all(&bodies, &ks);
            assert_eq!(got.len(), n + 2);
            for (i, (b, r)) in bodies.iter().zip(&got).enumerate() {
                assert_eq!(r, &open(b, &ks), "n {n}, frame {i}");
            }
            assert_eq!(got[n / 2], Err(WireError::BadSignature(1)));
            assert!(matches!(got[n + 1], Err(WireError::Malformed(_))));
            assert_eq!(got.iter().filter(|r| r.is_ok()).count(), n);
        }
    }

    /// A batch of good frames opens each frame as its sender's payload.
    #[test]
    fn a_good_batch_opens_every_frame() {
        let ks = keys();
        let bodies: Vec<Vec<u8>> = (0..10u64)
            .map(|i| {
                let from = (i % 4) as u16;
                body(&seal(NodeIdx(from), &key(from as u8 + 1), &m2b(i, from)))
            })
            .collect();
        for (i, r) in open_all(&bodies, &ks).into_iter().enumerate() {
            let from = (i % 4) as u16;
            assert_eq!(r, Ok((NodeIdx(from), m2b(i as u64, from))));
        }
    }

    /// Relayed frames: a truncated or padded frame is refused, the others
    /// open, in order.
    #[test]
    fn relayed_frames_open_in_order() {
        let ks = keys();
        let good: Vec<Vec<u8>> = (0..5u64)
            .map(|i| seal(NodeIdx(2), &key(3), &m2b(i, 2)).to_vec())
            .collect();
        let mut frames = good.clone();
        let mut cut = good[0].clone();
        cut.pop();
        frames.insert(1, cut);
        let mut padded = good[1].clone();
        padded.push(0);
        frames.push(padded);
        let got = open_frames(&frames, &ks, 1 << 20);
        assert_eq!(got.len(), 7);
        assert_eq!(got[1], Err(WireError::Truncated));
        assert!(matches!(got[6], Err(WireError::Malformed(_))));
        let opened: Vec<Payload> = got
            .into_iter()
            .filter_map(|r| r.ok())
            .map(|x| x.1)
            .collect();
        assert_eq!(opened, (0..5).map(|i| m2b(i, 2)).collect::<Vec<_>>());
    }
}

/// Measures batch against single verification: `cargo test -p hpaxos-node
/// --release --lib -- --ignored --nocapture batch_verify_cost`.
#[cfg(test)]
mod bench {
    use super::*;
    use crate::wire::{open, seal};
    use ed25519_dalek::SigningKey;
    use hpaxos_core::{AcceptorId, Ballot, LearnerId, Message, Msg2b, Slot, Value};
    use std::time::Instant;

    #[test]
    #[ignore = "benchmark: prints figures"]
    fn batch_verify_cost() {
        let keys: Vec<SigningKey> = (1..=4u8)
            .map(|i| SigningKey::from_bytes(&[i; 32]))
            .collect();
        let vks: Vec<VerifyingKey> = keys.iter().map(|k| k.verifying_key()).collect();
        for n in [1usize, 2, 3, 4, 8, 16, 64] {
            let bodies: Vec<Vec<u8>> = (0..n)
                .map(|i| {
                    let a = i % 4;
                    let p = Payload::Protocol(Message::M2b(Msg2b {
                        slot: Slot(i as u64),
                        lr: LearnerId(0),
                        acc: AcceptorId(a as u16),
                        bal: Ballot(1),
                        val: Value::new(vec![7u8; 64]),
                    }));
                    seal(NodeIdx(a as u16), &keys[a], &p)[4..].to_vec()
                })
                .collect();
            let rounds = (2000 / n).max(20);
            let t = Instant::now();
            for _ in 0..rounds {
                for b in &bodies {
                    assert!(open(b, &vks).is_ok());
                }
            }
            let single = t.elapsed().as_secs_f64() * 1e6 / (rounds * n) as f64;
            let t = Instant::now();
            for _ in 0..rounds {
                assert!(open_all(&bodies, &vks).iter().all(|r| r.is_ok()));
            }
            let batch = t.elapsed().as_secs_f64() * 1e6 / (rounds * n) as f64;
            println!(
                "{n:>3} frames: single {single:6.1} us/frame, open_all {batch:6.1} us/frame ({:.2}x)",
                single / batch
            );
        }
    }
}
