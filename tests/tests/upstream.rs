//! The gateway's backend connections: pooling, a backend closing kept-alive connections, the
//! per-backend cap, and many idle client connections. Backends here are raw sockets, so each
//! test decides exactly when a backend answers or closes.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::{http1_client, Gateway, BASE};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What a backend connection does with each request, in order; after the last step it
/// closes.
#[derive(Clone, Copy, Debug)]
enum Step {
    Answer,
    /// Reads the request and closes without answering.
    CloseUnanswered,
}

#[derive(Clone, Default)]
struct Counts {
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    live: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

/// A backend playing `script[n]` on its n-th connection (the last entry repeats), answering
/// after `delay`.
async fn backend(script: Vec<Vec<Step>>, delay: Duration) -> (String, Counts) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let counts = Counts::default();
    let c = counts.clone();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let n = c.connections.fetch_add(1, Ordering::SeqCst);
            let steps = script[n.min(script.len() - 1)].clone();
            let c = c.clone();
            tokio::spawn(async move {
                for step in steps {
                    let Some(path) = read_request(&mut sock).await else {
                        break;
                    };
                    c.requests.fetch_add(1, Ordering::SeqCst);
                    match step {
                        Step::Answer => {
                            // Requests in progress: at most one per connection.
                            let live = c.live.fetch_add(1, Ordering::SeqCst) + 1;
                            c.peak.fetch_max(live, Ordering::SeqCst);
                            tokio::time::sleep(delay).await;
                            c.live.fetch_sub(1, Ordering::SeqCst);
                            let body = format!("{{\"path\":\"{path}\",\"connection\":{n}}}");
                            let head = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                                body.len()
                            );
                            if sock.write_all(head.as_bytes()).await.is_err()
                                || sock.write_all(body.as_bytes()).await.is_err()
                            {
                                break;
                            }
                        }
                        Step::CloseUnanswered => break,
                    }
                }
            });
        }
    });
    (addr, counts)
}

/// Reads a request head and its `content-length` body; the request line's target, or `None`
/// at end of stream.
async fn read_request(sock: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if sock.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let len = text
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .map_or(0, |v| v.trim().parse::<usize>().unwrap());
    let mut body = vec![0u8; len];
    sock.read_exact(&mut body).await.ok()?;
    text.split_whitespace().nth(1).map(str::to_owned)
}

