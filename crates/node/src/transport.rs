//! TCP transport between nodes: one outgoing connection per peer fed by a
//! bounded queue, and a listener whose connection readers authenticate
//! every frame before handing it to the driver.
//!
//! Data flow (out): the driver seals a payload once and `try_send`s the
//! frame bytes into each peer's bounded queue; a full queue drops the frame
//! (counted): consensus tolerates loss, proposers retry, and a slow peer
//! never stalls the driver. The writer task reconnects with exponential
//! backoff and batches queued frames into one flush.
//!
//! Data flow (in): a reader task splits the stream into frames (rejecting
//! oversized ones before reading them, and closing the connection since
//! framing is lost), verifies the Ed25519 signature against the claimed
//! sender's configured key, checks that a 1b/2av/2b's `acc` is the acceptor
//! the signing node runs, and only then queues an [`Event`] for the driver.
//! The driver queue is bounded too: a reader waits when it is full, which
//! pushes back on the sending peer through TCP.

use crate::config::{ClusterConfig, HostPort};
use crate::driver::Event;
use crate::metrics::Metrics;
use crate::wire::{open, open_frame, FrameReader, NodeIdx, Payload, WireError};
use bytes::Bytes;
use hpaxos_core::node::Control;
use hpaxos_core::Message;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// A frame waiting for a peer, with when it was queued.
pub type Outgoing = (Instant, Bytes);

/// Outgoing queues, indexed by node (none for the node itself).
pub type PeerQueues = Vec<Option<mpsc::Sender<Outgoing>>>;

/// Frames older than this when their peer's connection can take them are
/// dropped (counted): after an outage the protocol retransmits what
/// liveness needs (1a/1c, and acceptors re-send their 2av/2b on a repeated
/// 1c) and learners catch up from decision certificates.
pub const STALE: Duration = Duration::from_secs(2);

/// Spawns one writer task per peer and returns their queues.
pub fn spawn_peers(cfg: &ClusterConfig, me: NodeIdx, metrics: Arc<Metrics>) -> PeerQueues {
    cfg.nodes
        .iter()
        .map(|n| {
            if n.idx == me {
                return None;
            }
            let (tx, rx) = mpsc::channel(cfg.peer_queue);
            tokio::spawn(outbound(
                n.addr.clone(),
                n.name.clone(),
                rx,
                metrics.clone(),
            ));
            Some(tx)
        })
        .collect()
}

/// Resolves `addr` (a name is looked up again on every call, so a peer
/// that came back on another IP is found) and connects to the first
/// address that answers.
async fn dial(addr: &HostPort) -> std::io::Result<TcpStream> {
    let mut last = None;
    for a in tokio::net::lookup_host(addr.as_str()).await? {
        match TcpStream::connect(a).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{addr} resolves to no address"),
        )
    }))
}

