//! The client workload: per learner, a few sequential clients doing puts,
//! gets and deletes on that learner's own keys (`LEARNER-kI`) through the
//! client API only (`POST /v1/commands?learner=L`, to a random honest node
//! that runs L), each value unique. Bounded by a deadline and an operation
//! count per client.
//!
//! A node that refuses commands (`not a proposer`, before the node takes
//! commands on every learner node) is avoided by that client from then on;
//! one where an operation timed out or could not connect, for `avoid`
//! (a paused or killed node answers nothing: without this, every client
//! would soon wait on it, and the run would not show whether the others
//! progress during the fault);
//! a refusal or a connection refused is `fail` (not executed), a timeout or
//! any other answer `info` (unknown), and then the client goes on as a new
//! process. If a node ignores `?learner=` it waits for all its learners,
//! and the answer still carries L's result, which is what is recorded.
//!
//! Data flow: `main` spawns [`client`] tasks; their records form the
//! history.

use crate::history::{Kind, OpRecord, Outcome};
use hpaxos_node::client::{request, ClientError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The error recorded when a node could not be connected to.
const CONNECT_FAILED: &str = "connection refused or unreachable";

/// Shared by every client of a run.
pub struct Ctx {
    pub t0: Instant,
    pub deadline: Instant,
    /// (name, HTTP address) of the honest nodes, per learner name.
    pub targets: Vec<(String, Vec<(String, SocketAddr)>)>,
    pub keys_per_learner: usize,
    pub op_timeout: Duration,
    /// How long a client avoids a node after a timeout or connect failure.
    pub avoid: Duration,
    pub max_ops: usize,
    pub next_process: AtomicU64,
}

impl Ctx {
    pub fn ms(&self, t: Instant) -> f64 {
        t.duration_since(self.t0).as_secs_f64() * 1000.0
    }

    pub fn new_process(&self) -> u64 {
        self.next_process.fetch_add(1, Ordering::Relaxed)
    }
}

/// The request for one operation.
pub fn body(kind: Kind, key: &str, value: Option<&str>) -> serde_json::Value {
    match kind {
        Kind::Put => serde_json::json!({"op": "put", "key": key, "value": value.unwrap_or("")}),
        Kind::Get => serde_json::json!({"op": "get", "key": key}),
        Kind::Delete => serde_json::json!({"op": "delete", "key": key}),
    }
}

/// Sends one operation and classifies its outcome.
#[allow(clippy::too_many_arguments)]
pub async fn one_op(
    ctx: &Ctx,
    process: u64,
    learner: &str,
    node: &(String, SocketAddr),
    kind: Kind,
    key: &str,
    value: Option<String>,
    timeout: Duration,
) -> OpRecord {
    let path = format!("/v1/commands?learner={learner}");
    let b = body(kind, key, value.as_deref());
    let start = Instant::now();
    let r = request(node.1, "POST", &path, Some(&b), timeout).await;
    let end = Instant::now();
    let mut rec = OpRecord {
        process,
        learner: learner.to_string(),
        node: node.0.clone(),
        kind,
        key: key.to_string(),
        value,
        invoke_ms: ctx.ms(start),
        complete_ms: ctx.ms(end),
        outcome: Outcome::Info,
        result: None,
        slot: None,
        error: None,
    };
    match r {
        Err(ClientError::Connect { .. }) => {
            rec.outcome = Outcome::Fail;
            rec.error = Some(CONNECT_FAILED.into());
        }
        Err(e) => rec.error = Some(e.to_string()),
        Ok(resp) => {
            let j = resp.json();
            let err = j
                .as_ref()
                .and_then(|j| j["error"].as_str().map(String::from));
            if resp.status == 200 {
                let res = j.as_ref().and_then(|j| j["results"].as_object().cloned());
                match res.as_ref().and_then(|m| m.get(learner)) {
                    Some(v) => {
                        rec.outcome = Outcome::Ok;
                        rec.result = v.as_str().map(String::from);
                        rec.slot = j.as_ref().and_then(|j| j["slot"].as_u64());
                    }
                    None => rec.error = Some(format!("answer without a result for {learner}")),
                }
            } else {
                let msg = err.unwrap_or_else(|| resp.body.clone());
                // Refused before submission: certainly not executed.
                if msg.contains("not a proposer")
                    || msg.contains("overloaded")
                    || (400..500).contains(&resp.status)
                {
                    rec.outcome = Outcome::Fail;
                }
                rec.error = Some(format!("{} {}", resp.status, msg));
            }
        }
    }
    rec
}

/// One client of `learner` until the deadline or `max_ops`.
pub async fn client(ctx: Arc<Ctx>, learner_idx: usize, client: usize, seed: u64) -> Vec<OpRecord> {
    let (learner, nodes) = &ctx.targets[learner_idx];
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ ((learner_idx as u64) << 32) ^ client as u64);
    let mut avoid = vec![false; nodes.len()];
    let mut avoid_until = vec![Instant::now(); nodes.len()];
    let mut process = ctx.new_process();
    let mut out = Vec::new();
    let mut n = 0usize;
    while Instant::now() < ctx.deadline && out.len() < ctx.max_ops && !nodes.is_empty() {
        let now = Instant::now();
        let refusing: Vec<usize> = (0..nodes.len()).filter(|i| !avoid[*i]).collect();
        let usable: Vec<usize> = refusing
            .iter()
            .copied()
            .filter(|i| avoid_until[*i] <= now)
            .collect();
        let pick = if !usable.is_empty() {
            usable[rng.random_range(0..usable.len())]
        } else if !refusing.is_empty() {
            refusing[rng.random_range(0..refusing.len())]
        } else {
            rng.random_range(0..nodes.len())
        };
        let key = format!(
            "{learner}-k{}",
            rng.random_range(0..ctx.keys_per_learner.max(1))
        );
        let roll = rng.random_range(0..100);
        let kind = if roll < 55 {
            Kind::Put
        } else if roll < 92 {
            Kind::Get
        } else {
            Kind::Delete
        };
        let value = (kind == Kind::Put).then(|| format!("{learner}-c{client}-{n}"));
        n += 1;
        let left = ctx.deadline.saturating_duration_since(Instant::now());
        let timeout = ctx.op_timeout.min(left.max(Duration::from_millis(200)));
        let rec = one_op(
            &ctx,
            process,
            learner,
            &nodes[pick],
            kind,
            &key,
            value,
            timeout,
        )
        .await;
        if rec
            .error
            .as_deref()
            .is_some_and(|e| e.contains("not a proposer"))
        {
            avoid[pick] = true;
        }
        let timed_out = rec.outcome == Outcome::Info
            && rec
                .error
                .as_deref()
                .is_some_and(|e| e.contains("timed out"));
        let unresponsive = timed_out || rec.error.as_deref() == Some(CONNECT_FAILED);
        if unresponsive {
            avoid_until[pick] = Instant::now() + ctx.avoid;
        }
        let outcome = rec.outcome;
        out.push(rec);
        match outcome {
            Outcome::Info => process = ctx.new_process(),
            Outcome::Fail => tokio::time::sleep(Duration::from_millis(50)).await,
            Outcome::Ok => {}
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(2..15))).await;
    }
    out
}
