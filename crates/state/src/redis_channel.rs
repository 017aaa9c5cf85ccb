//! A Redis pub/sub subscription that outlives broken connections: `SUBSCRIBE` on one server
//! (or on the master the sentinels name, asked again at each subscription), `SSUBSCRIBE`
//! (sharded pub/sub) on a cluster.

use super::redis_conn::{RedisConfig, Subscriber};
use futures_util::StreamExt;
use redis::{PushInfo, PushKind, RedisError, Value};
use std::time::Duration;

/// Subscribes to `channel` and calls `on` with each message's payload, and with `None` after
/// each (re)subscription; subscribes again with backoff (50 ms doubling to 2 s) whenever the
/// subscription breaks. Ends when `on` returns false.
pub(crate) async fn follow(
    to: Subscriber,
    channel: String,
    timeout: Duration,
    what: &'static str,
    on: impl FnMut(Option<&[u8]>) -> bool,
) {
    let ch = Channel {
        name: channel,
        timeout,
        what,
    };
    match to {
        Subscriber::Cluster(config) => follow_cluster(&config, &ch, on).await,
        server => follow_single(&server, &ch, on).await,
    }
}

/// A channel to follow, the longest a subscription may take, and what to call it in logs.
struct Channel {
    name: String,
    timeout: Duration,
    what: &'static str,
}

/// Waits the backoff `delay`, then doubles it (at most 2 s).
async fn back_off(delay: &mut Duration) {
    tokio::time::sleep(*delay).await;
    *delay = (*delay * 2).min(Duration::from_secs(2));
}

/// On one server, or on the master the sentinels name: the subscription ends when its
/// connection closes (Sentinel closes the subscriptions of a master it demotes) or when the
/// store's connection moved to another master, and the next one asks the sentinels again,
/// at once when the store's connection has just found a master.
async fn follow_single(to: &Subscriber, ch: &Channel, mut on: impl FnMut(Option<&[u8]>) -> bool) {
    let (channel, timeout, what) = (&ch.name, ch.timeout, ch.what);
    let mut delay = Duration::from_millis(50);
    loop {
        let subscribed = tokio::time::timeout(timeout, async {
            let Some(client) = to.server().await else {
                let why = "a cluster has no single server";
                return Err(RedisError::from((
                    redis::ErrorKind::InvalidClientConfig,
                    why,
                )));
            };
            let client = client?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(channel).await?;
            let addr = client.get_connection_info().addr().to_string();
            Ok::<_, RedisError>((pubsub, addr))
        })
        .await;
        if let Some((pubsub, addr)) = subscribed_or_why(subscribed, what) {
            delay = Duration::from_millis(50);
            if !on(None) {
                return;
            }
            let mut messages = pubsub.into_on_message();
            let mut moved = std::pin::pin!(to.moved_from(&addr));
            loop {
                tokio::select! {
                    msg = messages.next() => match msg {
                        Some(msg) if !on(Some(msg.get_payload_bytes())) => return,
                        Some(_) => {}
                        None => break,
                    },
                    () = &mut moved => {
                        tracing::debug!("redis {what} subscription: the master moved");
                        break;
                    }
                }
            }
            tracing::debug!("redis {what} subscription ended; subscribing again");
        }
        tokio::select! {
            () = back_off(&mut delay) => {}
            () = to.master_found() => {}
        }
    }
}

/// On a cluster: one cluster connection (RESP3) whose pushes come to this task. The
/// connection reconnects to a node that dropped and subscribes there again by itself, and
/// moves the subscription when the topology changes; each confirmation (`ssubscribe` push)
/// counts as a (re)subscription. When the server drops the subscription (its slot moved),
/// this task subscribes again; when the connection ends, it makes a new one.
async fn follow_cluster(
    config: &RedisConfig,
    ch: &Channel,
    mut on: impl FnMut(Option<&[u8]>) -> bool,
) {
    let (channel, timeout, what) = (&ch.name, ch.timeout, ch.what);
    let mut delay = Duration::from_millis(50);
    loop {
        let (tx, mut pushes) = tokio::sync::mpsc::unbounded_channel::<PushInfo>();
        let subscribed = tokio::time::timeout(timeout, async {
            let client = config
                .cluster_builder()
                .map_err(|e| RedisError::from((redis::ErrorKind::InvalidClientConfig, "", e.0)))?
                .use_protocol(redis::ProtocolVersion::RESP3)
                .push_sender(tx)
                .build()?;
            let mut conn = client.get_async_connection().await?;
            conn.ssubscribe(channel).await?;
            Ok::<_, RedisError>(conn)
        })
        .await;
        if let Some(mut conn) = subscribed_or_why(subscribed, what) {
            delay = Duration::from_millis(50);
            while let Some(push) = pushes.recv().await {
                let ours = matches!(push.data.first(), Some(Value::BulkString(c)) if c == channel.as_bytes());
                let payload = match (&push.kind, push.data.get(1)) {
                    (PushKind::SSubscribe, _) if ours => None,
                    (PushKind::SMessage, Some(Value::BulkString(p))) if ours => Some(&p[..]),
                    (PushKind::SUnsubscribe, _) if ours => {
                        tracing::debug!(
                            "redis {what} subscription dropped by the server; subscribing again"
                        );
                        back_off(&mut delay).await;
                        let again = tokio::time::timeout(timeout, conn.ssubscribe(channel));
                        if matches!(again.await, Ok(Ok(()))) {
                            continue;
                        }
                        break;
                    }
                    _ => continue,
                };
                if !on(payload) {
                    return;
                }
            }
            tracing::debug!("redis {what} subscription ended; subscribing again");
        }
        back_off(&mut delay).await;
    }
}

/// The subscription, or `None` after saying (debug) why there is none.
fn subscribed_or_why<S>(
    subscribed: Result<Result<S, RedisError>, tokio::time::error::Elapsed>,
    what: &str,
) -> Option<S> {
    match subscribed {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "cannot subscribe to the redis {what} channel");
            None
        }
        Err(_) => {
            tracing::debug!("redis {what} subscription timed out");
            None
        }
    }
}
