//! `hpaxos testnet`: argument parsing and the summary only; the files are
//! written by `hpaxos_node::testnet::write_testnet`.

use crate::Outcome;
use anyhow::Context;
use hpaxos_node::testnet::{write_testnet, TestnetSpec};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct TestnetArgs {
    /// Number of nodes (n1..nN); node nI runs acceptor number I.
    #[arg(long)]
    nodes: usize,
    /// A configuration whose learner graph to use (default: a
    /// Byzantine-tolerant and a crash-only learner over N acceptors).
    #[arg(long)]
    graph: Option<PathBuf>,
    /// Directory to write into (created).
    #[arg(long)]
    out: PathBuf,
    /// Also write compose.yaml (image hpaxos:latest) and cluster.compose.toml.
    #[arg(long)]
    compose: bool,
    /// Peer port of n1 (nI uses PORT + I - 1).
    #[arg(long, default_value_t = 7101)]
    peer_port: u16,
    /// HTTP port of n1 (nI uses PORT + I - 1).
    #[arg(long, default_value_t = 8101)]
    http_port: u16,
    /// Host of the addresses in cluster.toml (a loopback address or name).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Image of the compose file.
    #[arg(long, default_value = "hpaxos:latest")]
    image: String,
    /// Path of hpaxos inside the image (used by the compose health checks).
    #[arg(long, default_value = "/usr/local/bin/hpaxos")]
    image_binary: String,
    #[arg(long)]
    json: bool,
}

pub fn run(a: TestnetArgs) -> anyhow::Result<Outcome> {
    let exe = std::env::current_exe().context("cannot locate the hpaxos executable")?;
    let mut spec = TestnetSpec::new(a.nodes, a.out, exe);
    if let Some(g) = &a.graph {
        let text = std::fs::read_to_string(g)
            .with_context(|| format!("--graph: cannot read {}", g.display()))?;
        spec.graph = Some(text);
    }
    spec.compose = a.compose;
    spec.peer_port = a.peer_port;
    spec.http_port = a.http_port;
    spec.image = a.image;
    spec.host = a.host;
    spec.image_binary = a.image_binary;
    let t = write_testnet(&spec)?;
    let rel = |p: &std::path::Path| p.strip_prefix(&t.dir).unwrap_or(p).display().to_string();
    if a.json {
        let files: Vec<String> = t.files.iter().map(|f| f.display().to_string()).collect();
        println!(
            "{}",
            serde_json::json!({
                "dir": t.dir.display().to_string(),
                "config": t.config.display().to_string(),
                "nodes": t.names,
                "http": t.http,
                "files": files,
            })
        );
        return Ok(Outcome::Ok);
    }
    let d = t.dir.display();
    println!("{d}: a {}-node testnet", t.names.len());
    println!("  config   {}", rel(&t.config));
    println!("  keys     keys/n1.key .. keys/n{}.key", t.names.len());
    println!("  scripts  start.sh, stop.sh (loopback; logs/ and pids/)");
    if let Some(c) = &t.compose_config {
        println!("  compose  compose.yaml ({}), {}", spec.image, rel(c));
    }
    println!("next:");
    println!("  hpaxos node --check --config {d}/cluster.toml --name n1");
    println!("  {d}/start.sh");
    println!(
        "  hpaxos client --addr {} put color blue",
        t.http
            .first()
            .map(String::as_str)
            .unwrap_or("127.0.0.1:8101")
    );
    println!("  {d}/stop.sh");
    Ok(Outcome::Ok)
}
