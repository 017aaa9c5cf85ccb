//! The client against scripted backends on loopback: raw sockets, so each test controls
//! exactly when the backend answers, closes or stalls.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use bytes::Bytes;
use gatehouse_upstream::{ErrorKind, PoolConfig, Pools, SendBody};
use http::{HeaderMap, Method};
use http_body_util::{BodyExt, Full, StreamBody};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Plain = Full<Bytes>;

/// What the backend does with each request on a connection.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// Answers `200` with `body`, keeping the connection.
    Answer(&'static str),
    /// Answers, then closes the connection.
    AnswerAndClose(&'static str),
    /// Reads the request and closes without a byte of answer.
    CloseUnanswered,
}

/// A backend that plays `script[n]` on its n-th connection (the last one repeats) and counts
/// connections and requests.
struct Scripted {
    authority: http::uri::Authority,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

async fn scripted(script: Vec<Vec<Step>>) -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let authority = listener.local_addr().unwrap().to_string().parse().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let (c, r) = (connections.clone(), requests.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let n = c.fetch_add(1, Ordering::SeqCst);
            let steps = script[n.min(script.len() - 1)].clone();
            let r = r.clone();
            tokio::spawn(async move {
                for step in steps {
                    if read_request(&mut sock).await.is_none() {
                        return;
                    }
                    r.fetch_add(1, Ordering::SeqCst);
                    match step {
                        Step::Answer(body) | Step::AnswerAndClose(body) => {
                            let head = format!(
                                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
                                body.len()
                            );
                            sock.write_all(head.as_bytes()).await.unwrap();
                            sock.write_all(body.as_bytes()).await.unwrap();
                            if matches!(step, Step::AnswerAndClose(_)) {
                                return;
                            }
                        }
                        Step::CloseUnanswered => return,
                    }
                }
            });
        }
    });
    Scripted {
        authority,
        connections,
        requests,
    }
}

/// Reads one request head and its `content-length` body; `None` at end of stream.
async fn read_request(sock: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if sock.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        buf.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&buf).to_lowercase();
    let len = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |v| v.trim().parse::<usize>().unwrap());
    let mut body = vec![0u8; len];
    sock.read_exact(&mut body).await.ok()?;
    buf.extend_from_slice(&body);
    Some(buf)
}

async fn listen() -> (TcpListener, http::uri::Authority) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let authority = listener.local_addr().unwrap().to_string().parse().unwrap();
    (listener, authority)
}

/// A GET with no body.
async fn plain_get(
    backend: &Arc<gatehouse_upstream::Backend>,
) -> Result<http::Response<gatehouse_upstream::ResponseBody<Plain>>, gatehouse_upstream::Error> {
    backend
        .send(
            &Method::GET,
            "/",
            &HeaderMap::new(),
            SendBody::Bytes(Bytes::new()),
        )
        .await
}

fn pools() -> Pools {
    Pools::new(PoolConfig {
        connect_timeout: Duration::from_millis(500),
        ..PoolConfig::default()
    })
}

async fn get(pools: &Pools, b: &Scripted, method: Method) -> Result<(u16, String), ErrorKind> {
    let backend = pools.backend(&b.authority);
    let resp = backend
        .send(
            &method,
            "/x",
            &HeaderMap::new(),
            SendBody::<Plain>::Bytes(Bytes::from_static(b"hi")),
        )
        .await
        .map_err(|e| e.kind())?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.kind())?
        .to_bytes();
    Ok((status, String::from_utf8(body.to_vec()).unwrap()))
}

