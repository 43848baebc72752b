//! Starting and stopping one node process (`hpaxos node`).
//!
//! Order: load and validate the configuration, load the secret key and
//! check it against the configured public key, claim the data directory
//! (identity file plus an exclusive lock), replay the write-ahead log into
//! the acceptor and learners, bind the peer and HTTP ports (a port in use
//! is a clear error), start the transport, the HTTP API and the driver
//! thread (which times its own wakeups), then wait for SIGTERM/SIGINT and
//! stop gracefully (the driver finishes its iteration, so everything
//! acknowledged is durable).

use crate::config::{ClusterConfig, ConfigError, HostPort};
use crate::driver::{Byzantine, Driver, Event, LocalReplica};
use crate::handshake::Local;
use crate::http::{router, ApiState};
use crate::keys::{public_hex, read_secret, KeyError};
use crate::kv::Replica;
use crate::metrics::Metrics;
use crate::transport::{listen, spawn_peers, Net};
use crate::wal::{Wal, WalError};
use bytes::Bytes;
use hpaxos_core::node::{NodeCore, NodeId, NodeSetup, NodeTiming, DEFAULT_HORIZON};
use hpaxos_core::pacemaker::{Pacemaker, PacemakerConfig, ProposerIndex};
use hpaxos_core::{Acceptor, AcceptorDurable, AcceptorOptions, Durable, Learner, Slot};
use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How to run a node.
#[derive(Clone, Debug)]
pub struct NodeArgs {
    pub config: PathBuf,
    pub name: String,
    pub data_dir: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub byzantine: Option<Byzantine>,
    pub truncate_corrupt_wal: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("configuration {path}")]
    Config { path: String, source: ConfigError },
    #[error(
        "no node named `{name}` in the configuration's [nodes] tables (the nodes are {known})"
    )]
    UnknownNode { name: String, known: String },
    #[error("node `{0}` has no key file: pass --key FILE or set key_file in [nodes.{0}]")]
    NoKeyFile(String),
    #[error(
        "node `{0}` has no data directory: pass --data-dir DIR or set data_dir in [nodes.{0}]"
    )]
    NoDataDir(String),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("the secret key in {file} does not match the public key of node `{node}` in the configuration")]
    KeyMismatch { file: String, node: String },
    #[error("data directory {dir}: {msg}")]
    DataDir { dir: String, msg: String },
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error("cannot listen on {what} address {addr}{hint}")]
    Bind {
        what: &'static str,
        addr: HostPort,
        source: std::io::Error,
        hint: &'static str,
    },
    #[error("{0}")]
    Runtime(String),
}

/// Identity file of a data directory.
const IDENTITY: &str = "node-identity";

/// Claims `dir` for node `name` with key `pk`: creates it, checks or writes
/// the identity file, and takes an exclusive lock held while the node runs.
fn claim_data_dir(dir: &Path, name: &str, pk: &str) -> Result<File, NodeError> {
    let e = |msg: String| NodeError::DataDir {
        dir: dir.display().to_string(),
        msg,
    };
    std::fs::create_dir_all(dir).map_err(|x| e(x.to_string()))?;
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("LOCK"))
        .map_err(|x| e(x.to_string()))?;
    if lock.try_lock().is_err() {
        return Err(e("in use by another running node (LOCK is held)".into()));
    }
    if !inspect_data_dir(dir, name, pk)? {
        std::fs::write(dir.join(IDENTITY), identity_text(name, pk))
            .map_err(|x| e(x.to_string()))?;
    }
    Ok(lock)
}

fn identity_text(name: &str, pk: &str) -> String {
    format!("node = {name:?}\npublic_key = {pk:?}\n")
}

/// Checks an existing data directory without changing it: `Ok(true)` when
/// its identity file names this node and key, `Ok(false)` when it has no
/// identity file yet (and no log), an error when it belongs to another node
/// or holds a log without an identity.
pub(crate) fn inspect_data_dir(dir: &Path, name: &str, pk: &str) -> Result<bool, NodeError> {
    let e = |msg: String| NodeError::DataDir {
        dir: dir.display().to_string(),
        msg,
    };
    match std::fs::read_to_string(dir.join(IDENTITY)) {
        Ok(have) if have == identity_text(name, pk) => Ok(true),
        Ok(have) => Err(e(format!(
            "belongs to another node ({}); refusing to use it as `{name}`",
            have.lines().collect::<Vec<_>>().join(", ")
        ))),
        Err(x) if x.kind() == std::io::ErrorKind::NotFound => {
            if dir.join("wal").exists() {
                return Err(e(
                    "holds a log but no identity file; refusing to guess".into()
                ));
            }
            Ok(false)
        }
        Err(x) => Err(e(x.to_string())),
    }
}

