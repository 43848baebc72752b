//! # hpaxos-sim
//!
//! A deterministic simulator of whole Heterogeneous Paxos clusters: every
//! safe node is the real node layer (`hpaxos_core::node::NodeCore`, the
//! code the tokio node runs: routing between roles, leader and failover,
//! forwarding, heartbeats, catch-up from certificates, per-learner
//! retries) over the real core state machines, in one process, under a
//! hostile network, crashes and restarts of any node (the leading proposer
//! too, and sometimes for good), and Byzantine acceptors, with virtual time
//! and one seeded PRNG. The same seed on the same build replays the same
//! run bit for bit; a failing run comes with its seed, a one-line replay
//! command and a readable trace.
//!
//! Data flow: a [`Sim`] holds the validated (or deliberately unchecked)
//! [`Trust`] and the [`SimParams`]; [`Sim::run_seed`] draws a
//! [`scenario::Scenario`] from the seed, runs a [`world::World`] to the end,
//! and returns a [`RunReport`] judged by the [`oracle`]s; [`Summary`]
//! aggregates many runs for the `hpaxos sim` table and JSON.
//!
//! Modules: [`rng`] (the PRNG), [`params`] (knobs and units), [`scenario`]
//! (per-seed draws), [`net`] (packets, arena, event queue), [`world`] (the
//! event loop, nodes, durability, faults), [`byz`] (attacks), [`oracle`]
//! (safety, liveness), [`refine`] (the spec's refinement check),
//! [`trace`] (failure reports), [`report`] (summary), [`sweep`] (many seeds).
//!
//! ## What the liveness oracle assumes, and why
//!
//! Safety is checked unconditionally. Liveness is a property of runs that
//! stabilise: from GST on, every safe node is up (but a proposer killed
//! for good), links deliver within `stable_max_delay` with no loss, packets
//! sent before GST arrive by GST + `stable_max_delay`, fake acceptors no
//! longer forge 1a/1c (a real deployment authenticates proposers) and show
//! each 1b to everyone or no one; they keep equivocating 2av/2b, lying in
//! 1b, withholding, replaying and sending random messages. The oracle then
//! demands that every slot up to the highest one started (a slot nobody
//! started is a hole, judged as started at time 0: a learner applying its
//! log in order stops there) is decided by every replica of every live
//! learner within [`SimParams::liveness_bound`] after `max(GST, start)`.
//! Slots started before GST are judged in runs without a Byzantine
//! acceptor and with one learner, and always with `--judge-all`; the others
//! are counted ("not judged", and how many of those stalled).
//!
//! Why not every pre-GST slot: the spec's protocol (which has no liveness
//! part) can leave a slot where no value is ever `KnowsSafeAt` for some
//! learner, because `KnowsSafeAt2` needs a whole quorum *of the learner's
//! own proposals* at the ballot `c` of the highest connected vote:
//! (1) a fake acceptor completes a 2av quorum for `v` at `c` together with
//! fewer than a quorum of safe acceptors, a safe acceptor votes `v`, then
//! the fake hides its proposal in later 1b messages (seen on
//! `classic.toml`); (2) with no fault at all, learner B's votes at `c` get
//! ahead of learner A's 2av quorum at `c` (a ballot cut short, or a ballot
//! where A's 1b messages showed too few proposals at an earlier ballot),
//! and A's ballot then moves above `c`: from then on A sees B's votes at
//! `c` and has no quorum of its own proposals there. The node layer now
//! avoids the common causes of (2): one value per ballot, rounds that wait
//! for every learner not suspected down, retries of a missing learner
//! pinned to the highest ballot with a vote, and a ballot floor for
//! restarted proposers. What is left is measured by `--judge-all`.

pub mod byz;
pub mod net;
pub mod oracle;
pub mod params;
pub mod refine;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod sweep;
pub mod trace;
pub mod world;

pub use oracle::Violation;
pub use params::{FakeChoice, Micros, RefineChoice, SimParams};
pub use report::Summary;

use hpaxos_core::pacemaker::PacemakerError;
use hpaxos_core::{AccSet, Message, SpecAction, Trust};
use std::fmt::Write as _;

/// The refinement check, as the simulator drives it: the spec helper's
/// `hpaxos_spec::Refinement` implements it (see the CLI's adapter); tests
/// may plug in their own.
pub trait Refiner {
    /// The spec actions one implementation step took, in order.
    fn apply(&mut self, actions: &[SpecAction]) -> Result<(), String>;
    /// A Byzantine acceptor sent `m`: `FakeSend` for its own 1b/2av/2b,
    /// `Phase1a`/`Phase1c` for forged proposer messages.
    fn fake_send(&mut self, m: &Message) -> Result<(), String>;
    /// Every protocol message a safe node sends must already be in the
    /// spec's `msgs` (called after the step's actions were applied).
    fn check_sent(&mut self, _sent: &[Message]) -> Result<(), String> {
        Ok(())
    }
    /// Final check of the spec invariants.
    fn check(&mut self) -> Result<(), String>;
    /// A safe acceptor's durable state against the mapped spec state.
    fn check_acceptor(&mut self, _a: &hpaxos_core::Acceptor) -> Result<(), String> {
        Ok(())
    }
}

