//! The JSON the admin console reads, under `/console/api/`, behind the admin token:
//!
//! - `GET /console/api/session`: what the caller's token may do (`full` or `read-only`);
//! - `GET /console/api/config`: the served config as a tree: APIs, their stages (variables,
//!   throttle, cache, where they are served), resources and methods (authorizer, API key,
//!   throttle, cache, validation, mappers, integration), usage plans and gateway limits;
//! - `GET /console/api/plugins`: each loaded plugin, its world, digest, limits, instance
//!   policy and the methods and authorizers that use it;
//! - `GET /console/api/reloads`: the last loads of the config and the errors of refused ones;
//! - `GET /console/api/live`: what the metrics do not say: the WebSocket sessions and
//!   pass-through tunnels open on this node;
//! - `POST /console/api/test-invoke`: runs a request through the pipeline ([`invoke`]).

mod invoke;

use super::console::{access_of, Tokens};
use super::json;
use crate::auth::authorize::{AuthorizerBinding, Decider};
use crate::body::Body;
use crate::config::reload::Reloader;
use crate::integration::Integration;
use crate::plugin::{Instances, Plugin};
use crate::runtime::{Api, MethodEntry, Runtime};
use crate::shared::Shared;
use crate::stage::throttle::Bucket;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{json, Value};
use std::sync::Arc;

/// Answers a request under `/console/api/`.
pub(super) async fn route(
    shared: &Arc<Shared>,
    reloader: &Reloader,
    tokens: Option<&Tokens>,
    req: Request<Incoming>,
) -> Response<Body> {
    let path = req.uri().path().trim_start_matches("/console/api");
    let ok = |v: Value| json(StatusCode::OK, v.to_string());
    match (req.method(), path) {
        (&Method::GET, "/session") => {
            ok(json!({ "access": access_of(tokens, req.headers()).name() }))
        }
        (&Method::GET, "/config") => ok(config_tree(&shared.runtime.load())),
        (&Method::GET, "/plugins") => ok(plugins(&shared.runtime.load())),
        (&Method::GET, "/reloads") => ok(json!({ "items": reloader.history() })),
        (&Method::GET, "/live") => ok(json!({ "websocketSessions": shared.websockets.running() })),
        (&Method::POST, "/test-invoke") => invoke::test_invoke(shared, req.into_body()).await,
        _ => json(
            StatusCode::NOT_FOUND,
            r#"{"message":"Not Found"}"#.to_owned(),
        ),
    }
}

fn bucket(b: Option<&Bucket>) -> Value {
    b.map_or(
        Value::Null,
        |b| json!({ "rate": b.settings.rate, "burst": b.settings.burst }),
    )
}

/// The config the gateway serves now, from its compiled form.
fn config_tree(rt: &Runtime) -> Value {
    let apis: Vec<Value> = rt
        .apis
        .iter()
        .enumerate()
        .map(|(i, a)| api(rt, i, a))
        .collect();
    let mut plans: Vec<Value> = rt
        .usage_plans
        .values()
        .map(|p| {
            json!({
                "name": p.name,
                "stages": p.stages.iter().map(|(a, s)| format!("{a}/{s}")).collect::<Vec<_>>(),
                "throttle": p.throttle.map(|t| json!({ "rate": t.rate, "burst": t.burst })),
                "quota": p.quota.map(|q| json!({
                    "limit": q.limit,
                    "period": format!("{:?}", q.period).to_uppercase(),
                })),
            })
        })
        .collect();
    plans.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    json!({
        "apis": apis,
        "usagePlans": plans,
        "limits": {
            "accountThrottle": bucket(Some(&rt.account_throttle)),
            "maxBodyBytes": rt.max_body_bytes,
            "requestTimeoutMs": rt.request_timeout.as_millis() as u64,
            "clientBodyTimeoutMs": rt.client_body_timeout.as_millis() as u64,
        },
    })
}

/// Where a stage is served: `[host]/prefix[/stage]`, from the first mount that serves it.
fn base_path(rt: &Runtime, api: usize, stage: usize, name: &str) -> (Option<String>, String) {
    let mount = rt
        .mounts
        .iter()
        .find(|m| m.api == api && m.stage.is_none_or(|s| s == stage));
    match mount {
        Some(m) => {
            let path = match m.stage {
                Some(_) => m.prefix.to_string(),
                None => format!("{}/{name}", m.prefix),
            };
            (m.host.as_deref().map(str::to_owned), path)
        }
        None => (None, format!("/{name}")),
    }
}

