//! The shared state store: one Redis server (or Valkey) that several gateway nodes use.
//!
//! Layout, under the configured `key_prefix` (`P`):
//! - `P:keys`: a hash, key id → JSON of [`StoredKey`], and `P:iam`, access key id → JSON of
//!   [`StoredCredential`]; every change of either is followed by a message on the channel
//!   `P:keys:changed`, which each node's subscriber turns into a reload of both.
//! - `P:quota:WINDOW_START:KEY_ID:PLAN`: one counter per quota window, raised by a Lua script
//!   that admits and counts in one atomic step, so the count is exact over every node; it
//!   expires a day after its window ends. A node sends its requests' takes in batches, one
//!   script call for many (`redis_store/quota_batch.rs`).
//! - `P:kv:PLUGIN`: a hash per plugin, the plugins' `kv` data.
//! - `P:ws:...`: WebSocket connections and nodes, see [`crate::redis_connections`].
//! - `P:cache:...`: the shared tier of response and authorizer decision caches, see
//!   [`crate::redis_cache`].
//! - `P:throttle:NAME`: one token bucket per stage, method and account throttle; each node
//!   leases tokens from it about every [`SYNC_EVERY`] (a Lua script on Redis's clock), see
//!   [`crate::lease`].
//!
//! The store uses one multiplexed connection (a `ConnectionManager`, or a cluster connection
//! with `cluster: true`), which reconnects with exponential backoff; each worker thread that
//! takes quotas opens one more of its own for them (see `quota_batch.rs`); on a Redis Cluster the
//! keys, the IAM credentials and their channel share one hash tag (`{P}:keys`, `{P}:iam`,
//! `{P}:keys:changed`), every other name keeps to one key per command, and channels are
//! sharded (`SPUBLISH`). Every call is bounded by `timeout`; past it, or when Redis cannot be
//! reached, a quota check follows `on_unavailable`. The synchronous [`StateStore`] methods
//! (admin API, CLI, flushes, plugin kv, all off the request path's worker threads) run their
//! I/O on this store's own single-threaded runtime and wait for it, so they can be called from
//! any thread without blocking an async worker's reactor for longer than `timeout`.

use super::lease::Leases;
#[cfg(doc)]
use super::lease::SYNC_EVERY;
use super::redis_conn::{err, Conn, Subscriber};
pub use super::redis_conn::{OnUnavailable, RedisConfig};
use super::{
    KvUsage, QuotaKey, QuotaTake, StateStore, StoreError, StoreFuture, StoreHealth,
    StoredCredential, StoredKey, Taken,
};
use redis::{AsyncCommands, RedisError};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::sync::watch;

mod insert;
mod quota_batch;
mod top_up;

/// Whether Redis answered the last call; logs each change once.
#[derive(Debug)]
struct Health {
    up: AtomicBool,
    outages: AtomicU64,
    on_unavailable: OnUnavailable,
}

impl Health {
    fn answered(&self) {
        if !self.up.swap(true, Ordering::AcqRel) {
            tracing::info!("redis available again; shared state is in use");
        }
    }

    fn failed(&self, why: &str) {
        if self.up.swap(false, Ordering::AcqRel) {
            self.outages.fetch_add(1, Ordering::AcqRel);
            let policy = match self.on_unavailable {
                OnUnavailable::FailOpen => "admitted without counting (fail_open)",
                OnUnavailable::FailClosed => "refused (fail_closed)",
            };
            tracing::warn!(error = %why, "redis unavailable; requests that need a quota count are {policy} until it answers");
        }
    }
}

/// Whether `e` says Redis is unavailable (rather than that a command was wrong): no
/// connection, no answer, or on a cluster no master for the slot (`CLUSTERDOWN`,
/// `MASTERDOWN`, `TRYAGAIN`).
fn unavailable(e: &RedisError) -> bool {
    use redis::{ErrorKind, ServerErrorKind as S};
    e.is_io_error()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
        || e.is_timeout()
        || e.is_unrecoverable_error()
        || matches!(
            e.kind(),
            ErrorKind::Server(S::ClusterDown | S::MasterDown | S::TryAgain)
        )
}

