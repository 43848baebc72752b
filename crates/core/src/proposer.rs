//! The proposer: `Phase1a` and `Phase1c`.
//!
//! The spec puts no guard on either (anyone may send a 1a or a 1c); safety
//! rests entirely on the acceptors' `KnowsSafeAt`. For progress, a proposer
//! runs one ballot for a set of learners at once (same slot and ballot),
//! collects their 1b messages, and announces **one value per ballot**, safe
//! for every learner of the round that has a quorum (`KnowsSafeAt` computed
//! with every pair connected, the strictest view, so any acceptor's view
//! accepts it too), preferring the value of the highest vote any 1b
//! reports. It waits for every learner of the round, except those
//! *suspected down*: a learner whose quorum did not answer before the
//! round's first timeout (`retransmit`) is not waited for again until one
//! of its quorums answers, so a learner whose quorums are down holds back
//! another only for one timeout, once. Announcing two values in one ballot
//! (one per learner) is what the simulator showed to be fatal: learner A
//! decides `x` at `b` with a quorum that avoids the voters of an earlier
//! `y`, entangled learner B's quorums all include those voters, and from
//! then on B sees A's votes at `b` and has none of its own proposals
//! there, for ever.
//! A *pinned* round (a learner retried at a ballot where another learner
//! voted or decided) announces exactly the given value, at once.
//! A proposer that announced a value at an earlier ballot of a slot
//! announces it again at the next one when it is safe (right after the
//! value of the highest vote reported): acceptors outside the new round's
//! quorum may have voted it.
//! When to start a ballot (timeouts, backoff, ballot ownership) is the
//! pacemaker's.

use crate::connected::Connected;
use crate::effects::{Effects, SpecAction};
use crate::ids::{Ballot, LearnerId, Slot};
use crate::ksa_index::OneBBucket;
use crate::msg::{Message, Msg1a, Msg1c};
use crate::trust::Trust;
use crate::value::Value;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Round {
    bal: Ballot,
    learners: Vec<LearnerId>,
    own: Value,
    /// Announce `own` only.
    pinned: bool,
    /// The value this proposer announced in its previous round of the
    /// slot, if any: announced again when safe (see [`Proposer::start_for`]).
    earlier: Option<Value>,
    one_b: BTreeMap<LearnerId, OneBBucket>,
    /// The same 1b indexed with every learner connected to itself only
    /// (the most lenient view an acceptor can reach by `Disconnect`), for
    /// the fallback of [`Proposer::announce`].
    one_b_own: BTreeMap<LearnerId, OneBBucket>,
    /// The 1c message sent per learner, once a value was found for it.
    announced: BTreeMap<LearnerId, Msg1c>,
    /// Phase 1 of this round ran as range Phase 1 ([`Proposer::start_ranged`]):
    /// a retransmission sends the 1c only.
    ranged: bool,
}

/// A proposer of all slots; at most one live ballot per slot.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Proposer {
    trust: Trust,
    all_connected: Connected,
    /// Each learner connected to itself only.
    own_connected: Connected,
    rounds: BTreeMap<Slot, Round>,
    /// Learners whose 1b quorum did not answer a round in time: rounds do
    /// not wait for them (until one of their quorums answers again).
    suspected: BTreeSet<LearnerId>,
}

