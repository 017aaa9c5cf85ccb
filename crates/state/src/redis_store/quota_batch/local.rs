//! Each worker thread's own queue of quota takes, its sending task and its Redis connection.
//!
//! A gateway worker is a thread with a single-threaded runtime. Its first take starts a
//! sending task on that runtime and opens a connection of the worker's own there, so a take
//! is queued, sent, answered and handed back to its request on one thread, with no wake-up
//! of another. Until the worker's connection is open (or when it cannot be opened, with
//! Sentinel or while Redis is down; it is tried again every [`RETRY`]), the worker's task
//! sends over the store's connection instead.
//!
//! When the worker's runtime ends, its task is dropped, its queue closes and the takes still
//! in it go to the store's queue. When the store is dropped, every worker's queue closes and
//! the tasks end.

use super::{send_batches, Conns, Shared, Take};
use crate::lock;
use crate::redis_conn::{open_for_worker, Conn, RedisConfig};
use crate::redis_store::Health;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

/// How long a worker waits before it tries again to open its own connection.
const RETRY: Duration = Duration::from_secs(1);

/// Tells the stores apart in a thread's list of queues.
static NEXT_STORE: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's queues, one per store it has taken from: (store, queue).
    static QUEUES: RefCell<Vec<(u64, Arc<Shared>)>> = const { RefCell::new(Vec::new()) };
}

/// What a worker's task needs, and every worker queue made (to close them with the store).
#[derive(Debug)]
pub(super) struct Workers {
    store: u64,
    config: RedisConfig,
    conn: Conn,
    health: Arc<Health>,
    /// Where a worker queue that closes hands its takes.
    store_queue: Arc<Shared>,
    queues: Mutex<Vec<Weak<Shared>>>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Conn::Single(_) => "Conn::Single",
            Conn::Cluster(_) => "Conn::Cluster",
            Conn::Sentinel(_) => "Conn::Sentinel",
        })
    }
}

impl Workers {
    pub(super) fn new(
        config: RedisConfig,
        conn: Conn,
        health: Arc<Health>,
        store_queue: Arc<Shared>,
    ) -> Workers {
        Workers {
            store: NEXT_STORE.fetch_add(1, Ordering::Relaxed),
            config,
            conn,
            health,
            store_queue,
            queues: Mutex::new(Vec::new()),
        }
    }

    /// Queues `take` on this thread's queue, starting it on the current runtime the first
    /// time; gives the take back when no runtime is current.
    pub(super) fn push(&self, take: Take) -> Result<(), Take> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Err(take);
        };
        QUEUES.with_borrow_mut(|queues| {
            let mut take = take;
            // Twice at most: a queue found closed (its runtime has ended) is replaced once.
            for _ in 0..2 {
                let at = match queues.iter().position(|(store, _)| *store == self.store) {
                    Some(at) => at,
                    None => {
                        queues.retain(|(_, q)| !q.is_closed());
                        queues.push((self.store, self.start(&runtime)));
                        queues.len() - 1
                    }
                };
                match queues[at].1.push(take) {
                    Ok(()) => return Ok(()),
                    Err(back) => {
                        queues.swap_remove(at);
                        take = back;
                    }
                }
            }
            Err(take)
        })
    }

    /// A queue for this thread, its sending task and the opening of its connection, on
    /// `runtime`.
    fn start(&self, runtime: &tokio::runtime::Handle) -> Arc<Shared> {
        let queue = Shared::new();
        let own = Arc::new(OnceLock::new());
        let closing = Closing {
            queue: queue.clone(),
            to: self.store_queue.clone(),
        };
        let conns = Conns {
            store: self.conn.clone(),
            own: Some(own.clone()),
        };
        let task = send_batches(queue.clone(), conns, self.health.clone());
        runtime.spawn(async move {
            // Dropped with the task, also when the runtime drops it before its first poll.
            let _closing = closing;
            task.await;
        });
        runtime.spawn(open_own(self.config.clone(), own, Arc::downgrade(&queue)));
        let mut all = lock(&self.queues);
        all.retain(|q| q.strong_count() > 0);
        all.push(Arc::downgrade(&queue));
        queue
    }

    /// Closes every worker's queue: their tasks end at their next wake-up.
    pub(super) fn close(&self) {
        let all = std::mem::take(&mut *lock(&self.queues));
        for queue in all.iter().filter_map(Weak::upgrade) {
            for take in queue.close() {
                take.refuse();
            }
        }
    }
}

/// Opens the worker's own connection into `own`, trying again every [`RETRY`] while its queue
/// is open; gives up with Sentinel (the store's connection serves the worker).
async fn open_own(config: RedisConfig, own: Arc<OnceLock<Conn>>, queue: Weak<Shared>) {
    loop {
        match open_for_worker(&config).await {
            None => return,
            Some(Ok(conn)) => {
                let _ = own.set(conn);
                return;
            }
            Some(Err(e)) => {
                tracing::debug!(error = %e.0, "a worker cannot open its own redis connection yet; it uses the store's")
            }
        }
        tokio::time::sleep(RETRY).await;
        match queue.upgrade() {
            Some(q) if !q.is_closed() => {}
            _ => return,
        }
    }
}

/// Closes a worker's queue when its task is dropped, and hands what was queued to the store's
/// queue (answering it when that is closed too).
struct Closing {
    queue: Arc<Shared>,
    to: Arc<Shared>,
}

impl Drop for Closing {
    fn drop(&mut self) {
        for take in self.queue.close() {
            if let Err(take) = self.to.push(take) {
                take.refuse();
            }
        }
    }
}
