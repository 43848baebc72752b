//! The cluster under test: `hpaxos testnet --compose`'s files (keys and the
//! host-name cluster file, via [`hpaxos_node::testnet::write_testnet`]) run
//! as one container per node from the image `hpaxos:latest`, on two private
//! networks the harness creates:
//!
//! - `peer`: node-to-node traffic, addressed by host name (`nI`); the
//!   nemesis partitions a node by disconnecting it from this network (and
//!   reconnects it with the same address, which the node bound at start);
//! - `client`: the harness's HTTP traffic to each node's API (bound to
//!   `0.0.0.0`), never touched by the nemesis, so an isolated node still
//!   takes commands it cannot get decided.
//!
//! Both networks are `--internal` (no route out of them) with subnets the
//! harness picks. Data lives in one named volume per node (kept across
//! kill and restart). The host name `nI` is a network alias on the peer
//! network only (the container's own host name is its container name:
//! docker registers a container's host name on every network it joins, and
//! peers must not reach each other over the client network).

use crate::docker::{Docker, DockerError};
use anyhow::{anyhow, bail, Context};
use hpaxos_node::testnet::{write_testnet, TestnetSpec};
use hpaxos_node::ClusterConfig;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One node's container.
#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub container: String,
    /// Its fixed address on the peer network (reused on reconnect).
    pub peer_ip: String,
    /// Its HTTP API as the harness reaches it (client network).
    pub http: SocketAddr,
    pub learners: Vec<String>,
    pub byzantine: bool,
}

pub struct Cluster {
    pub nodes: Vec<Node>,
    pub peer_net: String,
    pub config: ClusterConfig,
}

/// How to build it.
pub struct ClusterSpec<'a> {
    pub run: &'a str,
    pub nodes: usize,
    pub image: &'a str,
    /// Index (0-based) of the node started with `--byzantine equivocate`.
    pub byzantine: Option<usize>,
    pub dir: &'a Path,
    /// `[cluster]` keys to set, `KEY=VALUE` (VALUE in TOML).
    pub set: &'a [String],
}

/// `[cluster] retain_slots` of the harness's clusters unless `--set` says
/// otherwise: check 2 reads every acknowledged write's slot from
/// `/v1/log`, which does not serve compacted slots, so a run must not
/// compact (with the default 4096 a run of about 7,000 slots compacted
/// below 2048 and check 2 counted the writes there as lost).
const RETAIN_SLOTS: i64 = 1 << 20;

/// Rewrites the compose cluster file for the harness: every node's HTTP API
/// listens on all of its interfaces (the client network too), and no slot
/// of a run is compacted ([`RETAIN_SLOTS`]).
fn harness_config(text: &str, set: &[String]) -> anyhow::Result<String> {
    let mut doc: toml::Table = text.parse().context("testnet's cluster file")?;
    doc.entry("cluster")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .ok_or_else(|| anyhow!("testnet's [cluster] is not a table"))?
        .entry("retain_slots")
        .or_insert(toml::Value::Integer(RETAIN_SLOTS));
    for kv in set {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow!("--set {kv:?}: expected KEY=VALUE"))?;
        let v: toml::Table = format!("v = {v}")
            .parse()
            .with_context(|| format!("--set {kv:?}: VALUE is not a TOML value"))?;
        let v = v
            .get("v")
            .cloned()
            .ok_or_else(|| anyhow!("--set {kv:?}: no value"))?;
        let cluster = doc
            .entry("cluster")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| anyhow!("testnet's [cluster] is not a table"))?;
        cluster.insert(k.trim().to_string(), v);
    }
    let nodes = doc
        .get_mut("nodes")
        .and_then(|n| n.as_table_mut())
        .ok_or_else(|| anyhow!("testnet's cluster file has no [nodes]"))?;
    for (name, t) in nodes.iter_mut() {
        let t = t
            .as_table_mut()
            .ok_or_else(|| anyhow!("[nodes.{name}] is not a table"))?;
        let port = t
            .get("http")
            .and_then(|h| h.as_str())
            .and_then(|h| h.rsplit(':').next())
            .ok_or_else(|| anyhow!("[nodes.{name}] has no http address"))?
            .to_string();
        t.insert(
            "http".into(),
            toml::Value::String(format!("0.0.0.0:{port}")),
        );
    }
    Ok(format!(
        "# hpaxos-harness: testnet's compose cluster, HTTP on all interfaces.\n{}",
        toml::to_string(&doc).context("cannot write the cluster file")?
    ))
}

