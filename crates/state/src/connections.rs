//! The WebSocket connection registry behind `@connections`.
//!
//! Each open WebSocket connection of a WebSocket API is registered here with a mailbox (the
//! sending half of a bounded channel its session task reads). `@connections` (the admin API and
//! the plugins' `connections` import) find a connection by id, read its record, push a message
//! to it or ask it to close, all without waiting: [`ConnectionRegistry::push`] only enqueues.
//!
//! [`LocalConnections`] serves one node. A registry shared by several nodes
//! ([`crate::redis_connections`]) keeps the records in the shared store (with the owning node)
//! and forwards pushes for connections of other nodes over its channel to them, through
//! [`ConnectionRegistry::find`] and [`ConnectionRegistry::send`]; the sessions stay the same.

use bytes::Bytes;
use dashmap::DashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// How many pushed messages may wait for one slow connection before pushes are refused.
pub const MAILBOX_CAPACITY: usize = 256;

/// What a connection's session task is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Push {
    /// Send a text message (the bytes are UTF-8).
    Text(Bytes),
    /// Send a binary message.
    Binary(Bytes),
    /// Close the connection (normal closure), calling `$disconnect`.
    Close,
}

impl Push {
    /// A message for `data`: text when it is UTF-8, as API Gateway sends posted data.
    pub fn message(data: Bytes) -> Self {
        if std::str::from_utf8(&data).is_ok() {
            Push::Text(data)
        } else {
            Push::Binary(data)
        }
    }
}

/// Why a push was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// No such connection (never was, or closed): `410 Gone`.
    #[error("the connection is gone")]
    Gone,
    /// The connection's mailbox is full (the client reads too slowly).
    #[error("the connection has too many messages waiting")]
    Full,
}

/// What `GET @connections/{id}` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    pub api: Arc<str>,
    pub stage: Arc<str>,
    /// Milliseconds since the Unix epoch.
    pub connected_at: u64,
    /// Milliseconds since the Unix epoch of the last message from the client.
    pub last_active_at: u64,
    pub source_ip: IpAddr,
    pub user_agent: Option<String>,
    /// The authorizer's principal id, when `$connect` had an authorizer.
    pub principal_id: Option<String>,
}

/// What reaching a connection on another node returns.
pub type ConnFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'static>>;

/// Open WebSocket connections by id.
pub trait ConnectionRegistry: Send + Sync + std::fmt::Debug {
    /// Registers an open connection and where its messages go.
    fn register(&self, id: &str, info: ConnectionInfo, mailbox: mpsc::Sender<Push>);
    /// Forgets a connection (it closed).
    fn unregister(&self, id: &str);
    /// Records activity from the client at `now` (ms since the epoch).
    fn touch(&self, id: &str, now: u64);
    /// The connection's record, if it is open.
    fn get(&self, id: &str) -> Option<ConnectionInfo>;
    /// Queues `push` for the connection; never waits.
    fn push(&self, id: &str, push: Push) -> Result<(), PushError>;
    /// How many connections are open (on this node).
    fn len(&self) -> usize;
    /// The connection's record wherever it is open: this node's at once; a shared registry
    /// asks the shared store for the others'.
    fn find(&self, id: &str) -> ConnFuture<Option<ConnectionInfo>> {
        Box::pin(std::future::ready(self.get(id)))
    }
    /// Queues `push` for the connection wherever it is open: on this node without waiting; a
    /// shared registry sends it to the node holding it.
    fn send(&self, id: &str, push: Push) -> ConnFuture<Result<(), PushError>> {
        Box::pin(std::future::ready(self.push(id, push)))
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The registry shared by everything in the process.
pub type SharedConnections = Arc<dyn ConnectionRegistry>;

struct Entry {
    info: ConnectionInfo,
    last_active: AtomicU64,
    mailbox: mpsc::Sender<Push>,
}

/// The connections of this process.
#[derive(Default)]
pub struct LocalConnections {
    map: DashMap<Box<str>, Entry>,
}

impl std::fmt::Debug for LocalConnections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalConnections")
            .field("open", &self.map.len())
            .finish()
    }
}

impl ConnectionRegistry for LocalConnections {
    fn register(&self, id: &str, info: ConnectionInfo, mailbox: mpsc::Sender<Push>) {
        let last_active = AtomicU64::new(info.connected_at);
        self.map.insert(
            id.into(),
            Entry {
                info,
                last_active,
                mailbox,
            },
        );
    }

    fn unregister(&self, id: &str) {
        self.map.remove(id);
    }

    fn touch(&self, id: &str, now: u64) {
        if let Some(e) = self.map.get(id) {
            e.last_active.fetch_max(now, Ordering::Relaxed);
        }
    }

    fn get(&self, id: &str) -> Option<ConnectionInfo> {
        let e = self.map.get(id)?;
        let mut info = e.info.clone();
        info.last_active_at = e.last_active.load(Ordering::Relaxed);
        Some(info)
    }

    fn push(&self, id: &str, push: Push) -> Result<(), PushError> {
        let e = self.map.get(id).ok_or(PushError::Gone)?;
        e.mailbox.try_send(push).map_err(|err| match err {
            mpsc::error::TrySendError::Full(_) => PushError::Full,
            mpsc::error::TrySendError::Closed(_) => PushError::Gone,
        })
    }

    fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> ConnectionInfo {
        ConnectionInfo {
            api: "chat".into(),
            stage: "prod".into(),
            connected_at: 1_000,
            last_active_at: 1_000,
            source_ip: IpAddr::from([127, 0, 0, 1]),
            user_agent: None,
            principal_id: None,
        }
    }

    #[test]
    fn pushes_reach_the_mailbox_until_the_connection_is_gone() {
        let reg = LocalConnections::default();
        let (tx, mut rx) = mpsc::channel(2);
        reg.register("abc", info(), tx);
        reg.push("abc", Push::message(Bytes::from_static(b"hi")))
            .unwrap();
        assert_eq!(
            rx.try_recv().unwrap(),
            Push::Text(Bytes::from_static(b"hi"))
        );
        reg.push("abc", Push::message(Bytes::from_static(&[0xff])))
            .unwrap();
        assert!(matches!(rx.try_recv().unwrap(), Push::Binary(_)));
        assert_eq!(reg.push("nope", Push::Close), Err(PushError::Gone));
        reg.push("abc", Push::Close).unwrap();
        reg.push("abc", Push::Close).unwrap();
        assert_eq!(reg.push("abc", Push::Close), Err(PushError::Full));
        drop(rx);
        assert_eq!(reg.push("abc", Push::Close), Err(PushError::Gone));
        reg.unregister("abc");
        assert!(reg.get("abc").is_none());
        assert!(reg.is_empty());
    }

    #[test]
    fn touch_moves_last_activity_forward_only() {
        let reg = LocalConnections::default();
        let (tx, _rx) = mpsc::channel(1);
        reg.register("abc", info(), tx);
        reg.touch("abc", 5_000);
        reg.touch("abc", 4_000);
        let got = reg.get("abc").unwrap();
        assert_eq!((got.connected_at, got.last_active_at), (1_000, 5_000));
    }
}
