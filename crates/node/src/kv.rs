//! The replicated state machine: client commands, batches (the bytes of a
//! consensus value) and a key-value store that one learner applies in slot
//! order.
//!
//! Data flow: the HTTP API turns a request into a [`Command`]; the proposer
//! packs commands into a [`Batch`] whose encoding is the proposed value;
//! when a local learner decides a slot, its [`Replica`] buffers the value
//! and applies every slot in order once the log has no gap, recording each
//! command's result. A value that is not a valid batch (a Byzantine
//! proposer's bytes) is applied as a no-op and counted. A command id applied
//! once is never applied again (a batch may be re-proposed).

use hpaxos_core::pacemaker::decode_batch;
use hpaxos_core::{Ballot, Slot, Value};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Unique id of a command: the node that accepted it and a sequence number
/// unique across that node's restarts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CmdId {
    pub origin: u16,
    pub seq: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Put { key: String, value: String },
    Get { key: String },
    Delete { key: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    pub id: CmdId,
    pub op: Op,
}

/// The content of one consensus value: a batch of the shared pacemaker's
/// format (`hpaxos_core::pacemaker::encode_batch`) whose commands are
/// postcard-encoded [`Command`]s.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    pub cmds: Vec<Command>,
    /// Commands in the batch that did not decode (a Byzantine proposer).
    pub invalid: usize,
}

impl Batch {
    /// Decodes a decided value; `None` when it is not a batch at all.
    pub fn from_value(v: &Value) -> Option<Batch> {
        let b = decode_batch(v.bytes()?).ok()?;
        let mut out = Batch::default();
        for c in &b.commands {
            match postcard::from_bytes::<Command>(c) {
                Ok(c) => out.cmds.push(c),
                Err(_) => out.invalid += 1,
            }
        }
        Some(out)
    }
}

/// The bytes the pacemaker queues for one command.
pub fn encode_command(c: &Command) -> Vec<u8> {
    postcard::to_stdvec(c).unwrap_or_default() // ok: encoding to a Vec cannot fail
}

/// What applying a command returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CmdResult {
    pub slot: Slot,
    /// The previous value for put/delete, the current one for get.
    pub value: Option<String>,
}

/// One entry of an applied log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub slot: u64,
    pub ballot: u64,
    pub digest: String,
    pub commands: usize,
    pub valid: bool,
}

/// FNV-1a offset basis: the log hash of an empty log.
const HASH_INIT: u64 = 0xcbf29ce484222325;

/// A learner's applied log and key-value state.
#[derive(Debug)]
pub struct Replica {
    next: Slot,
    waiting: BTreeMap<Slot, (Ballot, Value)>,
    kv: BTreeMap<String, String>,
    applied_ids: BTreeSet<CmdId>,
    /// Applied entries from slot `log_base` on (older ones were compacted).
    log: Vec<LogEntry>,
    invalid_values: u64,
    commands_applied: u64,
    /// FNV-1a over (slot, digest) of every applied entry, compacted or not.
    hash: u64,
    /// Checkpoint interval (0: none): the state is captured whenever the
    /// first unapplied slot becomes a multiple of it.
    every: u64,
    /// Checkpoints captured and not yet taken: (slot, canonical state).
    checkpoints: Vec<(Slot, Vec<u8>)>,
}

/// The state a checkpoint attests (`hpaxos_core::node::snapshot`): what
/// every correct replica of a learner holds once it applied every slot
/// below `next`, and nothing that differs between replicas (the applied
/// log entries and ballots a replica kept depend on when it compacted).
/// Encoded with postcard, whose encoding of ordered maps and sets is
/// canonical, so equal states have equal bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanonicalState {
    pub next: Slot,
    pub kv: BTreeMap<String, String>,
    pub applied_ids: BTreeSet<CmdId>,
    pub invalid_values: u64,
    pub commands_applied: u64,
    pub hash: u64,
}

