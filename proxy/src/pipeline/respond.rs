//! The only place a [`Rejection`] becomes an HTTP response: API Gateway's status, the
//! `x-amzn-ErrorType` header and `{"message": ...}`, or the API's override of them.

use crate::body::Body;
use crate::ctx::RequestCtx;
use crate::ctx::RouteInfo;
use crate::error::Rejection;
use crate::runtime::Runtime;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::Response;

/// Builds the gateway response for `rejection` and records it in `ctx`.
pub fn rejection(rt: &Runtime, ctx: &mut RequestCtx, rejection: Rejection) -> Response<Body> {
    let kind = rejection.kind;
    let retry_after = rejection.retry_after;
    let error_type = rejection.error_type.unwrap_or(kind.error_type());
    let challenge = rejection
        .challenge
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok());
    let responses = rt.responses_for(ctx);
    let over = responses.get(kind);
    let status = responses.status(&rejection);
    if status.is_server_error() {
        tracing::warn!(request_id = %ctx.request_id, response = kind.name(), reason = %rejection.reason, "gateway error");
    } else {
        tracing::debug!(request_id = %ctx.request_id, response = kind.name(), reason = %rejection.reason, "request rejected");
    }
    ctx.error = Some(rejection);
    let body = match over.and_then(|o| o.body.as_ref()) {
        Some(t) => {
            let mut s = String::with_capacity(128);
            t.render(ctx, rt.names(ctx), &mut s);
            s
        }
        None => {
            let message = ctx
                .error
                .as_ref()
                .map_or(kind.default_message(), |e| e.message());
            let mut s = String::with_capacity(48);
            s.push_str("{\"message\":");
            // Default messages need no escaping; specific ones (parameter names) may.
            match serde_json::to_string(message) {
                Ok(quoted) => s.push_str(&quoted),
                Err(_) => s.push_str("\"\""),
            }
            s.push('}');
            s
        }
    };
    let mut resp = Response::new(Body::full(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert("x-amzn-errortype", HeaderValue::from_static(error_type));
    if let Some(secs) = retry_after {
        h.insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if let Some(c) = challenge {
        h.insert(http::header::WWW_AUTHENTICATE, c);
    }
    if let Some(o) = over {
        let names = rt.names(ctx);
        for (name, template) in &o.headers {
            let value = match template.as_static() {
                Some(s) => HeaderValue::from_str(s),
                None => {
                    let mut s = String::new();
                    template.render(ctx, names, &mut s);
                    HeaderValue::from_str(&s)
                }
            };
            if let Ok(v) = value {
                h.insert(name.clone(), v);
            }
        }
    }
    resp
}
