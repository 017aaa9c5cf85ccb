//! Validates a [`RawConfig`] and builds the [`Runtime`] and [`ServerSettings`].
//!
//! Every check records its error with the path of the field and carries on, so one run
//! reports everything wrong with a file.

use super::raw::*;
use super::{
    AdminSettings, CompileEnv, ListenerSettings, Loaded, LogDestination, ServerSettings,
    StateSettings,
};
use crate::context_template::ContextTemplate;
use crate::error::ResponseType;
use crate::integration::http_proxy::{HttpProxy, UriTemplate};
use crate::integration::mock::Mock;
use crate::integration::Integration;
use crate::metrics::{Registry, RouteKey};
use crate::plugin::{Plugin, PluginKind, PluginSettings};
use crate::router::{parse_resource_path, ResourceTree, Segment};
use crate::runtime::*;
use crate::stage::authorize::{AuthorizerBinding, IdentitySource};
use crate::stage::cache::{Invalidation, MethodCache, StageCache, Unauthorized};
use crate::stage::throttle::{Bucket, ThrottleSettings};
use crate::stage::validate;
use crate::state::keys::{validate_value, ConfigKey, Period, QuotaSettings, UsagePlan};
use crate::vtl::Template;
use crate::websocket;
use bytes::Bytes;
use gatehouse_config::{duration, ConfigErrors, Errors};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub const DEFAULT_ACCESS_LOG_FORMAT: &str = r#"{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","requestTime":"$context.requestTime","httpMethod":"$context.httpMethod","resourcePath":"$context.resourcePath","path":"$context.path","status":"$context.status","protocol":"$context.protocol","responseLatency":"$context.responseLatency","integrationLatency":"$context.integrationLatency","responseLength":"$context.responseLength","stage":"$context.stage","apiId":"$context.apiId"}"#;

/// Compiles a parsed config. `file` is used in error messages and to resolve relative paths.
pub fn compile(
    mut raw: RawConfig,
    file: &Path,
    env: CompileEnv<'_>,
) -> Result<Loaded, ConfigErrors> {
    let fingerprint = format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
        raw.listeners, raw.admin, raw.limits, raw.shutdown, raw.access_log.destination, raw.state
    );
    let dir = file.parent().unwrap_or(Path::new("."));
    let mut e = Errors::default();
    if raw.version != 1 {
        e.push_at("version", format!("expected 1, found {}", raw.version));
    }
    let settings = server_settings(&raw, dir, &mut e);
    let (plugins, mut watch_paths) = e.at("plugins", |e| plugins(&raw.plugins, dir, env, e));
    let mut warnings = Vec::new();
    e.at("apis", |e| {
        for (i, a) in raw.apis.iter_mut().enumerate() {
            e.index(i, |e| {
                if let Some(path) = import_openapi(a, dir, &mut warnings, e) {
                    watch_paths.push(path);
                }
            })
        }
    });
    let runtime = runtime(&raw, env.metrics, &plugins, &mut e);
    if e.is_empty() {
        Ok(Loaded {
            settings,
            runtime,
            fingerprint,
            watch_paths,
            warnings,
        })
    } else {
        Err(e.into_config_errors(file))
    }
}