impl Default for Replica {
    fn default() -> Self {
        Replica {
            next: Slot(0),
            waiting: BTreeMap::new(),
            kv: BTreeMap::new(),
            applied_ids: BTreeSet::new(),
            log: Vec::new(),
            invalid_values: 0,
            commands_applied: 0,
            hash: HASH_INIT,
            every: 0,
            checkpoints: Vec::new(),
        }
    }
}

/// The applied state of a replica, without the decided-but-waiting slots
/// (those are restored from the learner's `Decided` records): what a WAL
/// snapshot keeps so that a restarted node resumes with its key-value state
/// and log position after the slots below were compacted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaSnapshot {
    pub next: Slot,
    pub kv: BTreeMap<String, String>,
    pub applied_ids: BTreeSet<CmdId>,
    pub log: Vec<LogEntry>,
    pub invalid_values: u64,
    pub commands_applied: u64,
    pub hash: u64,
}

impl Replica {
    pub fn new() -> Replica {
        Replica::default()
    }

    /// The first slot not yet applied.
    pub fn next_slot(&self) -> Slot {
        self.next
    }

    /// Highest slot known decided (applied or waiting), if any.
    pub fn highest_decided(&self) -> Option<Slot> {
        self.waiting
            .keys()
            .next_back()
            .copied()
            .or_else(|| self.next.0.checked_sub(1).map(Slot))
    }

    pub fn is_decided(&self, s: Slot) -> bool {
        s < self.next || self.waiting.contains_key(&s)
    }

    /// Records a decision; applies every slot that is now contiguous and
    /// returns the results of the commands applied, in order.
    pub fn decide(&mut self, slot: Slot, bal: Ballot, val: Value) -> Vec<(CmdId, CmdResult)> {
        if slot >= self.next {
            self.waiting.entry(slot).or_insert((bal, val));
        }
        self.apply_contiguous()
    }

    /// Applies every waiting slot that is now contiguous.
    fn apply_contiguous(&mut self) -> Vec<(CmdId, CmdResult)> {
        let mut out = Vec::new();
        while let Some((b, v)) = self.waiting.remove(&self.next) {
            self.apply(self.next, b, &v, &mut out);
            self.next = Slot(self.next.0 + 1);
            if self.every > 0 && self.next.0.is_multiple_of(self.every) {
                let st = self.canonical();
                self.checkpoints.push((self.next, st));
            }
        }
        out
    }

    /// Captures the state at every multiple of `every` from now on (0:
    /// never).
    pub fn set_checkpoints(&mut self, every: u64) {
        self.every = every;
    }

    /// The checkpoints captured since the last call.
    pub fn take_checkpoints(&mut self) -> Vec<(Slot, Vec<u8>)> {
        std::mem::take(&mut self.checkpoints)
    }

    /// The canonical encoding of the state here ([`CanonicalState`]).
    pub fn canonical(&self) -> Vec<u8> {
        let st = CanonicalState {
            next: self.next,
            kv: self.kv.clone(),
            applied_ids: self.applied_ids.clone(),
            invalid_values: self.invalid_values,
            commands_applied: self.commands_applied,
            hash: self.hash,
        };
        postcard::to_stdvec(&st).unwrap_or_default() // ok: encoding to a Vec cannot fail
    }

    /// Replaces the applied state by a verified snapshot's (the canonical
    /// bytes of [`Replica::canonical`]), keeping the decided slots waiting
    /// at or above it and applying those now contiguous. Returns the
    /// commands applied; an error (nothing changed) when the bytes do not
    /// decode or the state is not ahead of this one.
    pub fn install(&mut self, bytes: &[u8]) -> Result<Vec<(CmdId, CmdResult)>, String> {
        let st: CanonicalState =
            postcard::from_bytes(bytes).map_err(|e| format!("undecodable state: {e}"))?;
        if st.next <= self.next {
            return Err(format!(
                "the state at slot {} is not ahead of this replica (slot {})",
                st.next.0, self.next.0
            ));
        }
        self.next = st.next;
        self.kv = st.kv;
        self.applied_ids = st.applied_ids;
        self.invalid_values = st.invalid_values;
        self.commands_applied = st.commands_applied;
        self.hash = st.hash;
        // The applied log entries below the snapshot are not transferred.
        self.log.clear();
        self.waiting = self.waiting.split_off(&st.next);
        Ok(self.apply_contiguous())
    }

