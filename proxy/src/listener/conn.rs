//! What bounds one client connection after it is accepted: the caps on open connections per
//! listener and per source IP, the idle timeout, and how long a connection asked to close may
//! linger once nothing is in flight on it.
//!
//! [`Activity`] counts a connection's requests from the moment its service is called until
//! hyper drops the response body ([`Tracked`]), so "idle" means no request in flight and none
//! begun for `limits.idle_timeout`, whatever the protocol. [`drive`] serves the connection and
//! asks it to close (HTTP/1.1: after the response in flight; HTTP/2: GOAWAY) when it is idle
//! or the gateway stops; a connection that then has nothing in flight is dropped after
//! [`CLOSE_GRACE`] even if the client never acknowledges (an HTTP/2 client that ignores the
//! shutdown PING would otherwise hold it until the drain timeout). An HTTP/1.1 connection
//! can instead be asked to let go of its socket once quiet for a shorter time
//! ([`super::keepalive`]), which then waits for the next request outside hyper.

use crate::ctx::monotonic_ms;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// How long a connection that was asked to close, and has nothing in flight, may take to do
/// so before it is dropped.
pub const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The caps on a listener's open client connections, shared by every worker.
#[derive(Debug)]
pub struct ConnLimits {
    open: AtomicUsize,
    max: usize,
    per_ip: Option<(u32, Mutex<HashMap<IpAddr, u32>>)>,
}

impl ConnLimits {
    /// `max` connections in all; `per_ip` from one source address, when set.
    pub fn new(max: usize, per_ip: Option<u32>) -> Self {
        Self {
            open: AtomicUsize::new(0),
            max,
            per_ip: per_ip.map(|n| (n, Mutex::new(HashMap::new()))),
        }
    }

    /// A place for a new connection from `ip`, or why there is none.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Permit, &'static str> {
        if self.open.fetch_add(1, Ordering::Relaxed) >= self.max {
            self.open.fetch_sub(1, Ordering::Relaxed);
            return Err("the listener's max_connections");
        }
        if let Some((cap, counts)) = &self.per_ip {
            let mut counts = counts.lock().unwrap_or_else(|p| p.into_inner());
            let n = counts.entry(ip).or_insert(0);
            if *n >= *cap {
                drop(counts);
                self.open.fetch_sub(1, Ordering::Relaxed);
                return Err("max_connections_per_ip");
            }
            *n += 1;
        }
        Ok(Permit {
            limits: self.clone(),
            ip,
        })
    }
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct Permit {
    limits: Arc<ConnLimits>,
    ip: IpAddr,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.limits.open.fetch_sub(1, Ordering::Relaxed);
        if let Some((_, counts)) = &self.limits.per_ip {
            let mut counts = counts.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = counts.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    counts.remove(&self.ip);
                }
            }
        }
    }
}

/// A connection's requests in flight, and when the last one began or ended.
#[derive(Debug)]
pub struct Activity {
    in_flight: AtomicU32,
    last_ms: AtomicU64,
    /// Requests begun so far.
    begun: AtomicU64,
    /// Set while an HTTP/1.1 connection is asked to hand its socket back rather than close it.
    releasing: AtomicBool,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            in_flight: AtomicU32::new(0),
            last_ms: AtomicU64::new(monotonic_ms()),
            begun: AtomicU64::new(0),
            releasing: AtomicBool::new(false),
        })
    }

    /// Whether the connection is being asked to hand its socket back ([`drive`]'s `release`).
    pub fn releasing(&self) -> bool {
        self.releasing.load(Ordering::Relaxed)
    }

    pub fn set_releasing(&self, on: bool) {
        self.releasing.store(on, Ordering::Relaxed);
    }

    /// Counts a request in flight until the guard is dropped.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.begun.fetch_add(1, Ordering::Relaxed);
        self.last_ms.store(monotonic_ms(), Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// Whether a request is in flight.
    pub fn busy(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) > 0
    }

    /// How long the connection has had nothing in flight; zero while it has.
    pub fn idle_for(&self) -> Duration {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return Duration::ZERO;
        }
        let last = self.last_ms.load(Ordering::Relaxed);
        Duration::from_millis(monotonic_ms().saturating_sub(last))
    }
}

