//! The master that Redis Sentinel names (`state.sentinel`), followed through failovers.
//!
//! [`Finder`] asks the sentinels (in the configured order, several at once) which server is
//! the master of `master_name`; the redis crate takes only an answer whose master is not
//! flagged down and that says `ROLE` master itself. [`SentinelConn`] holds one multiplexed
//! connection to that master, and a task of its own replaces it:
//! - when a call finds the connection broken (closed, refused, or `READONLY`: the server
//!   became a replica; Sentinel also closes the clients of a server it demotes), the task
//!   asks the sentinels again at once and connects to the master they name, retrying with
//!   backoff (50 ms doubling to 1 s) while they name none (during a failover, they flag the
//!   old master down until they promote a replica);
//! - when a call runs out of time on a connection that stays open (a master that hangs, or
//!   cut off by the network), the task asks the sentinels, at most once a second, and moves
//!   when they name another master.
//!
//! A call never waits for the task longer than `timeout`: without a connection it fails at
//! once, or when the task is asking, with the task's answer (or at `timeout`). A call that
//! fails that way is not sent again (the server may have run it).

use super::{err, RedisConfig};
use crate::StoreError;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Cmd, ErrorKind, IntoConnectionInfo, Pipeline, RedisError, RedisFuture,
    RedisResult, ServerErrorKind, TlsMode, Value,
};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

/// The shortest and longest wait between two failed searches for the master.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(1));

/// The least time between two checks with the sentinels after calls ran out of time.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Where the master of `state.sentinel.master_name` is, as the sentinels say.
pub(crate) struct Finder {
    client: tokio::sync::Mutex<SentinelClient>,
    master_name: String,
    timeout: Duration,
}

impl Finder {
    /// The sentinels of `config` (which has a `sentinel` section), with the master's user,
    /// password and TLS settings and the sentinels' own user and password; no I/O yet.
    pub(crate) fn new(config: &RedisConfig) -> Result<Finder, StoreError> {
        let Some(sentinel) = &config.sentinel else {
            return Err(err("no sentinel section"));
        };
        let mut addrs = Vec::new();
        for url in config.addresses() {
            addrs.push(url.into_connection_info().map_err(err)?.addr().clone());
        }
        let tls = config.url.starts_with("rediss://");
        let mut builder =
            SentinelClientBuilder::new(addrs, &sentinel.master_name, SentinelServerType::Master)
                .map_err(err)?;
        if let Some(user) = &sentinel.master_username {
            builder = builder.set_client_to_redis_username(user);
        }
        if let Some(p) = &config.password {
            builder = builder.set_client_to_redis_password(p);
        }
        if let Some(user) = &sentinel.username {
            builder = builder.set_client_to_sentinel_username(user);
        }
        if let Some(p) = &sentinel.password {
            builder = builder.set_client_to_sentinel_password(p);
        }
        if tls {
            builder = builder.set_client_to_redis_tls_mode(TlsMode::Secure);
        }
        if let Some(pem) = &config.tls_ca {
            let certs = || redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.clone()),
            };
            builder = builder
                .set_client_to_redis_certificates(certs())
                .set_client_to_sentinel_certificates(certs());
        }
        Ok(Finder {
            client: tokio::sync::Mutex::new(builder.build().map_err(err)?),
            master_name: sentinel.master_name.clone(),
            timeout: config.timeout,
        })
    }

    /// A client of the master the sentinels name now; an error when none answers with one
    /// within the timeout.
    pub(crate) async fn master(&self) -> RedisResult<redis::Client> {
        let ask = async { self.client.lock().await.async_get_client().await };
        let why = match tokio::time::timeout(self.timeout, ask).await {
            Ok(Ok(client)) => return Ok(client),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {:?}", self.timeout),
        };
        Err(no_master(format!(
            "the sentinels name no master `{}` that answers: {why}",
            self.master_name
        )))
    }

    /// A connection to the master the sentinels name now, and its address.
    async fn connect(&self) -> RedisResult<(String, MultiplexedConnection)> {
        let client = self.master().await?;
        let addr = client.get_connection_info().addr().to_string();
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        Ok((addr, conn))
    }
}

/// An error that counts as Redis unavailable (an I/O error), saying `why`.
fn no_master(why: String) -> RedisError {
    std::io::Error::new(std::io::ErrorKind::NotConnected, why).into()
}

