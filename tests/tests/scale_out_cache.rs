//! The shared tier of the stage response cache and of authorizer decisions
//! (`cache: {shared: true}`, `shared: true` on an authorizer) over two gateway processes on
//! one Redis: a response cached through one node answers on the other without reaching the
//! backend; an admin flush on one node makes both miss; a Lambda authorizer's decision made
//! on one node decides on the other without a second invocation; with Redis killed, requests
//! still succeed from each node's memory or the backend. Each test starts its own Redis; all
//! but the Redis-down one run against one redis-server and against a Redis Cluster.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::backend::Backend;
use gatehouse_e2e::lambda::LambdaEndpoint;
use gatehouse_e2e::redis::{SharedRedis, Topology};
use gatehouse_e2e::{http1_client, Gateway};
use std::time::{Duration, Instant};

/// A node: the API `app`, stage `prod` caching `GET /items` (proxied to `backend`) in a shared
/// tier, and `GET /guarded` behind the Lambda token authorizer `tokens`, its decisions shared.
fn config(redis: &SharedRedis, backend: &Backend, lambda: &LambdaEndpoint) -> String {
    format!(
        r#"
version: 1
listeners:
  - name: public
    address: 127.0.0.1:0
admin:
  address: 127.0.0.1:0
access_log: {{ destination: off }}
state:
  backend: redis
  url: "{url}"
  cluster: {cluster}
  timeout: 300ms
  on_unavailable: fail_open
apis:
  - name: app
    stages:
      prod:
        cache: {{ ttl: 300s, shared: true }}
    authorizers:
      tokens:
        type: lambda
        ttl: 300s
        shared: true
        lambda: {{ endpoint: "http://{lambda}", function: authorizer, payload: token }}
    resources:
      /items:
        GET:
          integration: {{ type: http_proxy, uri: "http://{backend}/items" }}
      /other:
        GET:
          integration: {{ type: http_proxy, uri: "http://{backend}/other" }}
      /guarded:
        GET:
          authorizer: tokens
          cache: {{ enabled: false }}
          integration: {{ type: mock, body: guarded }}
"#,
        url = redis.url(),
        cluster = redis.cluster(),
        lambda = lambda.addr,
        backend = backend.addr,
    )
}

/// Two nodes on `redis`, with their backend and Lambda endpoint.
struct Nodes {
    a: Gateway,
    b: Gateway,
    backend: Backend,
    lambda: LambdaEndpoint,
    client: reqwest::Client,
}

impl Nodes {
    async fn start(redis: &SharedRedis) -> Nodes {
        let backend = Backend::start("origin").await;
        let lambda = LambdaEndpoint::start().await;
        let yaml = config(redis, &backend, &lambda);
        Nodes {
            a: Gateway::start(&yaml),
            b: Gateway::start(&yaml),
            backend,
            lambda,
            client: http1_client(),
        }
    }

    /// `GET /prod{path}` on `gw`: the status and the `x-cache` header.
    async fn get(&self, gw: &Gateway, path: &str) -> (u16, String) {
        let r = self
            .client
            .get(format!("{}/prod{path}", gw.url("public")))
            .send()
            .await
            .expect("GET");
        let cache = r
            .headers()
            .get("x-cache")
            .map_or("", |v| v.to_str().unwrap());
        (r.status().as_u16(), cache.to_owned())
    }

    /// `GET /prod/guarded` on `gw` with `token` as `Authorization`: the status.
    async fn guarded(&self, gw: &Gateway, token: &str) -> u16 {
        let r = self
            .client
            .get(format!("{}/prod/guarded", gw.url("public")))
            .header("authorization", token)
            .send()
            .await
            .expect("GET /guarded");
        r.status().as_u16()
    }

    /// The value of the metric line starting with `series` on `gw`'s admin listener.
    async fn metric(&self, gw: &Gateway, series: &str) -> u64 {
        let text = self
            .client
            .get(format!("{}/metrics", gw.admin_url()))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {series} in /metrics"))
    }
}

gatehouse_e2e::on_both!(
    a_response_cached_through_one_node_is_a_hit_on_the_other,
    a_flush_on_one_node_makes_both_miss,
    an_authorizer_decision_made_on_one_node_decides_on_the_other,
);

