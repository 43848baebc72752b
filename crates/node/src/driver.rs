//! The driver loop of one node (raft-rs style): the only owner of the
//! protocol state, run on its own thread.
//!
//! One iteration takes every event queued (up to a bound): authenticated
//! messages, client submissions, ticks, queries. Each message goes through
//! the core (`Acceptor::handle`, `Learner::handle`, `Proposer::handle`);
//! the node's own outgoing messages are delivered to its other roles at
//! once (an acceptor never gets its own message back: the core already
//! received it). All `Effects::persist` records of the iteration are
//! appended to the write-ahead log and made durable by **one** fsync (group
//! commit over many messages and slots); **only then** are the iteration's
//! messages signed and sent, decisions applied to the key-value replicas and
//! clients answered.
//!
//! ## Slot garbage collection
//!
//! The **low-water mark** is the first slot not known decided-and-done for
//! some learner: for a learner this node runs, its replica's applied prefix
//! (`Replica::next_slot`); for every other learner, when this node runs an
//! acceptor, the contiguous prefix its *shadow learner* decided (a core
//! `Learner` fed with every authenticated 2b this node receives, including
//! the 2b of decision certificates asked from learner nodes; it decides only
//! on a quorum of that learner (`Trust::is_quorum`) of signature-verified
//! 2b, and its decisions are never persisted nor applied). Once the mark
//! minus `[cluster] retain_slots` has advanced by half the retention since
//! the last time, every slot below it is compacted (`Acceptor::compact`,
//! `Learner::compact`, `Replica::compact`) and the write-ahead log is
//! rewritten as a snapshot (`snapshot`, `Wal::rewrite`).
//!
//! Why this weakens no guard: only slots that every learner has decided
//! (and every local learner applied) are dropped; the acceptor then rejects
//! every later message of those slots (`Rejection::CompactedSlot`), which is
//! an acceptor that stops taking steps in them, a behaviour the spec allows
//! any acceptor; it never acts in them again from a forgotten state. A
//! learner elsewhere that still lacks one of those slots catches up from the
//! decision certificates learner nodes serve (they keep the last
//! `CERTS_KEPT` per learner in memory, independently of compaction); the
//! retention keeps the recent slots' acceptor state for stragglers.

