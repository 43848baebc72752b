//! The stateright model of a cluster running the real protocol core.
//!
//! Actors: one [`Acceptor`] per safe acceptor, one [`Learner`] per learner,
//! one [`Proposer`] per plan, all the unmodified `hpaxos-core` state
//! machines. Fake acceptors have no state: their whole message domain is in
//! the network from the start ([`crate::fake`]).
//!
//! Network: unordered, duplicating, optionally lossy. A state keeps `sent`
//! (every message ever sent: the spec's `msgs`) and, per actor, the messages
//! already delivered to it. A message is routed by kind to the actors that
//! act on it (1a, 1c to acceptors; 1b to acceptors and the proposer of its
//! ballot; 2av to acceptors; 2b to its learner) and never back to its sender
//! (acceptors receive their own 1b and 2av inside the core). Delivering a
//! message to an actor twice is a no-op for every core state machine, so a
//! duplicating network needs no second delivery; a delivery that changes
//! nothing (no state change, nothing new sent) is not a transition, and the
//! message stays deliverable later. With `lossy`, an envelope may instead be
//! dropped: its recipient never sees it.
//!
//! Proposers that cannot send anything new do not hear 1b messages: with
//! `any_1c`, every 1c a proposer could announce (a learner of its plan, a
//! ballot of its plan, a value of the instance: its own or one a 1b
//! reports) is in `sent` from the start, and a proposer's 1b changes only
//! its own state, which nothing else reads and which no later step of its
//! own turns into a new message (`NextBallot` starts a fresh round from its
//! plan alone and sends a 1a). Its spec action there, a `Phase1c` of a
//! message already sent, leaves the spec state as it was. Every state of
//! the full model is then a state of the reduced one with the proposers'
//! collected 1b forgotten, and back: the same safety, `decided` and
//! refinement verdicts, with proposers' 1b deliveries left out of the
//! traces (`tests/proposer_1b.rs` compares the two state sets).
//!
//! Data flow per step: an action (deliver, drop, next ballot) -> the actor's
//! `handle` with an [`Effects`] -> new messages interned into `sent` -> the
//! optional [`crate::monitor`] sees the spec actions taken.

use crate::instance::{Instance, SLOT};
use crate::intern::{Bits, Interner, MsgId};
use crate::monitor::{Monitor, MonitorFactory};
use crate::symmetry::Symmetry;
use hpaxos_core::{
    Acceptor, AcceptorDurable, Effects, Learner, LearnerId, Message, Proposer, SpecAction, Value,
};
use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// What an actor is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Acceptor(Acceptor),
    Learner(Learner),
    /// A proposer and the index of its next ballot in its plan.
    Proposer {
        plan: usize,
        next: usize,
        p: Proposer,
    },
}

/// One event of an actor's history, kept only with symmetry reduction
/// ([`crate::symmetry`] replays it renamed to find the actor's image).
#[derive(Debug)]
pub enum Ev {
    /// The actor handled this message (a delivery, or a 2b handed to a
    /// learner) and changed.
    Msg(MsgId),
    /// A proposer started its next ballot.
    NextBallot,
    /// An acceptor restarted from these durable records (the history
    /// before it no longer matters).
    Restored(Arc<AcceptorDurable>),
}

/// An actor's history, newest event first (shared between states).
#[derive(Debug)]
pub struct Hist {
    pub ev: Ev,
    pub prev: Option<Arc<Hist>>,
}

/// One actor's state plus what was delivered to it, with cached hashes.
///
/// An acceptor that may crash also keeps what it made durable (the
/// records of `Effects::persist`, replayed with `AcceptorDurable::apply`)
/// and how many restarts it has left; a restart rebuilds it from exactly
/// those records.
#[derive(Clone, Debug)]
pub struct Node {
    pub role: Role,
    pub delivered: Bits,
    pub durable: Option<Arc<AcceptorDurable>>,
    pub restarts_left: u8,
    /// The actor's history (symmetry reduction only; not part of the
    /// state: equal states may have different histories).
    pub hist: Option<Arc<Hist>>,
    role_hash: u64,
    hash: u64,
    /// The node's key hash with dead entries left out ([`crate::dead`]),
    /// computed on first use with `--dead on`.
    live: OnceLock<u64>,
}

