//! Gatehouse's HTTP/1.1 client for plain-`http` backends.
//!
//! The request's own task does all the work: it takes a connection from a pool of its worker
//! thread, writes the request head and body, reads the answer's head, and hands back a
//! [`ResponseBody`] that reads the rest from the same socket as it is polled. When the body
//! ends cleanly the connection goes back to the pool; when it cannot be reused (the backend
//! said `Connection: close`, the body was cut short, the request body was not fully sent) it
//! is closed. There is no second task per connection and no channel between tasks.
//!
//! A request is written only after the worker has run the other tasks that were ready when
//! the request's task reached its send (tokio's `yield_now`: the task is polled again after
//! the worker's next look at its sockets). Under load, the requests of one scheduler turn go
//! out back to back, and a backend that sleeps between requests is woken once for the batch
//! rather than once per request. A wake-up of a sleeping thread on another core costs the
//! waking side an inter-processor interrupt, which is expensive in a virtual machine: in the
//! Wasm authorizer benchmark on a 2-core VM, where the backend shares a core with the load
//! generator, the gateway woke the backend 0.45 times per request before this and about 0.1
//! times after. With nothing else ready, the turn costs one poll of the sockets, without
//! waiting (about 2 µs more latency with one client connection in the same benchmark).
//!
//! Pools are per backend (`host:port`) and per worker thread: a single-worker runtime takes
//! and returns connections with no lock. A backend may cap its open connections
//! ([`PoolConfig::max_connections`]); a request that finds the cap reached waits for a
//! connection to close, at most the connect timeout.
//!
//! A connection the backend closed while it sat idle is found before use when the close has
//! already arrived. When it arrives only after the request was written, the request is sent
//! once more on a new connection if that cannot repeat an effect: the head was not fully
//! written, or the method is idempotent and its body is held in memory. Otherwise the caller
//! gets [`ErrorKind::Closed`].
//!
//! Not here: TLS, HTTP/2 and protocol upgrades, which the gateway sends through hyper's client;
//! [`https_connector`] is that client's connector.

mod body;
mod chunked;
mod error;
mod exchange;
mod head;
mod pool;
mod tls;
mod writer;

pub use body::ResponseBody;
pub use error::{Error, ErrorKind};
pub use exchange::SendBody;
pub use pool::{Backend, PoolConfig, Pools};
pub use tls::https_connector;

/// Errors of a request body: whatever the caller's body type yields, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
