//! TCP listeners: plain or TLS (ALPN h2 / http/1.1), HTTP/1.1 and HTTP/2 (h2c by prior
//! knowledge on plain TCP) served by hyper. Nothing below knows which protocol carried a
//! request. Each connection task holds a clone of a `mpsc::Sender` guard, so shutdown can wait
//! for the last one to end; on the stop signal a connection finishes its request in flight
//! and closes (HTTP/2 sends GOAWAY). HTTP/3 is in [`h3`]; a listener with it advertises it on
//! its TCP responses with `Alt-Svc`.

pub mod h3;
pub mod linger;

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

/// Binds a listener; the address is logged once bound (port 0 picks a free port).
pub async fn bind(l: &ListenerSettings) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(l.address).await?;
    let local = listener.local_addr()?;
    tracing::info!(
        "listening listener={} address={} tls={}",
        l.name,
        local,
        l.tls.is_some()
    );
    Ok(listener)
}

/// The hyper connection builder for a listener's protocols and limits.
pub fn builder(l: &ListenerSettings, s: &ServerSettings) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
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
    builder: Arc<auto::Builder<TokioExecutor>>,
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
        let stream = linger::Lingering::new(stream);
        let shared = shared.clone();
        let builder = builder.clone();
        let tls = tls.clone();
        let alt_svc = alt_svc.clone();
        let in_flight = in_flight.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let _in_flight = in_flight;
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
                    let c = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
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
