//! `allocs`: heap allocations per proxied request, counted inside Gatehouse.
//!
//! Runs the gateway in this process ([`gatehouse::run`]) on a current-thread tokio runtime of
//! its own (as `gatehouse serve --workers 1` does), under a global allocator that counts the
//! calls to `alloc`, `alloc_zeroed` and `realloc`, and the bytes they ask for (for `realloc`,
//! the whole new size), on that runtime's threads only: the gateway's thread and, apart, the
//! threads its blocking pool starts (`spawn_blocking`, file I/O). Threads the gateway starts
//! with `std::thread` (the config watcher) are not counted, nor are the backend and the client.
//!
//! A tiny backend (hyper, HTTP/1.1, a 36-byte JSON body with `content-length`) runs on a
//! thread of its own. A client on one keep-alive HTTP/1.1 connection (a raw `TcpStream`, one
//! request at a time) sends 1,000 warm-up requests to a route, then the counters are reset
//! and it sends 10,000 more; the same again for the next route:
//!
//! - `/prod/small`: `http_proxy` to the backend's `/small`, as the load benchmark's plain
//!   proxy scenario (whose route is the greedy `/{proxy+}`; here a plain resource);
//! - `/prod/mock`: a `mock` integration, the gateway's own cost without an upstream;
//! - `/prod/authz`: `/prod/small` behind the Rust token authorizer
//!   (`plugins/dist/token-authorizer.wasm`, with its decision cache off), as the load
//!   benchmark's uncached authorizer scenario; left out, with a line saying so, when
//!   `scripts/build-plugins.sh` has not built the plugin.
//!
//! Prints a Markdown table of allocations and bytes per request, with the commit and the
//! date, on stdout. Loopback only. Run it in release:
//!
//! ```text
//! cargo bench -p gatehouse-bench --bench allocs
//! ```
//!
//! With `GATEHOUSE_ALLOC_SITES=N`, it also records where the gateway thread allocates during
//! N more requests per route and prints each place (the call stack below the allocator, in
//! Gatehouse and its libraries) with its count per request and the mean size it asks for,
//! most frequent first.

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[path = "allocs/sites.rs"]
mod sites;
use sites::{record_site, sites_report, SITES_ON};

/// Requests per route before the counters are reset.
const WARM_UP: u64 = 1_000;
/// Requests per route that are counted.
const MEASURED: u64 = 10_000;
/// The backend's answer.
const SMALL: &[u8] = b"{\"message\":\"hello from the backend\"}";

/// What a thread's allocations count as: nothing, the gateway's runtime thread, or a thread of
/// that runtime's blocking pool.
const NOT_COUNTED: u8 = 0;
const GATEWAY: u8 = 1;
const BLOCKING: u8 = 2;

thread_local! {
    /// This thread's bucket. `const`-initialised and without a destructor, so reading it
    /// never allocates and never fails, even while the thread is exiting.
    static BUCKET: Cell<u8> = const { Cell::new(NOT_COUNTED) };
}

/// Allocation calls and bytes asked for, per bucket (index `bucket - 1`).
static CALLS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
static BYTES: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// Makes the calling thread's allocations count in `bucket`.
fn count_this_thread(bucket: u8) {
    BUCKET.with(|b| b.set(bucket));
}

/// Counts one allocation of `size` bytes if the calling thread is counted.
fn record(size: usize) {
    let bucket = BUCKET.try_with(Cell::get).unwrap_or(NOT_COUNTED);
    if let Some(i) = (bucket as usize).checked_sub(1) {
        CALLS[i].fetch_add(1, Ordering::Relaxed);
        BYTES[i].fetch_add(size as u64, Ordering::Relaxed);
        if bucket == GATEWAY && SITES_ON.load(Ordering::Relaxed) {
            record_site(size);
        }
    }
}

/// The counters, per bucket: `(calls, bytes)` for the gateway thread and the blocking pool.
#[derive(Debug, Clone, Copy)]
struct Counts {
    gateway: (u64, u64),
    blocking: (u64, u64),
}

fn counts() -> Counts {
    let read = |i: usize| {
        (
            CALLS[i].load(Ordering::Relaxed),
            BYTES[i].load(Ordering::Relaxed),
        )
    };
    Counts {
        gateway: read(0),
        blocking: read(1),
    }
}

