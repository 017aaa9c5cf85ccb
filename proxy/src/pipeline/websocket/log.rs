//! One access log line per WebSocket event, as API Gateway's WebSocket access logs:
//! `$connect` (the upgrade request's own line, in `pipeline::observe`), each message, and
//! `$disconnect`, with `$context.eventType`, `routeKey`, `connectionId` and `messageId`; and
//! the trace of each message and `$disconnect` (`$connect`'s is the upgrade request's).

use super::*;
use std::future::Future;

/// What one event's line tells.
#[derive(Debug)]
pub(super) struct Logged {
    pub kind: EventType,
    pub request_id: uuid::Uuid,
    /// `-` until a route takes the event.
    pub route_key: String,
    pub message_id: Option<String>,
    pub status: u16,
    started: std::time::Instant,
    integration_status: Option<u16>,
    integration_latency: Option<Duration>,
    error: Option<Rejection>,
}

impl Logged {
    pub fn new(kind: EventType, request_id: uuid::Uuid) -> Self {
        Self {
            kind,
            request_id,
            route_key: "-".into(),
            message_id: None,
            status: 200,
            started: std::time::Instant::now(),
            integration_status: None,
            integration_latency: None,
            error: None,
        }
    }

    /// Runs a route's integration call and notes its status, latency (none for a mock, as
    /// API Gateway) and failure.
    pub async fn integration(
        &mut self,
        route: &Route,
        call: impl Future<Output = Result<Answer, Rejection>>,
    ) -> Result<Answer, Rejection> {
        let started = std::time::Instant::now();
        let answer = call.await;
        if !matches!(route.integration, RouteIntegration::Mock { .. }) {
            self.integration_latency = Some(started.elapsed());
        }
        match &answer {
            Ok(a) => {
                self.status = a.status.as_u16();
                self.integration_status = Some(self.status);
            }
            Err(r) => {
                self.status = r.status.unwrap_or(r.kind.default_status()).as_u16();
                self.error = Some(r.clone());
            }
        }
        answer
    }
}

/// Writes the event's access log line, when there is an access log.
pub(super) fn write(shared: &Shared, rt: &Runtime, conn: &Conn, logged: Logged) {
    if rt.access_log.is_none() || shared.access_log.is_none() {
        return;
    }
    let mut req = http::Request::new(());
    *req.uri_mut() = conn.target.clone();
    let h = req.headers_mut();
    if let Some(v) = conn
        .domain
        .as_deref()
        .and_then(|d| HeaderValue::from_str(d).ok())
    {
        h.insert(http::header::HOST, v);
    }
    if let Some(v) = conn
        .user_agent
        .as_deref()
        .and_then(|u| HeaderValue::from_str(u).ok())
    {
        h.insert(http::header::USER_AGENT, v);
    }
    let (parts, ()) = req.into_parts();
    let mut ctx = RequestCtx::new(&parts, conn.source_ip, false);
    ctx.request_id = logged.request_id;
    ctx.api = rt.apis.iter().position(|a| *a.name == *conn.api);
    ctx.stage = ctx.api.and_then(|a| {
        rt.apis[a]
            .stages
            .iter()
            .position(|s| *s.name == *conn.stage)
    });
    ctx.status = logged.status;
    ctx.response_latency = Some(logged.started.elapsed());
    ctx.integration_status = logged.integration_status;
    ctx.integration_latency = logged.integration_latency;
    ctx.error = logged.error;
    ctx.authorizer = conn.auth.clone();
    ctx.ws_event = Some(Box::new(WsEvent {
        event_type: logged.kind.name(),
        route_key: logged.route_key.into(),
        connection_id: conn.id.as_str().into(),
        message_id: logged.message_id.map(Into::into),
        connected_at: conn.connected_at,
    }));
    crate::pipeline::observe::write_line(shared, rt, &ctx);
}

/// A message's or `$disconnect`'s trace, when tracing is on and samples it.
pub(super) fn begin_trace(shared: &Shared) -> RequestTrace {
    match &shared.tracer {
        Some(tracer) => tracer.begin_event(),
        None => RequestTrace::OFF,
    }
}

/// Ends the event's trace and queues it for export.
pub(super) fn end_trace(shared: &Shared, conn: &Conn, trace: RequestTrace, logged: &Logged) {
    let Some(tracer) = shared.tracer.as_ref().filter(|_| trace.is_on()) else {
        return;
    };
    let span = crate::trace::EventSpan {
        event_type: logged.kind.name(),
        route_key: Some(&*logged.route_key).filter(|k| *k != "-"),
        connection_id: &conn.id,
        message_id: logged.message_id.as_deref(),
        api: &conn.api,
        stage: &conn.stage,
        status: logged.status,
        request_id: logged.request_id,
        client: conn.source_ip,
        link: conn.traced,
    };
    tracer.finish_event(trace, span);
}
