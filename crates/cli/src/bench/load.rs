//! The workload of `hpaxos bench`: clients that submit commands to the
//! cluster's HTTP API over keep-alive connections and record each
//! command's end-to-end latency (from when it was due to be sent until its
//! answer arrived) in an HdrHistogram of the learner the client waits for.
//!
//! Data flow: [`run`] starts `clients` tasks, each bound to one target (a
//! node's HTTP address and one of its learners, round-robin). Closed loop:
//! every client keeps one request of `batch` commands in flight (`POST
//! /v1/commands/batch?learner=L`, or one command per `POST /v1/commands`
//! with `single`). Open loop (`rate`): a scheduler emits requests at the
//! given command rate into a bounded queue the clients take from; a
//! request that finds the queue full is counted as dropped, and latency is
//! measured from the scheduled time, so a slow cluster shows as latency,
//! not as a slower schedule. Only answers that arrive inside the
//! measurement window (after the warm-up) count. Every loop ends at the
//! window's end; requests still in flight are bounded by the request
//! timeout.

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// One request's wait at most.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(25);
/// Open loop: requests queued for a free client at most.
const OPEN_QUEUE: usize = 4096;

/// Where a client sends its commands.
#[derive(Clone, Debug)]
pub struct Target {
    pub node: String,
    pub addr: SocketAddr,
    pub learner: String,
}

#[derive(Clone, Debug)]
pub struct Workload {
    pub clients: usize,
    pub batch: usize,
    pub payload: usize,
    /// Open loop at this many commands per second (closed loop when None).
    pub rate: Option<f64>,
    pub warmup: Duration,
    pub seconds: Duration,
    /// One command per request on `POST /v1/commands`.
    pub single: bool,
}

/// What the clients saw in the measurement window.
pub struct Outcome {
    /// Per learner: latency of every committed command, in microseconds.
    pub latency: BTreeMap<String, Histogram<u64>>,
    pub committed: u64,
    pub failed: u64,
    pub dropped: u64,
    pub requests: u64,
    pub window: f64,
    /// The first failure's message, if any.
    pub first_error: Option<String>,
}

pub(super) fn histogram() -> Histogram<u64> {
    // 1 us .. 120 s at 3 significant digits; the bounds are valid.
    Histogram::new_with_bounds(1, 120_000_000, 3).unwrap_or_else(|_| Histogram::new(3).unwrap())
}

#[derive(Default)]
struct Shared {
    committed: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    requests: AtomicU64,
    latency: Mutex<BTreeMap<String, Histogram<u64>>>,
    first_error: Mutex<Option<String>>,
}

impl Shared {
    fn error(&self, n: u64, e: String) {
        self.failed.fetch_add(n, Ordering::Relaxed);
        let mut g = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        if g.is_none() {
            *g = Some(e);
        }
    }
}

/// A keep-alive HTTP/1.1 connection to one node (reconnects after an error).
struct Conn {
    addr: SocketAddr,
    tx: Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl Conn {
    fn new(addr: SocketAddr) -> Conn {
        Conn {
            addr,
            tx: None,
            task: None,
        }
    }

    async fn post(&mut self, path: &str, body: Bytes) -> Result<(u16, Bytes), String> {
        let r = tokio::time::timeout(REQUEST_TIMEOUT, self.post_inner(path, body)).await;
        let r = r.unwrap_or_else(|_| Err("request timed out".into()));
        if r.is_err() {
            self.tx = None;
            if let Some(t) = self.task.take() {
                t.abort();
            }
        }
        r
    }

    async fn post_inner(&mut self, path: &str, body: Bytes) -> Result<(u16, Bytes), String> {
        if self.tx.is_none() {
            let s = TcpStream::connect(self.addr)
                .await
                .map_err(|e| format!("cannot reach {}: {e}", self.addr))?;
            let _ = s.set_nodelay(true);
            let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
                .await
                .map_err(|e| e.to_string())?;
            self.task = Some(tokio::spawn(async move {
                let _ = conn.await;
            }));
            self.tx = Some(tx);
        }
        let Some(tx) = self.tx.as_mut() else {
            return Err("no connection".into());
        };
        tx.ready().await.map_err(|e| e.to_string())?;
        let req = hyper::Request::builder()
            .method("POST")
            .uri(path)
            .header(hyper::header::HOST, self.addr.to_string())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        let resp = tx.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, bytes))
    }
}

