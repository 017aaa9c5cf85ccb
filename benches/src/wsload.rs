//! WebSocket load: echo round trips over N connections for a fixed time. Loopback only.
//! (Idle WebSocket connections for the memory figure are opened by `idle.rs`.)

use crate::run::Run;
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// The message every round trip sends (64 bytes of text).
const MESSAGE: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// `conns` connections to `ws://addr{path}`, each sending a message and waiting for its echo
/// in a loop until `duration` is over. Latencies are per round trip.
pub fn echo(addr: SocketAddr, path: &str, conns: usize, duration: Duration) -> anyhow::Result<Run> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let url = format!("ws://{addr}{path}");
        let mut sockets = Vec::with_capacity(conns);
        for _ in 0..conns {
            let (ws, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
            sockets.push(ws);
        }
        let started = Instant::now();
        let deadline = started + duration;
        let mut tasks = Vec::with_capacity(conns);
        for mut ws in sockets {
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0u64;
                while Instant::now() < deadline {
                    let t0 = Instant::now();
                    if ws.send(Message::text(MESSAGE)).await.is_err() {
                        errors += 1;
                        break;
                    }
                    match ws.next().await {
                        Some(Ok(Message::Text(t))) if t.len() == MESSAGE.len() => {
                            lat.push(t0.elapsed().as_micros() as u64)
                        }
                        _ => {
                            errors += 1;
                            break;
                        }
                    }
                }
                let _ = ws.close(None).await;
                (lat, errors)
            }));
        }
        let mut all = Vec::new();
        let mut errors = 0;
        for t in tasks {
            let (lat, e) = t.await?;
            all.extend(lat);
            errors += e;
        }
        let secs = started.elapsed().as_secs_f64();
        all.sort_unstable();
        Ok(Run {
            rps: all.len() as f64 / secs,
            p50: crate::run::percentile(&all, 50.0),
            p99: crate::run::percentile(&all, 99.0),
            p999: crate::run::percentile(&all, 99.9),
            requests: all.len() as u64,
            non_2xx: 0,
            errors,
            peak_rss: 0,
            cpu_us_per_req: None,
        })
    })
}
