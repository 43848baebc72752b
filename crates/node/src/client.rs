//! The HTTP/1.1 client of the node's API, used by `hpaxos client`, the demo,
//! `start.sh` (through `hpaxos client health`) and the tests: hyper's
//! client connection, one request per connection, the whole exchange
//! (connect, send, read the body) bounded by one timeout.

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach {addr}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{addr}: request timed out")]
    Timeout { addr: SocketAddr },
    #[error("{addr}: HTTP")]
    Http {
        addr: SocketAddr,
        source: hyper::Error,
    },
    #[error("{addr}: cannot build the request: {why}")]
    Request { addr: SocketAddr, why: String },
    #[error("cannot resolve {addr}")]
    Resolve {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot start the client runtime")]
    Runtime { source: std::io::Error },
}

/// Status code and body of a response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }
}

/// Sends one request; `body` is JSON when given.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
    timeout: Duration,
) -> Result<Response, ClientError> {
    match tokio::time::timeout(timeout, request_inner(addr, method, path, body)).await {
        Ok(r) => r,
        Err(_) => Err(ClientError::Timeout { addr }),
    }
}

/// [`request`] to a `HOST:PORT` (a name is resolved first; the first
/// address is used), for callers without a runtime (the command line). The
/// timeout covers resolution too.
pub fn request_blocking(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
    timeout: Duration,
) -> Result<Response, ClientError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| ClientError::Runtime { source })?;
    rt.block_on(async {
        let t = std::time::Instant::now();
        let resolved = tokio::time::timeout(timeout, tokio::net::lookup_host(addr))
            .await
            .map_err(|_| ClientError::Resolve {
                addr: addr.to_string(),
                source: std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"),
            })?
            .map_err(|source| ClientError::Resolve {
                addr: addr.to_string(),
                source,
            })?
            .next()
            .ok_or_else(|| ClientError::Resolve {
                addr: addr.to_string(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
            })?;
        request(
            resolved,
            method,
            path,
            body,
            timeout.saturating_sub(t.elapsed()),
        )
        .await
    })
}

/// Aborts the connection task when the request is done or abandoned (a
/// timed-out request must not leave a task behind in a long-running caller).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn request_inner(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<Response, ClientError> {
    use http_body_util::BodyExt;
    let s = TcpStream::connect(addr)
        .await
        .map_err(|source| ClientError::Connect { addr, source })?;
    let _ = s.set_nodelay(true);
    let http = |source| ClientError::Http { addr, source };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
        .await
        .map_err(http)?;
    let _conn = AbortOnDrop(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let method =
        hyper::Method::from_bytes(method.as_bytes()).map_err(|_| ClientError::Request {
            addr,
            why: format!("bad method {method:?}"),
        })?;
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, addr.to_string());
    if body.is_some() {
        req = req.header(hyper::header::CONTENT_TYPE, "application/json");
    }
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let req = req
        .body(Full::new(Bytes::from(payload)))
        .map_err(|e| ClientError::Request {
            addr,
            why: e.to_string(),
        })?;
    let resp = sender.send_request(req).await.map_err(http)?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.map_err(http)?.to_bytes();
    Ok(Response {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;

    /// Against a real axum server: status and body of a JSON answer, a 404,
    /// a POST with a JSON body, and a silent server timing out.
    #[tokio::test]
    async fn talks_to_an_http_server_and_times_out_on_a_silent_one() {
        let app = axum::Router::new()
            .route(
                "/ok",
                get(|| async { axum::Json(serde_json::json!({"a": 1})) }),
            )
            .route("/echo", axum::routing::post(|b: String| async move { b }));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(l, app).await });
        let t = Duration::from_secs(10);
        let r = request(addr, "GET", "/ok", None, t).await.unwrap();
        assert_eq!(
            (r.status, r.json()),
            (200, Some(serde_json::json!({"a": 1})))
        );
        let r = request(addr, "GET", "/nope", None, t).await.unwrap();
        assert_eq!(r.status, 404);
        let body = serde_json::json!({"op": "put"});
        let r = request(addr, "POST", "/echo", Some(&body), t)
            .await
            .unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, r#"{"op":"put"}"#));
        server.abort();

        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = silent.local_addr().unwrap();
        let r = request(a, "GET", "/ok", None, Duration::from_millis(200)).await;
        assert!(matches!(r, Err(ClientError::Timeout { .. })), "{r:?}");
        drop(silent);
        let r = request(a, "GET", "/ok", None, t).await;
        assert!(matches!(r, Err(ClientError::Connect { .. })), "{r:?}");
    }
}
