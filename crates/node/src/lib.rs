//! # hpaxos-node
//!
//! The networked, durable node that runs the protocol core of
//! `hpaxos-core` as a replicated key-value log, and the one-command demo.
//!
//! ## Data flow
//!
//! ```text
//! peer TCP ──frames──> transport (split, verify signature, check acc)
//!                         │ Event::Net (bounded queue: backpressure)
//! HTTP (axum) ─Submit─>   ▼
//!                       driver thread: NodeCore::step ─> Ready
//!                         ├─ persist ─> wal (append; ONE fsync per iteration)
//!                         ├─ send ────> sign once ─> per-peer bounded queues
//!                         └─ decisions > kv replicas (in slot order) ─> clients
//! ```
//!
//! Everything above the per-role state machines (routing between roles,
//! the leader and its failover, forwarding of client commands to the
//! leader, heartbeats, catch-up, certificates, compaction decisions, the
//! slot horizon) is `hpaxos_core::node::NodeCore`, the same code the
//! simulator runs; the driver only does the I/O around it. Any node that
//! runs a learner accepts commands; a client waits for the learner it names
//! (`?learner=L`), whatever the other learners can do.
//!
//! Modules: [`config`] (node tables in the PRODUCT.md file), [`keys`]
//! (Ed25519 identities), [`wire`] (frames and signed envelopes),
//! [`transport`] (TCP), [`wal`] (durability), [`driver`] (the loop),
//! [`hpaxos_core::pacemaker`] (proposer liveness, shared with the simulator),
//! [`snapshot`] (compacted log), [`kv`] (state machine), [`http`] (API), [`http_server`] (its limits), [`client`] (HTTP client),
//! [`metrics`], [`observe`] (the driver's gauges and quorum warnings),
//! [`handshake`] (peer connections), [`inbound`] (the listener),
//! [`ratelimit`] (warnings about peers), [`logging`] (log filter and format),
//! [`witness`] (equivocation cross-check), [`bundle`] (batch frames and
//! what each message costs), [`verify`] (batch signature verification), [`run`] (process startup), [`check`] (`node --check`),
//! [`demo`], [`testnet`] (a cluster's files from one command).
//!
//! ## Authentication: every message is signed
//!
//! Every frame a node sends is an envelope signed with the node's Ed25519
//! key over (domain tag, sender index, payload); receivers verify it against
//! the public key the configuration lists for that sender, and accept a 1b,
//! 2av or 2b only if its `acc` is the acceptor that sender runs. Unknown
//! senders, bad signatures and `acc` mismatches are counted
//! (`hpaxos_rejected_total{reason=...}`), logged and dropped before the
//! driver sees them.
//!
//! Why signatures on every message rather than authenticated channels with
//! signatures only where needed:
//! - a quorum of signed 2b frames is a **transferable decision
//!   certificate**: a lagging or restarted learner catches up by receiving
//!   certificates from any peer (even a Byzantine one cannot forge them);
//! - equivocation **evidence** (two conflicting 1b/2b from one acceptor) is
//!   only proof to a third party if both messages are signed;
//! - one mechanism, and the spec's assumption (messages are attributed to
//!   their sender) holds per message, whatever connection carried it. The
//!   connection handshake ([`handshake`]) only tells a peer from a foreign
//!   process or a node of another cluster (for operators and the peer
//!   gauges); it authenticates no message.
//!
//! The cost: one signature per 1b, 2av and 2b sent (evidence: each keeps
//! a frame and a signature of its own, so it can be relayed), and one per
//! **bundle** for everything else a driver iteration sends to one
//! destination (1a, 1c, heartbeats, fetches, certificates...:
//! [`bundle`], whose module doc has the per-message table and why a
//! bundle is still attributable: a frame signed by node N authenticates
//! each of its items as N's, and evidence never rides in one). Received
//! frames are verified by the connection reader tasks on the runtime's
//! workers (one per core), never on the driver thread, and the frames of
//! one read are checked together with Ed25519 batch verification
//! ([`verify`]: about 2x cheaper per signature from 3 frames on).
//! Measured (release build, on the 2-core development machine while other
//! builds ran, so upper bounds): signing a 2b frame costs 28-45 us and
//! verifying it alone 29-80 us, 15 us per frame in a batch of 8 or more,
//! against 0.2-2 us to encode and decode it unsigned. Rerun with
//! `cargo test -p hpaxos-node --release --lib -- --ignored --nocapture
//! --test-threads 1 sig_cost batch_verify_cost`.
//!
//! ## Durability
//!
//! The write-ahead log ([`wal`]) holds the core's `Durable` records; the
//! driver makes every record of an iteration durable with one fsync before
//! any message of that iteration leaves (group commit). The fsync stays on
//! the driver thread: events that arrive during it are taken by the next
//! iteration at once, and moving it to another thread while the driver
//! stepped those events meanwhile was measured slower (issue 9: p50 18-21
//! ms against 13-18 ms with 4 clients, 17.3k against 18.8k commands/s
//! under load, more CPU per command): the overlap saved only the stepping
//! time and added two thread hand-offs per iteration. Restart replays it
//! into `AcceptorDurable::apply`, `Acceptor::restore` and
//! `Learner::restore`.
//!
//! Slot garbage collection ([`driver`], "Slot garbage collection"): slots
//! more than `[cluster] retain_slots` below the low-water mark (every
//! learner's decided-and-applied prefix as this node knows it) are
//! compacted, and the log is rewritten as a snapshot ([`snapshot`]: the
//! compaction mark, each local replica's key-value state, the remaining
//! acceptor state and decisions) via a fsynced temporary file and an atomic
//! rename, so it stays bounded; a restart resumes from the snapshot.
//! An acceptor node follows the learners it does not run with *shadow*
//! learners (core `Learner`s fed with the signature-verified 2b it receives
//! and with certificates it asks learner nodes for when it lags); they only
//! tell it which slots are decided so that it can compact them: nothing
//! they learn is persisted, and the acceptor never votes from them. It
//! serves their certificates to lagging peers like a learner node does.
//!
//! ## Not done yet
//!
//! - The replica's set of applied command ids (deduplication of re-proposed
//!   commands) is never pruned: it grows by ~12 bytes per command, in
//!   memory and in every snapshot.
//! - Decision certificates are served from memory only (the last
//!   `2 x retain_slots` per followed learner, 64 to 4096); after a restart
//!   a node serves none for the slots decided before it. A node further
//!   behind catches up from an attested snapshot
//!   (`hpaxos_core::node::snapshot`), but only for learners with a quorum
//!   of acceptor nodes that also run that learner, and only when the state
//!   fits in one frame (no chunked transfer).
//! - After compaction `/v1/log` returns only the entries from the
//!   compaction mark on (the status `log_hash` still covers the whole log).
//! - Phase 1 is run per slot; no "phase 1 for all future slots" batch.
//! - 1a/1c are accepted from any authenticated node, and a Byzantine
//!   proposer's 1a at ballot `u64::MAX` still kills that slot for its
//!   learner (no ballot is above it).
//! - Frames are signed, not encrypted (no TLS); membership is static.

