//! The node's durable store: an append-only, checksummed write-ahead log of
//! the core's [`Durable`] records, with group commit.
//!
//! Data flow: the driver [`Wal::append`]s every record a batch of messages
//! produced, then calls [`Wal::commit`] once: one `write` and one
//! `fdatasync` for the whole batch (many messages, many slots), and only
//! then are the batch's messages sent. On start, [`Wal::open`] replays the
//! file; the records rebuild the acceptor (`AcceptorDurable::apply`) and
//! the learners (`Learner::restore`).
//!
//! Compaction: once the driver garbage-collected the slots below a mark,
//! [`Wal::rewrite`] replaces the log by a **snapshot**: a [`NodeSnapshot`]
//! record (the mark and each local replica's applied key-value state)
//! followed by the `Durable` records of everything still held (acceptor
//! state of the remaining slots, disconnected pairs, the `Compacted` mark,
//! the learners' decisions of the remaining slots). It is written to
//! `<log>.tmp`, fsynced, atomically renamed over the log, and the directory
//! fsynced. A crash before the rename leaves the old, complete log plus a
//! partial or complete `<log>.tmp`, which [`Wal::open`] removes; a crash
//! after it leaves the complete new log. So the log size stays bounded by
//! the snapshot plus the records appended since.
//!
//! File: an 8-byte magic, then records `[len: u32 LE][crc32: u32 LE][body]`
//! where the body is `postcard(WalRecord)`. A final record cut short (a torn
//! write: the process or machine died mid-append, before the fsync, so no
//! message ever depended on it) is reported and cut off. A complete record
//! whose checksum fails is corruption of data that may have been
//! acknowledged: opening fails and names the offset, unless the operator
//! explicitly asks to truncate there.

use crate::snapshot::NodeSnapshot;
use hpaxos_core::{Durable, LearnerId};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// `03`: 1b, 2av, 2b and `Decided` records name values by digest, and a
/// `Batch` record holds the bytes once per value (a `02` log is refused).
const MAGIC: &[u8; 8] = b"HPXWAL03";

/// One record of the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WalRecord {
    Core(Durable),
    /// First record of a compacted log.
    Snapshot(NodeSnapshot),
    // New kinds go last: a variant's index is its postcard tag.
    /// A verified peer snapshot installed for local learner `lr`
    /// (`hpaxos_core::node::snapshot`): the replica's canonical state
    /// (`crate::kv::CanonicalState`) at a checkpoint. On replay the replica
    /// resumes from the latest such state ahead of it.
    Installed {
        lr: LearnerId,
        #[serde(with = "serde_bytes")]
        state: Vec<u8>,
    },
}

/// Where a snapshot is written before it is renamed over the log.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".tmp");
    PathBuf::from(p)
}

fn encode_record(out: &mut Vec<u8>, r: &WalRecord) -> usize {
    let body = postcard::to_stdvec(r).unwrap_or_default(); // ok: encoding to a Vec cannot fail
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    body.len()
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}
/// No single record may exceed this (a corrupt length is caught early).
const MAX_RECORD: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("write-ahead log {path}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("write-ahead log {path} is not an hpaxos log (bad magic)")]
    BadMagic { path: String },
    #[error("snapshot of {path} is too large ({bytes} bytes in one record)")]
    SnapshotTooLarge { path: String, bytes: usize },
    #[error("write-ahead log {path} is corrupt at byte {offset}: {why} ({tail} bytes from there on); refusing to start: restore the data directory, or run with --truncate-corrupt-wal to drop everything from that offset (what it costs: every record from there on is lost, votes and decisions this node may already have sent; its acceptor then counts as faulty in the learner graph, since it may vote against the votes it lost, until it has caught up past every slot it may have voted in, which it does from a peer's snapshot; meanwhile a learner whose trust assumption does not tolerate that extra fault has no guarantee; see docs/OPERATIONS.md)")]
    Corrupt {
        path: String,
        offset: u64,
        tail: u64,
        why: String,
    },
}

