//! Resident memory per idle connection, as a slope: after a warm-up, open `n1` connections,
//! read the target's RSS, open more up to `n2`, read it again; the cost of one idle
//! connection is `(RSS(n2) - RSS(n1)) / (n2 - n1)`. Each connection completes one request
//! (WebSocket: its handshake) before it goes idle, at most [`CONCURRENCY`] at a time, so the
//! heap that requests in flight leave behind is the same at both readings and cancels out.
//! Afterwards a sample of the connections sends a second request, to show they are still
//! served. Openers for HTTP/1.1, h2c, HTTP/1.1 over TLS and WebSocket; all on loopback.

use anyhow::{bail, Context};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// Connections opened (and requests in flight) at once.
const CONCURRENCY: usize = 64;
/// Connections opened and closed before the first reading.
const WARM_UP: usize = 256;
/// How long a reading waits after the last connection went idle: longer than the second
/// Gatehouse waits before an idle HTTP/1.1 connection gives its buffers back.
const SETTLE: Duration = Duration::from_secs(3);
/// How many connections the liveness check sends a second request on.
const SAMPLE: usize = 100;
/// The bound on opening one connection, or on one request.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// How the connections speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Http1,
    H2c,
    /// HTTP/1.1 over TLS 1.3 (ALPN `http/1.1`).
    Tls,
    WebSocket,
}

/// One reading of the cost of idle connections.
#[derive(Debug)]
pub struct IdleCost {
    pub what: String,
    pub n1: usize,
    pub n2: usize,
    pub rss1: u64,
    pub rss2: u64,
    /// Of the sampled connections, how many answered a second request, and how many were
    /// asked.
    pub alive: (usize, usize),
}

impl IdleCost {
    /// Bytes per idle connection.
    pub fn per_connection(&self) -> f64 {
        (self.rss2 as f64 - self.rss1 as f64) / (self.n2 - self.n1).max(1) as f64
    }
}

/// Where to connect, and how.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub proto: Proto,
    pub path: String,
    /// For [`Proto::Tls`].
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// Measures `target`; `rss` reads the target process's resident memory.
pub fn measure(
    what: &str,
    target: &Target,
    n1: usize,
    n2: usize,
    rss: impl Fn() -> u64,
) -> anyhow::Result<IdleCost> {
    if n1 == 0 || n2 <= n1 {
        bail!("idle counts must satisfy 0 < n1 < n2 (got {n1}, {n2})");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        drop(open(target, WARM_UP).await?);
        tokio::time::sleep(SETTLE).await;
        let mut conns = open(target, n1).await?;
        tokio::time::sleep(SETTLE).await;
        let rss1 = rss();
        conns.extend(open(target, n2 - n1).await?);
        tokio::time::sleep(SETTLE).await;
        let rss2 = rss();
        let step = (conns.len() / SAMPLE).max(1);
        let mut asked = 0;
        let mut answered = 0;
        for conn in conns.iter_mut().step_by(step) {
            asked += 1;
            if let Ok(Ok(())) = tokio::time::timeout(STEP_TIMEOUT, conn.again(target)).await {
                answered += 1;
            }
        }
        drop(conns);
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok(IdleCost {
            what: what.to_owned(),
            n1,
            n2,
            rss1,
            rss2,
            alive: (answered, asked),
        })
    })
}

/// An open connection with its request done.
enum Conn {
    H1(http1::SendRequest<Empty<Bytes>>),
    H2(http2::SendRequest<Empty<Bytes>>),
    Ws(Box<tokio_tungstenite::WebSocketStream<TcpStream>>),
}

impl Conn {
    /// A second request (WebSocket: a ping answered by a pong).
    async fn again(&mut self, target: &Target) -> anyhow::Result<()> {
        match self {
            Conn::H1(send) => {
                send.ready().await?;
                get_status(send.send_request(request(target)?)).await
            }
            Conn::H2(send) => get_status(send.send_request(request(target)?)).await,
            Conn::Ws(ws) => {
                ws.send(tokio_tungstenite::tungstenite::Message::Ping(
                    Bytes::from_static(b"alive"),
                ))
                .await?;
                while let Some(m) = ws.next().await {
                    if let tokio_tungstenite::tungstenite::Message::Pong(_) = m? {
                        return Ok(());
                    }
                }
                bail!("closed")
            }
        }
    }
}

fn request(target: &Target) -> anyhow::Result<http::Request<Empty<Bytes>>> {
    let uri = if target.proto == Proto::H2c {
        format!("http://{}{}", target.addr, target.path)
    } else {
        target.path.clone()
    };
    Ok(http::Request::get(uri)
        .header(http::header::HOST, "bench")
        .body(Empty::new())?)
}

async fn get_status(
    resp: impl std::future::Future<Output = hyper::Result<http::Response<hyper::body::Incoming>>>,
) -> anyhow::Result<()> {
    let resp = resp.await?;
    let status = resp.status();
    resp.into_body().collect().await?;
    if !status.is_success() {
        bail!("status {status}");
    }
    Ok(())
}

/// Opens `n` connections, [`CONCURRENCY`] at a time, each with its first request done.
async fn open(target: &Target, n: usize) -> anyhow::Result<Vec<Conn>> {
    let opened: Vec<anyhow::Result<Conn>> = futures_util::stream::iter(0..n)
        .map(|i| async move {
            tokio::time::timeout(STEP_TIMEOUT, open_one(target))
                .await
                .with_context(|| format!("connection {i} to {} timed out", target.addr))?
                .with_context(|| format!("connection {i} to {}", target.addr))
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    opened.into_iter().collect()
}

async fn open_one(target: &Target) -> anyhow::Result<Conn> {
    let tcp = TcpStream::connect(target.addr).await?;
    tcp.set_nodelay(true)?;
    let mut conn = match target.proto {
        Proto::Http1 => {
            let (send, conn) = http1::handshake(TokioIo::new(tcp)).await?;
            tokio::spawn(conn);
            Conn::H1(send)
        }
        Proto::H2c => {
            let (send, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(tcp)).await?;
            tokio::spawn(conn);
            Conn::H2(send)
        }
        Proto::Tls => {
            let config = target.tls.clone().context("no TLS client config")?;
            let name = rustls::pki_types::ServerName::try_from("localhost")?;
            let stream = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await?;
            let (send, conn) = http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            Conn::H1(send)
        }
        Proto::WebSocket => {
            let url = format!("ws://{}{}", target.addr, target.path);
            let (ws, _) = tokio_tungstenite::client_async(url, tcp).await?;
            return Ok(Conn::Ws(Box::new(ws)));
        }
    };
    conn.again(target).await?;
    Ok(conn)
}
