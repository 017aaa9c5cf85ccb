//! Durable state: API keys, IAM credentials, usage-plan quota counters and the plugins'
//! key/value data.
//!
//! The pipeline never touches storage. It reads [`keys::ApiKeys`], which holds an in-memory map
//! of hashed key values (replaced whole whenever keys change) and counts quota in memory; a
//! background task calls [`keys::ApiKeys::flush`] to write the counts to the [`StateStore`]
//! every flush interval and once more at shutdown. A crash (SIGKILL) therefore loses at most one
//! flush interval of counts. Plugins' `kv` calls go to the store directly (the plugin host's
//! `KvStore`), one small transaction each. The store is a trait so that a shared one (Redis,
//! for several nodes) can replace the embedded one without the pipeline noticing.
//!
//! Backends: [`MemoryStore`] and [`redb_store::RedbStore`] (embedded, durable), and
//! [`redis_store::RedisStore`] (one Redis server or a Redis Cluster), shared by several gateway
//! nodes: it tells [`keys::ApiKeys`] when another node changed the keys
//! ([`StateStore::key_changes`]), counts quota itself, atomically per request ([`StateStore::take_quota`]), and tops up throttles' [`lease`]s. Beside them:
//! [`iam`] (the IAM credentials SigV4 requests are checked with, read like keys),
//! [`connections`] (the open WebSocket connections `@connections` reaches) and [`limiter`]
//! (token buckets for throttles).

pub mod connections;
pub mod deployments;
pub mod iam;
pub mod keys;
pub mod lease;
pub mod limiter;
pub mod redb_store;
pub mod redis_cache;
mod redis_channel;
mod redis_conn;
pub mod redis_connections;
pub mod redis_store;
pub mod usage;

/// `state.sentinel` of a [`redis_store::RedisConfig`].
pub use redis_conn::SentinelConfig;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

/// An API key as stored: never the value itself, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredKey {
    /// A stable id (generated), used by the admin API and the CLI.
    pub id: String,
    /// A human name, unique; keys from the config file are matched by it on every load.
    pub name: String,
    /// Lowercase hex SHA-256 of the key value.
    pub hash: String,
    pub enabled: bool,
    /// Usage plans by name.
    pub plans: Vec<String>,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
    /// True for keys imported from the config file's `api_keys`.
    #[serde(default)]
    pub from_config: bool,
}

/// An IAM credential that signs requests to `AWS_IAM` methods (SigV4), as stored. The secret
/// is stored as it is: checking a signature needs it (as it does at AWS).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredCredential {
    /// The access key id requests name in their `Credential` scope; unique, the id.
    pub access_key_id: String,
    /// A human name, unique; credentials from the config file are matched by it on every load.
    pub name: String,
    pub secret_access_key: String,
    /// A session token requests must carry (`X-Amz-Security-Token`), when set.
    #[serde(default)]
    pub session_token: Option<String>,
    /// `arn:aws:iam::ACCOUNT:user/NAME` (or a role's ARN).
    pub principal: String,
    /// Method ARN patterns (`*`, `?`) the principal may invoke; empty: every method.
    #[serde(default)]
    pub allow: Vec<String>,
    pub enabled: bool,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
    /// True for credentials imported from the config file's `iam.credentials`.
    #[serde(default)]
    pub from_config: bool,
}

/// One quota counter: requests of `key_id` under `plan` in the window starting at
/// `window_start` (seconds since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QuotaKey {
    pub plan: String,
    pub key_id: String,
    pub window_start: u64,
}

impl QuotaKey {
    fn encode(&self) -> String {
        format!(
            "{}\u{1f}{}\u{1f}{}",
            self.plan, self.key_id, self.window_start
        )
    }
}

/// A store operation running on its own, for the async request path.
pub type StoreFuture<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'static>>;

/// What a store that counts quota itself answered for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaTake {
    /// Counted; `count` requests are now counted in the window.
    Admitted { count: u64 },
    /// Not counted: the window already holds `count` requests, at or above the limit.
    Exceeded { count: u64 },
    /// The store could not be reached and its policy is to admit (`fail_open`); not counted.
    AdmittedUncounted,
}