/// A fast hasher with fixed keys (hashes only need to agree within a run).
pub(crate) fn hasher() -> ahash::AHasher {
    ahash::RandomState::with_seeds(0x6870, 0x6178, 0x6f73, 0x2e31).build_hasher()
}

impl Node {
    fn new(role: Role, delivered: Bits) -> Node {
        let role_hash = Node::role_hash(&role);
        Node::with_role_hash(role, role_hash, delivered, None, 0)
    }

    fn with_role_hash(
        role: Role,
        role_hash: u64,
        delivered: Bits,
        durable: Option<Arc<AcceptorDurable>>,
        restarts_left: u8,
    ) -> Node {
        Node {
            hash: Node::hash_of(role_hash, &delivered, &durable, restarts_left),
            role_hash,
            role,
            delivered,
            durable,
            restarts_left,
            hist: None,
            live: OnceLock::new(),
        }
    }

    /// The node hash of these parts (what [`SysState`] hashes per actor).
    pub fn hash_of(
        role_hash: u64,
        delivered: &Bits,
        durable: &Option<Arc<AcceptorDurable>>,
        restarts_left: u8,
    ) -> u64 {
        let mut h = hasher();
        role_hash.hash(&mut h);
        delivered.hash(&mut h);
        durable.hash(&mut h);
        restarts_left.hash(&mut h);
        h.finish()
    }

    /// The cached hash of the whole node.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// The cached hash of the role.
    pub fn cached_role_hash(&self) -> u64 {
        self.role_hash
    }

    /// The hash of a role, as cached in a node.
    pub fn role_hash_of(role: &Role) -> u64 {
        Node::role_hash(role)
    }

    /// This node with `ev` appended to `prev`'s history.
    fn with_event(mut self, prev: &Node, ev: Ev) -> Node {
        self.hist = Some(Arc::new(Hist {
            ev,
            prev: prev.hist.clone(),
        }));
        self
    }

    /// The same node with another role and delivered set (durable records
    /// and restart budget kept).
    fn evolve(&self, role: Role, role_hash: u64, delivered: Bits) -> Node {
        let mut n = Node::with_role_hash(
            role,
            role_hash,
            delivered,
            self.durable.clone(),
            self.restarts_left,
        );
        n.hist = self.hist.clone();
        n
    }

    fn role_hash(role: &Role) -> u64 {
        let mut h = hasher();
        role.hash(&mut h);
        h.finish()
    }
}

/// A global state: every actor, the network, the monitor.
#[derive(Clone, Debug)]
pub struct SysState {
    pub nodes: Vec<Arc<Node>>,
    pub sent: Arc<Bits>,
    pub monitor: Option<Arc<dyn Monitor>>,
}

impl Hash for SysState {
    fn hash<H: Hasher>(&self, h: &mut H) {
        hash_parts(
            self.nodes.iter().map(|n| n.hash),
            &self.sent,
            self.monitor.as_ref().map(|m| m.fingerprint()),
            h,
        );
    }
}

fn hash_parts<H: Hasher>(
    nodes: impl Iterator<Item = u64>,
    sent: &Bits,
    mon: Option<u64>,
    h: &mut H,
) {
    for n in nodes {
        n.hash(h);
    }
    sent.hash(h);
    if let Some(m) = mon {
        m.hash(h);
    }
}

/// The fingerprint of a state given by its parts: the actors' node hashes
/// in order, `sent`, the monitor's fingerprint (what [`fingerprint`] hashes).
pub fn combine(nodes: impl Iterator<Item = u64>, sent: &Bits, mon: Option<u64>) -> u64 {
    let mut h = hasher();
    hash_parts(nodes, sent, mon, &mut h);
    h.finish()
}

impl PartialEq for SysState {
    fn eq(&self, o: &SysState) -> bool {
        self.nodes.len() == o.nodes.len()
            && self.nodes.iter().zip(o.nodes.iter()).all(|(a, b)| {
                a.hash == b.hash
                    && a.role == b.role
                    && a.delivered == b.delivered
                    && a.durable == b.durable
                    && a.restarts_left == b.restarts_left
            })
            && self.sent == o.sent
            && self.monitor.as_ref().map(|m| m.fingerprint())
                == o.monitor.as_ref().map(|m| m.fingerprint())
    }
}
impl Eq for SysState {}

