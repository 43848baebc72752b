//! Symmetry reduction: one state per orbit of the permutations of
//! interchangeable safe acceptors (issue 12, item 2).
//!
//! Where it sits: [`crate::search`] asks [`CheckModel::key`] for the key of
//! each state it visits; with a [`Symmetry`] the key is the least
//! fingerprint of the state's images under the group computed here from the
//! configuration, so the visited table holds one entry per orbit.
//!
//! **The group.** Permutations `p` of the acceptors that fix every fake
//! acceptor, keep the order of each safe acceptor relative to each fake one
//! (`a < f` iff `p(a) < f`: the core breaks some ties by acceptor order, so
//! a permutation may only reorder safe acceptors among themselves), map the
//! `--restart` set to itself, and leave the trust alone: for every set `S`
//! of acceptors and all learners, `is_quorum(l, S) = is_quorum(l, p(S))`
//! and `entangled(l1, l2, S) = entangled(l1, l2, p(S))` (the core reads the
//! configuration only through these two). Learners, proposers, ballots and
//! values are fixed: each proposer has its own value, so no value
//! permutation maps an instance with proposers to itself. For the classic
//! cluster with one fake (`data/classic.toml --fake a4`) the group is all 6
//! permutations of a1, a2, a3; most CI instances have one safe acceptor (or
//! an asymmetric trust) and only the identity.
//!
//! **The image of a state.** A message's image renames its `acc`; a set of
//! message ids maps id by id (images are interned on first use). An
//! actor's image is found by replaying the actor's own history (the
//! messages it handled, its ballot changes, the durable records it restarted
//! from; see [`crate::model::Ev`]) with every message renamed, on a fresh
//! actor of the renamed id: the core is deterministic and reads acceptor ids
//! only as set members and through the trust, so this is the renamed actor
//! (durable records hold no acceptor id). Images of actors are memoised by
//! the actor's hash. The refinement monitor's image renames the spec
//! state's per-acceptor vectors and messages
//! ([`crate::monitor::Monitor::fingerprint_permuted`]).
//!
//! **Why it is exact.** The transition relation commutes with every
//! permutation of the group (`s -> t` iff `p(s) -> p(t)`), and `safety`,
//! `decided` and `refinement` only read learners' decisions (fixed) and the
//! monitor's verdict (renamed with the state), so a state satisfies them iff
//! its images do: exploring one state per orbit visits every orbit and finds
//! a violation iff the full search does. The path to a violation is a real
//! path (the explorer keeps states, only the table holds keys), so traces
//! replay as before. `tests/symmetry.rs` checks the premise on every
//! instance: the number of orbits among the states of the full search equals
//! the number of states the reduced search visits, and verdicts agree.
//!
//! **Sleep sets compose with it** ([`crate::search`]): the table keeps a
//! state's sleep set renamed by [`Symmetry::canonical_with`]'s permutation
//! into the names of the orbit's representative ([`Symmetry::rename_actions`]),
//! so that any member of the orbit can compare its own.

use crate::instance::{Instance, SLOT};
use crate::intern::{Bits, MsgId};
use crate::model::{CheckModel, Ev, Node, Role, SysState};
use hpaxos_core::{AccSet, Acceptor, AcceptorId, Effects, Learner, Message, Proposer};
use std::collections::HashMap;
use std::sync::Mutex;

/// A permutation of the acceptors: `img[a]` is the image of acceptor `a`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Perm {
    pub img: Vec<AcceptorId>,
}

impl Perm {
    pub fn apply(&self, a: AcceptorId) -> AcceptorId {
        self.img.get(a.index()).copied().unwrap_or(a)
    }

    pub fn is_identity(&self) -> bool {
        self.img.iter().enumerate().all(|(i, a)| a.index() == i)
    }

    fn apply_mask(&self, mask: u32) -> u32 {
        let mut out = 0u32;
        for (i, a) in self.img.iter().enumerate() {
            if mask & (1 << i) != 0 {
                out |= 1 << a.index();
            }
        }
        out
    }

    /// The image of a core message (its `acc` renamed).
    pub fn message(&self, m: &Message) -> Message {
        let mut m = m.clone();
        match &mut m {
            Message::M1a(_) | Message::M1c(_) | Message::M1aRange(_) => {}
            Message::M1bRange(b) => b.acc = self.apply(b.acc),
            Message::M1b(b) => b.acc = self.apply(b.acc),
            Message::M2av(x) => x.acc = self.apply(x.acc),
            Message::M2b(x) => x.acc = self.apply(x.acc),
        }
        m
    }
}

