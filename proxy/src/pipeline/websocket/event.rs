//! One event to a route's integration: the event as JSON (http) or as the plugin world's
//! record (wasm), and the answer.

use super::*;

pub(super) async fn invoke(
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
            match plugin.handle_event(&id, &event).await {
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
pub(super) fn event_json(api: &Api, stage: usize, ev: &Event<'_>) -> Value {
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
pub(super) fn event_wit(api: &Api, stage: usize, ev: &Event<'_>) -> wit::Event {
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
