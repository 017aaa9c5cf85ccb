//! API Gateway's shape on the HTTP/1.1 library's own answers. When hyper cannot parse a
//! request head it answers by itself, before any service runs, with a bare head (`400`,
//! `431` or `414`, `content-length: 0`, `date`) and closes. [`Shaped`] sits between hyper and
//! the client connection, recognises that head in what hyper writes, and writes the gateway's
//! own response in its place: the same status (`414` when the request line was what did not
//! fit), `x-amzn-ErrorType`, a request id and `{"message": ...}`.
//!
//! Every response that leaves the pipeline carries the request id header, so no pipeline
//! response (a backend's 4xx included) is ever taken for one of hyper's.

use super::conn::Activity;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A client connection whose parse-error answers get the gateway's shape.
#[derive(Debug)]
pub struct Shaped<T> {
    io: T,
    /// The connection's requests in flight: while one is, what is read is its body, not a
    /// head, and is not looked at.
    activity: Arc<Activity>,
    /// The replacement being written, and how much of it is written.
    pending: Option<(Vec<u8>, usize)>,
    /// Whether a line ended since the last end of a request head was read: if not, the
    /// request line itself is what went over the limit.
    line_ended: bool,
    /// The last bytes read, to find `\r\n\r\n` across reads.
    tail: u32,
}

impl<T> Shaped<T> {
    pub fn new(io: T, activity: Arc<Activity>) -> Self {
        Self {
            io,
            activity,
            pending: None,
            line_ended: false,
            tail: 0,
        }
    }

    /// The connection underneath.
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    fn saw(&mut self, bytes: &[u8]) {
        if self.activity.busy() {
            // A head was read in full; its body is not a head.
            self.line_ended = false;
            self.tail = 0;
            return;
        }
        for &b in bytes {
            self.tail = (self.tail << 8) | u32::from(b);
            if self.tail == u32::from_be_bytes(*b"\r\n\r\n") {
                self.line_ended = false;
            } else if b == b'\n' {
                self.line_ended = true;
            }
        }
    }
}

/// The status of hyper's own parse-error answer, when `buf` is exactly one.
fn library_answer(buf: &[u8]) -> Option<u16> {
    if !buf.starts_with(b"HTTP/1.1 4") && !buf.starts_with(b"HTTP/1.0 4") {
        return None;
    }
    let mut headers = [httparse::EMPTY_HEADER; 4];
    let mut head = httparse::Response::new(&mut headers);
    match head.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n == buf.len() => {}
        _ => return None,
    }
    let bare = head.headers.iter().all(|h| {
        h.name.eq_ignore_ascii_case("date")
            || h.name.eq_ignore_ascii_case("connection")
            || (h.name.eq_ignore_ascii_case("content-length") && h.value == b"0")
    });
    bare.then_some(head.code?)
}

/// The gateway's response for a head hyper could not parse.
fn replacement(status: u16, request_line_too_long: bool) -> Vec<u8> {
    let (status, reason, message) = match status {
        431 if request_line_too_long => (414, "URI Too Long", "Request-URI Too Long"),
        414 => (414, "URI Too Long", "Request-URI Too Long"),
        431 => (
            431,
            "Request Header Fields Too Large",
            "Request Header Fields Too Large",
        ),
        _ => (400, "Bad Request", "Bad Request"),
    };
    let body = format!("{{\"message\":\"{message}\"}}");
    let id = uuid::Uuid::new_v4();
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n\
         x-amzn-errortype: BadRequestException\r\nx-amzn-requestid: {id}\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl<T: AsyncRead + Unpin> AsyncRead for Shaped<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.saw(&buf.filled()[before..]);
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> Shaped<T> {
    /// Writes the rest of the replacement; ready when all of it is written.
    fn write_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, done)) = self.pending.as_mut() {
            if *done == bytes.len() {
                self.pending = None;
                break;
            }
            match Pin::new(&mut self.io).poll_write(cx, &bytes[*done..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *done += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Shaped<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.is_none() {
            let Some(status) = library_answer(buf) else {
                return Pin::new(&mut this.io).poll_write(cx, buf);
            };
            // A head that ended (too many fields) is not a request line that never did.
            let head_ended = this.tail == u32::from_be_bytes(*b"\r\n\r\n");
            let request_line_too_long = !this.line_ended && !head_ended;
            this.pending = Some((replacement(status, request_line_too_long), 0));
        }
        // hyper writes the same bytes again until told they are written.
        match this.write_pending(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(buf.len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut non_empty = bufs.iter().filter(|b| !b.is_empty());
        match (non_empty.next(), non_empty.next()) {
            (Some(only), None) => self.poll_write(cx, only),
            _ => Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.write_pending(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.io).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.write_pending(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.io).poll_shutdown(cx),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_bare_answers_are_recognised() {
        let bare = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: Wed, 02 Dec 2026 10:00:00 GMT\r\n\r\n";
        assert_eq!(library_answer(bare), Some(400));
        let big =
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert_eq!(library_answer(big), Some(431));
        // A pipeline answer carries more headers; a body or a 2xx is never one.
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nx-amzn-requestid: 1\r\n\r\n";
        assert_eq!(library_answer(ours), None);
        let with_body = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(library_answer(with_body), None);
        assert_eq!(
            library_answer(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"),
            None
        );
    }

    #[test]
    fn a_request_line_that_never_ended_is_414() {
        let mut s = Shaped::new((), Activity::new());
        s.saw(b"GET /aaaaaaaa");
        assert!(!s.line_ended);
        s.saw(b"aaa HTTP/1.1\r\nHost: x\r\n");
        assert!(s.line_ended);
        s.saw(b"\r\n");
        assert!(!s.line_ended, "a head ended: the next request starts over");
        let text = String::from_utf8(replacement(431, true)).unwrap();
        assert!(text.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{text}");
        assert!(
            text.ends_with("{\"message\":\"Request-URI Too Long\"}"),
            "{text}"
        );
    }
}
