//! Writes the request head and body to the socket as far as it will take them.

use crate::error::{Error, ErrorKind};
use crate::head::Framing;
use crate::BoxError;
use bytes::{Buf, Bytes};
use http_body::Body;
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;

/// Buffers waiting for the socket, in order. Four at most: a head and a body, or a chunk's
/// size line, data and end.
#[derive(Debug, Default)]
struct Queue {
    items: [Bytes; 4],
    start: usize,
    end: usize,
}

impl Queue {
    fn push(&mut self, b: Bytes) {
        if b.is_empty() {
            return;
        }
        debug_assert!(self.end < self.items.len());
        self.items[self.end] = b;
        self.end += 1;
    }

    fn is_empty(&self) -> bool {
        self.start == self.end
    }

    fn advance(&mut self, mut n: usize) {
        while n > 0 && !self.is_empty() {
            let first = &mut self.items[self.start];
            if n < first.len() {
                first.advance(n);
                return;
            }
            n -= first.len();
            self.items[self.start] = Bytes::new();
            self.start += 1;
        }
        if self.is_empty() {
            self.start = 0;
            self.end = 0;
        }
    }
}

/// The request as it is sent.
#[derive(Debug)]
pub(crate) struct Writer<B> {
    queue: Queue,
    body: Option<B>,
    framing: Framing,
    /// Head bytes not yet accepted by the socket.
    head_left: usize,
    /// A frame was taken from the body: it cannot be sent again.
    pub(crate) touched: bool,
}

impl<B> Writer<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    /// `body` is sent after `head` (and after `first`, a body already in memory).
    pub(crate) fn new(head: Bytes, first: Bytes, body: Option<B>, framing: Framing) -> Self {
        let mut queue = Queue::default();
        let head_left = head.len();
        queue.push(head);
        queue.push(first);
        Self {
            queue,
            body,
            framing,
            head_left,
            touched: false,
        }
    }

    pub(crate) fn head_written(&self) -> bool {
        self.head_left == 0
    }

    /// Gives back the body if no frame of it was taken.
    pub(crate) fn into_untouched_body(self) -> Option<B> {
        if self.touched {
            None
        } else {
            self.body
        }
    }

    /// Writes until the whole request is in the socket (`Ready(Ok)`), the socket or the body
    /// must wait (`Pending`), or either fails.
    pub(crate) fn poll_write(
        &mut self,
        stream: &mut TcpStream,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Error>> {
        loop {
            while !self.queue.is_empty() {
                let mut slices = [IoSlice::new(&[]); 4];
                let mut n = 0;
                for b in &self.queue.items[self.queue.start..self.queue.end] {
                    slices[n] = IoSlice::new(b);
                    n += 1;
                }
                let written = ready!(Pin::new(&mut *stream).poll_write_vectored(cx, &slices[..n]))
                    .map_err(|e| Error::with(ErrorKind::Write, e))?;
                if written == 0 {
                    return Poll::Ready(Err(Error::with(
                        ErrorKind::Write,
                        std::io::Error::from(std::io::ErrorKind::WriteZero),
                    )));
                }
                self.head_left = self.head_left.saturating_sub(written);
                self.queue.advance(written);
            }
            let Some(body) = self.body.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            match ready!(Pin::new(body).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    self.touched = true;
                    let Ok(data) = frame.into_data() else {
                        // Trailers are not sent.
                        continue;
                    };
                    if data.is_empty() {
                        continue;
                    }
                    match &mut self.framing {
                        Framing::Length(left) => {
                            let len = data.len() as u64;
                            if len > *left {
                                return Poll::Ready(Err(Error::with(
                                    ErrorKind::RequestBody,
                                    "the request body is longer than its Content-Length",
                                )));
                            }
                            *left -= len;
                            self.queue.push(data);
                        }
                        Framing::Chunked => {
                            self.queue
                                .push(Bytes::from(format!("{:x}\r\n", data.len())));
                            self.queue.push(data);
                            self.queue.push(Bytes::from_static(b"\r\n"));
                        }
                    }
                }
                Some(Err(e)) => {
                    self.touched = true;
                    return Poll::Ready(Err(Error::with(ErrorKind::RequestBody, e)));
                }
                None => {
                    self.body = None;
                    match self.framing {
                        Framing::Length(0) => {}
                        Framing::Length(_) => {
                            return Poll::Ready(Err(Error::with(
                                ErrorKind::RequestBody,
                                "the request body is shorter than its Content-Length",
                            )))
                        }
                        Framing::Chunked => self.queue.push(Bytes::from_static(b"0\r\n\r\n")),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_advances_across_buffers() {
        let mut q = Queue::default();
        q.push(Bytes::from_static(b"abc"));
        q.push(Bytes::new());
        q.push(Bytes::from_static(b"de"));
        q.advance(4);
        assert!(!q.is_empty());
        assert_eq!(&q.items[q.start][..], b"e");
        q.advance(1);
        assert!(q.is_empty());
        assert_eq!((q.start, q.end), (0, 0));
    }
}
