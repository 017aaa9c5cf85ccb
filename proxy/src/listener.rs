//! TCP listeners: plain or TLS (ALPN h2 / http/1.1), HTTP/1.1 and HTTP/2 (h2c by prior
//! knowledge on plain TCP) served by hyper. Nothing below knows which protocol carried a
//! request. Each connection task holds a clone of a `mpsc::Sender` guard, so shutdown can wait
//! for the last one to end; on the stop signal a connection finishes its request in flight
//! and closes (HTTP/2 sends GOAWAY). HTTP/3 is in [`h3`]; a listener with it advertises it on
//! its TCP responses with `Alt-Svc`.

pub mod conn;
pub mod h3;
pub mod keepalive;
pub mod linger;
pub mod shape;
pub mod workers;

use crate::body::RequestBody;
use crate::config::{ListenerSettings, ServerSettings};
use crate::ctx::ClientCert;
use crate::pipeline::{self, ConnInfo};
use crate::shared::Shared;
use http::HeaderValue;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::CertificateDer;
use std::convert::Infallible;
use std::net::SocketAddr;
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

/// A listener's connection builders and the bounds on its connections. A listener serves
/// exactly the protocols it is configured with: on plain TCP, the first bytes tell HTTP/2's
/// preface from HTTP/1.1; on TLS, the protocol ALPN chose is the one served. Each protocol
/// has its own builder, so a connection holds only its protocol's state.
#[derive(Debug, Clone)]
pub struct Builders {
    pub http1: hyper::server::conn::http1::Builder,
    /// The same, keeping header names as the client wrote them
    /// ([`crate::runtime::Runtime::keeps_header_case`]).
    pub http1_case: hyper::server::conn::http1::Builder,
    pub http2: hyper::server::conn::http2::Builder<TokioExecutor>,
    /// How long a new connection may stay silent (`limits.header_read_timeout`).
    pub first_bytes_timeout: Duration,
    pub serves_http1: bool,
    pub serves_http2: bool,
    /// How long a connection may have nothing in flight (`limits.idle_timeout`), and when
    /// an idle HTTP/1.1 one waits outside hyper ([`keepalive`]).
    pub timeouts: keepalive::Timeouts,
    /// The caps on open connections, shared by every worker.
    pub limits: Arc<conn::ConnLimits>,
}

/// Which protocol serves a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

impl Builders {
    pub fn new(l: &ListenerSettings, s: &ServerSettings) -> Self {
        let mut http1 = hyper::server::conn::http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(s.header_read_timeout)
            .max_buf_size(s.max_header_bytes.max(8192))
            .max_headers(s.max_header_count)
            .keep_alive(true);
        let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_header_list_size(s.max_header_bytes as u32);
        // Lambda payload 1.0 and WebSocket events name headers as the client wrote them.
        let mut http1_case = http1.clone();
        http1_case.preserve_header_case(true);
        Builders {
            http1,
            http1_case,
            http2,
            first_bytes_timeout: s.header_read_timeout,
            serves_http1: l.http1,
            serves_http2: l.http2,
            timeouts: keepalive::Timeouts::new(s.idle_timeout, s.header_read_timeout),
            limits: Arc::new(conn::ConnLimits::new(
                s.max_connections,
                s.max_connections_per_ip,
            )),
        }
    }

    /// Whether plain TCP serves HTTP/1.1 (also when neither protocol is named).
    fn plain_http1(&self) -> bool {
        self.serves_http1 || !self.serves_http2
    }

    /// The protocol of a TLS connection: HTTP/2 when ALPN chose `h2`, HTTP/1.1 when it chose
    /// `http/1.1`; without ALPN, HTTP/1.1 when the listener serves it.
    fn for_alpn(&self, alpn: Option<&[u8]>) -> Protocol {
        match alpn {
            Some(b"h2") => Protocol::Http2,
            Some(_) => Protocol::Http1,
            None if self.serves_http1 => Protocol::Http1,
            None => Protocol::Http2,
        }
    }
}

