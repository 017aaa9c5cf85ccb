//! `http_proxy`: forward the request to a backend and stream both bodies.
//!
//! A WebSocket upgrade (HTTP/1.1) is passed through: the backend's `101` goes back to the
//! client and the two connections are spliced until either side closes or the gateway stops.
//!
//! The backend URI is a template with `{param}`, `{greedy}` and `${stageVariables.X}`; stage
//! variables are substituted at load (one template per stage), path parameters per request.

use crate::body::{client_body_rejection, Body, FromBackend};
use crate::ctx::RequestCtx;
use crate::error::{Rejection, ResponseType};
use crate::integration::Outbound;
use gatehouse_upstream::{Backend, SendBody};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::uri::Authority;
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body::Body as _;
use smallvec::SmallVec;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct HttpProxy {
    /// One template per stage, stage variables already substituted.
    pub uris: Box<[UriTemplate]>,
    /// Per stage: the plain-HTTP/1.1 backend, looked up on first use.
    pub backends: Box<[OnceLock<Arc<Backend>>]>,
    pub method: Option<Method>,
    pub timeout: Duration,
    pub http2_only: bool,
}

/// A backend URI with path parameters still to fill in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriTemplate {
    parts: Box<[UriPart]>,
    has_query: bool,
    len_hint: usize,
    /// When the URI is `http://` with an authority free of parameters: that authority, and
    /// the parts that make the request target (path and query).
    origin: Option<(Authority, Box<[UriPart]>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum UriPart {
    Text(Box<str>),
    /// Index into the resource's parameters.
    Param(usize),
}

impl UriTemplate {
    /// Compiles `uri` for one stage. `params` are the resource's parameter names in order;
    /// `var` looks up a stage variable.
    pub fn compile<'a>(
        uri: &str,
        params: &[Box<str>],
        var: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = uri;
        while let Some(open) = rest.find('{') {
            let is_var = open > 0 && rest.as_bytes()[open - 1] == b'$';
            let close = rest[open..]
                .find('}')
                .map(|c| open + c)
                .ok_or_else(|| format!("`{{` without a closing `}}` in `{uri}`"))?;
            let name = &rest[open + 1..close];
            if is_var {
                text.push_str(&rest[..open - 1]);
                let var_name = name.strip_prefix("stageVariables.").ok_or_else(|| {
                    format!("expected `${{stageVariables.NAME}}`, found `${{{name}}}`")
                })?;
                let value = var(var_name)
                    .ok_or_else(|| format!("stage variable `{var_name}` is not defined"))?;
                text.push_str(value);
            } else {
                text.push_str(&rest[..open]);
                let bare = name.strip_suffix('+').unwrap_or(name);
                let idx = params.iter().position(|p| &**p == bare).ok_or_else(|| {
                    let known: Vec<String> = params.iter().map(|p| format!("{{{p}}}")).collect();
                    format!(
                        "`{{{name}}}` is not a path parameter of this resource (it has {})",
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    )
                })?;
                if !text.is_empty() {
                    parts.push(UriPart::Text(std::mem::take(&mut text).into()));
                }
                parts.push(UriPart::Param(idx));
            }
            rest = &rest[close + 1..];
        }
        text.push_str(rest);
        if !text.is_empty() {
            parts.push(UriPart::Text(text.into()));
        }
        let origin = plain_origin(&parts);
        let t = Self {
            origin,
            has_query: parts
                .iter()
                .any(|p| matches!(p, UriPart::Text(t) if t.contains('?'))),
            len_hint: parts
                .iter()
                .map(|p| match p {
                    UriPart::Text(t) => t.len(),
                    UriPart::Param(_) => 16,
                })
                .sum(),
            parts: parts.into_boxed_slice(),
        };
        let sample = t.render(|_| Some("x"), None);
        let parsed: Uri = sample
            .parse()
            .map_err(|_| format!("expected an absolute http:// or https:// URL, found `{uri}`"))?;
        match (parsed.scheme_str(), parsed.authority()) {
            (Some("http" | "https"), Some(_)) => Ok(t),
            _ => Err(format!(
                "expected an absolute http:// or https:// URL, found `{uri}`"
            )),
        }
    }

    /// Renders the URI with parameter values and the client's query string appended.
    pub fn render<'a>(
        &self,
        param: impl Fn(usize) -> Option<&'a str>,
        query: Option<&str>,
    ) -> String {
        self.render_parts(&self.parts, param, query)
    }

    /// The backend's `host[:port]` when no parameter is part of it.
    pub fn address(&self) -> Option<&str> {
        let UriPart::Text(first) = self.parts.first()? else {
            return None;
        };
        let rest = first.split_once("://")?.1;
        let end = rest.find(['/', '?']);
        (end.is_some() || self.parts.len() == 1).then(|| &rest[..end.unwrap_or(rest.len())])
    }

    /// For a plain `http://` backend with a fixed authority: the authority and the request
    /// target (path and query) rendered like [`Self::render`].
    pub fn render_target<'a>(
        &self,
        param: impl Fn(usize) -> Option<&'a str>,
        query: Option<&str>,
    ) -> Option<(&Authority, String)> {
        let (authority, path) = self.origin.as_ref()?;
        Some((authority, self.render_parts(path, param, query)))
    }

    fn render_parts<'a>(
        &self,
        parts: &[UriPart],
        param: impl Fn(usize) -> Option<&'a str>,
        query: Option<&str>,
    ) -> String {
        let mut out = String::with_capacity(self.len_hint + query.map_or(0, |q| q.len() + 1));
        for p in parts {
            match p {
                UriPart::Text(t) => out.push_str(t),
                UriPart::Param(i) => out.push_str(param(*i).unwrap_or("")),
            }
        }
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            out.push(if self.has_query { '&' } else { '?' });
            out.push_str(q);
        }
        out
    }
}

