//! Traces: OpenTelemetry spans of each sampled request, exported over OTLP/HTTP.
//!
//! Off unless the config has a `tracing:` section; then the [`Tracer`] decides per request
//! whether to record it: a request whose W3C `traceparent` is valid follows its caller's
//! sampled flag, any other one is sampled at the configured ratio. A recorded request carries
//! a [`RequestTrace`] in its context: a server span and, under it, one span per stage
//! (route, authorize, cache, mappers, integration), each a start and end time on the
//! request's own clock. When the request ends the trace goes into a bounded queue, which a
//! background task drains, batches and posts to the collector (`export`: in OTLP's binary
//! encoding, `protobuf`, or its JSON one); a full queue drops the trace and counts it. A
//! request that is not recorded holds `None` and every span call on it is one branch. A
//! WebSocket message or `$disconnect` is traced as its own request (`event`).

mod event;
mod export;
mod protobuf;
mod w3c;

pub use event::{EventSpan, Propagation, SpanContext};

use gatehouse_config::raw::RawTracing;
use gatehouse_config::{duration, Errors};
use http::{HeaderMap, HeaderName, HeaderValue};
use std::borrow::Cow;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// The compiled `tracing:` section.
#[derive(Debug, Clone, PartialEq)]
pub struct TracingSettings {
    /// Where spans are posted (`http://host:port/v1/traces`).
    pub endpoint: http::Uri,
    /// Share of requests without a caller's decision that are recorded, 0 to 1.
    pub sample: f64,
    pub service_name: String,
    /// How often the queued traces are posted (sooner when a batch is full).
    pub export_interval: Duration,
    /// Finished traces waiting for export; more are dropped.
    pub queue: usize,
    /// How the posts are encoded.
    pub protocol: Protocol,
}

/// OTLP/HTTP's two encodings of a post (`protocol:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `http/protobuf`, the default (as OTLP exporters default to): binary protobuf.
    Protobuf,
    /// `http/json`: protobuf's JSON mapping.
    Json,
}

/// Compiles the `tracing:` section, recording errors at their paths.
pub fn compile(raw: &RawTracing, e: &mut Errors) -> Option<TracingSettings> {
    let endpoint = match raw.otlp_endpoint.parse::<http::Uri>() {
        Ok(u) if u.scheme_str() == Some("http") && u.authority().is_some() => Some(u),
        _ => {
            e.push_at(
                "otlp_endpoint",
                format!(
                    "expected an http:// URL such as http://127.0.0.1:4318/v1/traces, found `{}`",
                    raw.otlp_endpoint
                ),
            );
            None
        }
    };
    let sample = raw.sample.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&sample) {
        e.push_at("sample", format!("expected 0 to 1, found {sample}"));
    }
    let export_interval = duration(
        e,
        "export_interval",
        raw.export_interval.as_deref(),
        1_000,
        10,
        60_000,
    );
    let queue = raw.queue.unwrap_or(4096);
    if !(1..=1_000_000).contains(&queue) {
        e.push_at(
            "queue",
            format!("expected 1..=1000000 traces, found {queue}"),
        );
    }
    let protocol = match raw.protocol.as_deref() {
        None | Some("http/protobuf") => Protocol::Protobuf,
        Some("http/json") => Protocol::Json,
        Some(other) => {
            e.push_at(
                "protocol",
                format!("expected http/protobuf or http/json, found `{other}`"),
            );
            Protocol::Protobuf
        }
    };
    Some(TracingSettings {
        endpoint: endpoint?,
        sample,
        service_name: raw
            .service_name
            .clone()
            .unwrap_or_else(|| "gatehouse".into()),
        export_interval,
        queue: queue as usize,
        protocol,
    })
}

/// Decides which requests are recorded and hands finished traces to the exporter.
#[derive(Debug)]
pub struct Tracer {
    /// Requests without a caller's decision are recorded when a random draw is below it.
    threshold: u64,
    always: bool,
    queue: tokio::sync::mpsc::Sender<Box<Trace>>,
    /// Queued traces at which the exporter is woken before its interval ends.
    batch_at: usize,
    batch_ready: tokio::sync::Notify,
    pub(crate) dropped: AtomicU64,
    pub(crate) exported: AtomicU64,
}

