//! One event to a route's integration: the event as JSON (http) or as the plugin world's
//! record (wasm), and the answer.

use super::*;
use crate::integration::lambda;

pub(super) async fn invoke(
    shared: &Shared,
    api: &Api,
    stage: usize,
    route: &Route,
    ev: &Event<'_>,
    trace: &mut RequestTrace,
) -> Result<Answer, Rejection> {
    use std::sync::atomic::Ordering::Relaxed;
    let started = std::time::Instant::now();
    let span = trace.start("integration", route.integration.span_kind());
    trace.attr(span, "gatehouse.integration", || {
        crate::trace::Value::Str(route.integration.type_name().into())
    });
    if let RouteIntegration::Wasm(plugin) = &route.integration {
        trace.attr(span, "gatehouse.plugin", || {
            crate::trace::Value::Str(plugin.name.to_string().into())
        });
    }
    let answer = call(shared, api, stage, route, ev, trace).await;
    if answer.is_ok() {
        // A failed call's span stays open: it ends with the event, as an error.
        trace.end(span);
    }
    if let Some(m) = route.metrics.get(stage) {
        match ev.kind {
            EventType::Connect => m.connect_count.fetch_add(1, Relaxed),
            EventType::Message => m.message_count.fetch_add(1, Relaxed),
            EventType::Disconnect => 0,
        };
        // API Gateway reports no IntegrationLatency for mock integrations.
        if !matches!(route.integration, RouteIntegration::Mock { .. }) {
            m.integration_latency.observe(started.elapsed());
        }
        match &answer {
            Ok(a) if !a.status.is_success() => {
                m.integration_errors.fetch_add(1, Relaxed);
            }
            Err(_) => {
                m.execution_errors.fetch_add(1, Relaxed);
            }
            Ok(_) => {}
        }
    }
    answer
}

