//! The stage response cache and the account, stage and method throttles through the real
//! binary, counting the calls that reach the backend.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::{http1_client, json, Backend, Gateway, BASE};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_hits_skip_the_backend_and_follow_key_parameters_and_ttl() {
    let backend = Backend::start("cached").await;
    let yaml = format!(
        r#"
version: 1
listeners:
  - name: public
    address: 127.0.0.1:0
admin:
  address: 127.0.0.1:0
access_log: {{ destination: off }}
apis:
  - name: shop
    stages:
      prod:
        cache:
          ttl: 300s
          invalidation: {{ allow: none, unauthorized: ignore }}
      dev:
        cache:
          invalidation: {{ allow: any }}
    resources:
      /items/{{id}}:
        GET:
          cache: {{ key_parameters: [query.color] }}
          integration: {{ type: http_proxy, uri: "http://{addr}/items/{{id}}" }}
      /short:
        GET:
          cache: {{ ttl: 1s }}
          integration: {{ type: http_proxy, uri: "http://{addr}/short" }}
      /slow:
        GET:
          integration: {{ type: http_proxy, uri: "http://{addr}/delay/300" }}
"#,
        addr = backend.addr
    );
    let gw = Gateway::start(&yaml);
    let c = http1_client();
    let base = gw.url("public");
    let get = |path: &str| c.get(format!("{base}{path}")).send();

    let r = get("/prod/items/1?color=red").await.unwrap();
    assert_eq!(r.headers()["x-cache"], "MISS");
    let r = get("/prod/items/1?color=red&size=9").await.unwrap();
    assert_eq!(
        r.headers()["x-cache"],
        "HIT",
        "an unlisted query parameter does not split"
    );
    let r = get("/prod/items/1?color=blue").await.unwrap();
    assert_eq!(r.headers()["x-cache"], "MISS", "a key parameter splits");
    let r = get("/prod/items/2?color=red").await.unwrap();
    assert_eq!(r.headers()["x-cache"], "MISS", "path parameters split");
    assert_eq!(backend.hits(), 3);

    // Cache-Control: max-age=0 is ignored on prod (allow: none) and honoured on dev (any).
    let r = c
        .get(format!("{base}/prod/items/1?color=red"))
        .header("cache-control", "max-age=0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-cache"], "HIT");
    assert_eq!(backend.hits(), 3);
    get("/dev/items/1").await.unwrap();
    let r = c
        .get(format!("{base}/dev/items/1"))
        .header("cache-control", "max-age=0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-cache"], "MISS");
    assert_eq!(backend.hits(), 5);

    // TTL of 1 s.
    get("/prod/short").await.unwrap();
    assert_eq!(
        get("/prod/short").await.unwrap().headers()["x-cache"],
        "HIT"
    );
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(
        get("/prod/short").await.unwrap().headers()["x-cache"],
        "MISS"
    );
    assert_eq!(backend.hits(), 7);

    // Ten concurrent misses for one key make one backend call.
    let before = backend.hits();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (c, url) = (c.clone(), format!("{base}/prod/slow"));
            tokio::spawn(async move { c.get(url).send().await.unwrap().status() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(backend.hits() - before, 1, "concurrent misses coalesce");

    // Admin flush empties the stage's cache.
    let r = c
        .delete(format!("{}/cache/shop/prod", gw.admin_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = get("/prod/items/1?color=red").await.unwrap();
    assert_eq!(r.headers()["x-cache"], "MISS");

    let metrics = c
        .get(format!("{}/metrics", gw.admin_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let l = r#"api="shop",stage="prod",resource="/items/{id}",method="GET""#;
    assert!(
        metrics.contains(&format!("gatehouse_CacheHitCount{{{l}}} 2\n")),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("gatehouse_CacheMissCount{{{l}}} 4\n")),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttles_apply_at_account_stage_and_method_level() {
    let yaml = r#"
version: 1
listeners:
  - name: public
    address: 127.0.0.1:0
access_log: { destination: off }
throttle: { rate: 0.5, burst: 8 }
apis:
  - name: app
    stages:
      prod: { throttle: { rate: 0.5, burst: 5 } }
      beta: {}
    resources:
      /a:
        GET: { integration: { type: mock, body: a } }
      /m:
        GET:
          throttle: { rate: 0.5, burst: 2 }
          integration: { type: mock, body: m }
"#;
    let gw = Gateway::start(yaml);
    let c = http1_client();
    let base = gw.url("public");
    let status = |path: &'static str| {
        let c = c.clone();
        let url = format!("{base}{path}");
        async move { c.get(url).send().await.unwrap() }
    };
    // Method level: 2 on prod /m.
    assert_eq!(status("/prod/m").await.status(), 200);
    assert_eq!(status("/prod/m").await.status(), 200);
    let r = status("/prod/m").await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(
        json(r).await,
        serde_json::json!({"message": "Too Many Requests"})
    );
    // Stage level: prod had 3 tokens taken of 5; two more pass, then 429 on any resource.
    assert_eq!(status("/prod/a").await.status(), 200);
    assert_eq!(status("/prod/a").await.status(), 200);
    assert_eq!(status("/prod/a").await.status(), 429);
    // Account level: 8 in all; 6 taken, beta (no stage limit) gets the last 2.
    assert_eq!(status("/beta/a").await.status(), 200);
    assert_eq!(status("/beta/a").await.status(), 200);
    assert_eq!(status("/beta/a").await.status(), 429);
}

/// `invalidation: {allow: authorized, unauthorized: fail}`: a caller that passed an authorizer
/// or presented a valid API key may refresh an entry; anyone else asking gets 403.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_refresh_only_for_authorized_callers_else_403() {
    let backend = Backend::start("cached").await;
    let authorizer = gatehouse_e2e::repo_root().join("plugins/dist/token-authorizer.wasm");
    assert!(
        authorizer.exists(),
        "run scripts/build-plugins.sh first ({} is missing)",
        authorizer.display()
    );
    let yaml = format!(
        r#"
{BASE}
plugins:
  tokens:
    path: {authorizer}
    config: {{ tokens: "tok-alice=alice" }}
usage_plans:
  gold: {{ stages: [shop/prod] }}
api_keys:
  partner: {{ value: partner-key-0123456789abcdef, plans: [gold] }}
apis:
  - name: shop
    stages:
      prod:
        cache:
          invalidation: {{ allow: authorized, unauthorized: fail }}
    authorizers:
      bearer: {{ plugin: tokens, identity_sources: [header.Authorization] }}
    resources:
      /open/{{id}}:
        GET: {{ integration: {{ type: http_proxy, uri: "http://{addr}/open/{{id}}" }} }}
      /private/{{id}}:
        GET:
          authorizer: bearer
          integration: {{ type: http_proxy, uri: "http://{addr}/private/{{id}}" }}
      /keyed/{{id}}:
        GET:
          api_key_required: true
          integration: {{ type: http_proxy, uri: "http://{addr}/keyed/{{id}}" }}
"#,
        authorizer = authorizer.display(),
        addr = backend.addr
    );
    let gw = Gateway::start(&yaml);
    let c = http1_client();
    let base = gw.url("public");
    let get = |path: &str, headers: &[(&str, &str)]| {
        let mut req = c.get(format!("{base}{path}"));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send()
    };
    const REFRESH: (&str, &str) = ("cache-control", "max-age=0");
    const TOKEN: (&str, &str) = ("authorization", "Bearer tok-alice");
    const KEY: (&str, &str) = ("x-api-key", "partner-key-0123456789abcdef");

    // Anonymous: served from the cache normally, but asking for a refresh is refused.
    assert_eq!(
        get("/prod/open/1", &[]).await.unwrap().headers()["x-cache"],
        "MISS"
    );
    assert_eq!(
        get("/prod/open/1", &[]).await.unwrap().headers()["x-cache"],
        "HIT"
    );
    let r = get("/prod/open/1", &[REFRESH]).await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        json(r).await["message"],
        "User is not authorized to access this resource"
    );
    assert_eq!(
        backend.hits(),
        1,
        "a refused refresh does not reach the backend"
    );

    // Through the authorizer: the refresh goes to the backend.
    let r = get("/prod/private/1", &[TOKEN]).await.unwrap();
    assert_eq!(r.headers()["x-cache"], "MISS");
    let r = get("/prod/private/1", &[TOKEN, REFRESH]).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-cache"], "MISS");
    assert_eq!(backend.hits(), 3);

    // With a valid API key: likewise.
    let r = get("/prod/keyed/1", &[KEY]).await.unwrap();
    assert_eq!(r.headers()["x-cache"], "MISS");
    assert_eq!(
        get("/prod/keyed/1", &[KEY]).await.unwrap().headers()["x-cache"],
        "HIT"
    );
    let r = get("/prod/keyed/1", &[KEY, REFRESH]).await.unwrap();
    assert_eq!(r.headers()["x-cache"], "MISS");
    assert_eq!(backend.hits(), 5);
}
