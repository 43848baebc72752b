//! The inbound half of the transport: the listener and one reader task
//! per peer connection.
//!
//! Data flow: [`listen`] accepts a connection (at most
//! [`max_inbound`](crate::transport::max_inbound) at once) and spawns
//! [`read_conn`], which splits the byte stream into frames, answers the
//! handshake ([`crate::handshake::answer`]) on the first one, verifies the
//! signature of every other one against the claimed sender's configured
//! key, checks it against the configuration ([`admit`]: a 1b/2av/2b's
//! `acc` is the acceptor the signing node runs, relayed 2b and witness
//! frames likewise; a snapshot's attestation frames each open under
//! their signer's key) and only then queues an [`Event`] for the driver
//! (waiting when the driver's queue is full: backpressure through TCP).
//! Rejections are counted and their warnings rate-limited
//! ([`Net`]'s rate limit).

use crate::bundle::unbundle;
use crate::config::ClusterConfig;
use crate::driver::Event;
use crate::handshake::{self, First, PREAUTH_MAX_FRAME};
use crate::transport::{max_inbound, Net, NodeSlot, PER_NODE_INBOUND, STALL};
use crate::verify::{open_all, open_frames};
use crate::wire::{seal, FrameReader, NodeIdx, Payload, WireError};
use bytes::Bytes;
use hpaxos_core::node::{Attestation, Control, NodeId};
use hpaxos_core::Message;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit};

