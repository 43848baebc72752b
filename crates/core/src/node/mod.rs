//! The node layer: everything one node does above the per-role state
//! machines, as one sans-IO state machine that the tokio node, the
//! simulator and tests all drive (raft-rs style: step an input, take the
//! [`Ready`], persist, send, apply).
//!
//! Where it sits: a driver authenticates what arrives (signatures, sender
//! ids) and calls [`NodeCore::step`] with an [`Input`] and the current time;
//! the core routes a protocol message to this node's acceptor, learners,
//! followed ("shadow") learners and proposer, delivers the node's own
//! messages to its other roles at once (an acceptor never gets its own
//! message back: the core already received it), and fills a [`Ready`]:
//! records to make durable **before** anything else leaves, messages to
//! broadcast and control messages to send, decisions to apply, and a slot
//! below which everything may be compacted. It owns no clock, socket, disk
//! or RNG.
//!
//! What it does, besides routing:
//! - **Leader and failover** ([`leader`]): one proposer leads a view; a
//!   node that stops hearing the leader, or whose commands make no
//!   progress, moves to the next view (with backoff); views gossip in the
//!   heartbeats and only go up. Any node that runs a learner accepts
//!   commands and forwards them to the leader, and forwards them again
//!   after a view change or a timeout (replicas apply a command id once).
//! - **Range Phase 1** ([`range`]): the leader runs Phase 1 once per
//!   leadership (one range 1a per learner from its first slot not
//!   started); a slot the range 1b prove free goes straight to 1c, a slot
//!   they report (or whose 1b are late) runs per-slot rounds as before.
//! - **Heartbeats and catch-up** ([`catchup`]): every node sends a
//!   [`Status`] every `heartbeat` (its view and, per learner it runs or
//!   follows, its decided prefix), so a lagging node learns that it lags
//!   without waiting for new traffic and asks a peer that is ahead for
//!   decision certificates ([`certs`]).
//! - **Followed learners**: a node with an acceptor or a proposer follows
//!   every learner it does not run (a core `Learner` fed with every
//!   authenticated 2b; never persisted nor applied), to know which slots
//!   every learner decided (compaction, the proposer's per-learner
//!   retries) and to serve their certificates.
//! - **Compaction**: once every learner's decided prefix minus
//!   `retain_slots` advanced by half the retention, everything below is
//!   dropped (acceptor, learners, proposer) and [`Ready::compact`] tells
//!   the driver to rewrite its log. Dropping slots every learner decided
//!   weakens no guard: the acceptor then rejects their messages
//!   (`Rejection::CompactedSlot`), an acceptor that stops taking steps in
//!   them, which the spec allows.
//! - **State transfer** ([`snapshot`]): nodes that run a learner and an
//!   acceptor attest the digest of the learner's replica state at every
//!   checkpoint slot; a node too far behind for certificates (its peers
//!   compacted the slots it needs) installs a peer's snapshot authenticated
//!   by attestations from a quorum of that learner, and jumps its prefix.
//! - **Values by digest** ([`store`]): 1b, 2av and 2b carry digests; a
//!   value's bytes travel in the 1c, are kept by digest, logged once, and
//!   fetched from peers (checked against the digest) by a node that must
//!   propose (2av) or apply a value whose bytes it lacks.
//! - **Slot horizon**: protocol messages for slots further than `horizon`
//!   above the decided prefix are dropped before any role sees them (a
//!   receive that does not happen, which the spec allows), so a Byzantine
//!   sender cannot grow an acceptor's state without bound.
//! - **Ballot ceiling**: a 1a or 1c above [`NodeCore::set_ballot_ceiling`]
//!   is dropped in the same way (a receive that does not happen). Without
//!   it one 1a at ballot `u64::MAX` (a Byzantine proposer's, or a fake
//!   acceptor's forgery) ends a slot for good: honest acceptors' `maxBal`
//!   would sit at the largest ballot, no proposer could go above it, and
//!   `Phase2b` needs `maxBal[L, a] =< b`. The tokio node sets the ceiling
//!   from its wall clock a little above the ballots honest proposers use
//!   (their floor is the clock's seconds `<< 16`), so an inflated ballot
//!   costs at most about a second of the ceiling moving up, not the slot.

pub mod catchup;
pub mod certs;
pub mod leader;
pub mod range;
pub mod relay;
pub mod snapshot;
pub mod store;
pub mod types;

pub use types::{
    Attestation, Control, Input, Install, NodeId, NodeTiming, Note, Ready, Status, Token,
};

use crate::acceptor::Acceptor;
use crate::effects::{Decision, Durable, Effects, Rejection};
use crate::ids::{Ballot, LearnerId, Slot};
use crate::learner::Learner;
use crate::msg::{Kind, Message, Msg1c, Msg2av};
use crate::pacemaker::{Action, Pacemaker, Tick};
use crate::proposer::Proposer;
use crate::trust::Trust;
use crate::value::{Digest, Value};
use certs::CertStore;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use store::{Fetches, ValueStore, Why};

