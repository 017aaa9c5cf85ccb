//! IAM credentials for SigV4-signed requests, managed like API keys: those of the config file
//! are imported on every load (matched by name), others are made through the admin API or the
//! CLI, and all live in the [`StateStore`], so several nodes on Redis share them. Requests read
//! an in-memory map by access key id, replaced whole whenever the credentials change.

use super::keys::now_secs;
use super::{SharedStore, StoreError, StoredCredential, Taken};
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// What makes a credential, from the config file or the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredential {
    pub name: String,
    /// Generated (`AKIA` and 16 characters) when `None`.
    pub access_key_id: Option<String>,
    /// Generated (40 characters) when `None`.
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub principal: String,
    pub allow: Vec<String>,
    pub enabled: bool,
}

/// The credentials of one gateway process; they outlive reloads.
pub struct IamCredentials {
    store: SharedStore,
    by_id: ArcSwap<HashMap<String, Arc<StoredCredential>>>,
    /// Serializes changes, never requests.
    changes: Mutex<()>,
}

impl std::fmt::Debug for IamCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IamCredentials")
            .field("credentials", &self.by_id.load().len())
            .finish_non_exhaustive()
    }
}

/// `n` random characters of `alphabet`.
fn random(alphabet: &[u8], n: usize) -> String {
    let mut bytes = Vec::with_capacity(n);
    while bytes.len() < n {
        bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    bytes[..n]
        .iter()
        .map(|b| char::from(alphabet[usize::from(*b) % alphabet.len()]))
        .collect()
}

/// A fresh access key id in AWS's shape: `AKIA` and 16 of `A-Z2-7`.
pub fn generate_access_key_id() -> String {
    format!("AKIA{}", random(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16))
}

/// A fresh secret access key: 40 characters of `A-Za-z0-9+/`.
pub fn generate_secret() -> String {
    random(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        40,
    )
}

/// Checks what a user gives for a credential; the same rules for the config file and the API.
pub fn validate(c: &NewCredential) -> Result<(), String> {
    if c.name.is_empty() || c.name.len() > 128 {
        return Err("expected a name of 1 to 128 characters".into());
    }
    if let Some(id) = &c.access_key_id {
        if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(format!(
                "expected an access key id of 1 to 128 letters and digits, found `{id}`"
            ));
        }
    }
    if let Some(secret) = &c.secret_access_key {
        if secret.is_empty() || !secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("expected a secret access key of visible ASCII characters".into());
        }
    }
    let arn: Vec<&str> = c.principal.splitn(6, ':').collect();
    if arn.len() != 6 || arn[0] != "arn" || arn[2] != "iam" || arn[4].is_empty() {
        return Err(format!(
            "expected an IAM ARN such as `arn:aws:iam::123456789012:user/NAME`, found `{}`",
            c.principal
        ));
    }
    Ok(())
}

impl IamCredentials {
    pub fn new(store: SharedStore) -> Result<IamCredentials, StoreError> {
        let iam = IamCredentials {
            store,
            by_id: ArcSwap::from_pointee(HashMap::new()),
            changes: Mutex::new(()),
        };
        iam.refresh()?;
        Ok(iam)
    }

    fn lock_changes(&self) -> MutexGuard<'_, ()> {
        self.changes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn refresh(&self) -> Result<(), StoreError> {
        let map = self
            .store
            .credentials()?
            .into_iter()
            .map(|c| (c.access_key_id.clone(), Arc::new(c)))
            .collect();
        self.by_id.store(Arc::new(map));
        Ok(())
    }

    /// Rebuilds the map from the store, after another node changed the credentials.
    pub fn reload(&self) -> Result<(), StoreError> {
        let _guard = self.lock_changes();
        self.refresh()
    }

    /// The credential with this access key id, enabled or not.
    pub fn lookup(&self, access_key_id: &str) -> Option<Arc<StoredCredential>> {
        self.by_id.load().get(access_key_id).cloned()
    }

    /// Every credential, by name.
    pub fn list(&self) -> Result<Vec<StoredCredential>, StoreError> {
        self.store.credentials()
    }

    /// Makes the stored config credentials match the config file: adds and updates them by
    /// name, removes config credentials no longer listed. Others stay.
    pub fn import(&self, config: &[StoredCredential]) -> Result<(), StoreError> {
        let _guard = self.lock_changes();
        let stored = self.store.credentials()?;
        for c in config {
            let existing = stored.iter().find(|s| s.name == c.name);
            let mut want = c.clone();
            want.from_config = true;
            want.created_at = existing.map_or_else(now_secs, |s| s.created_at);
            if existing == Some(&want) {
                continue;
            }
            if let Some(old) = existing.filter(|s| s.access_key_id != want.access_key_id) {
                self.store.delete_credential(&old.access_key_id)?;
            }
            self.store.put_credential(&want)?;
        }
        for s in &stored {
            if s.from_config && !config.iter().any(|c| c.name == s.name) {
                self.store.delete_credential(&s.access_key_id)?;
            }
        }
        self.refresh()
    }