pub mod bundle;
pub mod check;
pub mod client;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod driver;
pub mod handshake;
pub mod http;
pub mod http_server;
pub mod inbound;
pub mod k8s;
pub mod keys;
pub mod kv;
pub mod logging;
pub mod metrics;
pub mod observe;
pub mod ratelimit;
pub mod run;
pub mod snapshot;
pub mod testnet;
pub mod transport;
pub mod verify;
pub mod wal;
pub mod wire;
pub mod witness;

pub use config::ClusterConfig;
pub use driver::Byzantine;
pub use logging::{init_logging, log_settings, LogFormat};
pub use run::{run_node, NodeArgs, NodeError};

/// An error and its chain of causes on one line (`a: b: c`), for log
/// lines and messages that must keep the cause (a full disk shows as
/// `write-ahead log PATH: No space left on device (os error 28)`).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !msg.ends_with(&t) {
            msg.push_str(": ");
            msg.push_str(&t);
        }
        src = s.source();
    }
    msg
}

pub fn parse_byzantine(s: &str) -> Result<Byzantine, String> {
    match s {
        "equivocate" => Ok(Byzantine::Equivocate),
        other => Err(format!(
            "unknown Byzantine mode {other:?} (known: equivocate)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden: a write-ahead log I/O error keeps its file and its cause.
    #[test]
    fn a_full_disk_names_the_file_and_the_cause() {
        let e = wal::WalError::Io {
            path: "data/n1/wal".into(),
            source: std::io::Error::from_raw_os_error(libc::ENOSPC),
        };
        assert_eq!(
            error_chain(&e),
            "write-ahead log data/n1/wal: No space left on device (os error 28)"
        );
    }
}
