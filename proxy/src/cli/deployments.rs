//! `gatehouse deployments`: the configs a running gateway has served, and rollback, through
//! the admin API of the config's `admin` section (its `token` when set).

use super::admin_client::AdminClient;
use crate::DeploymentsAction;
use std::path::PathBuf;

/// Runs a `gatehouse deployments` action against the gateway serving `config`.
pub fn deployments(config: Option<PathBuf>, action: DeploymentsAction) -> Result<String, String> {
    let config = config.ok_or("expected --config FILE")?;
    let admin = AdminClient::of_config(&config, "deployments")?;
    let call = |method: &str, path: &str| admin.call(method, path);
    match action {
        DeploymentsAction::List { json } => {
            let body = call("GET", "/deployments")?;
            if json {
                return Ok(body.to_string());
            }
            let current = body["current"].as_str().unwrap_or_default();
            let mut out = String::from(
                "   ID          CREATED (UTC)             SOURCE    DIGEST         DESCRIPTION",
            );
            for d in body["items"].as_array().into_iter().flatten() {
                let id = d["id"].as_str().unwrap_or_default();
                let digest = d["digest"].as_str().unwrap_or_default();
                out.push_str(&format!(
                    "\n{} {:<11} {:<25} {:<9} {:<14} {}",
                    if id == current { "*" } else { " " },
                    id,
                    created(d),
                    d["source"].as_str().unwrap_or_default(),
                    digest.get(..14).unwrap_or(digest),
                    d["description"].as_str().unwrap_or_default(),
                ));
            }
            Ok(out)
        }
        DeploymentsAction::Show { id } => {
            let d = call("GET", &format!("/deployments/{id}"))?;
            Ok(format!(
                "id: {}\ncreated: {}\nsource: {}\ndigest: {}\ndescription: {}\nfile: {}\n---\n{}",
                d["id"].as_str().unwrap_or_default(),
                created(&d),
                d["source"].as_str().unwrap_or_default(),
                d["digest"].as_str().unwrap_or_default(),
                d["description"].as_str().unwrap_or_default(),
                d["file"].as_str().unwrap_or_default(),
                d["config"].as_str().unwrap_or_default().trim_end(),
            ))
        }
        DeploymentsAction::Rollback { id } => {
            let d = call("POST", &format!("/deployments/{id}/rollback"))?;
            Ok(format!(
                "rolled back: deployment {} serves the config of {id}",
                d["id"].as_str().unwrap_or_default()
            ))
        }
    }
}

fn created(d: &serde_json::Value) -> String {
    d["created_at_ms"]
        .as_u64()
        .map(gatehouse::context_template::iso8601_millis)
        .unwrap_or_default()
}
