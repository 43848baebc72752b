//! State transfer of [`super::NodeCore`]: checkpoint attestations, and
//! catching up from a peer's snapshot when certificates no longer reach.
//!
//! Where it sits: catch-up by certificates ([`super::catchup`]) needs the
//! quorum of 2b of every slot a node missed, and peers keep those only for
//! the last few thousand slots per learner (`certs::CertStore`, sized from
//! `retain_slots`) and drop every slot's protocol state below their
//! compaction mark. A node that was down longer, is new, or was rebuilt
//! after `--truncate-corrupt-wal` asks for certificates from a slot no
//! peer can serve any more; the peer then answers its `SyncRequest` with
//! a [`Control::Snapshot`] instead: the key-value state of the learner at
//! a checkpoint slot `s` (opaque bytes here: the driver's replica produces
//! and installs them) and the attestations that authenticate it. The
//! driver does I/O only: it hands the core each local replica's state at
//! every checkpoint slot ([`Input::Checkpoint`](super::Input)), signs and
//! sends attestations, verifies the signature of every attestation it
//! receives (and that `att.node` is its signer), and installs what
//! [`super::Ready::install`] names, durably, before anything else of the
//! step happens.
//!
//! **Checkpoints and attestations** (PBFT-style). Every
//! [`checkpoint_every`] slots (`s = k * every`), each node that runs
//! learner `L` and an acceptor signs an [`Attestation`] `(L, s, digest of
//! L's replica state after applying every slot < s, node)` and gossips it
//! to every peer; every node keeps the attestations it receives (a few
//! checkpoints per learner and signer: bounded whatever a Byzantine node
//! sends) and, for the learners it runs, its own state at its two latest
//! checkpoints. A snapshot is **installed only with a set of attestations
//! of `(L, s, d)` whose signers run acceptors forming one of `L`'s
//! quorums** (`Trust::is_quorum(L, ...)`, the `TrustLive` entries of `L`),
//! and only if the state's digest is `d`.
//!
//! **Why a Byzantine peer cannot forge a snapshot.** `L`'s self-edge in
//! the learner graph (`[[safety]] learners = [L, L]`) says for which sets
//! of safe acceptors `L` agrees with itself; the graph's validity check
//! makes every two quorums of `L` (so every quorum, with itself) meet in a
//! safe acceptor for every such set. So while `L`'s own trust assumption
//! holds (the only case in which `L` is promised anything), every quorum
//! of `L` holds a safe acceptor, and the node running it is correct: it
//! signs only the digest of the state its replica reached by applying, in
//! order, the decisions its own learner `L` made for every slot `< s`. By
//! `L`'s agreement with itself these are the decisions every correct node
//! running `L` makes, so `d` is the one true digest of `L`'s state at `s`
//! (a second set with another digest for the same `(L, s)` would need a
//! quorum without a correct signer). A forged state does not hash to `d`
//! (SHA-256, domain-separated: [`state_digest`]); a forged attestation
//! does not verify against its signer's key; attestations of other nodes
//! cannot be passed off as more signers (the core counts distinct
//! acceptors of distinct signing nodes). A node that runs no acceptor
//! counts for nothing. The certificate of slot `s - 1` is not needed (it
//! proves that one slot's value, not the state) and is not sent.
//!
//! **Which configurations can use it.** Only nodes that run `L` *and* an
//! acceptor can attest `L`'s state: a node with an acceptor and no `L`
//! follows `L` (it knows which slots `L` decided, not `L`'s state), and a
//! learner-only node is not covered by any trust assumption. So `L`'s
//! snapshots can be installed only if some quorum of `L` consists of
//! acceptors whose nodes run `L` (the `hpaxos testnet` layouts and the
//! demo run every learner on every acceptor node); otherwise a node of `L`
//! too far behind still cannot catch up (the old behaviour) and says so in
//! its log. The simulator's layout (acceptor nodes run no learner)
//! therefore never produces attestations; the unit tests below and the
//! multi-process tests (`crates/node/tests/snapshot.rs`) exercise it. A
//! *followed* learner (one a node does not run: its shadow only tracks
//! which slots `L` decided) needs no state: the same attestation quorum
//! proves that `L` decided every slot `< s`, and its prefix jumps to `s`.
//!
//! **Installing** a verified snapshot of `L` at `s > next`: `L`'s decided
//! prefix jumps to `s` (the core learner drops its state below `s`), the
//! replica is replaced by the state (the driver, durably:
//! [`super::Ready::install`]), and once every learner followed here is
//! past `s` the whole node compacts below `s` (acceptor, learners,
//! proposer; the driver rewrites its log as a snapshot), so a restart
//! resumes from it.
//!
//! **Refinement.** Nothing here sends, receives or changes a spec message,
//! and no guard is touched: attestations and snapshots are control
//! messages outside the spec's `msgs`. Jumping a learner's prefix is a
//! learner that takes no `LearnerRecv`/`LearnerDecide` step in the slots
//! below `s` (it never decides them: the spec allows a learner not to
//! act), and the replica's state there is the application of the decisions
//! a correct learner `L` made, which the spec's agreement of `L` with
//! itself (and with every learner entangled with it) makes equal to any
//! decision this node's `L` would have made. Compacting the acceptor below
//! `s` is the existing compaction (an acceptor that stops taking steps in
//! those slots, which the spec allows). The refinement checker keeps
//! checking every spec message sent.

