//! WebSocket APIs as the runtime holds them: route selection, routes and their integrations,
//! limits, and the [`Hub`] of running sessions. The sessions themselves are
//! `pipeline::websocket`'s.

use crate::auth::authorize::AuthorizerBinding;
pub use crate::hub::Hub;
use crate::integration::http_proxy::UriTemplate;
use crate::integration::StageView;
use crate::metrics::{Registry, WsKey, WsMetrics, WsStageMetrics};
use crate::plugin::compile::{plugin_ref, Plugins};
use crate::plugin::Plugin;
use crate::plugin::PluginKind;
use bytes::Bytes;
use gatehouse_config::http::status_code;
use gatehouse_config::raw::{RawApi, RawRouteIntegration};
use gatehouse_config::{duration, Errors};
use http::StatusCode;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// A WebSocket API's routes and limits.
#[derive(Debug)]
pub struct WsApi {
    /// The JSON path of the route key in a message, e.g. `["action"]`.
    pub selection: Box<[Box<str>]>,
    pub connect: Option<Route>,
    pub disconnect: Option<Route>,
    pub default: Option<Route>,
    pub routes: HashMap<Box<str>, Route>,
    pub limits: Limits,
    /// Per stage: messages no route took (no `$default`), as route `$default`.
    pub unrouted: Box<[Arc<WsMetrics>]>,
    /// Per stage: messages pushed through `@connections`, as route `@connections` (each
    /// connection holds its stage's at the handshake).
    pub pushed: Box<[Arc<WsMetrics>]>,
    /// Per stage: its open connections (each connection holds its stage's).
    pub open: Box<[Arc<WsStageMetrics>]>,
}

/// One route: its key, an authorizer (only `$connect`) and its integration.
#[derive(Debug)]
pub struct Route {
    pub key: Box<str>,
    pub authorizer: Option<Arc<crate::auth::authorize::AuthorizerBinding>>,
    pub integration: RouteIntegration,
    /// Per stage, in the API's stage order.
    pub metrics: Box<[Arc<WsMetrics>]>,
}

#[derive(Debug)]
pub enum RouteIntegration {
    Mock {
        status: StatusCode,
        body: Bytes,
    },
    Http {
        /// One URI per stage, stage variables substituted.
        uris: Box<[UriTemplate]>,
        timeout: Duration,
    },
    Wasm(Arc<Plugin>),
}

impl RouteIntegration {
    /// The config's name of its `type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            RouteIntegration::Mock { .. } => "mock",
            RouteIntegration::Http { .. } => "http",
            RouteIntegration::Wasm(_) => "wasm",
        }
    }

    /// Its span's kind: a client span for a call over the network.
    pub fn span_kind(&self) -> crate::trace::Kind {
        match self {
            RouteIntegration::Http { .. } => crate::trace::Kind::Client,
            _ => crate::trace::Kind::Internal,
        }
    }
}

/// API Gateway's WebSocket limits, configurable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_frame_bytes: usize,
    pub max_message_bytes: usize,
    pub idle_timeout: Duration,
    pub max_duration: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_bytes: 32 * 1024,
            max_message_bytes: 128 * 1024,
            idle_timeout: Duration::from_secs(600),
            max_duration: Duration::from_secs(2 * 3600),
        }
    }
}

/// Parses a route selection expression: `$request.body.a.b` (or `${request.body.a.b}`).
pub fn parse_selection(expr: &str) -> Result<Box<[Box<str>]>, String> {
    let inner = expr
        .strip_prefix("${")
        .and_then(|e| e.strip_suffix('}'))
        .or_else(|| expr.strip_prefix('$'))
        .unwrap_or("");
    let path = inner.strip_prefix("request.body.").unwrap_or("");
    let segs: Vec<Box<str>> = path.split('.').map(Into::into).collect();
    if path.is_empty() || segs.iter().any(|s| s.is_empty()) {
        return Err(format!(
            "expected a route selection expression such as $request.body.action, found `{expr}`"
        ));
    }
    Ok(segs.into_boxed_slice())
}

