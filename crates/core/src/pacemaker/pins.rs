//! What one proposer knows of a slot's votes (2b) and proposals (2av), and
//! the ballot a learner that has not decided the slot must be retried at.
//!
//! Where it sits: [`crate::node::NodeCore`] reports every admitted 2b (and
//! the votes a 1b reports) through [`super::Pacemaker::observe_vote`] and
//! every admitted 2av through [`super::Pacemaker::observe_proposal`]; they
//! land here, and the pacemaker's expiry asks [`choose`] which ballot to
//! run next. Nothing here touches safety (the spec puts no guard on
//! `Phase1a`/`Phase1c`); it decides only where a retry goes.
//!
//! # Why a learner is kept at a vote's ballot (rule (a))
//!
//! Let some learner have votes at ballot `c` of a slot, sent by a set `V`
//! of acceptors, and let `l` be a learner without its own proposals (2av of
//! `l`) at `c` from one of its quorums. If every quorum of `l` meets `V`,
//! every 1b quorum of `l` at a ballot `b > c` reports a vote at `c` or
//! above, so `KnowsSafeAt1(l, b, _)` fails and `KnowsSafeAt2(l, b, v)`
//! needs, for its `c' >= c`, proposals of `l` at `c'` from a quorum `WQ`:
//! at `c' = c` directly, and at a higher `c'` through the `KnowsSafeAt` of
//! `l`'s own 2av at `c'`, which asks the same again one level down. So `l`
//! can only ever decide once it has its proposals at `c`, and
//! `Phase2av(l, c, a, v)` needs `maxBal[l, a] =< c`: a `Phase1a(l, b)` with
//! `b > c` that reaches enough acceptors before those proposals exist
//! leaves `l` unable to decide the slot for ever (the simulator's and the
//! fault harness's stall). Hence: while such a `c` is known, `l` is only
//! sent `Phase1a(l, c)` (and the 1c of the value voted there), the lowest
//! such ballot first, and only once `l`'s proposals there were seen from a
//! quorum of `l` does the next vote ballot, or at last a fresh ballot,
//! follow.
//!
//! The pin on such a vote holds for as long as the proposals are not seen
//! (bounding it let a proposer whose pinned tries ran out while `l`'s
//! acceptors were paused send `Phase1a(l, b)` above the vote; delivered on
//! their return, it left `l` without proposals there for ever). The
//! proposer counts the 2av it receives and the proposals the 1b report.
//! The acceptors keep the rule too, for the proposers that do not know of
//! the vote: one that knows of it and not of `l`'s proposals there defers
//! `Phase1b(l, b)` ([`crate::acceptor::Acceptor::defers_1b`]), and the
//! proposer's fresh ballots re-send the 1a and 1c of the vote ballots
//! below them so that the 2av there reach those acceptors again.
//!
//! A vote whose voters do not meet every quorum of `l` (for the demo's
//! alice, any 4 of 5: a lone vote) is avoidable: `l` can be served at a
//! higher ballot by a quorum without its voters, and it may be a Byzantine
//! acceptor's 2b at a made-up ballot, which must not hold the slot for
//! ever. It pins for `pin_tries` attempts only. A decision at `c` pins like
//! a vote that meets every quorum.
//!
//! Two ways a pin cannot be served end it: once the acceptors seen
//! proposing another value for the learner at `c` leave too few to form
//! one of its quorums for the pinned value, and once [`STUCK_AFTER`] times
//! `pin_tries` pinned attempts were answered by a quorum of every missing
//! learner (1b at `c`) without the proposals following.

use crate::accset::AccSet;
use crate::ids::{AcceptorId, Ballot, LearnerId};
use crate::trust::Trust;
use crate::value::{Digest, Value};
use std::collections::BTreeMap;

/// A pin that meets every quorum is given up after this many times
/// `pin_tries` attempts that a quorum of every missing learner answered
/// (its 1b at the pinned ballot came) with no proposals following. Their
/// acceptors are up and took the 1a and 1c, so the proposals are not
/// coming: `KnowsSafeAt` fails for the value there, as when a Byzantine
/// acceptor broke the other learner's trust and the acceptors
/// disconnected the pair (its votes no longer bind this learner). A pin
/// whose acceptors are away (paused, partitioned) is never answered and
/// holds, which is what the rule is for.
pub(super) const STUCK_AFTER: u32 = 4;