/// A step of the model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Actor `to` receives message `msg`.
    Deliver { to: usize, msg: MsgId },
    /// The network loses the envelope of `msg` to actor `to`.
    Drop { to: usize, msg: MsgId },
    /// Proposer actor `node` gives up its ballot and starts its next one.
    NextBallot { node: usize },
    /// Acceptor actor `node` crashes and restarts from its durable records:
    /// everything it received is forgotten (and may be received again: the
    /// network duplicates).
    Restart { node: usize },
}

impl Action {
    /// The one actor whose state the action reads and changes (besides the
    /// learners handed new 2b messages, whose state is a set function of
    /// them, and the grow-only `sent`): actions of different actors commute.
    pub fn actor(&self) -> usize {
        match self {
            Action::Deliver { to, .. } | Action::Drop { to, .. } => *to,
            Action::NextBallot { node } | Action::Restart { node } => *node,
        }
    }
}

/// The 64-bit fingerprint of a state (what explorers store).
pub fn fingerprint(s: &SysState) -> u64 {
    let mut h = hasher();
    s.hash(&mut h);
    h.finish()
}

/// The model: the instance, the shared message table, the monitor factory.
pub struct CheckModel {
    pub inst: Arc<Instance>,
    pub interner: Arc<Interner>,
    pub monitor: Option<Arc<dyn MonitorFactory>>,
    first_learner: usize,
    first_proposer: usize,
    /// Steps that sent a new message without changing their actor: none in
    /// the real core (what it re-sends was sent before). The sleep-set
    /// reduction relies on it (a delivery's enabledness then depends on its
    /// actor only); the explorer reports any.
    pub unchanged_sends: AtomicU64,
    /// Symmetry reduction (actors keep their histories), if on and the
    /// instance's group is not trivial.
    pub sym: Option<Arc<Symmetry>>,
    /// 1b messages are routed to the proposer of their ballot: false when
    /// `any_1c` has sent every 1c a proposer could announce (see the
    /// module doc); a test sets it back to compare.
    pub proposers_hear_1b: bool,
    /// Dead-message reduction ([`crate::dead`]): safe acceptors are keyed
    /// by their live state.
    pub dead: bool,
}

impl CheckModel {
    pub fn new(inst: Instance, monitor: Option<Arc<dyn MonitorFactory>>) -> CheckModel {
        let first_learner = inst.safe_ids.len();
        let first_proposer = first_learner + inst.trust.n_learners();
        let inst_any_1c = inst.opts.any_1c;
        CheckModel {
            inst: Arc::new(inst),
            interner: Arc::new(Interner::default()),
            monitor,
            first_learner,
            first_proposer,
            unchanged_sends: AtomicU64::new(0),
            sym: None,
            proposers_hear_1b: !inst_any_1c,
            dead: false,
        }
    }

    /// Turns symmetry reduction on; returns the size of the instance's
    /// group (1: nothing to reduce, the model is unchanged).
    pub fn with_symmetry(&mut self) -> usize {
        let perms = crate::symmetry::group(&self.inst);
        let n = perms.len();
        self.sym = (n > 1).then(|| Arc::new(Symmetry::new(perms)));
        n
    }

    /// The key of `s` in the explorer's visited table: its fingerprint, or
    /// with symmetry the least fingerprint of its orbit.
    pub fn key(&self, s: &SysState) -> u64 {
        match &self.sym {
            Some(sym) => sym.canonical(self, s),
            None => self.plain_key(s),
        }
    }

    /// The key of `s` without symmetry: its fingerprint, or with
    /// [`CheckModel::dead`] the fingerprint of its live parts.
    pub fn plain_key(&self, s: &SysState) -> u64 {
        if !self.dead {
            return fingerprint(s);
        }
        combine(
            s.nodes.iter().map(|n| self.node_key(n)),
            &s.sent,
            s.monitor.as_ref().map(|m| m.fingerprint()),
        )
    }

