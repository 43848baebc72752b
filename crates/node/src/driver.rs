//! The driver loop of one node (raft-rs style): the only owner of the
//! protocol state, run on its own thread. Everything the protocol does
//! above the per-role state machines (routing between roles, the leader
//! and its failover, command forwarding, heartbeats, catch-up, certificates,
//! compaction decisions) is [`hpaxos_core::node::NodeCore`], the same code
//! the simulator drives; this file only does the I/O around it.
//!
//! One iteration takes every event queued (up to a bound): authenticated
//! messages, control messages, client submissions, queries; when none
//! arrives before the core's next wakeup (`NodeCore::next_wakeup`: a batch
//! delay, a ballot timeout, a heartbeat; at most 10 ms), a tick. Each one
//! is a `NodeCore::step`, whose [`Ready`] accumulates over the iteration.
//! All `persist` records of the iteration are appended to the write-ahead
//! log and made durable by **one** fsync (group commit over many messages
//! and slots); **only then** are the iteration's messages signed and sent,
//! decisions applied to the key-value replicas and clients answered; last,
//! a compaction the core asked for rewrites the log as a snapshot.
//!
//! State transfer (`hpaxos_core::node::snapshot`): each replica captures
//! its canonical state at every checkpoint slot and the driver hands it to
//! the core (which attests it); a verified peer snapshot the core asks to
//! install is appended to the log (`WalRecord::Installed`) in the same
//! group commit and replaces the replica before the iteration's decisions
//! are applied.
//!
//! Client acknowledgements are per learner: a command waits for the
//! learner its client named (or the node's first learner), whatever the
//! other learners can do.

use crate::bundle::{is_evidence, Outbox};
use crate::config::ClusterConfig;
use crate::kv::{encode_command, CmdId, CmdResult, Command, Op, Replica};
use crate::metrics::Metrics;
use crate::observe::Observer;
use crate::transport::PeerQueues;
use crate::wal::Wal;
use crate::wire::{seal, NodeIdx, Payload};
use crate::witness::Witness;
use bytes::Bytes;
use ed25519_dalek::SigningKey;
use hpaxos_core::node::{Control, Input, Install, NodeCore, NodeId, Note, Ready};
use hpaxos_core::pacemaker::Tick;
use hpaxos_core::{Decision, Kind, Learner, LearnerId, Message, Slot, Value};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Most events handled per iteration (one fsync each).
const MAX_BATCH: usize = 4096;
/// Longest wait for an event before the core's timers run anyway (the
/// core's `next_wakeup` does not cover every timer: leader, forwarding and
/// catch-up timeouts are checked at least this often).
const MAX_WAIT: Duration = Duration::from_millis(10);
/// Shortest wait: a wakeup that is already due after an iteration is
/// retried after this long, so a timer the core does not advance cannot
/// spin the thread.
const MIN_WAIT: Duration = Duration::from_millis(1);
/// Commands waiting at a node at most (beyond: clients are told to back off).
const PENDING_MAX: usize = 100_000;

/// Misbehaviour for fault tests: the node stays well-formed and signs
/// everything with its own key, but lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Byzantine {
    /// Sends its 1b, 2av and 2b with the true value to half of the peers and
    /// a conflicting value to the other half.
    Equivocate,
}

/// What the driver reacts to.
pub enum Event {
    /// An authenticated protocol message and its signed frame.
    Net {
        msg: Message,
        raw: Bytes,
    },
    /// An authenticated control message (certificates already verified).
    Control {
        from: NodeIdx,
        msg: Control<Bytes>,
    },
    /// A client command; answered once `learner` (or the node's first
    /// learner) applied it.
    Submit {
        op: Op,
        learner: Option<String>,
        reply: oneshot::Sender<Result<SubmitReply, String>>,
    },
    /// Signed 1b/2b relayed by a peer (signatures checked), for the
    /// equivocation cross-check only.
    Witness {
        msgs: Vec<Message>,
    },
    Tick,
    Query(Box<dyn FnOnce(&mut Driver) + Send>),
    Shutdown,
}

/// Answer to a submitted command.
#[derive(Clone, Debug, Serialize)]
pub struct SubmitReply {
    pub id: CmdId,
    pub slot: u64,
    /// The learner that applied it (the one the client waited for).
    pub learner: String,
    /// Previous value (put/delete) or current value (get), per learner
    /// that had applied it when the answer left.
    pub results: BTreeMap<String, Option<String>>,
    pub latency_ms: f64,
}

struct Waiter {
    reply: oneshot::Sender<Result<SubmitReply, String>>,
    started: Instant,
    learner: LearnerId,
    token: u64,
    results: BTreeMap<String, Option<String>>,
}

