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
use crate::state::keys::{ApiKeys, QuotaError, UsagePlan};
use http::HeaderMap;
use std::sync::Arc;

/// The plan and key a request was admitted under.
#[derive(Debug)]
pub struct Admitted {
    pub plan: Arc<UsagePlan>,
    pub key_id: String,
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
    })
}

/// Applies the plan's per-key throttle, then counts the request against its quota.
pub fn limit(keys: &ApiKeys, admitted: &Admitted) -> Result<(), Rejection> {
    let plan = &admitted.plan;
    if let Some(t) = plan.throttle {
        keys.bucket(&plan.name, &admitted.key_id, t)
            .take()
            .map_err(|wait| throttled(wait, "API key"))?;
    }
    if let Some(q) = &plan.quota {
        match keys.take_quota(&plan.name, &admitted.key_id, q) {
            Ok(()) => {}
            Err(QuotaError::Exceeded) => {
                return Err(Rejection::new(
                    ResponseType::QuotaExceeded,
                    "usage plan quota used up",
                ))
            }
            Err(QuotaError::Store(msg)) => {
                return Err(Rejection::new(
                    ResponseType::ApiConfigurationError,
                    format!("cannot read the quota count: {msg}"),
                ))
            }
        }
    }
    Ok(())
}
