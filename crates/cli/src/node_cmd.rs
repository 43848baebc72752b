//! `hpaxos node|keygen|client|demo` (issue 5): argument parsing only; the
//! work is done by the `hpaxos-node` crate.
use crate::Outcome;
use anyhow::Context;
use clap::Subcommand;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Subcommand)]
pub enum NodeCmd {
    /// Run one node of a cluster until SIGTERM/SIGINT.
    Node {
        /// The cluster configuration (PRODUCT.md file plus [nodes.*] tables).
        #[arg(long, env = "HPAXOS_CONFIG")]
        config: PathBuf,
        /// This node's name (a [nodes.NAME] table).
        #[arg(long, env = "HPAXOS_NAME")]
        name: String,
        /// Data directory (overrides the node table's data_dir).
        #[arg(long, env = "HPAXOS_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Secret key file (overrides the node table's key_file).
        #[arg(long = "key", env = "HPAXOS_KEY")]
        key_file: Option<PathBuf>,
        /// Fault-test mode: misbehave (`equivocate`). Never in production.
        #[arg(long, env = "HPAXOS_BYZANTINE")]
        byzantine: Option<String>,
        /// Drop a corrupt write-ahead-log tail instead of refusing to start.
        #[arg(long)]
        truncate_corrupt_wal: bool,
        /// Only validate this node's configuration, key and data directory
        /// offline (nothing is bound or written): exit 0 usable, 2 not.
        #[arg(long)]
        check: bool,
    },
    /// Generate an Ed25519 node key: writes the secret, prints the public key.
    Keygen {
        /// Where to write the secret key (never overwritten).
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Talk to a node's HTTP API. Exit 0 done, 2 bad input (arguments, or
    /// the node refused the request), 3 not decided in time (--timeout, or
    /// the node's own wait), 4 node unreachable or unavailable.
    Client {
        /// The node's HTTP address, HOST:PORT (its `http` in the configuration).
        #[arg(long, default_value = "127.0.0.1:8101")]
        addr: String,
        /// Seconds to wait for the answer (a command waits for its decision).
        #[arg(long, default_value_t = 30.0, value_parser = parse_timeout)]
        timeout: f64,
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
    /// Replicate many commands in one request (`POST /v1/commands/batch`):
    /// FILE (`-` for standard input) holds a JSON array of commands such as
    /// `{"op": "put", "key": "k", "value": "v"}`. Exit 0 when every one was
    /// decided, else the exit code of the first that was not.
    Batch { file: PathBuf },
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
    /// Is the node up? (`/health`; exit 0 when it answers `ok`).
    Health,
}

fn parse_timeout(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(t) if t > 0.0 && t <= 86_400.0 => Ok(t),
        _ => Err(format!("{s:?} is not a number of seconds in (0, 86400]")),
    }
}

/// Exit codes of `hpaxos client` besides 0.
pub const EXIT_BAD_INPUT: u8 = 2;
pub const EXIT_NOT_DECIDED: u8 = 3;
pub const EXIT_UNAVAILABLE: u8 = 4;

pub fn run(c: NodeCmd) -> anyhow::Result<Outcome> {
    match c {
        NodeCmd::Node {
            config,
            name,
            data_dir,
            key_file,
            byzantine,
            truncate_corrupt_wal,
            check,
        } => {
            let byzantine = match byzantine {
                Some(b) => Some(hpaxos_node::parse_byzantine(&b).map_err(anyhow::Error::msg)?),
                None => None,
            };
            let args = hpaxos_node::NodeArgs {
                config,
                name,
                data_dir,
                key_file,
                byzantine,
                truncate_corrupt_wal,
            };
            if check {
                let r = hpaxos_node::check::check_node(&args)?;
                println!(
                    "{}: node {} is ready to start",
                    args.config.display(),
                    args.name
                );
                let w = r.facts.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
                for (k, v) in &r.facts {
                    println!("  {k:<w$}  {v}");
                }
                return Ok(Outcome::Ok);
            }
            hpaxos_node::init_logging();
            hpaxos_node::run_node(args)?;
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
            timeout,
            json,
            learner,
            op,
        } => client(&addr, Duration::from_secs_f64(timeout), json, learner, op),
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
    addr: &str,
    timeout: Duration,
    json: bool,
    learner: Option<String>,
    op: ClientOp,
) -> anyhow::Result<Outcome> {
    use hpaxos_node::client::ClientError;
    let submit = match &learner {
        Some(l) => format!("/v1/commands?learner={l}"),
        None => "/v1/commands".to_string(),
    };
    let batch_path = match &learner {
        Some(l) => format!("/v1/commands/batch?learner={l}"),
        None => "/v1/commands/batch".to_string(),
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
        ClientOp::Batch { file } => match read_batch(file) {
            Ok(cmds) => ("POST", batch_path, Some(cmds)),
            Err(e) => {
                eprintln!("error: {e:#}");
                return Ok(Outcome::Exit(EXIT_BAD_INPUT));
            }
        },
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
        ClientOp::Health => ("GET", "/health".to_string(), None),
    };
    let is_command = matches!(
        op,
        ClientOp::Put { .. }
            | ClientOp::Get { .. }
            | ClientOp::Delete { .. }
            | ClientOp::Batch { .. }
    );
    let r = match hpaxos_node::client::request_blocking(addr, method, &path, body.as_ref(), timeout)
    {
        Ok(r) => r,
        Err(ClientError::Timeout { .. }) => {
            let what = if is_command {
                "not decided in time"
            } else {
                "no answer in time"
            };
            eprintln!(
                "error: {addr}: {what} (--timeout {:.1} s){}",
                timeout.as_secs_f64(),
                if is_command {
                    "; the command may still be decided later"
                } else {
                    ""
                }
            );
            return Ok(Outcome::Exit(EXIT_NOT_DECIDED));
        }
        Err(e) => {
            eprintln!("error: {:#}", anyhow::Error::from(e));
            return Ok(Outcome::Exit(EXIT_UNAVAILABLE));
        }
    };
    if r.status != 200 {
        let msg = r
            .json()
            .and_then(|j| j["error"].as_str().map(String::from))
            .unwrap_or(r.body.clone());
        eprintln!("error: {addr} answered {}: {}", r.status, msg.trim());
        return Ok(Outcome::Exit(match r.status {
            504 => EXIT_NOT_DECIDED,
            400..=499 => EXIT_BAD_INPUT,
            _ => EXIT_UNAVAILABLE,
        }));
    }
    match op {
        ClientOp::Metrics => {
            print!("{}", r.body);
            return Ok(Outcome::Ok);
        }
        ClientOp::Health => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"addr": addr, "health": r.body.trim()})
                );
            } else {
                println!("health  {}", r.body.trim());
            }
            return Ok(Outcome::Ok);
        }
        _ => {}
    }
    let j = r.json().context("the node's answer is not JSON")?;
    if let ClientOp::Batch { .. } = op {
        return Ok(print_batch(&j, json));
    }
    if json {
        println!("{j}");
        return Ok(Outcome::Ok);
    }
    match op {
        ClientOp::Put { .. } | ClientOp::Get { .. } | ClientOp::Delete { .. } => {
            println!("slot     {}", j["slot"]);
            println!("decided  for {}", j["learner"].as_str().unwrap_or("?"));
            println!("latency  {:.1} ms", j["latency_ms"].as_f64().unwrap_or(0.0));
            if let Some(m) = j["results"].as_object() {
                let head = if matches!(op, ClientOp::Get { .. }) {
                    "value"
                } else {
                    "previous value"
                };
                let w = m.keys().map(|k| k.len()).max().unwrap_or(0).max(7);
                println!("{:<w$}  {head}", "learner");
                for (l, v) in m {
                    println!("{l:<w$}  {}", v.as_str().unwrap_or("(none)"));
                }
            }
        }
        ClientOp::Read { learner, key } => {
            println!("learner  {learner}");
            println!("key      {key}");
            println!("value    {}", j["value"].as_str().unwrap_or("(none)"));
            println!("applied  {} slots", j["applied_slots"]);
        }
        _ => println!("{}", serde_json::to_string_pretty(&j)?),
    }
    Ok(Outcome::Ok)
}

