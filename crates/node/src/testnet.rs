//! `hpaxos testnet`: a whole cluster's files from one command.
//!
//! [`write_testnet`] writes into a fresh directory:
//!
//! - `keys/NAME.key`: one Ed25519 secret per node ([`crate::keys`]);
//! - `cluster.toml`: the trust part (the learner graph of `--graph FILE`,
//!   copied verbatim, or [`default_graph`]) plus one `[nodes.NAME]` table
//!   per node on loopback (`127.0.0.1`, or another host such as
//!   `localhost`; consecutive ports), data and key
//!   paths relative to the file;
//! - `start.sh` / `stop.sh`: start every node in the background (logs in
//!   `logs/`, pids in `pids/`, then wait for each `/health`), and stop them
//!   (SIGTERM, then SIGKILL after a grace period);
//! - with `compose`: `cluster.compose.toml` (the same cluster addressed by
//!   host name `nI:PEER_PORT` on a private network) and `compose.yaml`
//!   for the image `hpaxos:latest` (one service per node, a health check
//!   through `hpaxos client health`, a named data volume per node).
//!
//! Node `nI` runs acceptor number I of the graph (file order) when there is
//! one and every learner; the first [`PROPOSERS`] nodes are proposers (`n1`
//! leads, the others take over if it fails), as in the demo. Any node
//! accepts client commands. Nothing is started: the caller (or the scripts)
//! does that.

use crate::config::ClusterConfig;
use crate::keys::{generate, public_hex, write_secret, KeyError};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Proposers of a testnet: the first nodes, up to this many.
pub const PROPOSERS: usize = 3;

/// What to write.
#[derive(Clone, Debug)]
pub struct TestnetSpec {
    /// Number of nodes (1 to 1000).
    pub nodes: usize,
    /// Text of a configuration file whose learner graph to use (PRODUCT.md
    /// format; `[cluster]` is kept, `[nodes.*]` tables are refused), or
    /// `None` for [`default_graph`].
    pub graph: Option<String>,
    /// Directory to write into (created; must not hold a testnet already).
    pub out: PathBuf,
    /// Peer port of `n1`; node `nI` uses `peer_port + I - 1`.
    pub peer_port: u16,
    /// HTTP port of `n1`; node `nI` uses `http_port + I - 1`.
    pub http_port: u16,
    /// Also write `compose.yaml` and `cluster.compose.toml`.
    pub compose: bool,
    /// The image the compose file runs.
    pub image: String,
    /// Path of the `hpaxos` executable inside the image (health checks).
    pub image_binary: String,
    /// The `hpaxos` executable `start.sh` runs (overridable with `$HPAXOS`).
    pub exe: PathBuf,
    /// Host of every address in `cluster.toml` (a loopback address or a
    /// name resolving to one, e.g. `localhost`).
    pub host: String,
    /// Host of node NAME in `cluster.compose.toml`: `{name}` is replaced by
    /// the node's name (default `{name}`, the compose service; e.g.
    /// `{name}.hpaxos.default.svc.cluster.local` for Kubernetes).
    pub container_host: String,
}

impl TestnetSpec {
    /// Defaults: ports 7101 and 8101, image `hpaxos:latest` with the binary
    /// at `/usr/local/bin/hpaxos`, no compose file.
    pub fn new(nodes: usize, out: impl Into<PathBuf>, exe: impl Into<PathBuf>) -> TestnetSpec {
        TestnetSpec {
            nodes,
            graph: None,
            out: out.into(),
            peer_port: 7101,
            http_port: 8101,
            compose: false,
            image: "hpaxos:latest".into(),
            image_binary: "/usr/local/bin/hpaxos".into(),
            exe: exe.into(),
            host: "127.0.0.1".into(),
            container_host: "{name}".into(),
        }
    }
}

