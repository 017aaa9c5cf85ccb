//! `gatehouse:plugin/log`: to the gateway's log, tagged with plugin and request id.

use crate::bindings::log::{Host, Level};
use crate::CallState;

/// Longest message kept; a plugin cannot flood the log with one call.
const MAX_MESSAGE: usize = 4096;

impl Host for CallState {
    async fn log(&mut self, level: Level, message: String) {
        let mut end = message.len().min(MAX_MESSAGE);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let msg = &message[..end];
        let (plugin, request_id) = (&*self.plugin, &self.request_id);
        match level {
            Level::Trace => tracing::trace!(target: "plugin", plugin, request_id, "{msg}"),
            Level::Debug => tracing::debug!(target: "plugin", plugin, request_id, "{msg}"),
            Level::Info => tracing::info!(target: "plugin", plugin, request_id, "{msg}"),
            Level::Warn => tracing::warn!(target: "plugin", plugin, request_id, "{msg}"),
            Level::Error => tracing::error!(target: "plugin", plugin, request_id, "{msg}"),
        }
    }
}
