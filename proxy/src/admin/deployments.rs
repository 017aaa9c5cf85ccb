//! `/deployments`: the configs the gateway has served (newest first), one with its config
//! text, and rollback to one of them.
//!
//! - `GET /deployments` → `{"current": ID, "items": [deployment, ...]}`
//! - `GET /deployments/{id}` → the deployment with its `config` text
//! - `POST /deployments/{id}/rollback` → the new deployment that serves `{id}`'s text

use super::{blocking, json, store_error};
use crate::config::deploy::RollbackError;
use crate::config::reload::Reloader;
use crate::shared::Shared;
use crate::state::deployments::Deployment;
use http::{Method, Response, StatusCode};
use std::sync::Arc;

/// Answers a `/deployments` route.
pub(super) async fn route(
    shared: &Arc<Shared>,
    reloader: &Reloader,
    method: &Method,
    path: &str,
) -> Response<crate::body::Body> {
    let rest = path
        .strip_prefix("/deployments")
        .unwrap_or_default()
        .trim_start_matches('/');
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    match (method, parts.as_slice()) {
        (&Method::GET, []) => match blocking(shared, |s| s.deployments.list()).await {
            Ok(mut list) => {
                list.reverse();
                let current = reloader.current().map(|d| d.id);
                json(
                    StatusCode::OK,
                    serde_json::json!({ "current": current, "items": list }).to_string(),
                )
            }
            Err(e) => store_error(&e),
        },
        (&Method::GET, [id]) => {
            let id = (*id).to_owned();
            let found = blocking(shared, move |s| {
                let d = s.deployments.get(&id)?;
                let text = s.deployments.text(&id)?;
                Ok::<_, crate::state::StoreError>(d.zip(text))
            })
            .await;
            match found {
                Ok(Some((d, text))) => {
                    let mut v = serde_json::to_value(&d).unwrap_or_default();
                    v["config"] = serde_json::Value::String(text);
                    json(StatusCode::OK, v.to_string())
                }
                Ok(None) => not_found(),
                Err(e) => store_error(&e),
            }
        }
        (&Method::POST, [id, "rollback"]) => match reloader.rollback(id).await {
            Ok(d) => json(StatusCode::OK, deployment_json(&d)),
            Err(RollbackError::NotFound) => not_found(),
            Err(RollbackError::Invalid(errors)) => json(
                StatusCode::BAD_REQUEST,
                serde_json::json!({
                    "message": "the deployment's config no longer loads; nothing changed",
                    "errors": errors.to_string().lines().collect::<Vec<_>>(),
                })
                .to_string(),
            ),
            Err(RollbackError::Store(e)) => json(
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({ "message": e }).to_string(),
            ),
        },
        _ => json(
            StatusCode::NOT_FOUND,
            r#"{"message":"expected GET /deployments, GET /deployments/{id} or POST /deployments/{id}/rollback"}"#.to_owned(),
        ),
    }
}

fn deployment_json(d: &Deployment) -> String {
    serde_json::to_string(d).unwrap_or_default()
}

fn not_found() -> Response<crate::body::Body> {
    json(
        StatusCode::NOT_FOUND,
        r#"{"message":"no deployment with that id in the history"}"#.to_owned(),
    )
}