/// What was written.
#[derive(Clone, Debug)]
pub struct Testnet {
    pub dir: PathBuf,
    /// `DIR/cluster.toml` (loopback).
    pub config: PathBuf,
    /// `DIR/cluster.compose.toml`, with `compose`.
    pub compose_config: Option<PathBuf>,
    /// Node names, `n1..nN`.
    pub names: Vec<String>,
    /// HTTP address of each node on loopback, by name order.
    pub http: Vec<String>,
    /// Every file written, in the order written.
    pub files: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum TestnetError {
    #[error("--nodes {0}: a testnet has 1 to 1000 nodes")]
    Nodes(usize),
    #[error("--graph: {0}")]
    Graph(String),
    #[error("ports: {0}")]
    Ports(String),
    #[error("{dir} already holds a testnet (cluster.toml); remove it or pick another --out")]
    Exists { dir: String },
    #[error("cannot write {path}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("internal error: the generated {file} does not load: {msg}")]
    Generated { file: String, msg: String },
}

/// The learner graph used without `--graph`: acceptors `a1..aN`; for
/// N >= 4 the demo's pair of learners sized to N (`alice`, Byzantine-
/// tolerant: quorums of N - f with f = (N-1)/3, consistent with herself
/// while at most f acceptors are faulty; `bob`, crash-only: majority
/// quorums, consistent while no acceptor lies), for N < 4 only `bob`.
pub fn default_graph(n: usize) -> String {
    let ids: Vec<String> = (1..=n).map(|i| format!("a{i}")).collect();
    let all = ids.join(", ");
    let f = n.saturating_sub(1) / 3;
    let majority = n / 2 + 1;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# Learner graph written by `hpaxos testnet --nodes {n}`."
    );
    if n >= 4 {
        let _ = writeln!(
            t,
            "#\n# alice is Byzantine-tolerant: quorums of any {q} of the {n} acceptors; she\n\
             # stays consistent with herself while at most {f} {acc} faulty\n\
             # (Byzantine) and live while at most {f} {are} down.\n\
             # bob assumes crash faults only: quorums of any {majority} of {n} (live with\n\
             # {down} down); he agrees with himself and with alice while no acceptor lies.",
            q = n - f,
            down = n - majority,
            acc = if f == 1 {
                "acceptor is"
            } else {
                "acceptors are"
            },
            are = if f == 1 { "is" } else { "are" },
        );
    } else {
        let _ = writeln!(
            t,
            "#\n# bob assumes crash faults only: quorums of any {majority} of the {n}\n\
             # acceptors; consistent while no acceptor lies. (With 4 or more nodes a\n\
             # Byzantine-tolerant learner is added.)"
        );
    }
    let _ = writeln!(t, "\n[acceptors]");
    for id in &ids {
        let _ = writeln!(t, "{id} = {{}}");
    }
    if n >= 4 {
        let _ = writeln!(
            t,
            "\n[learners.alice]\nquorums = \"{} of {{{all}}}\"",
            n - f
        );
    }
    let _ = writeln!(t, "\n[learners.bob]\nquorums = \"{majority} of {{{all}}}\"");
    if n >= 4 {
        let _ = writeln!(
            t,
            "\n[[safety]]\nlearners = [\"alice\", \"alice\"]\nsafe = \"{} of {{{all}}}\"",
            n - f
        );
    }
    let _ = writeln!(
        t,
        "\n[[safety]]\nlearners = [\"bob\", \"bob\"]\nsafe = \"all {{{all}}}\""
    );
    if n >= 4 {
        let _ = writeln!(
            t,
            "\n[[safety]]\nlearners = [\"alice\", \"bob\"]\nsafe = \"all {{{all}}}\""
        );
    }
    t
}

/// One node's place in the testnet.
struct Member {
    name: String,
    acceptor: Option<String>,
    peer_port: u16,
    http_port: u16,
    public_key: String,
}

fn write(files: &mut Vec<PathBuf>, path: PathBuf, text: &str) -> Result<(), TestnetError> {
    std::fs::write(&path, text).map_err(|source| TestnetError::Write {
        path: path.display().to_string(),
        source,
    })?;
    files.push(path);
    Ok(())
}

#[cfg(unix)]
fn make_executable(path: &Path) -> Result<(), TestnetError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(|source| {
        TestnetError::Write {
            path: path.display().to_string(),
            source,
        }
    })
}

