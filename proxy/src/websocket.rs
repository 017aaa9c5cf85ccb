//! WebSocket APIs, as API Gateway runs them.
//!
//! ```text
//! upgrade request ─ route (mount) ─ authorizer ($connect) ─ throttles ─ $connect integration
//!        └─ 101: the connection is registered (`state/connections.rs`) and a session task
//!           reads messages: route key from the route selection expression → route
//!           integration → its answer (if any) back to the caller; pushes from
//!           `@connections` arrive through the mailbox; idle timeout, maximum duration,
//!           frame and message size limits and shutdown close it; `$disconnect` runs last.
//! ```
//! Integrations: `mock` (fixed status and reply), `http` (the event, as JSON in API Gateway's
//! Lambda event shape, POSTed to a backend) and `wasm` (a `websocket-handler` plugin). Each
//! event loads the current runtime, so a reload applies to open connections from their next
//! message on; a connection whose API is gone is closed.

use crate::body::Body;
use crate::error::{Rejection, ResponseType};
use crate::integration::http_proxy::UriTemplate;
use crate::pipeline::ctx::{AuthContext, RequestCtx};
use crate::plugin::bindings::types::{MultiValue, RequestContext};
use crate::plugin::bindings::websocket as wit;
use crate::plugin::{convert, Plugin};
use crate::runtime::{Api, Runtime};
use crate::state::connections::{ConnectionInfo, Push, SharedConnections, MAILBOX_CAPACITY};
use crate::Shared;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;
use tokio_util::task::TaskTracker;

/// The initial read buffer of a session.
const READ_BUFFER_BYTES: usize = 4096;

/// How long a closing handshake may take before the socket is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

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
    pub authorizer: Option<Arc<crate::pipeline::authorize::AuthorizerBinding>>,
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

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A connection id: 16 URL-safe characters from 96 random bits.
fn connection_id() -> String {
    use base64::Engine as _;
    let bytes = uuid::Uuid::new_v4().into_bytes();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes[..12])
}

/// What every event of one connection shares.
#[derive(Debug)]
struct Conn {
    id: String,
    api: Arc<str>,
    stage: Arc<str>,
    connected_at: u64,
    source_ip: std::net::IpAddr,
    user_agent: Option<String>,
    domain: Option<String>,
    auth: Option<Arc<AuthContext>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventType {
    Connect,
    Message,
    Disconnect,
}

impl EventType {
    fn name(self) -> &'static str {
        match self {
            EventType::Connect => "CONNECT",
            EventType::Message => "MESSAGE",
            EventType::Disconnect => "DISCONNECT",
        }
    }
}

/// One event for an integration.
struct Event<'a> {
    conn: &'a Conn,
    kind: EventType,
    route_key: &'a str,
    request_id: uuid::Uuid,
    body: Bytes,
    is_text: bool,
    /// The upgrade request (connect only).
    request: Option<(&'a HeaderMap, Option<&'a str>)>,
    /// Close code and reason (disconnect only).
    close: Option<(u16, &'a str)>,
}

/// What an integration answered: a status (decides `$connect`) and a reply.
struct Answer {
    status: StatusCode,
    body: Bytes,
}

