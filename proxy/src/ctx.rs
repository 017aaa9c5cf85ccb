//! `RequestCtx`: what the stages learn about one request, passed from stage to stage and read
//! at the end by the access log, the metrics and gateway-response templates.

use crate::error::Rejection;
use crate::router::ParamSpans;
use http::{HeaderName, HeaderValue, Method, Uri, Version};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use uuid::Uuid;

mod client_cert;
mod exec_trace;
pub use client_cert::ClientCert;
pub use exec_trace::{body_text, headers_text, ExecLogSettings, ExecTrace, MAX_TRACED_BODY};

/// Where the router sent the request: indices into the runtime's APIs, stages and resources.
#[derive(Debug, Clone)]
pub struct Matched {
    pub api: usize,
    pub stage: usize,
    pub resource: usize,
    pub method: usize,
    /// Byte offset in the request path where the resource path starts (after base and stage).
    pub rest_start: usize,
    /// Path parameter values, as spans of the request path, in the resource's parameter order.
    pub params: ParamSpans,
}

/// What an authorizer allowed: who the caller is and the context it passed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthContext {
    pub principal_id: String,
    pub context: Vec<(String, String)>,
    pub usage_identifier_key: Option<String>,
    /// What a JWT or Cognito authorizer read from the token.
    pub jwt: Option<Box<JwtIdentity>>,
}

/// Who signed a request that verified (IAM authorization).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamIdentity {
    pub access_key: String,
    pub principal: String,
    /// The account of the principal's ARN.
    pub account_id: String,
    /// The part of the ARN after the account (`user/NAME`).
    pub user: String,
}

/// The verified token of a JWT or Cognito authorizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtIdentity {
    /// The `sub` claim.
    pub principal: String,
    /// Every claim, as text (`$context.authorizer.claims.NAME`).
    pub claims: Vec<(String, String)>,
    /// The token's scopes, when it has any.
    pub scopes: Option<Vec<String>>,
}

impl JwtIdentity {
    pub fn claims_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.claims
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().into()))
            .collect()
    }
}

impl AuthContext {
    /// A value of `$context.authorizer.KEY`: the context's, or a claim (`claims.NAME`).
    pub fn get(&self, key: &str) -> Option<&str> {
        if let (Some(j), Some(claim)) = (&self.jwt, key.strip_prefix("claims.")) {
            return j
                .claims
                .iter()
                .find(|(k, _)| k == claim)
                .map(|(_, v)| v.as_str());
        }
        self.context
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `{"principalId": .., KEY: VALUE, ..}`, as Lambda events and templates see it; for a
    /// token, `{"claims": {..}}` as for Cognito authorizers.
    pub fn json(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        if let Some(j) = &self.jwt {
            m.insert("claims".into(), j.claims_json().into());
            return m;
        }
        // Simple responses (payload 2.0) name no principal.
        if !self.principal_id.is_empty() {
            m.insert("principalId".into(), self.principal_id.as_str().into());
        }
        for (k, v) in &self.context {
            m.insert(k.clone(), v.as_str().into());
        }
        m
    }
}

/// One event of a WebSocket connection (`$context.eventType`, `routeKey`, `connectionId`,
/// `messageId`, `connectedAt`).
#[derive(Debug, Clone)]
pub struct WsEvent {
    /// `CONNECT`, `MESSAGE` or `DISCONNECT`.
    pub event_type: &'static str,
    pub route_key: Box<str>,
    pub connection_id: Box<str>,
    /// A message's id (messages only).
    pub message_id: Option<Box<str>>,
    /// Milliseconds since the Unix epoch when the connection was made.
    pub connected_at: u64,
}

/// Everything known about one request as it moves through the pipeline.
#[derive(Debug)]
pub struct RequestCtx {
    pub request_id: Uuid,
    pub started: Instant,
    pub request_time: SystemTime,
    pub source_ip: IpAddr,
    pub tls: bool,
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub host: Option<HeaderValue>,
    pub user_agent: Option<HeaderValue>,
    /// The `Origin` header, for CORS.
    pub origin: Option<HeaderValue>,
    /// API matched by host and base path (even when no resource matched).
    pub api: Option<usize>,
    pub stage: Option<usize>,
    pub matched: Option<Matched>,
    pub status: u16,
    pub response_length: Option<u64>,
    pub response_latency: Option<Duration>,
    pub integration_latency: Option<Duration>,
    pub integration_status: Option<u16>,
    /// Why the backend's answer body failed after its head was sent.
    pub integration_error: Option<Box<str>>,
    pub error: Option<Rejection>,
    /// On a stage with an execution log: what the log needs beside this context.
    pub exec: Option<Box<ExecTrace>>,
    /// For an event of a WebSocket session: what its access log line tells of it.
    pub ws_event: Option<Box<WsEvent>>,
    /// Set once an authorizer allowed the request.
    pub authorizer: Option<Arc<AuthContext>>,
    /// Set while the gateway waits for the client's next request body bytes; `None` for a
    /// request without a body.
    pub client_body_waiting: Option<Arc<AtomicBool>>,
    /// The API key the request was admitted with, as `(key, key id)`.
    pub api_key: Option<(Box<str>, Box<str>)>,
    /// Who signed the request, on an `AWS_IAM` method.
    pub iam: Option<Arc<IamIdentity>>,
    /// The connection's verified client certificate (mutual TLS).
    pub client_cert: Option<Arc<ClientCert>>,
    /// On a stage with a canary: whether the canary serves this request.
    pub canary: Option<bool>,
    /// The request's spans, when it is traced.
    pub trace: crate::trace::RequestTrace,
    /// The request body's declared length (`Content-Length`), for usage reports.
    pub request_length: Option<u64>,
}

impl RequestCtx {
    pub fn new(parts: &http::request::Parts, source_ip: IpAddr, tls: bool) -> Self {
        // The request target's authority wins over `Host` (`pipeline::head` checks both).
        let host = parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            .or_else(|| parts.headers.get(http::header::HOST).cloned());
        Self {
            request_id: Uuid::new_v4(),
            started: Instant::now(),
            request_time: SystemTime::now(),
            source_ip,
            tls,
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            version: parts.version,
            host,
            user_agent: parts.headers.get(http::header::USER_AGENT).cloned(),
            origin: parts.headers.get(http::header::ORIGIN).cloned(),
            api: None,
            stage: None,
            matched: None,
            status: 0,
            response_length: None,
            response_latency: None,
            integration_latency: None,
            integration_status: None,
            integration_error: None,
            error: None,
            exec: None,
            ws_event: None,
            authorizer: None,
            client_body_waiting: None,
            api_key: None,
            iam: None,
            client_cert: None,
            canary: None,
            trace: crate::trace::RequestTrace::OFF,
            request_length: parts
                .headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok()),
        }
    }

