//! Ordering separate from dissemination: the value bytes a node holds,
//! keyed by digest, and the fetches of bytes it lacks. Part of
//! [`super::NodeCore`].
//!
//! What travels: a slot decides a value's digest. The bytes of a batch go
//! once from the proposer to every peer, in its 1c; 1b, 2av and 2b carry
//! digests only ([`crate::Message::strip_bytes`] on every message in and
//! out), and so do their log records (`Voted`, `Proposed`, `Decided`
//! encode the digest). The bytes are logged once per value
//! ([`crate::Durable::Batch`]), with the first record that names a value
//! this node's acceptor proposed or voted, or its learner decided.
//!
//! The rules, and why they are a refinement of the spec (whose `Value` is
//! the digest: every guard compares values, and two values compare by
//! digest):
//! - **A 1c whose bytes are not here waits.** The node hands a 1c to its
//!   acceptor only with bytes that hash to its value (the bytes it carries,
//!   or the store's); a 1c without them is parked and its bytes fetched.
//!   So an acceptor takes `Phase2av` for a digest only holding its bytes.
//!   A parked 1c is a receive that has not happened yet (`Recv` is never
//!   forced), and one dropped after the fetch gave up is one that never
//!   happens: the spec allows both.
//! - **A decision is applied only with verified bytes.** A local
//!   learner's `LearnerDecide` is taken as before, on a quorum of 2b over
//!   the digest; the [`crate::Decision`] goes to the driver only once the
//!   bytes are here, fetched from the nodes of the acceptors whose 2b it
//!   counted first, then from any peer. Applying later is not a spec step.
//! - **Bytes are checked against their digest.** An answer to a fetch is
//!   `(digest, bytes)`; bytes that do not hash to the digest are rejected
//!   and counted ([`crate::Rejection::DigestMismatch`]); unsolicited bytes
//!   are ignored. A Byzantine peer can delay a fetch (the next peer is
//!   asked after a timeout), never change a value.
//! - **A re-proposal by digest.** A proposer that re-proposes a value it
//!   learned only as a digest (a vote in a 1b, a pinned retry of the
//!   pacemaker) sends a 1c with the digest alone: `Phase1c` has no guard
//!   and the 1c names the same spec value. Acceptors that hold the bytes
//!   (they proposed or received it at the earlier ballot, which is where
//!   such a value comes from) act on it at once, the others fetch them by
//!   the first rule. The alternative, a proposer fetching first, delays
//!   every acceptor by the proposer's fetch and stalls the re-proposal
//!   when the proposer's fetch does, for the same end state.
//! - Certificates stay 2b messages over the digest, signed, transferable;
//!   a learner that catches up through them fetches the bytes like any
//!   other decision.
//!
//! Known gap: a value whose bytes only Byzantine acceptors hold (the
//! proposer's 1c reached no safe acceptor and the proposer lost it) can be
//! pushed by their 2b and 1b proposals (pinned retries, `KnowsSafeAt2`)
//! while they withhold the bytes; no safe acceptor can then propose it,
//! and fresh ballots wait where safe acceptors defer their 1b for it
//! (`AcceptorOptions::defer_1b`). Safety is untouched; the simulator's
//! Byzantine acceptors do not withhold (their messages are not encoded and
//! keep their bytes, which [`super::NodeCore`] keeps), so it does not
//! exercise this: a proposer that fetches before re-proposing and drops a
//! digest no peer can serve is the cure, not done yet.
//!
//! Bounds: entries are dropped with the slots they were needed in
//! (compaction), except the bytes of decided values, kept as long as
//! certificates are ([`super::certs::CERTS_KEPT`]) so that a lagging peer
//! can still apply what it catches up on; at most [`PER_SLOT`] values not
//! needed here are kept per slot (a Byzantine proposer's 1c flood); at most
//! [`PARKED_MAX`] 1c wait for bytes; a fetch for a parked 1c or a vote
//! gives up after [`MAX_TRIES`] tries, a local learner's never.

