//! The shared tier of the gateway's caches (stage responses, authorizer decisions) in Redis:
//! opaque values under hashed keys, each with its own expiry, which every node reads after a
//! miss of its own memory and writes after a fill.
//!
//! Layout, under the configured `key_prefix` (`P`), for a cache space `S` (a stage, an
//! authorizer; the caller names it):
//! - `P:cache:S:HASH`: one entry, `HASH` the hex SHA-256 of the caller's key (so no token or
//!   header value is stored in clear); the value is the space's generation when it was
//!   written (8 bytes, little-endian) and the caller's bytes; it expires with `PX`.
//! - `P:cache:S:gen`: the space's generation (flushable spaces only). A flush is one `INCR`:
//!   an entry written under an older generation is a miss everywhere at once.
//! - `P:cache:flushed`: the channel a flush announces its space on, so every node also drops
//!   what it holds in memory for that space (all of its flushable spaces after each
//!   (re)subscription, since a flush may have been missed meanwhile).
//!
//! Each call is one command or one single-key pipeline (a lookup reads the entry and the
//! generation with two commands sent at once), so nothing needs a hash tag on a cluster. Every
//! call is bounded by the state's `timeout`; a failure is counted and answered as a miss.

use super::redis_conn::{within, Conn, RedisConfig, Subscriber};
use super::StoreError;
use redis::AsyncCommands;
use sha2::Digest as _;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Which cache a call is for, for the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Stage response caches.
    Responses,
    /// Authorizer decision caches.
    Decisions,
}

/// Lookups of one tier: answered from Redis, not found there, or failed (Redis unavailable,
/// no answer within the timeout, an unreadable value).
#[derive(Debug, Default)]
pub struct TierCounts {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub errors: AtomicU64,
}

/// What a lookup found: the value and how long it has left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub value: Vec<u8>,
    pub ttl: Duration,
}

/// A lookup's answer: the entry when there is a current one, and the space's generation, which
/// the fill that follows a miss writes with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub found: Option<Found>,
    pub generation: u64,
}

/// The shared tier: a connection, the key prefix and the per-call timeout.
pub struct SharedCache {
    conn: Conn,
    prefix: String,
    timeout: Duration,
    counts: [TierCounts; 2],
    /// Flushable spaces by name → times a flush of theirs was announced.
    flushes: Mutex<HashMap<String, Arc<AtomicU64>>>,
}

