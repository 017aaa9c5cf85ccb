//! Plugin instances through the real binary: a plugin computing until its deadline shares a
//! single worker with other requests; `instances: reuse` keeps a plugin's globals between
//! calls and retires an instance after a trap, a deadline, a memory-cap hit, `max_calls` or
//! `max_idle`; `instances: fresh` starts every call anew, in engines without guard pages where
//! the same failures stay contained; a reload starts with new instances; making an instance
//! has a deadline of its own, apart from the call's; a reload's new plugin settings reach the
//! plugin.
//! The `counter` test plugin answers `{"calls": N}`, N counted in a global of its instance.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::{http1_client, json, plugin_path, Gateway, BASE};
use std::time::{Duration, Instant};

/// The plugins `counter` (reuse), `other` (reuse, the same component), `fresh`, `short`
/// (`max_calls: 2`), `idle` (`max_idle: 200ms`), `metered` (a fuel budget) and
/// `fresh-metered` (fresh, with a fuel budget), each an integration under `/NAME/{op}`, and a
/// mock under `/plain`.
fn config(loop_timeout: &str) -> String {
    let counter = plugin_path("counter");
    let counter = counter.display();
    format!(
        r#"{BASE}admin:
  address: 127.0.0.1:0
plugins:
  counter:
    path: {counter}
    timeout: {loop_timeout}
    memory_bytes: 16777216
  other:
    path: {counter}
    instances: reuse
  fresh:
    path: {counter}
    instances: fresh
    timeout: {loop_timeout}
    memory_bytes: 16777216
  fresh-metered:
    path: {counter}
    instances: fresh
    timeout: 5s
    fuel: 5000000
  short:
    path: {counter}
    max_calls: 2
  idle:
    path: {counter}
    max_idle: 200ms
  metered:
    path: {counter}
    timeout: 5s
    fuel: 5000000
apis:
  - name: app
    stages: {{ prod: {{}} }}
    resources:
      /counter/{{op}}: {{ GET: {{ integration: {{ type: wasm, plugin: counter }} }} }}
      /other/{{op}}: {{ GET: {{ integration: {{ type: wasm, plugin: other }} }} }}
      /fresh/{{op}}: {{ GET: {{ integration: {{ type: wasm, plugin: fresh }} }} }}
      /fresh-metered/{{op}}: {{ GET: {{ integration: {{ type: wasm, plugin: fresh-metered }} }} }}
      /short/{{op}}: {{ GET: {{ integration: {{ type: wasm, plugin: short }} }} }}
      /idle/{{op}}: {{ GET: {{ integration: {{ type: wasm, plugin: idle }} }} }}
      /metered/{{op}}: {{ GET: {{ integration: {{ type: wasm, plugin: metered }} }} }}
      /plain:
        GET: {{ integration: {{ type: mock, body: plain }} }}
"#
    )
}

/// `GET /prod/{path}`: the status and, for a 200, the instance's call count.
async fn call(c: &reqwest::Client, gw: &Gateway, path: &str) -> (u16, Option<u64>) {
    let r = c
        .get(format!("{}/prod/{path}", gw.url("public")))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let calls = if status == 200 {
        json(r).await["calls"].as_u64()
    } else {
        None
    };
    (status, calls)
}

async fn counts(c: &reqwest::Client, gw: &Gateway, path: &str, n: usize) -> Vec<u64> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let (status, calls) = call(c, gw, path).await;
        assert_eq!(status, 200, "GET {path}");
        out.push(calls.unwrap());
    }
    out
}

/// With one worker thread, requests whose plugin computes until its deadline do not stop the
/// worker: requests to a mock route sent meanwhile all succeed, and so do the looping ones
/// (each with its deadline's 504).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looping_plugin_shares_a_single_worker() {
    let gw = Gateway::start_workers(&config("3s"), 1);
    let looping: Vec<_> = (0..3)
        .map(|_| {
            let url = format!("{}/prod/counter/loop", gw.url("public"));
            tokio::spawn(async move { http1_client().get(&url).send().await.map(|r| r.status()) })
        })
        .collect();
    // Let the looping requests reach the plugin first (no assertion depends on it).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let c = http1_client();
    let mut plain = 0;
    for _ in 0..20 {
        let r = c
            .get(format!("{}/prod/plain", gw.url("public")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "plain");
        plain += 1;
    }
    let still_looping = looping.iter().filter(|t| !t.is_finished()).count();
    eprintln!("{plain} plain requests done while {still_looping} of 3 looping ones ran");
    for t in looping {
        assert_eq!(t.await.unwrap().unwrap(), 504);
    }
    // The worker and the plugin both still serve.
    assert_eq!(call(&c, &gw, "counter/x").await.0, 200);
}