    fn apply(&mut self, slot: Slot, b: Ballot, v: &Value, out: &mut Vec<(CmdId, CmdResult)>) {
        let batch = Batch::from_value(v);
        let digest = digest_hex(v);
        for x in slot.0.to_le_bytes().iter().chain(digest.as_bytes()) {
            self.hash ^= *x as u64;
            self.hash = self.hash.wrapping_mul(0x100000001b3);
        }
        self.log.push(LogEntry {
            slot: slot.0,
            ballot: b.0,
            digest,
            commands: batch.as_ref().map_or(0, |b| b.cmds.len()),
            valid: batch.is_some(),
        });
        let Some(batch) = batch else {
            self.invalid_values += 1;
            return;
        };
        if batch.invalid > 0 {
            self.invalid_values += 1;
        }
        for c in batch.cmds {
            if !self.applied_ids.insert(c.id) {
                continue;
            }
            self.commands_applied += 1;
            let value = match c.op {
                Op::Put { key, value } => self.kv.insert(key, value),
                Op::Get { key } => self.kv.get(&key).cloned(),
                Op::Delete { key } => self.kv.remove(&key),
            };
            out.push((c.id, CmdResult { slot, value }));
        }
    }

    /// A hash of the whole applied log (compacted entries included).
    pub fn log_hash(&self) -> u64 {
        self.hash
    }

    /// Forgets the applied log entries below `below` (their effect stays in
    /// the key-value state and the log hash).
    pub fn compact(&mut self, below: Slot) {
        let cut = self.log.partition_point(|e| e.slot < below.0);
        self.log.drain(..cut);
    }

    /// The applied state, for a WAL snapshot.
    pub fn snapshot(&self) -> ReplicaSnapshot {
        ReplicaSnapshot {
            next: self.next,
            kv: self.kv.clone(),
            applied_ids: self.applied_ids.clone(),
            log: self.log.clone(),
            invalid_values: self.invalid_values,
            commands_applied: self.commands_applied,
            hash: self.hash,
        }
    }