/// One request in flight on a connection.
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.last_ms.store(monotonic_ms(), Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that keeps its request counted in flight until hyper drops it.
#[derive(Debug)]
pub struct Tracked<B> {
    body: B,
    _in_flight: InFlight,
}

impl<B> Tracked<B> {
    pub fn new(body: B, in_flight: InFlight) -> Self {
        Self {
            body,
            _in_flight: in_flight,
        }
    }
}

impl<B: http_body::Body<Data = Bytes> + Unpin> http_body::Body for Tracked<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// How [`drive`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The connection closed (or was dropped).
    Closed,
    /// The connection finished because it was asked to hand its socket back.
    Released,
}

/// Serves `conn` to its end. Asks it to close when `stop` flips or when it has been idle for
/// `idle`; once asked, drops it when it has had nothing in flight for [`CLOSE_GRACE`].
/// `close` asks the connection to close gracefully (its `graceful_shutdown`). With `release`,
/// a connection that has served a request and been quiet for that long since (and not yet for
/// `idle`) is asked the same way with [`Activity::set_releasing`] on, and its end is
/// [`Ended::Released`]. (Before its first request a hyper HTTP/1.1 connection would take
/// that as "close after the response", not "let go now".)
pub async fn drive<C, E>(
    mut conn: Pin<&mut C>,
    close: impl Fn(Pin<&mut C>),
    activity: &Activity,
    idle: Duration,
    release: Option<Duration>,
    mut stop: watch::Receiver<bool>,
) -> Result<Ended, E>
where
    C: Future<Output = Result<(), E>>,
{
    let mut closing = *stop.borrow();
    let mut releasing = false;
    let begun = activity.begun.load(Ordering::Relaxed);
    let served = || activity.begun.load(Ordering::Relaxed) != begun;
    let next = |asked: bool| match (asked, release) {
        (true, _) => next_check(activity, CLOSE_GRACE),
        (false, None) => next_check(activity, idle),
        (false, Some(r)) if served() => next_check(activity, r.min(idle)),
        // No request yet: look again every `r` until there is one.
        (false, Some(r)) => r.min(next_check(activity, idle)),
    };
    if closing {
        close(conn.as_mut());
    }
    let timer = tokio::time::sleep(next(closing));
    let mut timer = std::pin::pin!(timer);
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                r?;
                return Ok(if releasing && !closing { Ended::Released } else { Ended::Closed });
            }
            _ = stop.changed(), if !closing => {
                close(conn.as_mut());
                closing = true;
                timer.as_mut().reset(Instant::now() + next(true));
            }
            () = timer.as_mut() => {
                let quiet = activity.idle_for();
                if closing && quiet >= CLOSE_GRACE {
                    tracing::debug!("dropped a closing connection with nothing in flight");
                    return Ok(Ended::Closed);
                }
                if !closing && quiet >= idle {
                    tracing::debug!(idle = ?quiet, "closing an idle connection");
                    close(conn.as_mut());
                    closing = true;
                } else if !closing && !releasing && release.is_some_and(|r| quiet >= r) && served() {
                    activity.set_releasing(true);
                    close(conn.as_mut());
                    releasing = true;
                }
                timer.as_mut().reset(Instant::now() + next(closing || releasing));
            }
        }
    }
}

/// When to look at the connection again: when its quiet time could reach `limit`.
fn next_check(activity: &Activity, limit: Duration) -> Duration {
    let quiet = activity.idle_for();
    if quiet.is_zero() {
        return limit;
    }
    limit.saturating_sub(quiet).max(Duration::from_millis(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_admit_up_to_their_limits_and_free_places_on_drop() {
        let limits = Arc::new(ConnLimits::new(3, Some(2)));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let p1 = limits.admit(a).unwrap();
        let _p2 = limits.admit(a).unwrap();
        assert_eq!(limits.admit(a).unwrap_err(), "max_connections_per_ip");
        let _p3 = limits.admit(b).unwrap();
        assert_eq!(
            limits.admit(b).unwrap_err(),
            "the listener's max_connections"
        );
        drop(p1);
        let _p4 = limits.admit(a).unwrap();
        assert_eq!(limits.open.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn a_connection_is_idle_only_with_nothing_in_flight() {
        let activity = Activity::new();
        let guard = activity.begin();
        assert!(activity.idle_for().is_zero());
        drop(guard);
        assert_eq!(activity.in_flight.load(Ordering::Relaxed), 0);
    }
}
