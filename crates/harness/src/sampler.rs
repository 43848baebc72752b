//! The status sampler: while the workload runs, every node's `/v1/status`
//! is read once a second and appended to `status.jsonl` in the run's
//! output (one line `{"t_ms", "node", "status"}` per answer; a node that
//! does not answer within the period gets `"status": null`). When a
//! learner stalls, this is what shows where each node stood (its view,
//! leader, each learner's decided and applied prefix) without re-running.
//! Read-only: it sends nothing but `GET /v1/status`.

use crate::cluster::Node;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How often each node is asked.
pub const PERIOD: Duration = Duration::from_secs(1);

/// Samples `nodes` every [`PERIOD`] until `deadline`; returns the number of
/// lines written (a failed write ends the sampling with the error).
pub async fn sample(
    nodes: Vec<Node>,
    t0: Instant,
    deadline: Instant,
    out: PathBuf,
) -> std::io::Result<u64> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(&out)?);
    let mut lines = 0u64;
    while Instant::now() < deadline {
        let tick = Instant::now();
        for n in &nodes {
            let t_ms = t0.elapsed().as_millis() as u64;
            let status =
                match hpaxos_node::client::request(n.http, "GET", "/v1/status", None, PERIOD / 2)
                    .await
                {
                    Ok(r) if r.status == 200 => r.json().unwrap_or(serde_json::Value::Null),
                    _ => serde_json::Value::Null,
                };
            let line = serde_json::json!({"t_ms": t_ms, "node": n.name, "status": status});
            writeln!(f, "{line}")?;
            lines += 1;
        }
        f.flush()?;
        let left = PERIOD.saturating_sub(tick.elapsed());
        tokio::time::sleep(left).await;
    }
    f.flush()?;
    Ok(lines)
}
