//! The request pipeline: one ordered list of stages.
//!
//! ```text
//! head             pipeline/head.rs       Host / authority (400), transfer codings (501)
//! (WebSocket)      pipeline/websocket.rs  an upgrade to a WebSocket API stage leaves here
//! (CORS preflight) pipeline/route.rs      answered here for resources without OPTIONS
//! route            pipeline/route.rs      API, stage, resource, method, path parameters
//! resource policy  stage/policy.rs        source IP allow/deny (403)
//! body limit       (below)                413 for a declared length over the limit
//! authorize        auth/authorize.rs      plugin, JWT, Cognito or Lambda authorizer
//! API key          pipeline/api_key.rs    key, usage plan (403 without one)
//! throttle         stage/throttle.rs      account, stage, method token buckets; per-key
//!                  pipeline/api_key.rs    buckets and quota of the key's usage plan
//! cache            stage/cache.rs         stage cache: a hit skips everything below
//! map request      pipeline/map.rs        mapper plugin
//! integration      integration.rs         http_proxy | mock | wasm
//! map response     pipeline/map.rs        mapper plugin
//! (cache store)    stage/cache.rs         successful responses, coalesced per key
//! (execution log)  pipeline/execution_log.rs  stages with `execution_log`: each decision
//! observe          pipeline/observe.rs    request id header, metrics, access log: every exit path
//! ```
//! A method without an authorizer or mappers pays nothing for them.
//! Each stage either lets the request go on or ends it with a [`Rejection`];
//! `pipeline/respond.rs` is the only place a rejection becomes a response. The runtime is
//! loaded once per request, so a reload never changes a request half-way.

pub mod api_key;
pub mod execution_log;
pub mod head;
pub mod map;
pub mod observe;
pub mod respond;
pub mod route;
pub mod websocket;

pub use crate::auth::authorize;
pub use crate::ctx;
pub use crate::stage::{cache, cors, policy, throttle, validate};

use crate::body::RequestBody;
use crate::body::{read_body, Body};
use crate::error::{Rejection, ResponseType};
use crate::runtime::{MethodEntry, Runtime};
use crate::shared::Shared;
use crate::trace;
use ctx::RequestCtx;
use http::{Request, Response};
use std::net::SocketAddr;
use std::sync::Arc;
use trace::{Kind, Value};

/// What a connection knows about its peer.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub tls: bool,
    /// The verified client certificate of a mutual TLS connection.
    pub client_cert: Option<Arc<ctx::ClientCert>>,
}

/// Serves one request from start to finish.
pub async fn handle(
    shared: Arc<Shared>,
    req: Request<RequestBody>,
    conn: ConnInfo,
) -> Response<Body> {
    handle_inspected(shared, req, conn, |_, _, _| ()).await
}

