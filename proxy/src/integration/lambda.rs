//! `lambda`: API Gateway's Lambda proxy integration against a Lambda-compatible invoke endpoint
//! (`POST {endpoint}/2015-03-31/functions/{function}/invocations`, as the Lambda runtime
//! interface emulator and local Lambda emulators serve it).
//!
//! The request becomes an event in payload format 1.0 (REST APIs) or 2.0 (HTTP APIs); the
//! function's proxy response (`statusCode`, `headers`, `multiValueHeaders`, `body`,
//! `isBase64Encoded`, and in 2.0 `cookies`) becomes the response. A function error or a
//! malformed response is 502 `{"message": "Internal server error"}`, as in API Gateway.

use crate::body::Body;
use crate::ctx::RequestCtx;
use crate::ctx::RouteInfo;
use crate::error::{Rejection, ResponseType};
use crate::integration::Outbound;
use crate::plugin::convert;
use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use serde_json::{Map, Value};
use std::time::{Duration, Instant, UNIX_EPOCH};

/// Most bytes of a function's response (Lambda's synchronous payload limit).
const MAX_PAYLOAD: usize = 6 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadFormat {
    V1,
    V2,
}

#[derive(Debug)]
pub struct Lambda {
    /// `{endpoint}/2015-03-31/functions/{function}/invocations`, one per stage.
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

impl Lambda {
    pub async fn call(
        &self,
        rt: &dyn RouteInfo,
        shared: &dyn Outbound,
        ctx: &mut RequestCtx,
        stage: usize,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Response<Body>, Rejection> {
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let binary = is_binary(&self.binary_media_types, content_type)
            || std::str::from_utf8(&body).is_err();
        let event = match self.format {
            PayloadFormat::V1 => event_v1(rt, ctx, headers, &body, binary),
            PayloadFormat::V2 => event_v2(rt, ctx, headers, &body, binary),
        };
        let mut req = Request::new(Body::full(event.to_string()));
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = self.invoke_uris[stage].clone();
        req.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let started = Instant::now();
        let (parts, payload) = super::exchange(shared, req, MAX_PAYLOAD, self.timeout).await?;
        let status = parts.status;
        let function_error = parts.headers.get("x-amz-function-error");
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
        proxy_response(&payload, self.format)
    }
}

fn header_value(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Turns a function's proxy response into an HTTP response; anything malformed is 502.
pub fn proxy_response(payload: &[u8], format: PayloadFormat) -> Result<Response<Body>, Rejection> {
    let doc: Value = serde_json::from_slice(payload)
        .map_err(|e| malformed(format!("the function's response is not JSON: {e}")))?;
    // Payload 2.0: a response without `statusCode` is the body of a 200 JSON answer.
    if format == PayloadFormat::V2 && doc.get("statusCode").is_none() {
        let mut resp = Response::new(Body::full(match &doc {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }));
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return Ok(resp);
    }
    let Value::Object(obj) = &doc else {
        return Err(malformed("the function's response is not a JSON object"));
    };
    for key in obj.keys() {
        let known = matches!(
            key.as_str(),
            "statusCode" | "headers" | "multiValueHeaders" | "body" | "isBase64Encoded" | "cookies"
        );
        if !known && format == PayloadFormat::V1 {
            return Err(malformed(format!(
                "the function's response has an unexpected field `{key}`"
            )));
        }
    }
    let status = obj
        .get("statusCode")
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| malformed("the function's response has no valid statusCode"))?;
    let mut headers = HeaderMap::new();
    match obj.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(h)) => {
            for (k, v) in h {
                let v = header_value(v)
                    .ok_or_else(|| malformed(format!("header `{k}` is not a string")))?;
                put(&mut headers, k, &v, false)?;
            }
        }
        Some(_) => return Err(malformed("`headers` is not an object")),
    }
    match obj.get("multiValueHeaders") {
        None | Some(Value::Null) => {}
        Some(Value::Object(h)) => {
            for (k, vs) in h {
                let Value::Array(vs) = vs else {
                    return Err(malformed(format!("multiValueHeaders `{k}` is not a list")));
                };
                // Multi-value headers replace the single ones of the same name.
                if let Ok(n) = HeaderName::from_bytes(k.as_bytes()) {
                    headers.remove(n);
                }
                for v in vs {
                    let v = header_value(v)
                        .ok_or_else(|| malformed(format!("a value of `{k}` is not a string")))?;
                    put(&mut headers, k, &v, true)?;
                }
            }
        }
        Some(_) => return Err(malformed("`multiValueHeaders` is not an object")),
    }
    if format == PayloadFormat::V2 {
        if let Some(Value::Array(cookies)) = obj.get("cookies") {
            for c in cookies {
                let c = c
                    .as_str()
                    .ok_or_else(|| malformed("a cookie is not a string"))?;
                put(&mut headers, "set-cookie", c, true)?;
            }
        }
    }
    let base64 = match obj.get("isBase64Encoded") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        Some(_) => return Err(malformed("`isBase64Encoded` is not a boolean")),
    };
    let body = match obj.get("body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(s)) if base64 => Bytes::from(
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| malformed(format!("`body` is not base64: {e}")))?,
        ),
        Some(Value::String(s)) => Bytes::from(s.clone()),
        Some(_) => return Err(malformed("`body` is not a string")),
    };
    let mut resp = Response::new(Body::full(body));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    Ok(resp)
}