/// What opening found besides the records.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    pub records: usize,
    /// Bytes of an incomplete final record that were cut off, and where.
    pub torn_tail: Option<(u64, u64)>,
    /// Bytes of corrupt tail dropped on the operator's request, and where.
    pub dropped_corrupt: Option<(u64, u64)>,
    /// The snapshot the log starts with, if it was compacted.
    pub snapshot: Option<NodeSnapshot>,
    /// Bytes of an unfinished snapshot (`<log>.tmp`, a crash before its
    /// rename) that were removed.
    pub removed_tmp: Option<u64>,
    /// Peer snapshots installed since the log's own snapshot, in order.
    pub installed: Vec<(LearnerId, Vec<u8>)>,
}

pub struct Wal {
    path: PathBuf,
    file: File,
    pending: Vec<u8>,
    pending_records: usize,
    len: u64,
}

impl Wal {
    /// Opens (creating if absent) and replays the log.
    pub fn open(
        path: &Path,
        truncate_corrupt: bool,
    ) -> Result<(Wal, Vec<Durable>, Recovery), WalError> {
        let ps = path.display().to_string();
        let io = |source| WalError::Io {
            path: ps.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        let mut data = Vec::new();
        file.read_to_end(&mut data).map_err(io)?;
        let mut rec = Recovery::default();
        // A snapshot that was never renamed: the log itself is complete.
        let tmp = tmp_path(path);
        if let Ok(m) = std::fs::metadata(&tmp) {
            std::fs::remove_file(&tmp).map_err(io)?;
            sync_dir(path);
            rec.removed_tmp = Some(m.len());
        }
        if data.is_empty() {
            file.write_all(MAGIC).map_err(io)?;
            file.sync_all().map_err(io)?;
            sync_dir(path);
            let w = Wal {
                path: path.to_path_buf(),
                file,
                pending: Vec::new(),
                pending_records: 0,
                len: MAGIC.len() as u64,
            };
            return Ok((w, Vec::new(), rec));
        }
        if data.get(..MAGIC.len()) == Some(&legacy::MAGIC[..]) {
            // A log of the previous format: rewritten in this one, once.
            let (all, good_len, problem) = parse::<legacy::Record>(&data);
            if let (Some(Problem::Corrupt(why)), false) = (&problem, truncate_corrupt) {
                return Err(WalError::Corrupt {
                    path: ps,
                    offset: good_len,
                    tail: data.len() as u64 - good_len,
                    why: why.clone(),
                });
            }
            let mut buf = MAGIC.to_vec();
            for r in legacy::upgrade(all) {
                encode_record(&mut buf, &r);
            }
            let tmp = tmp_path(path);
            let tio = |source| WalError::Io {
                path: tmp.display().to_string(),
                source,
            };
            let mut f = File::create(&tmp).map_err(tio)?;
            f.write_all(&buf).map_err(tio)?;
            f.sync_all().map_err(tio)?;
            drop(f);
            drop(file);
            std::fs::rename(&tmp, path).map_err(io)?;
            sync_dir(path);
            tracing::info!(
                path = %ps,
                "upgraded the write-ahead log from HPXWAL02 (values by digest, bytes once per value)"
            );
            return Wal::open(path, truncate_corrupt);
        }
        if data.len() < MAGIC.len() || &data[..MAGIC.len()] != MAGIC {
            return Err(WalError::BadMagic { path: ps });
        }
        let (all, good_len, problem) = parse::<WalRecord>(&data);
        rec.records = all.len();
        let mut records = Vec::with_capacity(all.len());
        for r in all {
            match r {
                WalRecord::Core(d) => records.push(d),
                WalRecord::Snapshot(s) => rec.snapshot = Some(s),
                WalRecord::Installed { lr, state } => rec.installed.push((lr, state)),
            }
        }
        let total = data.len() as u64;
        match problem {
            None => {}
            Some(Problem::Torn) => {
                rec.torn_tail = Some((good_len, total - good_len));
            }
            Some(Problem::Corrupt(why)) => {
                if !truncate_corrupt {
                    return Err(WalError::Corrupt {
                        path: ps,
                        offset: good_len,
                        tail: total - good_len,
                        why,
                    });
                }
                rec.dropped_corrupt = Some((good_len, total - good_len));
            }
        }
        if good_len != total {
            file.set_len(good_len).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        file.seek(SeekFrom::Start(good_len)).map_err(io)?;
        let w = Wal {
            path: path.to_path_buf(),
            file,
            pending: Vec::new(),
            pending_records: 0,
            len: good_len,
        };
        Ok((w, records, rec))
    }

    /// Buffers one record for the next [`Wal::commit`].
    pub fn append(&mut self, d: &Durable) {
        encode_record(&mut self.pending, &WalRecord::Core(d.clone()));
        self.pending_records += 1;
    }

    /// Buffers the record of an installed peer snapshot for the next
    /// [`Wal::commit`]; refused (nothing buffered) when it could not be
    /// read back.
    pub fn append_installed(&mut self, lr: LearnerId, state: &[u8]) -> Result<(), WalError> {
        let rec = WalRecord::Installed {
            lr,
            state: state.to_vec(),
        };
        let mut buf = Vec::new();
        let n = encode_record(&mut buf, &rec);
        if n > MAX_RECORD {
            return Err(WalError::SnapshotTooLarge {
                path: self.path.display().to_string(),
                bytes: n,
            });
        }
        self.pending.extend_from_slice(&buf);
        self.pending_records += 1;
        Ok(())
    }

    /// Writes `<log>.tmp` holding the snapshot and `records`, fsynced; the
    /// first half of [`Wal::rewrite`]. Nothing changes if this fails.
    pub fn write_snapshot(
        &self,
        snap: &NodeSnapshot,
        records: &[Durable],
    ) -> Result<PathBuf, WalError> {
        let tmp = tmp_path(&self.path);
        let io = |source| WalError::Io {
            path: tmp.display().to_string(),
            source,
        };
        let mut buf = MAGIC.to_vec();
        let n = encode_record(&mut buf, &WalRecord::Snapshot(snap.clone()));
        if n > MAX_RECORD {
            return Err(WalError::SnapshotTooLarge {
                path: self.path.display().to_string(),
                bytes: n,
            });
        }
        for d in records {
            encode_record(&mut buf, &WalRecord::Core(d.clone()));
        }
        let mut f = File::create(&tmp).map_err(io)?;
        f.write_all(&buf).map_err(io)?;
        f.sync_all().map_err(io)?;
        Ok(tmp)
    }

    /// Replaces the log by a snapshot (see the module doc): commits what
    /// is pending, writes and fsyncs `<log>.tmp`, renames it over the log,
    /// fsyncs the directory and appends to the new file from then on.
    /// Returns the new length. An error before the rename leaves the old
    /// log in use (the flag is `false`); after it (`true`) the node
    /// must stop.
    pub fn rewrite(
        &mut self,
        snap: &NodeSnapshot,
        records: &[Durable],
    ) -> Result<u64, (WalError, bool)> {
        self.commit().map_err(|e| (e, false))?;
        let tmp = self.write_snapshot(snap, records).map_err(|e| (e, false))?;
        let io = |source| WalError::Io {
            path: self.path.display().to_string(),
            source,
        };
        std::fs::rename(&tmp, &self.path).map_err(|e| (io(e), false))?;
        sync_dir(&self.path);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(|e| (io(e), true))?;
        let len = file.seek(SeekFrom::End(0)).map_err(|e| (io(e), true))?;
        self.file = file;
        self.len = len;
        Ok(len)
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Writes every buffered record and makes it durable with one
    /// `fdatasync`. Returns the number of records committed (0: no I/O).
    pub fn commit(&mut self) -> Result<usize, WalError> {
        if self.pending.is_empty() {
            return Ok(0);
        }
        let io = |source| WalError::Io {
            path: self.path.display().to_string(),
            source,
        };
        self.file.write_all(&self.pending).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.len += self.pending.len() as u64;
        self.pending.clear();
        Ok(std::mem::take(&mut self.pending_records))
    }

    pub fn len_bytes(&self) -> u64 {
        self.len
    }
}

enum Problem {
    Torn,
    Corrupt(String),
}

/// Parses records after the magic; returns them, the length of the valid
/// prefix, and what stopped the parse early.
fn parse<T: serde::de::DeserializeOwned>(data: &[u8]) -> (Vec<T>, u64, Option<Problem>) {
    let mut out = Vec::new();
    let mut pos = MAGIC.len();
    loop {
        if pos == data.len() {
            return (out, pos as u64, None);
        }
        let Some(hdr) = data.get(pos..pos + 8) else {
            return (out, pos as u64, Some(Problem::Torn));
        };
        let len = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
        let crc = u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
        if len > MAX_RECORD {
            return (
                out,
                pos as u64,
                Some(Problem::Corrupt(format!(
                    "record length {len} is impossible"
                ))),
            );
        }
        let Some(body) = data.get(pos + 8..pos + 8 + len) else {
            return (out, pos as u64, Some(Problem::Torn));
        };
        if crc32fast::hash(body) != crc {
            return (
                out,
                pos as u64,
                Some(Problem::Corrupt("checksum mismatch".into())),
            );
        }
        match postcard::from_bytes::<T>(body) {
            Ok(d) => out.push(d),
            Err(e) => {
                return (
                    out,
                    pos as u64,
                    Some(Problem::Corrupt(format!("undecodable record: {e}"))),
                )
            }
        }
        pos += 8 + len;
    }
}

/// The previous format (`HPXWAL02`): values held their bytes in every
/// record. Read once and rewritten as `HPXWAL03`: each value's bytes in
/// one `Batch` record before the first record that names it.
mod legacy {
    use super::WalRecord;
    use crate::snapshot::NodeSnapshot;
    use hpaxos_core::{Ballot, Durable, LearnerId, Slot, Value, Vote};
    use serde::{Deserialize, Serialize};
    use serde_bytes::ByteBuf;
    use std::collections::BTreeSet;

    pub const MAGIC: &[u8; 8] = b"HPXWAL02";

    #[derive(Serialize, Deserialize)]
    pub struct OldVote {
        pub lr: LearnerId,
        pub bal: Ballot,
        pub val: ByteBuf,
    }

    /// `hpaxos_core::Durable` as it was (same variants, same order).
    #[derive(Serialize, Deserialize)]
    pub enum OldDurable {
        MaxBal {
            slot: Slot,
            lr: LearnerId,
            bal: Ballot,
        },
        Voted {
            slot: Slot,
            vote: OldVote,
        },
        Proposed {
            slot: Slot,
            vote: OldVote,
        },
        Disconnected {
            pair: (LearnerId, LearnerId),
        },
        Decided {
            slot: Slot,
            lr: LearnerId,
            bal: Ballot,
            val: ByteBuf,
        },
        Compacted {
            below: Slot,
        },
    }

    #[derive(Serialize, Deserialize)]
    pub enum Record {
        Core(OldDurable),
        Snapshot(NodeSnapshot),
    }

    /// The records in this format, in order.
    pub fn upgrade(old: Vec<Record>) -> Vec<WalRecord> {
        let mut out = Vec::new();
        let mut logged = BTreeSet::new();
        let mut batch = |out: &mut Vec<WalRecord>, slot: Slot, b: ByteBuf| -> Value {
            let v = Value::new(b.into_vec());
            if logged.insert(v.digest()) {
                out.push(WalRecord::Core(Durable::Batch {
                    slot,
                    val: v.clone(),
                }));
            }
            v.digest_only()
        };
        for r in old {
            let d = match r {
                Record::Snapshot(s) => {
                    out.push(WalRecord::Snapshot(s));
                    continue;
                }
                Record::Core(OldDurable::MaxBal { slot, lr, bal }) => {
                    Durable::MaxBal { slot, lr, bal }
                }
                Record::Core(OldDurable::Voted { slot, vote }) => Durable::Voted {
                    slot,
                    vote: Vote {
                        lr: vote.lr,
                        bal: vote.bal,
                        val: batch(&mut out, slot, vote.val),
                    },
                },
                Record::Core(OldDurable::Proposed { slot, vote }) => Durable::Proposed {
                    slot,
                    vote: Vote {
                        lr: vote.lr,
                        bal: vote.bal,
                        val: batch(&mut out, slot, vote.val),
                    },
                },
                Record::Core(OldDurable::Disconnected { pair }) => Durable::Disconnected { pair },
                Record::Core(OldDurable::Decided { slot, lr, bal, val }) => Durable::Decided {
                    slot,
                    lr,
                    bal,
                    val: batch(&mut out, slot, val),
                },
                Record::Core(OldDurable::Compacted { below }) => Durable::Compacted { below },
            };
            out.push(WalRecord::Core(d));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hpaxos_core::{Ballot, LearnerId, Slot};

    /// A log of the previous format (`HPXWAL02`, values as bytes in every
    /// record) opens: it is rewritten once in this format, each value's
    /// bytes in one `Batch` record, and reads back the same state.
    #[test]
    fn a_log_of_the_previous_format_is_upgraded() {
        use legacy::{OldDurable, OldVote, Record};
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("wal");
        let bytes = vec![5u8; 600];
        let old = vec![
            Record::Core(OldDurable::MaxBal {
                slot: Slot(1),
                lr: LearnerId(0),
                bal: Ballot(2),
            }),
            Record::Core(OldDurable::Proposed {
                slot: Slot(1),
                vote: OldVote {
                    lr: LearnerId(0),
                    bal: Ballot(2),
                    val: serde_bytes::ByteBuf::from(bytes.clone()),
                },
            }),
            Record::Core(OldDurable::Voted {
                slot: Slot(1),
                vote: OldVote {
                    lr: LearnerId(0),
                    bal: Ballot(2),
                    val: serde_bytes::ByteBuf::from(bytes.clone()),
                },
            }),
            Record::Core(OldDurable::Decided {
                slot: Slot(1),
                lr: LearnerId(0),
                bal: Ballot(2),
                val: serde_bytes::ByteBuf::from(bytes.clone()),
            }),
        ];
        let mut data = legacy::MAGIC.to_vec();
        for r in &old {
            let body = postcard::to_stdvec(r).unwrap();
            data.extend_from_slice(&(body.len() as u32).to_le_bytes());
            data.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
            data.extend_from_slice(&body);
        }
        std::fs::write(&p, &data).unwrap();
        let (mut w, got, _) = Wal::open(&p, false).unwrap();
        let v = hpaxos_core::Value::new(bytes);
        let batches: Vec<&Durable> = got
            .iter()
            .filter(|r| matches!(r, Durable::Batch { .. }))
            .collect();
        assert_eq!(batches.len(), 1);
        assert!(matches!(batches[0], Durable::Batch { val, .. } if *val == v && val.has_bytes()));
        assert_eq!(got.len(), 5);
        assert!(matches!(&got[4], Durable::Decided { val, .. } if *val == v));
        w.append(&rec(9));
        w.commit().unwrap();
        let (_, again, _) = Wal::open(&p, false).unwrap();
        assert_eq!(again.len(), 6);
        assert_eq!(&std::fs::read(&p).unwrap()[..8], MAGIC);
        // The upgraded log is smaller: the bytes are there once.
        assert!(std::fs::metadata(&p).unwrap().len() < data.len() as u64);
    }

    fn rec(i: u64) -> Durable {
        Durable::MaxBal {
            slot: Slot(i),
            lr: LearnerId(0),
            bal: Ballot(i + 1),
        }
    }

    fn write_n(path: &Path, n: u64) {
        let (mut w, got, _) = Wal::open(path, false).unwrap();
        assert!(got.is_empty());
        for i in 0..n {
            w.append(&rec(i));
        }
        assert_eq!(w.commit().unwrap(), n as usize);
    }

    #[test]
    fn records_survive_reopen_in_order() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("wal");
        write_n(&p, 5);
        let (_, got, r) = Wal::open(&p, false).unwrap();
        assert_eq!(got, (0..5).map(rec).collect::<Vec<_>>());
        assert_eq!(r.torn_tail, None);
    }

    #[test]
    fn torn_tail_is_reported_and_cut_off() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("wal");
        write_n(&p, 3);
        let full = std::fs::metadata(&p).unwrap().len();
        // Cut the last record in half: a write that never completed.
        let f = OpenOptions::new().write(true).open(&p).unwrap();
        f.set_len(full - 3).unwrap();
        let (mut w, got, r) = Wal::open(&p, false).unwrap();
        assert_eq!(got, (0..2).map(rec).collect::<Vec<_>>());
        let (off, n) = r.torn_tail.unwrap();
        assert!(n > 0 && off < full);
        // Appending after recovery yields a clean log.
        w.append(&rec(9));
        w.commit().unwrap();
        let (_, got, r) = Wal::open(&p, false).unwrap();
        assert_eq!(got, vec![rec(0), rec(1), rec(9)]);
        assert_eq!(r.torn_tail, None);
    }

    #[test]
    fn corrupt_record_refuses_to_open_unless_asked() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("wal");
        write_n(&p, 3);
        let mut data = std::fs::read(&p).unwrap();
        let n = data.len();
        data[n - 1] ^= 0xff; // flip a byte of the last record's body
        std::fs::write(&p, &data).unwrap();
        match Wal::open(&p, false) {
            Err(e @ WalError::Corrupt { offset, .. }) => {
                assert!(offset > 8);
                // Golden: the operator is told the options and the cost.
                let msg = e.to_string();
                let want = format!(
                    "write-ahead log {} is corrupt at byte {offset}: ",
                    p.display()
                );
                assert!(msg.starts_with(&want), "{msg}");
                assert!(msg.ends_with(" bytes from there on); refusing to start: restore the data directory, or run with --truncate-corrupt-wal to drop everything from that offset (what it costs: every record from there on is lost, votes and decisions this node may already have sent; its acceptor then counts as faulty in the learner graph, since it may vote against the votes it lost, until it has caught up past every slot it may have voted in, which it does from a peer's snapshot; meanwhile a learner whose trust assumption does not tolerate that extra fault has no guarantee; see docs/OPERATIONS.md)"), "{msg}");
            }
            other => panic!("expected corruption, got {:?}", other.map(|x| x.1)),
        }
        let (_, got, r) = Wal::open(&p, true).unwrap();
        assert_eq!(got, vec![rec(0), rec(1)]);
        assert!(r.dropped_corrupt.is_some());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Any bytes after the magic: opening never panics, and whatever it
        /// accepts is a prefix of valid records followed by a reported tail.
        #[test]
        fn arbitrary_log_bytes_never_panic(tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let d = tempfile::tempdir().unwrap();
            let p = d.path().join("wal");
            let mut data = MAGIC.to_vec();
            data.extend_from_slice(&tail);
            std::fs::write(&p, &data).unwrap();
            match Wal::open(&p, false) {
                Ok((_, _, r)) => {
                    let kept = std::fs::metadata(&p).unwrap().len();
                    let cut = r.torn_tail.map_or(0, |t| t.1);
                    proptest::prop_assert_eq!(kept + cut, data.len() as u64);
                }
                Err(WalError::Corrupt { .. }) => {
                    // Refused: the file is left as it was.
                    proptest::prop_assert_eq!(std::fs::read(&p).unwrap(), data);
                }
                Err(e) => proptest::prop_assert!(false, "unexpected error {e}"),
            }
        }
    }

    fn snap(below: u64) -> NodeSnapshot {
        let mut r = crate::kv::Replica::new();
        r.decide(Slot(0), Ballot(1), hpaxos_core::Value::new(vec![1, 2, 3]));
        NodeSnapshot {
            compacted_below: Slot(below),
            replicas: vec![(LearnerId(0), r.snapshot())],
        }
    }

    /// A rewrite replaces the log by the snapshot and the records given;
    /// later appends follow it, and a reopen sees exactly that.
    #[test]
    fn rewrite_replaces_the_log_by_a_snapshot() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("wal");
        write_n(&p, 200);
        let before = std::fs::metadata(&p).unwrap().len();
        let (mut w, got, _) = Wal::open(&p, false).unwrap();
        assert_eq!(got.len(), 200);
        let keep = vec![Durable::Compacted { below: Slot(190) }, rec(195)];
        let len = w.rewrite(&snap(190), &keep).unwrap();
        assert!(len < before / 4, "{len} vs {before}");
        w.append(&rec(300));
        w.commit().unwrap();
        let (_, got, r) = Wal::open(&p, false).unwrap();
        assert_eq!(r.snapshot, Some(snap(190)));
        assert_eq!(
            got,
            vec![Durable::Compacted { below: Slot(190) }, rec(195), rec(300)]
        );
        assert!(!tmp_path(&p).exists());
    }

    /// An installed peer snapshot is a record of its own, committed with
    /// the others and read back in order (after the log's own snapshot,
    /// whose replicas it supersedes on replay: `run`).
    #[test]
    fn installed_snapshots_survive_reopen_and_a_rewrite_drops_them() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("wal");
        write_n(&p, 2);
        let (mut w, _, _) = Wal::open(&p, false).unwrap();
        w.append_installed(LearnerId(1), b"state at 40").unwrap();
        w.append(&rec(7));
        w.commit().unwrap();
        let (mut w, got, r) = Wal::open(&p, false).unwrap();
        assert_eq!(got, vec![rec(0), rec(1), rec(7)]);
        assert_eq!(r.installed, vec![(LearnerId(1), b"state at 40".to_vec())]);
        w.rewrite(&snap(40), &[Durable::Compacted { below: Slot(40) }])
            .unwrap();
        let (_, _, r) = Wal::open(&p, false).unwrap();
        assert!(r.installed.is_empty());
        assert_eq!(r.snapshot, Some(snap(40)));
    }

