//! One simulated run: the nodes (real core state machines), the network,
//! faults and the event loop. Deterministic: all randomness comes from the
//! seed's PRNG, all collections iterate in a fixed order, time is virtual.
//!
//! Data flow of one event: `Deliver{id, to}` → the recipient's role handles
//! the packet with the core (`Acceptor::handle`, `Learner::handle`,
//! `Proposer::handle` + pacemaker) into a reused [`Effects`] → durable
//! records go to the node's write pipeline, and only once they are durable
//! are the step's messages sent (`Flush`) → sends are stored once in the
//! arena and fanned out as `Deliver` events through the link model (delay,
//! loss, duplication, partitions). A crash drops the node's volatile state
//! and whatever it had not yet made durable (and the messages waiting on
//! it); a restart rebuilds the node from exactly its durable records.

use crate::net::{Ev, Packet, Queue, Sent, NO_CAUSE};
use crate::oracle::{Dec, Oracle, Violation};
use crate::params::{Micros, SimParams};
use crate::rng::Rng;
use crate::scenario::{Cut, Layout, Scenario};
use crate::trace::{Trace, TraceEv};
use crate::{Refiner, RunStats};
use hpaxos_core::node::{
    Control, Input, NodeCore, NodeId, NodeSetup, NodeTiming, Ready, DEFAULT_HORIZON,
};
use hpaxos_core::pacemaker::{Pacemaker, PacemakerConfig, PacemakerError, ProposerIndex, Tick};
use hpaxos_core::{
    AccSet, Acceptor, AcceptorDurable, AcceptorId, AcceptorOptions, Durable, Learner, LearnerId,
    Message, Msg1a, Msg1c, Slot, SpecAction, Trust, Value,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Writes waiting for their fsync, with the sends that depend on them.
pub(crate) struct Pending {
    done: Micros,
    records: Vec<Durable>,
    /// Spec actions of the step, replayed on the refinement checker when
    /// the step becomes durable (a crash before that undoes the step).
    actions: Vec<SpecAction>,
    sends: Vec<(Packet, Dest, u32)>,
}

/// Where a pending send goes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Dest {
    /// By packet kind (protocol broadcast).
    Route,
    /// Every safe node but the sender (control broadcast).
    Nodes,
    To(u16),
}

/// The durable store of a node: what survives a crash.
#[derive(Default)]
pub(crate) struct Disk {
    pub log: Vec<Durable>,
    pending: VecDeque<Pending>,
    gen: u32,
    fsync: Micros,
}

/// What a safe node runs (the roles of its `NodeCore`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Acceptor(AcceptorId),
    Learner(LearnerId),
    Proposer(u16),
}

/// A safe node: the node layer (the same `NodeCore` the real node runs)
/// while up, its disk always.
pub(crate) struct SimNode {
    pub role: Role,
    pub core: Option<NodeCore<()>>,
    pub disk: Disk,
    pub timer_at: Option<Micros>,
    /// Slots its local learner decided since it last started.
    pub decided: BTreeSet<Slot>,
    pub cmds: u64,
    /// Times this node was started (its proposer's ballot floor grows with it).
    pub boots: u64,
    /// Commands submitted here, not yet applied by its learner: command -> token.
    pub submitted: BTreeMap<Vec<u8>, u64>,
}

pub(crate) enum AccNode {
    Safe,
    Fake(Box<crate::byz::Fake>),
}

pub struct World<'a> {
    pub(crate) p: &'a SimParams,
    pub(crate) trust: Trust,
    pub(crate) sc: Scenario,
    pub(crate) lay: Layout,
    pub(crate) now: Micros,
    pub(crate) rng: Rng,
    pub(crate) brng: Rng,
    pub(crate) q: Queue,
    /// Every 2av sent in its own acceptor's name (relays must be among them).
    sent_2av: BTreeSet<TwoAvKey>,
    pub(crate) arena: Vec<Sent>,
    pub(crate) acc: Vec<AccNode>,
    /// Every node by id: `None` for the fake acceptors.
    pub(crate) nodes: Vec<Option<SimNode>>,
    pub(crate) part_active: Vec<bool>,
    pub(crate) stable: bool,
    pub(crate) oracle: Oracle,
    pub(crate) stats: RunStats,
    pub(crate) trace: Trace,
    pub(crate) refiner: Option<Box<dyn Refiner>>,
    pub(crate) replay_pool: Vec<(u32, u16)>,
    pub(crate) evil: BTreeMap<Slot, Value>,
    pub(crate) to_acceptors: Vec<u16>,
    pub(crate) to_1b: Vec<u16>,
    /// Where a 1c goes: every node (the node sends every protocol message
    /// to every peer; a learner that has a 1c's bytes applies its decision
    /// without a fetch, a proposer can re-propose the value with them).
    pub(crate) to_1c: Vec<u16>,
    /// Per learner: where its 2b go (its replicas, proposers, safe
    /// acceptors: nodes with an acceptor or a proposer follow every learner).
    pub(crate) to_2b: Vec<Vec<u16>>,
    pub(crate) safe_nodes: Vec<u16>,
    pub(crate) fakes: Vec<u16>,
    pub(crate) learner_nodes: Vec<Vec<u16>>,
    pub(crate) max_slot: Slot,
    vote_crashes: u32,
    stopped: bool,
}