/// Picks free subnets: tries /24s until docker accepts both networks.
async fn create_networks(d: &Docker, run: &str, seed: u64) -> anyhow::Result<(String, String, u8)> {
    let peer = format!("{run}-peer");
    let client = format!("{run}-client");
    let mut last = String::new();
    for i in 0..24u64 {
        let k = ((seed.wrapping_add(i * 7)) % 200 + 20) as u8;
        match d.create_network(&peer, &format!("172.30.{k}.0/24")).await {
            Ok(()) => {}
            Err(e) => {
                last = e.to_string();
                continue;
            }
        }
        match d.create_network(&client, &format!("172.31.{k}.0/24")).await {
            Ok(()) => return Ok((peer, client, k)),
            Err(e) => {
                last = e.to_string();
                let _ = d.run(&["network", "rm", &peer]).await;
            }
        }
    }
    bail!("no free subnet for the test networks: {last}")
}

impl Cluster {
    /// Writes the files, creates networks, volumes and containers, starts
    /// them and waits (at most 60 s) until every node answers `/health`.
    pub async fn start(d: &Docker, spec: &ClusterSpec<'_>, seed: u64) -> anyhow::Result<Cluster> {
        let mut ts = TestnetSpec::new(
            spec.nodes,
            spec.dir.join("testnet"),
            "/usr/local/bin/hpaxos",
        );
        ts.compose = true;
        ts.image = spec.image.to_string();
        let tn = write_testnet(&ts).context("writing the testnet files")?;
        let cpath = tn
            .compose_config
            .clone()
            .ok_or_else(|| anyhow!("testnet wrote no compose cluster file"))?;
        let text = harness_config(
            &std::fs::read_to_string(&cpath).with_context(|| cpath.display().to_string())?,
            spec.set,
        )?;
        let hpath: PathBuf = tn.dir.join("cluster.harness.toml");
        std::fs::write(&hpath, &text).with_context(|| hpath.display().to_string())?;
        let config =
            ClusterConfig::load(&hpath).map_err(|e| anyhow!("{}: {e}", hpath.display()))?;
        let mount = format!(
            "{}:/testnet:ro",
            std::fs::canonicalize(&tn.dir)
                .with_context(|| tn.dir.display().to_string())?
                .display()
        );
        let (peer_net, client_net, k) = create_networks(d, spec.run, seed).await?;
        let mut nodes = Vec::new();
        for (i, n) in config.nodes.iter().enumerate() {
            let name = n.name.clone();
            let container = format!("{}-{}", spec.run, name);
            let volume = format!("{}-{}-data", spec.run, name);
            d.create_volume(&volume).await?;
            let peer_ip = format!("172.30.{k}.{}", 10 + i);
            let client_ip = format!("172.31.{k}.{}", 10 + i);
            let port = n
                .http
                .as_ref()
                .and_then(|h| h.as_str().rsplit(':').next().map(String::from))
                .ok_or_else(|| anyhow!("node {name} has no HTTP port"))?;
            let byzantine = spec.byzantine == Some(i);
            let vol = format!("{volume}:/data");
            let mut args: Vec<&str> = vec![
                "--hostname",
                &container,
                "--network",
                &peer_net,
                "--network-alias",
                &name,
                "--ip",
                &peer_ip,
                "-v",
                &mount,
                "-v",
                &vol,
                "-e",
                "HPAXOS_LOG=info",
                spec.image,
                "node",
                "--config",
                "/testnet/cluster.harness.toml",
                "--name",
                &name,
                "--data-dir",
                "/data",
            ];
            if byzantine {
                args.extend_from_slice(&["--byzantine", "equivocate"]);
            }
            d.create_container(&container, &args).await?;
            d.run(&[
                "network",
                "connect",
                "--ip",
                &client_ip,
                &client_net,
                &container,
            ])
            .await?;
            let http: SocketAddr = format!("{client_ip}:{port}")
                .parse()
                .with_context(|| format!("address {client_ip}:{port}"))?;
            let learners = n
                .learners
                .iter()
                .map(|l| config.trust.learner_name(*l).to_string())
                .collect();
            nodes.push(Node {
                name,
                container,
                peer_ip,
                http,
                learners,
                byzantine,
            });
        }
        for n in &nodes {
            d.run(&["start", &n.container]).await?;
        }
        let c = Cluster {
            nodes,
            peer_net,
            config,
        };
        for n in &c.nodes {
            c.wait_health(n, Duration::from_secs(60)).await?;
        }
        Ok(c)
    }

