//! Deployments: every config the gateway loaded and served, with its text, kept in the state
//! store with a bounded history, so that an operator can see what changed when and go back.
//!
//! Records and texts live in the store's key/value space under a namespace no plugin can name
//! (plugin names are letters, digits, `-` and `_`). Record keys sort by time, so a listing is
//! oldest first; the text of a deployment is stored beside its record. With a shared store
//! (Redis) every node's deployments are in one history.

use crate::{SharedStore, StoreError};
use sha2::{Digest, Sha256};
use std::time::{SystemTime, UNIX_EPOCH};

/// The key/value namespace of deployments.
const NAMESPACE: &str = "\u{1}deployments";
/// How many deployments are kept when the config sets nothing else.
pub const DEFAULT_HISTORY: usize = 50;

/// What made the gateway load a config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The process started.
    Start,
    /// The config file changed on disk.
    File,
    /// A plugin file changed on disk.
    Plugin,
    /// SIGHUP.
    Signal,
    /// The admin API's `POST /reload`.
    Admin,
    /// A rollback to an earlier deployment.
    Rollback,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Start => "start",
            Source::File => "file",
            Source::Plugin => "plugin",
            Source::Signal => "signal",
            Source::Admin => "admin",
            Source::Rollback => "rollback",
        }
    }

    /// What loaded the config, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Source::Start => "the process started",
            Source::File => "the config file changed",
            Source::Plugin => "a plugin file changed",
            Source::Signal => "SIGHUP",
            Source::Admin => "the admin API's reload",
            Source::Rollback => "a rollback",
        }
    }
}

/// One loaded config, as the history keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Deployment {
    /// Ten lowercase letters and digits, as API Gateway's deployment ids.
    pub id: String,
    /// When it started serving, in milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// `sha256:` and the hex SHA-256 of the config text it serves.
    pub digest: String,
    pub source: Source,
    /// What a person reads in a listing: for a rollback, the deployment it went back to.
    pub description: String,
    /// The config file's path.
    pub file: String,
    /// The digest of the config file on disk when it was deployed: the served text's digest,
    /// except after a rollback.
    pub file_digest: String,
    /// For a rollback: the deployment whose text it serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<String>,
}

