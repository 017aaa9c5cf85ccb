//! Wasm component plugins through the real binary: the example authorizers (Rust and C), mappers
//! (0.3.0 ones reading the request through imports and answering edits) and integrations, the sandbox limits with deliberately bad plugins, and hot reload of a
//! plugin under load. The plugins come from `scripts/build-plugins.sh` (plugins/dist).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::{http1_client, json, Backend, Gateway};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn plugin(name: &str) -> PathBuf {
    gatehouse_e2e::plugin_path(name)
}

/// Copies a built plugin into the gateway's folder (so a test can replace it) atomically.
fn install(dir: &Path, name: &str, as_file: &str) {
    let tmp = dir.join(format!("{as_file}.tmp"));
    std::fs::copy(plugin(name), &tmp).unwrap();
    std::fs::rename(&tmp, dir.join(as_file)).unwrap();
}

fn config(backend: &Backend) -> String {
    format!(
        r#"
version: 1
listeners:
  - name: public
    address: 127.0.0.1:0
access_log:
  destination: access.log
  format: '{{"path":"$context.path","status":"$context.status","principal":"$context.authorizer.principalId","user":"$context.authorizer.user","lang":"$context.authorizer.language"}}'
plugins:
  tokens:
    path: {tokens}
    config: {{ tokens: "tok-alice=alice,tok-bob=bob", plans: "alice=gold" }}
  c-tokens:
    path: {c}
    config: {{ token: c-secret }}
  json-mapper:
    path: {mapper}
  edits:
    path: {edits}
  items:
    path: {items}
  spin:
    path: {spin}
    timeout: 100ms
  hog:
    path: {hog}
    memory_bytes: 8388608
  crash:
    path: {crash}
  nonsense:
    path: {nonsense}
apis:
  - name: plugins
    stages:
      prod: {{ variables: {{ backend: "{backend}", color: red }} }}
    authorizers:
      bearer:
        plugin: tokens
        identity_sources: [header.Authorization]
        ttl: 60s
      c-token:
        plugin: c-tokens
        identity_sources: [header.x-api-token]
        ttl: 0s
      spinner:
        plugin: spin
        identity_sources: [header.Authorization]
        ttl: 0s
    resources:
      /items/{{id}}:
        ANY:
          authorizer: bearer
          integration: {{ type: wasm, plugin: items }}
      /mapped/{{id}}:
        POST:
          authorizer: bearer
          request_mapper: json-mapper
          response_mapper: json-mapper
          integration: {{ type: http_proxy, uri: "http://${{stageVariables.backend}}/mapped/{{id}}" }}
      /edit/{{id}}:
        GET:
          authorizer: bearer
          request_mapper: edits
          response_mapper: edits
          integration: {{ type: http_proxy, uri: "http://${{stageVariables.backend}}/edit/{{id}}" }}
      /c/hello:
        GET:
          authorizer: c-token
          integration: {{ type: mock, body: "hello from behind a C authorizer" }}
      /bad/loop:
        GET:
          authorizer: spinner
          integration: {{ type: mock, body: "never" }}
      /bad/alloc:
        GET: {{ integration: {{ type: wasm, plugin: hog }} }}
      /bad/trap:
        GET: {{ integration: {{ type: wasm, plugin: crash }} }}
      /bad/return:
        GET: {{ integration: {{ type: wasm, plugin: nonsense }} }}
      /ok:
        GET: {{ integration: {{ type: mock, body: ok }} }}
"#,
        tokens = plugin("token-authorizer").display(),
        c = plugin("c-authorizer").display(),
        mapper = plugin("json-mapper").display(),
        edits = plugin("edit-mapper").display(),
        items = plugin("kv-items").display(),
        spin = plugin("bad-loop").display(),
        hog = plugin("bad-alloc").display(),
        crash = plugin("bad-trap").display(),
        nonsense = plugin("bad-return").display(),
        backend = backend.addr,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_authorizer_and_kv_integration() {
    let backend = Backend::start("b").await;
    let gw = Gateway::start(&config(&backend));
    let c = http1_client();
    let url = format!("{}/prod/items/1", gw.url("public"));

    // No identity source: 401 without calling the plugin.
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(json(r).await["message"], "Unauthorized");

    // Unknown token: the plugin denies, 403. The same token again is answered from the
    // decision cache: the plugin (which logs each denial) is not called a second time.
    for _ in 0..2 {
        let r = c
            .get(&url)
            .header("authorization", "Bearer nope")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        assert_eq!(
            json(r).await["message"],
            "User is not authorized to access this resource"
        );
    }
    // The log reaches the test through a pipe: wait for the first denial's line, then give a
    // second one (which the cache must have prevented) time to arrive.
    let line = gw.log.wait_for("unknown token", Duration::from_secs(10));
    assert!(
        gw.log
            .wait_for_nth("unknown token", 2, Duration::from_millis(500))
            .is_none(),
        "second denial came from the cache"
    );
    assert!(
        line.contains("plugin=\"tokens\"") || line.contains("plugin=tokens"),
        "{line}"
    );

    // Alice stores and reads an item; Bob has his own namespace.
    let alice = |req: reqwest::RequestBuilder| req.header("authorization", "Bearer tok-alice");
    let r = alice(c.put(&url))
        .body(r#"{"name":"rex"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        json(r).await,
        serde_json::json!({"id":"1","stored":true,"owner":"alice"})
    );
    let r = alice(c.get(&url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["name"], "rex");
    let r = c
        .get(&url)
        .header("authorization", "tok-bob")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = alice(c.delete(&url)).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let r = alice(c.get(&url)).send().await.unwrap();
    assert_eq!(r.status(), 404);
    // A plugin's error result is a 502 for that request.
    let r = alice(c.put(&url)).body("not json").send().await.unwrap();
    assert_eq!(r.status(), 502);

    // The authorizer's principal and context reach the access log.
    let lines = gw.access_log(9);
    let put = lines
        .iter()
        .find(|l| l["status"] == "201")
        .expect("PUT logged");
    assert_eq!(put["principal"], "alice");
    assert_eq!(put["user"], "alice");
    assert_eq!(lines[0]["principal"], "-");

    // The token authorizer compares whole words and the bytes after the last one: a token of
    // the right length that differs in either part, or a prefix of one, is denied.
    for near in ["tok-alicf", "tOk-alice", "tok-alic", "tok-bo", "tok-boc"] {
        let r = c
            .get(&url)
            .header("authorization", format!("Bearer {near}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{near}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_mapper_rewrites_both_ways_and_c_authorizer_decides() {
    let backend = Backend::start("b").await;
    let gw = Gateway::start(&config(&backend));
    let c = http1_client();
    let base = gw.url("public");

    let r = c
        .post(format!("{base}/prod/mapped/5"))
        .header("authorization", "Bearer tok-bob")
        .header("content-type", "text/plain")
        .body(r#"{"n":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-mapped"], "json-mapper");
    let doc = json(r).await;
    // The response mapper wrapped the backend's echo in {"data": ...}.
    let echo = &doc["data"];
    assert_eq!(echo["path"], "/mapped/5");
    assert_eq!(echo["headers"]["content-type"], "application/json");
    let sent: serde_json::Value = serde_json::from_str(echo["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        sent,
        serde_json::json!({"received":{"n":1},"path":"/prod/mapped/5","principal":"bob"})
    );
    // A mapper error (a body that is not a JSON object) is a 500.
    let r = c
        .post(format!("{base}/prod/mapped/5"))
        .header("authorization", "Bearer tok-bob")
        .body("[1,2]")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);

    // The C authorizer.
    let url = format!("{base}/prod/c/hello");
    let r = c
        .get(&url)
        .header("x-api-token", "c-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "hello from behind a C authorizer");
    let r = c
        .get(&url)
        .header("x-api-token", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    gw.log.wait_for("token mismatch", Duration::from_secs(2));
    let lines = gw.access_log(5);
    let ok = lines.iter().find(|l| l["path"] == "/prod/c/hello").unwrap();
    assert_eq!(ok["principal"], "c-user");
    assert_eq!(ok["lang"], "c");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_plugins_cost_one_request_never_the_gateway() {
    let backend = Backend::start("b").await;
    let gw = Gateway::start(&config(&backend));
    let c = http1_client();
    let base = gw.url("public");

    // While the bad plugins run, good requests keep being served.
    let stop = Arc::new(AtomicBool::new(false));
    let good = Arc::new(AtomicUsize::new(0));
    let bystander = tokio::spawn({
        let (c, url, stop, good) = (
            c.clone(),
            format!("{base}/prod/ok"),
            stop.clone(),
            good.clone(),
        );
        async move {
            let ceiling = Instant::now() + Duration::from_secs(30);
            while !stop.load(Ordering::Relaxed) && Instant::now() < ceiling {
                let r = c.get(&url).send().await.unwrap();
                assert_eq!(r.status(), 200);
                good.fetch_add(1, Ordering::Relaxed);
            }
        }
    });

    for _ in 0..2 {
        // An infinite loop is stopped at its 100 ms deadline: 500 from the authorizer.
        let started = Instant::now();
        let r = c
            .get(format!("{base}/prod/bad/loop"))
            .header("authorization", "x")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 500);
        assert_eq!(
            r.headers()["x-amzn-errortype"],
            "AuthorizerFailureException"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );

        // Allocation past the 8 MiB cap, a trap and a malformed response: 502 each.
        for what in ["alloc", "trap", "return"] {
            let r = c
                .get(format!("{base}/prod/bad/{what}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 502, "bad/{what}");
            assert_eq!(json(r).await["message"], "Internal server error");
        }
    }
    stop.store(true, Ordering::Relaxed);
    bystander.await.unwrap();
    assert!(good.load(Ordering::Relaxed) > 10);

    // Each failure is logged with the plugin's name and the reason.
    let log = gw.log.all().join("\n");
    for needle in ["spin", "hog", "crash", "nonsense", "deadline", "memory"] {
        assert!(log.contains(needle), "log lacks {needle:?}:\n{log}");
    }
    let r = c.get(format!("{base}/prod/ok")).send().await.unwrap();
    assert_eq!(r.status(), 200, "the gateway is still up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_hot_reload_under_load_drops_nothing() {
    let yaml = r#"
version: 1
listeners:
  - name: public
    address: 127.0.0.1:0
access_log: { destination: off }
plugins:
  greeter:
    path: greeter.wasm
    config: { greeting: "hello from v1" }
apis:
  - name: app
    stages: { prod: {} }
    resources:
      /greet/{id}:
        GET:
          integration: { type: wasm, plugin: greeter }
"#;
    let gw = Gateway::start_with(yaml, |dir| install(dir, "hello", "greeter.wasm"));
    let url = format!("{}/prod/greet/1", gw.url("public"));
    let c = http1_client();
    assert_eq!(
        json(c.get(&url).send().await.unwrap()).await["plugin"],
        "hello"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let (url, stop, failures) = (url.clone(), stop.clone(), failures.clone());
            tokio::spawn(async move {
                let c = http1_client();
                let mut seen = Vec::new();
                let ceiling = Instant::now() + Duration::from_secs(30);
                while !stop.load(Ordering::Relaxed) && Instant::now() < ceiling {
                    match c.get(&url).send().await {
                        // v1 greets; v2 (the item store) has no item 1 yet: 404 from the plugin.
                        Ok(r) if r.status() == 200 || r.status() == 404 => {
                            seen.push(r.status().as_u16())
                        }
                        other => {
                            eprintln!("failed during plugin reload: {other:?}");
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                seen
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A file that is not a component is refused; v1 keeps serving.
    std::fs::write(gw.dir.path().join("greeter.wasm.tmp"), b"\0asm garbage").unwrap();
    std::fs::rename(
        gw.dir.path().join("greeter.wasm.tmp"),
        gw.dir.path().join("greeter.wasm"),
    )
    .unwrap();
    let refused = gw
        .log
        .wait_for("config reload refused", Duration::from_secs(15));
    assert!(refused.contains("plugins.greeter.path"), "{refused}");
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Now a real new version: another integration in its place.
    install(gw.dir.path(), "kv-items", "greeter.wasm");
    gw.log.wait_for("config reloaded", Duration::from_secs(15));
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);

    let mut all = Vec::new();
    let mut last = Vec::new();
    for w in workers {
        let seen = w.await.unwrap();
        last.push(*seen.last().unwrap());
        all.extend(seen);
    }
    assert_eq!(failures.load(Ordering::Relaxed), 0);
    assert!(all.len() > 30, "the load loop barely ran: {}", all.len());
    assert!(all.contains(&200) && all.contains(&404));
    assert!(
        last.iter().all(|&s| s == 404),
        "new plugin serves at the end: {last:?}"
    );
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(json(r).await["message"], "not found");
}

/// The `kv` import is backed by the state store: with `state.data_dir`, a plugin's data
/// survives a restart, and one plugin's data is invisible to another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_kv_data_survives_a_restart() {
    let yaml = format!(
        r#"
version: 1
listeners:
  - name: public
    address: 127.0.0.1:0
state:
  data_dir: state
plugins:
  items:
    path: {items}
  other-items:
    path: {items}
apis:
  - name: kv
    stages:
      prod: {{}}
    resources:
      /items/{{id}}:
        ANY: {{ integration: {{ type: wasm, plugin: items }} }}
      /other/{{id}}:
        ANY: {{ integration: {{ type: wasm, plugin: other-items }} }}
"#,
        items = plugin("kv-items").display(),
    );
    let gw = Gateway::start(&yaml);
    let c = http1_client();
    let base = gw.url("public");
    let r = c
        .put(format!("{base}/prod/items/7"))
        .body(r#"{"kept":true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = c
        .put(format!("{base}/prod/items/8"))
        .body(r#"{"kept":false}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = c
        .delete(format!("{base}/prod/items/8"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    let gw = gw.restart();
    assert!(gw.dir.path().join("state/gatehouse.redb").exists());
    let base = gw.url("public");
    let r = c.get(format!("{base}/prod/items/7")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await, serde_json::json!({"kept": true}));
    let r = c.get(format!("{base}/prod/items/8")).send().await.unwrap();
    assert_eq!(r.status(), 404, "a deleted value stays deleted");
    // The same component under another name has its own namespace.
    let r = c.get(format!("{base}/prod/other/7")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

/// A 0.3.0 mapper reads the request (path parameters, stage variables, query, headers in any
/// case, the principal) through imports, and its edits are applied: a header set and one
/// removed, the query replaced, the status and the response's headers changed; what it does
/// not name passes as it came. A status that is not one is refused as a whole (500).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_0_3_0_mapper_reads_through_imports_and_its_edits_are_applied() {
    let backend = Backend::start("b").await;
    let gw = Gateway::start(&config(&backend));
    let c = http1_client();
    let base = gw.url("public");

    let r = c
        .get(format!("{base}/prod/edit/42?q=ab&other=1"))
        .header("authorization", "Bearer tok-alice")
        .header("x-in", "hello")
        .header("x-multi", "1")
        .header("x-multi", "2")
        .header("x-remove-me", "gone")
        .header("x-keep", "kept")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "map-response set the status");
    assert!(
        r.headers().get("x-backend").is_none(),
        "map-response removed it"
    );
    assert_eq!(r.headers()["x-request-q"], "ab");
    let echo = json(r).await;
    assert_eq!(echo["path"], "/edit/42");
    assert_eq!(echo["query"], "q=abab", "map-request replaced the query");
    let sent = &echo["headers"];
    assert!(sent.get("x-remove-me").is_none(), "{sent}");
    assert_eq!(sent["x-keep"], "kept", "a header not named passes");
    // The bearer authorizer, a 0.3.0 plugin whose decision is not cached yet, was lent the
    // request's own headers before the mapper ran: every one came back.
    assert_eq!(sent["authorization"], "Bearer tok-alice");
    assert_eq!(sent["x-in"], "hello");
    assert_eq!(sent["x-multi"], serde_json::json!(["1", "2"]), "{sent}");
    let read: serde_json::Value = serde_json::from_str(sent["x-read"].as_str().unwrap()).unwrap();
    assert_eq!(
        read,
        serde_json::json!({
            "method": "GET",
            "resource": "/edit/{id}",
            "id": "42",
            "color": "red",
            "q": "ab",
            "principal": "alice",
            "in": "hello",
            "multi": ["1", "2"],
            "stage": "prod",
        })
    );

    let r = c
        .get(format!("{base}/prod/edit/42?fail=status"))
        .header("authorization", "Bearer tok-alice")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    let line = gw.log.wait_for("status 1000", Duration::from_secs(5));
    assert!(line.contains("edits"), "{line}");
}
