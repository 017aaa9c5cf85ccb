//! HTTP/3 over QUIC through the real binary: advertised with Alt-Svc on TCP, served by the same
//! pipeline (proxy with a streamed request body, a Wasm authorizer, the stage cache, the access
//! log), a third-party client (ngtcp2's `gtlsclient`), and graceful shutdown mid-request.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::h3::H3Client;
use gatehouse_e2e::tls::TestCert;
use gatehouse_e2e::{repo_root, Backend, Gateway};
use std::time::Duration;

fn config(backend: &Backend) -> String {
    let authorizer = repo_root().join("plugins/dist/token-authorizer.wasm");
    assert!(
        authorizer.exists(),
        "{} is missing: run scripts/build-plugins.sh",
        authorizer.display()
    );
    format!(
        r#"
version: 1
listeners:
  - name: edge
    address: 127.0.0.1:0
    protocols: [http1, http2, http3]
    tls: {{ cert: cert.pem, key: key.pem }}
access_log:
  destination: access.log
  format: '{{"protocol":"$context.protocol","path":"$context.path","status":"$context.status"}}'
plugins:
  tokens:
    path: {authorizer}
    config: {{ tokens: "tok-alice=alice" }}
apis:
  - name: app
    stages:
      prod: {{}}
      cached:
        cache: {{ ttl: 60s }}
    authorizers:
      bearer: {{ plugin: tokens, identity_sources: [header.Authorization], ttl: 0s }}
    resources:
      /{{proxy+}}:
        ANY:
          integration: {{ type: http_proxy, uri: "http://{backend}/{{proxy}}" }}
      /private/{{proxy+}}:
        GET:
          authorizer: bearer
          integration: {{ type: http_proxy, uri: "http://{backend}/{{proxy}}" }}
"#,
        authorizer = authorizer.display(),
        backend = backend.addr,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http3_serves_the_same_pipeline() {
    let backend = Backend::start("h3-backend").await;
    let cert = TestCert::localhost();
    let gw = Gateway::start_with(&config(&backend), |dir| cert.write_to(dir));
    let port = gw.addr("edge").port();
    assert_eq!(
        gw.h3_addr("edge").port(),
        port,
        "HTTP/3 on the TCP port's number"
    );

    // TCP responses advertise HTTP/3.
    let r = cert
        .client()
        .get(format!("https://localhost:{port}/prod/items/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["alt-svc"].to_str().unwrap(),
        format!("h3=\":{port}\"; ma=86400")
    );

    let mut c = H3Client::connect(gw.h3_addr("edge"), &cert.cert_pem)
        .await
        .unwrap();
    let r = c.get("/prod/items/7?color=red").await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.version, http::Version::HTTP_3);
    let doc = r.json();
    assert_eq!(doc["path"], "/items/7");
    assert_eq!(doc["query"], "color=red");
    assert_eq!(doc["headers"]["x-forwarded-proto"], "https");
    assert!(
        !r.headers.contains_key("alt-svc"),
        "no need to advertise HTTP/3 over HTTP/3"
    );

    // A 1 MiB POST body streams through to the backend and back intact.
    let body: Vec<u8> = (0..(1 << 20)).map(|i| (i % 251) as u8).collect();
    let r = c
        .request(
            "POST",
            "/prod/stream-echo",
            &[("content-type", "application/octet-stream")],
            &body,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert!(
        r.body == body,
        "echoed body differs ({} bytes)",
        r.body.len()
    );

    // An authorizer-protected route: 401 without identity, 200 with a good token.
    let r = c.get("/prod/private/x").await.unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["message"], "Unauthorized");
    let r = c
        .request(
            "GET",
            "/prod/private/x",
            &[("authorization", "Bearer tok-alice")],
            &[],
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);

    // The stage cache: the second GET is a hit, the backend sees one call.
    let before = backend.hits();
    let first = c.get("/cached/items/9").await.unwrap();
    let second = c.get("/cached/items/9").await.unwrap();
    assert_eq!(first.headers["x-cache"], "MISS");
    assert_eq!(second.headers["x-cache"], "HIT");
    assert_eq!(second.body, first.body);
    assert_eq!(backend.hits() - before, 1);

    // Unknown routes get API Gateway's answer over HTTP/3 too.
    let r = c.get("/nostage/x").await.unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["message"], "Missing Authentication Token");
    c.close().await;

    let lines = gw.access_log(9);
    assert!(
        lines
            .iter()
            .any(|l| l["protocol"] == "HTTP/3.0" && l["path"] == "/prod/items/7"),
        "{lines:?}"
    );
}

/// A third-party HTTP/3 client: ngtcp2's example client (Debian `ngtcp2-client`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http3_answers_a_third_party_client() {
    let Some(client) = ["/usr/bin/gtlsclient", "/usr/local/bin/gtlsclient"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        panic!("gtlsclient is missing: scripts/setup.sh installs Debian's ngtcp2-client");
    };
    let backend = Backend::start("h3-backend").await;
    let cert = TestCert::localhost();
    let gw = Gateway::start_with(&config(&backend), |dir| cert.write_to(dir));
    let addr = gw.h3_addr("edge");
    let download = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(client);
    cmd.args([
        "--exit-on-all-streams-close",
        "--no-quic-dump",
        "--timeout=5s",
    ])
    .arg(format!("--download={}", download.path().display()))
    .arg("127.0.0.1")
    .arg(addr.port().to_string())
    .arg(format!(
        "https://localhost:{}/prod/third-party",
        addr.port()
    ));
    // --timeout bounds the client's idle time; the test's own timeout bounds the rest.
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::task::spawn_blocking(move || cmd.output()),
    )
    .await
    .expect("gtlsclient finished")
    .unwrap()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let body = std::fs::read_to_string(download.path().join("third-party")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["path"], "/third-party");
    assert_eq!(doc["method"], "GET");
}

/// SIGTERM while an HTTP/3 request is in flight: it completes, then the process exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http3_request_in_flight_survives_sigterm() {
    let backend = Backend::start("h3-backend").await;
    let cert = TestCert::localhost();
    let mut gw = Gateway::start_with(&config(&backend), |dir| cert.write_to(dir));
    let mut c = H3Client::connect(gw.h3_addr("edge"), &cert.cert_pem)
        .await
        .unwrap();
    let slow = tokio::spawn(async move {
        let r = c.get("/prod/delay/800/x").await;
        (c, r)
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    gw.signal(libc::SIGTERM);
    let (c, r) = slow.await.unwrap();
    let r = r.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["path"], "/delay/800/x");
    assert!(gw.wait_exit(Duration::from_secs(15)).success());
    c.close().await;
}