/// The authority and target parts of a template that starts `http://host[:port]` with no
/// parameter, user info or fragment in the authority.
fn plain_origin(parts: &[UriPart]) -> Option<(Authority, Box<[UriPart]>)> {
    let UriPart::Text(first) = parts.first()? else {
        return None;
    };
    let rest = first.strip_prefix("http://")?;
    let end = rest.find(['/', '?']);
    if end.is_none() && parts.len() > 1 {
        return None;
    }
    let (authority, target) = rest.split_at(end.unwrap_or(rest.len()));
    if authority.contains('@') || authority.is_empty() {
        return None;
    }
    let authority: Authority = authority.parse().ok()?;
    let mut target_parts = Vec::with_capacity(parts.len());
    let lead = if target.starts_with('/') {
        target.to_owned()
    } else {
        format!("/{target}")
    };
    target_parts.push(UriPart::Text(lead.into()));
    target_parts.extend(parts[1..].iter().cloned());
    Some((authority, target_parts.into_boxed_slice()))
}

impl HttpProxy {
    pub async fn call(
        &self,
        shared: &dyn Outbound,
        ctx: &mut RequestCtx,
        stage: usize,
        mut parts: Parts,
        body: Body,
    ) -> Result<Response<Body>, Rejection> {
        let upstreams = &shared.upstreams();
        let upgrade = match is_upgrade(&parts.headers) {
            true => parts
                .extensions
                .remove::<hyper::upgrade::OnUpgrade>()
                .zip(parts.headers.get(header::UPGRADE).cloned()),
            false => None,
        };
        let mut headers = std::mem::take(&mut parts.headers);
        strip_hop_by_hop(&mut headers);
        headers.remove(header::HOST);
        headers.remove(header::EXPECT);
        add_forwarded(&mut headers, ctx);
        let uri = &self.uris[stage];
        ctx.trace
            .propagate(&mut headers, || uri.address().unwrap_or_default());
        let method = self.method.clone().unwrap_or(parts.method);
        if upgrade.is_none() && !self.http2_only {
            if let Some((authority, target)) =
                self.uris[stage].render_target(|i| ctx.param_raw(i), parts.uri.query())
            {
                let backend = self.backends[stage].get_or_init(|| upstreams.h1.backend(authority));
                return self
                    .call_h1(backend, ctx, &method, &target, &headers, body)
                    .await;
            }
        }
        let uri_text = self.uris[stage].render(|i| ctx.param_raw(i), parts.uri.query());
        let uri: Uri = uri_text.parse().map_err(|e| {
            Rejection::new(
                ResponseType::ApiConfigurationError,
                format!("backend URI `{uri_text}` is invalid: {e}"),
            )
        })?;
        if let Some((_, protocol)) = &upgrade {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(header::UPGRADE, protocol.clone());
        }

        let mut req = Request::new(body);
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        *req.headers_mut() = headers;
        let client = if self.http2_only && upgrade.is_none() {
            *req.version_mut() = Version::HTTP_2;
            &upstreams.h2
        } else {
            &upstreams.auto
        };

        let resp = within(ctx, self.timeout, client.request(req))
            .await?
            .map_err(|e| classify(&e, &uri_text))?;
        ctx.integration_status = Some(resp.status().as_u16());
        if let (StatusCode::SWITCHING_PROTOCOLS, Some((client_side, _))) = (resp.status(), upgrade)
        {
            return Ok(super::tunnel::tunnel(shared, client_side, resp));
        }
        let (mut parts, body) = resp.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        let body = Body::Incoming(FromBackend::new(body, self.timeout));
        Ok(Response::from_parts(parts, body))
    }
}