#[cfg(not(unix))]
fn make_executable(_: &Path) -> Result<(), TestnetError> {
    Ok(())
}

/// Escapes `s` for the inside of a double-quoted POSIX shell word.
fn sh_dquote_inner(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

/// Node tables for `host(name)`; paths relative to the file.
fn node_tables(
    members: &[Member],
    learners: &[String],
    host: &dyn Fn(&Member) -> String,
) -> String {
    let ls: Vec<String> = learners.iter().map(|l| format!("{l:?}")).collect();
    let mut t = String::new();
    for (i, m) in members.iter().enumerate() {
        let h = host(m);
        let _ = writeln!(t, "\n[nodes.{}]", m.name);
        let _ = writeln!(t, "addr = \"{h}:{}\"", m.peer_port);
        let _ = writeln!(t, "http = \"{h}:{}\"", m.http_port);
        let _ = writeln!(t, "public_key = \"{}\"", m.public_key);
        if let Some(a) = &m.acceptor {
            let _ = writeln!(t, "acceptor = {a:?}");
        }
        let _ = writeln!(t, "learners = [{}]", ls.join(", "));
        let _ = writeln!(t, "proposer = {}", i < PROPOSERS);
        let _ = writeln!(t, "data_dir = \"data/{}\"", m.name);
        let _ = writeln!(t, "key_file = \"keys/{}.key\"", m.name);
    }
    t
}

/// Writes the testnet described by `spec` (see the module doc).
pub fn write_testnet(spec: &TestnetSpec) -> Result<Testnet, TestnetError> {
    let n = spec.nodes;
    if n == 0 || n > 1000 {
        return Err(TestnetError::Nodes(n));
    }
    let last = |base: u16, what: &str| {
        base.checked_add(n as u16 - 1)
            .filter(|_| base != 0)
            .ok_or_else(|| {
                TestnetError::Ports(format!(
                    "{what} ports {base}..{base}+{} do not fit in 1..65535",
                    n - 1
                ))
            })
    };
    let peer_last = last(spec.peer_port, "peer")?;
    let http_last = last(spec.http_port, "HTTP")?;
    if spec.peer_port <= http_last && spec.http_port <= peer_last {
        return Err(TestnetError::Ports(format!(
            "peer ports {}..={peer_last} and HTTP ports {}..={http_last} overlap",
            spec.peer_port, spec.http_port
        )));
    }
    // The trust part: check it loads and is valid before writing anything.
    let trust_text = match &spec.graph {
        Some(t) => t.clone(),
        None => default_graph(n),
    };
    let cfg =
        hpaxos_config::parse_str(&trust_text).map_err(|e| TestnetError::Graph(e.to_string()))?;
    if cfg.extra.contains_key("nodes") {
        return Err(TestnetError::Graph(
            "the file already has [nodes.*] tables; give a file with only the learner graph (and [cluster])".into(),
        ));
    }
    if let Err(e) = cfg.validate() {
        return Err(TestnetError::Graph(format!(
            "{e} (`hpaxos graph check FILE` explains why)"
        )));
    }
    let acceptors: Vec<String> = cfg.acceptors.iter().map(|a| a.name.clone()).collect();
    if acceptors.len() > n {
        return Err(TestnetError::Graph(format!(
            "the graph has {} acceptors but --nodes is {n}: every acceptor needs a node",
            acceptors.len()
        )));
    }
    let learners: Vec<String> = cfg.learners.iter().map(|l| l.name.clone()).collect();

    let dir = &spec.out;
    if dir.join("cluster.toml").exists() {
        return Err(TestnetError::Exists {
            dir: dir.display().to_string(),
        });
    }
    let mkdir = |p: &Path| {
        std::fs::create_dir_all(p).map_err(|source| TestnetError::Write {
            path: p.display().to_string(),
            source,
        })
    };
    mkdir(&dir.join("keys"))?;
    let mut files = Vec::new();
    let mut members = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("n{}", i + 1);
        let key_file = dir.join("keys").join(format!("{name}.key"));
        let key = generate();
        write_secret(&key_file, &key)?;
        files.push(key_file);
        members.push(Member {
            name,
            acceptor: acceptors.get(i).cloned(),
            peer_port: spec.peer_port + i as u16,
            http_port: spec.http_port + i as u16,
            public_key: public_hex(&key),
        });
    }

    let header = format!(
        "# A {n}-node hpaxos testnet written by `hpaxos testnet`.\n\
         # Check a node offline:  hpaxos node --check --config cluster.toml --name n1\n\
         # Start all on loopback: ./start.sh      stop: ./stop.sh\n\
         # The file format: docs/CONFIG.md.\n\n"
    );
    let body = |host: &dyn Fn(&Member) -> String| {
        format!(
            "{header}{}\n\n# One table per node (`hpaxos keygen` makes keys for new ones).\n{}",
            trust_text.trim_end(),
            node_tables(&members, &learners, host)
        )
    };
    let loopback = body(&|_| spec.host.clone());
    let config = dir.join("cluster.toml");
    // Check what is about to be written with the node's own loader.
    ClusterConfig::parse(&loopback, dir).map_err(|e| TestnetError::Generated {
        file: "cluster.toml".into(),
        msg: e.to_string(),
    })?;
    write(&mut files, config.clone(), &loopback)?;

    let names: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
    let http: Vec<String> = members
        .iter()
        .map(|m| format!("{}:{}", spec.host, m.http_port))
        .collect();
    let start = dir.join("start.sh");
    write(&mut files, start.clone(), &start_sh(spec, &members))?;
    make_executable(&start)?;
    let stop = dir.join("stop.sh");
    write(&mut files, stop.clone(), &stop_sh(&names))?;
    make_executable(&stop)?;

    let mut compose_config = None;
    if spec.compose {
        let text = body(&|m| spec.container_host.replace("{name}", &m.name));
        ClusterConfig::parse(&text, dir).map_err(|e| TestnetError::Generated {
            file: "cluster.compose.toml".into(),
            msg: e.to_string(),
        })?;
        let p = dir.join("cluster.compose.toml");
        write(&mut files, p.clone(), &text)?;
        compose_config = Some(p);
        write(
            &mut files,
            dir.join("compose.yaml"),
            &compose_yaml(spec, &members),
        )?;
    }
    Ok(Testnet {
        dir: dir.clone(),
        config,
        compose_config,
        names,
        http,
        files,
    })
}

