//! `@connections` over several nodes on Redis: a connection's record is in Redis with the node
//! that holds it, and a message for a connection on another node goes to that node over its
//! pub/sub channel.
//!
//! Layout, under the configured `key_prefix` (`P`):
//! - `P:ws:conn:ID`: a hash with `node` (the holder's id, random per process start), `info`
//!   (JSON of the record) and `active` (ms since the epoch of the client's last message, written
//!   by the holder every [`BEAT`] for connections that were active); it expires a day after the
//!   connection opened, the longest `max_duration` allows, and is deleted when it closes.
//! - `P:ws:node:NODE`: present while the node lives; the node sets it again every [`BEAT`] with
//!   an expiry of [`NODE_TTL`]. A record whose node is gone is the record of a gone connection
//!   (the node died): it is deleted when found.
//! - `P:ws:node:NODE:push`: the node's channel (a sharded one on a cluster); a message is one
//!   byte of kind (`t` text, `b` binary, `c` close), the connection id, a NUL byte, and the
//!   data.
//!
//! Everything a connection's own node does (register, unregister, touch, push) stays in memory
//! and never waits; writes to Redis go on the store's runtime. Reaching a connection on another
//! node ([`ConnectionRegistry::find`], [`ConnectionRegistry::send`]) takes one or two Redis
//! round trips, bounded by the store's timeout. A message published to a live node is taken
//! (200); that node then queues it, or drops it with a log line when the mailbox is full.

use super::connections::{
    ConnFuture, ConnectionInfo, ConnectionRegistry, LocalConnections, Push, PushError,
};
use super::redis_conn::{Conn, Subscriber};
use bytes::Bytes;
use redis::AsyncCommands;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often a node says it lives and writes its connections' activity.
pub const BEAT: Duration = Duration::from_secs(2);
/// How long a node counts as living after its last beat.
pub const NODE_TTL: Duration = Duration::from_secs(6);
/// How long a connection's record lives at most: the longest `max_duration`, and a minute.
const RECORD_TTL: Duration = Duration::from_secs(24 * 3600 + 60);

/// The connections of this node, and the way to those of the others.
pub struct RedisConnections {
    local: LocalConnections,
    node: String,
    prefix: String,
    conn: Conn,
    bridge: tokio::runtime::Handle,
    timeout: Duration,
    /// Connections touched since the last beat, with their last activity.
    active: Mutex<HashMap<Box<str>, u64>>,
}

impl std::fmt::Debug for RedisConnections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConnections")
            .field("node", &self.node)
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

fn record_json(info: &ConnectionInfo) -> String {
    serde_json::json!({
        "api": &*info.api,
        "stage": &*info.stage,
        "connected_at": info.connected_at,
        "source_ip": info.source_ip.to_string(),
        "user_agent": info.user_agent,
        "principal_id": info.principal_id,
    })
    .to_string()
}

fn parse_record(json: &str, active: Option<u64>) -> Option<ConnectionInfo> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    let connected_at = v.get("connected_at")?.as_u64()?;
    Some(ConnectionInfo {
        api: text("api")?.into(),
        stage: text("stage")?.into(),
        connected_at,
        last_active_at: active.unwrap_or(connected_at).max(connected_at),
        source_ip: text("source_ip")?.parse().ok()?,
        user_agent: text("user_agent"),
        principal_id: text("principal_id"),
    })
}

/// A push as a channel message: kind, id, NUL, data.
fn encode(id: &str, push: &Push) -> Vec<u8> {
    let (kind, data): (u8, &[u8]) = match push {
        Push::Text(d) => (b't', d),
        Push::Binary(d) => (b'b', d),
        Push::Close => (b'c', b""),
    };
    let mut out = Vec::with_capacity(2 + id.len() + data.len());
    out.push(kind);
    out.extend_from_slice(id.as_bytes());
    out.push(0);
    out.extend_from_slice(data);
    out
}

