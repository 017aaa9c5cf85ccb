//! WebSocket API sessions, as API Gateway runs them.
//!
//! ```text
//! upgrade request ─ route (mount) ─ authorizer ($connect) ─ throttles ─ $connect integration
//!        └─ 101: the connection is registered (`gatehouse_state::connections`) and a session task
//!           reads messages: route key from the route selection expression → route
//!           integration → its answer (if any) back to the caller; pushes from
//!           `@connections` arrive through the mailbox; idle timeout, maximum duration,
//!           frame and message size limits and shutdown close it; `$disconnect` runs last.
//! ```
//! Integrations: `mock` (fixed status and reply), `http` (the event, as JSON in API Gateway's
//! Lambda event shape, POSTed to a backend) and `wasm` (a `websocket-handler` plugin). Each
//! event loads the current runtime, so a reload applies to open connections from their next
//! message on; a connection whose API is gone is closed. With tracing, `$connect` is the
//! upgrade request's trace and each message and `$disconnect` is sampled as one of its own
//! (`trace::event`); an `http` integration gets `traceparent` naming its `integration` span.

mod event;
mod log;

use crate::body::Body;
use crate::ctx::{AuthContext, RequestCtx, WsEvent};
use crate::error::{Rejection, ResponseType};
use crate::plugin::bindings::types::{MultiValue, RequestContext};
use crate::plugin::bindings::websocket as wit;
use crate::plugin::convert;
use crate::runtime::{Api, Runtime};
use crate::shared::Shared;
use crate::state::connections::{ConnectionInfo, Push, MAILBOX_CAPACITY};
use crate::trace::{Kind, RequestTrace, SpanContext};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use crate::integration::http_proxy::is_upgrade;
use crate::websocket::{Limits, Route, RouteIntegration, WsApi};
use event::invoke;
use log::Logged;

/// The initial read buffer of a session.
const READ_BUFFER_BYTES: usize = 4096;

/// How long a closing handshake may take before the socket is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

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
    /// The upgrade request's target (for the events' access log lines).
    target: http::Uri,
    auth: Option<Arc<AuthContext>>,
    /// Where messages pushed through `@connections` are counted (route `@connections`).
    pushed: Option<Arc<crate::metrics::WsMetrics>>,
    /// Where the connection is counted while open.
    open: Option<Arc<crate::metrics::WsStageMetrics>>,
    /// The `$connect` server span, which later events' spans link to.
    traced: Option<SpanContext>,
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
    /// A message's id (messages only).
    message_id: Option<&'a str>,
    body: Bytes,
    is_text: bool,
    /// The upgrade request (connect only).
    request: Option<&'a http::request::Parts>,
    /// Close code and reason (disconnect only).
    close: Option<(u16, &'a str)>,
}

/// What an integration answered: a status (decides `$connect`) and a reply, if any. An
/// HTTP integration's or a mock's empty body is no reply; a plugin's `some` is one, even
/// when empty.
struct Answer {
    status: StatusCode,
    body: Option<Bytes>,
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
    // What refuses a handshake before `$connect`'s integration counts as its ClientError.
    let refused = || {
        if let Some(m) = ws.connect.as_ref().and_then(|c| c.metrics.get(stage)) {
            m.client_errors.fetch_add(1, Relaxed);
        }
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
        refused();
        return Err(Rejection::new(
            ResponseType::BadRequestParameters,
            "not a WebSocket upgrade (HTTP/1.1 GET with Upgrade: websocket, Sec-WebSocket-Key and version 13)",
        )
        .with_status(StatusCode::UPGRADE_REQUIRED)
        .with_message("Upgrade Required"));
    };
    // The connection's id is known from here, so that a refused `$connect` names it too.
    let id = connection_id();
    let connected_at = now_millis();
    ctx.ws_event = Some(Box::new(WsEvent {
        event_type: EventType::Connect.name(),
        route_key: "$connect".into(),
        connection_id: id.as_str().into(),
        message_id: None,
        connected_at,
    }));
    ctx.trace.websocket_connect(&id);
    let admitted = async {
        if let Some(policy) = &api.policy {
            policy.check(ctx.source_ip, || {
                format!("{}/{}/$connect", api.name, api.stages[stage].name)
            })?;
        }
        if let Some(binding) = ws.connect.as_ref().and_then(|r| r.authorizer.as_ref()) {
            let call = crate::auth::authorize::Call {
                parts: &mut parts,
                scopes: &[],
                out: &**shared,
            };
            let span = ctx.trace.start("authorize", Kind::Internal);
            crate::auth::authorize::authorize(rt, ctx, call, binding).await?;
            ctx.trace.end(span);
        }
        crate::stage::throttle::check([&rt.account_throttle], "account")?;
        crate::stage::throttle::check(api.stages[stage].throttle.as_ref(), "stage")
    }
    .await;
    if let Err(r) = admitted {
        refused();
        return Err(r);
    }