/// What a node needs before it touches its data directory: the validated
/// configuration, its own entry, its secret key (checked against the
/// configured public key) and where its data lives. Shared by
/// [`run_node`] and `node --check` ([`crate::check`]).
pub(crate) struct Identity {
    pub cfg: ClusterConfig,
    pub spec: crate::config::NodeSpec,
    pub key: ed25519_dalek::SigningKey,
    pub key_file: PathBuf,
    pub data_dir: PathBuf,
}

pub(crate) fn identify(args: &NodeArgs) -> Result<Identity, NodeError> {
    let cfg = ClusterConfig::load(&args.config).map_err(|source| NodeError::Config {
        path: args.config.display().to_string(),
        source,
    })?;
    let spec = cfg
        .node_by_name(&args.name)
        .cloned()
        .ok_or_else(|| NodeError::UnknownNode {
            name: args.name.clone(),
            known: cfg
                .nodes
                .iter()
                .map(|n| n.name.clone())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let key_file = args
        .key_file
        .clone()
        .or(spec.key_file.clone())
        .ok_or_else(|| NodeError::NoKeyFile(spec.name.clone()))?;
    let key = read_secret(&key_file)?;
    if key.verifying_key() != spec.public_key {
        return Err(NodeError::KeyMismatch {
            file: key_file.display().to_string(),
            node: spec.name.clone(),
        });
    }
    let data_dir = args
        .data_dir
        .clone()
        .or(spec.data_dir.clone())
        .ok_or_else(|| NodeError::NoDataDir(spec.name.clone()))?;
    Ok(Identity {
        cfg,
        spec,
        key,
        key_file,
        data_dir,
    })
}

fn bind_err(what: &'static str, addr: &HostPort, source: std::io::Error) -> NodeError {
    let hint = if source.kind() == std::io::ErrorKind::AddrInUse {
        " (the port is in use: another node or program is listening there)"
    } else {
        ""
    };
    NodeError::Bind {
        what,
        addr: addr.clone(),
        source,
        hint,
    }
}

/// Runs the node until SIGTERM/SIGINT (Ok) or a fatal error.
pub fn run_node(args: NodeArgs) -> Result<(), NodeError> {
    let Identity {
        cfg,
        spec,
        key,
        data_dir,
        ..
    } = identify(&args)?;
    for w in &cfg.warnings {
        tracing::warn!("configuration {}: {w}", args.config.display());
    }
    let _lock = claim_data_dir(&data_dir, &spec.name, &public_hex(&key))?;
    let (wal, records, rec) = Wal::open(&data_dir.join("wal"), args.truncate_corrupt_wal)?;
    if let Some((off, n)) = rec.torn_tail {
        tracing::warn!(
            offset = off,
            bytes = n,
            "write-ahead log had a torn tail (an append cut short before its fsync); cut it off"
        );
    }
    if let Some((off, n)) = rec.dropped_corrupt {
        tracing::warn!(
            offset = off,
            bytes = n,
            "dropped a corrupt write-ahead log tail as requested: the records from there on are lost and this node's acceptor counts as faulty in the learner graph until it has caught up past every slot it may have voted in (it catches up from a peer's snapshot)"
        );
    }
    let trust = cfg.trust.clone();
    let acceptor = spec.acceptor.map(|a| {
        let mut d = AcceptorDurable::default();
        for r in &records {
            d.apply(r);
        }
        Acceptor::restore(
            a,
            trust.clone(),
            AcceptorOptions {
                late: cfg.late_steps,
                ..AcceptorOptions::live()
            },
            d,
        )
    });
    if let Some(n) = rec.removed_tmp {
        tracing::warn!(
            bytes = n,
            "removed an unfinished snapshot (a crash before its rename); the log is complete"
        );
    }
    let snapshot = rec.snapshot.clone();
    let values: std::collections::BTreeMap<hpaxos_core::Digest, hpaxos_core::Value> =
        logged_values(&records)
            .into_iter()
            .map(|(_, v)| (v.digest(), v))
            .collect();
    let learners: Vec<(Learner, Replica)> = spec
        .learners
        .iter()
        .map(|&lr| {
            let core = Learner::restore(lr, trust.clone(), &records);
            let from_snap = snapshot
                .as_ref()
                .and_then(|s| s.replicas.iter().find(|(l, _)| *l == lr))
                .map(|(_, r)| Replica::from_snapshot(r.clone()));
            let mut replica = match (from_snap, &snapshot) {
                (Some(r), _) => r,
                (None, None) => Replica::new(),
                (None, Some(s)) => {
                    tracing::warn!(
                        learner = trust.learner_name(lr),
                        below = s.compacted_below.0,
                        "the snapshot holds no replica of this learner: its slots below the mark are gone"
                    );
                    Replica::new()
                }
            };
            // Peer snapshots installed since the log's own snapshot.
            for (l, state) in &rec.installed {
                if *l == lr {
                    let _ = replica.install(state);
                }
            }
            // Decisions name their value by digest; the bytes are in the
            // `Batch` records (a decision whose bytes were not fetched
            // before the crash is fetched again by the core, applied then).
            for r in &records {
                if let Durable::Decided {
                    slot,
                    lr: l,
                    bal,
                    val,
                } = r
                {
                    if *l == lr {
                        if let Some(v) = values.get(&val.digest()) {
                            replica.decide(*slot, *bal, v.clone());
                        }
                    }
                }
            }
            (core, replica)
        })
        .collect();
    let core = build_core(
        &cfg,
        &spec,
        acceptor,
        learners_core(&learners, &records),
        &records,
    )?;
    let replicas: Vec<LocalReplica> = learners
        .into_iter()
        .map(|(l, replica)| LocalReplica {
            lr: l.id(),
            replica,
        })
        .collect();
    tracing::info!(
        node = %spec.name,
        records = rec.records,
        acceptor = spec.acceptor.map(|a| trust.acceptor_name(a).to_string()),
        learners = ?spec.learners.iter().map(|l| trust.learner_name(*l).to_string()).collect::<Vec<_>>(),
        proposer = spec.proposer,
        "recovered from the write-ahead log"
    );

    // One worker per core (at least 2): the connection readers verify
    // signatures there, off the driver thread (`crate::verify`).
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .map_err(|e| NodeError::Runtime(e.to_string()))?;
    let cfg = Arc::new(cfg);
    rt.block_on(async move {
        let metrics = Arc::new(Metrics::default());
        // A host name is resolved here (e.g. `n1` to the container's IP).
        let peer_listener = tokio::net::TcpListener::bind(spec.addr.as_str())
            .await
            .map_err(|e| bind_err("peer", &spec.addr, e))?;
        let http_listener = match &spec.http {
            Some(a) => Some(
                tokio::net::TcpListener::bind(a.as_str())
                    .await
                    .map_err(|e| bind_err("HTTP", a, e))?,
            ),
            None => None,
        };
        let (tx, rx) = mpsc::channel::<Event>(16 * 1024);
        let net = Net::new(
            cfg.clone(),
            Local::new(&cfg, spec.idx, key.clone()),
            metrics.clone(),
        );
        let peers = spawn_peers(&net);
        tokio::spawn(listen(peer_listener, net, tx.clone()));
        if let Some(l) = http_listener {
            let app = router(ApiState {
                events: tx.clone(),
                metrics: metrics.clone(),
                max_body: cfg.max_frame / 8,
            });
            let limits = crate::http_server::HttpLimits {
                max_body: cfg.max_frame / 8,
                ..Default::default()
            };
            tokio::spawn(crate::http_server::serve(l, app, limits));
        }
        let driver = Driver::new(
            cfg.clone(),
            spec.idx,
            key,
            core,
            replicas,
            wal,
            peers,
            metrics.clone(),
            args.byzantine,
        );
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        // The driver times its own waits (the core's next wakeup) on this
        // runtime's timer.
        let handle = tokio::runtime::Handle::current();
        std::thread::Builder::new()
            .name("hpaxos-driver".into())
            .spawn(move || {
                let r = driver.run(rx, handle);
                let _ = done_tx.send(r);
            })
            .map_err(|e| NodeError::Runtime(e.to_string()))?;
        tracing::info!(
            node = %spec.name,
            peer = %spec.addr,
            http = spec.http.as_ref().map(HostPort::as_str).unwrap_or("none"),
            "node running"
        );
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| NodeError::Runtime(e.to_string()))?;
        let mut done_rx = done_rx;
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
            r = &mut done_rx => {
                return match r {
                    Ok(Err(e)) => Err(NodeError::Runtime(format!("driver stopped: {e}"))),
                    _ => Err(NodeError::Runtime("driver stopped".into())),
                };
            }
        }
        tracing::info!("shutting down");
        let _ = tx.send(Event::Shutdown).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), done_rx).await;
        Ok(())
    })?;
    rt.shutdown_timeout(Duration::from_millis(200));
    Ok(())
}

