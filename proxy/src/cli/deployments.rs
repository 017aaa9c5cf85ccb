//! `gatehouse deployments`: the configs a running gateway has served, and rollback, through
//! the admin API of the config's `admin` section (its `token` when set).

use crate::DeploymentsAction;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

/// Runs a `gatehouse deployments` action against the gateway serving `config`.
pub fn deployments(config: Option<PathBuf>, action: DeploymentsAction) -> Result<String, String> {
    let config = config.ok_or("expected --config FILE")?;
    let admin = gatehouse::config::admin_settings(&config)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!(
                "{}: admin: not set; deployments are read and rolled back through the admin API",
                config.display()
            )
        })?;
    let mut address = admin.address;
    if address.ip().is_unspecified() {
        address.set_ip(match address {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let call = |method: &str, path: &str| call(address, admin.token.as_deref(), method, path);
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

/// One request to the admin API, answered with its JSON body; an answer other than 200 is an
/// error with the API's message.
fn call(
    address: SocketAddr,
    token: Option<&str>,
    method: &str,
    path: &str,
) -> Result<serde_json::Value, String> {
    let unreachable = |e: std::io::Error| {
        format!("cannot reach the gateway's admin API at {address} (is the gateway running?): {e}")
    };
    let mut stream =
        TcpStream::connect_timeout(&address, Duration::from_secs(5)).map_err(unreachable)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(unreachable)?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .map_err(unreachable)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map_err(unreachable)?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .ok_or("the admin API's answer has no end of head")?;
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("the admin API's answer has no status")?;
    let value: serde_json::Value = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
    if status != 200 {
        let message = value["message"].as_str().unwrap_or(body.trim());
        let errors = value["errors"]
            .as_array()
            .map(|e| {
                e.iter()
                    .filter_map(|l| l.as_str())
                    .map(|l| format!("\n  {l}"))
                    .collect::<String>()
            })
            .unwrap_or_default();
        return Err(format!("{status}: {message}{errors}"));
    }
    Ok(value)
}
