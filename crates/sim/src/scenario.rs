//! One seed's world: the fake set, per-link delay distributions, fault
//! rates, the schedule of partitions and crashes, and the Byzantine
//! strategy. Everything is drawn from the seed's PRNG before the run
//! starts, so the scenario can be printed in a failure report.

use crate::params::{FakeChoice, Micros, SimParams};
use crate::rng::Rng;
use hpaxos_core::{AccSet, AcceptorId, Trust};

/// How one directed link delays messages before GST.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DelayDist {
    /// Uniform in `[lo, hi]`.
    Uniform { lo: Micros, hi: Micros },
    /// `lo` plus an exponential tail of mean `mean`, capped at `cap`.
    Tail {
        lo: Micros,
        mean: Micros,
        cap: Micros,
    },
    /// Usually `[lo, hi]`, with probability `p` a spike of `spike`.
    Spiky {
        lo: Micros,
        hi: Micros,
        p: f64,
        spike: Micros,
    },
}

impl DelayDist {
    pub fn sample(&self, rng: &mut Rng) -> Micros {
        match *self {
            DelayDist::Uniform { lo, hi } => rng.range(lo, hi),
            DelayDist::Tail { lo, mean, cap } => {
                let u = rng.unit().max(1e-12);
                let x = (-u.ln() * mean as f64) as Micros;
                lo + x.min(cap)
            }
            DelayDist::Spiky { lo, hi, p, spike } => {
                let d = rng.range(lo, hi);
                if rng.chance(p) {
                    d + rng.range(spike / 2, spike)
                } else {
                    d
                }
            }
        }
    }

    fn draw(rng: &mut Rng) -> DelayDist {
        let lo = rng.range(100, 800);
        match rng.below(3) {
            0 => DelayDist::Uniform {
                lo,
                hi: lo + rng.range(200, 3_000),
            },
            1 => DelayDist::Tail {
                lo,
                mean: rng.range(300, 2_000),
                cap: 30_000,
            },
            _ => DelayDist::Spiky {
                lo,
                hi: lo + rng.range(100, 1_500),
                p: 0.02 + rng.unit() * 0.1,
                spike: rng.range(5_000, 40_000),
            },
        }
    }
}

/// Which links a partition cuts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// Both directions between the group and the rest.
    Both,
    /// Only messages from the group to the rest (asymmetric).
    Outbound,
    /// Only messages from the rest to the group (asymmetric).
    Inbound,
}

/// A partition episode before GST.
#[derive(Clone, Debug)]
pub struct Partition {
    pub start: Micros,
    pub heal: Micros,
    /// `group[node]`: the node is inside the group.
    pub group: Vec<bool>,
    pub cut: Cut,
}

/// A crash and restart of one safe node before GST.
#[derive(Clone, Copy, Debug)]
pub struct Crash {
    pub node: u16,
    pub at: Micros,
    pub restart: Micros,
}

/// How hard the Byzantine acceptors attack (probabilities per opportunity).
#[derive(Clone, Copy, Debug, Default)]
pub struct Attack {
    /// 2av/2b: the real value to one side, another value to the other.
    pub equivocate: f64,
    /// 1b: drop votes, drop proposals, or invent them.
    pub lie_1b: f64,
    /// Drop a message to one recipient.
    pub withhold: f64,
    /// Before GST, on a 1a: announce a competing value to one side.
    pub compete_1c: f64,
    /// Before GST, on a slot's first 2b: start a higher ballot with another value.
    pub hijack: f64,
    /// Before GST, on a 1a: send a 1a at a much higher ballot.
    pub inflate: f64,
    /// Of those inflated 1a, the share sent at ballot `u64::MAX` (and a 1c
    /// there): what one 1a does to a slot whose acceptors take it (no
    /// ballot above for any proposer), which the node's ballot ceiling
    /// (`NodeCore::set_ballot_ceiling`) must prevent.
    pub max_ballot: f64,
    /// Per Byzantine tick: a random well-typed message in its own name.
    pub random: f64,
    /// Per Byzantine tick: re-send one of its own old messages.
    pub replay: f64,
}

/// One attack of [`Attack`], by name (`hpaxos sim --without NAME`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AttackName {
    Equivocate,
    Lie1b,
    Withhold,
    Compete1c,
    Hijack,
    Inflate,
    MaxBallot,
    Random,
    Replay,
}