impl<'a> World<'a> {
    pub fn new(
        p: &'a SimParams,
        trust: Trust,
        sc: Scenario,
        refiner: Option<Box<dyn Refiner>>,
    ) -> Result<World<'a>, PacemakerError> {
        let lay = layout(p, &trust);
        let mut rng = Rng::new(sc.seed);
        let brng = rng.fork();
        let oracle = Oracle::new(&trust, &sc.fake);
        let mut acc = Vec::new();
        let mut nodes: Vec<Option<SimNode>> = Vec::new();
        let disk = |n: u16| Disk {
            fsync: sc.fsync.get(n as usize).copied().unwrap_or(0),
            ..Disk::default()
        };
        let node = |n: u16, role: Role| SimNode {
            role,
            core: None,
            disk: disk(n),
            timer_at: None,
            decided: BTreeSet::new(),
            cmds: 0,
            boots: 0,
            submitted: BTreeMap::new(),
        };
        for a in trust.acceptors() {
            if sc.fake.contains(a) {
                let safe = Acceptor::new(a, trust.clone(), acceptor_options(p));
                acc.push(AccNode::Fake(Box::new(crate::byz::Fake::new(safe))));
                nodes.push(None);
            } else {
                acc.push(AccNode::Safe);
                nodes.push(Some(node(a.0, Role::Acceptor(a))));
            }
        }
        for l in trust.learners() {
            for r in 0..lay.replicas {
                let n = lay.learner_node(l.0, r);
                nodes.push(Some(node(n, Role::Learner(l))));
            }
        }
        for i in 0..lay.proposers {
            nodes.push(Some(node(lay.proposer_node(i), Role::Proposer(i))));
        }
        let to_acceptors: Vec<u16> = (0..lay.acceptors).collect();
        let to_proposers: Vec<u16> = (0..lay.proposers).map(|i| lay.proposer_node(i)).collect();
        let mut to_1b = to_acceptors.clone();
        to_1b.extend(&to_proposers);
        let fakes: Vec<u16> = sc.fake.iter().map(|a| a.0).collect();
        let learner_nodes: Vec<Vec<u16>> = trust
            .learners()
            .map(|l| {
                (0..lay.replicas)
                    .map(|r| lay.learner_node(l.0, r))
                    .collect()
            })
            .collect();
        let safe_acc: Vec<u16> = to_acceptors
            .iter()
            .copied()
            .filter(|a| !sc.fake.contains(AcceptorId(*a)))
            .collect();
        let to_2b = learner_nodes
            .iter()
            .map(|ln| {
                let mut v = ln.clone();
                v.extend(&to_proposers);
                v.extend(&safe_acc);
                v
            })
            .collect();
        let mut to_1c = to_acceptors.clone();
        to_1c.extend(learner_nodes.iter().flatten());
        to_1c.extend(&to_proposers);
        let safe_nodes: Vec<u16> = (0..lay.nodes())
            .filter(|n| nodes[*n as usize].is_some())
            .collect();
        let n_parts = sc.partitions.len();
        let mut w = World {
            p,
            trust,
            lay,
            now: 0,
            rng,
            brng,
            q: Queue::default(),
            arena: Vec::with_capacity(4096),
            sent_2av: BTreeSet::new(),
            acc,
            nodes,
            part_active: vec![false; n_parts],
            stable: false,
            oracle,
            stats: RunStats::default(),
            trace: Trace::new(p.trace_ring),
            refiner,
            replay_pool: Vec::new(),
            evil: BTreeMap::new(),
            to_acceptors,
            to_1b,
            to_1c,
            to_2b,
            safe_nodes,
            fakes,
            learner_nodes,
            max_slot: Slot(0),
            vote_crashes: 0,
            stopped: false,
            sc,
        };
        for n in 0..w.lay.nodes() {
            w.boot(n)?;
        }
        Ok(w)
    }

    /// Builds node `n`'s `NodeCore` from exactly its durable records.
    fn boot(&mut self, n: u16) -> Result<(), PacemakerError> {
        let trust = self.trust.clone();
        let lay = self.lay;
        let p = self.p;
        let record = self.refiner.is_some();
        let Some(sn) = self.nodes.get_mut(n as usize).and_then(|x| x.as_mut()) else {
            return Ok(());
        };
        let log = &sn.disk.log;
        let mut acceptor = None;
        let mut learners = Vec::new();
        let mut pacemaker = None;
        sn.decided.clear();
        sn.boots += 1;
        let boots = sn.boots;
        match sn.role {
            Role::Acceptor(a) => {
                let mut d = AcceptorDurable::default();
                for r in log {
                    d.apply(r);
                }
                acceptor = Some(Acceptor::restore(a, trust.clone(), acceptor_options(p), d));
            }
            Role::Learner(l) => {
                // Applied: decided, with the bytes logged (a decision whose
                // bytes were not fetched before the crash is fetched again).
                let logged: BTreeSet<hpaxos_core::Digest> = log
                    .iter()
                    .filter_map(|d| match d {
                        Durable::Batch { val, .. } => Some(val.digest()),
                        _ => None,
                    })
                    .collect();
                let decided: BTreeSet<Slot> = log
                    .iter()
                    .filter_map(|d| match d {
                        Durable::Decided { slot, lr, val, .. }
                            if *lr == l && logged.contains(&val.digest()) =>
                        {
                            Some(*slot)
                        }
                        _ => None,
                    })
                    .collect();
                sn.decided = decided.clone();
                learners.push((Learner::restore(l, trust.clone(), log), decided));
            }
            Role::Proposer(i) => {
                let mut cfg = PacemakerConfig::new(
                    ProposerIndex(i),
                    lay.proposers,
                    trust.learners().collect(),
                    p.delay_unit,
                );
                let (base, max) = p.timeouts();
                cfg.base_timeout = base;
                cfg.max_timeout = max;
                cfg.ballot_floor = hpaxos_core::Ballot((boots - 1) << 24);
                pacemaker = Some(Pacemaker::new(cfg)?);
            }
        }
        let mut timing = NodeTiming::new(p.delay_unit);
        timing.heartbeat = p.catchup_interval / 2;
        let mut acceptor_nodes: Vec<NodeId> = (0..lay.acceptors).map(NodeId).collect();
        acceptor_nodes.truncate(trust.n_acceptors());
        let values: Vec<(Slot, Value)> = log
            .iter()
            .filter_map(|d| match d {
                Durable::Batch { slot, val } => Some((*slot, val.clone())),
                _ => None,
            })
            .collect();
        sn.core = Some(NodeCore::new(NodeSetup {
            me: NodeId(n),
            trust,
            acceptor,
            learners,
            pacemaker,
            proposers: (0..lay.proposers)
                .map(|i| NodeId(lay.proposer_node(i)))
                .collect(),
            acceptor_nodes,
            timing,
            retain_slots: u64::MAX / 4,
            horizon: DEFAULT_HORIZON,
            record_actions: record,
            values,
            range_phase1: p.range_phase1,
        }));
        sn.timer_at = None;
        Ok(())
    }

    /// Schedules the scenario's faults and the workload, then runs the
    /// event loop to the end of the run (or the first violation).
    pub fn run(&mut self) {
        let end = self.p.end();
        for (i, pt) in self.sc.partitions.iter().enumerate() {
            self.q.push(pt.start, Ev::PartitionStart { idx: i as u16 });
            self.q.push(pt.heal, Ev::PartitionHeal { idx: i as u16 });
        }
        for c in &self.sc.crashes {
            self.q.push(c.at, Ev::Crash { node: c.node });
            self.q.push(c.restart, Ev::Restart { node: c.node });
        }
        self.q.push(self.p.gst, Ev::Gst);
        // One client stream per proposer, each command submitted at a
        // random learner or proposer node (forwarded to the leader).
        for i in 0..self.lay.proposers {
            let t = self.rng.below(1_000);
            self.q.push(
                t,
                Ev::Submit {
                    node: self.lay.proposer_node(i),
                },
            );
        }
        for k in 0..self.safe_nodes.len() {
            let n = self.safe_nodes[k];
            let t = self.rng.below(1_000);
            self.q.push(t, Ev::Timer { node: n });
        }
        for &f in &self.fakes {
            self.q.push(self.rng.below(2_000), Ev::Byz { node: f });
        }
        if self.sc.replays_per_ms > 0.0 {
            let t = self.replay_gap();
            self.q.push(t, Ev::Replay);
        }
        while let Some((t, ev)) = self.q.pop() {
            if t > end || self.stopped {
                break;
            }
            self.now = t;
            self.step(ev);
        }
        self.now = self.now.max(end);
        self.check_liveness(end);
        if self.refiner.is_some() {
            self.final_refinement_checks();
        }
        self.finish_stats();
    }

    /// The spec invariants on every slot, and every safe acceptor's durable
    /// state (what a restart would rebuild) against the mapped spec state.
    fn final_refinement_checks(&mut self) {
        let mut errs = Vec::new();
        let durable: Vec<Acceptor> = self
            .nodes
            .iter()
            .flatten()
            .filter_map(|n| match n.role {
                Role::Acceptor(a) => {
                    let mut d = AcceptorDurable::default();
                    for r in &n.disk.log {
                        d.apply(r);
                    }
                    Some(Acceptor::restore(
                        a,
                        self.trust.clone(),
                        acceptor_options(self.p),
                        d,
                    ))
                }
                _ => None,
            })
            .collect();
        if let Some(r) = self.refiner.as_mut() {
            if let Err(e) = r.check() {
                errs.push(e);
            }
            for a in &durable {
                if let Err(e) = r.check_acceptor(a) {
                    errs.push(e);
                }
            }
        }
        for what in errs.into_iter().take(4) {
            self.oracle
                .violations
                .push(Violation::Refinement { t: self.now, what });
        }
    }

    fn replay_gap(&mut self) -> Micros {
        let mean = 1_000.0 / self.sc.replays_per_ms.max(1e-6);
        (mean * (0.5 + self.rng.unit())) as Micros + 1
    }

    fn step(&mut self, ev: Ev) {
        match ev {
            Ev::Deliver { id, to } => self.deliver(id, to),
            Ev::Flush { node, gen } => self.flush(node, gen),
            Ev::Timer { node } => {
                let now = self.now;
                if let Some(sn) = self.node_mut(node) {
                    if sn.timer_at == Some(now) {
                        sn.timer_at = None;
                    }
                }
                self.step_node(node, Input::Tick, NO_CAUSE);
            }
            Ev::Submit { node } => self.submit(node),
            Ev::Crash { node } => self.crash(node),
            Ev::Restart { node } => self.restart(node),
            Ev::PartitionStart { idx } => {
                self.part_active[idx as usize] = true;
                self.stats.partitions += 1;
                let what = self.describe_partition(idx as usize);
                self.trace
                    .fault(self.now, format!("partition #{idx} forms: {what}"));
            }
            Ev::PartitionHeal { idx } => {
                if std::mem::replace(&mut self.part_active[idx as usize], false) {
                    self.trace
                        .fault(self.now, format!("partition #{idx} heals"));
                }
            }
            Ev::Gst => {
                self.stable = true;
                for a in self.part_active.iter_mut() {
                    *a = false;
                }
                self.trace
                    .fault(self.now, "GST: network stable, all safe nodes up".into());
            }
            Ev::Byz { node } => self.byz_tick(node),
            Ev::Replay => {
                if !self.replay_pool.is_empty() {
                    let k = self.rng.below(self.replay_pool.len() as u64) as usize;
                    let (id, to) = self.replay_pool[k];
                    self.stats.replayed += 1;
                    let t = self.arrival(self.arena[id as usize].from, to);
                    self.q.push(t, Ev::Deliver { id, to });
                }
                let t = self.now + self.replay_gap();
                self.q.push(t, Ev::Replay);
            }
        }
    }

    fn describe_partition(&self, idx: usize) -> String {
        let names = self.names();
        let pt = &self.sc.partitions[idx];
        let group: Vec<String> = (0..self.lay.nodes())
            .filter(|&n| pt.group[n as usize])
            .map(|n| names.node(n))
            .collect();
        let cut = match pt.cut {
            Cut::Both => "cut both ways",
            Cut::Outbound => "group cannot send out (asymmetric)",
            Cut::Inbound => "group cannot hear the rest (asymmetric)",
        };
        format!(
            "{{{}}} {cut}, until {}",
            group.join(","),
            crate::trace::ms(pt.heal)
        )
    }

    pub(crate) fn names(&self) -> crate::trace::Names<'_> {
        crate::trace::Names {
            trust: &self.trust,
            lay: self.lay,
            fake: self.sc.fake,
        }
    }

    // ---------------------------------------------------------------- network

    pub(crate) fn link_delay(&mut self, from: u16, to: u16) -> Micros {
        let n = self.lay.nodes() as usize;
        let dist = self.sc.delay[from as usize * n + to as usize];
        let d = dist.sample(&mut self.rng);
        if self.stable {
            d.min(self.p.stable_max_delay)
        } else {
            let slow = self.sc.slow[from as usize].max(self.sc.slow[to as usize]);
            d * u64::from(slow)
        }
    }

    /// When a packet sent now on `from -> to` arrives. Partial synchrony:
    /// whatever is sent before GST arrives by GST + `stable_max_delay`.
    pub(crate) fn arrival(&mut self, from: u16, to: u16) -> Micros {
        let d = self.link_delay(from, to);
        let t = self.now + d;
        if self.stable {
            t
        } else {
            t.min(self.p.gst + self.p.stable_max_delay)
        }
    }

    fn blocked(&self, from: u16, to: u16) -> bool {
        if self.stable {
            return false;
        }
        self.part_active.iter().enumerate().any(|(i, on)| {
            if !on {
                return false;
            }
            let pt = &self.sc.partitions[i];
            let (gf, gt) = (pt.group[from as usize], pt.group[to as usize]);
            match pt.cut {
                Cut::Both => gf != gt,
                Cut::Outbound => gf && !gt,
                Cut::Inbound => !gf && gt,
            }
        })
    }

    /// Stores a packet sent by `from` (authenticated here) in the arena.
    pub(crate) fn store(&mut self, from: u16, pkt: Packet, cause: u32) -> u32 {
        if let Packet::Proto(Message::M2av(m)) = &pkt {
            if m.acc.0 == from {
                self.sent_2av.insert(two_av_key(m));
            }
        }
        let id = self.arena.len() as u32;
        self.arena.push(Sent {
            pkt,
            from,
            at: self.now,
            cause,
        });
        self.stats.sent += 1;
        id
    }

    /// Puts arena entry `id` on the link from its sender to `to`.
    pub(crate) fn send_one(&mut self, id: u32, to: u16) {
        let from = self.arena[id as usize].from;
        if from == to {
            return;
        }
        if self.blocked(from, to) {
            self.stats.dropped += 1;
            self.trace.push(TraceEv::Drop {
                t: self.now,
                id,
                to,
                why: "partition",
            });
            return;
        }
        if !self.stable && self.sc.loss > 0.0 && self.rng.chance(self.sc.loss) {
            self.stats.dropped += 1;
            self.trace.push(TraceEv::Drop {
                t: self.now,
                id,
                to,
                why: "loss",
            });
            return;
        }
        let t = self.arrival(from, to);
        self.q.push(t, Ev::Deliver { id, to });
        if !self.stable && self.sc.dup > 0.0 && self.rng.chance(self.sc.dup) {
            self.stats.duplicated += 1;
            let t = self.arrival(from, to);
            self.q.push(t, Ev::Deliver { id, to });
        }
        if self.sc.replays_per_ms > 0.0 {
            if self.replay_pool.len() < 256 {
                self.replay_pool.push((id, to));
            } else {
                let k = (id as usize) % 256;
                self.replay_pool[k] = (id, to);
            }
        }
    }

    /// The recipients of a routed packet.
    fn route(&self, pkt: &Packet) -> &[u16] {
        match pkt {
            // 2av go to the proposers as well (the node sends every
            // protocol message to every peer): the pacemaker counts a
            // learner's proposals at a pinned ballot. A range 1b goes to
            // the proposers too: the leader's range Phase 1 counts them.
            Packet::Proto(Message::M1b(_) | Message::M2av(_) | Message::M1bRange(_)) => &self.to_1b,
            Packet::Proto(Message::M2b(m)) => self
                .to_2b
                .get(m.lr.index())
                .map(|v| v.as_slice())
                .unwrap_or(&[]),
            Packet::Proto(Message::M1c(_)) => &self.to_1c,
            Packet::Proto(_) => &self.to_acceptors,
            Packet::Ctl(_) => &self.safe_nodes,
        }
    }

    /// Sends a packet from `from` to its routed recipients.
    pub(crate) fn broadcast(&mut self, from: u16, pkt: Packet, cause: u32) -> u32 {
        let to_fakes_2b = matches!(pkt, Packet::Proto(Message::M2b(_)));
        if to_fakes_2b
            && !self.stable
            && from < self.lay.acceptors
            && self.vote_crashes < 3
            && self.sc.crash_after_vote > 0.0
            && !self.sc.fake.contains(AcceptorId(from))
            && self.rng.chance(self.sc.crash_after_vote)
        {
            // Crash right after the vote leaves (before anything else the
            // node has pending is durable), restart before GST.
            self.vote_crashes += 1;
            let back = (self.now + self.rng.range(1_000, 20_000)).min(self.p.gst);
            self.q.push(self.now + 1, Ev::Crash { node: from });
            self.q
                .push(back.max(self.now + 2), Ev::Restart { node: from });
        }
        let id = self.store(from, pkt, cause);
        let n = self.route(&self.arena[id as usize].pkt).len();
        for k in 0..n {
            let to = self.route(&self.arena[id as usize].pkt)[k];
            self.send_one(id, to);
        }
        if to_fakes_2b {
            // The adversary overhears decisions (it uses them to hijack).
            for k in 0..self.fakes.len() {
                let f = self.fakes[k];
                self.send_one(id, f);
            }
        }
        id
    }

    fn dispatch(&mut self, from: u16, pkt: Packet, dest: Dest, cause: u32) {
        if let Packet::Proto(Message::M1a(Msg1a { slot, .. }) | Message::M1c(Msg1c { slot, .. })) =
            &pkt
        {
            // A slot is started when a safe proposer first sends a 1a for
            // it, or its 1c (a slot on the leader's range Phase 1 has no
            // 1a of its own).
            self.oracle.start(*slot, self.now);
            self.max_slot = self.max_slot.max(*slot);
        }
        match dest {
            Dest::Route | Dest::Nodes => {
                self.broadcast(from, pkt, cause);
            }
            Dest::To(to) => {
                let id = self.store(from, pkt, cause);
                self.send_one(id, to);
            }
        }
    }

    // ---------------------------------------------------------------- delivery

    fn deliver(&mut self, id: u32, to: u16) {
        self.stats.delivered += 1;
        let k = match &self.arena[id as usize].pkt {
            Packet::Proto(Message::M1a(_) | Message::M1aRange(_)) => 0,
            Packet::Proto(Message::M1b(_) | Message::M1bRange(_)) => 1,
            Packet::Proto(Message::M1c(_)) => 2,
            Packet::Proto(Message::M2av(_)) => 3,
            Packet::Proto(Message::M2b(_)) => 4,
            Packet::Ctl(Control::Forward { .. }) => 5,
            Packet::Ctl(Control::SyncRequest { .. }) => 6,
            Packet::Ctl(Control::Status(_)) => 7,
            Packet::Ctl(Control::Certs { .. }) => 8,
            Packet::Ctl(Control::VotesRequest { .. }) => 9,
            Packet::Ctl(Control::Votes { .. }) => 10,
            // State transfer counts with the certificates (catch-up); the
            // simulator's acceptor nodes run no learner, so none attests.
            Packet::Ctl(
                Control::Attest { .. } | Control::Snapshot { .. } | Control::SnapshotPart { .. },
            ) => 8,
            Packet::Ctl(Control::Fetch { .. }) => 11,
            Packet::Ctl(Control::Batches { .. }) => 12,
            Packet::Ctl(Control::Relay { .. }) => 13,
        };
        self.stats.by_kind[k] += 1;
        if self.p.trace_ring > 0 {
            self.trace.push(TraceEv::Deliver {
                t: self.now,
                id,
                to,
            });
        }
        // Authentication: a protocol message naming an acceptor must come
        // from that acceptor's node (certificates relay 2b messages that
        // were authenticated when first received).
        let from = self.arena[id as usize].from;
        if let Packet::Ctl(Control::Relay { msgs }) = &self.arena[id as usize].pkt {
            // A relayed 2av stands for its sender's signature: it must be
            // one that its acceptor really sent.
            if let Some((m, _)) = msgs
                .iter()
                .find(|(m, _)| !self.sent_2av.contains(&two_av_key(m)))
            {
                let claimed = m.acc.0;
                self.stats.forged += 1;
                self.oracle.violations.push(Violation::Forgery {
                    t: self.now,
                    from,
                    claimed,
                });
                return;
            }
        }
        if let Packet::Proto(m) = &self.arena[id as usize].pkt {
            if let Some(a) = m.acc() {
                if from != a.0 {
                    self.stats.forged += 1;
                    self.oracle.violations.push(Violation::Forgery {
                        t: self.now,
                        from,
                        claimed: a.0,
                    });
                    return;
                }
            }
        }
        if let Some(AccNode::Fake(_)) = self.acc.get(to as usize) {
            if let Packet::Proto(msg) = &self.arena[id as usize].pkt {
                let msg = msg.clone();
                self.fake_deliver(to, &msg, id);
            }
            return;
        }
        let input = match &self.arena[id as usize].pkt {
            Packet::Proto(msg) => Input::Protocol {
                msg: msg.clone(),
                proof: (),
            },
            Packet::Ctl(c) => Input::Control {
                from: NodeId(from),
                msg: c.clone(),
            },
        };
        self.step_node(to, input, id);
    }

    pub(crate) fn node_mut(&mut self, n: u16) -> Option<&mut SimNode> {
        self.nodes.get_mut(n as usize).and_then(|x| x.as_mut())
    }

    /// One input to node `n`'s `NodeCore`, then its outputs: decisions to
    /// the oracle, records to the disk, and sends once they are durable.
    fn step_node(&mut self, n: u16, input: Input<()>, cause: u32) {
        let now = self.now;
        let ballot_ceiling = self.p.ballot_ceiling;
        let mut ready = Ready::default();
        {
            let Some(sn) = self.node_mut(n) else {
                return;
            };
            let Some(core) = sn.core.as_mut() else {
                self.stats.to_down += 1;
                return;
            };
            if ballot_ceiling {
                core.set_ballot_ceiling(SIM_BALLOT_CEILING);
            }
            core.step(Tick(now), input, &mut ready);
        }
        self.stats.evidence += ready.evidence.len() as u64;
        let mut done = Vec::new();
        for d in ready.decided.drain(..) {
            self.stats.decisions += 1;
            if let Some(sn) = self.node_mut(n) {
                sn.decided.insert(d.slot);
                if !sn.submitted.is_empty() {
                    let bytes = d.val.bytes().unwrap_or_default();
                    if let Ok(b) = hpaxos_core::pacemaker::decode_batch(bytes) {
                        for c in &b.commands {
                            if let Some(t) = sn.submitted.remove(c) {
                                done.push(t);
                            }
                        }
                    }
                }
            }
            self.trace.push(TraceEv::Decide {
                t: now,
                node: n,
                slot: d.slot,
                bal: d.bal,
                val: d.val.clone(),
            });
            let bad = self.oracle.decide(
                d.slot,
                Dec {
                    t: now,
                    node: n,
                    lr: d.lr,
                    bal: d.bal,
                    val: d.val.clone(),
                },
            );
            if bad && self.p.stop_at_first {
                self.stopped = true;
            }
        }
        let actions: Vec<SpecAction> = if self.refiner.is_some() {
            ready.actions.drain(..).collect()
        } else {
            Vec::new()
        };
        let mut sends: Vec<(Packet, Dest, u32)> = Vec::new();
        if let Some(core) = self.node_mut(n).and_then(|sn| sn.core.as_mut()) {
            for m in &ready.broadcast {
                if let Message::M2b(b) = m {
                    core.own_proof(b, ());
                }
            }
        }
        for m in ready.broadcast.drain(..) {
            sends.push((Packet::Proto(m), Dest::Route, cause));
        }
        for c in ready.send_all.drain(..) {
            sends.push((Packet::Ctl(c), Dest::Nodes, cause));
        }
        for (to, c) in ready.send.drain(..) {
            sends.push((Packet::Ctl(c), Dest::To(to.0), cause));
        }
        let records: Vec<Durable> = ready.persist.drain(..).collect();
        self.write_then_send(n, records, actions, sends);
        self.arm_timer(n);
        for token in done {
            self.step_node(n, Input::Done { token }, NO_CAUSE);
        }
    }

    /// Schedules node `n`'s next wake-up (heartbeat, pacemaker).
    fn arm_timer(&mut self, n: u16) {
        let now = self.now;
        let Some(sn) = self.node_mut(n) else {
            return;
        };
        let Some(Tick(t)) = sn.core.as_ref().and_then(|c| c.next_wakeup()) else {
            return;
        };
        let t = t.max(now + 1);
        if sn.timer_at.is_none_or(|x| t < x) {
            sn.timer_at = Some(t);
            self.q.push(t, Ev::Timer { node: n });
        }
    }

    /// Replays a step's spec actions on the refinement checker, if any, then
    /// checks that every protocol message the step sends is in the spec's
    /// `msgs` (what leaves a node is exactly what the spec allows, including
    /// messages no one ever receives).
    fn refine(&mut self, actions: &[SpecAction], sends: &[(Packet, Dest, u32)]) {
        if let Some(r) = self.refiner.as_mut() {
            self.stats.spec_actions += actions.len() as u64;
            let sent: Vec<Message> = sends
                .iter()
                .filter_map(|(p, _, _)| match p {
                    Packet::Proto(m) => Some(m.clone()),
                    _ => None,
                })
                .collect();
            let res = r.apply(actions).and_then(|()| r.check_sent(&sent));
            if let Err(what) = res {
                self.oracle
                    .violations
                    .push(Violation::Refinement { t: self.now, what });
                self.stopped = self.p.stop_at_first;
            }
        }
    }

    fn disk_mut(&mut self, node: u16) -> Option<&mut Disk> {
        self.node_mut(node).map(|n| &mut n.disk)
    }

    /// The write-before-send rule: records become durable after the node's
    /// fsync latency, and the step's sends leave only then (in order with
    /// earlier pending writes: group commit never reorders).
    fn write_then_send(
        &mut self,
        node: u16,
        records: Vec<Durable>,
        actions: Vec<SpecAction>,
        sends: Vec<(Packet, Dest, u32)>,
    ) {
        let now = self.now;
        let unsafe_early = self.p.unsafe_send_before_persist && node < self.lay.acceptors;
        let Some(disk) = self.disk_mut(node) else {
            return;
        };
        if disk.pending.is_empty() && (records.is_empty() || disk.fsync == 0) {
            disk.log.extend(records);
            self.refine(&actions, &sends);
            for (pkt, dest, c) in sends {
                self.dispatch(node, pkt, dest, c);
            }
            return;
        }
        let done = now + disk.fsync;
        let gen = disk.gen;
        let (sends, early) = if unsafe_early {
            (Vec::new(), sends)
        } else {
            (sends, Vec::new())
        };
        disk.pending.push_back(Pending {
            done,
            records,
            actions,
            sends,
        });
        self.stats.fsyncs_delayed += 1;
        self.q.push(done, Ev::Flush { node, gen });
        for (pkt, dest, c) in early {
            self.dispatch(node, pkt, dest, c);
        }
    }

    fn flush(&mut self, node: u16, gen: u32) {
        let now = self.now;
        let mut ready = Vec::new();
        {
            let Some(disk) = self.disk_mut(node) else {
                return;
            };
            if disk.gen != gen {
                return;
            }
            while disk.pending.front().is_some_and(|p| p.done <= now) {
                if let Some(p) = disk.pending.pop_front() {
                    disk.log.extend(p.records);
                    ready.push((p.actions, p.sends));
                }
            }
        }
        for (actions, sends) in ready {
            self.refine(&actions, &sends);
            for (pkt, dest, c) in sends {
                self.dispatch(node, pkt, dest, c);
            }
        }
    }

    // ---------------------------------------------------------------- faults

    fn crash(&mut self, node: u16) {
        let names = self.names().node(node);
        let Some(sn) = self.node_mut(node) else {
            return;
        };
        if sn.core.is_none() {
            return;
        }
        sn.core = None;
        sn.decided.clear();
        sn.timer_at = None;
        let lost = sn.disk.pending.len();
        sn.disk.pending.clear();
        sn.disk.gen += 1;
        self.stats.crashes += 1;
        self.trace.fault(
            self.now,
            format!("crash {names} ({lost} unsynced write(s) and their sends lost)"),
        );
    }

    fn restart(&mut self, node: u16) {
        let names = self.names().node(node);
        let records = match self.node_mut(node) {
            Some(sn) if sn.core.is_none() => sn.disk.log.len(),
            _ => return,
        };
        if self.boot(node).is_err() {
            return;
        }
        self.stats.restarts += 1;
        self.trace.fault(
            self.now,
            format!("restart {names} from {records} durable record(s)"),
        );
        self.step_node(node, Input::Tick, NO_CAUSE);
    }

    // ---------------------------------------------------------------- clients

    /// A client command of the stream of proposer `node`'s index, submitted
    /// at a random learner node that is up (it waits for its learner).
    fn submit(&mut self, node: u16) {
        let i = node - self.lay.first_proposer();
        let cmds = {
            let Some(sn) = self.node_mut(node) else {
                return;
            };
            sn.cmds += 1;
            sn.cmds
        };
        let cmd = format!("p{i}c{cmds}").into_bytes();
        let targets: Vec<u16> = (self.lay.acceptors..self.lay.first_proposer())
            .filter(|n| {
                self.nodes[*n as usize]
                    .as_ref()
                    .is_some_and(|x| x.core.is_some())
            })
            .collect();
        if let Some(&at) = self.rng.pick(&targets) {
            self.stats.commands += 1;
            let token = (u64::from(i) << 48) | cmds;
            if let Some(sn) = self.node_mut(at) {
                sn.submitted.insert(cmd.clone(), token);
            }
            self.step_node(at, Input::Submit { token, cmd }, NO_CAUSE);
        }
        let rate = self.p.commands_per_sec.max(1);
        let mean = 1_000_000 / rate;
        let gap = (mean as f64 * (0.2 + 1.6 * self.rng.unit())) as Micros + 1;
        if self.now + gap < self.p.work_end() {
            self.q.push(self.now + gap, Ev::Submit { node });
        }
    }

    // ---------------------------------------------------------------- oracles

    /// Every slot up to the highest one started is judged: a slot no
    /// proposer ever started (a hole) counts as started at time 0, since a
    /// learner applying its log in order stops at it.
    fn check_liveness(&mut self, end: Micros) {
        if !self.p.liveness {
            return;
        }
        let bound = self.p.liveness_bound();
        let gst = self.p.gst;
        let mut found = Vec::new();
        // Slots started before GST are judged in runs without Byzantine
        // acceptors and with one learner. Otherwise a slot can still be
        // poisoned for good (see the crate notes; the pinned retries of the
        // pacemaker cure most but not all of the multi-learner cases), so
        // those are counted as not judged unless `judge_all`.
        let check_early =
            (self.sc.fake.is_empty() && self.trust.n_learners() == 1) || self.p.judge_all;
        let top = self.oracle.started.keys().next_back().copied();
        let Some(top) = top else {
            return;
        };
        for s in 0..=top.0 {
            let slot = Slot(s);
            let t0 = self.oracle.started.get(&slot).copied().unwrap_or(0);
            let deadline = t0.max(gst) + bound;
            let replicas: Vec<(u16, LearnerId, bool)> = self
                .nodes
                .iter()
                .enumerate()
                .filter_map(|(k, n)| {
                    let n = n.as_ref()?;
                    match n.role {
                        Role::Learner(l) if self.oracle.live[l.index()] => {
                            Some((k as u16, l, n.decided.contains(&slot)))
                        }
                        _ => None,
                    }
                })
                .collect();
            if deadline > end || (!check_early && t0 < gst) {
                self.stats.unchecked_slots += 1;
                if replicas.iter().any(|(_, _, d)| !d) {
                    self.stats.stalled_unchecked += 1;
                }
                continue;
            }
            self.stats.judged_slots += 1;
            for (node, lr, decided) in replicas {
                if !decided {
                    self.stats.undecided += 1;
                    found.push(Violation::Liveness {
                        slot,
                        node,
                        lr,
                        started: t0,
                        deadline,
                    });
                }
            }
        }
        if self.oracle.violations.is_empty() || !self.p.stop_at_first {
            self.oracle.violations.extend(found.into_iter().take(8));
        }
    }

    fn finish_stats(&mut self) {
        self.stats.slots_started = self.oracle.started.len() as u64;
        self.stats.virtual_end = self.now;
        let mut per = vec![0u64; self.trust.n_learners()];
        for n in self.nodes.iter().flatten() {
            if let Role::Learner(l) = n.role {
                let c = n.decided.len() as u64;
                let e = &mut per[l.index()];
                *e = (*e).max(c);
            }
            if let Some(core) = &n.core {
                if let Some(pm) = core.pacemaker() {
                    let s = pm.stats();
                    self.stats.adopted += s.slots_adopted;
                    self.stats.noops += s.noops;
                    self.stats.requeued += s.commands_requeued;
                    self.stats.ballots += s.ballots_started;
                    self.stats.retransmits += s.retransmits;
                }
                self.stats.view_changes += core.stats.view_changes;
                self.stats.range_leaderships += core.stats.range_leaderships;
                self.stats.range_slots += core.stats.range_slots;
                self.stats.range_fallbacks += core.stats.range_fallbacks;
                self.stats.certificates += core.stats.certs_received;
            }
        }
        self.stats.decided_per_learner = per;
    }

    pub(crate) fn evil(&mut self, slot: Slot) -> Value {
        self.evil
            .entry(slot)
            .or_insert_with(|| Value::new(format!("evil:{}", slot.0).into_bytes()))
            .clone()
    }

    pub fn fake_set(&self) -> AccSet {
        self.sc.fake
    }
}

