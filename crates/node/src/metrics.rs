//! Counters, gauges and latency histograms of one node, shared by the
//! transport, the driver and the HTTP API, and rendered at `/metrics` in
//! the OpenMetrics text format by the `prometheus-client` crate.
//!
//! Where it sits: the transport counts rejections, peer connections and
//! queue drops as they happen; the driver counts messages, fsyncs and
//! decisions and, once per iteration, refreshes the gauges that describe
//! its state (decided and applied slots, ballot, leader, queue depths);
//! `/metrics` encodes whatever is current. Every family has a HELP text
//! and its Prometheus type (counters end in `_total` on the wire; the
//! family is registered without the suffix, which the encoder appends).

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Metric, Registry};
use std::sync::atomic::Ordering;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 13] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
];

/// The content type of `/metrics`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The git commit the binary was built from, when the build set
/// `HPAXOS_GIT_COMMIT` (release scripts do; a plain `cargo build` does not).
pub const GIT_COMMIT: &str = match option_env!("HPAXOS_GIT_COMMIT") {
    Some(c) => c,
    None => "unknown",
};

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

type Labels = Vec<(&'static str, String)>;

/// A family of metrics with one label (`name{key="value"}`).
pub struct ByLabel<M, C = fn() -> M> {
    key: &'static str,
    fam: Family<Labels, M, C>,
}

impl<M: Default> ByLabel<M> {
    fn new(key: &'static str) -> Self {
        ByLabel {
            key,
            fam: Family::new_with_constructor(M::default as fn() -> M),
        }
    }
}

impl<M: Clone, C: MetricConstructor<M>> ByLabel<M, C> {
    /// The metric of label value `v` (created at 0 when new).
    pub fn with(&self, v: &str) -> M {
        self.fam
            .get_or_create_owned(&vec![(self.key, v.to_string())])
    }

    /// The metric of label value `v`, if it was ever created.
    pub fn existing(&self, v: &str) -> Option<M> {
        self.fam
            .get(&vec![(self.key, v.to_string())])
            .map(|m| m.clone())
    }
}

impl ByLabel<Counter> {
    pub fn inc(&self, label: &str) {
        self.with(label).inc();
    }

    pub fn add(&self, label: &str, n: u64) {
        self.with(label).inc_by(n);
    }

    /// The count of `label` (0 if never counted).
    pub fn get(&self, label: &str) -> u64 {
        self.existing(label).map(|c| c.get()).unwrap_or(0)
    }
}

impl ByLabel<Gauge> {
    pub fn set(&self, label: &str, v: i64) {
        self.with(label).set(v);
    }

    /// The value of `label` (`None` if never set).
    pub fn get(&self, label: &str) -> Option<i64> {
        self.existing(label).map(|g| g.get())
    }
}

/// Every metric of one node. The fields are handles onto the registered
/// metrics (cheap clones sharing one atomic each).
pub struct Metrics {
    registry: Registry,
    pub msgs_in: ByLabel<Counter>,
    pub msgs_out: ByLabel<Counter>,
    pub rejected: ByLabel<Counter>,
    pub decisions: ByLabel<Counter>,
    /// Equivocation evidence of any acceptor (kept: dashboards use it).
    pub evidence: Counter,
    /// Equivocation evidence per acceptor (label `acceptor`).
    pub evidence_by_acceptor: ByLabel<Counter>,
    pub fsyncs: Counter,
    pub wal_records: Counter,
    pub wal_bytes: Gauge,
    pub snapshots: Counter,
    /// State transfer (`hpaxos_core::node::snapshot`), by event:
    /// `attested`, `served`, `installed`, `refused`.
    pub state_transfer: ByLabel<Counter>,
    pub send_dropped: Counter,
    pub send_stale: Counter,
    pub batches: Counter,
    pub commands_submitted: Counter,
    pub commands_committed: Counter,
    pub submit_latency: Histogram,
    pub fsync_latency: Histogram,
    pub ballots_started: Counter,
    pub peers_connected: Gauge,
    pub certificates_received: Counter,
    pub resident: Gauge,
    /// Per learner followed here: slots decided as a contiguous prefix.
    pub learner_decided: ByLabel<Gauge>,
    /// Per learner run here: slots applied to its replica.
    pub learner_applied: ByLabel<Gauge>,
    /// Per learner run here: 1 while a quorum of it is live, else 0.
    pub learner_live_quorum: ByLabel<Gauge>,
    /// Per learner run here: first message of a slot to its decision.
    pub decision_latency: ByLabel<Histogram>,
    /// Per learner: the ballot of the slot it waits for (see `docs/API.md`).
    pub current_ballot: ByLabel<Gauge>,
    pub view: Gauge,
    /// 1 for the current leader (label `node`), 0 for former leaders.
    pub leader: ByLabel<Gauge>,
    /// Depth of the node's internal queues (label `queue`).
    pub queue_depth: ByLabel<Gauge>,
    /// Frames waiting in each peer's outgoing queue (label `peer`).
    pub peer_queue_depth: ByLabel<Gauge>,
    /// 1 while the connection to a peer is up (handshake done), else 0.
    pub peer_up: ByLabel<Gauge>,
    /// Signed 1b/2b relayed to peers for the equivocation cross-check.
    pub witness_sent: Counter,
    /// Frames this node signed (a bundle of several messages counts once).
    pub frames_signed: Counter,
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

fn reg<M: Metric + Clone>(r: &mut Registry, name: &str, help: &str, m: M) -> M {
    r.register(name, help, m.clone());
    m
}

fn reg_by<M, C>(r: &mut Registry, name: &str, help: &str, m: ByLabel<M, C>) -> ByLabel<M, C>
where
    Family<Labels, M, C>: Metric + Clone,
{
    r.register(name, help, m.fam.clone());
    m
}

impl Default for Metrics {
    fn default() -> Self {
        let mut r = Registry::default();
        let r = &mut r;
        let hist = |key| ByLabel {
            key,
            fam: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
        };
        let m = Metrics {
            msgs_in: reg_by(
                r,
                "hpaxos_messages_received",
                "Authenticated protocol messages received, by kind",
                ByLabel::new("kind"),
            ),
            msgs_out: reg_by(
                r,
                "hpaxos_messages_sent",
                "Protocol messages signed and broadcast, by kind",
                ByLabel::new("kind"),
            ),
            rejected: reg_by(
                r,
                "hpaxos_rejected",
                "Frames, messages and handshakes rejected, by reason",
                ByLabel::new("reason"),
            ),
            decisions: reg_by(
                r,
                "hpaxos_decisions",
                "Slots decided per local learner",
                ByLabel::new("learner"),
            ),
            evidence: reg(
                r,
                "hpaxos_evidence",
                "Equivocation evidence seen (two conflicting signed messages of one acceptor)",
                Counter::default(),
            ),
            evidence_by_acceptor: reg_by(
                r,
                "hpaxos_acceptor_evidence",
                "Equivocation evidence per acceptor: distinct conflicting pairs of its signed 1b/2b",
                ByLabel::new("acceptor"),
            ),
            fsyncs: reg(r, "hpaxos_fsyncs", "Write-ahead log fsyncs", Counter::default()),
            wal_records: reg(
                r,
                "hpaxos_wal_records",
                "Durable records written",
                Counter::default(),
            ),
            wal_bytes: reg(
                r,
                "hpaxos_wal_bytes",
                "Write-ahead log size in bytes",
                Gauge::default(),
            ),
            snapshots: reg(
                r,
                "hpaxos_wal_snapshots",
                "Write-ahead log rewrites as a snapshot after slot compaction",
                Counter::default(),
            ),
            state_transfer: reg_by(
                r,
                "hpaxos_state_transfer",
                "State transfer by event: checkpoint attestations signed, snapshots served to lagging peers, peer snapshots installed, snapshots refused (no quorum of attestations, or a state not matching their digest)",
                ByLabel::new("event"),
            ),
            send_dropped: reg(
                r,
                "hpaxos_send_dropped",
                "Frames dropped on a full peer queue",
                Counter::default(),
            ),
            send_stale: reg(
                r,
                "hpaxos_send_stale",
                "Frames dropped because their peer was unreachable for too long",
                Counter::default(),
            ),
            certificates_received: reg(
                r,
                "hpaxos_certificate_messages_received",
                "Signed 2b messages received in decision certificates (catch-up)",
                Counter::default(),
            ),
            batches: reg(
                r,
                "hpaxos_driver_batches",
                "Driver iterations (one group commit each)",
                Counter::default(),
            ),
            commands_submitted: reg(
                r,
                "hpaxos_commands_submitted",
                "Client commands accepted",
                Counter::default(),
            ),
            commands_committed: reg(
                r,
                "hpaxos_commands_committed",
                "Client commands acknowledged",
                Counter::default(),
            ),
            ballots_started: reg(
                r,
                "hpaxos_ballots_started",
                "Ballots this proposer started",
                Counter::default(),
            ),
            peers_connected: reg(
                r,
                "hpaxos_peers_connected",
                "Outgoing peer connections up (handshake done)",
                Gauge::default(),
            ),
            resident: reg(
                r,
                "process_resident_memory_bytes",
                "Resident memory of this process (from /proc/self/statm)",
                Gauge::default(),
            ),
            submit_latency: reg(
                r,
                "hpaxos_submit_latency_seconds",
                "Client command latency: submitted here to applied by its learner",
                latency_histogram(),
            ),
            fsync_latency: reg(
                r,
                "hpaxos_fsync_latency_seconds",
                "Write-ahead log group commit (write and fsync) latency",
                latency_histogram(),
            ),
            learner_decided: reg_by(
                r,
                "hpaxos_learner_decided_slots",
                "Slots decided as a contiguous prefix, per learner run or followed here",
                ByLabel::new("learner"),
            ),
            learner_applied: reg_by(
                r,
                "hpaxos_learner_applied_slots",
                "Slots applied to the key-value replica, per learner run here",
                ByLabel::new("learner"),
            ),
            learner_live_quorum: reg_by(
                r,
                "hpaxos_learner_live_quorum",
                "1 while a quorum of the learner is among the acceptors heard recently, else 0",
                ByLabel::new("learner"),
            ),
            decision_latency: reg_by(
                r,
                "hpaxos_decision_latency_seconds",
                "First protocol message of a slot seen here to its decision, per learner run here",
                hist("learner"),
            ),
            current_ballot: reg_by(
                r,
                "hpaxos_current_ballot",
                "Ballot of the slot each learner waits for: the proposer's (proposer nodes) or the acceptor's maxBal",
                ByLabel::new("learner"),
            ),
            view: reg(
                r,
                "hpaxos_view",
                "Leader view this node is in",
                Gauge::default(),
            ),
            leader: reg_by(
                r,
                "hpaxos_leader",
                "1 for the proposer node leading this node's view, 0 for earlier leaders",
                ByLabel::new("node"),
            ),
            queue_depth: reg_by(
                r,
                "hpaxos_queue_depth",
                "Items waiting in the node's queues (driver events, pending and proposer commands)",
                ByLabel::new("queue"),
            ),
            peer_queue_depth: reg_by(
                r,
                "hpaxos_peer_queue_depth",
                "Frames waiting in each peer's outgoing queue",
                ByLabel::new("peer"),
            ),
            peer_up: reg_by(
                r,
                "hpaxos_peer_up",
                "1 while the outgoing connection to the peer is up (handshake done), else 0",
                ByLabel::new("peer"),
            ),
            witness_sent: reg(
                r,
                "hpaxos_witness_frames_sent",
                "Signed 1b/2b of other acceptors relayed to peers for the equivocation cross-check",
                Counter::default(),
            ),
            frames_signed: reg(
                r,
                "hpaxos_frames_signed",
                "Frames signed for peers: one per 1b/2av/2b, one per bundle of the other messages of an iteration to a destination",
                Counter::default(),
            ),
            registry: Registry::default(),
        };
        r.register(
            "hpaxos_build",
            "Version and git commit of this binary",
            Info::new(vec![
                ("version", env!("CARGO_PKG_VERSION").to_string()),
                ("git_commit", GIT_COMMIT.to_string()),
            ]),
        );
        Metrics {
            registry: std::mem::take(r),
            ..m
        }
    }
}

impl Metrics {
    /// The OpenMetrics text of every family.
    pub fn render(&self) -> String {
        if let Some(rss) = resident_bytes() {
            self.resident.set(i64::try_from(rss).unwrap_or(i64::MAX));
        }
        let mut o = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut o, &self.registry);
        o
    }

    /// Sets a counter to an absolute value kept elsewhere (the pacemaker's
    /// own statistics).
    pub fn set_counter(c: &Counter, v: u64) {
        c.inner().store(v, Ordering::Relaxed);
    }
}

/// A gauge value from an unsigned count.
pub fn g(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every family has a HELP and a TYPE line, the names that tests,
    /// scripts and dashboards use are unchanged, and the gauges are typed
    /// as gauges.
    #[test]
    fn families_have_help_types_and_the_old_names() {
        let m = Metrics::default();
        m.msgs_out.inc("2b");
        m.rejected.inc("malformed");
        m.decisions.inc("alice");
        m.evidence_by_acceptor.inc("a4");
        m.fsyncs.inc();
        m.fsync_latency.observe(0.004);
        m.decision_latency.with("alice").observe(0.03);
        m.peer_up.set("n2", 1);
        m.wal_bytes.set(100);
        let t = m.render();
        for line in [
            "hpaxos_messages_sent_total{kind=\"2b\"} 1",
            "hpaxos_rejected_total{reason=\"malformed\"} 1",
            "hpaxos_decisions_total{learner=\"alice\"} 1",
            "hpaxos_acceptor_evidence_total{acceptor=\"a4\"} 1",
            "hpaxos_evidence_total 0",
            "hpaxos_fsyncs_total 1",
            "hpaxos_fsync_latency_seconds_count 1",
            "hpaxos_decision_latency_seconds_count{learner=\"alice\"} 1",
            "hpaxos_peer_up{peer=\"n2\"} 1",
            "hpaxos_wal_bytes 100",
            "# TYPE hpaxos_wal_bytes gauge",
            "# TYPE hpaxos_peers_connected gauge",
            "# TYPE process_resident_memory_bytes gauge",
            "# TYPE hpaxos_fsync_latency_seconds histogram",
            "# TYPE hpaxos_fsyncs counter",
        ] {
            assert!(t.lines().any(|l| l == line), "no line {line:?} in\n{t}");
        }
        assert!(t.contains("hpaxos_build_info{version=\""), "{t}");
        // HELP on every family.
        let types: Vec<&str> = t
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .collect();
        assert!(types.len() >= 20, "{types:?}");
        for name in types {
            assert!(
                t.lines()
                    .any(|l| l.starts_with(&format!("# HELP {name} ")) && l.len() > name.len() + 10),
                "no HELP for {name}"
            );
        }
    }
}
