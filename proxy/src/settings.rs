//! Settings fixed for the life of the process: listeners (addresses, protocols, TLS), the
//! admin listener, header limits, shutdown, the access log destination and the state store;
//! [`compile`] reads them from the config.

use gatehouse_config::raw::*;
use gatehouse_config::{duration, Errors};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

mod redis;
mod tls;
use tls::{client_verifier, tls_config};

/// Client connections a listener holds open when `limits.max_connections` is not set.
pub const DEFAULT_MAX_CONNECTIONS: usize = 100_000;

/// Settings fixed for the life of the process (a reload that changes them logs a warning).
#[derive(Debug)]
pub struct ServerSettings {
    pub listeners: Vec<ListenerSettings>,
    pub admin: Option<AdminSettings>,
    pub max_header_bytes: usize,
    /// Header fields an HTTP/1.1 request head may have (more: 431).
    pub max_header_count: usize,
    pub header_read_timeout: Duration,
    /// How long a client connection may have no request in flight before it is closed.
    pub idle_timeout: Duration,
    /// How long a WebSocket pass-through tunnel may carry nothing before it is closed.
    pub tunnel_idle_timeout: Duration,
    /// Open client connections per listener (over all workers), and per source IP.
    pub max_connections: usize,
    pub max_connections_per_ip: Option<u32>,
    pub drain_timeout: Duration,
    pub access_log: LogDestination,
    /// Where stages' execution logs go (`execution_log.destination`, default stderr).
    pub execution_log: LogDestination,
    pub state: StateSettings,
    /// Backend connection pools.
    pub upstream: gatehouse_upstream::PoolConfig,
    /// OpenTelemetry traces; off when `None`.
    pub tracing: Option<crate::trace::TracingSettings>,
}

/// Where API keys and quota counts are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSettings {
    /// The folder of the embedded store; in memory only when `None` (and no `redis`).
    pub data_dir: Option<PathBuf>,
    /// `backend: redis`: the shared store, instead of the embedded one.
    pub redis: Option<gatehouse_state::redis_store::RedisConfig>,
    /// How often quota counts are written to the store.
    pub flush_interval: Duration,
}

#[derive(Debug)]
pub struct ListenerSettings {
    pub name: String,
    pub address: SocketAddr,
    pub http1: bool,
    pub http2: bool,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// With `http3`: the TLS config for QUIC (ALPN `h3`), served on the same port over UDP.
    pub quic: Option<Arc<rustls::ServerConfig>>,
}