    /// A crash after the snapshot file was written (completely or in part)
    /// but before its rename: the old log is used as it was and the
    /// unfinished snapshot is removed.
    #[test]
    fn crash_between_snapshot_write_and_rename_recovers_the_old_log() {
        for partial in [false, true] {
            let d = tempfile::tempdir().unwrap();
            let p = d.path().join("wal");
            write_n(&p, 20);
            let old = std::fs::read(&p).unwrap();
            let (w, _, _) = Wal::open(&p, false).unwrap();
            let tmp = w.write_snapshot(&snap(15), &[rec(16)]).unwrap();
            drop(w); // the process dies here: no rename
            if partial {
                let n = std::fs::metadata(&tmp).unwrap().len();
                let f = OpenOptions::new().write(true).open(&tmp).unwrap();
                f.set_len(n / 2).unwrap();
            }
            let (_, got, r) = Wal::open(&p, false).unwrap();
            assert_eq!(got, (0..20).map(rec).collect::<Vec<_>>());
            assert_eq!(r.snapshot, None);
            assert!(r.removed_tmp.is_some());
            assert!(!tmp.exists());
            assert_eq!(std::fs::read(&p).unwrap(), old);
        }
    }

    #[test]
    fn foreign_file_is_rejected() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("wal");
        std::fs::write(&p, b"hello world, not a log").unwrap();
        assert!(matches!(
            Wal::open(&p, false),
            Err(WalError::BadMagic { .. })
        ));
    }
}
