use super::*;
use crate::{MemoryStore, StateStore};

const DAY: u64 = 86_400;

/// Seconds since the epoch of a UTC date.
fn at(y: i64, m: u32, d: u32) -> u64 {
    days_from_civil(y, m, d) as u64 * DAY
}

#[test]
fn civil_dates_round_trip() {
    for day in [0_i64, 59, 60, 365, 10_957, 20_000, 20_781] {
        let (y, m, d) = civil_from_days(day);
        assert_eq!(days_from_civil(y, m, d), day);
    }
    assert_eq!(civil_from_days(0), (1970, 1, 1));
    assert_eq!(days_from_civil(2026, 11, 24), 20_781);
}

#[test]
fn windows_follow_period_and_offset() {
    let q = |period, offset| QuotaSettings {
        limit: 1,
        period,
        offset,
    };
    // 2026-11-24 is a Tuesday, 13:00 UTC.
    let now = at(2026, 11, 24) + 13 * 3600;
    assert_eq!(window_start(&q(Period::Day, 0), now), at(2026, 11, 24));
    // Weeks from Sunday (offset 0) and from Monday (offset 1).
    assert_eq!(window_start(&q(Period::Week, 0), now), at(2026, 11, 22));
    assert_eq!(window_start(&q(Period::Week, 1), now), at(2026, 11, 23));
    // Offset 3 (Wednesday): the window began last Wednesday.
    assert_eq!(window_start(&q(Period::Week, 3), now), at(2026, 11, 18));
    // Months from the 1st, and from the 26th (offset 25): still in October's window.
    assert_eq!(window_start(&q(Period::Month, 0), now), at(2026, 11, 1));
    assert_eq!(window_start(&q(Period::Month, 25), now), at(2026, 10, 26));
    assert_eq!(
        window_start(&q(Period::Month, 25), at(2026, 1, 3)),
        at(2025, 12, 26)
    );
}

#[test]
fn quota_counts_up_to_the_limit_per_window_and_flushes() {
    let keys = ApiKeys::new(Arc::new(MemoryStore::default())).expect("keys");
    let q = QuotaSettings {
        limit: 3,
        period: Period::Day,
        offset: 0,
    };
    let today = at(2026, 11, 24);
    for _ in 0..3 {
        assert_eq!(keys.take_quota_at("gold", "k", &q, today), Ok(()));
    }
    assert_eq!(
        keys.take_quota_at("gold", "k", &q, today + 60),
        Err(QuotaError::Exceeded)
    );
    // Another key, and the next day, have quotas of their own.
    assert_eq!(keys.take_quota_at("gold", "other", &q, today), Ok(()));
    assert_eq!(keys.take_quota_at("gold", "k", &q, today + DAY), Ok(()));
    assert_eq!(keys.flush().expect("flush"), 3);
    let stored = keys
        .store
        .quota_count(&QuotaKey {
            plan: "gold".into(),
            key_id: "k".into(),
            window_start: today,
        })
        .expect("count");
    assert_eq!(stored, 3);
    assert_eq!(keys.flush().expect("nothing new"), 0);
}

#[test]
fn a_restarted_process_continues_the_stored_count() {
    let store = MemoryStore::default();
    let q = QuotaSettings {
        limit: 5,
        period: Period::Day,
        offset: 0,
    };
    let today = at(2026, 11, 24);
    store
        .add_quota(&[(
            QuotaKey {
                plan: "p".into(),
                key_id: "k".into(),
                window_start: today,
            },
            4,
        )])
        .expect("seed");
    let keys = ApiKeys::new(Arc::new(store)).expect("keys");
    assert_eq!(keys.take_quota_at("p", "k", &q, today + 5), Ok(()));
    assert_eq!(
        keys.take_quota_at("p", "k", &q, today + 6),
        Err(QuotaError::Exceeded)
    );
}

