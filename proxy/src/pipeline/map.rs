//! Map: request and response mapping by mapper plugins.
//!
//! `map-request` sees the buffered request and returns the headers, query and body to send
//! to the integration; `map-response` sees the integration's buffered response and returns
//! the one to send. A mapper that fails, traps, times out or returns malformed headers ends
//! the request with 500 (API_CONFIGURATION_ERROR), the reason logged.

use crate::body::Body;
use crate::ctx::RequestCtx;
use crate::error::{Rejection, ResponseType};
use crate::plugin::bindings::types;
use crate::plugin::{convert, Plugin};
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::Response;
use http_body_util::BodyExt;
use std::fmt::Write as _;

/// Largest response a response mapper buffers (API Gateway's payload limit).
const MAX_MAPPED_RESPONSE: usize = 10 << 20;

fn failed(plugin: &Plugin, what: &str, why: impl std::fmt::Display) -> Rejection {
    Rejection::new(
        ResponseType::ApiConfigurationError,
        format!("mapper plugin `{}` {what}: {why}", plugin.name),
    )
}

/// Runs `map-request` on `req` (the client's request, without its body) with `body`;
/// rewrites `parts` and returns the new body. `req` is left without the body.
pub async fn map_request(
    ctx: &RequestCtx,
    plugin: &Plugin,
    parts: &mut http::request::Parts,
    req: &mut types::Request,
    body: Bytes,
) -> Result<Bytes, Rejection> {
    req.body = body.into();
    let mut id = uuid::Uuid::encode_buffer();
    let id = ctx.request_id.hyphenated().encode_lower(&mut id);
    let answer = plugin.map_request(id, req).await;
    req.body = Vec::new();
    let mapped = match answer {
        Ok(Ok(r)) => r,
        Ok(Err(msg)) => return Err(failed(plugin, "refused the request", msg)),
        Err(f) => return Err(failed(plugin, "failed", f)),
    };
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

/// Runs `map-response` on the integration's response; `original` is the client's request.
pub async fn map_response(
    ctx: &RequestCtx,
    plugin: &Plugin,
    original: &types::Request,
    resp: Response<Body>,
) -> Result<Response<Body>, Rejection> {
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
    let wresp = types::Response {
        status: parts.status.as_u16(),
        headers: convert::multi_headers(&parts.headers),
        body: bytes.into(),
    };
    let mut id = uuid::Uuid::encode_buffer();
    let id = ctx.request_id.hyphenated().encode_lower(&mut id);
    let mapped = match plugin.map_response(id, original, &wresp).await {
        Ok(Ok(r)) => r,
        Ok(Err(msg)) => return Err(failed(plugin, "refused the response", msg)),
        Err(f) => return Err(failed(plugin, "failed", f)),
    };
    let mut out = convert::http_response(mapped)
        .map_err(|why| failed(plugin, "returned a malformed response", why))?;
    out.headers_mut().remove(CONTENT_LENGTH);
    out.headers_mut().remove(TRANSFER_ENCODING);
    Ok(out)
}