/// The value bytes in the log's `Batch` records.
fn logged_values(records: &[Durable]) -> Vec<(Slot, hpaxos_core::Value)> {
    records
        .iter()
        .filter_map(|r| match r {
            Durable::Batch { slot, val } => Some((*slot, val.clone())),
            _ => None,
        })
        .collect()
}

/// The learners this node runs, with the slots each decided (from the
/// records, and every slot below what its replica applied: a replica
/// resumed from an installed peer snapshot is ahead of its learner's
/// records), as the node layer takes them.
fn learners_core(
    learners: &[(Learner, Replica)],
    records: &[Durable],
) -> Vec<(Learner, BTreeSet<Slot>)> {
    learners
        .iter()
        .map(|(l, r)| {
            let mut decided: BTreeSet<Slot> = records
                .iter()
                .filter_map(|r| match r {
                    Durable::Decided { slot, lr, .. } if *lr == l.id() => Some(*slot),
                    _ => None,
                })
                .collect();
            decided.extend((l.compacted_below().0..r.next_slot().0).map(Slot));
            (l.clone(), decided)
        })
        .collect()
}

/// The node layer of this node: its roles, the proposers in rank order,
/// and the timing derived from `[cluster]` (milliseconds).
fn build_core(
    cfg: &ClusterConfig,
    spec: &crate::config::NodeSpec,
    acceptor: Option<Acceptor>,
    learners: Vec<(Learner, BTreeSet<Slot>)>,
    records: &[Durable],
) -> Result<NodeCore<Bytes>, NodeError> {
    let trust = cfg.trust.clone();
    let proposers: Vec<NodeId> = cfg
        .nodes
        .iter()
        .filter(|n| n.proposer)
        .map(|n| NodeId(n.idx.0))
        .collect();
    let o = &cfg.proposer;
    let pacemaker = if spec.proposer {
        let (rank, n) = cfg.proposer_rank(spec.idx);
        let mut pc = PacemakerConfig::new(
            ProposerIndex(rank as u16),
            n as u16,
            trust.learners().collect(),
            1,
        );
        pc.base_timeout = o.timeout_ms;
        pc.max_timeout = o.max_timeout_ms;
        pc.takeover_grace = o.takeover_grace_ms;
        pc.window = o.window;
        pc.max_batch = o.batch_max;
        pc.batch_delay = o.batch_delay_ms;
        pc.max_batch_bytes = o.batch_bytes;
        // A restarted proposer remembers no ballot: start above any it
        // could have used before (seconds since the epoch, shifted).
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        pc.ballot_floor = hpaxos_core::Ballot(secs << 16);
        let pm = Pacemaker::new(pc).map_err(|e| NodeError::Runtime(format!("proposer: {e}")))?;
        Some(pm)
    } else {
        None
    };
    // Failure detection scales with the ballot timeout.
    let t = o.timeout_ms.max(10);
    let timing = NodeTiming {
        heartbeat: (t / 4).clamp(20, 250),
        leader_timeout: 2 * t,
        progress_timeout: 3 * t,
        sync_timeout: t,
        forward_timeout: 3 * t,
        fetch_timeout: (t / 4).clamp(5, 250),
    };
    let mut core = NodeCore::new(NodeSetup {
        me: NodeId(spec.idx.0),
        trust,
        acceptor,
        learners,
        pacemaker,
        proposers,
        acceptor_nodes: cfg
            .acceptor_node
            .iter()
            .map(|n| n.map_or(NodeId(u16::MAX), |x| NodeId(x.0)))
            .collect(),
        timing,
        retain_slots: cfg.retain_slots,
        horizon: DEFAULT_HORIZON,
        record_actions: false,
        values: logged_values(records),
        range_phase1: cfg.range_phase1,
    });
    // Snapshot states go in parts that fit a frame with room for the
    // envelope and signature.
    core.set_snapshot_part_bytes((cfg.max_frame / 2).max(1024));
    Ok(core)
}
