//! `gatehouse:plugin/kv`: small key/value state private to one plugin, kept in the gateway's
//! state store (so it survives restarts with `state.data_dir`, and is shared by every node
//! with a shared store).
//!
//! Each plugin is bounded in keys and bytes so that it cannot exhaust the store. Writes are
//! durable before `set` and `delete` return; they are meant for small, infrequent state.
//! Every operation runs on tokio's blocking pool while the plugin's call awaits it, so a
//! commit never holds the worker thread.

use crate::bindings::kv::Host;
use crate::CallState;
use gatehouse_state::{KvUsage, MemoryStore, SharedStore};
use std::sync::{Arc, Mutex, OnceLock};

pub const MAX_KEYS: usize = 10_000;
pub const MAX_KEY_BYTES: usize = 512;
pub const MAX_VALUE_BYTES: usize = 1 << 20;
pub const MAX_TOTAL_BYTES: usize = 64 << 20;

/// The store plugins write to, set once at start-up. Until then (`gatehouse validate`, unit
/// tests) a process-local store is used.
#[derive(Debug, Default)]
pub struct StoreSlot(OnceLock<SharedStore>);

impl StoreSlot {
    /// Uses `store` from now on; false when a store was already in use.
    pub fn set(&self, store: SharedStore) -> bool {
        self.0.set(store).is_ok()
    }

    fn get(&self) -> &SharedStore {
        self.0.get_or_init(|| Arc::new(MemoryStore::default()))
    }
}

/// One plugin's view of the store.
#[derive(Debug)]
pub struct KvStore {
    plugin: String,
    store: Arc<StoreSlot>,
    /// What the plugin has stored, read from the store on first use. The lock also
    /// serialises the plugin's writes so that the accounting stays exact.
    usage: Mutex<Option<KvUsage>>,
}

impl KvStore {
    pub fn new(plugin: &str, store: Arc<StoreSlot>) -> KvStore {
        KvStore {
            plugin: plugin.to_owned(),
            store,
            usage: Mutex::new(None),
        }
    }

    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        self.store
            .get()
            .kv_get(&self.plugin, key)
            .map_err(|e| e.to_string())
    }

    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
        if key.len() > MAX_KEY_BYTES {
            return Err(format!("key longer than {MAX_KEY_BYTES} bytes"));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Err(format!("value larger than {MAX_VALUE_BYTES} bytes"));
        }
        let store = self.store.get();
        let mut guard = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        let usage = self.usage_in(&mut guard)?;
        let old = store
            .kv_get(&self.plugin, key)
            .map_err(|e| e.to_string())?
            .map(|v| key.len() + v.len());
        if old.is_none() && usage.keys >= MAX_KEYS {
            return Err(format!("no more than {MAX_KEYS} keys per plugin"));
        }
        let bytes = usage.bytes - old.unwrap_or(0) + key.len() + value.len();
        if bytes > MAX_TOTAL_BYTES {
            return Err(format!("no more than {MAX_TOTAL_BYTES} bytes per plugin"));
        }
        store
            .kv_put(&self.plugin, key, value)
            .map_err(|e| e.to_string())?;
        *guard = Some(KvUsage {
            keys: usage.keys + usize::from(old.is_none()),
            bytes,
        });
        Ok(())
    }

    /// Up to `limit` (at most 10,000) keys starting with `prefix`.
    pub fn keys(&self, prefix: &str, limit: usize) -> Result<Vec<String>, String> {
        self.store
            .get()
            .kv_keys(&self.plugin, prefix, limit.min(MAX_KEYS))
            .map_err(|e| e.to_string())
    }

    pub fn delete(&self, key: &str) -> Result<bool, String> {
        let store = self.store.get();
        let mut guard = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        let usage = self.usage_in(&mut guard)?;
        let Some(old) = store.kv_get(&self.plugin, key).map_err(|e| e.to_string())? else {
            return Ok(false);
        };
        store
            .kv_delete(&self.plugin, key)
            .map_err(|e| e.to_string())?;
        *guard = Some(KvUsage {
            keys: usage.keys.saturating_sub(1),
            bytes: usage.bytes.saturating_sub(key.len() + old.len()),
        });
        Ok(true)
    }

    fn usage_in(&self, cached: &mut Option<KvUsage>) -> Result<KvUsage, String> {
        if let Some(u) = *cached {
            return Ok(u);
        }
        let u = self
            .store
            .get()
            .kv_usage(&self.plugin)
            .map_err(|e| e.to_string())?;
        *cached = Some(u);
        Ok(u)
    }
}

