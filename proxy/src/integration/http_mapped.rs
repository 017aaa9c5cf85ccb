//! `http`: API Gateway's HTTP (non-proxy) integration. The request is rebuilt from mapping
//! parameters and a VTL request template chosen by content type (`passthrough_behavior` decides
//! what happens without one); the backend's answer picks an integration response by
//! `selection_pattern` (a regular expression over the status code), whose response parameters
//! map headers and whose response template renders the body.

pub mod compile;

use super::http_proxy::{add_forwarded, strip_hop_by_hop, UriTemplate};
use crate::body::Body;
use crate::ctx::RequestCtx;
use crate::ctx::RouteInfo;
use crate::error::{Rejection, ResponseType};
use crate::integration::Outbound;
use crate::vtl::{Inputs, Template};
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode, Uri};
use serde_json::{Map, Value};
use std::time::{Duration, Instant};

/// Most bytes of a backend answer read for mapping.
const MAX_RESPONSE_BYTES: usize = 10 << 20;

#[derive(Debug)]
pub struct HttpMapped {
    pub uris: Box<[UriTemplate]>,
    pub method: Option<Method>,
    pub timeout: Duration,
    /// Backend request headers and query parameters from method request values.
    pub request_parameters: Vec<(Target, Source)>,
    /// By lowercase media type.
    pub request_templates: Vec<(Box<str>, Template)>,
    pub passthrough: Passthrough,
    /// In order; the first whose pattern matches the status wins, else the default.
    pub responses: Vec<IntegrationResponse>,
}

/// Where a mapped request value goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Header(HeaderName),
    Query(String),
}

/// Where a mapped value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Static(String),
    MethodHeader(HeaderName),
    MethodQuery(String),
    /// Index of the resource's path parameter.
    MethodPath(usize),
    IntegrationHeader(HeaderName),
    /// `integration.response.body` (`None`: the whole body) or
    /// `integration.response.body.PATH` (a JSONPath below the body's root).
    IntegrationBody(Option<String>),
    StageVariable(String),
    ContextVariable(String),
}

/// `passthroughBehavior`: what a request whose content type has no template gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passthrough {
    /// Passed through unchanged when no template matches (the default).
    WhenNoMatch,
    /// Passed through only when the integration has no templates at all; else 415.
    WhenNoTemplates,
    /// Always 415 without a matching template.
    Never,
}

#[derive(Debug)]
pub struct IntegrationResponse {
    /// `None`: the default response.
    pub pattern: Option<regex::Regex>,
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, Source)>,
    pub templates: Vec<(Box<str>, Template)>,
}

/// The media type without parameters, lowercase.
fn media_type(v: Option<&HeaderValue>) -> Option<String> {
    let v = v?.to_str().ok()?;
    let t = v
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    (!t.is_empty()).then_some(t)
}

fn pick<'t>(templates: &'t [(Box<str>, Template)], media: &str) -> Option<(&'t str, &'t Template)> {
    templates
        .iter()
        .find(|(m, _)| **m == *media)
        .map(|(m, t)| (&**m, t))
}

/// `$context` for templates.
pub fn context_value(rt: &dyn RouteInfo, ctx: &RequestCtx) -> Value {
    let names = rt.names(ctx);
    let mut identity = Map::new();
    identity.insert("sourceIp".into(), ctx.source_ip_text().into());
    if let Some(ua) = ctx.user_agent.as_ref().and_then(|v| v.to_str().ok()) {
        identity.insert("userAgent".into(), ua.into());
    }
    if let Some(cert) = &ctx.client_cert {
        identity.insert("clientCert".into(), cert.to_json());
    }
    let mut c = Map::new();
    c.insert("requestId".into(), ctx.request_id.to_string().into());
    c.insert("apiId".into(), names.api.unwrap_or("").into());
    c.insert("stage".into(), names.stage.unwrap_or("").into());
    c.insert("resourcePath".into(), names.resource.unwrap_or("").into());
    c.insert("httpMethod".into(), ctx.method.as_str().into());
    c.insert("path".into(), ctx.path().into());
    c.insert("requestTimeEpoch".into(), ctx.request_time_ms().into());
    c.insert("identity".into(), Value::Object(identity));
    if let Some(auth) = &ctx.authorizer {
        c.insert("authorizer".into(), Value::Object(auth.json()));
    }
    Value::Object(c)
}