    /// Creates a credential; its secret is in what it returns, and only there.
    pub fn create(&self, new: NewCredential) -> Result<StoredCredential, String> {
        validate(&new)?;
        let _guard = self.lock_changes();
        let c = StoredCredential {
            access_key_id: new.access_key_id.unwrap_or_else(generate_access_key_id),
            name: new.name,
            secret_access_key: new.secret_access_key.unwrap_or_else(generate_secret),
            session_token: new.session_token,
            principal: new.principal,
            allow: new.allow,
            enabled: new.enabled,
            created_at: now_secs(),
            from_config: false,
        };
        match self
            .store
            .insert_credential(&c)
            .map_err(|e| e.to_string())?
        {
            None => {}
            Some(Taken::Name) => {
                return Err(format!("a credential named `{}` exists already", c.name))
            }
            Some(Taken::Id) => return Err(format!("access key id `{}` is taken", c.access_key_id)),
        }
        self.refresh().map_err(|e| e.to_string())?;
        Ok(c)
    }

    /// Enables or disables a credential; `None` when there is no such access key id.
    pub fn set_enabled(
        &self,
        access_key_id: &str,
        enabled: bool,
    ) -> Result<Option<StoredCredential>, StoreError> {
        let _guard = self.lock_changes();
        let mut found = self.store.credentials()?.into_iter();
        let Some(mut c) = found.find(|c| c.access_key_id == access_key_id) else {
            return Ok(None);
        };
        c.enabled = enabled;
        self.store.put_credential(&c)?;
        self.refresh()?;
        Ok(Some(c))
    }

    /// Deletes a credential; false when there was none.
    pub fn delete(&self, access_key_id: &str) -> Result<bool, StoreError> {
        let _guard = self.lock_changes();
        let existed = self.store.delete_credential(access_key_id)?;
        self.refresh()?;
        Ok(existed)
    }
}

/// A credential as the admin API and the CLI list it: everything but the secrets.
pub fn redacted(c: &StoredCredential) -> serde_json::Value {
    serde_json::json!({
        "access_key_id": c.access_key_id,
        "name": c.name,
        "principal": c.principal,
        "allow": c.allow,
        "session_token": c.session_token.is_some(),
        "enabled": c.enabled,
        "created_at": c.created_at,
        "from_config": c.from_config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;

    fn new(name: &str) -> NewCredential {
        NewCredential {
            name: name.into(),
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            principal: "arn:aws:iam::123456789012:user/alice".into(),
            allow: vec![],
            enabled: true,
        }
    }

    #[test]
    fn created_credentials_survive_a_config_import_and_config_ones_follow_the_file() {
        let iam = IamCredentials::new(Arc::new(MemoryStore::default())).unwrap();
        let made = iam.create(new("alice")).unwrap();
        assert!(made.access_key_id.starts_with("AKIA") && made.access_key_id.len() == 20);
        assert_eq!(made.secret_access_key.len(), 40);
        assert!(iam.create(new("alice")).is_err(), "names are unique");
        let from_file = |id: &str| StoredCredential {
            access_key_id: id.into(),
            name: "ci".into(),
            secret_access_key: "s".repeat(40),
            session_token: None,
            principal: "arn:aws:iam::123456789012:role/ci".into(),
            allow: vec![],
            enabled: true,
            created_at: 0,
            from_config: false,
        };
        iam.import(&[from_file("AKIAEXAMPLE000000001")]).unwrap();
        assert!(iam.lookup("AKIAEXAMPLE000000001").is_some());
        assert!(iam.lookup(&made.access_key_id).is_some());
        // The file renames the access key: the old one stops working.
        iam.import(&[from_file("AKIAEXAMPLE000000002")]).unwrap();
        assert!(iam.lookup("AKIAEXAMPLE000000001").is_none());
        assert!(iam.lookup("AKIAEXAMPLE000000002").unwrap().from_config);
        iam.import(&[]).unwrap();
        assert_eq!(iam.list().unwrap().len(), 1, "only the created one stays");
        assert!(
            !iam.set_enabled(&made.access_key_id, false)
                .unwrap()
                .unwrap()
                .enabled
        );
        assert!(!iam.lookup(&made.access_key_id).unwrap().enabled);
        assert!(iam.delete(&made.access_key_id).unwrap());
        assert!(iam.lookup(&made.access_key_id).is_none());
    }

    #[test]
    fn bad_input_is_named() {
        let mut c = new("x");
        c.principal = "alice".into();
        assert!(validate(&c).unwrap_err().contains("IAM ARN"));
        let mut c = new("x");
        c.access_key_id = Some("AKID-1".into());
        assert!(validate(&c).unwrap_err().contains("access key id"));
        assert!(validate(&new("")).is_err());
    }
}