/// Default slot horizon (see the module doc).
pub const DEFAULT_HORIZON: u64 = 4096;

/// A learner this node runs (`local`) or only follows.
#[derive(Clone, Debug)]
pub struct Followed {
    pub core: Learner,
    pub local: bool,
    decided: BTreeSet<Slot>,
    /// Every slot below this is decided here (or compacted).
    pub next: Slot,
    /// Next slot reported by each peer that runs or follows this learner.
    peers_next: BTreeMap<NodeId, Slot>,
    /// The outstanding sync request: when, to whom, from which slot.
    sync: Option<(Tick, NodeId, Slot)>,
    sync_rr: usize,
}

impl Followed {
    fn new(core: Learner, local: bool, decided: BTreeSet<Slot>) -> Followed {
        let mut f = Followed {
            next: core.compacted_below(),
            core,
            local,
            decided: BTreeSet::new(),
            peers_next: BTreeMap::new(),
            sync: None,
            sync_rr: 0,
        };
        for s in decided {
            f.mark(s);
        }
        f
    }

    pub fn is_decided(&self, slot: Slot) -> bool {
        slot < self.next || self.decided.contains(&slot)
    }

    fn mark(&mut self, slot: Slot) {
        if slot >= self.next {
            self.decided.insert(slot);
        }
        while self.decided.remove(&self.next) {
            self.next = Slot(self.next.0 + 1);
        }
    }

    /// Jumps the prefix to `to` (a verified snapshot: every slot below is
    /// decided), keeping the slots above decided here.
    /// Never marks `to` itself decided (it may not be).
    fn jump(&mut self, to: Slot) {
        if to > self.next {
            self.next = to;
            self.sync = None;
        }
        self.decided = self.decided.split_off(&self.next);
        while self.decided.remove(&self.next) {
            self.next = Slot(self.next.0 + 1);
        }
    }

    /// Highest slot decided here, if any.
    pub fn highest(&self) -> Option<Slot> {
        self.decided
            .iter()
            .next_back()
            .copied()
            .or_else(|| self.next.0.checked_sub(1).map(Slot))
    }
}

/// How a node is set up: its roles and the cluster around it.
pub struct NodeSetup {
    pub me: NodeId,
    pub trust: Trust,
    pub acceptor: Option<Acceptor>,
    /// The learners this node runs, restored from its records, with the
    /// slots each has decided (from those records).
    pub learners: Vec<(Learner, BTreeSet<Slot>)>,
    /// The proposer's pacemaker, when this node is a proposer.
    pub pacemaker: Option<Pacemaker>,
    /// Proposer nodes in rank order (rank = pacemaker index).
    pub proposers: Vec<NodeId>,
    /// Nodes that run an acceptor.
    pub acceptor_nodes: Vec<NodeId>,
    pub timing: NodeTiming,
    pub retain_slots: u64,
    pub horizon: u64,
    /// Record the spec actions taken (refinement checking).
    pub record_actions: bool,
    /// Value bytes restored from the node's `Batch` records: (slot, value).
    pub values: Vec<(Slot, Value)>,
    /// The leader runs range Phase 1 ([`range`]); off: every slot runs its
    /// own per-slot Phase 1.
    pub range_phase1: bool,
}

/// Counters kept by the node layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    pub view_changes: u64,
    /// Other acceptors' 2av relayed behind this acceptor's votes ([`relay`]).
    pub relayed_2av: u64,
    pub forwarded: u64,
    pub sync_requests: u64,
    pub certs_served: u64,
    pub certs_received: u64,
    pub beyond_horizon: u64,
    pub above_ceiling: u64,
    pub compactions: u64,
    /// Checkpoint attestations this node signed ([`snapshot`]).
    pub attestations_sent: u64,
    pub snapshots_served: u64,
    pub snapshots_installed: u64,
    /// Snapshots refused: attestations not a quorum, or a state that does
    /// not match the attested digest.
    pub snapshots_refused: u64,
    /// Fetch requests for value bytes sent.
    pub fetches_sent: u64,
    /// Values whose bytes arrived by a fetch (checked).
    pub values_fetched: u64,
    /// Values served to a peer's fetch.
    pub values_served: u64,
    /// Answered bytes that did not hash to their digest (rejected).
    pub digest_mismatches: u64,
    /// 1c messages that waited for their bytes.
    pub parked_1c: u64,
    /// Range Phase 1 leaderships started here ([`range`]).
    pub range_leaderships: u64,
    /// Slots whose first ballot went straight to 1c on range Phase 1.
    pub range_slots: u64,
    /// Slots of a leadership run per-slot instead (reported by a range 1b,
    /// or left waiting when the leadership ended).
    pub range_fallbacks: u64,
}

