//! Execution logs: a per-request trace of what each stage decided, written for the stages that
//! ask for it (`stages.NAME.execution_log`), as API Gateway's execution logging.
//!
//! Reads the request context at the end of the request (the same decisions the admin
//! console's test invoke shows) and, with `data_trace`, the headers and bodies recorded on the
//! way ([`ExecTrace`]). Writes one line per step, each `(request-id) message` in API Gateway's
//! wording, all of one request together, to the execution log's sink (a channel to a writer
//! thread, as the access log). A stage without an execution log pays one branch on an `Option`.

use crate::body::{Body, BoxError};
use crate::ctx::{body_text, headers_text, ExecTrace, RequestCtx, RouteInfo, MAX_TRACED_BODY};
use crate::error::{Rejection, ResponseType};
use crate::integration::Integration;
use crate::runtime::{MethodEntry, Runtime, Stage};
use crate::shared::Shared;
use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use http::Response;
use http_body::Body as _;
use http_body_util::BodyExt;
use std::fmt::Write as _;

/// Starts the request's trace when its stage has an execution log.
pub fn start(ctx: &mut RequestCtx, stage: &Stage, headers: &http::HeaderMap) {
    if let Some(settings) = stage.execution_log {
        ctx.exec = Some(Box::new(ExecTrace::new(settings, headers)));
    }
}

/// With `data_trace`: records the start of the request body (what arrives with its first
/// bytes, up to the shown size) and gives back the whole body.
pub async fn peek_request(ctx: &mut RequestCtx, body: Body) -> Result<Body, Rejection> {
    match peek(body).await {
        Ok((prefix, more, body)) => {
            if let Some(t) = &mut ctx.exec {
                t.request_body = Some(body_text(&prefix, more));
            }
            Ok(body)
        }
        Err(e) => Err(crate::body::client_body_rejection(&*e).unwrap_or_else(|| {
            Rejection::new(
                ResponseType::BadRequestBody,
                format!("reading the request body failed: {e}"),
            )
        })),
    }
}

/// Writes the request's execution log, when it has one and its level asks for this request:
/// `error` only for a 5xx or an integration failure. With `data_trace`, the start of the
/// response body is read first (see [`peek`]); a backend body that fails then is answered
/// 502 instead.
pub async fn finish(
    shared: &Shared,
    rt: &Runtime,
    ctx: &mut RequestCtx,
    resp: &mut Response<Body>,
) {
    let Some(mut trace) = ctx.exec.take() else {
        return;
    };
    let failed = resp.status().is_server_error()
        || ctx.error.as_ref().is_some_and(|e| {
            matches!(
                e.kind,
                ResponseType::IntegrationFailure | ResponseType::IntegrationTimeout
            )
        });
    let Some(sink) = shared.execution_log.as_ref() else {
        return;
    };
    if trace.settings.errors_only && !failed {
        return;
    }
    if trace.settings.data_trace && resp.status() != http::StatusCode::SWITCHING_PROTOCOLS {
        let body = std::mem::replace(resp.body_mut(), Body::Empty);
        match peek(body).await {
            Ok((prefix, more, body)) => {
                *resp.body_mut() = body;
                trace.method_response_body = Some(body_text(&prefix, more));
            }
            Err(e) => {
                let r = Rejection::new(
                    ResponseType::IntegrationFailure,
                    format!("the backend's answer body failed: {e}"),
                )
                .with_status(http::StatusCode::BAD_GATEWAY);
                *resp = super::respond::rejection(rt, ctx, r);
            }
        }
        trace.endpoint_response_headers = Some(headers_text(resp.headers()));
    }
    let mut out = String::with_capacity(1024);
    let mut buf = uuid::Uuid::encode_buffer();
    let id = ctx.request_id.hyphenated().encode_lower(&mut buf);
    for line in lines(rt, ctx, &trace, resp.status().as_u16()) {
        let _ = writeln!(out, "({id}) {line}");
    }
    sink.write(out);
}

