//! Deployments: each config that starts serving is recorded in the state store's history
//! (`state::deployments`); a rollback serves an earlier deployment's text again, until the
//! config file changes or a reload is asked for. A restart keeps a rollback while the file on
//! disk is the one the rollback replaced.

use crate::shared::Shared;
use crate::state::deployments::{digest, Deployment, Deployments, Source};
use std::path::Path;

/// The config file's path as deployments record it.
pub fn file_name(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// At start: the text to serve, and the deployment it comes from when that is not the file's
/// own text (a rollback kept across the restart).
pub fn startup_text(
    deployments: &Deployments,
    path: &Path,
    file_text: String,
) -> (String, Option<Deployment>) {
    match deployments.kept_rollback(&file_name(path), &file_text) {
        Ok(Some((d, text))) => {
            tracing::info!(
                deployment = %d.id,
                "serving the deployment the last rollback chose: the config file has not changed since"
            );
            (text, Some(d))
        }
        Ok(None) => (file_text, None),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the deployment history; serving the config file");
            (file_text, None)
        }
    }
}

/// Records that `text` now serves; blocking (call it off the async workers). A store error is
/// logged: the config serves all the same.
pub fn record(
    shared: &Shared,
    path: &Path,
    text: &str,
    file_text: Option<&str>,
    source: Source,
    rollback_of: Option<&Deployment>,
) -> Option<Deployment> {
    let file_digest = file_text.map(digest);
    match shared.deployments.record(
        text,
        &file_name(path),
        file_digest.as_deref(),
        source,
        rollback_of,
    ) {
        Ok(d) => {
            tracing::info!(deployment = %d.id, source = source.as_str(), digest = %d.digest, "deployed");
            Some(d)
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot record the deployment in the state store");
            None
        }
    }
}

/// Why a rollback did not happen.
#[derive(Debug)]
pub enum RollbackError {
    /// No deployment with that id in the history.
    NotFound,
    /// The deployment's text no longer compiles (a plugin file it names is gone, say).
    Invalid(super::ConfigErrors),
    Store(String),
}
