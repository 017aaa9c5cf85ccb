//! What a trace carries beyond one HTTP request's stages: WebSocket events, each traced as
//! a request of its own, and a propagation kept for a call made out of the trace's reach.
//!
//! A WebSocket API's upgrade request is traced as any request, its server span named
//! `GET $connect`. Each later event of the connection (a message, `$disconnect`) has no
//! headers to carry a caller's trace, so it is sampled at the configured ratio and starts a
//! trace of its own whose server span links to the `$connect` span, when that was recorded.

use super::{HeaderMap, HeaderValue, RequestTrace, Tracer, Value, TRACEPARENT, TRACESTATE};
use std::sync::atomic::{AtomicBool, Ordering};

/// A span's identity in its trace, for a link to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanContext {
    pub trace_id: u128,
    pub span_id: u64,
}

/// What a WebSocket event's server span tells, known when the event ends.
#[derive(Debug)]
pub struct EventSpan<'a> {
    /// `MESSAGE` or `DISCONNECT`, as `$context.eventType`.
    pub event_type: &'static str,
    /// The route that took the event; none for a message no route took.
    pub route_key: Option<&'a str>,
    pub connection_id: &'a str,
    pub message_id: Option<&'a str>,
    pub api: &'a str,
    pub stage: &'a str,
    /// The event's status, as `$context.status` (a 5xx marks the span as an error).
    pub status: u16,
    pub request_id: uuid::Uuid,
    pub client: std::net::IpAddr,
    /// The connection's `$connect` server span, when it was recorded.
    pub link: Option<SpanContext>,
}

impl Tracer {
    /// The trace of a WebSocket event after `$connect`, when it is to be recorded.
    pub fn begin_event(&self) -> RequestTrace {
        self.begin(&HeaderMap::new())
    }

    /// Ends a WebSocket event's trace: its server span is named `MESSAGE route` or
    /// `DISCONNECT $disconnect` (the event type alone when no route took a message).
    pub fn finish_event(&self, trace: RequestTrace, ev: EventSpan<'_>) {
        let Some(mut t) = trace.0 else { return };
        let kind = t.text(ev.event_type);
        let name = match ev.route_key {
            Some(key) => {
                t.text.push(' ');
                let key = t.text(key);
                let name = Value::Text(kind.start()..key.end());
                t.attr(0, "gatehouse.route_key", key);
                name
            }
            None => kind.clone(),
        };
        t.attr(0, "gatehouse.event_type", kind);
        for (key, v) in [
            ("gatehouse.connection_id", Some(ev.connection_id)),
            ("gatehouse.message_id", ev.message_id),
            ("gatehouse.api", Some(ev.api)),
            ("gatehouse.stage", Some(ev.stage)),
        ] {
            if let Some(v) = v {
                let v = t.text(v);
                t.attr(0, key, v);
            }
        }
        t.attr(0, "gatehouse.status", Value::Int(ev.status.into()));
        t.attr(0, "gatehouse.request_id", Value::Uuid(ev.request_id));
        t.attr(0, "client.address", Value::Ip(ev.client));
        t.link = ev.link;
        self.enqueue(t, name, ev.status >= 500);
    }
}

impl RequestTrace {
    /// Marks the request as a WebSocket API's upgrade: its server span is named
    /// `GET $connect` and tells the route key and the connection's id.
    pub fn websocket_connect(&mut self, connection_id: &str) {
        let Some(t) = self.0.as_deref_mut() else {
            return;
        };
        t.route_key = Some("$connect");
        t.attr(0, "gatehouse.route_key", Value::Str("$connect".into()));
        let id = t.text(connection_id);
        t.attr(0, "gatehouse.connection_id", id);
    }

    /// The trace's server span, for a later trace to link to.
    pub fn context(&self) -> Option<SpanContext> {
        let t = self.0.as_deref()?;
        Some(SpanContext {
            trace_id: t.trace_id,
            span_id: t.spans[0].id,
        })
    }
}

/// `traceparent` and `tracestate` for one call, taken while the trace was at hand
/// ([`RequestTrace::propagation`]); it remembers whether the call was made.
#[derive(Debug)]
pub struct Propagation {
    traceparent: HeaderValue,
    tracestate: Option<HeaderValue>,
    applied: AtomicBool,
}

impl Propagation {
    pub(super) fn new(traceparent: HeaderValue, tracestate: Option<HeaderValue>) -> Self {
        Propagation {
            traceparent,
            tracestate,
            applied: AtomicBool::new(false),
        }
    }

    /// Sets the headers on a request about to be sent (replacing the client's, if any).
    pub fn apply(&self, headers: &mut HeaderMap) {
        headers.insert(TRACEPARENT, self.traceparent.clone());
        match &self.tracestate {
            Some(s) => headers.insert(TRACESTATE, s.clone()),
            None => headers.remove(TRACESTATE),
        };
        self.applied.store(true, Ordering::Relaxed);
    }

    /// Whether [`Propagation::apply`] was called: the call was made.
    pub fn applied(&self) -> bool {
        self.applied.load(Ordering::Relaxed)
    }
}
