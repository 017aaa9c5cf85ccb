//! `gatehouse iam`: IAM credentials in the config's state store.

use crate::IamAction;
use gatehouse::state::iam::{IamCredentials, NewCredential};
use gatehouse::state::StoredCredential;
use std::path::PathBuf;

/// Runs a `gatehouse iam` action against the config's state store.
pub fn iam(config: Option<PathBuf>, action: IamAction) -> Result<String, String> {
    let (_, loaded, store) = super::keys::open_store(config, "IAM credentials")?;
    let iam = IamCredentials::new(store).map_err(|e| e.to_string())?;
    iam.import(&loaded.runtime.config_iam)
        .map_err(|e| e.to_string())?;
    let show = |c: &StoredCredential| {
        format!(
            "{}  {}  {}  {}  allow=[{}]{}",
            c.access_key_id,
            c.name,
            c.principal,
            if c.enabled { "enabled" } else { "disabled" },
            c.allow.join(","),
            if c.from_config { "  (from config)" } else { "" }
        )
    };
    let missing = |id: &str| format!("no IAM credential with access key id `{id}`");
    let enable = matches!(action, IamAction::Enable { .. });
    match action {
        IamAction::Create {
            name,
            principal,
            allow,
            access_key_id,
            secret_access_key,
        } => {
            let c = iam.create(NewCredential {
                name,
                access_key_id,
                secret_access_key,
                session_token: None,
                principal,
                allow,
                enabled: true,
            })?;
            Ok(format!(
                "{}\nsecret_access_key: {}",
                show(&c),
                c.secret_access_key
            ))
        }
        IamAction::List => {
            let list = iam.list().map_err(|e| e.to_string())?;
            Ok(list.iter().map(show).collect::<Vec<_>>().join("\n"))
        }
        IamAction::Enable { access_key_id: id } | IamAction::Disable { access_key_id: id } => iam
            .set_enabled(&id, enable)
            .map_err(|e| e.to_string())?
            .map(|c| show(&c))
            .ok_or_else(|| missing(&id)),
        IamAction::Delete { access_key_id } => {
            if iam.delete(&access_key_id).map_err(|e| e.to_string())? {
                Ok(format!("deleted {access_key_id}"))
            } else {
                Err(missing(&access_key_id))
            }
        }
    }
}
