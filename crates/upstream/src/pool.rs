//! Backends, their connections, and the idle ones kept per worker thread.

use crate::error::{Error, ErrorKind};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Limits that apply to every backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Open connections per backend, over all worker threads; `None`: no cap.
    pub max_connections: Option<usize>,
    /// Idle connections kept per backend and worker thread.
    pub max_idle: usize,
    /// An idle connection older than this is closed instead of used.
    pub idle_timeout: Duration,
    /// How long connecting may take, and how long a request waits at the connection cap.
    pub connect_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_connections: None,
            max_idle: 256,
            idle_timeout: Duration::from_secs(90),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// The backends of a gateway by `host:port`. Every config loaded into the process shares
/// one, so pools survive reloads.
#[derive(Debug)]
pub struct Pools {
    config: PoolConfig,
    backends: Mutex<HashMap<Box<str>, Arc<Backend>>>,
}

impl Pools {
    pub fn new(config: PoolConfig) -> Self {
        Self {
            config,
            backends: Mutex::new(HashMap::new()),
        }
    }

    /// The backend at `authority` (`host[:port]` of an `http://` URL; port 80 when absent),
    /// made on first use. Look it up once and keep it: this takes a lock.
    pub fn backend(&self, authority: &http::uri::Authority) -> Arc<Backend> {
        let mut map = self
            .backends
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.entry(authority.as_str().into())
            .or_insert_with(|| Arc::new(Backend::new(authority, self.config.clone())))
            .clone()
    }
}

/// One backend: where it is, its cap, and the number of its open connections.
#[derive(Debug)]
pub struct Backend {
    id: usize,
    host: Box<str>,
    port: u16,
    /// Set when the host is an IP literal: no lookup.
    addr: Option<SocketAddr>,
    /// The `Host` header sent: the authority as configured.
    pub(crate) host_header: Box<str>,
    pub(crate) config: PoolConfig,
    cap: Option<Arc<Semaphore>>,
    /// Requests waiting at the cap: while there are any, a finished connection is closed
    /// instead of kept idle, so that a waiter on any thread can open one.
    waiting: AtomicUsize,
    pub(crate) open: AtomicUsize,
}

/// Gives each backend its own slot in every thread's idle lists; unique across [`Pools`].
static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Idle connections of this worker thread, indexed by backend id, oldest first.
    static IDLE: RefCell<Vec<VecDeque<Idle>>> = const { RefCell::new(Vec::new()) };
}

#[derive(Debug)]
struct Idle {
    conn: Conn,
    since: Instant,
}

impl Backend {
    fn new(authority: &http::uri::Authority, config: PoolConfig) -> Self {
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(80);
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            addr: host
                .parse::<IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, port)),
            host: host.into(),
            port,
            host_header: authority.as_str().into(),
            cap: config.max_connections.map(|n| Arc::new(Semaphore::new(n))),
            config,
            waiting: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
        }
    }

    /// The authority as configured (`host[:port]`), which is also the `Host` sent.
    pub fn authority(&self) -> &str {
        &self.host_header
    }

    /// Open connections, idle or in use, over all threads.
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// The most recently used idle connection of this thread that is still open.
    pub(crate) fn checkout(&self) -> Option<Conn> {
        IDLE.try_with(|cell| {
            let mut lists = cell.borrow_mut();
            let list = lists.get_mut(self.id)?;
            let now = Instant::now();
            while let Some(idle) = list.pop_back() {
                if now.duration_since(idle.since) > self.config.idle_timeout {
                    // The rest are older still.
                    list.clear();
                    return None;
                }
                if idle.conn.is_idle_and_open() {
                    let mut conn = idle.conn;
                    conn.reused = true;
                    return Some(conn);
                }
            }
            None
        })
        .ok()
        .flatten()
    }

    /// Keeps a connection whose exchange ended cleanly for the next request of this thread.
    pub(crate) fn checkin(&self, conn: Conn) {
        if self.waiting.load(Ordering::Relaxed) > 0 || self.config.max_idle == 0 {
            return;
        }
        let _ = IDLE.try_with(|cell| {
            let mut lists = cell.borrow_mut();
            if lists.len() <= self.id {
                lists.resize_with(self.id + 1, VecDeque::new);
            }
            let list = &mut lists[self.id];
            let now = Instant::now();
            while list
                .front()
                .is_some_and(|i| now.duration_since(i.since) > self.config.idle_timeout)
            {
                list.pop_front();
            }
            if list.len() >= self.config.max_idle {
                list.pop_front();
            }
            list.push_back(Idle { conn, since: now });
        });
    }

    /// A new connection, within the cap and the connect timeout.
    pub(crate) async fn connect(self: &Arc<Self>) -> Result<Conn, Error> {
        let timeout = self.config.connect_timeout;
        let permit = match &self.cap {
            None => None,
            Some(cap) => match cap.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    self.waiting.fetch_add(1, Ordering::Relaxed);
                    let got = tokio::time::timeout(timeout, cap.clone().acquire_owned()).await;
                    self.waiting.fetch_sub(1, Ordering::Relaxed);
                    match got {
                        Ok(Ok(p)) => Some(p),
                        _ => return Err(Error::new(ErrorKind::ConnectionLimit)),
                    }
                }
            },
        };
        let connecting = async {
            match self.addr {
                Some(addr) => TcpStream::connect(addr).await,
                None => TcpStream::connect((&*self.host, self.port)).await,
            }
        };
        let stream = match tokio::time::timeout(timeout, connecting).await {
            Err(_) => return Err(Error::new(ErrorKind::ConnectTimeout)),
            Ok(Err(e)) => return Err(Error::with(ErrorKind::Connect, e)),
            Ok(Ok(s)) => s,
        };
        let _ = stream.set_nodelay(true);
        Ok(Conn::new(stream, self.clone(), permit))
    }
}

/// One TCP connection to a backend, with the cap's permit it holds.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) stream: TcpStream,
    /// Taken from the pool rather than newly connected.
    pub(crate) reused: bool,
    pub(crate) backend: Arc<Backend>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Conn {
    pub(crate) fn new(
        stream: TcpStream,
        backend: Arc<Backend>,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Self {
        backend.open.fetch_add(1, Ordering::Relaxed);
        Self {
            stream,
            reused: false,
            backend,
            _permit: permit,
        }
    }

    /// Whether the backend has neither closed the connection nor sent anything on it. Costs
    /// no system call unless the socket was reported readable.
    pub(crate) fn is_idle_and_open(&self) -> bool {
        let mut probe = [0u8; 1];
        matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.backend.open.fetch_sub(1, Ordering::Relaxed);
    }
}