/// Reads what `body` has ready: waits for its first frame, then takes the frames already
/// there, up to just over [`MAX_TRACED_BODY`] bytes. Gives back what it read, whether more
/// follows, and a body with the same bytes as `body` had.
async fn peek(mut body: Body) -> Result<(Bytes, bool, Body), BoxError> {
    let mut buf = BytesMut::new();
    let mut first = true;
    let mut ended = body.is_end_stream();
    while !ended && buf.len() <= MAX_TRACED_BODY {
        let next = if first {
            Some(body.frame().await)
        } else {
            body.frame().now_or_never()
        };
        first = false;
        match next {
            None => break,
            Some(None) => ended = true,
            Some(Some(frame)) => {
                if let Ok(data) = frame?.into_data() {
                    buf.extend_from_slice(&data);
                }
                ended = body.is_end_stream();
            }
        }
    }
    let prefix = buf.freeze();
    if ended {
        return Ok((prefix.clone(), false, Body::full(prefix)));
    }
    let rest = Body::Chain(Box::new((Body::full(prefix.clone()), body)));
    Ok((prefix, true, rest))
}

/// The request's lines, in pipeline order, for the steps it went through.
fn lines(rt: &Runtime, ctx: &RequestCtx, trace: &ExecTrace, status: u16) -> Vec<String> {
    let mut out = Vec::with_capacity(24);
    let id = ctx.request_id;
    out.push(format!("Extended Request Id: {id}"));
    let Some(m) = &ctx.matched else {
        out.push(format!("Method completed with status: {status}"));
        return out;
    };
    let api = &rt.apis[m.api];
    let stage = &api.stages[m.stage];
    let resource = &api.resources[m.resource];
    let entry = &resource.methods[m.method];
    let kind = ctx.error.as_ref().map(|e| e.kind);
    let refused_by = |kinds: &[ResponseType]| kind.is_some_and(|k| kinds.contains(&k));
    let authorizer_refused = refused_by(&[
        ResponseType::Unauthorized,
        ResponseType::AuthorizerFailure,
        ResponseType::AuthorizerConfigurationError,
        ResponseType::ExpiredToken,
    ]) || (api.policy.is_none()
        && refused_by(&[ResponseType::AccessDenied]));
    if let Some(binding) = &entry.authorizer {
        if ctx.authorizer.is_some() || authorizer_refused {
            out.push(format!(
                "Starting authorizer: {} for request: {id}",
                binding.name
            ));
        }
        if ctx.authorizer.is_some() {
            out.push("Successfully completed authorizer execution".into());
        } else if authorizer_refused {
            out.push(format!("Unauthorized request: {id}"));
        }
    }
    let method_name = ctx.method.as_str();
    let api_stage = format!("{}/{}", api.name, stage.name);
    let key_refused = refused_by(&[ResponseType::InvalidApiKey, ResponseType::AccessDenied]);
    let before_keys = authorizer_refused || (api.policy.is_some() && key_refused);
    if !before_keys {
        if !entry.api_key_required {
            out.push(format!(
                "Verifying Usage Plan for request: {id}. API Key: API Stage: {api_stage}"
            ));
            out.push(format!("API Key authorized because method '{method_name} {}' does not require API Key. Request will not contribute to throttle or quota limits", resource.path));
            out.push(format!(
                "Usage Plan check succeeded for API Key and API Stage {api_stage}"
            ));
        } else if let Some((_, key_id)) = &ctx.api_key {
            out.push(format!(
                "Verifying Usage Plan for request: {id}. API Key: **** API Stage: {api_stage}"
            ));
            out.push(format!(
                "Usage Plan check succeeded for API Key ID {key_id} and API Stage {api_stage}"
            ));
        } else if key_refused {
            out.push(format!(
                "Verifying Usage Plan for request: {id}. API Key: **** API Stage: {api_stage}"
            ));
            out.push(format!(
                "Usage Plan check failed for API Stage {api_stage}: {}",
                ctx.error.as_ref().map_or("", |e| &e.reason)
            ));
        }
    }
    out.push(format!("Starting execution for request: {id}"));
    out.push(format!(
        "HTTP Method: {method_name}, Resource Path: {}",
        resource.path
    ));
    if let Some((_, key_id)) = &ctx.api_key {
        out.push(format!("API Key ID: {key_id}"));
    }
    let params = rt.path_parameters(ctx);
    out.push(format!(
        "Method request path: {{{}}}",
        pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
    ));
    let query = ctx.query().unwrap_or("");
    out.push(format!(
        "Method request query string: {{{}}}",
        pairs(
            query
                .split('&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
        )
    ));
    if let Some(h) = &trace.request_headers {
        out.push(format!("Method request headers: {h}"));
    }
    if let Some(b) = &trace.request_body {
        out.push(format!("Method request body before transformations: {b}"));
    }
    let reached = ctx.integration_latency.is_some() || ctx.integration_status.is_some();
    if reached {
        if let Some(uri) = endpoint_uri(ctx, entry, m.stage) {
            out.push(format!("Endpoint request URI: {uri}"));
            if let (None, Some(b)) = (&entry.request_mapper, &trace.request_body) {
                out.push(format!("Endpoint request body after transformations: {b}"));
            }
            out.push(format!("Sending request to {uri}"));
        }
        if let Some(s) = ctx.integration_status {
            let ms = ctx.integration_latency.map_or(0, |d| d.as_millis());
            out.push(format!(
                "Received response. Status: {s}, Integration latency: {ms} ms"
            ));
            if entry.response_mapper.is_none() {
                if let Some(h) = &trace.endpoint_response_headers {
                    out.push(format!("Endpoint response headers: {h}"));
                }
                if let Some(b) = &trace.method_response_body {
                    out.push(format!(
                        "Endpoint response body before transformations: {b}"
                    ));
                }
            }
        }
    }
    if let Some(b) = &trace.method_response_body {
        out.push(format!("Method response body after transformations: {b}"));
    }
    if let Some(h) = &trace.endpoint_response_headers {
        out.push(format!("Method response headers: {h}"));
    }
    match &ctx.error {
        Some(e) if status >= 500 => out.push(failure(e)),
        Some(e) => {
            out.push(format!(
                "Gateway response type: {} with status code: {status}",
                e.kind.name()
            ));
            if !e.reason.is_empty() {
                out.push(format!("Gateway response reason: {}", e.reason));
            }
        }
        None => out.push("Successfully completed execution".into()),
    }
    out.push(format!("Method completed with status: {status}"));
    out
}

/// API Gateway's line for a request that failed with a 5xx.
fn failure(e: &Rejection) -> String {
    match e.kind {
        ResponseType::IntegrationTimeout => {
            format!("Execution failed due to a timeout error: {}", e.reason)
        }
        ResponseType::IntegrationFailure
        | ResponseType::ApiConfigurationError
        | ResponseType::AuthorizerConfigurationError => {
            format!("Execution failed due to configuration error: {}", e.reason)
        }
        _ => format!("Execution failed due to an internal error: {}", e.reason),
    }
}

/// `k=v, k2=v2`.
fn pairs<'a>(it: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut s = String::new();
    for (i, (k, v)) in it.enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{k}={v}");
    }
    s
}

