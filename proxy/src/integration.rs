//! Integrations: what answers a routed request.

pub mod http_mapped;
pub mod http_proxy;
pub mod lambda;
pub mod mock;
pub mod tunnel;
pub mod wasm;

use crate::body::read_body;
use crate::body::Body;
use crate::ctx::RequestCtx;
use crate::ctx::RouteInfo;
use crate::error::Rejection;
use crate::hub::Hub;
use crate::plugin::compile::{plugin_ref, Plugins};
use crate::plugin::Plugin;
use crate::plugin::PluginKind;
use crate::upstream::Upstreams;
use bytes::Bytes;
use gatehouse_config::http::{header_map, status_code};
use gatehouse_config::raw::RawIntegration;
use gatehouse_config::{duration, Errors};
use http::request::Parts;
use http::Method;
use http::Response;
use http_proxy::{HttpProxy, UriTemplate};
use mock::Mock;
use std::collections::HashSet;
use std::sync::Arc;

/// A compiled integration of one method.
#[derive(Debug)]
pub enum Integration {
    HttpProxy(http_proxy::HttpProxy),
    Http(Box<http_mapped::HttpMapped>),
    Lambda(lambda::Lambda),
    MappedMock(Box<http_mapped::MappedMock>),
    Mock(mock::Mock),
    Wasm(Arc<Plugin>),
}

impl Integration {
    /// The integration's `type`, as the config names it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Integration::HttpProxy(_) => "http_proxy",
            Integration::Http(_) => "http",
            Integration::Lambda(_) => "lambda",
            Integration::MappedMock(_) | Integration::Mock(_) => "mock",
            Integration::Wasm(_) => "wasm",
        }
    }

    /// Its span's kind: a client span when it calls out over HTTP.
    pub fn span_kind(&self) -> crate::trace::Kind {
        match self {
            Integration::HttpProxy(_) | Integration::Http(_) | Integration::Lambda(_) => {
                crate::trace::Kind::Client
            }
            _ => crate::trace::Kind::Internal,
        }
    }

    /// Calls the integration. `stage` selects stage-variable substitutions.
    pub async fn invoke(
        &self,
        rt: &dyn RouteInfo,
        shared: &dyn Outbound,
        ctx: &mut RequestCtx,
        stage: usize,
        parts: Parts,
        body: Body,
    ) -> Result<Response<Body>, Rejection> {
        // The plain proxy runs inline; the others are boxed so that their (larger) state
        // does not grow every request's future, which is moved on each poll set-up.
        match self {
            Integration::HttpProxy(p) => p.call(shared, ctx, stage, parts, body).await,
            Integration::Mock(m) => Ok(m.respond()),
            Integration::MappedMock(m) => {
                let body = Box::pin(read_body(body)).await?;
                m.call(rt, ctx, &parts.headers, body)
            }
            Integration::Lambda(l) => {
                Box::pin(async move {
                    let body = read_body(body).await?;
                    l.call(rt, shared, ctx, stage, &parts, body).await
                })
                .await
            }
            Integration::Http(h) => {
                Box::pin(async move {
                    let body = read_body(body).await?;
                    h.call(rt, shared, ctx, stage, parts, body).await
                })
                .await
            }
            Integration::Wasm(plugin) if plugin.kind == PluginKind::HttpHandler => {
                Box::pin(wasm::serve_http(rt, plugin, ctx, parts, body)).await
            }
            Integration::Wasm(plugin) => {
                Box::pin(async move {
                    let body = read_body(body).await?;
                    wasm::call(rt, plugin, ctx, &parts.headers, body).await
                })
                .await
            }
        }
    }
}

