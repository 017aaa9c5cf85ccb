//! Idle HTTP/1.1 keep-alive connections wait outside hyper. A hyper connection keeps its read
//! and write buffers, its request slot and its header-read timer for as long as it lives, and
//! starts that timer as soon as the last response is written, so an idle connection both
//! costs kilobytes and is closed at `limits.header_read_timeout`. [`serve_http1`] asks a
//! connection quiet for [`RELEASE_AFTER`] to finish without closing its socket
//! ([`conn::drive`]'s `release`), takes the socket and any bytes hyper read ahead back
//! ([`Reusable`]), waits for the socket to become readable under `limits.idle_timeout`, and
//! serves it with a new hyper connection. Busy connections are never released; upgrades
//! (WebSocket, pass-through) leave with hyper's `OnUpgrade` as before.

use super::conn::{self, Activity, Ended, CLOSE_GRACE};
use super::linger::Lingering;
use super::shape::Shaped;
use bytes::{Buf, Bytes};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// How long an HTTP/1.1 connection must have had nothing in flight before hyper lets go of it
/// (at most half the header-read timeout, so that hyper's timer never closes it).
pub const RELEASE_AFTER: Duration = Duration::from_secs(1);

/// A client connection whose socket can be waited on for readability.
pub trait Socket {
    fn tcp(&self) -> &TcpStream;
}

impl Socket for Lingering {
    fn tcp(&self) -> &TcpStream {
        self.get_ref()
    }
}

impl Socket for tokio_rustls::server::TlsStream<Lingering> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0.get_ref()
    }
}

impl<T: Socket> Socket for Shaped<T> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().tcp()
    }
}

/// The client connection as hyper sees it across releases: the bytes hyper had read ahead are
/// read again first, and while the connection is being released hyper's shutdown leaves the
/// socket open.
#[derive(Debug)]
pub struct Reusable<T> {
    io: T,
    prefix: Bytes,
    activity: Arc<Activity>,
}

impl<T> Reusable<T> {
    pub fn new(io: T, activity: Arc<Activity>) -> Self {
        Self {
            io,
            prefix: Bytes::new(),
            activity,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Reusable<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.prefix.has_remaining() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.advance(n);
            if this.prefix.is_empty() {
                // Let go of the buffer the bytes came from.
                this.prefix = Bytes::new();
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Reusable<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.activity.releasing() {
            // hyper is done with the connection, the client is not.
            return Pin::new(&mut this.io).poll_flush(cx);
        }
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

/// The timeouts of an HTTP/1.1 connection.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// `limits.idle_timeout`.
    pub idle: Duration,
    /// When a quiet connection is released: [`RELEASE_AFTER`], or half the header-read
    /// timeout when that is shorter.
    pub release: Duration,
}

impl Timeouts {
    pub fn new(idle: Duration, header_read: Duration) -> Self {
        Self {
            idle,
            release: RELEASE_AFTER.min(header_read / 2),
        }
    }
}

/// Serves HTTP/1.1 (with upgrades) on `io` until the client closes, the connection has been
/// idle for `timeouts.idle`, it is upgraded, or the gateway stops.
pub async fn serve_http1<T, S, B>(
    builder: &http1::Builder,
    io: T,
    mut svc: S,
    activity: &Arc<Activity>,
    timeouts: Timeouts,
    mut stop: watch::Receiver<bool>,
) -> Result<(), crate::body::BoxError>
where
    T: Socket + AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<http::Request<hyper::body::Incoming>, Response = http::Response<B>>
        + Unpin
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<crate::body::BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<crate::body::BoxError>,
{
    let mut io = Reusable::new(io, activity.clone());
    let mut first = true;
    loop {
        if !first
            && io.prefix.is_empty()
            && !parked(&mut io, activity, timeouts.idle, &mut stop).await
        {
            return Ok(());
        }
        first = false;
        // Bytes read ahead are the start of a request: hyper's header-read timer runs on them
        // from here, never restarted by another release.
        let release = io.prefix.is_empty().then_some(timeouts.release);
        let mut c = Box::pin(
            builder
                .serve_connection(TokioIo::new(io), svc)
                .with_upgrades(),
        );
        let ended = conn::drive(
            c.as_mut(),
            |c| c.graceful_shutdown(),
            activity,
            timeouts.idle,
            release,
            stop.clone(),
        )
        .await?;
        if ended == Ended::Closed {
            return Ok(());
        }
        activity.set_releasing(false);
        // `None`: the connection was upgraded, and the upgrade owns the socket now.
        let Some(parts) = Pin::into_inner(c).into_parts() else {
            return Ok(());
        };
        io = parts.io.into_inner();
        crate::heap::released();
        if !parts.read_buf.is_empty() {
            // A copy, so the buffer hyper read into is freed now.
            io.prefix = Bytes::copy_from_slice(&parts.read_buf);
        }
        svc = parts.service;
    }
}

/// Waits for a released connection to become readable; `false` (after closing it) when it
/// stayed idle for `idle` or the gateway stops first.
async fn parked<T: Socket + AsyncWrite + Unpin>(
    io: &mut Reusable<T>,
    activity: &Activity,
    idle: Duration,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let left = idle.saturating_sub(activity.idle_for());
    let readable = tokio::select! {
        r = io.io.tcp().readable() => r.is_ok(),
        () = tokio::time::sleep(left) => {
            tracing::debug!(?idle, "closing an idle connection");
            false
        }
        _ = stop.wait_for(|s| *s) => false,
    };
    if !readable {
        // A TLS connection says close_notify; either way the client sees the close.
        let _ = tokio::time::timeout(CLOSE_GRACE, io.shutdown()).await;
    }
    readable
}
