//! API keys and usage plans: the in-memory side the pipeline reads, and its persistence.
//!
//! - Key values are never kept: a request's `x-api-key` (or the authorizer's usage
//!   identifier) is hashed with SHA-256 and looked up in a map that is replaced whole whenever
//!   keys change (an `ArcSwap`), so the request path takes no lock.
//! - Quota counts are atomics in a sharded map, loaded from the store on a window's first use
//!   and written back by [`ApiKeys::flush`], which the gateway runs every flush interval and at
//!   shutdown. A shared store counts quota itself instead ([`ApiKeys::take_quota_shared`]);
//!   the map then only remembers windows seen used up, which need no round trip any more.
//! - With a shared store, [`ApiKeys::key_changes`] tells when another node changed the keys;
//!   the gateway then calls [`ApiKeys::reload`].
//! - Per-key throttles are token buckets in a bounded cache that forgets idle keys.

use super::{QuotaKey, QuotaTake, SharedStore, StoreError, StoredKey, Taken};
use crate::limiter::{Bucket, ThrottleSettings};
use arc_swap::ArcSwap;
use dashmap::DashMap;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How a quota's window is measured, as in API Gateway usage plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Week,
    Month,
}

/// A usage plan's quota: `limit` requests per period; `offset` shifts the window's start (WEEK:
/// 0 = Sunday .. 6 = Saturday; MONTH: days after the 1st, 0..=27; DAY: 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaSettings {
    pub limit: u64,
    pub period: Period,
    pub offset: u32,
}

/// A usage plan from the config.
#[derive(Debug)]
pub struct UsagePlan {
    pub name: String,
    /// The API stages it covers, as (API name, stage name).
    pub stages: Vec<(String, String)>,
    pub throttle: Option<ThrottleSettings>,
    pub quota: Option<QuotaSettings>,
}

impl UsagePlan {
    pub fn covers(&self, api: &str, stage: &str) -> bool {
        self.stages.iter().any(|(a, s)| a == api && s == stage)
    }
}

/// A key declared in the config file (`api_keys`), imported into the store on every load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigKey {
    pub name: String,
    pub value: String,
    pub plans: Vec<String>,
    pub enabled: bool,
}

/// What the pipeline knows about a key.
#[derive(Debug)]
pub struct KeyEntry {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    pub plans: Vec<String>,
}