impl Proposer {
    pub fn new(trust: Trust) -> Proposer {
        let n = trust.n_learners();
        let all_connected = Connected::all(n);
        let mut own_connected = Connected::all(n);
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    own_connected.remove(LearnerId(i as u16), LearnerId(j as u16));
                }
            }
        }
        Proposer {
            trust,
            all_connected,
            own_connected,
            rounds: BTreeMap::new(),
            suspected: BTreeSet::new(),
        }
    }

    /// The ballot currently run for `slot`, if any.
    pub fn ballot(&self, slot: Slot) -> Option<Ballot> {
        self.rounds.get(&slot).map(|r| r.bal)
    }

    /// The value announced for `slot` in the current ballot, if any.
    pub fn announced(&self, slot: Slot) -> Option<&Value> {
        self.rounds
            .get(&slot)
            .and_then(|r| r.announced.values().next())
            .map(|m| &m.val)
    }

    /// Forgets a slot (decided, or garbage-collected).
    pub fn finish(&mut self, slot: Slot) {
        self.rounds.remove(&slot);
    }

    /// Forgets every slot below `below` (garbage-collected by the node).
    pub fn compact(&mut self, below: Slot) {
        self.rounds = self.rounds.split_off(&below);
    }

    /// Slots with a round here.
    pub fn rounds(&self) -> usize {
        self.rounds.len()
    }

    /// Starts ballot `bal` of `slot` for `learners`, proposing `own` unless
    /// the 1b messages force another value: `Phase1a(l, bal)` for each.
    pub fn start(
        &mut self,
        slot: Slot,
        learners: &[LearnerId],
        bal: Ballot,
        own: Value,
        fx: &mut Effects,
    ) {
        self.start_for(slot, learners, bal, own, false, fx);
    }

    /// [`Proposer::start`], and with `pinned` the round announces `own` or
    /// nothing (a retry at the ballot another learner decided `own` in).
    pub fn start_for(
        &mut self,
        slot: Slot,
        learners: &[LearnerId],
        bal: Ballot,
        own: Value,
        pinned: bool,
        fx: &mut Effects,
    ) {
        let earlier = self.rounds.get(&slot).and_then(|r| {
            r.announced
                .values()
                .next()
                .map(|m| m.val.clone())
                .or_else(|| r.earlier.clone())
        });
        let learners = self.open_round(slot, learners, bal, &own, pinned, earlier, false);
        for &l in &learners {
            self.phase_1a(slot, l, bal, fx);
        }
        if pinned {
            // `Phase1c` has no guard. The value is the one some learner
            // voted or decided at `bal`, announced there already (unless
            // the vote is a Byzantine acceptor's invention; acceptors still
            // propose it only where `KnowsSafeAt` holds), so this 1c is
            // mostly a retry: a repeated 1c makes an acceptor send its 2av
            // and 2b again, which is how the pacemaker sees the learner's
            // proposals at `bal` when a first 2av was lost and no new 1b
            // comes (the acceptor's `maxBal` is `bal` already).
            for &l in &learners {
                self.phase_1c(slot, l, bal, own.clone(), fx);
            }
        }
    }

    /// Runs ballot `bal` of `slot` for `learners` on range Phase 1: the
    /// leadership's range 1b quorum of every learner reported nothing for
    /// the slot (`crate::range_proposer::RangeProposer::free_for`), so
    /// `KnowsSafeAt1` holds there for any value and `own` is announced at
    /// once, `Phase1c(l, bal, own)` for each learner: no per-slot 1a or
    /// 1b. The round is kept like any other, so that a retry at a higher
    /// ballot announces `own` again when safe (rule (b)).
    pub fn start_ranged(
        &mut self,
        slot: Slot,
        learners: &[LearnerId],
        bal: Ballot,
        own: Value,
        fx: &mut Effects,
    ) {
        let learners = self.open_round(slot, learners, bal, &own, false, None, true);
        for &l in &learners {
            self.phase_1c(slot, l, bal, own.clone(), fx);
        }
    }

    /// Replaces `slot`'s round by a new one at `bal` for the configured
    /// ones among `learners`, which it returns.
    #[allow(clippy::too_many_arguments)]
    fn open_round(
        &mut self,
        slot: Slot,
        learners: &[LearnerId],
        bal: Ballot,
        own: &Value,
        pinned: bool,
        earlier: Option<Value>,
        ranged: bool,
    ) -> Vec<LearnerId> {
        let learners: Vec<LearnerId> = learners
            .iter()
            .copied()
            .filter(|l| l.index() < self.trust.n_learners())
            .collect();
        self.rounds.insert(
            slot,
            Round {
                bal,
                learners: learners.clone(),
                own: own.clone(),
                pinned,
                earlier,
                one_b: BTreeMap::new(),
                one_b_own: BTreeMap::new(),
                announced: BTreeMap::new(),
                ranged,
            },
        );
        learners
    }

    /// Sends again the current ballot's 1a and 1c messages (after loss),
    /// and stops waiting for learners whose 1b quorum has not come (they
    /// are suspected down until one of their quorums answers again).
    pub fn retransmit(&mut self, slot: Slot, fx: &mut Effects) {
        if let Some(r) = self.rounds.get(&slot).filter(|r| r.ranged) {
            for m in r.announced.values() {
                fx.send.push(Message::M1c(m.clone()));
            }
            return;
        }
        let before = fx.send.len();
        self.announce(slot, true, fx);
        let fresh = fx.send.len() > before;
        let Some(r) = self.rounds.get(&slot) else {
            return;
        };
        if fresh {
            return;
        }
        for &l in &r.learners {
            fx.send.push(Message::M1a(Msg1a {
                slot,
                lr: l,
                bal: r.bal,
            }));
        }
        for m in r.announced.values() {
            fx.send.push(Message::M1c(m.clone()));
        }
    }

    /// Sends again, for each of `learners`, the 1a at an earlier ballot
    /// `b` of `slot` where a vote or decision for `v` was seen, and a 1c of
    /// `v` there (`Phase1a` and `Phase1c` have no guard): a pinned retry
    /// alongside a fresh ballot. Acceptors that have not taken a 1b at `b`
    /// take it, those that have answer the repeated 1c with the 2av and 2b
    /// they sent there, and so acceptors deferring a 1b above `b` learn
    /// when the learners' proposals at `b` are complete.
    pub fn refresh(
        &mut self,
        slot: Slot,
        learners: &[LearnerId],
        b: Ballot,
        v: Value,
        fx: &mut Effects,
    ) {
        for &l in learners {
            if l.index() >= self.trust.n_learners() {
                continue;
            }
            self.phase_1a(slot, l, b, fx);
            fx.action(|| SpecAction::Phase1c {
                slot,
                lr: l,
                bal: b,
                val: v.clone(),
            });
            fx.send.push(Message::M1c(Msg1c {
                slot,
                lr: l,
                bal: b,
                val: v.clone(),
            }));
        }
    }

    /// `Phase1a(l, b)`: `Send([type |-> "1a", lr |-> l, bal |-> b])` (no guard).
    pub fn phase_1a(&mut self, slot: Slot, l: LearnerId, b: Ballot, fx: &mut Effects) {
        fx.action(|| SpecAction::Phase1a {
            slot,
            lr: l,
            bal: b,
        });
        fx.send.push(Message::M1a(Msg1a {
            slot,
            lr: l,
            bal: b,
        }));
    }

    /// `Phase1c(l, b, v)`: `Send([type |-> "1c", lr |-> l, bal |-> b, val |-> v])` (no guard).
    pub fn phase_1c(&mut self, slot: Slot, l: LearnerId, b: Ballot, v: Value, fx: &mut Effects) {
        fx.action(|| SpecAction::Phase1c {
            slot,
            lr: l,
            bal: b,
            val: v.clone(),
        });
        let m = Msg1c {
            slot,
            lr: l,
            bal: b,
            val: v,
        };
        if let Some(r) = self.rounds.get_mut(&slot) {
            r.announced.insert(l, m.clone());
        }
        fx.send.push(Message::M1c(m));
    }

    /// Takes a 1b of the current ballot. Once every learner of the round
    /// that is not suspected down has 1b messages from which a value is
    /// safe for it, announces one value safe for all of them (one value per
    /// ballot: two values in one ballot for entangled learners can leave
    /// the one that did not decide with the other's votes and none of its
    /// own proposals, for ever). A learner that joins later gets the same
    /// value if it is safe for it.
    pub fn handle(&mut self, msg: &Message, fx: &mut Effects) {
        if let Message::M2av(m) = msg {
            self.on_2av(m, fx);
            return;
        }
        let Message::M1b(m) = msg else { return };
        let (na, nl) = (self.trust.n_acceptors(), self.trust.n_learners());
        let well_formed = m.acc.index() < na
            && m.votes
                .iter()
                .chain(m.proposals.iter())
                .all(|p| p.lr.index() < nl);
        if !well_formed {
            return;
        }
        let Some(r) = self.rounds.get_mut(&m.slot) else {
            return;
        };
        if m.bal != r.bal || !r.learners.contains(&m.lr) || r.announced.contains_key(&m.lr) {
            return;
        }
        let mut m = m.clone();
        m.canonicalize();
        let (lr, bal, slot) = (m.lr, m.bal, m.slot);
        r.one_b_own
            .entry(lr)
            .or_insert_with(|| OneBBucket::new(lr, bal))
            .insert(m.clone(), &self.own_connected);
        let bucket = r
            .one_b
            .entry(lr)
            .or_insert_with(|| OneBBucket::new(lr, bal));
        if !bucket.insert(m, &self.all_connected) {
            return;
        }
        self.announce(slot, false, fx);
    }

    /// A 2av below the round's ballot, received or relayed signed
    /// (`crate::node::relay`): its sender's proposal counts for the round's
    /// `KnowsSafeAt2` once its sender sent a 1b of the round, as at the
    /// acceptors (`OneBBucket::add_2av`), so the proposer finds the value
    /// they will find safe.
    fn on_2av(&mut self, m: &crate::msg::Msg2av, fx: &mut Effects) {
        if m.acc.index() >= self.trust.n_acceptors() {
            return;
        }
        let Some(r) = self.rounds.get_mut(&m.slot) else {
            return;
        };
        if m.bal >= r.bal || !r.learners.contains(&m.lr) || r.announced.contains_key(&m.lr) {
            return;
        }
        let (lr, bal) = (m.lr, r.bal);
        let own = r
            .one_b_own
            .entry(lr)
            .or_insert_with(|| OneBBucket::new(lr, bal))
            .add_2av(m.bal, &m.val, m.acc, &self.own_connected);
        let all = r
            .one_b
            .entry(lr)
            .or_insert_with(|| OneBBucket::new(lr, bal))
            .add_2av(m.bal, &m.val, m.acc, &self.all_connected);
        if own || all {
            self.announce(m.slot, false, fx);
        }
    }

    /// Announces what can be announced in `slot`'s round; with `anyway`
    /// (a timeout), the learners still without a quorum are suspected down
    /// and no longer waited for.
    fn announce(&mut self, slot: Slot, anyway: bool, fx: &mut Effects) {
        let Some(r) = self.rounds.get(&slot) else {
            return;
        };
        let quorate: Vec<LearnerId> = r
            .learners
            .iter()
            .copied()
            .filter(|l| {
                r.one_b.get(l).is_some_and(|b| {
                    b.knows_safe_at1(&self.trust) || !b.safe_by_proposals(&self.trust).is_empty()
                })
            })
            .collect();
        for l in &quorate {
            self.suspected.remove(l);
        }
        if anyway {
            for l in &r.learners {
                if !quorate.contains(l) {
                    self.suspected.insert(*l);
                }
            }
        }
        let waiting = r
            .learners
            .iter()
            .any(|l| !quorate.contains(l) && !self.suspected.contains(l));
        let pending: Vec<LearnerId> = quorate
            .iter()
            .copied()
            .filter(|l| !r.announced.contains_key(l))
            .collect();
        if pending.is_empty() || (waiting && r.announced.is_empty()) {
            if anyway && !r.pinned && r.announced.is_empty() && quorate.is_empty() {
                self.announce_own_view(slot, fx);
            }
            return;
        }
        let bal = r.bal;
        let chosen = match r.announced.values().next() {
            // One value per ballot: later learners get it or nothing.
            Some(m) => Some(m.val.clone()),
            None => self.choose_value(slot, &quorate),
        };
        let Some(v) = chosen else {
            if anyway && !r.pinned && r.announced.is_empty() {
                self.announce_own_view(slot, fx);
            }
            return;
        };
        if r.announced.is_empty() && !v.has_bytes() && !anyway && !r.pinned {
            // Only a value known by digest is safe so far (a 1b's vote or
            // proposals, maybe a Byzantine acceptor's, whose bytes may be
            // nowhere): wait for more 1b, which may make a value whose
            // bytes are here safe, until the round's timeout.
            return;
        }
        for l in pending {
            let safe = self
                .rounds
                .get(&slot)
                .and_then(|r| r.one_b.get(&l))
                .is_some_and(|b| b.knows_safe_at(&self.trust, &v));
            if safe {
                self.phase_1c(slot, l, bal, v.clone(), fx);
            }
        }
    }

    /// The fallback of a round that found no value safe with every pair
    /// connected, at its timeout: a value safe for the round's learners
    /// with each learner connected only to itself. Acceptors that took
    /// `Disconnect` (evidence that a pair is not entangled, for instance a
    /// Byzantine acceptor's two 1b) see exactly that; the others will not
    /// send a 2av for it, which costs nothing (`Phase1c` has no guard, and
    /// the round's ballot could announce nothing else). Without it, a
    /// learner whose 1b report another learner's votes for two values at
    /// one ballot (a Byzantine acceptor's split) is never announced a
    /// value again, although every acceptor has disconnected the pair.
    fn announce_own_view(&mut self, slot: Slot, fx: &mut Effects) {
        let Some(r) = self.rounds.get(&slot) else {
            return;
        };
        let bal = r.bal;
        let quorate: Vec<LearnerId> = r
            .learners
            .iter()
            .copied()
            .filter(|l| {
                r.one_b_own.get(l).is_some_and(|b| {
                    b.knows_safe_at1(&self.trust) || !b.safe_by_proposals(&self.trust).is_empty()
                })
            })
            .collect();
        let safe = |l: &LearnerId, v: &Value| {
            r.one_b_own
                .get(l)
                .is_some_and(|b| b.knows_safe_at(&self.trust, v))
        };
        let by_proposals = quorate
            .iter()
            .filter_map(|l| r.one_b_own.get(l))
            .flat_map(|b| b.safe_by_proposals(&self.trust));
        let Some(v) = r
            .earlier
            .clone()
            .into_iter()
            .chain(by_proposals)
            .chain(std::iter::once(r.own.clone()))
            .find(|v| quorate.iter().all(|l| safe(l, v)))
        else {
            return;
        };
        let to: Vec<LearnerId> = quorate.iter().copied().filter(|l| safe(l, &v)).collect();
        for l in to {
            self.phase_1c(slot, l, bal, v.clone(), fx);
        }
    }

    /// A value `KnowsSafeAt` accepts for every learner of `ls` from the
    /// round's 1b messages: the value of the highest vote any 1b of the
    /// round reports first (a value that may have been chosen), then
    /// proposals at the highest ballots (safe by `KnowsSafeAt2`, then the
    /// highest reported at all), then the proposer's own value (a pinned
    /// round: its own value only).
    fn choose_value(&self, slot: Slot, ls: &[LearnerId]) -> Option<Value> {
        let r = self.rounds.get(&slot)?;
        let safe = |v: &Value| {
            ls.iter().all(|l| {
                r.one_b
                    .get(l)
                    .is_some_and(|b| b.knows_safe_at(&self.trust, v))
            })
        };
        if r.pinned {
            return safe(&r.own).then(|| r.own.clone());
        }
        // Rule (b): a value this proposer announced at an earlier ballot of
        // the slot comes right after the highest vote. Some acceptors may
        // have voted it where this round's quorum does not show it, and a
        // learner entangled with one that decides another value here would
        // then need proposals for two values (one per ballot) for ever.
        let highest_vote = r
            .one_b
            .values()
            .flat_map(|b| b.msgs().iter().flat_map(|m| m.votes.iter()))
            .max_by_key(|v| v.bal)
            .map(|v| v.val.clone());
        let by_proposals = r
            .one_b
            .values()
            .flat_map(|b| b.safe_by_proposals(&self.trust));
        // Then the value of the highest proposal (2av) any 1b of the round
        // reports, for any learner: where `KnowsSafeAt1` holds any value is
        // safe, and a round run for some learners only (the others
        // suspected down) that announced a new value there would leave the
        // others, whose quorums may hold votes for the proposed value at
        // that ballot, unable to decide (their 1b then report votes for two
        // values: the fault harness's schedule ci, seed 1, stalled alice so).
        let highest_proposal = r
            .one_b
            .values()
            .flat_map(|b| b.msgs().iter().flat_map(|m| m.proposals.iter()))
            .max_by_key(|p| p.bal)
            .map(|p| p.val.clone());
        let candidates: Vec<Value> = highest_vote
            .into_iter()
            .chain(r.earlier.clone())
            .chain(by_proposals)
            .chain(highest_proposal)
            .chain(std::iter::once(r.own.clone()))
            .filter(|v| safe(v))
            .collect();
        // Values by digest (`crate::node::store`): the first candidate whose
        // bytes this proposer holds (its node fills them in from its
        // store), else the first one. A digest reported only in a 1b (a
        // Byzantine acceptor's invented vote) may have no bytes anywhere,
        // and no acceptor can propose a value without its bytes; any safe
        // value is a valid `Phase1c`.
        candidates
            .iter()
            .find(|v| v.has_bytes())
            .or(candidates.first())
            .cloned()
    }
}
