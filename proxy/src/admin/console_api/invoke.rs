//! `POST /console/api/test-invoke`: sends a request through the gateway's own pipeline, as
//! API Gateway's Test tab does, and shows what happened.
//!
//! The body is `{"method", "path", "headers"?: {name: value}, "body"?: text, "host"?}`; `path`
//! is what a client would ask the data-plane listener for (`/prod/pets/7?x=1`). The request
//! goes over an in-memory HTTP/1.1 connection into [`pipeline::handle_inspected`], so every
//! stage runs as for a client (it is counted in the metrics and written to the access log)
//! and each stage's decision is read from the request's context before `observe`. The answer:
//! `{"request", "decisions": [{"stage", "decision"}], "integrationRequest", "response",
//! "requestId", "latencyMs"}`.

use super::super::{bad_request, json, json_body};
use crate::body::{Body, RequestBody};
use crate::ctx::RequestCtx;
use crate::error::ResponseType;
use crate::integration::Integration;
use crate::pipeline::{self, ConnInfo};
use crate::runtime::{MethodKey, Runtime};
use crate::shared::Shared;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The most of a response body the answer shows.
const MAX_SHOWN_BODY: usize = 64 * 1024;

pub(super) async fn test_invoke(shared: &Arc<Shared>, body: Incoming) -> Response<Body> {
    let doc = match json_body(body).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let req = match request(&doc) {
        Ok(r) => r,
        Err(msg) => return bad_request(&msg),
    };
    let shown_request = json!({
        "method": req.method().as_str(),
        "path": req.uri().to_string(),
        "headers": headers_json(req.headers()),
        "body": doc.get("body").and_then(Value::as_str).unwrap_or(""),
    });
    let timeout = shared.runtime.load().request_timeout + Duration::from_secs(5);
    let seen: Arc<Mutex<Option<Value>>> = Arc::default();
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let server = {
        let (shared, seen) = (shared.clone(), seen.clone());
        let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
            let (shared, seen) = (shared.clone(), seen.clone());
            async move {
                let conn = ConnInfo {
                    peer: SocketAddr::from(([127, 0, 0, 1], 0)),
                    tls: false,
                    client_cert: None,
                };
                let req = req.map(RequestBody::from);
                let resp = pipeline::handle_inspected(shared, req, conn, |rt, ctx, resp| {
                    let d = decisions(rt, ctx, resp.status());
                    *seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(d);
                })
                .await;
                Ok::<_, Infallible>(resp)
            }
        });
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(server_io), svc)
                .await;
        })
    };
    let started = Instant::now();
    let answer = tokio::time::timeout(timeout, send(client_io, req)).await;
    server.abort();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (status, headers, body) = match answer {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => return bad_gateway(&format!("the test request failed: {e}")),
        Err(_) => return bad_gateway("the test request took longer than request_timeout"),
    };
    let Some(mut report) = seen.lock().unwrap_or_else(|p| p.into_inner()).take() else {
        return bad_gateway("the pipeline did not report on the request");
    };
    let truncated = body.len() > MAX_SHOWN_BODY;
    let shown = &body[..body.len().min(MAX_SHOWN_BODY)];
    report["request"] = shown_request;
    report["latencyMs"] = json!((latency_ms * 10.0).round() / 10.0);
    report["response"] = json!({
        "status": status.as_u16(),
        "headers": headers_json(&headers),
        "body": String::from_utf8_lossy(shown),
        "bodyTruncated": truncated,
    });
    json(StatusCode::OK, report.to_string())
}

/// Sends `req` on a new HTTP/1.1 connection over `io` and reads the whole answer.
async fn send(
    io: tokio::io::DuplexStream,
    req: Request<Full<Bytes>>,
) -> Result<(StatusCode, http::HeaderMap, Bytes), String> {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| e.to_string())?;
    let conn = tokio::spawn(conn);
    let resp = sender.send_request(req).await.map_err(|e| e.to_string());
    let result = match resp {
        Ok(resp) => {
            let (parts, body) = resp.into_parts();
            // Read a little past what is shown, to tell that it was cut.
            match Limited::new(body, MAX_SHOWN_BODY + 1).collect().await {
                Ok(c) => Ok((parts.status, parts.headers, c.to_bytes())),
                Err(e) if e.to_string().contains("length limit") => Ok((
                    parts.status,
                    parts.headers,
                    Bytes::from(vec![b'.'; MAX_SHOWN_BODY + 1]),
                )),
                Err(e) => Err(format!("cannot read the response body: {e}")),
            }
        }
        Err(e) => Err(e),
    };
    conn.abort();
    result
}

