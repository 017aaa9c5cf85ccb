//! `/usage`: usage reports by day (UTC).
//!
//! - `GET /usage?start=YYYY-MM-DD&end=YYYY-MM-DD` → `{"start", "end", "stages": [...],
//!   "plans": [...]}`: every stage's billable counts per day and every usage plan's report;
//! - `GET /usage/plans/{plan}?start=...&end=...&keyId=...` → that plan's report, as API
//!   Gateway's `GetUsage` (`items`: key id → `[[used, remaining], ...]`).
//!
//! Both default to today; a range is at most [`crate::usage::MAX_DAYS`] days.

use super::{blocking, json};
use crate::shared::Shared;
use crate::usage;
use http::{Response, StatusCode};
use std::sync::Arc;

/// Answers a `GET /usage` route.
pub(super) async fn route(
    shared: &Arc<Shared>,
    path: &str,
    query: Option<&str>,
) -> Response<crate::body::Body> {
    let param = |name: &str| {
        query.and_then(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| {
                    percent_encoding::percent_decode_str(v)
                        .decode_utf8_lossy()
                        .into_owned()
                })
        })
    };
    let date = |name: &str| match param(name) {
        None => Ok(usage::today()),
        Some(v) => usage::parse_date(&v)
            .ok_or_else(|| format!("expected `{name}` as YYYY-MM-DD, found `{v}`")),
    };
    let days = match date("start")
        .and_then(|s| date("end").map(|e| (s, e)))
        .and_then(|(s, e)| usage::days(s, e))
    {
        Ok(d) => d,
        Err(msg) => return super::bad_request(&msg),
    };
    let plan = match path.strip_prefix("/usage/plans/") {
        Some(p) if !p.is_empty() && !p.contains('/') => Some(p.to_owned()),
        Some(_) => return not_found("expected /usage/plans/{plan}"),
        None if path == "/usage" => None,
        None => return not_found("expected /usage or /usage/plans/{plan}"),
    };
    let key_id = param("keyId");
    let rt = shared.runtime.load_full();
    let report = blocking(shared, move |s| {
        // This node's latest counts first, so the report includes them.
        s.flush_counts()?;
        let store = s.keys.store();
        match plan {
            Some(plan) => usage::plan_report(&rt, store, &plan, key_id.as_deref(), &days),
            None => {
                let mut plans = Vec::new();
                let mut names: Vec<&String> = rt.usage_plans.keys().collect();
                names.sort();
                for name in names {
                    if let Some(r) = usage::plan_report(&rt, store, name, None, &days)? {
                        plans.push(r);
                    }
                }
                Ok(Some(serde_json::json!({
                    "start": days.first().map(|d| usage::format_date(*d)),
                    "end": days.last().map(|d| usage::format_date(*d)),
                    "stages": usage::stages_report(&rt, store, &days)?,
                    "plans": plans,
                })))
            }
        }
    })
    .await;
    match report {
        Ok(Some(v)) => json(StatusCode::OK, v.to_string()),
        Ok(None) => not_found("no usage plan of that name in the config"),
        Err(e) => super::store_error(&e),
    }
}

fn not_found(message: &str) -> Response<crate::body::Body> {
    json(
        StatusCode::NOT_FOUND,
        serde_json::json!({ "message": message }).to_string(),
    )
}
