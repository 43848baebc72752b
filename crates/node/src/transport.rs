//! TCP transport between nodes: one outgoing connection per peer fed by a
//! bounded queue (here), and a listener whose connection readers
//! authenticate every frame before handing it to the driver
//! ([`crate::inbound`]).
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
//! the signing node runs, and only then queues an [`Event`](crate::driver::Event) for the driver.
//! The driver queue is bounded too: a reader waits when it is full, which
//! pushes back on the sending peer through TCP.
//!
//! Hardening: every connection starts with the handshake
//! ([`crate::handshake`]); a peer counts as up (`hpaxos_peers_connected`,
//! `hpaxos_peer_up{peer}`) only once it welcomed this node, and a node of
//! another cluster is refused with the reason. Memory per connection is
//! bounded: until its peer is authenticated a connection accepts frames of
//! at most [`PREAUTH_MAX_FRAME`] bytes and must send its first frame within
//! the handshake timeout; afterwards nothing may stall for [`STALL`]; at
//! most [`max_inbound`] inbound connections are open at once, and
//! [`PER_NODE_INBOUND`] authenticated ones per node. Warnings
//! about bad input are rate-limited per peer and reason
//! ([`crate::ratelimit`]); the counters count everything.

use crate::config::{ClusterConfig, HostPort};
use crate::handshake::{self, HandshakeError, Local};
use crate::metrics::Metrics;
use crate::ratelimit::RateLimit;
use crate::wire::NodeIdx;
use bytes::Bytes;
use ed25519_dalek::VerifyingKey;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};

pub use crate::inbound::listen;

/// A frame waiting for a peer, with when it was queued.
pub type Outgoing = (Instant, Bytes);

/// Outgoing queues, indexed by node (none for the node itself).
pub type PeerQueues = Vec<Option<mpsc::Sender<Outgoing>>>;

/// Frames older than this when their peer's connection can take them are
/// dropped (counted): after an outage the protocol retransmits what
/// liveness needs (1a/1c, and acceptors re-send their 2av/2b on a repeated
/// 1c) and learners catch up from decision certificates.
pub const STALE: Duration = Duration::from_secs(2);
/// An inbound connection that receives nothing for this long is closed: a
/// frame started and not completed holds a buffer of up to
/// `max_frame_bytes`, and a live peer sends a heartbeat at least every
/// 250 ms, so an idle connection is a dead one (whose permit is given back).
pub const STALL: Duration = Duration::from_secs(30);
/// A peer unreachable this long (since start, or since it went down) is
/// reported (then at most once per rate-limit period).
const UNREACHABLE_GRACE: Duration = Duration::from_secs(5);

/// What the transport's tasks share: the configuration, this node's
/// identity, the metrics and the warning rate limit.
pub struct Net {
    pub cfg: Arc<ClusterConfig>,
    pub local: Local,
    pub metrics: Arc<Metrics>,
    pub(crate) keys: Vec<VerifyingKey>,
    warnings: RateLimit,
    /// Inbound connections open at once at most (each may buffer a frame).
    pub(crate) inbound: Arc<Semaphore>,
    /// Authenticated inbound connections open per node.
    per_node: std::sync::Mutex<Vec<usize>>,
}

/// Authenticated inbound connections one node may have open at once: a
/// reconnect while an old connection lingers, but not so many that one
/// (Byzantine) node holds the room of the others or much memory.
pub const PER_NODE_INBOUND: usize = 4;

/// One of a node's [`PER_NODE_INBOUND`] connections, given back on drop.
pub struct NodeSlot {
    net: Arc<Net>,
    node: usize,
}

impl Drop for NodeSlot {
    fn drop(&mut self) {
        if let Ok(mut v) = self.net.per_node.lock() {
            if let Some(n) = v.get_mut(self.node) {
                *n = n.saturating_sub(1);
            }
        }
    }
}

impl Net {
    pub fn new(cfg: Arc<ClusterConfig>, local: Local, metrics: Arc<Metrics>) -> Arc<Net> {
        let keys = cfg.keys();
        let inbound = Arc::new(Semaphore::new(max_inbound(&cfg)));
        let per_node = std::sync::Mutex::new(vec![0; cfg.nodes.len()]);
        Arc::new(Net {
            per_node,
            cfg,
            local,
            metrics,
            keys,
            warnings: RateLimit::default(),
            inbound,
        })
    }

    /// Takes one of `node`'s inbound connections; `None` when it has
    /// [`PER_NODE_INBOUND`] open already.
    pub(crate) fn claim(self: &Arc<Self>, node: NodeIdx) -> Option<NodeSlot> {
        let mut v = self.per_node.lock().ok()?;
        let n = v.get_mut(node.index())?;
        if *n >= PER_NODE_INBOUND {
            return None;
        }
        *n += 1;
        Some(NodeSlot {
            net: self.clone(),
            node: node.index(),
        })
    }

    /// Counts a rejection and warns about it (rate-limited per peer and
    /// reason; the next warning says how many were suppressed).
    pub(crate) fn reject(&self, peer: &str, reason: &'static str, what: &str) {
        self.metrics.rejected.inc(reason);
        self.warn(peer, reason, what);
    }

    pub(crate) fn warn(&self, peer: &str, reason: &'static str, what: &str) {
        if let Some(suppressed) = self.warnings.allow(peer, reason, Instant::now()) {
            if suppressed > 0 {
                tracing::warn!(
                    peer,
                    reason,
                    suppressed,
                    "{what} ({suppressed} more like it not logged)"
                );
            } else {
                tracing::warn!(peer, reason, "{what}");
            }
        }
    }
}