impl HttpProxy {
    /// The same exchange over a pooled plain-HTTP/1.1 connection, on this task.
    async fn call_h1(
        &self,
        backend: &Arc<Backend>,
        ctx: &mut RequestCtx,
        method: &Method,
        target: &str,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<Response<Body>, Rejection> {
        if let Some(bad) = target.bytes().find(|b| !is_target_byte(*b)) {
            return Err(Rejection::new(
                ResponseType::ApiConfigurationError,
                format!("backend request target `{target}` has the byte 0x{bad:02x}, which a URI cannot hold"),
            ));
        }
        let body = match body {
            Body::Empty => SendBody::Bytes(bytes::Bytes::new()),
            Body::Full(b) => SendBody::Bytes(b.unwrap_or_default()),
            small @ Body::Limited(_)
                if small
                    .size_hint()
                    .exact()
                    .is_some_and(|n| n <= BUFFER_BODY_UP_TO) =>
            {
                SendBody::Bytes(self.read_small_body(small).await?)
            }
            other => SendBody::Stream(other),
        };
        // Boxed: the exchange's state (about 2 KiB) is then written once, not moved into the
        // timeout and again into this future.
        let resp = within(
            ctx,
            self.timeout,
            Box::pin(backend.send(method, target, headers, body)),
        )
        .await?
        .map_err(|e| classify(&e, &format!("http://{}{target}", backend.authority())))?;
        ctx.integration_status = Some(resp.status().as_u16());
        let (mut parts, body) = resp.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        let body = Body::Upstream(FromBackend::new(body, self.timeout));
        Ok(Response::from_parts(parts, body))
    }
}

/// A client's request body of at most this many bytes (by its `Content-Length`) is read whole
/// before a plain-HTTP/1.1 backend is asked, then sent with the request head in one write: the
/// backend is woken once, not once per piece the client's body arrived in, and no backend
/// connection waits on a slow client. Larger and chunked bodies stream.
const BUFFER_BODY_UP_TO: u64 = 64 * 1024;

impl HttpProxy {
    /// Reads a small client body whole, within the integration's timeout (408 past it, as
    /// when a streamed body is still arriving at the timeout).
    async fn read_small_body(&self, body: Body) -> Result<bytes::Bytes, Rejection> {
        match tokio::time::timeout(self.timeout, crate::body::read_body(body)).await {
            Ok(read) => read,
            Err(_) => Err(crate::body::client_timeout(format!(
                "the client was still sending its body after {:?}",
                self.timeout
            ))),
        }
    }
}

/// Runs `call` (up to the answer's head) within `timeout`, recording the integration
/// latency; past the timeout, API Gateway's 504.
async fn within<T>(
    ctx: &mut RequestCtx,
    timeout: Duration,
    call: impl std::future::Future<Output = T>,
) -> Result<T, Rejection> {
    let started = Instant::now();
    let result = tokio::time::timeout(timeout, call).await;
    ctx.integration_latency = Some(started.elapsed());
    result.map_err(|_| {
        if ctx.client_still_sending() {
            return crate::body::client_timeout(format!(
                "the client was still sending its body after {timeout:?}"
            ));
        }
        Rejection::new(
            ResponseType::IntegrationTimeout,
            format!("backend did not answer within {timeout:?}"),
        )
    })
}

/// What a request target may hold: RFC 3986's unreserved, reserved and `%` characters.
fn is_target_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~:/?[]@!$&'()*+,;=%".contains(&b)
}