use super::types::{Control, Input, NodeId, Note, Ready};
use super::NodeCore;
use crate::accset::AccSet;
use crate::effects::Effects;
use crate::ids::{AcceptorId, LearnerId, Slot};
use crate::trust::Trust;
use crate::value::Digest;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;

/// One node's signed claim: learner `lr`'s replica state after applying
/// every slot below `slot` has digest `digest`. `node` is the signer (set
/// from the authenticated sender, never from the payload).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Attestation {
    pub lr: LearnerId,
    pub slot: Slot,
    pub digest: Digest,
    pub node: NodeId,
}

/// A verified snapshot of a local learner for the driver to install: the
/// replica's state once every slot below `slot` is applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Install {
    pub lr: LearnerId,
    pub slot: Slot,
    pub state: Vec<u8>,
}

/// Domain tag of [`state_digest`].
const STATE_DOMAIN: &[u8] = b"hpaxos/state/v1\0";
/// Attestations kept per learner and signer (its latest checkpoints).
const ATTS_PER_NODE: usize = 4;
/// Own states kept per local learner (the latest checkpoints).
const STATES_KEPT: usize = 2;

/// The digest a node attests: SHA-256 of a domain tag and the state.
pub fn state_digest(state: &[u8]) -> Digest {
    let mut h = Sha256::new();
    h.update(STATE_DOMAIN);
    h.update(state);
    Digest(h.finalize().into())
}

/// Checkpoint interval for a retention of `retain_slots`: a quarter of it,
/// between 1 and 1024 (every node of a cluster has the same `[cluster]`
/// table, so all attest the same slots). Peers keep certificates for at
/// least [`certs_kept`] slots per learner, more than an interval, so a
/// node that installs the latest checkpoint finds certificates from there.
pub fn checkpoint_every(retain_slots: u64) -> u64 {
    (retain_slots / 4).clamp(1, 1024)
}

/// Certificates kept per learner for a retention of `retain_slots`: twice
/// the retention, between 64 and `certs::CERTS_KEPT` (4096).
pub fn certs_kept(retain_slots: u64) -> usize {
    (retain_slots.saturating_mul(2)).clamp(64, super::certs::CERTS_KEPT as u64) as usize
}

/// Per signer of one checkpoint: the digest it attested and its proof.
type Signers<P> = BTreeMap<NodeId, (Digest, Option<P>)>;

/// Attestations received and own checkpoint states. Part of [`NodeCore`].
#[derive(Clone, Debug)]
pub(crate) struct SnapStore<P> {
    every: u64,
    /// Per (learner, checkpoint slot), per signer: digest and proof.
    atts: BTreeMap<(LearnerId, Slot), Signers<P>>,
    /// Own states of local learners at their latest checkpoints.
    states: BTreeMap<(LearnerId, Slot), (Digest, Vec<u8>)>,
    /// States being received in parts.
    parts: parts::Parts,
    /// A state longer than this is sent in parts of this size.
    part_bytes: usize,
}