impl AttackName {
    /// Every name with its spelling on the command line.
    pub const ALL: [(AttackName, &'static str); 9] = [
        (AttackName::Equivocate, "equivocate"),
        (AttackName::Lie1b, "lie-1b"),
        (AttackName::Withhold, "withhold"),
        (AttackName::Compete1c, "compete-1c"),
        (AttackName::Hijack, "hijack"),
        (AttackName::Inflate, "inflate"),
        (AttackName::MaxBallot, "max-ballot"),
        (AttackName::Random, "random"),
        (AttackName::Replay, "replay"),
    ];

    /// The attack spelled `s`, if any.
    pub fn parse(s: &str) -> Option<AttackName> {
        Self::ALL.iter().find(|(_, n)| *n == s).map(|(a, _)| *a)
    }

    /// Its spelling on the command line.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(a, _)| *a == self)
            .map_or("?", |(_, n)| n)
    }
}

impl Attack {
    /// Sets one attack's probability to 0.
    pub fn switch_off(&mut self, name: AttackName) {
        let p = match name {
            AttackName::Equivocate => &mut self.equivocate,
            AttackName::Lie1b => &mut self.lie_1b,
            AttackName::Withhold => &mut self.withhold,
            AttackName::Compete1c => &mut self.compete_1c,
            AttackName::Hijack => &mut self.hijack,
            AttackName::Inflate => &mut self.inflate,
            AttackName::MaxBallot => &mut self.max_ballot,
            AttackName::Random => &mut self.random,
            AttackName::Replay => &mut self.replay,
        };
        *p = 0.0;
    }
}

/// Everything drawn for one seed.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub seed: u64,
    pub fake: AccSet,
    /// `delay[from * n + to]`.
    pub delay: Vec<DelayDist>,
    /// Per-node slowness factor before GST (1 = normal).
    pub slow: Vec<u32>,
    /// Per-node fsync latency (0 = synchronous with the send).
    pub fsync: Vec<Micros>,
    pub loss: f64,
    pub dup: f64,
    /// Network replays of old packets per millisecond of virtual time.
    pub replays_per_ms: f64,
    pub partitions: Vec<Partition>,
    pub crashes: Vec<Crash>,
    /// Before GST: probability that a safe acceptor crashes right after
    /// sending a 2b (the worst moment for a driver that sends before its
    /// vote is durable); at most three such crashes per run.
    pub crash_after_vote: f64,
    pub attack: Attack,
    /// `side[node]`: which side a Byzantine split shows this node.
    pub side: Vec<bool>,
    pub refine: bool,
}

/// Node layout shared by the scenario and the world: acceptors first, then
/// learner replicas (learner-major), then proposers.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub acceptors: u16,
    pub learners: u16,
    pub replicas: u16,
    pub proposers: u16,
}

impl Layout {
    pub fn nodes(&self) -> u16 {
        self.acceptors + self.learners * self.replicas + self.proposers
    }
    pub fn learner_node(&self, lr: u16, replica: u16) -> u16 {
        self.acceptors + lr * self.replicas + replica
    }
    pub fn proposer_node(&self, p: u16) -> u16 {
        self.acceptors + self.learners * self.replicas + p
    }
    pub fn first_proposer(&self) -> u16 {
        self.acceptors + self.learners * self.replicas
    }
}

/// Draws a fake set that keeps at least one learner live and at least one
/// pair entangled, trying smaller sets when larger ones do not.
pub fn draw_fake(trust: &Trust, rng: &mut Rng) -> AccSet {
    let n = trust.n_acceptors();
    if rng.chance(0.25) {
        return AccSet::EMPTY;
    }
    let mut k = rng.range(1, (n as u64 / 3).max(1)) as usize;
    while k > 0 {
        for _ in 0..12 {
            let mut set = AccSet::EMPTY;
            while set.len() < k {
                set.insert(AcceptorId(rng.below(n as u64) as u16));
            }
            let safe = trust.all_acceptors().difference(&set);
            let live = trust.learners().any(|l| trust.is_quorum(l, &safe));
            let ent = trust
                .learners()
                .any(|l| trust.learners().any(|m| trust.entangled(l, m, &safe)));
            if live && ent {
                return set;
            }
        }
        k -= 1;
    }
    AccSet::EMPTY
}