/// The JSON of `n` put commands with values of `payload` bytes.
fn commands(seq: &mut u64, client: usize, n: usize, payload: usize, single: bool) -> Bytes {
    let mut out = String::with_capacity(n * (payload + 48) + 2);
    if !single {
        out.push('[');
    }
    for i in 0..n {
        *seq += 1;
        if i > 0 {
            out.push(',');
        }
        let head = format!("c{client}-{seq}-");
        let pad = payload.saturating_sub(head.len());
        out.push_str(&format!(
            "{{\"op\":\"put\",\"key\":\"k{}\",\"value\":\"{head}{}\"}}",
            *seq % 1000,
            "x".repeat(pad)
        ));
    }
    if !single {
        out.push(']');
    }
    Bytes::from(out)
}

/// How many commands of an answer were committed, and the first error.
fn committed_in(status: u16, body: &[u8], n: usize, single: bool) -> (u64, Option<String>) {
    let text = || {
        String::from_utf8_lossy(body)
            .chars()
            .take(200)
            .collect::<String>()
    };
    if status != 200 {
        return (0, Some(format!("HTTP {status}: {}", text())));
    }
    if single {
        return (1, None);
    }
    match serde_json::from_slice::<Vec<serde_json::Value>>(body) {
        Ok(v) if v.len() == n => {
            let ok = v.iter().filter(|r| r.get("slot").is_some()).count() as u64;
            let err = v.iter().find_map(|r| r.get("error").map(|e| e.to_string()));
            (ok, err)
        }
        Ok(v) => (0, Some(format!("{} answers to a batch of {n}", v.len()))),
        Err(e) => (0, Some(format!("bad batch answer: {e}: {}", text()))),
    }
}