/// Runs `op` for at most `timeout`, recording whether Redis answered.
async fn bounded<T>(
    timeout: Duration,
    health: &Health,
    op: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(timeout, op).await {
        Ok(Ok(v)) => {
            health.answered();
            Ok(v)
        }
        Ok(Err(e)) => {
            if unavailable(&e) {
                health.failed(&e.to_string());
            }
            Err(err(e))
        }
        Err(_) => {
            let why = format!("no answer within {timeout:?}");
            health.failed(&why);
            Err(err(why))
        }
    }
}

/// The number of fields and bytes (names plus values) of one hash. KEYS[1] the hash.
static HASH_USAGE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local all = redis.call('HGETALL', KEYS[1])
local bytes = 0
for i = 1, #all do bytes = bytes + #all[i] end
return {#all / 2, bytes}
",
    )
});

/// The shared store.
pub struct RedisStore {
    conn: Conn,
    /// The store's own runtime (one thread), where synchronous calls run their I/O.
    bridge: tokio::runtime::Handle,
    config: RedisConfig,
    health: Arc<Health>,
    changes: watch::Receiver<u64>,
    leases: Arc<Leases>,
    quotas: quota_batch::QuotaBatcher,
    connections: Arc<super::redis_connections::RedisConnections>,
    cache: Arc<super::redis_cache::SharedCache>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects (failing when Redis does not answer within the timeout) and starts listening
    /// for key changes.
    pub fn open(config: RedisConfig) -> Result<RedisStore, StoreError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError(format!("cannot start the redis runtime: {e}")))?;
        let bridge = rt.handle().clone();
        std::thread::Builder::new()
            .name("gatehouse-redis".into())
            .spawn(move || rt.block_on(std::future::pending::<()>()))
            .map_err(|e| StoreError(format!("cannot start the redis thread: {e}")))?;
        let timeout = config.timeout;
        let health = Arc::new(Health {
            up: AtomicBool::new(true),
            outages: AtomicU64::new(0),
            on_unavailable: config.on_unavailable,
        });
        let c = config.clone();
        let (conn, subscriber) = wait(&bridge, async move { super::redis_conn::open(&c).await })
            .map_err(|e| StoreError(format!("cannot connect to {}: {}", config.url, e.0)))?;
        let (tx, changes) = watch::channel(0);
        let channel = keys_key(&config, "keys:changed");
        bridge.spawn(follow_key_changes(subscriber.clone(), channel, timeout, tx));
        let cache = super::redis_cache::SharedCache::start(
            conn.clone(),
            subscriber.clone(),
            &bridge,
            &config,
        );
        let connections = super::redis_connections::RedisConnections::start(
            subscriber,
            conn.clone(),
            bridge.clone(),
            &config.key_prefix,
            timeout,
        );
        let leases = Arc::new(Leases::new(
            config.throttles_unavailable == OnUnavailable::FailClosed,
        ));
        bridge.spawn(top_up::top_up_leases(
            conn.clone(),
            config.key_prefix.clone(),
            leases.clone(),
            timeout,
            health.clone(),
        ));
        let quotas =
            quota_batch::QuotaBatcher::start(conn.clone(), &config, health.clone(), &bridge);
        Ok(RedisStore {
            conn,
            bridge,
            config,
            health,
            changes,
            leases,
            quotas,
            connections,
            cache,
        })
    }

    fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.config.key_prefix)
    }

    /// The name of `P:rest` for the keys, the IAM credentials and their channel, which
    /// scripts and transactions use together: see [`keys_key`].
    fn keys_key(&self, rest: &str) -> String {
        keys_key(&self.config, rest)
    }

    fn quota_key(&self, k: &QuotaKey) -> String {
        // The key id (a UUID) and the window hold no `:`, so the plan can come last as it is.
        self.key(&format!("quota:{}:{}:{}", k.window_start, k.key_id, k.plan))
    }

    /// Every JSON document of the hash `P:{hash}`.
    fn docs<T: serde::de::DeserializeOwned>(&self, hash: &str) -> Result<Vec<T>, StoreError> {
        let hash = self.keys_key(hash);
        let rows: Vec<(String, Vec<u8>)> =
            self.call(|mut c| async move { c.hgetall(hash).await })?;
        rows.iter()
            .map(|(_, json)| serde_json::from_slice(json).map_err(err))
            .collect()
    }

    /// Stores `doc` as `id` in the hash `P:{hash}` and tells every node (`P:keys:changed`).
    fn put_doc(&self, hash: &str, id: &str, doc: &impl serde::Serialize) -> Result<(), StoreError> {
        let json = serde_json::to_vec(doc).map_err(err)?;
        let (hash, id) = (self.keys_key(hash), id.to_owned());
        let publish = self.conn.publish(&self.keys_key("keys:changed"), "put");
        self.call(|mut c| async move {
            redis::pipe()
                .atomic()
                .hset(hash, id, json)
                .ignore()
                .add_command(publish)
                .ignore()
                .query_async::<()>(&mut c)
                .await
        })
    }

    /// Removes `id` from the hash `P:{hash}` and tells every node; true when it was there.
    fn delete_doc(&self, hash: &str, id: &str) -> Result<bool, StoreError> {
        let (hash, id) = (self.keys_key(hash), id.to_owned());
        let publish = self.conn.publish(&self.keys_key("keys:changed"), "delete");
        let (removed,): (u64,) = self.call(|mut c| async move {
            redis::pipe()
                .atomic()
                .hdel(hash, id)
                .add_command(publish)
                .ignore()
                .query_async(&mut c)
                .await
        })?;
        Ok(removed > 0)
    }

    fn kv_key(&self, plugin: &str) -> String {
        self.key(&format!("kv:{plugin}"))
    }

    /// Runs `op` on the store's runtime and waits for it.
    fn call<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>> + Send + 'static,
    {
        let (timeout, health) = (self.config.timeout, self.health.clone());
        let fut = op(self.conn.clone());
        wait(
            &self.bridge,
            async move { bounded(timeout, &health, fut).await },
        )
    }
}

