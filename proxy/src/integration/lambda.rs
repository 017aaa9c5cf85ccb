//! `lambda`: API Gateway's Lambda proxy integration against a Lambda-compatible invoke endpoint
//! (`POST {endpoint}/2015-03-31/functions/{function}/invocations[?Qualifier=..]`, the Lambda
//! Invoke API as the runtime interface emulator and local Lambda emulators serve it).
//!
//! The request becomes an event in payload format 1.0 (REST APIs) or 2.0 (HTTP APIs)
//! (`event.rs`); the function's proxy response becomes the response (`response.rs`). A
//! function error or a malformed response is 502 `{"message": "Internal server error"}`, as in
//! API Gateway.

mod event;
mod header_case;
mod response;

pub use event::{event_v1, event_v2, method_arn, shared_method_arn};
pub use response::proxy_response;
// WebSocket events share payload 1.0's conventions.
pub(crate) use event::{clf, extended_request_id, v1_headers, v1_query};
pub(crate) use header_case::{original_names, Case};

use crate::body::Body;
use crate::ctx::RequestCtx;
use crate::ctx::RouteInfo;
use crate::error::{Rejection, ResponseType};
use crate::integration::Outbound;
use bytes::Bytes;
use http::header::HeaderValue;
use http::request::Parts;
use http::{Request, Response, StatusCode, Uri};
use std::time::{Duration, Instant};

/// Most bytes of a function's response (Lambda's synchronous payload limit).
const MAX_PAYLOAD: usize = 6 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadFormat {
    V1,
    V2,
}

#[derive(Debug)]
pub struct Lambda {
    /// `{endpoint}/2015-03-31/functions/{function}/invocations[?Qualifier=..]`, one per stage.
    pub invoke_uris: Box<[Uri]>,
    pub format: PayloadFormat,
    pub timeout: Duration,
    /// The API's binary media types (lowercase; `*/*` and `image/*` wildcards allowed).
    pub binary_media_types: Box<[Box<str>]>,
}

fn malformed(why: impl Into<String>) -> Rejection {
    Rejection::new(ResponseType::IntegrationFailure, why.into())
        .with_status(StatusCode::BAD_GATEWAY)
}

/// Whether `content_type` is one of `types` (with `type/*` and `*/*` wildcards).
pub fn is_binary(types: &[Box<str>], content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return false };
    let ct = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    types.iter().any(|t| {
        **t == *ct
            || &**t == "*/*"
            || t.strip_suffix("/*")
                .is_some_and(|major| ct.split('/').next() == Some(major))
    })
}

/// Whether an HTTP API passes a body of `content_type` to the function as text: `text/*`,
/// JSON, XML and JavaScript (observed on AWS; the same list as ALB's Lambda targets).
pub fn is_text(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return false };
    let ct = ct.split(';').next().unwrap_or("").trim();
    ct.get(..5).is_some_and(|t| t.eq_ignore_ascii_case("text/"))
        || [
            "application/json",
            "application/xml",
            "application/javascript",
        ]
        .iter()
        .any(|t| ct.eq_ignore_ascii_case(t))
}

/// Which field of the integration an invoke-URI error is about.
#[derive(Debug, PartialEq, Eq)]
pub enum UriError {
    Function(String),
    Endpoint,
}

/// The invoke URI of `function` at the Lambda endpoint `base` (no trailing `/`).
///
/// `function` is what API Gateway and the Invoke API accept: a name, `name:qualifier`, a
/// partial ARN (`123456789012:function:name[:qualifier]`), a function ARN
/// (`arn:aws:lambda:region:account:function:name[:qualifier]`), or API Gateway's integration
/// URI (`arn:aws:apigateway:region:lambda:path/2015-03-31/functions/{ARN}/invocations`). The
/// qualifier (an alias, a version or `$LATEST`) goes in `?Qualifier=`, as the Invoke API takes
/// it; the path names the function alone, which every emulator understands.
pub fn invoke_uri(base: &str, function: &str) -> Result<Uri, UriError> {
    let (name, qualifier) = function_ref(function).map_err(UriError::Function)?;
    let mut text = format!("{base}/2015-03-31/functions/{name}/invocations");
    if let Some(q) = qualifier {
        text.push_str("?Qualifier=");
        text.push_str(q);
    }
    match text.parse::<Uri>() {
        Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.authority().is_some() => {
            Ok(u)
        }
        _ => Err(UriError::Endpoint),
    }
}

/// `(name, qualifier)` of a function reference (see [`invoke_uri`]).
fn function_ref(f: &str) -> Result<(&str, Option<&str>), String> {
    let bad = || format!("expected a function name, `name:alias`, or a function ARN, found `{f}`");
    // API Gateway's integration URI wraps the function ARN.
    let inner = match f.split_once("/functions/") {
        Some((_, rest)) => rest.strip_suffix("/invocations").ok_or_else(bad)?,
        None => f,
    };
    let parts: Vec<&str> = inner.split(':').collect();
    let (name, qualifier) = match parts.as_slice() {
        [name] => (*name, None),
        [name, q] => (*name, Some(*q)),
        [_account, "function", name] => (*name, None),
        [_account, "function", name, q] => (*name, Some(*q)),
        ["arn", _partition, "lambda", _region, _account, "function", name] => (*name, None),
        ["arn", _partition, "lambda", _region, _account, "function", name, q] => (*name, Some(*q)),
        _ => return Err(bad()),
    };
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 140
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let qualifier_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'$')
    };
    if !name_ok(name) || !qualifier.is_none_or(qualifier_ok) {
        return Err(bad());
    }
    Ok((name, qualifier))
}