async fn outbound(addr: HostPort, name: String, mut rx: mpsc::Receiver<Outgoing>, m: Arc<Metrics>) {
    let mut backoff = Duration::from_millis(20);
    loop {
        let stream = match dial(&addr).await {
            Ok(s) => s,
            Err(e) => {
                tracing::trace!(peer = %name, %addr, "cannot connect: {e}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                if rx.is_closed() {
                    return;
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        backoff = Duration::from_millis(20);
        m.peers_connected.inc();
        tracing::debug!(peer = %name, %addr, "connected");
        let mut w = BufWriter::with_capacity(256 * 1024, stream);
        // Some(()) when the queue closed (shutdown), None on a write error.
        let ok: Option<()> = async {
            loop {
                let Some((at, f)) = rx.recv().await else {
                    return Some(());
                };
                write_fresh(&mut w, at, &f, &m).await?;
                while let Ok((at, f)) = rx.try_recv() {
                    write_fresh(&mut w, at, &f, &m).await?;
                }
                w.flush().await.ok()?;
            }
        }
        .await;
        m.peers_connected.dec();
        if ok.is_some() {
            return; // queue closed: shutting down
        }
        tracing::debug!(peer = %name, "connection lost; reconnecting");
    }
}

async fn write_fresh(
    w: &mut BufWriter<TcpStream>,
    at: Instant,
    f: &[u8],
    m: &Metrics,
) -> Option<()> {
    if at.elapsed() > STALE {
        m.send_stale.inc();
        return Some(());
    }
    w.write_all(f).await.ok()
}

/// Accepts peer connections forever.
pub async fn listen(
    listener: TcpListener,
    cfg: Arc<ClusterConfig>,
    events: mpsc::Sender<Event>,
    metrics: Arc<Metrics>,
) {
    loop {
        let Ok((s, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = s.set_nodelay(true);
        tokio::spawn(read_conn(
            s,
            peer,
            cfg.clone(),
            events.clone(),
            metrics.clone(),
        ));
    }
}

fn reject(m: &Metrics, peer: SocketAddr, e: &WireError) {
    m.rejected.inc(e.label());
    tracing::warn!(%peer, reason = e.label(), "rejected frame: {e}");
}

async fn read_conn(
    mut s: TcpStream,
    peer: SocketAddr,
    cfg: Arc<ClusterConfig>,
    events: mpsc::Sender<Event>,
    m: Arc<Metrics>,
) {
    let keys = cfg.keys();
    let mut fr = FrameReader::new(cfg.max_frame);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match s.read(&mut buf).await {
            Ok(0) | Err(_) => {
                if fr.buffered() > 0 {
                    reject(&m, peer, &WireError::Truncated);
                }
                return;
            }
            Ok(n) => n,
        };
        fr.extend(&buf[..n]);
        loop {
            let body = match fr.next_frame() {
                Ok(Some(b)) => b,
                Ok(None) => break,
                Err(e) => {
                    // Framing is lost: drop the connection.
                    reject(&m, peer, &e);
                    return;
                }
            };
            let ev = match open(&body, &keys) {
                Ok((from, p)) => match admit(&cfg, &keys, from, p, &body) {
                    Ok(ev) => ev,
                    Err(why) => {
                        m.rejected.inc(why);
                        tracing::warn!(%peer, from = from.0, reason = why, "rejected message");
                        continue;
                    }
                },
                Err(e) => {
                    reject(&m, peer, &e);
                    continue;
                }
            };
            if events.send(ev).await.is_err() {
                return;
            }
        }
    }
}

/// Checks an authenticated payload against the configuration.
fn admit(
    cfg: &ClusterConfig,
    keys: &[ed25519_dalek::VerifyingKey],
    from: NodeIdx,
    p: Payload,
    body: &[u8],
) -> Result<Event, &'static str> {
    match p {
        Payload::Protocol(msg) => {
            check_acc(cfg, from, &msg)?;
            let mut raw = Vec::with_capacity(body.len() + 4);
            raw.extend_from_slice(&(body.len() as u32).to_be_bytes());
            raw.extend_from_slice(body);
            Ok(Event::Net {
                msg,
                raw: Bytes::from(raw),
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
            let votes = frames
                .into_iter()
                .map(|f| relayed_2b(cfg, keys, f, "bad_votes"))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Event::Control {
                from,
                msg: Control::Votes { votes },
            })
        }
        Payload::Witness { frames } => {
            let msgs = frames
                .into_iter()
                .map(|f| relayed_1b_2b(cfg, keys, &f))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Event::Witness { msgs })
        }
        Payload::SyncResponse { lr, certs } => {
            let mut msgs = Vec::new();
            for frame in certs.into_iter().flatten() {
                let (m, raw) = relayed_2b(cfg, keys, frame, "bad_certificate")?;
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

/// A 2b relayed by a peer (in a certificate or a vote answer): its frame
/// must open as a 2b signed by the node that runs its acceptor; `err`
/// names the failure.
fn relayed_2b(
    cfg: &ClusterConfig,
    keys: &[ed25519_dalek::VerifyingKey],
    frame: Vec<u8>,
    err: &'static str,
) -> Result<(hpaxos_core::Msg2b, Bytes), &'static str> {
    let Ok((signer, Payload::Protocol(msg))) = open_frame(&frame, keys, cfg.max_frame) else {
        return Err(err);
    };
    check_acc(cfg, signer, &msg).map_err(|_| err)?;
    let Message::M2b(m) = msg else {
        return Err(err);
    };
    Ok((m, Bytes::from(frame)))
}

/// A 1b or 2b relayed for the equivocation cross-check: signed by the
/// node that runs its acceptor.
fn relayed_1b_2b(
    cfg: &ClusterConfig,
    keys: &[ed25519_dalek::VerifyingKey],
    frame: &[u8],
) -> Result<Message, &'static str> {
    let Ok((signer, Payload::Protocol(msg))) = open_frame(frame, keys, cfg.max_frame) else {
        return Err("bad_witness");
    };
    check_acc(cfg, signer, &msg).map_err(|_| "bad_witness")?;
    match msg {
        Message::M1b(_) | Message::M2b(_) => Ok(msg),
        _ => Err("bad_witness"),
    }
}

/// A 1b, 2av or 2b must come from the node that runs its acceptor, and a
/// 1a or 1c from a node configured as a proposer (the spec's
/// `ProposerAction`: an acceptor node that is not one cannot push ballots
/// up or announce values).
fn check_acc(cfg: &ClusterConfig, from: NodeIdx, msg: &Message) -> Result<(), &'static str> {
    if matches!(msg, Message::M1a(_) | Message::M1c(_))
        && !cfg.nodes.get(from.index()).is_some_and(|n| n.proposer)
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