#[derive(Debug, Clone)]
pub struct AdminSettings {
    pub address: SocketAddr,
    pub token: Option<String>,
    /// A token that may only read (`GET` and `HEAD` routes).
    pub read_only_token: Option<String>,
    /// The listeners' `limits.header_read_timeout`, which the admin listener applies too.
    pub header_read_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogDestination {
    Off,
    Stdout,
    Stderr,
    File(PathBuf),
}

pub fn compile(raw: &RawConfig, dir: &Path, e: &mut Errors) -> ServerSettings {
    if raw.listeners.is_empty() {
        e.push_at("listeners", "expected at least one listener");
    }
    let mut names = HashSet::new();
    let mut taken: Vec<Socket> = Vec::new();
    let listeners = e.at("listeners", |e| {
        raw.listeners
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                e.index(i, |e| {
                    let name = l.name.clone().unwrap_or_else(|| format!("listener{i}"));
                    if !names.insert(name.clone()) {
                        e.push_at("name", format!("listener name `{name}` is used twice"));
                    }
                    let l = listener(l, name, dir, e)?;
                    let socket = Socket {
                        owner: format!("listener `{}`", l.name),
                        address: l.address,
                        tcp: l.http1 || l.http2,
                        udp: l.quic.is_some(),
                    };
                    check_free(&socket, &taken, e);
                    taken.push(socket);
                    Some(l)
                })
            })
            .collect()
    });
    let limits = &raw.limits;
    let max_header_bytes = e.at("limits", |e| {
        let v = limits.max_header_bytes.unwrap_or(16_384);
        if !(8_192..=1_048_576).contains(&v) {
            e.push_at(
                "max_header_bytes",
                format!("expected 8192..=1048576 bytes, found {v}"),
            );
        }
        v as usize
    });
    let max_header_count = e.at("limits", |e| {
        let v = limits.max_header_count.unwrap_or(100);
        if !(16..=10_000).contains(&v) {
            e.push_at(
                "max_header_count",
                format!("expected 16..=10000 header fields, found {v}"),
            );
        }
        v as usize
    });
    let header_read_timeout = e.at("limits", |e| {
        duration(
            e,
            "header_read_timeout",
            limits.header_read_timeout.as_deref(),
            10_000,
            100,
            3_600_000,
        )
    });
    let idle_timeout = e.at("limits", |e| {
        duration(
            e,
            "idle_timeout",
            limits.idle_timeout.as_deref(),
            75_000,
            100,
            86_400_000,
        )
    });
    let tunnel_idle_timeout = e.at("limits", |e| {
        duration(
            e,
            "tunnel_idle_timeout",
            limits.tunnel_idle_timeout.as_deref(),
            600_000,
            100,
            86_400_000,
        )
    });
    let mut cap = |field: &str, v: Option<u64>| {
        e.at("limits", |e| match v {
            Some(n) if (1..=10_000_000).contains(&n) => Some(n),
            Some(n) => {
                e.push_at(field, format!("expected 1..=10000000, found {n}"));
                None
            }
            None => None,
        })
    };
    let max_connections = cap("max_connections", limits.max_connections)
        .map_or(DEFAULT_MAX_CONNECTIONS, |n| n as usize);
    let max_connections_per_ip =
        cap("max_connections_per_ip", limits.max_connections_per_ip).map(|n| n as u32);
    let admin = raw.admin.as_ref().and_then(|a| {
        e.at("admin", |e| {
            let address = socket_addr(&a.address, e)?;
            let socket = Socket {
                owner: "the admin listener".into(),
                address,
                tcp: true,
                udp: false,
            };
            check_free(&socket, &taken, e);
            if a.token.as_deref() == Some("") {
                e.push_at("token", "expected a non-empty token, or no `token` field");
            }
            match a.read_only_token.as_deref() {
                Some("") => e.push_at(
                    "read_only_token",
                    "expected a non-empty token, or no `read_only_token` field",
                ),
                Some(_) if a.token.is_none() => e.push_at(
                    "read_only_token",
                    "needs `token`: without it every admin route is open",
                ),
                Some(r) if a.token.as_deref() == Some(r) => {
                    e.push_at("read_only_token", "expected a token other than `token`")
                }
                _ => {}
            }
            Some(AdminSettings {
                address,
                token: a.token.clone(),
                read_only_token: a.read_only_token.clone(),
                header_read_timeout,
            })
        })
    });
    let drain_timeout = e.at("shutdown", |e| {
        duration(
            e,
            "drain_timeout",
            raw.shutdown.drain_timeout.as_deref(),
            30_000,
            0,
            3_600_000,
        )
    });
    let access_log = match raw.access_log.destination.as_deref() {
        None => LogDestination::Stdout,
        Some(other) => e.at("access_log", |e| log_destination(other, dir, e)),
    };
    let execution_log = match raw.execution_log.destination.as_deref() {
        None | Some("stderr") => LogDestination::Stderr,
        Some(other) => e.at("execution_log", |e| log_destination(other, dir, e)),
    };
    let state = e.at("state", |e| state(&raw.state, dir, e));
    let upstream = e.at("upstream", |e| upstream(&raw.upstream, e));
    let tracing = raw
        .tracing
        .as_ref()
        .and_then(|t| e.at("tracing", |e| crate::trace::compile(t, e)));
    ServerSettings {
        execution_log,
        listeners,
        admin,
        max_header_bytes,
        max_header_count,
        header_read_timeout,
        idle_timeout,
        tunnel_idle_timeout,
        max_connections,
        max_connections_per_ip,
        drain_timeout,
        access_log,
        state,
        upstream,
        tracing,
    }
}

/// `stdout`, `stderr`, `off` or a file path (relative to the config's folder).
fn log_destination(s: &str, dir: &Path, e: &mut Errors) -> LogDestination {
    match s {
        "stdout" => LogDestination::Stdout,
        "stderr" => LogDestination::Stderr,
        "off" => LogDestination::Off,
        "" => {
            e.push_at("destination", "expected stdout, stderr, off or a file path");
            LogDestination::Off
        }
        p => LogDestination::File(dir.join(p)),
    }
}

fn upstream(raw: &RawUpstream, e: &mut Errors) -> gatehouse_upstream::PoolConfig {
    let defaults = gatehouse_upstream::PoolConfig::default();
    let mut count = |field: &str, v: Option<u64>, min: u64| {
        v.and_then(|n| {
            if (min..=1_000_000).contains(&n) {
                Some(n as usize)
            } else {
                e.push_at(field, format!("expected {min}..=1000000, found {n}"));
                None
            }
        })
    };
    let max_connections = count(
        "max_connections_per_backend",
        raw.max_connections_per_backend,
        1,
    );
    let max_idle =
        count("max_idle_per_backend", raw.max_idle_per_backend, 0).unwrap_or(defaults.max_idle);
    gatehouse_upstream::PoolConfig {
        max_connections,
        max_idle,
        idle_timeout: duration(
            e,
            "idle_timeout",
            raw.idle_timeout.as_deref(),
            defaults.idle_timeout.as_millis() as u64,
            100,
            3_600_000,
        ),
        connect_timeout: duration(
            e,
            "connect_timeout",
            raw.connect_timeout.as_deref(),
            defaults.connect_timeout.as_millis() as u64,
            10,
            300_000,
        ),
    }
}