impl Tracer {
    /// Starts the exporter task on the current runtime.
    pub fn start(settings: &TracingSettings) -> std::sync::Arc<Tracer> {
        let (tx, rx) = tokio::sync::mpsc::channel(settings.queue);
        let tracer = std::sync::Arc::new(Tracer {
            threshold: (settings.sample * u64::MAX as f64) as u64,
            always: settings.sample >= 1.0,
            queue: tx,
            batch_at: export::MAX_BATCH.min(settings.queue / 2).max(1),
            batch_ready: tokio::sync::Notify::new(),
            dropped: AtomicU64::new(0),
            exported: AtomicU64::new(0),
        });
        tokio::spawn(export::run(settings.clone(), rx, tracer.clone()));
        tracer
    }

    /// The trace of a request with `headers`, when it is to be recorded.
    pub fn begin(&self, headers: &HeaderMap) -> RequestTrace {
        let caller = headers
            .get(&TRACEPARENT)
            .and_then(|v| w3c::parse(v.as_bytes()));
        let (trace_id, remote_parent) = match caller {
            Some(p) if !p.sampled => return RequestTrace(None),
            Some(p) => (p.trace_id, Some(p.parent_id)),
            None if self.always || random() < self.threshold => {
                (u128::from(random()) << 64 | u128::from(random()), None)
            }
            None => return RequestTrace(None),
        };
        let tracestate = match remote_parent {
            Some(_) => headers.get(&TRACESTATE).cloned(),
            None => None,
        };
        let mut spans = smallvec::SmallVec::new();
        spans.push(Span::new(0, "", Kind::Server, 0));
        RequestTrace(Some(Box::new(Trace {
            trace_id,
            remote_parent,
            tracestate,
            unix_ns: unix_ns(SystemTime::now()),
            clock: Instant::now(),
            spans,
            attrs: smallvec::SmallVec::new(),
            text: String::with_capacity(128),
            current: 0,
            route_key: None,
            link: None,
        })))
    }

    /// Ends `trace`'s server span, named `METHOD ROUTE` (the method alone without a
    /// route), with `server`'s attributes, and queues it for export; a full queue drops it.
    pub fn finish(&self, trace: RequestTrace, server: ServerSpan<'_>) {
        let Some(mut t) = trace.0 else { return };
        let method = t.text(server.method);
        let name = match (server.route, t.route_key) {
            (Some(route), _) => {
                t.text.push(' ');
                let route = t.text(route);
                let name = Value::Text(method.start()..route.end());
                t.attr(0, "http.route", route);
                name
            }
            // A WebSocket API's upgrade request: `GET $connect`.
            (None, Some(key)) => {
                t.text.push(' ');
                let key = t.text(key);
                Value::Text(method.start()..key.end())
            }
            (None, None) => method.clone(),
        };
        t.attr(0, "http.request.method", method);
        let path = t.text(server.path);
        t.attr(0, "url.path", path);
        t.attr(
            0,
            "http.response.status_code",
            Value::Int(server.status.into()),
        );
        t.attr(0, "gatehouse.request_id", Value::Uuid(server.request_id));
        t.attr(0, "client.address", Value::Ip(server.client));
        for (key, v) in [
            ("gatehouse.api", server.api),
            ("gatehouse.stage", server.stage),
        ] {
            if let Some(v) = v {
                let v = t.text(v);
                t.attr(0, key, v);
            }
        }
        self.enqueue(t, name, server.status >= 500);
    }

