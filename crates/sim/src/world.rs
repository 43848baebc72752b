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
use hpaxos_core::pacemaker::{
    Action, Pacemaker, PacemakerConfig, PacemakerError, ProposerIndex, Tick,
};
use hpaxos_core::{
    AccSet, Acceptor, AcceptorDurable, AcceptorId, AcceptorOptions, Durable, Effects, Learner,
    LearnerId, Message, Msg2b, Proposer, Slot, SpecAction, Trust, Value,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Writes waiting for their fsync, with the sends that depend on them.
pub(crate) struct Pending {
    done: Micros,
    records: Vec<Durable>,
    certs: Vec<(Slot, Vec<Msg2b>)>,
    /// Spec actions of the step, replayed on the refinement checker when
    /// the step becomes durable (a crash before that undoes the step).
    actions: Vec<SpecAction>,
    sends: Vec<(Packet, Dest, u32)>,
}

/// Where a pending send goes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Dest {
    /// By packet kind (protocol broadcast, notify to proposers).
    Route,
    To(u16),
}

/// The durable store of a node: what survives a crash.
#[derive(Default)]
pub(crate) struct Disk {
    pub log: Vec<Durable>,
    /// Learners store each decision's certificate with it, so that a
    /// restarted replica can still help a lagging peer.
    pub certs: BTreeMap<Slot, Vec<Msg2b>>,
    pending: VecDeque<Pending>,
    gen: u32,
    fsync: Micros,
}

pub(crate) struct SafeAcc {
    pub a: Option<Acceptor>,
    pub disk: Disk,
}

pub(crate) struct LrnNode {
    pub lr: LearnerId,
    pub l: Option<Learner>,
    pub disk: Disk,
    pub decided: BTreeSet<Slot>,
}

pub(crate) struct PropNode {
    pub prop: Proposer,
    pub pm: Pacemaker,
    pub timer_at: Option<Micros>,
    pub starts: BTreeMap<Slot, u32>,
    pub cmds: u64,
    /// Highest slot seen in a message (new ones may need a fill/adoption).
    pub seen_top: Slot,
}

