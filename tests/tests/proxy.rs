//! Routing, stages, the `http_proxy` and `mock` integrations and gateway responses, through the
//! real binary over HTTP/1.1 and h2c.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::{h2c_client, http1_client, json, Backend, Gateway};
use std::time::{Duration, Instant};

fn config(backend: &Backend, slow: &str) -> String {
    let backend = backend.addr;
    format!(
        r#"
version: 1
listeners:
  - name: public
    address: 127.0.0.1:0
admin:
  address: 127.0.0.1:0
limits:
  max_body_bytes: 65536
access_log:
  destination: off
apis:
  - name: pets
    stages:
      prod:
        variables: {{ backend: "{backend}", tier: gold }}
      beta:
        variables: {{ backend: "{backend}", tier: tin }}
    resources:
      /hello:
        GET:
          integration:
            type: mock
            status: 201
            headers: {{ content-type: application/json, x-mock: "yes" }}
            body: '{{"message":"hello"}}'
      /pets:
        GET:
          integration: {{ type: http_proxy, uri: "http://${{stageVariables.backend}}/list/${{stageVariables.tier}}" }}
        POST:
          integration: {{ type: http_proxy, uri: "http://${{stageVariables.backend}}/create" }}
      /pets/{{id}}:
        ANY:
          integration: {{ type: http_proxy, uri: "http://${{stageVariables.backend}}/pets/{{id}}" }}
      /pets/mine:
        GET:
          integration: {{ type: mock, body: "literal wins" }}
      /files/{{proxy+}}:
        GET:
          integration: {{ type: http_proxy, uri: "http://${{stageVariables.backend}}/static/{{proxy}}" }}
      /stream:
        POST:
          integration: {{ type: http_proxy, uri: "http://${{stageVariables.backend}}/stream-echo" }}
      /big/{{n}}:
        GET:
          integration: {{ type: http_proxy, uri: "http://${{stageVariables.backend}}/bytes/{{n}}" }}
      /slow/{{ms}}:
        GET:
          integration: {{ type: http_proxy, uri: "http://${{stageVariables.backend}}/delay/{{ms}}", timeout: 300ms }}
      /down:
        GET:
          integration: {{ type: http_proxy, uri: "http://{slow}/nothing-listens-here" }}
      /{{proxy+}}:
        ANY:
          integration: {{ type: http_proxy, uri: "http://${{stageVariables.backend}}/catch/{{proxy}}" }}
  - name: other
    base_path: /v2
    stages:
      live: {{}}
    gateway_responses:
      MISSING_AUTHENTICATION_TOKEN:
        status: 404
        headers: {{ x-custom: "1" }}
        body: '{{"error":"no route","path":"$context.path","type":"$context.error.responseType"}}'
    resources:
      /ping:
        GET:
          integration: {{ type: mock, body: pong }}
"#
    )
}

/// An address nothing listens on: bind a port, then free it.
fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    addr.to_string()
}