impl std::fmt::Debug for SharedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedCache")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl SharedCache {
    /// The shared tier on `conn`; follows flush announcements on `bridge`.
    pub(crate) fn start(
        conn: Conn,
        subscriber: Subscriber,
        bridge: &tokio::runtime::Handle,
        config: &RedisConfig,
    ) -> Arc<SharedCache> {
        let cache = Arc::new(SharedCache {
            conn,
            prefix: config.key_prefix.clone(),
            timeout: config.timeout,
            counts: Default::default(),
            flushes: Mutex::default(),
        });
        let weak = Arc::downgrade(&cache);
        let channel = cache.channel();
        bridge.spawn(super::redis_channel::follow(
            subscriber,
            channel,
            config.timeout,
            "cache-flush",
            move |message| match weak.upgrade() {
                Some(cache) => {
                    cache.flushed(message.map(String::from_utf8_lossy).as_deref());
                    true
                }
                None => false,
            },
        ));
        cache
    }

    /// The counts of `tier`.
    pub fn counts(&self, tier: Tier) -> &TierCounts {
        &self.counts[tier as usize]
    }

    /// A counter that grows whenever a node flushed `space` (and after each re-subscription
    /// to the announcements): a holder of entries of `space` in memory drops them when it
    /// changed.
    pub fn flushes(&self, space: &str) -> Arc<AtomicU64> {
        let mut all = self.flushes.lock().unwrap_or_else(|p| p.into_inner());
        all.entry(space.to_owned()).or_default().clone()
    }

    fn flushed(&self, space: Option<&str>) {
        bump(
            &self.flushes.lock().unwrap_or_else(|p| p.into_inner()),
            space,
        );
    }

    fn channel(&self) -> String {
        format!("{}:cache:flushed", self.prefix)
    }

    fn entry_key(&self, space: &str, key: &[u8]) -> String {
        let mut name = format!("{}:cache:{space}:", self.prefix);
        for b in sha2::Sha256::digest(key) {
            name.push_str(&format!("{b:02x}"));
        }
        name
    }

    fn generation_key(&self, space: &str) -> String {
        format!("{}:cache:{space}:gen", self.prefix)
    }

    /// Reads `key` of `space`; with `flushable`, also the space's generation, and an entry of
    /// an older one is a miss. `None` when Redis failed (counted as an error).
    pub async fn lookup(
        &self,
        tier: Tier,
        space: &str,
        key: &[u8],
        flushable: bool,
    ) -> Option<Lookup> {
        let entry = self.entry_key(space, key);
        let (mut c1, mut c2) = (self.conn.clone(), self.conn.clone());
        let read = async move {
            redis::pipe()
                .get(&entry)
                .pttl(&entry)
                .query_async::<(Option<Vec<u8>>, i64)>(&mut c1)
                .await
        };
        let generation = async move {
            match flushable {
                true => c2.get::<_, Option<u64>>(self.generation_key(space)).await,
                false => Ok(None),
            }
        };
        let both = async { tokio::try_join!(read, generation) };
        let counts = self.counts(tier);
        let ((value, pttl), generation) = match within(self.timeout, both).await {
            Ok(answer) => answer,
            Err(e) => {
                counts.errors.fetch_add(1, Relaxed);
                tracing::debug!(error = %e.0, "shared cache lookup failed; a miss");
                return None;
            }
        };
        let generation = generation.unwrap_or(0);
        let found = value.and_then(|v| {
            let (head, rest) = v.split_first_chunk::<8>()?;
            let current = u64::from_le_bytes(*head) == generation;
            let ttl = u64::try_from(pttl).ok().filter(|&ms| ms > 0)?;
            current.then(|| Found {
                value: rest.to_vec(),
                ttl: Duration::from_millis(ttl),
            })
        });
        let counter = match found {
            Some(_) => &counts.hits,
            None => &counts.misses,
        };
        counter.fetch_add(1, Relaxed);
        Some(Lookup { found, generation })
    }

    /// Writes `value` as `key` of `space` under `generation` (what the lookup before the fill
    /// answered), expiring after `ttl`; false (counted as an error) when Redis failed.
    pub async fn store(
        &self,
        tier: Tier,
        space: &str,
        key: &[u8],
        generation: u64,
        value: &[u8],
        ttl: Duration,
    ) -> bool {
        let ms = ttl.as_millis().min(u128::from(u64::MAX)) as u64;
        if ms == 0 {
            return true;
        }
        let entry = self.entry_key(space, key);
        let mut bytes = Vec::with_capacity(8 + value.len());
        bytes.extend_from_slice(&generation.to_le_bytes());
        bytes.extend_from_slice(value);
        let mut c = self.conn.clone();
        let set = async move {
            redis::cmd("SET")
                .arg(entry)
                .arg(bytes)
                .arg("PX")
                .arg(ms)
                .query_async::<()>(&mut c)
                .await
        };
        match within(self.timeout, set).await {
            Ok(()) => true,
            Err(e) => {
                self.counts(tier).errors.fetch_add(1, Relaxed);
                tracing::debug!(error = %e.0, "shared cache write failed");
                false
            }
        }
    }

    /// Flushes `space` on every node: raises its generation (so its entries are misses from
    /// now on) and announces it (so nodes drop their copies in memory).
    pub async fn flush(&self, space: &str) -> Result<(), StoreError> {
        let (generation, mut c) = (self.generation_key(space), self.conn.clone());
        let publish = self.conn.publish(&self.channel(), space);
        within(self.timeout, async move {
            c.incr::<_, _, u64>(generation, 1).await?;
            publish.query_async::<()>(&mut c).await
        })
        .await
    }
}

/// The name of a cache space: its `kind` (`stage`, `authorizer`), its owner (`API/STAGE`,
/// `API/AUTHORIZER`) and a digest of the `settings` its entries were made under, so that nodes
/// serving another version of those settings (a reloaded config) share none of them.
pub fn space_name(kind: &str, owner: &str, settings: &str) -> String {
    let digest = sha2::Sha256::digest(settings.as_bytes());
    let mut name = format!("{kind}:{owner}:");
    for b in &digest[..8] {
        name.push_str(&format!("{b:02x}"));
    }
    name
}

/// Counts a flush of `space` (of every space when `None`).
fn bump(all: &HashMap<String, Arc<AtomicU64>>, space: Option<&str>) {
    for (name, n) in all {
        if space.is_none_or(|s| s == name) {
            n.fetch_add(1, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn space_names_follow_their_settings() {
        let a = space_name("stage", "shop/prod", "ttl: 60s");
        assert!(a.starts_with("stage:shop/prod:") && a.len() == "stage:shop/prod:".len() + 16);
        assert_eq!(a, space_name("stage", "shop/prod", "ttl: 60s"));
        assert_ne!(a, space_name("stage", "shop/prod", "ttl: 61s"));
    }

    #[test]
    fn a_flush_announcement_reaches_its_space_and_a_resubscription_every_space() {
        let mut all: HashMap<String, Arc<AtomicU64>> = HashMap::new();
        let a = all.entry("a".into()).or_default().clone();
        let b = all.entry("b".into()).or_default().clone();
        bump(&all, Some("a"));
        assert_eq!((a.load(Relaxed), b.load(Relaxed)), (1, 0));
        bump(&all, None);
        assert_eq!((a.load(Relaxed), b.load(Relaxed)), (2, 1));
    }
}
