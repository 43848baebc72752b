//! `hpaxos bench`: the performance of a local multi-process cluster beside
//! the limits of the machine it runs on.
//!
//! Data flow: [`run`] takes a configuration (an embedded preset or
//! `--config FILE`, whose trust part is used and whose `[nodes]` tables are
//! replaced: one node per acceptor, each running every learner, the first
//! three proposers), measures the machine's limits in the scratch
//! directory the nodes will use ([`limits`]), starts the cluster as child
//! processes of this executable (`hpaxos_node::cluster::LocalCluster`, as
//! `hpaxos demo` does), waits until a command commits, runs the workload
//! once per point of the sweep ([`load`]: closed loop with N clients, or
//! open loop at a rate; with `--faults` the first point again with the last
//! node's acceptor killed, then Byzantine), reads the slots each learner
//! decided from `/v1/status` and every node's fsync and message counters
//! from `/metrics` at the window's edges, and reports each run beside the
//! throughput bound and latency floor the limits imply ([`bound`], whose
//! module doc says how they are computed), as text or `--json`, and into
//! `--out FILE` (and a throughput/latency SVG with `--plot`). The cluster
//! is stopped and its directory removed on every exit path (unless
//! `--keep`).

mod bound;
mod limits;
mod load;
mod plot;

use crate::Outcome;
use anyhow::{bail, Context};
use hpaxos_node::cluster::{LocalCluster, NodePlan};
use hpaxos_node::kv::{encode_command, CmdId, Command, Op};
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The embedded configurations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// 4 acceptors, one learner tolerating 1 Byzantine acceptor (3 of 4).
    Classic,
    /// The demo's 5 acceptors with alice (4 of 5) and bob (3 of 5).
    Demo,
    /// Two organisations of 4 acceptors and a cross-organisation learner.
    TwoOrgs,
}

impl Preset {
    fn name(self) -> &'static str {
        match self {
            Preset::Classic => "classic",
            Preset::Demo => "demo",
            Preset::TwoOrgs => "two-orgs",
        }
    }

    fn text(self) -> &'static str {
        match self {
            Preset::Classic => include_str!("../../../../examples/classic.toml"),
            Preset::Demo => hpaxos_node::demo::DEMO_TOML,
            Preset::TwoOrgs => include_str!("../../../../examples/two-orgs.toml"),
        }
    }
}

#[derive(clap::Args)]
pub struct BenchArgs {
    /// A configuration file: its acceptors, learners, safety edges and
    /// `[cluster]` table are used; `[nodes]` tables are replaced by one
    /// local node per acceptor running every learner.
    #[arg(long, conflicts_with = "preset")]
    config: Option<PathBuf>,
    /// The embedded configuration to run when no --config is given.
    #[arg(long, value_enum, default_value_t = Preset::Classic)]
    preset: Preset,
    /// Seconds measured per run (after the warm-up).
    #[arg(long, default_value_t = 10.0, value_parser = parse_seconds)]
    seconds: f64,
    /// Seconds of load before each run's measurement starts.
    #[arg(long, default_value_t = 1.0, value_parser = parse_warmup)]
    warmup: f64,
    /// Concurrent clients, each with one request in flight (closed loop);
    /// a comma-separated list runs one closed-loop point per value.
    #[arg(long, value_delimiter = ',', default_values_t = vec![64usize])]
    clients: Vec<usize>,
    /// Open loop at this many commands per second instead (served by
    /// --clients workers; a comma-separated list sweeps the rate).
    #[arg(long, value_delimiter = ',')]
    rate: Vec<f64>,
    /// Commands per request (`POST /v1/commands/batch`).
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// One command per request on `POST /v1/commands` (ignores --batch).
    #[arg(long)]
    single: bool,
    /// Bytes of each command's value.
    #[arg(long, default_value_t = 512)]
    payload: usize,
    /// Override `[cluster] window` (slots a proposer runs at once).
    #[arg(long)]
    window: Option<usize>,
    /// Override `[cluster] batch_max` (commands per slot at most).
    #[arg(long)]
    batch_max: Option<usize>,
    /// Override `[cluster] batch_bytes` (bytes of commands per slot at most).
    #[arg(long)]
    batch_bytes: Option<usize>,
    /// Override `[cluster] batch_delay_ms` (longest wait for a batch to fill).
    #[arg(long)]
    batch_delay_ms: Option<u64>,
    /// Also write the results (JSON) to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also draw throughput against latency (one point per run) as SVG.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Also run the workload (the first point) with the last node's
    /// acceptor killed, then with it Byzantine in each mode the node has
    /// (`equivocate`), beside the fault-free figures.
    #[arg(long)]
    faults: bool,
    /// Keep the scratch directory (configuration, keys, node logs, data).
    #[arg(long)]
    keep: bool,
    #[arg(long)]
    json: bool,
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(t) if t > 0.0 && t <= 3600.0 => Ok(t),
        _ => Err(format!("{s:?} is not a number of seconds in (0, 3600]")),
    }
}