/// One node's protocol state above the roles. See the module doc.
pub struct NodeCore<P> {
    me: NodeId,
    trust: Trust,
    pub acceptor: Option<Acceptor>,
    /// Learners run here first (in setup order), then the followed ones.
    pub learners: Vec<Followed>,
    proposer: Option<(Proposer, Pacemaker)>,
    /// Range Phase 1 of the proposer, when it is on ([`range`]).
    range: Option<range::RangeLead>,
    proposers: Vec<NodeId>,
    acceptor_nodes: Vec<NodeId>,
    timing: NodeTiming,
    retain_slots: u64,
    horizon: u64,
    ballot_ceiling: Ballot,
    certs: CertStore<P>,
    /// The acceptors heard at the last poll of the proposer.
    last_reachable: crate::accset::AccSet,
    /// Proofs of the 2av received, for relaying ([`relay`]).
    proofs_2av: relay::Proofs2av<P>,
    snaps: snapshot::SnapStore<P>,
    leader: leader::LeaderState,
    /// Commands submitted here and not done: token -> (command, last sent).
    pending: BTreeMap<Token, (Vec<u8>, Option<Tick>)>,
    last_status: Option<Tick>,
    compacted_below: Slot,
    max_slot_seen: Slot,
    fx: Effects,
    shadow_fx: Effects,
    local: VecDeque<Message>,
    /// Value bytes held here, by digest.
    store: ValueStore,
    /// Fetches of missing bytes, and the 1c waiting for them.
    fetches: Fetches,
    /// Local learners' decisions waiting for their bytes.
    awaiting: BTreeMap<(LearnerId, Slot), Decision>,
    /// Every other node known (fetch candidates).
    peers: BTreeSet<NodeId>,
    pub stats: NodeStats,
}

impl<P: Clone> NodeCore<P> {
    pub fn new(s: NodeSetup) -> NodeCore<P> {
        let mut compacted_below = s
            .acceptor
            .as_ref()
            .map(|a| a.compacted_below())
            .unwrap_or_default();
        for (l, _) in &s.learners {
            compacted_below = compacted_below.max(l.compacted_below());
        }
        let mut learners: Vec<Followed> = s
            .learners
            .into_iter()
            .map(|(l, d)| Followed::new(l, true, d))
            .collect();
        // Acceptor and proposer nodes follow every learner they do not run.
        if s.acceptor.is_some() || s.pacemaker.is_some() {
            for lr in s.trust.learners() {
                if learners.iter().any(|f| f.core.id() == lr) {
                    continue;
                }
                let core = Learner::restore(
                    lr,
                    s.trust.clone(),
                    &[Durable::Compacted {
                        below: compacted_below,
                    }],
                );
                learners.push(Followed::new(core, false, BTreeSet::new()));
            }
        }
        for (i, f) in learners.iter_mut().enumerate() {
            f.sync_rr = s.me.index() + i;
        }
        let n_followed = learners.len();
        let mut pm = s.pacemaker;
        if let Some(pm) = &mut pm {
            pm.set_trust(s.trust.clone());
            pm.resume_from(compacted_below);
            for f in &learners {
                let slots: Vec<Slot> = f.core.slots().collect();
                for slot in slots {
                    if let Some((b, v)) = f.core.decisions(slot).next() {
                        pm.on_decided(Tick(0), slot, f.core.id(), b, v);
                    }
                }
            }
        }
        let proposer = pm.map(|pm| (Proposer::new(s.trust.clone()), pm));
        let range =
            (proposer.is_some() && s.range_phase1).then(|| range::RangeLead::new(s.trust.clone()));
        let mut store = ValueStore::new(certs::CERTS_KEPT * n_followed.max(1));
        for (slot, v) in &s.values {
            store.restore(v, *slot);
        }
        if let Some(a) = &s.acceptor {
            for slot in a.slots().collect::<Vec<_>>() {
                if let Some(d) = a.slot_durable(slot) {
                    for v in d.votes_sent.iter().chain(d.two_av_sent.iter()) {
                        store.touch(&v.val.digest(), slot);
                    }
                }
            }
        }
        // Restored decisions of local learners whose bytes are not here
        // (a crash before they were fetched): fetched again, applied then.
        let mut fetches = Fetches::default();
        let mut awaiting = BTreeMap::new();
        for f in learners.iter().filter(|f| f.local) {
            for slot in f.core.slots().collect::<Vec<_>>() {
                if let Some((bal, v)) = f.core.decisions(slot).next() {
                    store.touch(&v.digest(), slot);
                    if !store.contains(&v.digest()) {
                        let why = Why {
                            apply: true,
                            ..Why::default()
                        };
                        fetches.want(v.digest(), slot, why, &[]);
                        awaiting.insert(
                            (f.core.id(), slot),
                            Decision {
                                slot,
                                lr: f.core.id(),
                                bal,
                                val: v.clone(),
                            },
                        );
                    }
                }
            }
        }
        let mut peers: BTreeSet<NodeId> = s.acceptor_nodes.iter().copied().collect();
        peers.extend(s.proposers.iter().copied());
        peers.remove(&s.me);
        peers.remove(&NodeId(u16::MAX)); // an acceptor without a node
        let fx = if s.record_actions {
            Effects::recording()
        } else {
            Effects::default()
        };
        NodeCore {
            me: s.me,
            trust: s.trust,
            acceptor: s.acceptor,
            learners,
            proposer,
            range,
            proposers: s.proposers,
            acceptor_nodes: s.acceptor_nodes,
            timing: s.timing,
            retain_slots: s.retain_slots.max(1),
            horizon: s.horizon.max(16),
            ballot_ceiling: Ballot(u64::MAX),
            certs: CertStore::new(n_followed).keeping(snapshot::certs_kept(s.retain_slots)),
            proofs_2av: relay::Proofs2av::default(),
            last_reachable: crate::accset::AccSet::EMPTY,
            snaps: snapshot::SnapStore::new(snapshot::checkpoint_every(s.retain_slots)),
            leader: leader::LeaderState::default(),
            pending: BTreeMap::new(),
            last_status: None,
            compacted_below,
            max_slot_seen: Slot(0),
            fx,
            shadow_fx: Effects::default(),
            local: VecDeque::new(),
            store,
            fetches,
            awaiting,
            peers,
            stats: NodeStats::default(),
        }
    }

