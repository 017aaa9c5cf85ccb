//! Map: request and response mapping by mapper plugins.
//!
//! `map-request` sees the buffered request and returns the headers, query and body to send
//! to the integration; `map-response` sees the integration's buffered response and returns
//! the one to send. A 0.1.0 mapper is sent the request and response as records and answers
//! whole new ones; a 0.3.0 mapper is lent them and answers its changes. A mapper that fails,
//! traps, times out or returns malformed headers ends the request with 500
//! (API_CONFIGURATION_ERROR), the reason logged.

use crate::body::Body;
use crate::ctx::RequestCtx;
use crate::ctx::RouteInfo;
use crate::error::{Rejection, ResponseType};
use crate::plugin::bindings::types;
use crate::plugin::messages::{RequestView, ResponseView};
use crate::plugin::{convert, Plugin};
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::Response;
use http_body_util::BodyExt;
use std::fmt::Write as _;
use std::sync::Arc;

/// The client's request as the mappers see it, made before the request mapper changes it: a
/// record for 0.1.0 mappers and a lent view for 0.3.0 ones, each only if a mapper needs it.
#[derive(Debug)]
pub struct Original {
    record: Option<types::Request>,
    lent: Option<Arc<RequestView>>,
}

impl Original {
    pub fn new(
        rt: &dyn RouteInfo,
        ctx: &RequestCtx,
        headers: &http::HeaderMap,
        mappers: [Option<&Plugin>; 2],
    ) -> Original {
        let needs = |lent: bool| {
            mappers
                .iter()
                .flatten()
                .any(|m| m.reads_lent_request() == lent)
        };
        Original {
            record: needs(false).then(|| convert::request(rt, ctx, headers, Vec::new())),
            lent: needs(true).then(|| {
                let arn = crate::auth::authorize::shared_method_arn(rt, ctx);
                let lent = convert::lent_headers(ctx, headers);
                Arc::new(convert::lent_request(rt, ctx, lent, Bytes::new(), arn))
            }),
        }
    }
}

/// A mapper's answer, or the rejection for its refusal (`Err`) or failure.
fn outcome<T>(
    plugin: &Plugin,
    what: &str,
    answer: Result<Result<T, String>, crate::plugin::PluginFailure>,
) -> Result<T, Rejection> {
    match answer {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(msg)) => Err(failed(plugin, &format!("refused the {what}"), msg)),
        Err(f) => Err(failed(plugin, "failed", f)),
    }
}

/// The request made for a mapper of the other version: a bug, never a client's doing.
fn missing(plugin: &Plugin) -> Rejection {
    failed(plugin, "failed", "no request was prepared for its version")
}

/// Largest response a response mapper buffers (API Gateway's payload limit).
const MAX_MAPPED_RESPONSE: usize = 10 << 20;

fn failed(plugin: &Plugin, what: &str, why: impl std::fmt::Display) -> Rejection {
    Rejection::new(
        ResponseType::ApiConfigurationError,
        format!("mapper plugin `{}` {what}: {why}", plugin.name),
    )
}

/// Runs `map-request` on the client's request (`original`, which keeps no body for a 0.1.0
/// mapper) with `body`; rewrites `parts` and returns the new body.
pub async fn map_request(
    ctx: &RequestCtx,
    plugin: &Plugin,
    parts: &mut http::request::Parts,
    original: &mut Original,
    body: Bytes,
) -> Result<Bytes, Rejection> {
    if plugin.reads_lent_request() {
        return map_request_lent(ctx, plugin, parts, original, body).await;
    }
    let req = original.record.as_mut().ok_or_else(|| missing(plugin))?;
    req.body = body.into();
    let mut id = uuid::Uuid::encode_buffer();
    let id = ctx.request_id.hyphenated().encode_lower(&mut id);
    let answer = plugin.map_request(id, req).await;
    req.body = Vec::new();
    let mapped = outcome(plugin, "request", answer)?;
    let mut headers = convert::header_map(&mapped.headers)
        .map_err(|why| failed(plugin, "returned malformed headers", why))?;
    headers.remove(CONTENT_LENGTH);
    headers.remove(TRANSFER_ENCODING);
    parts.headers = headers;
    if !same_query(&mapped.query, &req.query) {
        parts.uri = with_query(&parts.uri, &mapped.query)
            .map_err(|why| failed(plugin, "returned a malformed query", why))?;
    }
    Ok(Bytes::from(mapped.body))
}