    /// A node's hash as the key sees it (see [`CheckModel::plain_key`]).
    pub fn node_key(&self, n: &Node) -> u64 {
        if !self.dead {
            return n.hash;
        }
        *n.live.get_or_init(|| crate::dead::live_node_hash(self, n))
    }

    /// [`CheckModel::key`] and the index of the permutation of the
    /// symmetry group that maps `s` to the state the key is the
    /// fingerprint of (0, the identity, without symmetry).
    pub fn key_with_perm(&self, s: &SysState) -> (u64, usize) {
        match &self.sym {
            Some(sym) => sym.canonical_with(self, s),
            None => (self.plain_key(s), 0),
        }
    }

    /// Index of the first learner actor.
    pub fn first_learner(&self) -> usize {
        self.first_learner
    }

    /// An actor handles a message (the `Deliver` step's work).
    pub fn handle(&self, role: &mut Role, m: &Message, fx: &mut Effects) {
        match role {
            Role::Acceptor(a) => a.handle(m, fx),
            Role::Learner(l) => l.handle(m, fx),
            // A range 1b is its 1b of the model's slot (`Options::range`).
            Role::Proposer { p, .. } => match m {
                Message::M1bRange(r) => p.handle(&Message::M1b(r.at(SLOT)), fx),
                _ => p.handle(m, fx),
            },
        }
    }

    /// With [`crate::instance::Options::range`], a proposer's 1a become
    /// range 1a from the model's slot on (`Phase1a` becomes `Phase1aRange`).
    fn rangeify(&self, fx: &mut Effects) {
        if !self.inst.opts.range {
            return;
        }
        for m in fx.send.iter_mut() {
            *m = crate::instance::as_range(m.clone());
        }
        for a in fx.actions.iter_mut() {
            if let SpecAction::Phase1a { slot, lr, bal } = a {
                *a = SpecAction::Phase1aRange {
                    from: *slot,
                    lr: *lr,
                    bal: *bal,
                };
            }
        }
    }

    /// A proposer starts its next ballot (the `NextBallot` step's work).
    pub fn next_ballot(&self, role: &mut Role, fx: &mut Effects) {
        if let Role::Proposer { plan, next, p } = role {
            if let Some(pl) = self.inst.plans.get(*plan) {
                if let Some(&b) = pl.ballots.get(*next) {
                    *next += 1;
                    p.start(SLOT, &pl.learners, b, pl.value.clone(), fx);
                    self.rangeify(fx);
                }
            }
        }
    }

    /// With symmetry, `new` with `ev` appended to `prev`'s history.
    fn record(&self, new: Node, prev: &Node, ev: impl FnOnce() -> Ev) -> Node {
        if self.sym.is_some() {
            new.with_event(prev, ev())
        } else {
            new
        }
    }

    pub fn n_nodes(&self) -> usize {
        self.first_proposer + self.inst.plans.len()
    }

    /// Human name of an actor.
    pub fn node_name(&self, i: usize) -> String {
        let t = &self.inst.trust;
        if i < self.first_learner {
            t.acceptor_name(self.inst.safe_ids[i]).to_string()
        } else if i < self.first_proposer {
            t.learner_name(LearnerId((i - self.first_learner) as u16))
                .to_string()
        } else {
            format!("proposer{}", i - self.first_proposer + 1)
        }
    }

    /// The actors that act on `m` (see the module doc).
    pub fn route(&self, m: &Message) -> Vec<usize> {
        // An acceptor that may restart also gets its own 1b and 2av: before
        // a restart their delivery changes nothing (it received them when
        // sending), after one it is how the spec's `received[a]`, which
        // keeps them, is found again.
        let restart = &self.inst.opts.restart;
        let acceptors = |except: Option<hpaxos_core::AcceptorId>| -> Vec<usize> {
            self.inst
                .safe_ids
                .iter()
                .enumerate()
                .filter(|(_, a)| Some(**a) != except || restart.contains(**a))
                .map(|(i, _)| i)
                .collect()
        };
        match m {
            Message::M1a(_) | Message::M1c(_) | Message::M1aRange(_) => acceptors(None),
            Message::M1bRange(b) => {
                let mut to = acceptors(Some(b.acc));
                if !self.proposers_hear_1b {
                    return to;
                }
                for (k, plan) in self.inst.plans.iter().enumerate() {
                    if plan.ballots.contains(&b.bal) && plan.learners.contains(&b.lr) {
                        to.push(self.first_proposer + k);
                    }
                }
                to
            }
            Message::M1b(b) => {
                let mut to = acceptors(Some(b.acc));
                if !self.proposers_hear_1b {
                    return to;
                }
                for (k, plan) in self.inst.plans.iter().enumerate() {
                    if plan.ballots.contains(&b.bal) && plan.learners.contains(&b.lr) {
                        to.push(self.first_proposer + k);
                    }
                }
                to
            }
            Message::M2av(m) => acceptors(Some(m.acc)),
            // Handed to its learner when sent (see `learn`).
            Message::M2b(_) => Vec::new(),
        }
    }