    /// Value bytes held here (by digest).
    pub fn values_held(&self) -> usize {
        self.store.len()
    }

    /// The bytes of `d`, if held here.
    pub fn value(&self, d: &Digest) -> Option<&Value> {
        self.store.get(d)
    }

    /// Outstanding fetches of value bytes.
    pub fn fetches_pending(&self) -> usize {
        self.fetches.wants.len()
    }

    /// Local decisions waiting for their bytes.
    pub fn decisions_awaiting_bytes(&self) -> usize {
        self.awaiting.len()
    }

    /// The `Batch` records a log snapshot at `below` keeps (every logged
    /// value still needed from `below` on).
    pub fn value_records(&self, below: Slot) -> Vec<Durable> {
        self.store.durable_records(below)
    }

    pub fn me(&self) -> NodeId {
        self.me
    }

    /// 1a and 1c messages above `b` are dropped from now on (see the module
    /// doc, "Ballot ceiling"); `u64::MAX` (the default) drops none.
    pub fn set_ballot_ceiling(&mut self, b: Ballot) {
        self.ballot_ceiling = b;
    }

    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    pub fn compacted_below(&self) -> Slot {
        self.compacted_below
    }

    pub fn max_slot_seen(&self) -> Slot {
        self.max_slot_seen
    }

    /// This node's acceptor, if it runs one (read-only: status pages).
    pub fn acceptor(&self) -> Option<&Acceptor> {
        self.acceptor.as_ref()
    }

    /// Does this node's proposer run range Phase 1 ([`range`])?
    pub fn range_phase1(&self) -> bool {
        self.range.is_some()
    }

    /// The range Phase 1 leadership this node runs, `(from, ballot)`.
    pub fn range_leadership(&self) -> Option<(Slot, Ballot)> {
        self.range.as_ref().and_then(|r| r.leadership())
    }

    pub fn pacemaker(&self) -> Option<&Pacemaker> {
        self.proposer.as_ref().map(|(_, p)| p)
    }

    pub fn certs_held(&self) -> usize {
        self.certs.held()
    }

    /// Commands submitted here and not yet done.
    pub fn pending_commands(&self) -> usize {
        self.pending.len()
    }

    /// The followed or local learner `lr`.
    pub fn learner(&self, lr: LearnerId) -> Option<&Followed> {
        self.learners.iter().find(|f| f.core.id() == lr)
    }

    /// The learners this node runs.
    pub fn local_learners(&self) -> impl Iterator<Item = &Followed> {
        self.learners.iter().filter(|f| f.local)
    }

    /// The proof of a 2b this node's acceptor sent (its signed frame, made
    /// by the driver when it sends it), for the certificates served.
    pub fn own_proof(&mut self, m: &crate::msg::Msg2b, proof: P) {
        self.certs.note(m, proof);
    }

    /// The first slot some learner followed here has not decided.
    pub fn low_water(&self) -> Option<Slot> {
        let low = self.learners.iter().map(|f| f.next).min();
        // A decision not applied yet (its bytes are missing) holds it back.
        match (low, self.awaiting.keys().map(|(_, s)| *s).min()) {
            (Some(l), Some(a)) => Some(l.min(a)),
            (l, _) => l,
        }
    }

    /// Takes one input at `now`; the outputs are appended to `out`.
    pub fn step(&mut self, now: Tick, input: Input<P>, out: &mut Ready<P>) {
        match input {
            Input::Protocol { msg, proof } => {
                self.leader.heard(now, self.sender_node(&msg));
                self.protocol(now, msg, proof, out);
            }
            Input::Control { from, msg } => {
                self.leader.heard(now, Some(from));
                if from != self.me {
                    self.peers.insert(from);
                }
                self.control(now, from, msg, out);
            }
            Input::Submit { token, cmd } => self.submit(now, token, cmd, out),
            Input::Done { token } => {
                self.pending.remove(&token);
            }
            Input::Tick => {}
            input @ Input::Checkpoint { .. } => self.snapshot_input(input, out),
        }
        self.timers(now, out);
        self.poll_proposer(now, out);
        self.query_votes(out);
        self.maybe_compact(out);
    }