    /// Ends the server span of `t` as `name`, and any span still open as an error, and
    /// queues `t` for export; a full queue drops it.
    fn enqueue(&self, mut t: Box<Trace>, name: Value, error: bool) {
        let now = t.now();
        for s in t.spans.iter_mut().skip(1).filter(|s| s.end == 0) {
            // Left open: the stage ended the request with a rejection, or it timed out.
            s.end = now;
            s.error = true;
        }
        let root = &mut t.spans[0];
        root.end = now;
        root.name = name;
        root.error = error;
        if self.queue.try_send(t).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        } else if self.queue.max_capacity() - self.queue.capacity() >= self.batch_at {
            self.batch_ready.notify_one();
        }
    }

    /// `gatehouse_TracesExported` and `gatehouse_TracesDropped`, for the admin `/metrics`.
    pub fn render_metrics(&self) -> String {
        format!(
            "# HELP gatehouse_TracesExported Request traces the OTLP collector accepted.\n\
             # TYPE gatehouse_TracesExported counter\n\
             gatehouse_TracesExported {}\n\
             # HELP gatehouse_TracesDropped Request traces dropped: export queue full or the collector failed.\n\
             # TYPE gatehouse_TracesDropped counter\n\
             gatehouse_TracesDropped {}\n",
            self.exported.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
        )
    }
}

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// What the server span tells, known when the request ends.
#[derive(Debug)]
pub struct ServerSpan<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The resource path (`/pets/{id}`), when a resource matched.
    pub route: Option<&'a str>,
    pub api: Option<&'a str>,
    pub stage: Option<&'a str>,
    pub status: u16,
    pub request_id: uuid::Uuid,
    pub client: std::net::IpAddr,
}

/// What OTLP calls a span's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Internal = 1,
    Server = 2,
    Client = 3,
}

/// An attribute's value. Ids and addresses are kept as they are and written as text by the
/// exporter, off the request path.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(Cow<'static, str>),
    Int(i64),
    Bool(bool),
    /// A UUID, written hyphenated.
    Uuid(uuid::Uuid),
    Ip(std::net::IpAddr),
    /// Bytes of the trace's own text (one buffer for all its strings, not one each).
    Text(std::ops::Range<usize>),
}

impl Value {
    fn start(&self) -> usize {
        match self {
            Value::Text(r) => r.start,
            _ => 0,
        }
    }

    fn end(&self) -> usize {
        match self {
            Value::Text(r) => r.end,
            _ => 0,
        }
    }
}

