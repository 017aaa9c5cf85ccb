//! Robustness against careless and hostile clients and backends, through the real binary with
//! raw sockets: the request head as the RFCs allow it, client faults answered as the client's,
//! bounds in time on connections, bodies and tunnels, caps on connections, exactly the
//! configured protocols, and API Gateway's shape on the HTTP library's own answers.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::ws::{WsClient, WsEcho};
use gatehouse_e2e::{Gateway, BASE};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Two APIs bound to hosts, a plain mock, and proxies to `backend`.
fn config(backend: &str, extra: &str) -> String {
    format!(
        r#"{BASE}{extra}
apis:
- name: good
  host: good.example
  stages: {{ prod: {{}} }}
  resources:
    /x:
      GET: {{ integration: {{ type: mock, body: "good" }} }}
- name: open
  stages: {{ prod: {{}} }}
  resources:
    /x:
      GET: {{ integration: {{ type: mock, body: "open" }} }}
    /p:
      POST: {{ integration: {{ type: http_proxy, uri: "http://{backend}/p", timeout: 2s }} }}
      GET: {{ integration: {{ type: http_proxy, uri: "http://{backend}/p", timeout: 1s }} }}
"#
    )
}

/// Writes `request` and reads until the gateway closes or `wait` passes.
fn exchange(addr: &str, request: &[u8], wait: Duration) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn status(resp: &str) -> &str {
    resp.get(9..12).unwrap_or("")
}

/// The gateway's own error shape: `x-amzn-ErrorType` and a JSON message.
fn assert_gateway_shape(resp: &str) {
    let lower = resp.to_ascii_lowercase();
    assert!(lower.contains("x-amzn-errortype: "), "{resp}");
    assert!(resp.contains("{\"message\":"), "{resp}");
}

/// A backend that answers anything after reading the head (and declared body).
async fn backend_ok() -> (String, tokio::task::JoinHandle<()>) {
    backend(
        |_| b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec(),
        false,
    )
    .await
}