/// Builds a refiner for a run's configuration and fake set.
/// The last argument: whether the acceptors run late steps (HPaxosLate).
pub type RefinerFactory = Box<dyn Fn(&Trust, AccSet, bool) -> Box<dyn Refiner> + Send + Sync>;

/// Counters of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Packets handed to the network (a broadcast counts once).
    pub sent: u64,
    /// Packets delivered to a node and handled.
    pub delivered: u64,
    /// Deliveries by kind: 1a, 1b, 1c, 2av, 2b, forward, sync, status,
    /// certs, vote queries, votes, value fetches, value answers.
    pub by_kind: [u64; 14],
    pub dropped: u64,
    pub duplicated: u64,
    pub replayed: u64,
    pub to_down: u64,
    pub crashes: u64,
    pub restarts: u64,
    pub partitions: u64,
    pub byz_attacks: u64,
    /// Range 1b sent by fakes hiding every vote (`byz::World::range_lie`).
    pub range_lies: u64,
    /// Range Phase 1 at the leaders (`hpaxos_core::node::range`): the
    /// leaderships started, the slots whose first ballot went straight to
    /// 1c, and the slots of a leadership run per-slot instead.
    pub range_leaderships: u64,
    pub range_slots: u64,
    pub range_fallbacks: u64,
    pub forged: u64,
    pub evidence: u64,
    pub fsyncs_delayed: u64,
    pub decisions: u64,
    pub commands: u64,
    pub slots_started: u64,
    /// Started slots the liveness oracle does not judge (before GST with
    /// Byzantine acceptors or several learners, or too close to the end).
    pub unchecked_slots: u64,
    /// Of those, the ones some live learner never decided.
    pub stalled_unchecked: u64,
    /// Slots the liveness oracle judged.
    pub judged_slots: u64,
    /// (slot, replica) pairs of a live learner never decided by the deadline.
    pub undecided: u64,
    /// View changes (leader failovers) summed over nodes.
    pub view_changes: u64,
    pub ballots: u64,
    pub retransmits: u64,
    pub adopted: u64,
    pub noops: u64,
    pub requeued: u64,
    pub certificates: u64,
    /// Spec actions replayed on the refinement checker.
    pub spec_actions: u64,
    pub virtual_end: Micros,
    /// Slots decided, per learner (the most advanced replica).
    pub decided_per_learner: Vec<u64>,
}

/// The outcome of one seed.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub seed: u64,
    pub fake: AccSet,
    pub refine: bool,
    pub stats: RunStats,
    pub violations: Vec<Violation>,
    /// The failure report (seed, replay command, trace) when violated.
    pub failure: Option<String>,
}

/// A simulator for one configuration.
pub struct Sim {
    pub trust: Trust,
    pub params: SimParams,
    pub refiner: Option<RefinerFactory>,
    /// The command line that reruns this simulation, without `--seeds`/`--seed`.
    pub replay: String,
}

/// A simulation that cannot run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("pacemaker: {0}")]
    Pacemaker(#[from] PacemakerError),
}

impl Sim {
    pub fn new(trust: Trust, params: SimParams) -> Sim {
        Sim {
            trust,
            params,
            refiner: None,
            replay: String::new(),
        }
    }

    /// Runs one seed to the end and judges it.
    pub fn run_seed(&self, seed: u64) -> Result<RunReport, SimError> {
        let lay = world::layout_of(&self.params, &self.trust);
        let sc = scenario::Scenario::draw(seed, &self.params, &self.trust, lay);
        let refine = sc.refine;
        let fake = sc.fake;
        let refiner = match (&self.refiner, refine) {
            (Some(f), true) => Some(f(&self.trust, fake, self.params.late)),
            _ => None,
        };
        let mut w = world::World::new(&self.params, self.trust.clone(), sc, refiner)?;
        w.run();
        let violations = w.oracle.violations.clone();
        let failure = if violations.is_empty() {
            None
        } else {
            Some(self.failure_report(&w, seed))
        };
        Ok(RunReport {
            seed,
            fake,
            refine,
            stats: w.stats.clone(),
            violations,
            failure,
        })
    }