use crate::config::ClusterConfig;
use crate::kv::{encode_command, CmdId, CmdResult, Command, Op, Replica};
use crate::metrics::Metrics;
use crate::transport::PeerQueues;
use crate::wal::Wal;
use crate::wire::{seal, NodeIdx, Payload};
use bytes::Bytes;
use ed25519_dalek::SigningKey;
use hpaxos_core::pacemaker::{Action, Pacemaker, Tick};
use hpaxos_core::{
    Acceptor, AcceptorId, Ballot, Decision, Effects, Kind, Learner, LearnerId, Message, Proposer,
    Slot, Value,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// Most events handled per iteration (one fsync each).
const MAX_BATCH: usize = 4096;
/// Decision certificates kept per learner for lagging peers.
const CERTS_KEPT: usize = 8192;
/// Period of catch-up checks.
const SYNC_EVERY_MS: u64 = 250;
/// Commands queued at a proposer at most (beyond: clients are told to back off).
const QUEUE_MAX: usize = 100_000;
/// Slots further than this above a node's applied prefix are not reported
/// to the pacemaker (a Byzantine sender could otherwise make it fill
/// no-ops up to an arbitrary slot).
const HORIZON: u64 = 4096;

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
    /// A peer asks for decision certificates.
    SyncRequest {
        peer: NodeIdx,
        lr: LearnerId,
        from: Slot,
        limit: u32,
    },
    /// Verified 2b messages of decision certificates, with their frames.
    Certs {
        msgs: Vec<(Message, Bytes)>,
    },
    /// A client command; answered once every local learner applied it.
    Submit {
        op: Op,
        reply: oneshot::Sender<Result<SubmitReply, String>>,
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
    /// Previous value (put/delete) or current value (get), per learner.
    pub results: BTreeMap<String, Option<String>>,
    pub latency_ms: f64,
}

struct Waiter {
    reply: oneshot::Sender<Result<SubmitReply, String>>,
    started: Instant,
    results: BTreeMap<String, Option<String>>,
    slot: Slot,
}

/// A learner this node does not run, followed (when this node runs an
/// acceptor) only to know which slots it has decided, so that they can be
/// compacted. Nothing it learns is persisted or applied.
pub struct Shadow {
    pub core: Learner,
    decided: BTreeSet<Slot>,
    /// Every slot below this is decided for this learner (or compacted).
    pub next: Slot,
    last_next: Slot,
    sync_rr: usize,
}

impl Shadow {
    pub fn new(core: Learner, me: NodeIdx) -> Shadow {
        let next = core.compacted_below();
        Shadow {
            core,
            decided: BTreeSet::new(),
            next,
            last_next: next,
            sync_rr: me.index(),
        }
    }

    fn is_decided(&self, slot: Slot) -> bool {
        slot < self.next || self.decided.contains(&slot)
    }

    fn decided(&mut self, slot: Slot) {
        if slot >= self.next && self.decided.len() < HORIZON as usize {
            self.decided.insert(slot);
        }
        while self.decided.remove(&self.next) {
            self.next = Slot(self.next.0 + 1);
        }
    }
}

/// A learner run by this node and its replica.
pub struct LocalLearner {
    pub core: Learner,
    pub replica: Replica,
    last_next: Slot,
    sync_rr: usize,
}

pub struct Driver {
    pub cfg: Arc<ClusterConfig>,
    pub me: NodeIdx,
    key: SigningKey,
    pub acceptor: Option<Acceptor>,
    pub learners: Vec<LocalLearner>,
    pub shadows: Vec<Shadow>,
    shadow_fx: Effects,
    /// Slots below this are garbage-collected.
    pub compacted_below: Slot,
    /// Snapshots written (log rewrites).
    pub snapshots: u64,
    pub proposer: Option<(Proposer, Pacemaker)>,
    wal: Wal,
    peers: PeerQueues,
    pub metrics: Arc<Metrics>,
    waiters: HashMap<CmdId, Waiter>,
    seq: u64,
    /// Signed 2b frames of undecided slots, for certificates.
    sig2b: BTreeMap<(Slot, LearnerId, Ballot, AcceptorId), Bytes>,
    certs: BTreeMap<(LearnerId, Slot), Vec<Bytes>>,
    byz: Option<Byzantine>,
    start: Instant,
    fx: Effects,
    out: Vec<Message>,
    local: VecDeque<Message>,
    decisions: Vec<Decision>,
    max_slot_seen: Slot,
    last_sync: u64,
    /// Set when the write-ahead log failed: the node must stop.
    pub failed: Option<String>,
}

impl Driver {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: Arc<ClusterConfig>,
        me: NodeIdx,
        key: SigningKey,
        acceptor: Option<Acceptor>,
        learners: Vec<(Learner, Replica)>,
        proposer: Option<(Proposer, Pacemaker)>,
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
        let mut compacted_below = acceptor
            .as_ref()
            .map(|a| a.compacted_below())
            .unwrap_or_default();
        for (l, _) in &learners {
            compacted_below = compacted_below.max(l.compacted_below());
        }
        // An acceptor node follows every learner it does not run.
        let shadows = match &acceptor {
            None => Vec::new(),
            Some(_) => cfg
                .trust
                .learners()
                .filter(|lr| !learners.iter().any(|(l, _)| l.id() == *lr))
                .map(|lr| {
                    let core = Learner::restore(
                        lr,
                        cfg.trust.clone(),
                        &[hpaxos_core::Durable::Compacted {
                            below: compacted_below,
                        }],
                    );
                    Shadow::new(core, me)
                })
                .collect(),
        };
        let learners = learners
            .into_iter()
            .map(|(core, replica)| LocalLearner {
                last_next: replica.next_slot(),
                core,
                replica,
                sync_rr: me.index(),
            })
            .collect();
        Driver {
            cfg,
            me,
            key,
            acceptor,
            learners,
            shadows,
            shadow_fx: Effects::default(),
            compacted_below,
            snapshots: 0,
            proposer,
            wal,
            peers,
            metrics,
            waiters: HashMap::new(),
            seq,
            sig2b: BTreeMap::new(),
            certs: BTreeMap::new(),
            byz,
            start: Instant::now(),
            fx: Effects::default(),
            out: Vec::new(),
            local: VecDeque::new(),
            decisions: Vec::new(),
            max_slot_seen: Slot(0),
            last_sync: 0,
            failed: None,
        }
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Runs until shutdown or a storage failure (returned as an error).
    pub fn run(mut self, mut rx: mpsc::Receiver<Event>) -> Result<(), String> {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            let Some(ev) = rx.blocking_recv() else {
                return Ok(());
            };
            batch.push(ev);
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
            if let Some(e) = self.failed.take() {
                return Err(e);
            }
            if stop {
                tracing::info!("driver stopped");
                return Ok(());
            }
        }
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Net { msg, raw } => {
                self.note_2b(&msg, raw);
                self.deliver(&msg);
            }
            Event::Certs { msgs } => {
                self.metrics
                    .certificates_received
                    .fetch_add(msgs.len() as u64, Ordering::Relaxed);
                for (msg, raw) in msgs {
                    self.note_2b(&msg, raw);
                    self.deliver(&msg);
                }
            }
            Event::SyncRequest {
                peer,
                lr,
                from,
                limit,
            } => self.answer_sync(peer, lr, from, limit),
            Event::Submit { op, reply } => self.submit(op, reply),
            Event::Tick => self.tick(),
            Event::Query(f) => f(self),
            Event::Shutdown => {}
        }
    }

    /// Processes one message and, recursively, the node's own messages it
    /// produces.
    fn deliver(&mut self, first: &Message) {
        self.local.push_back(first.clone());
        self.drain_local();
    }

    fn drain_local(&mut self) {
        while let Some(m) = self.local.pop_front() {
            self.metrics.msgs_in.inc(kind_label(m.kind()));
            if m.slot() > self.max_slot_seen {
                self.max_slot_seen = m.slot();
            }
            let now = self.now_ms();
            self.fx.clear();
            if let Some(a) = &mut self.acceptor {
                if m.acc() != Some(a.id()) {
                    a.handle(&m, &mut self.fx);
                }
            }
            if let Message::M2b(b) = &m {
                for l in &mut self.learners {
                    if l.core.id() == b.lr {
                        l.core.handle(&m, &mut self.fx);
                    }
                }
                let mut certs = Vec::new();
                for sh in &mut self.shadows {
                    if sh.core.id() == b.lr {
                        self.shadow_fx.clear();
                        sh.core.handle(&m, &mut self.shadow_fx);
                        for d in self.shadow_fx.decisions.drain(..) {
                            if !sh.is_decided(d.slot) {
                                if let Some(c) = sh.core.certificate(d.slot) {
                                    certs.push((d.lr, d.slot, c));
                                }
                            }
                            sh.decided(d.slot);
                        }
                    }
                }
                // An acceptor node serves the certificates of the learners
                // it follows too (their own nodes may all have been down).
                for (lr, slot, c) in certs {
                    self.store_cert(lr, slot, &c);
                    let lo = (slot, lr, Ballot(0), AcceptorId(0));
                    let hi = (slot, lr, Ballot(u64::MAX), AcceptorId(u16::MAX));
                    let keys: Vec<_> = self.sig2b.range(lo..=hi).map(|(k, _)| *k).collect();
                    for k in keys {
                        self.sig2b.remove(&k);
                    }
                }
            }
            let horizon = Slot(self.applied_below().0.saturating_add(HORIZON));
            if let Some((p, pm)) = &mut self.proposer {
                if let Message::M1b(_) = &m {
                    p.handle(&m, &mut self.fx);
                }
                // Only messages the core admitted say which slots are in use.
                let started = matches!(m.kind(), Kind::K1b | Kind::K2av | Kind::K2b);
                if started && self.fx.rejected.is_empty() && m.slot() < horizon {
                    pm.observe(Tick(now), m.slot(), m.bal());
                }
            }
            self.absorb();
        }
    }

    /// Moves the effects of one step into the iteration's buffers.
    fn absorb(&mut self) {
        for d in self.fx.persist.drain(..) {
            self.wal.append(&d);
            self.metrics.wal_records.fetch_add(1, Ordering::Relaxed);
        }
        for m in self.fx.send.drain(..) {
            self.out.push(m.clone());
            self.local.push_back(m);
        }
        self.decisions.append(&mut self.fx.decisions);
        for r in self.fx.rejected.drain(..) {
            let label = match r {
                hpaxos_core::Rejection::UnknownLearner(_) => "unknown_learner",
                hpaxos_core::Rejection::UnknownAcceptor(_) => "unknown_acceptor",
                hpaxos_core::Rejection::CompactedSlot(_) => "compacted_slot",
                hpaxos_core::Rejection::WrongRole => "wrong_role",
            };
            self.metrics.rejected.inc(label);
            tracing::debug!(reason = label, "core rejected a message: {r}");
        }
        for e in self.fx.evidence.drain(..) {
            self.metrics.evidence.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                acceptor = self.cfg.trust.acceptor_name(e.acc),
                "equivocation evidence: {:?} vs {:?}",
                e.first.kind(),
                e.second.kind()
            );
        }
    }

    fn note_2b(&mut self, m: &Message, raw: Bytes) {
        if let Message::M2b(b) = m {
            let done = self
                .learners
                .iter()
                .filter(|l| l.core.id() == b.lr)
                .all(|l| l.replica.is_decided(b.slot))
                && self
                    .shadows
                    .iter()
                    .filter(|s| s.core.id() == b.lr)
                    .all(|s| s.is_decided(b.slot));
            if !done {
                self.sig2b.insert((b.slot, b.lr, b.bal, b.acc), raw);
            }
        }
    }

    fn submit(&mut self, op: Op, reply: oneshot::Sender<Result<SubmitReply, String>>) {
        let now = self.now_ms();
        let Some((_, pm)) = &mut self.proposer else {
            let _ = reply.send(Err("this node is not a proposer".into()));
            return;
        };
        self.seq += 1;
        let id = CmdId {
            origin: self.me.0,
            seq: self.seq,
        };
        if pm.queued() >= QUEUE_MAX {
            let _ = reply.send(Err("overloaded: the proposer queue is full".into()));
            return;
        }
        pm.submit(Tick(now), encode_command(&Command { id, op }));
        self.metrics
            .commands_submitted
            .fetch_add(1, Ordering::Relaxed);
        self.waiters.insert(
            id,
            Waiter {
                reply,
                started: Instant::now(),
                results: BTreeMap::new(),
                slot: Slot(0),
            },
        );
    }

    fn tick(&mut self) {
        let now = self.now_ms();
        if now >= self.last_sync + SYNC_EVERY_MS {
            self.last_sync = now;
            self.request_sync();
        }
    }

    /// Runs the pacemaker: new batches, retransmissions, new ballots,
    /// adoptions. The proposer's 1a/1c reach the local acceptor at once.
    fn poll(&mut self) {
        let now = self.now_ms();
        let learners: Vec<LearnerId> = self.cfg.trust.learners().collect();
        let Some((p, pm)) = &mut self.proposer else {
            return;
        };
        let mut actions = Vec::new();
        pm.poll(Tick(now), &mut actions);
        if actions.is_empty() {
            return;
        }
        self.fx.clear();
        for a in actions {
            match a {
                Action::Start {
                    slot,
                    ballot,
                    value,
                } => {
                    self.metrics.ballots_started.fetch_add(1, Ordering::Relaxed);
                    p.start(slot, &learners, ballot, value, &mut self.fx);
                }
                Action::Retransmit { slot, .. } => p.retransmit(slot, &mut self.fx),
            }
        }
        self.absorb();
        self.drain_local();
    }

    /// Every local learner applied the slots below this.
    fn applied_below(&self) -> Slot {
        self.learners
            .iter()
            .map(|l| l.replica.next_slot())
            .min()
            .unwrap_or_default()
    }

    /// Asks a peer for certificates when a local learner is behind and made
    /// no progress since the last check.
    fn request_sync(&mut self) {
        let mut reqs = Vec::new();
        for l in &mut self.learners {
            let next = l.replica.next_slot();
            let behind = self.max_slot_seen >= next && self.max_slot_seen.0 > 0
                || l.replica.highest_decided().is_some_and(|h| h >= next);
            if behind && next == l.last_next {
                let holders = sync_holders(&self.cfg, self.me, l.core.id());
                if !holders.is_empty() {
                    l.sync_rr = l.sync_rr.wrapping_add(1);
                    reqs.push((holders[l.sync_rr % holders.len()], l.core.id(), next));
                }
            }
            l.last_next = next;
        }
        // An acceptor behind on another learner's decisions asks for its
        // certificates too (to compact; it never votes from them).
        for sh in &mut self.shadows {
            let next = sh.next;
            let behind = self.max_slot_seen >= next && self.max_slot_seen.0 > 0;
            if behind && next == sh.last_next {
                let holders = sync_holders(&self.cfg, self.me, sh.core.id());
                if !holders.is_empty() {
                    sh.sync_rr = sh.sync_rr.wrapping_add(1);
                    reqs.push((holders[sh.sync_rr % holders.len()], sh.core.id(), next));
                }
            }
            sh.last_next = next;
        }
        for (peer, lr, from) in reqs {
            let p = Payload::SyncRequest {
                lr,
                from,
                limit: 256,
            };
            let f = seal(self.me, &self.key, &p);
            self.send_to(peer, f);
        }
    }

    fn answer_sync(&mut self, peer: NodeIdx, lr: LearnerId, from: Slot, limit: u32) {
        let budget = self.cfg.max_frame / 2;
        let mut size = 0;
        let mut certs = Vec::new();
        for ((_, _), frames) in self
            .certs
            .range((lr, from)..=(lr, Slot(u64::MAX)))
            .take(limit.min(1024) as usize)
        {
            size += frames.iter().map(|f| f.len() + 8).sum::<usize>();
            if size > budget && !certs.is_empty() {
                break;
            }
            certs.push(frames.iter().map(|f| f.to_vec()).collect());
        }
        if certs.is_empty() {
            return;
        }
        let f = seal(self.me, &self.key, &Payload::SyncResponse { lr, certs });
        self.send_to(peer, f);
    }

    fn send_to(&self, peer: NodeIdx, f: Bytes) {
        if let Some(Some(q)) = self.peers.get(peer.index()) {
            if q.try_send((Instant::now(), f)).is_err() {
                self.metrics.send_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Group commit, then send, then apply: the order that makes every
    /// message leave only after the state it depends on is durable.
    fn finish_iteration(&mut self) {
        self.poll();
        self.metrics.batches.fetch_add(1, Ordering::Relaxed);
        if self.wal.has_pending() {
            let t = Instant::now();
            match self.wal.commit() {
                Ok(_) => {
                    self.metrics.fsyncs.fetch_add(1, Ordering::Relaxed);
                    self.metrics
                        .fsync_latency
                        .observe(t.elapsed().as_secs_f64());
                    self.metrics
                        .wal_bytes
                        .store(self.wal.len_bytes(), Ordering::Relaxed);
                }
                Err(e) => {
                    // Nothing of this iteration may leave: stop here.
                    tracing::error!("write-ahead log failed: {e}");
                    self.failed = Some(e.to_string());
                    self.out.clear();
                    self.decisions.clear();
                    return;
                }
            }
        }
        let out = std::mem::take(&mut self.out);
        for m in &out {
            self.broadcast(m);
        }
        let decisions = std::mem::take(&mut self.decisions);
        for d in decisions {
            self.apply_decision(d);
        }
        self.maybe_compact();
    }

    /// The first slot not known decided for some learner (see the module
    /// doc): local replicas' applied prefixes and shadows' decided ones.
    pub fn low_water(&self) -> Option<Slot> {
        self.learners
            .iter()
            .map(|l| l.replica.next_slot())
            .chain(self.shadows.iter().map(|s| s.next))
            .min()
    }

    /// Compacts the slots below `low_water - retain_slots` once that mark
    /// advanced by half the retention, then rewrites the log as a snapshot.
    fn maybe_compact(&mut self) {
        let retain = self.cfg.retain_slots;
        let Some(low) = self.low_water() else {
            return;
        };
        let target = Slot(low.0.saturating_sub(retain));
        let step = (retain / 2).max(1);
        if target.0 < self.compacted_below.0.saturating_add(step) {
            return;
        }
        self.compact(target);
    }

    /// Garbage-collects every slot below `below` and rewrites the log.
    pub fn compact(&mut self, below: Slot) {
        if below <= self.compacted_below {
            return;
        }
        // The Compacted records go into the snapshot, not the old log.
        let mut fx = Effects::default();
        if let Some(a) = &mut self.acceptor {
            a.compact(below, &mut fx);
        }
        for l in &mut self.learners {
            l.core.compact(below, &mut fx);
            l.replica.compact(below);
        }
        for sh in &mut self.shadows {
            sh.core.compact(below, &mut fx);
            sh.next = sh.next.max(below);
            sh.decided = sh.decided.split_off(&below);
        }
        self.compacted_below = below;
        self.sig2b = self
            .sig2b
            .split_off(&(below, LearnerId(0), Ballot(0), AcceptorId(0)));
        let ls: Vec<(&Learner, &Replica)> = self
            .learners
            .iter()
            .map(|l| (&l.core, &l.replica))
            .collect();
        let (snap, recs) =
            crate::snapshot::build(&self.cfg.trust, below, self.acceptor.as_ref(), &ls);
        let before = self.wal.len_bytes();
        match self.wal.rewrite(&snap, &recs) {
            Ok(len) => {
                self.snapshots += 1;
                self.metrics.snapshots.fetch_add(1, Ordering::Relaxed);
                self.metrics.wal_bytes.store(len, Ordering::Relaxed);
                tracing::info!(
                    below = below.0,
                    bytes_before = before,
                    bytes_after = len,
                    "compacted; write-ahead log rewritten as a snapshot"
                );
            }
            Err((e, false)) => {
                // The old log is intact and complete (it still holds the
                // compacted slots): carry on; the next compaction retries.
                tracing::warn!("snapshot not written, keeping the log: {e}");
            }
            Err((e, true)) => {
                tracing::error!("write-ahead log failed after its rewrite: {e}");
                self.failed = Some(e.to_string());
            }
        }
    }

    fn broadcast(&mut self, m: &Message) {
        self.metrics.msgs_out.inc(kind_label(m.kind()));
        let p = Payload::Protocol(m.clone());
        let f = seal(self.me, &self.key, &p);
        if let Message::M2b(b) = m {
            self.sig2b
                .entry((b.slot, b.lr, b.bal, b.acc))
                .or_insert_with(|| f.clone());
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
                self.metrics.send_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn apply_decision(&mut self, d: Decision) {
        let name = self.cfg.trust.learner_name(d.lr).to_string();
        let Some(li) = self.learners.iter().position(|l| l.core.id() == d.lr) else {
            return;
        };
        if self.learners[li].replica.is_decided(d.slot) {
            return; // the same value again, in a later ballot
        }
        self.metrics.decisions.inc(&name);
        if let Some(cert) = self.learners[li].core.certificate(d.slot) {
            self.store_cert(d.lr, d.slot, &cert);
        }
        let l = &mut self.learners[li];
        let results = l.replica.decide(d.slot, d.bal, d.val.clone());
        let now = self.now_ms();
        if let Some((_, pm)) = &mut self.proposer {
            pm.on_decided(Tick(now), d.slot, d.lr, &d.val);
        }
        for (id, res) in results {
            self.command_applied(&name, id, res);
        }
        self.after_decision(d.slot);
    }

    /// Keeps the signed frames of a decision certificate to serve lagging
    /// peers (the last `CERTS_KEPT` per learner followed).
    fn store_cert(&mut self, lr: LearnerId, slot: Slot, cert: &[hpaxos_core::Msg2b]) {
        let frames: Vec<Bytes> = cert
            .iter()
            .filter_map(|b| self.sig2b.get(&(b.slot, b.lr, b.bal, b.acc)).cloned())
            .collect();
        if frames.len() != cert.len() {
            return;
        }
        self.certs.insert((lr, slot), frames);
        let followed = (self.learners.len() + self.shadows.len()).max(1);
        if self.certs.len() > CERTS_KEPT * followed {
            // Forget this learner's oldest certificate.
            let oldest = self
                .certs
                .range((lr, Slot(0))..=(lr, Slot(u64::MAX)))
                .next()
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.certs.remove(&k);
            }
        }
    }

    fn command_applied(&mut self, learner: &str, id: CmdId, res: CmdResult) {
        let need = self.learners.len();
        let Some(w) = self.waiters.get_mut(&id) else {
            return;
        };
        w.results.insert(learner.to_string(), res.value);
        w.slot = w.slot.max(res.slot);
        if w.results.len() < need {
            return;
        }
        if let Some(w) = self.waiters.remove(&id) {
            let secs = w.started.elapsed().as_secs_f64();
            self.metrics.submit_latency.observe(secs);
            self.metrics
                .commands_committed
                .fetch_add(1, Ordering::Relaxed);
            let _ = w.reply.send(Ok(SubmitReply {
                id,
                slot: w.slot.0,
                results: w.results,
                latency_ms: secs * 1e3,
            }));
        }
    }

    /// Once every local learner decided `slot`: tell the proposer, drop the
    /// slot's signed 2b frames.
    fn after_decision(&mut self, slot: Slot) {
        let all = self.learners.iter().all(|l| l.replica.is_decided(slot));
        if !all {
            return;
        }
        if let Some((p, _)) = &mut self.proposer {
            p.finish(slot);
        }
        // Frames of the learners this node only follows stay until they are
        // decided for them too (certificates) or compacted.
        let local: Vec<LearnerId> = self.learners.iter().map(|l| l.core.id()).collect();
        self.sig2b
            .retain(|k, _| k.0 != slot || !local.contains(&k.1));
    }

    /// A JSON summary of this node (the `/v1/status` body).
    pub fn status(&self) -> serde_json::Value {
        let name = self.cfg.nodes.get(self.me.index()).map(|n| n.name.as_str());
        let learners: Vec<serde_json::Value> = self
            .learners
            .iter()
            .map(|l| {
                let next = l.replica.next_slot();
                serde_json::json!({
                    "name": self.cfg.trust.learner_name(l.core.id()),
                    "applied_slots": next.0,
                    "last_applied_slot": next.0.checked_sub(1),
                    "commands_applied": l.replica.commands_applied(),
                    "keys": l.replica.kv().len(),
                    "invalid_values": l.replica.invalid_values(),
                    "log_hash": log_hash(&l.replica),
                    "current_ballot": self.proposer.as_ref().and_then(|(_, p)| p.ballot(next)).map(|b| b.0),
                })
            })
            .collect();
        let proposer = self.proposer.as_ref().map(|(_, p)| {
            let st = p.stats();
            serde_json::json!({
                "queued": p.queued(),
                "in_flight": p.in_flight(),
                "ballots_started": st.ballots_started,
                "retransmits": st.retransmits,
                "slots_completed": st.slots_completed,
                "slots_adopted": st.slots_adopted,
                "noops": st.noops,
                "commands_requeued": st.commands_requeued,
            })
        });
        serde_json::json!({
            "node": name,
            "acceptor": self.acceptor.as_ref().map(|a| self.cfg.trust.acceptor_name(a.id()).to_string()),
            "learners": learners,
            "proposer": proposer,
            "byzantine": self.byz.map(|b| format!("{b:?}")),
            "max_slot_seen": self.max_slot_seen.0,
            "peers_connected": self.metrics.peers_connected.load(Ordering::Relaxed),
            "fsyncs": self.metrics.fsyncs.load(Ordering::Relaxed),
            "compacted_below": self.compacted_below.0,
            "low_water": self.low_water().map(|s| s.0),
            "snapshots": self.snapshots,
            "certificates_held": self.certs.len(),
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

/// Nodes other than `me` that can serve certificates of learner `lr`: those
/// that run it, and acceptor nodes (they keep the certificates of the
/// learners they follow).
fn sync_holders(cfg: &ClusterConfig, me: NodeIdx, lr: LearnerId) -> Vec<NodeIdx> {
    cfg.nodes
        .iter()
        .filter(|n| n.idx != me && (n.learners.contains(&lr) || n.acceptor.is_some()))
        .map(|n| n.idx)
        .collect()
}