/// Runs the workload against `targets` and returns what the window saw.
pub async fn run(targets: &[Target], w: &Workload, label: &str) -> Outcome {
    let sh = Arc::new(Shared::default());
    {
        let mut g = sh.latency.lock().unwrap_or_else(|p| p.into_inner());
        for t in targets {
            g.entry(t.learner.clone()).or_insert_with(histogram);
        }
    }
    let t0 = Instant::now();
    let start = t0 + w.warmup;
    let end = start + w.seconds;
    let batch = if w.single { 1 } else { w.batch.max(1) };
    // Open loop: the schedule of due times, taken by free clients.
    let (due_tx, due_rx) = tokio::sync::mpsc::channel::<Instant>(OPEN_QUEUE);
    let due_rx = Arc::new(tokio::sync::Mutex::new(due_rx));
    let mut tasks = Vec::new();
    if let Some(rate) = w.rate {
        let sh = sh.clone();
        let per_req = Duration::from_secs_f64(batch as f64 / rate.max(1e-3));
        tasks.push(tokio::spawn(async move {
            let mut sent = 0u64;
            while Instant::now() < end {
                let due = (t0.elapsed().as_secs_f64() / per_req.as_secs_f64()) as u64;
                while sent < due {
                    let at = t0 + per_req.mul_f64(sent as f64);
                    if due_tx.try_send(at).is_err() && at >= start {
                        sh.dropped.fetch_add(batch as u64, Ordering::Relaxed);
                    }
                    sent += 1;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }));
    } else {
        drop(due_tx);
    }
    for (c, t) in (0..w.clients.max(1)).zip(targets.iter().cycle()) {
        let sh = sh.clone();
        let t = t.clone();
        let due_rx = due_rx.clone();
        let (open, payload, single) = (w.rate.is_some(), w.payload, w.single);
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(t.addr);
            let path = if single {
                format!("/v1/commands?learner={}", t.learner)
            } else {
                format!("/v1/commands/batch?learner={}", t.learner)
            };
            let mut seq = 0u64;
            loop {
                let sent_at = if open {
                    let next = {
                        let mut rx = due_rx.lock().await;
                        tokio::time::timeout_at(end.into(), rx.recv()).await
                    };
                    match next {
                        Ok(Some(at)) => at,
                        _ => return,
                    }
                } else {
                    let now = Instant::now();
                    if now >= end {
                        return;
                    }
                    now
                };
                let body = commands(&mut seq, c, batch, payload, single);
                let r = conn.post(&path, body).await;
                let done = Instant::now();
                if done < start || done > end {
                    if r.is_err() && done < end {
                        // An unreachable node: do not spin on it.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    continue;
                }
                sh.requests.fetch_add(1, Ordering::Relaxed);
                let (ok, err) = match r {
                    Ok((status, b)) => committed_in(status, &b, batch, single),
                    Err(e) => (0, Some(e)),
                };
                if ok > 0 {
                    sh.committed.fetch_add(ok, Ordering::Relaxed);
                    let us = done.duration_since(sent_at).as_micros().max(1) as u64;
                    let mut g = sh.latency.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(h) = g.get_mut(&t.learner) {
                        let _ = h.record_n(us, ok);
                    }
                }
                if let Some(e) = err {
                    sh.error(
                        batch as u64 - ok,
                        format!("{} ({}): {e}", t.node, t.learner),
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }
    let progress = {
        let sh = sh.clone();
        let label = label.to_string();
        let tty = std::io::stderr().is_terminal();
        tokio::spawn(async move {
            let mut last = 0u64;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                let now = Instant::now();
                if now >= end + Duration::from_millis(500) {
                    break;
                }
                let c = sh.committed.load(Ordering::Relaxed);
                let p50 = {
                    let g = sh.latency.lock().unwrap_or_else(|p| p.into_inner());
                    let mut all = histogram();
                    for h in g.values() {
                        let _ = all.add(h);
                    }
                    all.value_at_quantile(0.5) as f64 / 1e3
                };
                let phase = if now < start { "warm-up" } else { "measuring" };
                let el = now.saturating_duration_since(start).as_secs_f64();
                let line = format!(
                    "  {label} {phase} {el:5.1}/{:.0} s  committed {c:>8}  {:>8} cmd/s  p50 {p50:7.2} ms  failed {}",
                    w_secs(end, start),
                    c - last,
                    sh.failed.load(Ordering::Relaxed)
                );
                last = c;
                if tty {
                    eprint!("\r{line}");
                } else {
                    eprintln!("{line}");
                }
            }
            if tty {
                eprintln!();
            }
        })
    };
    for t in tasks {
        let _ = t.await;
    }
    progress.abort();
    let _ = progress.await;
    let latency = std::mem::take(&mut *sh.latency.lock().unwrap_or_else(|p| p.into_inner()));
    let first_error = sh
        .first_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    Outcome {
        latency,
        committed: sh.committed.load(Ordering::Relaxed),
        failed: sh.failed.load(Ordering::Relaxed),
        dropped: sh.dropped.load(Ordering::Relaxed),
        requests: sh.requests.load(Ordering::Relaxed),
        window: w.seconds.as_secs_f64(),
        first_error,
    }
}

fn w_secs(end: Instant, start: Instant) -> f64 {
    end.duration_since(start).as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The batch body is a JSON array of put commands whose values have
    /// exactly the payload size; an answer counts its committed entries.
    #[test]
    fn batch_bodies_and_answers() {
        let mut seq = 0;
        let b = commands(&mut seq, 3, 4, 64, false);
        let v: Vec<serde_json::Value> = serde_json::from_slice(&b).unwrap();
        assert_eq!(v.len(), 4);
        assert!(v
            .iter()
            .all(|c| c["op"] == "put" && c["value"].as_str().unwrap().len() == 64));
        let one = commands(&mut seq, 3, 1, 64, true);
        let c: serde_json::Value = serde_json::from_slice(&one).unwrap();
        assert_eq!(c["op"], "put");
        let ans = br#"[{"slot":1},{"error":"overloaded"},{"slot":2}]"#;
        let (ok, err) = committed_in(200, ans, 3, false);
        assert_eq!((ok, err.as_deref()), (2, Some("\"overloaded\"")));
        assert_eq!(committed_in(503, b"{}", 3, false).0, 0);
    }
}
