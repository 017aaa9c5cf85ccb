//! The embedded, ACID state store: one redb file, `gatehouse.redb`, in `state.data_dir`.
//!
//! redb locks the file, so one process at a time: the gateway, or the `gatehouse keys` CLI
//! while the gateway is stopped.

use super::{KvUsage, QuotaKey, StateStore, StoreError, StoredCredential, StoredKey};
use redb::{Database, ReadableTable, TableDefinition};
use std::path::Path;

/// Key id → JSON of [`StoredKey`].
const KEYS: JsonTable = TableDefinition::new("api_keys");
/// Access key id → JSON of [`StoredCredential`].
const CREDENTIALS: JsonTable = TableDefinition::new("iam_credentials");
/// Encoded [`QuotaKey`] → requests counted.
const QUOTA: TableDefinition<&str, u64> = TableDefinition::new("quota");
/// (plugin name, key) → value, for the plugins' `kv` import.
const PLUGIN_KV: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("plugin_kv");

/// The file name inside the data directory.
pub const FILE_NAME: &str = "gatehouse.redb";

#[derive(Debug)]
pub struct RedbStore {
    db: Database,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

impl RedbStore {
    /// Opens (or creates) the store in `dir`, creating the directory as needed.
    pub fn open(dir: &Path) -> Result<RedbStore, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError(format!("cannot create `{}`: {e}", dir.display())))?;
        let path = dir.join(FILE_NAME);
        let db = Database::create(&path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError(format!(
                "`{}` is in use by another process (a running gateway?); use the admin API instead",
                path.display()
            )),
            other => StoreError(format!("cannot open `{}`: {other}", path.display())),
        })?;
        // Create the tables so that readers find them.
        let tx = db.begin_write().map_err(err)?;
        tx.open_table(KEYS).map_err(err)?;
        tx.open_table(CREDENTIALS).map_err(err)?;
        tx.open_table(QUOTA).map_err(err)?;
        tx.open_table(PLUGIN_KV).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(RedbStore { db })
    }
}

/// A table of JSON documents by id.
type JsonTable = TableDefinition<'static, &'static str, &'static [u8]>;

impl RedbStore {
    fn rows<T: serde::de::DeserializeOwned>(&self, def: JsonTable) -> Result<Vec<T>, StoreError> {
        let tx = self.db.begin_read().map_err(err)?;
        let table = tx.open_table(def).map_err(err)?;
        let mut rows = Vec::new();
        for row in table.iter().map_err(err)? {
            let (_, v) = row.map_err(err)?;
            rows.push(serde_json::from_slice::<T>(v.value()).map_err(err)?);
        }
        Ok(rows)
    }

    fn put_row(
        &self,
        def: JsonTable,
        id: &str,
        doc: &impl serde::Serialize,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_vec(doc).map_err(err)?;
        let tx = self.db.begin_write().map_err(err)?;
        tx.open_table(def)
            .map_err(err)?
            .insert(id, json.as_slice())
            .map_err(err)?;
        tx.commit().map_err(err)
    }

    fn delete_row(&self, def: JsonTable, id: &str) -> Result<bool, StoreError> {
        let tx = self.db.begin_write().map_err(err)?;
        let existed = tx
            .open_table(def)
            .map_err(err)?
            .remove(id)
            .map_err(err)?
            .is_some();
        tx.commit().map_err(err)?;
        Ok(existed)
    }
}

