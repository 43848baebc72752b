//! The client API over HTTP/JSON (axum).
//!
//! | route | does |
//! |---|---|
//! | `POST /v1/commands?learner=L` `{"op":"put","key":k,"value":v}` (or `get`, `delete`) | submits a command at any node that runs a learner (forwarded to the leader) and waits until learner `L` (default: the node's first learner) applied it |
//! | `POST /v1/commands/batch?learner=L` `[command, ...]` | submits many commands in one request (same semantics, each command on its own); answers once `L` applied all of them (or each failed), one result per command, in order |
//! | `GET /v1/kv/{learner}/{key}` | reads a learner's key-value state (this node's replica) |
//! | `GET /v1/log/{learner}?from=&limit=` | the learner's applied log |
//! | `GET /v1/status` | node, learners (applied slots, log hash, current ballot), proposer |
//! | `GET /metrics` | Prometheus text |
//! | `GET /health` | `ok` (the process is up) |
//! | `GET /ready` | 200 when the log is recovered and each learner this node runs has a quorum of recently heard acceptors, else 503; JSON body says which |
//!
//! Handlers never touch protocol state: they send an [`Event`] to the driver
//! thread and await its answer.

use crate::driver::{Driver, Event, SubmitReply};
use crate::kv::{LogEntry, Op};
use crate::metrics::Metrics;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long a submission waits for its decision.
const SUBMIT_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone)]
pub struct ApiState {
    pub events: mpsc::Sender<Event>,
    pub metrics: Arc<Metrics>,
    /// Largest request body (a command must fit well inside a frame).
    pub max_body: usize,
}

pub fn router(st: ApiState) -> Router {
    let limit = axum::extract::DefaultBodyLimit::max(st.max_body.max(1024));
    Router::new()
        .route("/v1/commands", post(submit))
        .route("/v1/commands/batch", post(submit_batch))
        .route("/v1/kv/:learner/:key", get(read_key))
        .route("/v1/log/:learner", get(read_log))
        .route("/v1/status", get(status))
        .route("/metrics", get(metrics))
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(ready))
        .layer(limit)
        .with_state(st)
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase", tag = "op")]
enum CmdBody {
    Put { key: String, value: String },
    Get { key: String },
    Delete { key: String },
}

fn error(code: StatusCode, msg: impl Into<String>) -> Response {
    (code, Json(serde_json::json!({ "error": msg.into() }))).into_response()
}

#[derive(Deserialize)]
struct SubmitQuery {
    learner: Option<String>,
}

async fn submit(
    State(st): State<ApiState>,
    Query(q): Query<SubmitQuery>,
    body: Result<Json<CmdBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    // A bad body is answered in the API's JSON error shape too.
    let body = match body {
        Ok(Json(b)) => b,
        Err(rej) => return error(rej.status(), rej.body_text()),
    };
    let op = op_of(body);
    let (tx, rx) = oneshot::channel();
    if st
        .events
        .send(Event::Submit {
            op,
            learner: q.learner,
            reply: tx,
        })
        .await
        .is_err()
    {
        return error(StatusCode::SERVICE_UNAVAILABLE, "node is shutting down");
    }
    match tokio::time::timeout(SUBMIT_TIMEOUT, rx).await {
        Ok(Ok(Ok(r))) => Json::<SubmitReply>(r).into_response(),
        Ok(Ok(Err(e))) => error(refusal_status(&e), e),
        Ok(Err(_)) => error(StatusCode::SERVICE_UNAVAILABLE, "node is shutting down"),
        Err(_) => error(
            StatusCode::GATEWAY_TIMEOUT,
            "not decided in time (it may still be decided later)",
        ),
    }
}

/// Commands in one batch request at most (besides the body size limit).
pub const BATCH_MAX_COMMANDS: usize = 10_000;

fn op_of(body: CmdBody) -> Op {
    match body {
        CmdBody::Put { key, value } => Op::Put { key, value },
        CmdBody::Get { key } => Op::Get { key },
        CmdBody::Delete { key } => Op::Delete { key },
    }
}