    /// Whether the gateway is waiting for the client's next request body bytes (so a timeout
    /// now is the client's, not the backend's).
    pub fn client_still_sending(&self) -> bool {
        self.client_body_waiting
            .as_ref()
            .is_some_and(|w| w.load(Ordering::Relaxed))
    }

    /// The client's address as text, in one allocation of its final size (`to_string` makes
    /// one too short and grows it).
    pub fn source_ip_text(&self) -> String {
        use std::fmt::Write as _;
        // The longest forms: `255.255.255.255` and `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`.
        let mut text = String::with_capacity(if self.source_ip.is_ipv4() { 15 } else { 45 });
        let _ = write!(text, "{}", self.source_ip);
        text
    }

    /// Milliseconds since the Unix epoch when the request arrived.
    pub fn request_time_ms(&self) -> u64 {
        self.request_time
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    /// The request path, without the query string.
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// The query string, if any.
    pub fn query(&self) -> Option<&str> {
        self.uri.query()
    }

    /// The value of the `i`th path parameter, still percent-encoded as the client sent it.
    pub fn param_raw(&self, i: usize) -> Option<&str> {
        let m = self.matched.as_ref()?;
        let (start, end) = *m.params.get(i)?;
        self.path().get(start as usize..end as usize)
    }

    /// The host the client asked for, without the port.
    pub fn host_name(&self) -> Option<&str> {
        let host = self.host.as_ref()?.to_str().ok()?;
        Some(strip_port(host))
    }
}

/// Bytes (a header value, a body) as text, invalid UTF-8 replaced with U+FFFD. Valid text,
/// nearly every header value, is checked by `str::from_utf8`, which takes ASCII a word at a
/// time, where `String::from_utf8_lossy` goes byte by byte: 24 against 247 ns for an 800-byte
/// bearer token.
pub fn utf8_text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// The `i`th path parameter's value, percent-decoded (invalid UTF-8 replaced with U+FFFD);
/// empty when there is none.
pub fn decoded_param(ctx: &RequestCtx, i: usize) -> std::borrow::Cow<'_, str> {
    percent_encoding::percent_decode_str(ctx.param_raw(i).unwrap_or("")).decode_utf8_lossy()
}