    /// Asks every peer for the 2b it holds in the slots the pacemaker just
    /// took over (see `PacemakerConfig::takeover_grace`): they come back
    /// as [`Control::Votes`] and go through the node like any 2b, so the
    /// first ballot of such a slot is pinned where someone voted.
    fn query_votes(&mut self, out: &mut Ready<P>) {
        let Some((_, pm)) = &mut self.proposer else {
            return;
        };
        let Some((from, to)) = pm.take_probe() else {
            return;
        };
        let mut lo = from;
        while lo < to {
            let hi = Slot(to.0.min(lo.0.saturating_add(catchup::VOTES_SLOTS)));
            out.send_all
                .push(Control::VotesRequest { from: lo, to: hi });
            lo = hi;
        }
    }

    /// The earliest time something is due without new input.
    pub fn next_wakeup(&self) -> Option<Tick> {
        let mut t = self
            .last_status
            .map_or(Tick(0), |s| s.after(self.timing.heartbeat));
        if let Some(pm) = self.pacemaker().and_then(|p| p.next_wakeup()) {
            t = t.min(pm);
        }
        if let Some(f) = self.fetches.next_due(self.timing.fetch_timeout) {
            t = t.min(f);
        }
        Some(t)
    }

    fn sender_node(&self, m: &Message) -> Option<NodeId> {
        m.acc()
            .and_then(|a| self.acceptor_nodes.get(a.index()).copied())
    }

    /// A protocol message from the network (or a certificate's 2b).
    fn protocol(&mut self, now: Tick, mut msg: Message, proof: P, out: &mut Ready<P>) {
        // Only a 1c brings bytes: a 1b/2av/2b off the wire never has any.
        // (In the simulator a Byzantine acceptor's messages are not
        // encoded and may hold bytes: they hash to their digest by
        // construction and are kept, see the `store` module doc.)
        self.keep_bytes(&msg);
        msg.strip_bytes();
        let low = self.low_water().unwrap_or(self.compacted_below);
        if msg.slot().0 >= low.0.saturating_add(self.horizon) {
            self.stats.beyond_horizon += 1;
            if self.stats.beyond_horizon.is_power_of_two() {
                out.notes.push(Note::Horizon { slot: msg.slot() });
            }
            return;
        }
        if matches!(msg.kind(), Kind::K1a | Kind::K1c) && msg.bal() > self.ballot_ceiling {
            self.stats.above_ceiling += 1;
            if self.stats.above_ceiling.is_power_of_two() {
                out.notes.push(Note::Ceiling {
                    slot: msg.slot(),
                    bal: msg.bal(),
                });
            }
            return;
        }
        if let (Message::M2av(m), Some(_)) = (&msg, &self.acceptor) {
            self.proofs_2av.note(m, proof.clone());
        }
        if let Message::M2b(b) = &msg {
            let done = self
                .learners
                .iter()
                .filter(|f| f.core.id() == b.lr)
                .all(|f| f.is_decided(b.slot));
            if !done {
                self.certs.note(b, proof);
            }
        }
        self.local.push_back(msg);
        self.drain_local(now, out);
    }