#[tokio::test(flavor = "current_thread")]
async fn a_connection_is_reused_while_the_backend_keeps_it() {
    let b = scripted(vec![vec![Step::Answer("one"); 3]]).await;
    let pools = pools();
    for _ in 0..3 {
        assert_eq!(
            get(&pools, &b, Method::GET).await.unwrap(),
            (200, "one".into())
        );
    }
    assert_eq!(b.connections.load(Ordering::SeqCst), 1);
    assert_eq!(b.requests.load(Ordering::SeqCst), 3);
    assert_eq!(pools.backend(&b.authority).open_connections(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_connection_the_backend_closed_while_idle_is_not_used() {
    let b = scripted(vec![
        vec![Step::AnswerAndClose("a")],
        vec![Step::Answer("b")],
    ])
    .await;
    let pools = pools();
    assert_eq!(get(&pools, &b, Method::POST).await.unwrap().1, "a");
    // Let the close arrive before the next request.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(get(&pools, &b, Method::POST).await.unwrap().1, "b");
    assert_eq!(b.connections.load(Ordering::SeqCst), 2);
    assert_eq!(b.requests.load(Ordering::SeqCst), 2, "nothing sent twice");
}

#[tokio::test(flavor = "current_thread")]
async fn an_idempotent_request_is_sent_again_when_a_kept_connection_closes_unanswered() {
    let b = scripted(vec![
        vec![Step::Answer("a"), Step::CloseUnanswered],
        vec![Step::Answer("b")],
    ])
    .await;
    let pools = pools();
    assert_eq!(get(&pools, &b, Method::GET).await.unwrap().1, "a");
    assert_eq!(get(&pools, &b, Method::GET).await.unwrap().1, "b");
    assert_eq!(b.connections.load(Ordering::SeqCst), 2);
    assert_eq!(b.requests.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "current_thread")]
async fn a_non_idempotent_request_that_was_sent_is_never_sent_again() {
    let b = scripted(vec![
        vec![Step::Answer("a"), Step::CloseUnanswered],
        vec![Step::Answer("b")],
    ])
    .await;
    let pools = pools();
    assert_eq!(get(&pools, &b, Method::POST).await.unwrap().1, "a");
    assert_eq!(get(&pools, &b, Method::POST).await, Err(ErrorKind::Closed));
    assert_eq!(b.requests.load(Ordering::SeqCst), 2);
    assert_eq!(b.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_fresh_connection_closed_unanswered_is_an_error_not_a_retry() {
    let b = scripted(vec![vec![Step::CloseUnanswered]]).await;
    let pools = pools();
    assert_eq!(get(&pools, &b, Method::GET).await, Err(ErrorKind::Closed));
    assert_eq!(b.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_holds_and_waiters_time_out() {
    // The backend answers each request after 300 ms.
    let (listener, authority) = listen().await;
    let peak = Arc::new(AtomicUsize::new(0));
    let live = Arc::new(AtomicUsize::new(0));
    let (p, l) = (peak.clone(), live.clone());
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let (p, l) = (p.clone(), l.clone());
            tokio::spawn(async move {
                if read_request(&mut sock).await.is_some() {
                    // Requests in progress: one per connection, so never above the cap.
                    let now = l.fetch_add(1, Ordering::SeqCst) + 1;
                    p.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    l.fetch_sub(1, Ordering::SeqCst);
                    let _ = sock
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                        )
                        .await;
                }
            });
        }
    });
    let pools = Arc::new(Pools::new(PoolConfig {
        max_connections: Some(2),
        connect_timeout: Duration::from_millis(450),
        ..PoolConfig::default()
    }));
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let pools = pools.clone();
        let authority = authority.clone();
        tasks.push(tokio::spawn(async move {
            let backend = pools.backend(&authority);
            let r = plain_get(&backend).await;
            match r {
                Ok(resp) => {
                    resp.into_body().collect().await.unwrap();
                    Ok(())
                }
                Err(e) => Err(e.kind()),
            }
        }));
    }
    let mut ok = 0;
    let mut limited = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(ErrorKind::ConnectionLimit) => limited += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    // Two at a time: the first two answer at 300 ms; the fifth cannot get a connection
    // before the next two answer (600 ms), past its 450 ms wait.
    assert_eq!(
        peak.load(Ordering::SeqCst),
        2,
        "never more than the cap open"
    );
    assert!(ok >= 2 && limited >= 1, "ok {ok}, limited {limited}");
    assert_eq!(ok + limited, 5);
}

#[tokio::test(flavor = "current_thread")]
async fn chunked_and_close_delimited_answers_and_a_streamed_request() {
    let (listener, authority) = listen().await;
    tokio::spawn(async move {
        // First connection: a chunked answer with a trailer, then the streamed request is
        // echoed as received (chunked on the wire), then a close-delimited answer.
        let (mut sock, _) = listener.accept().await.unwrap();
        read_request(&mut sock).await.unwrap();
        sock.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-sum\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nx-sum: 5\r\n\r\n").await.unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            sock.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        assert!(String::from_utf8_lossy(&head).contains("transfer-encoding: chunked"));
        let mut wire = Vec::new();
        while !wire.ends_with(b"0\r\n\r\n") {
            sock.read_exact(&mut byte).await.unwrap();
            wire.push(byte[0]);
        }
        let answer = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", wire.len());
        sock.write_all(answer.as_bytes()).await.unwrap();
        sock.write_all(&wire).await.unwrap();
        read_request(&mut sock).await.unwrap();
        sock.write_all(b"HTTP/1.1 200 OK\r\n\r\nuntil the end")
            .await
            .unwrap();
    });
    let pools = pools();
    let backend = pools.backend(&authority);

    let resp = plain_get(&backend).await.unwrap();
    let collected = resp.into_body().collect().await.unwrap();
    assert_eq!(collected.trailers().unwrap()["x-sum"], "5");
    assert_eq!(&collected.to_bytes()[..], b"abcde");

    let chunks = futures_chunks(&["hello ", "world"]);
    let resp = backend
        .send(
            &Method::POST,
            "/",
            &HeaderMap::new(),
            SendBody::Stream(chunks),
        )
        .await
        .unwrap();
    let wire = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&wire[..], b"6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n");

    let resp = plain_get(&backend).await.unwrap();
    assert_eq!(
        &resp.into_body().collect().await.unwrap().to_bytes()[..],
        b"until the end"
    );
    assert_eq!(
        backend.open_connections(),
        0,
        "a close-delimited answer is not pooled"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_body_cut_short_is_an_error() {
    let (listener, authority) = listen().await;
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        read_request(&mut sock).await.unwrap();
        sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort")
            .await
            .unwrap();
    });
    let pools = pools();
    let resp = plain_get(&pools.backend(&authority)).await.unwrap();
    let err = resp.into_body().collect().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Truncated);
}

