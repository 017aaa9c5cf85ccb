//! Execution logs through the real binary: a stage at level `info` with `data_trace` writes
//! each step of a proxied request with its request id and masked credentials; a stage at
//! level `error` writes nothing for a 200 and the steps of a 502; a stage without an
//! execution log writes nothing.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::{http1_client, Backend, Gateway, BASE};
use std::time::{Duration, Instant};

fn config(backend: &Backend) -> String {
    format!(
        r#"{BASE}execution_log: {{ destination: exec.log }}
apis:
  - name: shop
    stages:
      logged: {{ execution_log: {{ level: info, data_trace: true }} }}
      errors: {{ execution_log: {{ level: error }} }}
      plain: {{}}
    resources:
      /items/{{code}}:
        ANY:
          integration: {{ type: http_proxy, uri: "http://{b}/status/{{code}}" }}
      /down:
        GET:
          integration: {{ type: http_proxy, uri: "http://127.0.0.1:1/nothing" }}
"#,
        b = backend.addr
    )
}

/// The lines of `exec.log` once one contains `needle` (waiting up to 10 s: the log is
/// written off the request path).
fn lines_once(gw: &Gateway, needle: &str) -> Vec<String> {
    let path = gw.dir.path().join("exec.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.contains(needle) {
            return text.lines().map(str::to_owned).collect();
        }
        assert!(
            Instant::now() < deadline,
            "no execution log line containing {needle:?}; the log:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn request_id(resp: &reqwest::Response) -> String {
    resp.headers()["x-amzn-requestid"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_write_the_steps_their_level_asks_for() {
    let backend = Backend::start("shop").await;
    let gw = Gateway::start(&config(&backend));
    let http = http1_client();
    let base = gw.url("public");

    // No execution log on `plain`, even for a 502; none for a 200 on `errors`.
    let plain = http.get(format!("{base}/plain/down")).send().await.unwrap();
    assert_eq!(plain.status(), 502);
    let plain_id = request_id(&plain).await;
    let ok = http
        .get(format!("{base}/errors/items/200"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let ok_id = request_id(&ok).await;

    // Every step of a proxied request on `logged`, with data: credentials masked.
    let logged = http
        .post(format!("{base}/logged/items/201?x=1"))
        .header("authorization", "Bearer top-secret-token")
        .header("x-api-key", "key-secret-value")
        .header("cookie", "session=cookie-secret")
        .body(r#"{"n":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(logged.status(), 201);
    let logged_id = request_id(&logged).await;

    // A 502 on `errors`: written, and last, so every line before it is in the file too.
    let down = http
        .get(format!("{base}/errors/down"))
        .send()
        .await
        .unwrap();
    assert_eq!(down.status(), 502);
    let down_id = request_id(&down).await;
    let lines = lines_once(
        &gw,
        &format!("({down_id}) Method completed with status: 502"),
    );

    let of = |id: &str| -> Vec<&str> {
        let prefix = format!("({id}) ");
        lines
            .iter()
            .filter_map(|l| l.strip_prefix(&prefix))
            .collect()
    };
    assert!(of(&plain_id).is_empty(), "{lines:#?}");
    assert!(of(&ok_id).is_empty(), "{lines:#?}");
    // Each line is one request's: `(request-id) message`.
    for l in &lines {
        assert!(
            [&logged_id, &down_id]
                .iter()
                .any(|id| l.starts_with(&format!("({id}) "))),
            "{l}"
        );
    }

    let steps = of(&logged_id);
    let has = |want: &str| {
        assert!(
            steps.iter().any(|l| l.starts_with(want)),
            "no line starting {want:?} in:\n{}",
            steps.join("\n")
        )
    };
    has(&format!("Extended Request Id: {logged_id}"));
    has("API Key authorized because method 'POST /items/{code}' does not require API Key");
    has(&format!("Starting execution for request: {logged_id}"));
    has("HTTP Method: POST, Resource Path: /items/{code}");
    has("Method request path: {code=201}");
    has("Method request query string: {x=1}");
    has("Method request headers: {");
    has(r#"Method request body before transformations: {"n":1}"#);
    has(&format!(
        "Endpoint request URI: http://{}/status/201?x=1",
        backend.addr
    ));
    has("Received response. Status: 201, Integration latency: ");
    has("Endpoint response headers: {");
    has("Endpoint response body before transformations: ");
    has("Method response body after transformations: ");
    has("Successfully completed execution");
    has("Method completed with status: 201");
    assert_eq!(steps.last(), Some(&"Method completed with status: 201"));
    let headers = steps
        .iter()
        .find(|l| l.starts_with("Method request headers:"))
        .unwrap();
    for masked in ["authorization=****", "x-api-key=****", "cookie=****"] {
        assert!(headers.contains(masked), "{headers}");
    }
    let all = lines.join("\n");
    for secret in ["top-secret-token", "key-secret-value", "cookie-secret"] {
        assert!(!all.contains(secret), "{secret} was logged:\n{all}");
    }

    // The 502 on `errors`: its steps, the failure and the status.
    let failed = of(&down_id);
    assert!(
        failed.contains(&"Endpoint request URI: http://127.0.0.1:1/nothing"),
        "{failed:#?}"
    );
    assert!(
        failed
            .iter()
            .any(|l| l.starts_with("Execution failed due to configuration error: ")),
        "{failed:#?}"
    );
    assert_eq!(failed.last(), Some(&"Method completed with status: 502"));
    // Level error without data_trace: no headers or bodies.
    assert!(
        !failed
            .iter()
            .any(|l| l.contains("headers:") || l.contains("body")),
        "{failed:#?}"
    );
}
