//! The event a function receives: payload format 1.0 (REST APIs) and 2.0 (HTTP APIs), with
//! every key API Gateway sends, and null where it sends null (AWS, "Input format of a Lambda
//! function for proxy integration" and "Payload format version"; compared key by key with
//! the events recorded in aws-lambda-go and aws-lambda-rust-runtime).
//!
//! What Gatehouse has no value for is filled as API Gateway would for an anonymous caller:
//! the Cognito fields of `identity` are null, and so are the IAM fields unless SigV4 verified
//! the request and `clientCert` unless the connection is mutual TLS; `accountId` is
//! [`ACCOUNT_ID`], `resourceId` is a stable id derived from the API and resource path.

use super::header_case::Case;
use crate::ctx::{RequestCtx, RouteInfo};
use crate::plugin::convert;
use base64::Engine as _;
use http::header::HeaderMap;
use serde_json::{Map, Value};
use std::time::{Duration, UNIX_EPOCH};

/// The account id events carry (Gatehouse has no AWS account; LocalStack uses the same).
pub const ACCOUNT_ID: &str = "000000000000";

/// Region in ARNs the gateway makes up (`methodArn`, `routeArn`).
pub const REGION: &str = "us-east-1";

/// `arn:aws:execute-api:{region}:{account}:{api}/{stage}/{METHOD}/{path}`: the method a
/// Lambda authorizer's policy is evaluated for (the path as requested, after the stage), and
/// the `method-arn` 0.2.0 and 0.3.0 plugins are given.
pub fn method_arn(rt: &dyn RouteInfo, ctx: &RequestCtx) -> String {
    let parts = method_arn_parts(rt, ctx);
    // Sized once: `format!` guesses short and grows, two allocations on every authorized call.
    let mut arn = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    parts.iter().for_each(|p| arn.push_str(p));
    arn
}

/// [`method_arn`], shared, in one allocation (an `Arc` of a `String` takes two).
pub fn shared_method_arn(rt: &dyn RouteInfo, ctx: &RequestCtx) -> std::sync::Arc<str> {
    let parts = method_arn_parts(rt, ctx);
    let mut arn = [0; 512];
    if parts.iter().map(|p| p.len()).sum::<usize>() > arn.len() {
        return method_arn(rt, ctx).into();
    }
    let mut len = 0;
    for p in parts {
        arn[len..len + p.len()].copy_from_slice(p.as_bytes());
        len += p.len();
    }
    // Text joined from text is text: the check cannot fail.
    std::str::from_utf8(&arn[..len]).unwrap_or_default().into()
}

fn method_arn_parts<'a>(rt: &'a dyn RouteInfo, ctx: &'a RequestCtx) -> [&'a str; 12] {
    let names = rt.names(ctx);
    let rest = ctx
        .matched
        .as_ref()
        .and_then(|m| ctx.path().get(m.rest_start..))
        .unwrap_or("");
    [
        "arn:aws:execute-api:",
        REGION,
        ":",
        ACCOUNT_ID,
        ":",
        names.api.unwrap_or(""),
        "/",
        names.stage.unwrap_or(""),
        "/",
        ctx.method.as_str(),
        "/",
        rest.trim_start_matches('/'),
    ]
}

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
        let b64 = base64::engine::general_purpose::STANDARD.encode(body);
        (b64.into(), true)
    } else {
        (crate::ctx::utf8_text(body).into_owned().into(), false)
    }
}

/// What both formats share, read once.
struct Common {
    path_parameters: Map<String, Value>,
    stage_variables: Map<String, Value>,
    resource: String,
    stage: String,
    api: String,
    epoch_ms: u64,
    domain_name: String,
    authorizer: Option<Map<String, Value>>,
    /// The request's headers without hop-by-hop ones, which API Gateway does not pass on.
    headers: HeaderMap,
}

fn common(rt: &dyn RouteInfo, ctx: &RequestCtx, headers: &HeaderMap) -> Common {
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
    let mut headers = headers.clone();
    crate::integration::http_proxy::strip_hop_by_hop(&mut headers);
    Common {
        path_parameters,
        stage_variables,
        resource: names.resource.unwrap_or("").to_owned(),
        stage: names.stage.unwrap_or("").to_owned(),
        api: names.api.unwrap_or("").to_owned(),
        epoch_ms: ctx.request_time_ms(),
        domain_name: ctx.host_name().unwrap_or("").to_owned(),
        authorizer: ctx.authorizer.as_ref().map(|a| a.json()),
        headers,
    }
}

impl Common {
    /// `domainPrefix`: the first label of the domain name (all of an IP literal).
    fn domain_prefix(&self) -> &str {
        let d = &self.domain_name;
        if d.parse::<std::net::IpAddr>().is_ok() || d.starts_with('[') {
            return d;
        }
        d.split('.').next().unwrap_or("")
    }
}

pub(crate) fn protocol(ctx: &RequestCtx) -> &'static str {
    match ctx.version {
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        http::Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    }
}