impl<P: Clone> SnapStore<P> {
    pub(crate) fn new(every: u64) -> SnapStore<P> {
        SnapStore {
            every: every.max(1),
            atts: BTreeMap::new(),
            states: BTreeMap::new(),
            parts: parts::Parts::default(),
            part_bytes: parts::DEFAULT_PART_BYTES,
        }
    }

    /// Keeps an attestation (the first digest of a signer for a checkpoint
    /// wins; a proof fills a missing one). Bounded per learner and signer.
    pub(crate) fn add(&mut self, att: Attestation, proof: Option<P>) {
        if att.slot.0 == 0 || !att.slot.0.is_multiple_of(self.every) {
            return;
        }
        let per = self.atts.entry((att.lr, att.slot)).or_default();
        if let Some((d, p)) = per.get_mut(&att.node) {
            if *d == att.digest && p.is_none() {
                *p = proof;
            }
            return;
        }
        per.insert(att.node, (att.digest, proof));
        let mine: Vec<Slot> = self
            .atts
            .range((att.lr, Slot(0))..=(att.lr, Slot(u64::MAX)))
            .filter(|(_, m)| m.contains_key(&att.node))
            .map(|((_, s), _)| *s)
            .collect();
        if mine.len() > ATTS_PER_NODE {
            for s in &mine[..mine.len() - ATTS_PER_NODE] {
                if let Some(m) = self.atts.get_mut(&(att.lr, *s)) {
                    m.remove(&att.node);
                    if m.is_empty() {
                        self.atts.remove(&(att.lr, *s));
                    }
                }
            }
        }
    }

    pub(crate) fn keep_state(&mut self, lr: LearnerId, slot: Slot, d: Digest, state: Vec<u8>) {
        self.states.insert((lr, slot), (d, state));
        let mine: Vec<Slot> = self
            .states
            .range((lr, Slot(0))..=(lr, Slot(u64::MAX)))
            .map(|((_, s), _)| *s)
            .collect();
        if mine.len() > STATES_KEPT {
            for s in &mine[..mine.len() - STATES_KEPT] {
                self.states.remove(&(lr, *s));
            }
        }
    }

    /// The attestations with proofs of `(lr, slot)` whose signers' acceptors
    /// form a quorum of `lr`, with their common digest.
    fn certified(
        &self,
        lr: LearnerId,
        slot: Slot,
        trust: &Trust,
        acc_of: impl Fn(NodeId) -> Option<AcceptorId>,
    ) -> Option<(Digest, Vec<(Attestation, P)>)> {
        let per = self.atts.get(&(lr, slot))?;
        let mut by: BTreeMap<Digest, (AccSet, Vec<(Attestation, P)>)> = BTreeMap::new();
        for (node, (d, p)) in per {
            let (Some(p), Some(a)) = (p, acc_of(*node)) else {
                continue;
            };
            let e = by.entry(*d).or_default();
            e.0.insert(a);
            let att = Attestation {
                lr,
                slot,
                digest: *d,
                node: *node,
            };
            e.1.push((att, p.clone()));
        }
        by.into_iter()
            .find(|(_, (set, _))| trust.is_quorum(lr, set))
            .map(|(d, (_, atts))| (d, atts))
    }

    /// Checkpoint slots of `lr` above `above` with attestations, highest
    /// first.
    fn slots_above(&self, lr: LearnerId, above: Slot) -> Vec<Slot> {
        self.atts
            .range((lr, Slot(above.0.saturating_add(1)))..=(lr, Slot(u64::MAX)))
            .map(|((_, s), _)| *s)
            .rev()
            .collect()
    }
}

impl<P: Clone> NodeCore<P> {
    /// Slots between checkpoints (see [`checkpoint_every`]).
    pub fn checkpoint_every(&self) -> u64 {
        self.snaps.every
    }