/// Runs a store operation on tokio's blocking pool: a redb read or commit (under the
/// plugin's accounting lock) must not hold the async worker the plugin's call runs on.
async fn off_worker<R: Send + 'static>(
    op: impl FnOnce() -> Result<R, String> + Send + 'static,
) -> Result<R, String> {
    tokio::task::spawn_blocking(op)
        .await
        .map_err(|e| format!("the state store task failed: {e}"))?
}

impl CallState {
    fn kv_failed(&self, op: &str, reason: &str) {
        tracing::warn!(
            plugin = %self.plugin,
            request_id = %self.request_id,
            "kv {op} failed: {reason}"
        );
    }
}

impl Host for CallState {
    async fn get(&mut self, key: String) -> Option<Vec<u8>> {
        let kv = self.kv.clone();
        off_worker(move || kv.get(&key)).await.unwrap_or_else(|e| {
            self.kv_failed("get", &e);
            None
        })
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), String> {
        let kv = self.kv.clone();
        off_worker(move || kv.set(&key, &value)).await
    }

    async fn delete(&mut self, key: String) -> bool {
        let kv = self.kv.clone();
        off_worker(move || kv.delete(&key))
            .await
            .unwrap_or_else(|e| {
                self.kv_failed("delete", &e);
                false
            })
    }
}

impl crate::bindings::kv_keys::Host for CallState {
    async fn keys(&mut self, prefix: String, limit: u32) -> Vec<String> {
        let kv = self.kv.clone();
        off_worker(move || kv.keys(&prefix, limit as usize))
            .await
            .unwrap_or_else(|e| {
                self.kv_failed("list", &e);
                Vec::new()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_bytes_and_enforces_limits() {
        let slot = Arc::new(StoreSlot::default());
        let kv = KvStore::new("p", slot.clone());
        let other = KvStore::new("q", slot);
        kv.set("a", &[1; 10]).unwrap();
        kv.set("a", &[1; 20]).unwrap();
        assert_eq!(kv.get("a").unwrap().map(|v| v.len()), Some(20));
        assert_eq!(other.get("a").unwrap(), None);
        assert!(kv.set("b", &vec![0; MAX_VALUE_BYTES + 1]).is_err());
        assert!(kv.set(&"k".repeat(MAX_KEY_BYTES + 1), b"v").is_err());
        assert_eq!(
            *kv.usage.lock().unwrap(),
            Some(KvUsage { keys: 1, bytes: 21 })
        );
        assert!(kv.delete("a").unwrap());
        assert!(!kv.delete("a").unwrap());
        assert_eq!(*kv.usage.lock().unwrap(), Some(KvUsage::default()));
    }

    #[test]
    fn refuses_past_the_byte_quota() {
        let kv = KvStore::new("p", Arc::default());
        for i in 0..(MAX_TOTAL_BYTES / MAX_VALUE_BYTES) - 1 {
            kv.set(&i.to_string(), &vec![0; MAX_VALUE_BYTES]).unwrap();
        }
        let err = kv.set("last", &vec![0; MAX_VALUE_BYTES]).unwrap_err();
        assert!(err.contains("bytes per plugin"), "{err}");
        // Replacing a value within the quota still works.
        kv.set("0", &[1; 8]).unwrap();
        kv.set("last", &vec![0; MAX_VALUE_BYTES]).unwrap();
    }
}