/// Inbound connections accepted at once: room for every peer to reconnect
/// while its old connection is still open, and a few more.
pub fn max_inbound(cfg: &ClusterConfig) -> usize {
    4 * cfg.nodes.len() + 16
}

/// Spawns one writer task per peer and returns their queues.
pub fn spawn_peers(net: &Arc<Net>) -> PeerQueues {
    net.cfg
        .nodes
        .iter()
        .map(|n| {
            if n.idx == net.local.me {
                return None;
            }
            let (tx, rx) = mpsc::channel(net.cfg.peer_queue);
            net.metrics.peer_up.set(&n.name, 0);
            tokio::spawn(outbound(net.clone(), n.idx, rx));
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

/// The writer task of one peer: connect, handshake, then copy the queue
/// to the connection; on any failure, back off and start again. Logs the
/// peer going up and down (transitions only).
async fn outbound(net: Arc<Net>, peer: NodeIdx, mut rx: mpsc::Receiver<Outgoing>) {
    let Some(spec) = net.cfg.nodes.get(peer.index()) else {
        return;
    };
    let (addr, name) = (spec.addr.clone(), spec.name.clone());
    let m = net.metrics.clone();
    let mut backoff = Duration::from_millis(20);
    // Since when the peer has been down (since start at first).
    let mut down_since = Instant::now();
    let mut was_up = false;
    // The last handshake failure logged (cleared when the peer comes up).
    let mut last_failure: Option<String> = None;
    loop {
        if rx.is_closed() {
            return;
        }
        let failure = match dial(&addr).await {
            Err(e) => Some((
                "unreachable",
                format!("peer {name} at {addr} is unreachable: {e}"),
            )),
            Ok(mut stream) => {
                let _ = stream.set_nodelay(true);
                match handshake::dial(&mut stream, &net.local, &net.cfg, &net.keys, peer).await {
                    Err(e @ HandshakeError::NoAnswer) => {
                        // An older node reads on without answering: its
                        // frames are verified one by one there, so send
                        // them, but do not count the peer as up.
                        m.rejected.inc(e.label());
                        net.warn(
                            &name,
                            e.label(),
                            &format!("peer {name} at {addr}: {e}; sending to it without counting it as connected (an older node during a rolling upgrade?)"),
                        );
                        match write_queue(stream, &mut rx, &m).await {
                            Ok(()) => return,
                            Err(e) => Some((
                                "unverified_lost",
                                format!("peer {name} at {addr} (no handshake): {e}"),
                            )),
                        }
                    }
                    Err(e) => {
                        m.rejected.inc(e.label());
                        Some((
                            e.label(),
                            format!("peer {name} at {addr}: handshake failed: {e}"),
                        ))
                    }
                    Ok(()) => {
                        backoff = Duration::from_millis(20);
                        m.peers_connected.inc();
                        m.peer_up.set(&name, 1);
                        if was_up {
                            tracing::warn!(peer = %name, %addr, down_ms = down_since.elapsed().as_millis() as u64, "peer up again");
                        } else {
                            tracing::info!(peer = %name, %addr, "peer up");
                        }
                        was_up = true;
                        last_failure = None;
                        let closed = write_queue(stream, &mut rx, &m).await;
                        m.peers_connected.dec();
                        m.peer_up.set(&name, 0);
                        match closed {
                            Ok(()) => return, // queue closed: shutting down
                            Err(e) => {
                                tracing::warn!(peer = %name, %addr, "peer down: {e}; reconnecting");
                                down_since = Instant::now();
                            }
                        }
                        None
                    }
                }
            }
        };
        if let Some((reason, what)) = failure {
            tracing::trace!(peer = %name, "{what}");
            let handshake = reason.starts_with("handshake");
            if handshake {
                // Logged once while it stays the same failure (counted
                // every time in `hpaxos_rejected_total`).
                if last_failure.as_deref() != Some(what.as_str()) {
                    tracing::warn!(peer = %name, reason, "{what}");
                    last_failure = Some(what);
                }
            } else if down_since.elapsed() >= UNREACHABLE_GRACE {
                net.warn(&name, reason, &what);
            }
            tokio::time::sleep(backoff).await;
            // A peer that answers but fails the handshake is retried slowly.
            let cap = if handshake {
                Duration::from_secs(5)
            } else {
                Duration::from_secs(1)
            };
            backoff = (backoff * 2).min(cap);
        }
    }
}

/// Copies queued frames to the connection until the queue closes
/// (`Ok`) or a write fails (`Err`, with the cause).
async fn write_queue(
    stream: TcpStream,
    rx: &mut mpsc::Receiver<Outgoing>,
    m: &Metrics,
) -> std::io::Result<()> {
    let mut w = BufWriter::with_capacity(256 * 1024, stream);
    loop {
        let Some((at, f)) = rx.recv().await else {
            return Ok(());
        };
        write_fresh(&mut w, at, &f, m).await?;
        while let Ok((at, f)) = rx.try_recv() {
            write_fresh(&mut w, at, &f, m).await?;
        }
        w.flush().await?;
    }
}

async fn write_fresh(
    w: &mut BufWriter<TcpStream>,
    at: Instant,
    f: &[u8],
    m: &Metrics,
) -> std::io::Result<()> {
    if at.elapsed() > STALE {
        m.send_stale.inc();
        return Ok(());
    }
    w.write_all(f).await
}