    /// Processes queued messages and, recursively, the node's own messages
    /// they produce.
    fn drain_local(&mut self, now: Tick, out: &mut Ready<P>) {
        while let Some(mut m) = self.local.pop_front() {
            if m.slot() > self.max_slot_seen {
                self.max_slot_seen = m.slot();
            }
            if let Message::M1c(c) = &mut m {
                if !self.admit_1c(c) {
                    continue;
                }
            }
            self.fx.clear();
            if let Some(a) = &mut self.acceptor {
                if m.acc() != Some(a.id()) {
                    a.handle(&m, &mut self.fx);
                }
            }
            let admitted = self.fx.rejected.is_empty();
            if let Message::M2b(b) = &m {
                for f in self.learners.iter_mut().filter(|f| f.core.id() == b.lr) {
                    if f.local {
                        f.core.handle(&m, &mut self.fx);
                    } else {
                        // A followed learner is never persisted: keep only
                        // its decisions.
                        self.shadow_fx.clear();
                        f.core.handle(&m, &mut self.shadow_fx);
                        self.fx.decisions.append(&mut self.shadow_fx.decisions);
                    }
                }
            }
            if let Some((p, pm)) = &mut self.proposer {
                if let Message::M2av(a) = &m {
                    p.handle(&Message::M2av(a.clone()), &mut self.fx);
                }
                if let Message::M1b(b) = &m {
                    // The bytes held here of the values it reports, so the
                    // proposer can tell a value it can announce with bytes.
                    let mut b = b.clone();
                    for v in b.votes.iter_mut().chain(b.proposals.iter_mut()) {
                        if let Some(x) = self.store.get(&v.val.digest()) {
                            v.val = x.clone();
                        }
                    }
                    p.handle(&Message::M1b(b), &mut self.fx);
                }
                // Above the ceiling only a Byzantine acceptor's messages
                // can be (no safe acceptor's `maxBal` gets there): they must
                // not lead the proposer's ballots where acceptors drop them.
                // A range 1b goes to range Phase 1 ([`range`]), which
                // reports what it names to the pacemaker itself.
                if let Message::M1bRange(r) = &m {
                    if admitted && r.bal <= self.ballot_ceiling {
                        let r = r.clone();
                        self.on_1b_range(now, &r);
                    }
                    self.absorb(now, out);
                    continue;
                }
                let used = matches!(m.kind(), Kind::K1b | Kind::K2av | Kind::K2b)
                    && !m.is_range()
                    && m.bal() <= self.ballot_ceiling;
                if used && admitted {
                    pm.observe(now, m.slot(), m.bal());
                    match &m {
                        Message::M2b(b) => pm.observe_vote(b.slot, b.bal, &b.val, b.acc),
                        Message::M2av(p) => pm.observe_proposal(p.slot, p.lr, p.bal, p.acc, &p.val),
                        // A 1b reports its sender's own votes: a new leader
                        // that missed the 2b learns where to pin from them.
                        // And its own proposals: the pacemaker counts them
                        // towards a pinned learner's quorum of 2av.
                        Message::M1b(b) => {
                            pm.observe_1b(b.slot, b.lr, b.bal, b.acc);
                            let ceiling = self.ballot_ceiling;
                            for v in b.votes.iter().filter(|v| v.bal <= ceiling) {
                                pm.observe_vote(b.slot, v.bal, &v.val, b.acc);
                            }
                            for p in b.proposals.iter().filter(|p| p.bal <= ceiling) {
                                pm.observe_proposal(b.slot, p.lr, p.bal, b.acc, &p.val);
                            }
                        }
                        _ => {}
                    }
                }
            }
            self.absorb(now, out);
        }
    }

    /// Moves one step's effects into `out` (and the local queue).
    fn absorb(&mut self, now: Tick, out: &mut Ready<P>) {
        let persist: Vec<Durable> = self.fx.persist.drain(..).collect();
        for d in persist {
            self.persist(d, out);
        }
        let sends: Vec<Message> = self.fx.send.drain(..).collect();
        for mut m in sends {
            match &mut m {
                Message::M1c(c) => {
                    if c.val.has_bytes() {
                        // This node's proposal (or a re-proposal it holds).
                        self.store.insert(&c.val, c.slot, true);
                    } else if let Some(v) = self.store.get(&c.val.digest()) {
                        c.val = v.clone();
                    }
                }
                _ => m.strip_bytes(),
            }
            out.broadcast.push(m.clone());
            self.local.push_back(m);
        }
        let relay: Vec<Message> = self.fx.relay.drain(..).collect();
        let msgs: Vec<(Msg2av, P)> = relay
            .into_iter()
            .filter_map(|m| match m {
                Message::M2av(a) => {
                    let proof = self.proofs_2av.get(&a)?.clone();
                    Some((a, proof))
                }
                _ => None,
            })
            .collect();
        if !msgs.is_empty() {
            self.stats.relayed_2av += msgs.len() as u64;
            out.send_all.push(Control::Relay { msgs });
        }
        out.evidence.append(&mut self.fx.evidence);
        out.rejected.append(&mut self.fx.rejected);
        out.actions.append(&mut self.fx.actions);
        let decisions: Vec<_> = self.fx.decisions.drain(..).collect();
        for d in decisions {
            // Learner cores never persist for followed learners: drop
            // their records (a followed learner is never restored).
            let Some(i) = self.learners.iter().position(|f| f.core.id() == d.lr) else {
                continue;
            };
            let f = &mut self.learners[i];
            if f.is_decided(d.slot) {
                continue; // the same value again, in a later ballot
            }
            f.mark(d.slot);
            let local = f.local;
            let cert = f.core.certificate(d.slot);
            if let Some(c) = &cert {
                self.certs.decided(d.lr, d.slot, c);
            }
            self.store.decided(&d.val.digest(), d.slot);
            if let Some((_, pm)) = &mut self.proposer {
                pm.on_decided(now, d.slot, d.lr, d.bal, &d.val);
            }
            self.leader.progress(now);
            if local {
                let hints: Vec<NodeId> = cert
                    .iter()
                    .flatten()
                    .filter_map(|b| self.acceptor_nodes.get(b.acc.index()).copied())
                    .filter(|n| *n != self.me && n.0 != u16::MAX)
                    .collect();
                self.deliver_decision(d, &hints, out);
            }
        }
    }

    /// Hands a local decision to the driver with its bytes, or keeps it
    /// until they are fetched (from `hints` first).
    fn deliver_decision(&mut self, mut d: Decision, hints: &[NodeId], out: &mut Ready<P>) {
        let dg = d.val.digest();
        match self.store.get(&dg) {
            Some(v) => {
                d.val = v.clone();
                if let Some(rec) = self.store.make_durable(&dg, d.slot) {
                    out.persist.push(rec);
                }
                out.decided.push(d);
            }
            None => {
                let why = Why {
                    apply: true,
                    ..Why::default()
                };
                self.fetches.want(dg, d.slot, why, hints);
                self.awaiting.insert((d.lr, d.slot), d);
            }
        }
    }

