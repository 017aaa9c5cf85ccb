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
    /// With `cluster: true`, instead of `url`: several nodes of the cluster (seeds), tried in
    /// turn at start.
    pub urls: Option<Vec<String>>,
    /// With `backend: redis`: whether `url` is one node of a Redis Cluster (default false).
    pub cluster: Option<bool>,
    /// With `backend: redis`, instead of `url`: Redis Sentinel names the master.
    pub sentinel: Option<RawSentinel>,
    /// With `backend: redis`: the environment variable holding the password.
    pub password_env: Option<String>,
    /// With a `rediss://` URL: a PEM file of the certificate authorities to trust for Redis,
    /// instead of the system's roots.
    pub tls_ca_file: Option<PathBuf>,
    /// With `backend: redis`: the longest one Redis call may take.
    pub timeout: Option<String>,
    /// With `backend: redis`: the prefix of every Redis key (default `gatehouse`).
    pub key_prefix: Option<String>,
    /// With `backend: redis`: what quota checks and throttles do when Redis is down.
    pub on_unavailable: Option<RawOnUnavailable>,
}

/// `state.sentinel`: the sentinels to ask and the master they watch.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSentinel {
    /// The master's name as the sentinels know it (`sentinel monitor NAME ...`).
    pub master_name: Option<String>,
    /// The sentinels: `redis://` or `rediss://` URLs, without a password.
    pub urls: Option<Vec<String>>,
    /// The sentinels' ACL user, when not their default user.
    pub username: Option<String>,
    /// The ACL user on the master and its replicas, when not their default user.
    pub master_username: Option<String>,
    /// The environment variable holding the sentinels' own password, if they ask for one.
    pub password_env: Option<String>,
}

/// `fail_open` or `fail_closed` for quota checks (throttles then use local buckets), or one
/// policy per feature.
#[derive(Debug)]
pub enum RawOnUnavailable {
    Quotas(String),
    PerFeature(RawPolicies),
}

impl<'de> Deserialize<'de> for RawOnUnavailable {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> serde::de::Visitor<'de> for Either {
            type Value = RawOnUnavailable;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("fail_open, fail_closed or a map with `quotas` and `throttles`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawOnUnavailable::Quotas(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                // Through the map's own deserializer, so an unknown field is named.
                RawPolicies::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawOnUnavailable::PerFeature)
            }
        }
        d.deserialize_any(Either)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicies {
    /// Usage plan quota checks: `fail_closed` (default) or `fail_open`.
    pub quotas: Option<String>,
    /// Stage, method, account and per-key throttles: `fail_open` (default: each node's own
    /// buckets) or `fail_closed` (429).
    pub throttles: Option<String>,
}
