//! Validates a [`RawConfig`] and builds the [`Runtime`] and the server settings.
//!
//! This walks the config and hands each part to the module that runs it: `settings`
//! (listeners, admin, limits), `plugin::compile` (plugins), `config::api` (each API, which
//! calls the stages, integrations and WebSocket routes in turn) and `pipeline::api_key` (usage
//! plans and keys). Every check records its error with the path of the field and carries on,
//! so one run reports everything wrong with a file.

use super::raw::*;
use super::{CompileEnv, Loaded};
use crate::context_template::ContextTemplate;
use crate::metrics::RouteKey;
use crate::plugin::compile::Plugins;
use crate::runtime::*;
use crate::stage::throttle::ThrottleSettings;
use gatehouse_config::{duration, ConfigErrors, Errors};
use http::HeaderName;
use std::collections::HashSet;
use std::path::Path;

pub const DEFAULT_ACCESS_LOG_FORMAT: &str = r#"{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","requestTime":"$context.requestTime","httpMethod":"$context.httpMethod","resourcePath":"$context.resourcePath","path":"$context.path","status":"$context.status","protocol":"$context.protocol","responseLatency":"$context.responseLatency","integrationLatency":"$context.integrationLatency","responseLength":"$context.responseLength","stage":"$context.stage","apiId":"$context.apiId"}"#;

/// Compiles a parsed config. `file` is used in error messages and to resolve relative paths.
pub fn compile(
    mut raw: RawConfig,
    file: &Path,
    env: CompileEnv<'_>,
) -> Result<Loaded, ConfigErrors> {
    let fingerprint = format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
        raw.listeners,
        raw.admin,
        raw.limits,
        raw.shutdown,
        raw.access_log.destination,
        raw.state,
        raw.upstream,
        raw.tracing
    );
    let dir = file.parent().unwrap_or(Path::new("."));
    let mut e = Errors::default();
    if raw.version != 1 {
        e.push_at("version", format!("expected 1, found {}", raw.version));
    }
    let settings = crate::settings::compile(&raw, dir, &mut e);
    let (plugins, mut watch_paths) = e.at("plugins", |e| {
        crate::plugin::compile::plugins(&raw.plugins, dir, env.plugins, e)
    });
    let mut warnings = Vec::new();
    e.at("apis", |e| {
        for (i, a) in raw.apis.iter_mut().enumerate() {
            e.index(i, |e| {
                if let Some(path) = super::import::import_openapi(a, dir, &mut warnings, e) {
                    watch_paths.push(path);
                }
            })
        }
    });
    let runtime = runtime(&raw, dir, &env, &plugins, &mut e);
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

fn runtime(
    raw: &RawConfig,
    dir: &Path,
    env: &CompileEnv<'_>,
    plugins: &Plugins,
    e: &mut Errors,
) -> Runtime {
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
    let client_body_timeout = e.at("limits", |e| {
        duration(
            e,
            "client_body_timeout",
            raw.limits.client_body_timeout.as_deref(),
            10_000,
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
                let api = super::api::api(a, dir, apis.len(), env, plugins, &mut mounts, e);
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
    let usage_plans = e.at("usage_plans", |e| {
        crate::pipeline::api_key::usage_plans(&raw.usage_plans, &apis, e)
    });
    let config_keys = e.at("api_keys", |e| {
        crate::pipeline::api_key::api_keys(&raw.api_keys, &usage_plans, e)
    });
    Runtime {
        usage_plans,
        config_keys,
        has_websocket_apis: apis.iter().any(|a| a.websocket.is_some()),
        has_cors: apis.iter().any(|a| a.cors.is_some()),
        keeps_header_case: keeps_header_case(&apis),
        apis,
        mounts,
        request_id_header,
        access_log,
        default_responses: GatewayResponses::default(),
        max_body_bytes,
        request_timeout,
        client_body_timeout,
        config_iam: e.at("iam", |e| crate::auth::sigv4::compile(&raw.iam, e)),
        account_throttle: crate::stage::throttle::bucket(
            env.leases,
            "account".into(),
            raw.throttle
                .and_then(|t| e.at("throttle", |e| crate::stage::throttle::compile(t, e)))
                .unwrap_or(ThrottleSettings::ACCOUNT_DEFAULT),
        ),
        unmatched_metrics: env.metrics.route(RouteKey {
            api: "-".into(),
            stage: "-".into(),
            resource: "-".into(),
            method: "-".into(),
        }),
    }
}

/// Whether any API sends an event with headers named as the client wrote them
/// ([`Runtime::keeps_header_case`]).
fn keeps_header_case(apis: &[Api]) -> bool {
    use crate::auth::authorize::Decider;
    use crate::integration::lambda::PayloadFormat;
    use crate::integration::Integration;
    let mut methods = apis
        .iter()
        .flat_map(|a| a.resources.iter().flat_map(|r| r.methods.iter()));
    apis.iter().any(|a| a.websocket.is_some())
        || methods.any(|m| {
            matches!(&m.integration, Integration::Lambda(l) if l.format == PayloadFormat::V1)
                || m.authorizer.as_ref().is_some_and(
                    |b| matches!(&b.decider, Decider::Lambda(l) if l.format == PayloadFormat::V1),
                )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Registry;

    fn errors(yaml: &str) -> Vec<String> {
        let reg = Registry::default();
        let plugins = crate::plugin::PluginHost::new(None).unwrap();
        let env = CompileEnv {
            metrics: &reg,
            plugins: &plugins,
            leases: None,
            shared_cache: None,
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
