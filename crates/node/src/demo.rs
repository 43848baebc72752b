//! `hpaxos demo`: a local cluster from the embedded configuration
//! (`demo.toml`), a short workload, a report of what each learner decided.
//!
//! Data flow: [`run_demo`] prepares a [`LocalCluster`] in a scratch
//! directory (fresh keys, free loopback ports), starts every node as a child
//! process of the current executable (`<exe> node --config ... --name ...`),
//! waits for health, submits the workload over HTTP from concurrent clients
//! (progress on a terminal), waits until every replica applied everything,
//! compares the learners' logs across nodes, prints the report, stops the
//! nodes with SIGTERM and removes the scratch directory. Children are killed
//! on every exit path (the cluster's `Drop`).

use crate::client;
use crate::cluster::{LocalCluster, NodePlan};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The embedded demo configuration (trust part; node tables are generated).
pub const DEMO_TOML: &str = include_str!("demo.toml");

#[derive(Clone, Debug)]
pub struct DemoArgs {
    /// The executable to start nodes with, and the arguments before the
    /// node options (`["node"]` for `hpaxos`).
    pub exe: PathBuf,
    pub pre_args: Vec<String>,
    pub commands: usize,
    pub clients: usize,
    pub keep: bool,
    pub json: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DemoError(pub String);

/// One learner on one node, at the end.
#[derive(Clone, Debug, Serialize)]
pub struct ReplicaReport {
    pub learner: String,
    pub node: String,
    pub slots: u64,
    pub commands: u64,
    pub keys: u64,
    pub log_hash: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct DemoReport {
    pub nodes: usize,
    pub commands: usize,
    pub committed: usize,
    pub failed: usize,
    pub seconds: f64,
    pub throughput_per_sec: f64,
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    pub latency_ms_max: f64,
    pub replicas: Vec<ReplicaReport>,
    /// Per learner: do all its replicas hold the same log?
    pub learners_agree: BTreeMap<String, bool>,
    /// Do alice and bob (entangled while all acceptors are safe) agree?
    pub all_agree: bool,
    pub fsyncs: u64,
    /// Durable records written (group commit puts many in one fsync).
    pub wal_records: u64,
    pub messages_sent: u64,
    pub rejected: u64,
    /// Ballots started by the proposers (one per slot when uncontended).
    pub ballots: u64,
}

/// Nodes n1..n5 run acceptors a1..a5 and both learners; the first
/// `PROPOSERS` are proposers (the first leads; the others take over if it
/// fails).
const PROPOSERS: usize = 3;

fn plans() -> Vec<NodePlan> {
    (1..=5)
        .map(|i| NodePlan {
            name: format!("n{i}"),
            acceptor: Some(format!("a{i}")),
            learners: vec!["alice".into(), "bob".into()],
            proposer: i <= PROPOSERS,
        })
        .collect()
}

/// Runs the demo; the report is also printed (human or JSON).
pub fn run_demo(args: DemoArgs) -> Result<DemoReport, DemoError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| DemoError(e.to_string()))?;
    let dir = std::env::temp_dir().join(format!("hpaxos-demo-{}", std::process::id()));
    let pre: Vec<&str> = args.pre_args.iter().map(String::as_str).collect();
    let tty = std::io::stderr().is_terminal() && !args.json;
    if !args.json {
        println!("hpaxos demo: 5 acceptors on loopback (one node process each), 2 learners:");
        println!("  alice  Byzantine-tolerant   quorums: any 4 of 5   safe with 1 faulty acceptor");
        println!("  bob    crash-tolerant       quorums: any 3 of 5   safe while no acceptor lies");
        println!(
            "  proposers n1 (leader), n2, n3; {} commands (put) from {} concurrent HTTP clients to every node",
            args.commands, args.clients
        );
    }
    // Start the cluster; a free port taken by someone else between picking
    // and binding makes a node exit at start-up: retry with new ports.
    let mut attempt = 0;
    let mut cluster = loop {
        attempt += 1;
        let _ = std::fs::remove_dir_all(&dir);
        let mut c = LocalCluster::prepare(DEMO_TOML, &plans(), &args.exe, &pre, &dir, !args.keep)
            .map_err(|e| DemoError(e.to_string()))?;
        let started = c
            .spawn_all()
            .and_then(|_| rt.block_on(c.wait_healthy(Duration::from_secs(20))));
        match started {
            Ok(()) => break c,
            Err(e) if attempt >= 3 => {
                c.kill_all();
                return Err(DemoError(format!(
                    "cannot start the cluster: {e} (run with --keep to keep the node logs)"
                )));
            }
            Err(e) => {
                eprintln!("retrying start-up ({e})");
                c.kill_all();
            }
        }
    };
    let r = rt.block_on(demo_inner(&mut cluster, &args, tty));
    let bad = cluster.terminate_all(Duration::from_secs(5));
    if !bad.is_empty() && r.is_ok() {
        eprintln!("warning: nodes {bad:?} did not stop cleanly on SIGTERM");
    }
    if args.keep {
        eprintln!("kept {}", dir.display());
    }
    let report = r?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&report).map_err(|e| DemoError(e.to_string()))?
        );
    } else {
        print_report(&report);
    }
    Ok(report)
}

