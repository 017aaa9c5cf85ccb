//! A real HTTP backend (hyper, HTTP/1.1 and h2c, or https) running inside the test process.
//!
//! Routes, by path prefix:
//! - `/delay/{ms}/...`: waits `ms` milliseconds, then answers like the echo route;
//! - `/bytes/{n}`: `n` bytes of `x`, sent in 16 KiB chunks;
//! - `/status/{code}`: that status with a small JSON body;
//! - `/stream-echo`: streams the request body back as it arrives;
//! - `/events/reply`, `/events/quiet`: records the JSON request body (a WebSocket event) and
//!   answers with the event's `body` (reply) or nothing (quiet); `/events/status/{code}`
//!   records and answers `code`;
//! - anything else: 200 with a JSON description of the request (method, path, query,
//!   headers, body) and `x-backend: NAME`.
//!
//! Every request is counted; the count is how tests tell whether the gateway called the backend.
//! So is every TCP connection accepted, which tells whether the gateway reused one.

use bytes::Bytes;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type RespBody = UnsyncBoxBody<Bytes, BoxError>;

/// A running backend; it stops when dropped.
#[derive(Debug)]
pub struct Backend {
    /// Where it listens.
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
    events: Arc<Mutex<Vec<serde_json::Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Backend {
    /// Starts a backend named `name` on a free loopback port.
    pub async fn start(name: &str) -> Backend {
        Self::start_with(name, None).await
    }

    /// Like [`Backend::start`], serving https (HTTP/1.1 or HTTP/2 by ALPN) with the PEM
    /// certificate chain and PKCS#8 key given. `connections` counts TCP connections accepted,
    /// `hits` only requests that came through a completed handshake.
    pub async fn start_tls(name: &str, cert_pem: &str, key_pem: &str) -> Backend {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("backend certificate");
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("backend key");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("backend TLS config");
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        Self::start_with(name, Some(acceptor)).await
    }

    async fn start_with(name: &str, tls: Option<tokio_rustls::TlsAcceptor>) -> Backend {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind backend");
        let addr = listener.local_addr().expect("backend addr");
        let hits = Arc::new(AtomicUsize::new(0));
        let name: Arc<str> = name.into();
        let counter = hits.clone();
        let connections = Arc::new(AtomicUsize::new(0));
        let accepted = connections.clone();
        let events: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
        let recorded = events.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                accepted.fetch_add(1, Ordering::SeqCst);
                let name = name.clone();
                let counter = counter.clone();
                let recorded = recorded.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        handle(req, name.clone(), recorded.clone())
                    });
                    let server = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    let _ = match tls {
                        None => server.serve_connection(TokioIo::new(stream), svc).await,
                        Some(tls) => match tls.accept(stream).await {
                            Ok(stream) => server.serve_connection(TokioIo::new(stream), svc).await,
                            Err(_) => return,
                        },
                    };
                });
            }
        });
        Backend {
            addr,
            hits,
            connections,
            events,
            task,
        }
    }

    /// The WebSocket events POSTed to `/events/...`, in arrival order.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.events.lock().expect("events").clone()
    }

    /// Waits until an event matches `pred`, for at most `timeout`.
    pub async fn wait_event(
        &self,
        timeout: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> Option<serde_json::Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(e) = self.events().into_iter().find(|e| pred(e)) {
                return Some(e);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How many requests it has received.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// How many TCP connections it has accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn full(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<RespBody> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(
            Full::new(body.into())
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .expect("response")
}

type Events = Arc<Mutex<Vec<serde_json::Value>>>;

async fn handle(
    req: Request<Incoming>,
    name: Arc<str>,
    events: Events,
) -> Result<Response<RespBody>, Infallible> {
    let path = req.uri().path().to_string();
    let mut segments = path.trim_start_matches('/').split('/');
    match segments.next() {
        Some("events") => {
            let body = req
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            let event: serde_json::Value =
                serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            let reply = event["body"].as_str().unwrap_or("").to_owned();
            events.lock().expect("events").push(event);
            Ok(match segments.next() {
                Some("reply") => full(200, "text/plain", reply),
                Some("status") => {
                    let code = segments.next().and_then(|s| s.parse().ok()).unwrap_or(500);
                    full(code, "text/plain", "denied by the backend")
                }
                _ => full(200, "text/plain", ""),
            })
        }
        Some("delay") => {
            let ms: u64 = segments.next().and_then(|s| s.parse().ok()).unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(echo(req, &name).await)
        }
        Some("bytes") => {
            let n: usize = segments.next().and_then(|s| s.parse().ok()).unwrap_or(0);
            let chunks = (0..n.div_ceil(16 * 1024)).map(move |i| {
                let len = (n - i * 16 * 1024).min(16 * 1024);
                Ok::<_, BoxError>(Frame::data(Bytes::from(vec![b'x'; len])))
            });
            let body = StreamBody::new(futures_util::stream::iter(chunks));
            Ok(Response::builder()
                .header("content-type", "application/octet-stream")
                .body(BodyExt::boxed_unsync(body))
                .expect("response"))
        }
        Some("status") => {
            let code: u16 = segments.next().and_then(|s| s.parse().ok()).unwrap_or(500);
            Ok(full(
                code,
                "application/json",
                format!("{{\"status\":{code}}}"),
            ))
        }
        Some("stream-echo") => {
            // Forward each frame of the request body as it arrives.
            Ok(Response::builder()
                .header("content-type", "application/octet-stream")
                .body(req.into_body().map_err(BoxError::from).boxed_unsync())
                .expect("response"))
        }
        _ => Ok(echo(req, &name).await),
    }
}

async fn echo(req: Request<Incoming>, name: &str) -> Response<RespBody> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let mut headers = serde_json::Map::new();
    for (k, v) in &parts.headers {
        let v = serde_json::Value::String(v.to_str().unwrap_or("<binary>").to_string());
        match headers.get_mut(k.as_str()) {
            Some(serde_json::Value::Array(list)) => list.push(v),
            Some(first) => *first = serde_json::Value::Array(vec![first.clone(), v]),
            None => {
                headers.insert(k.as_str().to_string(), v);
            }
        }
    }
    let doc = serde_json::json!({
        "backend": name,
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "version": format!("{:?}", parts.version),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
        "body_len": body.len(),
    });
    let mut resp = full(200, "application/json", doc.to_string());
    resp.headers_mut().insert(
        "x-backend",
        name.parse().expect("backend name is a header value"),
    );
    resp
}
