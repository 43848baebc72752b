//! The bounded instance a model-checking run explores: the trust
//! configuration, which acceptors are fake, the ballots, values and proposer
//! plans, and the entangled pairs the safety property ranges over.
//!
//! Data flow: the CLI (or a test) builds a [`Trust`] and [`Options`];
//! [`Instance::new`] turns them into everything the model needs, computed
//! once: `Ent` for the actual safe set, the fake acceptors' message domain
//! (see [`crate::fake`]) and one plan per proposer.

use crate::fake;
use hpaxos_core::{AccSet, AcceptorId, Ballot, LearnerId, Message, Msg1c, Slot, Trust, Value};

/// The only slot a run uses: every slot is an independent instance.
pub const SLOT: Slot = Slot(0);

/// How rich the fake acceptors' 1b messages are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fake1b {
    /// Fake acceptors send no 1b.
    None,
    /// Only 1b messages reporting no vote and no proposal.
    Empty,
    /// At most one vote and at most one proposal (each below the 1b's ballot).
    One,
    /// As `One` for 1b messages of the highest ballot, `Empty` below it: a
    /// smaller domain for instances whose lie is told at the last ballot.
    Top,
}

/// What to explore, as chosen on the command line.
#[derive(Clone, Debug)]
pub struct Options {
    /// Ballots `1..=ballots`.
    pub ballots: u64,
    /// Number of distinct values (named x, y, z, ...).
    pub values: usize,
    /// Number of proposers; `None` means one per ballot.
    pub proposers: Option<usize>,
    /// Acceptors that are fake (Byzantine); the others are safe.
    pub fake: AccSet,
    pub fake_1b: Fake1b,
    /// Fake acceptors may send 2av messages in their own name.
    pub fake_2av: bool,
    /// Fake acceptors may send 2b messages in their own name.
    pub fake_2b: bool,
    /// Every `1c(l, b, v)` of the domain is sent from the start: the spec's
    /// unguarded `Phase1c`, by anyone (a Byzantine proposer).
    pub any_1c: bool,
    /// The network may lose messages (it always reorders and duplicates).
    pub lossy: bool,
    /// Safe acceptors that may crash and restart from their durable records.
    pub restart: AccSet,
    /// Restarts each of them may take.
    pub restarts: u8,
    /// Safe acceptors take late `Phase1b`/`Phase2av` (`AcceptorOptions::late`,
    /// `spec/HPaxosLate.tla`); the refinement monitor then checks against
    /// HPaxosLate.
    pub late: bool,
}

impl Options {
    /// The options the instance's safe acceptors run with.
    pub fn acceptor_options(&self) -> hpaxos_core::AcceptorOptions {
        hpaxos_core::AcceptorOptions {
            late: self.late,
            // Signed 2av as proposals (what the node runs with late steps):
            // the checker's network delivers any sent 2av to any acceptor,
            // so relays add no behaviour it does not explore.
            signed_proposals: self.late,
            ..hpaxos_core::AcceptorOptions::default()
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ballots: 2,
            values: 2,
            proposers: None,
            fake: AccSet::EMPTY,
            fake_1b: Fake1b::One,
            fake_2av: true,
            fake_2b: true,
            any_1c: false,
            lossy: false,
            restart: AccSet::EMPTY,
            restarts: 1,
            late: false,
        }
    }
}

/// One proposer's schedule: its ballots in order, its value, its learners.
#[derive(Clone, Debug)]
pub struct Plan {
    pub ballots: Vec<Ballot>,
    pub value: Value,
    pub learners: Vec<LearnerId>,
}

/// Why an instance cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstanceError {
    #[error("at least one ballot is needed")]
    NoBallots,
    #[error("between 1 and 26 values are supported, not {0}")]
    Values(usize),
    #[error("at least one proposer is needed")]
    NoProposers,
    #[error("acceptor {0} is not in the configuration")]
    UnknownFake(u16),
    #[error("every acceptor is fake: nothing to check")]
    AllFake,
    #[error("acceptor {0} cannot restart: it is fake or not in the configuration")]
    RestartNotSafe(u16),
}

