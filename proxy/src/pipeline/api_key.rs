//! API keys and usage plans: for a method with `api_key_required`, the request's key must be
//! known, enabled and in a usage plan covering the API stage; then the plan's per-key throttle
//! and quota apply.
//!
//! Reads the key from `x-api-key` (API key source HEADER) or from the authorizer's usage
//! identifier (AUTHORIZER). A missing, unknown or disabled key, or one of no plan for the
//! stage, is 403 `{"message":"Forbidden"}` (INVALID_API_KEY) as in API Gateway; the per-key
//! throttle is 429 `Too Many Requests`; a used-up quota is 429 `Limit Exceeded`.

use crate::ctx::RequestCtx;
use crate::error::{Rejection, ResponseType};
use crate::runtime::{Api, ApiKeySource, Runtime, Stage};
use crate::stage::throttle::throttled;
use crate::state::keys::{validate_value, ConfigKey, Period, QuotaSettings};
use crate::state::keys::{ApiKeys, QuotaError, UsagePlan};
use gatehouse_config::raw::{RawApiKey, RawUsagePlan};
use gatehouse_config::Errors;
use http::HeaderMap;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The plan and key a request was admitted under.
#[derive(Debug)]
pub struct Admitted {
    pub plan: Arc<UsagePlan>,
    pub key_id: String,
    /// The key's value, as the request gave it.
    pub key: Box<str>,
}

/// Finds the request's key and the usage plan it uses on this stage.
pub fn identify(
    keys: &ApiKeys,
    rt: &Runtime,
    api: &Api,
    stage: &Stage,
    ctx: &RequestCtx,
    headers: &HeaderMap,
) -> Result<Admitted, Rejection> {
    let forbidden = |why: &'static str| Rejection::new(ResponseType::InvalidApiKey, why);
    let value = match api.api_key_source {
        ApiKeySource::Header => headers.get("x-api-key").and_then(|v| v.to_str().ok()),
        ApiKeySource::Authorizer => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.usage_identifier_key.as_deref()),
    };
    let value = value.ok_or_else(|| forbidden("no API key"))?;
    let key = keys
        .lookup(value)
        .ok_or_else(|| forbidden("unknown API key"))?;
    if !key.enabled {
        return Err(forbidden("disabled API key"));
    }
    let plan = key
        .plans
        .iter()
        .filter_map(|p| rt.usage_plans.get(p))
        .find(|p| p.covers(&api.name, &stage.name))
        .ok_or_else(|| forbidden("API key in no usage plan of this stage"))?;
    Ok(Admitted {
        plan: plan.clone(),
        key_id: key.id.clone(),
        key: value.into(),
    })
}

/// Applies the plan's per-key throttle, then counts the request against its quota: in the
/// shared store when it counts (one round trip, bounded by its timeout), else in memory, the
/// first request of a quota window in this process reading the stored count on a blocking
/// thread.
pub async fn limit(keys: &ApiKeys, admitted: &Admitted) -> Result<(), Rejection> {
    let plan = &admitted.plan;
    if let Some(t) = plan.throttle {
        keys.bucket(&plan.name, &admitted.key_id, t)
            .take()
            .map_err(|wait| throttled(wait, "API key"))?;
    }
    if let Some(q) = &plan.quota {
        // A shared store (Redis) counts each request itself, exactly over every node.
        if let Some(taken) = keys
            .take_quota_shared(&plan.name, &admitted.key_id, q)
            .await
        {
            return taken.map_err(quota_rejection);
        }
        if let Some((window, store)) = keys.quota_to_load(&plan.name, &admitted.key_id, q) {
            let read = tokio::task::spawn_blocking(move || {
                store.quota_count(&window).map(|n| (window, n))
            })
            .await;
            match read {
                Ok(Ok((window, stored))) => keys.seed_quota(window, stored),
                Ok(Err(e)) => return Err(store_error(e.to_string())),
                Err(e) => return Err(store_error(e.to_string())),
            }
        }
        keys.take_quota(&plan.name, &admitted.key_id, q)
            .map_err(quota_rejection)?;
    }
    Ok(())
}

fn quota_rejection(e: QuotaError) -> Rejection {
    match e {
        QuotaError::Exceeded => {
            Rejection::new(ResponseType::QuotaExceeded, "usage plan quota used up")
        }
        QuotaError::Store(msg) => store_error(msg),
    }
}

/// The quota count cannot be read or counted (the state store fails, or Redis does not answer
/// and `on_unavailable` is `fail_closed`): 503, a condition that passes.
fn store_error(msg: String) -> Rejection {
    Rejection::new(
        ResponseType::Default5xx,
        format!("cannot read the quota count: {msg}"),
    )
    .with_status(http::StatusCode::SERVICE_UNAVAILABLE)
    .with_message("Service Unavailable")
}

pub fn usage_plans(
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
                .and_then(|t| e.at("throttle", |e| crate::stage::throttle::compile(t, e)));
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

pub fn api_keys(
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