/// A trap, a deadline, a memory-cap hit and running out of fuel each retire the instance they
/// happened on: the next call gets a new instance (its count starts at 1), and another
/// plugin's instance of the same component keeps its count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_call_retires_that_instance_only() {
    let gw = Gateway::start(&config("200ms"));
    let c = http1_client();
    assert_eq!(counts(&c, &gw, "counter/x", 3).await, [1, 2, 3]);
    assert_eq!(counts(&c, &gw, "other/x", 2).await, [1, 2]);

    assert_eq!(call(&c, &gw, "counter/trap").await.0, 502);
    assert_eq!(counts(&c, &gw, "counter/x", 2).await, [1, 2]);

    assert_eq!(call(&c, &gw, "counter/loop").await.0, 504);
    assert_eq!(counts(&c, &gw, "counter/x", 2).await, [1, 2]);

    assert_eq!(call(&c, &gw, "counter/grow").await.0, 502);
    assert_eq!(counts(&c, &gw, "counter/x", 1).await, [1]);

    // A plugin with a fuel budget runs in the fuel-metering engine; out of fuel is a 502.
    assert_eq!(counts(&c, &gw, "metered/x", 2).await, [1, 2]);
    assert_eq!(call(&c, &gw, "metered/loop").await.0, 502);
    assert_eq!(counts(&c, &gw, "metered/x", 1).await, [1]);

    // Untouched by the failures next door.
    assert_eq!(counts(&c, &gw, "other/x", 1).await, [3]);

    // Each plugin's calls and failures, as the admin console shows them.
    let doc = json(
        c.get(format!("{}/console/api/plugins", gw.admin_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let calls = |name: &str| {
        let p = doc["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no plugin {name} in {doc}"));
        (
            p["calls"].as_u64().unwrap(),
            p["failures"].as_u64().unwrap(),
        )
    };
    assert_eq!(calls("counter"), (11, 3), "trap, deadline, memory cap");
    assert_eq!(calls("other"), (3, 0));
    assert_eq!(calls("metered"), (4, 1), "out of fuel");
}

/// Fresh instances run in engines whose memories have no guard pages, their code checking
/// bounds itself: a read past the end of memory, a trap, a deadline, the memory cap and
/// running out of fuel each fail that call alone, as they do in a reused instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_instance_fails_alone_and_stays_in_its_memory() {
    let gw = Gateway::start(&config("200ms"));
    let c = http1_client();
    assert_eq!(call(&c, &gw, "counter/oob").await.0, 502);
    assert_eq!(counts(&c, &gw, "counter/x", 1).await, [1]);
    for (op, status) in [("oob", 502), ("trap", 502), ("loop", 504), ("grow", 502)] {
        assert_eq!(
            call(&c, &gw, &format!("fresh/{op}")).await.0,
            status,
            "{op}"
        );
        assert_eq!(counts(&c, &gw, "fresh/x", 2).await, [1, 1], "after {op}");
    }
    assert_eq!(counts(&c, &gw, "fresh-metered/x", 2).await, [1, 1]);
    assert_eq!(call(&c, &gw, "fresh-metered/loop").await.0, 502);
    assert_eq!(call(&c, &gw, "fresh-metered/oob").await.0, 502);
    assert_eq!(counts(&c, &gw, "fresh-metered/x", 1).await, [1]);
    for name in ["fresh", "fresh-metered"] {
        gw.log.wait_for(
            &format!("plugin `{name}` trapped: wasm trap: out of bounds memory access"),
            Duration::from_secs(5),
        );
    }
}

/// `reuse` keeps globals between calls up to `max_calls` and `max_idle`; `fresh` never does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reuse_keeps_globals_and_fresh_does_not() {
    let gw = Gateway::start(&config("200ms"));
    let c = http1_client();
    assert_eq!(counts(&c, &gw, "counter/x", 4).await, [1, 2, 3, 4]);
    assert_eq!(counts(&c, &gw, "fresh/x", 3).await, [1, 1, 1]);
    assert_eq!(counts(&c, &gw, "short/x", 5).await, [1, 2, 1, 2, 1]);

    assert_eq!(counts(&c, &gw, "idle/x", 2).await, [1, 2]);
    // Longer than `max_idle`: the instance is gone, the next call starts a new one.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(counts(&c, &gw, "idle/x", 1).await, [1]);
}