/// The method request's values as templates see them (`$input.params()`).
struct MethodValues {
    path: Vec<(String, String)>,
    querystring: Vec<(String, String)>,
    header: Vec<(String, String)>,
    context: Value,
    stage_variables: Value,
}

impl MethodValues {
    fn new(rt: &dyn RouteInfo, ctx: &RequestCtx, headers: &HeaderMap) -> Self {
        let path = rt
            .path_parameters(ctx)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let stage_variables = rt
            .stage_variables(ctx)
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(&**v)))
            .collect();
        let querystring = crate::plugin::convert::query(ctx.query())
            .into_iter()
            .filter_map(|mv| mv.values.last().map(|v| (mv.name.clone(), v.clone())))
            .collect();
        let header = headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        Self {
            path,
            querystring,
            header,
            context: context_value(rt, ctx),
            stage_variables: Value::Object(stage_variables),
        }
    }

    fn inputs<'a>(&'a self, body: &'a [u8]) -> Inputs<'a> {
        Inputs {
            body,
            path: &self.path,
            querystring: &self.querystring,
            header: &self.header,
            context: &self.context,
            stage_variables: &self.stage_variables,
        }
    }

    /// The value of `s`; `response` is the backend's answer (headers and body), for the
    /// sources of integration responses.
    fn source(&self, s: &Source, response: Option<(&HeaderMap, &[u8])>) -> Option<String> {
        let find = |list: &[(String, String)], n: &str| {
            list.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone())
        };
        match s {
            Source::Static(v) => Some(v.clone()),
            Source::MethodHeader(h) => find(&self.header, h.as_str()),
            Source::MethodQuery(q) => find(&self.querystring, q),
            Source::MethodPath(i) => self.path.get(*i).map(|(_, v)| v.clone()),
            Source::IntegrationHeader(h) => response?.0.get(h)?.to_str().ok().map(str::to_owned),
            Source::IntegrationBody(path) => {
                let body = response?.1;
                let Some(path) = path else {
                    return Some(String::from_utf8_lossy(body).into_owned());
                };
                let root: Value = serde_json::from_slice(body).ok()?;
                match crate::vtl::jsonpath::find(&root, &format!("$.{path}")).ok()?? {
                    Value::String(s) => Some(s),
                    Value::Null => None,
                    other => Some(other.to_string()),
                }
            }
            Source::StageVariable(n) => self.stage_variables.get(n)?.as_str().map(str::to_owned),
            Source::ContextVariable(n) => {
                let mut cur = &self.context;
                for part in n.split('.') {
                    cur = cur.get(part)?;
                }
                Some(match cur {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
            }
        }
    }
}

/// A mapping template that fails while rendering is API Gateway's API_CONFIGURATION_ERROR
/// (500 `Internal server error`), overridable under that type.
fn template_error(which: &str, e: String) -> Rejection {
    Rejection::new(
        ResponseType::ApiConfigurationError,
        format!("{which} mapping template failed: {e}"),
    )
}