/// The request the body asks for.
fn request(doc: &Value) -> Result<Request<Full<Bytes>>, String> {
    let method = doc.get("method").and_then(Value::as_str).unwrap_or("GET");
    let method = http::Method::from_bytes(method.as_bytes())
        .map_err(|_| format!("`{method}` is not an HTTP method"))?;
    let path = doc
        .get("path")
        .and_then(Value::as_str)
        .filter(|p| p.starts_with('/'))
        .ok_or("expected a string `path` starting with `/`")?;
    let host = doc
        .get("host")
        .and_then(Value::as_str)
        .filter(|h| !h.is_empty())
        .unwrap_or("localhost");
    let body = match doc.get("body") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err("expected `body` to be a string".into()),
    };
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, host)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("cannot make the request: {e}"))?;
    if let Some(h) = doc.get("headers") {
        let Some(h) = h.as_object() else {
            return Err("expected `headers` to be an object of strings".into());
        };
        for (name, value) in h {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("`{name}` is not a header name"))?;
            let value = value
                .as_str()
                .and_then(|v| HeaderValue::from_str(v).ok())
                .ok_or_else(|| format!("the value of `{name}` is not a header value"))?;
            req.headers_mut().append(name, value);
        }
    }
    Ok(req)
}

fn headers_json(h: &http::HeaderMap) -> Value {
    h.iter()
        .map(|(k, v)| json!([k.as_str(), String::from_utf8_lossy(v.as_bytes())]))
        .collect()
}

fn bad_gateway(msg: &str) -> Response<Body> {
    json(
        StatusCode::BAD_GATEWAY,
        json!({ "message": msg }).to_string(),
    )
}

/// Each stage's decision, from the request's context, in pipeline order; stages the method
/// does not have say so, stages after a refusal say they were not reached.
fn decisions(rt: &Runtime, ctx: &RequestCtx, status: StatusCode) -> Value {
    let mut out: Vec<Value> = Vec::new();
    let mut say = |stage: &str, decision: String| {
        out.push(json!({ "stage": stage, "decision": decision }));
    };
    let refused = ctx.error.as_ref().map(|e| e.kind);
    let refusal = ctx.error.as_ref().map(|e| {
        format!(
            "refused: {} ({}){}",
            e.kind.name(),
            e.status.unwrap_or(e.kind.default_status()).as_u16(),
            if e.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", e.reason)
            }
        )
    });
    let Some(m) = &ctx.matched else {
        say(
            "route",
            refusal.unwrap_or_else(|| "answered before routing".into()),
        );
        say("response", format!("status {}", status.as_u16()));
        return json!({ "requestId": ctx.request_id.to_string(), "decisions": out, "integrationRequest": null });
    };
    let api = &rt.apis[m.api];
    let stage = &api.stages[m.stage];
    let resource = &api.resources[m.resource];
    let entry = &resource.methods[m.method];
    say(
        "route",
        format!(
            "API {}, stage {}, {} {}",
            api.name,
            stage.name,
            MethodKey::NAMES[entry.key as usize],
            resource.path
        ),
    );
    let here = |kinds: &[ResponseType]| refused.is_some_and(|k| kinds.contains(&k));
    let reached_integration = ctx.integration_latency.is_some() || ctx.integration_status.is_some();
    let cache_hit =
        entry.cache.is_some() && stage.cache.is_some() && refused.is_none() && !reached_integration;
    let past = |done: bool| {
        if done || cache_hit || reached_integration {
            None
        } else {
            Some("not reached".to_owned())
        }
    };
    if api.policy.is_some() {
        let d = if here(&[ResponseType::AccessDenied]) && ctx.authorizer.is_none() {
            refusal.clone().unwrap_or_default()
        } else {
            "source IP allowed".into()
        };
        say("resource policy", d);
    }
    let auth = match (&entry.authorizer, entry.iam) {
        (Some(b), _) => match &ctx.authorizer {
            Some(a) => format!(
                "authorizer {} allowed principal `{}`",
                b.name, a.principal_id
            ),
            None => refusal
                .clone()
                .filter(|_| refused.is_some())
                .unwrap_or_else(|| "not reached".into()),
        },
        (None, true) => match &ctx.iam {
            Some(i) => format!("AWS_IAM: signed by {}", i.principal),
            None => past(false).unwrap_or_else(|| refusal.clone().unwrap_or_default()),
        },
        (None, false) => "none (open method)".into(),
    };
    say("authorize", auth);
    let key = if !entry.api_key_required {
        "not required".into()
    } else {
        match &ctx.api_key {
            Some((_, id)) => format!("key {id} admitted"),
            None if here(&[
                ResponseType::AccessDenied,
                ResponseType::InvalidApiKey,
                ResponseType::Throttled,
                ResponseType::QuotaExceeded,
            ]) =>
            {
                refusal.clone().unwrap_or_default()
            }
            None => "not reached".into(),
        }
    };
    say("API key", key);
    let throttle = if here(&[ResponseType::Throttled, ResponseType::QuotaExceeded]) {
        refusal.clone().unwrap_or_default()
    } else {
        past(false).unwrap_or_else(|| "admitted".into())
    };
    say("throttle", throttle);
    if entry.validation.is_some() {
        let v = if here(&[
            ResponseType::BadRequestParameters,
            ResponseType::BadRequestBody,
        ]) {
            refusal.clone().unwrap_or_default()
        } else {
            past(false).unwrap_or_else(|| "valid".into())
        };
        say("validate", v);
    }
    let cache = match (&entry.cache, &stage.cache) {
        (Some(_), Some(_)) if cache_hit => "hit: answered from the stage cache".into(),
        (Some(_), Some(_)) if reached_integration => "miss".into(),
        (Some(_), Some(_)) => "not reached".into(),
        _ => "not cached".into(),
    };
    say("cache", cache);
    let integration = if reached_integration {
        let mut d = match ctx.integration_status {
            Some(s) => format!("status {s}"),
            None => "no answer".into(),
        };
        if let Some(l) = ctx.integration_latency {
            d.push_str(&format!(" in {:.1} ms", l.as_secs_f64() * 1000.0));
        }
        if let Some(e) = &ctx.integration_error {
            d.push_str(&format!("; error: {e}"));
        }
        if here(&[
            ResponseType::IntegrationFailure,
            ResponseType::IntegrationTimeout,
        ]) {
            d = refusal.clone().unwrap_or(d);
        }
        d
    } else if cache_hit {
        "not called (cache hit)".into()
    } else if matches!(
        entry.integration,
        Integration::Mock(_) | Integration::MappedMock(_)
    ) && refused.is_none()
    {
        "mock answered".into()
    } else {
        "not reached".into()
    };
    say("integration", integration);
    say("response", format!("status {}", status.as_u16()));
    let target = integration_request(rt, ctx, m.api, m.resource, m.method, m.stage);
    json!({
        "requestId": ctx.request_id.to_string(),
        "decisions": out,
        "integrationRequest": target,
    })
}