/// Vote ballots remembered per slot (a Byzantine acceptor cannot grow it).
pub(super) const VOTE_BALLOTS_KEPT: usize = 8;
/// (ballot, learner) proposal sets remembered per slot.
const PROPOSAL_KEYS_KEPT: usize = 32;
/// Values whose proposers are remembered per (ballot, learner): more than
/// one only with competing 1c (or a Byzantine acceptor's 2av).
const VALUES_KEPT: usize = 4;

/// A vote (2b) ballot seen in a slot: its value and voters.
#[derive(Clone, Debug)]
struct Voted {
    val: Value,
    voters: AccSet,
}

/// Votes and proposals seen in one slot, bounded.
#[derive(Clone, Debug, Default)]
pub(super) struct SlotEvidence {
    /// The highest vote ballots, with the value and voters.
    votes: BTreeMap<Ballot, Voted>,
    /// The highest (ballot, learner) pairs at which 2av were seen, with
    /// the acceptors that sent them, per value.
    proposals: BTreeMap<(Ballot, LearnerId), BTreeMap<Digest, AccSet>>,
    /// Senders of 1b per (ballot, learner) since the last pinned attempt
    /// there, at pinned ballots only (those with votes).
    answers: BTreeMap<(Ballot, LearnerId), AccSet>,
}

/// Where a retry is pinned: `Phase1a(l, ballot)` and a 1c of `value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Pin {
    pub ballot: Ballot,
    pub value: Value,
}

impl SlotEvidence {
    /// A 2b of `acc` at `ballot` for `value` (a second value at one ballot,
    /// from a Byzantine acceptor, is ignored).
    pub fn vote(&mut self, ballot: Ballot, value: &Value, acc: AcceptorId) {
        match self.votes.get_mut(&ballot) {
            Some(w) => {
                if &w.val == value {
                    w.voters.insert(acc);
                }
            }
            None => {
                if self.votes.len() >= VOTE_BALLOTS_KEPT {
                    match self.votes.keys().next().copied() {
                        Some(lowest) if lowest < ballot => {
                            self.votes.remove(&lowest);
                        }
                        _ => return,
                    }
                }
                self.votes.insert(
                    ballot,
                    Voted {
                        val: value.clone(),
                        voters: AccSet::singleton(acc),
                    },
                );
            }
        }
    }

    /// A 2av of `acc` for learner `lr` at `ballot` for `val`.
    pub fn proposal(&mut self, lr: LearnerId, ballot: Ballot, acc: AcceptorId, val: &Value) {
        let key = (ballot, lr);
        if !self.proposals.contains_key(&key) && self.proposals.len() >= PROPOSAL_KEYS_KEPT {
            match self.proposals.keys().next().copied() {
                Some(lowest) if lowest < key => {
                    self.proposals.remove(&lowest);
                }
                _ => return,
            }
        }
        let by_value = self.proposals.entry(key).or_default();
        if !by_value.contains_key(&val.digest()) && by_value.len() >= VALUES_KEPT {
            return;
        }
        by_value.entry(val.digest()).or_default().insert(acc);
    }

    /// A 1b of `acc` for `lr` at `ballot`, kept only at vote ballots (the
    /// ones a retry can be pinned to), so a Byzantine sender cannot grow it.
    pub fn answer(&mut self, lr: LearnerId, ballot: Ballot, acc: AcceptorId) {
        if self.votes.contains_key(&ballot) {
            self.answers.entry((ballot, lr)).or_default().insert(acc);
        }
    }

    /// Did a quorum of every learner of `ls` answer at `c` since the last
    /// [`SlotEvidence::forget_answers`]? (Without a trust: no.)
    pub fn answered(&self, trust: Option<&Trust>, ls: &[LearnerId], c: Ballot) -> bool {
        let Some(t) = trust else {
            return false;
        };
        !ls.is_empty()
            && ls.iter().all(|l| {
                self.answers
                    .get(&(c, *l))
                    .is_some_and(|s| t.is_quorum(*l, s))
            })
    }

    pub fn forget_answers(&mut self, c: Ballot) {
        self.answers.retain(|(b, _), _| *b != c);
    }

    /// Were 2av of `lr` at `c` for `val` seen from a quorum of `lr`? (What
    /// `KnowsSafeAt2`'s `WQ` needs at `c`; without a trust to tell quorums:
    /// never.)
    fn has_proposals(&self, trust: Option<&Trust>, lr: LearnerId, c: Ballot, val: &Value) -> bool {
        let for_val = self
            .proposals
            .get(&(c, lr))
            .and_then(|m| m.get(&val.digest()))
            .copied()
            .unwrap_or_default();
        trust.is_some_and(|t| t.is_quorum(lr, &for_val))
    }

