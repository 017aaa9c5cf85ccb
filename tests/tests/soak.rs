//! A bounded soak (about 60 s; not in the default run): a good load of proxied and mock
//! requests while attackers hold idle connections, drip request heads (slowloris) and open and
//! reset HTTP/2 streams as fast as they can (rapid reset). Prints the good load's success
//! rate and latency percentiles. Run it with
//!
//! ```sh
//! cargo test -p gatehouse-e2e --test soak -- --ignored --nocapture
//! ```

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::{http1_client, Backend, Gateway};
use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SOAK: Duration = Duration::from_secs(60);
const IDLE_SOCKETS: usize = 4_000;
const SLOWLORIS: usize = 400;
const RESETTERS: usize = 4;
const GOOD_CLIENTS: usize = 16;

fn raise_own_descriptor_limit() {
    let limit = getrlimit(Resource::Nofile);
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    );
}

/// Holds `n` connections that send nothing, opening a new one whenever one is closed.
async fn idle_flood(addr: String, n: usize, stop: Arc<AtomicBool>, opened: Arc<AtomicU64>) {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (addr, stop, opened) = (addr.clone(), stop.clone(), opened.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut s) = TcpStream::connect(&addr).await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                opened.fetch_add(1, Ordering::Relaxed);
                let mut buf = [0u8; 64];
                // Held until the gateway closes it (or the soak ends).
                let _ = tokio::time::timeout(SOAK, s.read(&mut buf)).await;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// Sends a request head one byte a second on `n` connections.
async fn slowloris(addr: String, n: usize, stop: Arc<AtomicBool>, opened: Arc<AtomicU64>) {
    let head = b"GET /prod/x HTTP/1.1\r\nHost: a\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (addr, stop, opened) = (addr.clone(), stop.clone(), opened.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut s) = TcpStream::connect(&addr).await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                opened.fetch_add(1, Ordering::Relaxed);
                for b in head.iter().cycle() {
                    if stop.load(Ordering::Relaxed) || s.write_all(&[*b]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// Opens HTTP/2 streams and resets each at once, as fast as the connection takes them.
async fn rapid_reset(addr: String, stop: Arc<AtomicBool>, streams: Arc<AtomicU64>) {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";
    // :method GET, :scheme http, :path /prod/x, :authority a (HPACK, no indexing).
    let block: &[u8] = &[
        0x82, 0x86, 0x04, 7, b'/', b'p', b'r', b'o', b'd', b'/', b'x', 0x41, 1, b'a',
    ];
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = TcpStream::connect(&addr).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if s.write_all(PREFACE).await.is_err() {
            continue;
        }
        let (mut rd, mut wr) = s.split();
        let drain = async {
            let mut buf = vec![0u8; 65536];
            while let Ok(n) = rd.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        };
        let flood = async {
            let mut id: u32 = 1;
            let mut batch = Vec::with_capacity(64 * 1024);
            while !stop.load(Ordering::Relaxed) && id < (1 << 30) {
                batch.clear();
                for _ in 0..100 {
                    let len = block.len() as u32;
                    batch.extend_from_slice(&len.to_be_bytes()[1..]);
                    batch.extend_from_slice(&[0x1, 0x4 | 0x1]);
                    batch.extend_from_slice(&id.to_be_bytes());
                    batch.extend_from_slice(block);
                    batch.extend_from_slice(&[0, 0, 4, 0x3, 0]);
                    batch.extend_from_slice(&id.to_be_bytes());
                    batch.extend_from_slice(&8u32.to_be_bytes()); // CANCEL
                    id += 2;
                }
                if wr.write_all(&batch).await.is_err() {
                    break;
                }
                streams.fetch_add(100, Ordering::Relaxed);
            }
        };
        tokio::select! {
            () = drain => {}
            () = flood => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a 60 s soak: run with --ignored"]
async fn good_traffic_survives_floods_slowloris_and_rapid_reset() {
    raise_own_descriptor_limit();
    let backend = Backend::start("soak").await;
    let gw = Gateway::start(&format!(
        r#"version: 1
listeners:
  - name: public
    address: 127.0.0.1:0
access_log: {{ destination: off }}
limits: {{ header_read_timeout: 5s, idle_timeout: 10s }}
apis:
- name: a
  stages: {{ prod: {{}} }}
  resources:
    /x:
      GET: {{ integration: {{ type: mock, body: "ok" }} }}
    /p:
      GET: {{ integration: {{ type: http_proxy, uri: "http://{}/pets/1" }} }}
"#,
        backend.addr
    ));
    let addr = gw.addr("public").to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let idle_opened = Arc::new(AtomicU64::new(0));
    let slow_opened = Arc::new(AtomicU64::new(0));
    let resets = Arc::new(AtomicU64::new(0));
    let mut attackers = vec![
        tokio::spawn(idle_flood(
            addr.clone(),
            IDLE_SOCKETS,
            stop.clone(),
            idle_opened.clone(),
        )),
        tokio::spawn(slowloris(
            addr.clone(),
            SLOWLORIS,
            stop.clone(),
            slow_opened.clone(),
        )),
    ];
    for _ in 0..RESETTERS {
        attackers.push(tokio::spawn(rapid_reset(
            addr.clone(),
            stop.clone(),
            resets.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let latencies = Arc::new(Mutex::new(Vec::new()));
    let failures = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + SOAK;
    let mut good = Vec::new();
    for i in 0..GOOD_CLIENTS {
        let (url, latencies, failures) = (
            format!("http://{addr}/prod/{}", if i % 2 == 0 { "x" } else { "p" }),
            latencies.clone(),
            failures.clone(),
        );
        good.push(tokio::spawn(async move {
            let client = http1_client();
            while Instant::now() < deadline {
                let started = Instant::now();
                let ok = match tokio::time::timeout(Duration::from_secs(5), client.get(&url).send())
                    .await
                {
                    Ok(Ok(r)) => r.status() == 200 && r.bytes().await.is_ok(),
                    _ => false,
                };
                if ok {
                    latencies.lock().unwrap().push(started.elapsed());
                } else {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for g in good {
        g.await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for a in attackers {
        a.abort();
    }

    let mut lat = latencies.lock().unwrap().clone();
    lat.sort();
    let ok = lat.len() as u64;
    let failed = failures.load(Ordering::Relaxed);
    let pct = |p: f64| lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)));
    println!(
        "soak {:?}: good requests {ok} ok, {failed} failed ({:.3}% success); p50 {:?}, p99 {:?}, max {:?}",
        SOAK,
        100.0 * ok as f64 / (ok + failed).max(1) as f64,
        pct(0.50),
        pct(0.99),
        lat.last()
    );
    println!(
        "attackers: {} idle connections opened, {} slowloris connections opened, {} streams opened and reset",
        idle_opened.load(Ordering::Relaxed),
        slow_opened.load(Ordering::Relaxed),
        resets.load(Ordering::Relaxed)
    );
    assert!(ok > 0, "no good request succeeded");
    assert!(
        failed * 100 <= ok + failed,
        "more than 1% of the good load failed: {failed} of {}",
        ok + failed
    );
}
