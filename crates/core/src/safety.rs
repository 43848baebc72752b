//! The spec's quorum predicates over received messages: `KnowsSafeAt` and
//! `ChosenIn`'s quorum test, shared by acceptors (guards) and proposers (to
//! pick a value acceptors will accept). Pure functions over one
//! `(slot, learner, ballot)` bucket of 1b messages, never over everything
//! received.

use crate::accset::AccSet;
use crate::connected::Connected;
use crate::ids::{Ballot, LearnerId};
use crate::msg::Msg1b;
use crate::trust::Trust;
use crate::value::Value;

/// `KnowsSafeAt1(l, ac, b, v)`:
/// ```text
/// LET S == {mm \in received[ac] : mm.type = "1b" /\ mm.lr = l /\ mm.bal = b}
/// \E BQ \in ByzQuorum : [lr |-> l, q |-> BQ] \in TrustLive /\
///   \A a \in BQ : \E m \in S : m.acc = a /\
///     \A p \in {pp \in m.votes : <<pp.lr, l>> \in connected[ac]} : b =< p.bal
/// ```
/// `bucket` is `S`: the distinct 1b messages received for `(l, b)`.
pub fn knows_safe_at1(
    trust: &Trust,
    conn: &Connected,
    bucket: &[Msg1b],
    l: LearnerId,
    b: Ballot,
) -> bool {
    let bq: AccSet = bucket
        .iter()
        .filter(|m| {
            m.votes
                .iter()
                .filter(|p| conn.contains(p.lr, l))
                .all(|p| b <= p.bal)
        })
        .map(|m| m.acc)
        .collect();
    trust.is_quorum(l, &bq)
}

/// `KnowsSafeAt2(l, ac, b, v)`:
/// ```text
/// \E c \in Ballot : c < b /\
///   \E BQ : [lr |-> l, q |-> BQ] \in TrustLive /\ \A a \in BQ : \E m \in S : m.acc = a /\
///     \A p \in {pp \in m.votes : <<pp.lr, l>> \in connected[ac]} :
///        p.bal =< c /\ (p.bal = c => p.val = v)
///   /\ \E WQ : [lr |-> l, q |-> WQ] \in TrustLive /\ \A a \in WQ : \E m \in S : m.acc = a /\
///        \E p \in m.proposals : p.lr = l /\ p.bal = c /\ p.val = v
/// ```
/// Only ballots `c` that occur in some proposal `(l, c, v)` can satisfy the
/// `WQ` conjunct, so those are the candidates tried.
pub fn knows_safe_at2(
    trust: &Trust,
    conn: &Connected,
    bucket: &[Msg1b],
    l: LearnerId,
    b: Ballot,
    v: &Value,
) -> bool {
    let mut candidates: Vec<Ballot> = bucket
        .iter()
        .flat_map(|m| m.proposals.iter())
        .filter(|p| p.lr == l && p.bal < b && &p.val == v)
        .map(|p| p.bal)
        .collect();
    candidates.sort_unstable();
    candidates.dedup();
    candidates.into_iter().any(|c| {
        let wq: AccSet = bucket
            .iter()
            .filter(|m| {
                m.proposals
                    .iter()
                    .any(|p| p.lr == l && p.bal == c && &p.val == v)
            })
            .map(|m| m.acc)
            .collect();
        if !trust.is_quorum(l, &wq) {
            return false;
        }
        let bq: AccSet = bucket
            .iter()
            .filter(|m| {
                m.votes
                    .iter()
                    .filter(|p| conn.contains(p.lr, l))
                    .all(|p| p.bal <= c && (p.bal != c || &p.val == v))
            })
            .map(|m| m.acc)
            .collect();
        trust.is_quorum(l, &bq)
    })
}

/// `KnowsSafeAt(l, ac, b, v) == KnowsSafeAt1(l, ac, b, v) \/ KnowsSafeAt2(l, ac, b, v)`.
pub fn knows_safe_at(
    trust: &Trust,
    conn: &Connected,
    bucket: &[Msg1b],
    l: LearnerId,
    b: Ballot,
    v: &Value,
) -> bool {
    #[cfg(feature = "mutations")]
    if crate::mutations::active(crate::mutations::Mutation::KnowsSafeAtAnySet) {
        // Mutant: any single 1b makes every value safe (a non-quorum suffices).
        return !bucket.is_empty();
    }
    knows_safe_at1(trust, conn, bucket, l, b) || knows_safe_at2(trust, conn, bucket, l, b, v)
}