    /// Adds `msgs` to `sent`; returns the ones that are new.
    fn send_all<'m>(&self, sent: &mut Bits, msgs: &'m [Message]) -> Vec<&'m Message> {
        let mut fresh = Vec::new();
        for m in msgs {
            if sent.insert(self.interner.intern(m, |m| self.route(m))) {
                fresh.push(m);
            }
        }
        fresh
    }

    /// Learners are sinks (they send nothing) and their decisions only grow
    /// with the 2b messages they hold, so each new 2b is handed to its
    /// learner in the step that sends it: any state with fewer deliveries
    /// has a subset of these decisions, and this one is reachable. This is
    /// exact for `safety` and `decided`, and removes every learner
    /// interleaving from the state space.
    fn learn(&self, nodes: &mut [Arc<Node>], fresh: &[&Message], fx: &mut Effects) {
        for m in fresh {
            let Message::M2b(b) = m else { continue };
            let i = self.first_learner + b.lr.index();
            let Some(node) = nodes.get(i) else { continue };
            let Role::Learner(l) = &node.role else {
                continue;
            };
            let mut l = l.clone();
            l.handle(m, fx);
            let role = Role::Learner(l);
            let h = Node::role_hash(&role);
            let new = node.evolve(role, h, node.delivered.clone());
            let new = self.record(new, node, || {
                Ev::Msg(self.interner.intern(m, |m| self.route(m)))
            });
            nodes[i] = Arc::new(new);
        }
    }

    /// Values decided by learner `l` (any ballot), in `s`.
    pub fn decided(&self, s: &SysState, l: LearnerId) -> BTreeSet<Value> {
        match s.nodes.get(self.first_learner + l.index()).map(|n| &n.role) {
            Some(Role::Learner(lr)) => lr.decisions(SLOT).map(|(_, v)| v.clone()).collect(),
            _ => BTreeSet::new(),
        }
    }

    /// Every decision in `s`: (learner, ballot, value).
    pub fn decisions(&self, s: &SysState) -> Vec<(LearnerId, hpaxos_core::Ballot, Value)> {
        let mut out = Vec::new();
        for l in self.inst.trust.learners() {
            if let Some(Role::Learner(lr)) =
                s.nodes.get(self.first_learner + l.index()).map(|n| &n.role)
            {
                out.extend(lr.decisions(SLOT).map(|(b, v)| (l, b, v.clone())));
            }
        }
        out
    }

    /// An entangled pair that decided differently in `s`, if any.
    pub fn disagreement(&self, s: &SysState) -> Option<(LearnerId, LearnerId)> {
        let sets: Vec<BTreeSet<Value>> = self
            .inst
            .trust
            .learners()
            .map(|l| self.decided(s, l))
            .collect();
        self.inst.entangled.iter().copied().find(|(l1, l2)| {
            let (a, b) = (&sets[l1.index()], &sets[l2.index()]);
            a.union(b).nth(1).is_some()
        })
    }

    fn effects(&self) -> Effects {
        if self.monitor.is_some() {
            Effects::recording()
        } else {
            Effects::default()
        }
    }

    /// Runs `f` on a copy of actor `to`'s role; returns the new state, or
    /// `None` when nothing changed and nothing new was sent.
    fn step(
        &self,
        s: &SysState,
        to: usize,
        delivered: Option<MsgId>,
        f: impl FnOnce(&mut Role, &mut Effects),
    ) -> Option<SysState> {
        let node = s.nodes.get(to)?;
        let mut role = node.role.clone();
        let mut fx = self.effects();
        f(&mut role, &mut fx);
        let mut sent = (*s.sent).clone();
        let sends = std::mem::take(&mut fx.send);
        let fresh = self.send_all(&mut sent, &sends);
        let role_hash = Node::role_hash(&role);
        let changed = role_hash != node.role_hash || role != node.role;
        if !changed && fresh.is_empty() {
            return None;
        }
        if !changed {
            self.unchanged_sends.fetch_add(1, Ordering::Relaxed);
        }
        let mut next = s.clone();
        let mut d = node.delivered.clone();
        if let Some(id) = delivered {
            d.insert(id);
        }
        let mut new_node = node.evolve(role, role_hash, d);
        if let Some(dur) = &node.durable {
            if !fx.persist.is_empty() {
                let mut dur = (**dur).clone();
                for r in &fx.persist {
                    dur.apply(r);
                }
                new_node = Node::with_role_hash(
                    new_node.role,
                    role_hash,
                    new_node.delivered,
                    Some(Arc::new(dur)),
                    node.restarts_left,
                );
            }
        }
        let new_node = self.record(new_node, node, || match delivered {
            Some(id) => Ev::Msg(id),
            None => Ev::NextBallot,
        });
        next.nodes[to] = Arc::new(new_node);
        self.learn(&mut next.nodes, &fresh, &mut fx);
        next.sent = Arc::new(sent);
        if let Some(m) = &s.monitor {
            let mut m2 = m.boxed_clone();
            m2.on_step(&fx.actions);
            m2.on_node(&next.nodes[to].role);
            for n in &next.nodes[self.first_learner..self.first_proposer] {
                m2.on_node(&n.role);
            }
            next.monitor = Some(Arc::from(m2));
        }
        Some(next)
    }
}

