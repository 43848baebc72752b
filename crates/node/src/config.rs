//! The cluster configuration a node runs: the PRODUCT.md file (acceptors,
//! learners, safety edges; parsed and validated by `hpaxos-config`) plus the
//! node tables this crate defines in the same file:
//!
//! ```toml
//! [cluster]                       # optional; defaults shown
//! max_frame_bytes = 4194304       # largest frame accepted from a peer
//! peer_queue = 4096               # frames queued per peer before dropping
//! window = 8                      # slots a proposer runs at once
//! batch_max = 4096                # commands per value
//! batch_bytes = 524288            # bytes of commands per value
//! batch_delay_ms = 1              # wait for more commands at most
//! timeout_ms = 400                # first ballot timeout (doubles, capped)
//! max_timeout_ms = 4000
//! takeover_grace_ms = 20          # wait for the votes before a new ballot
//! retain_slots = 4096             # decided slots kept before compaction
//! witness_frames = 16             # 1b/2b relayed per 500 ms (0: off)
//! late_steps = true               # late Phase1b/Phase2av (spec/HPaxosLate.tla)
//! range_phase1 = true             # the leader runs Phase 1 once per leadership
//!
//! [nodes.n1]
//! addr = "127.0.0.1:7101"         # peer-to-peer TCP (default: its acceptor's addr)
//! http = "127.0.0.1:8101"         # HTTP API (optional)
//! public_key = "64 hex digits"    # from `hpaxos keygen`
//! acceptor = "a1"                 # the acceptor this node is (optional)
//! learners = ["alice", "bob"]     # learners it runs (optional)
//! proposer = true                 # accepts client commands (needs a learner)
//! data_dir = "data/n1"            # relative to the file; CLI may override
//! key_file = "keys/n1.key"        # relative to the file; CLI may override
//! ```
//!
//! Addresses are `HOST:PORT` where HOST is an IPv4 address, a bracketed
//! IPv6 address (`[::1]:7101`) or a host name (`localhost:7101`, `n1:7101`
//! in containers). Names are resolved when the node binds its own ports
//! and again on every connection attempt to a peer ([`HostPort`]), so a
//! peer whose container restarted with a new IP is found again.
//!
//! Data flow: [`ClusterConfig::load`] -> the node's startup (which picks its
//! own entry by name) and the demo (which writes such a file).