/// Accepts peer connections forever (at most [`max_inbound`] at once).
pub async fn listen(listener: TcpListener, net: Arc<Net>, events: mpsc::Sender<Event>) {
    loop {
        let Ok((s, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let Ok(permit) = net.inbound.clone().try_acquire_owned() else {
            net.reject(
                &peer.ip().to_string(),
                "too_many_connections",
                &format!(
                    "refused a connection from {peer}: {} peer connections are open already",
                    max_inbound(&net.cfg)
                ),
            );
            drop(s);
            continue;
        };
        let _ = s.set_nodelay(true);
        tokio::spawn(read_conn(s, peer, net.clone(), events.clone(), permit));
    }
}

fn reject(net: &Net, peer: SocketAddr, e: &WireError) {
    net.reject(
        &peer.ip().to_string(),
        e.label(),
        &format!("rejected frame from {peer}: {e}"),
    );
}

/// Reads `s` into `buf`, within `limit` if set; a timeout is an error of
/// kind `TimedOut`.
async fn read_within(
    s: &mut TcpStream,
    buf: &mut [u8],
    limit: Option<Duration>,
) -> std::io::Result<usize> {
    match limit {
        None => s.read(buf).await,
        Some(d) => match tokio::time::timeout(d, s.read(buf)).await {
            Ok(r) => r,
            Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
        },
    }
}

/// Tells a node that has [`PER_NODE_INBOUND`] connections open here
/// already why this one is closed.
async fn refuse_crowded(s: &mut TcpStream, net: &Net, peer: SocketAddr, from: NodeIdx) {
    let name = net
        .cfg
        .nodes
        .get(from.index())
        .map_or("?", |n| n.name.as_str());
    let reason = format!(
        "node {name} has {PER_NODE_INBOUND} connections open to node {} already",
        net.local.name
    );
    let reply = seal(
        net.local.me,
        &net.local.key,
        &Payload::Refused {
            reason: reason.clone(),
        },
    );
    let _ = s.write_all(&reply).await;
    let _ = s.flush().await;
    net.reject(
        &peer.ip().to_string(),
        "too_many_node_connections",
        &format!("refused a connection from {peer}: {reason}"),
    );
}

async fn read_conn(
    mut s: TcpStream,
    peer: SocketAddr,
    net: Arc<Net>,
    events: mpsc::Sender<Event>,
    _permit: OwnedSemaphorePermit,
) {
    let cfg = &net.cfg;
    let keys = &net.keys;
    let ip = peer.ip().to_string();
    // Small frames only until the peer is authenticated.
    let mut fr = FrameReader::new(PREAUTH_MAX_FRAME);
    let mut first = true;
    // The authenticated peer's share of the inbound connections.
    let mut slot: Option<NodeSlot> = None;
    let hello_by = Instant::now() + handshake::TIMEOUT;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let limit = if first {
            hello_by.saturating_duration_since(Instant::now())
        } else {
            STALL
        };
        let n = match read_within(&mut s, &mut buf, Some(limit)).await {
            Ok(0) => {
                if fr.buffered() > 0 {
                    reject(&net, peer, &WireError::Truncated);
                }
                return;
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                let (reason, what) = if first {
                    (
                        "handshake_timeout",
                        format!(
                            "closed the connection from {peer}: no complete first frame within {}s",
                            handshake::TIMEOUT.as_secs()
                        ),
                    )
                } else if fr.buffered() == 0 {
                    tracing::debug!(%peer, "closed a connection idle for {}s", STALL.as_secs());
                    return;
                } else {
                    (
                        "stalled",
                        format!(
                            "closed the connection from {peer}: a frame stalled for {}s",
                            STALL.as_secs()
                        ),
                    )
                };
                net.reject(&ip, reason, &what);
                return;
            }
            Err(_) => {
                if fr.buffered() > 0 {
                    reject(&net, peer, &WireError::Truncated);
                }
                return;
            }
            Ok(n) => n,
        };
        fr.extend(&buf[..n]);
        // Every complete frame of this read: the handshake first, then
        // the others opened together (their signatures batch-checked).
        let mut bodies = Vec::new();
        loop {
            let body = match fr.next_frame() {
                Ok(Some(b)) => b,
                Ok(None) => break,
                Err(e) => {
                    // Framing is lost: drop the connection (after what
                    // came before the bad length).
                    if !deliver(&mut s, peer, &net, &events, &mut slot, &mut fr, &bodies).await {
                        return;
                    }
                    reject(&net, peer, &e);
                    return;
                }
            };
            if std::mem::take(&mut first) {
                match handshake::answer(&body, &net.local, cfg, keys) {
                    First::Welcome { from, reply } => {
                        slot = net.claim(from);
                        if slot.is_none() {
                            refuse_crowded(&mut s, &net, peer, from).await;
                            return;
                        }
                        if s.write_all(&reply).await.is_err() {
                            return;
                        }
                        fr.set_max(cfg.max_frame);
                        tracing::debug!(%peer, from = from.0, "handshake done");
                        continue;
                    }
                    First::Refuse { reason, reply } => {
                        let _ = s.write_all(&reply).await;
                        let _ = s.flush().await;
                        net.reject(
                            &ip,
                            "handshake_refused",
                            &format!("refused the handshake of {peer}: {reason}"),
                        );
                        return;
                    }
                    // An older node, or garbage: handled frame by frame.
                    First::NotHello => {}
                }
            }
            bodies.push(body);
            if slot.is_none() {
                // Not authenticated yet: the next frame's size limit
                // depends on this one.
                if !deliver(&mut s, peer, &net, &events, &mut slot, &mut fr, &bodies).await {
                    return;
                }
                bodies.clear();
            }
        }
        if !deliver(&mut s, peer, &net, &events, &mut slot, &mut fr, &bodies).await {
            return;
        }
    }
}

/// Opens `bodies` (one batch signature check), checks each against the
/// configuration and queues its events for the driver, in order. `false`
/// when the connection must close (refused, or the driver is gone).
async fn deliver(
    s: &mut TcpStream,
    peer: SocketAddr,
    net: &Arc<Net>,
    events: &mpsc::Sender<Event>,
    slot: &mut Option<NodeSlot>,
    fr: &mut FrameReader,
    bodies: &[Vec<u8>],
) -> bool {
    if bodies.is_empty() {
        return true;
    }
    let (cfg, keys) = (&net.cfg, &net.keys);
    let ip = peer.ip().to_string();
    for (body, opened) in bodies.iter().zip(open_all(bodies, keys)) {
        let (from, p) = match opened {
            Ok(x) => x,
            Err(e) => {
                reject(net, peer, &e);
                continue;
            }
        };
        if slot.is_none() {
            // An older node without the handshake.
            *slot = net.claim(from);
            if slot.is_none() {
                refuse_crowded(s, net, peer, from).await;
                return false;
            }
        }
        fr.set_max(cfg.max_frame);
        match admit_frame(cfg, keys, from, p, body) {
            Ok(evs) => {
                for ev in evs {
                    if events.send(ev).await.is_err() {
                        return false;
                    }
                }
            }
            Err(why) => {
                net.reject(
                    &ip,
                    why,
                    &format!("rejected a message of node #{} from {peer}: {why}", from.0),
                );
            }
        }
    }
    true
}

/// Checks an authenticated frame's payload against the configuration: its
/// events (several for a bundle, whose items are each checked as if they
/// had come alone; one bad item refuses the whole frame).
fn admit_frame(
    cfg: &ClusterConfig,
    keys: &[ed25519_dalek::VerifyingKey],
    from: NodeIdx,
    p: Payload,
    body: &[u8],
) -> Result<Vec<Event>, &'static str> {
    match p {
        Payload::Bundle { items } => {
            let ps = unbundle(&items)?;
            let raw = framed(body);
            ps.into_iter()
                .map(|p| admit(cfg, keys, from, p, &raw))
                .collect()
        }
        p => Ok(vec![admit(cfg, keys, from, p, &framed(body))?]),
    }
}

