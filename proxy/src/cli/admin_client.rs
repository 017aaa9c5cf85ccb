//! A client of a running gateway's admin API, for the subcommands that work through it: the
//! address and token of the config's `admin` section.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

/// The admin API of the gateway serving one config.
#[derive(Debug)]
pub struct AdminClient {
    address: SocketAddr,
    token: Option<String>,
}

impl AdminClient {
    /// The admin API `config` names; `what` says what needs it, for the error without one.
    pub fn of_config(config: &Path, what: &str) -> Result<Self, String> {
        let admin = gatehouse::config::admin_settings(config)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!(
                    "{}: admin: not set; {what} go through the admin API",
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
        Ok(AdminClient {
            address,
            token: admin.token,
        })
    }

    /// One request to the admin API, answered with its JSON body; an answer other than 200 is an
    /// error with the API's message.
    pub fn call(&self, method: &str, path: &str) -> Result<serde_json::Value, String> {
        let (address, token) = (self.address, self.token.as_deref());
        let unreachable = |e: std::io::Error| {
            format!(
                "cannot reach the gateway's admin API at {address} (is the gateway running?): {e}"
            )
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
        let value: serde_json::Value =
            serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
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
}
