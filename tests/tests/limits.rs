//! Limits the gateway sets for itself and its connections. A file of its own: one test lowers
//! this test process's open-file limit, which its gateway child inherits.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::{Gateway, BASE};
use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
use std::time::Duration;

/// The soft and hard "Max open files" of a running process, from `/proc`.
fn open_file_limits(pid: i32) -> (String, String) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let mut fields = line["Max open files".len()..].split_whitespace();
    (
        fields.next().unwrap().to_owned(),
        fields.next().unwrap().to_owned(),
    )
}

#[test]
fn the_open_file_limit_is_raised_to_the_hard_limit_at_start() {
    let hard = getrlimit(Resource::Nofile).maximum;
    let low = 256;
    assert!(
        hard.is_none_or(|h| h > low),
        "the hard limit {hard:?} leaves nothing to raise"
    );
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(low),
            maximum: hard,
        },
    )
    .unwrap();
    let gw = Gateway::start(&format!(
        "{BASE}apis:\n- name: a\n  stages: {{ prod: {{}} }}\n  resources:\n    /x:\n      GET: {{ integration: {{ type: mock }} }}\n"
    ));
    let line = gw
        .log
        .wait_for("raised the open-file limit", Duration::from_secs(10));
    assert!(line.contains(&format!("from={low}")), "{line}");
    let (soft, max) = open_file_limits(gw.pid());
    assert_eq!(soft, max, "the gateway runs at its hard limit");
    assert_ne!(soft, low.to_string());
}

/// Connects to `addr`, writes `first` (maybe nothing) and says how long the gateway took to
/// close the connection, with no byte sent back.
fn closed_after(addr: &str, first: &[u8]) -> Duration {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(first).unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "no bytes, just the close; got {:?}", &buf[..n]);
    started.elapsed()
}

#[test]
fn a_listener_closes_connections_that_send_nothing_or_half_a_preface() {
    let gw = Gateway::start(&format!(
        "{BASE}limits: {{ header_read_timeout: 1s }}\napis:\n- name: a\n  stages: {{ prod: {{}} }}\n  resources:\n    /x:\n      GET: {{ integration: {{ type: mock }} }}\n"
    ));
    let addr = gw.addr("public").to_string();
    for first in [
        &b""[..],
        b"PRI * HTTP/2.0\r\n",
        b"GET /prod/x HTTP/1.1\r\nHo",
    ] {
        let waited = closed_after(&addr, first);
        assert!(
            waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
            "{:?}: closed after {waited:?}, expected the 1 s header timeout",
            String::from_utf8_lossy(first)
        );
    }
}

#[test]
fn the_admin_listener_closes_a_connection_that_sends_no_request() {
    use std::io::Read;
    let gw = Gateway::start(&format!(
        "{BASE}admin: {{ address: '127.0.0.1:0' }}\nlimits: {{ header_read_timeout: 1s }}\napis:\n- name: a\n  stages: {{ prod: {{}} }}\n  resources:\n    /x:\n      GET: {{ integration: {{ type: mock }} }}\n"
    ));
    let addr = gw.admin_url().trim_start_matches("http://").to_owned();
    let waited = closed_after(&addr, b"");
    assert!(
        waited < Duration::from_secs(5),
        "closed after {waited:?}, expected about the 1 s header timeout"
    );
    // A request on a fresh connection is still served.
    let mut ok = std::net::TcpStream::connect(&addr).unwrap();
    ok.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    std::io::Write::write_all(
        &mut ok,
        b"GET /health HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut answer = String::new();
    ok.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