/// What a new connection sent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstBytes {
    /// Nothing within the timeout, or it closed.
    Silent,
    /// HTTP/2's connection preface.
    Preface,
    /// Anything else.
    Other,
}

/// Waits up to `timeout` for a new connection's first bytes, and for the rest of an HTTP/2
/// preface it has begun. A silent socket would otherwise hold its descriptor for ever, since
/// HTTP/1.1's header timeout starts only once the protocol is known.
pub async fn first_bytes(stream: &tokio::net::TcpStream, timeout: Duration) -> FirstBytes {
    let wait = async {
        let mut buf = [0u8; PREFACE.len()];
        loop {
            match stream.peek(&mut buf).await {
                Ok(0) | Err(_) => return FirstBytes::Silent,
                Ok(n) if n == PREFACE.len() && buf == *PREFACE => return FirstBytes::Preface,
                Ok(n) if buf[..n] != PREFACE[..n] => return FirstBytes::Other,
                // Part of the preface: the rest is on its way or never comes.
                Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    };
    tokio::time::timeout(timeout, wait)
        .await
        .unwrap_or(FirstBytes::Silent)
}

/// HTTP/2's client connection preface (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What an HTTP/2-only listener answers a client that did not send the preface: its own
/// (empty) SETTINGS, then GOAWAY with PROTOCOL_ERROR and last stream 0 (RFC 9113 §3.4: an
/// invalid preface "MUST be treated as a connection error (Section 5.4.1) of type
/// PROTOCOL_ERROR").
const GOAWAY_PROTOCOL_ERROR: &[u8] = &[
    0, 0, 0, 0x4, 0, 0, 0, 0, 0, // SETTINGS, empty
    0, 0, 8, 0x7, 0, 0, 0, 0, 0, // GOAWAY, 8 bytes, stream 0
    0, 0, 0, 0, // last stream id 0
    0, 0, 0, 1, // PROTOCOL_ERROR
];

/// What every connection task of a listener shares.
struct Listening {
    builders: Arc<Builders>,
    alt_svc: Option<HeaderValue>,
    shared: Arc<Shared>,
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
    let listening = Arc::new(Listening {
        builders,
        alt_svc,
        shared,
    });
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
        let permit = match listening.builders.limits.admit(peer.ip()) {
            Ok(p) => p,
            Err(cap) => {
                refused(cap);
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let guards = (in_flight.clone(), permit);
        let (listening, stop) = (listening.clone(), stop.clone());
        // Two kinds of task, so that a plain connection's task is not sized for TLS.
        match tls.clone() {
            None => tokio::spawn(async move {
                let _guards = guards;
                serve_plain(stream, peer, &listening, stop).await;
            }),
            Some(acceptor) => tokio::spawn(async move {
                let _guards = guards;
                serve_tls(stream, peer, acceptor, &listening, stop).await;
            }),
        };
    }
}

/// Serves a plain-TCP connection in the protocol its first bytes name.
async fn serve_plain(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    l: &Listening,
    stop: watch::Receiver<bool>,
) {
    let first = first_bytes(&stream, l.builders.first_bytes_timeout).await;
    let protocol = match (first, l.builders.plain_http1(), l.builders.serves_http2) {
        (FirstBytes::Silent, _, _) => {
            tracing::debug!(%peer, "closed a connection that sent nothing");
            return;
        }
        (FirstBytes::Preface, _, true) => Protocol::Http2,
        (FirstBytes::Preface, _, false) => {
            tracing::debug!(%peer, "closed an HTTP/2 connection to an HTTP/1.1 listener");
            return;
        }
        (FirstBytes::Other, true, _) => Protocol::Http1,
        (FirstBytes::Other, false, _) => {
            use tokio::io::AsyncWriteExt;
            // Lingering: the unread bytes must not turn the close into a reset that
            // overtakes the GOAWAY.
            let mut stream = linger::Lingering::new(stream);
            let _ = stream.write_all(GOAWAY_PROTOCOL_ERROR).await;
            let _ = stream.shutdown().await;
            tracing::debug!(%peer, "closed an HTTP/2 connection without the preface");
            return;
        }
    };
    let conn = ConnInfo {
        peer,
        tls: false,
        client_cert: None,
    };
    serve(l, protocol, linger::Lingering::new(stream), conn, stop).await;
}

/// The leaf of a client's certificate chain, which the handshake verified against the
/// listener's truststore; `None` without mutual TLS or when the client sent none.
pub fn client_cert(chain: Option<&[CertificateDer<'_>]>) -> Option<Arc<ClientCert>> {
    let leaf = chain?.first()?;
    let cert = ClientCert::from_der(leaf);
    if cert.is_none() {
        tracing::debug!("a verified client certificate could not be read");
    }
    cert.map(Arc::new)
}

/// Serves a TLS connection in the protocol ALPN chose.
async fn serve_tls(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    acceptor: tokio_rustls::TlsAcceptor,
    l: &Listening,
    stop: watch::Receiver<bool>,
) {
    let stream = linger::Lingering::new(stream);
    let handshake = Box::pin(acceptor.accept(stream));
    let stream = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, handshake).await {
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
    let session = stream.get_ref().1;
    let protocol = l.builders.for_alpn(session.alpn_protocol());
    let conn = ConnInfo {
        peer,
        tls: true,
        client_cert: client_cert(session.peer_certificates()),
    };
    serve(l, protocol, stream, conn, stop).await;
}

/// Serves one connection in `protocol` until it ends ([`conn::drive`], and for HTTP/1.1
/// [`keepalive::serve_http1`]).
async fn serve<T>(
    l: &Listening,
    protocol: Protocol,
    stream: T,
    conn: ConnInfo,
    stop: watch::Receiver<bool>,
) where
    T: keepalive::Socket + tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let peer = conn.peer;
    let activity = conn::Activity::new();
    let requests = activity.clone();
    let (shared, alt_svc) = (l.shared.clone(), l.alt_svc.clone());
    let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let shared = shared.clone();
        let alt_svc = alt_svc.clone();
        let in_flight = requests.begin();
        let conn = conn.clone();
        async move {
            let req = req.map(RequestBody::Hyper);
            let mut resp = pipeline::handle(shared, req, conn).await;
            if let Some(v) = alt_svc {
                resp.headers_mut().insert(http::header::ALT_SVC, v);
            }
            Ok::<_, Infallible>(resp.map(|b| conn::Tracked::new(b, in_flight)))
        }
    });
    let io = shape::Shaped::new(stream, activity.clone());
    let b = &l.builders;
    let result = match protocol {
        Protocol::Http2 => {
            let mut c = Box::pin(b.http2.serve_connection(TokioIo::new(io), svc));
            let idle = b.timeouts.idle;
            conn::drive(
                c.as_mut(),
                |c| c.graceful_shutdown(),
                &activity,
                idle,
                None,
                stop,
            )
            .await
            .map(drop)
            .map_err(Into::into)
        }
        Protocol::Http1 => {
            // Decided per connection: one made before a reload keeps its setting.
            let http1 = if l.shared.runtime.load().keeps_header_case {
                &b.http1_case
            } else {
                &b.http1
            };
            keepalive::serve_http1(http1, io, svc, &activity, b.timeouts, stop).await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
    crate::heap::released();
}

/// Logs a refused connection, at most once a second with the count since the last line.
fn refused(cap: &'static str) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static REFUSED: AtomicU64 = AtomicU64::new(0);
    static LAST_LOG_S: AtomicU64 = AtomicU64::new(0);
    let n = REFUSED.fetch_add(1, Ordering::Relaxed) + 1;
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = LAST_LOG_S.load(Ordering::Relaxed);
    if now_s > last
        && LAST_LOG_S
            .compare_exchange(last, now_s, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        REFUSED.store(0, Ordering::Relaxed);
        tracing::warn!(
            refused = n,
            cap,
            "refused client connections at a connection cap"
        );
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
