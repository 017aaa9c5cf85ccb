//! The one body type of the gateway, for requests sent upstream and responses sent down.
//!
//! An enum rather than a boxed trait object: the common cases (a streamed hyper body, a
//! fixed buffer) need no allocation and no dynamic dispatch.

use crate::error::{Rejection, ResponseType};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use std::pin::Pin;
use std::task::{Context, Poll};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request or response body.
#[derive(Debug)]
pub enum Body {
    Empty,
    Full(Option<Bytes>),
    /// Streamed from a client or a backend, as received.
    Incoming(Incoming),
    /// Streamed from a plain-HTTP/1.1 backend's pooled connection.
    Upstream(gatehouse_upstream::ResponseBody<Body>),
    /// Streamed from a client, failing with [`BodyTooLarge`] past `remaining` bytes.
    Limited {
        inner: RequestBody,
        remaining: u64,
    },
    /// One body, then another (a buffered prefix and the rest of a stream).
    Chain(Box<(Body, Body)>),
}

/// A request body as a listener received it: from hyper (HTTP/1.1, HTTP/2) or from an
/// HTTP/3 request stream. The pipeline does not care which.
#[derive(Debug)]
pub enum RequestBody {
    Hyper(Incoming),
    H3(RecvBody),
}

impl From<Incoming> for RequestBody {
    fn from(b: Incoming) -> Self {
        RequestBody::Hyper(b)
    }
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            RequestBody::Hyper(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
            RequestBody::H3(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Hyper(b) => b.is_end_stream(),
            RequestBody::H3(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Hyper(b) => b.size_hint(),
            RequestBody::H3(b) => b.size_hint(),
        }
    }
}

/// A request body went past the configured limit while streaming.
#[derive(Debug, thiserror::Error)]
#[error("request body exceeds the configured limit")]
pub struct BodyTooLarge;

impl Body {
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let b = bytes.into();
        if b.is_empty() {
            Body::Empty
        } else {
            Body::Full(Some(b))
        }
    }

    pub fn limited(inner: RequestBody, limit: u64) -> Self {
        Body::Limited {
            inner,
            remaining: limit,
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Body::Empty => Poll::Ready(None),
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Incoming(inner) => Pin::new(inner).poll_frame(cx).map_err(Into::into),
            Body::Upstream(inner) => Pin::new(inner).poll_frame(cx).map_err(Into::into),
            Body::Chain(pair) => {
                let (first, second) = &mut **pair;
                if !first.is_end_stream() {
                    match Pin::new(&mut *first).poll_frame(cx) {
                        Poll::Ready(None) => {}
                        other => return other,
                    }
                }
                Pin::new(second).poll_frame(cx)
            }
            Body::Limited { inner, remaining } => match Pin::new(inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        let len = data.len() as u64;
                        if len > *remaining {
                            return Poll::Ready(Some(Err(Box::new(BodyTooLarge))));
                        }
                        *remaining -= len;
                    }
                    Poll::Ready(Some(Ok(frame)))
                }
                other => other.map_err(Into::into),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Empty => true,
            Body::Full(b) => b.is_none(),
            Body::Incoming(inner) => inner.is_end_stream(),
            Body::Upstream(inner) => inner.is_end_stream(),
            Body::Limited { inner, .. } => inner.is_end_stream(),
            Body::Chain(pair) => pair.0.is_end_stream() && pair.1.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Empty => SizeHint::with_exact(0),
            Body::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Incoming(inner) => inner.size_hint(),
            Body::Upstream(inner) => inner.size_hint(),
            Body::Limited { inner, .. } => inner.size_hint(),
            Body::Chain(pair) => {
                let (a, b) = (pair.0.size_hint(), pair.1.size_hint());
                let mut h = SizeHint::new();
                h.set_lower(a.lower() + b.lower());
                if let (Some(x), Some(y)) = (a.upper(), b.upper()) {
                    h.set_upper(x + y);
                }
                h
            }
        }
    }
}

/// Whether `err` or anything in its source chain is a [`BodyTooLarge`].
pub fn is_body_too_large(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if e.is::<BodyTooLarge>() {
            return true;
        }
        cur = e.source();
    }
    false
}

/// The receiving half of an HTTP/3 request stream, as an [`http_body::Body`].
pub struct RecvBody {
    stream: Box<dyn RecvData>,
    done: bool,
}

impl std::fmt::Debug for RecvBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBody")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// Object-safe view of `RequestStream<R, Bytes>::poll_recv_data`, so that [`RecvBody`] (and
/// with it the gateway's body type) needs no type parameter for the QUIC stream; the HTTP/3
/// listener implements it for its request streams.
pub trait RecvData: Send {
    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, BoxError>>;
}

impl RecvBody {
    pub fn new(stream: Box<dyn RecvData>) -> RecvBody {
        RecvBody {
            stream,
            done: false,
        }
    }
}

impl http_body::Body for RecvBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match this.stream.poll_data(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(Some(data))) => Poll::Ready(Some(Ok(Frame::data(data)))),
            Poll::Ready(Ok(None)) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Err(e)) => {
                this.done = true;
                Poll::Ready(Some(Err(e)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// Buffers a request body; over the limit is 413, a broken client stream 400.
pub async fn read_body(body: Body) -> Result<bytes::Bytes, Rejection> {
    use http_body_util::BodyExt;
    match body.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if is_body_too_large(&*e) => Err(Rejection::new(
            ResponseType::RequestTooLarge,
            "request body over the limit",
        )),
        Err(e) => Err(Rejection::new(
            ResponseType::BadRequestBody,
            format!("reading the request body failed: {e}"),
        )),
    }
}