impl HttpMapped {
    pub async fn call(
        &self,
        rt: &dyn RouteInfo,
        shared: &dyn Outbound,
        ctx: &mut RequestCtx,
        stage: usize,
        parts: Parts,
        body: Bytes,
    ) -> Result<Response<Body>, Rejection> {
        let values = MethodValues::new(rt, ctx, &parts.headers);
        let media = media_type(parts.headers.get(header::CONTENT_TYPE))
            .unwrap_or_else(|| "application/json".into());
        let mut carried = Carried::default();
        let (out_body, out_type, request_overrides) = match pick(&self.request_templates, &media) {
            Some((m, t)) => {
                let r = t
                    .render(&values.inputs(&body))
                    .map_err(|e| template_error("request", e))?;
                let overrides = r.header_overrides("requestOverride");
                carried = Carried::from(&r);
                (Bytes::from(r.body), Some(m.to_owned()), overrides)
            }
            None => {
                let pass = match self.passthrough {
                    Passthrough::WhenNoMatch => true,
                    Passthrough::WhenNoTemplates => self.request_templates.is_empty(),
                    Passthrough::Never => false,
                };
                if !pass {
                    return Err(Rejection::new(
                        ResponseType::UnsupportedMediaType,
                        format!("no request template for `{media}` and passthrough is not allowed"),
                    ));
                }
                (body.clone(), None, Vec::new())
            }
        };

        // As in API Gateway's non-proxy integrations, the client's headers and query string
        // do not reach the backend: only the mapped `request_parameters` (and the content
        // type of the body sent) do, each once.
        let mut query_extra = Vec::new();
        let mut headers = HeaderMap::new();
        add_forwarded(&mut headers, ctx);
        match &out_type {
            Some(t) => {
                if let Ok(v) = HeaderValue::from_str(t) {
                    headers.insert(header::CONTENT_TYPE, v);
                }
            }
            None => {
                if let Some(v) = parts.headers.get(header::CONTENT_TYPE) {
                    headers.insert(header::CONTENT_TYPE, v.clone());
                }
            }
        }
        for (target, source) in &self.request_parameters {
            let Some(v) = values.source(source, None) else {
                continue;
            };
            match target {
                Target::Header(h) => {
                    if let Ok(v) = HeaderValue::from_str(&v) {
                        headers.insert(h.clone(), v);
                    }
                }
                Target::Query(q) => {
                    query_extra.retain(|(k, _): &(String, String)| k != q);
                    query_extra.push((q.clone(), v));
                }
            }
        }
        for (k, v) in request_overrides {
            if let (Ok(k), Ok(v)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(&v),
            ) {
                headers.insert(k, v);
            }
        }
        let mut query = String::new();
        for (k, v) in query_extra {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(&crate::vtl::url_encode(&k));
            query.push('=');
            query.push_str(&crate::vtl::url_encode(&v));
        }
        let uri_text = self.uris[stage].render(|i| ctx.param_raw(i), Some(&query));
        let uri: Uri = uri_text.parse().map_err(|e| {
            Rejection::new(
                ResponseType::ApiConfigurationError,
                format!("backend URI `{uri_text}` is invalid: {e}"),
            )
        })?;
        ctx.trace
            .propagate(&mut headers, || uri.authority().map_or("", |a| a.as_str()));
        let mut req = Request::new(Body::full(out_body));
        *req.method_mut() = self.method.clone().unwrap_or(parts.method);
        *req.uri_mut() = uri;
        *req.headers_mut() = headers;

        let started = Instant::now();
        let (rparts, rbody) =
            super::exchange(shared, req, MAX_RESPONSE_BYTES, self.timeout).await?;
        ctx.integration_latency = Some(started.elapsed());
        ctx.integration_status = Some(rparts.status.as_u16());

        let Some(chosen) = select(&self.responses, rparts.status.as_u16()) else {
            // Without integration responses the backend's answer goes out as it is.
            let mut h = rparts.headers;
            strip_hop_by_hop(&mut h);
            h.remove(header::CONTENT_LENGTH);
            let mut resp = Response::new(Body::full(rbody));
            *resp.status_mut() = rparts.status;
            *resp.headers_mut() = h;
            return Ok(resp);
        };
        respond(
            chosen,
            &values,
            &parts.headers,
            rbody,
            Some(&rparts.headers),
            carried,
        )
    }
}

