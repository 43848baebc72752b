//! Incremental `KnowsSafeAt` over one `(slot, learner, ballot)` bucket of 1b
//! messages: the acceptor's and proposer's index of the spec's
//! `S == {mm \in received[ac] : mm.type = "1b" /\ mm.lr = l /\ mm.bal = b}`.
//!
//! Each distinct 1b updates a few acceptor bitsets: the acceptors whose 1b
//! satisfies `KnowsSafeAt1`'s inner conjunct, and, per candidate `(c, v)`
//! (a proposal `(l, c, v)` with `c < b` seen in the bucket), the `WQ` and
//! `BQ` sets of `KnowsSafeAt2`. A query is then one quorum test per set. The
//! literal transcription in [`crate::safety`] is the reference; a property
//! test checks that both always agree. `Disconnect` changes the filter, so
//! the bucket is rebuilt from its messages then (a rare event).

use crate::accset::AccSet;
use crate::connected::Connected;
use crate::ids::{AcceptorId, Ballot, LearnerId};
use crate::msg::Msg1b;
use crate::trust::Trust;
use crate::value::{Digest, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Different 1b messages kept per sender in one bucket (the second one is
/// the proof of equivocation; more add nothing a safe acceptor needs).
pub const MAX_PER_SENDER: usize = 2;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Candidate {
    val: Value,
    /// Acceptors with a 1b proposing `(l, c, v)`: the `WQ` conjunct.
    wq: AccSet,
    /// Acceptors with a 1b whose connected votes are `=< c`, those at `c`
    /// for `v`: the `BQ` conjunct.
    bq: AccSet,
}

/// The 1b messages received for one `(l, b)`, with `KnowsSafeAt` indexes.
///
/// Equality and hashing treat the bucket as the set `S` of the spec: arrival
/// order (kept in `msgs`) does not change any answer, so two buckets with the
/// same messages compare equal (the model checker relies on this).
#[derive(Clone, Debug)]
pub struct OneBBucket {
    l: LearnerId,
    b: Ballot,
    msgs: Vec<Msg1b>,
    distinct: BTreeSet<Msg1b>,
    /// Acceptors with a 1b satisfying `KnowsSafeAt1`'s inner conjunct.
    ksa1: AccSet,
    cands: BTreeMap<(Ballot, Digest), Candidate>,
    /// Senders of a 1b in this bucket.
    senders: AccSet,
    /// Proposals `(l, c, v)`, `c < b`, known from the 2av messages
    /// themselves rather than from a 1b ([`OneBBucket::add_2av`]).
    signed: BTreeMap<(Ballot, Digest), AccSet>,
}

impl PartialEq for OneBBucket {
    fn eq(&self, o: &OneBBucket) -> bool {
        // `msgs` holds exactly the members of `distinct`, in arrival order.
        self.l == o.l
            && self.b == o.b
            && self.distinct == o.distinct
            && self.ksa1 == o.ksa1
            && self.cands == o.cands
            && self.signed == o.signed
    }
}
impl Eq for OneBBucket {}
impl std::hash::Hash for OneBBucket {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.l.hash(h);
        self.b.hash(h);
        self.distinct.hash(h);
        self.ksa1.hash(h);
        self.cands.hash(h);
        self.signed.hash(h);
    }
}

/// `\A p \in {pp \in m.votes : <<pp.lr, l>> \in connected[ac]} : b =< p.bal`.
fn supports_ksa1(m: &Msg1b, conn: &Connected, l: LearnerId, b: Ballot) -> bool {
    mutant!(KnowsSafeAt1IgnoreVotes)
        || m.votes
            .iter()
            .filter(|p| conn.contains(p.lr, l))
            .all(|p| b <= p.bal)
}

/// `\A p \in {pp \in m.votes : <<pp.lr, l>> \in connected[ac]} :
///    p.bal =< c /\ (p.bal = c => p.val = v)`.
fn supports_bq(m: &Msg1b, conn: &Connected, l: LearnerId, c: Ballot, v: &Value) -> bool {
    m.votes.iter().filter(|p| conn.contains(p.lr, l)).all(|p| {
        (mutant!(KnowsSafeAt2VotesAboveC) || p.bal <= c)
            && (mutant!(KnowsSafeAt2AnyValueAtC) || p.bal != c || &p.val == v)
    })
}

/// Every vote of `a` is in `b` (both sorted).
fn within(a: &[crate::Vote], b: &[crate::Vote]) -> bool {
    a.iter().all(|p| b.binary_search(p).is_ok())
}

impl OneBBucket {
    pub fn new(l: LearnerId, b: Ballot) -> OneBBucket {
        OneBBucket {
            l,
            b,
            msgs: Vec::new(),
            distinct: BTreeSet::new(),
            ksa1: AccSet::EMPTY,
            cands: BTreeMap::new(),
            senders: AccSet::EMPTY,
            signed: BTreeMap::new(),
        }
    }

    /// The distinct 1b messages, in arrival order.
    pub fn msgs(&self) -> &[Msg1b] {
        &self.msgs
    }

    /// An earlier 1b from the same acceptor that no safe acceptor could
    /// have sent beside `m`, if any. A safe acceptor's 1b for (l, b) always
    /// reports the same votes (no vote below `b` can be cast once `maxBal`
    /// reached `b`), and proposals that only grow: with late `Phase2av`
    /// (`spec/HPaxosLate.tla`) a 2av below `b` may follow a 1b at `b`, and a
    /// 1b sent again at `b` then reports it. So two 1b prove their sender
    /// faulty only when their votes differ or neither's proposals contain
    /// the other's. (Both messages are canonical: sorted, deduplicated.)
    pub fn conflicting(&self, m: &Msg1b) -> Option<&Msg1b> {
        self.msgs.iter().find(|o| {
            o.acc == m.acc
                && *o != m
                && (o.votes != m.votes
                    || !(within(&o.proposals, &m.proposals) || within(&m.proposals, &o.proposals)))
        })
    }

    /// Adds a (canonical) 1b of this bucket; false if it was already there,
    /// or if its sender already has [`MAX_PER_SENDER`] different 1b here.
    ///
    /// The cap bounds what one Byzantine acceptor can make a bucket hold.
    /// It is sound: `KnowsSafeAt` is monotone in `S`, so deciding on a subset
    /// of the received 1b messages is stricter than the spec, never weaker;
    /// and two incompatible 1b from one sender already prove it faulty. A
    /// 1b with the same votes as an earlier one of its sender and a
    /// superset of its proposals (a safe acceptor's 1b sent again after a
    /// late 2av) replaces it: the earlier one supports nothing in
    /// `KnowsSafeAt1` or `KnowsSafeAt2` that the later one does not, and
    /// what it indexed stays valid for the later one.
    pub fn insert(&mut self, m: Msg1b, conn: &Connected) -> bool {
        if m.lr != self.l || m.bal != self.b || self.distinct.contains(&m) {
            return false;
        }
        let dominated =
            |o: &Msg1b| o.acc == m.acc && o.votes == m.votes && within(&o.proposals, &m.proposals);
        // The cap counts the sender's messages that stay; nothing is
        // dropped unless `m` goes in.
        let staying = self
            .msgs
            .iter()
            .filter(|o| o.acc == m.acc && !dominated(o))
            .count();
        if staying >= MAX_PER_SENDER {
            return false;
        }
        let distinct = &mut self.distinct;
        self.msgs.retain(|o| {
            let drop = dominated(o);
            if drop {
                distinct.remove(o);
            }
            !drop
        });
        self.distinct.insert(m.clone());
        self.senders.insert(m.acc);
        self.index(&m, conn);
        self.msgs.push(m);
        true
    }

    /// Records that `acc` sent the 2av `(l, c, v)` (received directly or
    /// relayed with its sender's signature), `c < b`: a proposal that
    /// counts towards `KnowsSafeAt2`'s `WQ` as soon as `acc` also sent a
    /// 1b in this bucket, whether or not that 1b reports it.
    ///
    /// Why that is a step of HPaxosLate (`spec/HPaxosLate.tla`): a 1b of
    /// `acc` at `b` means, if `acc` is safe, `maxBal[l, acc] >= b`, so
    /// `Phase1b(l, b, acc)` (at `maxBal = b`) or `Phase1bLate(l, b, acc)`
    /// (above) is enabled, and the 1b it sends reports every 2av of `acc`
    /// for `l` below `b`, this one included (`2avSent` only grows); its
    /// votes are those of every 1b of `acc` at `b` (no vote below `b`
    /// after `maxBal` reached it). If `acc` is fake, `FakeSend` may send
    /// that 1b. Either way the spec's `received[ac]` may hold a 1b of
    /// `acc` at `b` proposing `(l, c, v)`, which is all `WQ` asks. The
    /// acceptor records the step as `SpecAction::Recv1bOf` before the
    /// Phase2av that uses it, and the refinement checker replays it.
    /// The 1b's votes are not known here, so it supports nothing else
    /// (`BQ` and `KnowsSafeAt1` still come from the 1b received).
    pub fn add_2av(&mut self, c: Ballot, v: &Value, acc: AcceptorId, conn: &Connected) -> bool {
        if c >= self.b {
            return false;
        }
        let key = (c, v.digest());
        if !self.signed.entry(key).or_default().insert(acc) {
            return false;
        }
        self.candidate(c, v, conn);
        true
    }

    /// The candidate `(c, v)`, made with its `BQ` over the messages
    /// already indexed if it is new.
    fn candidate(&mut self, c: Ballot, v: &Value, conn: &Connected) -> &mut Candidate {
        let l = self.l;
        let msgs = &self.msgs;
        self.cands
            .entry((c, v.digest()))
            .or_insert_with(|| Candidate {
                val: v.clone(),
                wq: AccSet::EMPTY,
                bq: msgs
                    .iter()
                    .filter(|o| supports_bq(o, conn, l, c, v))
                    .map(|o| o.acc)
                    .collect(),
            })
    }

    /// `WQ` of a candidate: its 1b proposals, and the signed 2av of
    /// acceptors with a 1b here ([`OneBBucket::add_2av`]).
    fn wq(&self, key: &(Ballot, Digest), c: &Candidate) -> AccSet {
        match self.signed.get(key) {
            Some(s) => c.wq.union(&s.intersection(&self.senders)),
            None => c.wq,
        }
    }

    /// The acceptors whose proposal `(l, c, v)` a `KnowsSafeAt2` for `v`
    /// takes from their 2av rather than their 1b, with `c`: empty when
    /// `KnowsSafeAt1` holds or a candidate needs none. The acceptor records
    /// a `Recv1bOf` for each before its Phase2av.
    pub fn signed_support(&self, trust: &Trust, v: &Value) -> Vec<(Ballot, AcceptorId)> {
        if self.knows_safe_at1(trust) {
            return Vec::new();
        }
        for (key, c) in self.cands.iter().rev() {
            if &c.val != v || !trust.is_quorum(self.l, &c.bq) {
                continue;
            }
            if trust.is_quorum(self.l, &c.wq) {
                return Vec::new();
            }
            let wq = self.wq(key, c);
            if trust.is_quorum(self.l, &wq) {
                let extra = wq.difference(&c.wq);
                return extra.iter().map(|a| (key.0, a)).collect();
            }
        }
        Vec::new()
    }

    fn index(&mut self, m: &Msg1b, conn: &Connected) {
        let (l, b) = (self.l, self.b);
        if supports_ksa1(m, conn, l, b) {
            self.ksa1.insert(m.acc);
        }
        for p in m.proposals.iter().filter(|p| p.lr == l && p.bal < b) {
            // A new candidate gets its BQ over the messages already indexed.
            self.candidate(p.bal, &p.val, conn).wq.insert(m.acc);
        }
        for ((c, _), cand) in self.cands.iter_mut() {
            if supports_bq(m, conn, l, *c, &cand.val) {
                cand.bq.insert(m.acc);
            }
        }
    }

    /// Re-indexes every message under a changed `connected` (after `Disconnect`).
    pub fn rebuild(&mut self, conn: &Connected) {
        let msgs = std::mem::take(&mut self.msgs);
        self.ksa1 = AccSet::EMPTY;
        self.cands.clear();
        for m in &msgs {
            self.index(m, conn);
            self.msgs.push(m.clone());
        }
        let signed: Vec<(Ballot, Digest)> = self.signed.keys().copied().collect();
        for (c, d) in signed {
            self.candidate(c, &Value::from_digest(d), conn);
        }
    }

    /// `KnowsSafeAt1(l, ac, b, v)` (independent of `v`).
    pub fn knows_safe_at1(&self, trust: &Trust) -> bool {
        trust.is_quorum(self.l, &self.ksa1)
    }

    /// `KnowsSafeAt2(l, ac, b, v)`.
    pub fn knows_safe_at2(&self, trust: &Trust, v: &Value) -> bool {
        self.cands.iter().any(|(key, c)| {
            &c.val == v
                && (mutant!(KnowsSafeAt2NoProposalQuorum)
                    || trust.is_quorum(self.l, &self.wq(key, c)))
                && trust.is_quorum(self.l, &c.bq)
        })
    }

    /// `KnowsSafeAt(l, ac, b, v)`.
    pub fn knows_safe_at(&self, trust: &Trust, v: &Value) -> bool {
        #[cfg(feature = "mutations")]
        if crate::mutations::active(crate::mutations::Mutation::KnowsSafeAtAnySet) {
            return !self.msgs.is_empty();
        }
        self.knows_safe_at1(trust) || self.knows_safe_at2(trust, v)
    }

    /// Values `v` for which `KnowsSafeAt2` holds, highest `c` first (a
    /// proposer's choice when `KnowsSafeAt1` does not hold).
    pub fn safe_by_proposals(&self, trust: &Trust) -> Vec<Value> {
        self.cands
            .iter()
            .rev()
            .filter(|(key, c)| {
                trust.is_quorum(self.l, &self.wq(key, c)) && trust.is_quorum(self.l, &c.bq)
            })
            .map(|(_, c)| c.val.clone())
            .collect()
    }

    /// Acceptors that sent a 1b in this bucket.
    pub fn senders(&self) -> AccSet {
        self.senders
    }

    pub fn has_sender(&self, a: AcceptorId) -> bool {
        self.msgs.iter().any(|m| m.acc == a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::Vote;
    use crate::Slot;

    fn one_b(acc: u16, proposals: &[(u64, &str)]) -> Msg1b {
        let mut m = Msg1b {
            slot: Slot(0),
            lr: LearnerId(0),
            acc: AcceptorId(acc),
            bal: Ballot(5),
            votes: Vec::new(),
            proposals: proposals
                .iter()
                .map(|(b, v)| Vote {
                    lr: LearnerId(0),
                    bal: Ballot(*b),
                    val: Value::new(v.as_bytes().to_vec()),
                })
                .collect(),
        };
        m.canonicalize();
        m
    }

    /// HPaxosLate: a 1b sent again with more proposals replaces the one it
    /// contains and is no evidence; incompatible ones are evidence and
    /// count against the per-sender cap, and a refused 1b drops nothing.
    #[test]
    fn a_grown_1b_replaces_the_one_it_contains_and_the_cap_drops_nothing() {
        let conn = Connected::all(1);
        let mut b = OneBBucket::new(LearnerId(0), Ballot(5));
        assert!(b.insert(one_b(1, &[(1, "x")]), &conn));
        let grown = one_b(1, &[(1, "x"), (2, "y")]);
        assert!(b.conflicting(&grown).is_none());
        assert!(b.insert(grown.clone(), &conn));
        assert_eq!(b.msgs(), std::slice::from_ref(&grown));
        let other = one_b(1, &[(3, "z")]);
        assert!(b.conflicting(&other).is_some());
        assert!(b.insert(other.clone(), &conn));
        // A third that contains neither: refused (two of the sender's
        // messages stay), and nothing is dropped.
        assert!(!b.insert(one_b(1, &[(4, "w")]), &conn));
        assert_eq!(b.msgs(), &[grown.clone(), other.clone()][..]);
        // One that contains `other` replaces it, under the cap.
        let other_grown = one_b(1, &[(3, "z"), (4, "w")]);
        assert!(b.insert(other_grown.clone(), &conn));
        assert_eq!(b.msgs(), &[grown, other_grown][..]);
    }
}