pub(crate) enum AccNode {
    Safe(SafeAcc),
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
    pub(crate) arena: Vec<Sent>,
    pub(crate) acc: Vec<AccNode>,
    pub(crate) lrn: Vec<LrnNode>,
    pub(crate) prop: Vec<PropNode>,
    pub(crate) part_active: Vec<bool>,
    pub(crate) stable: bool,
    pub(crate) oracle: Oracle,
    pub(crate) stats: RunStats,
    pub(crate) trace: Trace,
    pub(crate) fx: Effects,
    pub(crate) refiner: Option<Box<dyn Refiner>>,
    pub(crate) replay_pool: Vec<(u32, u16)>,
    pub(crate) evil: BTreeMap<Slot, Value>,
    all_learners: Vec<LearnerId>,
    live_learners: Vec<LearnerId>,
    pub(crate) to_acceptors: Vec<u16>,
    pub(crate) to_1b: Vec<u16>,
    pub(crate) to_proposers: Vec<u16>,
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
        let disk = |n: u16| Disk {
            fsync: sc.fsync.get(n as usize).copied().unwrap_or(0),
            ..Disk::default()
        };
        let acc = trust
            .acceptors()
            .map(|a| {
                let safe = Acceptor::new(a, trust.clone(), AcceptorOptions::default());
                if sc.fake.contains(a) {
                    AccNode::Fake(Box::new(crate::byz::Fake::new(safe)))
                } else {
                    AccNode::Safe(SafeAcc {
                        a: Some(safe),
                        disk: disk(a.0),
                    })
                }
            })
            .collect();
        let mut lrn = Vec::new();
        for l in trust.learners() {
            for r in 0..lay.replicas {
                lrn.push(LrnNode {
                    lr: l,
                    l: Some(Learner::new(l, trust.clone())),
                    disk: disk(lay.learner_node(l.0, r)),
                    decided: BTreeSet::new(),
                });
            }
        }
        let live_learners: Vec<LearnerId> = trust
            .learners()
            .filter(|l| oracle.live[l.index()])
            .collect();
        let mut prop = Vec::new();
        for i in 0..lay.proposers {
            let mut cfg = PacemakerConfig::new(
                ProposerIndex(i),
                lay.proposers,
                live_learners.clone(),
                p.delay_unit,
            );
            let (base, max) = p.timeouts();
            cfg.base_timeout = base;
            cfg.max_timeout = max;
            cfg.stuck_after = 2 * max;
            cfg.adopt_timeout = 80 * p.delay_unit;
            prop.push(PropNode {
                prop: Proposer::new(trust.clone()),
                pm: Pacemaker::new(cfg)?,
                timer_at: None,
                starts: BTreeMap::new(),
                cmds: 0,
                seen_top: Slot(0),
            });
        }
        let to_acceptors: Vec<u16> = (0..lay.acceptors).collect();
        let to_proposers: Vec<u16> = (0..lay.proposers).map(|i| lay.proposer_node(i)).collect();
        let mut to_1b = to_acceptors.clone();
        to_1b.extend(&to_proposers);
        let fakes: Vec<u16> = sc.fake.iter().map(|a| a.0).collect();
        let learner_nodes = trust
            .learners()
            .map(|l| {
                (0..lay.replicas)
                    .map(|r| lay.learner_node(l.0, r))
                    .collect()
            })
            .collect();
        let fx = if refiner.is_some() {
            Effects::recording()
        } else {
            Effects::default()
        };
        let n_parts = sc.partitions.len();
        Ok(World {
            p,
            all_learners: trust.learners().collect(),
            live_learners,
            trust,
            lay,
            now: 0,
            rng,
            brng,
            q: Queue::default(),
            arena: Vec::with_capacity(4096),
            acc,
            lrn,
            prop,
            part_active: vec![false; n_parts],
            stable: false,
            oracle,
            stats: RunStats::default(),
            trace: Trace::new(p.trace_ring),
            fx,
            refiner,
            replay_pool: Vec::new(),
            evil: BTreeMap::new(),
            to_acceptors,
            to_1b,
            to_proposers,
            fakes,
            learner_nodes,
            max_slot: Slot(0),
            vote_crashes: 0,
            stopped: false,
            sc,
        })
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
        for i in 0..self.lay.proposers {
            let t = self.rng.below(1_000);
            self.q.push(
                t,
                Ev::Submit {
                    node: self.lay.proposer_node(i),
                },
            );
        }
        for &f in &self.fakes {
            self.q.push(self.rng.below(2_000), Ev::Byz { node: f });
        }
        if self.lay.replicas > 1 {
            for n in self.lay.acceptors..self.lay.first_proposer() {
                let t = self.rng.below(self.p.catchup_interval);
                self.q.push(t, Ev::Catchup { node: n });
            }
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
            .acc
            .iter()
            .enumerate()
            .filter_map(|(i, n)| match n {
                AccNode::Safe(s) => {
                    let mut d = AcceptorDurable::default();
                    for r in &s.disk.log {
                        d.apply(r);
                    }
                    Some(Acceptor::restore(
                        AcceptorId(i as u16),
                        self.trust.clone(),
                        AcceptorOptions::default(),
                        d,
                    ))
                }
                AccNode::Fake(_) => None,
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
                let i = (node - self.lay.first_proposer()) as usize;
                if self.prop[i].timer_at == Some(self.now) {
                    self.prop[i].timer_at = None;
                }
                self.poll_proposer(i);
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
            Ev::Catchup { node } => self.catchup_tick(node),
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
            Packet::Proto(Message::M1b(_)) => &self.to_1b,
            Packet::Proto(Message::M2b(m)) => self
                .learner_nodes
                .get(m.lr.index())
                .map(|v| v.as_slice())
                .unwrap_or(&[]),
            Packet::Proto(_) => &self.to_acceptors,
            Packet::Notify { .. } => &self.to_proposers,
            Packet::Query { .. } | Packet::Status { .. } | Packet::Cert { .. } => &[],
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
        match dest {
            Dest::Route => {
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
            Packet::Proto(Message::M1a(_)) => 0,
            Packet::Proto(Message::M1b(_)) => 1,
            Packet::Proto(Message::M1c(_)) => 2,
            Packet::Proto(Message::M2av(_)) => 3,
            Packet::Proto(Message::M2b(_)) => 4,
            Packet::Notify { .. } => 5,
            Packet::Query { .. } => 6,
            Packet::Status { .. } => 7,
            Packet::Cert { .. } => 8,
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
        if let Packet::Proto(m) = &self.arena[id as usize].pkt {
            if let Some(a) = m.acc() {
                let from = self.arena[id as usize].from;
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
        if to < self.lay.acceptors {
            self.deliver_acceptor(id, to);
        } else if to < self.lay.first_proposer() {
            self.deliver_learner(id, to);
        } else {
            self.deliver_proposer(id, to);
        }
    }

    fn deliver_acceptor(&mut self, id: u32, to: u16) {
        let mut fx = std::mem::take(&mut self.fx);
        fx.clear();
        let Packet::Proto(msg) = &self.arena[id as usize].pkt else {
            self.fx = fx;
            return;
        };
        match &mut self.acc[to as usize] {
            AccNode::Safe(s) => {
                let Some(a) = s.a.as_mut() else {
                    self.stats.to_down += 1;
                    self.fx = fx;
                    return;
                };
                a.handle(msg, &mut fx);
                self.stats.evidence += fx.evidence.len() as u64;
                self.after_step(to, &mut fx, id);
            }
            AccNode::Fake(_) => {
                let msg = msg.clone();
                self.fx = fx;
                self.fake_deliver(to, &msg, id);
                return;
            }
        }
        self.fx = fx;
    }

    fn deliver_learner(&mut self, id: u32, to: u16) {
        let k = (to - self.lay.acceptors) as usize;
        if self.lrn[k].l.is_none() {
            self.stats.to_down += 1;
            return;
        }
        let mut fx = std::mem::take(&mut self.fx);
        fx.clear();
        let from = self.arena[id as usize].from;
        match &self.arena[id as usize].pkt {
            Packet::Proto(m) => {
                if let Some(l) = self.lrn[k].l.as_mut() {
                    l.handle(m, &mut fx);
                }
            }
            Packet::Query { slot } => {
                let slot = *slot;
                let lr = self.lrn[k].lr;
                if let Some(v) = self.lrn[k].l.as_ref().and_then(|l| l.decided(slot)) {
                    let pkt = Packet::Notify {
                        slot,
                        lr,
                        val: v.clone(),
                    };
                    self.queue_send(to, pkt, Dest::To(from), id);
                }
            }
            Packet::Status { frontier, have } => {
                let (frontier, have) = (*frontier, *have);
                let certs: Vec<Packet> = self.lrn[k]
                    .decided
                    .range(frontier..)
                    .filter(|s| {
                        let off = s.0 - frontier.0;
                        // The peer says it has slot `frontier + 1 + i` when bit i is set.
                        !(1..=64).contains(&off) || have & (1u64 << (off - 1)) == 0
                    })
                    .take(8)
                    .filter_map(|s| {
                        // The durable certificate first: after a restart,
                        // `Learner::certificate` only knows the 2b messages
                        // received since, which need not be a quorum.
                        let n = &self.lrn[k];
                        let msgs = n.disk.certs.get(s).cloned().or_else(|| {
                            let c = n.l.as_ref()?.certificate(*s)?;
                            let senders: AccSet = c.iter().map(|m| m.acc).collect();
                            self.trust.is_quorum(n.lr, &senders).then_some(c)
                        })?;
                        Some(Packet::Cert { slot: *s, msgs })
                    })
                    .collect();
                for c in certs {
                    self.stats.certificates += 1;
                    let cid = self.store(to, c, id);
                    self.send_one(cid, from);
                }
            }
            Packet::Cert { msgs, .. } => {
                if let Some(l) = self.lrn[k].l.as_mut() {
                    for m in msgs {
                        l.handle(&Message::M2b(m.clone()), &mut fx);
                    }
                }
            }
            Packet::Notify { .. } => {}
        }
        self.after_step(to, &mut fx, id);
        self.fx = fx;
    }

    fn deliver_proposer(&mut self, id: u32, to: u16) {
        let i = (to - self.lay.first_proposer()) as usize;
        let now = Tick(self.now);
        let mut fx = std::mem::take(&mut self.fx);
        fx.clear();
        // The pacemaker has new work only when a slot completed (window
        // space) or a slot was seen for the first time (fill, adoption).
        let mut poll = false;
        match &self.arena[id as usize].pkt {
            Packet::Proto(m) => {
                let pn = &mut self.prop[i];
                pn.prop.handle(m, &mut fx);
                pn.pm.observe(now, m.slot(), m.bal());
                if m.slot() > pn.seen_top {
                    pn.seen_top = m.slot();
                    poll = true;
                }
                if m.slot() > self.max_slot {
                    self.max_slot = m.slot();
                }
            }
            Packet::Notify { slot, lr, val } => {
                let pn = &mut self.prop[i];
                let was = pn.pm.is_complete(*slot);
                pn.pm.on_decided(now, *slot, *lr, val);
                if !was && pn.pm.is_complete(*slot) {
                    pn.prop.finish(*slot);
                    poll = true;
                }
            }
            _ => {}
        }
        self.after_step(to, &mut fx, id);
        self.fx = fx;
        if poll {
            self.poll_proposer(i);
        }
    }

    /// Takes a step's effects: decisions, durable writes, refinement, sends.
    fn after_step(&mut self, node: u16, fx: &mut Effects, cause: u32) {
        let actions: Vec<SpecAction> = if self.refiner.is_some() {
            fx.actions.drain(..).collect()
        } else {
            Vec::new()
        };
        let mut notify = Vec::new();
        let mut certs = Vec::new();
        if !fx.decisions.is_empty() {
            let k = (node - self.lay.acceptors) as usize;
            for d in fx.decisions.drain(..) {
                self.stats.decisions += 1;
                self.lrn[k].decided.insert(d.slot);
                if let Some(c) = self.lrn[k].l.as_ref().and_then(|l| l.certificate(d.slot)) {
                    certs.push((d.slot, c));
                }
                self.trace.push(TraceEv::Decide {
                    t: self.now,
                    node,
                    slot: d.slot,
                    bal: d.bal,
                    val: d.val.clone(),
                });
                let bad = self.oracle.decide(
                    d.slot,
                    Dec {
                        t: self.now,
                        node,
                        lr: d.lr,
                        bal: d.bal,
                        val: d.val.clone(),
                    },
                );
                if bad && self.p.stop_at_first {
                    self.stopped = true;
                }
                notify.push(Packet::Notify {
                    slot: d.slot,
                    lr: d.lr,
                    val: d.val,
                });
            }
        }
        let records: Vec<Durable> = fx.persist.drain(..).collect();
        let mut sends: Vec<(Packet, Dest, u32)> = fx
            .send
            .drain(..)
            .map(|m| (Packet::Proto(m), Dest::Route, cause))
            .collect();
        sends.extend(notify.into_iter().map(|p| (p, Dest::Route, cause)));
        if node >= self.lay.first_proposer() {
            self.refine(&actions, &sends);
            for (pkt, dest, c) in sends {
                self.dispatch(node, pkt, dest, c);
            }
            return;
        }
        self.write_then_send(node, records, certs, actions, sends);
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
        if node < self.lay.acceptors {
            match &mut self.acc[node as usize] {
                AccNode::Safe(s) => Some(&mut s.disk),
                AccNode::Fake(_) => None,
            }
        } else if node < self.lay.first_proposer() {
            Some(&mut self.lrn[(node - self.lay.acceptors) as usize].disk)
        } else {
            None
        }
    }

    /// The write-before-send rule: records become durable after the node's
    /// fsync latency, and the step's sends leave only then (in order with
    /// earlier pending writes: group commit never reorders).
    fn write_then_send(
        &mut self,
        node: u16,
        records: Vec<Durable>,
        certs: Vec<(Slot, Vec<Msg2b>)>,
        actions: Vec<SpecAction>,
        sends: Vec<(Packet, Dest, u32)>,
    ) {
        let now = self.now;
        let unsafe_early = self.p.unsafe_send_before_persist && node < self.lay.acceptors;
        let Some(disk) = self.disk_mut(node) else {
            return;
        };
        if disk.pending.is_empty() && ((records.is_empty() && certs.is_empty()) || disk.fsync == 0)
        {
            disk.log.extend(records);
            disk.certs.extend(certs);
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
            certs,
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
                    disk.certs.extend(p.certs);
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

    fn queue_send(&mut self, node: u16, pkt: Packet, dest: Dest, cause: u32) {
        self.write_then_send(
            node,
            Vec::new(),
            Vec::new(),
            Vec::new(),
            vec![(pkt, dest, cause)],
        );
    }

    // ---------------------------------------------------------------- faults

    fn crash(&mut self, node: u16) {
        let names = self.names().node(node);
        let lost;
        if node < self.lay.acceptors {
            let AccNode::Safe(s) = &mut self.acc[node as usize] else {
                return;
            };
            if s.a.is_none() {
                return;
            }
            s.a = None;
            lost = s.disk.pending.len();
            s.disk.pending.clear();
            s.disk.gen += 1;
        } else {
            let k = (node - self.lay.acceptors) as usize;
            let n = &mut self.lrn[k];
            if n.l.is_none() {
                return;
            }
            n.l = None;
            n.decided.clear();
            lost = n.disk.pending.len();
            n.disk.pending.clear();
            n.disk.gen += 1;
        }
        self.stats.crashes += 1;
        self.trace.fault(
            self.now,
            format!("crash {names} ({lost} unsynced write(s) and their sends lost)"),
        );
    }

    fn restart(&mut self, node: u16) {
        let names = self.names().node(node);
        let trust = self.trust.clone();
        let records;
        if node < self.lay.acceptors {
            let AccNode::Safe(s) = &mut self.acc[node as usize] else {
                return;
            };
            if s.a.is_some() {
                return;
            }
            let mut d = AcceptorDurable::default();
            for r in &s.disk.log {
                d.apply(r);
            }
            records = s.disk.log.len();
            s.a = Some(Acceptor::restore(
                AcceptorId(node),
                trust,
                AcceptorOptions::default(),
                d,
            ));
        } else {
            let k = (node - self.lay.acceptors) as usize;
            let n = &mut self.lrn[k];
            if n.l.is_some() {
                return;
            }
            let l = Learner::restore(n.lr, trust, &n.disk.log);
            n.decided = n
                .disk
                .log
                .iter()
                .filter_map(|d| match d {
                    Durable::Decided { slot, .. } => Some(*slot),
                    _ => None,
                })
                .collect();
            records = n.disk.log.len();
            n.l = Some(l);
        }
        self.stats.restarts += 1;
        self.trace.fault(
            self.now,
            format!("restart {names} from {records} durable record(s)"),
        );
    }

    // ---------------------------------------------------------------- proposers

    fn submit(&mut self, node: u16) {
        let i = (node - self.lay.first_proposer()) as usize;
        let pn = &mut self.prop[i];
        pn.cmds += 1;
        let cmd = format!("p{i}c{}", pn.cmds).into_bytes();
        pn.pm.submit(Tick(self.now), cmd);
        self.stats.commands += 1;
        let rate = self.p.commands_per_sec.max(1);
        let mean = 1_000_000 / rate;
        let gap = (mean as f64 * (0.2 + 1.6 * self.rng.unit())) as Micros + 1;
        if self.now + gap < self.p.work_end() {
            self.q.push(self.now + gap, Ev::Submit { node });
        }
        self.poll_proposer(i);
    }

    fn poll_proposer(&mut self, i: usize) {
        let now = self.now;
        let node = self.lay.proposer_node(i as u16);
        let mut actions = Vec::new();
        self.prop[i].pm.poll(Tick(now), &mut actions);
        for a in actions {
            let mut fx = std::mem::take(&mut self.fx);
            fx.clear();
            match a {
                Action::Start {
                    slot,
                    ballot,
                    value,
                } => {
                    self.oracle.start(slot, now);
                    if slot > self.max_slot {
                        self.max_slot = slot;
                    }
                    self.stats.ballots += 1;
                    let pn = &mut self.prop[i];
                    let n = pn.starts.entry(slot).or_insert(0);
                    *n += 1;
                    // First ballot of a slot: every learner. Later ones:
                    // the learners that can be live (a round waits for
                    // 1b quorums of every learner it serves).
                    let learners = if *n == 1 {
                        &self.all_learners
                    } else {
                        &self.live_learners
                    };
                    pn.prop.start(slot, learners, ballot, value, &mut fx);
                }
                Action::Retransmit { slot, .. } => {
                    self.stats.retransmits += 1;
                    self.prop[i].prop.retransmit(slot, &mut fx);
                    let q = self.store(node, Packet::Query { slot }, NO_CAUSE);
                    for k in 0..self.learner_nodes.len() {
                        for r in 0..self.learner_nodes[k].len() {
                            let to = self.learner_nodes[k][r];
                            self.send_one(q, to);
                        }
                    }
                }
            }
            self.after_step(node, &mut fx, NO_CAUSE);
            self.fx = fx;
        }
        if let Some(Tick(t)) = self.prop[i].pm.next_wakeup() {
            let t = t.max(now);
            let pn = &mut self.prop[i];
            if pn.timer_at.is_none_or(|x| t < x) {
                pn.timer_at = Some(t);
                self.q.push(t, Ev::Timer { node });
            }
        }
    }

    // ---------------------------------------------------------------- learners

    fn catchup_tick(&mut self, node: u16) {
        let k = (node - self.lay.acceptors) as usize;
        let n = &self.lrn[k];
        if n.l.is_some() {
            let mut frontier = Slot(0);
            while n.decided.contains(&frontier) {
                frontier = Slot(frontier.0 + 1);
            }
            let mut have = 0u64;
            for s in n.decided.range(Slot(frontier.0 + 1)..Slot(frontier.0 + 65)) {
                have |= 1u64 << (s.0 - frontier.0 - 1);
            }
            let peers: Vec<u16> = self.learner_nodes[n.lr.index()]
                .iter()
                .copied()
                .filter(|&x| x != node)
                .collect();
            let id = self.store(node, Packet::Status { frontier, have }, NO_CAUSE);
            for to in peers {
                self.send_one(id, to);
            }
        }
        let t = self.now + self.p.catchup_interval;
        self.q.push(t, Ev::Catchup { node });
    }

    // ---------------------------------------------------------------- oracles

    fn check_liveness(&mut self, end: Micros) {
        if !self.p.liveness {
            return;
        }
        let bound = self.p.liveness_bound();
        let gst = self.p.gst;
        let mut found = Vec::new();
        // Slots started before GST are checked only in runs without
        // Byzantine acceptors and with a single learner (see below).
        let check_early = self.sc.fake.is_empty() && self.trust.n_learners() == 1;
        for (&slot, &t0) in &self.oracle.started {
            let deadline = t0.max(gst) + bound;
            // A slot started before GST may be poisoned for good (see the
            // crate notes): KnowsSafeAt2 needs a whole quorum of the
            // learner's own proposals at the ballot of the highest connected
            // vote. A fake that joined a 2av quorum and then hides its
            // proposal, or (with several learners) a ballot cut short after
            // one learner's votes, leaves no value ever known safe.
            if deadline > end || (!check_early && t0 < gst) {
                self.stats.unchecked_slots += 1;
                let undecided = self.lrn.iter().any(|n| {
                    self.oracle.live[n.lr.index()]
                        && n.l.as_ref().is_none_or(|l| l.decided(slot).is_none())
                });
                if undecided {
                    self.stats.stalled_unchecked += 1;
                }
                continue;
            }
            for (k, n) in self.lrn.iter().enumerate() {
                if !self.oracle.live[n.lr.index()] {
                    continue;
                }
                let decided = n.l.as_ref().is_some_and(|l| l.decided(slot).is_some());
                if !decided {
                    found.push(Violation::Liveness {
                        slot,
                        node: self.lay.acceptors + k as u16,
                        lr: n.lr,
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
        for n in &self.lrn {
            let c = n.decided.len() as u64;
            let e = &mut per[n.lr.index()];
            *e = (*e).max(c);
        }
        self.stats.decided_per_learner = per;
        for pn in &self.prop {
            let s = pn.pm.stats();
            self.stats.adopted += s.slots_adopted;
            self.stats.noops += s.noops;
            self.stats.requeued += s.commands_requeued;
        }
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
