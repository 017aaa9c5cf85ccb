//! TCP listeners: plain or TLS (ALPN h2 / http/1.1), HTTP/1.1 and HTTP/2 (h2c by prior
//! knowledge on plain TCP) served by hyper. Nothing below knows which protocol carried a
//! request. Each connection task holds a clone of a `mpsc::Sender` guard, so shutdown can wait
//! for the last one to end; on the stop signal a connection finishes its request in flight
//! and closes (HTTP/2 sends GOAWAY). HTTP/3 is in [`h3`]; a listener with it advertises it on
//! its TCP responses with `Alt-Svc`.

pub mod h3;
pub mod linger;
pub mod workers;

use crate::body::RequestBody;
use crate::config::{ListenerSettings, ServerSettings};
use crate::pipeline::{self, ConnInfo};
use crate::shared::Shared;
use http::HeaderValue;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulConnection;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds a listener; the address is logged once bound (port 0 picks a free port). With
/// `reuse_port`, other workers bind the same address afterwards ([`workers`]).
pub fn bind(l: &ListenerSettings, reuse_port: bool) -> std::io::Result<TcpListener> {
    let listener = workers::bind(l.address, reuse_port)?;
    let local = listener.local_addr()?;
    tracing::info!(
        "listening listener={} address={} tls={}",
        l.name,
        local,
        l.tls.is_some()
    );
    Ok(listener)
}

/// A listener's connection builders: `auto` reads the first bytes to tell HTTP/2's preface
/// from HTTP/1.1 (plain TCP); on TLS, ALPN has said which, and the builder of that protocol
/// serves it without guessing.
#[derive(Debug, Clone)]
pub struct Builders {
    pub auto: auto::Builder<TokioExecutor>,
    pub http1: auto::Builder<TokioExecutor>,
    pub http2: auto::Builder<TokioExecutor>,
    /// How long a new connection may stay silent (`limits.header_read_timeout`).
    pub first_bytes_timeout: Duration,
    /// Whether the listener serves HTTP/1.1 (the protocol of a TLS client without ALPN).
    pub serves_http1: bool,
}

impl Builders {
    pub fn new(l: &ListenerSettings, s: &ServerSettings) -> Self {
        let auto = builder(l, s);
        Builders {
            http1: auto.clone().http1_only(),
            http2: auto.clone().http2_only(),
            auto,
            first_bytes_timeout: s.header_read_timeout,
            serves_http1: l.http1,
        }
    }

    /// The builder for a TLS connection: HTTP/2 when ALPN chose `h2`, HTTP/1.1 when it chose
    /// `http/1.1`; without ALPN, the listener's first protocol.
    fn for_alpn(&self, alpn: Option<&[u8]>) -> &auto::Builder<TokioExecutor> {
        match alpn {
            Some(b"h2") => &self.http2,
            Some(_) => &self.http1,
            None if self.serves_http1 => &self.http1,
            None => &self.http2,
        }
    }
}

/// Waits up to `timeout` for a new connection's first bytes, and for the rest of an HTTP/2
/// preface it has begun; `false` when it sent nothing in time or closed. A silent socket
/// would otherwise hold its descriptor for ever, since HTTP/1.1's header timeout starts only
/// once the protocol is known.
pub async fn first_bytes(stream: &tokio::net::TcpStream, timeout: Duration) -> bool {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let wait = async {
        let mut buf = [0u8; PREFACE.len()];
        loop {
            match stream.peek(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) if n == PREFACE.len() || buf[..n] != PREFACE[..n] => return true,
                // Part of the preface: the rest is on its way or never comes.
                Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    };
    tokio::time::timeout(timeout, wait).await.unwrap_or(false)
}

/// The hyper connection builder for a listener's protocols and limits.
pub fn builder(l: &ListenerSettings, s: &ServerSettings) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        // Lambda payload 1.0 events name headers as the client wrote them.
        .preserve_header_case(true)
        .timer(TokioTimer::new())
        .header_read_timeout(s.header_read_timeout)
        .max_buf_size(s.max_header_bytes.max(8192))
        .keep_alive(true);
    b.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(s.max_header_bytes as u32);
    match (l.http1, l.http2) {
        (true, false) => b.http1_only(),
        (false, true) => b.http2_only(),
        _ => b,
    }
}

/// Accepts connections until `stop` flips, serving each on its own task.
pub async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    builders: Arc<Builders>,
    alt_svc: Option<HeaderValue>,
    shared: Arc<Shared>,
    in_flight: mpsc::Sender<()>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let builders = builders.clone();
        let tls = tls.clone();
        let alt_svc = alt_svc.clone();
        let in_flight = in_flight.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let _in_flight = in_flight;
            if tls.is_none() && !first_bytes(&stream, builders.first_bytes_timeout).await {
                tracing::debug!(%peer, "closed a connection that sent nothing");
                return;
            }
            let stream = linger::Lingering::new(stream);
            let conn = ConnInfo {
                peer,
                tls: tls.is_some(),
            };
            let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let shared = shared.clone();
                let alt_svc = alt_svc.clone();
                async move {
                    let req = req.map(RequestBody::Hyper);
                    let mut resp = pipeline::handle(shared, req, conn).await;
                    if let Some(v) = alt_svc {
                        resp.headers_mut().insert(http::header::ALT_SVC, v);
                    }
                    Ok::<_, Infallible>(resp)
                }
            });
            let result = match tls {
                None => {
                    let c = builders
                        .auto
                        .serve_connection_with_upgrades(TokioIo::new(stream), svc);
                    until_stopped(c, stop).await
                }
                Some(acceptor) => {
                    let stream =
                        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                            .await
                        {
                            Ok(Ok(s)) => s,
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                    let builder = builders.for_alpn(stream.get_ref().1.alpn_protocol());
                    let c = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                    until_stopped(c, stop).await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

/// Drives a connection; when `stop` flips, asks it to finish what is in flight and close.
async fn until_stopped<C: GracefulConnection>(
    conn: C,
    mut stop: watch::Receiver<bool>,
) -> Result<(), C::Error> {
    let mut conn = std::pin::pin!(conn);
    if *stop.borrow() {
        conn.as_mut().graceful_shutdown();
        return conn.await;
    }
    tokio::select! {
        r = conn.as_mut() => r,
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    }
}
/// Raises the open-file limit to the hard limit, so that connections, not a default of 1,024,
/// are what runs out; logs the limit the gateway runs with.
pub fn raise_descriptor_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    // Linux refuses an unlimited soft limit for open files; its default ceiling is 2^20.
    let hard = limit.maximum.unwrap_or(1 << 20);
    match limit.current {
        Some(soft) if soft < hard => {
            let raised = Rlimit {
                current: Some(hard),
                maximum: limit.maximum,
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => tracing::info!(
                    from = soft,
                    to = hard,
                    "raised the open-file limit to the hard limit"
                ),
                Err(e) => {
                    tracing::warn!(limit = soft, error = %e, "cannot raise the open-file limit")
                }
            }
        }
        soft => tracing::info!(limit = soft.unwrap_or(hard), "open-file limit"),
    }
}