    fn acc_of(nodes: &[NodeId], n: NodeId) -> Option<AcceptorId> {
        nodes
            .iter()
            .position(|x| *x == n)
            .map(|i| AcceptorId(i as u16))
    }

    /// The replica of local learner `lr` reached checkpoint `slot`: keep
    /// its state to serve and, on an acceptor node, attest it.
    pub(crate) fn on_checkpoint(
        &mut self,
        lr: LearnerId,
        slot: Slot,
        state: Vec<u8>,
        out: &mut Ready<P>,
    ) {
        if !self.learner(lr).is_some_and(|f| f.local) || !slot.0.is_multiple_of(self.snaps.every) {
            return;
        }
        let digest = state_digest(&state);
        self.snaps.keep_state(lr, slot, digest, state);
        if self.acceptor.is_none() {
            return;
        }
        let att = Attestation {
            lr,
            slot,
            digest,
            node: self.me,
        };
        self.snaps.add(att, None);
        self.stats.attestations_sent += 1;
        out.send_all.push(Control::Attest { att, proof: None });
    }

    /// The proof of this node's own attestation (its signed frame, made by
    /// the driver when it sends it).
    pub fn own_attestation(&mut self, att: &Attestation, proof: P) {
        self.snaps.add(*att, Some(proof));
    }

    /// An attestation gossiped by `from` (its signer).
    pub(crate) fn on_attest(&mut self, from: NodeId, att: Attestation, proof: Option<P>) {
        // Only learners followed here: a Byzantine signer cannot fill the
        // store with made-up learner ids.
        if self.learner(att.lr).is_some() {
            self.snaps.add(Attestation { node: from, ..att }, proof);
        }
    }

    /// Answers a `SyncRequest` of `lr` from slot `from` that certificates
    /// here do not cover: the highest certified checkpoint above `from`,
    /// with this node's state there when it runs `lr`.
    pub(crate) fn offer_snapshot(
        &mut self,
        to: NodeId,
        lr: LearnerId,
        from: Slot,
        out: &mut Ready<P>,
    ) {
        let local = self.learner(lr).is_some_and(|f| f.local);
        let nodes = &self.acceptor_nodes;
        let mut best = None;
        for s in self.snaps.slots_above(lr, from) {
            let Some((d, atts)) = self
                .snaps
                .certified(lr, s, &self.trust, |n| Self::acc_of(nodes, n))
            else {
                continue;
            };
            let state = self
                .snaps
                .states
                .get(&(lr, s))
                .filter(|(sd, _)| *sd == d)
                .map(|(_, st)| st.clone());
            if state.is_some() || !local {
                best = Some((s, state, atts));
                break;
            }
            if best.is_none() {
                best = Some((s, None, atts));
            }
        }
        let Some((slot, state, atts)) = best else {
            return;
        };
        self.stats.snapshots_served += 1;
        let state = match state {
            Some(st) if st.len() > self.snaps.part_bytes => {
                for part in parts::split(lr, slot, &st, self.snaps.part_bytes) {
                    out.send.push((to, part));
                }
                None
            }
            st => st,
        };
        out.send.push((
            to,
            Control::Snapshot {
                lr,
                slot,
                state,
                atts,
            },
        ));
    }