/// Everything a run needs, computed once.
#[derive(Clone, Debug)]
pub struct Instance {
    pub trust: Trust,
    pub opts: Options,
    pub safe: AccSet,
    /// Safe acceptors, in id order: the acceptor actors.
    pub safe_ids: Vec<AcceptorId>,
    pub values: Vec<Value>,
    pub plans: Vec<Plan>,
    /// `Ent`: pairs `(l1, l2)`, `l1 <= l2`, whose closure edge holds for the
    /// actual safe set (self-pairs included).
    pub entangled: Vec<(LearnerId, LearnerId)>,
    /// Messages present from the start: the fake domain and, with
    /// `any_1c`, every 1c of the domain.
    pub preloaded: Vec<Message>,
}

impl Instance {
    pub fn new(trust: Trust, opts: Options) -> Result<Instance, InstanceError> {
        if opts.ballots == 0 {
            return Err(InstanceError::NoBallots);
        }
        if opts.values == 0 || opts.values > 26 {
            return Err(InstanceError::Values(opts.values));
        }
        let all = trust.all_acceptors();
        if let Some(a) = opts.fake.iter().find(|a| !all.contains(*a)) {
            return Err(InstanceError::UnknownFake(a.0));
        }
        let safe = all.difference(&opts.fake);
        if safe.is_empty() {
            return Err(InstanceError::AllFake);
        }
        if let Some(a) = opts.restart.iter().find(|a| !safe.contains(*a)) {
            return Err(InstanceError::RestartNotSafe(a.0));
        }
        let values = value_names(opts.values);
        let learners: Vec<LearnerId> = trust.learners().collect();
        let n_prop = opts.proposers.unwrap_or(opts.ballots as usize);
        if n_prop == 0 {
            return Err(InstanceError::NoProposers);
        }
        let plans: Vec<Plan> = (0..n_prop)
            .map(|i| Plan {
                ballots: (1..=opts.ballots)
                    .filter(|b| ((b - 1) as usize) % n_prop == i)
                    .map(Ballot)
                    .collect(),
                value: values[i % values.len()].clone(),
                learners: learners.clone(),
            })
            .filter(|p| !p.ballots.is_empty())
            .collect();
        let mut entangled = Vec::new();
        for l1 in trust.learners() {
            for l2 in trust.learners().filter(|l2| *l2 >= l1) {
                if trust.entangled(l1, l2, &safe) {
                    entangled.push((l1, l2));
                }
            }
        }
        let ballots: Vec<Ballot> = (1..=opts.ballots).map(Ballot).collect();
        let mut preloaded = fake::domain(&trust, &opts, &ballots, &values);
        if opts.any_1c {
            for &l in &learners {
                for &b in &ballots {
                    for v in &values {
                        preloaded.push(Message::M1c(Msg1c {
                            slot: SLOT,
                            lr: l,
                            bal: b,
                            val: v.clone(),
                        }));
                    }
                }
            }
        }
        let safe_ids = safe.iter().collect();
        Ok(Instance {
            trust,
            opts,
            safe,
            safe_ids,
            values,
            plans,
            entangled,
            preloaded,
        })
    }

    /// The name of a value of this instance (`x`, `y`, ...), or its bytes.
    pub fn value_name(&self, v: &Value) -> String {
        match v.bytes() {
            Some(b) => String::from_utf8_lossy(b).into_owned(),
            None => format!("{:?}", v.digest()),
        }
    }
}

/// Values named `x`, `y`, `z`, then `a`, `b`, ...
pub fn value_names(n: usize) -> Vec<Value> {
    const NAMES: &[u8] = b"xyzabcdefghijklmnopqrstuvw";
    (0..n)
        .map(|i| Value::new(vec![NAMES[i % NAMES.len()]]))
        .collect()
}