/// Sends `req` to a backend and reads its whole answer (at most `limit` bytes) within
/// `timeout`, for the integrations that map or inspect answers instead of streaming them:
/// an unreachable backend or a broken answer is 502, no answer in time 504.
pub(crate) async fn exchange(
    shared: &dyn Outbound,
    req: http::Request<Body>,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<(http::response::Parts, bytes::Bytes), Rejection> {
    use crate::error::ResponseType;
    use http_body_util::BodyExt;
    let uri = req.uri().clone();
    let call = async {
        let resp = shared
            .upstreams()
            .auto
            .request(req)
            .await
            .map_err(|e| http_proxy::classify(&e, &uri.to_string()))?;
        let (parts, body) = resp.into_parts();
        let bytes = http_body_util::Limited::new(body, limit)
            .collect()
            .await
            .map_err(|e| {
                Rejection::new(
                    ResponseType::IntegrationFailure,
                    format!("reading the answer of `{uri}` failed: {e}"),
                )
                .with_status(http::StatusCode::BAD_GATEWAY)
            })?
            .to_bytes();
        Ok((parts, bytes))
    };
    tokio::time::timeout(timeout, call).await.map_err(|_| {
        Rejection::new(
            ResponseType::IntegrationTimeout,
            format!("`{uri}` did not answer within {timeout:?}"),
        )
    })?
}

/// What integrations reach beyond the request: the upstream clients, and the hub that tracks
/// WebSocket pass-through tunnels. The gateway's shared state implements it.
pub trait Outbound: Sync {
    fn upstreams(&self) -> &Upstreams;
    fn websockets(&self) -> &Hub;
}

/// A stage as an integration's config reads it: its name (for errors) and its variables.
#[derive(Debug, Clone, Copy)]
pub struct StageView<'a> {
    pub name: &'a str,
    pub variables: &'a [(Box<str>, Box<str>)],
}

impl StageView<'_> {
    /// The value of stage variable `name`.
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.variables
            .iter()
            .find(|(k, _)| &**k == name)
            .map(|(_, v)| &**v)
    }
}