    let conn = Conn {
        id,
        api: Arc::from(&*api.name),
        stage: Arc::from(&*api.stages[stage].name),
        connected_at,
        source_ip: ctx.source_ip,
        user_agent: header_str(&parts.headers, http::header::USER_AGENT),
        domain: ctx.host_name().map(str::to_owned),
        target: ctx.uri.clone(),
        auth: ctx.authorizer.clone(),
        pushed: ws.pushed.get(stage).cloned(),
        open: ws.open.get(stage).cloned(),
        traced: ctx.trace.context(),
    };
    if let Some(route) = &ws.connect {
        let ev = Event {
            conn: &conn,
            kind: EventType::Connect,
            route_key: "$connect",
            request_id: ctx.request_id,
            message_id: None,
            body: Bytes::new(),
            is_text: true,
            request: Some(&parts),
            close: None,
        };
        let started = std::time::Instant::now();
        let answer = invoke(shared, api, stage, route, &ev, &mut ctx.trace).await;
        ctx.integration_latency = Some(started.elapsed());
        let answer = answer?;
        ctx.integration_status = Some(answer.status.as_u16());
        if !answer.status.is_success() {
            let mut resp = Response::new(Body::full(answer.body.unwrap_or_default()));
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
    let open = conn.open.as_ref().map(crate::metrics::WsStageMetrics::open);
    // The handshake's HTTP/1.1 buffers are gone.
    crate::heap::released();
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
                        if let Some(reply) = Box::pin(on_message(&shared, &conn, body, true)).await {
                            if socket.send(reply).await.is_err() {
                                break Ending { code: 1006, reason: "Connection lost", send: None };
                            }
                        }
                    }
                    Some(Ok(Message::Binary(body))) => {
                        registry.touch(&conn.id, now_millis());
                        if let Some(reply) = Box::pin(on_message(&shared, &conn, body, false)).await {
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
                if let Some(m) = &conn.pushed {
                    m.message_count.fetch_add(1, Relaxed);
                }
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
    drop(open);
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
    // Boxed, as each message's handling: an idle session's task is only as large as its
    // loop.
    Box::pin(on_disconnect(&shared, &conn, ending.code, ending.reason)).await;
}

/// Looks the connection's API and stage up in the current runtime.
fn current<'r>(rt: &'r Runtime, conn: &Conn) -> Option<(&'r Api, &'r WsApi, usize)> {
    let api = rt.apis.iter().find(|a| *a.name == *conn.api)?;
    let ws = api.websocket.as_deref()?;
    let stage = api.stages.iter().position(|s| *s.name == *conn.stage)?;
    Some((api, ws, stage))
}

/// Routes and runs one message; returns what to send back, if anything. Writes the
/// message's access log line.
async fn on_message(
    shared: &Arc<Shared>,
    conn: &Conn,
    body: Bytes,
    is_text: bool,
) -> Option<Message> {
    let rt = shared.runtime.load_full();
    let mut logged = Logged::new(EventType::Message, uuid::Uuid::new_v4());
    logged.message_id = Some(event::message_id());
    let mut trace = log::begin_trace(shared);
    let reply = route_message(shared, &rt, conn, (body, is_text), &mut logged, &mut trace).await;
    log::end_trace(shared, conn, trace, &logged);
    log::write(shared, &rt, conn, logged);
    reply
}

async fn route_message(
    shared: &Arc<Shared>,
    rt: &Runtime,
    conn: &Conn,
    (body, is_text): (Bytes, bool),
    logged: &mut Logged,
    trace: &mut RequestTrace,
) -> Option<Message> {
    let request_id = logged.request_id;
    // What no route takes is refused, as API Gateway's `Forbidden`.
    logged.status = 403;
    let Some((api, ws, stage)) = current(rt, conn) else {
        return Some(error_message("Forbidden", conn, request_id));
    };
    let Some(route) = ws.route_for(&body) else {
        if let Some(m) = ws.unrouted.get(stage) {
            // The client's message and the error message sent back.
            m.message_count.fetch_add(2, Relaxed);
            m.client_errors.fetch_add(1, Relaxed);
        }
        return Some(error_message("Forbidden", conn, request_id));
    };
    logged.route_key = route.key.to_string();
    let message_id = logged.message_id.clone();
    let ev = Event {
        conn,
        kind: EventType::Message,
        route_key: &route.key,
        request_id,
        message_id: message_id.as_deref(),
        body,
        is_text,
        request: None,
        close: None,
    };
    let answer = logged
        .integration(route, invoke(shared, api, stage, route, &ev, trace))
        .await;
    // A reply or an error message goes back to the client: one more message.
    if !matches!(&answer, Ok(a) if a.status.is_success() && a.body.is_none()) {
        if let Some(m) = route.metrics.get(stage) {
            m.message_count.fetch_add(1, Relaxed);
        }
    }
    match answer {
        Ok(a) if a.status.is_success() => {
            let reply = a.body?;
            if !is_text {
                return Some(Message::Binary(reply));
            }
            // Bytes clones share the buffer.
            Some(match tungstenite::Utf8Bytes::try_from(reply.clone()) {
                Ok(t) => Message::Text(t),
                Err(_) => Message::Binary(reply),
            })
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

/// Runs `$disconnect` (when the API has it) and writes the event's access log line.
async fn on_disconnect(shared: &Arc<Shared>, conn: &Conn, code: u16, reason: &str) {
    tracing::debug!(connection_id = %conn.id, code, reason, "WebSocket connection closed");
    let rt = shared.runtime.load_full();
    let mut logged = Logged::new(EventType::Disconnect, uuid::Uuid::new_v4());
    logged.route_key = "$disconnect".into();
    logged.status = 200;
    let mut trace = log::begin_trace(shared);
    let route =
        current(&rt, conn).and_then(|(api, ws, stage)| Some((api, ws.disconnect.as_ref()?, stage)));
    if let Some((api, route, stage)) = route {
        let ev = Event {
            conn,
            kind: EventType::Disconnect,
            route_key: "$disconnect",
            request_id: logged.request_id,
            message_id: None,
            body: Bytes::new(),
            is_text: true,
            request: None,
            close: Some((code, reason)),
        };
        let answer = logged
            .integration(route, invoke(shared, api, stage, route, &ev, &mut trace))
            .await;
        if let Err(r) = answer {
            tracing::warn!(connection_id = %conn.id, reason = %r.reason, "$disconnect integration failed");
        }
    }
    log::end_trace(shared, conn, trace, &logged);
    log::write(shared, &rt, conn, logged);
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

#[cfg(test)]
mod tests {
    use super::*;

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