fn server_settings(raw: &RawConfig, dir: &Path, e: &mut Errors) -> ServerSettings {
    if raw.listeners.is_empty() {
        e.push_at("listeners", "expected at least one listener");
    }
    let mut names = HashSet::new();
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
                    listener(l, name, dir, e)
                })
            })
            .collect()
    });
    let admin = raw.admin.as_ref().and_then(|a| {
        e.at("admin", |e| {
            let address = socket_addr(&a.address, e)?;
            if a.token.as_deref() == Some("") {
                e.push_at("token", "expected a non-empty token, or no `token` field");
            }
            Some(AdminSettings {
                address,
                token: a.token.clone(),
            })
        })
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
        None | Some("stdout") => LogDestination::Stdout,
        Some("stderr") => LogDestination::Stderr,
        Some("off") => LogDestination::Off,
        Some("") => {
            e.push_at(
                "access_log",
                "destination: expected stdout, stderr, off or a file path",
            );
            LogDestination::Off
        }
        Some(p) => LogDestination::File(dir.join(p)),
    };
    let state = e.at("state", |e| StateSettings {
        data_dir: raw.state.data_dir.as_ref().map(|d| dir.join(d)),
        flush_interval: duration(
            e,
            "flush_interval",
            raw.state.flush_interval.as_deref(),
            1_000,
            10,
            3_600_000,
        ),
    });
    ServerSettings {
        listeners,
        admin,
        max_header_bytes,
        header_read_timeout,
        drain_timeout,
        access_log,
        state,
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
            match tls_config(&cert, &key, alpn) {
                Ok(c) => {
                    if http3 {
                        quic = tls_config(&cert, &key, vec![b"h3".to_vec()])
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

fn tls_config(
    cert: &Path,
    key: &Path,
    alpn: Vec<Vec<u8>>,
) -> Result<rustls::ServerConfig, (&'static str, String)> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|err| {
            (
                "cert",
                format!(
                    "cannot read PEM certificates from `{}`: {err}",
                    cert.display()
                ),
            )
        })?;
    if certs.is_empty() {
        return Err((
            "cert",
            format!(
                "expected PEM certificates in `{}`, found none",
                cert.display()
            ),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|err| {
        (
            "key",
            format!(
                "cannot read a PEM private key from `{}`: {err}",
                key.display()
            ),
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| ("cert", err.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|err| {
            (
                "key",
                format!("the certificate and key cannot be used together: {err}"),
            )
        })?;
    cfg.alpn_protocols = alpn;
    Ok(cfg)
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

/// Plugins by name; `None` for one declared but not loadable (its error is already reported).
type Plugins = HashMap<String, Option<Arc<Plugin>>>;

fn plugins(
    raw: &indexmap::IndexMap<String, RawPlugin>,
    dir: &Path,
    env: CompileEnv<'_>,
    e: &mut Errors,
) -> (Plugins, Vec<std::path::PathBuf>) {
    let mut out = HashMap::with_capacity(raw.len());
    let mut paths = Vec::with_capacity(raw.len());
    for (name, p) in raw {
        e.at(name, |e| {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
            {
                e.push(format!(
                    "expected a plugin name of letters, digits, `_` or `-`, found `{name}`"
                ));
            }
            // Zero means "the default for the plugin's world", known once it is loaded.
            let timeout = match p.timeout.as_deref() {
                None => Duration::ZERO,
                Some(t) => duration(e, "timeout", Some(t), 50, 1, 300_000),
            };
            let memory_bytes = p.memory_bytes.unwrap_or(16 << 20);
            if !(1 << 20..=crate::plugin::engine::MAX_MEMORY_BYTES as u64).contains(&memory_bytes) {
                e.push_at(
                    "memory_bytes",
                    format!(
                        "expected 1048576..={} bytes, found {memory_bytes}",
                        crate::plugin::engine::MAX_MEMORY_BYTES
                    ),
                );
            }
            if p.fuel == Some(0) {
                e.push_at(
                    "fuel",
                    "expected a positive instruction budget, or no `fuel` field",
                );
            }
            let settings = PluginSettings {
                timeout,
                fuel: p.fuel,
                memory_bytes: memory_bytes as usize,
                config: Arc::new(
                    p.config
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                ),
                env: p.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            };
            let path = std::path::absolute(dir.join(&p.path)).unwrap_or_else(|_| dir.join(&p.path));
            match env.plugins.load(name, &path, settings) {
                Ok(plugin) => {
                    out.insert(name.clone(), Some(plugin));
                }
                Err(msg) => {
                    e.push_at("path", format!("`{}`: {msg}", p.path.display()));
                    // Known but unusable: references to it add no errors of their own.
                    out.insert(name.clone(), None);
                }
            }
            paths.push(path);
        })
    }
    (out, paths)
}

/// Looks up a plugin of the given world for a reference at the current path.
fn plugin_ref(
    plugins: &Plugins,
    name: &str,
    kind: PluginKind,
    e: &mut Errors,
) -> Option<Arc<Plugin>> {
    match plugins.get(name) {
        Some(None) => None,
        Some(Some(p)) if p.kind == kind => Some(p.clone()),
        Some(Some(p)) => {
            e.push(format!(
                "plugin `{name}` is an {} plugin; expected an {} plugin",
                p.kind.name(),
                kind.name()
            ));
            None
        }
        None => {
            let mut known: Vec<&str> = plugins.keys().map(String::as_str).collect();
            known.sort_unstable();
            e.push(format!(
                "no plugin named `{name}` under `plugins` (defined: {})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ));
            None
        }
    }
}

fn runtime(raw: &RawConfig, metrics: &Registry, plugins: &Plugins, e: &mut Errors) -> Runtime {
    let request_id_header = e.at("request_id_header", |e| {
        let name = raw
            .request_id_header
            .as_deref()
            .unwrap_or("x-amzn-RequestId");
        HeaderName::from_bytes(name.as_bytes()).unwrap_or_else(|_| {
            e.push(format!("expected an HTTP header name, found `{name}`"));
            HeaderName::from_static("x-amzn-requestid")
        })
    });
    let access_log = if raw.access_log.destination.as_deref() == Some("off") {
        None
    } else {
        let format = raw
            .access_log
            .format
            .as_deref()
            .unwrap_or(DEFAULT_ACCESS_LOG_FORMAT);
        match ContextTemplate::compile(format) {
            Ok(t) => Some(t),
            Err(msg) => {
                e.at("access_log", |e| e.push_at("format", msg));
                None
            }
        }
    };
    let max_body_bytes = raw.limits.max_body_bytes.unwrap_or(10 * 1024 * 1024);
    if max_body_bytes == 0 {
        e.at("limits", |e| {
            e.push_at("max_body_bytes", "expected at least 1 byte")
        });
    }
    let request_timeout = e.at("limits", |e| {
        duration(
            e,
            "request_timeout",
            raw.limits.request_timeout.as_deref(),
            30_000,
            100,
            3_600_000,
        )
    });

    let mut names = HashSet::new();
    let mut apis = Vec::with_capacity(raw.apis.len());
    let mut mounts = Vec::new();
    e.at("apis", |e| {
        for (i, a) in raw.apis.iter().enumerate() {
            e.index(i, |e| {
                if a.name.is_empty() {
                    e.push_at("name", "expected a non-empty API name");
                } else if !names.insert(a.name.as_str()) {
                    e.push_at("name", format!("API name `{}` is used twice", a.name));
                }
                let api = api(a, apis.len(), metrics, plugins, &mut mounts, e);
                apis.push(api);
            })
        }
    });
    // Host-specific mounts first, then longer prefixes first.
    mounts.sort_by(|a: &Mount, b: &Mount| {
        b.host
            .is_some()
            .cmp(&a.host.is_some())
            .then(b.prefix.len().cmp(&a.prefix.len()))
    });
    let mut seen = HashSet::new();
    for m in &mounts {
        if let Some(stage) = m.stage {
            if !seen.insert((m.host.clone(), m.prefix.clone())) {
                e.at("apis", |e| {
                    e.index(m.api, |e| {
                        e.at("stages", |e| {
                            e.push_at(
                                &apis[m.api].stages[stage].name,
                                format!(
                                    "base_path `{}` is already served by another stage",
                                    if m.prefix.is_empty() { "/" } else { &m.prefix }
                                ),
                            )
                        })
                    })
                });
            }
        }
    }
    let usage_plans = e.at("usage_plans", |e| usage_plans(&raw.usage_plans, &apis, e));
    let config_keys = e.at("api_keys", |e| api_keys(&raw.api_keys, &usage_plans, e));
    Runtime {
        usage_plans,
        config_keys,
        has_websocket_apis: apis.iter().any(|a| a.websocket.is_some()),
        has_cors: apis.iter().any(|a| a.cors.is_some()),
        apis,
        mounts,
        request_id_header,
        access_log,
        default_responses: GatewayResponses::default(),
        max_body_bytes,
        request_timeout,
        account_throttle: Bucket::new(
            raw.throttle
                .and_then(|t| e.at("throttle", |e| throttle(t, e)))
                .unwrap_or(ThrottleSettings::ACCOUNT_DEFAULT),
        ),
        unmatched_metrics: metrics.route(RouteKey {
            api: "-".into(),
            stage: "-".into(),
            resource: "-".into(),
            method: "-".into(),
        }),
    }
}

fn usage_plans(
    raw: &indexmap::IndexMap<String, RawUsagePlan>,
    apis: &[Api],
    e: &mut Errors,
) -> HashMap<String, Arc<UsagePlan>> {
    let mut out = HashMap::with_capacity(raw.len());
    for (name, p) in raw {
        e.at(name, |e| {
            let mut stages = Vec::with_capacity(p.stages.len());
            e.at("stages", |e| {
                for (i, s) in p.stages.iter().enumerate() {
                    e.index(i, |e| {
                        let Some((api, stage)) = s.split_once('/') else {
                            e.push(format!("expected API/STAGE such as pets/prod, found `{s}`"));
                            return;
                        };
                        match apis.iter().find(|a| &*a.name == api) {
                            None => e.push(format!("no API named `{api}`")),
                            Some(a) if !a.stages.iter().any(|st| &*st.name == stage) => {
                                e.push(format!("API `{api}` has no stage `{stage}`"))
                            }
                            Some(_) => stages.push((api.to_owned(), stage.to_owned())),
                        }
                    })
                }
            });
            let throttle = p
                .throttle
                .and_then(|t| e.at("throttle", |e| throttle(t, e)));
            let quota = p.quota.as_ref().and_then(|q| {
                e.at("quota", |e| {
                    let period = match q.period.as_str() {
                        "DAY" => Period::Day,
                        "WEEK" => Period::Week,
                        "MONTH" => Period::Month,
                        other => {
                            e.push_at(
                                "period",
                                format!("expected DAY, WEEK or MONTH, found `{other}`"),
                            );
                            return None;
                        }
                    };
                    let max_offset = match period {
                        Period::Day => 0,
                        Period::Week => 6,
                        Period::Month => 27,
                    };
                    if q.offset > max_offset {
                        e.push_at(
                            "offset",
                            format!(
                                "expected 0..={max_offset} for {}, found {}",
                                q.period, q.offset
                            ),
                        );
                    }
                    if q.limit == 0 {
                        e.push_at("limit", "expected at least 1 request");
                    }
                    Some(QuotaSettings {
                        limit: q.limit,
                        period,
                        offset: q.offset,
                    })
                })
            });
            out.insert(
                name.clone(),
                Arc::new(UsagePlan {
                    name: name.clone(),
                    stages,
                    throttle,
                    quota,
                }),
            );
        })
    }
    out
}

fn api_keys(
    raw: &indexmap::IndexMap<String, RawApiKey>,
    plans: &HashMap<String, Arc<UsagePlan>>,
    e: &mut Errors,
) -> Vec<ConfigKey> {
    let mut values = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (name, k) in raw {
        e.at(name, |e| {
            if let Err(msg) = validate_value(&k.value) {
                e.push_at("value", msg);
            } else if !values.insert(k.value.as_str()) {
                e.push_at("value", "another key has the same value");
            }
            e.at("plans", |e| {
                for (i, p) in k.plans.iter().enumerate() {
                    if !plans.contains_key(p) {
                        e.index(i, |e| {
                            e.push(format!("no usage plan named `{p}` under `usage_plans`"))
                        });
                    }
                }
            });
            out.push(ConfigKey {
                name: name.clone(),
                value: k.value.clone(),
                plans: k.plans.clone(),
                enabled: k.enabled,
            });
        })
    }
    out
}

/// Fills `a` from its `openapi` document; returns the document's path to watch.
fn import_openapi(
    a: &mut RawApi,
    dir: &Path,
    warnings: &mut Vec<String>,
    e: &mut Errors,
) -> Option<std::path::PathBuf> {
    let opts = a.openapi.take()?;
    e.at("openapi", |e| {
        let path = dir.join(&opts.file);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(err) => {
                e.push_at("file", format!("cannot read `{}`: {err}", path.display()));
                return None;
            }
        };
        let imported =
            crate::openapi::parse(&text).and_then(|doc| crate::openapi::import(&doc, &opts));
        let imported = match imported {
            Ok(i) => i,
            Err(msg) => {
                e.push_at("file", format!("`{}`: {msg}", path.display()));
                return None;
            }
        };
        warnings.extend(
            imported
                .warnings
                .iter()
                .map(|w| format!("{}{w}", path.display())),
        );
        let mut doc = imported.api;
        doc["name"] = Value::String(a.name.clone());
        let from_doc: RawApi = match serde_path_to_error::deserialize(doc) {
            Ok(r) => r,
            Err(err) => {
                e.push_at(
                    "file",
                    format!(
                        "`{}` imports as `{}`: {}",
                        path.display(),
                        err.path(),
                        err.inner()
                    ),
                );
                return None;
            }
        };
        // What gatehouse.yaml says wins over the document.
        if a.resources.is_empty() {
            a.resources = from_doc.resources;
        }
        for (k, v) in from_doc.models {
            a.models.entry(k).or_insert(v);
        }
        for (k, v) in from_doc.request_validators {
            a.request_validators.entry(k).or_insert(v);
        }
        for (k, v) in from_doc.authorizers {
            a.authorizers.entry(k).or_insert(v);
        }
        for (k, v) in from_doc.gateway_responses {
            a.gateway_responses.entry(k).or_insert(v);
        }
        if a.binary_media_types.is_empty() {
            a.binary_media_types = from_doc.binary_media_types;
        }
        a.api_key_source = a.api_key_source.take().or(from_doc.api_key_source);
        a.cors = a.cors.take().or(from_doc.cors);
        a.resource_policy = a.resource_policy.take().or(from_doc.resource_policy);
        Some(path)
    })
}

/// `/` -> `""`, `/v1` -> `/v1`; `None` when malformed.
fn base_path(s: &str) -> Option<Box<str>> {
    if s == "/" {
        return Some("".into());
    }
    let segs = parse_resource_path(s).ok()?;
    if segs.iter().all(|s| matches!(s, Segment::Literal(_))) {
        Some(s.into())
    } else {
        None
    }
}

fn api(
    a: &RawApi,
    index: usize,
    metrics: &Registry,
    plugins: &Plugins,
    mounts: &mut Vec<Mount>,
    e: &mut Errors,
) -> Api {
    let host = a.host.as_ref().and_then(|h| {
        let ok = !h.is_empty()
            && h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'));
        if !ok {
            e.push_at(
                "host",
                format!("expected a host name such as api.example.com, found `{h}`"),
            );
        }
        ok.then(|| h.to_ascii_lowercase().into_boxed_str())
    });
    let prefix = match a.base_path.as_deref() {
        None => Some("".into()),
        Some(p) => base_path(p).or_else(|| {
            e.push_at(
                "base_path",
                format!("expected a path of literal segments such as / or /v1, found `{p}`"),
            );
            None
        }),
    };
    if a.stages.is_empty() {
        e.push_at("stages", "expected at least one stage, such as `prod: {}`");
    }
    let mut stages = Vec::with_capacity(a.stages.len());
    let mut path_stage = false;
    e.at("stages", |e| {
        for (name, s) in &a.stages {
            e.at(name, |e| {
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
                {
                    e.push(format!(
                        "expected a stage name of letters, digits, `_` or `-`, found `{name}`"
                    ));
                }
                let mut variables = Vec::with_capacity(s.variables.len());
                for (k, v) in &s.variables {
                    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                        e.at("variables", |e| {
                            e.push_at(k, "expected a variable name of letters, digits or `_`")
                        });
                    }
                    if v.chars().any(char::is_control) {
                        e.at("variables", |e| {
                            e.push_at(
                                k,
                                "a stage variable value cannot contain control characters",
                            )
                        });
                    }
                    variables.push((k.as_str().into(), v.as_str().into()));
                }
                match s.base_path.as_deref() {
                    Some(p) => match base_path(p) {
                        Some(prefix) => mounts.push(Mount {
                            host: host.clone(),
                            prefix,
                            api: index,
                            stage: Some(stages.len()),
                        }),
                        None => e.push_at(
                            "base_path",
                            format!("expected a path of literal segments such as /v1, found `{p}`"),
                        ),
                    },
                    None => path_stage = true,
                }
                let throttle = s
                    .throttle
                    .and_then(|t| e.at("throttle", |e| throttle(t, e)))
                    .map(Bucket::new);
                let cache = s
                    .cache
                    .as_ref()
                    .map(|c| e.at("cache", |e| stage_cache(c, e)));
                stages.push(Stage {
                    name: name.as_str().into(),
                    variables,
                    throttle,
                    cache,
                });
            })
        }
    });
    if let (true, Some(prefix)) = (path_stage, prefix) {
        mounts.push(Mount {
            host: host.clone(),
            prefix,
            api: index,
            stage: None,
        });
    }
    let responses = e.at("gateway_responses", |e| {
        gateway_responses(&a.gateway_responses, e)
    });
    let authorizers = e.at("authorizers", |e| authorizers(&a.authorizers, plugins, e));
    let models = e.at("models", |e| models(&a.models, e));

    let binary_media_types: Box<[Box<str>]> = e.at("binary_media_types", |e| {
        a.binary_media_types
            .iter()
            .enumerate()
            .filter_map(|(i, t)| {
                let t = t.trim().to_ascii_lowercase();
                if t.split('/').count() == 2 && !t.starts_with('/') && !t.ends_with('/') {
                    Some(t.into_boxed_str())
                } else {
                    e.index(i, |e| {
                        e.push(format!(
                            "expected a media type such as image/png or image/*, found `{t}`"
                        ))
                    });
                    None
                }
            })
            .collect()
    });
    let mut tree = ResourceTree::default();
    let mut resources: Vec<Resource> = Vec::with_capacity(a.resources.len());
    e.at("resources", |e| {
        for (path, methods) in &a.resources {
            e.at(path, |e| {
                let param_names: Box<[Box<str>]> = match parse_resource_path(path) {
                    Ok(segments) => {
                        if let Err(other) = tree.insert(&segments, resources.len()) {
                            e.push(format!("the same resource as `{}` (parameter names do not make resources different)", resources[other].path));
                            return;
                        }
                        segments
                            .iter()
                            .filter_map(|s| match s {
                                Segment::Param(n) | Segment::Greedy(n) => Some(n.as_str().into()),
                                Segment::Literal(_) => None,
                            })
                            .collect()
                    }
                    Err(msg) => {
                        // Report it, and still check the methods (with the names as written)
                        // so that one run lists every error.
                        e.push(msg);
                        loose_param_names(path)
                    }
                };
                let mut resource = Resource {
                    path: path.as_str().into(),
                    param_names,
                    by_method: [None; MethodKey::COUNT],
                    methods: Vec::with_capacity(methods.len()),
                };
                if methods.is_empty() {
                    e.push("expected at least one method (GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS or ANY)");
                }
                for (m, raw_method) in methods {
                    e.at(m, |e| {
                        let Some(key) = MethodKey::from_name(m) else {
                            e.push(format!("expected a method GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS or ANY, found `{m}`"));
                            return;
                        };
                        let authorizer = raw_method.authorizer.as_ref().and_then(|name| {
                            e.at("authorizer", |e| match authorizers.get(name) {
                                Some(b) => b.clone(),
                                None => {
                                    let mut known: Vec<&str> = authorizers.keys().map(String::as_str).collect();
                                    known.sort_unstable();
                                    e.push(format!(
                                        "no authorizer named `{name}` under this API's `authorizers` (defined: {})",
                                        if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                                    ));
                                    None
                                }
                            })
                        });
                        let request_mapper = raw_method
                            .request_mapper
                            .as_ref()
                            .and_then(|n| e.at("request_mapper", |e| plugin_ref(plugins, n, PluginKind::Mapper, e)));
                        let response_mapper = raw_method
                            .response_mapper
                            .as_ref()
                            .and_then(|n| e.at("response_mapper", |e| plugin_ref(plugins, n, PluginKind::Mapper, e)));
                        let validation = request_validation(a, raw_method, &models, &resource.param_names, e);
                        let method_throttle = raw_method.throttle.and_then(|t| e.at("throttle", |e| throttle(t, e))).map(|t| {
                            stages.iter().map(|_| Bucket::new(t)).collect::<Box<[Bucket]>>()
                        });
                        let cache = raw_method
                            .cache
                            .as_ref()
                            .map_or(Some(MethodCache { ttl: None, key_params: Vec::new(), all_methods: false }), |c| {
                                e.at("cache", |e| method_cache(c, e))
                            });
                        let integration = e.at("integration", |e| {
                            integration(&raw_method.integration, &resource.param_names, &stages, plugins, &binary_media_types, e)
                        });
                        let Some(integration) = integration else { return };
                        let metrics = stages
                            .iter()
                            .map(|s| {
                                metrics.route(RouteKey {
                                    api: a.name.clone(),
                                    stage: s.name.to_string(),
                                    resource: path.clone(),
                                    method: m.clone(),
                                })
                            })
                            .collect();
                        resource.by_method[key as usize] = Some(resource.methods.len() as u16);
                        resource.methods.push(MethodEntry {
                            key,
                            authorizer,
                            api_key_required: raw_method.api_key_required,
                            request_mapper,
                            response_mapper,
                            validation,
                            throttle: method_throttle,
                            cache,
                            integration,
                            metrics,
                        });
                    })
                }
                resources.push(resource);
            })
        }
    });
    let api_key_source = match a.api_key_source.as_deref() {
        None | Some("HEADER") => ApiKeySource::Header,
        Some("AUTHORIZER") => ApiKeySource::Authorizer,
        Some(other) => {
            e.push_at(
                "api_key_source",
                format!("expected HEADER or AUTHORIZER, found `{other}`"),
            );
            ApiKeySource::Header
        }
    };
    let websocket = match a.protocol.as_deref() {
        None | Some("rest") => {
            for (field, set) in [
                ("routes", !a.routes.is_empty()),
                (
                    "route_selection_expression",
                    a.route_selection_expression.is_some(),
                ),
                ("websocket", a.websocket.is_some()),
            ] {
                if set {
                    e.push_at(field, "only an API with `protocol: websocket` has this");
                }
            }
            None
        }
        Some("websocket") => {
            if !a.resources.is_empty() {
                e.push_at(
                    "resources",
                    "a WebSocket API has `routes` ($connect, $disconnect, $default, custom keys), not resources",
                );
            }
            Some(Box::new(websocket_api(
                a,
                &authorizers,
                &stages,
                plugins,
                e,
            )))
        }
        Some(other) => {
            e.push_at(
                "protocol",
                format!("expected rest or websocket, found `{other}`"),
            );
            None
        }
    };
    let cors = a.cors.as_ref().and_then(|c| e.at("cors", |e| cors(c, e)));
    let policy = a.resource_policy.as_ref().map(|p| {
        e.at("resource_policy", |e| {
            let mut list = |field: &str, items: &[String]| {
                let mut out = Vec::with_capacity(items.len());
                e.at(field, |e| {
                    for (i, s) in items.iter().enumerate() {
                        match crate::stage::policy::Cidr::parse(s) {
                            Ok(c) => out.push(c),
                            Err(msg) => e.index(i, |e| e.push(msg)),
                        }
                    }
                });
                out
            };
            Box::new(crate::stage::policy::ResourcePolicy {
                allow: list("allow_source_ips", &p.allow_source_ips),
                deny: list("deny_source_ips", &p.deny_source_ips),
            })
        })
    });
    Api {
        name: a.name.as_str().into(),
        api_key_source,
        stages,
        resources,
        tree,
        responses,
        websocket,
        cors,
        policy,
    }
}

fn cors(c: &RawCors, e: &mut Errors) -> Option<Box<crate::stage::cors::Cors>> {
    let list = |e: &mut Errors, field: &str, items: &[String]| -> Option<HeaderValue> {
        if items.is_empty() {
            return None;
        }
        let joined = items.join(", ");
        HeaderValue::from_str(&joined)
            .map_err(|_| e.push_at(field, format!("`{joined}` is not a valid header value")))
            .ok()
    };
    if c.allow_origins.is_empty() {
        e.push_at(
            "allow_origins",
            "expected at least one origin, such as https://app.example.com or *",
        );
    }
    for (i, o) in c.allow_origins.iter().enumerate() {
        if o != "*" && !(o.starts_with("http://") || o.starts_with("https://")) {
            e.at("allow_origins", |e| {
                e.index(i, |e| {
                    e.push(format!(
                        "expected * or an origin such as https://app.example.com, found `{o}`"
                    ))
                })
            });
        }
    }
    if c.allow_credentials && c.allow_origins.iter().any(|o| o == "*") {
        e.push_at(
            "allow_credentials",
            "browsers refuse credentials with a `*` origin; list the origins instead",
        );
    }
    for (i, m) in c.allow_methods.iter().enumerate() {
        if m != "*" && Method::from_bytes(m.as_bytes()).is_err() {
            e.at("allow_methods", |e| {
                e.index(i, |e| {
                    e.push(format!("expected an HTTP method, found `{m}`"))
                })
            });
        }
    }
    let methods = list(e, "allow_methods", &c.allow_methods).unwrap_or(HeaderValue::from_static(
        "GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS",
    ));
    Some(Box::new(crate::stage::cors::Cors {
        origins: c
            .allow_origins
            .iter()
            .map(|o| {
                o.trim_end_matches('/')
                    .to_ascii_lowercase()
                    .into_boxed_str()
            })
            .collect(),
        methods,
        headers: list(e, "allow_headers", &c.allow_headers),
        expose: list(e, "expose_headers", &c.expose_headers),
        max_age: c.max_age.map(HeaderValue::from),
        credentials: c.allow_credentials,
    }))
}

/// Compiles a WebSocket API's route selection, routes and limits.
fn websocket_api(
    a: &RawApi,
    authorizers: &HashMap<String, Option<Arc<AuthorizerBinding>>>,
    stages: &[Stage],
    plugins: &Plugins,
    e: &mut Errors,
) -> websocket::WsApi {
    let selection = e.at("route_selection_expression", |e| {
        let expr = a
            .route_selection_expression
            .as_deref()
            .unwrap_or("$request.body.action");
        websocket::parse_selection(expr).unwrap_or_else(|msg| {
            e.push(msg);
            Box::default()
        })
    });
    let defaults = websocket::Limits::default();
    let limits = match &a.websocket {
        None => defaults,
        Some(l) => e.at("websocket", |e| {
            let bytes = |e: &mut Errors, field: &str, v: Option<usize>, default: usize| match v {
                Some(n) if (125..=16 * 1024 * 1024).contains(&n) => n,
                Some(n) => {
                    e.push_at(field, format!("expected 125 to 16777216 bytes, found {n}"));
                    default
                }
                None => default,
            };
            let max_frame_bytes = bytes(
                e,
                "max_frame_bytes",
                l.max_frame_bytes,
                defaults.max_frame_bytes,
            );
            let max_message_bytes = bytes(
                e,
                "max_message_bytes",
                l.max_message_bytes,
                defaults.max_message_bytes,
            );
            if max_frame_bytes > max_message_bytes {
                e.push_at("max_frame_bytes", "cannot be larger than max_message_bytes");
            }
            websocket::Limits {
                max_frame_bytes,
                max_message_bytes,
                idle_timeout: duration(
                    e,
                    "idle_timeout",
                    l.idle_timeout.as_deref(),
                    600_000,
                    100,
                    7_200_000,
                ),
                max_duration: duration(
                    e,
                    "max_duration",
                    l.max_duration.as_deref(),
                    7_200_000,
                    100,
                    86_400_000,
                ),
            }
        }),
    };
    let mut out = websocket::WsApi {
        selection,
        connect: None,
        disconnect: None,
        default: None,
        routes: HashMap::new(),
        limits,
    };
    e.at("routes", |e| {
        for (key, r) in &a.routes {
            e.at(key, |e| {
                if key.is_empty() || (key.starts_with('$') && !matches!(key.as_str(), "$connect" | "$disconnect" | "$default")) {
                    e.push(format!("expected $connect, $disconnect, $default or a route key without `$`, found `{key}`"));
                    return;
                }
                let authorizer = r.authorizer.as_ref().and_then(|name| {
                    e.at("authorizer", |e| {
                        if key != "$connect" {
                            e.push("only the $connect route can have an authorizer");
                            return None;
                        }
                        match authorizers.get(name) {
                            Some(b) => b.clone(),
                            None => {
                                e.push(format!("no authorizer named `{name}` under this API's `authorizers`"));
                                None
                            }
                        }
                    })
                });
                let integration = e.at("integration", |e| route_integration(&r.integration, stages, plugins, e));
                let Some(integration) = integration else { return };
                let route = websocket::Route { key: key.as_str().into(), authorizer, integration };
                match key.as_str() {
                    "$connect" => out.connect = Some(route),
                    "$disconnect" => out.disconnect = Some(route),
                    "$default" => out.default = Some(route),
                    _ => {
                        out.routes.insert(key.as_str().into(), route);
                    }
                }
            })
        }
    });
    out
}

fn route_integration(
    raw: &RawRouteIntegration,
    stages: &[Stage],
    plugins: &Plugins,
    e: &mut Errors,
) -> Option<websocket::RouteIntegration> {
    match raw {
        RawRouteIntegration::Mock { status, body } => Some(websocket::RouteIntegration::Mock {
            status: e.at("status", |e| status_code(*status, 200, e)),
            body: Bytes::from(body.clone()),
        }),
        RawRouteIntegration::Wasm { plugin } => e
            .at("plugin", |e| {
                plugin_ref(plugins, plugin, PluginKind::WebsocketHandler, e)
            })
            .map(websocket::RouteIntegration::Wasm),
        RawRouteIntegration::Http { uri, timeout } => {
            let mut uris = Vec::with_capacity(stages.len());
            e.at("uri", |e| {
                for s in stages {
                    let lookup = |name: &str| s.variable(name);
                    match UriTemplate::compile(uri, &[], lookup) {
                        Ok(t) => uris.push(t),
                        Err(msg) => e.push(format!("in stage `{}`: {msg}", s.name)),
                    }
                }
            });
            let timeout = duration(e, "timeout", timeout.as_deref(), 29_000, 50, 300_000);
            (uris.len() == stages.len()).then(|| websocket::RouteIntegration::Http {
                uris: uris.into_boxed_slice(),
                timeout,
            })
        }
    }
}

/// The `{name}` and `{name+}` names of a resource path that failed to parse.
/// Compiles an API's models; a schema that does not compile is reported at its name.
fn models(
    raw: &indexmap::IndexMap<String, serde_json::Value>,
    e: &mut Errors,
) -> HashMap<String, validate::Model> {
    let mut out = HashMap::with_capacity(raw.len());
    for (name, schema) in raw {
        match validate::compile_model(schema) {
            Ok(m) => {
                out.insert(name.clone(), m);
            }
            Err(msg) => e.push_at(name, format!("not a valid JSON Schema: {msg}")),
        }
    }
    out
}

/// A method's request validation: the validator it names, the required parameters and the
/// models by content type. Parameters and models are checked even without a validator, so a
/// typo is reported rather than silently never enforced.
fn request_validation(
    a: &RawApi,
    m: &RawMethod,
    models: &HashMap<String, validate::Model>,
    param_names: &[Box<str>],
    e: &mut Errors,
) -> Option<Box<validate::Validation>> {
    let mut params = Vec::new();
    e.at("request_parameters", |e| {
        for (key, &required) in &m.request_parameters {
            let rest = key.strip_prefix("method.request.").unwrap_or("");
            let parsed = if let Some(name) = rest.strip_prefix("path.") {
                match param_names.iter().position(|p| **p == *name) {
                    Some(i) => Some((name, validate::Required::Path(i))),
                    None => {
                        e.push_at(key, format!("the resource has no path parameter `{name}`"));
                        continue;
                    }
                }
            } else if let Some(name) = rest.strip_prefix("querystring.") {
                (!name.is_empty()).then(|| (name, validate::Required::Source(IdentitySource::Query(name.to_owned()))))
            } else if let Some(name) = rest.strip_prefix("header.") {
                http::HeaderName::from_bytes(name.as_bytes())
                    .ok()
                    .map(|h| (name, validate::Required::Source(IdentitySource::Header(h))))
            } else {
                None
            };
            match parsed {
                Some((name, req)) if required => params.push((name.into(), req)),
                Some(_) => {}
                None => e.push_at(
                    key,
                    "expected method.request.querystring.NAME, method.request.header.NAME or method.request.path.NAME",
                ),
            }
        }
    });
    let mut by_type = Vec::new();
    e.at("request_models", |e| {
        for (media, name) in &m.request_models {
            match models.get(name) {
                Some(model) => {
                    by_type.push((media.to_ascii_lowercase().into_boxed_str(), model.clone()))
                }
                None if a.models.contains_key(name) => {} // reported under `models`
                None => {
                    let mut known: Vec<&str> = a.models.keys().map(String::as_str).collect();
                    known.sort_unstable();
                    e.push_at(
                        media,
                        format!(
                            "no model named `{name}` under this API's `models` (defined: {})",
                            if known.is_empty() {
                                "none".to_owned()
                            } else {
                                known.join(", ")
                            }
                        ),
                    );
                }
            }
        }
    });
    let name = m.request_validator.as_ref()?;
    let Some(v) = a.request_validators.get(name) else {
        let mut known: Vec<&str> = a.request_validators.keys().map(String::as_str).collect();
        known.sort_unstable();
        e.push_at(
            "request_validator",
            format!(
                "no request validator named `{name}` under this API's `request_validators` (defined: {})",
                if known.is_empty() { "none".to_owned() } else { known.join(", ") }
            ),
        );
        return None;
    };
    Some(Box::new(validate::Validation {
        params: if v.params { params } else { Vec::new() },
        models: if v.body { by_type } else { Vec::new() },
    }))
}

fn loose_param_names(path: &str) -> Box<[Box<str>]> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|n| n.trim_end_matches('+').into())
        .collect()
}

fn throttle(t: RawThrottle, e: &mut Errors) -> Option<ThrottleSettings> {
    let s = ThrottleSettings {
        rate: t.rate,
        burst: t.burst,
    };
    match s.validate() {
        Ok(()) => Some(s),
        Err(msg) => {
            e.push(msg);
            None
        }
    }
}

fn stage_cache(c: &RawStageCache, e: &mut Errors) -> Arc<StageCache> {
    let mb = c.capacity_mb.unwrap_or(64);
    if !(1..=1_048_576).contains(&mb) {
        e.push_at(
            "capacity_mb",
            format!("expected 1..=1048576 megabytes, found {mb}"),
        );
    }
    let ttl = duration(e, "ttl", c.ttl.as_deref(), 300_000, 0, 3_600_000);
    let invalidation = e.at("invalidation", |e| {
        let allow = match c.invalidation.allow.as_deref() {
            None | Some("none") => Invalidation::None,
            Some("any") => Invalidation::Any,
            Some("authorized") => Invalidation::Authorized,
            Some(other) => {
                e.push_at(
                    "allow",
                    format!("expected none, any or authorized, found `{other}`"),
                );
                Invalidation::None
            }
        };
        let unauthorized = match c.invalidation.unauthorized.as_deref() {
            None | Some("ignore") => Unauthorized::Ignore,
            Some("fail") => Unauthorized::Fail,
            Some(other) => {
                e.push_at(
                    "unauthorized",
                    format!("expected ignore or fail, found `{other}`"),
                );
                Unauthorized::Ignore
            }
        };
        (allow, unauthorized)
    });
    let status_header = match c.status_header.as_deref() {
        None => Some(HeaderName::from_static("x-cache")),
        Some("") => None,
        Some(h) => HeaderName::from_bytes(h.as_bytes()).ok().or_else(|| {
            e.push_at(
                "status_header",
                format!("expected an HTTP header name, or \"\" for none, found `{h}`"),
            );
            None
        }),
    };
    Arc::new(StageCache::new(
        mb << 20,
        ttl,
        invalidation.0,
        invalidation.1,
        status_header,
    ))
}

fn method_cache(c: &RawMethodCache, e: &mut Errors) -> Option<MethodCache> {
    let ttl = c
        .ttl
        .as_deref()
        .map(|t| duration(e, "ttl", Some(t), 300_000, 0, 3_600_000));
    let key_params = e.at("key_parameters", |e| {
        c.key_parameters
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                IdentitySource::parse(p)
                    .map_err(|m| e.index(i, |e| e.push(m)))
                    .ok()
            })
            .collect()
    });
    if c.enabled == Some(false) || ttl == Some(Duration::ZERO) {
        return None;
    }
    Some(MethodCache {
        ttl,
        key_params,
        all_methods: c.enabled == Some(true),
    })
}

fn authorizers(
    raw: &indexmap::IndexMap<String, RawAuthorizer>,
    plugins: &Plugins,
    e: &mut Errors,
) -> HashMap<String, Option<Arc<AuthorizerBinding>>> {
    // `None` for an authorizer with errors of its own: methods naming it add none.
    let mut out = HashMap::with_capacity(raw.len());
    for (name, a) in raw {
        e.at(name, |e| {
            let plugin = e.at("plugin", |e| {
                plugin_ref(plugins, &a.plugin, PluginKind::Authorizer, e)
            });
            let sources: Vec<IdentitySource> = e.at("identity_sources", |e| {
                a.identity_sources
                    .iter()
                    .enumerate()
                    .filter_map(|(i, s)| {
                        IdentitySource::parse(s)
                            .map_err(|msg| e.index(i, |e| e.push(msg)))
                            .ok()
                    })
                    .collect()
            });
            let ttl = duration(e, "ttl", a.ttl.as_deref(), 300_000, 0, 3_600_000);
            let binding = plugin
                .map(|plugin| Arc::new(AuthorizerBinding::new(name.clone(), plugin, sources, ttl)));
            out.insert(name.clone(), binding);
        })
    }
    out
}

fn integration(
    raw: &RawIntegration,
    params: &[Box<str>],
    stages: &[Stage],
    plugins: &Plugins,
    binary_media_types: &[Box<str>],
    e: &mut Errors,
) -> Option<Integration> {
    match raw {
        RawIntegration::Lambda {
            endpoint,
            function,
            payload_format,
            timeout,
        } => {
            let format = match payload_format.as_deref() {
                None | Some("1.0") => crate::integration::lambda::PayloadFormat::V1,
                Some("2.0") => crate::integration::lambda::PayloadFormat::V2,
                Some(other) => {
                    e.push_at(
                        "payload_format",
                        format!("expected \"1.0\" or \"2.0\", found `{other}`"),
                    );
                    crate::integration::lambda::PayloadFormat::V1
                }
            };
            let base = endpoint.trim_end_matches('/');
            let mut uris = Vec::with_capacity(stages.len());
            for s in stages {
                let lookup = |name: &str| s.variable(name);
                let f = match UriTemplate::compile(&format!("http://x/{function}"), &[], lookup) {
                    Ok(t) => t.render(|_| None, None)["http://x/".len()..].to_owned(),
                    Err(msg) => {
                        e.push_at("function", format!("in stage `{}`: {msg}", s.name));
                        continue;
                    }
                };
                if f.is_empty() || f.contains(['/', '?', '#']) {
                    e.push_at("function", format!("expected a function name, found `{f}`"));
                    continue;
                }
                let text = format!("{base}/2015-03-31/functions/{f}/invocations");
                match text.parse::<http::Uri>() {
                    Ok(u)
                        if matches!(u.scheme_str(), Some("http" | "https"))
                            && u.authority().is_some() =>
                    {
                        uris.push(u)
                    }
                    _ => {
                        e.push_at("endpoint", format!("expected an http:// or https:// URL such as http://127.0.0.1:9001, found `{endpoint}`"));
                        break;
                    }
                }
            }
            let timeout = duration(e, "timeout", timeout.as_deref(), 29_000, 50, 300_000);
            (uris.len() == stages.len()).then(|| {
                Integration::Lambda(crate::integration::lambda::Lambda {
                    invoke_uris: uris.into_boxed_slice(),
                    format,
                    timeout,
                    binary_media_types: binary_media_types.into(),
                })
            })
        }
        RawIntegration::Wasm { plugin } => e
            .at("plugin", |e| {
                plugin_ref(plugins, plugin, PluginKind::Integration, e)
            })
            .map(Integration::Wasm),
        RawIntegration::HttpProxy {
            uri,
            method,
            timeout,
            http_version,
        } => {
            let mut uris = Vec::with_capacity(stages.len());
            let mut reported = HashSet::new();
            e.at("uri", |e| {
                for s in stages {
                    let lookup = |name: &str| s.variable(name);
                    match UriTemplate::compile(uri, params, lookup) {
                        Ok(t) => uris.push(t),
                        Err(msg)
                            if msg.starts_with("stage variable")
                                || (msg.contains("absolute") && uri.contains("${")) =>
                        {
                            e.push(format!("in stage `{}`: {msg}", s.name));
                        }
                        Err(msg) => {
                            if reported.insert(msg.clone()) {
                                e.push(msg);
                            }
                        }
                    }
                }
                if stages.is_empty() {
                    if let Err(msg) = UriTemplate::compile(uri, params, |_| Some("x")) {
                        e.push(msg);
                    }
                }
            });
            let method = method
                .as_ref()
                .and_then(|m| match Method::from_bytes(m.as_bytes()) {
                    Ok(m) => Some(m),
                    Err(_) => {
                        e.push_at(
                            "method",
                            format!("expected an HTTP method such as GET or POST, found `{m}`"),
                        );
                        None
                    }
                });
            let timeout = duration(e, "timeout", timeout.as_deref(), 29_000, 50, 300_000);
            let http2_only = match http_version.as_deref() {
                None | Some("1.1") => false,
                Some("2") => true,
                Some(v) => {
                    e.push_at(
                        "http_version",
                        format!("expected \"1.1\" or \"2\", found `{v}`"),
                    );
                    false
                }
            };
            (uris.len() == stages.len()).then(|| {
                Integration::HttpProxy(HttpProxy {
                    uris: uris.into_boxed_slice(),
                    method,
                    timeout,
                    http2_only,
                })
            })
        }
        RawIntegration::Http {
            uri,
            method,
            timeout,
            request_parameters,
            request_templates,
            passthrough_behavior,
            responses,
        } => http_mapped(
            uri,
            method.as_deref(),
            timeout.as_deref(),
            request_parameters,
            request_templates,
            passthrough_behavior.as_deref(),
            responses,
            params,
            stages,
            e,
        ),
        RawIntegration::Mock {
            responses,
            request_templates,
            status,
            headers,
            body,
        } if !responses.is_empty() => {
            if status.is_some() || !headers.is_empty() || !body.is_empty() {
                e.push("a mock has either status/headers/body or responses (with request_templates), not both");
            }
            let request_templates = e.at("request_templates", |e| templates(request_templates, e));
            let responses = e.at("responses", |e| integration_responses(responses, params, e));
            Some(Integration::MappedMock(Box::new(
                crate::integration::http_mapped::MappedMock {
                    request_templates,
                    responses,
                },
            )))
        }
        RawIntegration::Mock {
            status,
            headers,
            body,
            request_templates,
            ..
        } => {
            if !request_templates.is_empty() {
                e.push_at(
                    "request_templates",
                    "a mock's request templates choose among its responses; add responses",
                );
            }
            let status = e.at("status", |e| status_code(*status, 200, e));
            let headers = e.at("headers", |e| header_map(headers, e));
            Some(Integration::Mock(Mock {
                status,
                headers,
                body: Bytes::from(body.clone()),
            }))
        }
    }
}

fn templates(
    raw: &indexmap::IndexMap<String, String>,
    e: &mut Errors,
) -> Vec<(Box<str>, Template)> {
    let mut out = Vec::with_capacity(raw.len());
    for (media, text) in raw {
        match Template::compile(text) {
            Ok(t) => out.push((media.to_ascii_lowercase().into_boxed_str(), t)),
            Err(msg) => e.push_at(media, format!("not a valid VTL template: {msg}")),
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn http_mapped(
    uri: &str,
    method: Option<&str>,
    timeout: Option<&str>,
    request_parameters: &indexmap::IndexMap<String, String>,
    request_templates: &indexmap::IndexMap<String, String>,
    passthrough: Option<&str>,
    responses: &[RawIntegrationResponse],
    params: &[Box<str>],
    stages: &[Stage],
    e: &mut Errors,
) -> Option<Integration> {
    use crate::integration::http_mapped::{parse_source, HttpMapped, Passthrough, Target};
    let proxy = integration(
        &RawIntegration::HttpProxy {
            uri: uri.to_owned(),
            method: method.map(str::to_owned),
            timeout: timeout.map(str::to_owned),
            http_version: None,
        },
        params,
        stages,
        &HashMap::new(),
        &[],
        e,
    );
    let mut mapped_params = Vec::new();
    e.at("request_parameters", |e| {
        for (target, source) in request_parameters {
            let t = if let Some(h) = target.strip_prefix("integration.request.header.") {
                HeaderName::from_bytes(h.as_bytes()).ok().map(Target::Header)
            } else {
                target
                    .strip_prefix("integration.request.querystring.")
                    .filter(|q| !q.is_empty())
                    .map(|q| Target::Query(q.to_owned()))
            };
            let Some(t) = t else {
                e.push_at(target, "expected integration.request.header.NAME or integration.request.querystring.NAME");
                continue;
            };
            match parse_source(source, params, false) {
                Ok(s) => mapped_params.push((t, s)),
                Err(msg) => e.push_at(target, msg),
            }
        }
    });
    let request_templates = e.at("request_templates", |e| templates(request_templates, e));
    let passthrough = match passthrough.map(str::to_ascii_lowercase).as_deref() {
        None | Some("when_no_match") => Passthrough::WhenNoMatch,
        Some("when_no_templates") => Passthrough::WhenNoTemplates,
        Some("never") => Passthrough::Never,
        Some(other) => {
            e.push_at(
                "passthrough_behavior",
                format!("expected when_no_match, when_no_templates or never, found `{other}`"),
            );
            Passthrough::WhenNoMatch
        }
    };
    let out_responses = e.at("responses", |e| integration_responses(responses, params, e));
    match proxy {
        Some(Integration::HttpProxy(p)) => Some(Integration::Http(Box::new(HttpMapped {
            uris: p.uris,
            method: p.method,
            timeout: p.timeout,
            request_parameters: mapped_params,
            request_templates,
            passthrough,
            responses: out_responses,
        }))),
        _ => None,
    }
}

fn integration_responses(
    responses: &[RawIntegrationResponse],
    params: &[Box<str>],
    e: &mut Errors,
) -> Vec<crate::integration::http_mapped::IntegrationResponse> {
    use crate::integration::http_mapped::{parse_source, IntegrationResponse};
    let mut out_responses = Vec::with_capacity(responses.len());
    for (i, r) in responses.iter().enumerate() {
        e.index(i, |e| {
            let pattern = r.selection_pattern.as_ref().and_then(|p| {
                match regex::Regex::new(&format!("^(?:{p})$")) {
                    Ok(re) => Some(re),
                    Err(err) => {
                        e.push_at(
                            "selection_pattern",
                            format!("not a valid regular expression: {err}"),
                        );
                        None
                    }
                }
            });
            let status = e.at("status", |e| status_code(r.status, 200, e));
            let mut headers = Vec::new();
            e.at("response_parameters", |e| {
                for (target, source) in &r.response_parameters {
                    let Some(h) = target
                        .strip_prefix("method.response.header.")
                        .and_then(|h| HeaderName::from_bytes(h.as_bytes()).ok())
                    else {
                        e.push_at(target, "expected method.response.header.NAME");
                        continue;
                    };
                    match parse_source(source, params, true) {
                        Ok(s) => headers.push((h, s)),
                        Err(msg) => e.push_at(target, msg),
                    }
                }
            });
            let templates = e.at("response_templates", |e| {
                templates(&r.response_templates, e)
            });
            out_responses.push(IntegrationResponse {
                pattern,
                status,
                headers,
                templates,
            });
        })
    }
    if responses
        .iter()
        .filter(|r| r.selection_pattern.is_none())
        .count()
        > 1
    {
        e.push("at most one response without selection_pattern (the default)");
    }
    out_responses
}

fn status_code(v: Option<u16>, default: u16, e: &mut Errors) -> StatusCode {
    let v = v.unwrap_or(default);
    match StatusCode::from_u16(v) {
        Ok(s) if (100..=599).contains(&v) => s,
        _ => {
            e.push(format!(
                "expected an HTTP status from 100 to 599, found {v}"
            ));
            StatusCode::OK
        }
    }
}

fn header_map(raw: &indexmap::IndexMap<String, String>, e: &mut Errors) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(raw.len());
    for (k, v) in raw {
        let name = HeaderName::from_bytes(k.as_bytes());
        let value = HeaderValue::from_str(v);
        match (name, value) {
            (Ok(n), Ok(v)) => {
                out.append(n, v);
            }
            (Err(_), _) => e.push_at(k, "expected an HTTP header name"),
            (_, Err(_)) => e.push_at(k, "expected a header value of visible ASCII characters"),
        }
    }
    out
}

fn gateway_responses(
    raw: &indexmap::IndexMap<String, RawGatewayResponse>,
    e: &mut Errors,
) -> GatewayResponses {
    let mut explicit: [Option<Arc<ResponseOverride>>; ResponseType::ALL.len()] = Default::default();
    for (name, r) in raw {
        e.at(name, |e| {
            let Some(t) = ResponseType::from_name(name) else {
                let known: Vec<&str> = ResponseType::ALL.iter().map(|t| t.name()).collect();
                e.push(format!(
                    "unknown gateway response type `{name}`; expected one of {}",
                    known.join(", ")
                ));
                return;
            };
            let status = r
                .status
                .map(|s| e.at("status", |e| status_code(Some(s), 200, e)));
            let mut headers = Vec::with_capacity(r.headers.len());
            e.at("headers", |e| {
                for (k, v) in &r.headers {
                    match (
                        HeaderName::from_bytes(k.as_bytes()),
                        ContextTemplate::compile(v),
                    ) {
                        (Ok(n), Ok(t)) => headers.push((n, t)),
                        (Err(_), _) => e.push_at(k, "expected an HTTP header name"),
                        (_, Err(msg)) => e.push_at(k, msg),
                    }
                }
            });
            let body = r
                .body
                .as_deref()
                .and_then(|b| match ContextTemplate::compile(b) {
                    Ok(t) => Some(t),
                    Err(msg) => {
                        e.push_at("body", msg);
                        None
                    }
                });
            explicit[t.index()] = Some(Arc::new(ResponseOverride {
                status,
                headers,
                body,
            }));
        })
    }
    let d4 = explicit[ResponseType::Default4xx.index()].clone();
    let d5 = explicit[ResponseType::Default5xx.index()].clone();
    let mut out = GatewayResponses::default();
    for t in ResponseType::ALL {
        out.by_type[t.index()] = explicit[t.index()].clone().or_else(|| {
            if t.is_client_error() {
                d4.clone()
            } else {
                d5.clone()
            }
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(yaml: &str) -> Vec<String> {
        let reg = Registry::default();
        let plugins = crate::plugin::PluginHost::new(None).unwrap();
        let env = CompileEnv {
            metrics: &reg,
            plugins: &plugins,
        };
        match crate::config::load_str(yaml, Path::new("g.yaml"), env) {
            Ok(_) => vec![],
            Err(e) => e.to_string().lines().map(str::to_owned).collect(),
        }
    }

    const BASE: &str = "version: 1\nlisteners: [{address: '127.0.0.1:0'}]\n";

    #[test]
    fn a_minimal_config_compiles() {
        let yaml = format!("{BASE}apis:\n- name: a\n  stages: {{prod: {{}}}}\n  resources:\n    /:\n      GET: {{integration: {{type: mock}}}}\n");
        assert_eq!(errors(&yaml), Vec::<String>::new());
    }

    #[test]
    fn every_error_is_reported_with_its_path() {
        let yaml = "version: 2
listeners: [{address: nope}]
apis:
- name: a
  stages: {prod: {variables: {}}}
  resources:
    /pets/{id}:
      FETCH: {integration: {type: mock}}
      GET: {integration: {type: http_proxy, uri: 'http://${stageVariables.b}/{x}', timeout: 10ms}}
";
        let errs = errors(yaml);
        assert_eq!(
            errs,
            vec![
                "g.yaml: version: expected 1, found 2",
                "g.yaml: listeners[0].address: expected IP:PORT such as 127.0.0.1:8080 or [::1]:8080, found `nope`",
                "g.yaml: apis[0].resources[\"/pets/{id}\"].FETCH: expected a method GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS or ANY, found `FETCH`",
                "g.yaml: apis[0].resources[\"/pets/{id}\"].GET.integration.uri: in stage `prod`: stage variable `b` is not defined",
                "g.yaml: apis[0].resources[\"/pets/{id}\"].GET.integration.timeout: expected a duration from 50ms to 300s, found `10ms`",
            ],
            "{errs:#?}"
        );
    }

    #[test]
    fn schema_errors_name_the_field() {
        let errs = errors(&format!("{BASE}apis:\n- name: a\n  stagez: {{}}\n"));
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("g.yaml: apis[0]"), "{errs:?}");
        assert!(errs[0].contains("unknown field `stagez`"), "{errs:?}");
    }
}