/// One request's trace, recorded as the request goes.
#[derive(Debug)]
pub struct Trace {
    trace_id: u128,
    /// The caller's span, from its `traceparent`.
    remote_parent: Option<u64>,
    tracestate: Option<HeaderValue>,
    /// When the request started, in nanoseconds since the Unix epoch, and on the monotonic
    /// clock: span times are offsets from it.
    unix_ns: u64,
    clock: Instant,
    /// The server span first, then the stages' spans in the order they started; held in
    /// the trace itself, as are the attributes, up to the usual count.
    spans: smallvec::SmallVec<[Span; 8]>,
    /// Each attribute with the index of its span.
    attrs: smallvec::SmallVec<[(u16, &'static str, Value); 16]>,
    /// The text of [`Value::Text`] attributes and names.
    text: String,
    /// The innermost span still open: a span started now is its child.
    current: u16,
    /// A WebSocket event's route key, named in the server span's name.
    route_key: Option<&'static str>,
    /// The span this trace's server span links to (a WebSocket event's `$connect`).
    link: Option<SpanContext>,
}

#[derive(Debug)]
struct Span {
    id: u64,
    /// Index of the parent span in [`Trace::spans`] (the server span's own is unused).
    parent: u16,
    /// A stage's name, or the server span's in the trace's text.
    name: Value,
    kind: Kind,
    /// Nanoseconds from the trace's start; `end` is 0 while the span is open.
    start: u64,
    end: u64,
    error: bool,
}

impl Span {
    fn new(parent: u16, name: &'static str, kind: Kind, start: u64) -> Span {
        Span {
            id: random() | 1,
            parent,
            name: Value::Str(Cow::Borrowed(name)),
            kind,
            start,
            end: 0,
            error: false,
        }
    }
}

impl Trace {
    fn now(&self) -> u64 {
        (self.clock.elapsed().as_nanos() as u64).max(1)
    }

    /// Appends `s` to the trace's text.
    fn text(&mut self, s: &str) -> Value {
        let start = self.text.len();
        self.text.push_str(s);
        Value::Text(start..self.text.len())
    }

    fn attr(&mut self, span: u16, key: &'static str, value: Value) {
        self.attrs.push((span, key, value));
    }

    /// The text of a [`Value::Text`] or [`Value::Str`].
    fn str<'a>(&'a self, v: &'a Value) -> &'a str {
        match v {
            Value::Text(r) => self.text.get(r.clone()).unwrap_or(""),
            Value::Str(s) => s,
            _ => "",
        }
    }
}

/// A started span of a [`RequestTrace`].
#[derive(Debug, Clone, Copy)]
pub struct SpanRef(u16);

/// The trace of one request, `None` when it is not recorded (every call is then a no-op).
#[derive(Debug, Default)]
pub struct RequestTrace(Option<Box<Trace>>);

impl RequestTrace {
    /// Not recorded.
    pub const OFF: RequestTrace = RequestTrace(None);

    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// Starts a span as a child of the innermost open one.
    #[inline]
    pub fn start(&mut self, name: &'static str, kind: Kind) -> Option<SpanRef> {
        let t = self.0.as_deref_mut()?;
        let idx = u16::try_from(t.spans.len()).ok()?;
        let now = t.now();
        t.spans.push(Span::new(t.current, name, kind, now));
        t.current = idx;
        Some(SpanRef(idx))
    }

    /// Ends `span`, and any span started inside it that is still open.
    #[inline]
    pub fn end(&mut self, span: Option<SpanRef>) {
        let (Some(t), Some(SpanRef(idx))) = (self.0.as_deref_mut(), span) else {
            return;
        };
        let now = t.now();
        for s in t.spans[idx as usize..].iter_mut().filter(|s| s.end == 0) {
            s.end = now;
        }
        t.current = t.spans[idx as usize].parent;
    }

    /// Drops `span` and its attributes when it turned out to cover nothing (a Lambda
    /// authorizer's call that the decision cache answered) and no span started after it;
    /// otherwise ends it.
    pub fn discard(&mut self, span: Option<SpanRef>) {
        let (Some(t), Some(SpanRef(idx))) = (self.0.as_deref_mut(), span) else {
            return;
        };
        if usize::from(idx) + 1 != t.spans.len() {
            return self.end(span);
        }
        if let Some(s) = t.spans.pop() {
            t.current = s.parent;
        }
        t.attrs.retain(|(i, _, _)| *i != idx);
    }

    /// Adds an attribute to `span`; `value` is only called when the request is recorded.
    #[inline]
    pub fn attr(
        &mut self,
        span: Option<SpanRef>,
        key: &'static str,
        value: impl FnOnce() -> Value,
    ) {
        if let (Some(t), Some(SpanRef(idx))) = (self.0.as_deref_mut(), span) {
            t.attr(idx, key, value());
        }
    }

    /// Sets `traceparent` (the innermost open span, which is the integration's, as the
    /// parent) and the caller's `tracestate` on a request to a backend, and records the
    /// backend's address on that span. Does nothing when the request is not recorded, so
    /// the client's own headers, if any, pass as they are.
    pub fn propagate<'a>(
        &mut self,
        headers: &mut HeaderMap,
        server_address: impl FnOnce() -> &'a str,
    ) {
        let Some(t) = self.0.as_deref_mut() else {
            return;
        };
        if let Some(v) = t.outbound(server_address()) {
            headers.insert(TRACEPARENT, v);
        }
        match &t.tracestate {
            Some(s) => headers.insert(TRACESTATE, s.clone()),
            None => headers.remove(TRACESTATE),
        };
    }

    /// What [`RequestTrace::propagate`] sets, kept for a call made where the trace cannot be
    /// reached (a Lambda authorizer's, inside the decision cache); `None` when the request is
    /// not recorded.
    pub fn propagation<'a>(
        &mut self,
        server_address: impl FnOnce() -> &'a str,
    ) -> Option<Propagation> {
        let t = self.0.as_deref_mut()?;
        let traceparent = t.outbound(server_address())?;
        Some(Propagation::new(traceparent, t.tracestate.clone()))
    }
}

impl Trace {
    /// Records `address` on the innermost open span and returns the `traceparent` naming
    /// that span.
    fn outbound(&mut self, address: &str) -> Option<HeaderValue> {
        let address = self.text(address);
        self.attr(self.current, "server.address", address);
        let span_id = self.spans[self.current as usize].id;
        HeaderValue::from_bytes(&w3c::header(self.trace_id, span_id)).ok()
    }
}

fn unix_ns(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(uuid::Uuid::new_v4().as_u64_pair().1 | 1);
}

/// A random number (xorshift64*, seeded per thread): ids and sampling draws, not secrets.
fn random() -> u64 {
    RNG.with(|c| {
        let mut x = c.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        c.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

#[cfg(test)]
mod tests;