/// A shared store's availability, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreHealth {
    pub up: bool,
    /// Times it went from available to unavailable since the process started.
    pub outages: u64,
}

/// A storage error, as text for logs and API answers.
#[derive(Debug, thiserror::Error)]
#[error("state store: {0}")]
pub struct StoreError(pub String);

impl From<String> for StoreError {
    fn from(message: String) -> Self {
        StoreError(message)
    }
}

/// Why [`StateStore::insert_key`] or [`StateStore::insert_credential`] stored nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Another key or credential has this name.
    Name,
    /// Another key has this value (hash), or another credential this access key id.
    Id,
}

/// Where keys and quota counts live between restarts.
pub trait StateStore: Send + Sync + std::fmt::Debug {
    /// Every stored key.
    fn keys(&self) -> Result<Vec<StoredKey>, StoreError>;
    /// Inserts or replaces the key with `key.id`.
    fn put_key(&self, key: &StoredKey) -> Result<(), StoreError>;
    /// Removes a key; true when it existed.
    fn delete_key(&self, id: &str) -> Result<bool, StoreError>;
    /// Every stored IAM credential.
    fn credentials(&self) -> Result<Vec<StoredCredential>, StoreError>;
    /// Inserts or replaces the credential with `c.access_key_id`.
    fn put_credential(&self, c: &StoredCredential) -> Result<(), StoreError>;
    /// Removes a credential; true when it existed.
    fn delete_credential(&self, access_key_id: &str) -> Result<bool, StoreError>;
    /// Stores a new key unless a stored one has its name or its hash. A shared store checks
    /// and writes in one atomic step, so two nodes creating one name at once cannot both
    /// succeed; this default checks, then writes (atomic within the process that holds the
    /// key store's lock).
    fn insert_key(&self, key: &StoredKey) -> Result<Option<Taken>, StoreError> {
        let stored = self.keys()?;
        if stored.iter().any(|k| k.name == key.name) {
            return Ok(Some(Taken::Name));
        }
        if stored.iter().any(|k| k.hash == key.hash) {
            return Ok(Some(Taken::Id));
        }
        self.put_key(key).map(|()| None)
    }
    /// As [`StateStore::insert_key`], for a credential: unless a stored one has its name or
    /// its access key id.
    fn insert_credential(&self, c: &StoredCredential) -> Result<Option<Taken>, StoreError> {
        let stored = self.credentials()?;
        if stored.iter().any(|s| s.name == c.name) {
            return Ok(Some(Taken::Name));
        }
        if stored.iter().any(|s| s.access_key_id == c.access_key_id) {
            return Ok(Some(Taken::Id));
        }
        self.put_credential(c).map(|()| None)
    }
    /// The stored count of a quota window (0 when none).
    fn quota_count(&self, key: &QuotaKey) -> Result<u64, StoreError>;
    /// Adds the given increments to their counters, atomically as a whole.
    fn add_quota(&self, increments: &[(QuotaKey, u64)]) -> Result<(), StoreError>;

    /// The value `plugin` stored under `key`.
    fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores a value for `plugin`, durably before returning.
    fn kv_put(&self, plugin: &str, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Removes a value of `plugin`; true when it existed.
    fn kv_delete(&self, plugin: &str, key: &str) -> Result<bool, StoreError>;
    /// How much `plugin` has stored, for its limits.
    fn kv_usage(&self, plugin: &str) -> Result<KvUsage, StoreError>;
    /// Up to `limit` keys of `plugin` starting with `prefix`, in order.
    fn kv_keys(&self, plugin: &str, prefix: &str, limit: usize) -> Result<Vec<String>, StoreError>;

    /// A shared store: a receiver that changes whenever the stored keys may have changed,
    /// on this node or another. `None` (the default): only this process changes them.
    fn key_changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    /// A shared store: the leases through which throttles take tokens from buckets shared by
    /// every node. `None` (the default): throttles are local to the process.
    fn leases(&self) -> Option<std::sync::Arc<lease::Leases>> {
        None
    }

    /// A shared store: the WebSocket connection registry every node reaches. `None` (the
    /// default): connections are reachable only through the node holding them.
    fn connections(&self) -> Option<connections::SharedConnections> {
        None
    }

    /// A shared store: the shared tier of the response and authorizer decision caches.
    /// `None` (the default): caches are per process.
    fn shared_cache(&self) -> Option<std::sync::Arc<redis_cache::SharedCache>> {
        None
    }

    /// A shared store: whether it answered its last call, and how many times it has become
    /// unavailable. `None` (the default): a local store, always there.
    fn health(&self) -> Option<StoreHealth> {
        None
    }

    /// A shared store: counts one request in `key`'s window unless it holds `limit` already,
    /// atomically over every node; the counter expires at `expires_at` (seconds since the
    /// epoch). `None` (the default): the caller counts in memory and flushes with
    /// [`StateStore::add_quota`].
    fn take_quota(
        &self,
        key: &QuotaKey,
        limit: u64,
        expires_at: u64,
    ) -> Option<StoreFuture<QuotaTake>> {
        let _ = (key, limit, expires_at);
        None
    }
}

/// The number of keys and bytes (keys plus values) one plugin has stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KvUsage {
    pub keys: usize,
    pub bytes: usize,
}