/// Where the integration sends the request, rendered with this request's path parameters
/// (and, for `http_proxy`, its query); `None` for integrations without a URI.
pub fn endpoint_uri(ctx: &RequestCtx, entry: &MethodEntry, stage: usize) -> Option<String> {
    let param = |i: usize| ctx.param_raw(i);
    match &entry.integration {
        Integration::HttpProxy(p) => p.uris.get(stage).map(|u| u.render(param, ctx.query())),
        Integration::Http(h) => h.uris.get(stage).map(|u| u.render(param, None)),
        Integration::Lambda(l) => l.invoke_uris.get(stage).map(ToString::to_string),
        Integration::Mock(_) | Integration::MappedMock(_) | Integration::Wasm(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn peek_gives_back_every_byte() {
        let (prefix, more, body) = peek(Body::full("hello")).await.unwrap();
        assert_eq!(&prefix[..], b"hello");
        assert!(!more);
        assert_eq!(crate::body::read_body(body).await.unwrap(), "hello");
        let long = Bytes::from(vec![b'x'; 3000]);
        let body = Body::Chain(Box::new((Body::full(long.clone()), Body::full("tail"))));
        let (prefix, more, body) = peek(body).await.unwrap();
        assert_eq!(prefix.len(), 3000);
        assert!(more);
        let all = crate::body::read_body(body).await.unwrap();
        assert_eq!(all.len(), 3004);
    }

    #[test]
    fn pairs_are_written_as_api_gateway_does() {
        assert_eq!(pairs([("id", "7"), ("x", "1")].into_iter()), "id=7, x=1");
        assert_eq!(pairs(std::iter::empty()), "");
    }
}
