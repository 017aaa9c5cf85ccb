//! Templates over API Gateway's `$context` variables, compiled once at load: the access-log
//! format and gateway-response bodies and headers use them.
//!
//! A template is split into literal text and variables. Rendering appends to a caller-owned
//! buffer. When the template is JSON (it starts with `{`), every value is JSON-escaped so
//! the line stays valid JSON whatever a client sent.

pub use crate::ctx::Names;
use crate::ctx::{ClientCert, RequestCtx, WsEvent};
use std::fmt::Write as _;
use std::time::UNIX_EPOCH;

/// A `$context` variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextVar {
    /// `$context.authorizer.principalId`
    AuthorizerPrincipalId,
    /// `$context.authorizer.KEY`: a value of the authorizer's context map.
    Authorizer(Box<str>),
    RequestId,
    ExtendedRequestId,
    ApiId,
    Stage,
    ResourcePath,
    Path,
    HttpMethod,
    Protocol,
    Status,
    ResponseLatency,
    IntegrationLatency,
    IntegrationStatus,
    ResponseLength,
    RequestTime,
    RequestTimeEpoch,
    DomainName,
    SourceIp,
    UserAgent,
    /// `$context.identity.clientCert.NAME` (mutual TLS): one of [`ClientCert::FIELDS`].
    ClientCert(&'static str),
    ErrorMessage,
    ErrorMessageString,
    ErrorResponseType,
    IntegrationError,
    IsCanaryRequest,
    /// WebSocket events: `CONNECT`, `MESSAGE` or `DISCONNECT`.
    EventType,
    RouteKey,
    ConnectionId,
    MessageId,
    ConnectedAt,
    MessageDirection,
}

const VARS: &[(&str, ContextVar)] = &[
    ("requestId", ContextVar::RequestId),
    ("extendedRequestId", ContextVar::ExtendedRequestId),
    ("apiId", ContextVar::ApiId),
    ("stage", ContextVar::Stage),
    ("resourcePath", ContextVar::ResourcePath),
    ("path", ContextVar::Path),
    ("httpMethod", ContextVar::HttpMethod),
    ("protocol", ContextVar::Protocol),
    ("status", ContextVar::Status),
    ("responseLatency", ContextVar::ResponseLatency),
    ("integrationLatency", ContextVar::IntegrationLatency),
    ("integration.latency", ContextVar::IntegrationLatency),
    ("integrationStatus", ContextVar::IntegrationStatus),
    ("integration.status", ContextVar::IntegrationStatus),
    ("responseLength", ContextVar::ResponseLength),
    ("requestTime", ContextVar::RequestTime),
    ("requestTimeEpoch", ContextVar::RequestTimeEpoch),
    ("domainName", ContextVar::DomainName),
    ("identity.sourceIp", ContextVar::SourceIp),
    ("identity.userAgent", ContextVar::UserAgent),
    ("error.message", ContextVar::ErrorMessage),
    ("error.messageString", ContextVar::ErrorMessageString),
    ("error.responseType", ContextVar::ErrorResponseType),
    ("integration.error", ContextVar::IntegrationError),
    ("integrationErrorMessage", ContextVar::IntegrationError),
    ("isCanaryRequest", ContextVar::IsCanaryRequest),
    ("eventType", ContextVar::EventType),
    ("routeKey", ContextVar::RouteKey),
    ("connectionId", ContextVar::ConnectionId),
    ("messageId", ContextVar::MessageId),
    ("connectedAt", ContextVar::ConnectedAt),
    ("messageDirection", ContextVar::MessageDirection),
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(Box<str>),
    Var(ContextVar),
}

/// A compiled template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextTemplate {
    segments: Box<[Segment]>,
    json: bool,
}