/// A store shared by the key registry and the plugin host.
pub type SharedStore = std::sync::Arc<dyn StateStore>;

/// A store that lives as long as the process: the default without `state.data_dir`.
#[derive(Debug, Default)]
pub struct MemoryStore {
    keys: Mutex<HashMap<String, StoredKey>>,
    credentials: Mutex<HashMap<String, StoredCredential>>,
    quota: Mutex<HashMap<QuotaKey, u64>>,
    kv: Mutex<HashMap<(String, String), Vec<u8>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl StateStore for MemoryStore {
    fn keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let mut keys: Vec<StoredKey> = lock(&self.keys).values().cloned().collect();
        keys.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(keys)
    }

    fn put_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        lock(&self.keys).insert(key.id.clone(), key.clone());
        Ok(())
    }

    fn delete_key(&self, id: &str) -> Result<bool, StoreError> {
        Ok(lock(&self.keys).remove(id).is_some())
    }

    fn credentials(&self) -> Result<Vec<StoredCredential>, StoreError> {
        let mut all: Vec<StoredCredential> = lock(&self.credentials).values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    fn put_credential(&self, c: &StoredCredential) -> Result<(), StoreError> {
        lock(&self.credentials).insert(c.access_key_id.clone(), c.clone());
        Ok(())
    }

    fn delete_credential(&self, access_key_id: &str) -> Result<bool, StoreError> {
        Ok(lock(&self.credentials).remove(access_key_id).is_some())
    }

    fn quota_count(&self, key: &QuotaKey) -> Result<u64, StoreError> {
        Ok(lock(&self.quota).get(key).copied().unwrap_or(0))
    }

    fn add_quota(&self, increments: &[(QuotaKey, u64)]) -> Result<(), StoreError> {
        let mut q = lock(&self.quota);
        for (k, n) in increments {
            *q.entry(k.clone()).or_default() += n;
        }
        Ok(())
    }

    fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(lock(&self.kv)
            .get(&(plugin.to_owned(), key.to_owned()))
            .cloned())
    }

    fn kv_put(&self, plugin: &str, key: &str, value: &[u8]) -> Result<(), StoreError> {
        lock(&self.kv).insert((plugin.to_owned(), key.to_owned()), value.to_vec());
        Ok(())
    }

    fn kv_delete(&self, plugin: &str, key: &str) -> Result<bool, StoreError> {
        Ok(lock(&self.kv)
            .remove(&(plugin.to_owned(), key.to_owned()))
            .is_some())
    }

    fn kv_usage(&self, plugin: &str) -> Result<KvUsage, StoreError> {
        let mut usage = KvUsage::default();
        for ((p, k), v) in lock(&self.kv).iter() {
            if p == plugin {
                usage.keys += 1;
                usage.bytes += k.len() + v.len();
            }
        }
        Ok(usage)
    }

    fn kv_keys(&self, plugin: &str, prefix: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        let mut keys: Vec<String> = lock(&self.kv)
            .keys()
            .filter(|(p, k)| p == plugin && k.starts_with(prefix))
            .map(|(_, k)| k.clone())
            .collect();
        keys.sort_unstable();
        keys.truncate(limit);
        Ok(keys)
    }
}