/// `example.com:8080` -> `example.com`, `[::1]:80` -> `[::1]`.
pub fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rfind(':') {
        Some(i) if host[i + 1..].bytes().all(|b| b.is_ascii_digit()) => &host[..i],
        _ => host,
    }
}

/// Names the runtime resolves for the request's indices (API, stage, resource).
#[derive(Debug, Default, Clone, Copy)]
pub struct Names<'a> {
    pub api: Option<&'a str>,
    pub stage: Option<&'a str>,
    pub resource: Option<&'a str>,
}

/// What the stages and integrations read of the matched route beside the request itself: the
/// runtime implements it, so the code below the runtime does not depend on it.
pub trait RouteInfo: Sync {
    /// The matched resource's path parameter names, in path order: the `i`th one's value is
    /// [`RequestCtx::param_raw`]`(i)`.
    fn path_parameter_names(&self, ctx: &RequestCtx) -> &[Box<str>];
    /// The matched resource's path parameters by name, percent-decoded, in path order.
    fn path_parameters(&self, ctx: &RequestCtx) -> Vec<(&str, String)> {
        self.path_parameter_names(ctx)
            .iter()
            .enumerate()
            .map(|(i, name)| (&**name, decoded_param(ctx, i).into_owned()))
            .collect()
    }
    /// The matched stage's variables.
    fn stage_variables(&self, ctx: &RequestCtx) -> &[(Box<str>, Box<str>)];
    /// Names for `$context` templates.
    fn names(&self, ctx: &RequestCtx) -> Names<'_>;
}

/// Where an authorizer reads the caller's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    Header(HeaderName),
    Query(String),
}

impl IdentitySource {
    /// Parses `header.NAME`, `query.NAME`, or API Gateway's `method.request.header.NAME` and
    /// `method.request.querystring.NAME`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s2 = s.strip_prefix("method.request.").unwrap_or(s);
        if let Some(h) = s2.strip_prefix("header.") {
            return HeaderName::from_bytes(h.as_bytes())
                .map(Self::Header)
                .map_err(|_| format!("`{h}` is not a valid header name"));
        }
        if let Some(q) = s2
            .strip_prefix("query.")
            .or_else(|| s2.strip_prefix("querystring."))
        {
            if !q.is_empty() {
                return Ok(Self::Query(q.to_owned()));
            }
        }
        Err(format!(
            "expected an identity source such as `header.Authorization` or `query.token`, found `{s}`"
        ))
    }

    pub fn value<'a>(
        &self,
        headers: &'a http::HeaderMap,
        query: Option<&'a str>,
    ) -> Option<&'a str> {
        match self {
            Self::Header(h) => headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty()),
            Self::Query(name) => query?
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| k == name)
                .map(|(_, v)| v)
                .filter(|v| !v.is_empty()),
        }
    }
}

/// Milliseconds on a process-wide monotonic clock, for cheap activity stamps.
pub fn monotonic_ms() -> u64 {
    static BASE: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    BASE.get_or_init(std::time::Instant::now)
        .elapsed()
        .as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::{strip_port, IdentitySource};
    use http::HeaderName;

    #[test]
    fn ports_are_stripped_from_names_and_ipv6_literals() {
        assert_eq!(strip_port("example.com:8080"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
    }

    #[test]
    fn identity_sources_parse_both_spellings() {
        assert_eq!(
            IdentitySource::parse("header.Authorization").unwrap(),
            IdentitySource::Header(HeaderName::from_static("authorization"))
        );
        assert_eq!(
            IdentitySource::parse("method.request.header.X-Token").unwrap(),
            IdentitySource::Header(HeaderName::from_static("x-token"))
        );
        assert_eq!(
            IdentitySource::parse("method.request.querystring.t").unwrap(),
            IdentitySource::Query("t".into())
        );
        assert!(IdentitySource::parse("cookie.x").is_err());
    }

    #[test]
    fn identity_values_come_from_headers_and_query() {
        let mut h = http::HeaderMap::new();
        h.insert("authorization", "Bearer x".parse().unwrap());
        let src = IdentitySource::parse("header.Authorization").unwrap();
        assert_eq!(src.value(&h, None), Some("Bearer x"));
        let q = IdentitySource::parse("query.token").unwrap();
        assert_eq!(q.value(&h, Some("a=1&token=abc")), Some("abc"));
        assert_eq!(q.value(&h, Some("token=")), None);
    }
}
