//! The answer's body, read from the backend's socket as it is polled.

use crate::chunked::{Chunked, Decoded};
use crate::error::{Error, ErrorKind};
use crate::head::BodyKind;
use crate::pool::Conn;
use crate::writer::Writer;
use crate::BoxError;
use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// Bytes asked of the socket by the first read of a body; each read that fills its space
/// doubles the next, up to [`MAX_READ_SIZE`], so a large body takes few reads and frames.
const READ_SIZE: usize = 16 * 1024;
const MAX_READ_SIZE: usize = 256 * 1024;

/// An answer body streamed from a pooled connection. Dropping it before its end closes the
/// connection; reading it to its end returns the connection to its pool when it can carry
/// another request.
#[derive(Debug)]
pub struct ResponseBody<B> {
    state: Option<Reading<B>>,
}

#[derive(Debug)]
struct Reading<B> {
    conn: Conn,
    buf: BytesMut,
    framing: Framing,
    keep_alive: bool,
    /// Space offered to the next read.
    read_size: usize,
    /// The rest of the request body, when the backend answered before it was all sent.
    writer: Option<Box<Writer<B>>>,
}

#[derive(Debug)]
enum Framing {
    Length(u64),
    Chunked(Chunked),
    Close,
}

impl<B> ResponseBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    pub(crate) fn new(
        conn: Conn,
        buf: BytesMut,
        kind: BodyKind,
        keep_alive: bool,
        writer: Option<Writer<B>>,
    ) -> Self {
        let framing = match kind {
            BodyKind::Length(n) => Framing::Length(n),
            BodyKind::Chunked => Framing::Chunked(Chunked::Size),
            BodyKind::Close => Framing::Close,
        };
        let mut body = Self {
            state: Some(Reading {
                conn,
                buf,
                framing,
                keep_alive,
                read_size: READ_SIZE,
                writer: writer.map(Box::new),
            }),
        };
        if matches!(kind, BodyKind::Length(0)) {
            body.finish();
        }
        body
    }

    /// An empty body with no connection behind it.
    pub fn empty() -> Self {
        Self { state: None }
    }

    /// The body was read to its end: the connection goes back to its pool if it can be
    /// reused (request fully sent, nothing read past the answer, keep-alive on both sides);
    /// otherwise it is closed, with the rest of an unsent request body.
    fn finish(&mut self) {
        if let Some(st) = self.state.take() {
            if st.keep_alive && st.writer.is_none() && st.buf.is_empty() {
                let backend = st.conn.backend.clone();
                backend.checkin(st.conn);
            }
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        let Some(st) = this.state.as_mut() else {
            return Poll::Ready(None);
        };
        if let Some(w) = st.writer.as_mut() {
            match w.poll_write(&mut st.conn.stream, cx) {
                Poll::Pending => {}
                Poll::Ready(Ok(())) => st.writer = None,
                Poll::Ready(Err(e)) if e.kind() == ErrorKind::RequestBody => {
                    this.state = None;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(Err(_)) => {
                    // The backend stopped reading; its answer may still be complete.
                    st.writer = None;
                    st.keep_alive = false;
                }
            }
        }
        loop {
            let decoded = match &mut st.framing {
                Framing::Length(0) => Decoded::End,
                Framing::Length(left) => {
                    if st.buf.is_empty() {
                        Decoded::More
                    } else {
                        let n = (st.buf.len() as u64).min(*left);
                        *left -= n;
                        let data = st.buf.split_to(n as usize).freeze();
                        if *left == 0 {
                            // A reader that trusts the length stops here without asking
                            // for the end: finish now so the connection is reused.
                            this.finish();
                        }
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
                Framing::Chunked(c) => match c.decode(&mut st.buf) {
                    Ok(d) => d,
                    Err(e) => {
                        this.state = None;
                        return Poll::Ready(Some(Err(e)));
                    }
                },
                Framing::Close => {
                    if st.buf.is_empty() {
                        Decoded::More
                    } else {
                        Decoded::Data(st.buf.split().freeze())
                    }
                }
            };
            match decoded {
                Decoded::Data(d) => return Poll::Ready(Some(Ok(Frame::data(d)))),
                Decoded::Trailers(t) => return Poll::Ready(Some(Ok(Frame::trailers(t)))),
                Decoded::End => {
                    this.finish();
                    return Poll::Ready(None);
                }
                Decoded::More => {
                    if st.buf.capacity() - st.buf.len() < 1024 {
                        st.buf.reserve(st.read_size);
                    }
                    let space = st.buf.capacity() - st.buf.len();
                    let read = read_into(&mut st.conn, &mut st.buf, cx);
                    match ready!(read) {
                        Ok(n) if n == space && st.read_size < MAX_READ_SIZE => {
                            st.read_size *= 2;
                        }
                        Ok(0) => {
                            if matches!(st.framing, Framing::Close) {
                                this.state = None;
                                return Poll::Ready(None);
                            }
                            this.state = None;
                            return Poll::Ready(Some(Err(Error::new(ErrorKind::Truncated))));
                        }
                        Ok(_) => {}
                        Err(e) => {
                            this.state = None;
                            return Poll::Ready(Some(Err(Error::with(ErrorKind::Read, e))));
                        }
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.state.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match &self.state {
            None => SizeHint::with_exact(0),
            Some(Reading {
                framing: Framing::Length(n),
                ..
            }) => SizeHint::with_exact(*n),
            Some(_) => SizeHint::default(),
        }
    }
}

/// Reads what the socket has into the spare capacity of `buf`.
pub(crate) fn read_into(
    conn: &mut Conn,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<std::io::Result<usize>> {
    tokio_util::io::poll_read_buf(Pin::new(&mut conn.stream), cx, buf)
}
