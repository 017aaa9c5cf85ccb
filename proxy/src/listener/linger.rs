//! Lingering close, as nginx's `lingering_close`: when the gateway closes a connection while
//! the client is still sending (a body over the limit answered with 413, a request rejected
//! before its body was read), closing at once makes the kernel reset the connection, and the
//! client may lose the response it has not read yet. A [`Lingering`] stream, when dropped with
//! the peer still open, keeps reading and discarding for a bounded time before closing.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// How long a closing connection may keep draining.
const LINGER_TIME: Duration = Duration::from_secs(2);
/// How much it may drain.
const LINGER_BYTES: usize = 1 << 20;

/// A TCP stream that closes lingeringly when dropped.
#[derive(Debug)]
pub struct Lingering(Option<TcpStream>);

impl Lingering {
    pub fn new(s: TcpStream) -> Self {
        Self(Some(s))
    }

    /// The socket.
    pub fn get_ref(&self) -> &TcpStream {
        // The stream is only taken in `drop`.
        match self.0.as_ref() {
            Some(s) => s,
            None => unreachable!("a Lingering stream is used after drop"),
        }
    }

    fn inner(&mut self) -> Pin<&mut TcpStream> {
        // The stream is only taken in `drop`.
        match self.0.as_mut() {
            Some(s) => Pin::new(s),
            None => unreachable!("a Lingering stream is used after drop"),
        }
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        let Some(stream) = self.0.take() else { return };
        // The common case costs one non-blocking read: the peer already closed (EOF), or
        // nothing is pending.
        let mut buf = [0u8; 4096];
        match stream.try_read(&mut buf) {
            Ok(0) => return,
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => return,
            _ => {}
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        handle.spawn(async move {
            let mut stream = stream;
            // Half-close first so the client sees the end of the response, then drain.
            let _ = tokio::io::AsyncWriteExt::shutdown(&mut stream).await;
            let _ = tokio::time::timeout(LINGER_TIME, async {
                let mut buf = vec![0u8; 16 * 1024];
                let mut total = 0;
                while total < LINGER_BYTES {
                    if stream.readable().await.is_err() {
                        return;
                    }
                    match stream.try_read(&mut buf) {
                        Ok(0) => return,
                        Ok(n) => total += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                        Err(_) => return,
                    }
                }
            })
            .await;
        });
    }
}

impl AsyncRead for Lingering {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.inner().poll_read(cx, buf)
    }
}

impl AsyncWrite for Lingering {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.inner().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.inner().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner().poll_shutdown(cx)
    }
}
