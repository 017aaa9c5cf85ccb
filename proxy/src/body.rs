//! The one body type of the gateway, for requests sent upstream and responses sent down.
//!
//! An enum rather than a boxed trait object: the common cases (a streamed hyper body, a
//! fixed buffer) need no allocation and no dynamic dispatch.

use crate::error::{Rejection, ResponseType};
use crate::metrics::RouteMetrics;
use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request or response body.
#[derive(Debug)]
pub enum Body {
    Empty,
    Full(Option<Bytes>),
    /// Streamed from a backend by hyper's client (TLS, HTTP/2).
    Incoming(FromBackend<Incoming>),
    /// Streamed from a plain-HTTP/1.1 backend's pooled connection.
    Upstream(FromBackend<gatehouse_upstream::ResponseBody<Body>>),
    /// Streamed from a client, bounded in size and in time ([`ClientBody`]).
    Limited(ClientBody),
    /// Written by a `wasi:http/proxy` plugin while its call runs.
    Plugin(FromBackend<gatehouse_plugin_host::HttpBody>),
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

/// A client's request body failed while it streamed: the client's fault, never the
/// backend's, whatever the integration was doing with it.
#[derive(Debug, thiserror::Error)]
pub enum ClientBodyError {
    #[error("the client sent no body bytes for {0:?}")]
    Stalled(Duration),
    #[error("the client's request body is malformed or was cut off: {0}")]
    Broken(BoxError),
}

/// A timer for the longest wait between two frames of a body, made only when the body
/// first keeps its reader waiting and re-armed after each frame.
#[derive(Debug)]
struct IdleTimer {
    idle: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    armed: bool,
}

impl IdleTimer {
    fn new(idle: Duration) -> Self {
        Self {
            idle,
            timer: None,
            armed: false,
        }
    }

    /// The body had nothing: whether it has now waited `idle` since its last frame.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        let idle = self.idle;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
        if !self.armed {
            timer.as_mut().reset(tokio::time::Instant::now() + idle);
            self.armed = true;
        }
        timer.as_mut().poll(cx).is_ready()
    }

    /// The body produced a frame.
    fn progressed(&mut self) {
        self.armed = false;
    }
}

/// A backend's answer body failed after its head was sent on: it stalled past the
/// integration timeout between two reads. (A truncated or reset body is the client's own
/// transport error.)
#[derive(Debug, thiserror::Error)]
#[error("the backend sent no body bytes for {0:?}")]
pub struct BackendStalled(Duration);

/// What is told when a backend's answer body is over: the bytes that reached the client and
/// why the body failed, if it did (`None` for both when the client went away first). The
/// request's access log line waits for it.
pub trait BodyEnd: Send + Sync + std::fmt::Debug {
    fn ended(self: Box<Self>, sent: Option<u64>, failure: Option<String>);
}

/// A backend's answer body as it streams to the client: no wait between two reads may
/// exceed the integration timeout, and a body that fails (stalls, is cut short, or is
/// reset) is counted in its route's `IntegrationError` metric and logged with the request id,
/// since its status has already been sent.
#[derive(Debug)]
pub struct FromBackend<B> {
    body: B,
    idle: IdleTimer,
    report: Option<(Arc<RouteMetrics>, uuid::Uuid)>,
    /// Data bytes passed on so far.
    sent: u64,
    on_end: Option<Box<dyn BodyEnd>>,
}

impl<B> Drop for FromBackend<B> {
    fn drop(&mut self) {
        if let Some(end) = self.on_end.take() {
            end.ended(None, None);
        }
    }
}

impl<B> FromBackend<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    pub fn new(body: B, idle: Duration) -> Self {
        Self {
            body,
            idle: IdleTimer::new(idle),
            report: None,
            sent: 0,
            on_end: None,
        }
    }

    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match Pin::new(&mut self.body).poll_frame(cx) {
            Poll::Pending if self.idle.expired(cx) => {
                let e: BoxError = Box::new(BackendStalled(self.idle.idle));
                self.failed(&*e);
                Poll::Ready(Some(Err(e)))
            }
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(frame))) => {
                self.idle.progressed();
                if let Some(data) = frame.data_ref() {
                    self.sent += data.len() as u64;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                let e: BoxError = e.into();
                // A client body that broke in a full-duplex exchange is not the backend's.
                if in_chain::<ClientBodyError>(&*e).is_none() {
                    self.failed(&*e);
                } else if let Some(end) = self.on_end.take() {
                    end.ended(Some(self.sent), None);
                }
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                if let Some(end) = self.on_end.take() {
                    end.ended(Some(self.sent), None);
                }
                Poll::Ready(None)
            }
        }
    }

    fn failed(&mut self, e: &(dyn std::error::Error + 'static)) {
        if let Some((metrics, request_id)) = self.report.take() {
            metrics.integration_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%request_id, error = %e, "backend answer body failed after its head was sent");
        }
        if let Some(end) = self.on_end.take() {
            end.ended(Some(self.sent), Some(e.to_string()));
        }
    }
}

/// A client's request body: failing with [`BodyTooLarge`] past `remaining` bytes, and with
/// [`ClientBodyError::Stalled`] when no byte arrives for `idle` (`limits.client_body_timeout`).
/// The timer is made only when the client first keeps the gateway waiting. `waiting` is set
/// while the last read found nothing from the client, so an integration that times out can
/// tell a client that is still sending from a backend that stopped reading.
#[derive(Debug)]
pub struct ClientBody {
    inner: RequestBody,
    remaining: u64,
    idle: IdleTimer,
    waiting: Option<Arc<AtomicBool>>,
}