/// The commands of `hpaxos client batch FILE` (a JSON array; `-`: stdin).
fn read_batch(file: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    let text = if file.as_os_str() == "-" {
        let mut t = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut t)
            .context("cannot read the commands from standard input")?;
        t
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?
    };
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", file.display()))?;
    if !v.is_array() {
        anyhow::bail!("{}: not a JSON array of commands", file.display());
    }
    Ok(v)
}

/// Prints the per-command results of a batch; the exit code is that of
/// the first command that was not decided (0 when all were).
fn print_batch(j: &serde_json::Value, json: bool) -> Outcome {
    let empty = Vec::new();
    let rs = j.as_array().unwrap_or(&empty);
    let first_failed = rs.iter().find_map(|r| r["status"].as_u64());
    if json {
        println!("{j}");
    } else {
        println!("{:>5}  {:>8}  {:<10}  result", "#", "slot", "learner");
        for (i, r) in rs.iter().enumerate() {
            match r["error"].as_str() {
                Some(e) => println!(
                    "{i:>5}  {:>8}  {:<10}  error {}: {e}",
                    "-", "-", r["status"]
                ),
                None => println!(
                    "{i:>5}  {:>8}  {:<10}  {:.1} ms",
                    r["slot"]
                        .as_u64()
                        .map_or("?".to_string(), |s| s.to_string()),
                    r["learner"].as_str().unwrap_or("?"),
                    r["latency_ms"].as_f64().unwrap_or(0.0)
                ),
            }
        }
        let failed = rs.iter().filter(|r| r["error"].is_string()).count();
        println!("{} decided, {failed} not", rs.len() - failed);
    }
    match first_failed {
        None => Outcome::Ok,
        Some(504) => Outcome::Exit(EXIT_NOT_DECIDED),
        Some(400..=499) => Outcome::Exit(EXIT_BAD_INPUT),
        Some(_) => Outcome::Exit(EXIT_UNAVAILABLE),
    }
}