use crate::keys::{parse_public, KeyError};
use crate::wire::{NodeIdx, DEFAULT_MAX_FRAME};
use ed25519_dalek::VerifyingKey;
use hpaxos_core::{AcceptorId, LearnerId, Trust};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    File(#[from] hpaxos_config::ConfigError),
    #[error("the learner graph cannot be run (`hpaxos graph check FILE` explains why)")]
    Graph(#[from] hpaxos_core::graph::GraphError),
    #[error("{at}: {msg}")]
    Node { at: String, msg: String },
    #[error("{at}")]
    Key { at: String, source: KeyError },
}

fn err(at: impl Into<String>, msg: impl Into<String>) -> ConfigError {
    ConfigError::Node {
        at: at.into(),
        msg: msg.into(),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    max_frame_bytes: Option<usize>,
    peer_queue: Option<usize>,
    window: Option<usize>,
    batch_max: Option<usize>,
    batch_bytes: Option<usize>,
    batch_delay_ms: Option<u64>,
    timeout_ms: Option<u64>,
    max_timeout_ms: Option<u64>,
    takeover_grace_ms: Option<u64>,
    retain_slots: Option<u64>,
    witness_frames: Option<usize>,
    late_steps: Option<bool>,
    range_phase1: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    addr: Option<String>,
    http: Option<String>,
    public_key: String,
    acceptor: Option<String>,
    #[serde(default)]
    learners: Vec<String>,
    #[serde(default)]
    proposer: bool,
    data_dir: Option<String>,
    key_file: Option<String>,
}

/// A `HOST:PORT` address as written in the file, checked for shape only
/// (a non-empty host without spaces, a port 1-65535); the host may be a
/// name, resolved by whoever connects or binds (`tokio::net::lookup_host`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostPort {
    text: String,
    port: u16,
}

impl HostPort {
    /// Parses `host:port`; the error says what is wrong.
    pub fn parse(s: &str) -> Result<HostPort, String> {
        let bad = |why: &str| format!("{s:?} is not HOST:PORT ({why})");
        let (host, port) = s.rsplit_once(':').ok_or_else(|| bad("no `:PORT`"))?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?;
        let inner = match host.strip_prefix('[') {
            Some(h) => h
                .strip_suffix(']')
                .ok_or_else(|| bad("an IPv6 address is written [ADDR]:PORT"))?,
            None => host,
        };
        if inner.is_empty() {
            return Err(bad("no host"));
        }
        if inner.contains(':') && !host.starts_with('[') {
            return Err(bad("an IPv6 address is written [ADDR]:PORT"));
        }
        if !inner
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
        {
            return Err(bad("the host has characters a host name cannot have"));
        }
        Ok(HostPort {
            text: s.to_string(),
            port,
        })
    }

    /// The address as written (what `lookup_host` and `bind` take).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Tuning of the proposers (the shared pacemaker's settings, in ms).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposerOptions {
    /// Slots a proposer runs at once.
    pub window: usize,
    /// Commands per value at most.
    pub batch_max: usize,
    /// Bytes of commands per value at most: a batch is cut when this many
    /// are queued (or `batch_max` commands, or after `batch_delay_ms`).
    pub batch_bytes: usize,
    /// Longest wait of the oldest queued command for more to join its
    /// batch, in ms (0: a batch is cut as soon as a slot is free).
    pub batch_delay_ms: u64,
    /// First timeout of a ballot.
    pub timeout_ms: u64,
    /// Cap of the doubled timeout.
    pub max_timeout_ms: u64,
    /// How long a proposer waits for the acceptor nodes' votes of a slot
    /// before a ballot above the ones it knows there (a slot taken over, or
    /// a fresh retry): `PacemakerConfig::takeover_grace`.
    pub takeover_grace_ms: u64,
}

impl Default for ProposerOptions {
    fn default() -> Self {
        ProposerOptions {
            window: DEFAULT_WINDOW,
            batch_max: DEFAULT_BATCH_MAX,
            batch_bytes: DEFAULT_BATCH_BYTES,
            batch_delay_ms: DEFAULT_BATCH_DELAY_MS,
            timeout_ms: 400,
            max_timeout_ms: 4000,
            takeover_grace_ms: 20,
        }
    }
}

/// One node of the cluster.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    pub idx: NodeIdx,
    pub name: String,
    /// Peer-to-peer address (bound by the node, dialled by its peers).
    pub addr: HostPort,
    /// HTTP API address.
    pub http: Option<HostPort>,
    pub public_key: VerifyingKey,
    pub acceptor: Option<AcceptorId>,
    pub learners: Vec<LearnerId>,
    pub proposer: bool,
    pub data_dir: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

/// A validated cluster: trust plus nodes (sorted by name; index = [`NodeIdx`]).
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    pub trust: Trust,
    pub nodes: Vec<NodeSpec>,
    pub max_frame: usize,
    pub peer_queue: usize,
    pub proposer: ProposerOptions,
    /// Node hosting each acceptor, by acceptor index.
    pub acceptor_node: Vec<Option<NodeIdx>>,
    /// Slots kept below the low-water mark (every learner's applied or
    /// known-decided prefix) before they are garbage-collected; see
    /// `driver` ("Slot garbage collection").
    pub retain_slots: u64,
    /// Signed 1b/2b relayed to every peer per period for the equivocation
    /// cross-check (`crate::witness`); 0 turns the relay off.
    pub witness_frames: usize,
    /// The acceptor takes late `Phase1b`/`Phase2av` (`AcceptorOptions::late`,
    /// `spec/HPaxosLate.tla`).
    pub late_steps: bool,
    /// The leader runs range Phase 1 (`hpaxos_core::node::range`): Phase 1
    /// once per leadership, steady-state slots 1c -> 2av -> 2b.
    pub range_phase1: bool,
    /// What loads but is probably a mistake (`hpaxos_config::Warning`s),
    /// logged at start and printed by `node --check`.
    pub warnings: Vec<String>,
}

