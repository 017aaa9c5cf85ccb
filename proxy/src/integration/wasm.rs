//! `wasm`: a plugin answers the request itself, like a Lambda proxy integration.

use crate::body::Body;
use crate::ctx::RequestCtx;
use crate::ctx::RouteInfo;
use crate::error::{Rejection, ResponseType};
use crate::plugin::{convert, Plugin, PluginFailure};
use http::{Response, StatusCode};
use std::sync::Arc;
use std::time::Instant;

/// Calls `plugin` with the buffered request.
pub async fn call(
    rt: &dyn RouteInfo,
    plugin: &Arc<Plugin>,
    ctx: &mut RequestCtx,
    headers: &http::HeaderMap,
    body: Vec<u8>,
) -> Result<Response<Body>, Rejection> {
    let req = convert::request(rt, ctx, headers, body);
    let mut id = uuid::Uuid::encode_buffer();
    let id = ctx.request_id.hyphenated().encode_lower(&mut id);
    let started = Instant::now();
    let result = plugin.handle(id, &req).await;
    ctx.integration_latency = Some(started.elapsed());
    let bad_gateway = |reason: String| {
        Rejection::new(ResponseType::IntegrationFailure, reason)
            .with_status(StatusCode::BAD_GATEWAY)
    };
    match result {
        Ok(Ok(resp)) => {
            ctx.integration_status = Some(resp.status);
            convert::http_response(resp).map_err(|why| {
                bad_gateway(format!(
                    "integration plugin `{}` returned a malformed response: {why}",
                    plugin.name
                ))
            })
        }
        Ok(Err(msg)) => Err(bad_gateway(format!(
            "integration plugin `{}` failed: {msg}",
            plugin.name
        ))),
        Err(PluginFailure::Timeout(d)) => Err(Rejection::new(
            ResponseType::IntegrationTimeout,
            format!(
                "integration plugin `{}` ran past its deadline of {d:?}",
                plugin.name
            ),
        )),
        Err(f) => Err(bad_gateway(format!(
            "integration plugin `{}` {f}",
            plugin.name
        ))),
    }
}
