//! `gatehouse:plugin/connections`: `@connections` for plugins, through the process's
//! connection registry.

use crate::bindings::connections::{ConnectionError, Host};
use crate::CallState;
use gatehouse_state::connections::{Push, PushError, SharedConnections};
use std::sync::OnceLock;

/// The registry plugins reach, set once at startup (absent: every connection is gone).
#[derive(Debug, Default)]
pub struct ConnectionsSlot(OnceLock<SharedConnections>);

impl ConnectionsSlot {
    pub fn set(&self, registry: SharedConnections) -> bool {
        self.0.set(registry).is_ok()
    }
}

fn to_wit(e: PushError) -> ConnectionError {
    match e {
        PushError::Gone => ConnectionError::Gone,
        PushError::Full => ConnectionError::Full,
    }
}

impl CallState {
    fn push(&self, id: &str, push: Push) -> Result<(), ConnectionError> {
        let registry = self.connections.0.get().ok_or(ConnectionError::Gone)?;
        registry.push(id, push).map_err(to_wit)
    }
}

impl Host for CallState {
    async fn send(&mut self, id: String, data: Vec<u8>) -> Result<(), ConnectionError> {
        self.push(&id, Push::message(data.into()))
    }

    async fn disconnect(&mut self, id: String) -> Result<(), ConnectionError> {
        self.push(&id, Push::Close)
    }
}
