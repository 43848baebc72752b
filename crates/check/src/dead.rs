//! Dead-message reduction (`--dead on`): states that differ only in what
//! no guard can ever read again share one entry of the visited table
//! (issue 12, "a finer reduction": it merges states, where sleep sets
//! only skip transitions).
//!
//! Where it sits: [`crate::model::CheckModel::key`] hashes each safe
//! acceptor by its *live* part ([`live_node_hash`]) instead of its whole
//! state; [`crate::symmetry`] does the same for every image, so the
//! reductions compose. The explorer keeps real states (only the table
//! holds keys), so traces replay as before.
//!
//! **What is forgotten.** For a safe acceptor `X` (the rules, each tied to
//! the guard that reads the entry, are in `hpaxos_core`'s
//! `acceptor/live.rs`, `Acceptor::hash_live`):
//! - the index entries below `maxBal`: the ballots initialized for `l`
//!   below `maxBal[l, X]`, the values announced below every learner's
//!   `maxBal`, the 2av senders of `(l, b, v)` below `max_L maxBal[L, X]`
//!   or where `X` has voted `(l, b, v)`;
//! - whether `X` received a 2av or a 1c whose receipt now would change
//!   only such entries and send nothing new
//!   (`Acceptor::absorbs_dead`: the bit of `delivered` is left out);
//! - nothing else: durable records, restarts left, whether `delivered` is
//!   empty (it enables `Restart`), the 1b buckets (read at any ballot for
//!   equivocation evidence), learners, proposers, `sent`, the monitor.
//!
//! **Why it is exact.** Write `s ~ t` when the two states have equal keys
//! (up to fingerprint collisions, as for any key): they are equal but for
//! dead entries and dead `delivered` bits of acceptors. Claim: `~` is a
//! bisimulation, where a step that only absorbs a dead message is a
//! stutter. Take `s ~ t` and a step `s -a-> s'`.
//! - `a` of a learner, proposer or `NextBallot`, `Drop`, or `Restart`: the
//!   actor's state is not pruned (or, for `Restart`, is rebuilt from the
//!   durable records, equal in `s` and `t`, and the volatile index with its
//!   dead entries is lost both ways; `Restart` is enabled iff `delivered`
//!   is not empty, which the key keeps), so `t -a-> t'` with `s' ~ t'`.
//! - `a = Deliver(X, m)`: every guard of every core step reads dead entries
//!   only in conjuncts that are false (each rule names them: `maxBal[l, X]`
//!   and `max_any` never decrease before a restart), so the step computes
//!   the same new live state, the same messages, durable records and spec
//!   actions from `t` as from `s`; it is enabled in `t` too unless `m` was
//!   already received there, in which case its bit is dead in `t`, so `m`
//!   was a dead absorption in `t`'s past and is one in `s` now: `s' ~ s ~ t`.
//!   Dead entries stay dead (their guards keep failing), so `s' ~ t'`.
//!
//! Properties: `safety` and `decided` read the learners only; with
//! `--refinement` the monitor's fingerprint is part of the key unchanged,
//! and its future depends only on its own state and on the spec actions
//! and the durable state of the acceptors (`check_acceptor` reads
//! `connected` and the durable records, never the index), which the
//! bisimulation keeps equal. So every class satisfies a property in all its
//! states or in none (the monitor keeps most states apart: its spec state
//! records every receipt, so the reduction merges few states with it). Hence the
//! classes reachable in the reduced search are exactly the classes of the
//! full search's states, and each verdict is the same. With sleep sets the
//! names of actions are the same in `s` and `t` (up to dead deliveries,
//! which lead back into the class), so the sleep-set argument of
//! [`crate::search`] carries over to the quotient; with symmetry, `X`'s
//! image has the image's dead entries (the rules read only ballots, the
//! acceptor's own votes and the trust, which the group preserves).
//!
//! This is an argument resting on the core's guards; the evidence is
//! `tests/dead.rs`: on every small instance, and under every mutation, the
//! reduced search visits exactly as many states as there are classes among
//! the full search's states (counted with `DfsOptions::count_orbits`), with
//! the same verdicts, alone and with symmetry and sleep sets.

use crate::intern::Bits;
use crate::model::{CheckModel, Node, Role};
use hpaxos_core::{Acceptor, AcceptorDurable};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The key hash of a node with dead entries and dead `delivered` bits left
/// out; its plain hash when the node is not a prunable acceptor.
pub fn live_node_hash(model: &CheckModel, n: &Node) -> u64 {
    match &n.role {
        Role::Acceptor(a) if a.prunable() => {
            let d = live_delivered(model, a, &n.delivered);
            combine(
                live_role_hash(a),
                &d,
                !n.delivered.is_empty(),
                &n.durable,
                n.restarts_left,
            )
        }
        _ => n.hash(),
    }
}

/// The ids of `delivered` whose receipt by `a` is not a dead absorption.
pub fn live_delivered(model: &CheckModel, a: &Acceptor, delivered: &Bits) -> Bits {
    let mut out = Bits::default();
    for id in delivered.iter() {
        let dead = model.interner.get(id).is_some_and(|m| a.absorbs_dead(&m));
        if !dead {
            out.insert(id);
        }
    }
    out
}

/// The hash of an acceptor's live state.
pub fn live_role_hash(a: &Acceptor) -> u64 {
    let mut h = crate::model::hasher();
    a.hash_live(&mut h);
    h.finish()
}

/// A pruned node's key hash from its parts.
pub fn combine(
    role: u64,
    live_delivered: &Bits,
    received_any: bool,
    durable: &Option<Arc<AcceptorDurable>>,
    restarts_left: u8,
) -> u64 {
    let mut h = crate::model::hasher();
    0xdeadu16.hash(&mut h);
    role.hash(&mut h);
    live_delivered.hash(&mut h);
    received_any.hash(&mut h);
    durable.hash(&mut h);
    restarts_left.hash(&mut h);
    h.finish()
}