impl ContextTemplate {
    /// Compiles `src`; an unknown `$context.X` is an error naming it.
    pub fn compile(src: &str) -> Result<Self, String> {
        const PREFIX: &str = "$context.";
        let mut segments = Vec::new();
        let mut rest = src;
        while let Some(at) = rest.find(PREFIX) {
            if at > 0 {
                segments.push(Segment::Text(rest[..at].into()));
            }
            let after = &rest[at + PREFIX.len()..];
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
                .unwrap_or(after.len());
            let name = after[..len].trim_end_matches('.');
            let authorizer = name.strip_prefix("authorizer.").filter(|k| !k.is_empty());
            let cert = name
                .strip_prefix("identity.clientCert.")
                .and_then(|f| ClientCert::FIELDS.iter().find(|n| **n == f));
            let var = match (authorizer, cert) {
                (Some("principalId"), _) => Some(ContextVar::AuthorizerPrincipalId),
                (Some(key), _) => Some(ContextVar::Authorizer(key.into())),
                (None, Some(field)) => Some(ContextVar::ClientCert(field)),
                (None, None) => VARS
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.clone()),
            };
            let var = var.ok_or_else(|| {
                    format!(
                        "unknown variable `$context.{name}`; known: {}, $context.authorizer.principalId, $context.authorizer.KEY",
                        VARS.iter()
                            .map(|(n, _)| format!("$context.{n}"))
                            .chain(
                                ClientCert::FIELDS
                                    .iter()
                                    .map(|f| format!("$context.identity.clientCert.{f}"))
                            )
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
            segments.push(Segment::Var(var));
            rest = &after[name.len()..];
        }
        if !rest.is_empty() {
            segments.push(Segment::Text(rest.into()));
        }
        Ok(Self {
            segments: segments.into_boxed_slice(),
            json: src.trim_start().starts_with('{'),
        })
    }

    /// Whether the template has no variables (its text can be used as it is).
    pub fn as_static(&self) -> Option<&str> {
        match &*self.segments {
            [] => Some(""),
            [Segment::Text(t)] => Some(t),
            _ => None,
        }
    }

    /// Appends the rendered template to `out`.
    pub fn render(&self, ctx: &RequestCtx, names: Names<'_>, out: &mut String) {
        for seg in self.segments.iter() {
            match seg {
                Segment::Text(t) => out.push_str(t),
                Segment::Var(v) => self.render_var(v, ctx, names, out),
            }
        }
    }

    fn render_var(&self, var: &ContextVar, ctx: &RequestCtx, names: Names<'_>, out: &mut String) {
        use ContextVar::*;
        let mut put = |s: &str| push_value(out, s, self.json);
        let auth = ctx.authorizer.as_deref();
        match var {
            AuthorizerPrincipalId => put(auth.map_or("-", |a| &a.principal_id)),
            Authorizer(key) => put(auth.and_then(|a| a.get(key)).unwrap_or("-")),
            RequestId | ExtendedRequestId => {
                let mut buf = uuid::Uuid::encode_buffer();
                put(ctx.request_id.hyphenated().encode_lower(&mut buf));
            }
            ApiId => put(names.api.unwrap_or("-")),
            Stage => put(names.stage.unwrap_or("-")),
            ResourcePath => put(names.resource.unwrap_or("-")),
            Path => put(ctx.path()),
            HttpMethod => put(ctx.method.as_str()),
            Protocol => put(protocol_name(ctx.version)),
            Status => put_num(out, ctx.status as u64),
            ResponseLatency => put_opt(out, ctx.response_latency.map(|d| d.as_millis() as u64)),
            IntegrationLatency => {
                put_opt(out, ctx.integration_latency.map(|d| d.as_millis() as u64))
            }
            IntegrationStatus => put_opt(out, ctx.integration_status.map(u64::from)),
            ResponseLength => put_opt(out, ctx.response_length),
            RequestTime => {
                let mut s = String::with_capacity(26);
                clf_time(ctx.request_time, &mut s);
                out.push_str(&s);
            }
            RequestTimeEpoch => put_num(
                out,
                ctx.request_time
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0),
            ),
            DomainName => put(ctx.host_name().unwrap_or("-")),
            SourceIp => {
                let _ = write!(out, "{}", ctx.source_ip);
            }
            UserAgent => put(ctx
                .user_agent
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")),
            ClientCert(field) => put(ctx
                .client_cert
                .as_deref()
                .and_then(|c| c.field(field))
                .unwrap_or("-")),
            ErrorMessage => put(error_message(ctx)),
            ErrorMessageString => {
                out.push('"');
                push_value(out, error_message(ctx), true);
                out.push('"');
            }
            ErrorResponseType => put(ctx.error.as_ref().map(|e| e.kind.name()).unwrap_or("-")),
            IntegrationError => put(integration_error(ctx)),
            IsCanaryRequest => put(match ctx.canary {
                Some(true) => "true",
                Some(false) => "false",
                None => "-",
            }),
            EventType | RouteKey | ConnectionId | MessageId | ConnectedAt | MessageDirection => {
                self.render_ws(var, ctx.ws_event.as_deref(), out)
            }
        }
    }

    /// The variables of a WebSocket event; `-` for a request that is not one.
    fn render_ws(&self, var: &ContextVar, ev: Option<&WsEvent>, out: &mut String) {
        use ContextVar::*;
        let Some(ev) = ev else {
            out.push('-');
            return;
        };
        let mut put = |s: &str| push_value(out, s, self.json);
        match var {
            EventType => put(ev.event_type),
            RouteKey => put(&ev.route_key),
            ConnectionId => put(&ev.connection_id),
            MessageId => put(ev.message_id.as_deref().unwrap_or("-")),
            MessageDirection => put("IN"),
            ConnectedAt => put_num(out, ev.connected_at),
            _ => {}
        }
    }
}

/// Why the integration failed: its answer body after the head was sent, or the whole
/// exchange (an integration failure or timeout answered by the gateway).
fn integration_error(ctx: &RequestCtx) -> &str {
    use crate::error::ResponseType::{IntegrationFailure, IntegrationTimeout};
    match (&ctx.integration_error, &ctx.error) {
        (Some(e), _) => e,
        (None, Some(r)) if matches!(r.kind, IntegrationFailure | IntegrationTimeout) => &r.reason,
        _ => "-",
    }
}

fn error_message(ctx: &RequestCtx) -> &str {
    ctx.error.as_ref().map(|e| e.message()).unwrap_or("-")
}

/// `HTTP/1.1`, `HTTP/2.0`, as API Gateway writes `$context.protocol`.
pub fn protocol_name(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

fn put_num(out: &mut String, n: u64) {
    let _ = write!(out, "{n}");
}

fn put_opt(out: &mut String, n: Option<u64>) {
    match n {
        Some(n) => put_num(out, n),
        None => out.push('-'),
    }
}

/// Appends `s`, JSON-escaped (without quotes) when `json`.
fn push_value(out: &mut String, s: &str, json: bool) {
    if !json {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// Appends `t` in Common Log Format, UTC: `24/Nov/2026:20:26:40 +0000`.
pub fn clf_time(t: std::time::SystemTime, out: &mut String) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    let _ = write!(
        out,
        "{d:02}/{}/{y}:{:02}:{:02}:{:02} +0000",
        MONTHS[(m - 1) as usize],
        s / 3600,
        (s / 60) % 60,
        s % 60
    );
}

/// Milliseconds since the Unix epoch as ISO 8601 in UTC: `2026-11-24T20:26:40.123Z`.
pub fn iso8601_millis(ms: u64) -> String {
    let secs = ms / 1000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        (s / 60) % 60,
        s % 60,
        ms % 1000
    )
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ctx() -> RequestCtx {
        let (parts, ()) = http::Request::builder()
            .method("POST")
            .uri("/prod/pets/7?x=1")
            .header("host", "api.example.com:8080")
            .header("user-agent", "curl/8 \"quoted\"")
            .body(())
            .unwrap()
            .into_parts();
        let mut c = RequestCtx::new(&parts, "10.0.0.1".parse().unwrap(), false);
        c.status = 201;
        c.response_latency = Some(Duration::from_millis(12));
        c
    }

    #[test]
    fn renders_known_variables_and_dashes_for_missing_ones() {
        let t = ContextTemplate::compile(
            "$context.httpMethod $context.path $context.status $context.responseLatency $context.integrationLatency $context.domainName $context.stage.",
        )
        .unwrap();
        let mut out = String::new();
        t.render(
            &ctx(),
            Names {
                stage: Some("prod"),
                ..Names::default()
            },
            &mut out,
        );
        assert_eq!(out, "POST /prod/pets/7 201 12 - api.example.com prod.");
    }

    #[test]
    fn json_templates_escape_values() {
        let t = ContextTemplate::compile(r#"{"ua":"$context.identity.userAgent"}"#).unwrap();
        let mut out = String::new();
        t.render(&ctx(), Names::default(), &mut out);
        assert_eq!(out, r#"{"ua":"curl/8 \"quoted\""}"#);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["ua"], "curl/8 \"quoted\"");
    }

    #[test]
    fn unknown_variables_are_rejected_by_name() {
        let err = ContextTemplate::compile("$context.nope").unwrap_err();
        assert!(err.starts_with("unknown variable `$context.nope`"), "{err}");
    }

    #[test]
    fn authorizer_values_come_from_the_context_map() {
        let t = ContextTemplate::compile(
            "$context.authorizer.principalId $context.authorizer.user $context.authorizer.nope",
        )
        .unwrap();
        let mut c = ctx();
        let mut out = String::new();
        t.render(&c, Names::default(), &mut out);
        assert_eq!(out, "- - -");
        c.authorizer = Some(std::sync::Arc::new(crate::ctx::AuthContext {
            principal_id: "alice".into(),
            context: vec![("user".into(), "a1".into())],
            usage_identifier_key: None,
            jwt: None,
        }));
        out.clear();
        t.render(&c, Names::default(), &mut out);
        assert_eq!(out, "alice a1 -");
    }

    #[test]
    fn websocket_variables_come_from_the_event() {
        let t = ContextTemplate::compile(
            "$context.eventType $context.routeKey $context.connectionId $context.messageId $context.connectedAt $context.messageDirection",
        )
        .unwrap();
        let mut c = ctx();
        let mut out = String::new();
        t.render(&c, Names::default(), &mut out);
        assert_eq!(out, "- - - - - -");
        c.ws_event = Some(Box::new(WsEvent {
            event_type: "MESSAGE",
            route_key: "sendmessage".into(),
            connection_id: "abc".into(),
            message_id: Some("m1=".into()),
            connected_at: 17,
        }));
        out.clear();
        t.render(&c, Names::default(), &mut out);
        assert_eq!(out, "MESSAGE sendmessage abc m1= 17 IN");
    }

    #[test]
    fn static_templates_are_detected() {
        assert_eq!(
            ContextTemplate::compile("plain").unwrap().as_static(),
            Some("plain")
        );
        assert_eq!(
            ContextTemplate::compile("$context.status")
                .unwrap()
                .as_static(),
            None
        );
    }

    #[test]
    fn iso8601_matches_a_known_date() {
        assert_eq!(
            iso8601_millis(1_795_897_600_123),
            "2026-11-28T20:26:40.123Z"
        );
        assert_eq!(iso8601_millis(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn clf_time_matches_known_dates() {
        let mut s = String::new();
        clf_time(UNIX_EPOCH + Duration::from_secs(1_795_552_000), &mut s);
        assert_eq!(s, "24/Nov/2026:20:26:40 +0000");
        s.clear();
        clf_time(UNIX_EPOCH + Duration::from_secs(951_782_400), &mut s);
        assert_eq!(s, "29/Feb/2000:00:00:00 +0000");
    }
}
