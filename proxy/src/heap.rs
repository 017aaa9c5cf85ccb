//! Gives the heap's free pages back to the system once connections have given memory back:
//! idle HTTP/1.1 connections releasing their buffers (`listener::keepalive`), WebSocket
//! sessions leaving their handshake's, connections closing. The C allocator keeps freed memory
//! for reuse, so without this a burst of new connections leaves the process as large as it was
//! at the peak of the burst, long after the connections went idle or closed. A background task
//! checks every second and trims (on a blocking thread) when at least [`AFTER_RELEASES`] such
//! events happened since the last trim.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// Releases between two trims, at the least.
pub const AFTER_RELEASES: u64 = 64;

static RELEASES: AtomicU64 = AtomicU64::new(0);

/// Notes that a connection gave memory back.
pub fn released() {
    RELEASES.fetch_add(1, Ordering::Relaxed);
}

/// Trims the heap every second after enough releases, until `stop`.
pub async fn run(mut stop: watch::Receiver<bool>) {
    let mut seen = RELEASES.load(Ordering::Relaxed);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let now = RELEASES.load(Ordering::Relaxed);
        if now.wrapping_sub(seen) < AFTER_RELEASES {
            continue;
        }
        seen = now;
        let _ = tokio::task::spawn_blocking(trim).await;
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // Audited: `malloc_trim` takes a size and has no other precondition; glibc returns the
    // free pages of every arena to the system and keeps every allocation where it is.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
