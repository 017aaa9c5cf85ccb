//! Observe: runs on every exit path. Adds the request id header, records the route's metrics
//! and writes the access log line: at once, or, for a body streamed from a backend, when that
//! body is over, so the line tells how many bytes went out and whether the backend failed
//! after its head was sent.

use crate::body::{Body, BodyEnd};
use crate::ctx::{RequestCtx, RouteInfo};
use crate::error::ResponseType;
use crate::runtime::Runtime;
use crate::shared::Shared;
use http::header::HeaderValue;
use http::Response;
use http_body::Body as _;
use std::sync::Arc;

pub fn finish(
    shared: &Arc<Shared>,
    rt: &Arc<Runtime>,
    mut ctx: RequestCtx,
    resp: &mut Response<Body>,
) {
    let latency = ctx.started.elapsed();
    ctx.status = resp.status().as_u16();
    ctx.response_latency = Some(latency);
    ctx.response_length = resp.body().size_hint().exact().or_else(|| {
        resp.headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
    });

    let mut buf = uuid::Uuid::encode_buffer();
    let id = ctx.request_id.hyphenated().encode_lower(&mut buf);
    if let Ok(v) = HeaderValue::from_str(id) {
        resp.headers_mut().insert(rt.request_id_header.clone(), v);
    }

    let metrics = match &ctx.matched {
        Some(m) => &rt.apis[m.api].resources[m.resource].methods[m.method].metrics[m.stage],
        None => &rt.unmatched_metrics,
    };
    // A WebSocket API's handshake is counted by its WebSocket metrics, not as a request that
    // matched no resource.
    let websocket =
        ctx.matched.is_none() && ctx.api.is_some_and(|a| rt.apis[a].websocket.is_some());
    let throttled = ctx.error.as_ref().is_some_and(|e| {
        matches!(
            e.kind,
            ResponseType::Throttled | ResponseType::QuotaExceeded
        )
    });
    if !websocket {
        metrics.record(ctx.status, throttled, latency, ctx.integration_latency);
        if let Some(n) = ctx.request_length {
            metrics
                .bytes_in
                .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        }
        if let Some(n) = ctx.response_length {
            metrics
                .bytes_out
                .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        }
    }

    let logs = rt.access_log.is_some() && shared.access_log.is_some();
    if logs && resp.body().from_backend() {
        let id = ctx.request_id;
        let line = LineAtEnd {
            shared: shared.clone(),
            rt: rt.clone(),
            ctx: Box::new(ctx),
        };
        resp.body_mut()
            .report_failures_to(metrics, id, Some(Box::new(line)));
    } else {
        resp.body_mut()
            .report_failures_to(metrics, ctx.request_id, None);
        if logs {
            write_line(shared, rt, &ctx);
        }
    }
}

/// Writes `ctx`'s access log line, when there is an access log (also a WebSocket event's).
pub fn write_line(shared: &Shared, rt: &Runtime, ctx: &RequestCtx) {
    if let (Some(format), Some(sink)) = (&rt.access_log, &shared.access_log) {
        let mut line = String::with_capacity(512);
        format.render(ctx, rt.names(ctx), &mut line);
        line.push('\n');
        sink.write(line);
    }
}

/// A request's access log line, written when its backend body is over.
#[derive(Debug)]
struct LineAtEnd {
    shared: Arc<Shared>,
    rt: Arc<Runtime>,
    ctx: Box<RequestCtx>,
}

impl BodyEnd for LineAtEnd {
    fn ended(self: Box<Self>, sent: Option<u64>, failure: Option<String>) {
        let LineAtEnd {
            shared,
            rt,
            mut ctx,
        } = *self;
        if let Some(sent) = sent {
            ctx.response_length = Some(sent);
        }
        if let Some(failure) = failure {
            ctx.integration_error = Some(failure.into());
        }
        write_line(&shared, &rt, &ctx);
    }
}