/// `POST /v1/commands/batch`: every command is submitted as by
/// `POST /v1/commands` (one waiter each, the same learner), and the answer
/// lists one result per command, in order: the reply of `POST /v1/commands`
/// or `{"error": msg, "status": code}`. The request fails as a whole (with
/// the same status) only when every command was refused because of the
/// learner (404), or the node is shutting down.
async fn submit_batch(
    State(st): State<ApiState>,
    Query(q): Query<SubmitQuery>,
    body: Result<Json<Vec<CmdBody>>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let body = match body {
        Ok(Json(b)) => b,
        Err(rej) => return error(rej.status(), rej.body_text()),
    };
    if body.len() > BATCH_MAX_COMMANDS {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{} commands in one request; at most {BATCH_MAX_COMMANDS}",
                body.len()
            ),
        );
    }
    let deadline = tokio::time::Instant::now() + SUBMIT_TIMEOUT;
    let mut waiting = Vec::with_capacity(body.len());
    for b in body {
        let (tx, rx) = oneshot::channel();
        let ev = Event::Submit {
            op: op_of(b),
            learner: q.learner.clone(),
            reply: tx,
        };
        if st.events.send(ev).await.is_err() {
            return error(StatusCode::SERVICE_UNAVAILABLE, "node is shutting down");
        }
        waiting.push(rx);
    }
    let n = waiting.len();
    let mut out = Vec::with_capacity(n);
    let mut not_found: Option<String> = None;
    for rx in waiting {
        let failed = |code: StatusCode, msg: String| serde_json::json!({ "error": msg, "status": code.as_u16() });
        let r = match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(Ok(r))) => serde_json::to_value(&r).unwrap_or_default(),
            Ok(Ok(Err(e))) => {
                let code = refusal_status(&e);
                if code == StatusCode::NOT_FOUND {
                    not_found = Some(e.clone());
                }
                failed(code, e)
            }
            Ok(Err(_)) => failed(
                StatusCode::SERVICE_UNAVAILABLE,
                "node is shutting down".into(),
            ),
            Err(_) => failed(
                StatusCode::GATEWAY_TIMEOUT,
                "not decided in time (it may still be decided later)".into(),
            ),
        };
        out.push(r);
    }
    if let Some(e) = not_found {
        if out.iter().all(|r| r["status"] == 404) {
            return error(StatusCode::NOT_FOUND, e);
        }
    }
    Json(out).into_response()
}

