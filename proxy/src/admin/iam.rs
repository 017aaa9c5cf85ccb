//! `/iam/credentials`: the IAM credentials `AWS_IAM` methods check signatures with.
//!
//! - `GET /iam/credentials`: every credential, without its secret and session token.
//! - `POST /iam/credentials` with `{"name", "principal", "allow"?, "access_key_id"?,
//!   "secret_access_key"?, "session_token"?, "enabled"?}`: 201 with the credential and its
//!   secret, shown this once; a missing id or secret is generated.
//! - `PATCH /iam/credentials/{access_key_id}` with `{"enabled": bool}`.
//! - `DELETE /iam/credentials/{access_key_id}`: 204, or 404.

use super::{bad_request, blocking, json, json_body, store_error};
use crate::body::Body;
use crate::shared::Shared;
use gatehouse_state::iam::{redacted, NewCredential};
use http::{Method, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::Value;
use std::sync::Arc;

const PREFIX: &str = "/iam/credentials";

/// Answers the request when its path is under `/iam/credentials`.
pub(super) async fn route(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    body: Incoming,
) -> Option<Response<Body>> {
    let rest = path.strip_prefix(PREFIX)?;
    let id = match rest {
        "" => None,
        r => Some(r.strip_prefix('/')?.to_owned()),
    };
    Some(match (method, id) {
        (&Method::GET, None) => match blocking(shared, |s| s.iam.list()).await {
            Ok(list) => {
                let items: Vec<Value> = list.iter().map(redacted).collect();
                json(
                    StatusCode::OK,
                    serde_json::json!({ "items": items }).to_string(),
                )
            }
            Err(e) => store_error(&e),
        },
        (&Method::POST, None) => create(shared, body).await,
        (&Method::PATCH, Some(id)) => {
            let doc = match json_body(body).await {
                Ok(d) => d,
                Err(r) => return Some(r),
            };
            let Some(enabled) = doc.get("enabled").and_then(Value::as_bool) else {
                return Some(bad_request("expected a boolean `enabled`"));
            };
            match blocking(shared, move |s| s.iam.set_enabled(&id, enabled)).await {
                Ok(Some(c)) => json(StatusCode::OK, redacted(&c).to_string()),
                Ok(None) => not_found(),
                Err(e) => store_error(&e),
            }
        }
        (&Method::DELETE, Some(id)) => match blocking(shared, move |s| s.iam.delete(&id)).await {
            Ok(true) => {
                let mut r = Response::new(Body::Empty);
                *r.status_mut() = StatusCode::NO_CONTENT;
                r
            }
            Ok(false) => not_found(),
            Err(e) => store_error(&e),
        },
        _ => json(
            StatusCode::METHOD_NOT_ALLOWED,
            r#"{"message":"method not allowed"}"#.to_owned(),
        ),
    })
}

async fn create(shared: &Arc<Shared>, body: Incoming) -> Response<Body> {
    let doc = match json_body(body).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let new = match new_credential(&doc) {
        Ok(n) => n,
        Err(why) => return bad_request(&why),
    };
    match blocking(shared, move |s| s.iam.create(new)).await {
        Ok(c) => {
            tracing::info!(access_key_id = %c.access_key_id, name = %c.name, "IAM credential created");
            let mut doc = redacted(&c);
            doc["secret_access_key"] = Value::String(c.secret_access_key.clone());
            if let Some(t) = &c.session_token {
                doc["session_token"] = Value::String(t.clone());
            }
            json(StatusCode::CREATED, doc.to_string())
        }
        Err(msg) => bad_request(&msg),
    }
}

/// The credential a `POST` body describes, or what is wrong with it.
fn new_credential(doc: &Value) -> Result<NewCredential, String> {
    let text = |field: &str| match doc.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("expected `{field}` to be a string")),
    };
    let allow = match doc.get("allow") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|_| "expected `allow` to be a list of method ARN patterns".to_owned())?,
    };
    let enabled = match doc.get("enabled") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("expected `enabled` to be a boolean".into()),
    };
    Ok(NewCredential {
        name: text("name")?.ok_or("expected a string `name`")?,
        access_key_id: text("access_key_id")?,
        secret_access_key: text("secret_access_key")?,
        session_token: text("session_token")?,
        principal: text("principal")?.ok_or("expected a string `principal` (an IAM ARN)")?,
        allow,
        enabled,
    })
}

fn not_found() -> Response<Body> {
    json(
        StatusCode::NOT_FOUND,
        r#"{"message":"no such IAM credential"}"#.to_owned(),
    )
}