    /// One durable record of a role: its values by digest, preceded by
    /// the `Batch` record of a value this node needs and has not logged
    /// (a vote it cannot serve the bytes of is fetched).
    fn persist(&mut self, mut d: Durable, out: &mut Ready<P>) {
        let named = match &mut d {
            Durable::Voted { slot, vote } | Durable::Proposed { slot, vote } => {
                Some((*slot, &mut vote.val))
            }
            Durable::Decided { slot, val, .. } => Some((*slot, val)),
            _ => None,
        };
        if let Some((slot, val)) = named {
            if val.has_bytes() {
                self.store.insert(val, slot, true);
            }
            let dg = val.digest();
            val.strip();
            if self.store.contains(&dg) {
                if let Some(rec) = self.store.make_durable(&dg, slot) {
                    out.persist.push(rec);
                }
            } else {
                let why = Why {
                    serve: true,
                    ..Why::default()
                };
                self.fetches.want(dg, slot, why, &[]);
            }
        }
        out.persist.push(d);
    }

    /// Whether a 1c may reach the acceptor now: with bytes that hash to its
    /// value (its own, kept, or the store's). Without them it is parked
    /// and its bytes fetched (see [`store`]).
    fn admit_1c(&mut self, c: &mut Msg1c) -> bool {
        if c.val.has_bytes() {
            self.store.insert(&c.val, c.slot, false);
            return true;
        }
        if let Some(v) = self.store.get(&c.val.digest()) {
            c.val = v.clone();
            return true;
        }
        if self.acceptor.is_none() {
            return false; // nothing here acts on a 1c
        }
        let d = c.val.digest();
        if self.fetches.park(c.clone()) {
            self.stats.parked_1c += 1;
            let why = Why {
                announce: true,
                ..Why::default()
            };
            self.fetches.want(d, c.slot, why, &[]);
        }
        false
    }

    /// Keeps the bytes a 1b, 2av or 2b holds (never one decoded off the
    /// wire) when its slot has room ([`store::PER_SLOT`]).
    fn keep_bytes(&mut self, m: &Message) {
        let slot = m.slot();
        match m {
            Message::M1b(b) => {
                for v in b.votes.iter().chain(b.proposals.iter()) {
                    self.store.insert(&v.val, slot, false);
                }
            }
            Message::M2av(x) => {
                self.store.insert(&x.val, slot, false);
            }
            Message::M2b(x) => {
                self.store.insert(&x.val, slot, false);
            }
            Message::M1bRange(b) => {
                for r in &b.reports {
                    for v in r.votes.iter().chain(r.proposals.iter()) {
                        self.store.insert(&v.val, r.slot, false);
                    }
                }
            }
            Message::M1a(_) | Message::M1c(_) | Message::M1aRange(_) => {}
        }
    }

    /// Answers a peer's fetch with the bytes held here.
    pub(crate) fn serve_values(&mut self, from: NodeId, digests: Vec<Digest>, out: &mut Ready<P>) {
        let mut batches = Vec::new();
        let mut room = store::SERVE_BYTES;
        for d in digests.into_iter().take(store::FETCH_BATCH) {
            let Some(v) = self.store.get(&d) else {
                continue;
            };
            if v.len() > room && !batches.is_empty() {
                break;
            }
            room = room.saturating_sub(v.len());
            batches.push((d, v.clone()));
        }
        if !batches.is_empty() {
            self.stats.values_served += batches.len() as u64;
            out.send.push((from, Control::Batches { batches }));
        }
    }

    /// Bytes a peer answered: checked against their digest, kept when
    /// asked for, and everything that waited for them goes on.
    pub(crate) fn on_values(
        &mut self,
        now: Tick,
        batches: Vec<(Digest, Value)>,
        out: &mut Ready<P>,
    ) {
        for (d, v) in batches {
            if !v.has_bytes() {
                continue;
            }
            if v.digest() != d {
                self.stats.digest_mismatches += 1;
                out.rejected.push(Rejection::DigestMismatch);
                continue;
            }
            let Some(w) = self.fetches.wants.remove(&d) else {
                continue; // not asked for (or already here)
            };
            self.stats.values_fetched += 1;
            self.store.insert(&v, w.slot, true);
            if w.why.serve || w.why.apply {
                if let Some(rec) = self.store.make_durable(&d, w.slot) {
                    out.persist.push(rec);
                }
            }
            let ready: Vec<(LearnerId, Slot)> = self
                .awaiting
                .iter()
                .filter(|(_, x)| x.val.digest() == d)
                .map(|(k, _)| *k)
                .collect();
            for k in ready {
                if let Some(mut x) = self.awaiting.remove(&k) {
                    x.val = v.clone();
                    out.decided.push(x);
                }
            }
            for mut c in self.fetches.unpark(&d) {
                c.val = v.clone();
                self.local.push_back(Message::M1c(c));
            }
        }
        self.drain_local(now, out);
    }