impl Scenario {
    pub fn draw(seed: u64, p: &SimParams, trust: &Trust, layout: Layout) -> Scenario {
        let mut rng = Rng::new(seed ^ 0x5C3E_A11D_0000_0000);
        let n = layout.nodes() as usize;
        let fake = match &p.fake {
            FakeChoice::Random => draw_fake(trust, &mut rng),
            FakeChoice::Fixed(s) => *s,
        };
        let delay = (0..n * n).map(|_| DelayDist::draw(&mut rng)).collect();
        let faults = p.net_faults;
        let slow = (0..n)
            .map(|_| {
                if faults && rng.chance(0.15) {
                    rng.range(4, 20) as u32
                } else {
                    1
                }
            })
            .collect();
        let fsync = (0..n)
            .map(|_| {
                if rng.chance(0.5) {
                    0
                } else {
                    rng.range(50, 800)
                }
            })
            .collect();
        let (loss, dup, replays_per_ms) = if faults {
            (
                if rng.chance(0.3) {
                    0.0
                } else {
                    rng.unit() * 0.25
                },
                rng.unit() * 0.1,
                rng.unit() * 0.5,
            )
        } else {
            (0.0, 0.0, 0.0)
        };
        let mut partitions = Vec::new();
        if faults {
            for _ in 0..rng.below(4) {
                let start = rng.below(p.gst);
                let heal = (start + rng.range(5_000, 80_000)).min(p.gst);
                let group: Vec<bool> = (0..n).map(|_| rng.chance(0.4)).collect();
                let cut = match rng.below(3) {
                    0 => Cut::Both,
                    1 => Cut::Outbound,
                    _ => Cut::Inbound,
                };
                partitions.push(Partition {
                    start,
                    heal,
                    group,
                    cut,
                });
            }
        }
        let mut crashes = Vec::new();
        if p.crashes {
            // Every safe node can crash, proposers (the leader) included.
            let crashable: Vec<u16> = (0..layout.nodes())
                .filter(|&i| i >= layout.acceptors || !fake.contains(AcceptorId(i)))
                .collect();
            for _ in 0..rng.below(4) {
                if let Some(&node) = rng.pick(&crashable) {
                    let at = rng.below(p.gst);
                    let restart = (at + rng.range(1_000, 60_000)).min(p.gst);
                    crashes.push(Crash { node, at, restart });
                }
            }
            // kill -9 of the first leader, for good: another proposer must
            // take over its slots (including those it never started).
            if layout.proposers > 1 && rng.chance(0.3) {
                let at = rng.below(p.gst);
                crashes.push(Crash {
                    node: layout.proposer_node(0),
                    at,
                    restart: Micros::MAX,
                });
            }
        }
        let crash_after_vote = if p.crashes && rng.chance(0.4) {
            0.01 + rng.unit() * 0.04
        } else {
            0.0
        };
        let attack = if p.attacks && !fake.is_empty() {
            if rng.chance(0.35) {
                // Split brain: the fakes tell each side its own story on
                // every message and race the other side's value in.
                Attack {
                    equivocate: 1.0,
                    lie_1b: 0.5,
                    withhold: 0.0,
                    compete_1c: 1.0,
                    hijack: 0.3,
                    inflate: 0.05,
                    max_ballot: 0.5,
                    random: 0.3,
                    replay: 0.3,
                }
            } else {
                let mut lvl = || if rng.chance(0.3) { 0.0 } else { rng.unit() };
                Attack {
                    equivocate: lvl(),
                    lie_1b: lvl(),
                    withhold: lvl() * 0.3,
                    compete_1c: lvl(),
                    hijack: lvl(),
                    inflate: lvl() * 0.2,
                    max_ballot: 0.0,
                    random: lvl(),
                    replay: lvl(),
                }
            }
        } else {
            Attack::default()
        };
        let mut attack = attack;
        if attack.inflate > 0.0 && attack.max_ballot == 0.0 {
            attack.max_ballot = Rng::new(seed ^ 0xba11_07c3_11e6).unit();
        }
        // Switched off after drawing, so the rest of the seed is unchanged.
        for name in &p.without {
            attack.switch_off(*name);
        }
        // Sides of a split: the safe acceptors in two halves, a learner's
        // replicas alternating, everything else at random.
        let mut side: Vec<bool> = (0..n).map(|_| rng.chance(0.5)).collect();
        let mut safe: Vec<u16> = (0..layout.acceptors)
            .filter(|&a| !fake.contains(AcceptorId(a)))
            .collect();
        for i in (1..safe.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            safe.swap(i, j);
        }
        let half = safe.len() / 2 + usize::from(safe.len() % 2 == 1 && rng.chance(0.5));
        for (k, a) in safe.iter().enumerate() {
            side[*a as usize] = k < half;
        }
        for l in 0..layout.learners {
            let flip = rng.chance(0.5);
            for r in 0..layout.replicas {
                side[layout.learner_node(l, r) as usize] = (r % 2 == 1) ^ flip;
            }
        }
        let refine = match p.refine {
            crate::params::RefineChoice::Off => false,
            crate::params::RefineChoice::On => true,
            crate::params::RefineChoice::Share(pct) => seed % 100 < u64::from(pct),
        };
        Scenario {
            seed,
            fake,
            delay,
            slow,
            fsync,
            loss,
            dup,
            replays_per_ms,
            partitions,
            crashes,
            crash_after_vote,
            attack,
            side,
            refine,
        }
    }
}