async fn demo_inner(
    cluster: &mut LocalCluster,
    args: &DemoArgs,
    tty: bool,
) -> Result<DemoReport, DemoError> {
    // Any node that runs a learner accepts commands (forwarded to the leader).
    let proposers: Vec<SocketAddr> = cluster
        .names()
        .iter()
        .filter(|n| cluster.plan(n).is_some_and(|p| !p.learners.is_empty()))
        .filter_map(|n| cluster.http(n))
        .collect();
    if proposers.is_empty() {
        return Err(DemoError(
            "the demo cluster has no node with a learner".into(),
        ));
    }
    // Workload.
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let total = args.commands;
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.clients.max(1) {
        let next = next.clone();
        let done = done.clone();
        let target = proposers[c % proposers.len()];
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut failed = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return (lat, failed);
                }
                let body = serde_json::json!({
                    "op": "put", "key": format!("key{:03}", i % 100), "value": format!("value{i}")
                });
                let t = Instant::now();
                let r = client::request(
                    target,
                    "POST",
                    "/v1/commands",
                    Some(&body),
                    Duration::from_secs(30),
                )
                .await;
                match r {
                    Ok(x) if x.status == 200 => lat.push(t.elapsed().as_secs_f64() * 1e3),
                    _ => failed += 1,
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let progress = {
        let done = done.clone();
        tokio::spawn(async move {
            if !tty {
                return;
            }
            loop {
                let d = done.load(Ordering::Relaxed);
                let el = t0.elapsed().as_secs_f64();
                eprint!(
                    "\r  committed {d:>6}/{total}  {:>7.0} cmd/s  {el:>5.1} s ",
                    d as f64 / el.max(1e-3)
                );
                if d >= total {
                    eprintln!();
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let mut lat = Vec::new();
    let mut failed = 0;
    for t in tasks {
        let (l, f) = t.await.map_err(|x| DemoError(x.to_string()))?;
        lat.extend(l);
        failed += f;
    }
    let seconds = t0.elapsed().as_secs_f64();
    let _ = progress.await;
    lat.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        lat[((lat.len() - 1) as f64 * p).round() as usize]
    };
    // Wait until every replica applied the same number of slots.
    let names = cluster.names();
    let mut replicas = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        replicas.clear();
        for n in &names {
            let Some(addr) = cluster.http(n) else {
                continue;
            };
            let st = client::request(addr, "GET", "/v1/status", None, Duration::from_secs(5))
                .await
                .map_err(|x| DemoError(x.to_string()))?;
            let j = st
                .json()
                .ok_or_else(|| DemoError(format!("{n}: bad status answer")))?;
            for l in j["learners"].as_array().cloned().unwrap_or_default() {
                replicas.push(ReplicaReport {
                    learner: l["name"].as_str().unwrap_or("?").to_string(),
                    node: n.clone(),
                    slots: l["applied_slots"].as_u64().unwrap_or(0),
                    commands: l["commands_applied"].as_u64().unwrap_or(0),
                    keys: l["keys"].as_u64().unwrap_or(0),
                    log_hash: l["log_hash"].as_str().unwrap_or("").to_string(),
                });
            }
        }
        let hashes: std::collections::BTreeSet<&str> =
            replicas.iter().map(|r| r.log_hash.as_str()).collect();
        if hashes.len() == 1 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    replicas.sort_by(|a, b| (&a.learner, &a.node).cmp(&(&b.learner, &b.node)));
    let mut learners_agree = BTreeMap::new();
    for r in &replicas {
        let first = replicas.iter().find(|x| x.learner == r.learner);
        let same = first.is_some_and(|f| f.log_hash == r.log_hash);
        let e = learners_agree.entry(r.learner.clone()).or_insert(true);
        *e = *e && same;
    }
    let all_agree = replicas
        .first()
        .is_some_and(|f| replicas.iter().all(|r| r.log_hash == f.log_hash));
    // Totals from the metrics.
    let (mut fsyncs, mut sent, mut rejected, mut ballots, mut records) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    for n in &names {
        let Some(addr) = cluster.http(n) else {
            continue;
        };
        if let Ok(m) = client::request(addr, "GET", "/metrics", None, Duration::from_secs(5)).await
        {
            for line in m.body.lines() {
                let v = || {
                    line.rsplit(' ')
                        .next()
                        .and_then(|x| x.parse::<f64>().ok())
                        .unwrap_or(0.0) as u64
                };
                if line.starts_with("hpaxos_fsyncs_total ") {
                    fsyncs += v();
                } else if line.starts_with("hpaxos_wal_records_total ") {
                    records += v();
                } else if line.starts_with("hpaxos_messages_sent_total{") {
                    sent += v();
                } else if line.starts_with("hpaxos_rejected_total{") {
                    rejected += v();
                } else if line.starts_with("hpaxos_ballots_started_total ") {
                    ballots += v();
                }
            }
        }
    }
    let committed = lat.len();
    let report = DemoReport {
        nodes: names.len(),
        commands: total,
        committed,
        failed,
        seconds,
        throughput_per_sec: committed as f64 / seconds.max(1e-9),
        latency_ms_p50: pct(0.5),
        latency_ms_p99: pct(0.99),
        latency_ms_max: lat.last().copied().unwrap_or(0.0),
        replicas,
        learners_agree,
        all_agree,
        fsyncs,
        wal_records: records,
        messages_sent: sent,
        rejected,
        ballots,
    };
    if failed > 0 {
        return Err(DemoError(format!(
            "{failed} of {total} commands were not committed; node logs are in {}",
            cluster.dir().display()
        )));
    }
    if !report.all_agree {
        return Err(DemoError(format!(
            "the learners' logs differ: {:?}",
            report.replicas
        )));
    }
    Ok(report)
}

fn print_report(r: &DemoReport) {
    println!(
        "\ncommitted {}/{} commands in {:.2} s: {:.0} commands/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        r.committed, r.commands, r.seconds, r.throughput_per_sec, r.latency_ms_p50, r.latency_ms_p99, r.latency_ms_max
    );
    println!("\nwhat each learner decided, on each node:");
    println!(
        "  {:<8} {:<5} {:>6} {:>9} {:>5}  log hash",
        "learner", "node", "slots", "commands", "keys"
    );
    for x in &r.replicas {
        println!(
            "  {:<8} {:<5} {:>6} {:>9} {:>5}  {}",
            x.learner, x.node, x.slots, x.commands, x.keys, x.log_hash
        );
    }
    let agree: Vec<String> = r
        .learners_agree
        .iter()
        .map(|(l, a)| {
            format!(
                "{l}: {}",
                if *a {
                    "all replicas agree"
                } else {
                    "REPLICAS DIFFER"
                }
            )
        })
        .collect();
    println!("\n  {}", agree.join("; "));
    println!(
        "  alice and bob decided {} logs",
        if r.all_agree { "the same" } else { "DIFFERENT" }
    );
    println!(
        "  cluster totals: {} ballots started, {} durable records in {} fsyncs (group commit), {} messages signed and sent, {} rejected",
        r.ballots, r.wal_records, r.fsyncs, r.messages_sent, r.rejected
    );
    println!("cluster stopped.");
}