fn put(headers: &mut HeaderMap, name: &str, value: &str, append: bool) -> Result<(), Rejection> {
    let n = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| malformed(format!("`{name}` is not a header name")))?;
    let v = HeaderValue::from_str(value)
        .map_err(|_| malformed(format!("bad value for header `{name}`")))?;
    if append {
        headers.append(n, v);
    } else {
        headers.insert(n, v);
    }
    Ok(())
}

/// Headers as API Gateway gives them: `headers` (last value) and `multiValueHeaders`.
fn or_null(m: Map<String, Value>) -> Value {
    if m.is_empty() {
        Value::Null
    } else {
        Value::Object(m)
    }
}

fn body_field(body: &[u8], binary: bool) -> (Value, bool) {
    if body.is_empty() {
        return (Value::Null, false);
    }
    if binary {
        (
            base64::engine::general_purpose::STANDARD
                .encode(body)
                .into(),
            true,
        )
    } else {
        (String::from_utf8_lossy(body).into_owned().into(), false)
    }
}

struct Common {
    path_parameters: Map<String, Value>,
    stage_variables: Map<String, Value>,
    resource: String,
    stage: String,
    api: String,
    epoch_ms: u64,
    authorizer: Option<Map<String, Value>>,
}

fn common(rt: &dyn RouteInfo, ctx: &RequestCtx) -> Common {
    let names = rt.names(ctx);
    let path_parameters = rt
        .path_parameters(ctx)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into()))
        .collect();
    let stage_variables = rt
        .stage_variables(ctx)
        .iter()
        .map(|(k, v)| (k.to_string(), (**v).into()))
        .collect();
    Common {
        path_parameters,
        stage_variables,
        resource: names.resource.unwrap_or("").to_owned(),
        stage: names.stage.unwrap_or("").to_owned(),
        api: names.api.unwrap_or("").to_owned(),
        epoch_ms: ctx.request_time_ms(),
        authorizer: ctx.authorizer.as_ref().map(|a| a.json()),
    }
}

fn protocol(ctx: &RequestCtx) -> &'static str {
    match ctx.version {
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        http::Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    }
}

fn clf(epoch_ms: u64) -> String {
    let mut s = String::new();
    crate::context_template::clf_time(UNIX_EPOCH + Duration::from_millis(epoch_ms), &mut s);
    s
}

