//! What every request and every reload share: the current runtime and what outlives it.

use crate::runtime::Runtime;
use crate::{access_log, metrics, plugin, state, upstream, usage, websocket};
use arc_swap::ArcSwap;

/// State shared by every request and kept across reloads.
#[derive(Debug)]
pub struct Shared {
    /// The current compiled config; swapped whole on reload.
    pub runtime: ArcSwap<Runtime>,
    /// Shared with the plugin host, whose plugins' HTTP requests go through them too.
    pub upstreams: std::sync::Arc<upstream::Upstreams>,
    pub metrics: metrics::Registry,
    pub plugins: plugin::PluginHost,
    pub access_log: Option<access_log::Sink>,
    /// Where stages' execution log lines go; `None` when `execution_log.destination` is off.
    pub execution_log: Option<access_log::Sink>,
    /// API keys and quota counters; they outlive reloads.
    pub keys: state::keys::ApiKeys,
    /// IAM credentials for `AWS_IAM` methods; they outlive reloads.
    pub iam: state::iam::IamCredentials,
    /// Open WebSocket connections and pass-through tunnels.
    pub websockets: websocket::Hub,
    /// The configs loaded so far, in the state store.
    pub deployments: state::deployments::Deployments,
    /// Records and exports request traces; `None` when tracing is off.
    pub tracer: Option<std::sync::Arc<crate::trace::Tracer>>,
    /// What each stage's usage counters had reached when last written to the store.
    pub stage_usage: usage::StageUsage,
}

impl Shared {
    /// Writes the quota counts, the keys' usage and the stages' usage not yet stored.
    /// Blocking: call it off the async workers.
    pub fn flush_counts(&self) -> Result<(), state::StoreError> {
        self.keys.flush()?;
        self.stage_usage.flush(&self.metrics, self.keys.store())
    }
}

impl crate::integration::Outbound for Shared {
    fn upstreams(&self) -> &upstream::Upstreams {
        &self.upstreams
    }

    fn websockets(&self) -> &websocket::Hub {
        &self.websockets
    }
}
