//! WebSocket (and other upgrade) pass-through: once the backend answered `101`, the client's
//! and the backend's connections are spliced until either side closes, the gateway stops, or
//! no byte has crossed either way for the hub's `tunnel_idle` (`limits.tunnel_idle_timeout`).

use crate::body::Body;
use crate::ctx::monotonic_ms;
use crate::integration::Outbound;
use http::Response;
use hyper_util::rt::TokioIo;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes each direction of a tunnel buffers: a tunnel holds two for its whole life, idle or
/// not, and WebSocket messages are mostly small (tokio's default is 8 KiB each).
const TUNNEL_BUFFER: usize = 4096;

/// Answers the client with the backend's `101` and splices the two upgraded connections.
pub fn tunnel(
    shared: &dyn Outbound,
    client_side: hyper::upgrade::OnUpgrade,
    mut resp: Response<hyper::body::Incoming>,
) -> Response<Body> {
    let backend_side = hyper::upgrade::on(&mut resp);
    let hub = shared.websockets();
    let mut stop = hub.stop_signal();
    let idle = hub.tunnel_idle;
    hub.spawn(async move {
        let (client, backend) = match tokio::try_join!(client_side, backend_side) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!(error = %e, "upgrade pass-through failed");
                return;
            }
        };
        let last = Arc::new(AtomicU64::new(monotonic_ms()));
        let mut client = Stamped::new(TokioIo::new(client), &last);
        let mut backend = Stamped::new(TokioIo::new(backend), &last);
        tokio::select! {
            r = tokio::io::copy_bidirectional_with_sizes(&mut client, &mut backend, TUNNEL_BUFFER, TUNNEL_BUFFER) => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "upgrade pass-through ended with an error");
                }
            }
            () = quiet_for(&last, idle) => {
                tracing::debug!(?idle, "closed an idle upgrade pass-through");
            }
            _ = stop.wait_for(|s| *s) => {}
        }
    });
    let (parts, _) = resp.into_parts();
    Response::from_parts(parts, Body::full(bytes::Bytes::new()))
}

/// Resolves once `last` is `idle` old.
async fn quiet_for(last: &AtomicU64, idle: Duration) {
    loop {
        let quiet =
            Duration::from_millis(monotonic_ms().saturating_sub(last.load(Ordering::Relaxed)));
        if quiet >= idle {
            return;
        }
        tokio::time::sleep(idle - quiet).await;
    }
}

/// An upgraded connection that stamps `last` whenever it reads a byte.
struct Stamped<T> {
    io: T,
    last: Arc<AtomicU64>,
}

impl<T> Stamped<T> {
    fn new(io: T, last: &Arc<AtomicU64>) -> Self {
        Self {
            io,
            last: last.clone(),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Stamped<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.last.store(monotonic_ms(), Ordering::Relaxed);
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Stamped<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