use super::types::NodeId;
use crate::ids::Slot;
use crate::msg::Msg1c;
use crate::pacemaker::Tick;
use crate::value::{Digest, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Values not needed here kept per slot at most.
pub const PER_SLOT: usize = 16;
/// 1c messages waiting for their bytes at most.
pub const PARKED_MAX: usize = 1024;
/// Tries of a fetch that no local learner waits for.
pub const MAX_TRIES: u32 = 12;
/// Digests asked for in one request at most.
pub const FETCH_BATCH: usize = 64;
/// Bytes answered in one answer at most (always at least one value).
pub const SERVE_BYTES: usize = 1 << 20;

#[derive(Clone, Debug)]
struct Entry {
    val: Value,
    /// Highest slot it was needed in (dropped once that is compacted).
    hi: Slot,
    /// A `Batch` record of it was written.
    durable: bool,
    /// Needed here: this node proposed, voted or decided it.
    pinned: bool,
    /// Some learner followed here decided it (kept like certificates).
    decided: bool,
}

/// The bytes held here, by digest.
#[derive(Clone, Debug, Default)]
pub struct ValueStore {
    map: BTreeMap<Digest, Entry>,
    /// Unpinned values per slot (the [`PER_SLOT`] bound).
    loose: BTreeMap<Slot, BTreeSet<Digest>>,
    /// Decided values by slot, oldest dropped beyond the bound.
    decided: BTreeSet<(Slot, Digest)>,
    decided_kept: usize,
}

impl ValueStore {
    pub fn new(decided_kept: usize) -> ValueStore {
        ValueStore {
            decided_kept: decided_kept.max(1),
            ..ValueStore::default()
        }
    }

    /// The value with its bytes, if held.
    pub fn get(&self, d: &Digest) -> Option<&Value> {
        self.map.get(d).map(|e| &e.val)
    }

    pub fn contains(&self, d: &Digest) -> bool {
        self.map.contains_key(d)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Keeps `v`'s bytes (needed in `slot`; `pinned`: needed by this
    /// node). Returns false when `v` has no bytes or the slot holds
    /// [`PER_SLOT`] unpinned values already.
    pub fn insert(&mut self, v: &Value, slot: Slot, pinned: bool) -> bool {
        if !v.has_bytes() {
            return false;
        }
        let d = v.digest();
        if let Some(e) = self.map.get_mut(&d) {
            e.hi = e.hi.max(slot);
            if pinned && !e.pinned {
                e.pinned = true;
                for set in self.loose.values_mut() {
                    set.remove(&d);
                }
            }
            return true;
        }
        if !pinned {
            let set = self.loose.entry(slot).or_default();
            if set.len() >= PER_SLOT {
                return false;
            }
            set.insert(d);
        }
        self.map.insert(
            d,
            Entry {
                val: v.clone(),
                hi: slot,
                durable: false,
                pinned,
                decided: false,
            },
        );
        true
    }

    /// A value restored from its `Batch` record.
    pub fn restore(&mut self, v: &Value, slot: Slot) {
        if self.insert(v, slot, true) {
            if let Some(e) = self.map.get_mut(&v.digest()) {
                e.durable = true;
            }
        }
    }

    /// `d` is needed in `slot` too (restored votes and decisions).
    pub fn touch(&mut self, d: &Digest, slot: Slot) {
        if let Some(e) = self.map.get_mut(d) {
            e.hi = e.hi.max(slot);
        }
    }

    /// Marks `d` needed here in `slot` and returns the `Batch` record to
    /// write when its bytes are held and not yet logged.
    pub fn make_durable(&mut self, d: &Digest, slot: Slot) -> Option<crate::Durable> {
        let e = self.map.get_mut(d)?;
        e.hi = e.hi.max(slot);
        if !e.pinned {
            e.pinned = true;
            for set in self.loose.values_mut() {
                set.remove(d);
            }
        }
        if e.durable {
            return None;
        }
        e.durable = true;
        Some(crate::Durable::Batch {
            slot: e.hi,
            val: e.val.clone(),
        })
    }

    /// Some learner decided `d` in `slot`: kept beyond compaction, like
    /// the certificate, for peers that catch up.
    pub fn decided(&mut self, d: &Digest, slot: Slot) {
        let Some(e) = self.map.get_mut(d) else {
            return;
        };
        e.decided = true;
        self.decided.insert((slot, *d));
        while self.decided.len() > self.decided_kept {
            let Some((_, old)) = self.decided.pop_first() else {
                break;
            };
            if let Some(e) = self.map.get_mut(&old) {
                e.decided = false;
            }
        }
    }

    /// The `Batch` records of every logged value still needed from
    /// `below` on (what a log snapshot keeps).
    pub fn durable_records(&self, below: Slot) -> Vec<crate::Durable> {
        self.map
            .values()
            .filter(|e| e.durable && e.hi >= below)
            .map(|e| crate::Durable::Batch {
                slot: e.hi,
                val: e.val.clone(),
            })
            .collect()
    }

    /// Drops what was needed only below `below` (decided values excepted,
    /// see the module doc).
    pub fn compact(&mut self, below: Slot) {
        self.loose = self.loose.split_off(&below);
        let decided: BTreeSet<Digest> = self.decided.iter().map(|(_, d)| *d).collect();
        self.map
            .retain(|d, e| e.hi >= below || (e.decided && decided.contains(d)));
    }
}

/// Why bytes are fetched (a fetch may serve several).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Why {
    /// A local learner decided the digest: never given up.
    pub apply: bool,
    /// A 1c waits for them.
    pub announce: bool,
    /// This node's acceptor voted the digest (to serve it).
    pub serve: bool,
}

/// One outstanding fetch.
#[derive(Clone, Debug)]
pub struct Want {
    pub slot: Slot,
    pub why: Why,
    /// Asked first: the nodes of the acceptors whose 2b a learner counted.
    pub hints: Vec<NodeId>,
    pub tries: u32,
    /// When it was last asked, and whom.
    pub last: Option<(Tick, NodeId)>,
}

/// Fetches of bytes and the 1c messages waiting for them.
#[derive(Clone, Debug, Default)]
pub struct Fetches {
    pub wants: BTreeMap<Digest, Want>,
    pub parked: BTreeMap<Digest, Vec<Msg1c>>,
    parked_n: usize,
}

impl Fetches {
    /// Fetches `d` (needed in `slot`), asking `hints` first.
    pub fn want(&mut self, d: Digest, slot: Slot, why: Why, hints: &[NodeId]) {
        let w = self.wants.entry(d).or_insert_with(|| Want {
            slot,
            why: Why::default(),
            hints: Vec::new(),
            tries: 0,
            last: None,
        });
        w.slot = w.slot.max(slot);
        w.why.apply |= why.apply;
        w.why.announce |= why.announce;
        w.why.serve |= why.serve;
        for h in hints {
            if !w.hints.contains(h) {
                w.hints.push(*h);
            }
        }
    }

    /// Parks a 1c until its bytes arrive; false when full.
    pub fn park(&mut self, m: Msg1c) -> bool {
        if self.parked_n >= PARKED_MAX {
            return false;
        }
        let list = self.parked.entry(m.val.digest()).or_default();
        if list.contains(&m) {
            return true;
        }
        list.push(m);
        self.parked_n += 1;
        true
    }

    /// The 1c messages parked for `d`.
    pub fn unpark(&mut self, d: &Digest) -> Vec<Msg1c> {
        let l = self.parked.remove(d).unwrap_or_default();
        self.parked_n -= l.len();
        l
    }

    /// When the next fetch is due, if any.
    pub fn next_due(&self, timeout: u64) -> Option<Tick> {
        self.wants
            .values()
            .map(|w| match w.last {
                None => Tick(0),
                Some((t, _)) => t.after(backoff(timeout, w.tries)),
            })
            .min()
    }

    /// The requests due at `now`: per peer, the digests to ask it for.
    /// `peers` are the candidates besides the hints; fetches that no local
    /// learner waits for give up after [`MAX_TRIES`] (their parked 1c are
    /// dropped).
    pub fn due(
        &mut self,
        now: Tick,
        timeout: u64,
        peers: &[NodeId],
    ) -> BTreeMap<NodeId, Vec<Digest>> {
        let mut out: BTreeMap<NodeId, Vec<Digest>> = BTreeMap::new();
        let mut gone = Vec::new();
        for (d, w) in self.wants.iter_mut() {
            let due = match w.last {
                None => true,
                Some((t, _)) => now >= t.after(backoff(timeout, w.tries)),
            };
            if !due {
                continue;
            }
            if !w.why.apply && w.tries >= MAX_TRIES {
                gone.push(*d);
                continue;
            }
            let mut order: Vec<NodeId> = w.hints.clone();
            order.extend(peers.iter().filter(|p| !w.hints.contains(p)));
            if order.is_empty() {
                continue;
            }
            let peer = order[w.tries as usize % order.len()];
            w.tries = w.tries.saturating_add(1);
            w.last = Some((now, peer));
            let list = out.entry(peer).or_default();
            if list.len() < FETCH_BATCH {
                list.push(*d);
            }
        }
        for d in gone {
            self.wants.remove(&d);
            self.unpark(&d);
        }
        out
    }

    /// Drops fetches and parked 1c of slots below `below` (a local
    /// learner's fetch stays: its slot is not below the low water).
    pub fn compact(&mut self, below: Slot) {
        self.wants.retain(|_, w| w.why.apply || w.slot >= below);
        let old: Vec<Digest> = self
            .parked
            .iter()
            .filter(|(_, l)| l.iter().all(|m| m.slot < below))
            .map(|(d, _)| *d)
            .collect();
        for d in old {
            self.unpark(&d);
        }
    }
}

/// The wait before asking again after `tries` tries (doubling, at most 8x).
fn backoff(timeout: u64, tries: u32) -> u64 {
    timeout
        .max(1)
        .saturating_mul(1 << tries.saturating_sub(1).min(3))
}
