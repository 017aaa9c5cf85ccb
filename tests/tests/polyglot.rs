//! Plugins written in JavaScript and Python through the real binary: the JavaScript authorizer
//! (`plugins/js-authorizer`, QuickJS inside the component) allows the configured token only,
//! and the Python integration (`plugins/py-integration`, CPython inside the component, of the
//! 0.3.0 `request-handler` world: it reads the request through imports) answers with what it
//! received and how many calls its instance has served, which grows from call to call since
//! warm instances are reused. Both come from `scripts/build-plugins.sh`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::{http1_client, json, plugin_path, Gateway};
use serde_json::json;
use std::time::{Duration, Instant};

/// The JavaScript authorizer guards `/js/hello` (a mock, in two stages) and `/both/{name}` (the
/// Python integration); `/py/{name}` reaches the Python integration with no authorizer. The access
/// log records the principal and the authorizer's `language` context. The JavaScript
/// authorizer runs under the default 50 ms deadline, which making its instance is not part of;
/// the Python integration needs more memory than the default 16 MiB.
fn config() -> String {
    format!(
        r#"
version: 1
listeners:
  - name: public
    address: 127.0.0.1:0
access_log:
  destination: access.log
  format: '{{"path":"$context.path","status":"$context.status","principal":"$context.authorizer.principalId","lang":"$context.authorizer.language"}}'
plugins:
  js-token:
    path: {js}
    config: {{ token: js-secret }}
  py-echo:
    path: {py}
    memory_bytes: 67108864
    config: {{ greeting: "hello from a Python plugin" }}
apis:
  - name: polyglot
    stages: {{ prod: {{}}, beta: {{}} }}
    authorizers:
      js:
        plugin: js-token
        identity_sources: [header.x-api-token]
        ttl: 0s
    resources:
      /js/hello:
        GET:
          authorizer: js
          integration: {{ type: mock, body: "hello from behind a JavaScript authorizer" }}
      /py/{{name}}:
        ANY: {{ integration: {{ type: wasm, plugin: py-echo }} }}
      /both/{{name}}:
        GET:
          authorizer: js
          integration: {{ type: wasm, plugin: py-echo }}
"#,
        js = plugin_path("js-authorizer").display(),
        py = plugin_path("py-integration").display(),
    )
}

/// One gateway for both plugins, since compiling the Python component takes seconds: one
/// worker, so the Python integration's calls, made one after another, share its warm instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_authorizer_and_python_integration() {
    let started = Instant::now();
    let gw = Gateway::start_workers(&config(), 1);
    eprintln!("gateway ready in {:?}", started.elapsed());
    let c = http1_client();
    let base = format!("{}/prod", gw.url("public"));

    // The JavaScript authorizer: the configured token is allowed ...
    let r = c
        .get(format!("{base}/js/hello"))
        .header("x-api-token", "js-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await.unwrap(),
        "hello from behind a JavaScript authorizer"
    );
    // ... in every stage: the plugin keeps the decision it made for one stage (allowing that
    // stage's methods only), and makes another for the next stage it is called for ...
    for stage in ["beta", "prod", "beta"] {
        let r = c
            .get(format!("{}/{stage}/js/hello", gw.url("public")))
            .header("x-api-token", "js-secret")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{stage}");
    }
    // ... another is denied (403), and the plugin logs why ...
    let r = c
        .get(format!("{base}/js/hello"))
        .header("x-api-token", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        json(r).await["message"],
        "User is not authorized to access this resource"
    );
    let line = gw.log.wait_for("token mismatch", Duration::from_secs(5));
    assert!(line.contains("js-token"), "{line}");
    // ... and without the header the gateway answers 401 without calling the plugin.
    let r = c.get(format!("{base}/js/hello")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(json(r).await["message"], "Unauthorized");

    // The Python integration answers with what it received; its instance counts its calls.
    let r = c.get(format!("{base}/py/alice")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(
        json(r).await,
        json!({
            "plugin": "py-integration",
            "greeting": "hello from a Python plugin",
            "method": "GET",
            "path": "/prod/py/alice",
            "resource": "/py/{name}",
            "pathParameters": {"name": "alice"},
            "principal": null,
            "authorizer": {},
            "calls": 1,
        })
    );
    let r = c.get(format!("{base}/py/bob")).send().await.unwrap();
    let doc = json(r).await;
    assert_eq!(doc["pathParameters"]["name"], "bob");
    assert_eq!(doc["calls"], 2, "the second call reuses the warm instance");

    // Both languages on one request: the JavaScript authorizer's principal and context reach
    // the Python integration.
    let r = c
        .get(format!("{base}/both/carol"))
        .header("x-api-token", "js-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc = json(r).await;
    assert_eq!(doc["principal"], "js-user");
    assert_eq!(doc["authorizer"], json!({"language": "js"}));
    assert_eq!(doc["path"], "/prod/both/carol");
    assert_eq!(doc["calls"], 3);

    // It reads a header and the whole body only when it needs them (a PUT) ...
    let body = "x".repeat(100_000);
    let r = c
        .put(format!("{base}/py/erin"))
        .header("content-type", "text/plain")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc = json(r).await;
    assert_eq!(doc["contentType"], "text/plain");
    assert_eq!(doc["body"], body.as_str());
    assert_eq!(doc["method"], "PUT");
    assert_eq!(doc["calls"], 4);

    // ... and its error result (it serves only GET, HEAD and PUT) is a 502.
    let r = c.post(format!("{base}/py/dave")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(json(r).await["message"], "Internal server error");

    let lines = gw.access_log(4);
    let allowed = lines
        .iter()
        .find(|l| l["path"] == "/prod/js/hello" && l["status"] == "200")
        .expect("allowed request logged");
    assert_eq!(allowed["principal"], "js-user");
    assert_eq!(allowed["lang"], "js");
}
