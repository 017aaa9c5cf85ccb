//! The admin listener: health, readiness, metrics, reload, API keys, IAM credentials
//! ([`iam`]), cache flushes, the WebSocket `@connections` API and the admin console
//! ([`console`], [`console_api`]), apart from client traffic. With `admin.token` set, every
//! route but `/health`, `/ready` and the console's page needs `Authorization: Bearer TOKEN`
//! (or `admin.read_only_token`, for `GET` and `HEAD` only).

mod console;
mod console_api;
mod deployments;
mod iam;
mod usage;

use crate::body::Body;
use crate::config::reload::Reloader;
use crate::config::AdminSettings;
use crate::shared::Shared;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Binds the admin listener and serves it until `stop` flips.
pub async fn serve(
    settings: AdminSettings,
    shared: Arc<Shared>,
    reloader: Arc<Reloader>,
    draining: Arc<AtomicBool>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = TcpListener::bind(settings.address).await?;
    tracing::info!("admin listening address={}", listener.local_addr()?);
    let header_read_timeout = settings.header_read_timeout;
    let token = console::Tokens::of(&settings);
    Ok(tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                r = listener.accept() => match r {
                    Ok((s, _)) => s,
                    Err(e) => {
                        // Out of descriptors, most likely: let some close before trying again.
                        tracing::warn!(error = %e, "admin accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                },
                _ = stop.changed() => break,
            };
            let (shared, reloader, draining, token) = (
                shared.clone(),
                reloader.clone(),
                draining.clone(),
                token.clone(),
            );
            tokio::spawn(async move {
                let first = crate::listener::first_bytes(&stream, header_read_timeout).await;
                if first == crate::listener::FirstBytes::Silent {
                    return;
                }
                let svc = service_fn(move |req| {
                    let (shared, reloader, draining, token) = (
                        shared.clone(),
                        reloader.clone(),
                        draining.clone(),
                        token.clone(),
                    );
                    async move {
                        Ok::<_, Infallible>(
                            route(req, &shared, &reloader, &draining, token.as_deref()).await,
                        )
                    }
                });
                let mut builder = auto::Builder::new(TokioExecutor::new());
                builder
                    .http1()
                    .timer(TokioTimer::new())
                    .header_read_timeout(header_read_timeout);
                let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    }))
}

async fn route(
    req: Request<Incoming>,
    shared: &Arc<Shared>,
    reloader: &Reloader,
    draining: &AtomicBool,
    token: Option<&console::Tokens>,
) -> Response<Body> {
    let path = req.uri().path();
    match (req.method(), path) {
        (&Method::GET, "/health") => return text(StatusCode::OK, "ok\n"),
        (&Method::GET, "/ready") => {
            return if draining.load(Ordering::Relaxed) {
                text(StatusCode::SERVICE_UNAVAILABLE, "draining\n")
            } else {
                text(StatusCode::OK, "ready\n")
            };
        }
        _ => {}
    }
    if let Some(page) = console::asset(req.method(), path) {
        return page;
    }
    if let Some(refused) = token.and_then(|t| t.refusal(req.method(), req.headers())) {
        return refused;
    }
    let method = req.method().clone();
    let path = path.to_owned();
    if path.starts_with("/console/api/") {
        return console_api::route(shared, reloader, token, req).await;
    }
    if method == Method::GET && (path == "/usage" || path.starts_with("/usage/")) {
        return usage::route(shared, &path, req.uri().query()).await;
    }
    if path == "/deployments" || path.starts_with("/deployments/") {
        return deployments::route(shared, reloader, &method, &path).await;
    }
    if path.starts_with("/iam/") {
        if let Some(r) = iam::route(shared, &method, &path, req.into_body()).await {
            return r;
        }
        return json(
            StatusCode::NOT_FOUND,
            r#"{"message":"Not Found"}"#.to_owned(),
        );
    }
    match (&method, path.as_str()) {
        (&Method::GET, "/apikeys") => match blocking(shared, |s| s.keys.list()).await {
            Ok(list) => json(
                StatusCode::OK,
                serde_json::json!({ "items": list }).to_string(),
            ),
            Err(e) => store_error(&e),
        },
        (&Method::POST, "/apikeys") => create_key(shared, req.into_body()).await,
        (&Method::PATCH, p) if p.starts_with("/apikeys/") => {
            update_key(shared, &p["/apikeys/".len()..], req.into_body()).await
        }
        (&Method::DELETE, p) if p.starts_with("/apikeys/") => {
            let id = p["/apikeys/".len()..].to_owned();
            match blocking(shared, move |s| s.keys.delete(&id)).await {
                Ok(true) => {
                    let mut r = Response::new(Body::Empty);
                    *r.status_mut() = StatusCode::NO_CONTENT;
                    r
                }
                Ok(false) => not_found_key(),
                Err(e) => store_error(&e),
            }
        }
        (&Method::GET, "/metrics") => {
            let mut body = shared.metrics.render();
            if let Some(t) = &shared.tracer {
                body.push_str(&t.render_metrics());
            }
            if let Some(h) = shared.keys.store_health() {
                body.push_str(&crate::metrics::render_store_health(h));
            }
            if let Some(c) = shared.keys.shared_cache() {
                body.push_str(&crate::metrics::render_shared_cache(c));
            }
            let mut r = text(StatusCode::OK, body);
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        (&Method::POST, "/reload") => match reloader.reload(true).await {
            Ok(()) => json(StatusCode::OK, r#"{"reloaded":true}"#.to_owned()),
            Err(errors) => {
                let list: Vec<String> = errors.to_string().lines().map(str::to_owned).collect();
                json(
                    StatusCode::BAD_REQUEST,
                    serde_json::json!({ "reloaded": false, "errors": list }).to_string(),
                )
            }
        },
        (&Method::DELETE, p) if p.starts_with("/cache/") => {
            flush_cache(shared, &p["/cache/".len()..]).await
        }
        (_, p) if p.starts_with("/@connections/") => {
            let id = p["/@connections/".len()..].to_owned();
            connection(shared, &method, &id, req.into_body()).await
        }
        _ => json(
            StatusCode::NOT_FOUND,
            r#"{"message":"Not Found"}"#.to_owned(),
        ),
    }
}

/// `@connections/{id}`: POST sends the body to the client, GET describes the connection,
/// DELETE closes it; an unknown or closed connection is 410 Gone, as in API Gateway.
async fn connection(shared: &Shared, method: &Method, id: &str, body: Incoming) -> Response<Body> {
    use crate::state::connections::{Push, PushError};
    use http_body_util::BodyExt;
    let registry = &shared.websockets.registry;
    let result =
        match *method {
            Method::GET => return match registry.find(id).await {
                Some(c) => json(
                    StatusCode::OK,
                    serde_json::json!({
                        "connectedAt": crate::context_template::iso8601_millis(c.connected_at),
                        "lastActiveAt": crate::context_template::iso8601_millis(c.last_active_at),
                        "identity": {
                            "sourceIp": c.source_ip.to_string(),
                            "userAgent": c.user_agent,
                        },
                        "principalId": c.principal_id,
                        "apiId": &*c.api,
                        "stage": &*c.stage,
                    })
                    .to_string(),
                ),
                None => gone(),
            },
            Method::POST => {
                // API Gateway's limit on a posted message.
                let limited = http_body_util::Limited::new(body, 128 * 1024);
                let data = match limited.collect().await {
                    Ok(c) => c.to_bytes(),
                    Err(_) => {
                        return json(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            r#"{"message":"Request Too Long"}"#.to_owned(),
                        )
                    }
                };
                registry.send(id, Push::message(data)).await
            }
            Method::DELETE => registry.send(id, Push::Close).await,
            _ => {
                return json(
                    StatusCode::METHOD_NOT_ALLOWED,
                    r#"{"message":"Method Not Allowed"}"#.to_owned(),
                )
            }
        };
    match result {
        Ok(()) => {
            let mut r = Response::new(Body::Empty);
            *r.status_mut() = if *method == Method::DELETE {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::OK
            };
            r
        }
        Err(PushError::Gone) => gone(),
        Err(PushError::Full) => json(
            StatusCode::TOO_MANY_REQUESTS,
            r#"{"message":"Too Many Requests"}"#.to_owned(),
        ),
    }
}

fn gone() -> Response<Body> {
    json(StatusCode::GONE, r#"{"message":"Gone"}"#.to_owned())
}

/// Reads a small JSON request body (at most 64 KiB).
async fn json_body(body: Incoming) -> Result<serde_json::Value, Response<Body>> {
    use http_body_util::BodyExt;
    let limited = http_body_util::Limited::new(body, 64 * 1024);
    let bytes = match limited.collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => return Err(bad_request(&format!("cannot read the body: {e}"))),
    };
    serde_json::from_slice(&bytes).map_err(|e| bad_request(&format!("expected a JSON object: {e}")))
}

/// `POST /apikeys` with `{"name": N, "plans": [..], "value": V?}`: 201 with the value, shown once.
async fn create_key(shared: &Arc<Shared>, body: Incoming) -> Response<Body> {
    let doc = match json_body(body).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let Some(name) = doc.get("name").and_then(|v| v.as_str()) else {
        return bad_request("expected a string `name`");
    };
    let plans: Vec<String> = match doc.get("plans") {
        None => Vec::new(),
        Some(v) => match serde_json::from_value(v.clone()) {
            Ok(p) => p,
            Err(_) => return bad_request("expected `plans` to be a list of usage plan names"),
        },
    };
    let rt = shared.runtime.load();
    if let Some(p) = plans.iter().find(|p| !rt.usage_plans.contains_key(*p)) {
        return bad_request(&format!("no usage plan named `{p}`"));
    }
    let value = match doc.get("value") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(_) => return bad_request("expected `value` to be a string"),
    };
    let name = name.to_owned();
    let created = blocking(shared, move |s| s.keys.create(&name, plans, value)).await;
    match created {
        Ok((key, value)) => {
            tracing::info!(key = %key.id, name = %key.name, "API key created");
            let mut doc = serde_json::to_value(&key).unwrap_or_default();
            doc["value"] = serde_json::Value::String(value);
            json(StatusCode::CREATED, doc.to_string())
        }
        Err(msg) => bad_request(&msg),
    }
}

/// `PATCH /apikeys/{id}` with `{"enabled": bool}`.
async fn update_key(shared: &Arc<Shared>, id: &str, body: Incoming) -> Response<Body> {
    let doc = match json_body(body).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let Some(enabled) = doc.get("enabled").and_then(|v| v.as_bool()) else {
        return bad_request("expected a boolean `enabled`");
    };
    let id = id.to_owned();
    match blocking(shared, move |s| s.keys.set_enabled(&id, enabled)).await {
        Ok(Some(key)) => json(
            StatusCode::OK,
            serde_json::to_string(&key).unwrap_or_default(),
        ),
        Ok(None) => not_found_key(),
        Err(e) => store_error(&e),
    }
}

/// Runs a key-store operation on a blocking thread: a shared store does network I/O.
async fn blocking<T: Send + 'static, E: From<String> + Send + 'static>(
    shared: &Arc<Shared>,
    op: impl FnOnce(&Shared) -> Result<T, E> + Send + 'static,
) -> Result<T, E> {
    let s = shared.clone();
    tokio::task::spawn_blocking(move || op(&s))
        .await
        .unwrap_or_else(|e| Err(E::from(format!("key store task failed: {e}"))))
}

fn bad_request(msg: &str) -> Response<Body> {
    json(
        StatusCode::BAD_REQUEST,
        serde_json::json!({ "message": msg }).to_string(),
    )
}

fn not_found_key() -> Response<Body> {
    json(
        StatusCode::NOT_FOUND,
        r#"{"message":"no such API key"}"#.to_owned(),
    )
}

fn store_error(e: &crate::state::StoreError) -> Response<Body> {
    tracing::error!(error = %e, "admin API: state store failed");
    json(
        StatusCode::INTERNAL_SERVER_ERROR,
        serde_json::json!({ "message": e.to_string() }).to_string(),
    )
}

/// `DELETE /cache/{api}/{stage}`: drops every entry of a stage's cache.
async fn flush_cache(shared: &Shared, rest: &str) -> Response<Body> {
    let rt = shared.runtime.load();
    let Some((api_name, stage_name)) = rest.split_once('/') else {
        return json(
            StatusCode::NOT_FOUND,
            r#"{"message":"expected /cache/{api}/{stage}"}"#.to_owned(),
        );
    };
    let stage = rt
        .apis
        .iter()
        .find(|a| &*a.name == api_name)
        .and_then(|a| a.stages.iter().find(|s| &*s.name == stage_name));
    match stage {
        None => json(
            StatusCode::NOT_FOUND,
            serde_json::json!({ "message": format!("no stage `{stage_name}` in an API `{api_name}`") }).to_string(),
        ),
        Some(s) => match &s.cache {
            None => json(
                StatusCode::CONFLICT,
                serde_json::json!({ "message": format!("stage `{stage_name}` has no cache") }).to_string(),
            ),
            Some(c) => match c.flush().await {
                Ok(()) => {
                    tracing::info!(api = api_name, stage = stage_name, "stage cache flushed");
                    json(StatusCode::ACCEPTED, r#"{"flushed":true}"#.to_owned())
                }
                Err(e) => store_error(&e),
            },
        },
    }
}

fn text(status: StatusCode, body: impl Into<bytes::Bytes>) -> Response<Body> {
    let mut r = Response::new(Body::full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn json(status: StatusCode, body: String) -> Response<Body> {
    let mut r = Response::new(Body::full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
