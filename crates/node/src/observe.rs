//! What the driver tells operators about its state, beside the counters:
//! the gauges of `/metrics` that describe the node (decided and applied
//! slots, ballot, view and leader, queue depths), the decision latency per
//! learner, and the log lines for a learner losing or regaining its last
//! live quorum.
//!
//! Where it sits: the driver owns one [`Observer`]; it calls
//! [`Observer::slot_seen`] for every protocol message (received or sent),
//! [`Observer::decided`] for every decision of a learner it runs, and
//! [`Observer::refresh`] once per iteration (which does its work at most
//! every [`REFRESH`]). Nothing here changes what the node does.

use crate::config::ClusterConfig;
use crate::driver::LocalReplica;
use crate::metrics::{g, Metrics};
use crate::transport::PeerQueues;
use bytes::Bytes;
use hpaxos_core::node::NodeCore;
use hpaxos_core::pacemaker::Tick;
use hpaxos_core::{LearnerId, Slot};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Gauges are refreshed at most this often.
pub const REFRESH: Duration = Duration::from_millis(100);
/// A learner with no live quorum this long after start is reported.
const STARTUP_GRACE: Duration = Duration::from_secs(10);
/// Slots whose first message is remembered (for the decision latency) at
/// most; the oldest are forgotten first.
const SLOTS_TRACKED: usize = 8192;

/// State of the gauges and quorum warnings.
pub struct Observer {
    started: Instant,
    last: Option<Instant>,
    /// When the first protocol message of a slot was seen here.
    first_seen: BTreeMap<Slot, Instant>,
    /// Per local learner: whether it had a live quorum at the last refresh
    /// (`None` until it first had one, or the startup grace ran out).
    live: BTreeMap<LearnerId, Option<bool>>,
    leader: Option<String>,
}

impl Default for Observer {
    fn default() -> Self {
        Observer::new()
    }
}

impl Observer {
    pub fn new() -> Observer {
        Observer {
            started: Instant::now(),
            last: None,
            first_seen: BTreeMap::new(),
            live: BTreeMap::new(),
            leader: None,
        }
    }

    /// A protocol message of `slot` was received or sent.
    pub fn slot_seen(&mut self, slot: Slot) {
        if self.first_seen.contains_key(&slot) {
            return;
        }
        if self.first_seen.len() >= SLOTS_TRACKED {
            self.first_seen.pop_first();
        }
        self.first_seen.insert(slot, Instant::now());
    }

    /// Learner `name` (run here) decided `slot`.
    pub fn decided(&mut self, m: &Metrics, name: &str, slot: Slot) {
        if let Some(t) = self.first_seen.get(&slot) {
            m.decision_latency
                .with(name)
                .observe(t.elapsed().as_secs_f64());
        }
    }

    /// Forgets the slots every local learner applied (called with the
    /// lowest next slot of the local replicas).
    fn forget_below(&mut self, below: Slot) {
        self.first_seen = self.first_seen.split_off(&below);
    }

    /// Refreshes the gauges (at most every [`REFRESH`]).
    #[allow(clippy::too_many_arguments)]
    pub fn refresh(
        &mut self,
        cfg: &ClusterConfig,
        core: &NodeCore<Bytes>,
        replicas: &[LocalReplica],
        peers: &PeerQueues,
        m: &Metrics,
        now: Tick,
        events_waiting: usize,
    ) {
        if self.last.is_some_and(|t| t.elapsed() < REFRESH) {
            return;
        }
        self.last = Some(Instant::now());
        let trust = &cfg.trust;
        for f in &core.learners {
            m.learner_decided
                .set(trust.learner_name(f.core.id()), g(f.next.0));
        }
        let pm = core.pacemaker();
        let mut low: Option<Slot> = None;
        for r in replicas {
            let name = trust.learner_name(r.lr);
            let next = r.replica.next_slot();
            low = Some(low.map_or(next, |l| l.min(next)));
            m.learner_applied.set(name, g(next.0));
            let waiting = pm.and_then(|p| p.ballot(next)).or_else(|| {
                core.acceptor()
                    .and_then(|a| a.slot_durable(next))
                    .and_then(|d| d.max_bal.get(&r.lr).copied())
            });
            // Idle (nothing runs in the next slot): the ballot the last
            // applied slot was decided in.
            let ballot = waiting
                .map(|b| b.0)
                .or_else(|| r.replica.log().last().map(|e| e.ballot));
            if let Some(b) = ballot {
                m.current_ballot.set(name, g(b));
            }
        }
        if let Some(l) = low {
            self.forget_below(l);
        }
        m.view.set(g(core.view()));
        let leader = core
            .leader_node()
            .and_then(|l| cfg.nodes.get(l.index()))
            .map(|n| n.name.clone());
        if leader != self.leader {
            if let Some(old) = &self.leader {
                m.leader.set(old, 0);
            }
            if let Some(new) = &leader {
                m.leader.set(new, 1);
            }
            self.leader = leader;
        }
        m.queue_depth.set("driver_events", g(events_waiting as u64));
        m.queue_depth
            .set("commands_pending", g(core.pending_commands() as u64));
        if let Some(p) = pm {
            m.queue_depth.set("proposer_queued", g(p.queued() as u64));
            m.queue_depth
                .set("proposer_in_flight", g(p.in_flight() as u64));
        }
        for (n, q) in cfg.nodes.iter().zip(peers) {
            if let Some(q) = q {
                let depth = q.max_capacity().saturating_sub(q.capacity());
                m.peer_queue_depth.set(&n.name, g(depth as u64));
            }
        }
        self.quorums(cfg, core, replicas, m, now);
    }

    /// Logs a learner run here losing its last live quorum, and regaining
    /// one (a transition each, not every refresh).
    fn quorums(
        &mut self,
        cfg: &ClusterConfig,
        core: &NodeCore<Bytes>,
        replicas: &[LocalReplica],
        m: &Metrics,
        now: Tick,
    ) {
        let trust = &cfg.trust;
        let reachable = core.reachable_acceptors(now);
        let names = || -> Vec<&str> { reachable.iter().map(|a| trust.acceptor_name(a)).collect() };
        for r in replicas {
            let name = trust.learner_name(r.lr);
            let live = trust.is_quorum(r.lr, &reachable);
            m.learner_live_quorum.set(name, i64::from(live));
            let was = self.live.entry(r.lr).or_insert(None);
            match (*was, live) {
                (Some(true), false) => tracing::warn!(
                    learner = name,
                    reachable = ?names(),
                    "learner lost its last live quorum: it decides nothing until a quorum of its acceptors is heard again"
                ),
                (Some(false), true) => tracing::warn!(
                    learner = name,
                    reachable = ?names(),
                    "learner has a live quorum again"
                ),
                (None, false) if self.started.elapsed() >= STARTUP_GRACE => tracing::warn!(
                    learner = name,
                    reachable = ?names(),
                    "learner has had no live quorum since the node started"
                ),
                (None, false) => continue,
                _ => {}
            }
            *was = Some(live);
        }
    }
}