/// SHA-256 of a key value, as stored.
pub fn hash_value(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
        let text = std::str::from_utf8(chunk).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

/// Checks a key value supplied by a user: API Gateway requires at least 20 characters.
pub fn validate_value(value: &str) -> Result<(), String> {
    if value.len() < 20 || value.len() > 128 {
        return Err(format!(
            "expected a key value of 20 to 128 characters, found {}",
            value.len()
        ));
    }
    if !value.chars().all(|c| c.is_ascii_graphic()) {
        return Err("a key value has only visible ASCII characters".into());
    }
    Ok(())
}

/// A fresh random key value: 40 characters, like API Gateway's generated keys.
pub fn generate_value() -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("{a}{}", &b[..8])
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The start (seconds since the epoch, UTC) of the quota window holding `now`.
pub fn window_start(q: &QuotaSettings, now: u64) -> u64 {
    const DAY: u64 = 86_400;
    let day = now / DAY;
    let start_day = match q.period {
        Period::Day => day,
        Period::Week => {
            // 1970-01-01 was a Thursday (weekday 4, counting Sunday as 0).
            let weekday = (day + 4) % 7;
            let back = (weekday + 7 - u64::from(q.offset % 7)) % 7;
            day - back
        }
        Period::Month => {
            let (y, m, d) = civil_from_days(day as i64);
            let offset = i64::from(q.offset.min(27));
            let this = days_from_civil(y, m, 1) + offset;
            // Day d (1-based) is inside this month's window when d - 1 >= offset.
            if i64::from(d) > offset {
                this as u64
            } else {
                let (py, pm) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
                (days_from_civil(py, pm, 1) + offset) as u64
            }
        }
    };
    start_day * DAY
}

/// The most days a window of `period` lasts.
fn window_days(period: Period) -> u64 {
    match period {
        Period::Day => 1,
        Period::Week => 7,
        Period::Month => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (the inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[derive(Debug, Default)]
struct Counter {
    /// Requests counted in the window (stored + not yet flushed).
    total: AtomicU64,
    /// Requests not yet written to the store.
    pending: AtomicU64,
}

/// Why a quota check failed.
#[derive(Debug, PartialEq, Eq)]
pub enum QuotaError {
    Exceeded,
    Store(String),
}

/// Keys, quota counters and per-key throttles of one gateway process; they outlive reloads.
pub struct ApiKeys {
    store: SharedStore,
    by_hash: ArcSwap<HashMap<[u8; 32], Arc<KeyEntry>>>,
    /// Serializes changes (create, import, delete...), never requests.
    changes: std::sync::Mutex<()>,
    counters: DashMap<QuotaKey, Arc<Counter>>,
    buckets: moka::sync::Cache<(String, String), Arc<Bucket>>,
    leases: Option<Arc<crate::lease::Leases>>,
    shared_cache: Option<Arc<crate::redis_cache::SharedCache>>,
    /// Requests per plan and key by day, for usage reports; written with the quota counts.
    usage: crate::usage::KeyUsage,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeys")
            .field("store", &self.store)
            .field("keys", &self.by_hash.load().len())
            .finish_non_exhaustive()
    }
}

/// A key as the admin API and the CLI show it: everything but the value.
pub type KeyInfo = StoredKey;

impl ApiKeys {
    pub fn new(store: SharedStore) -> Result<ApiKeys, StoreError> {
        let keys = ApiKeys {
            leases: store.leases(),
            shared_cache: store.shared_cache(),
            store,
            by_hash: ArcSwap::from_pointee(HashMap::new()),
            changes: std::sync::Mutex::new(()),
            counters: DashMap::new(),
            // Idle keys leave after 10 minutes; the cache never holds more than 100k buckets.
            buckets: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(600))
                .build(),
            usage: crate::usage::KeyUsage::default(),
        };
        keys.refresh()?;
        Ok(keys)
    }

    fn lock_changes(&self) -> std::sync::MutexGuard<'_, ()> {
        self.changes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Rebuilds the lookup map from the store.
    fn refresh(&self) -> Result<(), StoreError> {
        let mut map = HashMap::new();
        for k in self.store.keys()? {
            let Some(hash) = unhex(&k.hash) else {
                tracing::warn!(key = %k.id, "stored key has a malformed hash; ignored");
                continue;
            };
            map.insert(
                hash,
                Arc::new(KeyEntry {
                    id: k.id,
                    name: k.name,
                    enabled: k.enabled,
                    plans: k.plans,
                }),
            );
        }
        self.by_hash.store(Arc::new(map));
        Ok(())
    }

    /// Rebuilds the lookup map from the store, after another node changed the keys.
    pub fn reload(&self) -> Result<(), StoreError> {
        let _guard = self.lock_changes();
        self.refresh()
    }

    /// A shared store's throttle leases (for stage, method and account throttles).
    pub fn leases(&self) -> Option<&crate::lease::Leases> {
        self.leases.as_deref()
    }

    /// A shared store's tier of the response and authorizer decision caches.
    pub fn shared_cache(&self) -> Option<&Arc<crate::redis_cache::SharedCache>> {
        self.shared_cache.as_ref()
    }

    /// A shared store's availability.
    pub fn store_health(&self) -> Option<super::StoreHealth> {
        self.store.health()
    }

    /// A shared store's signal that the keys may have changed elsewhere.
    pub fn key_changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.store.key_changes()
    }

    /// The key with this value, if any.
    pub fn lookup(&self, value: &str) -> Option<Arc<KeyEntry>> {
        self.by_hash.load().get(&hash_value(value)).cloned()
    }

    /// Every key, by name.
    pub fn list(&self) -> Result<Vec<KeyInfo>, StoreError> {
        self.store.keys()
    }

    /// Makes the stored config keys match the config file: adds and updates keys by name,
    /// removes config keys no longer listed. Keys made through the admin API or CLI stay.
    /// A key is added only when no stored key has its name (in one atomic step on a shared
    /// store): nodes that start together on an empty store agree on one id per name, so they
    /// count one quota for it.
    pub fn import(&self, config: &[ConfigKey]) -> Result<(), StoreError> {
        let _guard = self.lock_changes();
        let mut stored = self.store.keys()?;
        for c in config {
            // Twice at most: once more after another node added the name meanwhile.
            for _ in 0..2 {
                let existing = stored.iter().find(|k| k.name == c.name);
                let key = StoredKey {
                    id: existing.map_or_else(|| uuid::Uuid::new_v4().to_string(), |k| k.id.clone()),
                    name: c.name.clone(),
                    hash: hex(&hash_value(&c.value)),
                    enabled: c.enabled,
                    plans: c.plans.clone(),
                    created_at: existing.map_or_else(now_secs, |k| k.created_at),
                    from_config: true,
                };
                match existing {
                    Some(k) if *k == key => break,
                    Some(_) => self.store.put_key(&key)?,
                    None => match self.store.insert_key(&key)? {
                        None => {}
                        Some(Taken::Name) => {
                            stored = self.store.keys()?;
                            continue;
                        }
                        // A key that is going (a config key renamed) or made elsewhere
                        // already has this value: stored beside it, as before.
                        Some(Taken::Id) => self.store.put_key(&key)?,
                    },
                }
                break;
            }
        }
        for k in &stored {
            if k.from_config && !config.iter().any(|c| c.name == k.name) {
                self.store.delete_key(&k.id)?;
            }
        }
        self.refresh()
    }

    /// Creates a key; returns it and its value, which is shown this once.
    pub fn create(
        &self,
        name: &str,
        plans: Vec<String>,
        value: Option<String>,
    ) -> Result<(KeyInfo, String), String> {
        let _guard = self.lock_changes();
        if name.is_empty() || name.len() > 128 {
            return Err("expected a name of 1 to 128 characters".into());
        }
        let value = value.unwrap_or_else(generate_value);
        validate_value(&value)?;
        let key = StoredKey {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.into(),
            hash: hex(&hash_value(&value)),
            enabled: true,
            plans,
            created_at: now_secs(),
            from_config: false,
        };
        match self.store.insert_key(&key).map_err(|e| e.to_string())? {
            None => {}
            Some(Taken::Name) => return Err(format!("a key named `{name}` exists already")),
            Some(Taken::Id) => return Err("another key has this value".into()),
        }
        self.refresh().map_err(|e| e.to_string())?;
        Ok((key, value))
    }

    /// Enables or disables a key; `None` when there is no such key.
    pub fn set_enabled(&self, id: &str, enabled: bool) -> Result<Option<KeyInfo>, StoreError> {
        let _guard = self.lock_changes();
        let Some(mut key) = self.store.keys()?.into_iter().find(|k| k.id == id) else {
            return Ok(None);
        };
        key.enabled = enabled;
        self.store.put_key(&key)?;
        self.refresh()?;
        Ok(Some(key))
    }

    /// Deletes a key; false when there was none.
    pub fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let _guard = self.lock_changes();
        let existed = self.store.delete_key(id)?;
        self.refresh()?;
        Ok(existed)
    }

    /// The token bucket of `key_id` under `plan`. With a shared store it spends tokens leased
    /// from one bucket per key and plan that every node shares (see [`crate::lease`]): a key
    /// idle for 10 minutes leaves the cache, and its lease with it.
    pub fn bucket(&self, plan: &str, key_id: &str, settings: ThrottleSettings) -> Arc<Bucket> {
        let make = || {
            Arc::new(match &self.leases {
                Some(l) => Bucket::leased(
                    settings,
                    l.lease(
                        format!("key:{plan}:{key_id}"),
                        settings.rate,
                        settings.burst,
                    ),
                ),
                None => Bucket::new(settings),
            })
        };
        let bucket = self
            .buckets
            .get_with((plan.to_owned(), key_id.to_owned()), make);
        if bucket.settings == settings {
            bucket
        } else {
            // The plan's throttle changed with a reload: start a bucket with the new numbers.
            let fresh = make();
            self.buckets
                .insert((plan.to_owned(), key_id.to_owned()), fresh.clone());
            fresh
        }
    }

    /// Counts one request of `key_id` against `plan`'s quota, unless the quota is used up.
    pub fn take_quota(
        &self,
        plan: &str,
        key_id: &str,
        q: &QuotaSettings,
    ) -> Result<(), QuotaError> {
        self.take_quota_at(plan, key_id, q, now_secs())
    }

    /// When this process has not counted `key_id`'s current window of `plan` yet: the window
    /// and the store to read its stored count from. The read is blocking I/O, for a blocking
    /// thread; [`ApiKeys::seed_quota`] then starts the window from it.
    pub fn quota_to_load(
        &self,
        plan: &str,
        key_id: &str,
        q: &QuotaSettings,
    ) -> Option<(QuotaKey, SharedStore)> {
        let qk = QuotaKey {
            plan: plan.to_owned(),
            key_id: key_id.to_owned(),
            window_start: window_start(q, now_secs()),
        };
        (!self.counters.contains_key(&qk)).then(|| (qk, self.store.clone()))
    }

    /// With a store that counts quota itself: counts one request of `key_id` against `plan`'s
    /// quota there, atomically over every node. `None` when the store does not count (then
    /// [`ApiKeys::take_quota`] counts in memory).
    pub async fn take_quota_shared(
        &self,
        plan: &str,
        key_id: &str,
        q: &QuotaSettings,
    ) -> Option<Result<(), QuotaError>> {
        let start = window_start(q, now_secs());
        let qk = QuotaKey {
            plan: plan.to_owned(),
            key_id: key_id.to_owned(),
            window_start: start,
        };
        // A window seen used up stays so (until a reload raises the limit): no round trip.
        if let Some(c) = self.counters.get(&qk) {
            if c.total.load(Ordering::Acquire) >= q.limit {
                return Some(Err(QuotaError::Exceeded));
            }
        }
        let expires_at = start + window_days(q.period) * 86_400 + 86_400;
        let answer = self.store.take_quota(&qk, q.limit, expires_at)?.await;
        Some(match answer {
            Ok(QuotaTake::Admitted { .. } | QuotaTake::AdmittedUncounted) => Ok(()),
            Ok(QuotaTake::Exceeded { count }) => {
                self.counters.insert(
                    qk,
                    Arc::new(Counter {
                        total: AtomicU64::new(count),
                        pending: AtomicU64::new(0),
                    }),
                );
                Err(QuotaError::Exceeded)
            }
            Err(e) => Err(QuotaError::Store(e.to_string())),
        })
    }

    /// Starts a window from its stored count, unless another request already did.
    pub fn seed_quota(&self, qk: QuotaKey, stored: u64) {
        self.counters.entry(qk).or_insert_with(|| {
            Arc::new(Counter {
                total: AtomicU64::new(stored),
                pending: AtomicU64::new(0),
            })
        });
    }

    fn take_quota_at(
        &self,
        plan: &str,
        key_id: &str,
        q: &QuotaSettings,
        now: u64,
    ) -> Result<(), QuotaError> {
        let qk = QuotaKey {
            plan: plan.to_owned(),
            key_id: key_id.to_owned(),
            window_start: window_start(q, now),
        };
        let counter = match self.counters.get(&qk) {
            Some(c) => c.clone(),
            None => {
                // First use of this window in this process: start from the stored count.
                let stored = self
                    .store
                    .quota_count(&qk)
                    .map_err(|e| QuotaError::Store(e.to_string()))?;
                self.seed_quota(qk.clone(), stored);
                match self.counters.get(&qk) {
                    Some(c) => c.clone(),
                    None => return Err(QuotaError::Store("the window was dropped".into())),
                }
            }
        };
        counter
            .total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < q.limit).then_some(n + 1)
            })
            .map_err(|_| QuotaError::Exceeded)?;
        counter.pending.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Counts one admitted request of `key_id` under `plan` for usage reports.
    pub fn count_usage(&self, plan: &str, key_id: &str) {
        self.usage.count(plan, key_id);
    }

    /// The store the keys live in (usage reports read it).
    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    /// Writes the counts not yet stored; forgets windows that ended over a month ago.
    pub fn flush(&self) -> Result<usize, StoreError> {
        let usage = self.usage.take(crate::usage::day_start(now_secs()));
        if let Err(e) = self.store.add_quota(&usage) {
            self.usage.restore(&usage);
            return Err(e);
        }
        let mut batch = Vec::new();
        for entry in &self.counters {
            let n = entry.value().pending.swap(0, Ordering::AcqRel);
            if n > 0 {
                batch.push((entry.key().clone(), n));
            }
        }
        if let Err(e) = self.store.add_quota(&batch) {
            // Put the counts back so the next flush retries them.
            for (k, n) in &batch {
                if let Some(c) = self.counters.get(k) {
                    c.pending.fetch_add(*n, Ordering::AcqRel);
                }
            }
            return Err(e);
        }
        let cutoff = now_secs().saturating_sub(40 * 86_400);
        self.counters
            .retain(|k, c| k.window_start >= cutoff || c.pending.load(Ordering::Acquire) > 0);
        Ok(batch.len())
    }
}

#[cfg(test)]
mod tests;
