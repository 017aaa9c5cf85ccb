//! Several gateway processes sharing one Redis (`state: {backend: redis}`): API keys changed on
//! one node apply on the others within a second, and a usage plan's quota is exact over all
//! nodes, also when one of them is killed; when Redis hangs or dies, no request waits past the
//! Redis timeout, `on_unavailable` decides, and the gateway recovers by itself. Plugins' `kv`
//! values and IAM credentials are shared by the nodes too, and `@connections` on any node
//! reaches a WebSocket client of another. Each test starts its own redis-server on loopback;
//! most run a second time against their own Redis Cluster of three masters
//! (`state.cluster: true`), see `on_both!`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::backend::Backend;
use gatehouse_e2e::gateway::run_cli;
use gatehouse_e2e::nodes::{count, load, refused_start, status, within_a_second, PARTNER};
use gatehouse_e2e::redis::{SharedRedis, Topology};
use gatehouse_e2e::sigv4::{send, sign};
use gatehouse_e2e::ws::WsClient;
use gatehouse_e2e::{http1_client, json, Gateway};
use std::time::{Duration, Instant};

fn config(redis: &SharedRedis, quota: u64) -> String {
    config_with(redis, quota, "fail_closed")
}

fn config_with(redis: &SharedRedis, quota: u64, on_unavailable: &str) -> String {
    let cluster = format!("  cluster: {}\n  timeout: 300ms", redis.cluster());
    gatehouse_e2e::nodes::config(&redis.url(), quota, on_unavailable)
        .replace("  timeout: 300ms", &cluster)
}

gatehouse_e2e::on_both!(
    connections_api_on_one_node_reaches_clients_of_another,
    iam_credentials_are_shared_by_the_nodes,
    key_changes_on_one_node_apply_on_the_others_within_a_second,
    a_quota_is_exact_over_nodes_and_survives_a_killed_node,
    nodes_started_together_count_one_quota_per_config_key,
    takes_sent_together_admit_exactly_each_keys_quota,
    a_keys_throttle_holds_over_nodes,
    a_stage_throttle_holds_over_nodes,
    plugin_kv_is_shared_by_the_nodes,
    a_name_created_on_two_nodes_at_once_is_created_once,
);

/// Asks `status` every `every` until it answers `want`; panics saying `what` (and the last
/// answer) once `within` has passed.
async fn until_status<F, Fut>(
    within: Duration,
    every: Duration,
    want: u16,
    what: &str,
    mut status: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    let start = Instant::now();
    loop {
        let got = status().await;
        if got == want {
            return;
        }
        assert!(start.elapsed() < within, "{what}: still {got}, not {want}");
        tokio::time::sleep(every).await;
    }
}