impl ClientBody {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        self.set_waiting(polled.is_pending());
        match polled {
            Poll::Pending if self.idle.expired(cx) => Poll::Ready(Some(Err(Box::new(
                ClientBodyError::Stalled(self.idle.idle),
            )))),
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(frame))) => {
                self.idle.progressed();
                if let Some(data) = frame.data_ref() {
                    let len = data.len() as u64;
                    if len > self.remaining {
                        return Poll::Ready(Some(Err(Box::new(BodyTooLarge))));
                    }
                    self.remaining -= len;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                Poll::Ready(Some(Err(Box::new(ClientBodyError::Broken(e)))))
            }
            Poll::Ready(None) => Poll::Ready(None),
        }
    }

    fn set_waiting(&self, waiting: bool) {
        if let Some(w) = &self.waiting {
            w.store(waiting, Ordering::Relaxed);
        }
    }
}

impl Body {
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let b = bytes.into();
        if b.is_empty() {
            Body::Empty
        } else {
            Body::Full(Some(b))
        }
    }

    /// A client's body, bounded to `limit` bytes and `idle` between bytes. When it has not
    /// ended yet, also the flag that says the gateway is waiting for the client's next bytes.
    pub fn limited(
        inner: RequestBody,
        limit: u64,
        idle: Duration,
    ) -> (Self, Option<Arc<AtomicBool>>) {
        let waiting = (!inner.is_end_stream()).then(|| Arc::new(AtomicBool::new(false)));
        let body = Body::Limited(ClientBody {
            inner,
            remaining: limit,
            idle: IdleTimer::new(idle),
            waiting: waiting.clone(),
        });
        (body, waiting)
    }
}

impl Body {
    /// Whether this body streams from a backend, so that its end is reported.
    pub fn from_backend(&self) -> bool {
        matches!(self, Body::Incoming(_) | Body::Upstream(_))
    }

    /// For a body streamed from a backend: where to report its failure, and what to tell
    /// when it is over. `on_end` is dropped unused for any other body.
    pub fn report_failures_to(
        &mut self,
        metrics: &Arc<RouteMetrics>,
        request_id: uuid::Uuid,
        on_end: Option<Box<dyn BodyEnd>>,
    ) {
        let report = Some((metrics.clone(), request_id));
        match self {
            Body::Incoming(b) => (b.report, b.on_end) = (report, on_end),
            Body::Upstream(b) => (b.report, b.on_end) = (report, on_end),
            _ => {}
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
            Body::Incoming(b) => b.poll_frame(cx),
            Body::Upstream(b) => b.poll_frame(cx),
            Body::Plugin(b) => b.poll_frame(cx),
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
            Body::Limited(inner) => inner.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Empty => true,
            Body::Full(b) => b.is_none(),
            Body::Incoming(b) => b.body.is_end_stream(),
            Body::Upstream(b) => b.body.is_end_stream(),
            Body::Plugin(b) => b.body.is_end_stream(),
            Body::Limited(b) => b.inner.is_end_stream(),
            Body::Chain(pair) => pair.0.is_end_stream() && pair.1.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Empty => SizeHint::with_exact(0),
            Body::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Incoming(b) => b.body.size_hint(),
            Body::Upstream(b) => b.body.size_hint(),
            Body::Plugin(b) => b.body.size_hint(),
            Body::Limited(b) => b.inner.size_hint(),
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
    in_chain::<BodyTooLarge>(err).is_some()
}

/// The first error of type `E` in `err`'s source chain.
fn in_chain<'a, E: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a E> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        cur = e.source();
    }
    None
}

/// The rejection for a request body the client broke, whatever was reading it: 413 past the
/// limit, 408 when the client stalled, 400 when its framing was bad or it was cut off.
pub fn client_body_rejection(err: &(dyn std::error::Error + 'static)) -> Option<Rejection> {
    if is_body_too_large(err) {
        return Some(Rejection::new(
            ResponseType::RequestTooLarge,
            "request body over the limit",
        ));
    }
    match in_chain::<ClientBodyError>(err)? {
        e @ ClientBodyError::Stalled(_) => Some(client_timeout(e.to_string())),
        e @ ClientBodyError::Broken(_) => {
            Some(Rejection::new(ResponseType::BadRequestBody, e.to_string()))
        }
    }
}

/// 408: the client did not send its request body in time. API Gateway has no gateway
/// response of its own for this; it is a `DEFAULT_4XX` with RFC 9110's status.
pub fn client_timeout(reason: String) -> Rejection {
    Rejection::new(ResponseType::Default4xx, reason)
        .with_status(http::StatusCode::REQUEST_TIMEOUT)
        .with_message("Request Timeout")
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

/// Buffers a request body; over the limit is 413, a stalled client 408, a broken one 400.
pub async fn read_body(body: Body) -> Result<bytes::Bytes, Rejection> {
    use http_body_util::BodyExt;
    match body.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => Err(client_body_rejection(&*e).unwrap_or_else(|| {
            Rejection::new(
                ResponseType::BadRequestBody,
                format!("reading the request body failed: {e}"),
            )
        })),
    }
}
