//! `gatehouse:plugin/kv`: small key/value state private to one plugin.
//!
//! Kept in memory per plugin name and across reloads; bounded in keys and bytes so a plugin
//! cannot exhaust the gateway. (The durable, shared state store replaces the map when it
//! lands; the interface stays.)

use crate::plugin::bindings::kv::Host;
use crate::plugin::CallState;
use std::collections::HashMap;
use std::sync::Mutex;

pub const MAX_KEYS: usize = 10_000;
pub const MAX_KEY_BYTES: usize = 512;
pub const MAX_VALUE_BYTES: usize = 1 << 20;
pub const MAX_TOTAL_BYTES: usize = 64 << 20;

#[derive(Debug, Default)]
pub struct KvStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<String, Vec<u8>>,
    bytes: usize,
}

impl KvStore {
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map
            .get(key)
            .cloned()
    }

    pub fn set(&self, key: String, value: Vec<u8>) -> Result<(), String> {
        if key.len() > MAX_KEY_BYTES {
            return Err(format!("key longer than {MAX_KEY_BYTES} bytes"));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Err(format!("value larger than {MAX_VALUE_BYTES} bytes"));
        }
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let old = g.map.get(&key).map(|v| key.len() + v.len());
        if old.is_none() && g.map.len() >= MAX_KEYS {
            return Err(format!("no more than {MAX_KEYS} keys per plugin"));
        }
        let new_total = g.bytes - old.unwrap_or(0) + key.len() + value.len();
        if new_total > MAX_TOTAL_BYTES {
            return Err(format!("no more than {MAX_TOTAL_BYTES} bytes per plugin"));
        }
        g.bytes = new_total;
        g.map.insert(key, value);
        Ok(())
    }

    pub fn delete(&self, key: &str) -> bool {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match g.map.remove_entry(key) {
            Some((k, v)) => {
                g.bytes -= k.len() + v.len();
                true
            }
            None => false,
        }
    }
}

impl Host for CallState {
    fn get(&mut self, key: String) -> Option<Vec<u8>> {
        self.kv.get(&key)
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), String> {
        self.kv.set(key, value)
    }

    fn delete(&mut self, key: String) -> bool {
        self.kv.delete(&key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_bytes_and_enforces_limits() {
        let kv = KvStore::default();
        kv.set("a".into(), vec![1; 10]).unwrap();
        kv.set("a".into(), vec![1; 20]).unwrap();
        assert_eq!(kv.get("a").map(|v| v.len()), Some(20));
        assert!(kv.set("b".into(), vec![0; MAX_VALUE_BYTES + 1]).is_err());
        assert!(kv.delete("a"));
        assert!(!kv.delete("a"));
        assert_eq!(kv.inner.lock().unwrap().bytes, 0);
    }
}
