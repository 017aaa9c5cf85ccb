//! Throttle leases on Redis: the Lua script that hands out a bucket's tokens, and the task
//! that tops up every live lease of a node.

use super::{bounded, Health};
use crate::lease::{Leases, SYNC_EVERY};
use crate::redis_conn::Conn;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// Takes up to ARGV[3] tokens from the bucket KEYS[1] (rate ARGV[1] per second, size ARGV[2]),
/// refilled by Redis's clock; returns how many it took.
static LEASE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local rate, burst, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 't', 'tokens')
local tokens = burst
if b[1] then tokens = math.min(burst, tonumber(b[2]) + (t - tonumber(b[1])) * rate) end
local got = math.max(0, math.min(want, math.floor(tokens)))
redis.call('HSET', KEYS[1], 't', tostring(t), 'tokens', tostring(tokens - got))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 60000)
return got
",
    )
});

/// `every` scaled by a random factor in [0.5, 1.5). Nodes that top up at fixed phases split a
/// saturated bucket by the gaps between their phases (a node just after another gets only what
/// refilled in between); random gaps give each node an equal share on average.
fn jittered(every: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let r = std::hash::RandomState::new().build_hasher().finish();
    every.mul_f64(0.5 + (r >> 11) as f64 / (1u64 << 53) as f64)
}

/// Tops up every live lease of `leases` from its bucket under `prefix`, about every
/// [`SYNC_EVERY`] (see [`jittered`]).
pub(super) async fn top_up_leases(
    conn: Conn,
    prefix: String,
    leases: Arc<Leases>,
    timeout: Duration,
    health: Arc<Health>,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(jittered(SYNC_EVERY)) => {}
            () = leases.wake.notified() => {}
        }
        let calls = leases.live().into_iter().filter_map(|lease| {
            let want = lease.wanted();
            if want == 0 {
                return None;
            }
            let (mut conn, health) = (conn.clone(), health.clone());
            let key = format!("{prefix}:throttle:{}", lease.name);
            Some(async move {
                let got = bounded(timeout, &health, async {
                    LEASE
                        .key(key)
                        .arg(lease.rate)
                        .arg(lease.burst)
                        .arg(want)
                        .invoke_async::<u64>(&mut conn)
                        .await
                })
                .await;
                match got {
                    Ok(n) => lease.grant(n),
                    Err(_) => lease.unprime(),
                }
            })
        });
        futures_util::future::join_all(calls).await;
    }
}