    /// Sends the fetches that are due.
    pub(crate) fn request_values(&mut self, now: Tick, out: &mut Ready<P>) {
        if self.fetches.wants.is_empty() {
            return;
        }
        let peers: Vec<NodeId> = self.peers.iter().copied().collect();
        let due = self.fetches.due(now, self.timing.fetch_timeout, &peers);
        for (peer, digests) in due {
            self.stats.fetches_sent += 1;
            out.send.push((peer, Control::Fetch { digests }));
        }
    }

    /// Runs the pacemaker (when this node is a proposer).
    ///
    /// A fresh (unpinned) ballot is run only for the learners that have a
    /// quorum among the acceptors this node hears (all of them when it
    /// hears none of their quorums): `Phase1a(l, b)` for a learner that
    /// cannot gather a quorum raises its acceptors' `maxBal[l]` for
    /// nothing, and above a ballot where a connected learner voted it
    /// leaves `l` without its own proposals there, which `KnowsSafeAt2` of
    /// every later ballot of `l` asks for (the fault harness's stall: alice
    /// cut off, bob deciding, view changes). Not sending a message the spec
    /// allows is always a refinement; the learner left out is retried,
    /// pinned at the vote's ballot, once its quorum is heard again.
    fn poll_proposer(&mut self, now: Tick, out: &mut Ready<P>) {
        let reachable = self.reachable_acceptors(now);
        let Some((_, pm)) = &mut self.proposer else {
            return;
        };
        // An acceptor heard again: retry the slots in flight soon
        // (`Pacemaker::hurry`).
        if !reachable.difference(&self.last_reachable).is_empty() {
            pm.hurry(now);
        }
        self.last_reachable = reachable;
        let served = range::served(&self.trust, &pm.config().learners, &reachable);
        self.fx.clear();
        // Range Phase 1 first: slots the pacemaker starts below get the
        // leadership's ballot.
        self.range_lead(now, &served);
        let mut actions = Vec::new();
        if let Some((_, pm)) = &mut self.proposer {
            pm.poll(now, &mut actions);
        }
        for a in actions {
            match a {
                Action::Start {
                    slot,
                    ballot,
                    value,
                    mut learners,
                    pinned,
                } => {
                    if !pinned {
                        let s: Vec<LearnerId> = learners
                            .iter()
                            .copied()
                            .filter(|l| self.trust.is_quorum(*l, &reachable))
                            .collect();
                        if !s.is_empty() {
                            learners = s;
                        }
                    }
                    if !pinned && self.range_start(slot, ballot, &value, &learners) {
                        continue;
                    }
                    if let Some((p, _)) = &mut self.proposer {
                        p.start_for(slot, &learners, ballot, value, pinned, &mut self.fx);
                    }
                }
                Action::Retransmit { slot, .. } => {
                    if !self.range_retransmit(slot) {
                        if let Some((p, _)) = &mut self.proposer {
                            p.retransmit(slot, &mut self.fx);
                        }
                    }
                }
                Action::Refresh {
                    slot,
                    ballot,
                    value,
                    learners,
                } => {
                    if let Some((p, _)) = &mut self.proposer {
                        p.refresh(slot, &learners, ballot, value, &mut self.fx);
                    }
                }
            }
        }
        if self.fx.is_empty() {
            return;
        }
        self.absorb(now, out);
        self.drain_local(now, out);
    }

    /// Compacts once every followed learner's prefix minus the retention
    /// advanced by half the retention since the last compaction.
    fn maybe_compact(&mut self, out: &mut Ready<P>) {
        let Some(low) = self.low_water() else {
            return;
        };
        let retain = self.retain_slots;
        let target = Slot(low.0.saturating_sub(retain));
        let step = (retain / 2).max(1);
        if target.0 < self.compacted_below.0.saturating_add(step) {
            return;
        }
        self.compact(target, out);
    }

    /// Drops every slot below `below` from every role.
    pub fn compact(&mut self, below: Slot, out: &mut Ready<P>) {
        if below <= self.compacted_below {
            return;
        }
        // The Compacted records belong to the snapshot, not the old log.
        let mut fx = Effects::default();
        if let Some(a) = &mut self.acceptor {
            a.compact(below, &mut fx);
        }
        for f in &mut self.learners {
            f.core.compact(below, &mut fx);
            // Not `mark(below)`: after a snapshot install `below` is the
            // first slot not decided.
            f.jump(below);
        }
        if let Some((p, pm)) = &mut self.proposer {
            pm.resume_from(below);
            p.compact(below);
        }
        if let Some(rl) = &mut self.range {
            rl.compact(below);
        }
        self.certs.compact(below);
        self.proofs_2av.compact(below);
        self.store.compact(below);
        self.fetches.compact(below);
        self.compacted_below = below;
        self.stats.compactions += 1;
        out.compact = Some(below);
    }
}

#[cfg(test)]
mod tests;