fn parse_warmup(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(t) if (0.0..=600.0).contains(&t) => Ok(t),
        _ => Err(format!("{s:?} is not a number of seconds in [0, 600]")),
    }
}

/// One run's results (`--json` prints one, or an array for a sweep).
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub config: String,
    pub acceptors: usize,
    pub nodes: usize,
    pub mode: &'static str,
    pub clients: usize,
    pub commands_per_request: usize,
    pub rate: Option<f64>,
    pub payload_bytes: usize,
    pub window: usize,
    pub batch_max: usize,
    pub batch_bytes: usize,
    pub batch_delay_ms: u64,
    pub seconds: f64,
    pub committed: u64,
    pub failed: u64,
    pub dropped: u64,
    pub requests: u64,
    pub commands_per_second: f64,
    pub slots_per_second: f64,
    pub bytes_per_second: f64,
    pub commands_per_slot: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub learners: Vec<LearnerReport>,
    pub bound_commands_per_second: f64,
    pub disk_bound_commands_per_second: f64,
    pub cpu_bound_commands_per_second: f64,
    /// Achieved over bound.
    pub ratio: f64,
    pub ratio_disk: f64,
    pub floor_ms: f64,
    pub floor_current_path_ms: f64,
    /// p50 over the floor.
    pub p50_over_floor: f64,
    /// fsyncs per second of all nodes together in the window, and their
    /// mean latency (the nodes' own, beside the probe's `fsync_p50_ms`).
    pub node_fsyncs_per_second: f64,
    pub node_fsync_mean_ms: f64,
    /// Protocol messages sent by all nodes per slot decided.
    pub messages_per_slot: f64,
    pub first_error: Option<String>,
    /// The fault of this run (`none`, or with `--faults` an acceptor
    /// killed or Byzantine).
    pub fault: String,
    pub limits: limits::Limits,
    pub bound: bound::Bound,
}