/// `09/Apr/2015:12:34:56 +0000`, as `requestTime` and `time` are written.
pub(crate) fn clf(epoch_ms: u64) -> String {
    let mut s = String::new();
    crate::context_template::clf_time(UNIX_EPOCH + Duration::from_millis(epoch_ms), &mut s);
    s
}

/// An id shaped like API Gateway's `extendedRequestId` (`TWegAcC4EowCHnA=`).
pub(crate) fn extended_request_id(id: &uuid::Uuid) -> String {
    base64::engine::general_purpose::STANDARD.encode(&id.as_bytes()[..11])
}

/// A stable 6-character id for a resource, shaped like API Gateway's `resourceId`.
fn resource_id(api: &str, resource: &str) -> String {
    // FNV-1a: the same id on every node and every start.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in api.bytes().chain([0]).chain(resource.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..6)
        .map(|i| DIGITS[((h >> (i * 10)) % 36) as usize] as char)
        .collect()
}

/// `requestContext.identity` of payload 1.0: every key AWS sends, null where unknown.
fn identity(ctx: &RequestCtx) -> Value {
    let (key, key_id) = match &ctx.api_key {
        Some((key, id)) => (Value::from(&**key), Value::from(&**id)),
        None => (Value::Null, Value::Null),
    };
    let mut id = Map::new();
    for name in [
        "cognitoIdentityPoolId",
        "accountId",
        "cognitoIdentityId",
        "caller",
        "principalOrgId",
        "accessKey",
        "cognitoAuthenticationType",
        "cognitoAuthenticationProvider",
        "userArn",
        "user",
        "clientCert",
    ] {
        id.insert(name.into(), Value::Null);
    }
    if let Some(iam) = &ctx.iam {
        id.insert("accessKey".into(), iam.access_key.as_str().into());
        id.insert("accountId".into(), iam.account_id.as_str().into());
        id.insert("caller".into(), iam.access_key.as_str().into());
        id.insert("user".into(), iam.access_key.as_str().into());
        id.insert("userArn".into(), iam.principal.as_str().into());
    }
    if let Some(cert) = &ctx.client_cert {
        id.insert("clientCert".into(), cert.to_json());
    }
    id.insert("apiKey".into(), key);
    id.insert("apiKeyId".into(), key_id);
    id.insert("sourceIp".into(), ctx.source_ip_text().into());
    id.insert(
        "userAgent".into(),
        ctx.user_agent.as_ref().and_then(|v| v.to_str().ok()).into(),
    );
    Value::Object(id)
}

/// `headers` (the last value of each) and `multiValueHeaders` (all of them), named as the
/// client wrote them.
pub(crate) fn v1_headers(headers: &HeaderMap, case: &Case) -> (Value, Value) {
    let mut single = Map::new();
    let mut multi = Map::new();
    for name in headers.keys() {
        let values: Vec<Value> = headers
            .get_all(name)
            .iter()
            .map(|v| crate::ctx::utf8_text(v.as_bytes()).into_owned().into())
            .collect();
        let key = case.of(name.as_str()).to_owned();
        if let Some(last) = values.last() {
            single.insert(key.clone(), last.clone());
        }
        multi.insert(key, Value::Array(values));
    }
    (or_null(single), or_null(multi))
}

/// `queryStringParameters` (last value) and `multiValueQueryStringParameters`, null when none.
pub(crate) fn v1_query(query: Option<&str>) -> (Value, Value) {
    let (single, multi) = convert::last_and_all(convert::query(query));
    (or_null(single), or_null(multi))
}

