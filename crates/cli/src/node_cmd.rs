//! `hpaxos node|keygen|client|demo` (issue 5): argument parsing only; the
//! work is done by the `hpaxos-node` crate.
use crate::Outcome;
use anyhow::Context;
use clap::Subcommand;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Subcommand)]
pub enum NodeCmd {
    /// Run one node of a cluster until SIGTERM/SIGINT.
    Node {
        /// The cluster configuration (PRODUCT.md file plus [nodes.*] tables).
        #[arg(long)]
        config: PathBuf,
        /// This node's name (a [nodes.NAME] table).
        #[arg(long)]
        name: String,
        /// Data directory (overrides the node table's data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Secret key file (overrides the node table's key_file).
        #[arg(long = "key")]
        key_file: Option<PathBuf>,
        /// Fault-test mode: misbehave (`equivocate`). Never in production.
        #[arg(long)]
        byzantine: Option<String>,
        /// Drop a corrupt write-ahead-log tail instead of refusing to start.
        #[arg(long)]
        truncate_corrupt_wal: bool,
    },
    /// Generate an Ed25519 node key: writes the secret, prints the public key.
    Keygen {
        /// Where to write the secret key (never overwritten).
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Talk to a node's HTTP API.
    Client {
        /// The node's HTTP address (its `http` in the configuration).
        #[arg(long, default_value = "127.0.0.1:8101")]
        addr: SocketAddr,
        #[arg(long)]
        json: bool,
        /// The learner whose decision a put/get/delete waits for (default:
        /// the node's first learner); the command returns once it applied it.
        #[arg(long)]
        learner: Option<String>,
        #[command(subcommand)]
        op: ClientOp,
    },
    /// Start a local cluster, run a workload, print decisions, stop.
    Demo {
        /// Commands in the workload.
        #[arg(long, default_value_t = 2000)]
        commands: usize,
        /// Concurrent clients.
        #[arg(long, default_value_t = 128)]
        clients: usize,
        /// Keep the scratch directory (configuration, keys, logs, data).
        #[arg(long)]
        keep: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum ClientOp {
    /// Replicate `put KEY VALUE` and wait for its decision.
    Put { key: String, value: String },
    /// Replicate a read of KEY through the log (linearizable).
    Get { key: String },
    /// Replicate `delete KEY`.
    Delete { key: String },
    /// Read KEY from LEARNER's replica on this node (no consensus round).
    Read { learner: String, key: String },
    /// LEARNER's applied log.
    Log {
        learner: String,
        #[arg(long, default_value_t = 0)]
        from: u64,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Node status: learners, proposer, peers.
    Status,
    /// Prometheus metrics text.
    Metrics,
}

pub fn run(c: NodeCmd) -> anyhow::Result<Outcome> {
    match c {
        NodeCmd::Node {
            config,
            name,
            data_dir,
            key_file,
            byzantine,
            truncate_corrupt_wal,
        } => {
            hpaxos_node::init_logging();
            let byzantine = match byzantine {
                Some(b) => Some(hpaxos_node::parse_byzantine(&b).map_err(anyhow::Error::msg)?),
                None => None,
            };
            hpaxos_node::run_node(hpaxos_node::NodeArgs {
                config,
                name,
                data_dir,
                key_file,
                byzantine,
                truncate_corrupt_wal,
            })?;
            Ok(Outcome::Ok)
        }
        NodeCmd::Keygen { out, json } => {
            let k = hpaxos_node::keys::generate();
            hpaxos_node::keys::write_secret(&out, &k)?;
            let pk = hpaxos_node::keys::public_hex(&k);
            if json {
                println!(
                    "{}",
                    serde_json::json!({"public_key": pk, "secret_file": out.display().to_string()})
                );
            } else {
                println!("{pk}");
                eprintln!(
                    "secret key written to {} (keep it private); put the line above in the node's table:\n  public_key = \"{pk}\"",
                    out.display()
                );
            }
            Ok(Outcome::Ok)
        }
        NodeCmd::Client {
            addr,
            json,
            learner,
            op,
        } => client(addr, json, learner, op),
        NodeCmd::Demo {
            commands,
            clients,
            keep,
            json,
        } => {
            let exe = std::env::current_exe().context("cannot locate the hpaxos executable")?;
            hpaxos_node::demo::run_demo(hpaxos_node::demo::DemoArgs {
                exe,
                pre_args: vec!["node".into()],
                commands,
                clients,
                keep,
                json,
            })?;
            Ok(Outcome::Ok)
        }
    }
}

fn client(
    addr: SocketAddr,
    json: bool,
    learner: Option<String>,
    op: ClientOp,
) -> anyhow::Result<Outcome> {
    let submit = match &learner {
        Some(l) => format!("/v1/commands?learner={l}"),
        None => "/v1/commands".to_string(),
    };
    let (method, path, body) = match &op {
        ClientOp::Put { key, value } => (
            "POST",
            submit.clone(),
            Some(serde_json::json!({"op": "put", "key": key, "value": value})),
        ),
        ClientOp::Get { key } => (
            "POST",
            submit.clone(),
            Some(serde_json::json!({"op": "get", "key": key})),
        ),
        ClientOp::Delete { key } => (
            "POST",
            submit.clone(),
            Some(serde_json::json!({"op": "delete", "key": key})),
        ),
        ClientOp::Read { learner, key } => ("GET", format!("/v1/kv/{learner}/{key}"), None),
        ClientOp::Log {
            learner,
            from,
            limit,
        } => (
            "GET",
            format!("/v1/log/{learner}?from={from}&limit={limit}"),
            None,
        ),
        ClientOp::Status => ("GET", "/v1/status".to_string(), None),
        ClientOp::Metrics => ("GET", "/metrics".to_string(), None),
    };
    let r = hpaxos_node::client::request_blocking(
        addr,
        method,
        &path,
        body.as_ref(),
        Duration::from_secs(30),
    )?;
    if r.status != 200 {
        let msg = r
            .json()
            .and_then(|j| j["error"].as_str().map(String::from))
            .unwrap_or(r.body.clone());
        anyhow::bail!("{addr} answered {}: {msg}", r.status);
    }
    if matches!(op, ClientOp::Metrics) {
        print!("{}", r.body);
        return Ok(Outcome::Ok);
    }
    let j = r.json().context("the node's answer is not JSON")?;
    if json {
        println!("{j}");
        return Ok(Outcome::Ok);
    }
    match op {
        ClientOp::Put { .. } | ClientOp::Get { .. } | ClientOp::Delete { .. } => {
            println!(
                "decided in slot {} for {} after {:.1} ms",
                j["slot"],
                j["learner"].as_str().unwrap_or("?"),
                j["latency_ms"].as_f64().unwrap_or(0.0)
            );
            if let Some(m) = j["results"].as_object() {
                for (l, v) in m {
                    println!("  {l:<10} {}", v.as_str().unwrap_or("(none)"));
                }
            }
        }
        ClientOp::Read { .. } => {
            println!("{}", j["value"].as_str().unwrap_or("(none)"));
        }
        _ => println!("{}", serde_json::to_string_pretty(&j)?),
    }
    Ok(Outcome::Ok)
}
