//! The node layer's inputs, outputs and settings: what a driver (the tokio
//! node, the simulator) hands to [`super::NodeCore`] and what it gets back.

use crate::effects::{Decision, Durable, Evidence, Rejection, SpecAction};
use crate::ids::{LearnerId, Slot};
use crate::msg::{Message, Msg2b};
use crate::pacemaker::Tick;
use crate::value::{Digest, Value};
use serde::{Deserialize, Serialize};

pub use super::snapshot::{Attestation, Install};

/// Index of a node in the cluster (the node's position in its config).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub u16);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A driver's token for one client command it submitted (echoed nowhere:
/// the driver tells the core when the command completed).
pub type Token = u64;

/// What a node reacts to.
#[derive(Clone, Debug)]
pub enum Input<P> {
    /// An authenticated protocol message (its sender is the acceptor it
    /// names, checked by the driver), with its proof (the signed frame in
    /// the real node, nothing in the simulator) kept for certificates.
    Protocol { msg: Message, proof: P },
    /// A node-to-node control message from `from` (authenticated).
    Control { from: NodeId, msg: Control<P> },
    /// A client command submitted at this node.
    Submit { token: Token, cmd: Vec<u8> },
    /// The command behind `token` completed (its learner applied it).
    Done { token: Token },
    /// Time passed.
    Tick,
    /// The replica of local learner `lr` has applied every slot below the
    /// checkpoint slot `slot` (a multiple of `NodeCore::checkpoint_every`)
    /// and `state` is its canonical state there (opaque to the core): the
    /// node attests its digest and keeps it to serve
    /// ([`super::snapshot`]).
    Checkpoint {
        lr: LearnerId,
        slot: Slot,
        state: Vec<u8>,
    },
}

/// Messages between nodes that are not spec messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Control<P> {
    /// The periodic heartbeat of every node.
    Status(Status),
    /// A lagging node asks for decision certificates of `lr` from `from`.
    SyncRequest {
        lr: LearnerId,
        from: Slot,
        limit: u32,
    },
    /// Decision certificates of `lr`: per slot, a quorum of 2b with proofs.
    /// The driver verifies every proof before handing them over.
    Certs {
        lr: LearnerId,
        certs: Vec<Vec<(Msg2b, P)>>,
    },
    /// Client commands forwarded to the leader.
    Forward { cmds: Vec<Vec<u8>> },
    /// A new leader asks for every 2b held for the slots it takes over
    /// (`[from, to)`), before their first ballot.
    VotesRequest { from: Slot, to: Slot },
    /// 2b messages with proofs (verified by the driver), the answer to
    /// [`Control::VotesRequest`]: fed through the node like any 2b.
    Votes { votes: Vec<(Msg2b, P)> },
    // New variants go last (the simulator and the wire follow this order).
    /// A checkpoint attestation ([`super::snapshot`]): sent with no proof
    /// (the driver signs the frame), received with its signed frame.
    Attest { att: Attestation, proof: Option<P> },
    /// A snapshot of `lr` at checkpoint `slot`: the sender's state there
    /// (when it runs `lr`) and the signed attestations that authenticate
    /// it, each verified by the driver (signature, and `att.node` is the
    /// signer). The answer to a [`Control::SyncRequest`] the sender cannot
    /// serve from certificates.
    Snapshot {
        lr: LearnerId,
        slot: Slot,
        state: Option<Vec<u8>>,
        atts: Vec<(Attestation, P)>,
    },
    /// `bytes` of a snapshot state of `total` bytes at `offset`, sent
    /// ahead of its [`Control::Snapshot`] when the state is too large for
    /// one frame (see `snapshot::parts`).
    SnapshotPart {
        lr: LearnerId,
        slot: Slot,
        total: u64,
        offset: u64,
        bytes: Vec<u8>,
    },
    /// Asks for the bytes of these values (see [`super::store`]).
    Fetch { digests: Vec<Digest> },
    /// Value bytes, each with the digest it was asked for: the answer to
    /// [`Control::Fetch`]. Bytes that do not hash to their digest are
    /// rejected and counted.
    Batches { batches: Vec<(Digest, Value)> },
    /// Other acceptors' 2av with their proofs, relayed by the acceptor
    /// whose vote they justify (see [`super::relay`]); each is fed through
    /// the receiving node as a 2av from its sender (the driver verified
    /// every proof).
    Relay { msgs: Vec<(crate::msg::Msg2av, P)> },
}