/// Checks an authenticated payload against the configuration; `raw` is
/// the complete frame it came in.
fn admit(
    cfg: &ClusterConfig,
    keys: &[ed25519_dalek::VerifyingKey],
    from: NodeIdx,
    p: Payload,
    raw: &Bytes,
) -> Result<Event, &'static str> {
    match p {
        Payload::Protocol(msg) => {
            check_acc(cfg, from, &msg)?;
            Ok(Event::Net {
                msg,
                raw: raw.clone(),
            })
        }
        Payload::SyncRequest { lr, from: s, limit } => Ok(Event::Control {
            from,
            msg: Control::SyncRequest { lr, from: s, limit },
        }),
        Payload::Status(st) => Ok(Event::Control {
            from,
            msg: Control::Status(st),
        }),
        Payload::Forward { cmds } => Ok(Event::Control {
            from,
            msg: Control::Forward { cmds },
        }),
        Payload::VotesRequest { from: lo, to } => Ok(Event::Control {
            from,
            msg: Control::VotesRequest { from: lo, to },
        }),
        Payload::Votes { frames } => {
            let opened = open_frames(&frames, keys, cfg.max_frame);
            let votes = frames
                .into_iter()
                .zip(opened)
                .map(|(f, o)| relayed_2b(cfg, o, f, "bad_votes"))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Event::Control {
                from,
                msg: Control::Votes { votes },
            })
        }
        Payload::Fetch { digests } => Ok(Event::Control {
            from,
            msg: Control::Fetch { digests },
        }),
        // The digest of the bytes is computed here, off the driver thread;
        // the core compares it with the digest they were sent for.
        Payload::Batches { batches } => Ok(Event::Control {
            from,
            msg: Control::Batches {
                batches: batches
                    .into_iter()
                    .map(|(d, b)| (d, hpaxos_core::Value::new(b.into_vec())))
                    .collect(),
            },
        }),
        Payload::Hello { .. } | Payload::Welcome { .. } | Payload::Refused { .. } => {
            Err("handshake_out_of_place")
        }
        Payload::Relay2av { frames } => {
            let opened = open_frames(&frames, keys, cfg.max_frame);
            let msgs = frames
                .into_iter()
                .zip(opened)
                .map(|(f, o)| relayed_2av(cfg, o, f))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Event::Control {
                from,
                msg: Control::Relay { msgs },
            })
        }
        // Opened by `admit_frame`: never inside a bundle.
        Payload::Bundle { .. } => Err("bad_bundle"),
        Payload::Witness { frames } => {
            let msgs = open_frames(&frames, keys, cfg.max_frame)
                .into_iter()
                .map(|o| relayed_1b_2b(cfg, o))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Event::Witness { msgs })
        }
        Payload::Attest { lr, slot, digest } => Ok(Event::Control {
            from,
            msg: Control::Attest {
                att: Attestation {
                    lr,
                    slot,
                    digest,
                    node: NodeId(from.0),
                },
                proof: Some(raw.clone()),
            },
        }),
        Payload::Snapshot {
            lr,
            slot,
            state,
            atts,
        } => {
            let opened = open_frames(&atts, keys, cfg.max_frame);
            let atts = atts
                .into_iter()
                .zip(opened)
                .map(|(f, o)| relayed_attestation(o, f))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Event::Control {
                from,
                msg: Control::Snapshot {
                    lr,
                    slot,
                    state,
                    atts,
                },
            })
        }
        Payload::SnapshotPart {
            lr,
            slot,
            total,
            offset,
            bytes,
        } => Ok(Event::Control {
            from,
            msg: Control::SnapshotPart {
                lr,
                slot,
                total,
                offset,
                bytes,
            },
        }),
        Payload::SyncResponse { lr, certs } => {
            let mut msgs = Vec::new();
            let frames: Vec<Vec<u8>> = certs.into_iter().flatten().collect();
            let opened = open_frames(&frames, keys, cfg.max_frame);
            for (frame, o) in frames.into_iter().zip(opened) {
                let (m, raw) = relayed_2b(cfg, o, frame, "bad_certificate")?;
                if m.lr != lr {
                    return Err("bad_certificate");
                }
                msgs.push((m, raw));
            }
            Ok(Event::Control {
                from,
                msg: Control::Certs {
                    lr,
                    certs: vec![msgs],
                },
            })
        }
    }
}