impl StateStore for RedbStore {
    fn keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let mut keys: Vec<StoredKey> = self.rows(KEYS)?;
        keys.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(keys)
    }

    fn put_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        self.put_row(KEYS, &key.id, key)
    }

    fn delete_key(&self, id: &str) -> Result<bool, StoreError> {
        self.delete_row(KEYS, id)
    }

    fn credentials(&self) -> Result<Vec<StoredCredential>, StoreError> {
        let mut all: Vec<StoredCredential> = self.rows(CREDENTIALS)?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    fn put_credential(&self, c: &StoredCredential) -> Result<(), StoreError> {
        self.put_row(CREDENTIALS, &c.access_key_id, c)
    }

    fn delete_credential(&self, access_key_id: &str) -> Result<bool, StoreError> {
        self.delete_row(CREDENTIALS, access_key_id)
    }

    fn quota_count(&self, key: &QuotaKey) -> Result<u64, StoreError> {
        let tx = self.db.begin_read().map_err(err)?;
        let table = tx.open_table(QUOTA).map_err(err)?;
        let count = table.get(key.encode().as_str()).map_err(err)?;
        Ok(count.map_or(0, |v| v.value()))
    }

    fn add_quota(&self, increments: &[(QuotaKey, u64)]) -> Result<(), StoreError> {
        if increments.is_empty() {
            return Ok(());
        }
        let tx = self.db.begin_write().map_err(err)?;
        {
            let mut table = tx.open_table(QUOTA).map_err(err)?;
            for (k, n) in increments {
                let id = k.encode();
                let old = table
                    .get(id.as_str())
                    .map_err(err)?
                    .map_or(0, |v| v.value());
                table.insert(id.as_str(), old + n).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read().map_err(err)?;
        let table = tx.open_table(PLUGIN_KV).map_err(err)?;
        let value = table.get((plugin, key)).map_err(err)?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    fn kv_put(&self, plugin: &str, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(err)?;
        tx.open_table(PLUGIN_KV)
            .map_err(err)?
            .insert((plugin, key), value)
            .map_err(err)?;
        tx.commit().map_err(err)
    }

    fn kv_delete(&self, plugin: &str, key: &str) -> Result<bool, StoreError> {
        let tx = self.db.begin_write().map_err(err)?;
        let existed = tx
            .open_table(PLUGIN_KV)
            .map_err(err)?
            .remove((plugin, key))
            .map_err(err)?
            .is_some();
        tx.commit().map_err(err)?;
        Ok(existed)
    }

    fn kv_usage(&self, plugin: &str) -> Result<KvUsage, StoreError> {
        let tx = self.db.begin_read().map_err(err)?;
        let table = tx.open_table(PLUGIN_KV).map_err(err)?;
        let mut usage = KvUsage::default();
        // Tuple keys sort by plugin first, so one plugin's rows are one contiguous range.
        for row in table.range((plugin, "")..).map_err(err)? {
            let (k, v) = row.map_err(err)?;
            let (p, key) = k.value();
            if p != plugin {
                break;
            }
            usage.keys += 1;
            usage.bytes += key.len() + v.value().len();
        }
        Ok(usage)
    }

    fn kv_keys(&self, plugin: &str, prefix: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        let tx = self.db.begin_read().map_err(err)?;
        let table = tx.open_table(PLUGIN_KV).map_err(err)?;
        let mut keys = Vec::new();
        for row in table.range((plugin, prefix)..).map_err(err)? {
            if keys.len() >= limit {
                break;
            }
            let (k, _) = row.map_err(err)?;
            let (p, key) = k.value();
            if p != plugin || !key.starts_with(prefix) {
                break;
            }
            keys.push(key.to_owned());
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> StoredKey {
        StoredKey {
            id: id.into(),
            name: format!("name-{id}"),
            hash: "ab".repeat(32),
            enabled: true,
            plans: vec!["gold".into()],
            created_at: 1,
            from_config: false,
        }
    }

    #[test]
    fn keys_and_counts_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let q = QuotaKey {
            plan: "gold".into(),
            key_id: "k1".into(),
            window_start: 86_400,
        };
        {
            let store = RedbStore::open(dir.path()).expect("open");
            store.put_key(&key("k1")).expect("put");
            store.put_key(&key("k2")).expect("put");
            assert!(store.delete_key("k2").expect("delete"));
            assert!(!store.delete_key("k2").expect("delete again"));
            store.add_quota(&[(q.clone(), 5)]).expect("add");
            store.add_quota(&[(q.clone(), 2)]).expect("add");
        }
        let store = RedbStore::open(dir.path()).expect("reopen");
        assert_eq!(store.keys().expect("keys"), vec![key("k1")]);
        assert_eq!(store.quota_count(&q).expect("count"), 7);
        let other = QuotaKey {
            window_start: 0,
            ..q
        };
        assert_eq!(store.quota_count(&other).expect("count"), 0);
    }

    #[test]
    fn plugin_values_survive_reopening_and_stay_per_plugin() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = RedbStore::open(dir.path()).expect("open");
            store.kv_put("a", "x", b"1").expect("put");
            store.kv_put("a", "y", b"22").expect("put");
            store.kv_put("ab", "x", b"333").expect("put");
            store.kv_put("b", "x", b"4444").expect("put");
            assert!(store.kv_delete("b", "x").expect("delete"));
            assert!(!store.kv_delete("b", "x").expect("delete again"));
        }
        let store = RedbStore::open(dir.path()).expect("reopen");
        assert_eq!(store.kv_get("a", "y").expect("get"), Some(b"22".to_vec()));
        assert_eq!(store.kv_get("b", "x").expect("get"), None);
        assert_eq!(
            store.kv_usage("a").expect("usage"),
            KvUsage { keys: 2, bytes: 5 }
        );
        assert_eq!(
            store.kv_usage("ab").expect("usage"),
            KvUsage { keys: 1, bytes: 4 }
        );
        assert_eq!(store.kv_usage("b").expect("usage"), KvUsage::default());
        assert_eq!(store.kv_keys("a", "", 10).expect("keys"), vec!["x", "y"]);
        assert_eq!(store.kv_keys("a", "y", 10).expect("keys"), vec!["y"]);
        assert_eq!(store.kv_keys("a", "", 1).expect("keys"), vec!["x"]);
        assert!(store.kv_keys("a", "z", 10).expect("keys").is_empty());
    }

    #[test]
    fn a_second_opener_gets_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _first = RedbStore::open(dir.path()).expect("open");
        let second = RedbStore::open(dir.path()).expect_err("locked");
        assert!(second.0.contains("in use by another process"), "{second}");
    }
}
