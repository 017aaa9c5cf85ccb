//! The gateway's host functions: log, per-plugin key/value state, clock, plugin settings, and
//! for WebSocket handlers the key listing and `@connections`.
//!
//! They are imported from Gatehouse and exist only when the plugin runs inside it; called in a
//! native build (a unit test on the developer's machine) they panic.

use crate::world::authorizer::gatehouse::plugin as imports;

pub use imports::log::Level;

/// Writes `message` to the gateway's log at `level`, tagged with the plugin name and request id.
pub fn log(level: Level, message: &str) {
    imports::log::log(level, message);
}

/// Logs at `info` level.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs at `warn` level.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs at `error` level.
pub fn error(message: &str) {
    log(Level::Error, message);
}

/// Key/value state private to this plugin.
pub mod kv {
    use super::imports::kv;

    /// The value stored under `key`.
    pub fn get(key: &str) -> Option<Vec<u8>> {
        kv::get(key)
    }

    /// Stores `value` under `key`; fails when the plugin's quota is used up.
    pub fn set(key: &str, value: &[u8]) -> Result<(), String> {
        kv::set(key, value)
    }

    /// Removes `key`; true when it was there.
    pub fn delete(key: &str) -> bool {
        kv::delete(key)
    }

    /// Up to `limit` keys starting with `prefix`, in byte order (WebSocket handlers only).
    pub fn keys(prefix: &str, limit: u32) -> Vec<String> {
        crate::world::websocket_handler::gatehouse::plugin::kv_keys::keys(prefix, limit)
    }
}

/// Sends to and disconnects WebSocket clients by connection id (WebSocket handlers only).
pub mod connections {
    use crate::world::websocket_handler::gatehouse::plugin::connections as imp;

    pub use imp::ConnectionError;

    /// Sends `data` to connection `id` (text when UTF-8); `Gone` when it is not open.
    pub fn send(id: &str, data: &[u8]) -> Result<(), ConnectionError> {
        imp::send(id, data)
    }

    /// Closes connection `id`; its `$disconnect` route runs.
    pub fn disconnect(id: &str) -> Result<(), ConnectionError> {
        imp::disconnect(id)
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> u64 {
    imports::clock::now_millis()
}

/// How many settings [`config`] keeps per instance.
pub const KEPT_SETTINGS: usize = 32;

/// The plugin setting `name` from `plugins.NAME.config` in `gatehouse.yaml`.
///
/// An instance's settings never change (a reload makes new instances), so each setting is
/// asked of the gateway once per instance and kept in the instance: later calls get a copy
/// without crossing into the host. The first [`KEPT_SETTINGS`] names asked for are kept;
/// others are asked of the gateway each time.
pub fn config(name: &str) -> Option<String> {
    thread_local! {
        static SETTINGS: std::cell::RefCell<Vec<(String, Option<String>)>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    SETTINGS.with(|settings| {
        if let Some((_, value)) = settings.borrow().iter().find(|(n, _)| n == name) {
            return value.clone();
        }
        let value = imports::config::get(name);
        let mut settings = settings.borrow_mut();
        if settings.len() < KEPT_SETTINGS {
            settings.push((name.to_owned(), value.clone()));
        }
        value
    })
}