/// Calls the route's integration with the event.
async fn call(
    shared: &Shared,
    api: &Api,
    stage: usize,
    route: &Route,
    ev: &Event<'_>,
    trace: &mut RequestTrace,
) -> Result<Answer, Rejection> {
    match &route.integration {
        RouteIntegration::Mock { status, body } => Ok(Answer {
            status: *status,
            body: (!body.is_empty()).then(|| body.clone()),
        }),
        RouteIntegration::Http { uris, timeout } => {
            let uri = uris[stage].render(|_| None, None);
            let case = match ev.request {
                Some(parts) => lambda::original_names(parts.version, parts).await,
                None => lambda::Case::default(),
            };
            let event = event_json(api, stage, ev, &case);
            let mut req = http::Request::new(Body::full(event.to_string()));
            *req.method_mut() = http::Method::POST;
            let target: http::Uri = uri.parse().map_err(|e| {
                Rejection::new(
                    ResponseType::ApiConfigurationError,
                    format!("backend URI `{uri}` is invalid: {e}"),
                )
            })?;
            req.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            trace.propagate(req.headers_mut(), || {
                target.authority().map_or("", |a| a.as_str())
            });
            *req.uri_mut() = target;
            let limit = api
                .websocket
                .as_ref()
                .map_or(128 * 1024, |w| w.limits.max_message_bytes);
            let (parts, body) = crate::integration::exchange(shared, req, limit, *timeout).await?;
            Ok(Answer {
                status: parts.status,
                body: (!body.is_empty()).then_some(body),
            })
        }
        RouteIntegration::Wasm(plugin) => {
            let event = event_wit(api, stage, ev);
            let id = ev.request_id.to_string();
            match plugin.handle_event(&id, &event).await {
                Ok(Ok(reply)) => Ok(Answer {
                    status: StatusCode::OK,
                    body: reply.map(Bytes::from),
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

/// The event in API Gateway's WebSocket Lambda event shape, with the keys of the recorded
/// events (aws-lambda-go `apigw-websocket-request-*.json`, aws-lambda-rust-runtime
/// `example-apigw-websocket-request-*.json`): `$connect` carries the upgrade request's headers
/// (named as the client wrote them, hop-by-hop ones left out) and no body; a message carries
/// `messageId` and the body; `$disconnect` carries the fixed headers API Gateway sends then
/// (`Host` and empty `x-api-key`, `X-Forwarded-For`, `x-restapi`) and no body.
pub(super) fn event_json(api: &Api, stage: usize, ev: &Event<'_>, case: &lambda::Case) -> Value {
    let conn = ev.conn;
    let epoch_ms = now_millis();
    let domain = conn.domain.as_deref().unwrap_or("");
    let mut rc = Map::new();
    rc.insert("routeKey".into(), ev.route_key.into());
    rc.insert("eventType".into(), ev.kind.name().into());
    rc.insert(
        "extendedRequestId".into(),
        lambda::extended_request_id(&ev.request_id).into(),
    );
    rc.insert("requestTime".into(), lambda::clf(epoch_ms).into());
    rc.insert("messageDirection".into(), "IN".into());
    rc.insert("stage".into(), (*api.stages[stage].name).into());
    rc.insert("connectedAt".into(), conn.connected_at.into());
    rc.insert("requestTimeEpoch".into(), epoch_ms.into());
    let mut identity = Map::new();
    identity.insert("sourceIp".into(), conn.source_ip.to_string().into());
    if let Some(ua) = &conn.user_agent {
        identity.insert("userAgent".into(), ua.as_str().into());
    }
    rc.insert("identity".into(), Value::Object(identity));
    rc.insert("requestId".into(), ev.request_id.to_string().into());
    rc.insert("domainName".into(), domain.into());
    rc.insert("connectionId".into(), conn.id.as_str().into());
    rc.insert("apiId".into(), (*api.name).into());
    if let Some(id) = ev.message_id {
        rc.insert("messageId".into(), id.into());
    }
    if let Some((code, reason)) = ev.close {
        rc.insert("disconnectStatusCode".into(), code.into());
        rc.insert("disconnectReason".into(), reason.into());
    }
    if let Some(auth) = &conn.auth {
        rc.insert("authorizer".into(), Value::Object(auth.json()));
    }
    let mut root = Map::new();
    match (ev.kind, ev.request) {
        (EventType::Connect, Some(parts)) => {
            let mut headers = parts.headers.clone();
            crate::integration::http_proxy::strip_hop_by_hop(&mut headers);
            let (single, multi) = lambda::v1_headers(&headers, case);
            root.insert("headers".into(), single);
            root.insert("multiValueHeaders".into(), multi);
            if parts.uri.query().is_some_and(|q| !q.is_empty()) {
                let (single, multi) = lambda::v1_query(parts.uri.query());
                root.insert("queryStringParameters".into(), single);
                root.insert("multiValueQueryStringParameters".into(), multi);
            }
        }
        (EventType::Disconnect, _) => {
            let mut single = Map::new();
            let mut multi = Map::new();
            for (k, v) in [
                ("Host", domain),
                ("x-api-key", ""),
                ("X-Forwarded-For", ""),
                ("x-restapi", ""),
            ] {
                single.insert(k.into(), v.into());
                multi.insert(k.into(), json!([v]));
            }
            root.insert("headers".into(), Value::Object(single));
            root.insert("multiValueHeaders".into(), Value::Object(multi));
        }
        _ => {}
    }
    root.insert("requestContext".into(), Value::Object(rc));
    let vars: Map<String, Value> = api.stages[stage]
        .variables
        .iter()
        .map(|(k, v)| (k.to_string(), (**v).into()))
        .collect();
    if !vars.is_empty() {
        root.insert("stageVariables".into(), Value::Object(vars));
    }
    if ev.kind == EventType::Message {
        let text = ev
            .is_text
            .then(|| std::str::from_utf8(&ev.body).ok())
            .flatten();
        let (body, b64) = match text {
            Some(t) => (t.to_owned(), false),
            None => {
                use base64::Engine as _;
                let b = base64::engine::general_purpose::STANDARD.encode(&ev.body);
                (b, true)
            }
        };
        root.insert("body".into(), body.into());
        root.insert("isBase64Encoded".into(), b64.into());
    } else {
        root.insert("isBase64Encoded".into(), false.into());
    }
    Value::Object(root)
}

/// A message id shaped like API Gateway's (`R1knPc2ntjMCFIA=`).
pub(super) fn message_id() -> String {
    lambda::extended_request_id(&uuid::Uuid::new_v4())
}

/// The event as the `websocket-handler` world sees it.
pub(super) fn event_wit(api: &Api, stage: usize, ev: &Event<'_>) -> wit::Event {
    let conn = ev.conn;
    let auth = conn.auth.as_deref();
    let (headers, query): (Vec<MultiValue>, Vec<MultiValue>) = match ev.request {
        Some(p) => (
            convert::multi_headers(&p.headers),
            convert::query(p.uri.query()),
        ),
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