/// Default of `[cluster] window` (docs/CONFIG.md says how it was chosen).
pub const DEFAULT_WINDOW: usize = 8;
/// Default of `[cluster] batch_max`.
pub const DEFAULT_BATCH_MAX: usize = 4096;
/// Default of `[cluster] batch_bytes`.
pub const DEFAULT_BATCH_BYTES: usize = 512 * 1024;
/// Default of `[cluster] batch_delay_ms`.
pub const DEFAULT_BATCH_DELAY_MS: u64 = 1;

/// Default of `[cluster] late_steps`.
pub const DEFAULT_LATE_STEPS: bool = true;

/// Default of `[cluster] range_phase1`.
pub const DEFAULT_RANGE_PHASE1: bool = true;

/// Default of `[cluster] retain_slots`.
pub const DEFAULT_RETAIN_SLOTS: u64 = 4096;

impl ClusterConfig {
    pub fn load(path: &Path) -> Result<ClusterConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::File(hpaxos_config::ConfigError::Io {
                path: path.to_path_buf(),
                source: e,
            })
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        ClusterConfig::parse(&text, base)
    }

    /// Parses the text; relative paths are resolved against `base`.
    pub fn parse(text: &str, base: &Path) -> Result<ClusterConfig, ConfigError> {
        let cfg = hpaxos_config::parse_str(text)?;
        let trust = cfg.validate()?;
        let warnings = cfg.warnings().iter().map(|w| w.to_string()).collect();
        let cluster: RawCluster = match cfg.extra.get("cluster") {
            Some(v) => v
                .clone()
                .try_into()
                .map_err(|e: toml::de::Error| err("[cluster]", e.message().trim().to_string()))?,
            None => RawCluster::default(),
        };
        let Some(nodes_v) = cfg.extra.get("nodes") else {
            return Err(err(
                "[nodes]",
                "no node tables: add a [nodes.NAME] table per node (addr, public_key, acceptor, learners, proposer)",
            ));
        };
        let toml::Value::Table(tables) = nodes_v else {
            return Err(err("[nodes]", "expected tables [nodes.NAME], one per node"));
        };
        let mut raw: BTreeMap<String, RawNode> = BTreeMap::new();
        for (name, v) in tables {
            let at = format!("[nodes.{name}]");
            if !matches!(v, toml::Value::Table(_)) {
                return Err(err(
                    at,
                    "expected a table (addr, public_key, acceptor, ...)",
                ));
            }
            let r: RawNode = v
                .clone()
                .try_into()
                .map_err(|e: toml::de::Error| err(&at, e.message().trim().to_string()))?;
            raw.insert(name.clone(), r);
        }
        if raw.len() > u16::MAX as usize {
            return Err(err("[nodes]", "too many nodes"));
        }
        let mut nodes = Vec::new();
        let mut acceptor_node = vec![None; trust.n_acceptors()];
        for (i, (name, r)) in raw.into_iter().enumerate() {
            let at = format!("[nodes.{name}]");
            let idx = NodeIdx(i as u16);
            let acceptor = match &r.acceptor {
                None => None,
                Some(a) => {
                    let id = cfg
                        .acceptor_id(a)
                        .ok_or_else(|| err(&at, format!("unknown acceptor `{a}`")))?;
                    if let Some(Some(other)) = acceptor_node.get(id.index()) {
                        let other: &NodeIdx = other;
                        return Err(err(
                            &at,
                            format!("acceptor `{a}` is already run by node #{}", other.0),
                        ));
                    }
                    acceptor_node[id.index()] = Some(idx);
                    Some(id)
                }
            };
            let addr_s = match (&r.addr, acceptor) {
                (Some(a), _) => a.clone(),
                (None, Some(id)) => cfg
                    .acceptors
                    .get(id.index())
                    .and_then(|e| e.addr.clone())
                    .ok_or_else(|| err(&at, "no `addr` (and its acceptor has none)"))?,
                (None, None) => return Err(err(&at, "no `addr`")),
            };
            let addr = HostPort::parse(&addr_s).map_err(|m| err(&at, format!("`addr`: {m}")))?;
            let http = match &r.http {
                None => None,
                Some(h) => Some(HostPort::parse(h).map_err(|m| err(&at, format!("`http`: {m}")))?),
            };
            let public_key = parse_public(&r.public_key).map_err(|source| ConfigError::Key {
                at: format!("{at} public_key"),
                source,
            })?;
            let mut learners = Vec::new();
            for l in &r.learners {
                let id = cfg
                    .learner_id(l)
                    .ok_or_else(|| err(&at, format!("unknown learner `{l}`")))?;
                if !learners.contains(&id) {
                    learners.push(id);
                }
            }
            if r.proposer && learners.is_empty() {
                return Err(err(
                    &at,
                    "a proposer must run at least one learner (it learns outcomes from it)",
                ));
            }
            nodes.push(NodeSpec {
                idx,
                name,
                addr,
                http,
                public_key,
                acceptor,
                learners,
                proposer: r.proposer,
                data_dir: r.data_dir.map(|d| base.join(d)),
                key_file: r.key_file.map(|d| base.join(d)),
            });
        }
        for (i, n) in nodes.iter().enumerate() {
            let at = format!("[nodes.{}]", n.name);
            if let Some(o) = nodes[..i].iter().find(|o| o.addr == n.addr) {
                return Err(err(
                    at,
                    format!("`addr` {} is also the `addr` of node {}", n.addr, o.name),
                ));
            }
            let used = |h: &HostPort| {
                nodes
                    .iter()
                    .find(|o| o.addr == *h || (o.name != n.name && o.http.as_ref() == Some(h)))
            };
            if let Some(o) = n.http.as_ref().and_then(|h| used(h).map(|o| (h, o))) {
                return Err(err(
                    at,
                    format!("`http` {} is already used by node {}", o.0, o.1.name),
                ));
            }
        }
        let d = ProposerOptions::default();
        let max_frame = cluster
            .max_frame_bytes
            .unwrap_or(DEFAULT_MAX_FRAME)
            .max(1024);
        // A batch travels in a 1c frame (and in value answers of at most
        // half a frame): it must fit in half of the largest frame.
        let batch_bytes = match cluster.batch_bytes {
            Some(b) if b > max_frame / 2 => {
                return Err(err(
                    "[cluster]",
                    format!(
                        "`batch_bytes` = {b} is more than half of `max_frame_bytes` ({max_frame}): a batch must fit in a frame (raise max_frame_bytes to at least {})",
                        b.saturating_mul(2)
                    ),
                ))
            }
            Some(b) => b.max(1024),
            None => d.batch_bytes.min(max_frame / 2),
        };
        let proposer = ProposerOptions {
            window: cluster.window.unwrap_or(d.window).max(1),
            batch_max: cluster.batch_max.unwrap_or(d.batch_max).max(1),
            batch_bytes,
            batch_delay_ms: cluster.batch_delay_ms.unwrap_or(d.batch_delay_ms),
            timeout_ms: cluster.timeout_ms.unwrap_or(d.timeout_ms).max(10),
            max_timeout_ms: cluster
                .max_timeout_ms
                .unwrap_or(d.max_timeout_ms)
                .max(cluster.timeout_ms.unwrap_or(d.timeout_ms).max(10)),
            takeover_grace_ms: cluster.takeover_grace_ms.unwrap_or(d.takeover_grace_ms),
        };
        Ok(ClusterConfig {
            trust,
            nodes,
            max_frame,
            peer_queue: cluster.peer_queue.unwrap_or(4096).max(16),
            proposer,
            acceptor_node,
            retain_slots: cluster.retain_slots.unwrap_or(DEFAULT_RETAIN_SLOTS).max(1),
            witness_frames: cluster
                .witness_frames
                .unwrap_or(crate::witness::DEFAULT_RELAY_FRAMES),
            late_steps: cluster.late_steps.unwrap_or(DEFAULT_LATE_STEPS),
            range_phase1: cluster.range_phase1.unwrap_or(DEFAULT_RANGE_PHASE1),
            warnings,
        })
    }

    pub fn node_by_name(&self, name: &str) -> Option<&NodeSpec> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn keys(&self) -> Vec<VerifyingKey> {
        self.nodes.iter().map(|n| n.public_key).collect()
    }

    /// Proposers, in node order: `(index among proposers, count)` of `n`.
    pub fn proposer_rank(&self, n: NodeIdx) -> (u64, u64) {
        let props: Vec<NodeIdx> = self
            .nodes
            .iter()
            .filter(|x| x.proposer)
            .map(|x| x.idx)
            .collect();
        let rank = props.iter().position(|x| *x == n).unwrap_or(0);
        (rank as u64, props.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    //! Golden tests of the node tables' messages (issue 10: unknown keys
    //! are errors with their table; addresses are HOST:PORT).
    use super::*;

    const TRUST: &str = "[acceptors]\na1 = {}\n[learners.x]\nquorums = \"a1\"\n[[safety]]\nlearners = [\"x\", \"x\"]\nsafe = \"a1\"\n";
    const KEY: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    fn parse(extra: &str) -> Result<ClusterConfig, String> {
        ClusterConfig::parse(&format!("{TRUST}{extra}"), Path::new(".")).map_err(|e| e.to_string())
    }

    fn node(name: &str, addr: &str, rest: &str) -> String {
        format!("[nodes.{name}]\naddr = \"{addr}\"\npublic_key = \"{KEY}\"\n{rest}\n")
    }

    #[test]
    fn witness_frames_defaults_to_16_and_0_turns_the_relay_off() {
        let n = node("n1", "localhost:7101", "acceptor = \"a1\"");
        assert_eq!(parse(&n).unwrap().witness_frames, 16);
        let c = parse(&format!("[cluster]\nwitness_frames = 0\n{n}")).unwrap();
        assert_eq!(c.witness_frames, 0);
        assert!(parse(&format!("[cluster]\nwitness_frames = -1\n{n}"))
            .unwrap_err()
            .starts_with("[cluster]: invalid value"));
    }

    /// Issue 9 item 3: batches cut by bytes and by a delay, both keys
    /// optional with their documented defaults; a batch must fit in half
    /// a frame (golden message), a tiny one is raised to 1 KiB.
    #[test]
    fn batch_bytes_and_delay_defaults_and_bounds() {
        let n = node("n1", "localhost:7101", "acceptor = \"a1\"");
        let p = parse(&n).unwrap().proposer;
        assert_eq!(
            (p.window, p.batch_max, p.batch_bytes, p.batch_delay_ms),
            (
                DEFAULT_WINDOW,
                DEFAULT_BATCH_MAX,
                DEFAULT_BATCH_BYTES,
                DEFAULT_BATCH_DELAY_MS
            )
        );
        let c = parse(&format!(
            "[cluster]\nbatch_bytes = 2097152\nbatch_delay_ms = 0\n{n}"
        ))
        .unwrap();
        assert_eq!(
            (c.proposer.batch_bytes, c.proposer.batch_delay_ms),
            (2 << 20, 0)
        );
        let c = parse(&format!("[cluster]\nbatch_bytes = 10\n{n}")).unwrap();
        assert_eq!(c.proposer.batch_bytes, 1024);
        assert_eq!(
            parse(&format!("[cluster]\nbatch_bytes = 3000000\n{n}")).unwrap_err(),
            "[cluster]: `batch_bytes` = 3000000 is more than half of `max_frame_bytes` (4194304): a batch must fit in a frame (raise max_frame_bytes to at least 6000000)"
        );
        // A small frame limit lowers the default batch bound with it.
        let c = parse(&format!("[cluster]\nmax_frame_bytes = 65536\n{n}")).unwrap();
        assert_eq!(c.proposer.batch_bytes, 32768);
        assert!(parse(&format!("[cluster]\nbatch_delay_ms = -1\n{n}"))
            .unwrap_err()
            .starts_with("[cluster]: invalid value"));
    }

    #[test]
    fn late_steps_default_and_flag() {
        let n = node("n1", "localhost:7101", "acceptor = \"a1\"");
        assert_eq!(parse(&n).unwrap().late_steps, super::DEFAULT_LATE_STEPS);
        let c = parse(&format!("[cluster]\nlate_steps = true\n{n}")).unwrap();
        assert!(c.late_steps);
        let c = parse(&format!("[cluster]\nlate_steps = false\n{n}")).unwrap();
        assert!(!c.late_steps);
        assert!(parse(&format!("[cluster]\nlate_steps = 1\n{n}"))
            .unwrap_err()
            .starts_with("[cluster]: invalid type"));
    }

    #[test]
    fn host_names_and_ipv6_are_addresses() {
        let c = parse(&format!(
            "{}{}{}",
            node("n1", "localhost:7101", "acceptor = \"a1\""),
            node("n2", "n2:7101", "http = \"n2:8101\""),
            node("n3", "[::1]:7103", "")
        ))
        .unwrap();
        let addrs: Vec<&str> = c.nodes.iter().map(|n| n.addr.as_str()).collect();
        assert_eq!(addrs, ["localhost:7101", "n2:7101", "[::1]:7103"]);
        assert_eq!(c.nodes[1].addr.port(), 7101);
    }

    #[test]
    fn bad_addresses_say_why() {
        let cases = [
            ("127.0.0.1", "no `:PORT`"),
            (":7101", "no host"),
            ("h:99999", "the port must be a number from 1 to 65535"),
            ("::1:7101", "an IPv6 address is written [ADDR]:PORT"),
            (
                "my host:7101",
                "the host has characters a host name cannot have",
            ),
        ];
        for (a, why) in cases {
            assert_eq!(
                parse(&node("n1", a, "")).unwrap_err(),
                format!("[nodes.n1]: `addr`: {a:?} is not HOST:PORT ({why})")
            );
        }
    }

    #[test]
    fn unknown_keys_are_errors_with_their_table() {
        let e = parse(&node("n1", "h:1", "acceptr = \"a1\"")).unwrap_err();
        assert!(
            e.starts_with("[nodes.n1]: unknown field `acceptr`, expected one of `addr`, `http`, `public_key`, `acceptor`"),
            "{e}"
        );
        let e = parse(&format!("[cluster]\nwindw = 4\n{}", node("n1", "h:1", ""))).unwrap_err();
        assert!(
            e.starts_with("[cluster]: unknown field `windw`, expected one of `max_frame_bytes`"),
            "{e}"
        );
        assert_eq!(
            parse("[nodes]\nn1 = 3\n").unwrap_err(),
            "[nodes.n1]: expected a table (addr, public_key, acceptor, ...)"
        );
        assert_eq!(
            parse("[cluster]\n").unwrap_err(),
            "[nodes]: no node tables: add a [nodes.NAME] table per node (addr, public_key, acceptor, learners, proposer)"
        );
    }

    #[test]
    fn addresses_are_not_shared() {
        assert_eq!(
            parse(&format!(
                "{}{}",
                node("n1", "h:1", ""),
                node("n2", "h:1", "")
            ))
            .unwrap_err(),
            "[nodes.n2]: `addr` h:1 is also the `addr` of node n1"
        );
        assert_eq!(
            parse(&format!(
                "{}{}",
                node("n1", "h:1", ""),
                node("n2", "h:2", "http = \"h:1\"")
            ))
            .unwrap_err(),
            "[nodes.n2]: `http` h:1 is already used by node n1"
        );
    }
}