#[tokio::test(flavor = "current_thread")]
async fn connecting_to_a_closed_port_fails_fast() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let pools = pools();
    let err = plain_get(&pools.backend(&port.to_string().parse().unwrap()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect);
}

type Frames = Vec<Result<http_body::Frame<Bytes>, Infallible>>;
type Chunks = StreamBody<
    futures_util::stream::Iter<std::vec::IntoIter<Result<http_body::Frame<Bytes>, Infallible>>>,
>;

fn futures_chunks(parts: &[&'static str]) -> Chunks {
    let frames: Frames = parts
        .iter()
        .map(|p| Ok(http_body::Frame::data(Bytes::from_static(p.as_bytes()))))
        .collect();
    StreamBody::new(futures_util::stream::iter(frames))
}

#[tokio::test(flavor = "current_thread")]
async fn a_request_is_written_after_the_tasks_that_were_ready_before_it() {
    let (listener, authority) = listen().await;
    let pools = pools();
    let backend = pools.backend(&authority);
    // A first exchange leaves a kept connection, so the next send has nothing to wait for.
    let first = tokio::spawn({
        let backend = backend.clone();
        async move {
            plain_get(&backend)
                .await
                .unwrap()
                .into_body()
                .collect()
                .await
        }
    });
    let (mut sock, _) = listener.accept().await.unwrap();
    read_request(&mut sock).await.unwrap();
    sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        .await
        .unwrap();
    assert_eq!(first.await.unwrap().unwrap().to_bytes(), "ok");

    // The sending task is polled first, then a task that looks at the backend's socket.
    let sock = sock.into_std().unwrap();
    let sending = tokio::spawn({
        let backend = backend.clone();
        async move { plain_get(&backend).await.map(|r| r.status()) }
    });
    let looked = tokio::spawn(async move {
        let mut buf = [0u8; 16];
        let before = sock.peek(&mut buf).map_err(|e| e.kind());
        (before, sock)
    });
    let (before, sock) = looked.await.unwrap();
    assert_eq!(before, Err(std::io::ErrorKind::WouldBlock));

    // The request comes afterwards, on the kept connection.
    let mut sock = TcpStream::from_std(sock).unwrap();
    let request = read_request(&mut sock).await.unwrap();
    assert!(request.starts_with(b"GET / HTTP/1.1\r\n"));
    sock.write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(sending.await.unwrap().unwrap(), 204);
    assert_eq!(backend.open_connections(), 1);
}