/// A node's heartbeat: the view it is in and, per learner it runs or
/// follows, the first slot it has not decided (its contiguous prefix).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub view: u64,
    pub next: Vec<(LearnerId, Slot)>,
    /// The sender heard the leader of `view` within the leader timeout (or
    /// is that leader): a peer whose own link to the leader is slow (a
    /// backlog after a pause) does not start a view change while most
    /// acceptor nodes still hear the leader.
    pub hears_leader: bool,
}

/// What one step asks the driver to do, in this order: make `persist`
/// durable; then send `broadcast` (to every peer), `send_all` and `send`;
/// then apply `decided` and acknowledge; then, if `compact` is set, drop
/// the state of slots below it and rewrite the log as a snapshot.
#[derive(Clone, Debug)]
pub struct Ready<P> {
    pub persist: Vec<Durable>,
    pub broadcast: Vec<Message>,
    pub send_all: Vec<Control<P>>,
    pub send: Vec<(NodeId, Control<P>)>,
    /// Decisions of the learners this node runs (each slot once per learner).
    pub decided: Vec<Decision>,
    pub compact: Option<Slot>,
    pub evidence: Vec<Evidence>,
    pub rejected: Vec<Rejection>,
    /// Spec actions taken (only when recording).
    pub actions: Vec<SpecAction>,
    /// Events an operator may want in the log (view changes, catch-up).
    pub notes: Vec<Note>,
    /// Verified snapshots of local learners to install (make durable with
    /// `persist`, then replace the replica, before applying `decided`).
    pub install: Vec<Install>,
}

impl<P> Default for Ready<P> {
    fn default() -> Self {
        Ready {
            persist: Vec::new(),
            broadcast: Vec::new(),
            send_all: Vec::new(),
            send: Vec::new(),
            decided: Vec::new(),
            compact: None,
            evidence: Vec::new(),
            rejected: Vec::new(),
            actions: Vec::new(),
            notes: Vec::new(),
            install: Vec::new(),
        }
    }
}

impl<P> Ready<P> {
    pub fn clear(&mut self) {
        self.persist.clear();
        self.broadcast.clear();
        self.send_all.clear();
        self.send.clear();
        self.decided.clear();
        self.compact = None;
        self.evidence.clear();
        self.rejected.clear();
        self.actions.clear();
        self.notes.clear();
        self.install.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.persist.is_empty()
            && self.broadcast.is_empty()
            && self.send_all.is_empty()
            && self.send.is_empty()
            && self.decided.is_empty()
            && self.compact.is_none()
            && self.install.is_empty()
    }
}

/// Something worth a log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// The node moved to `view` (leader: the proposer node `leader`).
    View {
        view: u64,
        leader: NodeId,
        why: &'static str,
    },
    /// A learner asked `peer` for certificates from `from`.
    Sync {
        lr: LearnerId,
        peer: NodeId,
        from: Slot,
    },
    /// A message beyond the slot horizon was dropped.
    Horizon { slot: Slot },
    /// A 1a or 1c above the ballot ceiling was dropped.
    Ceiling { slot: Slot, bal: crate::ids::Ballot },
    /// A verified snapshot of `lr` at `slot` from `peer` was installed
    /// (`local`: with the replica state; else a followed learner's prefix
    /// jumped).
    SnapshotInstalled {
        lr: LearnerId,
        slot: Slot,
        peer: NodeId,
        local: bool,
    },
    /// A snapshot was refused, and why.
    SnapshotRefused {
        lr: LearnerId,
        slot: Slot,
        peer: NodeId,
        why: &'static str,
    },
}

/// Timing of the node layer, in the driver's [`Tick`] units.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeTiming {
    /// Period of the status heartbeat.
    pub heartbeat: u64,
    /// Silence of the leader's node after which a new view is started.
    pub leader_timeout: u64,
    /// A command pending this long with no decision anywhere starts a new
    /// view (doubled on each view change without progress, up to 8x).
    pub progress_timeout: u64,
    /// A sync request unanswered (no progress) this long is sent again.
    pub sync_timeout: u64,
    /// A forwarded command not done after this long is forwarded again.
    pub forward_timeout: u64,
    /// A fetch of value bytes unanswered this long asks the next peer
    /// (doubled on each try, up to 8x).
    pub fetch_timeout: u64,
}

impl NodeTiming {
    /// Defaults for a message delay of about `delay` ticks.
    pub fn new(delay: u64) -> NodeTiming {
        let d = delay.max(1);
        NodeTiming {
            heartbeat: 20 * d,
            leader_timeout: 100 * d,
            progress_timeout: 150 * d,
            sync_timeout: 40 * d,
            forward_timeout: 150 * d,
            fetch_timeout: 8 * d,
        }
    }
}

/// The current time of a step (kept with the step's inputs for clarity).
pub type Now = Tick;