impl WsApi {
    /// The route for a message: the key at the selection path when the message is a JSON
    /// object that has one, else `$default`.
    pub fn route_for(&self, message: &[u8]) -> Option<&Route> {
        let key = serde_json::from_slice::<Value>(message).ok().and_then(|v| {
            let mut cur = &v;
            for seg in self.selection.iter() {
                cur = cur.get(&**seg)?;
            }
            cur.as_str().map(str::to_owned)
        });
        key.and_then(|k| self.routes.get(k.as_str()))
            .or(self.default.as_ref())
    }
}

/// Compiles a WebSocket API's route selection, routes and limits.
pub fn compile(
    a: &RawApi,
    authorizers: &HashMap<String, Option<Arc<AuthorizerBinding>>>,
    stages: &[StageView<'_>],
    plugins: &Plugins,
    registry: &Registry,
    e: &mut Errors,
) -> WsApi {
    let metrics = |route: &str| -> Box<[Arc<WsMetrics>]> {
        stages
            .iter()
            .map(|s| {
                registry.websocket(WsKey {
                    api: a.name.clone(),
                    stage: s.name.to_owned(),
                    route: route.to_owned(),
                })
            })
            .collect()
    };
    let selection = e.at("route_selection_expression", |e| {
        let expr = a
            .route_selection_expression
            .as_deref()
            .unwrap_or("$request.body.action");
        parse_selection(expr).unwrap_or_else(|msg| {
            e.push(msg);
            Box::default()
        })
    });
    let defaults = Limits::default();
    let limits = match &a.websocket {
        None => defaults,
        Some(l) => e.at("websocket", |e| {
            let bytes = |e: &mut Errors, field: &str, v: Option<usize>, default: usize| match v {
                Some(n) if (125..=16 * 1024 * 1024).contains(&n) => n,
                Some(n) => {
                    e.push_at(field, format!("expected 125 to 16777216 bytes, found {n}"));
                    default
                }
                None => default,
            };
            let max_frame_bytes = bytes(
                e,
                "max_frame_bytes",
                l.max_frame_bytes,
                defaults.max_frame_bytes,
            );
            let max_message_bytes = bytes(
                e,
                "max_message_bytes",
                l.max_message_bytes,
                defaults.max_message_bytes,
            );
            if max_frame_bytes > max_message_bytes {
                e.push_at("max_frame_bytes", "cannot be larger than max_message_bytes");
            }
            Limits {
                max_frame_bytes,
                max_message_bytes,
                idle_timeout: duration(
                    e,
                    "idle_timeout",
                    l.idle_timeout.as_deref(),
                    600_000,
                    100,
                    7_200_000,
                ),
                max_duration: duration(
                    e,
                    "max_duration",
                    l.max_duration.as_deref(),
                    7_200_000,
                    100,
                    86_400_000,
                ),
            }
        }),
    };
    let mut out = WsApi {
        selection,
        connect: None,
        disconnect: None,
        default: None,
        routes: HashMap::new(),
        limits,
        unrouted: Box::default(),
        pushed: metrics("@connections"),
        open: stages
            .iter()
            .map(|s| registry.websocket_stage(&a.name, s.name))
            .collect(),
    };
    e.at("routes", |e| {
        for (key, r) in &a.routes {
            e.at(key, |e| {
                if key.is_empty() || (key.starts_with('$') && !matches!(key.as_str(), "$connect" | "$disconnect" | "$default")) {
                    e.push(format!("expected $connect, $disconnect, $default or a route key without `$`, found `{key}`"));
                    return;
                }
                let authorizer = r.authorizer.as_ref().and_then(|name| {
                    e.at("authorizer", |e| {
                        if key != "$connect" {
                            e.push("only the $connect route can have an authorizer");
                            return None;
                        }
                        match authorizers.get(name) {
                            Some(b) => b.clone(),
                            None => {
                                e.push(format!("no authorizer named `{name}` under this API's `authorizers`"));
                                None
                            }
                        }
                    })
                });
                let integration = e.at("integration", |e| route_integration(&r.integration, stages, plugins, e));
                let Some(integration) = integration else { return };
                let route = Route { key: key.as_str().into(), authorizer, integration, metrics: metrics(key) };
                match key.as_str() {
                    "$connect" => out.connect = Some(route),
                    "$disconnect" => out.disconnect = Some(route),
                    "$default" => out.default = Some(route),
                    _ => {
                        out.routes.insert(key.as_str().into(), route);
                    }
                }
            })
        }
    });
    if out.default.is_none() {
        out.unrouted = metrics("$default");
    }
    out
}

fn route_integration(
    raw: &RawRouteIntegration,
    stages: &[StageView<'_>],
    plugins: &Plugins,
    e: &mut Errors,
) -> Option<RouteIntegration> {
    match raw {
        RawRouteIntegration::Mock { status, body } => Some(RouteIntegration::Mock {
            status: e.at("status", |e| status_code(*status, 200, e)),
            body: Bytes::from(body.clone()),
        }),
        RawRouteIntegration::Wasm { plugin } => e
            .at("plugin", |e| {
                plugin_ref(plugins, plugin, PluginKind::WebsocketHandler, e)
            })
            .map(RouteIntegration::Wasm),
        RawRouteIntegration::Http { uri, timeout } => {
            let mut uris = Vec::with_capacity(stages.len());
            e.at("uri", |e| {
                for s in stages {
                    let lookup = |name: &str| s.variable(name);
                    match UriTemplate::compile(uri, &[], lookup) {
                        Ok(t) => uris.push(t),
                        Err(msg) => e.push(format!("in stage `{}`: {msg}", s.name)),
                    }
                }
            });
            let timeout = duration(e, "timeout", timeout.as_deref(), 29_000, 50, 300_000);
            (uris.len() == stages.len()).then(|| RouteIntegration::Http {
                uris: uris.into_boxed_slice(),
                timeout,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_with(routes: &[&str], default: bool) -> WsApi {
        let route = |k: &str| Route {
            key: k.into(),
            authorizer: None,
            integration: RouteIntegration::Mock {
                status: StatusCode::OK,
                body: Bytes::new(),
            },
            metrics: Box::default(),
        };
        WsApi {
            selection: parse_selection("$request.body.action").unwrap(),
            connect: None,
            disconnect: None,
            default: default.then(|| route("$default")),
            routes: routes.iter().map(|k| (Box::from(*k), route(k))).collect(),
            limits: Limits::default(),
            unrouted: Box::default(),
            pushed: Box::default(),
            open: Box::default(),
        }
    }

    #[test]
    fn selection_expressions_parse_both_spellings() {
        assert_eq!(
            &*parse_selection("$request.body.action").unwrap(),
            &[Box::<str>::from("action")]
        );
        assert_eq!(
            &*parse_selection("${request.body.msg.type}").unwrap(),
            &[Box::<str>::from("msg"), "type".into()]
        );
        for bad in [
            "action",
            "$request.header.x",
            "$request.body.",
            "$request.body.a..b",
        ] {
            assert!(parse_selection(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn messages_route_by_key_else_default() {
        let api = api_with(&["join", "send"], true);
        let key = |m: &str| api.route_for(m.as_bytes()).map(|r| &*r.key);
        assert_eq!(key(r#"{"action":"join"}"#), Some("join"));
        assert_eq!(key(r#"{"action":"send","text":"hi"}"#), Some("send"));
        assert_eq!(key(r#"{"action":"other"}"#), Some("$default"));
        assert_eq!(key(r#"{"action":7}"#), Some("$default"));
        assert_eq!(key("not json"), Some("$default"));
        let strict = api_with(&["join"], false);
        assert!(strict.route_for(b"{}").is_none());
    }
}
