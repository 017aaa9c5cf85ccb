//! CORS through the real binary: preflights answered by the gateway without reaching the
//! backend or an authorizer, allowed and refused origins, headers on responses (errors too),
//! and a resource's own OPTIONS method taking precedence.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::{http1_client, Backend, Gateway, BASE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflights_and_response_headers_follow_the_cors_settings() {
    let backend = Backend::start("cors").await;
    let yaml = format!(
        r#"
{BASE}
apis:
  - name: web
    stages: {{ prod: {{}} }}
    cors:
      allow_origins: ["https://app.example.com"]
      allow_methods: [GET, POST]
      allow_headers: [content-type, authorization]
      expose_headers: [x-request-id]
      max_age: 600
      allow_credentials: true
    resources:
      /pets:
        GET:
          api_key_required: true
          integration: {{ type: http_proxy, uri: "http://{b}/pets" }}
      /open:
        GET:
          integration: {{ type: http_proxy, uri: "http://{b}/open" }}
      /own:
        OPTIONS:
          integration: {{ type: mock, status: 200, body: own }}
"#,
        b = backend.addr
    );
    let gw = Gateway::start(&yaml);
    let http = http1_client();
    let base = gw.url("public");
    let origin = "https://app.example.com";

    let r = http
        .request(reqwest::Method::OPTIONS, format!("{base}/prod/pets"))
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "answered before the API key check");
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], origin);
    assert_eq!(h["access-control-allow-methods"], "GET, POST");
    assert_eq!(
        h["access-control-allow-headers"],
        "content-type, authorization"
    );
    assert_eq!(h["access-control-max-age"], "600");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(backend.hits(), 0);

    let r = http
        .request(reqwest::Method::OPTIONS, format!("{base}/prod/pets"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(r.headers().get("access-control-allow-origin").is_none());

    let r = http
        .get(format!("{base}/prod/open"))
        .header("origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], origin);
    assert_eq!(h["access-control-expose-headers"], "x-request-id");
    assert_eq!(h["vary"], "Origin");
    assert_eq!(backend.hits(), 1);

    // Error answers carry the headers too, so the browser lets the page read them.
    let r = http
        .get(format!("{base}/prod/pets"))
        .header("origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["access-control-allow-origin"], origin);
    // No Origin, no CORS headers.
    let r = http.get(format!("{base}/prod/open")).send().await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());

    // A resource's own OPTIONS method answers its preflights.
    let r = http
        .request(reqwest::Method::OPTIONS, format!("{base}/prod/own"))
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "own");
    // A plain OPTIONS (not a preflight) to a resource without the method is not a route.
    let r = http
        .request(reqwest::Method::OPTIONS, format!("{base}/prod/open"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}