fn decode(msg: &[u8]) -> Option<(&str, Push)> {
    let (&kind, rest) = msg.split_first()?;
    let nul = rest.iter().position(|&b| b == 0)?;
    let id = std::str::from_utf8(&rest[..nul]).ok()?;
    let data = Bytes::copy_from_slice(&rest[nul + 1..]);
    let push = match kind {
        b't' => Push::Text(data),
        b'b' => Push::Binary(data),
        b'c' => Push::Close,
        _ => return None,
    };
    Some((id, push))
}

impl RedisConnections {
    /// Starts this node's beat and its channel's subscriber on `bridge`.
    pub(crate) fn start(
        subscriber: Subscriber,
        conn: Conn,
        bridge: tokio::runtime::Handle,
        prefix: &str,
        timeout: Duration,
    ) -> Arc<RedisConnections> {
        let registry = Arc::new(RedisConnections {
            local: LocalConnections::default(),
            node: uuid::Uuid::new_v4().simple().to_string(),
            prefix: prefix.to_owned(),
            conn,
            bridge: bridge.clone(),
            timeout,
            active: Mutex::new(HashMap::new()),
        });
        bridge.spawn(beat(Arc::downgrade(&registry)));
        let weak = Arc::downgrade(&registry);
        bridge.spawn(super::redis_channel::follow(
            subscriber,
            Self::channel(prefix, &registry.node),
            timeout,
            "WebSocket node",
            move |payload| {
                let Some(r) = weak.upgrade() else {
                    return false;
                };
                if let Some(p) = payload {
                    deliver(&r, p);
                }
                true
            },
        ));
        registry
    }

    fn record_key(&self, id: &str) -> String {
        format!("{}:ws:conn:{id}", self.prefix)
    }

    fn node_key(prefix: &str, node: &str) -> String {
        format!("{prefix}:ws:node:{node}")
    }

    fn channel(prefix: &str, node: &str) -> String {
        format!("{prefix}:ws:node:{node}:push")
    }

    /// Runs a write on the store's runtime without waiting for it.
    fn write<F>(&self, what: &'static str, op: impl FnOnce(Conn) -> F)
    where
        F: std::future::Future<Output = redis::RedisResult<()>> + Send + 'static,
    {
        let (fut, timeout) = (op(self.conn.clone()), self.timeout);
        self.bridge.spawn(async move {
            match tokio::time::timeout(timeout, fut).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "redis: cannot {what}"),
                Err(_) => tracing::warn!("redis: cannot {what}: no answer within {timeout:?}"),
            }
        });
    }

    /// The node holding `id` and the record, when the node lives; deletes the record of a
    /// connection whose node is gone.
    fn locate(
        &self,
        id: &str,
    ) -> impl std::future::Future<Output = Result<Option<(String, ConnectionInfo)>, ()>> + Send + 'static
    {
        let (mut c, key, prefix, timeout) = (
            self.conn.clone(),
            self.record_key(id),
            self.prefix.clone(),
            self.timeout,
        );
        async move {
            let found = tokio::time::timeout(timeout, async {
                let fields: HashMap<String, String> = c.hgetall(&key).await?;
                let (Some(node), Some(info)) = (fields.get("node"), fields.get("info")) else {
                    return Ok(None);
                };
                let alive: bool = c.exists(Self::node_key(&prefix, node)).await?;
                if !alive {
                    let _: () = c.del(&key).await?;
                    return Ok(None);
                }
                let active = fields.get("active").and_then(|a| a.parse().ok());
                Ok::<_, redis::RedisError>(
                    parse_record(info, active).map(|info| (node.clone(), info)),
                )
            })
            .await;
            match found {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "redis: cannot look up a WebSocket connection");
                    Err(())
                }
                Err(_) => Err(()),
            }
        }
    }
}

/// Every [`BEAT`]: says the node lives, and writes the activity of its connections.
async fn beat(registry: std::sync::Weak<RedisConnections>) {
    loop {
        let Some(r) = registry.upgrade() else { return };
        let active = std::mem::take(&mut *r.active.lock().unwrap_or_else(|p| p.into_inner()));
        let node = RedisConnections::node_key(&r.prefix, &r.node);
        let mut writes = vec![vec![redis::Cmd::set_ex(node, 1, NODE_TTL.as_secs())]];
        for (id, at) in &active {
            if r.local.get(id).is_some() {
                writes.push(vec![redis::Cmd::hset(r.record_key(id), "active", at)]);
            }
        }
        let (mut c, timeout) = (r.conn.clone(), r.timeout);
        drop(r);
        match tokio::time::timeout(timeout, c.run_groups(writes, false)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "redis: WebSocket node beat failed"),
            Err(_) => tracing::debug!("redis: WebSocket node beat timed out"),
        }
        tokio::time::sleep(BEAT).await;
    }
}

