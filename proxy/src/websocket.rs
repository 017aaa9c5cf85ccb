//! WebSocket APIs as the runtime holds them: route selection, routes and their integrations,
//! limits, and the [`Hub`] of running sessions. The sessions themselves are
//! `pipeline::websocket`'s.

use crate::integration::http_proxy::UriTemplate;
use crate::plugin::Plugin;
use crate::state::connections::SharedConnections;
use bytes::Bytes;
use http::StatusCode;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

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
}

/// One route: its key, an authorizer (only `$connect`) and its integration.
#[derive(Debug)]
pub struct Route {
    pub key: Box<str>,
    pub authorizer: Option<Arc<crate::stage::authorize::AuthorizerBinding>>,
    pub integration: RouteIntegration,
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

/// The process's WebSocket sessions: the registry, a tracker shutdown waits on, and the stop
/// signal that closes them.
#[derive(Debug)]
pub struct Hub {
    pub registry: SharedConnections,
    tracker: TaskTracker,
    stop: watch::Receiver<bool>,
}

impl Hub {
    pub fn new(registry: SharedConnections, stop: watch::Receiver<bool>) -> Self {
        Self {
            registry,
            tracker: TaskTracker::new(),
            stop,
        }
    }

    /// Runs a task shutdown waits for (a session or a pass-through tunnel).
    pub fn spawn<F>(&self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(task);
    }

    /// The signal that flips once at shutdown.
    pub fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.clone()
    }

    /// Waits until every session and tunnel has ended.
    pub async fn wait(&self) {
        self.tracker.close();
        self.tracker.wait().await;
    }

    /// How many sessions and tunnels are running.
    pub fn running(&self) -> usize {
        self.tracker.len()
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
        };
        WsApi {
            selection: parse_selection("$request.body.action").unwrap(),
            connect: None,
            disconnect: None,
            default: default.then(|| route("$default")),
            routes: routes.iter().map(|k| (Box::from(*k), route(k))).collect(),
            limits: Limits::default(),
        }
    }

    #[test]
    fn selection_expressions_parse_both_spellings() {
        assert_eq!(
            &*parse_selection("$request.body.action").unwrap(),
            &["action".into()]
        );
        assert_eq!(
            &*parse_selection("${request.body.msg.type}").unwrap(),
            &["msg".into(), "type".into()]
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