fn config(backend: &str, upstream: &str) -> String {
    format!(
        "{BASE}{upstream}apis:\n- name: a\n  stages: {{ prod: {{}} }}\n  resources:\n    /{{proxy+}}:\n      ANY: {{ integration: {{ type: http_proxy, uri: \"http://{backend}/{{proxy}}\" }} }}\n    /mock:\n      GET: {{ integration: {{ type: mock, body: ok }} }}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_connections_are_kept_and_reused() {
    let (addr, counts) = backend(vec![vec![Step::Answer; 100]], Duration::ZERO).await;
    let gw = Gateway::start_workers(&config(&addr, ""), 1);
    let c = http1_client();
    for i in 0..20 {
        let r = c
            .get(format!("{}/prod/item/{i}", gw.url("public")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["path"], format!("/item/{i}"));
    }
    assert_eq!(counts.requests.load(Ordering::SeqCst), 20);
    assert_eq!(
        counts.connections.load(Ordering::SeqCst),
        1,
        "one worker, sequential requests: one backend connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_closing_a_kept_connection_costs_no_idempotent_request() {
    // First connection: answers once, then reads the next request and closes unanswered.
    let script = vec![
        vec![Step::Answer, Step::CloseUnanswered],
        vec![Step::Answer; 100],
    ];
    let (addr, counts) = backend(script.clone(), Duration::ZERO).await;
    let gw = Gateway::start_workers(&config(&addr, ""), 1);
    let c = http1_client();
    let url = format!("{}/prod/x", gw.url("public"));
    // The first answer is read to its end: the gateway keeps the backend connection only
    // once it has passed on the whole body, and the client would otherwise drop the body and
    // its connection, maybe before the gateway read it.
    let first = c.get(&url).send().await.unwrap();
    assert_eq!(first.status(), 200);
    first.bytes().await.unwrap();
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200, "sent again on a new connection");
    assert_eq!(counts.requests.load(Ordering::SeqCst), 3);
    assert_eq!(counts.connections.load(Ordering::SeqCst), 2);

    // The same for a POST: it reached the backend once, so it is not sent again.
    let (addr, counts) = backend(script, Duration::ZERO).await;
    let gw = Gateway::start_workers(&config(&addr, ""), 1);
    let url = format!("{}/prod/x", gw.url("public"));
    let first = c.post(&url).body("a").send().await.unwrap();
    assert_eq!(first.status(), 200);
    first.bytes().await.unwrap();
    let r = c.post(&url).body("b").send().await.unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(
        counts.requests.load(Ordering::SeqCst),
        2,
        "never sent twice"
    );
    let line = gw.log.wait_for(
        "closed the connection before answering",
        Duration::from_secs(5),
    );
    assert!(line.contains("/x"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_backend_closed_while_idle_is_not_used() {
    // Each connection answers once and closes, without saying `Connection: close`.
    let (addr, counts) = backend(vec![vec![Step::Answer]], Duration::ZERO).await;
    let gw = Gateway::start_workers(&config(&addr, ""), 1);
    let c = http1_client();
    let url = format!("{}/prod/x", gw.url("public"));
    for _ in 0..3 {
        let r = c.post(&url).body("once").send().await.unwrap();
        assert_eq!(r.status(), 200);
        // Time for the backend's close to reach the gateway.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(counts.requests.load(Ordering::SeqCst), 3);
    assert_eq!(counts.connections.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_backend_connection_cap_holds() {
    let (addr, counts) = backend(vec![vec![Step::Answer; 100]], Duration::from_millis(100)).await;
    let gw = Gateway::start(&config(
        &addr,
        "upstream: { max_connections_per_backend: 2, connect_timeout: 10s }\n",
    ));
    let url = format!("{}/prod/x", gw.url("public"));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let url = url.clone();
        // A client each: eight client connections at once.
        tasks.push(tokio::spawn(async move {
            http1_client().get(&url).send().await.unwrap().status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(counts.requests.load(Ordering::SeqCst), 8);
    assert!(
        counts.peak.load(Ordering::SeqCst) <= 2,
        "peak {:?}",
        counts.peak
    );
}

/// A client's small request body is read whole before the backend is asked (the head and body
/// then go out in one write); a large one streams, so the backend hears of it before it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_request_body_is_read_whole_before_the_backend_is_asked() {
    let (addr, counts) = backend(vec![vec![Step::Answer; 100]], Duration::ZERO).await;
    let gw = Gateway::start_workers(&config(&addr, ""), 1);
    let connections = || counts.connections.load(Ordering::SeqCst);

    // 10 bytes announced, 5 sent: no backend connection until the other 5 arrive.
    let mut client = TcpStream::connect(gw.addr("public")).await.unwrap();
    client
        .write_all(b"POST /prod/small HTTP/1.1\r\nhost: gw\r\ncontent-length: 10\r\n\r\nhello")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        connections(),
        0,
        "the backend was asked before the body was whole"
    );
    client.write_all(b"world").await.unwrap();
    let text = whole_answer(&mut client).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("/small"), "{text}");
    assert_eq!(counts.requests.load(Ordering::SeqCst), 1);

    // 1 MiB announced, 64 KiB sent: it streams, so the backend is asked meanwhile (a second
    // gateway and backend, so that the connection count starts from none).
    let (addr, counts) = backend(vec![vec![Step::Answer; 100]], Duration::ZERO).await;
    let gw = Gateway::start_workers(&config(&addr, ""), 1);
    let connections = || counts.connections.load(Ordering::SeqCst);
    let mut client = TcpStream::connect(gw.addr("public")).await.unwrap();
    client
        .write_all(b"POST /prod/large HTTP/1.1\r\nhost: gw\r\ncontent-length: 1048576\r\n\r\n")
        .await
        .unwrap();
    client.write_all(&vec![b'x'; 64 * 1024]).await.unwrap();
    let before = std::time::Instant::now();
    while connections() == 0 {
        assert!(
            before.elapsed() < Duration::from_secs(10),
            "a large body did not stream to the backend"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    client
        .write_all(&vec![b'x'; 1024 * 1024 - 64 * 1024])
        .await
        .unwrap();
    let text = whole_answer(&mut client).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

/// One answer read from `client` up to the end of its body (by its `content-length`; the
/// head and the body may come in separate reads), within 10 s.
async fn whole_answer(client: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length = text[..head_end]
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if got.len() >= head_end + 4 + length {
                return text;
            }
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let n = tokio::time::timeout(left, client.read(&mut buf))
            .await
            .expect("a whole answer within 10 s")
            .unwrap();
        assert!(n > 0, "closed before the answer was whole: {text}");
        got.extend_from_slice(&buf[..n]);
    }
}

/// Ten thousand keep-alive client connections, each having made one request, sit idle; the
/// gateway keeps them all and serves a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_idle_connections_are_held() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    const N: usize = 10_000;
    let limit = getrlimit(Resource::Nofile);
    assert!(
        limit.maximum.is_none_or(|m| m >= N as u64 + 1_000),
        "the hard open-file limit {:?} is below {N} connections",
        limit.maximum
    );
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    )
    .unwrap();
    // Opening them all takes longer than the default wait for a next request head.
    let gw = Gateway::start(&config(
        "127.0.0.1:1",
        "limits: { header_read_timeout: 5m }\n",
    ));
    let addr = gw.addr("public");
    let mut conns = Vec::with_capacity(N);
    let request = b"GET /prod/mock HTTP/1.1\r\nhost: gw\r\n\r\n";
    for batch in 0..N / 500 {
        let mut opening = Vec::new();
        for _ in 0..500 {
            opening.push(tokio::spawn(async move {
                let mut s = TcpStream::connect(addr).await.unwrap();
                s.write_all(request).await.unwrap();
                let mut got = Vec::new();
                let mut buf = [0u8; 512];
                while !got.ends_with(b"ok") {
                    let n = s.read(&mut buf).await.unwrap();
                    assert!(n > 0, "closed before answering");
                    got.extend_from_slice(&buf[..n]);
                }
                assert!(got.starts_with(b"HTTP/1.1 200"));
                s
            }));
        }
        for o in opening {
            conns.push(o.await.unwrap_or_else(|e| panic!("batch {batch}: {e}")));
        }
    }
    assert_eq!(conns.len(), N);
    // All idle now; a new client is still served, and so is the first idle one.
    let r = http1_client()
        .get(format!("{}/prod/mock", gw.url("public")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let first = &mut conns[0];
    first.write_all(request).await.unwrap();
    let mut buf = [0u8; 512];
    let n = first.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let open = std::fs::read_dir(format!("/proc/{}/fd", gw.pid()))
        .unwrap()
        .count();
    assert!(
        open >= N,
        "the gateway holds {open} descriptors for {N} connections"
    );
    assert_eq!(gw.log.count(" ERROR "), 0, "{:?}", gw.log.all());
}
