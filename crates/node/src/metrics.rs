//! Counters and latency histograms of one node, shared by the transport,
//! the driver and the HTTP API, rendered in the Prometheus text format at
//! `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
];

#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; 12],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, secs: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.counts[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add((secs * 1e6) as u64, Ordering::Relaxed);
    }

    fn render(&self, name: &str, out: &mut String) {
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{b}\"}} {}",
                self.counts[i].load(Ordering::Relaxed)
            );
        }
        let c = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {c}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {c}");
    }
}

/// Labelled counters (`name{label="..."}`).
#[derive(Default)]
pub struct Labelled(Mutex<BTreeMap<String, u64>>);

impl Labelled {
    pub fn inc(&self, label: &str) {
        self.add(label, 1)
    }

    pub fn add(&self, label: &str, n: u64) {
        if let Ok(mut m) = self.0.lock() {
            *m.entry(label.to_string()).or_default() += n;
        }
    }

    pub fn get(&self, label: &str) -> u64 {
        self.0
            .lock()
            .ok()
            .and_then(|m| m.get(label).copied())
            .unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.0.lock().map(|m| m.values().sum()).unwrap_or(0)
    }

    fn render(&self, name: &str, label: &str, help: &str, out: &mut String) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} counter");
        if let Ok(m) = self.0.lock() {
            for (k, v) in m.iter() {
                let _ = writeln!(out, "{name}{{{label}=\"{k}\"}} {v}");
            }
        }
    }
}

#[derive(Default)]
pub struct Metrics {
    pub msgs_in: Labelled,
    pub msgs_out: Labelled,
    pub rejected: Labelled,
    pub decisions: Labelled,
    pub evidence: AtomicU64,
    pub fsyncs: AtomicU64,
    pub wal_records: AtomicU64,
    pub wal_bytes: AtomicU64,
    pub snapshots: AtomicU64,
    pub send_dropped: AtomicU64,
    pub send_stale: AtomicU64,
    pub batches: AtomicU64,
    pub commands_submitted: AtomicU64,
    pub commands_committed: AtomicU64,
    pub submit_latency: Histogram,
    pub fsync_latency: Histogram,
    pub ballots_started: AtomicU64,
    pub peers_connected: AtomicU64,
    pub certificates_received: AtomicU64,
}

fn counter(out: &mut String, name: &str, help: &str, v: &AtomicU64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    let _ = writeln!(out, "{name} {}", v.load(Ordering::Relaxed));
}

fn gauge(out: &mut String, name: &str, help: &str, v: u64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    let _ = writeln!(out, "{name} {v}");
}

/// Resident set size in bytes (Linux: the second field of
/// `/proc/self/statm`, in pages); `None` where it cannot be read.
pub fn resident_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages.saturating_mul(u64::try_from(page).ok().filter(|p| *p > 0).unwrap_or(4096)))
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut o = String::new();
        self.msgs_in.render(
            "hpaxos_messages_received_total",
            "kind",
            "Authenticated protocol messages received",
            &mut o,
        );
        self.msgs_out.render(
            "hpaxos_messages_sent_total",
            "kind",
            "Protocol messages signed and broadcast",
            &mut o,
        );
        self.rejected.render(
            "hpaxos_rejected_total",
            "reason",
            "Frames or messages rejected",
            &mut o,
        );
        self.decisions.render(
            "hpaxos_decisions_total",
            "learner",
            "Slots decided per local learner",
            &mut o,
        );
        counter(
            &mut o,
            "hpaxos_evidence_total",
            "Equivocation evidence seen",
            &self.evidence,
        );
        counter(
            &mut o,
            "hpaxos_fsyncs_total",
            "Write-ahead log fsyncs",
            &self.fsyncs,
        );
        counter(
            &mut o,
            "hpaxos_wal_records_total",
            "Durable records written",
            &self.wal_records,
        );
        counter(
            &mut o,
            "hpaxos_wal_bytes",
            "Write-ahead log size in bytes",
            &self.wal_bytes,
        );
        counter(
            &mut o,
            "hpaxos_wal_snapshots_total",
            "Write-ahead log rewrites as a snapshot after slot compaction",
            &self.snapshots,
        );
        counter(
            &mut o,
            "hpaxos_send_dropped_total",
            "Frames dropped on a full peer queue",
            &self.send_dropped,
        );
        counter(
            &mut o,
            "hpaxos_send_stale_total",
            "Frames dropped because their peer was unreachable for too long",
            &self.send_stale,
        );
        counter(
            &mut o,
            "hpaxos_certificate_messages_received_total",
            "Signed 2b messages received in decision certificates (catch-up)",
            &self.certificates_received,
        );
        counter(
            &mut o,
            "hpaxos_driver_batches_total",
            "Driver iterations (one group commit each)",
            &self.batches,
        );
        counter(
            &mut o,
            "hpaxos_commands_submitted_total",
            "Client commands accepted",
            &self.commands_submitted,
        );
        counter(
            &mut o,
            "hpaxos_commands_committed_total",
            "Client commands acknowledged",
            &self.commands_committed,
        );
        counter(
            &mut o,
            "hpaxos_ballots_started_total",
            "Ballots this proposer started",
            &self.ballots_started,
        );
        gauge(
            &mut o,
            "hpaxos_peers_connected",
            "Outgoing peer connections up",
            self.peers_connected.load(Ordering::Relaxed),
        );
        if let Some(rss) = resident_bytes() {
            gauge(
                &mut o,
                "process_resident_memory_bytes",
                "Resident memory of this process (from /proc/self/statm)",
                rss,
            );
        }
        self.submit_latency
            .render("hpaxos_submit_latency_seconds", &mut o);
        self.fsync_latency
            .render("hpaxos_fsync_latency_seconds", &mut o);
        o
    }
}
