//! Step monitors: a checker of each model step that lives in the state.
//!
//! The refinement check is one: it keeps the spec's variables for the
//! run so far, and each step's recorded spec actions (from
//! [`hpaxos_core::Effects::recording`]) must be a spec step from them, with
//! every invariant holding after. Monitor state is part of the model state
//! (its fingerprint is hashed with the rest), so the check is exact: every
//! explored transition is checked from the monitor state of a path that
//! reaches it. When the monitor's state is a function of the implementation
//! state (as a refinement mapping is), this adds no states.

use crate::instance::{Instance, SLOT};
use crate::model::Role;
use hpaxos_core::{AcceptorId, Message, SpecAction};
use hpaxos_spec::Refinement;
use std::hash::{Hash, Hasher};

/// A per-path checker of model steps.
pub trait Monitor: std::fmt::Debug + Send + Sync {
    /// A hash of the monitor's state (equal states, equal fingerprints).
    fn fingerprint(&self) -> u64;
    /// The fingerprint of the monitor's image when acceptor `a` is renamed
    /// `img[a]` ([`crate::symmetry`]); equal to `fingerprint` for the
    /// identity.
    fn fingerprint_permuted(&self, img: &[AcceptorId]) -> u64;
    fn boxed_clone(&self) -> Box<dyn Monitor>;
    /// The fake acceptors' messages, all sent at the start.
    fn on_fake_sends(&mut self, msgs: &[Message]);
    /// The spec actions of one step, in the order the core took them.
    fn on_step(&mut self, actions: &[SpecAction]);
    /// The state of the actor a step changed (to compare with the mapping).
    fn on_node(&mut self, role: &Role);
    /// The first violation seen on this path, if any.
    fn violation(&self) -> Option<String>;
}

/// Makes the monitor of the initial state.
pub trait MonitorFactory: Send + Sync {
    fn start(&self, inst: &Instance) -> Box<dyn Monitor>;
    fn name(&self) -> &'static str;
}

/// The refinement check of `hpaxos-spec` as a monitor: every step's
/// recorded actions must be spec steps (guards checked on the reference
/// model), every conjunct of `FullSafetyInvariant` must hold after each, and
/// the changed acceptor's or learner's state must equal the mapped spec
/// variables. The fingerprint is the hash of the slot's spec state.
#[derive(Clone, Debug)]
pub struct RefinementMonitor {
    r: Refinement,
    error: Option<String>,
}

/// A fast hasher with fixed keys: fingerprints only need to agree within
/// a run (SipHash here was an eighth of the checker's time).
fn hasher() -> ahash::AHasher {
    use std::hash::BuildHasher;
    ahash::RandomState::with_seeds(0x6d6f, 0x6e69, 0x746f, 0x722e).build_hasher()
}

impl RefinementMonitor {
    /// The hash of the slot's spec state, with acceptors renamed by `img`
    /// when given: per-acceptor vectors are reordered (entry `a` moves to
    /// `img[a]`) and messages hashed with their `acc` renamed.
    fn hash_with(&self, img: Option<&[AcceptorId]>) -> u64 {
        use hpaxos_spec::msg::Msg;
        let mut h = hasher();
        self.error.hash(&mut h);
        let (Some(s), Some(model)) = (self.r.state(SLOT), self.r.model(SLOT)) else {
            return h.finish();
        };
        let ren = |a: AcceptorId| -> AcceptorId {
            img.and_then(|p| p.get(a.index()).copied()).unwrap_or(a)
        };
        let set = |ids: &hpaxos_spec::sets::IdSet| -> u64 {
            ids.iter()
                .map(|id| {
                    let mut e = hasher();
                    let m = model.msg(hpaxos_spec::msg::MsgId(id));
                    if img.is_some() {
                        let mut m = m.clone();
                        match &mut m {
                            Msg::M1b { acc, .. } | Msg::M2av { acc, .. } | Msg::M2b { acc, .. } => {
                                *acc = ren(*acc)
                            }
                            Msg::M1a { .. } | Msg::M1c { .. } => {}
                        }
                        m.hash(&mut e);
                    } else {
                        m.hash(&mut e);
                    }
                    e.finish()
                })
                .fold(0u64, u64::wrapping_add)
        };
        // Position `b` of the image holds the entry of the acceptor renamed `b`.
        let na = s.received.len();
        let mut from: Vec<usize> = (0..na).collect();
        for a in 0..na {
            let b = ren(AcceptorId(a as u16)).index();
            if b < na {
                from[b] = a;
            }
        }
        set(&s.msgs).hash(&mut h);
        for r in from.iter().filter_map(|a| s.received.get(*a)) {
            set(r).hash(&mut h);
        }
        for r in s.received_by_learner.iter() {
            set(r).hash(&mut h);
        }
        let nl = s.max_bal.len().checked_div(na).unwrap_or(0);
        let max_bal: Vec<_> = (0..nl * na)
            .filter_map(|i| s.max_bal.get((i / na) * na + from[i % na]))
            .collect();
        max_bal.hash(&mut h);
        fn by<'a, T>(v: &'a [T], from: &[usize]) -> Vec<&'a T> {
            from.iter().filter_map(|a| v.get(*a)).collect()
        }
        by(&s.votes_sent, &from).hash(&mut h);
        by(&s.two_av_sent, &from).hash(&mut h);
        by(&s.connected, &from).hash(&mut h);
        s.decision.hash(&mut h);
        h.finish()
    }

    fn fail(&mut self, e: impl std::fmt::Display) {
        if self.error.is_none() {
            self.error = Some(e.to_string());
        }
    }
}

impl Monitor for RefinementMonitor {
    /// Canonical: message sets are hashed by content (the reference model
    /// numbers messages in the order one path met them, so the ids of equal
    /// sets differ between paths).
    fn fingerprint(&self) -> u64 {
        self.hash_with(None)
    }

    fn fingerprint_permuted(&self, img: &[AcceptorId]) -> u64 {
        self.hash_with(Some(img))
    }

    fn boxed_clone(&self) -> Box<dyn Monitor> {
        Box::new(self.clone())
    }

    fn on_fake_sends(&mut self, msgs: &[Message]) {
        for m in msgs {
            if let Err(e) = self.r.fake_send(m) {
                self.fail(e);
            }
        }
    }

    fn on_step(&mut self, actions: &[SpecAction]) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.r.apply(actions) {
            self.fail(e);
        }
    }

    fn on_node(&mut self, role: &Role) {
        if self.error.is_some() {
            return;
        }
        let res = match role {
            Role::Acceptor(a) => self.r.check_acceptor(a),
            Role::Learner(l) => self.r.check_learner(l),
            Role::Proposer { .. } => Ok(()),
        };
        if let Err(e) = res {
            self.fail(e);
        }
    }

    fn violation(&self) -> Option<String> {
        self.error.clone()
    }
}

/// Starts a [`RefinementMonitor`] for the instance's trust and fake set.
#[derive(Clone, Copy, Debug, Default)]
pub struct RefinementCheck;

impl MonitorFactory for RefinementCheck {
    fn start(&self, inst: &Instance) -> Box<dyn Monitor> {
        // The slot's instance exists from the start, so that a range step
        // (`Options::range`) is taken in it at once and is part of the
        // fingerprint, never left in the replay list for later slots.
        let mut r = Refinement::new(&inst.trust, inst.opts.fake).with_late(inst.opts.late);
        let error = r.open(SLOT).err().map(|e| e.to_string());
        Box::new(RefinementMonitor { r, error })
    }

    fn name(&self) -> &'static str {
        "refinement"
    }
}