fn reset_counts() {
    for c in CALLS.iter().chain(&BYTES) {
        c.store(0, Ordering::Relaxed);
    }
}

/// [`System`], counting the allocations of the threads that asked for it.
struct Counting;

// A global allocator cannot be written without `unsafe`: every method forwards to `System`
// unchanged, with the caller's own guarantees, after bumping two atomics.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: the caller's contract for `alloc` is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        // SAFETY: as for `dealloc`; the caller vouches for `new_size`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Starts the backend on a thread and runtime of its own (not counted) on a port of its
/// choosing; returns its address.
fn start_backend() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind the backend")?;
    let addr = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the backend's runtime")?;
    std::thread::Builder::new()
        .name("backend".into())
        .spawn(move || {
            let served = rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                loop {
                    let (stream, _) = listener.accept().await?;
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(|_req: Request<Incoming>| async {
                            Ok::<_, Infallible>(
                                Response::builder()
                                    .header("content-type", "application/json")
                                    .body(Full::new(Bytes::from_static(SMALL)))
                                    .unwrap_or_default(),
                            )
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
            let served: std::io::Result<()> = served;
            if let Err(e) = served {
                eprintln!("allocs: the backend stopped: {e}");
            }
        })
        .context("cannot start the backend's thread")?;
    Ok(addr)
}

/// A route that is measured, and the header lines its requests carry besides `host`.
struct Route {
    path: &'static str,
    integration: &'static str,
    headers: String,
}

/// The token the `/prod/authz` route's authorizer allows.
const TOKEN: &str = "allocs-token";

/// The Rust token authorizer, when `scripts/build-plugins.sh` has built it.
fn token_authorizer() -> Option<PathBuf> {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../plugins/dist/token-authorizer.wasm"
    ));
    path.is_file().then_some(path)
}

/// The gateway's config: one listener on `port`, API `a`, stage `prod`, the routes, and with
/// `authorizer` (the plugin's file) the authorized one.
fn config(port: u16, backend: SocketAddr, authorizer: Option<&std::path::Path>) -> String {
    let (plugins, authorizers, routes) = match authorizer {
        Some(path) => (
            format!(
                "plugins:\n  tokens:\n    path: {}\n    config: {{ tokens: \"{TOKEN}=alice\" }}\n",
                path.display()
            ),
            "    authorizers:\n      tokens: { plugin: tokens, identity_sources: [header.Authorization], ttl: 0s }\n",
            format!(
                "      /authz:\n        GET:\n          authorizer: tokens\n          integration: {{ type: http_proxy, uri: \"http://{backend}/small\" }}\n"
            ),
        ),
        None => (String::new(), "", String::new()),
    };
    format!(
        r#"# Generated by gatehouse-bench's `allocs`.
version: 1
listeners:
  - name: plain
    address: 127.0.0.1:{port}
access_log: {{ destination: "off" }}
# As in the load benchmark: the account default (10,000 rps) would answer 429s.
throttle: {{ rate: 10000000, burst: 10000000 }}
{plugins}apis:
  - name: a
{authorizers}    stages:
      prod: {{}}
    resources:
      /small:
        GET:
          integration: {{ type: http_proxy, uri: "http://{backend}/small" }}
      /mock:
        GET:
          integration:
            type: mock
            headers: {{ content-type: application/json }}
            body: '{{"message":"hello from the mock"}}'
{routes}"#
    )
}

/// Starts Gatehouse on a current-thread runtime in a thread of its own, counted; the threads
/// of the runtime's blocking pool are counted apart. The thread ends only if the gateway
/// does, with why.
fn start_gateway(config_path: PathBuf) -> anyhow::Result<std::thread::JoinHandle<String>> {
    std::thread::Builder::new()
        .name("gateway".into())
        .spawn(move || {
            count_this_thread(GATEWAY);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .on_thread_start(|| count_this_thread(BLOCKING))
                .build();
            match rt {
                Ok(rt) => match rt.block_on(gatehouse::run(config_path)) {
                    Ok(()) => "the gateway stopped".to_owned(),
                    Err(e) => format!("the gateway failed: {e}"),
                },
                Err(e) => format!("cannot start the gateway's runtime: {e}"),
            }
        })
        .context("cannot start the gateway's thread")
}