/// What calls see: the connection to the master, or why there is none.
#[derive(Clone)]
enum Link {
    Up {
        /// Counts connections, so a report about an old one changes nothing.
        id: u64,
        addr: String,
        conn: MultiplexedConnection,
    },
    /// No connection; `trying` while the task is looking for the master.
    Down { trying: bool, why: Arc<str> },
}

struct Shared {
    link: watch::Sender<Link>,
    /// Wakes the task: the connection broke, a call ran out of time, or the last
    /// [`SentinelConn`] is gone.
    wake: Notify,
    /// A call ran out of time on the current connection.
    suspect: AtomicBool,
    closed: AtomicBool,
    finder: Arc<Finder>,
    timeout: Duration,
}

impl Shared {
    /// The connection `id` is broken: calls wait for the task's search from now on.
    fn broken(&self, id: u64, why: &RedisError) {
        let changed = self.link.send_if_modified(|link| match link {
            Link::Up { id: current, .. } if *current == id => {
                *link = Link::Down {
                    trying: true,
                    why: why.to_string().into(),
                };
                true
            }
            _ => false,
        });
        if changed {
            tracing::warn!(error = %why, "redis: lost the connection to the master; asking the sentinels");
            self.wake.notify_one();
        }
    }

    /// A call on the connection `id` ran out of time: the task checks with the sentinels.
    fn suspect(&self, id: u64) {
        if matches!(&*self.link.borrow(), Link::Up { id: current, .. } if *current == id) {
            self.suspect.store(true, Ordering::Release);
            self.wake.notify_one();
        }
    }
}

/// Ends the task when the last [`SentinelConn`] is dropped.
struct Owner(Arc<Shared>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::Release);
        self.0.wake.notify_one();
    }
}

/// A connection to the master the sentinels name; cheap to clone (it is multiplexed).
#[derive(Clone)]
pub(crate) struct SentinelConn(Arc<Owner>);

impl SentinelConn {
    /// Connects to the master the sentinels name (failing when there is none within the
    /// timeout) and starts the task that follows it.
    pub(crate) async fn open(finder: Arc<Finder>) -> Result<SentinelConn, StoreError> {
        let timeout = finder.timeout;
        let (addr, conn) = super::within(timeout, finder.connect()).await?;
        tracing::info!(master = %addr, "redis: connected to the master the sentinels name");
        let (link, _) = watch::channel(Link::Up { id: 0, addr, conn });
        let shared = Arc::new(Shared {
            link,
            wake: Notify::new(),
            suspect: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            finder,
            timeout,
        });
        tokio::spawn(follow(shared.clone()));
        Ok(SentinelConn(Arc::new(Owner(shared))))
    }

    fn shared(&self) -> &Shared {
        &self.0 .0
    }

    /// Tells subscriptions when this connection moves to another master.
    pub(crate) fn moves(&self) -> MasterMoves {
        MasterMoves(self.shared().link.subscribe())
    }

    /// The current connection, waiting (at most the timeout) while the task looks for the
    /// master.
    async fn up(&self) -> RedisResult<(u64, MultiplexedConnection)> {
        let shared = self.shared();
        let mut rx = shared.link.subscribe();
        let wait = async {
            loop {
                match &*rx.borrow_and_update() {
                    Link::Up { id, conn, .. } => return Ok((*id, conn.clone())),
                    Link::Down { trying: false, why } => return Err(no_master(why.to_string())),
                    Link::Down { trying: true, .. } => {}
                }
                if rx.changed().await.is_err() {
                    return Err(no_master("the connection is closed".into()));
                }
            }
        };
        match tokio::time::timeout(shared.timeout, wait).await {
            Ok(answer) => answer,
            Err(_) => Err(no_master(format!(
                "no master found within {:?}",
                shared.timeout
            ))),
        }
    }

    /// Runs `send` on the current connection and reports what its answer says about the
    /// connection.
    fn call<'a, T: Send + 'a, F>(
        &'a self,
        send: impl FnOnce(MultiplexedConnection) -> F + Send + 'a,
    ) -> RedisFuture<'a, T>
    where
        F: Future<Output = RedisResult<T>> + Send + 'a,
    {
        Box::pin(async move {
            let (id, conn) = self.up().await?;
            let mut pending = Pending {
                shared: self.shared(),
                id,
                done: false,
            };
            let answer = send(conn).await;
            pending.done = true;
            if let Err(e) = &answer {
                if e.is_timeout() {
                    self.shared().suspect(id);
                } else if e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_unrecoverable_error()
                    || e.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly)
                {
                    self.shared().broken(id, e);
                    // A demoted master answers READONLY; as unavailable, not as a wrong call.
                    return Err(no_master(e.to_string()));
                }
            }
            answer
        })
    }
}

