//! The refinement checker: is a run of the core a behaviour of the spec?
//!
//! The core, when its [`Effects`](hpaxos_core::Effects) are created with
//! `Effects::recording()`, records every spec action it takes
//! ([`SpecAction`]), in order. [`Refinement::apply`] replays them on the
//! reference model: each action's guard must hold on the spec state (else a
//! [`RefinementError::Guard`] names the action and the failing conjunct),
//! then its effect is applied, then (by default after every action) every
//! conjunct of `FullSafetyInvariant` is checked. One implementation step
//! (one input handled) is thus a sequence of spec steps in the recorded
//! order; an input that records nothing is a stutter.
//!
//! The refinement mapping, for one slot: `msgs` is every message sent by any
//! role in that slot (safe acceptors' 1b/2av/2b, proposers' 1a/1c, and the
//! fake acceptors' messages, entered with [`Refinement::fake_send`]);
//! `maxBal[*, a]`, `votesSent[a]`, `2avSent[a]` are the acceptor's durable
//! [`SlotDurable`](hpaxos_core::SlotDurable); `connected[a]` is
//! `Acceptor::connected`; `decision[l, *]` is `Learner::decisions`;
//! `received` and `receivedByLearner` are ghost variables, built from the
//! recorded `Recv` and `LearnerRecv` actions. [`Refinement::check_acceptor`]
//! and [`Refinement::check_learner`] compare the core's state with the
//! mapped variables.
//!
//! Multiple slots: each slot is one independent instance of the spec,
//! created on first use. `Disconnect` is global per acceptor in the core (it
//! applies to every slot); it is applied to every existing slot instance
//! (each a spec step whose guard is checked), and a slot instance created
//! later starts from `Init` followed by the same `Disconnect` steps, so its
//! `connected[a]` equals the acceptor's current set.
//!
//! Crashes: after an acceptor restarts it has lost its received-message
//! index, but the spec's `received[a]` (ghost) keeps everything ever
//! received. This is sound: every guard is monotone in `received[a]`
//! (`KnowsSafeAt` and the 2av quorum of `Phase2b` only ask for messages to be
//! present), so a step the restarted core takes with less received is also
//! enabled with more. Durable state survives restarts, and
//! [`Refinement::check_acceptor`] checks it after a restore as well.
//!
//! Quantifiers: values are [`Value`], ballots [`Ballot`] (`Nat`); the
//! invariants quantify over what occurs in the slot's state (see
//! [`crate::invariants`] for why this is equivalent).