/// `@connections` on node A reaches a client connected to node B: GET describes it, POST
/// delivers, DELETE closes it (with `$disconnect`), and afterwards A answers 410 Gone.
async fn connections_api_on_one_node_reaches_clients_of_another(topology: Topology) {
    let redis = SharedRedis::start(topology);
    let backend = Backend::start("events").await;
    let yaml = format!(
        r#"
version: 1
listeners:
  - name: public
    address: 127.0.0.1:0
admin:
  address: 127.0.0.1:0
access_log: {{ destination: off }}
state: {{ backend: redis, {state} }}
apis:
  - name: chat
    protocol: websocket
    stages: {{ prod: {{}} }}
    routes:
      $connect:
        integration: {{ type: http, uri: "http://{b}/events/quiet" }}
      $disconnect:
        integration: {{ type: http, uri: "http://{b}/events/quiet" }}
      $default:
        integration: {{ type: mock, body: "no route" }}
"#,
        state = redis.fields(),
        b = backend.addr
    );
    let (a, b) = (Gateway::start(&yaml), Gateway::start(&yaml));
    let wait = Duration::from_secs(5);
    let mut client = WsClient::connect(&format!("ws://{}/prod", b.addr("public"))).await;
    let connect = backend
        .wait_event(wait, |e| e["requestContext"]["eventType"] == "CONNECT")
        .await
        .unwrap();
    let id = connect["requestContext"]["connectionId"].as_str().unwrap();
    let c = http1_client();
    let url = format!("{}/@connections/{id}", a.admin_url());
    // B writes the record to Redis after the handshake, without making it wait.
    let start = Instant::now();
    let info = loop {
        let r = c.get(&url).send().await.unwrap();
        if r.status() == 200 {
            break json(r).await;
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "still {}",
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(info["identity"]["sourceIp"], "127.0.0.1");
    assert_eq!(info["stage"], "prod");
    let r = c.post(&url).body("hello from node A").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(client.recv_text(wait).await, "hello from node A");
    assert_eq!(c.delete(&url).send().await.unwrap().status(), 204);
    assert_eq!(client.closed_with(wait).await, 1000);
    let gone = backend
        .wait_event(wait, |e| e["requestContext"]["eventType"] == "DISCONNECT")
        .await
        .unwrap();
    assert_eq!(gone["requestContext"]["connectionId"], id);
    let get = || async { c.get(&url).send().await.unwrap().status().as_u16() };
    let (second, short) = (Duration::from_secs(1), Duration::from_millis(20));
    until_status(
        second,
        short,
        410,
        "the record outlived the connection",
        get,
    )
    .await;
    assert_eq!(
        c.post(&url).body("late").send().await.unwrap().status(),
        410
    );
    let never = format!("{}/@connections/AAAAAAAAAAAAAAAA", a.admin_url());
    assert_eq!(c.post(&never).body("x").send().await.unwrap().status(), 410);

    // A node that dies (SIGKILL: no $disconnect, no cleanup) takes its connections with it:
    // once its beat expires (6 s), the others answer 410 for them.
    let _second = WsClient::connect(&format!("ws://{}/prod", b.addr("public"))).await;
    let connect = backend
        .wait_event(wait, |e| {
            e["requestContext"]["eventType"] == "CONNECT"
                && e["requestContext"]["connectionId"] != id
        })
        .await
        .unwrap();
    let id2 = connect["requestContext"]["connectionId"].as_str().unwrap();
    let url = format!("{}/@connections/{id2}", a.admin_url());
    let get = || async { c.get(&url).send().await.unwrap().status().as_u16() };
    until_status(second, short, 200, "never registered", get).await;
    drop(b);
    // A post finds no node listening on the channel: 410 as soon as Redis saw the node's
    // connection close.
    let post = || async {
        let r = c.post(&url).body("anyone?").send().await.unwrap();
        r.status().as_u16()
    };
    until_status(second, short, 410, "posted to a dead node", post).await;
    // The record itself goes when the node's beat expires (4 to 6 s after its death).
    let (ten, step) = (Duration::from_secs(10), Duration::from_millis(200));
    until_status(ten, step, 410, "a dead node's connection lives on", get).await;
}

/// Redis with a password (AUTH; `password_env` names the environment variable holding it):
/// the gateway authenticates and works; with a wrong password it refuses to start, saying why
/// without showing the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_protected_redis_is_used_and_a_wrong_password_named() {
    let mut redis = SharedRedis::start(Topology::Standalone);
    assert_eq!(
        redis
            .server()
            .command(&["CONFIG", "SET", "requirepass", "s3cret-pass"])
            .as_deref(),
        Some("+OK")
    );
    let yaml = config(&redis, 1000).replace(
        "  timeout: 300ms",
        "  password_env: TEST_REDIS_PASSWORD\n  timeout: 300ms",
    );
    assert!(yaml.contains("password_env"));
    let gw = Gateway::start_env(&yaml, &[("TEST_REDIS_PASSWORD", "s3cret-pass")]);
    let c = http1_client();
    assert_eq!(status(&c, &gw, PARTNER).await, 200);
    assert_eq!(status(&c, &gw, "no-such-key-0123456789").await, 403);

    let err = refused_start(&yaml, &[("TEST_REDIS_PASSWORD", "wrong-pass")]);
    assert!(err.contains("cannot connect to redis://"), "{err}");
    assert!(err.contains("Password authentication failed"), "{err}");
    assert!(!err.contains("wrong-pass"), "the password shows: {err}");
}

/// `state.cluster` must say what the server is: a gateway given a cluster node without
/// `cluster: true`, or a single server with it, refuses to start and says why.
#[test]
fn a_gateway_refuses_a_redis_of_the_other_topology() {
    let cluster = SharedRedis::start(Topology::Cluster);
    let yaml = config(&cluster, 1000).replace("cluster: true", "cluster: false");
    let err = refused_start(&yaml, &[]);
    assert!(err.contains("set state.cluster: true"), "{err}");
    let server = SharedRedis::start(Topology::Standalone);
    let yaml = config(&server, 1000).replace("cluster: false", "cluster: true");
    let err = refused_start(&yaml, &[]);
    assert!(err.contains("cannot connect to redis://"), "{err}");
    assert!(err.contains("cluster support disabled"), "{err}");
}

/// An IAM credential made through one node's admin API signs requests to the other within a
/// second; disabled through that other node, the first refuses it within a second.
async fn iam_credentials_are_shared_by_the_nodes(topology: Topology) {
    let redis = SharedRedis::start(topology);
    let (a, b) = (
        Gateway::start(&config(&redis, 1000)),
        Gateway::start(&config(&redis, 1000)),
    );
    let c = http1_client();
    let r = c
        .post(format!("{}/iam/credentials", a.admin_url()))
        .json(&serde_json::json!({"name": "ci", "principal": "arn:aws:iam::123456789012:role/ci"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let made = json(r).await;
    let id = made["access_key_id"].as_str().unwrap();
    let to = |gw: &Gateway| {
        sign(&[serde_json::json!({
            "method": "GET", "url": format!("{}/prod/signed", gw.url("public")), "body": "",
            "access_key": id, "secret": made["secret_access_key"],
        })])
        .remove(0)
    };
    let (to_a, to_b) = (to(&a), to(&b));
    let until = |req: serde_json::Value, want: u16, what: &'static str| async move {
        let status = || async { send(&req).await.status().as_u16() };
        let (second, short) = (Duration::from_secs(1), Duration::from_millis(20));
        until_status(second, short, want, what, status).await;
    };
    until(to_b, 200, "a credential made on A, signing to B").await;
    let r = c
        .patch(format!("{}/iam/credentials/{id}", b.admin_url()))
        .json(&serde_json::json!({ "enabled": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    until(to_a, 403, "a credential disabled on B, signing to A").await;
}

async fn key_changes_on_one_node_apply_on_the_others_within_a_second(topology: Topology) {
    let redis = SharedRedis::start(topology);
    let (a, b) = (
        Gateway::start(&config(&redis, 1000)),
        Gateway::start(&config(&redis, 1000)),
    );
    let c = http1_client();
    assert_eq!(status(&c, &a, PARTNER).await, 200);
    assert_eq!(status(&c, &b, PARTNER).await, 200);

    // Created through node A's admin API: node B admits it.
    let r = c
        .post(format!("{}/apikeys", a.admin_url()))
        .json(&serde_json::json!({"name": "made-on-a", "plans": ["gold"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let made = json(r).await;
    let (id, value) = (
        made["id"].as_str().unwrap().to_owned(),
        made["value"].as_str().unwrap().to_owned(),
    );
    within_a_second(&c, &b, &value, 200).await;
    // On a cluster the keys' hash carries the hash tag that keeps it in its channel's slot.
    let hash = match redis.cluster() {
        true => "{gatehouse}:keys",
        false => "gatehouse:keys",
    };
    assert_eq!(redis.count_keys(hash), 1, "{hash}");

    // Disabled on A, then enabled on B, then deleted on B.
    let patch = |gw: &Gateway, enabled: bool| {
        c.patch(format!("{}/apikeys/{id}", gw.admin_url()))
            .json(&serde_json::json!({ "enabled": enabled }))
            .send()
    };
    assert_eq!(patch(&a, false).await.unwrap().status(), 200);
    within_a_second(&c, &b, &value, 403).await;
    assert_eq!(patch(&b, true).await.unwrap().status(), 200);
    within_a_second(&c, &a, &value, 200).await;
    let r = c
        .delete(format!("{}/apikeys/{id}", b.admin_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    within_a_second(&c, &a, &value, 403).await;

    // The CLI writes to Redis while both gateways run; both admit the new key.
    let (code, out, err) = run_cli(
        a.dir.path(),
        &[
            "keys",
            "--config",
            "gatehouse.yaml",
            "create",
            "--name",
            "from-cli",
            "--plan",
            "gold",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let value = out
        .lines()
        .find_map(|l| l.strip_prefix("value: "))
        .unwrap()
        .to_owned();
    within_a_second(&c, &a, &value, 200).await;
    within_a_second(&c, &b, &value, 200).await;
    let listed = json(
        c.get(format!("{}/apikeys", b.admin_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2, "{listed}");
    assert!(!listed.to_string().contains(&value));
}

async fn a_quota_is_exact_over_nodes_and_survives_a_killed_node(topology: Topology) {
    let redis = SharedRedis::start(topology);
    let (a, b) = (
        Gateway::start(&config(&redis, 50)),
        Gateway::start(&config(&redis, 50)),
    );
    let c = http1_client();

    // 40 requests (20 per node, concurrently): all within the quota.
    let first = load(&c, &[&a, &b], 20).await;
    assert_eq!(count(&first, 200), 40, "{first:?}");

    // Node A dies without a chance to write anything; a new node C joins.
    a.signal(libc::SIGKILL);
    drop(a);
    let c_node = Gateway::start(&config(&redis, 50));

    // 80 more over B and C: exactly the 10 left are admitted.
    let second = load(&c, &[&b, &c_node], 40).await;
    assert_eq!(count(&second, 200), 10, "{second:?}");
    assert_eq!(count(&second, 429), 70, "{second:?}");
    let r = c
        .get(format!("{}/prod/items", b.url("public")))
        .header("x-api-key", PARTNER)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(json(r).await["message"], "Limit Exceeded");
}

/// Three nodes started at the same moment on an empty Redis each add the config's key: they
/// agree on one stored key (one id), so its quota is counted once for all of them. (When each
/// added its own, the key had a quota per node.)
async fn nodes_started_together_count_one_quota_per_config_key(topology: Topology) {
    let redis = SharedRedis::start(topology);
    let yaml = config(&redis, 12);
    let starting: Vec<_> = (0..3)
        .map(|_| {
            let yaml = yaml.clone();
            std::thread::spawn(move || Gateway::start(&yaml))
        })
        .collect();
    let nodes: Vec<Gateway> = starting.into_iter().map(|t| t.join().unwrap()).collect();
    let c = http1_client();
    let all = load(&c, &nodes.iter().collect::<Vec<_>>(), 8).await;
    assert_eq!(count(&all, 200), 12, "{all:?}");
    assert_eq!(count(&all, 429), 12, "{all:?}");
}

/// Many requests at once through two nodes, for three keys of one plan: each worker of a node
/// sends the takes that queue while its batch is out together (on a cluster, one call per
/// slot), over a connection of its own, and each key still gets exactly its quota. The second
/// node has three workers, so its connections spread over several queues.
async fn takes_sent_together_admit_exactly_each_keys_quota(topology: Topology) {
    let redis = SharedRedis::start(topology);
    let keys = [
        PARTNER,
        "second-key-0123456789abcdef",
        "third-key-0123456789abcdef",
    ];
    let yaml = config(&redis, 20).replace(
        "api_keys:\n",
        &format!(
            "api_keys:\n  second: {{ value: {}, plans: [gold] }}\n  third: {{ value: {}, plans: [gold] }}\n",
            keys[1], keys[2]
        ),
    );
    assert!(yaml.contains(keys[2]), "{yaml}");
    let (a, b) = (Gateway::start(&yaml), Gateway::start_workers(&yaml, 3));
    let c = http1_client();
    // 32 requests per key and node, all at once: 64 per key for a quota of 20.
    let mut tasks = Vec::new();
    for gw in [&a, &b] {
        let url = format!("{}/prod/items", gw.url("public"));
        for (k, key) in keys.iter().enumerate() {
            for _ in 0..32 {
                let req = c.get(&url).header("x-api-key", *key);
                tasks.push(tokio::spawn(async move {
                    (k, req.send().await.map_or(0, |r| r.status().as_u16()))
                }));
            }
        }
    }
    let mut statuses = vec![Vec::new(); keys.len()];
    for t in tasks {
        let (k, status) = t.await.unwrap();
        statuses[k].push(status);
    }
    for (key, got) in keys.iter().zip(&statuses) {
        assert_eq!(count(got, 200), 20, "{key}: {got:?}");
        assert_eq!(count(got, 429), 44, "{key}: {got:?}");
    }
}

/// One request's status and how long it took.
async fn timed(c: &reqwest::Client, gw: &Gateway) -> (u16, Duration) {
    let start = Instant::now();
    (status(c, gw, PARTNER).await, start.elapsed())
}

async fn metric(c: &reqwest::Client, gw: &Gateway, name: &str) -> String {
    let r = c.get(format!("{}/metrics", gw.admin_url())).send().await;
    let text = r.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")).map(str::to_owned))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_never_stalls_requests_and_the_policy_decides() {
    let mut redis = SharedRedis::start(Topology::Standalone);
    let open = Gateway::start(&config_with(&redis, 1000, "fail_open"));
    let closed = Gateway::start(&config_with(&redis, 1000, "fail_closed"));
    let strict = Gateway::start(&config_with(
        &redis,
        1000,
        "{ quotas: fail_open, throttles: fail_closed }",
    ));
    let c = http1_client();
    assert_eq!(status(&c, &open, PARTNER).await, 200);
    assert_eq!(status(&c, &closed, PARTNER).await, 200);

    // Redis hangs (SIGSTOP): answers come within the 300 ms timeout plus a margin.
    redis.server().signal(libc::SIGSTOP);
    for _ in 0..3 {
        let (s, took) = timed(&c, &open).await;
        assert_eq!(s, 200, "fail_open admits");
        assert!(took < Duration::from_millis(900), "took {took:?}");
        let (s, took) = timed(&c, &closed).await;
        assert_eq!(s, 503, "fail_closed refuses");
        assert!(took < Duration::from_millis(900), "took {took:?}");
    }
    // Throttles: by default each node falls back to its own buckets; with fail_closed every
    // throttled request (here all: the account throttle) is 429 once a top-up has failed.
    let throttled = |gw: &Gateway| c.get(format!("{}/prod/throttled", gw.url("public"))).send();
    let deadline = Instant::now() + Duration::from_secs(2);
    while throttled(&strict).await.unwrap().status() != 429 {
        assert!(
            Instant::now() < deadline,
            "fail_closed throttle still admits"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status(&c, &strict, PARTNER).await, 429);
    assert_eq!(throttled(&open).await.unwrap().status(), 200);
    assert_eq!(throttled(&closed).await.unwrap().status(), 200);
    open.log
        .wait_for("redis unavailable", Duration::from_secs(2));
    closed
        .log
        .wait_for("redis unavailable", Duration::from_secs(2));
    assert_eq!(metric(&c, &open, "gatehouse_StateStoreUp").await, "0");
    assert_eq!(metric(&c, &open, "gatehouse_StateStoreOutages").await, "1");

    // It answers again: both nodes count again by themselves, within a few seconds.
    redis.server().signal(libc::SIGCONT);
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&c, &closed, PARTNER).await != 200 {
        assert!(
            Instant::now() < deadline,
            "fail_closed node did not recover"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    closed
        .log
        .wait_for("redis available again", Duration::from_secs(2));
    while throttled(&strict).await.unwrap().status() != 200 {
        assert!(
            Instant::now() < deadline,
            "fail_closed throttle did not recover"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    while open.log.count("redis available again") == 0 {
        assert_eq!(status(&c, &open, PARTNER).await, 200);
        assert!(Instant::now() < deadline, "fail_open node did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(metric(&c, &open, "gatehouse_StateStoreUp").await, "1");
    // The plan's windows only: usage reports keep their counters under `quota:` too.
    let counted = redis.server().command(&["KEYS", "gatehouse:quota:*:gold"]);
    assert_eq!(counted.as_deref(), Some("*1"), "one quota window counted");

    // Redis dies (SIGKILL): refused connections, still answered at once.
    redis.server().kill();
    for _ in 0..3 {
        let (s, took) = timed(&c, &open).await;
        assert_eq!(s, 200);
        assert!(took < Duration::from_millis(900), "took {took:?}");
        let (s, took) = timed(&c, &closed).await;
        assert_eq!(s, 503);
        assert!(took < Duration::from_millis(900), "took {took:?}");
    }
    // The API keys stay as they were loaded.
    assert_eq!(status(&c, &open, "no-such-key-0123456789").await, 403);
}

/// Sends GETs of `path` (with `key` as `x-api-key`, if any) to `gw` from 4 clients until
/// `until`; returns (200s, 429s).
async fn hammer(
    c: &reqwest::Client,
    gw: &Gateway,
    path: &str,
    key: Option<&'static str>,
    until: Instant,
) -> (usize, usize) {
    let url = format!("{}{path}", gw.url("public"));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (c, url) = (c.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut throttled) = (0, 0);
            while Instant::now() < until {
                let mut req = c.get(&url);
                if let Some(key) = key {
                    req = req.header("x-api-key", key);
                }
                match req.send().await.map(|r| r.status().as_u16()) {
                    Ok(200) => ok += 1,
                    Ok(429) => throttled += 1,
                    other => panic!("unexpected answer {other:?}"),
                }
            }
            (ok, throttled)
        }));
    }
    let mut total = (0, 0);
    for t in tasks {
        let (ok, throttled) = t.await.unwrap();
        total = (total.0 + ok, total.1 + throttled);
    }
    total
}

/// A usage plan's per-key throttle is one bucket over both nodes: a key driven through both
/// for 4 s at a plan rate of 5/s (burst 5) gets about 5 + 20 admitted, not twice that.
async fn a_keys_throttle_holds_over_nodes(topology: Topology) {
    let redis = SharedRedis::start(topology);
    let yaml = config(&redis, 1000).replace(
        "    quota: { limit: 1000, period: DAY }",
        "    quota: { limit: 1000, period: DAY }\n    throttle: { rate: 5, burst: 5 }",
    );
    assert!(yaml.contains("rate: 5, burst: 5"), "{yaml}");
    let (a, b) = (Gateway::start(&yaml), Gateway::start(&yaml));
    let c = http1_client();
    let start = Instant::now();
    let until = start + Duration::from_secs(4);
    let ((ok_a, no_a), (ok_b, no_b)) = tokio::join!(
        hammer(&c, &a, "/prod/items", Some(PARTNER), until),
        hammer(&c, &b, "/prod/items", Some(PARTNER), until)
    );
    let admitted = ok_a + ok_b;
    let expected = 5.0 + 5.0 * start.elapsed().as_secs_f64();
    eprintln!(
        "admitted {admitted} ({ok_a} + {ok_b}), expected {expected:.0}; throttled {}",
        no_a + no_b
    );
    assert!(
        (admitted as f64 - expected).abs() <= expected * 0.3,
        "admitted {admitted} ({ok_a} + {ok_b}), expected {expected:.0} ± 30% (per-node buckets would admit twice that)"
    );
    assert!(ok_a > 0 && ok_b > 0, "both nodes admit: {ok_a}, {ok_b}");
}

async fn a_stage_throttle_holds_over_nodes(topology: Topology) {
    let redis = SharedRedis::start(topology);
    let yaml = format!(
        r#"
version: 1
listeners:
  - name: public
    address: 127.0.0.1:0
access_log: {{ destination: off }}
state: {{ backend: redis, {state} }}
apis:
  - name: app
    stages: {{ prod: {{ throttle: {{ rate: 100, burst: 10 }} }} }}
    resources:
      /open:
        GET:
          integration: {{ type: mock, body: open }}
"#,
        state = redis.fields()
    );
    let (a, b) = (Gateway::start(&yaml), Gateway::start(&yaml));
    let c = http1_client();
    // Both nodes at full demand for 5 s: one bucket of 100/s and 10 admits 10 + 500 (two
    // separate buckets would admit twice that).
    let secs = 5.0;
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(secs);
    let ((ok_a, no_a), (ok_b, no_b)) = tokio::join!(
        hammer(&c, &a, "/prod/open", None, until),
        hammer(&c, &b, "/prod/open", None, until)
    );
    let elapsed = start.elapsed().as_secs_f64();
    let admitted = (ok_a + ok_b) as f64;
    let expected = 10.0 + 100.0 * secs;
    eprintln!(
        "admitted {admitted} ({ok_a} + {ok_b}) in {elapsed:.2}s, throttled {}",
        no_a + no_b
    );
    assert!(
        (admitted - expected).abs() <= expected * 0.05,
        "admitted {admitted} ({ok_a} + {ok_b}) in {elapsed:.2}s, expected {expected} ± 5%; throttled {}",
        no_a + no_b
    );
    assert!(ok_a > 50 && ok_b > 50, "both nodes admit: {ok_a}, {ok_b}");
    assert!(no_a + no_b > 0, "the load exceeded the rate");
}

/// Plugin `kv` on Redis: a value a plugin stores through one node is read through the other,
/// a delete is seen by both, and another plugin name has its own namespace.
async fn plugin_kv_is_shared_by_the_nodes(topology: Topology) {
    let redis = SharedRedis::start(topology);
    let yaml = format!(
        r#"
version: 1
listeners:
  - name: public
    address: 127.0.0.1:0
access_log: {{ destination: off }}
state: {{ backend: redis, {state} }}
plugins:
  items:
    path: {items}
  other-items:
    path: {items}
apis:
  - name: kv
    stages: {{ prod: {{}} }}
    resources:
      /items/{{id}}:
        ANY: {{ integration: {{ type: wasm, plugin: items }} }}
      /other/{{id}}:
        ANY: {{ integration: {{ type: wasm, plugin: other-items }} }}
"#,
        state = redis.fields(),
        items = gatehouse_e2e::plugin_path("kv-items").display(),
    );
    let (a, b) = (Gateway::start(&yaml), Gateway::start(&yaml));
    let c = http1_client();
    let (on_a, on_b) = (
        format!("{}/prod", a.url("public")),
        format!("{}/prod", b.url("public")),
    );
    let r = c
        .put(format!("{on_a}/items/7"))
        .body(r#"{"kept":true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = c.get(format!("{on_b}/items/7")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await, serde_json::json!({"kept": true}));
    let r = c.get(format!("{on_b}/other/7")).send().await.unwrap();
    assert_eq!(r.status(), 404, "another plugin name has its own namespace");
    let r = c.delete(format!("{on_b}/items/7")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let r = c.get(format!("{on_a}/items/7")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

/// Sends `body` to `path` on the admin APIs of `nodes`, `n` requests in all (alternating
/// nodes) at once; returns each answer's status and message.
async fn post_at_once(
    c: &reqwest::Client,
    nodes: &[&Gateway],
    path: &str,
    body: &serde_json::Value,
    n: usize,
) -> Vec<(u16, String)> {
    let posts = (0..n).map(|i| {
        let req = c.post(format!("{}{path}", nodes[i % nodes.len()].admin_url()));
        async move {
            let r = req.json(body).send().await.unwrap();
            let status = r.status().as_u16();
            let doc = json(r).await;
            (
                status,
                doc["message"].as_str().unwrap_or_default().to_owned(),
            )
        }
    });
    futures_util::future::join_all(posts).await
}

/// One name created through both nodes' admin APIs at once is created once: Redis checks
/// that the name is free and stores the key (or IAM credential) in one step, so one request
/// gets 201 and the others 400, as a second creation of a name on one node does.
async fn a_name_created_on_two_nodes_at_once_is_created_once(topology: Topology) {
    let redis = SharedRedis::start(topology);
    let (a, b) = (
        Gateway::start(&config(&redis, 1000)),
        Gateway::start(&config(&redis, 1000)),
    );
    let c = http1_client();
    for round in 0..5 {
        let key = serde_json::json!({"name": format!("race-{round}"), "plans": ["gold"]});
        let answers = post_at_once(&c, &[&a, &b], "/apikeys", &key, 8).await;
        assert_eq!(
            answers.iter().filter(|(s, _)| *s == 201).count(),
            1,
            "{answers:?}"
        );
        for (status, message) in answers.iter().filter(|(s, _)| *s != 201) {
            assert_eq!(*status, 400, "{answers:?}");
            assert!(message.contains("exists already"), "{answers:?}");
        }
        let credential = serde_json::json!({
            "name": format!("ci-{round}"), "principal": "arn:aws:iam::123456789012:role/ci",
        });
        let answers = post_at_once(&c, &[&a, &b], "/iam/credentials", &credential, 8).await;
        assert_eq!(
            answers.iter().filter(|(s, _)| *s == 201).count(),
            1,
            "{answers:?}"
        );
        assert!(
            answers
                .iter()
                .all(|(s, m)| *s == 201 || m.contains("exists already")),
            "{answers:?}"
        );
    }
    let listed = json(
        c.get(format!("{}/apikeys", b.admin_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let mut names: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["name"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["partner", "race-0", "race-1", "race-2", "race-3", "race-4"]
    );

    // Deleted, a name is free again, on either node.
    let id = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "race-0")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = c
        .delete(format!("{}/apikeys/{id}", a.admin_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let key = serde_json::json!({"name": "race-0", "plans": ["gold"]});
    let answers = post_at_once(&c, &[&b], "/apikeys", &key, 1).await;
    assert_eq!(answers[0].0, 201, "{answers:?}");
}