fn start_sh(spec: &TestnetSpec, members: &[Member]) -> String {
    let exe = spec.exe.display().to_string();
    let mut s = String::new();
    let _ = write!(
        s,
        r#"#!/bin/sh
# Starts the {n} nodes of this testnet in the background on loopback.
# Logs: logs/NAME.log; pids: pids/NAME.pid; data: data/NAME. Stop: ./stop.sh
# The executable: $HPAXOS, or the one that wrote this testnet.
set -u
HPAXOS="${{HPAXOS:-{exe}}}"
# A relative path names a file from where this script was called.
case "$HPAXOS" in /*) ;; */*) HPAXOS="$(pwd)/$HPAXOS" ;; esac
cd "$(dirname "$0")" || exit 2
mkdir -p logs pids
start() {{ # name http
  if [ -f "pids/$1.pid" ] && kill -0 "$(cat "pids/$1.pid")" 2>/dev/null; then
    echo "$1 already running (pid $(cat "pids/$1.pid"))"
    return 0
  fi
  "$HPAXOS" node --config cluster.toml --name "$1" >>"logs/$1.log" 2>&1 &
  echo $! >"pids/$1.pid"
  echo "started $1 (pid $!, http $2, log logs/$1.log)"
}}
"#,
        n = members.len(),
        exe = sh_dquote_inner(&exe),
    );
    for m in members {
        let _ = writeln!(s, "start {} {}:{}", m.name, spec.host, m.http_port);
    }
    let _ = write!(
        s,
        r#"# Wait (at most 30 s per node) until each answers /health.
fail=0
for nh in {list}; do
  name=${{nh%%=*}}; addr=${{nh#*=}}
  i=0
  until "$HPAXOS" client --addr "$addr" --timeout 1 health >/dev/null 2>&1; do
    i=$((i + 1))
    if ! kill -0 "$(cat "pids/$name.pid")" 2>/dev/null; then
      echo "$name exited at start-up; see logs/$name.log:" >&2
      tail -n 5 "logs/$name.log" >&2
      fail=1
      break
    fi
    if [ "$i" -ge 150 ]; then
      echo "$name is not healthy after 30 s; see logs/$name.log" >&2
      fail=1
      break
    fi
    sleep 0.2
  done
done
if [ "$fail" -ne 0 ]; then exit 1; fi
echo "all {n} nodes healthy; try: $HPAXOS client --addr {host}:{h1} put color blue"
"#,
        list = members
            .iter()
            .map(|m| format!("{}={}:{}", m.name, spec.host, m.http_port))
            .collect::<Vec<_>>()
            .join(" "),
        n = members.len(),
        h1 = members.first().map(|m| m.http_port).unwrap_or(0),
        host = spec.host,
    );
    s
}

fn stop_sh(names: &[String]) -> String {
    format!(
        r#"#!/bin/sh
# Stops the nodes started by ./start.sh: SIGTERM (a node finishes its
# iteration, so everything acknowledged is durable), SIGKILL after 10 s.
set -u
cd "$(dirname "$0")" || exit 2
for name in {names}; do
  f="pids/$name.pid"
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; fi
done
for name in {names}; do
  f="pids/$name.pid"
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  i=0
  while kill -0 "$pid" 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -ge 100 ]; then
      echo "$name (pid $pid) did not stop in 10 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null
      break
    fi
    sleep 0.1
  done
  rm -f "$f"
  echo "stopped $name"
done
"#,
        names = names.join(" ")
    )
}