/// The status of a command the driver refused: a learner this node cannot
/// wait for is the client's mistake (404: `hpaxos client` exits 2, bad
/// input); anything else (overload) is a temporary refusal (503).
fn refusal_status(msg: &str) -> StatusCode {
    if msg.starts_with("no learner `")
        || msg.starts_with("this node does not run learner")
        || msg.starts_with("this node runs no learner")
    {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

/// Runs `f` on the driver thread and returns its answer.
async fn ask<T: Send + 'static>(
    st: &ApiState,
    f: impl FnOnce(&mut Driver) -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = oneshot::channel();
    let q: Box<dyn FnOnce(&mut Driver) + Send> = Box::new(move |d| {
        let _ = tx.send(f(d));
    });
    st.events.send(Event::Query(q)).await.ok()?;
    rx.await.ok()
}

fn learner_index(d: &Driver, name: &str) -> Option<usize> {
    d.replicas
        .iter()
        .position(|r| d.cfg.trust.learner_name(r.lr) == name)
}

async fn read_key(
    State(st): State<ApiState>,
    Path((learner, key)): Path<(String, String)>,
) -> Response {
    let l2 = learner.clone();
    let k2 = key.clone();
    let r = ask(&st, move |d| {
        let i = learner_index(d, &l2)?;
        let l = &d.replicas[i];
        Some((l.replica.get(&k2).cloned(), l.replica.next_slot().0))
    })
    .await;
    match r {
        None => error(StatusCode::SERVICE_UNAVAILABLE, "node is shutting down"),
        Some(None) => error(
            StatusCode::NOT_FOUND,
            format!("this node runs no learner `{learner}`"),
        ),
        Some(Some((value, applied))) => Json(serde_json::json!({
            "learner": learner, "key": key, "value": value, "applied_slots": applied,
        }))
        .into_response(),
    }
}

#[derive(Deserialize)]
struct LogQuery {
    from: Option<u64>,
    limit: Option<usize>,
}

async fn read_log(
    State(st): State<ApiState>,
    Path(learner): Path<String>,
    Query(q): Query<LogQuery>,
) -> Response {
    let l2 = learner.clone();
    let from = q.from.unwrap_or(0);
    let limit = q.limit.unwrap_or(1000).min(100_000);
    let r = ask(&st, move |d| {
        let i = learner_index(d, &l2)?;
        let log = d.replicas[i].replica.log();
        let start = log.partition_point(|e| e.slot < from);
        let entries: Vec<LogEntry> = log[start..].iter().take(limit).cloned().collect();
        Some((entries, log.len()))
    })
    .await;
    match r {
        None => error(StatusCode::SERVICE_UNAVAILABLE, "node is shutting down"),
        Some(None) => error(
            StatusCode::NOT_FOUND,
            format!("this node runs no learner `{learner}`"),
        ),
        Some(Some((entries, total))) => Json(serde_json::json!({
            "learner": learner, "applied_slots": total, "entries": entries,
        }))
        .into_response(),
    }
}

async fn status(State(st): State<ApiState>) -> Response {
    match ask(&st, |d| d.status()).await {
        Some(s) => Json(s).into_response(),
        None => error(StatusCode::SERVICE_UNAVAILABLE, "node is shutting down"),
    }
}

async fn ready(State(st): State<ApiState>) -> Response {
    match ask(&st, |d| d.readiness()).await {
        Some((true, body)) => Json(body).into_response(),
        Some((false, body)) => (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response(),
        None => error(StatusCode::SERVICE_UNAVAILABLE, "node is shutting down"),
    }
}

async fn metrics(State(st): State<ApiState>) -> Response {
    (
        [("content-type", crate::metrics::CONTENT_TYPE)],
        st.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::request;

    /// A bad command body gets the API's JSON error shape and a 4xx (so
    /// `hpaxos client` exits 2, "bad input"), before the driver is asked.
    #[tokio::test]
    async fn bad_command_bodies_are_json_errors() {
        let (tx, _rx) = mpsc::channel(1);
        let app = router(ApiState {
            events: tx,
            metrics: Arc::new(Metrics::default()),
            max_body: 1024,
        });
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(l, app).await });
        let t = Duration::from_secs(10);
        let bad = serde_json::json!({"op": "paint"});
        let r = request(addr, "POST", "/v1/commands", Some(&bad), t)
            .await
            .unwrap();
        assert_eq!(r.status, 422);
        assert_eq!(
            r.json().unwrap()["error"],
            "Failed to deserialize the JSON body into the target type: op: unknown variant `paint`, expected one of `put`, `get`, `delete` at line 1 column 13"
        );
        let big = serde_json::json!({"op": "put", "key": "k", "value": "v".repeat(4096)});
        let r = request(addr, "POST", "/v1/commands", Some(&big), t)
            .await
            .unwrap();
        assert_eq!(r.status, 413);
        assert!(r.json().unwrap()["error"].is_string(), "{}", r.body);
        server.abort();
    }

    /// `POST /v1/commands/batch` against a stand-in driver: every command
    /// gets its own result in order, a learner the node does not run fails
    /// the whole request with 404, a bad body is a JSON error.
    #[tokio::test]
    async fn batch_submissions_answer_per_command() {
        let (tx, mut rx) = mpsc::channel::<Event>(64);
        tokio::spawn(async move {
            let mut slot = 0;
            while let Some(ev) = rx.recv().await {
                if let Event::Submit { op, learner, reply } = ev {
                    let r = match (learner.as_deref(), op) {
                        (Some("zed"), _) => Err("no learner `zed` in the configuration".into()),
                        (_, Op::Delete { .. }) => {
                            Err("overloaded: too many commands pending here".into())
                        }
                        (_, _) => {
                            slot += 1;
                            Ok(SubmitReply {
                                id: crate::kv::CmdId {
                                    origin: 0,
                                    seq: slot,
                                },
                                slot,
                                learner: "alice".into(),
                                results: Default::default(),
                                latency_ms: 1.0,
                            })
                        }
                    };
                    let _ = reply.send(r);
                }
            }
        });
        let app = router(ApiState {
            events: tx,
            metrics: Arc::new(Metrics::default()),
            max_body: 64 * 1024,
        });
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(l, app).await });
        let t = Duration::from_secs(10);
        let cmds = serde_json::json!([
            {"op": "put", "key": "a", "value": "1"},
            {"op": "delete", "key": "a"},
            {"op": "get", "key": "a"},
        ]);
        let r = request(addr, "POST", "/v1/commands/batch", Some(&cmds), t)
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json().unwrap();
        let v = v.as_array().unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(
            (v[0]["slot"].as_u64(), v[2]["slot"].as_u64()),
            (Some(1), Some(2))
        );
        assert_eq!(v[1]["status"], 503);
        assert!(v[1]["error"].as_str().unwrap().starts_with("overloaded"));
        let r = request(
            addr,
            "POST",
            "/v1/commands/batch?learner=zed",
            Some(&cmds),
            t,
        )
        .await
        .unwrap();
        assert_eq!(r.status, 404, "{}", r.body);
        assert_eq!(
            r.json().unwrap()["error"],
            "no learner `zed` in the configuration"
        );
        let empty = serde_json::json!([]);
        let r = request(addr, "POST", "/v1/commands/batch", Some(&empty), t)
            .await
            .unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "[]"));
        let bad = serde_json::json!({"op": "put", "key": "a", "value": "1"});
        let r = request(addr, "POST", "/v1/commands/batch", Some(&bad), t)
            .await
            .unwrap();
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.json().unwrap()["error"].is_string());
        server.abort();
    }
}