/// Serves an upgrade request to a WebSocket API stage: runs `$connect` and, when it is
/// accepted, answers 101 and starts the session.
pub async fn handshake(
    shared: &Arc<Shared>,
    rt: &Runtime,
    ctx: &mut RequestCtx,
    api_idx: usize,
    stage: usize,
    mut parts: http::request::Parts,
) -> Result<Response<Body>, Rejection> {
    let api = &rt.apis[api_idx];
    let Some(ws) = api.websocket.as_deref() else {
        return Err(Rejection::missing_token());
    };
    let key = parts.headers.get(http::header::SEC_WEBSOCKET_KEY).cloned();
    let version_ok = parts
        .headers
        .get(http::header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v == "13");
    let on_upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
    let (Some(key), true, true, Some(on_upgrade)) = (
        key,
        version_ok,
        parts.method == http::Method::GET && is_upgrade(&parts.headers),
        on_upgrade,
    ) else {
        return Err(Rejection::new(
            ResponseType::BadRequestParameters,
            "not a WebSocket upgrade (HTTP/1.1 GET with Upgrade: websocket, Sec-WebSocket-Key and version 13)",
        )
        .with_status(StatusCode::UPGRADE_REQUIRED)
        .with_message("Upgrade Required"));
    };
    if let Some(policy) = &api.policy {
        policy.check(ctx.source_ip, || {
            format!("{}/{}/$connect", api.name, api.stages[stage].name)
        })?;
    }
    if let Some(binding) = ws.connect.as_ref().and_then(|r| r.authorizer.as_ref()) {
        crate::pipeline::authorize::authorize(rt, ctx, &parts.headers, binding)?;
    }
    crate::pipeline::throttle::check([&rt.account_throttle], "account")?;
    crate::pipeline::throttle::check(api.stages[stage].throttle.as_ref(), "stage")?;

    let conn = Conn {
        id: connection_id(),
        api: Arc::from(&*api.name),
        stage: Arc::from(&*api.stages[stage].name),
        connected_at: now_millis(),
        source_ip: ctx.source_ip,
        user_agent: header_str(&parts.headers, http::header::USER_AGENT),
        domain: ctx.host_name().map(str::to_owned),
        auth: ctx.authorizer.clone(),
    };
    if let Some(route) = &ws.connect {
        let ev = Event {
            conn: &conn,
            kind: EventType::Connect,
            route_key: "$connect",
            request_id: ctx.request_id,
            body: Bytes::new(),
            is_text: true,
            request: Some((&parts.headers, parts.uri.query())),
            close: None,
        };
        let started = std::time::Instant::now();
        let answer = invoke(shared, api, stage, route, &ev).await;
        ctx.integration_latency = Some(started.elapsed());
        let answer = answer?;
        ctx.integration_status = Some(answer.status.as_u16());
        if !answer.status.is_success() {
            let mut resp = Response::new(Body::full(answer.body));
            *resp.status_mut() = answer.status;
            return Ok(resp);
        }
    }

    let (tx, rx) = mpsc::channel(MAILBOX_CAPACITY);
    shared.websockets.registry.register(
        &conn.id,
        ConnectionInfo {
            api: conn.api.clone(),
            stage: conn.stage.clone(),
            connected_at: conn.connected_at,
            last_active_at: conn.connected_at,
            source_ip: conn.source_ip,
            user_agent: conn.user_agent.clone(),
            principal_id: conn.auth.as_ref().map(|a| a.principal_id.clone()),
        },
        tx,
    );
    // tungstenite reads into a 128 KiB buffer by default, allocated per connection; most
    // messages are small, and the buffer grows for the large ones.
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_frame_size(Some(ws.limits.max_frame_bytes))
        .max_message_size(Some(ws.limits.max_message_bytes));
    let limits = ws.limits;
    let owned = shared.clone();
    shared.websockets.spawn(async move {
        let io = match on_upgrade.await {
            Ok(io) => io,
            Err(e) => {
                tracing::debug!(connection_id = %conn.id, error = %e, "WebSocket upgrade failed");
                owned.websockets.registry.unregister(&conn.id);
                return;
            }
        };
        let socket =
            WebSocketStream::from_raw_socket(TokioIo::new(io), Role::Server, Some(config)).await;
        session(owned, conn, socket, rx, limits).await;
    });

    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut resp = Response::new(Body::full(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(http::header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(
        http::header::CONNECTION,
        HeaderValue::from_static("Upgrade"),
    );
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(http::header::SEC_WEBSOCKET_ACCEPT, v);
    }
    Ok(resp)
}

fn header_str(h: &HeaderMap, name: http::header::HeaderName) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// Why a session ended: the close code and reason given to `$disconnect`.
struct Ending {
    code: u16,
    reason: &'static str,
    /// Send a close frame with this code (none when the client closed or vanished).
    send: Option<CloseCode>,
}

async fn session(
    shared: Arc<Shared>,
    conn: Conn,
    mut socket: Socket,
    mut mailbox: mpsc::Receiver<Push>,
    limits: Limits,
) {
    let registry = shared.websockets.registry.clone();
    let mut stop = shared.websockets.stop_signal();
    let ends_at = Instant::now() + limits.max_duration;
    let mut idle_until = Instant::now() + limits.idle_timeout;
    let ending = loop {
        if *stop.borrow() {
            break Ending {
                code: 1001,
                reason: "Going away",
                send: Some(CloseCode::Away),
            };
        }
        tokio::select! {
            msg = socket.next() => {
                idle_until = Instant::now() + limits.idle_timeout;
                match msg {
                    Some(Ok(Message::Text(text))) => {
                        registry.touch(&conn.id, now_millis());
                        let body = Bytes::from(text);
                        if let Some(reply) = on_message(&shared, &conn, body, true).await {
                            if socket.send(reply).await.is_err() {
                                break Ending { code: 1006, reason: "Connection lost", send: None };
                            }
                        }
                    }
                    Some(Ok(Message::Binary(body))) => {
                        registry.touch(&conn.id, now_millis());
                        if let Some(reply) = on_message(&shared, &conn, body, false).await {
                            if socket.send(reply).await.is_err() {
                                break Ending { code: 1006, reason: "Connection lost", send: None };
                            }
                        }
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {
                        registry.touch(&conn.id, now_millis());
                    }
                    Some(Ok(Message::Close(frame))) => {
                        // The reply to the client's close goes out as the stream is read on.
                        let _ = tokio::time::timeout(CLOSE_GRACE, async {
                            while let Some(Ok(_)) = socket.next().await {}
                        }).await;
                        let code = frame.map_or(1005, |f| u16::from(f.code));
                        break Ending { code, reason: "Client closed", send: None };
                    }
                    Some(Err(tungstenite::Error::Capacity(e))) => {
                        tracing::debug!(connection_id = %conn.id, error = %e, "WebSocket message over the limit");
                        break Ending { code: 1009, reason: "Message too big", send: Some(CloseCode::Size) };
                    }
                    Some(Err(tungstenite::Error::Protocol(e))) => {
                        tracing::debug!(connection_id = %conn.id, error = %e, "WebSocket protocol error");
                        break Ending { code: 1002, reason: "Protocol error", send: Some(CloseCode::Protocol) };
                    }
                    Some(Err(_)) | None => {
                        break Ending { code: 1006, reason: "Connection lost", send: None };
                    }
                }
            }
            push = mailbox.recv() => {
                let msg = match push {
                    Some(Push::Text(b)) => match tungstenite::Utf8Bytes::try_from(b) {
                        Ok(t) => Message::Text(t),
                        Err(_) => continue,
                    },
                    Some(Push::Binary(b)) => Message::Binary(b),
                    Some(Push::Close) | None => {
                        break Ending { code: 1000, reason: "Disconnected by @connections", send: Some(CloseCode::Normal) };
                    }
                };
                if socket.send(msg).await.is_err() {
                    break Ending { code: 1006, reason: "Connection lost", send: None };
                }
            }
            _ = tokio::time::sleep_until(idle_until) => {
                break Ending { code: 1001, reason: "Idle timeout", send: Some(CloseCode::Away) };
            }
            _ = tokio::time::sleep_until(ends_at) => {
                break Ending { code: 1001, reason: "Maximum connection duration", send: Some(CloseCode::Away) };
            }
            _ = stop.changed() => {}
        }
    };
    registry.unregister(&conn.id);
    if let Some(code) = ending.send {
        let frame = CloseFrame {
            code,
            reason: ending.reason.into(),
        };
        let _ = tokio::time::timeout(CLOSE_GRACE, async {
            if socket.close(Some(frame)).await.is_ok() {
                while let Some(Ok(_)) = socket.next().await {}
            }
        })
        .await;
    }
    drop(socket);
    on_disconnect(&shared, &conn, ending.code, ending.reason).await;
}

/// Looks the connection's API and stage up in the current runtime.
fn current<'r>(rt: &'r Runtime, conn: &Conn) -> Option<(&'r Api, &'r WsApi, usize)> {
    let api = rt.apis.iter().find(|a| *a.name == *conn.api)?;
    let ws = api.websocket.as_deref()?;
    let stage = api.stages.iter().position(|s| *s.name == *conn.stage)?;
    Some((api, ws, stage))
}

/// Routes and runs one message; returns what to send back, if anything.
async fn on_message(
    shared: &Arc<Shared>,
    conn: &Conn,
    body: Bytes,
    is_text: bool,
) -> Option<Message> {
    let rt = shared.runtime.load_full();
    let request_id = uuid::Uuid::new_v4();
    let Some((api, ws, stage)) = current(&rt, conn) else {
        return Some(error_message("Forbidden", conn, request_id));
    };
    let Some(route) = ws.route_for(&body) else {
        return Some(error_message("Forbidden", conn, request_id));
    };
    let ev = Event {
        conn,
        kind: EventType::Message,
        route_key: &route.key,
        request_id,
        body,
        is_text,
        request: None,
        close: None,
    };
    match invoke(shared, api, stage, route, &ev).await {
        Ok(a) if a.status.is_success() => {
            if a.body.is_empty() {
                None
            } else {
                // Bytes clones share the buffer.
                Some(match tungstenite::Utf8Bytes::try_from(a.body.clone()) {
                    Ok(t) => Message::Text(t),
                    Err(_) => Message::Binary(a.body),
                })
            }
        }
        Ok(a) => {
            tracing::warn!(connection_id = %conn.id, route = %route.key, status = a.status.as_u16(), "WebSocket route integration answered an error");
            Some(error_message("Internal server error", conn, request_id))
        }
        Err(r) => {
            tracing::warn!(connection_id = %conn.id, route = %route.key, reason = %r.reason, "WebSocket route integration failed");
            Some(error_message("Internal server error", conn, request_id))
        }
    }
}

async fn on_disconnect(shared: &Arc<Shared>, conn: &Conn, code: u16, reason: &str) {
    tracing::debug!(connection_id = %conn.id, code, reason, "WebSocket connection closed");
    let rt = shared.runtime.load_full();
    let Some((api, ws, stage)) = current(&rt, conn) else {
        return;
    };
    let Some(route) = &ws.disconnect else {
        return;
    };
    let ev = Event {
        conn,
        kind: EventType::Disconnect,
        route_key: "$disconnect",
        request_id: uuid::Uuid::new_v4(),
        body: Bytes::new(),
        is_text: true,
        request: None,
        close: Some((code, reason)),
    };
    if let Err(r) = invoke(shared, api, stage, route, &ev).await {
        tracing::warn!(connection_id = %conn.id, reason = %r.reason, "$disconnect integration failed");
    }
}

/// API Gateway's error message to a WebSocket caller.
fn error_message(message: &str, conn: &Conn, request_id: uuid::Uuid) -> Message {
    let body = json!({
        "message": message,
        "connectionId": conn.id,
        "requestId": request_id.to_string(),
    });
    Message::Text(body.to_string().into())
}

async fn invoke(
    shared: &Shared,
    api: &Api,
    stage: usize,
    route: &Route,
    ev: &Event<'_>,
) -> Result<Answer, Rejection> {
    match &route.integration {
        RouteIntegration::Mock { status, body } => Ok(Answer {
            status: *status,
            body: body.clone(),
        }),
        RouteIntegration::Http { uris, timeout } => {
            let uri = uris[stage].render(|_| None, None);
            let event = event_json(api, stage, ev);
            let mut req = http::Request::new(Body::full(event.to_string()));
            *req.method_mut() = http::Method::POST;
            *req.uri_mut() = uri.parse().map_err(|e| {
                Rejection::new(
                    ResponseType::ApiConfigurationError,
                    format!("backend URI `{uri}` is invalid: {e}"),
                )
            })?;
            req.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            let limit = api
                .websocket
                .as_ref()
                .map_or(128 * 1024, |w| w.limits.max_message_bytes);
            let (parts, body) = crate::integration::exchange(shared, req, limit, *timeout).await?;
            Ok(Answer {
                status: parts.status,
                body,
            })
        }
        RouteIntegration::Wasm(plugin) => {
            let event = event_wit(api, stage, ev);
            let id = ev.request_id.to_string();
            match plugin.handle_event(&id, &event) {
                Ok(Ok(reply)) => Ok(Answer {
                    status: StatusCode::OK,
                    body: reply.map(Bytes::from).unwrap_or_default(),
                }),
                Ok(Err(msg)) => Err(Rejection::new(
                    ResponseType::IntegrationFailure,
                    format!("plugin `{}` returned an error: {msg}", plugin.name),
                )
                .with_status(StatusCode::BAD_GATEWAY)),
                Err(failure) => Err(Rejection::new(
                    ResponseType::IntegrationFailure,
                    format!("plugin `{}` {failure}", plugin.name),
                )
                .with_status(StatusCode::BAD_GATEWAY)),
            }
        }
    }
}

/// The event in API Gateway's WebSocket Lambda event shape.
fn event_json(api: &Api, stage: usize, ev: &Event<'_>) -> Value {
    let conn = ev.conn;
    let mut rc = Map::new();
    rc.insert("routeKey".into(), ev.route_key.into());
    rc.insert("eventType".into(), ev.kind.name().into());
    rc.insert("messageDirection".into(), "IN".into());
    rc.insert("connectionId".into(), conn.id.as_str().into());
    rc.insert("connectedAt".into(), conn.connected_at.into());
    rc.insert("requestTimeEpoch".into(), now_millis().into());
    rc.insert("requestId".into(), ev.request_id.to_string().into());
    rc.insert("apiId".into(), (*api.name).into());
    rc.insert("stage".into(), (*api.stages[stage].name).into());
    if let Some(d) = &conn.domain {
        rc.insert("domainName".into(), d.as_str().into());
    }
    if ev.kind == EventType::Message {
        rc.insert("messageId".into(), uuid::Uuid::new_v4().to_string().into());
    }
    if let Some((code, reason)) = ev.close {
        rc.insert("disconnectStatusCode".into(), code.into());
        rc.insert("disconnectReason".into(), reason.into());
    }
    rc.insert(
        "identity".into(),
        json!({ "sourceIp": conn.source_ip.to_string(), "userAgent": conn.user_agent }),
    );
    if let Some(auth) = &conn.auth {
        rc.insert("authorizer".into(), Value::Object(auth.json()));
    }
    let mut root = Map::new();
    root.insert("requestContext".into(), Value::Object(rc));
    if let Some((headers, query)) = ev.request {
        let (single, multi) = convert::last_and_all(convert::multi_headers(headers));
        root.insert("headers".into(), Value::Object(single));
        root.insert("multiValueHeaders".into(), Value::Object(multi));
        let params = convert::query(query);
        if !params.is_empty() {
            let (single, multi) = convert::last_and_all(params);
            root.insert("queryStringParameters".into(), Value::Object(single));
            root.insert(
                "multiValueQueryStringParameters".into(),
                Value::Object(multi),
            );
        }
    }
    let vars: Map<String, Value> = api.stages[stage]
        .variables
        .iter()
        .map(|(k, v)| (k.to_string(), (**v).into()))
        .collect();
    if !vars.is_empty() {
        root.insert("stageVariables".into(), Value::Object(vars));
    }
    let text = ev
        .is_text
        .then(|| std::str::from_utf8(&ev.body).ok())
        .flatten();
    match text {
        Some(t) => {
            root.insert("body".into(), t.into());
            root.insert("isBase64Encoded".into(), false.into());
        }
        None => {
            use base64::Engine as _;
            let b = base64::engine::general_purpose::STANDARD.encode(&ev.body);
            root.insert("body".into(), b.into());
            root.insert("isBase64Encoded".into(), true.into());
        }
    }
    Value::Object(root)
}

/// The event as the `websocket-handler` world sees it.
fn event_wit(api: &Api, stage: usize, ev: &Event<'_>) -> wit::Event {
    let conn = ev.conn;
    let auth = conn.auth.as_deref();
    let (headers, query): (Vec<MultiValue>, Vec<MultiValue>) = match ev.request {
        Some((h, q)) => (convert::multi_headers(h), convert::query(q)),
        None => (Vec::new(), Vec::new()),
    };
    wit::Event {
        route_key: ev.route_key.to_owned(),
        event_type: match ev.kind {
            EventType::Connect => wit::EventType::Connect,
            EventType::Message => wit::EventType::Message,
            EventType::Disconnect => wit::EventType::Disconnect,
        },
        connection_id: conn.id.clone(),
        body: ev.body.to_vec(),
        is_text: ev.is_text,
        headers,
        query,
        stage_variables: convert::pairs(&api.stages[stage].variables),
        connected_at: conn.connected_at,
        context: RequestContext {
            request_id: ev.request_id.to_string(),
            api_id: api.name.to_string(),
            stage: api.stages[stage].name.to_string(),
            source_ip: conn.source_ip.to_string(),
            user_agent: conn.user_agent.clone(),
            principal_id: auth.map(|a| a.principal_id.clone()),
            authorizer: convert::authorizer_pairs(auth),
            request_time_epoch: now_millis(),
        },
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

    #[test]
    fn connection_ids_are_url_safe_and_distinct() {
        let a = connection_id();
        assert_eq!(a.len(), 16);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(a, connection_id());
    }
}