/// `P:rest`, or on a cluster `{P}:rest`: the hash tag keeps the hashes `keys` and `iam` and
/// their channel `keys:changed` in one slot, so one script or transaction may use them
/// together. (On one server the names stay as they were before clusters were supported.)
fn keys_key(config: &RedisConfig, rest: &str) -> String {
    match config.cluster {
        true => format!("{{{}}}:{rest}", config.key_prefix),
        false => format!("{}:{rest}", config.key_prefix),
    }
}

/// Runs `fut` on `bridge` and blocks the calling thread until it ends.
fn wait<T: Send + 'static>(
    bridge: &tokio::runtime::Handle,
    fut: impl Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    bridge.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv()
        .map_err(|_| StoreError("redis: the store's thread has stopped".into()))?
}

/// Subscribes to the key-change channel and bumps `tx` for every message, and once after each
/// (re)subscription, since changes made while unsubscribed were missed.
async fn follow_key_changes(
    client: Subscriber,
    channel: String,
    timeout: Duration,
    tx: watch::Sender<u64>,
) {
    super::redis_channel::follow(client, channel, timeout, "key-change", move |_| {
        tx.send_modify(|n| *n += 1);
        !tx.is_closed()
    })
    .await;
}

impl StateStore for RedisStore {
    fn keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let mut keys: Vec<StoredKey> = self.docs("keys")?;
        keys.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(keys)
    }

    fn put_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        self.put_doc("keys", &key.id, key)
    }

    fn delete_key(&self, id: &str) -> Result<bool, StoreError> {
        self.delete_doc("keys", id)
    }

    fn insert_key(&self, key: &StoredKey) -> Result<Option<Taken>, StoreError> {
        self.insert_doc(insert::NewDoc {
            hash: "keys",
            id: &key.id,
            name: &key.name,
            unique: Some(("hash", &key.hash)),
            doc: key,
        })
    }

    fn insert_credential(&self, c: &StoredCredential) -> Result<Option<Taken>, StoreError> {
        self.insert_doc(insert::NewDoc {
            hash: "iam",
            id: &c.access_key_id,
            name: &c.name,
            unique: None,
            doc: c,
        })
    }

    fn credentials(&self) -> Result<Vec<StoredCredential>, StoreError> {
        let mut all: Vec<StoredCredential> = self.docs("iam")?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    fn put_credential(&self, c: &StoredCredential) -> Result<(), StoreError> {
        self.put_doc("iam", &c.access_key_id, c)
    }

    fn delete_credential(&self, access_key_id: &str) -> Result<bool, StoreError> {
        self.delete_doc("iam", access_key_id)
    }

    fn quota_count(&self, key: &QuotaKey) -> Result<u64, StoreError> {
        let k = self.quota_key(key);
        let n: Option<u64> = self.call(|mut c| async move { c.get(k).await })?;
        Ok(n.unwrap_or(0))
    }

    fn add_quota(&self, increments: &[(QuotaKey, u64)]) -> Result<(), StoreError> {
        if increments.is_empty() {
            return Ok(());
        }
        let groups = increments.iter().map(|(k, n)| {
            let key = self.quota_key(k);
            // Windows last at most a month: keep the counter 40 days from its start.
            let expires = k.window_start + 40 * 86_400;
            vec![
                redis::Cmd::incr(&key, *n),
                redis::Cmd::expire_at(&key, expires as i64),
            ]
        });
        let groups: Vec<_> = groups.collect();
        // One transaction on one server; one per counter on a cluster (their slots differ).
        self.call(|mut c| async move { c.run_groups(groups, true).await })
    }

    fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let (hash, field) = (self.kv_key(plugin), key.to_owned());
        self.call(|mut c| async move { c.hget(hash, field).await })
    }

    fn kv_put(&self, plugin: &str, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let (hash, field, value) = (self.kv_key(plugin), key.to_owned(), value.to_vec());
        self.call(|mut c| async move { c.hset::<_, _, _, ()>(hash, field, value).await })
    }

    fn kv_delete(&self, plugin: &str, key: &str) -> Result<bool, StoreError> {
        let (hash, field) = (self.kv_key(plugin), key.to_owned());
        let removed: u64 = self.call(|mut c| async move { c.hdel(hash, field).await })?;
        Ok(removed > 0)
    }

    fn kv_usage(&self, plugin: &str) -> Result<KvUsage, StoreError> {
        let hash = self.kv_key(plugin);
        let (keys, bytes): (usize, usize) =
            self.call(|mut c| async move { HASH_USAGE.key(hash).invoke_async(&mut c).await })?;
        Ok(KvUsage { keys, bytes })
    }

    fn kv_keys(&self, plugin: &str, prefix: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        let hash = self.kv_key(plugin);
        let all: Vec<String> = self.call(|mut c| async move { c.hkeys(hash).await })?;
        let mut keys: Vec<String> = all.into_iter().filter(|k| k.starts_with(prefix)).collect();
        keys.sort_unstable();
        keys.truncate(limit);
        Ok(keys)
    }

    fn leases(&self) -> Option<Arc<Leases>> {
        Some(self.leases.clone())
    }

    fn health(&self) -> Option<StoreHealth> {
        Some(StoreHealth {
            up: self.health.up.load(Ordering::Acquire),
            outages: self.health.outages.load(Ordering::Acquire),
        })
    }

    fn shared_cache(&self) -> Option<Arc<super::redis_cache::SharedCache>> {
        Some(self.cache.clone())
    }

    fn connections(&self) -> Option<super::connections::SharedConnections> {
        Some(self.connections.clone())
    }

    fn key_changes(&self) -> Option<watch::Receiver<u64>> {
        Some(self.changes.clone())
    }

    fn take_quota(
        &self,
        key: &QuotaKey,
        limit: u64,
        expires_at: u64,
    ) -> Option<StoreFuture<QuotaTake>> {
        let taken = self.quotas.take(self.quota_key(key), limit, expires_at);
        let fail_open = self.config.on_unavailable == OnUnavailable::FailOpen;
        Some(Box::pin(async move {
            match taken.await {
                Ok(take) => Ok(take),
                Err(_) if fail_open => Ok(QuotaTake::AdmittedUncounted),
                Err(e) => Err(e),
            }
        }))
    }
}

#[cfg(test)]
mod tests;
