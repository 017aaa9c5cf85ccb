//! TLS listeners: ALPN picks HTTP/2 or HTTP/1.1, both reach the same pipeline.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::tls::TestCert;
use gatehouse_e2e::{json, Backend, Gateway};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_listener_negotiates_h2_and_http11() {
    let backend = Backend::start("tls-backend").await;
    let cert = TestCert::localhost();
    let yaml = format!(
        r#"
version: 1
listeners:
  - name: secure
    address: 127.0.0.1:0
    tls: {{ cert: cert.pem, key: key.pem }}
access_log: {{ destination: off }}
apis:
  - name: app
    stages: {{ prod: {{}} }}
    resources:
      /items/{{id}}:
        GET:
          integration: {{ type: http_proxy, uri: "http://{}/items/{{id}}" }}
"#,
        backend.addr
    );
    let gw = Gateway::start_with(&yaml, |dir| cert.write_to(dir));
    let port = gw.addr("secure").port();
    let url = format!("https://localhost:{port}/prod/items/5");

    let h2 = cert.client();
    let r = h2.get(&url).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2, "ALPN chose h2");
    assert_eq!(r.status(), 200);
    let doc = json(r).await;
    assert_eq!(doc["path"], "/items/5");
    assert_eq!(doc["headers"]["x-forwarded-proto"], "https");

    let h1 = reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let r = h1.get(&url).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_11);
    assert_eq!(r.status(), 200);

    // A client that does not trust the certificate fails the handshake; nothing is served.
    let untrusting = reqwest::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .build()
        .unwrap();
    assert!(untrusting.get(&url).send().await.is_err());
}