impl CheckModel {
    /// `Restart { node }`: the acceptor is rebuilt with
    /// `Acceptor::restore` from its durable records alone; `delivered` is
    /// emptied (it lost what it received) and one restart is used.
    fn restart(&self, s: &SysState, i: usize) -> Option<SysState> {
        let node = s.nodes.get(i)?;
        let (Role::Acceptor(old), Some(dur)) = (&node.role, &node.durable) else {
            return None;
        };
        if node.restarts_left == 0 || node.delivered.is_empty() {
            return None;
        }
        let acc = Acceptor::restore(
            old.id(),
            self.inst.trust.clone(),
            self.inst.opts.acceptor_options(),
            (**dur).clone(),
        );
        let role = Role::Acceptor(acc);
        let role_hash = Node::role_hash(&role);
        let mut next = s.clone();
        let mut new = Node::with_role_hash(
            role,
            role_hash,
            Bits::default(),
            Some(Arc::clone(dur)),
            node.restarts_left - 1,
        );
        if self.sym.is_some() {
            new.hist = Some(Arc::new(Hist {
                ev: Ev::Restored(Arc::clone(dur)),
                prev: None,
            }));
        }
        next.nodes[i] = Arc::new(new);
        if let Some(m) = &s.monitor {
            // No spec action: the spec's variables of a safe acceptor are
            // exactly its durable ones, which the restored state must match.
            let mut m2 = m.boxed_clone();
            m2.on_node(&next.nodes[i].role);
            next.monitor = Some(Arc::from(m2));
        }
        Some(next)
    }
}

impl stateright::Model for CheckModel {
    type State = SysState;
    type Action = Action;