/// The integration response for `status`: the first whose pattern matches, else the default.
fn select(responses: &[IntegrationResponse], status: u16) -> Option<&IntegrationResponse> {
    let text = status.to_string();
    responses
        .iter()
        .find(|r| r.pattern.as_ref().is_some_and(|p| p.is_match(&text)))
        .or_else(|| responses.iter().find(|r| r.pattern.is_none()))
}

/// Builds the method response from an integration response: its status, its template (by
/// the request's `Accept`, else application/json, else the first) over `body`, and its
/// response parameters. `integration_headers` are the backend's (none for a mock).
fn respond(
    chosen: &IntegrationResponse,
    values: &MethodValues,
    request_headers: &HeaderMap,
    body: Bytes,
    integration_headers: Option<&HeaderMap>,
    carried: Carried,
) -> Result<Response<Body>, Rejection> {
    let mut status = carried.status.unwrap_or(chosen.status);
    let mut out = HeaderMap::new();
    for (k, v) in carried.headers {
        out.insert(k, v);
    }
    let backend_body = body.clone();
    let accept = media_type(request_headers.get(header::ACCEPT)).filter(|a| a != "*/*");
    let template = accept
        .as_deref()
        .and_then(|a| pick(&chosen.templates, a))
        .or_else(|| pick(&chosen.templates, "application/json"))
        .or_else(|| chosen.templates.first().map(|(m, t)| (&**m, t)));
    let body = match template {
        Some((m, t)) => {
            let r = t
                .render(&values.inputs(&body))
                .map_err(|e| template_error("response", e))?;
            if let Some(s) = r
                .status_override()
                .and_then(|s| StatusCode::from_u16(s).ok())
            {
                status = s;
            }
            for (k, v) in r.header_overrides("responseOverride") {
                if let (Ok(k), Ok(v)) = (
                    HeaderName::from_bytes(k.as_bytes()),
                    HeaderValue::from_str(&v),
                ) {
                    out.insert(k, v);
                }
            }
            if let Ok(v) = HeaderValue::from_str(m) {
                out.insert(header::CONTENT_TYPE, v);
            }
            Bytes::from(r.body)
        }
        None => {
            if let Some(ct) = integration_headers.and_then(|h| h.get(header::CONTENT_TYPE)) {
                out.insert(header::CONTENT_TYPE, ct.clone());
            }
            body
        }
    };
    for (name, source) in &chosen.headers {
        let response = integration_headers.map(|h| (h, &backend_body[..]));
        if let Some(v) = values.source(source, response) {
            if let Ok(v) = HeaderValue::from_str(&v) {
                out.insert(name.clone(), v);
            }
        }
    }
    let mut resp = Response::new(Body::full(body));
    *resp.status_mut() = status;
    *resp.headers_mut() = out;
    Ok(resp)
}

/// A mock with mapping templates, as API Gateway runs one: the request template's
/// `statusCode` picks the integration response, whose template renders the body.
#[derive(Debug)]
pub struct MappedMock {
    pub request_templates: Vec<(Box<str>, Template)>,
    pub responses: Vec<IntegrationResponse>,
}

