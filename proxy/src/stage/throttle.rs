//! Throttle: token buckets (GCRA, governor) at account, stage and method level, as API
//! Gateway applies them; every applicable bucket must have a token, so the tightest wins.
//!
//! Reads the matched stage and method. Rejects with THROTTLED (429
//! `{"message":"Too Many Requests"}`) and a `Retry-After` in seconds. The buckets themselves
//! are `gatehouse_state::limiter`'s.

use crate::error::{Rejection, ResponseType};
use gatehouse_config::raw::RawThrottle;
use gatehouse_config::Errors;
use governor::clock::Clock;
use std::time::Duration;

pub use gatehouse_state::limiter::{Bucket, ThrottleSettings};

/// Takes a token from every bucket; the first empty one rejects the request.
pub fn check<'a, C: Clock + Clone + 'a>(
    buckets: impl IntoIterator<Item = &'a Bucket<C>>,
    level: &str,
) -> Result<(), Rejection> {
    for b in buckets {
        if let Err(wait) = b.take() {
            return Err(throttled(wait, level));
        }
    }
    Ok(())
}

/// The bucket of the throttle `name`: leasing its tokens from the shared store when there is
/// one (the same `name` on every node shares one bucket), else a local one.
pub fn bucket(
    leases: Option<&gatehouse_state::lease::Leases>,
    name: String,
    settings: ThrottleSettings,
) -> Bucket {
    match leases {
        Some(l) => Bucket::leased(settings, l.lease(name, settings.rate, settings.burst)),
        None => Bucket::new(settings),
    }
}

/// The 429 for a bucket that is empty for `wait`.
pub fn throttled(wait: Duration, level: &str) -> Rejection {
    let mut r = Rejection::new(
        ResponseType::Throttled,
        format!("{level} rate limit reached"),
    );
    r.retry_after = Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
    r
}

pub fn compile(t: RawThrottle, e: &mut Errors) -> Option<ThrottleSettings> {
    let s = ThrottleSettings {
        rate: t.rate,
        burst: t.burst,
    };
    match s.validate() {
        Ok(()) => Some(s),
        Err(msg) => {
            e.push(msg);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn s(rate: f64, burst: u32) -> ThrottleSettings {
        ThrottleSettings { rate, burst }
    }

    #[test]
    fn the_tightest_bucket_rejects() {
        let clock = FakeRelativeClock::default();
        let loose = Bucket::fake(s(1000.0, 100), &clock);
        let tight = Bucket::fake(s(1.0, 1), &clock);
        assert!(check([&loose, &tight], "method").is_ok());
        let r = check([&loose, &tight], "method").unwrap_err();
        assert_eq!(r.kind, ResponseType::Throttled);
        assert_eq!(r.retry_after, Some(1));
    }
}