/// Where the connection of a [`SentinelConn`] goes, for subscriptions: one on a master the
/// connection has left (a master that hangs keeps its subscribers' connections open) moves
/// after it.
#[derive(Clone)]
pub(crate) struct MasterMoves(watch::Receiver<Link>);

impl MasterMoves {
    /// Returns once the connection, from now on, connects to a master other than `addr`.
    pub(crate) async fn away_from(&self, addr: &str) {
        self.connected(|a| a != addr).await;
    }

    /// Returns once the connection, from now on, connects to a master at an address `to`
    /// accepts.
    pub(crate) async fn connected(&self, to: impl Fn(&str) -> bool) {
        let mut rx = self.0.clone();
        rx.mark_unchanged();
        loop {
            if rx.changed().await.is_err() {
                return std::future::pending().await;
            }
            if matches!(&*rx.borrow_and_update(), Link::Up { addr, .. } if to(addr)) {
                return;
            }
        }
    }
}

/// A call in flight; dropped before its answer (the caller ran out of time), it makes the
/// task check with the sentinels.
struct Pending<'a> {
    shared: &'a Shared,
    id: u64,
    done: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.shared.suspect(self.id);
        }
    }
}

impl ConnectionLike for SentinelConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        self.call(move |mut c| async move { c.req_packed_command(cmd).await })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        self.call(move |mut c| async move { c.req_packed_commands(cmd, offset, count).await })
    }

    fn get_db(&self) -> i64 {
        0
    }
}

/// The task: keeps a connection to the master the sentinels name, until the last
/// [`SentinelConn`] is dropped.
async fn follow(shared: Arc<Shared>) {
    let mut delay = BACKOFF.0;
    let mut next_id = 1;
    let mut last_check: Option<Instant> = None;
    while !shared.closed.load(Ordering::Acquire) {
        let current = match &*shared.link.borrow() {
            Link::Up { addr, .. } => Some(addr.clone()),
            Link::Down { .. } => None,
        };
        let Some(addr) = current else {
            shared.link.send_modify(|link| {
                if let Link::Down { trying, .. } = link {
                    *trying = true;
                }
            });
            match shared.finder.connect().await {
                Ok((addr, conn)) => {
                    tracing::info!(master = %addr, "redis: connected to the master the sentinels name");
                    shared.link.send_replace(Link::Up {
                        id: next_id,
                        addr,
                        conn,
                    });
                    next_id += 1;
                    delay = BACKOFF.0;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "redis: no master yet");
                    shared.link.send_replace(Link::Down {
                        trying: false,
                        why: e.to_string().into(),
                    });
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shared.wake.notified() => {}
                    }
                    delay = (delay * 2).min(BACKOFF.1);
                }
            }
            continue;
        };
        let due = last_check.map_or(Instant::now(), |t| t + CHECK_EVERY);
        if shared.suspect.load(Ordering::Acquire) && Instant::now() >= due {
            shared.suspect.store(false, Ordering::Release);
            last_check = Some(Instant::now());
            moved_on(&shared, &addr).await;
            continue;
        }
        if shared.suspect.load(Ordering::Acquire) {
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {}
                _ = shared.wake.notified() => {}
            }
        } else {
            shared.wake.notified().await;
        }
    }
}

/// After calls ran out of time on the master at `addr`: when the sentinels name another
/// master, the connection is dropped (the task then connects to the new one).
async fn moved_on(shared: &Shared, addr: &str) {
    match shared.finder.master().await {
        Ok(client) => {
            let named = client.get_connection_info().addr().to_string();
            if named != addr {
                tracing::warn!(old = %addr, new = %named, "redis: the sentinels name another master");
                shared.link.send_replace(Link::Down {
                    trying: true,
                    why: format!("the master moved from {addr} to {named}").into(),
                });
            }
        }
        Err(e) => tracing::debug!(error = %e, "redis: cannot check the master with the sentinels"),
    }
}
