//! The running WebSocket sessions and pass-through tunnels, which shutdown waits for.

use gatehouse_state::connections::SharedConnections;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

/// The process's WebSocket sessions: the registry, a tracker shutdown waits on, and the stop
/// signal that closes them.
#[derive(Debug)]
pub struct Hub {
    pub registry: SharedConnections,
    tracker: TaskTracker,
    stop: watch::Receiver<bool>,
    /// How long a pass-through tunnel may carry no byte either way (`limits.tunnel_idle_timeout`).
    pub tunnel_idle: Duration,
}

impl Hub {
    pub fn new(
        registry: SharedConnections,
        stop: watch::Receiver<bool>,
        tunnel_idle: Duration,
    ) -> Self {
        Self {
            registry,
            tracker: TaskTracker::new(),
            stop,
            tunnel_idle,
        }
    }

    /// Runs a task shutdown waits for (a session or a pass-through tunnel).
    pub fn spawn<F>(&self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(task);
    }

    /// The signal that flips once at shutdown.
    pub fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.clone()
    }

    /// Waits until every session and tunnel has ended.
    pub async fn wait(&self) {
        self.tracker.close();
        self.tracker.wait().await;
    }

    /// How many sessions and tunnels are running.
    pub fn running(&self) -> usize {
        self.tracker.len()
    }
}