    /// Can `lr` still get 2av for `val` at `c` from one of its quorums? No
    /// once the acceptors seen proposing another value for `lr` there
    /// leave too few: `Phase2av`'s "every 2av already sent at `b` to a
    /// connected learner is for `v`" bars them from `val` at `c` for good
    /// (a learner is connected to itself). Pinning `lr` there could then
    /// never end; a fake's equivocating 2av split the demo's alice that way
    /// in the simulator. (Without a trust: yes.)
    fn proposals_can_form(
        &self,
        trust: Option<&Trust>,
        lr: LearnerId,
        c: Ballot,
        val: &Value,
    ) -> bool {
        let (Some(t), Some(m)) = (trust, self.proposals.get(&(c, lr))) else {
            return true;
        };
        let mut blocked = AccSet::default();
        let mut for_val = AccSet::default();
        for (d, s) in m {
            if *d == val.digest() {
                for_val = *s;
            } else {
                blocked = blocked.union(s);
            }
        }
        t.is_quorum(lr, &t.all_acceptors().difference(&blocked).union(&for_val))
    }

    /// Every vote ballot seen, with its value.
    pub fn ballots(&self) -> Vec<(Ballot, Value)> {
        self.votes
            .iter()
            .map(|(b, w)| (*b, w.val.clone()))
            .collect()
    }

    /// The value voted at the highest vote ballot seen.
    pub fn highest_value(&self) -> Option<&Value> {
        self.votes.values().next_back().map(|w| &w.val)
    }
}

/// Do the `voters` meet every quorum of some learner of `missing`? (No
/// quorum of it avoids them: the vote cannot be stepped over; see the
/// module doc.) Without a trust: two voters or more.
fn unavoidable(trust: Option<&Trust>, voters: &AccSet, missing: &[LearnerId]) -> bool {
    match trust {
        Some(t) => {
            let rest = t.all_acceptors().difference(voters);
            missing.iter().any(|l| !t.is_quorum(*l, &rest))
        }
        None => voters.len() >= 2,
    }
}