/// A reload builds new plugins with their own instances; the old ones are not reused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_starts_new_instances() {
    let gw = Gateway::start(&config("200ms"));
    let c = http1_client();
    assert_eq!(counts(&c, &gw, "counter/x", 2).await, [1, 2]);
    gw.rewrite_config(&config("300ms"));
    gw.log.wait_for("config reloaded", Duration::from_secs(15));
    assert_eq!(counts(&c, &gw, "counter/x", 2).await, [1, 2]);
}

/// `token-authorizer` behind `/prod/who`, its token table `tokens` (`TOKEN=USER` pairs), the
/// decision cache off.
fn token_config(tokens: &str) -> String {
    let authz = plugin_path("token-authorizer");
    let authz = authz.display();
    format!(
        r#"{BASE}plugins:
  tokens:
    path: {authz}
    config: {{ tokens: "{tokens}" }}
apis:
  - name: app
    stages: {{ prod: {{}} }}
    authorizers:
      bearer: {{ plugin: tokens, identity_sources: [header.Authorization], ttl: 0s }}
    resources:
      /who:
        GET:
          authorizer: bearer
          integration: {{ type: mock, body: ok }}
"#
    )
}

/// The Rust SDK keeps an instance's settings in the instance once read; a reload's new
/// settings reach the plugin all the same, since a reload makes new instances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_gives_a_plugin_its_new_settings() {
    let gw = Gateway::start(&token_config("tok-a=alice"));
    let c = http1_client();
    let who = |token: &'static str| {
        let req = c
            .get(format!("{}/prod/who", gw.url("public")))
            .bearer_auth(token);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    for _ in 0..3 {
        assert_eq!(who("tok-a").await, 200);
        assert_eq!(who("tok-b").await, 403);
    }
    gw.rewrite_config(&token_config("tok-b=bob"));
    gw.log.wait_for("config reloaded", Duration::from_secs(15));
    for _ in 0..3 {
        assert_eq!(who("tok-b").await, 200);
        assert_eq!(who("tok-a").await, 403);
    }
}

/// Making an instance is not part of a call's deadline: `c-slow-start` spins for its
/// `start_ms` setting while it is instantiated, and its calls take no time. Behind a 50 ms
/// authorizer deadline, a 150 ms start still answers, the first call of a reused instance and
/// every call of fresh ones; a start past the instantiation deadline (the longer of the
/// plugin's `timeout` and 1 s) fails that request with the authorizer's 500 and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn making_an_instance_has_a_deadline_of_its_own() {
    let slow = plugin_path("c-slow-start");
    let slow = slow.display();
    let gw = Gateway::start(&format!(
        r#"{BASE}plugins:
  slow:
    path: {slow}
    timeout: 50ms
    config: {{ start_ms: "150" }}
  slow-fresh:
    path: {slow}
    timeout: 50ms
    instances: fresh
    config: {{ start_ms: "150" }}
  stuck:
    path: {slow}
    timeout: 50ms
    config: {{ start_ms: "20000" }}
apis:
  - name: app
    stages: {{ prod: {{}} }}
    authorizers:
      slow: {{ plugin: slow, identity_sources: [header.x-token], ttl: 0s }}
      slow-fresh: {{ plugin: slow-fresh, identity_sources: [header.x-token], ttl: 0s }}
      stuck: {{ plugin: stuck, identity_sources: [header.x-token], ttl: 0s }}
    resources:
      /slow: {{ GET: {{ authorizer: slow, integration: {{ type: mock, body: ok }} }} }}
      /slow-fresh: {{ GET: {{ authorizer: slow-fresh, integration: {{ type: mock, body: ok }} }} }}
      /stuck: {{ GET: {{ authorizer: stuck, integration: {{ type: mock, body: ok }} }} }}
"#
    ));
    let c = http1_client();
    let get = |path: &str| {
        let request = c
            .get(format!("{}/prod/{path}", gw.url("public")))
            .header("x-token", "t");
        async move {
            let started = Instant::now();
            let r = request.send().await.unwrap();
            (r.status().as_u16(), started.elapsed())
        }
    };
    for path in ["slow", "slow", "slow-fresh", "slow-fresh"] {
        let (status, took) = get(path).await;
        assert_eq!(
            status,
            200,
            "GET /{path} after {took:?}; the log: {:#?}",
            gw.log.all()
        );
        // A fresh instance per call: each of its calls waits for the start.
        if path == "slow-fresh" {
            assert!(took >= Duration::from_millis(150), "{path}: {took:?}");
        }
    }
    let (status, took) = get("stuck").await;
    assert_eq!(status, 500);
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(took < Duration::from_secs(15), "{took:?}");
    gw.log.wait_for(
        "plugin `stuck` cannot be instantiated: ran past its deadline of 1s",
        Duration::from_secs(5),
    );
}