async fn a_response_cached_through_one_node_is_a_hit_on_the_other(topology: Topology) {
    let redis = SharedRedis::start(topology);
    let n = Nodes::start(&redis).await;
    assert_eq!(n.get(&n.a, "/items").await, (200, "MISS".into()));
    assert_eq!(n.backend.hits(), 1);
    assert_eq!(n.get(&n.b, "/items").await, (200, "HIT".into()));
    assert_eq!(n.get(&n.b, "/items").await, (200, "HIT".into()));
    assert_eq!(n.backend.hits(), 1, "node B answered without the backend");
    let hits = r#"gatehouse_SharedCacheHitCount{cache="response"}"#;
    assert_eq!(n.metric(&n.b, hits).await, 1, "the second from B's memory");
    assert_eq!(
        redis.count_keys("gatehouse:cache:stage:app/prod:*"),
        1,
        "one entry, under a hashed key"
    );
}

async fn a_flush_on_one_node_makes_both_miss(topology: Topology) {
    let redis = SharedRedis::start(topology);
    let n = Nodes::start(&redis).await;
    assert_eq!(n.get(&n.a, "/items").await, (200, "MISS".into()));
    assert_eq!(n.get(&n.b, "/items").await, (200, "HIT".into()));
    assert_eq!(n.backend.hits(), 1);
    let flushed = n
        .client
        .delete(format!("{}/cache/app/prod", n.a.admin_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(flushed.status().as_u16(), 202);
    // B drops its copy when the flush's announcement arrives (milliseconds); until then it may
    // still answer from memory, never from the backend.
    let start = Instant::now();
    loop {
        match n.get(&n.b, "/items").await {
            (200, miss) if miss == "MISS" => break,
            (200, hit) if hit == "HIT" => assert_eq!(n.backend.hits(), 1),
            other => panic!("node B answered {other:?}"),
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "node B still answers from memory 5 s after the flush"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(n.backend.hits(), 2, "B's miss reached the backend");
    // A emptied its memory, and the shared entry now is B's fill after the flush.
    assert_eq!(n.get(&n.a, "/items").await, (200, "HIT".into()));
    assert_eq!(n.backend.hits(), 2);
}

async fn an_authorizer_decision_made_on_one_node_decides_on_the_other(topology: Topology) {
    let redis = SharedRedis::start(topology);
    let n = Nodes::start(&redis).await;
    assert_eq!(n.guarded(&n.a, "allow-get").await, 200);
    assert_eq!(n.lambda.invocations().len(), 1);
    assert_eq!(n.guarded(&n.b, "allow-get").await, 200);
    assert_eq!(n.lambda.invocations().len(), 1, "B reused A's decision");
    // A denial is shared as well.
    assert_eq!(n.guarded(&n.b, "deny").await, 403);
    assert_eq!(n.guarded(&n.a, "deny").await, 403);
    assert_eq!(n.lambda.invocations().len(), 2);
    let hits = r#"gatehouse_SharedCacheHitCount{cache="authorizer"}"#;
    assert_eq!(n.metric(&n.b, hits).await, 1);
    assert_eq!(n.metric(&n.a, hits).await, 1);
    // No token reaches Redis: the decisions' keys are hashes.
    let stored = redis.count_keys("gatehouse:cache:authorizer:app/tokens:*");
    assert_eq!(stored, 2);
    assert_eq!(redis.count_keys("*allow-get*"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_killed_requests_are_served_from_memory_or_the_backend() {
    let mut redis = SharedRedis::start(Topology::Standalone);
    let n = Nodes::start(&redis).await;
    assert_eq!(n.get(&n.a, "/items").await, (200, "MISS".into()));
    assert_eq!(n.guarded(&n.a, "allow-get").await, 200);
    redis.server().kill();
    // A's memory still answers; B misses everywhere and calls the backend and the authorizer.
    assert_eq!(n.get(&n.a, "/items").await, (200, "HIT".into()));
    assert_eq!(n.guarded(&n.a, "allow-get").await, 200);
    assert_eq!(n.lambda.invocations().len(), 1);
    assert_eq!(n.get(&n.b, "/items").await, (200, "MISS".into()));
    assert_eq!(n.get(&n.b, "/other").await, (200, "MISS".into()));
    assert_eq!(n.backend.hits(), 3);
    assert_eq!(n.guarded(&n.b, "allow-get").await, 200);
    assert_eq!(n.lambda.invocations().len(), 2);
    // B's own memory serves what it filled meanwhile.
    assert_eq!(n.get(&n.b, "/items").await, (200, "HIT".into()));
    let errors = r#"gatehouse_SharedCacheErrorCount{cache="response"}"#;
    assert!(n.metric(&n.b, errors).await >= 2);
    // A flush still empties the node's memory, and says the shared tier was not reached.
    let flushed = n
        .client
        .delete(format!("{}/cache/app/prod", n.a.admin_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(flushed.status().as_u16(), 500);
    assert_eq!(n.get(&n.a, "/items").await, (200, "MISS".into()));
    assert_eq!(n.backend.hits(), 4);
}