/// One keep-alive HTTP/1.1 connection, one request at a time, into a fixed buffer (so the
/// client allocates nothing per request, though it is not counted anyway).
struct Client {
    stream: TcpStream,
    buf: Box<[u8; 16 * 1024]>,
}

impl Client {
    fn connect(addr: SocketAddr) -> anyhow::Result<Client> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(Client {
            stream,
            buf: Box::new([0; 16 * 1024]),
        })
    }

    /// Sends `request` (a whole request head) and reads the response, by `content-length`;
    /// returns its status.
    fn send(&mut self, request: &[u8]) -> anyhow::Result<u16> {
        self.stream.write_all(request)?;
        let mut len = 0;
        let (head_end, body_len) = loop {
            if len == self.buf.len() {
                bail!("response head larger than {} bytes", self.buf.len());
            }
            let n = self.stream.read(&mut self.buf[len..])?;
            if n == 0 {
                bail!("connection closed before a response");
            }
            len += n;
            if let Some(i) = self.buf[..len].windows(4).position(|w| w == b"\r\n\r\n") {
                break (i + 4, content_length(&self.buf[..i])?);
            }
        };
        let status = status_of(&self.buf[..head_end])?;
        let end = head_end + body_len;
        if end > self.buf.len() {
            bail!("response larger than {} bytes", self.buf.len());
        }
        while len < end {
            let n = self.stream.read(&mut self.buf[len..end])?;
            if n == 0 {
                bail!("connection closed inside a response body");
            }
            len += n;
        }
        if len > end {
            bail!("{} bytes after the response", len - end);
        }
        if status != 200 {
            bail!(
                "status {status}: {}",
                String::from_utf8_lossy(&self.buf[head_end..end])
            );
        }
        Ok(status)
    }
}

fn status_of(head: &[u8]) -> anyhow::Result<u16> {
    head.split(|&b| b == b' ')
        .nth(1)
        .and_then(|s| std::str::from_utf8(s).ok()?.parse().ok())
        .context("malformed status line")
}

fn content_length(head: &[u8]) -> anyhow::Result<usize> {
    head.split(|&b| b == b'\n')
        .find_map(|line| {
            let (name, value) = line.split_at(line.iter().position(|&b| b == b':')?);
            if !name.eq_ignore_ascii_case(b"content-length") {
                return None;
            }
            std::str::from_utf8(&value[1..]).ok()?.trim().parse().ok()
        })
        .context("a response without content-length")
}