/// Payload format 1.0 (REST APIs).
pub fn event_v1(
    rt: &dyn RouteInfo,
    ctx: &RequestCtx,
    headers: &HeaderMap,
    body: &[u8],
    binary: bool,
) -> Value {
    let c = common(rt, ctx);
    let (single, multi) = convert::last_and_all(convert::multi_headers(headers));
    let (qs, mqs) = convert::last_and_all(convert::query(ctx.query()));
    let mut identity = Map::new();
    identity.insert("sourceIp".into(), ctx.source_ip.to_string().into());
    identity.insert(
        "userAgent".into(),
        ctx.user_agent.as_ref().and_then(|v| v.to_str().ok()).into(),
    );
    let mut rc = Map::new();
    rc.insert("resourcePath".into(), c.resource.as_str().into());
    rc.insert("httpMethod".into(), ctx.method.as_str().into());
    rc.insert("path".into(), ctx.path().into());
    rc.insert("stage".into(), c.stage.as_str().into());
    rc.insert("requestId".into(), ctx.request_id.to_string().into());
    rc.insert(
        "extendedRequestId".into(),
        ctx.request_id.to_string().into(),
    );
    rc.insert("apiId".into(), c.api.as_str().into());
    rc.insert("protocol".into(), protocol(ctx).into());
    rc.insert("requestTime".into(), clf(c.epoch_ms).into());
    rc.insert("requestTimeEpoch".into(), c.epoch_ms.into());
    rc.insert("domainName".into(), ctx.host_name().unwrap_or("").into());
    rc.insert("identity".into(), Value::Object(identity));
    if let Some(a) = c.authorizer {
        rc.insert("authorizer".into(), Value::Object(a));
    }
    let (body, is_b64) = body_field(body, binary);
    let mut e = Map::new();
    e.insert("resource".into(), c.resource.into());
    e.insert("path".into(), ctx.path().into());
    e.insert("httpMethod".into(), ctx.method.as_str().into());
    e.insert("headers".into(), or_null(single));
    e.insert("multiValueHeaders".into(), or_null(multi));
    e.insert("queryStringParameters".into(), or_null(qs));
    e.insert("multiValueQueryStringParameters".into(), or_null(mqs));
    e.insert("pathParameters".into(), or_null(c.path_parameters));
    e.insert("stageVariables".into(), or_null(c.stage_variables));
    e.insert("requestContext".into(), Value::Object(rc));
    e.insert("body".into(), body);
    e.insert("isBase64Encoded".into(), is_b64.into());
    Value::Object(e)
}

/// Payload format 2.0 (HTTP APIs).
pub fn event_v2(
    rt: &dyn RouteInfo,
    ctx: &RequestCtx,
    headers: &HeaderMap,
    body: &[u8],
    binary: bool,
) -> Value {
    let c = common(rt, ctx);
    let mut h = Map::new();
    let mut cookies = Vec::new();
    for mv in convert::multi_headers(headers) {
        if mv.name == "cookie" {
            for v in &mv.values {
                cookies.extend(v.split(';').map(|c| Value::from(c.trim())));
            }
            continue;
        }
        h.insert(mv.name, mv.values.join(",").into());
    }
    let mut qs = Map::new();
    for mv in convert::query(ctx.query()) {
        qs.insert(mv.name, mv.values.join(",").into());
    }
    let route_key = format!("{} {}", ctx.method.as_str(), c.resource);
    let mut http_ = Map::new();
    http_.insert("method".into(), ctx.method.as_str().into());
    http_.insert("path".into(), ctx.path().into());
    http_.insert("protocol".into(), protocol(ctx).into());
    http_.insert("sourceIp".into(), ctx.source_ip.to_string().into());
    http_.insert(
        "userAgent".into(),
        ctx.user_agent
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .into(),
    );
    let mut rc = Map::new();
    rc.insert("apiId".into(), c.api.as_str().into());
    rc.insert("domainName".into(), ctx.host_name().unwrap_or("").into());
    rc.insert("http".into(), Value::Object(http_));
    rc.insert("requestId".into(), ctx.request_id.to_string().into());
    rc.insert("routeKey".into(), route_key.as_str().into());
    rc.insert("stage".into(), c.stage.as_str().into());
    rc.insert("time".into(), clf(c.epoch_ms).into());
    rc.insert("timeEpoch".into(), c.epoch_ms.into());
    if let Some(a) = c.authorizer {
        let mut lambda = Map::new();
        lambda.insert("lambda".into(), Value::Object(a));
        rc.insert("authorizer".into(), Value::Object(lambda));
    }
    let (body, is_b64) = body_field(body, binary);
    let mut e = Map::new();
    e.insert("version".into(), "2.0".into());
    e.insert("routeKey".into(), route_key.into());
    e.insert("rawPath".into(), ctx.path().into());
    e.insert("rawQueryString".into(), ctx.query().unwrap_or("").into());
    if !cookies.is_empty() {
        e.insert("cookies".into(), Value::Array(cookies));
    }
    e.insert("headers".into(), Value::Object(h));
    if !qs.is_empty() {
        e.insert("queryStringParameters".into(), Value::Object(qs));
    }
    if !c.path_parameters.is_empty() {
        e.insert("pathParameters".into(), Value::Object(c.path_parameters));
    }
    if !c.stage_variables.is_empty() {
        e.insert("stageVariables".into(), Value::Object(c.stage_variables));
    }
    e.insert("requestContext".into(), Value::Object(rc));
    if !body.is_null() {
        e.insert("body".into(), body);
    }
    e.insert("isBase64Encoded".into(), is_b64.into());
    Value::Object(e)
}
