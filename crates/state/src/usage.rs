//! Usage by day, for reports: requests per API key and usage plan, and each stage's billable
//! dimensions (requests, bytes in and out, cache hits and misses, WebSocket connection minutes
//! and messages).
//!
//! Counts are kept in memory and added to the store's counters (the quota counters'
//! [`StateStore::add_quota`], under names no usage plan can have) on every flush, under the
//! day (UTC) of the flush. With a shared store every node adds to the same counters.

use crate::{QuotaKey, SharedStore, StateStore, StoreError};
use dashmap::DashMap;
use std::sync::atomic::{AtomicU64, Ordering};

const DAY: u64 = 86_400;

/// A stage's billable dimensions, in the order reports list them.
pub const DIMENSIONS: [&str; 7] = [
    "requests",
    "bytes_in",
    "bytes_out",
    "cache_hits",
    "cache_misses",
    "websocket_connection_minutes",
    "websocket_messages",
];

/// One stage's counts of each of [`DIMENSIONS`].
pub type StageCounts = [u64; DIMENSIONS.len()];

/// The start of the UTC day holding `secs` (seconds since the epoch).
pub fn day_start(secs: u64) -> u64 {
    secs - secs % DAY
}

fn stage_key(dimension: &str, api: &str, stage: &str, day: u64) -> QuotaKey {
    QuotaKey {
        plan: format!("\u{1}usage\u{1}{dimension}"),
        key_id: format!("{api}/{stage}"),
        window_start: day,
    }
}

fn key_key(plan: &str, key_id: &str, day: u64) -> QuotaKey {
    QuotaKey {
        plan: format!("\u{1}usage\u{1}key\u{1}{plan}"),
        key_id: key_id.to_owned(),
        window_start: day,
    }
}

/// Requests per usage plan and API key not yet written to the store.
#[derive(Debug, Default)]
pub struct KeyUsage {
    pending: DashMap<String, DashMap<String, AtomicU64>>,
}

impl KeyUsage {
    /// Counts one request admitted with `key_id` under `plan`.
    pub fn count(&self, plan: &str, key_id: &str) {
        if let Some(keys) = self.pending.get(plan) {
            if let Some(n) = keys.get(key_id) {
                n.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        self.pending
            .entry(plan.to_owned())
            .or_default()
            .entry(key_id.to_owned())
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }

    /// The counts to write under `day`, taken out of memory (put them back with
    /// [`KeyUsage::restore`] when the write fails).
    pub fn take(&self, day: u64) -> Vec<(QuotaKey, u64)> {
        let mut out = Vec::new();
        for plan in &self.pending {
            for key in plan.value() {
                let n = key.value().swap(0, Ordering::AcqRel);
                if n > 0 {
                    out.push((key_key(plan.key(), key.key(), day), n));
                }
            }
        }
        out
    }

    /// Puts back counts [`KeyUsage::take`] took.
    pub fn restore(&self, taken: &[(QuotaKey, u64)]) {
        for (k, n) in taken {
            let Some(plan) = k.plan.strip_prefix("\u{1}usage\u{1}key\u{1}") else {
                continue;
            };
            self.pending
                .entry(plan.to_owned())
                .or_default()
                .entry(k.key_id.clone())
                .or_default()
                .fetch_add(*n, Ordering::Relaxed);
        }
    }
}

/// Adds stage counts (`(api, stage, counts)`) to the store under `day`.
pub fn add_stage_counts(
    store: &dyn StateStore,
    day: u64,
    counts: &[(String, String, StageCounts)],
) -> Result<(), StoreError> {
    let mut batch = Vec::new();
    for (api, stage, c) in counts {
        for (dimension, n) in DIMENSIONS.iter().zip(c) {
            if *n > 0 {
                batch.push((stage_key(dimension, api, stage, day), *n));
            }
        }
    }
    store.add_quota(&batch)
}

/// A stage's stored counts on each of `days` (day starts).
pub fn stage_days(
    store: &SharedStore,
    api: &str,
    stage: &str,
    days: &[u64],
) -> Result<Vec<StageCounts>, StoreError> {
    days.iter()
        .map(|&day| {
            let mut c = [0; DIMENSIONS.len()];
            for (slot, dimension) in c.iter_mut().zip(DIMENSIONS) {
                *slot = store.quota_count(&stage_key(dimension, api, stage, day))?;
            }
            Ok(c)
        })
        .collect()
}

/// The requests `key_id` made under `plan` on each of `days` (day starts).
pub fn key_days(
    store: &SharedStore,
    plan: &str,
    key_id: &str,
    days: &[u64],
) -> Result<Vec<u64>, StoreError> {
    days.iter()
        .map(|&day| store.quota_count(&key_key(plan, key_id, day)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counts_reach_the_store_by_day_and_come_back() {
        let store: SharedStore = Arc::new(crate::MemoryStore::default());
        let usage = KeyUsage::default();
        for _ in 0..3 {
            usage.count("gold", "k1");
        }
        usage.count("gold", "k2");
        let day = day_start(1_780_000_000);
        let taken = usage.take(day);
        assert_eq!(taken.len(), 2);
        store.add_quota(&taken).unwrap();
        assert!(usage.take(day).is_empty(), "taken counts leave memory");
        usage.count("gold", "k1");
        store.add_quota(&usage.take(day + DAY)).unwrap();
        assert_eq!(
            key_days(&store, "gold", "k1", &[day, day + DAY, day + 2 * DAY]).unwrap(),
            [3, 1, 0]
        );
        // Another plan's counter of the same key is its own.
        assert_eq!(key_days(&store, "silver", "k1", &[day]).unwrap(), [0]);

        let mut c = [0; DIMENSIONS.len()];
        c[0] = 5;
        c[2] = 1024;
        add_stage_counts(&*store, day, &[("pets".into(), "prod".into(), c)]).unwrap();
        add_stage_counts(&*store, day, &[("pets".into(), "prod".into(), c)]).unwrap();
        let got = stage_days(&store, "pets", "prod", &[day]).unwrap();
        assert_eq!(got[0][0], 10);
        assert_eq!(got[0][2], 2048);
        assert_eq!(got[0][1], 0);
    }

    #[test]
    fn restored_counts_are_written_next_time() {
        let usage = KeyUsage::default();
        usage.count("gold", "k1");
        let taken = usage.take(0);
        usage.restore(&taken);
        assert_eq!(usage.take(0), taken);
    }
}