/// Largest instances whose group is searched: subsets of at most this many
/// acceptors are enumerated for the trust test, permutations of at most
/// `MAX_SAFE` safe acceptors.
const MAX_ACCEPTORS: usize = 14;
const MAX_SAFE: usize = 7;

/// The permutations that map the instance to itself (identity first). Only
/// the identity when the instance is too large to search.
pub fn group(inst: &Instance) -> Vec<Perm> {
    let n = inst.trust.n_acceptors();
    let identity = Perm {
        img: inst.trust.acceptors().collect(),
    };
    if n > MAX_ACCEPTORS || inst.safe_ids.len() > MAX_SAFE || inst.safe_ids.len() < 2 {
        return vec![identity];
    }
    let set = |mask: u32| -> AccSet {
        (0..n)
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| AcceptorId(i as u16))
            .collect()
    };
    let learners: Vec<_> = inst.trust.learners().collect();
    let subsets = 1u32 << n;
    // The trust's two predicates, tabulated over every subset.
    let mut tables: Vec<Vec<bool>> = Vec::new();
    for &l in &learners {
        tables.push(
            (0..subsets)
                .map(|m| inst.trust.is_quorum(l, &set(m)))
                .collect(),
        );
        for &l2 in &learners {
            tables.push(
                (0..subsets)
                    .map(|m| inst.trust.entangled(l, l2, &set(m)))
                    .collect(),
            );
        }
    }
    let fakes: Vec<AcceptorId> = inst.opts.fake.iter().collect();
    let restart = inst.opts.restart;
    let mut out = vec![identity.clone()];
    for order in permutations(&inst.safe_ids) {
        let mut img = identity.img.clone();
        for (from, to) in inst.safe_ids.iter().zip(order.iter()) {
            img[from.index()] = *to;
        }
        let p = Perm { img };
        if p.is_identity() {
            continue;
        }
        let keeps_order = inst
            .safe_ids
            .iter()
            .all(|a| fakes.iter().all(|f| (*a < *f) == (p.apply(*a) < *f)));
        let keeps_restart = restart.iter().all(|a| restart.contains(p.apply(a)));
        let keeps_trust = keeps_order
            && keeps_restart
            && tables
                .iter()
                .all(|t| (0..subsets).all(|m| t[m as usize] == t[p.apply_mask(m) as usize]));
        if keeps_trust {
            out.push(p);
        }
    }
    out
}

/// Every ordering of `xs` (Heap's algorithm).
fn permutations(xs: &[AcceptorId]) -> Vec<Vec<AcceptorId>> {
    fn go(k: usize, a: &mut Vec<AcceptorId>, out: &mut Vec<Vec<AcceptorId>>) {
        if k <= 1 {
            out.push(a.clone());
            return;
        }
        go(k - 1, a, out);
        for i in 0..k - 1 {
            if k.is_multiple_of(2) {
                a.swap(i, k - 1);
            } else {
                a.swap(0, k - 1);
            }
            go(k - 1, a, out);
        }
    }
    let mut a = xs.to_vec();
    let mut out = Vec::new();
    go(a.len(), &mut a, &mut out);
    out
}

/// Memoised images: of message ids per permutation, of actors by hash.
#[derive(Debug)]
struct Cache {
    /// `ids[p][id]`: the id of the image of message `id` (`u32::MAX`: not yet).
    ids: Vec<Vec<u32>>,
    /// `(actor hash, permutation) -> image actor's hash`.
    nodes: HashMap<(u64, u16), u64, ahash::RandomState>,
    /// `(role hash, permutation) -> image role's hash` (a replay saved).
    roles: HashMap<(u64, u16), u64, ahash::RandomState>,
}

/// Entries of the actor memo above which it is cleared (a memory bound).
const MAX_MEMO: usize = 1 << 22;

/// The group of an instance and the memo of images.
#[derive(Debug)]
pub struct Symmetry {
    pub perms: Vec<Perm>,
    /// `inverses[k]`: the index of the inverse of `perms[k]`.
    inverses: Vec<usize>,
    cache: Mutex<Cache>,
}

impl Symmetry {
    pub fn new(perms: Vec<Perm>) -> Symmetry {
        let n = perms.len();
        let inverses = perms
            .iter()
            .map(|p| {
                perms
                    .iter()
                    .position(|q| {
                        p.img
                            .iter()
                            .enumerate()
                            .all(|(x, px)| q.apply(*px).index() == x)
                    })
                    .unwrap_or(0)
            })
            .collect();
        Symmetry {
            perms,
            inverses,
            cache: Mutex::new(Cache {
                ids: vec![Vec::new(); n],
                nodes: HashMap::default(),
                roles: HashMap::default(),
            }),
        }
    }

