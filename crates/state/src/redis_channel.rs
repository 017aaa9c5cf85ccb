//! A Redis pub/sub subscription that outlives broken connections.

use futures_util::StreamExt;
use redis::RedisError;
use std::time::Duration;

/// Subscribes to `channel` and calls `on` with each message's payload, and with `None` after
/// each (re)subscription; subscribes again with backoff (50 ms doubling to 2 s) whenever the
/// subscription breaks. Ends when `on` returns false.
pub(crate) async fn follow(
    client: redis::Client,
    channel: String,
    timeout: Duration,
    what: &'static str,
    mut on: impl FnMut(Option<&[u8]>) -> bool,
) {
    let mut delay = Duration::from_millis(50);
    loop {
        let subscribed = tokio::time::timeout(timeout, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, RedisError>(pubsub)
        })
        .await;
        match subscribed {
            Ok(Ok(pubsub)) => {
                delay = Duration::from_millis(50);
                if !on(None) {
                    return;
                }
                let mut messages = pubsub.into_on_message();
                while let Some(msg) = messages.next().await {
                    if !on(Some(msg.get_payload_bytes())) {
                        return;
                    }
                }
                tracing::debug!("redis {what} subscription ended; subscribing again");
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "cannot subscribe to the redis {what} channel")
            }
            Err(_) => tracing::debug!("redis {what} subscription timed out"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}
