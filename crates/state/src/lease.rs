//! Throttles shared by several nodes: each node admits requests from a local allowance of
//! tokens, which a background task tops up about every [`SYNC_EVERY`] by leasing tokens from one
//! token bucket per throttle in the shared store. A request never waits for the store; every
//! admitted request spent a token the shared bucket gave out, so the nodes together admit at
//! most what one bucket would (burst + rate × time), except that until its first top-up (at
//! most 1.5 × [`SYNC_EVERY`] after start or reload) and while the store does not answer, a lease is
//! not *primed* and its bucket admits from a local token bucket instead, or, when the store
//! stopped answering and the throttles' policy is `fail_closed`, refuses.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// How often each node tops up its allowances.
pub const SYNC_EVERY: Duration = Duration::from_millis(50);

/// One throttle's local allowance on this node.
#[derive(Debug)]
pub struct Lease {
    /// The throttle's name, unique in the config (`account`, `stage:API/STAGE`, ...).
    pub name: String,
    /// The throttle's rate (tokens per second) and burst (bucket size).
    pub rate: f64,
    pub burst: u32,
    /// Tokens this node may still spend.
    local: AtomicU64,
    /// Tokens spent since the last top-up.
    used: AtomicU64,
    /// Requests admitted from the local bucket while not primed (at most the burst): the next
    /// top-ups take tokens for them from the shared bucket before adding any to `local`.
    debt: AtomicU64,
    /// Whether the shared bucket answered the last top-up.
    primed: AtomicBool,
    /// Whether the last top-up failed (the store did not answer).
    down: AtomicBool,
    /// Whether to refuse while `down`, rather than admit from a local bucket.
    refuse_when_down: bool,
}

impl Lease {
    /// Spends a token, or says how long until the shared bucket makes one.
    pub fn take(&self) -> Result<(), Duration> {
        self.local
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .map(|_| {
                self.used.fetch_add(1, Ordering::Relaxed);
            })
            .map_err(|_| Duration::from_secs_f64(1.0 / self.rate).max(SYNC_EVERY))
    }

    /// How many tokens to ask for now: enough for twice the last interval's use (at least one
    /// interval of the rate), less what is left, never over the burst. An idle node so holds
    /// at most one interval's worth.
    /// Plus what is owed for requests admitted while not primed. At least one while the store
    /// did not answer the last top-up: only an answer ends that, however many tokens are left.
    pub fn wanted(&self) -> u64 {
        let used = self.used.swap(0, Ordering::AcqRel);
        let floor = (self.rate * SYNC_EVERY.as_secs_f64()).ceil() as u64;
        let target = (used * 2).max(floor).max(1).min(u64::from(self.burst));
        let want = target.saturating_sub(self.local.load(Ordering::Acquire))
            + self.debt.load(Ordering::Acquire);
        match self.down.load(Ordering::Acquire) {
            true => want.max(1),
            false => want,
        }
    }

    /// Records a request admitted from the local bucket while not primed, so that the shared
    /// bucket pays for it at the next top-up (the nodes' first requests, and those admitted
    /// while the store did not answer, count against the shared budget).
    pub fn owe(&self) {
        let burst = u64::from(self.burst);
        let _ = self
            .debt
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| {
                (d < burst).then_some(d + 1)
            });
    }

    /// Adds the tokens the shared bucket gave, less what was owed.
    pub fn grant(&self, tokens: u64) {
        let owed = self.debt.load(Ordering::Acquire).min(tokens);
        self.debt.fetch_sub(owed, Ordering::AcqRel);
        self.local.fetch_add(tokens - owed, Ordering::AcqRel);
        self.primed.store(true, Ordering::Release);
        self.down.store(false, Ordering::Release);
    }

    /// The shared bucket did not answer: until it does, the throttle admits from its local
    /// bucket again, or refuses (see [`Lease::refuses`]).
    pub fn unprime(&self) {
        self.primed.store(false, Ordering::Release);
        self.down.store(true, Ordering::Release);
    }

    /// Whether requests are refused now: the store did not answer the last top-up and the
    /// policy is `fail_closed`. (Before the first top-up a node admits from its own bucket.)
    pub fn refuses(&self) -> bool {
        self.refuse_when_down && self.down.load(Ordering::Acquire)
    }

    /// Whether the shared bucket answered the last top-up (possibly with no tokens).
    pub fn primed(&self) -> bool {
        self.primed.load(Ordering::Acquire)
    }
}

/// The leases of one node, topped up together.
#[derive(Debug, Default)]
pub struct Leases {
    live: Mutex<Vec<Weak<Lease>>>,
    /// Whether throttles refuse while the store does not answer (`fail_closed`).
    refuse_when_down: bool,
    /// Wakes the top-up task when a lease is made, so that it is primed within a round trip
    /// rather than at the next interval (a per-key lease is made by the key's first request).
    pub wake: tokio::sync::Notify,
}

impl Leases {
    /// Leases whose throttles refuse while the store is down when `refuse_when_down`.
    pub fn new(refuse_when_down: bool) -> Self {
        Self {
            live: Mutex::default(),
            refuse_when_down,
            wake: tokio::sync::Notify::new(),
        }
    }

    /// A new lease for the throttle `name`; it starts empty and fills at the next top-up.
    pub fn lease(&self, name: String, rate: f64, burst: u32) -> Arc<Lease> {
        let lease = Arc::new(Lease {
            name,
            rate,
            burst,
            local: AtomicU64::new(0),
            used: AtomicU64::new(0),
            debt: AtomicU64::new(0),
            primed: AtomicBool::new(false),
            down: AtomicBool::new(false),
            refuse_when_down: self.refuse_when_down,
        });
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.push(Arc::downgrade(&lease));
        self.wake.notify_one();
        lease
    }

    /// The leases still in use (a reload drops the old config's), forgetting the others.
    pub fn live(&self) -> Vec<Arc<Lease>> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|w| w.strong_count() > 0);
        live.iter().filter_map(Weak::upgrade).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_spends_what_it_was_granted_and_asks_for_its_use() {
        let leases = Leases::default();
        let l = leases.lease("stage:a/prod".into(), 100.0, 50);
        assert!(l.take().is_err(), "empty until the first top-up");
        assert!(!l.primed());
        assert_eq!(l.wanted(), 5, "one interval of the rate");
        l.grant(10);
        assert!(l.primed());
        for _ in 0..10 {
            assert!(l.take().is_ok());
        }
        assert!(l.take().is_err());
        assert_eq!(l.wanted(), 20, "twice what was used");
        drop(l);
        assert!(leases.live().is_empty());
    }

    #[test]
    fn a_lease_the_store_did_not_answer_asks_again_though_it_holds_tokens() {
        let l = Leases::new(true).lease("stage:a/prod".into(), 1.0, 5);
        l.grant(5);
        assert_eq!(l.wanted(), 0, "holds more than it needs");
        l.unprime();
        assert!(l.refuses());
        assert_eq!(l.wanted(), 1, "the next answer is what lifts the refusal");
        l.grant(1);
        assert!(!l.refuses() && l.primed());
        assert_eq!(l.wanted(), 0);
    }

    #[test]
    fn requests_admitted_before_priming_are_paid_from_the_first_grant() {
        let l = Leases::default().lease("key:gold:k".into(), 100.0, 3);
        for _ in 0..5 {
            l.owe();
        }
        assert_eq!(
            l.wanted(),
            3 + 3,
            "one interval (capped by the burst) and the debt (capped too)"
        );
        l.grant(4);
        assert!(l.take().is_ok(), "4 granted, 3 owed: one to spend");
        assert!(l.take().is_err());
    }
}