    /// Bytes held by the memo of images (beside the visited table).
    pub fn memo_bytes(&self) -> u64 {
        let c = self.cache();
        let node = (std::mem::size_of::<((u64, u16), u64)>() + 1) as u64;
        (c.nodes.capacity() + c.roles.capacity()) as u64 * node
            + c.ids.iter().map(|v| v.capacity() as u64 * 4).sum::<u64>()
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        match self.cache.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        }
    }

    /// The least fingerprint of the images of `s`.
    pub fn canonical(&self, model: &CheckModel, s: &SysState) -> u64 {
        self.canonical_with(model, s).0
    }

    /// The least fingerprint of the images of `s`, and the index of the
    /// first permutation (in group order, the identity first) whose image
    /// of `s` has it: the map from `s` to its orbit's representative.
    pub fn canonical_with(&self, model: &CheckModel, s: &SysState) -> (u64, usize) {
        let mut best = (model.plain_key(s), 0);
        let mut c = self.cache();
        for k in 1..self.perms.len() {
            let f = self.image_fingerprint(&mut c, model, s, k);
            if f < best.0 {
                best = (f, k);
            }
        }
        best
    }

    /// The index of the inverse of permutation `k` (the group is closed
    /// under inverses: the conditions of [`group`] are).
    pub fn inverse(&self, k: usize) -> usize {
        self.inverses.get(k).copied().unwrap_or(0)
    }

    /// The images of actions under permutation `k`, each given by its
    /// actor (an index of [`SysState::nodes`]) and message, if any: an
    /// acceptor actor goes to the actor of its image acceptor, learners and
    /// proposers are fixed, a message id goes to its image's id.
    pub fn rename_actions(
        &self,
        model: &CheckModel,
        acts: &[(usize, Option<MsgId>)],
        k: usize,
    ) -> Vec<(usize, Option<MsgId>)> {
        let safe = &model.inst.safe_ids;
        let p = &self.perms[k.min(self.perms.len() - 1)];
        let mut c = self.cache();
        acts.iter()
            .map(|&(i, m)| {
                let to = match safe.get(i) {
                    Some(a) => {
                        let img = p.apply(*a);
                        safe.iter().position(|x| *x == img).unwrap_or(i)
                    }
                    None => i,
                };
                (to, m.map(|id| self.id(&mut c, model, id, k)))
            })
            .collect()
    }

    /// The fingerprint of the image of `s` under permutation `k`, hashed
    /// exactly as [`crate::model::fingerprint`] hashes a state.
    fn image_fingerprint(&self, c: &mut Cache, model: &CheckModel, s: &SysState, k: usize) -> u64 {
        let p = &self.perms[k];
        let safe = &model.inst.safe_ids;
        let mut hashes = [0u64; 16];
        let mut hashes_vec = Vec::new();
        let hs: &mut [u64] = if s.nodes.len() <= hashes.len() {
            &mut hashes[..s.nodes.len()]
        } else {
            hashes_vec.resize(s.nodes.len(), 0);
            &mut hashes_vec
        };
        for (i, node) in s.nodes.iter().enumerate() {
            let to = if i < safe.len() {
                let a = p.apply(safe[i]);
                safe.iter().position(|x| *x == a).unwrap_or(i)
            } else {
                i
            };
            hs[to] = self.node_image_hash(c, model, i, node, k);
        }
        let sent = self.bits(c, model, &s.sent, k);
        let mon = s.monitor.as_ref().map(|m| m.fingerprint_permuted(&p.img));
        crate::model::combine(hs.iter().copied(), &sent, mon)
    }

    /// The image of a set of message ids under permutation `k`.
    fn bits(&self, c: &mut Cache, model: &CheckModel, b: &Bits, k: usize) -> Bits {
        let mut out = Bits::default();
        for id in b.iter() {
            out.insert(self.id(c, model, id, k));
        }
        out
    }

    fn id(&self, c: &mut Cache, model: &CheckModel, id: MsgId, k: usize) -> MsgId {
        let i = id.0 as usize;
        if let Some(&x) = c.ids[k].get(i).filter(|x| **x != u32::MAX) {
            return MsgId(x);
        }
        let Some(m) = model.interner.get(id) else {
            return id;
        };
        let img = self.perms[k].message(&m);
        let to = model.interner.intern(&img, |m| model.route(m));
        let v = &mut c.ids[k];
        if v.len() <= i {
            v.resize(i + 1, u32::MAX);
        }
        v[i] = to.0;
        to
    }

    /// The hash of the image of actor `i` (state `node`) under `k`.
    fn node_image_hash(
        &self,
        c: &mut Cache,
        model: &CheckModel,
        i: usize,
        node: &Node,
        k: usize,
    ) -> u64 {
        let key = (node.hash(), k as u16);
        if let Some(h) = c.nodes.get(&key) {
            return *h;
        }
        let role_key = (node.cached_role_hash(), k as u16);
        // With `--dead on`, a prunable acceptor's image is hashed by its
        // live part (`crate::dead`): the memo of roles then holds live
        // hashes (the mode is fixed for the model's life).
        let pruned = match &node.role {
            Role::Acceptor(a) => model.dead && a.prunable(),
            _ => false,
        };
        let role_hash = match c.roles.get(&role_key) {
            Some(h) => *h,
            None => {
                let img = self.replay(model, i, node, k);
                let h = match &img {
                    Role::Acceptor(a) if pruned => crate::dead::live_role_hash(a),
                    _ => Node::role_hash_of(&img),
                };
                c.roles.insert(role_key, h);
                h
            }
        };
        let h = match &node.role {
            Role::Acceptor(a) if pruned => {
                let live = crate::dead::live_delivered(model, a, &node.delivered);
                let delivered = self.bits(c, model, &live, k);
                crate::dead::combine(
                    role_hash,
                    &delivered,
                    !node.delivered.is_empty(),
                    &node.durable,
                    node.restarts_left,
                )
            }
            _ => {
                let delivered = self.bits(c, model, &node.delivered, k);
                Node::hash_of(role_hash, &delivered, &node.durable, node.restarts_left)
            }
        };
        if c.nodes.len() >= MAX_MEMO {
            c.nodes.clear();
        }
        if c.roles.len() >= MAX_MEMO {
            c.roles.clear();
        }
        c.nodes.insert(key, h);
        h
    }

    /// Actor `i`'s history replayed with every message renamed by `k`.
    fn replay(&self, model: &CheckModel, i: usize, node: &Node, k: usize) -> Role {
        let p = &self.perms[k];
        let inst = &model.inst;
        let t = &inst.trust;
        // Oldest first, from the last restart.
        let mut evs: Vec<&Ev> = Vec::new();
        let mut h = node.hist.as_deref();
        while let Some(x) = h {
            evs.push(&x.ev);
            if matches!(x.ev, Ev::Restored(_)) {
                break;
            }
            h = x.prev.as_deref();
        }
        evs.reverse();
        let mut fx = Effects::default();
        let mut role = match &node.role {
            Role::Acceptor(a) => {
                let id = p.apply(a.id());
                match evs.first() {
                    Some(Ev::Restored(d)) => Role::Acceptor(Acceptor::restore(
                        id,
                        t.clone(),
                        inst.opts.acceptor_options(),
                        (**d).clone(),
                    )),
                    _ => Role::Acceptor(Acceptor::new(id, t.clone(), inst.opts.acceptor_options())),
                }
            }
            Role::Learner(_) => {
                let l = hpaxos_core::LearnerId((i - model.first_learner()) as u16);
                Role::Learner(Learner::new(l, t.clone()))
            }
            Role::Proposer { plan, .. } => {
                let mut pr = Proposer::new(t.clone());
                if let Some(pl) = inst.plans.get(*plan) {
                    if let Some(&b) = pl.ballots.first() {
                        pr.start(SLOT, &pl.learners, b, pl.value.clone(), &mut fx);
                    }
                }
                Role::Proposer {
                    plan: *plan,
                    next: 1,
                    p: pr,
                }
            }
        };
        for ev in evs {
            match ev {
                Ev::Restored(_) => {}
                Ev::Msg(id) => {
                    let Some(m) = model.interner.get(*id) else {
                        continue;
                    };
                    let m = p.message(&m);
                    model.handle(&mut role, &m, &mut fx);
                }
                Ev::NextBallot => model.next_ballot(&mut role, &mut fx),
            }
            fx = Effects::default();
        }
        role
    }
}

/// The size of `inst`'s group (1: no permutation but the identity).
pub fn group_size(inst: &Instance) -> usize {
    group(inst).len()
}
