//! Observe: runs on every exit path. Adds the request id header, records the route's metrics
//! and writes the access log line.

use crate::body::Body;
use crate::ctx::RequestCtx;
use crate::ctx::RouteInfo;
use crate::runtime::Runtime;
use crate::shared::Shared;
use http::header::HeaderValue;
use http::Response;
use http_body::Body as _;

pub fn finish(shared: &Shared, rt: &Runtime, ctx: &mut RequestCtx, resp: &mut Response<Body>) {
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
    metrics.record(ctx.status, latency, ctx.integration_latency);
    resp.body_mut().report_failures_to(metrics, ctx.request_id);

    if let (Some(format), Some(sink)) = (&rt.access_log, &shared.access_log) {
        let mut line = String::with_capacity(512);
        format.render(ctx, rt.names(ctx), &mut line);
        line.push('\n');
        sink.write(line);
    }
}