fn api(rt: &Runtime, index: usize, a: &Api) -> Value {
    let stages: Vec<Value> = a
        .stages
        .iter()
        .enumerate()
        .map(|(si, s)| {
            let (host, base) = base_path(rt, index, si, &s.name);
            json!({
                "name": stage_label(s),
                "canaryPercent": s.canary.map(|c| f64::from(c.per_million) / 10_000.0),
                "host": host,
                "basePath": base,
                "variables": s.variables.iter().map(|(k, v)| (k.to_string(), Value::from(&**v))).collect::<serde_json::Map<_, _>>(),
                "throttle": bucket(s.throttle.as_ref()),
                "cache": s.cache.as_ref().map(|c| json!({
                    "ttlSeconds": c.default_ttl.as_secs(),
                    "maxEntryBytes": c.max_entry_bytes,
                })),
            })
        })
        .collect();
    let resources: Vec<Value> = a
        .resources
        .iter()
        .map(|r| {
            json!({
                "path": &*r.path,
                "methods": r.methods.iter().map(|m| method(a, &r.param_names, m)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let routes: Vec<String> = a.websocket.as_ref().map_or_else(Vec::new, |ws| {
        let mut keys: Vec<String> = [&ws.connect, &ws.disconnect, &ws.default]
            .into_iter()
            .flatten()
            .map(|r| r.key.to_string())
            .chain(ws.routes.keys().map(|k| k.to_string()))
            .collect();
        keys.sort();
        keys
    });
    json!({
        "name": &*a.name,
        "protocol": if a.websocket.is_some() { "websocket" } else { "rest" },
        "apiKeySource": format!("{:?}", a.api_key_source).to_uppercase(),
        "resourcePolicy": a.policy.as_ref().map(|p| json!({
            "allowNetworks": p.allow.len(),
            "denyNetworks": p.deny.len(),
        })),
        "cors": a.cors.is_some(),
        "stages": stages,
        "resources": resources,
        "routes": routes,
    })
}

fn authorizer(b: &AuthorizerBinding) -> Value {
    let kind = match &b.decider {
        Decider::Plugin(p) => format!("plugin {}", p.name),
        Decider::Jwt(_) => "jwt".to_owned(),
        Decider::Lambda(_) => "lambda".to_owned(),
    };
    json!({ "name": b.name, "type": kind })
}

fn method(api: &Api, params: &[Box<str>], m: &MethodEntry) -> Value {
    let mapper = |p: &Option<Arc<Plugin>>| p.as_ref().map(|p| p.name.to_string());
    json!({
        "method": crate::runtime::MethodKey::NAMES[m.key as usize],
        "authorizer": m.authorizer.as_deref().map(authorizer),
        "authorizationScopes": m.authorization_scopes,
        "iam": m.iam,
        "apiKeyRequired": m.api_key_required,
        "validation": m.validation.is_some(),
        "throttle": m.throttle.as_ref().map(|b| b.iter().map(|b| bucket(Some(b))).collect::<Vec<_>>()),
        "cache": m.cache.as_ref().map(|c| json!({
            "ttlSeconds": c.ttl.map(|t| t.as_secs()),
            "allMethods": c.all_methods,
            "keyParams": c.key_params.len(),
        })),
        "requestMapper": mapper(&m.request_mapper),
        "responseMapper": mapper(&m.response_mapper),
        "integration": integration(api, params, &m.integration),
    })
}

/// A stage's name, or `STAGE/Canary` for a stage's canary (as metrics label it).
fn stage_label(s: &crate::runtime::Stage) -> String {
    match s.canary_of {
        Some(_) => format!("{}/Canary", s.name),
        None => s.name.to_string(),
    }
}

/// The integration's type and, per stage, its target with `{param}`s left in.
pub(super) fn integration(api: &Api, params: &[Box<str>], i: &Integration) -> Value {
    let braced: Vec<String> = params.iter().map(|p| format!("{{{p}}}")).collect();
    let per_stage = |uris: &[crate::integration::http_proxy::UriTemplate]| -> Value {
        uris.iter()
            .zip(&api.stages)
            .map(|(u, s)| {
                let uri = u.render(|i| braced.get(i).map(String::as_str), None);
                (stage_label(s), Value::from(uri))
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let method = |m: &Option<Method>| m.as_ref().map(|m| m.to_string());
    match i {
        Integration::HttpProxy(p) => json!({
            "type": "http_proxy", "uris": per_stage(&p.uris), "method": method(&p.method),
            "timeoutMs": p.timeout.as_millis() as u64,
        }),
        Integration::Http(h) => json!({
            "type": "http", "uris": per_stage(&h.uris), "method": method(&h.method),
            "timeoutMs": h.timeout.as_millis() as u64,
        }),
        Integration::Lambda(l) => json!({
            "type": "lambda",
            "uris": l.invoke_uris.iter().zip(&api.stages)
                .map(|(u, s)| (stage_label(s), Value::from(u.to_string())))
                .collect::<serde_json::Map<_, _>>(),
            "timeoutMs": l.timeout.as_millis() as u64,
        }),
        Integration::MappedMock(_) => json!({ "type": "mock", "mapped": true }),
        Integration::Mock(m) => json!({ "type": "mock", "status": m.status.as_u16() }),
        Integration::Wasm(p) => json!({ "type": "plugin", "plugin": &*p.name }),
    }
}

/// Every plugin the served config uses, once, with what uses it.
fn plugins(rt: &Runtime) -> Value {
    let mut found: Vec<(Arc<Plugin>, Vec<String>)> = Vec::new();
    let mut note =
        |p: &Arc<Plugin>, use_: String| match found.iter_mut().find(|(q, _)| Arc::ptr_eq(q, p)) {
            Some((_, uses)) => uses.push(use_),
            None => found.push((p.clone(), vec![use_])),
        };
    for a in &rt.apis {
        for r in &a.resources {
            for m in &r.methods {
                let at = format!(
                    "{} {} {}",
                    a.name,
                    crate::runtime::MethodKey::NAMES[m.key as usize],
                    r.path
                );
                if let Some(Decider::Plugin(p)) = m.authorizer.as_ref().map(|b| &b.decider) {
                    note(p, format!("{at}: authorizer"));
                }
                if let Some(p) = &m.request_mapper {
                    note(p, format!("{at}: request mapper"));
                }
                if let Some(p) = &m.response_mapper {
                    note(p, format!("{at}: response mapper"));
                }
                if let Integration::Wasm(p) = &m.integration {
                    note(p, format!("{at}: integration"));
                }
            }
        }
        if let Some(ws) = &a.websocket {
            let routes = [&ws.connect, &ws.disconnect, &ws.default]
                .into_iter()
                .flatten()
                .chain(ws.routes.values());
            for r in routes {
                if let Some(Decider::Plugin(p)) = r.authorizer.as_ref().map(|b| &b.decider) {
                    note(p, format!("{} {}: authorizer", a.name, r.key));
                }
                if let crate::websocket::RouteIntegration::Wasm(p) = &r.integration {
                    note(p, format!("{} {}: integration", a.name, r.key));
                }
            }
        }
    }
    let items: Vec<Value> = found
        .into_iter()
        .map(|(p, uses)| {
            let instances = match p.settings.instances {
                Instances::Fresh => json!({ "policy": "fresh" }),
                Instances::Reuse {
                    max_calls,
                    max_idle,
                } => json!({
                    "policy": "reuse", "maxCalls": max_calls, "maxIdleMs": max_idle.as_millis() as u64,
                }),
            };
            let (calls, failures) = p.call_counts();
            json!({
                "name": &*p.name,
                "world": p.kind.name(),
                "digest": p.digest,
                "calls": calls,
                "failures": failures,
                "timeoutMs": p.settings.timeout.as_millis() as u64,
                "fuel": p.settings.fuel,
                "memoryBytes": p.settings.memory_bytes,
                "outboundHttp": p.settings.http.is_some(),
                "instances": instances,
                "usedBy": uses,
            })
        })
        .collect();
    json!({ "items": items })
}