#[derive(Clone, Debug, Serialize)]
pub struct LearnerReport {
    pub learner: String,
    pub committed: u64,
    pub commands_per_second: f64,
    /// Slots this learner applied in the window, on the node probed.
    pub slots_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// The base configuration (trust part and `[cluster]`, no node tables),
/// its acceptors and learners.
fn base_config(a: &BenchArgs) -> anyhow::Result<(String, String, Vec<String>, Vec<String>)> {
    let (name, text) = match &a.config {
        Some(p) => (
            p.display().to_string(),
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
        ),
        None => (a.preset.name().to_string(), a.preset.text().to_string()),
    };
    let mut t: toml::Table = text
        .parse()
        .with_context(|| format!("{name}: not a TOML file"))?;
    t.remove("nodes");
    let mut acceptors = Vec::new();
    if let Some(toml::Value::Table(acc)) = t.get_mut("acceptors") {
        for (k, v) in acc.iter_mut() {
            acceptors.push(k.clone());
            if let toml::Value::Table(e) = v {
                e.remove("addr");
            }
        }
    }
    let learners: Vec<String> = match t.get("learners") {
        Some(toml::Value::Table(l)) => l.keys().cloned().collect(),
        _ => Vec::new(),
    };
    if acceptors.is_empty() || learners.is_empty() {
        bail!("{name}: the configuration needs [acceptors] and [learners]");
    }
    let cluster = t
        .entry("cluster")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let toml::Value::Table(c) = cluster {
        if let Some(w) = a.window {
            c.insert("window".into(), toml::Value::Integer(w as i64));
        }
        if let Some(b) = a.batch_max {
            c.insert("batch_max".into(), toml::Value::Integer(b as i64));
        }
        if let Some(b) = a.batch_bytes {
            c.insert("batch_bytes".into(), toml::Value::Integer(b as i64));
        }
        if let Some(d) = a.batch_delay_ms {
            c.insert("batch_delay_ms".into(), toml::Value::Integer(d as i64));
        }
    }
    let text = toml::to_string(&t).context("cannot write the configuration")?;
    Ok((name, text, acceptors, learners))
}

fn plans(acceptors: &[String], learners: &[String]) -> Vec<NodePlan> {
    acceptors
        .iter()
        .enumerate()
        .map(|(i, a)| NodePlan {
            name: format!("n{}", i + 1),
            acceptor: Some(a.clone()),
            learners: learners.to_vec(),
            proposer: i < 3,
        })
        .collect()
}

/// Bytes one command of the workload takes inside a batch (its encoding
/// and the batch's length prefix).
fn command_bytes(payload: usize) -> usize {
    let c = Command {
        id: CmdId {
            origin: 1,
            seq: u64::MAX >> 8,
        },
        op: Op::Put {
            key: "k999".into(),
            value: "x".repeat(payload),
        },
    };
    encode_command(&c).len() + 4
}

pub fn run(a: BenchArgs) -> anyhow::Result<Outcome> {
    if a.payload == 0 || a.payload > 64 * 1024 {
        bail!("--payload must be in 1..=65536 bytes");
    }
    if a.batch == 0 || a.batch > 100_000 {
        bail!("--batch must be in 1..=100000");
    }
    if a.clients.iter().any(|&c| c == 0 || c > 4096) {
        bail!("--clients must be in 1..=4096");
    }
    if a.rate.iter().any(|&r| !(r > 0.0 && r <= 1e8)) {
        bail!("--rate must be in (0, 1e8] commands per second");
    }
    let (name, base, acceptors, learners) = base_config(&a)?;
    let plans = plans(&acceptors, &learners);
    let exe = std::env::current_exe().context("cannot locate the hpaxos executable")?;
    let dir = std::env::temp_dir().join(format!("hpaxos-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cluster = LocalCluster::prepare(&base, &plans, &exe, &["node"], &dir, !a.keep)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let cfg = hpaxos_node::ClusterConfig::load(cluster.config_path())
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let per_request = if a.single { 1 } else { a.batch };
    let body_max = cfg.max_frame / 8;
    if per_request * (a.payload + 64) > body_max {
        bail!(
            "a request of {per_request} commands of {} bytes exceeds the nodes' body limit of {body_max} bytes: lower --batch or --payload",
            a.payload
        );
    }
    if !a.json {
        eprintln!("measuring this machine's limits in {} ...", dir.display());
    }
    let lim = limits::measure(&dir.join("data"), 256, acceptors.len())?;
    let model = bound::Model {
        acceptors: acceptors.len(),
        nodes: plans.len(),
        command_bytes: command_bytes(a.payload),
        // A batch is cut by count or by bytes, whichever comes first.
        commands_per_slot: cfg
            .proposer
            .batch_max
            .min(cfg.proposer.batch_bytes / command_bytes(a.payload).max(1))
            .max(1),
    };
    let bnd = bound::bound(&lim, &model);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let mut started = false;
    for attempt in 1..=3 {
        let r = cluster
            .spawn_all()
            .and_then(|_| rt.block_on(cluster.wait_healthy(Duration::from_secs(20))));
        match r {
            Ok(()) => {
                started = true;
                break;
            }
            Err(e) if attempt == 3 => {
                cluster.kill_all();
                bail!("cannot start the cluster: {e} (run with --keep to keep the node logs)");
            }
            Err(e) => {
                eprintln!("retrying start-up ({e})");
                // Dropping it kills its nodes (and removes its directory)
                // before the new one is written there.
                drop(cluster);
                let _ = std::fs::remove_dir_all(&dir);
                cluster = LocalCluster::prepare(&base, &plans, &exe, &["node"], &dir, !a.keep)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
        }
    }
    if !started {
        bail!("cannot start the cluster");
    }
    let r = rt.block_on(bench_inner(
        &mut cluster,
        &a,
        &name,
        &cfg,
        &lim,
        &bnd,
        &learners,
    ));
    let bad = cluster.terminate_all(Duration::from_secs(5));
    if !bad.is_empty() && !a.json {
        eprintln!("warning: nodes {bad:?} did not stop cleanly on SIGTERM");
    }
    if a.keep {
        eprintln!("kept {}", dir.display());
    }
    let reports = r?;
    let json = if reports.len() == 1 {
        serde_json::to_value(&reports[0])?
    } else {
        serde_json::to_value(&reports)?
    };
    if let Some(out) = &a.out {
        std::fs::write(out, serde_json::to_string_pretty(&json)? + "\n")
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    if let Some(p) = &a.plot {
        plot::draw(p, &reports).map_err(|e| anyhow::anyhow!("cannot draw {}: {e}", p.display()))?;
    }
    if a.json {
        println!("{json}");
    } else {
        print_human(&reports);
    }
    Ok(Outcome::Ok)
}

/// Applied slots per learner at one node.
async fn applied_slots(addr: std::net::SocketAddr) -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    let r = hpaxos_node::client::request(addr, "GET", "/v1/status", None, Duration::from_secs(5));
    if let Ok(resp) = r.await {
        if let Some(j) = resp.json() {
            for l in j["learners"].as_array().cloned().unwrap_or_default() {
                if let (Some(n), Some(s)) = (l["name"].as_str(), l["applied_slots"].as_u64()) {
                    out.insert(n.to_string(), s);
                }
            }
        }
    }
    out
}

/// Counters summed over every node's `/metrics`.
#[derive(Clone, Copy, Debug, Default)]
struct NodeTotals {
    fsyncs: f64,
    fsync_seconds: f64,
    messages: f64,
}

impl NodeTotals {
    async fn scrape(addrs: &[std::net::SocketAddr]) -> NodeTotals {
        let mut t = NodeTotals::default();
        for &addr in addrs {
            let r =
                hpaxos_node::client::request(addr, "GET", "/metrics", None, Duration::from_secs(5));
            let Ok(m) = r.await else { continue };
            for line in m.body.lines() {
                let v = || {
                    line.rsplit(' ')
                        .next()
                        .and_then(|x| x.parse::<f64>().ok())
                        .unwrap_or(0.0)
                };
                if line.starts_with("hpaxos_fsync_latency_seconds_count ") {
                    t.fsyncs += v();
                } else if line.starts_with("hpaxos_fsync_latency_seconds_sum ") {
                    t.fsync_seconds += v();
                } else if line.starts_with("hpaxos_messages_sent_total{") {
                    t.messages += v();
                }
            }
        }
        t
    }

    fn minus(&self, o: &NodeTotals) -> NodeTotals {
        NodeTotals {
            fsyncs: (self.fsyncs - o.fsyncs).max(0.0),
            fsync_seconds: (self.fsync_seconds - o.fsync_seconds).max(0.0),
            messages: (self.messages - o.messages).max(0.0),
        }
    }
}

/// Waits until one command commits for every learner (the first view and
/// ballot are set up), at most `limit`.
async fn wait_first_commit(targets: &[load::Target], limit: Duration) -> anyhow::Result<()> {
    let t = Instant::now();
    let mut seen = std::collections::BTreeSet::new();
    for tg in targets {
        if !seen.insert(tg.learner.clone()) {
            continue;
        }
        loop {
            let body = serde_json::json!({"op": "put", "key": "bench-warm", "value": "up"});
            let path = format!("/v1/commands?learner={}", tg.learner);
            let r = hpaxos_node::client::request(
                tg.addr,
                "POST",
                &path,
                Some(&body),
                Duration::from_secs(5),
            )
            .await;
            match r {
                Ok(x) if x.status == 200 => break,
                _ if t.elapsed() > limit => {
                    bail!(
                        "no command committed for learner {} within {limit:?} ({r:?})",
                        tg.learner
                    )
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
    Ok(())
}

async fn bench_inner(
    cluster: &mut LocalCluster,
    a: &BenchArgs,
    name: &str,
    cfg: &hpaxos_node::ClusterConfig,
    lim: &limits::Limits,
    bnd: &bound::Bound,
    learners: &[String],
) -> anyhow::Result<Vec<RunReport>> {
    // Every node runs every learner: clients spread over nodes and learners.
    let names = cluster.names();
    let mut targets = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let Some(addr) = cluster.http(n) else {
            continue;
        };
        let lr = learners[i % learners.len()].clone();
        targets.push(load::Target {
            node: n.clone(),
            addr,
            learner: lr,
        });
    }
    // With fewer nodes than learners, later learners still get clients.
    for (j, lr) in learners.iter().enumerate().skip(names.len()) {
        if let Some(t) = targets.get(j % names.len().max(1)).cloned() {
            targets.push(load::Target {
                learner: lr.clone(),
                ..t
            });
        }
    }
    let all_http: Vec<std::net::SocketAddr> =
        names.iter().filter_map(|n| cluster.http(n)).collect();
    let Some(probe) = targets.first().map(|t| t.addr) else {
        bail!("the cluster has no node with an HTTP address");
    };
    wait_first_commit(&targets, Duration::from_secs(30)).await?;
    let mut points: Vec<(usize, Option<f64>)> = Vec::new();
    if a.rate.is_empty() {
        points.extend(a.clients.iter().map(|&c| (c, None)));
    } else {
        let c = a.clients.first().copied().unwrap_or(64);
        points.extend(a.rate.iter().map(|&r| (c, Some(r))));
    }
    let per_request = if a.single { 1 } else { a.batch };
    let ctx = Ctx {
        name,
        a,
        cfg,
        lim,
        bnd,
        probe,
        all_http: all_http.clone(),
    };
    let workload = |clients: usize, rate: Option<f64>| load::Workload {
        clients,
        batch: per_request,
        payload: a.payload,
        rate,
        warmup: Duration::from_secs_f64(a.warmup),
        seconds: Duration::from_secs_f64(a.seconds),
        single: a.single,
    };
    let mut reports = Vec::new();
    for (i, (clients, rate)) in points.iter().enumerate() {
        let label = format!("[{}/{}]", i + 1, points.len());
        let w = workload(*clients, *rate);
        reports.push(one_run(&ctx, &targets, &w, &label, "none".into()).await?);
    }
    if a.faults {
        // The same workload (the first point) with the last node's acceptor
        // killed, then back as a Byzantine acceptor in each mode the node
        // has; the clients avoid that node.
        let (clients, rate) = points[0];
        let Some(victim) = names.last().cloned() else {
            return Ok(reports);
        };
        let acc = cluster
            .plan(&victim)
            .and_then(|p| p.acceptor.clone())
            .unwrap_or_default();
        let others: Vec<load::Target> = targets
            .iter()
            .filter(|t| t.node != victim)
            .cloned()
            .collect();
        if others.is_empty() {
            bail!("--faults needs more than one node");
        }
        cluster.kill9(&victim).map_err(|e| anyhow::anyhow!("{e}"))?;
        let fault = format!("{victim} ({acc}) killed (kill -9)");
        let w = workload(clients, rate);
        reports.push(one_run(&ctx, &others, &w, "[kill]", fault).await?);
        for mode in ["equivocate"] {
            cluster
                .set_extra_args(&victim, &["--byzantine", mode])
                .and_then(|_| cluster.spawn(&victim))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            cluster
                .wait_healthy(Duration::from_secs(20))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let fault = format!("{victim} ({acc}) Byzantine: {mode}");
            let label = format!("[{mode}]");
            reports.push(one_run(&ctx, &others, &w, &label, fault).await?);
            cluster.kill9(&victim).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    Ok(reports)
}

/// What every run of one bench shares.
struct Ctx<'a> {
    name: &'a str,
    a: &'a BenchArgs,
    cfg: &'a hpaxos_node::ClusterConfig,
    lim: &'a limits::Limits,
    bnd: &'a bound::Bound,
    /// The node whose `/v1/status` gives the slots per learner.
    probe: std::net::SocketAddr,
    all_http: Vec<std::net::SocketAddr>,
}

/// One run: the workload, the slots applied at the window's edges on the
/// probe node and every node's fsync and message counters.
async fn one_run(
    ctx: &Ctx<'_>,
    targets: &[load::Target],
    w: &load::Workload,
    label: &str,
    fault: String,
) -> anyhow::Result<RunReport> {
    let edges = {
        let (warm, secs) = (w.warmup, w.seconds);
        let all = ctx.all_http.clone();
        let probe = ctx.probe;
        tokio::spawn(async move {
            tokio::time::sleep(warm).await;
            let (s0, m0) = (applied_slots(probe).await, NodeTotals::scrape(&all).await);
            let t0 = Instant::now();
            tokio::time::sleep(secs).await;
            let (s1, m1) = (applied_slots(probe).await, NodeTotals::scrape(&all).await);
            (s0, s1, m1.minus(&m0), t0.elapsed().as_secs_f64())
        })
    };
    let out = load::run(targets, w, label).await;
    let (s0, s1, totals, span) = edges.await.unwrap_or_default();
    let mut r = report(ctx, w, &out, &s0, &s1, span);
    r.fault = fault;
    r.node_fsyncs_per_second = totals.fsyncs / span.max(1e-9);
    r.node_fsync_mean_ms = if totals.fsyncs > 0.0 {
        1e3 * totals.fsync_seconds / totals.fsyncs
    } else {
        0.0
    };
    r.messages_per_slot = if r.slots_per_second > 0.0 {
        totals.messages / span.max(1e-9) / r.slots_per_second
    } else {
        0.0
    };
    if out.committed == 0 {
        bail!(
            "no command committed in the window of run {label} ({})",
            out.first_error.as_deref().unwrap_or("no answer")
        );
    }
    Ok(r)
}

fn report(
    ctx: &Ctx<'_>,
    w: &load::Workload,
    out: &load::Outcome,
    s0: &std::collections::BTreeMap<String, u64>,
    s1: &std::collections::BTreeMap<String, u64>,
    span: f64,
) -> RunReport {
    let (name, a, cfg, lim, bnd) = (ctx.name, ctx.a, ctx.cfg, ctx.lim, ctx.bnd);
    let ms = |h: &hdrhistogram::Histogram<u64>, q: f64| {
        if h.is_empty() {
            0.0
        } else {
            h.value_at_quantile(q) as f64 / 1e3
        }
    };
    let mut all: Option<hdrhistogram::Histogram<u64>> = None;
    let mut learners = Vec::new();
    let slots_of = |l: &str| {
        let (a, b) = (s0.get(l).copied(), s1.get(l).copied());
        let d = b.unwrap_or(0).saturating_sub(a.unwrap_or(0));
        d as f64 / span.max(1e-9)
    };
    for (l, h) in &out.latency {
        match &mut all {
            None => all = Some(h.clone()),
            Some(x) => {
                let _ = x.add(h);
            }
        }
        learners.push(LearnerReport {
            learner: l.clone(),
            committed: h.len(),
            commands_per_second: h.len() as f64 / out.window.max(1e-9),
            slots_per_second: slots_of(l),
            p50_ms: ms(h, 0.5),
            p99_ms: ms(h, 0.99),
            p999_ms: ms(h, 0.999),
            max_ms: if h.is_empty() {
                0.0
            } else {
                h.max() as f64 / 1e3
            },
        });
    }
    let all = all.unwrap_or_else(load::histogram);
    let cps = out.committed as f64 / out.window.max(1e-9);
    // Slots: the busiest learner's (each learner decides every slot).
    let sps = learners
        .iter()
        .map(|l| l.slots_per_second)
        .fold(0.0, f64::max);
    let p50 = ms(&all, 0.5);
    RunReport {
        config: name.to_string(),
        acceptors: bnd.model.acceptors,
        nodes: bnd.model.nodes,
        mode: if w.rate.is_some() { "open" } else { "closed" },
        clients: w.clients,
        commands_per_request: w.batch,
        rate: w.rate,
        payload_bytes: a.payload,
        window: cfg.proposer.window,
        batch_max: cfg.proposer.batch_max,
        batch_bytes: cfg.proposer.batch_bytes,
        batch_delay_ms: cfg.proposer.batch_delay_ms,
        seconds: out.window,
        committed: out.committed,
        failed: out.failed,
        dropped: out.dropped,
        requests: out.requests,
        commands_per_second: cps,
        slots_per_second: sps,
        bytes_per_second: cps * a.payload as f64,
        commands_per_slot: if sps > 0.0 { cps / sps } else { 0.0 },
        p50_ms: p50,
        p99_ms: ms(&all, 0.99),
        p999_ms: ms(&all, 0.999),
        max_ms: if all.is_empty() {
            0.0
        } else {
            all.max() as f64 / 1e3
        },
        learners,
        bound_commands_per_second: bnd.bound_commands_per_second,
        disk_bound_commands_per_second: bnd.disk_commands_per_second,
        cpu_bound_commands_per_second: bnd.cpu_commands_per_second,
        ratio: cps / bnd.bound_commands_per_second.max(1e-9),
        ratio_disk: cps / bnd.disk_commands_per_second.max(1e-9),
        floor_ms: bnd.floor_ms,
        floor_current_path_ms: bnd.floor_current_path_ms,
        p50_over_floor: p50 / bnd.floor_ms.max(1e-9),
        node_fsyncs_per_second: 0.0,
        node_fsync_mean_ms: 0.0,
        messages_per_slot: 0.0,
        first_error: out.first_error.clone(),
        fault: "none".into(),
        limits: lim.clone(),
        bound: bnd.clone(),
    }
}

fn si(x: f64) -> String {
    if x >= 1e9 {
        format!("{:.2}G", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

fn print_human(rs: &[RunReport]) {
    let Some(r0) = rs.first() else { return };
    let l = &r0.limits;
    println!(
        "hpaxos bench: {} ({} acceptors, {} node processes), window {}, batch_max {}, batch_bytes {}, batch_delay_ms {}, {} B payload",
        r0.config,
        r0.acceptors,
        r0.nodes,
        r0.window,
        r0.batch_max,
        r0.batch_bytes,
        r0.batch_delay_ms,
        r0.payload_bytes
    );
    println!(
        "machine: Ed25519 sign {}/s, verify {}/s (one core); SHA-256 {}B/s; fsync p50 {:.2} ms alone, {:.2} ms with {} writers; synced writes {}B/s; loopback rtt {:.3} ms, {}B/s; {} cores",
        si(l.ed25519_sign_per_second),
        si(l.ed25519_verify_per_second),
        si(l.sha256_bytes_per_second),
        l.fsync_p50_ms,
        l.fsync_concurrent_p50_ms,
        l.writers,
        si(l.synced_write_bytes_per_second),
        l.loopback_rtt_p50_ms,
        si(l.loopback_bytes_per_second),
        l.cores
    );
    println!(
        "bound:   {} commands/s (disk {}, CPU {}); latency floor {:.2} ms (fast path), {:.2} ms (today's path)",
        si(r0.bound_commands_per_second),
        si(r0.disk_bound_commands_per_second),
        si(r0.cpu_bound_commands_per_second),
        r0.floor_ms,
        r0.floor_current_path_ms
    );
    for r in rs {
        if r.fault != "none" {
            println!("\nfault: {}", r.fault);
        }
        let how = match r.rate {
            Some(x) => format!("open loop {} cmd/s, {} workers", si(x), r.clients),
            None => format!("closed loop, {} clients", r.clients),
        };
        println!(
            "\n{how} x {} commands/request, {:.1} s:\n  {:.0} commands/s ({:.4} of bound, {:.4} of disk bound), {:.1} slots/s ({:.1} commands/slot), {}B/s",
            r.commands_per_request, r.seconds, r.commands_per_second, r.ratio, r.ratio_disk,
            r.slots_per_second, r.commands_per_slot, si(r.bytes_per_second)
        );
        println!(
            "  latency p50 {:.2} ms ({:.1}x floor), p99 {:.2} ms, p999 {:.2} ms, max {:.2} ms; {} failed, {} dropped",
            r.p50_ms, r.p50_over_floor, r.p99_ms, r.p999_ms, r.max_ms, r.failed, r.dropped
        );
        println!(
            "  nodes: {:.0} fsyncs/s (mean {:.2} ms), {:.1} protocol messages sent per slot",
            r.node_fsyncs_per_second, r.node_fsync_mean_ms, r.messages_per_slot
        );
        println!(
            "  {:<10} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9}",
            "learner", "commands", "cmd/s", "slots/s", "p50 ms", "p99 ms", "p999 ms"
        );
        for x in &r.learners {
            println!(
                "  {:<10} {:>10} {:>10.0} {:>9.1} {:>9.2} {:>9.2} {:>9.2}",
                x.learner,
                x.committed,
                x.commands_per_second,
                x.slots_per_second,
                x.p50_ms,
                x.p99_ms,
                x.p999_ms
            );
        }
        if let Some(e) = &r.first_error {
            println!("  first failure: {e}");
        }
    }
}
