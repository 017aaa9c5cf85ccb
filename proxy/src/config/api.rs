//! One API of the config: its stages, resources and methods, each part compiled by the
//! module that runs it.

use crate::integration::StageView;
use crate::metrics::RouteKey;
use crate::plugin::compile::{plugin_ref, Plugins};
use crate::plugin::PluginKind;
use crate::router::{parse_resource_path, Segment, TreeBuilder};
use crate::runtime::*;
use crate::stage::cache::MethodCache;
use crate::stage::throttle::{bucket, Bucket};
use gatehouse_config::raw::*;
use gatehouse_config::Errors;
use gatehouse_state::redis_cache::space_name;

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

pub fn api(
    a: &RawApi,
    dir: &std::path::Path,
    index: usize,
    env: &crate::config::CompileEnv<'_>,
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
    // (stage index, share per million, variable overrides, use_stage_cache)
    let mut canaries = Vec::new();
    e.at("stages", |e| {
        for (name, s) in &a.stages {
            e.at(name, |e| {
                e.check_name("stage", name);
                let variables = e.at("variables", |e| stage_variables(&s.variables, e));
                if let Some(c) = &s.canary {
                    e.at("canary", |e| {
                        if a.protocol.as_deref() == Some("websocket") {
                            e.push("a WebSocket API's stage has no canary (as in API Gateway)");
                        }
                        if !(0.0..=100.0).contains(&c.percent) {
                            e.push_at(
                                "percent",
                                format!("expected a share from 0 to 100, found {}", c.percent),
                            );
                        }
                        let overrides = e.at("variables", |e| stage_variables(&c.variables, e));
                        let per_million = (c.percent.clamp(0.0, 100.0) * 10_000.0).round() as u32;
                        canaries.push((stages.len(), per_million, overrides, c.use_stage_cache));
                    });
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
                    .and_then(|t| e.at("throttle", |e| crate::stage::throttle::compile(t, e)))
                    .map(|t| bucket(env.leases, format!("stage:{}/{name}", a.name), t));
                let cache = s.cache.as_ref().map(|c| {
                    let shared = env.shared_cache.filter(|_| c.shared).map(|cache| {
                        // Keyed by the API's settings: a node serving another version of
                        // them shares none of its entries.
                        let owner = format!("{}/{name}", a.name);
                        let space = space_name("stage", &owner, &format!("{a:?}"));
                        crate::stage::cache::shared::SharedTier::new(cache, space)
                    });
                    e.at("cache", |e| {
                        crate::stage::cache::compile_stage(c, shared, e)
                    })
                });
                stages.push(Stage {
                    name: name.as_str().into(),
                    variables,
                    throttle,
                    cache,
                    canary: None,
                    canary_of: None,
                    execution_log: s
                        .execution_log
                        .as_ref()
                        .and_then(|l| e.at("execution_log", |e| execution_log(l, e))),
                });
            })
        }
    });
    // Canaries are stage entries after the API's own (mounts name only those), with the
    // stage's variables under the canary's overrides, and its cache only when the canary uses
    // it; they take the stage's throttles (`Api::limits_of`).
    for (of, per_million, overrides, use_stage_cache) in canaries {
        let parent = &stages[of];
        let mut variables = parent.variables.clone();
        for (k, v) in overrides {
            match variables.iter_mut().find(|(name, _)| *name == k) {
                Some(slot) => slot.1 = v,
                None => variables.push((k, v)),
            }
        }
        let canary = Stage {
            name: parent.name.clone(),
            variables,
            throttle: None,
            cache: parent.cache.clone().filter(|_| use_stage_cache),
            canary: None,
            canary_of: Some(of),
            execution_log: parent.execution_log,
        };
        stages[of].canary = Some(Canary {
            per_million,
            stage: stages.len(),
        });
        stages.push(canary);
    }
    let views: Vec<StageView<'_>> = stages.iter().map(Stage::view).collect();
    if let (true, Some(prefix)) = (path_stage, prefix) {
        mounts.push(Mount {
            host: host.clone(),
            prefix,
            api: index,
            stage: None,
        });
    }
    let responses = e.at("gateway_responses", |e| {
        crate::gateway_responses::compile(&a.gateway_responses, e)
    });
    let authorizers = e.at("authorizers", |e| {
        let shared = env.shared_cache.map(|c| (c, a.name.as_str()));
        crate::auth::authorizers::compile(&a.authorizers, plugins, dir, shared, e)
    });
    let models = e.at("models", |e| crate::stage::validate::models(&a.models, e));

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
    let mut tree = TreeBuilder::default();
    let mut resources: Vec<Resource> = Vec::with_capacity(a.resources.len());
    e.at("resources", |e| {
        for (path, methods) in &a.resources {
            e.at(path, |e| {
                let param_names: Box<[Box<str>]> = match parse_resource_path(path) {
                    Ok(segments) => {
                        let names = segments
                            .iter()
                            .filter_map(|s| match s {
                                Segment::Param(n) | Segment::Greedy(n) => Some(n.as_str().into()),
                                Segment::Literal(_) => None,
                            })
                            .collect();
                        if let Err(other) = tree.add(segments, resources.len()) {
                            e.push(format!("the same resource as `{}` (parameter names do not make resources different)", resources[other].path));
                            return;
                        }
                        names
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
                        let iam = match raw_method.authorization_type.as_deref() {
                            None | Some("NONE") => false,
                            Some("AWS_IAM") => {
                                if raw_method.authorizer.is_some() {
                                    e.push_at("authorization_type", "a method is authorized by IAM or by an authorizer, not both");
                                }
                                true
                            }
                            Some(other) => {
                                e.push_at("authorization_type", format!("expected NONE or AWS_IAM, found `{other}`"));
                                false
                            }
                        };
                        let request_mapper = raw_method
                            .request_mapper
                            .as_ref()
                            .and_then(|n| e.at("request_mapper", |e| plugin_ref(plugins, n, PluginKind::Mapper, e)));
                        let response_mapper = raw_method
                            .response_mapper
                            .as_ref()
                            .and_then(|n| e.at("response_mapper", |e| plugin_ref(plugins, n, PluginKind::Mapper, e)));
                        let validation = crate::stage::validate::compile(a, raw_method, &models, &resource.param_names, e);
                        let method_throttle = raw_method.throttle.and_then(|t| e.at("throttle", |e| crate::stage::throttle::compile(t, e))).map(|t| {
                            // A canary's entry is never used: it takes its stage's (`Api::limits_of`).
                            stages.iter().map(|s| bucket(env.leases, format!("method:{}/{} {m} {path}", a.name, s.name), t)).collect::<Box<[Bucket]>>()
                        });
                        let cache = raw_method
                            .cache
                            .as_ref()
                            .map_or(Some(MethodCache { ttl: None, key_params: Vec::new(), all_methods: false }), |c| {
                                e.at("cache", |e| crate::stage::cache::compile_method(c, e))
                            });
                        let integration = e.at("integration", |e| {
                            crate::integration::compile(&raw_method.integration, &resource.param_names, &views, plugins, &binary_media_types, e)
                        });
                        let Some(integration) = integration else { return };
                        let metrics = stages
                            .iter()
                            .map(|s| {
                                env.metrics.route(RouteKey {
                                    api: a.name.clone(),
                                    // A canary's requests count under `STAGE/Canary`.
                                    stage: match s.canary_of {
                                        Some(_) => format!("{}/Canary", s.name),
                                        None => s.name.to_string(),
                                    },
                                    resource: path.clone(),
                                    method: m.clone(),
                                })
                            })
                            .collect();
                        resource.by_method[key as usize] = Some(resource.methods.len() as u16);
                        resource.methods.push(MethodEntry {
                            key,
                            authorizer,
                            authorization_scopes: raw_method.authorization_scopes.clone().into_boxed_slice(),
                            iam,
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
            Some(Box::new(crate::websocket::compile(
                a,
                &authorizers,
                &views,
                plugins,
                env.metrics,
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
    let cors = a
        .cors
        .as_ref()
        .and_then(|c| e.at("cors", |e| crate::stage::cors::compile(c, e)));
    let policy = a
        .resource_policy
        .as_ref()
        .map(|p| e.at("resource_policy", |e| crate::stage::policy::compile(p, e)));
    Api {
        name: a.name.as_str().into(),
        api_key_source,
        stages,
        resources,
        tree: tree.build(),
        responses,
        websocket,
        cors,
        policy,
    }
}

fn loose_param_names(path: &str) -> Box<[Box<str>]> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|n| n.trim_end_matches('+').into())
        .collect()
}

/// A stage's (or a canary's) `variables`, checked.
fn stage_variables(
    raw: &indexmap::IndexMap<String, String>,
    e: &mut Errors,
) -> Vec<(Box<str>, Box<str>)> {
    let mut variables = Vec::with_capacity(raw.len());
    for (k, v) in raw {
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            e.push_at(k, "expected a variable name of letters, digits or `_`");
        }
        if v.chars().any(char::is_control) {
            e.push_at(
                k,
                "a stage variable value cannot contain control characters",
            );
        }
        variables.push((k.as_str().into(), v.as_str().into()));
    }
    variables
}

/// A stage's `execution_log`: `None` when its level is `off`.
fn execution_log(
    raw: &RawStageExecutionLog,
    e: &mut Errors,
) -> Option<crate::ctx::ExecLogSettings> {
    let errors_only = match raw.level.as_deref().unwrap_or("info") {
        "info" => false,
        "error" => true,
        "off" => return None,
        other => {
            e.push_at(
                "level",
                format!("expected info, error or off, found `{other}`"),
            );
            return None;
        }
    };
    Some(crate::ctx::ExecLogSettings {
        errors_only,
        data_trace: raw.data_trace,
    })
}