    fn failure_report(&self, w: &world::World, seed: u64) -> String {
        let names = w.names();
        let mut out = String::new();
        let fake: Vec<String> = w.fake_set().iter().map(|a| names.acc(a)).collect();
        let _ = writeln!(
            out,
            "VIOLATION in seed {seed} (fake acceptors: {{{}}})",
            fake.join(", ")
        );
        let _ = writeln!(out, "replay: {} --seeds 1 --seed {seed}", self.replay);
        for v in w.oracle.violations.iter().take(4) {
            let _ = writeln!(out, "  {}", describe(&names, v));
        }
        // Causal history of the violating decisions.
        let mut roots = Vec::new();
        for v in w.oracle.violations.iter().take(1) {
            if let Violation::Safety {
                slot,
                first,
                second,
            } = v
            {
                // Every 2b behind either decision, and every 1c and 2av of
                // that slot and ballot for either value (the competing
                // announcements and proposals), with their causes.
                for d in [first, second] {
                    for (id, s) in w.arena.iter().enumerate() {
                        let hit = match &s.pkt {
                            net::Packet::Proto(Message::M2b(m)) => {
                                m.slot == *slot && m.lr == d.lr && m.bal == d.bal && m.val == d.val
                            }
                            net::Packet::Proto(Message::M2av(m)) => {
                                m.slot == *slot && m.bal == d.bal && m.val == d.val
                            }
                            net::Packet::Proto(Message::M1c(m)) => {
                                m.slot == *slot && m.bal == d.bal && m.val == d.val
                            }
                            _ => false,
                        };
                        if hit {
                            roots.push(id as u32);
                        }
                    }
                }
            }
        }
        if let Some(Violation::Liveness { slot, .. }) = w.oracle.violations.first() {
            let ids: Vec<u32> = w
                .arena
                .iter()
                .enumerate()
                .filter(|(_, s)| match &s.pkt {
                    net::Packet::Proto(m) => m.slot() == *slot,
                    net::Packet::Ctl(_) => false,
                })
                .map(|(i, _)| i as u32)
                .collect();
            let skip = ids.len().saturating_sub(
                std::env::var("HPAXOS_SIM_SLOT_MSGS")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(60),
            );
            let _ = writeln!(
                out,
                "messages of {slot} ({} in all, last {} shown):",
                ids.len(),
                ids.len() - skip
            );
            trace::render_sent(&names, &w.arena, &ids[skip..], &mut out);
            if std::env::var("HPAXOS_SIM_DEBUG").is_ok() {
                let mut ds = std::collections::BTreeSet::new();
                for i in &ids {
                    if let net::Packet::Proto(hpaxos_core::Message::M1c(c)) =
                        &w.arena[*i as usize].pkt
                    {
                        ds.insert(c.val.digest());
                    }
                }
                for (k, n) in w.nodes.iter().enumerate() {
                    let Some(c) = n.as_ref().and_then(|n| n.core.as_ref()) else {
                        continue;
                    };
                    let held: Vec<_> = ds.iter().filter(|d| c.value(d).is_some()).collect();
                    let _ = writeln!(out, "node {k}: holds {held:?} of {ds:?}; wants {} awaiting {} parked {} fetched {} served {}", c.fetches_pending(), c.decisions_awaiting_bytes(), c.stats.parked_1c, c.stats.values_fetched, c.stats.values_served);
                }
            }
        }
        if !roots.is_empty() {
            let hist = trace::causal_history(&w.arena, &roots, 80);
            let _ = writeln!(
                out,
                "causal history of the conflicting decisions ({} messages, oldest first):",
                hist.len()
            );
            trace::render_sent(&names, &w.arena, &hist, &mut out);
        }
        if !w.trace.faults.is_empty() {
            let _ = writeln!(out, "faults injected:");
            for (t, f) in w.trace.faults.iter().take(40) {
                let _ = writeln!(out, "  {:>11}  {f}", trace::ms(*t));
            }
        }
        let _ = writeln!(out, "last {} events:", w.trace.recent.len());
        trace::render_recent(&names, &w.arena, &w.trace, &mut out);
        out
    }
}

/// One line for a violation.
pub fn describe(names: &trace::Names, v: &Violation) -> String {
    match v {
        Violation::Safety {
            slot,
            first,
            second,
        } => format!(
            "SAFETY {slot}: {} decided {} in {} at {}, but entangled {} decided {} in {} at {}",
            names.node(first.node),
            trace::value(&first.val),
            first.bal,
            trace::ms(first.t),
            names.node(second.node),
            trace::value(&second.val),
            second.bal,
            trace::ms(second.t)
        ),
        Violation::Liveness {
            slot,
            node,
            started,
            deadline,
            ..
        } => format!(
            "LIVENESS {slot}: started at {}, live learner replica {} had not decided by {}",
            trace::ms(*started),
            names.node(*node),
            trace::ms(*deadline)
        ),
        Violation::Refinement { t, what } => {
            format!("REFINEMENT at {}: {what}", trace::ms(*t))
        }
        Violation::Forgery { t, from, claimed } => format!(
            "FORGERY at {}: {} sent a message in the name of {}",
            trace::ms(*t),
            names.node(*from),
            names.node(*claimed)
        ),
    }
}
