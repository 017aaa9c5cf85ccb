//! One request and its answer's head over a pooled connection, sent again once when a kept
//! connection turns out closed.

use crate::body::{read_into, ResponseBody};
use crate::error::{Error, ErrorKind};
use crate::head::{encode_request, parse_response, Framing};
use crate::pool::{Backend, Conn};
use crate::writer::Writer;
use crate::BoxError;
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, Response};
use http_body::Body;
use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;

/// First read buffer of an exchange.
const HEAD_BUF: usize = 8 * 1024;

/// A request body: in memory (it can be sent again) or a stream (sent once).
#[derive(Debug)]
pub enum SendBody<B> {
    Bytes(Bytes),
    Stream(B),
}

/// How an attempt failed, and whether it may be made again.
struct Failed<B> {
    error: Error,
    /// Nothing of the request reached the backend's application: the head was not fully
    /// written, or the backend closed without a byte of answer.
    not_processed: bool,
    /// The head was not fully written: even a non-idempotent request can go again.
    head_unsent: bool,
    body: Option<SendBody<B>>,
}

impl Backend {
    /// Sends a request and returns the answer once its head is read; the body streams from
    /// the same connection. `target` is the request target (`/path?query`); `headers` must
    /// already be free of hop-by-hop fields. `Host` is this backend's authority.
    pub async fn send<B>(
        self: &Arc<Self>,
        method: &Method,
        target: &str,
        headers: &HeaderMap,
        body: SendBody<B>,
    ) -> Result<Response<ResponseBody<B>>, Error>
    where
        B: Body<Data = Bytes> + Unpin,
        B::Error: Into<BoxError>,
    {
        let mut body = match body {
            SendBody::Stream(b) if b.is_end_stream() => SendBody::Bytes(Bytes::new()),
            other => other,
        };
        let framing = match &body {
            SendBody::Bytes(b) => Framing::Length(b.len() as u64),
            SendBody::Stream(s) => match s.size_hint().exact() {
                Some(n) => Framing::Length(n),
                None => Framing::Chunked,
            },
        };
        let head = encode_request(method, target, &self.host_header, headers, framing);
        // The write waits one turn of the worker's scheduler (see the crate's documentation).
        tokio::task::yield_now().await;
        let mut retried = false;
        loop {
            let conn = match (retried, self.checkout()) {
                (false, Some(conn)) => conn,
                _ => self.connect().await?,
            };
            let reused = conn.reused;
            match attempt(conn, method, head.clone(), body, framing).await {
                Ok(resp) => return Ok(resp),
                Err(f) => {
                    let again = reused
                        && !retried
                        && f.not_processed
                        && (f.head_unsent || is_idempotent(method));
                    match (again, f.body) {
                        (true, Some(b)) => {
                            tracing::debug!(
                                backend = %self.host_header,
                                error = %f.error,
                                "a kept-alive backend connection was closed; sending again on a new one"
                            );
                            retried = true;
                            body = b;
                        }
                        _ => return Err(f.error),
                    }
                }
            }
        }
    }
}

/// RFC 9110 section 9.2.2.
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}

async fn attempt<B>(
    mut conn: Conn,
    method: &Method,
    head: Bytes,
    body: SendBody<B>,
    framing: Framing,
) -> Result<Response<ResponseBody<B>>, Failed<B>>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    let (kept, mut writer) = match body {
        SendBody::Bytes(b) => (Some(b.clone()), Writer::new(head, b, None, framing)),
        SendBody::Stream(s) => (None, Writer::new(head, Bytes::new(), Some(s), framing)),
    };
    let mut buf = BytesMut::with_capacity(HEAD_BUF);
    let mut sent = false;
    let mut write_error: Option<Error> = None;
    let outcome = poll_fn(|cx| {
        if !sent && write_error.is_none() {
            match writer.poll_write(&mut conn.stream, cx) {
                Poll::Ready(Ok(())) => sent = true,
                Poll::Ready(Err(e)) if e.kind() == ErrorKind::RequestBody => {
                    return Poll::Ready(Err(e));
                }
                // The backend may have answered and stopped reading: look for the answer.
                Poll::Ready(Err(e)) => write_error = Some(e),
                Poll::Pending => {}
            }
        }
        loop {
            match parse_response(&mut buf, method) {
                Ok(Some(head)) => return Poll::Ready(Ok(head)),
                Ok(None) => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            if buf.capacity() - buf.len() < 1024 {
                buf.reserve(HEAD_BUF);
            }
            match read_into(&mut conn, &mut buf, cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(write_error
                        .take()
                        .unwrap_or_else(|| Error::new(ErrorKind::Closed))))
                }
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => {
                    return Poll::Ready(Err(write_error
                        .take()
                        .unwrap_or_else(|| Error::with(ErrorKind::Read, e))))
                }
            }
        }
    })
    .await;
    match outcome {
        Ok(head) => {
            let rest = if sent || write_error.is_some() {
                None
            } else {
                Some(writer)
            };
            let keep_alive = head.keep_alive && write_error.is_none();
            let body = ResponseBody::new(conn, buf, head.body, keep_alive, rest);
            Ok(Response::from_parts(head.parts, body))
        }
        Err(error) => {
            let answered = !buf.is_empty();
            let head_unsent = !writer.head_written();
            let body = match kept {
                Some(b) => Some(SendBody::Bytes(b)),
                None => writer.into_untouched_body().map(SendBody::Stream),
            };
            Err(Failed {
                not_processed: !answered
                    && matches!(
                        error.kind(),
                        ErrorKind::Closed | ErrorKind::Read | ErrorKind::Write
                    ),
                head_unsent,
                error,
                body,
            })
        }
    }
}