    fn init_states(&self) -> Vec<SysState> {
        let t = &self.inst.trust;
        let mut nodes = Vec::with_capacity(self.n_nodes());
        for &a in &self.inst.safe_ids {
            let acc = Acceptor::new(a, t.clone(), self.inst.opts.acceptor_options());
            let role = Role::Acceptor(acc);
            let h = Node::role_hash(&role);
            let node = if self.inst.opts.restart.contains(a) {
                Node::with_role_hash(
                    role,
                    h,
                    Bits::default(),
                    Some(Arc::new(AcceptorDurable::default())),
                    self.inst.opts.restarts,
                )
            } else {
                Node::with_role_hash(role, h, Bits::default(), None, 0)
            };
            nodes.push(Arc::new(node));
        }
        for l in t.learners() {
            nodes.push(Arc::new(Node::new(
                Role::Learner(Learner::new(l, t.clone())),
                Bits::default(),
            )));
        }
        let mut sent = Bits::default();
        let mut fx = self.effects();
        let fresh = self.send_all(&mut sent, &self.inst.preloaded);
        self.learn(&mut nodes, &fresh, &mut fx);
        let mut monitor = self.monitor.as_ref().map(|f| f.start(&self.inst));
        if let Some(m) = monitor.as_mut() {
            m.on_fake_sends(&self.inst.preloaded);
            m.on_step(&fx.actions);
        }
        for (k, plan) in self.inst.plans.iter().enumerate() {
            let mut p = Proposer::new(t.clone());
            let mut fx = self.effects();
            if let Some(&b) = plan.ballots.first() {
                p.start(SLOT, &plan.learners, b, plan.value.clone(), &mut fx);
                self.rangeify(&mut fx);
            }
            let sends = std::mem::take(&mut fx.send);
            let fresh = self.send_all(&mut sent, &sends);
            self.learn(&mut nodes, &fresh, &mut fx);
            if let Some(m) = monitor.as_mut() {
                m.on_step(&fx.actions);
            }
            nodes.push(Arc::new(Node::new(
                Role::Proposer {
                    plan: k,
                    next: 1,
                    p,
                },
                Bits::default(),
            )));
        }
        vec![SysState {
            nodes,
            sent: Arc::new(sent),
            monitor: monitor.map(Arc::from),
        }]
    }

    fn actions(&self, s: &SysState, actions: &mut Vec<Action>) {
        for (id, e) in self.interner.entries(s.sent.iter()) {
            for &to in &e.to {
                if s.nodes.get(to).is_some_and(|n| !n.delivered.contains(id)) {
                    actions.push(Action::Deliver { to, msg: id });
                    if self.inst.opts.lossy {
                        actions.push(Action::Drop { to, msg: id });
                    }
                }
            }
        }
        for (i, n) in s.nodes.iter().enumerate() {
            if n.restarts_left > 0 && !n.delivered.is_empty() {
                actions.push(Action::Restart { node: i });
            }
            if let Role::Proposer { plan, next, .. } = &n.role {
                if self
                    .inst
                    .plans
                    .get(*plan)
                    .is_some_and(|p| *next < p.ballots.len())
                {
                    actions.push(Action::NextBallot { node: i });
                }
            }
        }
    }

    fn next_state(&self, s: &SysState, action: Action) -> Option<SysState> {
        match action {
            Action::Deliver { to, msg } => {
                let e = self.interner.entry(msg)?;
                if s.nodes.get(to)?.delivered.contains(msg) {
                    return None;
                }
                self.step(s, to, Some(msg), |role, fx| self.handle(role, &e.msg, fx))
            }
            Action::Drop { to, msg } => {
                let node = s.nodes.get(to)?;
                if node.delivered.contains(msg) {
                    return None;
                }
                let mut d = node.delivered.clone();
                d.insert(msg);
                let mut next = s.clone();
                next.nodes[to] = Arc::new(node.evolve(node.role.clone(), node.role_hash, d));
                Some(next)
            }
            Action::Restart { node } => self.restart(s, node),
            Action::NextBallot { node } => {
                self.step(s, node, None, |role, fx| self.next_ballot(role, fx))
            }
        }
    }

    fn properties(&self) -> Vec<stateright::Property<Self>> {
        let mut props = vec![
            stateright::Property::always("safety", |m: &CheckModel, s: &SysState| {
                m.disagreement(s).is_none()
            }),
            stateright::Property::sometimes("decided", |m: &CheckModel, s: &SysState| {
                !m.decisions(s).is_empty()
            }),
        ];
        if self.monitor.is_some() {
            props.push(stateright::Property::always(
                "refinement",
                |_: &CheckModel, s: &SysState| {
                    s.monitor.as_ref().is_none_or(|m| m.violation().is_none())
                },
            ));
        }
        props
    }
}