/// A raw backend: reads a request head, answers `answer(head)`, then stalls when `stall`.
async fn backend(
    answer: fn(&str) -> Vec<u8>,
    stall: bool,
) -> (String, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                // The whole request body first: the answer must not race the request.
                let text = String::from_utf8_lossy(&head).into_owned();
                let end = text.find("\r\n\r\n").unwrap_or(0) + 4;
                let lower = text[..end].to_ascii_lowercase();
                let length = lower
                    .split("content-length:")
                    .nth(1)
                    .and_then(|v| v.split("\r\n").next())
                    .and_then(|v| v.trim().parse::<usize>().ok());
                let chunked = lower.contains("transfer-encoding: chunked");
                let mut body = head[end..].to_vec();
                loop {
                    let done = match length {
                        Some(n) => body.len() >= n,
                        None => !chunked || body.ends_with(b"0\r\n\r\n"),
                    };
                    if done {
                        break;
                    }
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => body.extend_from_slice(&buf[..n]),
                    }
                }
                let head = text[..end].to_owned();
                if s.write_all(&answer(&head)).await.is_err() {
                    return;
                }
                if stall {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                } else {
                    let _ = s.read(&mut buf).await;
                }
            });
        }
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_rules_follow_rfc_9112() {
    let (b, _task) = backend_ok().await;
    let gw = Gateway::start(&config(&b, ""));
    let addr = gw.addr("public").to_string();
    let wait = Duration::from_secs(5);
    // RFC 9112 §3.2: no Host, or two, on HTTP/1.1 is 400.
    for req in [
        &b"GET /prod/x HTTP/1.1\r\nconnection: close\r\n\r\n"[..],
        b"GET /prod/x HTTP/1.1\r\nHost: good.example\r\nHost: other.example\r\nconnection: close\r\n\r\n",
        b"GET /prod/x HTTP/1.1\r\nHost: u@good.example\r\nconnection: close\r\n\r\n",
    ] {
        let resp = exchange(&addr, req, wait);
        assert_eq!(status(&resp), "400", "{resp}");
        assert_gateway_shape(&resp);
    }
    // RFC 9112 §3.2.2: an absolute-form target's authority wins over Host, both ways.
    let resp = exchange(
        &addr,
        b"GET http://good.example/prod/x HTTP/1.1\r\nHost: evil.example\r\nconnection: close\r\n\r\n",
        wait,
    );
    assert!(
        resp.starts_with("HTTP/1.1 200") && resp.ends_with("good"),
        "{resp}"
    );
    let resp = exchange(
        &addr,
        b"GET http://evil.example/prod/x HTTP/1.1\r\nHost: good.example\r\nconnection: close\r\n\r\n",
        wait,
    );
    assert!(
        resp.ends_with("open"),
        "host confusion reached the bound API: {resp}"
    );
    // HTTP/1.0 may leave Host out.
    let resp = exchange(&addr, b"GET /prod/x HTTP/1.0\r\n\r\n", wait);
    assert!(resp.ends_with("open"), "{resp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_body_faults_are_the_clients() {
    let (b, _task) = backend_ok().await;
    let gw = Gateway::start(&config(&b, "limits: { client_body_timeout: 1s }"));
    let addr = gw.addr("public").to_string();
    let wait = Duration::from_secs(8);
    // A bad chunk size is a client error, not the integration's (RFC 9112 §7.1).
    let resp = exchange(
        &addr,
        b"POST /prod/p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nxx\r\n0\r\n\r\n",
        wait,
    );
    assert_eq!(status(&resp), "400", "{resp}");
    assert_gateway_shape(&resp);
    // A transfer coding the gateway cannot pass on is 501 (RFC 9112 §6.1).
    let resp = exchange(
        &addr,
        b"POST /prod/p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        wait,
    );
    assert_eq!(status(&resp), "501", "{resp}");
    assert_gateway_shape(&resp);
    // A client that stops sending its body gets 408 after client_body_timeout.
    let started = Instant::now();
    let resp = exchange(
        &addr,
        b"POST /prod/p HTTP/1.1\r\nHost: a\r\ncontent-length: 10\r\n\r\nab",
        wait,
    );
    assert_eq!(status(&resp), "408", "{resp}");
    assert_gateway_shape(&resp);
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    // A client that drips its body slower than the integration timeout (2 s) is still the
    // client's fault: 408, not 504.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    s.write_all(b"POST /prod/p HTTP/1.1\r\nHost: a\r\ncontent-length: 20\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(8);
    while Instant::now() < deadline {
        if s.write_all(b"x").is_err() {
            break;
        }
        let mut buf = [0u8; 1024];
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if out.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let resp = String::from_utf8_lossy(&out);
    assert_eq!(status(&resp), "408", "{resp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_stalls_mid_body_is_cut_off_and_counted() {
    let (b, _task) = backend(
        |_| b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten..".to_vec(),
        true,
    )
    .await;
    let extra = "admin: { address: 127.0.0.1:0 }";
    let log = r#"access_log: { destination: access.log, format: '{"status":"$context.status","length":"$context.responseLength","error":"$context.integration.error"}' }"#;
    let gw = Gateway::start(&config(&b, extra).replace("access_log: { destination: off }", log));
    let addr = gw.addr("public").to_string();
    let started = Instant::now();
    let resp = exchange(
        &addr,
        b"GET /prod/p HTTP/1.1\r\nHost: a\r\n\r\n",
        Duration::from_secs(10),
    );
    // The head and the first bytes arrived; then, past the 1 s integration timeout, the
    // connection was closed short of the declared length.
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.ends_with("only ten.."), "{resp}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "held for {took:?}");
    let metrics = reqwest::get(format!("{}/metrics", gw.admin_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("gatehouse_IntegrationError{") && l.contains("resource=\"/p\""))
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(line.ends_with(" 1"), "{line}");
    gw.log.wait_for(
        "backend answer body failed after its head was sent",
        Duration::from_secs(5),
    );
    // The access log line waited for the body: the status sent, the bytes that went out, and
    // why the backend failed.
    let lines = gw.access_log(1);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["status"], "200");
    assert_eq!(lines[0]["length"], "10");
    let error = lines[0]["error"].as_str().unwrap();
    assert!(error.contains("no body bytes for 1s"), "{error}");
}

/// A streamed backend body that ends well is logged with the bytes sent and no integration
/// error; an integration that fails before any head is logged with its reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_tells_a_streamed_body_and_an_integration_failure() {
    let (b, _task) = backend(
        |_| {
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".to_vec()
        },
        false,
    )
    .await;
    let log = r#"access_log: { destination: access.log, format: '{"path":"$context.path","status":"$context.status","length":"$context.responseLength","error":"$context.integrationErrorMessage"}' }"#;
    let yaml = config(&b, "").replace("access_log: { destination: off }", log);
    let yaml = format!(
        "{yaml}    /down:\n      GET: {{ integration: {{ type: http_proxy, uri: \"http://127.0.0.1:9/\" }} }}\n"
    );
    let gw = Gateway::start(&yaml);
    let addr = gw.addr("public").to_string();
    let resp = exchange(
        &addr,
        b"GET /prod/p HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let resp = exchange(
        &addr,
        b"GET /prod/down HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    assert_eq!(status(&resp), "502", "{resp}");
    let lines = gw.access_log(2);
    let line = |path: &str| {
        lines
            .iter()
            .find(|l| l["path"] == path)
            .unwrap_or_else(|| panic!("no line for {path}: {lines:?}"))
    };
    let streamed = line("/prod/p");
    assert_eq!(streamed["status"], "200");
    assert_eq!(streamed["length"], "5");
    assert_eq!(streamed["error"], "-");
    let failed = line("/prod/down");
    assert_eq!(failed["status"], "502");
    assert_ne!(failed["error"], "-", "{failed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_on_http1_and_h2c() {
    let (b, _task) = backend_ok().await;
    let gw = Gateway::start(&config(&b, "limits: { idle_timeout: 1s }"));
    let addr = gw.addr("public").to_string();
    // HTTP/1.1 keep-alive: one request, then nothing.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /prod/x HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let started = Instant::now();
    assert_eq!(
        s.read(&mut buf).unwrap_or(0),
        0,
        "closed, with nothing more"
    );
    let took = started.elapsed();
    assert!(
        took > Duration::from_millis(800) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // h2c: preface and SETTINGS, then nothing. The gateway sends GOAWAY and closes.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .unwrap();
    let started = Instant::now();
    let mut frames = Vec::new();
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        frames.extend_from_slice(&buf[..n]);
        if frame_types(&frames).contains(&7) {
            break;
        }
    }
    assert!(frame_types(&frames).contains(&7), "GOAWAY: {frames:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn an_idle_http1_connection_outlives_the_header_read_timeout() {
    let gw = Gateway::start(&config(
        "127.0.0.1:9",
        "limits: { header_read_timeout: 1s, idle_timeout: 30s }",
    ));
    let addr = gw.addr("public").to_string();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /prod/x HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let first = read_one_response(&mut s);
    assert_eq!(status(&first), "200", "{first}");
    // Quiet for longer than the header-read timeout, well within the idle timeout.
    std::thread::sleep(Duration::from_millis(2500));
    s.write_all(b"GET /prod/x HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let second = read_one_response(&mut s);
    assert_eq!(status(&second), "200", "{second}");
    assert!(second.ends_with("open"), "{second}");
    // Again, with the next head arriving in two parts.
    std::thread::sleep(Duration::from_millis(2500));
    s.write_all(b"GET /prod/x HTTP/1.1\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    s.write_all(b"Host: a\r\n\r\n").unwrap();
    let third = read_one_response(&mut s);
    assert_eq!(status(&third), "200", "{third}");
}

/// Reads one response with a `content-length` body from a keep-alive connection.
fn read_one_response(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&out));
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out).into_owned();
        let Some(end) = text.find("\r\n\r\n") else {
            continue;
        };
        let length: usize = text[..end]
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap();
        if out.len() >= end + 4 + length {
            return text;
        }
    }
}

/// The frame types in a run of HTTP/2 frames.
fn frame_types(mut bytes: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    while bytes.len() >= 9 {
        let len = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]) as usize;
        types.push(bytes[3]);
        bytes = &bytes[(9 + len).min(bytes.len())..];
    }
    types
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_per_ip_cap_are_refused() {
    let (b, _task) = backend_ok().await;
    let gw = Gateway::start(&config(&b, "limits: { max_connections_per_ip: 2 }"));
    let addr = gw.addr("public").to_string();
    let held: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut third = TcpStream::connect(&addr).unwrap();
    third
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = third.write_all(b"GET /prod/x HTTP/1.1\r\nHost: a\r\n\r\n");
    let mut buf = [0u8; 64];
    assert_eq!(
        third.read(&mut buf).unwrap_or(0),
        0,
        "the third is closed unanswered"
    );
    gw.log.wait_for(
        "refused client connections at a connection cap",
        Duration::from_secs(5),
    );
    // A held one still works, and once one is gone a new one is admitted.
    let mut first = held.into_iter().next().unwrap();
    first
        .write_all(b"GET /prod/x HTTP/1.1\r\nHost: a\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    first.read_to_string(&mut out).unwrap();
    assert!(out.ends_with("open"), "{out}");
    std::thread::sleep(Duration::from_millis(200));
    let resp = exchange(
        &addr,
        b"GET /prod/x HTTP/1.1\r\nHost: a\r\nconnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(resp.ends_with("open"), "{resp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_serves_exactly_its_protocols() {
    let yaml = |protocols: &str| {
        format!(
            "version: 1\nlisteners:\n  - name: public\n    address: 127.0.0.1:0\n    protocols: [{protocols}]\naccess_log: {{ destination: off }}\napis:\n- name: a\n  stages: {{ prod: {{}} }}\n  resources:\n    /x:\n      GET: {{ integration: {{ type: mock }} }}\n"
        )
    };
    let h1 = Gateway::start(&yaml("http1"));
    let resp = exchange(
        &h1.addr("public").to_string(),
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0",
        Duration::from_secs(5),
    );
    assert!(
        frame_types(resp.as_bytes()).iter().all(|t| *t != 4) || resp.starts_with("HTTP/1.1"),
        "an HTTP/1.1-only listener spoke HTTP/2: {resp:?}"
    );
    let resp = exchange(
        &h1.addr("public").to_string(),
        b"GET /prod/x HTTP/1.1\r\nHost: a\r\nconnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");

    let h2 = Gateway::start(&yaml("http2"));
    let mut s = TcpStream::connect(h2.addr("public")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /prod/x HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    // RFC 9113 §3.4: an invalid preface is a connection error of type PROTOCOL_ERROR.
    let goaway = out
        .windows(4)
        .position(|w| w == [0, 0, 8, 7])
        .map(|i| &out[i..]);
    let goaway = goaway.unwrap_or_else(|| panic!("no GOAWAY in {out:?}"));
    assert_eq!(&goaway[13..17], &[0, 0, 0, 1], "PROTOCOL_ERROR");
    let client = gatehouse_e2e::h2c_client();
    let resp = client
        .get(format!("{}/prod/x", h2.url("public")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_librarys_own_answers_have_the_gateways_shape() {
    let (b, _task) = backend_ok().await;
    let gw = Gateway::start(&config(
        &b,
        "limits: { max_header_bytes: 8192, max_header_count: 20 }",
    ));
    let addr = gw.addr("public").to_string();
    let wait = Duration::from_secs(5);
    let resp = exchange(
        &addr,
        b"GET /prod/x HTTP/1.1\r\nHost: a\r\nbad header\r\n\r\n",
        wait,
    );
    assert_eq!(status(&resp), "400", "{resp}");
    assert_gateway_shape(&resp);
    // A request line longer than the head limit is 414 (RFC 9112 §3).
    let long = format!(
        "GET /prod/{} HTTP/1.1\r\nHost: a\r\n\r\n",
        "a".repeat(10_000)
    );
    let resp = exchange(&addr, long.as_bytes(), wait);
    assert_eq!(status(&resp), "414", "{resp}");
    assert_gateway_shape(&resp);
    // Header fields over the limit, or too many of them, are 431 (RFC 6585 §5).
    let big = format!(
        "GET /prod/x HTTP/1.1\r\nHost: a\r\nx-big: {}\r\n\r\n",
        "b".repeat(10_000)
    );
    let resp = exchange(&addr, big.as_bytes(), wait);
    assert_eq!(status(&resp), "431", "{resp}");
    assert_gateway_shape(&resp);
    let many: String = (0..30).map(|i| format!("x-h{i}: v\r\n")).collect();
    let req = format!("GET /prod/x HTTP/1.1\r\nHost: a\r\n{many}\r\n");
    let resp = exchange(&addr, req.as_bytes(), wait);
    assert_eq!(status(&resp), "431", "{resp}");
    assert_gateway_shape(&resp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_does_not_wait_for_an_h2_client_that_ignores_ping() {
    let (b, _task) = backend_ok().await;
    let mut gw = Gateway::start(&config(&b, "shutdown: { drain_timeout: 20s }"));
    let mut s = TcpStream::connect(gw.addr("public")).unwrap();
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    gw.signal(libc::SIGTERM);
    let status = gw.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "{status:?}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(6), "exit took {took:?}");
    drop(s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_upgrade_tunnel_is_closed() {
    let echo = WsEcho::start().await;
    let gw = Gateway::start(&format!(
        "{BASE}limits: {{ tunnel_idle_timeout: 1s }}\napis:\n- name: a\n  stages: {{ prod: {{}} }}\n  resources:\n    /ws:\n      GET: {{ integration: {{ type: http_proxy, uri: \"http://{}/\" }} }}\n",
        echo.addr
    ));
    let url = format!("ws://{}/prod/ws", gw.addr("public"));
    let mut ws = WsClient::connect(&url).await;
    ws.send_text("hi").await;
    assert_eq!(ws.recv_text(Duration::from_secs(5)).await, "hi");
    let started = Instant::now();
    ws.ended(Duration::from_secs(10)).await;
    let took = started.elapsed();
    assert!(
        took > Duration::from_millis(800) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

/// What a client does wrong at the protocol level is not the operator's problem: unsolicited
/// HTTP/2 PING acks (which the HTTP/2 library reports at `warn`) leave no line in the log, and
/// the connection goes on working.
#[test]
fn a_clients_unsolicited_ping_acks_leave_the_log_alone() {
    let gw = Gateway::start(&config("127.0.0.1:9", ""));
    let mut s = TcpStream::connect(gw.addr("public")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0".to_vec();
    let ping = |flags: u8, payload: &[u8; 8]| {
        let mut f = vec![0, 0, 8, 6, flags, 0, 0, 0, 0];
        f.extend_from_slice(payload);
        f
    };
    for _ in 0..50 {
        out.extend(ping(1, b"unasked!"));
    }
    // A real PING last: its ack means every frame before it was read.
    out.extend(ping(0, b"gatehous"));
    s.write_all(&out).unwrap();
    let ack = ping(1, b"gatehous");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(ack.len()).any(|w| w == ack.as_slice()) {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the PING ack: {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(!frame_types(&got).contains(&7), "no GOAWAY: {got:?}");
    // The log is written by a thread of its own: a line would show within this wait.
    let line = gw.log.wait_for_nth("PING", 1, Duration::from_secs(2));
    assert_eq!(line, None, "{}", gw.log.all().join("\n"));
}
