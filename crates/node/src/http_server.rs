//! Serving the HTTP API ([`crate::http::router`]) with limits, so that slow,
//! stalled or greedy clients cannot hold the node's API hostage.
//!
//! Data flow: [`serve`] accepts connections on the node's HTTP listener,
//! refuses (closes at once) a connection beyond [`HttpLimits::max_connections`]
//! in total or [`HttpLimits::max_per_client`] from one IP address, and runs
//! each accepted connection in its own task with hyper's HTTP/1.1 server:
//!
//! - **header timeout**: the request line and headers must arrive within
//!   `header_timeout` of the server starting to wait for them; hyper closes
//!   the connection otherwise. The wait for the *next* request on a
//!   keep-alive connection starts when the previous response is written, so
//!   this is also the **idle timeout**;
//! - **body timeout**: the whole body must arrive within `body_timeout`
//!   after the head ([`read_body_with_timeout`], a middleware in front of
//!   the routes); otherwise 408 and the connection is closed. Bodies larger
//!   than the router's limit get 413 without being read further;
//! - the header size is bounded by hyper (`max_buf_size`).
//!
//! Each connection is its own task, so a large or slow request never
//! delays another client's.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Limits of the HTTP server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// Time to receive a request's head; also the idle time allowed between
    /// requests on a keep-alive connection.
    pub header_timeout: Duration,
    /// Time to receive a request's body once its head arrived.
    pub body_timeout: Duration,
    /// Largest request body in bytes.
    pub max_body: usize,
    /// Open connections at most, in total.
    pub max_connections: usize,
    /// Open connections at most from one IP address.
    pub max_per_client: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_body: 512 * 1024,
            max_connections: 1024,
            max_per_client: 128,
        }
    }
}

/// Open connections per client address; a slot is given back on drop.
#[derive(Clone, Default)]
struct PerClient(Arc<Mutex<BTreeMap<IpAddr, usize>>>);

struct ClientSlot {
    map: PerClient,
    ip: IpAddr,
}

impl PerClient {
    fn take(&self, ip: IpAddr, max: usize) -> Option<ClientSlot> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            map: self.clone(),
            ip,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut m = self.map.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

fn json_error(code: StatusCode, msg: &str) -> Response {
    (
        code,
        [(header::CONNECTION, "close")],
        axum::Json(serde_json::json!({ "error": msg })),
    )
        .into_response()
}

/// Reads the whole body within `limits.body_timeout` (and at most
/// `limits.max_body` bytes) before the route sees the request.
pub async fn read_body_with_timeout(limits: Arc<HttpLimits>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(
        limits.body_timeout,
        axum::body::to_bytes(body, limits.max_body),
    )
    .await
    {
        Err(_) => json_error(
            StatusCode::REQUEST_TIMEOUT,
            &format!(
                "the request body did not arrive within {} ms",
                limits.body_timeout.as_millis()
            ),
        ),
        Ok(Err(_)) => json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "the request body is larger than {} bytes (or broken off)",
                limits.max_body
            ),
        ),
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
    }
}

/// Serves `app` on `listener` with `limits`, forever.
pub async fn serve(listener: TcpListener, app: Router, limits: HttpLimits) {
    let limits = Arc::new(limits);
    let l2 = limits.clone();
    let app = app.layer(axum::middleware::from_fn(
        move |req: Request, next: Next| read_body_with_timeout(l2.clone(), req, next),
    ));
    let open = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_client = PerClient::default();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: back off a little.
                tracing::debug!("HTTP accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "HTTP connection refused: too many open connections");
            continue;
        };
        let Some(slot) = per_client.take(peer.ip(), limits.max_per_client.max(1)) else {
            tracing::debug!(%peer, "HTTP connection refused: too many from this client");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        tokio::spawn(async move {
            let _held = (permit, slot);
            let _ = conn.await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::{get, post};
    use std::time::Instant;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// Generous bound for "the server closed it" (timeouts are 200 ms; the
    /// machine is shared, so no timing is asserted, only that it happens).
    const WAIT: Duration = Duration::from_secs(20);

    async fn server(limits: HttpLimits) -> std::net::SocketAddr {
        let app = Router::new()
            .route("/health", get(|| async { "ok" }))
            .route("/echo", post(|b: String| async move { b }));
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(serve(l, app, limits));
        addr
    }

    fn small() -> HttpLimits {
        HttpLimits {
            header_timeout: Duration::from_millis(200),
            body_timeout: Duration::from_millis(200),
            max_body: 1024,
            max_connections: 8,
            max_per_client: 3,
        }
    }

    /// Reads until the server closes; returns what it sent.
    async fn until_closed(s: &mut TcpStream) -> Option<String> {
        let mut out = Vec::new();
        let t = Instant::now();
        let mut buf = [0u8; 4096];
        while t.elapsed() < WAIT {
            match tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&out).into()),
                Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
        }
        None
    }

    async fn health_ok(addr: std::net::SocketAddr) -> bool {
        crate::client::request(addr, "GET", "/health", None, WAIT)
            .await
            .is_ok_and(|r| r.status == 200 && r.body == "ok")
    }

    #[tokio::test]
    async fn a_stalled_request_head_is_dropped() {
        let addr = server(small()).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        assert!(until_closed(&mut s).await.is_some(), "never closed");
    }

    #[tokio::test]
    async fn a_stalled_body_gets_408_and_is_dropped() {
        let addr = server(small()).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
            .await
            .unwrap();
        let got = until_closed(&mut s).await.expect("never closed");
        assert!(got.starts_with("HTTP/1.1 408"), "{got}");
        assert!(
            got.contains("the request body did not arrive within 200 ms"),
            "{got}"
        );
    }

    #[tokio::test]
    async fn an_oversized_body_gets_413() {
        let addr = server(small()).await;
        let body = serde_json::Value::String("x".repeat(2000));
        let r = crate::client::request(addr, "POST", "/echo", Some(&body), WAIT)
            .await
            .unwrap();
        assert_eq!(r.status, 413, "{}", r.body);
        let small_body = serde_json::Value::String("hi".into());
        let r = crate::client::request(addr, "POST", "/echo", Some(&small_body), WAIT)
            .await
            .unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "\"hi\""));
    }

    #[tokio::test]
    async fn an_idle_keep_alive_connection_is_closed() {
        let addr = server(small()).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let got = until_closed(&mut s)
            .await
            .expect("idle connection never closed");
        assert!(
            got.starts_with("HTTP/1.1 200") && got.ends_with("ok"),
            "{got}"
        );
    }

    /// Stalled connections from one client are bounded, and never keep
    /// another request from being served once under the bound.
    #[tokio::test]
    async fn connections_per_client_are_bounded() {
        let mut limits = small();
        limits.header_timeout = Duration::from_secs(60);
        let addr = server(limits).await;
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
            held.push(s);
        }
        // Two stalled, one slot left: a request is served.
        assert!(health_ok(addr).await);
        let mut third = TcpStream::connect(addr).await.unwrap();
        third.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
        // The fourth is closed at once, without an answer.
        let mut fourth = TcpStream::connect(addr).await.unwrap();
        assert_eq!(until_closed(&mut fourth).await.as_deref(), Some(""));
        // Giving one back lets a request through again.
        drop(third);
        let t = Instant::now();
        while !health_ok(addr).await {
            assert!(t.elapsed() < WAIT, "slot never given back");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(held);
    }
}