/// Serves one request as [`handle`] does and shows `inspect` its context and response just
/// before `observe` (the admin console's test invoke reads each stage's decision there).
pub async fn handle_inspected(
    shared: Arc<Shared>,
    req: Request<RequestBody>,
    conn: ConnInfo,
    inspect: impl FnOnce(&Runtime, &RequestCtx, &Response<Body>),
) -> Response<Body> {
    let rt = shared.runtime.load_full();
    let (parts, body) = req.into_parts();
    let mut ctx = RequestCtx::new(&parts, conn.peer.ip(), conn.tls);
    ctx.client_cert = conn.client_cert;
    if let Some(tracer) = &shared.tracer {
        ctx.trace = tracer.begin(&parts.headers);
    }
    // Boxed: `run`'s state (every stage's, several KiB) is then written once, into the box,
    // instead of being moved into the timeout and again into this future.
    let run = Box::pin(run(&shared, &rt, &mut ctx, parts, body));
    let outcome = tokio::time::timeout(rt.request_timeout, run).await;
    let mut resp = match outcome {
        Ok(Ok(resp)) => resp,
        Ok(Err(rejection)) => respond::rejection(&rt, &mut ctx, rejection),
        Err(_) => respond::rejection(
            &rt,
            &mut ctx,
            Rejection::new(ResponseType::IntegrationTimeout, "request_timeout elapsed"),
        ),
    };
    if ctx.exec.is_some() {
        // Boxed: this rare path's state would otherwise widen every request's future.
        Box::pin(execution_log::finish(&shared, &rt, &mut ctx, &mut resp)).await;
    }
    if let (true, Some(origin), Some(api)) = (rt.has_cors, &ctx.origin, ctx.api) {
        if let Some(c) = &rt.apis[api].cors {
            c.decorate(origin, resp.headers_mut());
        }
    }
    if resp.status() == http::StatusCode::PAYLOAD_TOO_LARGE && ctx.version <= http::Version::HTTP_11
    {
        // The rest of the body is not read: the connection closes after this response, and
        // the client is told so, lest it send its next request on it (as nginx does).
        resp.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    inspect(&rt, &ctx, &resp);
    end_trace(&shared, &rt, &mut ctx, resp.status().as_u16());
    observe::finish(&shared, &rt, ctx, &mut resp);
    resp
}

async fn run(
    shared: &Arc<Shared>,
    rt: &Runtime,
    ctx: &mut RequestCtx,
    mut parts: http::request::Parts,
    body: RequestBody,
) -> Result<Response<Body>, Rejection> {
    ctx.host = head::authority(&parts)?;
    head::transfer_codings(&parts)?;
    if rt.has_websocket_apis {
        if let Some((api, stage)) = websocket_mount(rt, ctx) {
            return Box::pin(websocket::handshake(shared, rt, ctx, api, stage, parts)).await;
        }
    }
    if rt.has_cors {
        if let Some(resp) = route::preflight(
            rt,
            ctx.host_name(),
            &parts.method,
            &parts.headers,
            ctx.uri.path(),
        ) {
            return Ok(resp);
        }
    }
    let span = ctx.trace.start("route", Kind::Internal);
    let matched = route::route(rt, ctx)?;
    ctx.trace.end(span);
    let api = &rt.apis[matched.api];
    let stage = &api.stages[matched.stage];
    let resource = &api.resources[matched.resource];
    let entry = &resource.methods[matched.method];
    execution_log::start(ctx, stage, &parts.headers);
    if let Some(policy) = &api.policy {
        policy.check(ctx.source_ip, || {
            format!(
                "{}/{}/{}{}",
                api.name, stage.name, ctx.method, resource.path
            )
        })?;
    }
    check_declared_length(rt, &parts)?;
    let (mut body, waiting) = Body::limited(body, rt.max_body_bytes, rt.client_body_timeout);
    ctx.client_body_waiting = waiting;
    if ctx.exec.as_ref().is_some_and(|t| t.settings.data_trace) {
        body = execution_log::peek_request(ctx, body).await?;
    }
    if entry.iam {
        // The signature covers the payload's SHA-256: the body is read first.
        let bytes = read_body(body).await?;
        let signed = crate::auth::sigv4::Signed {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query(),
            headers: &parts.headers,
            authority: ctx.host.as_ref().and_then(|h| h.to_str().ok()),
            body: &bytes,
        };
        let arn = authorize::method_arn(rt, ctx);
        let id = crate::auth::sigv4::verify(
            |id| shared.iam.lookup(id),
            &signed,
            std::time::SystemTime::now(),
            &arn,
        )?;
        ctx.iam = Some(std::sync::Arc::new(id));
        body = Body::full(bytes);
    }
    if let Some(binding) = &entry.authorizer {
        let call = authorize::Call {
            parts: &mut parts,
            scopes: &entry.authorization_scopes,
            out: &**shared,
        };
        let span = ctx.trace.start("authorize", Kind::Internal);
        Box::pin(authorize::authorize(rt, ctx, call, binding)).await?;
        ctx.trace.end(span);
    }
    throttle::check([&rt.account_throttle], "account")?;
    // A canary's requests take its stage's throttles.
    let limits = api.limits_of(matched.stage);
    throttle::check(api.stages[limits].throttle.as_ref(), "stage")?;
    let admitted = if entry.api_key_required {
        Some(api_key::identify(
            &shared.keys,
            rt,
            api,
            stage,
            ctx,
            &parts.headers,
        )?)
    } else {
        None
    };
    throttle::check(entry.throttle.as_ref().map(|t| &t[limits]), "method")?;
    if let Some(admitted) = &admitted {
        api_key::limit(&shared.keys, admitted).await?;
        shared
            .keys
            .count_usage(&admitted.plan.name, &admitted.key_id);
        ctx.api_key = Some((admitted.key.clone(), admitted.key_id.as_str().into()));
    }

    if let Some(v) = &entry.validation {
        v.check_params(ctx, &parts.headers)?;
        if let Some(model) = v.model_for(&parts.headers) {
            let bytes = read_body(body).await?;
            validate::check_body(model, &bytes)?;
            body = Body::full(bytes);
        }
    }
    let cache = match (&stage.cache, &entry.cache) {
        // An upgrade is never cached (nor coalesced with another).
        (Some(sc), Some(mc))
            if (mc.all_methods || ctx.method == http::Method::GET)
                && !crate::integration::http_proxy::is_upgrade(&parts.headers) =>
        {
            Some((sc, mc))
        }
        _ => None,
    };
    let Some((stage_cache, method_cache)) = cache else {
        return fetch(shared, rt, ctx, entry, matched.stage, parts, body).await;
    };
    let refresh = stage_cache.refresh_requested(ctx, &parts.headers, admitted.is_some())?;
    let key = cache::cache_key(
        ctx,
        &resource.path,
        &resource.param_names,
        &method_cache.key_params,
        &parts.headers,
    );
    let ttl = method_cache.ttl.unwrap_or(stage_cache.default_ttl);
    let metrics = &entry.metrics[matched.stage];
    let span = ctx.trace.start("cache", Kind::Internal);
    let (result, outcome) = Box::pin(stage_cache.serve(key, ttl, refresh, || {
        fetch(shared, rt, ctx, entry, matched.stage, parts, body)
    }))
    .await;
    let hit = matches!(outcome, cache::Outcome::Hit);
    ctx.trace
        .attr(span, "gatehouse.cache.hit", || Value::Bool(hit));
    ctx.trace.end(span);
    let counter = match outcome {
        cache::Outcome::Hit => &metrics.cache_hits,
        cache::Outcome::Miss => &metrics.cache_misses,
    };
    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    result
}

/// The WebSocket API stage a request reaches, if any (its path must be the stage's root).
fn websocket_mount(rt: &Runtime, ctx: &mut RequestCtx) -> Option<(usize, usize)> {
    let path = ctx.uri.path();
    let (api, stage, rest) = rt.mount_for(ctx.host_name(), path).ok()?;
    rt.apis[api].websocket.as_ref()?;
    if !matches!(&path[rest..], "" | "/") {
        return None;
    }
    ctx.api = Some(api);
    ctx.stage = Some(stage);
    Some((api, stage))
}

/// Everything after the cache: request mapping, the integration, response mapping.
async fn fetch(
    shared: &Shared,
    rt: &Runtime,
    ctx: &mut RequestCtx,
    entry: &MethodEntry,
    stage: usize,
    mut parts: http::request::Parts,
    mut body: Body,
) -> Result<Response<Body>, Rejection> {
    // The plugins' view of the request as the client sent it, made once: the request mapper
    // gets it with the body, the response mapper of 0.1.0 without.
    let mut original =
        (entry.request_mapper.is_some() || entry.response_mapper.is_some()).then(|| {
            let mappers = [&entry.request_mapper, &entry.response_mapper];
            map::Original::new(rt, ctx, &parts.headers, mappers.map(|m| m.as_deref()))
        });
    if let (Some(mapper), Some(original)) = (&entry.request_mapper, original.as_mut()) {
        let bytes = read_body(body).await?;
        let span = plugin_span(ctx, "map-request", &mapper.name);
        let mapped = map::map_request(ctx, mapper, &mut parts, original, bytes);
        body = Body::full(Box::pin(mapped).await?);
        ctx.trace.end(span);
    }
    let integration = &entry.integration;
    let span = ctx.trace.start("integration", integration.span_kind());
    ctx.trace.attr(span, "gatehouse.integration", || {
        Value::Str(integration.type_name().into())
    });
    if let crate::integration::Integration::Wasm(plugin) = integration {
        ctx.trace.attr(span, "gatehouse.plugin", || {
            Value::Str(plugin.name.to_string().into())
        });
    }
    let resp = integration
        .invoke(rt, shared, ctx, stage, parts, body)
        .await?;
    ctx.trace.end(span);
    match (&entry.response_mapper, &original) {
        (Some(mapper), Some(original)) => {
            let span = plugin_span(ctx, "map-response", &mapper.name);
            let resp = Box::pin(map::map_response(ctx, mapper, original, resp)).await?;
            ctx.trace.end(span);
            Ok(resp)
        }
        _ => Ok(resp),
    }
}

/// Starts the span of a call to plugin `name`.
fn plugin_span(ctx: &mut RequestCtx, what: &'static str, name: &str) -> Option<trace::SpanRef> {
    let span = ctx.trace.start(what, Kind::Internal);
    ctx.trace.attr(span, "gatehouse.plugin", || {
        Value::Str(name.to_owned().into())
    });
    span
}

/// Ends the request's trace, when it is traced, with the server span's name (`GET
/// /pets/{id}`, the method alone when no resource matched) and attributes.
fn end_trace(shared: &Shared, rt: &Runtime, ctx: &mut RequestCtx, status: u16) {
    let Some(tracer) = shared.tracer.as_ref().filter(|_| ctx.trace.is_on()) else {
        return;
    };
    let trace = std::mem::take(&mut ctx.trace);
    let names = crate::ctx::RouteInfo::names(rt, ctx);
    let server = trace::ServerSpan {
        method: ctx.method.as_str(),
        path: ctx.path(),
        route: names.resource,
        api: names.api,
        stage: names.stage,
        status,
        request_id: ctx.request_id,
        client: ctx.source_ip,
    };
    tracer.finish(trace, server);
}

/// Rejects a body whose declared length is over the limit before reading any of it.
fn check_declared_length(rt: &Runtime, parts: &http::request::Parts) -> Result<(), Rejection> {
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > rt.max_body_bytes => Err(Rejection::new(
            ResponseType::RequestTooLarge,
            format!(
                "declared body of {n} bytes is over the limit of {}",
                rt.max_body_bytes
            ),
        )),
        _ => Ok(()),
    }
}
