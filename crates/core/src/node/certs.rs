//! Decision certificates a node keeps and serves: the proofs (signed
//! frames) of 2b messages of slots not yet decided, and, per decided slot
//! of every learner the node runs or follows, the quorum of 2b behind the
//! decision. Part of [`super::NodeCore`]; a lagging peer's `SyncRequest`
//! is answered from here.

use crate::ids::{AcceptorId, Ballot, LearnerId, Slot};
use crate::msg::Msg2b;
use std::collections::BTreeMap;

/// Certificates kept per learner followed.
pub const CERTS_KEPT: usize = 4096;

type Key2b = (Slot, LearnerId, Ballot, AcceptorId);
/// A certificate: the quorum's 2b, each with its proof once known.
type Cert<P> = Vec<(Msg2b, Option<P>)>;

/// The store; `P` is the proof of one 2b (its signed frame).
#[derive(Clone, Debug)]
pub struct CertStore<P> {
    /// Proofs of 2b messages of slots not yet decided for their learner.
    pending: BTreeMap<Key2b, (Msg2b, P)>,
    /// Per decided slot, the quorum of 2b and their proofs; a proof is
    /// missing until it is known (the node's own 2b gets its proof, its
    /// signed frame, only when the driver sends it).
    certs: BTreeMap<(LearnerId, Slot), Cert<P>>,
    followed: usize,
    /// Certificates kept per learner followed ([`CERTS_KEPT`] unless set
    /// with [`CertStore::keeping`]).
    kept: usize,
}

impl<P: Clone> CertStore<P> {
    pub fn new(followed: usize) -> CertStore<P> {
        CertStore {
            pending: BTreeMap::new(),
            certs: BTreeMap::new(),
            followed: followed.max(1),
            kept: CERTS_KEPT,
        }
    }

    /// Keeps `kept` certificates per learner followed (at least one).
    pub fn keeping(mut self, kept: usize) -> CertStore<P> {
        self.kept = kept.max(1);
        self
    }

    /// Keeps the proof of a 2b (filling in a filed certificate's gap, or
    /// for a slot its learner has not decided here yet).
    pub fn note(&mut self, m: &Msg2b, proof: P) {
        if let Some(c) = self.certs.get_mut(&(m.lr, m.slot)) {
            for (b, p) in c.iter_mut() {
                if p.is_none() && b.acc == m.acc && b.bal == m.bal && b.val == m.val {
                    *p = Some(proof);
                    return;
                }
            }
            return;
        }
        self.pending
            .entry((m.slot, m.lr, m.bal, m.acc))
            .or_insert_with(|| (m.clone(), proof));
    }

    /// Files the certificate of a decision (from the learner's quorum of
    /// 2b) and drops the slot's other pending proofs of that learner.
    pub fn decided(&mut self, lr: LearnerId, slot: Slot, cert: &[Msg2b]) {
        let with_proofs: Cert<P> = cert
            .iter()
            .map(|b| {
                let p = self
                    .pending
                    .get(&(b.slot, b.lr, b.bal, b.acc))
                    .filter(|(m, _)| m.val == b.val)
                    .map(|(_, p)| p.clone());
                (b.clone(), p)
            })
            .collect();
        let lo = (slot, lr, Ballot(0), AcceptorId(0));
        let hi = (slot, lr, Ballot(u64::MAX), AcceptorId(u16::MAX));
        let keys: Vec<Key2b> = self.pending.range(lo..=hi).map(|(k, _)| *k).collect();
        for k in keys {
            self.pending.remove(&k);
        }
        self.certs.insert((lr, slot), with_proofs);
        if self.certs.len() > self.kept * self.followed {
            let oldest = self
                .certs
                .range((lr, Slot(0))..=(lr, Slot(u64::MAX)))
                .next()
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.certs.remove(&k);
            }
        }
    }

    /// Up to `limit` certificates of `lr` from `from` on, within `budget`
    /// proofs in all. A certificate is served with the 2b whose proofs are
    /// known, when those still form a quorum (`is_quorum`).
    pub fn serve(
        &self,
        lr: LearnerId,
        from: Slot,
        limit: usize,
        budget: usize,
        is_quorum: impl Fn(&[Msg2b]) -> bool,
    ) -> Vec<Vec<(Msg2b, P)>> {
        let mut out = Vec::new();
        let mut n = 0;
        for (_, c) in self.certs.range((lr, from)..=(lr, Slot(u64::MAX))) {
            if out.len() >= limit {
                break;
            }
            let known: Vec<(Msg2b, P)> = c
                .iter()
                .filter_map(|(m, p)| p.clone().map(|p| (m.clone(), p)))
                .collect();
            let msgs: Vec<Msg2b> = known.iter().map(|(m, _)| m.clone()).collect();
            if !is_quorum(&msgs) {
                continue;
            }
            n += known.len();
            if n > budget && !out.is_empty() {
                break;
            }
            out.push(known);
        }
        out
    }

    /// Every 2b (with its proof) held for slots in `[from, to)`, pending
    /// or in a certificate, at most `budget` of them, lowest slots first:
    /// the answer to a new leader's vote query.
    pub fn votes_in(&self, from: Slot, to: Slot, budget: usize) -> Vec<(Msg2b, P)> {
        if to <= from {
            return Vec::new();
        }
        let lo = (from, LearnerId(0), Ballot(0), AcceptorId(0));
        let hi = (to, LearnerId(0), Ballot(0), AcceptorId(0));
        let mut out: Vec<(Msg2b, P)> = self
            .pending
            .range(lo..hi)
            .map(|(_, (m, p))| (m.clone(), p.clone()))
            .take(budget)
            .collect();
        for ((_, slot), c) in &self.certs {
            if *slot < from || *slot >= to {
                continue;
            }
            for (m, p) in c {
                if let Some(p) = p {
                    out.push((m.clone(), p.clone()));
                }
            }
        }
        out.sort_by_key(|(m, _)| (m.slot, m.lr, m.bal, m.acc));
        out.truncate(budget);
        out
    }

    /// Forgets proofs of slots below `below` (certificates stay: lagging
    /// peers may still need them).
    pub fn compact(&mut self, below: Slot) {
        self.pending = self
            .pending
            .split_off(&(below, LearnerId(0), Ballot(0), AcceptorId(0)));
    }

    pub fn held(&self) -> usize {
        self.certs.len()
    }
}