fn compose_yaml(spec: &TestnetSpec, members: &[Member]) -> String {
    let mut y = String::new();
    let _ = write!(
        y,
        "# {n} hpaxos nodes from the image {image}, written by `hpaxos testnet --compose`.\n\
         # Nodes reach each other by host name (n1..n{n}) on the private network\n\
         # `hpaxos`; each keeps its data in the volume NAME-data. This directory is\n\
         # mounted read-only at /testnet (cluster.compose.toml and keys/).\n\
         # HTTP APIs are published on the host's loopback: 127.0.0.1:{h1}..\n\
         #   docker compose up -d; docker compose ps; docker compose down -v\n\
         services:\n",
        n = members.len(),
        image = spec.image,
        h1 = members.first().map(|m| m.http_port).unwrap_or(0),
    );
    for m in members {
        let _ = write!(
            y,
            "  {name}:\n\
             \x20   image: {image:?}\n\
             \x20   hostname: {name}\n\
             \x20   command: [\"node\", \"--config\", \"/testnet/cluster.compose.toml\", \"--name\", \"{name}\", \"--data-dir\", \"/data\"]\n\
             \x20   environment:\n\
             \x20     HPAXOS_LOG: info\n\
             \x20   volumes:\n\
             \x20     - ./:/testnet:ro\n\
             \x20     - {name}-data:/data\n\
             \x20   networks: [hpaxos]\n\
             \x20   ports: [\"127.0.0.1:{hp}:{hp}\"]\n\
             \x20   healthcheck:\n\
             \x20     test: [\"CMD\", {bin:?}, \"client\", \"--addr\", \"{name}:{hp}\", \"--timeout\", \"2\", \"health\"]\n\
             \x20     interval: 2s\n\
             \x20     timeout: 3s\n\
             \x20     retries: 15\n\
             \x20     start_period: 5s\n\
             \x20   stop_signal: SIGTERM\n\
             \x20   stop_grace_period: 10s\n\
             \x20   restart: unless-stopped\n",
            name = m.name,
            image = spec.image,
            hp = m.http_port,
            bin = spec.image_binary,
        );
    }
    y.push_str("networks:\n  hpaxos:\n    driver: bridge\nvolumes:\n");
    for m in members {
        let _ = writeln!(y, "  {}-data: {{}}", m.name);
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default graphs are valid for every size (PRODUCT.md validity of
    /// the closure), and N >= 4 has the Byzantine-tolerant learner.
    #[test]
    fn default_graph_is_valid_for_every_size() {
        for n in 1..=13 {
            let cfg = hpaxos_config::parse_str(&default_graph(n)).unwrap();
            cfg.validate()
                .unwrap_or_else(|e| panic!("default graph for {n} nodes: {e}"));
            let names: Vec<&str> = cfg.learners.iter().map(|l| l.name.as_str()).collect();
            assert_eq!(names.contains(&"alice"), n >= 4, "n = {n}");
            assert!(names.contains(&"bob"));
        }
    }

    #[test]
    fn writes_a_cluster_the_node_loader_accepts_and_refuses_to_overwrite() {
        let d = tempfile::tempdir().unwrap();
        let mut spec = TestnetSpec::new(4, d.path().join("t"), "/bin/hpaxos");
        spec.compose = true;
        let t = write_testnet(&spec).unwrap();
        let cfg = ClusterConfig::load(&t.config).unwrap();
        assert_eq!(cfg.nodes.len(), 4);
        assert_eq!(cfg.nodes[0].addr.as_str(), "127.0.0.1:7101");
        let props: Vec<bool> = cfg.nodes.iter().map(|n| n.proposer).collect();
        assert_eq!(props, [true, true, true, false]);
        let cc = ClusterConfig::load(t.compose_config.as_ref().unwrap()).unwrap();
        assert_eq!(cc.nodes[3].addr.as_str(), "n4:7104");
        assert_eq!(cc.nodes[3].http.as_ref().unwrap().as_str(), "n4:8104");
        // Another naming scheme for the containers' file.
        let mut k8s = spec.clone();
        k8s.out = d.path().join("k");
        k8s.container_host = "{name}.hpaxos.svc".into();
        let t2 = write_testnet(&k8s).unwrap();
        let c2 = ClusterConfig::load(t2.compose_config.as_ref().unwrap()).unwrap();
        assert_eq!(c2.nodes[0].addr.as_str(), "n1.hpaxos.svc:7101");
        let y = std::fs::read_to_string(t.dir.join("compose.yaml")).unwrap();
        assert!(y.contains("hostname: n4") && y.contains("n4-data:/data"));
        assert!(t.files.iter().all(|f| f.exists()));
        assert_eq!(t.files.len(), 4 + 5);
        assert!(matches!(
            write_testnet(&spec),
            Err(TestnetError::Exists { .. })
        ));
    }

    #[test]
    fn refuses_graphs_it_cannot_run() {
        let d = tempfile::tempdir().unwrap();
        let mut spec = TestnetSpec::new(3, d.path().join("t"), "/bin/hpaxos");
        spec.graph = Some(default_graph(5));
        let e = write_testnet(&spec).unwrap_err().to_string();
        assert_eq!(
            e,
            "--graph: the graph has 5 acceptors but --nodes is 3: every acceptor needs a node"
        );
        spec.graph = Some(
            "[acceptors]\na1 = {}\na2 = {}\n[learners.x]\nquorums = \"1 of {a1, a2}\"\n\
             [[safety]]\nlearners = [\"x\", \"x\"]\nsafe = \"all {a1, a2}\"\n"
                .into(),
        );
        let e = write_testnet(&spec).unwrap_err().to_string();
        assert!(
            e.starts_with("--graph: the learner graph is invalid"),
            "{e}"
        );
        assert!(!spec.out.exists(), "nothing written for a bad graph");
        spec.graph = None;
        spec.nodes = 0;
        assert_eq!(
            write_testnet(&spec).unwrap_err().to_string(),
            "--nodes 0: a testnet has 1 to 1000 nodes"
        );
        spec.nodes = 3;
        spec.http_port = 7102;
        assert_eq!(
            write_testnet(&spec).unwrap_err().to_string(),
            "ports: peer ports 7101..=7103 and HTTP ports 7102..=7104 overlap"
        );
    }
}