/// The ballot the `missing` learners of a slot are retried at, if any:
/// the lowest ballot among the votes seen and the ballots some learner
/// decided in at which some missing learner has no proposals from one of
/// its quorums yet but can still get them for the value voted there,
/// skipping avoidable votes already tried `pin_tries`
/// times (`tries`: pinned attempts so far, per ballot). `None`: a fresh
/// ballot may be run.
pub(super) fn choose(
    ev: Option<&SlotEvidence>,
    decided: impl Iterator<Item = (Ballot, Value)>,
    trust: Option<&Trust>,
    missing: &[LearnerId],
    tries: &BTreeMap<Ballot, u32>,
    answered: &BTreeMap<Ballot, u32>,
    pin_tries: u32,
) -> Option<Pin> {
    // ballot -> (value, pins until the proposals are seen)
    let mut pins: BTreeMap<Ballot, (Value, bool)> = BTreeMap::new();
    if let Some(ev) = ev {
        for (b, w) in &ev.votes {
            pins.insert(*b, (w.val.clone(), unavoidable(trust, &w.voters, missing)));
        }
    }
    for (b, v) in decided {
        pins.insert(b, (v, true));
    }
    pins.into_iter()
        .find(|(c, (value, sticky))| {
            let open = missing.iter().any(|l| {
                !ev.is_some_and(|e| e.has_proposals(trust, *l, *c, value))
                    && ev.is_none_or(|e| e.proposals_can_form(trust, *l, *c, value))
            });
            let stuck = answered.get(c).copied().unwrap_or(0) >= STUCK_AFTER * pin_tries.max(1);
            open && ((*sticky && !stuck) || tries.get(c).copied().unwrap_or(0) < pin_tries.max(1))
        })
        .map(|(ballot, (value, _))| Pin { ballot, value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::demo_trust;

    const ALICE: LearnerId = LearnerId(0);
    const BOB: LearnerId = LearnerId(1);

    fn v(s: &str) -> Value {
        Value::new(s.as_bytes().to_vec())
    }

    /// Rule (a): bob's vote at 3 from two acceptors meets every alice
    /// quorum (4 of 5): alice stays at 3 however often it was tried, until
    /// her own 2av there are seen from four acceptors; then the vote at 7
    /// is next, and after it a fresh ballot.
    #[test]
    fn a_vote_meeting_every_quorum_pins_until_the_proposals_are_seen() {
        let t = demo_trust();
        let mut ev = SlotEvidence::default();
        for a in [0, 1] {
            ev.vote(Ballot(3), &v("x"), AcceptorId(a));
        }
        for a in [0, 1, 2] {
            ev.vote(Ballot(7), &v("x"), AcceptorId(a));
        }
        let n = 1000;
        let many: BTreeMap<Ballot, u32> = [(Ballot(3), n), (Ballot(7), n)].into();
        let pick = |ev: &SlotEvidence| {
            choose(
                Some(ev),
                std::iter::empty(),
                Some(&t),
                &[ALICE],
                &many,
                &BTreeMap::new(),
                2,
            )
            .map(|p| p.ballot)
        };
        assert_eq!(pick(&ev), Some(Ballot(3)));
        for a in [0, 1, 2] {
            ev.proposal(ALICE, Ballot(3), AcceptorId(a), &v("x"));
        }
        assert_eq!(pick(&ev), Some(Ballot(3)), "three 2av are no alice quorum");
        ev.proposal(BOB, Ballot(3), AcceptorId(4), &v("x"));
        assert_eq!(pick(&ev), Some(Ballot(3)), "bob's 2av are not alice's");
        ev.proposal(ALICE, Ballot(3), AcceptorId(4), &v("x"));
        assert_eq!(pick(&ev), Some(Ballot(7)));
        for a in [0, 1, 2, 3] {
            ev.proposal(ALICE, Ballot(7), AcceptorId(a), &v("x"));
        }
        assert_eq!(pick(&ev), None);
    }

    /// A pin is dropped once the learner's proposals for the value voted
    /// there cannot form: bob's vote for `x` at 2 (a1, a2, a5) meets every
    /// alice quorum, but a3 and a4 proposed `w` for alice at 2, so only
    /// a1, a2, a5 can still propose `x` for her there: no quorum of four.
    /// (`hpaxos sim crates/node/src/demo.toml --no-net-faults --no-crashes
    /// --late --judge-all --seed 3`: the proposer retried alice at 2 for
    /// ever.) One such proposer is not enough to give up.
    #[test]
    fn a_pin_whose_proposals_cannot_form_is_dropped() {
        let t = demo_trust();
        let mut ev = SlotEvidence::default();
        for a in [0, 1, 4] {
            ev.vote(Ballot(2), &v("x"), AcceptorId(a));
            ev.proposal(ALICE, Ballot(2), AcceptorId(a), &v("x"));
        }
        let none = BTreeMap::new();
        let pick = |ev: &SlotEvidence| {
            choose(
                Some(ev),
                std::iter::empty(),
                Some(&t),
                &[ALICE],
                &none,
                &BTreeMap::new(),
                2,
            )
            .map(|p| p.ballot)
        };
        assert_eq!(pick(&ev), Some(Ballot(2)));
        ev.proposal(ALICE, Ballot(2), AcceptorId(3), &v("w"));
        assert_eq!(pick(&ev), Some(Ballot(2)), "a2, a3 may still propose x");
        ev.proposal(ALICE, Ballot(2), AcceptorId(2), &v("w"));
        assert_eq!(pick(&ev), None);
        // Bob's proposals of `w` at 2 do not bar alice's.
        let mut ev2 = SlotEvidence::default();
        for a in [0, 1, 4] {
            ev2.vote(Ballot(2), &v("x"), AcceptorId(a));
        }
        for a in [2, 3] {
            ev2.proposal(BOB, Ballot(2), AcceptorId(a), &v("w"));
        }
        assert_eq!(pick(&ev2), Some(Ballot(2)));
    }

    /// A vote meeting every quorum pins until `STUCK_AFTER * pin_tries`
    /// pinned attempts were answered by a quorum without the proposals
    /// following; attempts nobody answered (acceptors away) never end it.
    #[test]
    fn a_pin_answered_without_proposals_is_given_up() {
        let t = demo_trust();
        let mut ev = SlotEvidence::default();
        for a in [0, 1] {
            ev.vote(Ballot(3), &v("x"), AcceptorId(a));
        }
        let tries: BTreeMap<Ballot, u32> = [(Ballot(3), 1000)].into();
        let pick = |answered: u32| {
            let a: BTreeMap<Ballot, u32> = [(Ballot(3), answered)].into();
            choose(
                Some(&ev),
                std::iter::empty(),
                Some(&t),
                &[ALICE],
                &tries,
                &a,
                2,
            )
            .map(|p| p.ballot)
        };
        assert_eq!(pick(0), Some(Ballot(3)));
        assert_eq!(pick(STUCK_AFTER * 2 - 1), Some(Ballot(3)));
        assert_eq!(pick(STUCK_AFTER * 2), None);
        // Answers are counted per attempt, from a quorum of the learner,
        // and only at vote ballots.
        let mut ev = ev.clone();
        for a in [0, 1, 2] {
            ev.answer(ALICE, Ballot(3), AcceptorId(a));
        }
        ev.answer(ALICE, Ballot(9), AcceptorId(4));
        assert!(!ev.answered(Some(&t), &[ALICE], Ballot(3)));
        ev.answer(ALICE, Ballot(3), AcceptorId(4));
        assert!(ev.answered(Some(&t), &[ALICE], Ballot(3)));
        assert!(!ev.answered(Some(&t), &[ALICE, BOB], Ballot(3)));
        ev.forget_answers(Ballot(3));
        assert!(!ev.answered(Some(&t), &[ALICE], Ballot(3)));
        assert!(ev.answers.is_empty());
    }

    /// A lone vote is avoidable for alice (a quorum of four avoids it; it
    /// may be a Byzantine acceptor's made-up 2b): it pins `pin_tries` times.
    /// For bob (3 of 5) even two voters are avoidable.
    #[test]
    fn an_avoidable_vote_pins_only_for_the_pinned_tries() {
        let t = demo_trust();
        let mut ev = SlotEvidence::default();
        ev.vote(Ballot(1 << 30), &v("w"), AcceptorId(3));
        let tries = |n: u32| -> BTreeMap<Ballot, u32> { [(Ballot(1 << 30), n)].into() };
        let pick = |ev: &SlotEvidence, ls: &[LearnerId], n: u32| {
            choose(
                Some(ev),
                std::iter::empty(),
                Some(&t),
                ls,
                &tries(n),
                &BTreeMap::new(),
                2,
            )
            .map(|p| p.ballot)
        };
        assert_eq!(pick(&ev, &[ALICE], 1), Some(Ballot(1 << 30)));
        assert_eq!(pick(&ev, &[ALICE], 2), None);
        ev.vote(Ballot(1 << 30), &v("w"), AcceptorId(4));
        assert_eq!(pick(&ev, &[ALICE], 1000), Some(Ballot(1 << 30)));
        assert_eq!(pick(&ev, &[BOB], 2), None);
    }

    /// A decision pins for as long as the learner's proposals are missing,
    /// and the evidence kept per slot is bounded whatever a Byzantine
    /// acceptor sends.
    #[test]
    fn decisions_pin_and_evidence_is_bounded() {
        let t = demo_trust();
        let mut ev = SlotEvidence::default();
        for b in 0..100u64 {
            ev.vote(Ballot(b), &v("y"), AcceptorId(0));
            ev.proposal(BOB, Ballot(b), AcceptorId(0), &v("x"));
        }
        assert_eq!(ev.votes.len(), VOTE_BALLOTS_KEPT);
        assert_eq!(ev.proposals.len(), PROPOSAL_KEYS_KEPT);
        assert_eq!(
            ev.votes.keys().next(),
            Some(&Ballot(100 - VOTE_BALLOTS_KEPT as u64))
        );
        let none = BTreeMap::new();
        let decided = [(Ballot(2), v("d"))];
        let p = choose(
            None,
            decided.into_iter(),
            Some(&t),
            &[BOB],
            &none,
            &BTreeMap::new(),
            2,
        );
        assert_eq!(
            p,
            Some(Pin {
                ballot: Ballot(2),
                value: v("d")
            })
        );
        let busy: BTreeMap<Ballot, u32> = [(Ballot(2), 1000)].into();
        let decided = [(Ballot(2), v("d"))];
        let p = choose(
            None,
            decided.into_iter(),
            Some(&t),
            &[BOB],
            &busy,
            &BTreeMap::new(),
            2,
        );
        assert_eq!(p.map(|p| p.ballot), Some(Ballot(2)));
    }
}
