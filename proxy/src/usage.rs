//! Usage reports: what each stage and each API key used, per day (UTC).
//!
//! Stages' counts come from the route and WebSocket metrics: every flush adds what each
//! counted since the last one to the state store under the day of the flush
//! ([`StageUsage::flush`]). Keys' requests are counted when a request is admitted with a key
//! (`state::keys::ApiKeys::count_usage`) and written with the quota counts. A report flushes
//! both, then reads the store, so it includes this node's latest requests; another node's
//! reach the store within its flush interval.

use crate::metrics::Registry;
use crate::runtime::Runtime;
use crate::state::keys::{days_from_civil, window_start, QuotaSettings};
use crate::state::usage::{self, StageCounts, DIMENSIONS};
use crate::state::{QuotaKey, SharedStore, StoreError};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;

const DAY: u64 = 86_400;
/// The longest range a report covers.
pub const MAX_DAYS: u64 = 93;

/// What each metrics source had counted when its usage was last written.
#[derive(Debug, Default)]
pub struct StageUsage {
    written: Mutex<HashMap<String, StageCounts>>,
}

impl StageUsage {
    /// Adds what each route and WebSocket stage counted since the last flush to the store,
    /// under today's date. Blocking: call it off the async workers.
    pub fn flush(&self, metrics: &Registry, store: &SharedStore) -> Result<(), StoreError> {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        let sources = metrics.usage_sources();
        let mut by_stage: HashMap<(String, String), StageCounts> = HashMap::new();
        let mut now = HashMap::with_capacity(sources.len());
        for (source, api, stage, counts) in sources {
            let before = written.get(&source).copied().unwrap_or_default();
            let total = by_stage.entry((api, stage)).or_default();
            for i in 0..DIMENSIONS.len() {
                // A counter below what was written was created anew (a reload dropped it).
                total[i] += counts[i].checked_sub(before[i]).unwrap_or(counts[i]);
            }
            now.insert(source, counts);
        }
        let batch: Vec<(String, String, StageCounts)> = by_stage
            .into_iter()
            .filter(|(_, c)| c.iter().any(|n| *n > 0))
            .map(|((api, stage), c)| (api, stage, c))
            .collect();
        usage::add_stage_counts(&**store, usage::day_start(now_secs()), &batch)?;
        *written = now;
        Ok(())
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A date `YYYY-MM-DD` as the start of its day (seconds since the epoch).
pub fn parse_date(s: &str) -> Option<u64> {
    let mut parts = s.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    if s.len() != 10 || !(1..=12).contains(&m) || !(1..=31).contains(&d) || y < 1970 {
        return None;
    }
    let days = days_from_civil(y, m, d);
    // Reject dates such as 2026-02-30 by formatting back.
    (format_date(days as u64 * DAY) == s).then_some(days as u64 * DAY)
}

/// The date of a day start, `YYYY-MM-DD`.
pub fn format_date(day: u64) -> String {
    crate::context_template::iso8601_millis(day * 1000)[..10].to_owned()
}

/// The days from `start` to `end` (day starts, both included).
pub fn days(start: u64, end: u64) -> Result<Vec<u64>, String> {
    if end < start {
        return Err("expected `end` on or after `start`".into());
    }
    if (end - start) / DAY >= MAX_DAYS {
        return Err(format!("expected a range of at most {MAX_DAYS} days"));
    }
    Ok((start / DAY..=end / DAY).map(|d| d * DAY).collect())
}

/// Today's day start.
pub fn today() -> u64 {
    usage::day_start(now_secs())
}

/// The stages' report: every stage of the config with its counts per day.
pub fn stages_report(rt: &Runtime, store: &SharedStore, days: &[u64]) -> Result<Value, StoreError> {
    let mut out = Vec::new();
    for api in &rt.apis {
        for stage in api.stages.iter().filter(|s| s.canary_of.is_none()) {
            let counts = usage::stage_days(store, &api.name, &stage.name, days)?;
            let days: Vec<Value> = days
                .iter()
                .zip(counts)
                .map(|(day, c)| {
                    let mut d = serde_json::Map::new();
                    d.insert("date".into(), format_date(*day).into());
                    for (name, n) in DIMENSIONS.iter().zip(c) {
                        d.insert((*name).into(), n.into());
                    }
                    Value::Object(d)
                })
                .collect();
            out.push(json!({ "api": &*api.name, "stage": &*stage.name, "days": days }));
        }
    }
    Ok(Value::Array(out))
}

/// One usage plan's report, as API Gateway's `GetUsage`: per key, per day,
/// `[used, remaining]` (remaining: what the quota window holding that day has left, `null`
/// without a quota), plus the same with names.
pub fn plan_report(
    rt: &Runtime,
    store: &SharedStore,
    plan: &str,
    key_id: Option<&str>,
    days: &[u64],
) -> Result<Option<Value>, StoreError> {
    let Some(p) = rt.usage_plans.get(plan) else {
        return Ok(None);
    };
    let mut items = serde_json::Map::new();
    let mut keys = Vec::new();
    for k in store.keys()? {
        if !k.plans.iter().any(|n| n == plan) || key_id.is_some_and(|id| id != k.id) {
            continue;
        }
        let used = usage::key_days(store, plan, &k.id, days)?;
        let mut pairs = Vec::with_capacity(days.len());
        let mut rows = Vec::with_capacity(days.len());
        for (day, used) in days.iter().zip(used) {
            let remaining = match &p.quota {
                Some(q) => Some(remaining(store, plan, &k.id, q, *day)?),
                None => None,
            };
            pairs.push(json!([used, remaining]));
            rows.push(json!({
                "date": format_date(*day),
                "requests": used,
                "quota_remaining": remaining,
            }));
        }
        items.insert(k.id.clone(), Value::Array(pairs));
        keys.push(json!({ "id": k.id, "name": k.name, "days": rows }));
    }
    let (first, last) = (days.first().copied(), days.last().copied());
    Ok(Some(json!({
        "usagePlanId": plan,
        "startDate": first.map(format_date),
        "endDate": last.map(format_date),
        "items": items,
        "quota": p.quota.as_ref().map(|q| json!({
            "limit": q.limit,
            "period": format!("{:?}", q.period).to_uppercase(),
            "offset": q.offset,
        })),
        "keys": keys,
    })))
}

fn remaining(
    store: &SharedStore,
    plan: &str,
    key_id: &str,
    q: &QuotaSettings,
    day: u64,
) -> Result<u64, StoreError> {
    let used = store.quota_count(&QuotaKey {
        plan: plan.to_owned(),
        key_id: key_id.to_owned(),
        window_start: window_start(q, day),
    })?;
    Ok(q.limit.saturating_sub(used))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_bad_ones_are_refused() {
        let d = parse_date("2026-12-03").unwrap();
        assert_eq!(d % DAY, 0);
        assert_eq!(format_date(d), "2026-12-03");
        assert_eq!(
            parse_date("2024-02-29").map(format_date).as_deref(),
            Some("2024-02-29")
        );
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "2026-1-01",
            "yesterday",
            "1969-12-31",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        assert_eq!(days(d, d + 2 * DAY).unwrap().len(), 3);
        assert!(days(d + DAY, d).is_err());
        assert!(days(d, d + MAX_DAYS * DAY).is_err());
    }
}
