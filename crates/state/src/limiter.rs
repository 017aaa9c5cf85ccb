//! Token buckets (GCRA, governor): a rate and a burst, as API Gateway's throttles take them.
//! Buckets are generic over the clock so tests run on a fake one. A leased bucket
//! ([`Bucket::leased`]) spends tokens from a [`Lease`] of a bucket shared by several nodes.

use crate::lease::Lease;
use governor::clock::{Clock, DefaultClock, FakeRelativeClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// A rate (requests per second, steady state) and a burst (bucket size).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleSettings {
    pub rate: f64,
    pub burst: u32,
}

impl ThrottleSettings {
    /// API Gateway's account-level default.
    pub const ACCOUNT_DEFAULT: Self = Self {
        rate: 10_000.0,
        burst: 5_000,
    };

    /// Checks the numbers; the message says what is expected.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.rate.is_finite() && self.rate > 0.0 && self.rate <= 1e9) {
            return Err(format!(
                "rate: expected requests per second above 0, found {}",
                self.rate
            ));
        }
        if self.burst == 0 {
            return Err("burst: expected at least 1".to_owned());
        }
        Ok(())
    }

    fn quota(&self) -> Quota {
        let period = Duration::from_secs_f64(1.0 / self.rate).max(Duration::from_nanos(1));
        let burst = NonZeroU32::new(self.burst).unwrap_or(NonZeroU32::MIN);
        Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(burst))
            .allow_burst(burst)
    }
}

/// One token bucket.
pub struct Bucket<C: Clock + Clone = DefaultClock> {
    limiter: RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<C::Instant>>,
    clock: C,
    pub settings: ThrottleSettings,
    lease: Option<Arc<Lease>>,
}

impl<C: Clock + Clone> std::fmt::Debug for Bucket<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bucket")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Bucket<DefaultClock> {
    pub fn new(settings: ThrottleSettings) -> Self {
        Self::with_clock(settings, DefaultClock::default())
    }

    /// A bucket that spends `lease`'s tokens instead of its own, once the lease is primed.
    pub fn leased(settings: ThrottleSettings, lease: Arc<Lease>) -> Self {
        Self {
            lease: Some(lease),
            ..Self::new(settings)
        }
    }
}

impl Bucket<FakeRelativeClock> {
    /// A bucket on a clock the caller advances (tests).
    pub fn fake(settings: ThrottleSettings, clock: &FakeRelativeClock) -> Self {
        Self::with_clock(settings, clock.clone())
    }
}

impl<C: Clock + Clone> Bucket<C> {
    pub fn with_clock(settings: ThrottleSettings, clock: C) -> Self {
        Self {
            limiter: RateLimiter::direct_with_clock(settings.quota(), clock.clone()),
            clock,
            settings,
            lease: None,
        }
    }

    /// Takes a token, or says how long until one is available.
    pub fn take(&self) -> Result<(), Duration> {
        if let Some(lease) = &self.lease {
            if lease.primed() {
                return lease.take();
            }
            if lease.refuses() {
                return Err(crate::lease::SYNC_EVERY);
            }
            let taken = self.take_local();
            if taken.is_ok() {
                lease.owe();
            }
            return taken;
        }
        self.take_local()
    }

    fn take_local(&self) -> Result<(), Duration> {
        self.limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(rate: f64, burst: u32) -> ThrottleSettings {
        ThrottleSettings { rate, burst }
    }

    #[test]
    fn burst_then_steady_rate() {
        let clock = FakeRelativeClock::default();
        let b = Bucket::fake(s(10.0, 3), &clock);
        for _ in 0..3 {
            assert!(b.take().is_ok());
        }
        let wait = b.take().unwrap_err();
        assert_eq!(wait, Duration::from_millis(100));
        clock.advance(Duration::from_millis(100));
        assert!(b.take().is_ok());
        assert!(b.take().is_err());
        clock.advance(Duration::from_secs(1));
        for _ in 0..3 {
            assert!(b.take().is_ok());
        }
        assert!(b.take().is_err());
    }

    #[test]
    fn settings_are_validated() {
        assert!(s(0.0, 1).validate().is_err());
        assert!(s(f64::NAN, 1).validate().is_err());
        assert!(s(1.0, 0).validate().unwrap_err().contains("burst"));
        assert!(s(0.5, 1).validate().is_ok());
    }

    #[test]
    fn fractional_rates_refill_slowly() {
        let clock = FakeRelativeClock::default();
        let b = Bucket::fake(s(0.5, 1), &clock);
        assert!(b.take().is_ok());
        assert_eq!(b.take().unwrap_err(), Duration::from_secs(2));
    }
}