/// A relayed frame as [`open_frames`] opened it.
type Opened = Result<(NodeIdx, Payload), WireError>;

/// The complete frame (length prefix included) of a frame body.
fn framed(body: &[u8]) -> Bytes {
    let mut raw = Vec::with_capacity(body.len() + 4);
    raw.extend_from_slice(&(body.len() as u32).to_be_bytes());
    raw.extend_from_slice(body);
    Bytes::from(raw)
}

/// An attestation relayed in a snapshot: its frame must open as an
/// [`Payload::Attest`] under its signer's key; the signer, not anything
/// the relaying peer says, is the attestation's node (the core then
/// counts the signers' acceptors against the learner's quorums).
fn relayed_attestation(
    opened: Opened,
    frame: Vec<u8>,
) -> Result<(Attestation, Bytes), &'static str> {
    let Ok((signer, Payload::Attest { lr, slot, digest })) = opened else {
        return Err("bad_attestation");
    };
    let att = Attestation {
        lr,
        slot,
        digest,
        node: NodeId(signer.0),
    };
    Ok((att, Bytes::from(frame)))
}

/// A 2b relayed by a peer (in a certificate or a vote answer): its frame
/// must open as a 2b signed by the node that runs its acceptor; `err`
/// names the failure.
fn relayed_2b(
    cfg: &ClusterConfig,
    opened: Opened,
    frame: Vec<u8>,
    err: &'static str,
) -> Result<(hpaxos_core::Msg2b, Bytes), &'static str> {
    let Ok((signer, Payload::Protocol(msg))) = opened else {
        return Err(err);
    };
    check_acc(cfg, signer, &msg).map_err(|_| err)?;
    let Message::M2b(m) = msg else {
        return Err(err);
    };
    Ok((m, Bytes::from(frame)))
}

/// A 2av relayed behind a vote: signed by the node that runs its acceptor.
fn relayed_2av(
    cfg: &ClusterConfig,
    opened: Opened,
    frame: Vec<u8>,
) -> Result<(hpaxos_core::Msg2av, Bytes), &'static str> {
    let Ok((signer, Payload::Protocol(msg))) = opened else {
        return Err("bad_relay");
    };
    check_acc(cfg, signer, &msg).map_err(|_| "bad_relay")?;
    let Message::M2av(m) = msg else {
        return Err("bad_relay");
    };
    Ok((m, Bytes::from(frame)))
}

/// A 1b or 2b relayed for the equivocation cross-check: signed by the
/// node that runs its acceptor.
fn relayed_1b_2b(cfg: &ClusterConfig, opened: Opened) -> Result<Message, &'static str> {
    let Ok((signer, Payload::Protocol(msg))) = opened else {
        return Err("bad_witness");
    };
    check_acc(cfg, signer, &msg).map_err(|_| "bad_witness")?;
    match msg {
        Message::M1b(_) | Message::M2b(_) => Ok(msg),
        _ => Err("bad_witness"),
    }
}

/// A 1b, 2av or 2b must come from the node that runs its acceptor, and a
/// 1a (per slot or range) or 1c from a node configured as a proposer (the spec's
/// `ProposerAction`: an acceptor node that is not one cannot push ballots
/// up or announce values).
fn check_acc(cfg: &ClusterConfig, from: NodeIdx, msg: &Message) -> Result<(), &'static str> {
    if matches!(
        msg,
        Message::M1a(_) | Message::M1c(_) | Message::M1aRange(_)
    ) && !cfg.nodes.get(from.index()).is_some_and(|n| n.proposer)
    {
        return Err("not_a_proposer");
    }
    match msg.acc() {
        None => Ok(()),
        Some(a) => match cfg.acceptor_node.get(a.index()) {
            Some(Some(n)) if *n == from => Ok(()),
            Some(_) => Err("acc_mismatch"),
            None => Err("unknown_acceptor"),
        },
    }
}