/// A socket the config asks for, to find two that cannot both be bound.
struct Socket {
    owner: String,
    address: SocketAddr,
    tcp: bool,
    udp: bool,
}

/// Records an error at `address` when `s` cannot be bound beside one already taken: the same
/// transport and port (other than 0, which picks a free one), and the same IP or, in the same
/// family, the unspecified address (which covers every IP of its family).
fn check_free(s: &Socket, taken: &[Socket], e: &mut Errors) {
    let (a, port) = (s.address, s.address.port());
    let clash = taken.iter().find(|t| {
        let b = t.address;
        port != 0
            && b.port() == port
            && ((s.tcp && t.tcp) || (s.udp && t.udp))
            && (a.ip() == b.ip()
                || (a.is_ipv4() == b.is_ipv4()
                    && (a.ip().is_unspecified() || b.ip().is_unspecified())))
    });
    if let Some(t) = clash {
        e.push_at(
            "address",
            format!(
                "`{a}` overlaps `{}` of {}: two sockets cannot be bound to it; give each its own port",
                t.address, t.owner
            ),
        );
    }
}

fn listener(l: &RawListener, name: String, dir: &Path, e: &mut Errors) -> Option<ListenerSettings> {
    let address = e.at("address", |e| socket_addr(&l.address, e));
    let protocols = l
        .protocols
        .as_deref()
        .unwrap_or(&[RawProtocol::Http1, RawProtocol::Http2]);
    if protocols.is_empty() {
        e.push_at("protocols", "expected at least one of http1, http2, http3");
    }
    let http1 = protocols.contains(&RawProtocol::Http1);
    let http2 = protocols.contains(&RawProtocol::Http2);
    let http3 = protocols.contains(&RawProtocol::Http3);
    if http3 && l.tls.is_none() {
        e.push_at(
            "protocols",
            "http3 needs `tls` on the listener (QUIC is always encrypted)",
        );
    }
    let mut quic = None;
    let tls = l.tls.as_ref().and_then(|t| {
        e.at("tls", |e| {
            let mut alpn = Vec::new();
            if http2 {
                alpn.push(b"h2".to_vec());
            }
            if http1 {
                alpn.push(b"http/1.1".to_vec());
            }
            let (cert, key) = (dir.join(&t.cert), dir.join(&t.key));
            let verifier = match &t.client_auth {
                Some(c) => Some(e.at("client_auth", |e| client_verifier(c, dir, e))?),
                None => None,
            };
            match tls_config(&cert, &key, alpn, verifier.clone()) {
                Ok(c) => {
                    if http3 {
                        quic = tls_config(&cert, &key, vec![b"h3".to_vec()], verifier)
                            .ok()
                            .map(Arc::new);
                    }
                    Some(Arc::new(c))
                }
                Err((field, msg)) => {
                    e.push_at(field, msg);
                    None
                }
            }
        })
    });
    Some(ListenerSettings {
        name,
        address: address?,
        http1,
        http2,
        tls,
        quic,
    })
}

fn socket_addr(s: &str, e: &mut Errors) -> Option<SocketAddr> {
    match s.parse() {
        Ok(a) => Some(a),
        Err(_) => {
            e.push(format!(
                "expected IP:PORT such as 127.0.0.1:8080 or [::1]:8080, found `{s}`"
            ));
            None
        }
    }
}

/// The `state:` section alone.
pub fn state(raw: &RawState, dir: &Path, e: &mut Errors) -> StateSettings {
    let redis = match raw.backend.as_deref() {
        None | Some("embedded") => {
            for (field, set) in [
                ("url", raw.url.is_some()),
                ("urls", raw.urls.is_some()),
                ("cluster", raw.cluster.is_some()),
                ("sentinel", raw.sentinel.is_some()),
                ("password_env", raw.password_env.is_some()),
                ("tls_ca_file", raw.tls_ca_file.is_some()),
                ("timeout", raw.timeout.is_some()),
                ("key_prefix", raw.key_prefix.is_some()),
                ("on_unavailable", raw.on_unavailable.is_some()),
            ] {
                if set {
                    e.push_at(field, "only used with backend: redis");
                }
            }
            None
        }
        Some("redis") => {
            if raw.data_dir.is_some() {
                e.push_at(
                    "data_dir",
                    "not used with backend: redis (the state lives in Redis)",
                );
            }
            redis::redis(raw, dir, e)
        }
        Some(other) => {
            e.push_at(
                "backend",
                format!("expected embedded or redis, found `{other}`"),
            );
            None
        }
    };
    StateSettings {
        data_dir: raw.data_dir.as_ref().map(|d| dir.join(d)),
        redis,
        flush_interval: duration(
            e,
            "flush_interval",
            raw.flush_interval.as_deref(),
            100,
            10,
            3_600_000,
        ),
    }
}