/// A failed exchange with `uri`: the client's fault when its body broke while it streamed
/// (413, 408, 400: [`client_body_rejection`]), else 502 with the error and its sources.
pub(crate) fn classify(e: &(dyn std::error::Error + 'static), uri: &str) -> Rejection {
    if let Some(client_fault) = client_body_rejection(e) {
        return client_fault;
    }
    let mut reason = format!("backend `{uri}` failed: {e}");
    let mut src = e.source();
    while let Some(s) = src {
        let _ = write!(reason, ": {s}");
        src = s.source();
    }
    Rejection::new(ResponseType::IntegrationFailure, reason).with_status(StatusCode::BAD_GATEWAY)
}

/// Removes hop-by-hop headers (RFC 9110 section 7.6.1) and every header `Connection` names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: SmallVec<[HeaderName; 4]> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        header::TE,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::PROXY_AUTHENTICATE,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

// Names made once: inserting by `&str` copies a name that is not a standard one, each time.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Adds `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Host` and `Forwarded`.
pub(crate) fn add_forwarded(headers: &mut HeaderMap, ctx: &RequestCtx) {
    let ip = ctx.source_ip;
    let proto = if ctx.tls { "https" } else { "http" };
    let host = ctx.host.as_ref();
    let (xff, fwd) = match headers.get(&X_FORWARDED_FOR) {
        Some(prev) => {
            let prev = prev.to_str().ok().map(|p| format!("{p}, {ip}"));
            let fwd = LAST_FORWARDED.with_borrow_mut(|last| last.get(ip, ctx.tls, host).1);
            (prev.and_then(|v| HeaderValue::from_str(&v).ok()), fwd)
        }
        None => LAST_FORWARDED.with_borrow_mut(|last| {
            let (xff, fwd) = last.get(ip, ctx.tls, host);
            (Some(xff), fwd)
        }),
    };
    if let Some(v) = xff {
        headers.insert(X_FORWARDED_FOR, v);
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    if let Some(h) = host.filter(|h| h.to_str().is_ok()) {
        headers.insert(X_FORWARDED_HOST, h.clone());
    }
    if let Some(v) = fwd {
        headers.append(header::FORWARDED, v);
    }
}

thread_local! {
    /// The forwarding headers of this thread's last request: a keep-alive connection's
    /// requests share peer, scheme and host, so most requests reuse them as they are.
    static LAST_FORWARDED: std::cell::RefCell<Forwarded> = const {
        std::cell::RefCell::new(Forwarded { last: None })
    };
}

struct Forwarded {
    last: Option<ForwardedFor>,
}

/// The values for one peer, scheme and Host.
struct ForwardedFor {
    ip: IpAddr,
    tls: bool,
    host: Option<HeaderValue>,
    /// `X-Forwarded-For` when the client sent none: the peer alone.
    xff: HeaderValue,
    forwarded: Option<HeaderValue>,
}

impl Forwarded {
    fn get(
        &mut self,
        ip: IpAddr,
        tls: bool,
        host: Option<&HeaderValue>,
    ) -> (HeaderValue, Option<HeaderValue>) {
        if let Some(l) = &self.last {
            if l.ip == ip && l.tls == tls && l.host.as_ref() == host {
                return (l.xff.clone(), l.forwarded.clone());
            }
        }
        let proto = if tls { "https" } else { "http" };
        let mut fwd = String::with_capacity(64);
        if ip.is_ipv6() {
            let _ = write!(fwd, "for=\"[{ip}]\";proto={proto}");
        } else {
            let _ = write!(fwd, "for={ip};proto={proto}");
        }
        if let Some(h) = host.and_then(|h| h.to_str().ok()) {
            let _ = write!(fwd, ";host=\"{h}\"");
        }
        let xff = HeaderValue::from_maybe_shared(bytes::Bytes::from(ip.to_string()))
            .unwrap_or_else(|_| HeaderValue::from_static(""));
        let fwd = HeaderValue::from_maybe_shared(bytes::Bytes::from(fwd)).ok();
        self.last = Some(ForwardedFor {
            ip,
            tls,
            host: host.cloned(),
            xff: xff.clone(),
            forwarded: fwd.clone(),
        });
        (xff, fwd)
    }
}

/// Whether the request asks for a WebSocket upgrade (RFC 6455 section 4.2.1).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    let has_token = |name: http::header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    has_token(http::header::UPGRADE, "websocket") && has_token(http::header::CONNECTION, "upgrade")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<Box<str>> {
        v.iter().map(|s| (*s).into()).collect()
    }

    #[test]
    fn substitutes_stage_variables_at_compile_and_params_per_request() {
        let t = UriTemplate::compile(
            "http://${stageVariables.host}/pets/{id}/{proxy}",
            &names(&["id", "proxy"]),
            |v| (v == "host").then_some("127.0.0.1:9000"),
        )
        .unwrap();
        let vals = ["7", "a/b"];
        assert_eq!(
            t.render(|i| vals.get(i).copied(), Some("q=1")),
            "http://127.0.0.1:9000/pets/7/a/b?q=1"
        );
    }

    #[test]
    fn appends_the_query_after_an_existing_one() {
        let t = UriTemplate::compile("http://b/x?fixed=1", &[], |_| None).unwrap();
        assert_eq!(t.render(|_| None, Some("q=2")), "http://b/x?fixed=1&q=2");
        assert_eq!(t.render(|_| None, None), "http://b/x?fixed=1");
        assert_eq!(t.address(), Some("b"));
        let t = UriTemplate::compile("https://b:8443", &[], |_| None).unwrap();
        assert_eq!(t.address(), Some("b:8443"));
    }

    #[test]
    fn explains_bad_templates() {
        let e = UriTemplate::compile("ftp://x", &[], |_| None).unwrap_err();
        assert!(e.contains("absolute http:// or https://"), "{e}");
        let e = UriTemplate::compile("http://b/{id}", &names(&["petId"]), |_| None).unwrap_err();
        assert!(e.contains("`{id}` is not a path parameter"), "{e}");
        assert!(e.contains("{petId}"), "{e}");
        let e = UriTemplate::compile("http://${stageVariables.h}/", &[], |_| None).unwrap_err();
        assert!(e.contains("stage variable `h` is not defined"), "{e}");
    }

    #[test]
    fn removes_hop_by_hop_and_connection_named_headers() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("close, x-custom"));
        h.insert("x-custom", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("te", HeaderValue::from_static("trailers"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn upgrade_needs_both_headers_in_any_case() {
        let mut h = HeaderMap::new();
        h.insert("upgrade", HeaderValue::from_static("WebSocket"));
        assert!(!is_upgrade(&h));
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert!(is_upgrade(&h));
    }
}
