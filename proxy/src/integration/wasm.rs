//! `wasm`: a plugin answers the request itself, like a Lambda proxy integration: a plugin of
//! the `integration` world (0.1.0) gets the buffered request as a WIT record, one of the
//! `request-handler` world (0.3.0) reads the buffered request through the `request` import,
//! and a `wasi:http/proxy` component gets it as a `wasi:http` incoming request whose body
//! streams in, and streams its response back.

use crate::body::{Body, FromBackend};
use crate::ctx::RequestCtx;
use crate::ctx::RouteInfo;
use crate::error::{Rejection, ResponseType};
use crate::plugin::{convert, Plugin, PluginFailure};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use std::sync::Arc;
use std::time::Instant;

/// Calls `plugin` with the buffered request.
pub async fn call(
    rt: &dyn RouteInfo,
    plugin: &Arc<Plugin>,
    ctx: &mut RequestCtx,
    headers: &http::HeaderMap,
    body: bytes::Bytes,
) -> Result<Response<Body>, Rejection> {
    let mut id = uuid::Uuid::encode_buffer();
    let id = ctx.request_id.hyphenated().encode_lower(&mut id);
    let started;
    let result = if plugin.reads_lent_request() {
        let arn = super::lambda::shared_method_arn(rt, ctx);
        let lent = convert::lent_headers(ctx, headers);
        let req = Arc::new(convert::lent_request(rt, ctx, lent, body, arn));
        started = Instant::now();
        plugin.handle_lent(id, req).await
    } else {
        let req = convert::request(rt, ctx, headers, body.into());
        started = Instant::now();
        plugin.handle(id, &req).await
    };
    ctx.integration_latency = Some(started.elapsed());
    let bad_gateway = |reason: String| {
        Rejection::new(ResponseType::IntegrationFailure, reason)
            .with_status(StatusCode::BAD_GATEWAY)
    };
    match result {
        Ok(Ok(resp)) => {
            ctx.integration_status = Some(resp.status);
            convert::http_response(resp).map_err(|why| {
                bad_gateway(format!(
                    "integration plugin `{}` returned a malformed response: {why}",
                    plugin.name
                ))
            })
        }
        Ok(Err(msg)) => Err(bad_gateway(format!(
            "integration plugin `{}` failed: {msg}",
            plugin.name
        ))),
        Err(PluginFailure::Timeout(d)) => Err(Rejection::new(
            ResponseType::IntegrationTimeout,
            format!(
                "integration plugin `{}` ran past its deadline of {d:?}",
                plugin.name
            ),
        )),
        Err(f) => Err(bad_gateway(format!(
            "integration plugin `{}` {f}",
            plugin.name
        ))),
    }
}

/// Headers a `wasi:http/proxy` integration reads what the gateway knows of the request from.
/// A client's own headers with these names are dropped, so a plugin can trust them.
pub mod context_headers {
    pub const PREFIX: &str = "x-gatehouse-";
    pub const REQUEST_ID: &str = "x-gatehouse-request-id";
    pub const STAGE: &str = "x-gatehouse-stage";
    pub const RESOURCE_PATH: &str = "x-gatehouse-resource-path";
    pub const SOURCE_IP: &str = "x-gatehouse-source-ip";
    /// `application/x-www-form-urlencoded` pairs.
    pub const PATH_PARAMETERS: &str = "x-gatehouse-path-parameters";
    /// `application/x-www-form-urlencoded` pairs.
    pub const STAGE_VARIABLES: &str = "x-gatehouse-stage-variables";
    pub const PRINCIPAL_ID: &str = "x-gatehouse-principal-id";
    /// `application/x-www-form-urlencoded` pairs: the authorizer's context (JWT claims as
    /// `claims.NAME`).
    pub const AUTHORIZER: &str = "x-gatehouse-authorizer";
    /// `application/x-www-form-urlencoded` pairs: the mutual TLS client certificate, named as
    /// in `$context.identity.clientCert.*` (`subjectDN`, `clientCertPem`, ...).
    pub const CLIENT_CERT: &str = crate::plugin::convert::CLIENT_CERT_HEADER;
}