/// A learner run by this node: its key-value replica (the core learner
/// lives in the `NodeCore`).
pub struct LocalReplica {
    pub lr: LearnerId,
    pub replica: Replica,
}

pub struct Driver {
    pub cfg: Arc<ClusterConfig>,
    pub me: NodeIdx,
    key: SigningKey,
    pub core: NodeCore<Bytes>,
    pub replicas: Vec<LocalReplica>,
    /// Snapshots written (log rewrites).
    pub snapshots: u64,
    wal: Wal,
    peers: PeerQueues,
    pub metrics: Arc<Metrics>,
    waiters: HashMap<CmdId, Waiter>,
    seq: u64,
    byz: Option<Byzantine>,
    start: Instant,
    ready: Ready<Bytes>,
    /// Set when the write-ahead log failed: the node must stop.
    pub failed: Option<String>,
    observer: Observer,
    witness: Witness,
}

impl Driver {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: Arc<ClusterConfig>,
        me: NodeIdx,
        key: SigningKey,
        core: NodeCore<Bytes>,
        replicas: Vec<LocalReplica>,
        wal: Wal,
        peers: PeerQueues,
        metrics: Arc<Metrics>,
        byz: Option<Byzantine>,
    ) -> Driver {
        // Command ids must never repeat across restarts: start from the clock.
        let seq = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0)
            << 8;
        let witness = Witness::new(cfg.witness_frames);
        let mut replicas = replicas;
        for r in &mut replicas {
            r.replica.set_checkpoints(core.checkpoint_every());
        }
        Driver {
            cfg,
            me,
            key,
            core,
            replicas,
            snapshots: 0,
            wal,
            peers,
            metrics,
            waiters: HashMap::new(),
            seq,
            byz,
            start: Instant::now(),
            ready: Ready::default(),
            failed: None,
            observer: Observer::new(),
            witness,
        }
    }

    fn now(&self) -> Tick {
        Tick(self.start.elapsed().as_millis() as u64)
    }

    /// How long to wait for the next event: until the core's next wakeup
    /// (a batch delay, a ballot timeout, a heartbeat), at least
    /// [`MIN_WAIT`] and at most [`MAX_WAIT`].
    fn wait(&self) -> Duration {
        let now = self.start.elapsed();
        match self.core.next_wakeup() {
            Some(t) => Duration::from_millis(t.0)
                .saturating_sub(now)
                .clamp(MIN_WAIT, MAX_WAIT),
            None => MAX_WAIT,
        }
    }

    /// Runs until shutdown or a storage failure (returned as an error).
    /// `rt` is the node's runtime, whose timer bounds the waits for events.
    pub fn run(
        mut self,
        mut rx: mpsc::Receiver<Event>,
        rt: tokio::runtime::Handle,
    ) -> Result<(), String> {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            let wait = self.wait();
            match rt.block_on(async { tokio::time::timeout(wait, rx.recv()).await }) {
                Ok(Some(ev)) => batch.push(ev),
                Ok(None) => return Ok(()),
                // Nothing arrived before the core's next wakeup: its timers.
                Err(_) => batch.push(Event::Tick),
            }
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(ev) => batch.push(ev),
                    Err(_) => break,
                }
            }
            let mut stop = false;
            for ev in batch.drain(..) {
                match ev {
                    Event::Shutdown => stop = true,
                    ev => self.on_event(ev),
                }
            }
            self.finish_iteration();
            let now = self.now();
            self.observer.refresh(
                &self.cfg,
                &self.core,
                &self.replicas,
                &self.peers,
                &self.metrics,
                now,
                rx.len(),
            );
            if let Some(e) = self.failed.take() {
                return Err(e);
            }
            if stop {
                tracing::info!("driver stopped");
                return Ok(());
            }
        }
    }

    fn step(&mut self, input: Input<Bytes>) {
        let now = self.now();
        self.core.set_ballot_ceiling(ballot_ceiling());
        let mut ready = std::mem::take(&mut self.ready);
        self.core.step(now, input, &mut ready);
        self.ready = ready;
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Net { msg, raw } => {
                self.metrics.msgs_in.inc(kind_label(msg.kind()));
                self.observer.slot_seen(msg.slot());
                self.witness
                    .direct(&msg, &raw, &self.cfg.trust, &self.metrics);
                tracing::trace!(kind = kind_label(msg.kind()), slot = msg.slot().0, lr = msg.lr().0, bal = msg.bal().0, acc = ?msg.acc().map(|a| a.0), "recv");
                self.step(Input::Protocol { msg, proof: raw });
            }
            Event::Control { from, msg } => {
                // Relayed 2b are cross-checked too (`crate::witness`).
                let (trust, m) = (&self.cfg.trust, &self.metrics);
                match &msg {
                    Control::Certs { certs, .. } => {
                        let n: usize = certs.iter().map(|c| c.len()).sum();
                        m.certificates_received.inc_by(n as u64);
                        for (b, _) in certs.iter().flatten() {
                            self.witness.observe_2b(b, trust, m);
                        }
                    }
                    Control::Votes { votes } => {
                        for (b, _) in votes {
                            self.witness.observe_2b(b, trust, m);
                        }
                    }
                    _ => {}
                }
                self.step(Input::Control {
                    from: NodeId(from.0),
                    msg,
                });
            }
            Event::Submit { op, learner, reply } => self.submit(op, learner, reply),
            Event::Witness { msgs } => {
                for m in &msgs {
                    self.witness.observe(m, &self.cfg.trust, &self.metrics);
                }
            }
            Event::Tick => self.step(Input::Tick),
            Event::Query(f) => f(self),
            Event::Shutdown => {}
        }
    }

    fn submit(
        &mut self,
        op: Op,
        learner: Option<String>,
        reply: oneshot::Sender<Result<SubmitReply, String>>,
    ) {
        let lr = match &learner {
            Some(name) => match self.cfg.trust.graph().learner_id(name) {
                Some(l) if self.replicas.iter().any(|r| r.lr == l) => l,
                Some(_) => {
                    let _ = reply.send(Err(format!(
                        "this node does not run learner `{name}` (ask a node that does)"
                    )));
                    return;
                }
                None => {
                    let _ = reply.send(Err(format!("no learner `{name}` in the configuration")));
                    return;
                }
            },
            None => match self.replicas.first() {
                Some(r) => r.lr,
                None => {
                    let _ = reply.send(Err(
                        "this node runs no learner: send commands to a node that runs one".into(),
                    ));
                    return;
                }
            },
        };
        if self.core.pending_commands() >= PENDING_MAX {
            let _ = reply.send(Err("overloaded: too many commands pending here".into()));
            return;
        }
        self.seq += 1;
        let id = CmdId {
            origin: self.me.0,
            seq: self.seq,
        };
        self.metrics.commands_submitted.inc();
        self.waiters.insert(
            id,
            Waiter {
                reply,
                started: Instant::now(),
                learner: lr,
                token: self.seq,
                results: BTreeMap::new(),
            },
        );
        self.step(Input::Submit {
            token: self.seq,
            cmd: encode_command(&Command { id, op }),
        });
    }

    fn send_to(&self, peer: NodeIdx, f: Bytes) {
        if let Some(Some(q)) = self.peers.get(peer.index()) {
            if q.try_send((Instant::now(), f)).is_err() {
                self.metrics.send_dropped.inc();
            }
        }
    }

    fn send_all(&self, f: &Bytes) {
        let now = Instant::now();
        for q in self.peers.iter().flatten() {
            if q.try_send((now, f.clone())).is_err() {
                self.metrics.send_dropped.inc();
            }
        }
    }

    /// A control message as it goes on the wire.
    fn payload(c: Control<Bytes>, max_frame: usize) -> Payload {
        match c {
            Control::Fetch { digests } => Payload::Fetch { digests },
            Control::Batches { batches } => {
                // Within half of the largest frame a peer accepts (the
                // first value always: it fit in its 1c).
                let mut room = max_frame / 2;
                let mut out = Vec::new();
                for (d, v) in batches {
                    let Some(b) = v.bytes() else { continue };
                    if b.len() > room && !out.is_empty() {
                        break;
                    }
                    room = room.saturating_sub(b.len());
                    out.push((d, serde_bytes::ByteBuf::from(b.to_vec())));
                }
                Payload::Batches { batches: out }
            }
            Control::Status(s) => Payload::Status(s),
            Control::SyncRequest { lr, from, limit } => Payload::SyncRequest { lr, from, limit },
            Control::Certs { lr, certs } => Payload::SyncResponse {
                lr,
                certs: certs
                    .into_iter()
                    .map(|c| c.into_iter().map(|(_, f)| f.to_vec()).collect())
                    .collect(),
            },
            Control::Forward { cmds } => Payload::Forward { cmds },
            Control::VotesRequest { from, to } => Payload::VotesRequest { from, to },
            Control::Relay { msgs } => Payload::Relay2av {
                frames: frames_within(msgs.into_iter().map(|(_, f)| f), max_frame),
            },
            Control::Votes { votes } => Payload::Votes {
                frames: frames_within(votes.into_iter().map(|(_, f)| f), max_frame),
            },
            Control::Attest { att, .. } => Payload::Attest {
                lr: att.lr,
                slot: att.slot,
                digest: att.digest,
            },
            Control::Snapshot {
                lr,
                slot,
                state,
                atts,
            } => Payload::Snapshot {
                lr,
                slot,
                state,
                atts: atts.into_iter().map(|(_, f)| f.to_vec()).collect(),
            },
            Control::SnapshotPart {
                lr,
                slot,
                total,
                offset,
                bytes,
            } => Payload::SnapshotPart {
                lr,
                slot,
                total,
                offset,
                bytes,
            },
        }
    }

    /// Group commit, then send, then apply: the order that makes every
    /// message leave only after the state it depends on is durable.
    fn finish_iteration(&mut self) {
        self.metrics.batches.inc();
        if let Some(pm) = self.core.pacemaker() {
            Metrics::set_counter(&self.metrics.ballots_started, pm.stats().ballots_started);
        }
        let ns = self.core.stats;
        for (event, v) in [
            ("attested", ns.attestations_sent),
            ("served", ns.snapshots_served),
            ("installed", ns.snapshots_installed),
            ("refused", ns.snapshots_refused),
        ] {
            if v > 0 {
                Metrics::set_counter(&self.metrics.state_transfer.with(event), v);
            }
        }
        let mut ready = std::mem::take(&mut self.ready);
        for d in ready.persist.drain(..) {
            self.wal.append(&d);
            self.metrics.wal_records.inc();
        }
        // A verified snapshot is durable before anything depends on it.
        let installs: Vec<Install> = ready.install.drain(..).collect();
        for ins in &installs {
            if let Err(e) = self.wal.append_installed(ins.lr, &ins.state) {
                let e = crate::error_chain(&e);
                tracing::error!("cannot record an installed snapshot: {e}");
                self.failed = Some(e);
                return;
            }
            self.metrics.wal_records.inc();
        }
        if self.wal.has_pending() {
            let t = Instant::now();
            match self.wal.commit() {
                Ok(_) => {
                    self.metrics.fsyncs.inc();
                    self.metrics
                        .fsync_latency
                        .observe(t.elapsed().as_secs_f64());
                    self.metrics
                        .wal_bytes
                        .set(crate::metrics::g(self.wal.len_bytes()));
                }
                Err(e) => {
                    // Nothing of this iteration may leave: stop here.
                    let e = crate::error_chain(&e);
                    tracing::error!("write-ahead log failed: {e}");
                    self.failed = Some(e);
                    return;
                }
            }
        }
        // What may share a frame goes first, in one bundle per
        // destination (`crate::bundle`): 1a/1c, heartbeats and other
        // control messages; then the evidence, each message in a frame
        // of its own.
        let mut outbox = Outbox::default();
        let mut evidence = Vec::new();
        for m in ready.broadcast.drain(..) {
            tracing::trace!(kind = kind_label(m.kind()), slot = m.slot().0, lr = m.lr().0, bal = m.bal().0, acc = ?m.acc().map(|a| a.0), "send");
            if is_evidence(&m) {
                evidence.push(m);
            } else {
                self.metrics.msgs_out.inc(kind_label(m.kind()));
                self.observer.slot_seen(m.slot());
                outbox.all(&Payload::Protocol(m));
            }
        }
        let mut own_frames = Vec::new();
        for c in ready.send_all.drain(..) {
            match c {
                Control::Attest { att, .. } => {
                    let f = seal(
                        self.me,
                        &self.key,
                        &Payload::Attest {
                            lr: att.lr,
                            slot: att.slot,
                            digest: att.digest,
                        },
                    );
                    // Its signed frame is the proof served in snapshots.
                    self.core.own_attestation(&att, f.clone());
                    own_frames.push(f);
                }
                c => outbox.all(&Self::payload(c, self.cfg.max_frame)),
            }
        }
        if let Some(frames) = self.witness.take_relay(self.cfg.max_frame / 4) {
            if !frames.is_empty() {
                self.metrics.witness_sent.inc_by(frames.len() as u64);
                outbox.all(&Payload::Witness { frames });
            }
        }
        let mut snapshots = Vec::new();
        for (to, c) in ready.send.drain(..) {
            let to = NodeIdx(to.0);
            // State transfer goes in frames of its own, parts first.
            if matches!(c, Control::Snapshot { .. } | Control::SnapshotPart { .. }) {
                snapshots.push((to, c));
            } else {
                outbox.to(to, &Self::payload(c, self.cfg.max_frame));
            }
        }
        let sealed = outbox.seal(self.me, &self.key);
        self.metrics.frames_signed.inc_by(sealed.frames() as u64);
        for f in sealed.all.iter().chain(&own_frames) {
            self.send_all(f);
        }
        for m in evidence {
            self.broadcast(&m);
        }
        for (to, frames) in sealed.to {
            for f in frames {
                self.send_to(to, f);
            }
        }
        for (to, c) in snapshots {
            let f = seal(self.me, &self.key, &Self::payload(c, self.cfg.max_frame));
            if f.len() > self.cfg.max_frame {
                tracing::warn!(
                    bytes = f.len(),
                    max_frame = self.cfg.max_frame,
                    "a snapshot does not fit in a frame: not sent (raise max_frame_bytes)"
                );
                continue;
            }
            self.send_to(to, f);
        }
        self.report(&mut ready);
        let decisions: Vec<Decision> = ready.decided.drain(..).collect();
        let mut done = Vec::new();
        for ins in installs {
            self.install(ins, &mut done);
        }
        for d in decisions {
            self.apply_decision(d, &mut done);
        }
        let mut checkpoints = Vec::new();
        for r in &mut self.replicas {
            for (slot, state) in r.replica.take_checkpoints() {
                checkpoints.push((r.lr, slot, state));
            }
        }
        let compact = ready.compact.take();
        ready.clear();
        self.ready = ready;
        for token in done {
            self.step(Input::Done { token });
        }
        for (lr, slot, state) in checkpoints {
            self.step(Input::Checkpoint { lr, slot, state });
        }
        if let Some(below) = compact {
            self.compact(below);
        }
    }

    /// Counts rejections and evidence, logs the core's notes.
    fn report(&mut self, ready: &mut Ready<Bytes>) {
        for r in ready.rejected.drain(..) {
            let label = match r {
                hpaxos_core::Rejection::UnknownLearner(_) => "unknown_learner",
                hpaxos_core::Rejection::UnknownAcceptor(_) => "unknown_acceptor",
                hpaxos_core::Rejection::CompactedSlot(_) => "compacted_slot",
                hpaxos_core::Rejection::WrongRole => "wrong_role",
                hpaxos_core::Rejection::DigestMismatch => "digest_mismatch",
                hpaxos_core::Rejection::MalformedRange => "malformed_range",
            };
            self.metrics.rejected.inc(label);
            tracing::debug!(reason = label, "core rejected a message: {r}");
        }
        for e in ready.evidence.drain(..) {
            self.witness
                .core_evidence(&e, &self.cfg.trust, &self.metrics);
        }
        for n in ready.notes.drain(..) {
            match n {
                Note::View { view, leader, why } => {
                    let name = self.cfg.nodes.get(leader.index()).map(|n| n.name.as_str());
                    tracing::info!(view, leader = name, "new view: {why}");
                }
                Note::Sync { lr, peer, from } => {
                    let name = self.cfg.nodes.get(peer.index()).map(|n| n.name.as_str());
                    tracing::debug!(
                        learner = self.cfg.trust.learner_name(lr),
                        peer = name,
                        from = from.0,
                        "behind: asking for certificates"
                    );
                }
                Note::Horizon { slot } => {
                    tracing::warn!(slot = slot.0, "dropped messages beyond the slot horizon");
                }
                Note::Ceiling { slot, bal } => {
                    tracing::warn!(
                        slot = slot.0,
                        ballot = bal.0,
                        "dropped a 1a/1c above the ballot ceiling (a proposer far ahead of this node's clock, or Byzantine)"
                    );
                }
                Note::SnapshotInstalled {
                    lr,
                    slot,
                    peer,
                    local,
                } => {
                    let name = self.cfg.nodes.get(peer.index()).map(|n| n.name.as_str());
                    tracing::info!(
                        learner = self.cfg.trust.learner_name(lr),
                        peer = name,
                        slot = slot.0,
                        "behind what peers compacted: caught up from a snapshot{}",
                        if local {
                            ""
                        } else {
                            " (followed learner: prefix only)"
                        }
                    );
                }
                Note::SnapshotRefused {
                    lr,
                    slot,
                    peer,
                    why,
                } => {
                    // Rate-limited: a Byzantine peer may answer every request.
                    if self.core.stats.snapshots_refused.is_power_of_two() {
                        let name = self.cfg.nodes.get(peer.index()).map(|n| n.name.as_str());
                        tracing::warn!(
                            learner = self.cfg.trust.learner_name(lr),
                            peer = name,
                            slot = slot.0,
                            refused = self.core.stats.snapshots_refused,
                            "refused a snapshot: {why}"
                        );
                    }
                }
            }
        }
    }

    /// Every learner followed here decided the slots below this (see the
    /// core's compaction rule).
    pub fn low_water(&self) -> Option<Slot> {
        self.core.low_water()
    }

    /// Drops the replicas' compacted slots and rewrites the log.
    fn compact(&mut self, below: Slot) {
        for r in &mut self.replicas {
            r.replica.compact(below);
        }
        self.witness.compact(below);
        let locals: Vec<&Learner> = self.core.local_learners().map(|f| &f.core).collect();
        let ls: Vec<(&Learner, &Replica)> = locals
            .iter()
            .filter_map(|l| {
                self.replicas
                    .iter()
                    .find(|r| r.lr == l.id())
                    .map(|r| (*l, &r.replica))
            })
            .collect();
        let (snap, mut recs) =
            crate::snapshot::build(&self.cfg.trust, below, self.core.acceptor.as_ref(), &ls);
        // The bytes of every logged value still needed, before the
        // records that name them.
        let mut values = self.core.value_records(below);
        values.append(&mut recs);
        let recs = values;
        let before = self.wal.len_bytes();
        match self.wal.rewrite(&snap, &recs) {
            Ok(len) => {
                self.snapshots += 1;
                self.metrics.snapshots.inc();
                self.metrics.wal_bytes.set(crate::metrics::g(len));
                tracing::info!(
                    below = below.0,
                    bytes_before = before,
                    bytes_after = len,
                    "compacted; write-ahead log rewritten as a snapshot"
                );
            }
            Err((e, false)) => {
                // The old log is intact and complete: carry on.
                let e = crate::error_chain(&e);
                tracing::warn!("snapshot not written, keeping the log: {e}");
            }
            Err((e, true)) => {
                let e = crate::error_chain(&e);
                tracing::error!("write-ahead log failed after its rewrite: {e}");
                self.failed = Some(e);
            }
        }
    }

    /// Sends a 1b, 2av or 2b in a frame of its own (evidence: see
    /// `crate::bundle`).
    fn broadcast(&mut self, m: &Message) {
        self.metrics.msgs_out.inc(kind_label(m.kind()));
        self.metrics.frames_signed.inc();
        self.observer.slot_seen(m.slot());
        let f = seal(self.me, &self.key, &Payload::Protocol(m.clone()));
        if let Message::M2b(b) = m {
            self.core.own_proof(b, f.clone());
        }
        let lie = match (self.byz, m) {
            (Some(Byzantine::Equivocate), Message::M1b(_) | Message::M2av(_) | Message::M2b(_)) => {
                Some(seal(self.me, &self.key, &Payload::Protocol(equivocate(m))))
            }
            _ => None,
        };
        let now = Instant::now();
        for (i, q) in self.peers.iter().enumerate() {
            let Some(q) = q else { continue };
            let frame = match &lie {
                Some(l) if i % 2 == 1 => l.clone(),
                _ => f.clone(),
            };
            if q.try_send((now, frame)).is_err() {
                self.metrics.send_dropped.inc();
            }
        }
    }

    /// Replaces a local replica by a verified snapshot (already durable),
    /// answering the commands of the slots it then applies.
    fn install(&mut self, ins: Install, done: &mut Vec<u64>) {
        let name = self.cfg.trust.learner_name(ins.lr).to_string();
        let Some(r) = self.replicas.iter_mut().find(|r| r.lr == ins.lr) else {
            return;
        };
        match r.replica.install(&ins.state) {
            Ok(results) => {
                tracing::info!(
                    learner = %name,
                    slot = ins.slot.0,
                    bytes = ins.state.len(),
                    "installed a peer's snapshot (attested by a quorum)"
                );
                for (id, res) in results {
                    self.command_applied(ins.lr, &name, id, res, done);
                }
            }
            Err(e) => tracing::debug!(learner = %name, "snapshot not installed: {e}"),
        }
    }

    fn apply_decision(&mut self, d: Decision, done: &mut Vec<u64>) {
        let name = self.cfg.trust.learner_name(d.lr).to_string();
        let Some(r) = self.replicas.iter_mut().find(|r| r.lr == d.lr) else {
            return;
        };
        if r.replica.is_decided(d.slot) {
            return;
        }
        self.metrics.decisions.inc(&name);
        self.observer.decided(&self.metrics, &name, d.slot);
        let results = r.replica.decide(d.slot, d.bal, d.val);
        for (id, res) in results {
            self.command_applied(d.lr, &name, id, res, done);
        }
    }

    fn command_applied(
        &mut self,
        lr: LearnerId,
        learner: &str,
        id: CmdId,
        res: CmdResult,
        done: &mut Vec<u64>,
    ) {
        let Some(w) = self.waiters.get_mut(&id) else {
            return;
        };
        w.results.insert(learner.to_string(), res.value);
        if w.learner != lr {
            return;
        }
        if let Some(w) = self.waiters.remove(&id) {
            done.push(w.token);
            let secs = w.started.elapsed().as_secs_f64();
            self.metrics.submit_latency.observe(secs);
            self.metrics.commands_committed.inc();
            let _ = w.reply.send(Ok(SubmitReply {
                id,
                slot: res.slot.0,
                learner: learner.to_string(),
                results: w.results,
                latency_ms: secs * 1e3,
            }));
        }
    }

    /// The replica of learner `name`, when this node runs it.
    pub fn replica(&self, name: &str) -> Option<&Replica> {
        let lr = self.cfg.trust.graph().learner_id(name)?;
        self.replicas
            .iter()
            .find(|r| r.lr == lr)
            .map(|r| &r.replica)
    }

    /// A JSON summary of this node (the `/v1/status` body).
    /// `/ready`: the log is recovered (a driver exists only after
    /// recovery) and every learner this node runs has a quorum of its own
    /// among the acceptors heard from recently. `(ready, body)`.
    pub fn readiness(&self) -> (bool, serde_json::Value) {
        let reachable = self.core.reachable_acceptors(self.now());
        let trust = &self.cfg.trust;
        let learners: Vec<serde_json::Value> = self
            .replicas
            .iter()
            .map(|r| {
                serde_json::json!({
                    "name": trust.learner_name(r.lr),
                    "live_quorum": trust.is_quorum(r.lr, &reachable),
                })
            })
            .collect();
        let ready = learners.iter().all(|l| l["live_quorum"] == true);
        let names: Vec<&str> = reachable.iter().map(|a| trust.acceptor_name(a)).collect();
        (
            ready,
            serde_json::json!({
                "ready": ready,
                "recovered": true,
                "reachable_acceptors": names,
                "learners": learners,
            }),
        )
    }

    /// What this node's acceptor holds for `slot` (why a learner waits
    /// there): `maxBal` per learner, votes and proposals sent.
    fn acceptor_view(&self, slot: hpaxos_core::Slot) -> serde_json::Value {
        let hex12 = |d: &hpaxos_core::Digest| crate::keys::to_hex(&d.0[..6]);
        let t = &self.cfg.trust;
        let Some(d) = self.core.acceptor().and_then(|a| a.slot_durable(slot)) else {
            return serde_json::Value::Null;
        };
        let votes = |vs: &std::collections::BTreeSet<hpaxos_core::Vote>| -> Vec<serde_json::Value> {
            vs.iter()
                .map(|v| {
                    serde_json::json!([
                        t.learner_name(v.lr),
                        v.bal.0,
                        crate::kv::digest_hex(&v.val)[..12].to_string()
                    ])
                })
                .collect()
        };
        let names = |s: &hpaxos_core::AccSet| -> Vec<String> {
            s.iter().map(|a| t.acceptor_name(a).to_string()).collect()
        };
        let rx = self.core.acceptor().and_then(|a| a.received(slot));
        let one_b_from: Vec<serde_json::Value> = rx
            .iter()
            .flat_map(|r| &r.one_b)
            .map(|(l, b, from, ksa1)| {
                serde_json::json!([t.learner_name(*l), b.0, names(from), ksa1])
            })
            .collect();
        let two_av_from: Vec<serde_json::Value> = rx
            .iter()
            .flat_map(|r| &r.two_av)
            .map(|(l, b, dg, from)| {
                serde_json::json!([t.learner_name(*l), b.0, hex12(dg), names(from)])
            })
            .collect();
        let announced: Vec<u64> = rx.iter().flat_map(|r| &r.announced).map(|b| b.0).collect();
        serde_json::json!({
            "slot": slot.0,
            "max_bal": d.max_bal.iter().map(|(l, b)| (t.learner_name(*l).to_string(), b.0)).collect::<std::collections::BTreeMap<_, _>>(),
            "votes_sent": votes(&d.votes_sent),
            "two_av_sent": votes(&d.two_av_sent),
            "one_b_from": one_b_from,
            "two_av_from": two_av_from,
            "announced": announced,
        })
    }

    pub fn status(&self) -> serde_json::Value {
        let name = self.cfg.nodes.get(self.me.index()).map(|n| n.name.as_str());
        let pm = self.core.pacemaker();
        let learners: Vec<serde_json::Value> = self
            .replicas
            .iter()
            .map(|r| {
                let next = r.replica.next_slot();
                serde_json::json!({
                    "name": self.cfg.trust.learner_name(r.lr),
                    "applied_slots": next.0,
                    "last_applied_slot": next.0.checked_sub(1),
                    "commands_applied": r.replica.commands_applied(),
                    "keys": r.replica.kv().len(),
                    "invalid_values": r.replica.invalid_values(),
                    "log_hash": log_hash(&r.replica),
                    "current_ballot": pm.and_then(|p| p.ballot(next)).map(|b| b.0),
                    "next_slot_here": self.acceptor_view(next),
                })
            })
            .collect();
        let proposer = pm.map(|p| {
            let st = p.stats();
            serde_json::json!({
                "leader": p.is_leader(),
                "queued": p.queued(),
                "in_flight": p.in_flight(),
                "ballots_started": st.ballots_started,
                "retransmits": st.retransmits,
                "slots_completed": st.slots_completed,
                "slots_adopted": st.slots_adopted,
                "noops": st.noops,
                "commands_requeued": st.commands_requeued,
                "pinned_retries": st.pinned_retries,
                "takeovers": st.takeovers,
            })
        });
        let leader = self
            .core
            .leader_node()
            .and_then(|l| self.cfg.nodes.get(l.index()))
            .map(|n| n.name.clone());
        let ns = self.core.stats;
        serde_json::json!({
            "node": name,
            "acceptor": self.core.acceptor.as_ref().map(|a| self.cfg.trust.acceptor_name(a.id()).to_string()),
            "learners": learners,
            "proposer": proposer,
            "view": self.core.view(),
            "leader": leader,
            "view_changes": ns.view_changes,
            "commands_forwarded": ns.forwarded,
            "commands_pending": self.core.pending_commands(),
            "sync_requests": ns.sync_requests,
            "certificates_served": ns.certs_served,
            "beyond_horizon": ns.beyond_horizon,
            "above_ballot_ceiling": ns.above_ceiling,
            "values_held": self.core.values_held(),
            "value_fetches_pending": self.core.fetches_pending(),
            "decisions_awaiting_bytes": self.core.decisions_awaiting_bytes(),
            "values_fetched": ns.values_fetched,
            "values_served": ns.values_served,
            "digest_mismatches": ns.digest_mismatches,
            "range_phase1": self.core.range_phase1().then(|| serde_json::json!({
                "leadership": self.core.range_leadership().map(|(from, bal)| serde_json::json!({
                    "from": from.0,
                    "ballot": bal.0,
                })),
                "leaderships": ns.range_leaderships,
                "slots_straight_to_1c": ns.range_slots,
                "fallbacks": ns.range_fallbacks,
            })),
            "byzantine": self.byz.map(|b| format!("{b:?}")),
            "evidence": self.witness.status(&self.cfg.trust),
            "cluster_id": crate::handshake::cluster_id(&self.cfg),
            "max_slot_seen": self.core.max_slot_seen().0,
            "peers_connected": self.metrics.peers_connected.get(),
            "resident_bytes": crate::metrics::resident_bytes(),
            "fsyncs": self.metrics.fsyncs.get(),
            "compacted_below": self.core.compacted_below().0,
            "low_water": self.low_water().map(|s| s.0),
            "snapshots": self.snapshots,
            "certificates_held": self.core.certs_held(),
            "attestations_sent": ns.attestations_sent,
            "snapshots_served": ns.snapshots_served,
            "snapshots_installed": ns.snapshots_installed,
            "snapshots_refused": ns.snapshots_refused,
            "wal_bytes": self.wal.len_bytes(),
        })
    }
}

