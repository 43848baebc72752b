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
//! File: an 8-byte magic, then records `[len: u32 LE][crc32: u32 LE][body]`
//! where the body is `postcard(Durable)`. A final record cut short (a torn
//! write: the process or machine died mid-append, before the fsync, so no
//! message ever depended on it) is reported and cut off. A complete record
//! whose checksum fails is corruption of data that may have been
//! acknowledged: opening fails and names the offset, unless the operator
//! explicitly asks to truncate there.

use hpaxos_core::Durable;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"HPXWAL01";
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
    #[error("write-ahead log {path} is corrupt at byte {offset}: {why} ({tail} bytes from there on); refusing to start: restore the data directory, or run with --truncate-corrupt-wal to drop everything from that offset")]
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
        if data.is_empty() {
            file.write_all(MAGIC).map_err(io)?;
            file.sync_all().map_err(io)?;
            if let Some(dir) = path.parent() {
                if let Ok(d) = File::open(dir) {
                    let _ = d.sync_all();
                }
            }
            let w = Wal {
                path: path.to_path_buf(),
                file,
                pending: Vec::new(),
                pending_records: 0,
                len: MAGIC.len() as u64,
            };
            return Ok((w, Vec::new(), rec));
        }
        if data.len() < MAGIC.len() || &data[..MAGIC.len()] != MAGIC {
            return Err(WalError::BadMagic { path: ps });
        }
        let (records, good_len, problem) = parse(&data);
        rec.records = records.len();
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
        let body = postcard::to_stdvec(d).unwrap_or_default(); // ok: encoding to a Vec cannot fail
        self.pending
            .extend_from_slice(&(body.len() as u32).to_le_bytes());
        self.pending
            .extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        self.pending.extend_from_slice(&body);
        self.pending_records += 1;
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
fn parse(data: &[u8]) -> (Vec<Durable>, u64, Option<Problem>) {
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
        match postcard::from_bytes::<Durable>(body) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use hpaxos_core::{Ballot, LearnerId, Slot};

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
            Err(WalError::Corrupt { offset, .. }) => assert!(offset > 8),
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