fn layout(p: &SimParams, trust: &Trust) -> Layout {
    Layout {
        acceptors: trust.n_acceptors() as u16,
        learners: trust.n_learners() as u16,
        replicas: p.learner_replicas.max(1),
        proposers: p.proposers.max(1),
    }
}

pub(crate) fn layout_of(p: &SimParams, trust: &Trust) -> Layout {
    layout(p, trust)
}

/// A sent 2av, as the relay check looks it up.
type TwoAvKey = (
    Slot,
    LearnerId,
    hpaxos_core::Ballot,
    AcceptorId,
    hpaxos_core::Digest,
);

fn two_av_key(m: &hpaxos_core::Msg2av) -> TwoAvKey {
    (m.slot, m.lr, m.bal, m.acc, m.val.digest())
}

/// The options of the run's safe acceptors: the node's (`live`), with late
/// steps as the parameters say.
fn acceptor_options(p: &SimParams) -> AcceptorOptions {
    AcceptorOptions {
        late: p.late,
        signed_proposals: p.signed_proposals,
        ..AcceptorOptions::live()
    }
}

/// The simulated nodes' ballot ceiling (`NodeCore::set_ballot_ceiling`):
/// far above any honest ballot of a run (a proposer's floor is its boot
/// count `<< 24`), far below the fakes' `u64::MAX`.
pub const SIM_BALLOT_CEILING: hpaxos_core::Ballot = hpaxos_core::Ballot(1 << 48);
