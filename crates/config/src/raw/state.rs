//! The `state:` section: where API keys, quota counts and plugin kv data are kept.

use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    /// `embedded` (the default: redb in `data_dir`, else memory) or `redis`.
    pub backend: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub flush_interval: Option<String>,
    /// With `backend: redis`: `redis://` or `rediss://` URL, without a password.
    pub url: Option<String>,
    /// With `backend: redis`: the environment variable holding the password.
    pub password_env: Option<String>,
    /// With `backend: redis`: the longest one Redis call may take.
    pub timeout: Option<String>,
    /// With `backend: redis`: the prefix of every Redis key (default `gatehouse`).
    pub key_prefix: Option<String>,
    /// With `backend: redis`: `fail_open` or `fail_closed` (default) when Redis is down.
    pub on_unavailable: Option<String>,
}