/// `map-request` of a 0.3.0 mapper: lent the request with its body, it answers the changes.
async fn map_request_lent(
    ctx: &RequestCtx,
    plugin: &Plugin,
    parts: &mut http::request::Parts,
    original: &mut Original,
    body: Bytes,
) -> Result<Bytes, Rejection> {
    let view = original.lent.as_mut().ok_or_else(|| missing(plugin))?;
    // Not yet lent to anyone, so the view is not shared.
    if let Some(v) = Arc::get_mut(view) {
        v.body = body.clone();
    }
    let mut id = uuid::Uuid::encode_buffer();
    let id = ctx.request_id.hyphenated().encode_lower(&mut id);
    let edits = outcome(
        plugin,
        "request",
        plugin.map_request_lent(id, view.clone()).await,
    )?;
    convert::edit_headers(&mut parts.headers, &edits.headers)
        .map_err(|why| failed(plugin, "returned malformed headers", why))?;
    parts.headers.remove(CONTENT_LENGTH);
    parts.headers.remove(TRANSFER_ENCODING);
    if let Some(query) = &edits.query {
        parts.uri = with_query(&parts.uri, query)
            .map_err(|why| failed(plugin, "returned a malformed query", why))?;
    }
    Ok(edits.body.map_or(body, Bytes::from))
}

fn same_query(a: &[types::MultiValue], b: &[types::MultiValue]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.name == y.name && x.values == y.values)
}

fn with_query(uri: &http::Uri, query: &[types::MultiValue]) -> Result<http::Uri, http::Error> {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    let mut pq = String::from(uri.path());
    for (i, (name, value)) in query
        .iter()
        .flat_map(|m| m.values.iter().map(move |v| (&m.name, v)))
        .enumerate()
    {
        pq.push(if i == 0 { '?' } else { '&' });
        let _ = write!(
            pq,
            "{}={}",
            utf8_percent_encode(name, NON_ALPHANUMERIC),
            utf8_percent_encode(value, NON_ALPHANUMERIC)
        );
    }
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(pq.parse()?);
    Ok(http::Uri::from_parts(parts)?)
}

/// The integration's response, its body buffered (up to API Gateway's payload limit).
async fn buffered(resp: Response<Body>) -> Result<(http::response::Parts, Bytes), Rejection> {
    let (parts, body) = resp.into_parts();
    let bytes = http_body_util::Limited::new(body, MAX_MAPPED_RESPONSE)
        .collect()
        .await
        .map_err(|e| {
            Rejection::new(
                ResponseType::IntegrationFailure,
                format!("reading the integration's response: {e}"),
            )
            .with_status(http::StatusCode::BAD_GATEWAY)
        })?
        .to_bytes();
    Ok((parts, bytes))
}

/// Runs `map-response` on the integration's response; `original` is the client's request.
pub async fn map_response(
    ctx: &RequestCtx,
    plugin: &Plugin,
    original: &Original,
    resp: Response<Body>,
) -> Result<Response<Body>, Rejection> {
    if plugin.reads_lent_request() {
        return map_response_lent(ctx, plugin, original, resp).await;
    }
    let original = original.record.as_ref().ok_or_else(|| missing(plugin))?;
    let (parts, bytes) = buffered(resp).await?;
    let wresp = types::Response {
        status: parts.status.as_u16(),
        headers: convert::multi_headers(&parts.headers),
        body: bytes.into(),
    };
    let mut id = uuid::Uuid::encode_buffer();
    let id = ctx.request_id.hyphenated().encode_lower(&mut id);
    let mapped = outcome(
        plugin,
        "response",
        plugin.map_response(id, original, &wresp).await,
    )?;
    let mut out = convert::http_response(mapped)
        .map_err(|why| failed(plugin, "returned a malformed response", why))?;
    out.headers_mut().remove(CONTENT_LENGTH);
    out.headers_mut().remove(TRANSFER_ENCODING);
    Ok(out)
}

/// `map-response` of a 0.3.0 mapper: lent the response, it answers the changes.
async fn map_response_lent(
    ctx: &RequestCtx,
    plugin: &Plugin,
    original: &Original,
    resp: Response<Body>,
) -> Result<Response<Body>, Rejection> {
    let request = original.lent.clone().ok_or_else(|| missing(plugin))?;
    let (mut parts, body) = buffered(resp).await?;
    let view = ResponseView {
        status: parts.status.as_u16(),
        headers: std::mem::take(&mut parts.headers),
        body,
    };
    let mut id = uuid::Uuid::encode_buffer();
    let id = ctx.request_id.hyphenated().encode_lower(&mut id);
    let (view, answer) = plugin.map_response_lent(id, request, view).await;
    let edits = outcome(plugin, "response", answer)?;
    // A call that returned gives the response back.
    let view = view.ok_or_else(|| failed(plugin, "failed", "the response was not given back"))?;
    if let Some(status) = edits.status {
        parts.status = convert::final_status(status)
            .map_err(|why| failed(plugin, "returned a malformed response", why))?;
    }
    parts.headers = view.headers;
    convert::edit_headers(&mut parts.headers, &edits.headers)
        .map_err(|why| failed(plugin, "returned a malformed response", why))?;
    parts.headers.remove(CONTENT_LENGTH);
    parts.headers.remove(TRANSFER_ENCODING);
    let body = edits.body.map_or(view.body, Bytes::from);
    Ok(Response::from_parts(parts, Body::full(body)))
}