/// Waits until the gateway answers `request` with 200, or fails when it has stopped.
fn wait_ready(
    addr: SocketAddr,
    request: &[u8],
    gateway: &std::thread::JoinHandle<String>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        if gateway.is_finished() {
            bail!("the gateway stopped before answering");
        }
        match Client::connect(addr).and_then(|mut c| c.send(request)) {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("the gateway did not answer on {addr}: {last}")
}

/// One route's figures: counted calls and bytes per request, gateway thread and blocking
/// pool.
struct Figures {
    path: &'static str,
    integration: &'static str,
    counts: Counts,
}

fn request(route: &Route) -> String {
    format!(
        "GET {} HTTP/1.1\r\nhost: x\r\n{}\r\n",
        route.path, route.headers
    )
}

/// Warms the route up on a fresh connection, then counts [`MEASURED`] requests to it.
fn measure(addr: SocketAddr, route: &Route) -> anyhow::Result<Figures> {
    let (path, integration) = (route.path, route.integration);
    let request = request(route);
    let mut client = Client::connect(addr).with_context(|| format!("cannot connect to {addr}"))?;
    for i in 0..WARM_UP {
        client
            .send(request.as_bytes())
            .with_context(|| format!("{path}: warm-up request {}", i + 1))?;
    }
    reset_counts();
    for i in 0..MEASURED {
        client
            .send(request.as_bytes())
            .with_context(|| format!("{path}: request {}", i + 1))?;
    }
    // The gateway may still be finishing the last request after its response went out.
    std::thread::sleep(Duration::from_millis(50));
    let counts = counts();
    Ok(Figures {
        path,
        integration,
        counts,
    })
}

/// `git rev-parse --short HEAD`, marked when the work tree has changes; `unknown` without git.
fn commit() -> String {
    let git = |args: &[&str]| std::process::Command::new("git").args(args).output().ok();
    let Some(head) = git(&["rev-parse", "--short", "HEAD"]).filter(|o| o.status.success()) else {
        return "unknown".into();
    };
    let head = String::from_utf8_lossy(&head.stdout).trim().to_owned();
    let clean = git(&["diff", "--quiet", "HEAD", "--"]).is_some_and(|o| o.status.success());
    if clean {
        head
    } else {
        format!("{head} + uncommitted changes")
    }
}

/// Today's date in UTC, `YYYY-MM-DD` (days to civil date, Howard Hinnant's algorithm).
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn markdown(figures: &[Figures]) -> String {
    let per = |n: u64| n as f64 / MEASURED as f64;
    let mut out = format!(
        "Allocations per request in Gatehouse (in-process, current-thread runtime): {MEASURED} \
         requests on one keep-alive HTTP/1.1 connection after {WARM_UP} warm-up; commit {}, {}.\n\n",
        commit(),
        today()
    );
    out.push_str(
        "| route | integration | allocations per request | bytes allocated per request | \
         blocking pool: allocations, bytes per request |\n",
    );
    out.push_str("|---|---|--:|--:|--:|\n");
    for f in figures {
        let (calls, bytes) = f.counts.gateway;
        let (b_calls, b_bytes) = f.counts.blocking;
        out.push_str(&format!(
            "| `{}` | {} | {:.2} | {:.0} | {:.2}, {:.0} |\n",
            f.path,
            f.integration,
            per(calls),
            per(bytes),
            per(b_calls),
            per(b_bytes)
        ));
    }
    out
}

fn main() -> anyhow::Result<()> {
    let backend = start_backend()?;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("cannot find a free port")?
        .port();
    let dir = tempfile::tempdir()?;
    let config_path = dir.path().join("gatehouse.yaml");
    let authorizer = token_authorizer();
    std::fs::write(&config_path, config(port, backend, authorizer.as_deref()))?;
    let gateway = start_gateway(config_path)?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    if let Err(e) = wait_ready(
        addr,
        b"GET /prod/small HTTP/1.1\r\nhost: x\r\n\r\n",
        &gateway,
    ) {
        if gateway.is_finished() {
            let why = gateway
                .join()
                .unwrap_or_else(|_| "the gateway panicked".into());
            bail!("{why}");
        }
        return Err(e);
    }
    let mut routes = vec![
        Route {
            path: "/prod/small",
            integration: "http_proxy",
            headers: String::new(),
        },
        Route {
            path: "/prod/mock",
            integration: "mock",
            headers: String::new(),
        },
    ];
    if authorizer.is_some() {
        routes.push(Route {
            path: "/prod/authz",
            integration: "http_proxy behind the Rust token authorizer (uncached)",
            headers: format!("authorization: Bearer {TOKEN}\r\n"),
        });
    }
    let figures = routes
        .iter()
        .map(|r| measure(addr, r))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut report = markdown(&figures);
    if authorizer.is_none() {
        report.push_str(
            "\n`/prod/authz` is left out: `plugins/dist/token-authorizer.wasm` is not built \
             (`scripts/build-plugins.sh` builds it).\n",
        );
    }
    let traced: u64 = std::env::var("GATEHOUSE_ALLOC_SITES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if traced > 0 {
        for route in &routes {
            let request = request(route);
            let mut client = Client::connect(addr)?;
            for _ in 0..WARM_UP {
                client.send(request.as_bytes())?;
            }
            SITES_ON.store(true, Ordering::Relaxed);
            for _ in 0..traced {
                client.send(request.as_bytes())?;
            }
            std::thread::sleep(Duration::from_millis(50));
            SITES_ON.store(false, Ordering::Relaxed);
            report.push_str(&sites_report(route.path, traced));
        }
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(report.as_bytes())?;
    stdout.flush()?;
    // The gateway serves until a signal; nothing of it needs to outlive the figures.
    std::process::exit(0)
}
