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
    /// Queues `push` wherever the connection is open (another node's: through the shared
    /// store, within its timeout, which counts against the call's time).
    fn push(
        &self,
        id: &str,
        push: Push,
    ) -> impl std::future::Future<Output = Result<(), ConnectionError>> + Send + 'static {
        let sent = self.connections.0.get().map(|r| r.send(id, push));
        async move {
            match sent {
                Some(sent) => sent.await.map_err(to_wit),
                None => Err(ConnectionError::Gone),
            }
        }
    }
}

impl Host for CallState {
    async fn send(&mut self, id: String, data: Vec<u8>) -> Result<(), ConnectionError> {
        self.push(&id, Push::message(data.into())).await
    }

    async fn disconnect(&mut self, id: String) -> Result<(), ConnectionError> {
        self.push(&id, Push::Close).await
    }
}