/// A hash of the applied log (slot, digest), to compare replicas at a glance.
pub fn log_hash(r: &Replica) -> String {
    format!("{:016x}", r.log_hash())
}

fn kind_label(k: Kind) -> &'static str {
    match k {
        Kind::K1a => "1a",
        Kind::K1b => "1b",
        Kind::K1c => "1c",
        Kind::K2av => "2av",
        Kind::K2b => "2b",
    }
}

/// The conflicting twin a Byzantine node sends to half of its peers.
fn equivocate(m: &Message) -> Message {
    let evil = |slot: Slot| Value::new(format!("equivocation in slot {}", slot.0).into_bytes());
    match m.clone() {
        Message::M1b(mut b) => {
            b.votes.clear();
            b.proposals.clear();
            Message::M1b(b)
        }
        Message::M2av(mut b) => {
            b.val = evil(b.slot);
            Message::M2av(b)
        }
        Message::M2b(mut b) => {
            b.val = evil(b.slot);
            Message::M2b(b)
        }
        other => other,
    }
}

/// How far ahead of this node's clock a proposer's ballot may be: honest
/// proposers start above their own clock's seconds `<< 16` (the ballot
/// floor in `run.rs`), so this is the clock skew tolerated between nodes.
pub const BALLOT_CEILING_SLACK_SECS: u64 = 600;

/// The ballot ceiling now (the core's "Ballot ceiling"): 1a and 1c above
/// it are dropped, so a 1a at `u64::MAX` cannot end a slot.
pub fn ballot_ceiling() -> hpaxos_core::Ballot {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    hpaxos_core::Ballot(secs.saturating_add(BALLOT_CEILING_SLACK_SECS) << 16)
}

/// Signed frames to relay, in order, within a quarter of the largest frame
/// a peer accepts (the rest is dropped: relays and vote answers are
/// retried).
fn frames_within(frames: impl Iterator<Item = Bytes>, max_frame: usize) -> Vec<Vec<u8>> {
    let mut room = max_frame / 4;
    let mut out = Vec::new();
    for f in frames {
        if f.len() > room {
            break;
        }
        room -= f.len();
        out.push(f.to_vec());
    }
    out
}