    /// Polls `/health` of `n` until it answers 200 or `limit` passes.
    pub async fn wait_health(&self, n: &Node, limit: Duration) -> anyhow::Result<Duration> {
        let t0 = Instant::now();
        loop {
            let r = hpaxos_node::client::request(
                n.http,
                "GET",
                "/health",
                None,
                Duration::from_secs(2),
            )
            .await;
            if matches!(r, Ok(ref r) if r.status == 200) {
                return Ok(t0.elapsed());
            }
            if t0.elapsed() > limit {
                bail!(
                    "node {} ({}) not healthy after {} s: {:?}",
                    n.name,
                    n.http,
                    limit.as_secs(),
                    r.map(|r| r.status)
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Saves every node's container log into `dir/logs/NAME.log`.
    pub async fn save_logs(&self, d: &Docker, dir: &Path) -> Result<(), DockerError> {
        let _ = std::fs::create_dir_all(dir.join("logs"));
        for n in &self.nodes {
            let out = tokio::process::Command::new("docker")
                .args(["logs", &n.container])
                .kill_on_drop(true)
                .output();
            if let Ok(Ok(o)) = tokio::time::timeout(Duration::from_secs(30), out).await {
                let mut all = o.stdout;
                all.extend_from_slice(&o.stderr);
                let _ = std::fs::write(dir.join("logs").join(format!("{}.log", n.name)), all);
            }
        }
        let _ = d;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::harness_config;

    const FILE: &str = "[nodes.n1]\nhttp = \"n1:8101\"\npublic_key = \"00\"\n";

    #[test]
    fn set_puts_keys_in_cluster_and_http_on_all_interfaces() {
        let t = harness_config(
            FILE,
            &["late_steps=true".to_string(), "window = 16".to_string()],
        )
        .unwrap();
        let doc: toml::Table = t.parse().unwrap();
        assert_eq!(doc["cluster"]["late_steps"].as_bool(), Some(true));
        assert_eq!(doc["cluster"]["window"].as_integer(), Some(16));
        assert_eq!(doc["nodes"]["n1"]["http"].as_str(), Some("0.0.0.0:8101"));
        // Check 2 reads every slot of the run from /v1/log: nothing compacts.
        assert_eq!(
            doc["cluster"]["retain_slots"].as_integer(),
            Some(super::RETAIN_SLOTS)
        );
        let t = harness_config(FILE, &["retain_slots=64".to_string()]).unwrap();
        let doc: toml::Table = t.parse().unwrap();
        assert_eq!(doc["cluster"]["retain_slots"].as_integer(), Some(64));
    }

    #[test]
    fn set_refuses_what_is_not_key_equals_toml() {
        let e = harness_config(FILE, &["late_steps".to_string()]).unwrap_err();
        assert!(e.to_string().contains("expected KEY=VALUE"), "{e}");
        let e = harness_config(FILE, &["late_steps=yes please".to_string()]).unwrap_err();
        assert!(e.to_string().contains("not a TOML value"), "{e}");
    }
}