/// Payload format 1.0 (REST APIs). `path` is the path after the stage (or base path);
/// `requestContext.path` is the path the client asked for, stage included.
pub fn event_v1(
    rt: &dyn RouteInfo,
    ctx: &RequestCtx,
    headers: &HeaderMap,
    case: &Case,
    body: &[u8],
    binary: bool,
) -> Value {
    let c = common(rt, ctx, headers);
    let (single, multi) = v1_headers(&c.headers, case);
    let (qs, mqs) = v1_query(ctx.query());
    let resource_path = match ctx
        .matched
        .as_ref()
        .and_then(|m| ctx.path().get(m.rest_start..))
    {
        Some(rest) if rest.starts_with('/') => rest.to_owned(),
        Some(rest) => format!("/{rest}"),
        None => ctx.path().to_owned(),
    };
    let mut rc = Map::new();
    rc.insert("accountId".into(), ACCOUNT_ID.into());
    rc.insert("resourceId".into(), resource_id(&c.api, &c.resource).into());
    rc.insert("resourcePath".into(), c.resource.as_str().into());
    rc.insert("httpMethod".into(), ctx.method.as_str().into());
    rc.insert("path".into(), ctx.path().into());
    rc.insert("stage".into(), c.stage.as_str().into());
    rc.insert("domainPrefix".into(), c.domain_prefix().into());
    rc.insert("domainName".into(), c.domain_name.as_str().into());
    rc.insert("requestId".into(), ctx.request_id.to_string().into());
    rc.insert(
        "extendedRequestId".into(),
        extended_request_id(&ctx.request_id).into(),
    );
    rc.insert("apiId".into(), c.api.as_str().into());
    rc.insert("protocol".into(), protocol(ctx).into());
    rc.insert("requestTime".into(), clf(c.epoch_ms).into());
    rc.insert("requestTimeEpoch".into(), c.epoch_ms.into());
    rc.insert("identity".into(), identity(ctx));
    if let Some(a) = c.authorizer {
        rc.insert("authorizer".into(), Value::Object(a));
    }
    let (body, is_b64) = body_field(body, binary);
    let mut e = Map::new();
    e.insert("resource".into(), c.resource.into());
    e.insert("path".into(), resource_path.into());
    e.insert("httpMethod".into(), ctx.method.as_str().into());
    e.insert("headers".into(), single);
    e.insert("multiValueHeaders".into(), multi);
    e.insert("queryStringParameters".into(), qs);
    e.insert("multiValueQueryStringParameters".into(), mqs);
    e.insert("pathParameters".into(), or_null(c.path_parameters));
    e.insert("stageVariables".into(), or_null(c.stage_variables));
    e.insert("requestContext".into(), Value::Object(rc));
    e.insert("body".into(), body);
    e.insert("isBase64Encoded".into(), is_b64.into());
    Value::Object(e)
}

/// Payload format 2.0 (HTTP APIs): lowercase header names, repeated headers and query
/// parameters joined with commas, `Cookie` headers as `cookies`; empty maps are left out.
pub fn event_v2(
    rt: &dyn RouteInfo,
    ctx: &RequestCtx,
    headers: &HeaderMap,
    body: &[u8],
    binary: bool,
) -> Value {
    let c = common(rt, ctx, headers);
    let mut h = Map::new();
    let mut cookies = Vec::new();
    for mv in convert::multi_headers(&c.headers) {
        if mv.name == "cookie" {
            for v in &mv.values {
                let parts = v.split(';').map(str::trim).filter(|c| !c.is_empty());
                cookies.extend(parts.map(Value::from));
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
    http_.insert("sourceIp".into(), ctx.source_ip_text().into());
    http_.insert(
        "userAgent".into(),
        ctx.user_agent
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .into(),
    );
    let mut rc = Map::new();
    rc.insert("accountId".into(), ACCOUNT_ID.into());
    rc.insert("apiId".into(), c.api.as_str().into());
    // Only mutual TLS fills `authentication` (`clientCert`); null without it.
    let authentication = match &ctx.client_cert {
        Some(cert) => serde_json::json!({ "clientCert": cert.to_json() }),
        None => Value::Null,
    };
    rc.insert("authentication".into(), authentication);
    rc.insert("domainName".into(), c.domain_name.as_str().into());
    rc.insert("domainPrefix".into(), c.domain_prefix().into());
    rc.insert("http".into(), Value::Object(http_));
    rc.insert("requestId".into(), ctx.request_id.to_string().into());
    rc.insert("routeKey".into(), route_key.as_str().into());
    rc.insert("stage".into(), c.stage.as_str().into());
    rc.insert("time".into(), clf(c.epoch_ms).into());
    rc.insert("timeEpoch".into(), c.epoch_ms.into());
    if let Some(auth) = ctx.authorizer.as_deref() {
        // HTTP APIs: `{"jwt": {"claims", "scopes"}}` for a token, `{"lambda": context}` else.
        let mut a = Map::new();
        match &auth.jwt {
            Some(j) => {
                let mut jwt = Map::new();
                jwt.insert("claims".into(), Value::Object(j.claims_json()));
                jwt.insert(
                    "scopes".into(),
                    j.scopes.as_ref().map_or(Value::Null, |s| s.clone().into()),
                );
                a.insert("jwt".into(), Value::Object(jwt));
            }
            None => {
                a.insert(
                    "lambda".into(),
                    Value::Object(c.authorizer.unwrap_or_default()),
                );
            }
        }
        rc.insert("authorizer".into(), Value::Object(a));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_shaped_like_api_gateways() {
        let id = resource_id("fns", "/v1/{proxy+}");
        assert_eq!(id.len(), 6);
        assert_eq!(id, resource_id("fns", "/v1/{proxy+}"));
        assert_ne!(id, resource_id("fns", "/v2/{proxy+}"));
        // "TWegAcC4EowCHnA=" in aws-lambda-go's apigw-request.json.
        let ext = extended_request_id(&uuid::Uuid::new_v4());
        assert_eq!(ext.len(), 16);
        assert!(ext.ends_with('='));
        // "15/May/2020:06:01:09 +0000" for 1589522469693 in the same event.
        assert_eq!(clf(1_589_522_469_693), "15/May/2020:06:01:09 +0000");
    }
}