impl Lambda {
    pub async fn call(
        &self,
        rt: &dyn RouteInfo,
        shared: &dyn Outbound,
        ctx: &mut RequestCtx,
        stage: usize,
        parts: &Parts,
        body: Bytes,
    ) -> Result<Response<Body>, Rejection> {
        let headers = &parts.headers;
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let binary = std::str::from_utf8(&body).is_err()
            || is_binary(&self.binary_media_types, content_type)
            // HTTP APIs have no binary media types: they pass text types as text and
            // base64-encode every other body, a missing Content-Type included.
            || (self.format == PayloadFormat::V2 && !is_text(content_type));
        let event = match self.format {
            PayloadFormat::V1 => {
                let case = header_case::original_names(ctx.version, parts).await;
                event_v1(rt, ctx, headers, &case, &body, binary)
            }
            PayloadFormat::V2 => event_v2(rt, ctx, headers, &body, binary),
        };
        let mut req = Request::new(Body::full(event.to_string()));
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = self.invoke_uris[stage].clone();
        req.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let uri = &self.invoke_uris[stage];
        ctx.trace.propagate(req.headers_mut(), || {
            uri.authority().map_or("", |a| a.as_str())
        });
        let started = Instant::now();
        let (parts_out, payload) = super::exchange(shared, req, MAX_PAYLOAD, self.timeout).await?;
        let status = parts_out.status;
        let function_error = parts_out.headers.get("x-amz-function-error");
        ctx.integration_latency = Some(started.elapsed());
        ctx.integration_status = Some(status.as_u16());
        if !status.is_success() {
            return Err(malformed(format!(
                "the invoke endpoint answered {status}: {}",
                String::from_utf8_lossy(&payload[..payload.len().min(200)])
            )));
        }
        if let Some(kind) = function_error {
            return Err(malformed(format!(
                "the function failed ({}): {}",
                kind.to_str().unwrap_or("?"),
                String::from_utf8_lossy(&payload[..payload.len().min(200)])
            )));
        }
        let binary_reply = match self.format {
            // REST APIs decode a base64 body only when the client's first `Accept` media type
            // is a binary media type; otherwise the base64 text goes out as it is.
            PayloadFormat::V1 => response::accepts_binary(&self.binary_media_types, headers),
            // HTTP APIs always decode it.
            PayloadFormat::V2 => true,
        };
        proxy_response(&payload, self.format, binary_reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // HTTP APIs: "If the content type of the request is binary, the body is base64-encoded";
    // which types count as text was observed on AWS (ministackorg/ministack#766).
    #[test]
    fn http_api_bodies_are_text_only_for_text_types() {
        for t in [
            "text/plain",
            "TEXT/csv; charset=utf-8",
            "application/json",
            "application/xml",
            "application/javascript",
        ] {
            assert!(is_text(Some(t)), "{t}");
        }
        for t in [
            "application/x-www-form-urlencoded",
            "application/octet-stream",
            "image/png",
            "application/pdf",
        ] {
            assert!(!is_text(Some(t)), "{t}");
        }
        assert!(!is_text(None));
    }

    #[test]
    fn function_references_with_qualifiers_invoke_that_qualifier() {
        let uri = |f| invoke_uri("http://127.0.0.1:9001", f).map(|u| u.to_string());
        let plain = "http://127.0.0.1:9001/2015-03-31/functions/echo/invocations";
        let prod = format!("{plain}?Qualifier=prod");
        assert_eq!(uri("echo").unwrap(), plain);
        assert_eq!(uri("echo:prod").unwrap(), prod);
        assert_eq!(
            uri("arn:aws:lambda:us-east-1:123456789012:function:echo").unwrap(),
            plain
        );
        assert_eq!(
            uri("arn:aws:lambda:us-east-1:123456789012:function:echo:prod").unwrap(),
            prod
        );
        assert_eq!(uri("123456789012:function:echo:prod").unwrap(), prod);
        assert_eq!(
            uri("arn:aws:lambda:us-east-1:123456789012:function:echo:7").unwrap(),
            format!("{plain}?Qualifier=7")
        );
        assert_eq!(
            uri("echo:$LATEST").unwrap(),
            format!("{plain}?Qualifier=$LATEST")
        );
        assert_eq!(
            uri("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:echo:prod/invocations").unwrap(),
            prod
        );
        for bad in [
            "",
            "a/b",
            "echo:",
            "echo:a:b",
            "arn:aws:s3:::bucket",
            "x/functions/echo",
            "echo?x",
        ] {
            assert!(
                matches!(uri(bad), Err(UriError::Function(_))),
                "{bad}: {:?}",
                uri(bad)
            );
        }
        assert_eq!(invoke_uri("ftp://x", "echo"), Err(UriError::Endpoint));
    }
}