/// Serves the request with a `wasi:http/proxy` plugin. The component sees the path below the
/// stage (`/pets/7` for `/prod/pets/7`, as a Lambda proxy event's `path`), the query, the
/// client's headers less hop-by-hop ones, the [`context_headers`], and the body as it
/// streams in.
pub async fn serve_http(
    rt: &dyn RouteInfo,
    plugin: &Arc<Plugin>,
    ctx: &mut RequestCtx,
    parts: http::request::Parts,
    body: Body,
) -> Result<Response<Body>, Rejection> {
    let path = match ctx
        .matched
        .as_ref()
        .and_then(|m| ctx.path().get(m.rest_start..))
    {
        Some(rest) if rest.starts_with('/') => rest,
        Some(_) | None => "/",
    };
    let target = match ctx.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let authority = ctx
        .host
        .as_ref()
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let uri = http::Uri::builder()
        .scheme(if ctx.tls { "https" } else { "http" })
        .authority(authority)
        .path_and_query(target)
        .build()
        .map_err(|e| {
            Rejection::new(
                ResponseType::BadRequestParameters,
                format!(
                    "the request target cannot be passed to plugin `{}`: {e}",
                    plugin.name
                ),
            )
        })?;
    let mut headers = parts.headers;
    super::http_proxy::strip_hop_by_hop(&mut headers);
    add_context_headers(rt, ctx, &mut headers);
    let mut req = http::Request::new(body);
    *req.method_mut() = parts.method;
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    let mut id = uuid::Uuid::encode_buffer();
    let id = ctx.request_id.hyphenated().encode_lower(&mut id);
    let started = Instant::now();
    let result = plugin.serve_http(id, ctx.tls, req).await;
    ctx.integration_latency = Some(started.elapsed());
    match result {
        Ok(resp) => {
            ctx.integration_status = Some(resp.status().as_u16());
            let timeout = plugin.settings.timeout;
            Ok(resp.map(|b| Body::Plugin(FromBackend::new(b, timeout))))
        }
        Err(PluginFailure::Timeout(d)) => Err(Rejection::new(
            ResponseType::IntegrationTimeout,
            format!(
                "integration plugin `{}` ran past its deadline of {d:?}",
                plugin.name
            ),
        )),
        Err(f) => Err(Rejection::new(
            ResponseType::IntegrationFailure,
            format!("integration plugin `{}` {f}", plugin.name),
        )
        .with_status(StatusCode::BAD_GATEWAY)),
    }
}

fn add_context_headers(rt: &dyn RouteInfo, ctx: &RequestCtx, headers: &mut HeaderMap) {
    use context_headers::*;
    use convert::form;
    let spoofed: Vec<HeaderName> = headers
        .keys()
        .filter(|n| n.as_str().starts_with(PREFIX))
        .cloned()
        .collect();
    for name in spoofed {
        headers.remove(name);
    }
    // Each value is made once and handed over: a `String` becomes the header's bytes as it is.
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_maybe_shared(bytes::Bytes::from(value)) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    let names = rt.names(ctx);
    let mut id = uuid::Uuid::encode_buffer();
    put(
        REQUEST_ID,
        ctx.request_id.hyphenated().encode_lower(&mut id).to_owned(),
    );
    put(STAGE, names.stage.unwrap_or("").to_owned());
    put(RESOURCE_PATH, names.resource.unwrap_or("").to_owned());
    put(SOURCE_IP, ctx.source_ip_text());
    let params = rt.path_parameters(ctx);
    put(
        PATH_PARAMETERS,
        form(params.iter().map(|(k, v)| (*k, v.as_str()))),
    );
    put(
        STAGE_VARIABLES,
        form(rt.stage_variables(ctx).iter().map(|(k, v)| (&**k, &**v))),
    );
    if let Some(auth) = ctx.authorizer.as_deref() {
        put(PRINCIPAL_ID, auth.principal_id.clone());
        let pairs = convert::authorizer_pairs(Some(auth));
        put(
            AUTHORIZER,
            form(pairs.iter().map(|p| (p.name.as_str(), p.value.as_str()))),
        );
    }
    if let Some(cert) = ctx.client_cert.as_deref() {
        put(CLIENT_CERT, convert::client_cert_form(cert));
    }
}