#[test]
fn keys_are_found_by_value_and_never_stored_in_clear() {
    let keys = ApiKeys::new(Arc::new(MemoryStore::default())).expect("keys");
    let config = vec![ConfigKey {
        name: "partner".into(),
        value: "partner-key-0123456789".into(),
        plans: vec!["gold".into()],
        enabled: true,
    }];
    keys.import(&config).expect("import");
    keys.import(&config).expect("import is idempotent");
    let entry = keys.lookup("partner-key-0123456789").expect("found");
    assert_eq!(entry.name, "partner");
    assert!(keys.lookup("partner-key-012345678X").is_none());
    let listed = keys.list().expect("list");
    assert_eq!(listed.len(), 1);
    assert_ne!(listed[0].hash, "partner-key-0123456789");
    assert_eq!(listed[0].id, entry.id);

    let (made, value) = keys.create("cli", vec![], None).expect("create");
    assert_eq!(value.len(), 40);
    assert!(keys.lookup(&value).is_some());
    assert!(
        keys.create("cli", vec![], None).is_err(),
        "names are unique"
    );
    assert!(keys.create("short", vec![], Some("tiny".into())).is_err());
    keys.set_enabled(&made.id, false).expect("disable");
    assert!(!keys.lookup(&value).expect("still there").enabled);
    assert!(keys.delete(&made.id).expect("delete"));
    assert!(keys.lookup(&value).is_none());

    // A key removed from the config file is removed from the store.
    keys.import(&[]).expect("import");
    assert!(keys.list().expect("list").is_empty());
}

/// A store on which, once armed, another node adds the config's key just after this node next
/// reads the keys, as when two nodes start at once on an empty shared store.
#[derive(Debug, Default)]
struct RacedStore {
    inner: MemoryStore,
    armed: std::sync::atomic::AtomicBool,
}

impl StateStore for RacedStore {
    fn keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let before = self.inner.keys()?;
        if self.armed.swap(false, Ordering::AcqRel) {
            let other = StoredKey {
                id: "id-of-the-other-node".into(),
                name: "partner".into(),
                hash: hex(&hash_value("partner-key-0123456789")),
                enabled: true,
                plans: vec!["gold".into()],
                created_at: 1,
                from_config: true,
            };
            self.inner.put_key(&other)?;
        }
        Ok(before)
    }
    fn put_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        self.inner.put_key(key)
    }
    fn delete_key(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.delete_key(id)
    }
    fn credentials(&self) -> Result<Vec<crate::StoredCredential>, StoreError> {
        self.inner.credentials()
    }
    fn put_credential(&self, c: &crate::StoredCredential) -> Result<(), StoreError> {
        self.inner.put_credential(c)
    }
    fn delete_credential(&self, access_key_id: &str) -> Result<bool, StoreError> {
        self.inner.delete_credential(access_key_id)
    }
    fn quota_count(&self, key: &QuotaKey) -> Result<u64, StoreError> {
        self.inner.quota_count(key)
    }
    fn add_quota(&self, increments: &[(QuotaKey, u64)]) -> Result<(), StoreError> {
        self.inner.add_quota(increments)
    }
    fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.kv_get(plugin, key)
    }
    fn kv_put(&self, plugin: &str, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.inner.kv_put(plugin, key, value)
    }
    fn kv_delete(&self, plugin: &str, key: &str) -> Result<bool, StoreError> {
        self.inner.kv_delete(plugin, key)
    }
    fn kv_usage(&self, plugin: &str) -> Result<crate::KvUsage, StoreError> {
        self.inner.kv_usage(plugin)
    }
    fn kv_keys(&self, plugin: &str, prefix: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        self.inner.kv_keys(plugin, prefix, limit)
    }
}

#[test]
fn a_config_key_another_node_added_meanwhile_is_used_not_added_again() {
    let store = Arc::new(RacedStore::default());
    let keys = ApiKeys::new(store.clone()).expect("keys");
    store.armed.store(true, Ordering::Release);
    let config = [ConfigKey {
        name: "partner".into(),
        value: "partner-key-0123456789".into(),
        plans: vec!["gold".into()],
        enabled: true,
    }];
    keys.import(&config).expect("import");
    let stored = store.inner.keys().expect("keys");
    assert_eq!(stored.len(), 1, "one key per name: {stored:?}");
    assert_eq!(stored[0].id, "id-of-the-other-node");
    let entry = keys.lookup("partner-key-0123456789").expect("found");
    assert_eq!(
        entry.id, "id-of-the-other-node",
        "its quota is the other node's"
    );
}