/// What the integration was asked: its type, method and the URI rendered with this request's
/// path parameters and query (the target an HTTP integration sends to).
fn integration_request(
    rt: &Runtime,
    ctx: &RequestCtx,
    api: usize,
    resource: usize,
    method: usize,
    stage: usize,
) -> Value {
    let api = &rt.apis[api];
    let entry = &api.resources[resource].methods[method];
    let param = |i: usize| ctx.param_raw(i);
    let query = ctx.query();
    let client_method = ctx.method.as_str();
    match &entry.integration {
        Integration::HttpProxy(p) => json!({
            "type": "http_proxy",
            "method": p.method.as_ref().map_or(client_method, |m| m.as_str()),
            "uri": p.uris.get(stage).map(|u| u.render(param, query)),
        }),
        Integration::Http(h) => json!({
            "type": "http",
            "method": h.method.as_ref().map_or(client_method, |m| m.as_str()),
            "uri": h.uris.get(stage).map(|u| u.render(param, None)),
        }),
        Integration::Lambda(l) => json!({
            "type": "lambda",
            "method": "POST",
            "uri": l.invoke_uris.get(stage).map(ToString::to_string),
        }),
        Integration::Mock(_) | Integration::MappedMock(_) => json!({ "type": "mock" }),
        Integration::Wasm(p) => json!({ "type": "plugin", "plugin": &*p.name }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_what_the_body_asks_for() {
        let r = request(&json!({
            "method": "POST", "path": "/prod/pets?x=1",
            "headers": { "x-api-key": "k" }, "body": "hi",
        }))
        .unwrap();
        assert_eq!(r.method(), http::Method::POST);
        assert_eq!(r.uri(), "/prod/pets?x=1");
        assert_eq!(r.headers()["host"], "localhost");
        assert_eq!(r.headers()["x-api-key"], "k");
        let plain = request(&json!({ "path": "/", "host": "api.example.com" })).unwrap();
        assert_eq!(plain.method(), http::Method::GET);
        assert_eq!(plain.headers()["host"], "api.example.com");
        assert!(request(&json!({ "path": "prod/pets" })).is_err());
        assert!(request(&json!({ "path": "/", "headers": { "bad name": "v" } })).is_err());
        assert!(request(&json!({ "path": "/", "headers": ["x"] })).is_err());
        assert!(request(&json!({ "path": "/", "body": 3 })).is_err());
        assert!(request(&json!({ "path": "/", "method": "GE T" })).is_err());
    }
}