/// Queues a message from the node's channel for its connection.
fn deliver(registry: &RedisConnections, payload: &[u8]) {
    match decode(payload) {
        Some((id, push)) => {
            if let Err(e) = registry.local.push(id, push) {
                tracing::info!(connection_id = %id, error = %e, "message from another node not delivered");
            }
        }
        None => tracing::warn!("malformed message on the WebSocket channel"),
    }
}

impl ConnectionRegistry for RedisConnections {
    fn register(&self, id: &str, info: ConnectionInfo, mailbox: tokio::sync::mpsc::Sender<Push>) {
        let (key, json, node) = (self.record_key(id), record_json(&info), self.node.clone());
        self.local.register(id, info, mailbox);
        self.write("register a WebSocket connection", |mut c| async move {
            redis::pipe()
                .atomic()
                .hset_multiple(&key, &[("node", node), ("info", json)])
                .ignore()
                .expire(&key, RECORD_TTL.as_secs() as i64)
                .ignore()
                .query_async(&mut c)
                .await
        });
    }

    fn unregister(&self, id: &str) {
        self.local.unregister(id);
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        let key = self.record_key(id);
        self.write("forget a WebSocket connection", |mut c| async move {
            c.del(key).await
        });
    }

    fn touch(&self, id: &str, now: u64) {
        self.local.touch(id, now);
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.into(), now);
    }

    fn get(&self, id: &str) -> Option<ConnectionInfo> {
        self.local.get(id)
    }

    fn push(&self, id: &str, push: Push) -> Result<(), PushError> {
        self.local.push(id, push)
    }

    fn len(&self) -> usize {
        self.local.len()
    }

    fn find(&self, id: &str) -> ConnFuture<Option<ConnectionInfo>> {
        if let Some(info) = self.local.get(id) {
            return Box::pin(std::future::ready(Some(info)));
        }
        let located = self.locate(id);
        Box::pin(async move { located.await.ok().flatten().map(|(_, info)| info) })
    }

    fn send(&self, id: &str, push: Push) -> ConnFuture<Result<(), PushError>> {
        match self.local.push(id, push.clone()) {
            Err(PushError::Gone) => {}
            done => return Box::pin(std::future::ready(done)),
        }
        let located = self.locate(id);
        let (mut c, prefix, message, timeout) = (
            self.conn.clone(),
            self.prefix.clone(),
            encode(id, &push),
            self.timeout,
        );
        Box::pin(async move {
            let Ok(Some((node, _))) = located.await else {
                return Err(PushError::Gone);
            };
            let publish = c.publish(&RedisConnections::channel(&prefix, &node), message);
            match tokio::time::timeout(timeout, publish.query_async::<u64>(&mut c)).await {
                Ok(Ok(n)) if n > 0 => Ok(()),
                _ => Err(PushError::Gone),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_records_round_trip() {
        for push in [
            Push::Text(Bytes::from_static(b"hi\0there")),
            Push::Binary(Bytes::from_static(&[0, 1, 2])),
            Push::Close,
        ] {
            let msg = encode("Ab3=", &push);
            assert_eq!(decode(&msg), Some(("Ab3=", push)));
        }
        assert_eq!(decode(b"xid\0"), None);
        let info = ConnectionInfo {
            api: "chat".into(),
            stage: "live".into(),
            connected_at: 1000,
            last_active_at: 1000,
            source_ip: "::1".parse().unwrap(),
            user_agent: Some("ua".into()),
            principal_id: None,
        };
        let mut back = parse_record(&record_json(&info), Some(2000)).unwrap();
        assert_eq!(back.last_active_at, 2000);
        back.last_active_at = 1000;
        assert_eq!(back, info);
    }
}
