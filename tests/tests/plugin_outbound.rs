//! Plugins' outbound HTTP goes through the gateway's upstream pools, as integrations' requests
//! do: with one worker, an HTTP proxy integration and a `wasi:http` plugin (`wasi-http-hello`,
//! `.../fetch/HOST:PORT/PATH`) calling the same backend take turns on one kept-alive TCP
//! connection, and the backend's connection cap (`upstream.max_connections_per_backend`)
//! holds for plugin calls too. The backend counts the TCP connections it accepts.
//!
//! A plugin's `https` request goes through the backends' TLS client, which trusts the system's
//! certificate authorities (read by `rustls-native-certs`, so `SSL_CERT_FILE` names them): the
//! gateway is started with a test CA as that file, and reaches a backend whose certificate the CA
//! signed, while one signed by another CA is refused inside the plugin.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::backend::Backend;
use gatehouse_e2e::tls::TestCa;
use gatehouse_e2e::{http1_client, plugin_path, Gateway, BASE};
use std::time::Duration;

/// One worker; plugin `hello` granted the backend, under `/plugin/{proxy+}`; an HTTP proxy
/// integration to the backend under `/direct/{proxy+}`; `upstream` settings as given.
fn gateway(backend: &Backend, upstream: &str) -> Gateway {
    Gateway::start_workers(
        &config(&format!("http://{}", backend.addr), &[], upstream),
        1,
    )
}

/// The config of [`gateway`]: `origin` for the integration, granted to the plugin with `more`.
fn config(origin: &str, more: &[&str], upstream: &str) -> String {
    let hello = plugin_path("wasi-http-hello");
    let granted = std::iter::once(origin)
        .chain(more.iter().copied())
        .map(|o| format!("\"{o}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"{BASE}{upstream}plugins:
  hello:
    path: {}
    http_outbound:
      allow: [{granted}]
apis:
  - name: app
    stages: {{ prod: {{}} }}
    resources:
      /plugin/{{proxy+}}: {{ ANY: {{ integration: {{ type: wasm, plugin: hello }} }} }}
      /direct/{{proxy+}}:
        ANY: {{ integration: {{ type: http_proxy, uri: "{origin}/{{proxy}}" }} }}
"#,
        hello.display()
    )
}

/// The status, and the path the backend saw (its JSON answer's `path`) or else the body.
async fn get(url: String) -> (u16, String) {
    let r = http1_client().get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    match serde_json::from_str::<serde_json::Value>(&body) {
        Ok(seen) => (status, seen["path"].as_str().unwrap_or_default().to_owned()),
        Err(_) => (status, body),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_calls_reuse_the_connections_integrations_pool() {
    let backend = Backend::start("pooled").await;
    let gw = gateway(&backend, "");
    let base = format!("{}/prod", gw.url("public"));
    let addr = backend.addr;

    assert_eq!(
        get(format!("{base}/direct/first")).await,
        (200, "/first".into())
    );
    for i in 0..5 {
        let (status, body) = get(format!("{base}/plugin/fetch/{addr}/call/{i}")).await;
        assert_eq!(
            (status, body.as_str()),
            (200, format!("/call/{i}").as_str())
        );
    }
    assert_eq!(
        get(format!("{base}/direct/last")).await,
        (200, "/last".into())
    );

    assert_eq!(backend.hits(), 7);
    assert_eq!(
        backend.connections(),
        1,
        "the integration's and the plugin's requests should share one pooled connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backends_connection_cap_holds_for_plugin_calls() {
    let backend = Backend::start("pooled").await;
    let upstream = "upstream:\n  max_connections_per_backend: 1\n  connect_timeout: 300ms\n";
    let gw = gateway(&backend, upstream);
    let base = format!("{}/prod", gw.url("public"));
    let addr = backend.addr;

    // An integration's slow request holds the one connection the cap allows.
    let slow = tokio::spawn(get(format!("{base}/direct/delay/2000/slow")));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while backend.hits() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slow request never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Meanwhile a plugin's request to the same backend finds no connection within the connect
    // timeout, and fails inside the plugin without reaching the backend.
    let (status, body) = get(format!("{base}/plugin/fetch/{addr}/capped")).await;
    assert_eq!(
        (status, body.as_str()),
        (502, "ErrorCode::ConnectionLimitReached")
    );
    assert_eq!(slow.await.unwrap(), (200, "/delay/2000/slow".into()));
    assert_eq!(backend.hits(), 1);

    // Once it is free, the plugin's request takes that same connection.
    let (status, body) = get(format!("{base}/plugin/fetch/{addr}/after")).await;
    assert_eq!((status, body.as_str()), (200, "/after"));
    assert_eq!((backend.hits(), backend.connections()), (2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_https_calls_reach_only_backends_the_gateway_trusts() {
    let ca = TestCa::with_server_cert("gatehouse e2e CA");
    let trusted = Backend::start_tls("trusted", &ca.cert_pem, &ca.key_pem).await;
    let other = TestCa::with_server_cert("a CA the gateway does not know");
    let untrusted = Backend::start_tls("untrusted", &other.cert_pem, &other.key_pem).await;
    let roots = tempfile::tempdir().unwrap();
    let ca_file = roots.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).unwrap();
    let (t, u) = (trusted.addr.port(), untrusted.addr.port());
    let localhost = format!("https://localhost:{t}");
    let yaml = config(
        &format!("https://127.0.0.1:{t}"),
        &[&localhost, &format!("https://127.0.0.1:{u}")],
        "",
    );
    let gw = Gateway::start_env(&yaml, &[("SSL_CERT_FILE", ca_file.to_str().unwrap())]);
    let base = format!("{}/prod", gw.url("public"));

    // Through the plugin, by address and by name, and through the integration alike.
    assert_eq!(
        get(format!("{base}/plugin/fetch-https/127.0.0.1:{t}/secure/ip")).await,
        (200, "/secure/ip".into())
    );
    assert_eq!(
        get(format!(
            "{base}/plugin/fetch-https/localhost:{t}/secure/name"
        ))
        .await,
        (200, "/secure/name".into())
    );
    assert_eq!(
        get(format!("{base}/direct/secure/direct")).await,
        (200, "/secure/direct".into())
    );
    assert_eq!(trusted.hits(), 3);

    // The untrusted backend is granted and listening, but its certificate does not verify: every
    // attempt fails inside the plugin, which answers 502 with the error code it got: the
    // certificate's, not a refused connection.
    for i in 0..3 {
        let (status, body) =
            get(format!("{base}/plugin/fetch-https/127.0.0.1:{u}/never/{i}")).await;
        assert_eq!(status, 502, "attempt {i}: {body}");
        assert_eq!(body, "ErrorCode::TlsCertificateError", "attempt {i}");
    }
    assert!(
        untrusted.connections() >= 1,
        "the gateway should have connected to the untrusted backend"
    );
    assert_eq!(
        untrusted.hits(),
        0,
        "no request may pass an unverified TLS handshake"
    );
}
