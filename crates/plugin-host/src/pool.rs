//! The ready instances of one plugin with `instances: reuse`: at most [`MAX_READY`], newest
//! first, each dropped once it has waited longer than the plugin's `max_idle`.
//!
//! The pool only holds instances between calls: a call takes one out (or makes a new one),
//! and gives it back only if it ended normally, so an instance that trapped, ran past its
//! deadline, hit its memory cap or was cancelled with its request is never seen again.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// Ready instances kept per plugin; more concurrent calls make more instances, and the ones
/// beyond this are dropped when they come back.
pub const MAX_READY: usize = 16;

/// Instances of one plugin waiting for a call, oldest at the front.
#[derive(Debug)]
pub(crate) struct Pool<T> {
    ready: Mutex<VecDeque<(T, Instant)>>,
    cap: usize,
    max_idle: Duration,
}

impl<T> Pool<T> {
    pub(crate) fn new(cap: usize, max_idle: Duration) -> Self {
        Self {
            ready: Mutex::new(VecDeque::with_capacity(cap)),
            cap,
            max_idle,
        }
    }

    /// The most recently returned instance that has not been idle too long.
    pub(crate) fn take(&self, now: Instant) -> Option<T> {
        let (item, stale) = {
            let mut ready = self.ready.lock().unwrap_or_else(|p| p.into_inner());
            let item = ready.pop_back().and_then(|(item, since)| {
                (now.saturating_duration_since(since) <= self.max_idle).then_some(item)
            });
            // Everything older than a stale newest entry is stale too.
            let stale = if item.is_none() {
                std::mem::take(&mut *ready)
            } else {
                VecDeque::new()
            };
            (item, stale)
        };
        // Instances are dropped (their memory returned) outside the lock.
        drop(stale);
        item
    }

    /// Keeps `item` for a later call; the oldest one goes when the pool is full.
    pub(crate) fn put(&self, item: T, now: Instant) {
        let evicted = {
            let mut ready = self.ready.lock().unwrap_or_else(|p| p.into_inner());
            ready.push_back((item, now));
            (ready.len() > self.cap).then(|| ready.pop_front())
        };
        drop(evicted);
    }

    /// Drops the instances idle for longer than `max_idle`.
    pub(crate) fn sweep(&self, now: Instant) {
        let stale: Vec<(T, Instant)> = {
            let mut ready = self.ready.lock().unwrap_or_else(|p| p.into_inner());
            let keep = ready
                .iter()
                .position(|(_, since)| now.saturating_duration_since(*since) <= self.max_idle)
                .unwrap_or(ready.len());
            ready.drain(..keep).collect()
        };
        drop(stale);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.ready.lock().map(|r| r.len()).unwrap_or(0)
    }
}

/// Something whose idle instances can be swept.
pub(crate) trait Sweep: Send + Sync {
    fn sweep(&self, now: Instant);
}

impl<T: Send> Sweep for Pool<T> {
    fn sweep(&self, now: Instant) {
        Pool::sweep(self, now);
    }
}

/// The pools of every loaded plugin, swept once a second by a thread that ends with the
/// host; a pool whose plugin is gone (replaced by a reload) drops out of the list.
#[derive(Default)]
pub(crate) struct Reaper {
    pools: Mutex<Vec<Weak<dyn Sweep>>>,
}

impl std::fmt::Debug for Reaper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reaper").finish_non_exhaustive()
    }
}

impl Reaper {
    /// Starts the sweeping thread for `reaper`; it stops once `reaper` is dropped.
    pub(crate) fn start(reaper: &Arc<Reaper>) -> std::io::Result<()> {
        let weak = Arc::downgrade(reaper);
        std::thread::Builder::new()
            .name("wasm-reaper".into())
            .spawn(move || {
                while let Some(reaper) = weak.upgrade() {
                    reaper.sweep(Instant::now());
                    drop(reaper);
                    std::thread::sleep(Duration::from_secs(1));
                }
            })
            .map(drop)
    }

    pub(crate) fn watch(&self, pool: Weak<dyn Sweep>) {
        self.pools
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(pool);
    }

    fn sweep(&self, now: Instant) {
        let live: Vec<Arc<dyn Sweep>> = {
            let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
            pools.retain(|p| p.strong_count() > 0);
            pools.iter().filter_map(Weak::upgrade).collect()
        };
        for pool in live {
            pool.sweep(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Duration = Duration::from_secs(60);

    #[test]
    fn hands_out_the_newest_instance_first() {
        let pool = Pool::new(4, IDLE);
        let t0 = Instant::now();
        pool.put(1, t0);
        pool.put(2, t0 + Duration::from_secs(1));
        assert_eq!(pool.take(t0 + Duration::from_secs(2)), Some(2));
        assert_eq!(pool.take(t0 + Duration::from_secs(2)), Some(1));
        assert_eq!(pool.take(t0 + Duration::from_secs(2)), None);
    }

    #[test]
    fn keeps_at_most_cap_and_drops_the_oldest() {
        let pool = Pool::new(2, IDLE);
        let t0 = Instant::now();
        for i in 0..5 {
            pool.put(i, t0);
        }
        assert_eq!(pool.len(), 2);
        assert_eq!(pool.take(t0), Some(4));
        assert_eq!(pool.take(t0), Some(3));
        assert_eq!(pool.take(t0), None);
    }

    #[test]
    fn an_instance_idle_too_long_is_never_handed_out() {
        let pool = Pool::new(4, IDLE);
        let t0 = Instant::now();
        pool.put(1, t0);
        pool.put(2, t0 + Duration::from_secs(30));
        // At 70 s the first is stale, the second is not.
        pool.sweep(t0 + Duration::from_secs(70));
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.take(t0 + Duration::from_secs(70)), Some(2));
        pool.put(3, t0);
        assert_eq!(pool.take(t0 + Duration::from_secs(61)), None);
        assert_eq!(pool.len(), 0);
    }

    #[test]
    fn the_reaper_sweeps_live_pools_and_forgets_dropped_ones() {
        let reaper = Reaper::default();
        let t0 = Instant::now();
        let kept: Arc<Pool<u32>> = Arc::new(Pool::new(4, IDLE));
        kept.put(1, t0);
        let gone: Arc<Pool<u32>> = Arc::new(Pool::new(4, IDLE));
        let kept_dyn: Arc<dyn Sweep> = kept.clone();
        let gone_dyn: Arc<dyn Sweep> = gone.clone();
        reaper.watch(Arc::downgrade(&kept_dyn));
        reaper.watch(Arc::downgrade(&gone_dyn));
        drop((gone, gone_dyn));
        reaper.sweep(t0 + IDLE * 2);
        assert_eq!(kept.len(), 0);
        assert_eq!(reaper.pools.lock().unwrap().len(), 1);
    }
}