/// The SHA-256 of a config text, as deployments name it.
pub fn digest(text: &str) -> String {
    let sum = Sha256::digest(text.as_bytes());
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in sum {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn new_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes[..10]
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn record_key(d: &Deployment) -> String {
    format!("r/{:016}/{}", d.created_at_ms, d.id)
}

fn text_key(id: &str) -> String {
    format!("t/{id}")
}

/// The deployment history in a state store. Every call is blocking I/O on a durable or shared
/// store: call it off the async workers.
#[derive(Debug, Clone)]
pub struct Deployments {
    store: SharedStore,
    history: usize,
}

impl Deployments {
    pub fn new(store: SharedStore, history: usize) -> Self {
        Deployments {
            store,
            history: history.max(1),
        }
    }

    /// Records that `text` (from `file`, whose text on disk digests to `file_digest`) now
    /// serves, and drops the oldest deployments past the history's length.
    pub fn record(
        &self,
        text: &str,
        file: &str,
        file_digest: Option<&str>,
        source: Source,
        rollback_of: Option<&Deployment>,
    ) -> Result<Deployment, StoreError> {
        let digest = digest(text);
        let mut created_at_ms = now_ms();
        // Keep the order of two loads within one millisecond.
        if let Some(last) = self.list()?.last() {
            created_at_ms = created_at_ms.max(last.created_at_ms + 1);
        }
        let description = match (source, rollback_of) {
            (Source::Rollback, Some(d)) => format!("rollback to {}", d.id),
            (_, Some(d)) => format!("loaded: {}; serves the text of {}", source.describe(), d.id),
            (_, None) => format!("loaded: {}", source.describe()),
        };
        let d = Deployment {
            id: new_id(),
            created_at_ms,
            file_digest: file_digest.unwrap_or(&digest).to_owned(),
            digest,
            source,
            description,
            file: file.to_owned(),
            rollback_of: rollback_of.map(|d| d.id.clone()),
        };
        let json = serde_json::to_vec(&d).map_err(|e| StoreError(e.to_string()))?;
        self.store
            .kv_put(NAMESPACE, &text_key(&d.id), text.as_bytes())?;
        self.store.kv_put(NAMESPACE, &record_key(&d), &json)?;
        self.prune()?;
        Ok(d)
    }

    fn prune(&self) -> Result<(), StoreError> {
        let keys = self.store.kv_keys(NAMESPACE, "r/", usize::MAX)?;
        if keys.len() <= self.history {
            return Ok(());
        }
        for key in &keys[..keys.len() - self.history] {
            if let Some(id) = key.rsplit('/').next() {
                self.store.kv_delete(NAMESPACE, &text_key(id))?;
            }
            self.store.kv_delete(NAMESPACE, key)?;
        }
        Ok(())
    }

    /// Every kept deployment, oldest first.
    pub fn list(&self) -> Result<Vec<Deployment>, StoreError> {
        let keys = self.store.kv_keys(NAMESPACE, "r/", usize::MAX)?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let Some(json) = self.store.kv_get(NAMESPACE, &key)? else {
                continue;
            };
            match serde_json::from_slice(&json) {
                Ok(d) => out.push(d),
                Err(e) => {
                    tracing::warn!(key, error = %e, "a stored deployment is malformed; skipped")
                }
            }
        }
        Ok(out)
    }

    /// The deployment with `id`.
    pub fn get(&self, id: &str) -> Result<Option<Deployment>, StoreError> {
        Ok(self.list()?.into_iter().find(|d| d.id == id))
    }

    /// The config text deployment `id` served.
    pub fn text(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .store
            .kv_get(NAMESPACE, &text_key(id))?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// At start: the text to serve when the newest deployment of `file` served another text
    /// than the file's (a rollback) while the file on disk was what it is now (`file_text`), so
    /// that a restart keeps a rollback until the file changes. `None`: serve the file.
    pub fn kept_rollback(
        &self,
        file: &str,
        file_text: &str,
    ) -> Result<Option<(Deployment, String)>, StoreError> {
        let Some(last) = self.list()?.into_iter().rev().find(|d| d.file == file) else {
            return Ok(None);
        };
        if last.digest == last.file_digest || last.file_digest != digest(file_text) {
            return Ok(None);
        }
        Ok(self.text(&last.id)?.map(|t| (last, t)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn history(n: usize) -> Deployments {
        Deployments::new(Arc::new(crate::MemoryStore::default()), n)
    }

    #[test]
    fn records_in_order_and_keeps_the_newest() {
        let h = history(3);
        let mut ids = Vec::new();
        for i in 0..5 {
            let d = h
                .record(&format!("text {i}"), "g.yaml", None, Source::File, None)
                .unwrap();
            assert_eq!(d.id.len(), 10);
            assert_eq!(d.digest, digest(&format!("text {i}")));
            ids.push(d.id);
        }
        let kept: Vec<String> = h.list().unwrap().into_iter().map(|d| d.id).collect();
        assert_eq!(kept, ids[2..]);
        assert_eq!(h.text(&ids[4]).unwrap().as_deref(), Some("text 4"));
        assert_eq!(h.text(&ids[0]).unwrap(), None, "a pruned text goes too");
    }

    #[test]
    fn a_rollback_is_kept_across_a_restart_until_the_file_changes() {
        let h = history(10);
        let first = h.record("v1", "g.yaml", None, Source::Start, None).unwrap();
        h.record("v2", "g.yaml", None, Source::File, None).unwrap();
        assert_eq!(h.kept_rollback("g.yaml", "v2").unwrap(), None);
        let back = h
            .record(
                "v1",
                "g.yaml",
                Some(&digest("v2")),
                Source::Rollback,
                Some(&first),
            )
            .unwrap();
        assert_eq!(back.rollback_of.as_deref(), Some(first.id.as_str()));
        assert_eq!(back.description, format!("rollback to {}", first.id));
        let (d, text) = h.kept_rollback("g.yaml", "v2").unwrap().unwrap();
        assert_eq!((d.id.as_str(), text.as_str()), (back.id.as_str(), "v1"));
        assert_eq!(h.kept_rollback("g.yaml", "v3").unwrap(), None);
        assert_eq!(h.kept_rollback("other.yaml", "v2").unwrap(), None);
        // A restart that kept it records a start serving the same text: still kept.
        let start = h
            .record(
                "v1",
                "g.yaml",
                Some(&digest("v2")),
                Source::Start,
                Some(&back),
            )
            .unwrap();
        assert_eq!(
            start.description,
            format!(
                "loaded: the process started; serves the text of {}",
                back.id
            )
        );
        assert_eq!(h.kept_rollback("g.yaml", "v2").unwrap().unwrap().1, "v1");
        // Once the file changes and loads, the file wins.
        h.record("v3", "g.yaml", None, Source::File, None).unwrap();
        assert_eq!(h.kept_rollback("g.yaml", "v3").unwrap(), None);
    }
}