async fn setup() -> (Backend, Gateway) {
    let backend = Backend::start("b1").await;
    let gw = Gateway::start(&config(&backend, &closed_port()));
    (backend, gw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_follows_api_gateway_semantics() {
    let (backend, gw) = setup().await;
    let c = http1_client();
    let base = gw.url("public");

    // Mock integration: status, headers and body from config; a request id on every response.
    let r = c.get(format!("{base}/prod/hello")).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-mock"], "yes");
    let id = r.headers()["x-amzn-requestid"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 36, "a UUID request id: {id}");
    assert_eq!(json(r).await["message"], "hello");

    // Path parameter substitution into the backend URI, query passed on.
    let r = c
        .get(format!("{base}/prod/pets/42?color=red&color=blue"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc = json(r).await;
    assert_eq!(doc["path"], "/pets/42");
    assert_eq!(doc["query"], "color=red&color=blue");
    assert_eq!(doc["method"], "GET");

    // A literal segment beats a parameter.
    let r = c
        .get(format!("{base}/prod/pets/mine"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "literal wins");

    // ANY covers every method.
    let r = c
        .delete(format!("{base}/prod/pets/7"))
        .send()
        .await
        .unwrap();
    assert_eq!(json(r).await["method"], "DELETE");

    // Stage variables differ per stage.
    let r = c.get(format!("{base}/prod/pets")).send().await.unwrap();
    assert_eq!(json(r).await["path"], "/list/gold");
    let r = c.get(format!("{base}/beta/pets")).send().await.unwrap();
    assert_eq!(json(r).await["path"], "/list/tin");

    // Greedy path: several segments, substituted whole.
    let r = c
        .get(format!("{base}/prod/files/css/site/main.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(json(r).await["path"], "/static/css/site/main.css");

    // A method the resource lacks falls through to the greedy catch-all, as in API Gateway.
    let r = c.put(format!("{base}/prod/pets")).send().await.unwrap();
    assert_eq!(json(r).await["path"], "/catch/pets");

    // Trailing slash ignored.
    let r = c.get(format!("{base}/prod/pets/")).send().await.unwrap();
    assert_eq!(json(r).await["path"], "/list/gold");

    // Unknown stage: API Gateway's 403 Missing Authentication Token.
    let r = c.get(format!("{base}/nostage/pets")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.headers()["x-amzn-errortype"],
        "MissingAuthenticationTokenException"
    );
    assert_eq!(
        json(r).await,
        serde_json::json!({"message": "Missing Authentication Token"})
    );

    // Base path API; unknown resource there uses the API's overridden gateway response.
    let r = c.get(format!("{base}/v2/live/ping")).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "pong");
    let r = c.get(format!("{base}/v2/live/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-custom"], "1");
    assert_eq!(
        json(r).await,
        serde_json::json!({"error":"no route","path":"/v2/live/nope","type":"MISSING_AUTHENTICATION_TOKEN"})
    );
    let r = c.post(format!("{base}/v2/live/ping")).send().await.unwrap();
    assert_eq!(
        r.status(),
        404,
        "a method the resource lacks is the same missing token"
    );

    assert_eq!(backend.hits(), 7, "only proxied requests reach the backend");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_headers_follow_rfc_9110() {
    let (_backend, gw) = setup().await;
    let c = http1_client();
    let r = c
        .post(format!("{}/prod/pets", gw.url("public")))
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "must not pass")
        .header("keep-alive", "timeout=5")
        .header("x-end-to-end", "passes")
        .header("x-forwarded-for", "203.0.113.9")
        .body("{\"name\":\"rex\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc = json(r).await;
    let h = &doc["headers"];
    assert_eq!(doc["path"], "/create");
    assert_eq!(doc["body"], "{\"name\":\"rex\"}");
    assert_eq!(h["x-end-to-end"], "passes");
    assert!(
        h.get("x-hop").is_none(),
        "header named in Connection dropped: {h}"
    );
    assert!(h.get("keep-alive").is_none(), "hop-by-hop dropped: {h}");
    assert_eq!(h["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    let fwd = h["forwarded"].as_str().unwrap();
    assert!(fwd.contains("for=127.0.0.1"), "{fwd}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_stream_both_ways_and_limits_apply() {
    let (_backend, gw) = setup().await;
    let c = http1_client();
    let base = gw.url("public");

    // A 5 MiB response streams through.
    let r = c
        .get(format!("{base}/prod/big/5242880"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.bytes().await.unwrap();
    assert_eq!(body.len(), 5 * 1024 * 1024);
    assert!(body.iter().all(|&b| b == b'x'));

    // A chunked request body below the limit is streamed to the backend and back.
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = (0..8)
        .map(|i| Ok(bytes::Bytes::from(vec![b'a' + i as u8; 4096])))
        .collect();
    let r = c
        .post(format!("{base}/prod/stream"))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.bytes().await.unwrap();
    assert_eq!(body.len(), 8 * 4096);
    assert_eq!(body[4096 * 7], b'h');

    // Declared length over the limit (64 KiB here): 413 before any backend call.
    let r = c
        .post(format!("{base}/prod/stream"))
        .body(vec![b'z'; 65537])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // Its body is left unread, so the connection closes and the client is told so.
    assert_eq!(r.headers()["connection"], "close");
    assert_eq!(json(r).await["message"], "Request Too Long");

    // Chunked body that grows past the limit: 413 as well.
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = (0..20)
        .map(|_| Ok(bytes::Bytes::from(vec![b'q'; 8192])))
        .collect();
    let r = c
        .post(format!("{base}/prod/pets"))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_backends_get_502_and_504_never_a_hang() {
    let (_backend, gw) = setup().await;
    let c = http1_client();
    let base = gw.url("public");

    let started = Instant::now();
    let r = c
        .get(format!("{base}/prod/slow/3000"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 504);
    assert_eq!(
        r.headers()["x-amzn-errortype"],
        "InternalServerErrorException"
    );
    assert_eq!(json(r).await["message"], "Endpoint request timed out");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "timed out at 300ms, not 3s"
    );

    // Within the timeout it works.
    let r = c.get(format!("{base}/prod/slow/10")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let r = c.get(format!("{base}/prod/down")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(json(r).await["message"], "Internal server error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_prior_knowledge_serves_the_same_routes() {
    let (_backend, gw) = setup().await;
    let c = h2c_client();
    let base = gw.url("public");
    let r = c.get(format!("{base}/prod/pets/9")).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["path"], "/pets/9");

    // Many concurrent streams on one connection.
    let mut tasks = Vec::new();
    for i in 0..50 {
        let c = c.clone();
        let url = format!("{base}/prod/pets/{i}");
        tasks.push(tokio::spawn(async move {
            let r = c.get(url).send().await.unwrap();
            assert_eq!(r.status(), 200);
            json(r).await["path"].as_str().unwrap().to_string()
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap(), format!("/pets/{i}"));
    }
    let r = c.get(format!("{base}/prod/hello")).send().await.unwrap();
    assert_eq!(r.status(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_per_route() {
    let (_backend, gw) = setup().await;
    let c = http1_client();
    let base = gw.url("public");
    for _ in 0..3 {
        c.get(format!("{base}/prod/pets/1")).send().await.unwrap();
    }
    c.get(format!("{base}/prod/down")).send().await.unwrap();
    c.get(format!("{base}/prod/hello")).send().await.unwrap();
    c.get(format!("{base}/nostage")).send().await.unwrap();

    let text = c
        .get(format!("{}/metrics", gw.admin_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // A method declared as ANY is reported as ANY, as API Gateway's per-method metrics do.
    let pets = r#"api="pets",stage="prod",resource="/pets/{id}",method="ANY""#;
    assert!(
        text.contains(&format!("gatehouse_Count{{{pets}}} 3\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("gatehouse_Latency_count{{{pets}}} 3\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("gatehouse_IntegrationLatency_count{{{pets}}} 3\n")),
        "{text}"
    );
    let down = r#"api="pets",stage="prod",resource="/down",method="GET""#;
    assert!(
        text.contains(&format!("gatehouse_5XXError{{{down}}} 1\n")),
        "{text}"
    );
    let none = r#"api="-",stage="-",resource="-",method="-""#;
    assert!(
        text.contains(&format!("gatehouse_4XXError{{{none}}} 1\n")),
        "{text}"
    );

    let r = c
        .get(format!("{}/health", gw.admin_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