use crate::instance::Instance;
use crate::invariants::{self, InvariantViolation};
use crate::model::{Action, GuardError, Model};
use crate::msg::{Msg, Vote};
use crate::sets::SortedSet;
use crate::state::State;
use hpaxos_core::Slot;
use hpaxos_core::{
    AccSet, Acceptor, AcceptorId, Ballot, Learner, LearnerId, Message, SpecAction, Trust, Value,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Why a run is not a behaviour of the spec.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RefinementError {
    /// A recorded action's guard does not hold on the spec state.
    #[error("{slot}: not a spec step: action #{index} ({action}): {source}")]
    Guard {
        slot: Slot,
        /// Position of the action in the batch given to `apply`.
        index: usize,
        action: String,
        #[source]
        source: GuardError,
    },
    /// A conjunct of `FullSafetyInvariant` is violated.
    #[error("{slot}: {source}")]
    Invariant {
        slot: Slot,
        #[source]
        source: InvariantViolation,
    },
    /// The core's state differs from the mapped spec variables.
    #[error("{slot}: {who} differs from the spec: {detail}")]
    Mismatch {
        slot: Slot,
        who: String,
        detail: String,
    },
    /// The core sent a message that no spec action put in `msgs`.
    #[error("{slot}: sent message {msg} is not in msgs")]
    NotInMsgs { slot: Slot, msg: String },
}

/// One slot's spec instance and state.
#[derive(Clone, Debug)]
struct SlotSpec {
    model: Model<Value>,
    state: State<Value>,
}

/// The refinement checker of one cluster run (all slots).
#[derive(Clone, Debug)]
pub struct Refinement {
    inst: Arc<Instance<Value>>,
    slots: BTreeMap<Slot, SlotSpec>,
    /// `Disconnect` steps taken so far, replayed on slots created later.
    disconnects: Vec<(AcceptorId, Vec<(LearnerId, LearnerId)>)>,
    /// Check invariants after every `check_every` actions (0: never
    /// automatically; call [`Refinement::check_invariants`]).
    check_every: u64,
    actions: u64,
}

impl Refinement {
    /// A checker for a cluster with configuration `trust` whose fake
    /// (Byzantine) acceptors are `fake`; `SafeAcceptor` is the rest, `Ent`
    /// the pairs `trust.entangled(l1, l2, &safe)`, `TrustLive` the learners'
    /// quorum families. Invariants are checked after every action.
    pub fn new(trust: &Trust, fake: AccSet) -> Refinement {
        Refinement {
            inst: Arc::new(Instance::open(trust, fake)),
            slots: BTreeMap::new(),
            disconnects: Vec::new(),
            check_every: 1,
            actions: 0,
        }
    }

    /// Checks the run against HPaxosLate (`spec/HPaxosLate.tla`) instead of
    /// the seed: for a core whose acceptors run `AcceptorOptions::late`.
    /// Call before the first action.
    pub fn with_late(mut self, late: bool) -> Refinement {
        Arc::make_mut(&mut self.inst).late = late;
        self
    }

    /// Checks invariants only after every `n` actions (0: only when
    /// [`Refinement::check_invariants`] is called).
    pub fn with_check_every(mut self, n: u64) -> Refinement {
        self.check_every = n;
        self
    }

    /// `Ent`, as computed for this run.
    pub fn entangled(&self, l1: LearnerId, l2: LearnerId) -> bool {
        self.inst.ent(l1, l2)
    }

    /// Number of actions replayed so far.
    pub fn actions_applied(&self) -> u64 {
        self.actions
    }

    /// Slots with a spec instance.
    pub fn slots(&self) -> impl Iterator<Item = Slot> + '_ {
        self.slots.keys().copied()
    }

    /// The spec state of a slot (for harnesses that inspect it).
    pub fn state(&self, slot: Slot) -> Option<&State<Value>> {
        self.slots.get(&slot).map(|s| &s.state)
    }

    /// The model (instance and message table) of a slot.
    pub fn model(&self, slot: Slot) -> Option<&Model<Value>> {
        self.slots.get(&slot).map(|s| &s.model)
    }

    fn slot(&mut self, slot: Slot) -> Result<&mut SlotSpec, RefinementError> {
        if !self.slots.contains_key(&slot) {
            let mut model = Model::shared(self.inst.clone());
            let mut state = model.init();
            for (i, (a, pairs)) in self.disconnects.iter().enumerate() {
                let act = Action::Disconnect {
                    a: *a,
                    pairs: pairs.clone(),
                };
                model
                    .step(&mut state, &act)
                    .map_err(|source| RefinementError::Guard {
                        slot,
                        index: i,
                        action: format!("{act:?} (replayed on a new slot)"),
                        source,
                    })?;
            }
            self.slots.insert(slot, SlotSpec { model, state });
        }
        match self.slots.get_mut(&slot) {
            Some(s) => Ok(s),
            None => unreachable!("inserted above"), // ok: inserted just above
        }
    }

    /// Replays the recorded actions of one implementation step, in order,
    /// checking each guard and (per `check_every`) the invariants.
    pub fn apply(&mut self, actions: &[SpecAction]) -> Result<(), RefinementError> {
        for (index, sa) in actions.iter().enumerate() {
            let touched = self.apply_one(index, sa)?;
            self.actions += 1;
            if self.check_every > 0 && self.actions.is_multiple_of(self.check_every) {
                for slot in touched {
                    self.check_slot(slot)?;
                }
            }
        }
        Ok(())
    }

    fn apply_one(&mut self, index: usize, sa: &SpecAction) -> Result<Vec<Slot>, RefinementError> {
        // The action's text is made only on a failure (it was a measurable
        // share of the checker's time when made on every step).
        let guard = |slot: Slot| {
            move |source: GuardError| RefinementError::Guard {
                slot,
                index,
                action: format!("{sa:?}"),
                source,
            }
        };
        if let SpecAction::Disconnect { acc, pairs } = sa {
            let act = Action::Disconnect {
                a: *acc,
                pairs: pairs.clone(),
            };
            // The guard does not depend on the state: check it once even
            // when no slot exists yet.
            let probe = Model::shared(self.inst.clone());
            probe.check(&probe.init(), &act).map_err(guard(Slot(0)))?;
            self.disconnects.push((*acc, pairs.clone()));
            let slots: Vec<Slot> = self.slots.keys().copied().collect();
            for s in &slots {
                let sp = self.slot(*s)?;
                sp.model.step(&mut sp.state, &act).map_err(guard(*s))?;
            }
            return Ok(slots);
        }
        if let SpecAction::Recv1bOf {
            slot,
            lr,
            bal,
            from,
            acc,
            c,
            val,
        } = sa
        {
            // `OneBBucket::add_2av`: the 1b `from` sends at `(lr, bal)` now
            // (`Phase1b`/`Phase1bLate` if safe, `FakeSend` of one reporting
            // the proposal if fake), then `Recv(_, acc)` of it.
            let fake = self.inst.fake.contains(*from);
            let sp = self.slot(*slot)?;
            let (send, m) = if fake {
                let m = sp.model.table.intern(Msg::M1b {
                    lr: *lr,
                    acc: *from,
                    bal: *bal,
                    votes: Default::default(),
                    proposals: [Vote {
                        lr: *lr,
                        bal: *c,
                        val: val.clone(),
                    }]
                    .into_iter()
                    .collect(),
                });
                (Action::FakeSend { a: *from, m }, m)
            } else {
                let one_b = sp.model.one_b_of(&sp.state, *lr, *bal, *from);
                let m = sp.model.table.intern(one_b);
                (
                    Action::Phase1b {
                        l: *lr,
                        b: *bal,
                        a: *from,
                    },
                    m,
                )
            };
            for act in [send, Action::Recv { a: *acc, m }] {
                sp.model.step(&mut sp.state, &act).map_err(guard(*slot))?;
            }
            return Ok(vec![*slot]);
        }
        let (slot, act) = match sa {
            SpecAction::Phase1a { slot, lr, bal } => (*slot, Action::Phase1a { l: *lr, b: *bal }),
            SpecAction::Phase1c { slot, lr, bal, val } => (
                *slot,
                Action::Phase1c {
                    l: *lr,
                    b: *bal,
                    v: val.clone(),
                },
            ),
            SpecAction::Phase1b { slot, lr, bal, acc } => (
                *slot,
                Action::Phase1b {
                    l: *lr,
                    b: *bal,
                    a: *acc,
                },
            ),
            SpecAction::Phase2av {
                slot,
                lr,
                bal,
                acc,
                val,
            } => (
                *slot,
                Action::Phase2av {
                    l: *lr,
                    b: *bal,
                    a: *acc,
                    v: val.clone(),
                },
            ),
            SpecAction::Phase2b {
                slot,
                lr,
                bal,
                acc,
                val,
            } => (
                *slot,
                Action::Phase2b {
                    l: *lr,
                    b: *bal,
                    a: *acc,
                    v: val.clone(),
                },
            ),
            SpecAction::Recv { acc, msg } => {
                let slot = msg.slot();
                let sp = self.slot(slot)?;
                let m = sp.model.table.intern(spec_msg(msg));
                (slot, Action::Recv { a: *acc, m })
            }
            SpecAction::LearnerRecv { lr, msg } => {
                let slot = msg.slot();
                let sp = self.slot(slot)?;
                let m = sp.model.table.intern(spec_msg(msg));
                (slot, Action::LearnerRecv { l: *lr, m })
            }
            SpecAction::LearnerDecide { slot, lr, bal, val } => (
                *slot,
                Action::LearnerDecide {
                    l: *lr,
                    b: *bal,
                    v: val.clone(),
                },
            ),
            SpecAction::Disconnect { .. } | SpecAction::Recv1bOf { .. } => {
                unreachable!("handled above") // ok: matched above
            }
        };
        let sp = self.slot(slot)?;
        sp.model.step(&mut sp.state, &act).map_err(guard(slot))?;
        Ok(vec![slot])
    }

    /// A message of a fake (Byzantine) acceptor, or of any proposer, enters
    /// `msgs`: a 1a is `Phase1a`, a 1c is `Phase1c` (anyone may send those),
    /// a 1b/2av/2b is `FakeSend(msg.acc)`, which requires `msg.acc` to be fake.
    pub fn fake_send(&mut self, msg: &Message) -> Result<(), RefinementError> {
        let slot = msg.slot();
        let sp = self.slot(slot)?;
        let act = match msg {
            Message::M1a(m) => Action::Phase1a { l: m.lr, b: m.bal },
            Message::M1c(m) => Action::Phase1c {
                l: m.lr,
                b: m.bal,
                v: m.val.clone(),
            },
            _ => {
                let id = sp.model.table.intern(spec_msg(msg));
                Action::FakeSend {
                    a: msg.acc().unwrap_or(AcceptorId(u16::MAX)),
                    m: id,
                }
            }
        };
        sp.model
            .step(&mut sp.state, &act)
            .map_err(|source| RefinementError::Guard {
                slot,
                index: 0,
                action: format!("fake send of {msg:?}"),
                source,
            })?;
        self.actions += 1;
        if self.check_every > 0 && self.actions.is_multiple_of(self.check_every) {
            self.check_slot(slot)?;
        }
        Ok(())
    }

    /// Every message the implementation sent must be in its slot's `msgs`
    /// (a retransmission is a stutter; anything else is not a spec step).
    pub fn check_sent(&self, sent: &[Message]) -> Result<(), RefinementError> {
        for msg in sent {
            let slot = msg.slot();
            let present = self.slots.get(&slot).is_some_and(|sp| {
                sp.model
                    .table
                    .lookup(&spec_msg(msg))
                    .is_some_and(|id| sp.state.msgs.contains(id.0))
            });
            if !present {
                return Err(RefinementError::NotInMsgs {
                    slot,
                    msg: format!("{msg:?}"),
                });
            }
        }
        Ok(())
    }

    /// Checks every conjunct of `FullSafetyInvariant` on every slot.
    pub fn check_invariants(&self) -> Result<(), RefinementError> {
        for slot in self.slots.keys() {
            self.check_slot(*slot)?;
        }
        Ok(())
    }

    fn check_slot(&self, slot: Slot) -> Result<(), RefinementError> {
        let Some(sp) = self.slots.get(&slot) else {
            return Ok(());
        };
        invariants::full_safety_invariant(&sp.model, &sp.state)
            .map_err(|source| RefinementError::Invariant { slot, source })
    }

    /// The acceptor's durable state for every slot equals the mapped spec
    /// variables: `maxBal[*, a]`, `votesSent[a]`, `2avSent[a]`, and its
    /// `connected` set equals `connected[a]` (in every slot).
    pub fn check_acceptor(&self, acc: &Acceptor) -> Result<(), RefinementError> {
        let a = acc.id();
        let who = format!("acceptor {a}");
        if !self.inst.safe.contains(a) {
            return Err(RefinementError::Mismatch {
                slot: Slot(0),
                who,
                detail: "a core acceptor runs as a fake acceptor of the spec".into(),
            });
        }
        let core_conn: BTreeSet<(LearnerId, LearnerId)> = acc.connected().pairs().collect();
        let mut slots: BTreeSet<Slot> = self.slots.keys().copied().collect();
        slots.extend(acc.slots());
        for slot in slots {
            let mismatch = |detail: String| RefinementError::Mismatch {
                slot,
                who: who.clone(),
                detail,
            };
            let init;
            let state = match self.slots.get(&slot) {
                Some(sp) => &sp.state,
                None => {
                    init = State::init(&self.inst);
                    &init
                }
            };
            let d = acc.slot_durable(slot).cloned().unwrap_or_default();
            for l in self.inst.learners() {
                let core = d.max_bal.get(&l).copied().unwrap_or(Ballot(0));
                let spec = state.max_bal(l, a);
                if core != spec {
                    return Err(mismatch(format!(
                        "maxBal[{l}, {a}]: core {core}, spec {spec}"
                    )));
                }
            }
            let conv = |s: &BTreeSet<hpaxos_core::Vote>| -> SortedSet<Vote<Value>> {
                s.iter().map(spec_vote).collect()
            };
            if conv(&d.votes_sent) != state.votes_sent[a.index()] {
                return Err(mismatch(format!(
                    "votesSent[{a}]: core {:?}, spec {:?}",
                    conv(&d.votes_sent),
                    state.votes_sent[a.index()]
                )));
            }
            if conv(&d.two_av_sent) != state.two_av_sent[a.index()] {
                return Err(mismatch(format!(
                    "2avSent[{a}]: core {:?}, spec {:?}",
                    conv(&d.two_av_sent),
                    state.two_av_sent[a.index()]
                )));
            }
            let spec_conn: BTreeSet<(LearnerId, LearnerId)> =
                state.connected_pairs(a).into_iter().collect();
            if core_conn != spec_conn {
                return Err(mismatch(format!(
                    "connected[{a}]: core {core_conn:?}, spec {spec_conn:?}"
                )));
            }
        }
        Ok(())
    }

    /// The learner's decisions for every slot equal `decision[l, *]`.
    pub fn check_learner(&self, lrn: &Learner) -> Result<(), RefinementError> {
        let l = lrn.id();
        for (slot, sp) in &self.slots {
            let core: BTreeSet<(Ballot, Value)> =
                lrn.decisions(*slot).map(|(b, v)| (b, v.clone())).collect();
            let spec: BTreeSet<(Ballot, Value)> = sp
                .state
                .decision
                .iter()
                .filter(|(ll, _, _)| *ll == l)
                .map(|(_, b, v)| (*b, v.clone()))
                .collect();
            if core != spec {
                return Err(RefinementError::Mismatch {
                    slot: *slot,
                    who: format!("learner {l}"),
                    detail: format!("decision[{l}, *]: core {core:?}, spec {spec:?}"),
                });
            }
        }
        Ok(())
    }
}

/// The spec record of a core vote.
pub fn spec_vote(v: &hpaxos_core::Vote) -> Vote<Value> {
    Vote {
        lr: v.lr,
        bal: v.bal,
        val: v.val.clone(),
    }
}

/// The spec record of a core message (its slot dropped: one instance per slot).
pub fn spec_msg(m: &Message) -> Msg<Value> {
    match m {
        Message::M1a(m) => Msg::M1a {
            lr: m.lr,
            bal: m.bal,
        },
        Message::M1b(m) => Msg::M1b {
            lr: m.lr,
            acc: m.acc,
            bal: m.bal,
            votes: m.votes.iter().map(spec_vote).collect(),
            proposals: m.proposals.iter().map(spec_vote).collect(),
        },
        Message::M1c(m) => Msg::M1c {
            lr: m.lr,
            bal: m.bal,
            val: m.val.clone(),
        },
        Message::M2av(m) => Msg::M2av {
            lr: m.lr,
            acc: m.acc,
            bal: m.bal,
            val: m.val.clone(),
        },
        Message::M2b(m) => Msg::M2b {
            lr: m.lr,
            acc: m.acc,
            bal: m.bal,
            val: m.val.clone(),
        },
    }
}