    /// A replica resumed from a snapshot (decided slots at or above
    /// `next` are then fed with [`Replica::decide`]).
    pub fn from_snapshot(s: ReplicaSnapshot) -> Replica {
        Replica {
            next: s.next,
            waiting: BTreeMap::new(),
            kv: s.kv,
            applied_ids: s.applied_ids,
            log: s.log,
            invalid_values: s.invalid_values,
            commands_applied: s.commands_applied,
            hash: s.hash,
            every: 0,
            checkpoints: Vec::new(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&String> {
        self.kv.get(key)
    }

    pub fn kv(&self) -> &BTreeMap<String, String> {
        &self.kv
    }

    pub fn log(&self) -> &[LogEntry] {
        &self.log
    }

    pub fn invalid_values(&self) -> u64 {
        self.invalid_values
    }

    pub fn commands_applied(&self) -> u64 {
        self.commands_applied
    }
}

pub fn digest_hex(v: &Value) -> String {
    crate::keys::to_hex(&v.digest().0[..8])
}

#[cfg(test)]
mod tests {
    use super::*;
    use hpaxos_core::pacemaker::ProposerIndex;

    fn cmd(seq: u64, op: Op) -> Command {
        Command {
            id: CmdId { origin: 0, seq },
            op,
        }
    }

    fn put(seq: u64, k: &str, v: &str) -> Command {
        cmd(
            seq,
            Op::Put {
                key: k.into(),
                value: v.into(),
            },
        )
    }

    fn value(cmds: Vec<Command>) -> Value {
        let enc: Vec<Vec<u8>> = cmds.iter().map(encode_command).collect();
        hpaxos_core::pacemaker::encode_batch(ProposerIndex(0), Slot(0), &enc)
    }

    #[test]
    fn slots_apply_in_order_once_the_gap_closes() {
        let mut r = Replica::new();
        let b1 = value(vec![put(1, "k", "one")]);
        let b0 = value(vec![put(0, "k", "zero")]);
        assert!(r.decide(Slot(1), Ballot(1), b1).is_empty());
        assert_eq!(r.get("k"), None);
        let res = r.decide(Slot(0), Ballot(1), b0);
        assert_eq!(res.len(), 2);
        assert_eq!(r.get("k").map(String::as_str), Some("one"));
        assert_eq!(r.next_slot(), Slot(2));
    }

    #[test]
    fn a_command_applies_once_and_garbage_is_a_noop() {
        let mut r = Replica::new();
        let b = value(vec![
            put(1, "k", "v"),
            cmd(2, Op::Delete { key: "k".into() }),
        ]);
        r.decide(Slot(0), Ballot(1), b.clone());
        r.decide(Slot(1), Ballot(1), Value::new(vec![0xff; 9]));
        let again = r.decide(Slot(2), Ballot(1), b);
        assert!(again.is_empty());
        assert_eq!(r.get("k"), None);
        assert_eq!(r.invalid_values(), 1);
        assert_eq!(r.log().len(), 3);
    }

    /// State transfer: a replica installed from another's canonical state
    /// at a checkpoint equals it (same canonical bytes, so the same
    /// attested digest), keeps the slots it had decided above, and applies
    /// later slots identically; checkpoints are captured exactly at the
    /// multiples of the interval.
    #[test]
    fn install_from_a_checkpoint_resumes_identically() {
        let mut full = Replica::new();
        full.set_checkpoints(4);
        let vals: Vec<Value> = (0..12u64)
            .map(|i| value(vec![put(i, &format!("k{}", i % 3), &format!("v{i}"))]))
            .collect();
        for (i, v) in vals.iter().enumerate().take(10) {
            full.decide(Slot(i as u64), Ballot(1), v.clone());
        }
        let cps = full.take_checkpoints();
        assert_eq!(
            cps.iter().map(|c| c.0).collect::<Vec<_>>(),
            vec![Slot(4), Slot(8)]
        );
        let mut late = Replica::new();
        late.decide(Slot(8), Ballot(3), vals[8].clone());
        late.decide(Slot(9), Ballot(3), vals[9].clone());
        late.decide(Slot(11), Ballot(3), vals[11].clone());
        late.install(&cps[1].1).unwrap();
        assert_eq!(late.next_slot(), Slot(10));
        assert_eq!(late.kv(), full.kv());
        assert_eq!(late.canonical(), full.canonical());
        full.decide(Slot(10), Ballot(1), vals[10].clone());
        full.decide(Slot(11), Ballot(1), vals[11].clone());
        late.decide(Slot(10), Ballot(2), vals[10].clone());
        assert_eq!(late.canonical(), full.canonical());
        assert!(
            late.install(&cps[0].1).is_err(),
            "an older state is refused"
        );
        assert!(late.install(b"garbage").is_err());
        assert_eq!(late.canonical(), full.canonical());
    }

    /// Compaction keeps the applied state: a replica resumed from a
    /// snapshot taken after compacting equals one that never compacted, and
    /// both keep applying the same later slots identically.
    #[test]
    fn snapshot_after_compaction_resumes_identically() {
        let mut full = Replica::new();
        let mut comp = Replica::new();
        for i in 0..10u64 {
            let v = value(vec![put(i, &format!("k{}", i % 3), &format!("v{i}"))]);
            full.decide(Slot(i), Ballot(1), v.clone());
            comp.decide(Slot(i), Ballot(1), v);
        }
        comp.compact(Slot(7));
        assert_eq!(comp.log().len(), 3);
        let mut back = Replica::from_snapshot(comp.snapshot());
        let v = value(vec![put(3, "k0", "again"), put(99, "k9", "new")]);
        full.decide(Slot(10), Ballot(2), v.clone());
        back.decide(Slot(10), Ballot(2), v);
        assert_eq!(back.kv(), full.kv());
        assert_eq!(back.next_slot(), Slot(11));
        assert_eq!(back.log_hash(), full.log_hash());
        assert_eq!(back.commands_applied(), full.commands_applied());
    }
}
