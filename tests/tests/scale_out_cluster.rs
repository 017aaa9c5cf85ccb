//! Gateway nodes on a Redis Cluster of three masters (`state.cluster: true`), beyond the
//! scenarios `scale_out.rs` runs on both topologies: several seed nodes (`urls`) of which the
//! first is down, and the whole cluster hanging (SIGSTOP), then killed and started again on
//! its ports with its `nodes.conf` and data, while gateways serve: `on_unavailable` decides,
//! no request hangs, and the gateways come back by themselves.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::nodes::{create_key, status, timed, within_a_second, PARTNER};
use gatehouse_e2e::redis::RedisCluster;
use gatehouse_e2e::{free_port, http1_client, Gateway};
use std::time::{Duration, Instant};

/// A node's config (see `gatehouse_e2e::nodes::config`) on `cluster`, naming it by `urls`.
fn config(urls: &[String], quota: u64, on_unavailable: &str) -> String {
    let yaml = gatehouse_e2e::nodes::config("SEEDS", quota, on_unavailable);
    let urls: Vec<String> = urls.iter().map(|u| format!("\"{u}\"")).collect();
    let fields = format!("  cluster: true\n  urls: [{}]\n", urls.join(", "));
    let replaced = yaml.replace("  url: \"SEEDS\"\n", &fields);
    assert_ne!(replaced, yaml);
    replaced
}

/// The cluster's nodes' URLs.
fn seeds(cluster: &RedisCluster) -> Vec<String> {
    cluster.nodes.iter().map(|n| n.url()).collect()
}

/// A gateway whose first seed node is a port nothing listens on starts from the next one,
/// and two such gateways share the quota exactly and see each other's key changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_whose_first_seed_is_down_is_reached_through_the_next() {
    let cluster = RedisCluster::start();
    let dead = format!("redis://127.0.0.1:{}/0", free_port());
    let urls = [dead, cluster.url()];
    let yaml = config(&urls, 20, "fail_closed");
    let (a, b) = (Gateway::start(&yaml), Gateway::start(&yaml));
    let c = http1_client();
    let mut statuses = Vec::new();
    for i in 0..30 {
        let gw = if i % 2 == 0 { &a } else { &b };
        statuses.push(status(&c, gw, PARTNER).await);
    }
    let admitted = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(admitted, 20, "{statuses:?}");
    assert!(statuses[20..].iter().all(|s| *s == 429), "{statuses:?}");
    let made = create_key(&c, &a, "made-on-a").await;
    let value = made["value"].as_str().unwrap().to_owned();
    within_a_second(&c, &b, &value, 200).await;
}

/// The longest a request may take while Redis is unavailable: the 300 ms timeout, and slack
/// for a busy test machine.
const AT_MOST: Duration = Duration::from_millis(1500);

/// The three gateways of the outage test: quota checks fail closed, fail open, and (with
/// quotas open) throttles fail closed.
struct Nodes {
    closed: Gateway,
    open: Gateway,
    strict: Gateway,
    c: reqwest::Client,
}

impl Nodes {
    fn items(&self, gw: &Gateway) -> String {
        format!("{}/prod/items", gw.url("public"))
    }

    fn throttled(&self) -> String {
        format!("{}/prod/throttled", self.strict.url("public"))
    }

    /// While Redis is unavailable: each node answers as its policy says, within [`AT_MOST`].
    async fn follow_the_policy(&self) {
        let c = &self.c;
        // The strict node's throttle refuses from its first failed top-up (within 50 ms plus
        // the timeout).
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let (s, took) = timed(c, &self.throttled(), None).await;
            assert!(took < AT_MOST, "took {took:?}");
            if s == 429 {
                break;
            }
            assert_eq!(s, 200);
            assert!(
                Instant::now() < deadline,
                "fail_closed throttle still admits"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for _ in 0..3 {
            let (s, took) = timed(c, &self.items(&self.open), Some(PARTNER)).await;
            assert_eq!(s, 200, "fail_open admits");
            assert!(took < AT_MOST, "took {took:?}");
            let (s, took) = timed(c, &self.items(&self.closed), Some(PARTNER)).await;
            assert_eq!(s, 503, "fail_closed refuses");
            assert!(took < AT_MOST, "took {took:?}");
            let (s, took) = timed(c, &self.throttled(), None).await;
            assert_eq!(s, 429, "throttles fail closed");
            assert!(took < AT_MOST, "took {took:?}");
        }
    }

    /// Once Redis is back: waits (at most 20 s) until every node counts and throttles
    /// through it again.
    async fn recover(&self, what: &str) {
        let c = &self.c;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let closed = timed(c, &self.items(&self.closed), Some(PARTNER)).await.0;
            let strict = timed(c, &self.throttled(), None).await.0;
            if closed == 200 && strict == 200 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: no recovery (fail_closed quota {closed}, fail_closed throttle {strict})"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_or_restarted_cluster_follows_the_policy_and_comes_back() {
    // Every write is on disk before it is answered, so a restart keeps the keys and counts.
    let mut cluster = RedisCluster::start_with(&["--appendonly", "yes", "--appendfsync", "always"]);
    let urls = seeds(&cluster);
    let nodes = Nodes {
        closed: Gateway::start(&config(&urls, 100_000, "fail_closed")),
        open: Gateway::start(&config(&urls, 100_000, "fail_open")),
        strict: Gateway::start(&config(
            &urls,
            100_000,
            "{ quotas: fail_open, throttles: fail_closed }",
        )),
        c: http1_client(),
    };
    nodes.recover("at start").await;

    // Every master hangs (SIGSTOP): calls run out of time.
    for node in &cluster.nodes {
        node.signal(libc::SIGSTOP);
    }
    nodes.follow_the_policy().await;
    nodes
        .closed
        .log
        .wait_for("redis unavailable", Duration::from_secs(2));
    for node in &cluster.nodes {
        node.signal(libc::SIGCONT);
    }
    nodes.recover("after SIGCONT").await;

    // Every master dies (SIGKILL): refused connections.
    for node in &mut cluster.nodes {
        node.kill();
    }
    nodes.follow_the_policy().await;
    let outages = nodes.closed.log.count("redis unavailable");
    assert!(outages >= 2, "{outages} outages logged");

    // Started again on the same ports, from nodes.conf and the append-only file.
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.restart();
        cluster
    })
    .await
    .unwrap();
    nodes.recover("after the restart").await;

    // The nodes' subscriptions came back too: a key made on one works on the others.
    let made = create_key(&nodes.c, &nodes.open, "after-restart").await;
    let value = made["value"].as_str().unwrap().to_owned();
    // Generous: on a loaded machine the cluster's slots settle and the subscriptions back off
    // (up to 2 s a try) for a while after the restart.
    let deadline = Instant::now() + Duration::from_secs(15);
    while status(&nodes.c, &nodes.closed, &value).await != 200 {
        assert!(Instant::now() < deadline, "the key change did not arrive");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status(&nodes.c, &nodes.closed, PARTNER).await, 200);
    drop(cluster);
}