    /// A snapshot from `peer`: verified, then installed (see the module doc).
    pub(crate) fn on_snapshot(
        &mut self,
        peer: NodeId,
        lr: LearnerId,
        slot: Slot,
        state: Option<Vec<u8>>,
        atts: Vec<(Attestation, P)>,
        out: &mut Ready<P>,
    ) {
        let Some(i) = self.learners.iter().position(|f| f.core.id() == lr) else {
            return;
        };
        // A state too large for one frame came ahead in parts.
        let state = state.or_else(|| self.snaps.parts.take(peer, lr, slot));
        if slot <= self.learners[i].next {
            return; // nothing new
        }
        let local = self.learners[i].local;
        if local && state.is_none() {
            return; // the peer does not run it: ask another
        }
        let refuse = |me: &mut Self, out: &mut Ready<P>, why: &'static str| {
            me.stats.snapshots_refused += 1;
            out.notes.push(Note::SnapshotRefused {
                lr,
                slot,
                peer,
                why,
            });
        };
        let Some(digest) = atts.first().map(|(a, _)| a.digest) else {
            return refuse(self, out, "no attestation");
        };
        if atts
            .iter()
            .any(|(a, _)| a.lr != lr || a.slot != slot || a.digest != digest)
        {
            return refuse(self, out, "attestations of another learner, slot or digest");
        }
        let signers: AccSet = atts
            .iter()
            .filter_map(|(a, _)| Self::acc_of(&self.acceptor_nodes, a.node))
            .collect();
        if !self.trust.is_quorum(lr, &signers) {
            return refuse(
                self,
                out,
                "the attesting acceptors are not a quorum of the learner",
            );
        }
        if let Some(st) = &state {
            if local && state_digest(st) != digest {
                return refuse(self, out, "the state does not match the attested digest");
            }
        }
        for (a, p) in atts {
            self.snaps.add(a, Some(p));
        }
        let state = if local { state } else { None };
        if let Some(st) = &state {
            self.snaps.keep_state(lr, slot, digest, st.clone());
        }
        self.install(i, slot, state, peer, out);
    }

    /// Jumps learner `i`'s prefix to `slot`; for a local learner the driver
    /// replaces the replica by `state`. Compacts the node below `slot` once
    /// every learner followed here is past it.
    fn install(
        &mut self,
        i: usize,
        slot: Slot,
        state: Option<Vec<u8>>,
        peer: NodeId,
        out: &mut Ready<P>,
    ) {
        let f = &mut self.learners[i];
        // Not persisted: the driver records the install itself (the
        // node-wide `Compacted` mark would cut the other learners too).
        let mut fx = Effects::default();
        f.core.compact(slot, &mut fx);
        f.jump(slot);
        let (lr, local) = (f.core.id(), f.local);
        // Decisions below the snapshot that were waiting for their bytes
        // are covered by the snapshot's state: waiting on would hold
        // `low_water` (and so compaction) below the slot for good.
        self.awaiting.retain(|&(l, s), _| l != lr || s >= slot);
        if let Some(state) = state {
            out.install.push(super::Install { lr, slot, state });
        }
        self.stats.snapshots_installed += 1;
        out.notes.push(Note::SnapshotInstalled {
            lr,
            slot,
            peer,
            local,
        });
        if self.low_water().is_some_and(|l| l >= slot) && slot > self.compacted_below {
            self.compact(slot, out);
        }
    }
}

impl<P: Clone> NodeCore<P> {
    /// A state longer than `bytes` is served in parts of `bytes` (the
    /// driver sets it within its largest frame; default
    /// [`parts::DEFAULT_PART_BYTES`]).
    pub fn set_snapshot_part_bytes(&mut self, bytes: usize) {
        self.snaps.part_bytes = bytes.max(1);
    }

    /// One part of a snapshot state (see [`parts`]): kept for a local
    /// learner this node is behind in, until its `Snapshot` arrives.
    pub(crate) fn on_snapshot_part(
        &mut self,
        peer: NodeId,
        lr: LearnerId,
        slot: Slot,
        part: (u64, u64, Vec<u8>),
    ) {
        let Some(f) = self.learners.iter().find(|f| f.core.id() == lr) else {
            return;
        };
        let (local, next) = (f.local, f.next);
        self.snaps.parts.passed(lr, next);
        if !local || slot <= next {
            return;
        }
        let (total, offset, bytes) = part;
        self.snaps.parts.add(peer, lr, slot, total, offset, bytes);
    }

    /// Bytes of snapshot states being received in parts.
    pub fn snapshot_bytes_receiving(&self) -> usize {
        self.snaps.parts.held()
    }
}

/// Routes the snapshot inputs (called from [`NodeCore::step`]).
impl<P: Clone> NodeCore<P> {
    pub(crate) fn snapshot_input(&mut self, input: Input<P>, out: &mut Ready<P>) {
        if let Input::Checkpoint { lr, slot, state } = input {
            self.on_checkpoint(lr, slot, state, out);
        }
    }
}

pub mod parts;

#[cfg(test)]
mod tests;