impl MappedMock {
    pub fn call(
        &self,
        rt: &dyn RouteInfo,
        ctx: &RequestCtx,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Response<Body>, Rejection> {
        let values = MethodValues::new(rt, ctx, headers);
        let media = media_type(headers.get(header::CONTENT_TYPE))
            .unwrap_or_else(|| "application/json".into());
        let template = pick(&self.request_templates, &media)
            .or_else(|| pick(&self.request_templates, "application/json"));
        let mut carried = Carried::default();
        let status = match template {
            Some((_, t)) => {
                let r = t
                    .render(&values.inputs(&body))
                    .map_err(|e| template_error("request", e))?;
                carried = Carried::from(&r);
                serde_json::from_str::<Value>(&r.body)
                    .ok()
                    .and_then(|v| v.get("statusCode").and_then(crate::openapi::number))
                    .and_then(|n| u16::try_from(n).ok())
                    .unwrap_or(200)
            }
            None => 200,
        };
        let Some(chosen) = select(&self.responses, status) else {
            return Err(Rejection::new(
                ResponseType::ApiConfigurationError,
                format!("no integration response for mock status {status}"),
            )
            .with_status(StatusCode::INTERNAL_SERVER_ERROR)
            .with_message("Internal server error"));
        };
        respond(chosen, &values, headers, Bytes::new(), None, carried)
    }
}

/// What a request template set under `$context.responseOverride` (status, headers): as in
/// API Gateway, the request and response templates share `$context`, so these apply to the
/// method response unless the response template sets them again.
#[derive(Debug, Default)]
struct Carried {
    status: Option<StatusCode>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl From<&crate::vtl::Rendered> for Carried {
    fn from(r: &crate::vtl::Rendered) -> Self {
        Carried {
            status: r
                .status_override()
                .and_then(|s| StatusCode::from_u16(s).ok()),
            headers: r
                .header_overrides("responseOverride")
                .into_iter()
                .filter_map(|(k, v)| {
                    Some((
                        HeaderName::from_bytes(k.as_bytes()).ok()?,
                        HeaderValue::from_str(&v).ok()?,
                    ))
                })
                .collect(),
        }
    }
}

/// Parses a mapping source: `method.request.header.X`, `method.request.querystring.X`,
/// `method.request.path.X`, `integration.response.header.X`, `integration.response.body` and
/// `integration.response.body.JSONPATH` (responses only),
/// `stageVariables.X`, `context.X` or a quoted static `'value'`.
pub fn parse_source(s: &str, params: &[Box<str>], response: bool) -> Result<Source, String> {
    if let Some(v) = s.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        return Ok(Source::Static(v.to_owned()));
    }
    let header = |n: &str| {
        HeaderName::from_bytes(n.as_bytes()).map_err(|_| format!("`{n}` is not a header name"))
    };
    if let Some(n) = s.strip_prefix("method.request.header.") {
        return Ok(Source::MethodHeader(header(n)?));
    }
    if let Some(n) = s.strip_prefix("method.request.querystring.") {
        return Ok(Source::MethodQuery(n.to_owned()));
    }
    if let Some(n) = s.strip_prefix("method.request.path.") {
        return params
            .iter()
            .position(|p| **p == *n)
            .map(Source::MethodPath)
            .ok_or_else(|| format!("the resource has no path parameter `{n}`"));
    }
    if let Some(n) = s.strip_prefix("integration.response.") {
        if !response {
            return Err("integration.response values exist only in responses".into());
        }
        if let Some(h) = n.strip_prefix("header.") {
            return Ok(Source::IntegrationHeader(header(h)?));
        }
        if n == "body" {
            return Ok(Source::IntegrationBody(None));
        }
        if let Some(path) = n.strip_prefix("body.") {
            crate::vtl::jsonpath::find(&Value::Null, &format!("$.{path}"))
                .map_err(|e| format!("`{s}`: not a JSONPath below the body: {e}"))?;
            return Ok(Source::IntegrationBody(Some(path.to_owned())));
        }
    }
    if let Some(n) = s.strip_prefix("stageVariables.") {
        return Ok(Source::StageVariable(n.to_owned()));
    }
    if let Some(n) = s.strip_prefix("context.") {
        return Ok(Source::ContextVariable(n.to_owned()));
    }
    Err(format!(
        "expected method.request.header.X, method.request.querystring.X, method.request.path.X{}, stageVariables.X, context.X or a quoted 'value', found `{s}`",
        if response {
            ", integration.response.header.X, integration.response.body[.PATH]"
        } else {
            ""
        }
    ))
}