pub fn compile(
    raw: &RawIntegration,
    params: &[Box<str>],
    stages: &[StageView<'_>],
    plugins: &Plugins,
    binary_media_types: &[Box<str>],
    e: &mut Errors,
) -> Option<Integration> {
    match raw {
        RawIntegration::Lambda {
            endpoint,
            function,
            payload_format,
            timeout,
        } => {
            let format = match payload_format.as_deref() {
                None | Some("1.0") => lambda::PayloadFormat::V1,
                Some("2.0") => lambda::PayloadFormat::V2,
                Some(other) => {
                    e.push_at(
                        "payload_format",
                        format!("expected \"1.0\" or \"2.0\", found `{other}`"),
                    );
                    lambda::PayloadFormat::V1
                }
            };
            let base = endpoint.trim_end_matches('/');
            let mut uris = Vec::with_capacity(stages.len());
            for s in stages {
                let lookup = |name: &str| s.variable(name);
                let f = match UriTemplate::compile(&format!("http://x/{function}"), &[], lookup) {
                    Ok(t) => t.render(|_| None, None)["http://x/".len()..].to_owned(),
                    Err(msg) => {
                        e.push_at("function", format!("in stage `{}`: {msg}", s.name));
                        continue;
                    }
                };
                match lambda::invoke_uri(base, &f) {
                    Ok(u) => uris.push(u),
                    Err(lambda::UriError::Function(msg)) => {
                        e.push_at("function", msg);
                        continue;
                    }
                    Err(lambda::UriError::Endpoint) => {
                        e.push_at("endpoint", format!("expected an http:// or https:// URL such as http://127.0.0.1:9001, found `{endpoint}`"));
                        break;
                    }
                }
            }
            let timeout = duration(e, "timeout", timeout.as_deref(), 29_000, 50, 300_000);
            (uris.len() == stages.len()).then(|| {
                Integration::Lambda(lambda::Lambda {
                    invoke_uris: uris.into_boxed_slice(),
                    format,
                    timeout,
                    binary_media_types: binary_media_types.into(),
                })
            })
        }
        RawIntegration::Wasm { plugin } => e
            .at("plugin", |e| {
                // A `wasi:http/proxy` component serves as an integration too.
                match plugins.get(plugin.as_str()) {
                    Some(Some(p)) if p.kind == PluginKind::HttpHandler => Some(p.clone()),
                    _ => plugin_ref(plugins, plugin, PluginKind::Integration, e),
                }
            })
            .map(Integration::Wasm),
        RawIntegration::HttpProxy {
            uri,
            method,
            timeout,
            http_version,
        } => {
            let mut uris = Vec::with_capacity(stages.len());
            let mut reported = HashSet::new();
            e.at("uri", |e| {
                for s in stages {
                    let lookup = |name: &str| s.variable(name);
                    match UriTemplate::compile(uri, params, lookup) {
                        Ok(t) => uris.push(t),
                        Err(msg)
                            if msg.starts_with("stage variable")
                                || (msg.contains("absolute") && uri.contains("${")) =>
                        {
                            e.push(format!("in stage `{}`: {msg}", s.name));
                        }
                        Err(msg) => {
                            if reported.insert(msg.clone()) {
                                e.push(msg);
                            }
                        }
                    }
                }
                if stages.is_empty() {
                    if let Err(msg) = UriTemplate::compile(uri, params, |_| Some("x")) {
                        e.push(msg);
                    }
                }
            });
            let method = method
                .as_ref()
                .and_then(|m| match Method::from_bytes(m.as_bytes()) {
                    Ok(m) => Some(m),
                    Err(_) => {
                        e.push_at(
                            "method",
                            format!("expected an HTTP method such as GET or POST, found `{m}`"),
                        );
                        None
                    }
                });
            let timeout = duration(e, "timeout", timeout.as_deref(), 29_000, 50, 300_000);
            let http2_only = match http_version.as_deref() {
                None | Some("1.1") => false,
                Some("2") => true,
                Some(v) => {
                    e.push_at(
                        "http_version",
                        format!("expected \"1.1\" or \"2\", found `{v}`"),
                    );
                    false
                }
            };
            (uris.len() == stages.len()).then(|| {
                Integration::HttpProxy(HttpProxy {
                    backends: uris.iter().map(|_| Default::default()).collect(),
                    uris: uris.into_boxed_slice(),
                    method,
                    timeout,
                    http2_only,
                })
            })
        }
        RawIntegration::Http {
            uri,
            method,
            timeout,
            request_parameters,
            request_templates,
            passthrough_behavior,
            responses,
        } => http_mapped::compile::compile(
            uri,
            method.as_deref(),
            timeout.as_deref(),
            request_parameters,
            request_templates,
            passthrough_behavior.as_deref(),
            responses,
            params,
            stages,
            e,
        ),
        RawIntegration::Mock {
            responses,
            request_templates,
            status,
            headers,
            body,
        } if !responses.is_empty() => {
            if status.is_some() || !headers.is_empty() || !body.is_empty() {
                e.push("a mock has either status/headers/body or responses (with request_templates), not both");
            }
            let request_templates = e.at("request_templates", |e| {
                http_mapped::compile::templates(request_templates, e)
            });
            let responses = e.at("responses", |e| {
                http_mapped::compile::integration_responses(responses, params, e)
            });
            Some(Integration::MappedMock(Box::new(http_mapped::MappedMock {
                request_templates,
                responses,
            })))
        }
        RawIntegration::Mock {
            status,
            headers,
            body,
            request_templates,
            ..
        } => {
            if !request_templates.is_empty() {
                e.push_at(
                    "request_templates",
                    "a mock's request templates choose among its responses; add responses",
                );
            }
            let status = e.at("status", |e| status_code(*status, 200, e));
            let headers = e.at("headers", |e| header_map(headers, e));
            Some(Integration::Mock(Mock {
                status,
                headers,
                body: Bytes::from(body.clone()),
            }))
        }
    }
}
