//! Gateway nodes on a Redis watched by Sentinel (`state.sentinel`): a master, a replica and
//! three sentinels, each a real `redis-server` on loopback, with passwords for the data nodes
//! (`password_env`) and for the sentinels (`sentinel.password_env`). Keys and quotas are shared
//! through the master the sentinels name; when that master is killed, requests follow
//! `on_unavailable` without hanging until the sentinels promote the replica, and then the
//! nodes use the new master by themselves (their subscriptions too).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::nodes::{
    count, create_key, load, refused_start, status, timed, within_a_second, PARTNER,
};
use gatehouse_e2e::redis::RedisSentinel;
use gatehouse_e2e::{http1_client, Gateway};
use std::time::{Duration, Instant};

/// A node's config (see `gatehouse_e2e::nodes::config`) on `redis`'s sentinels.
fn config(redis: &RedisSentinel, quota: u64, on_unavailable: &str) -> String {
    let yaml = gatehouse_e2e::nodes::config("SENTINEL", quota, on_unavailable);
    let fields = format!(
        "  sentinel:\n    master_name: {}\n    urls: {}\n    password_env: TEST_SENTINEL_PASSWORD\n  password_env: TEST_REDIS_PASSWORD\n",
        gatehouse_e2e::redis::sentinel::MASTER_NAME,
        redis.urls()
    );
    let replaced = yaml.replace("  url: \"SENTINEL\"\n", &fields);
    assert_ne!(replaced, yaml);
    replaced
}

fn start(yaml: &str) -> Gateway {
    Gateway::start_env(yaml, &RedisSentinel::env())
}

/// A key made through node A's admin API works on node B within a second (the change goes
/// through the master's pub/sub), and a quota of 50 over both nodes admits exactly 50.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_quotas_are_shared_through_the_master_the_sentinels_name() {
    let redis = RedisSentinel::start();
    let yaml = config(&redis, 50, "fail_closed");
    let (a, b) = (start(&yaml), start(&yaml));
    let c = http1_client();
    let made = create_key(&c, &a, "made-on-a").await;
    let value = made["value"].as_str().unwrap().to_owned();
    within_a_second(&c, &b, &value, 200).await;
    let id = made["id"].as_str().unwrap();
    let r = c
        .patch(format!("{}/apikeys/{id}", b.admin_url()))
        .json(&serde_json::json!({ "enabled": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    within_a_second(&c, &a, &value, 403).await;
    // The keys live on the master (and its replica), not on the sentinels.
    let hash = redis.data(&redis.master, &["HLEN", "gatehouse:keys"]);
    assert_eq!(hash.as_deref(), Some("2"), "partner and made-on-a");

    let statuses = load(&c, &[&a, &b], 40).await;
    assert_eq!(count(&statuses, 200), 50, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 30, "{statuses:?}");
}

/// What a stream of requests to one URL got: each status and how long it took.
type Answers = Vec<(u16, Duration)>;

/// Sends a request to `url` every 20 ms until `stop` says so; returns what each got.
fn trickle(
    c: &reqwest::Client,
    url: String,
    key: Option<&'static str>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Answers> {
    let c = c.clone();
    tokio::spawn(async move {
        let mut out = Vec::new();
        let give_up = Instant::now() + Duration::from_secs(90);
        while !*stop.borrow() && Instant::now() < give_up {
            out.push(timed(&c, &url, key).await);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        out
    })
}

/// The master is killed (SIGKILL: its connections close) while three nodes take a steady
/// trickle of requests: see [`failover`].
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_after_the_master_died_is_followed() {
    failover(libc::SIGKILL).await;
}

/// The master hangs (SIGSTOP: its connections stay open, calls run out of time) while three
/// nodes take a steady trickle of requests: see [`failover`]. The nodes find the new master
/// by asking the sentinels after calls ran out of time, and their subscriptions move with
/// the connection, while the old master still hangs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_after_the_master_hung_is_followed() {
    failover(libc::SIGSTOP).await;
}

/// The master gets `signal` while three nodes take a steady trickle of requests: until the
/// sentinels promote the replica, a fail_closed node answers quota checks with 503, a
/// fail_open one admits, a node whose throttles fail closed answers 429, and no request
/// waits past the 300 ms timeout by much; after the promotion every node serves again
/// without a restart, counts the quota on the new master, and follows key changes there.
async fn failover(signal: i32) {
    let redis = RedisSentinel::start();
    let closed = start(&config(&redis, 100_000, "fail_closed"));
    let open = start(&config(&redis, 100_000, "fail_open"));
    let strict = start(&config(
        &redis,
        100_000,
        "{ quotas: fail_open, throttles: fail_closed }",
    ));
    let c = http1_client();
    assert_eq!(status(&c, &closed, PARTNER).await, 200);
    assert_eq!(status(&c, &open, PARTNER).await, 200);
    let items = |gw: &Gateway| format!("{}/prod/items", gw.url("public"));
    let throttled = format!("{}/prod/throttled", strict.url("public"));
    assert_eq!(timed(&c, &throttled, None).await.0, 200);

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let on_closed = trickle(&c, items(&closed), Some(PARTNER), stopped.clone());
    let on_open = trickle(&c, items(&open), Some(PARTNER), stopped.clone());
    let on_strict = trickle(&c, throttled.clone(), None, stopped);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut redis = redis;
    match signal {
        libc::SIGKILL => redis.master.kill(),
        other => redis.master.signal(other),
    }
    let killed = Instant::now();
    let wait = tokio::task::spawn_blocking(move || {
        redis.wait_for_failover(Duration::from_secs(40));
        redis
    });
    let redis = wait.await.unwrap();
    let promoted = killed.elapsed();

    // Every node serves again by itself.
    let deadline = Instant::now() + Duration::from_secs(15);
    while status(&c, &closed, PARTNER).await != 200 || timed(&c, &throttled, None).await.0 != 200 {
        assert!(Instant::now() < deadline, "no recovery after the failover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered = killed.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.send(true).unwrap();
    let (closed_got, open_got, strict_got) = (
        on_closed.await.unwrap(),
        on_open.await.unwrap(),
        on_strict.await.unwrap(),
    );
    eprintln!(
        "promoted after {promoted:?}, served again after {recovered:?}; answers: closed {}, open {}, strict {}",
        closed_got.len(),
        open_got.len(),
        strict_got.len()
    );

    // The outage lasted over a second (the sentinels wait that long), so each stream met it.
    let slowest = |got: &Answers| got.iter().map(|(_, t)| *t).max().unwrap();
    for (name, got, allowed, outage) in [
        ("fail_closed", &closed_got, [200, 503], 503),
        ("fail_open", &open_got, [200, 200], 0),
        ("throttles fail_closed", &strict_got, [200, 429], 429),
    ] {
        let wrong: Vec<_> = got.iter().filter(|(s, _)| !allowed.contains(s)).collect();
        assert!(wrong.is_empty(), "{name}: {wrong:?}");
        assert!(
            slowest(got) < Duration::from_secs(2),
            "{name}: a request waited {:?}",
            slowest(got)
        );
        if outage != 0 {
            assert!(
                got.iter().any(|(s, _)| *s == outage),
                "{name}: never {outage}"
            );
        }
        assert_eq!(got.last().unwrap().0, 200, "{name} serves again");
    }

    // The quota counts on the new master: each admitted request adds one there.
    let new_master = &redis.replica;
    let counters = redis
        .data(new_master, &["KEYS", "gatehouse:quota:*:gold"])
        .unwrap();
    let counter = counters.lines().next().unwrap().to_owned();
    let read = || -> u64 {
        let n = redis.data(new_master, &["GET", &counter]).unwrap();
        n.parse().unwrap()
    };
    let before = read();
    for _ in 0..5 {
        assert_eq!(status(&c, &closed, PARTNER).await, 200);
    }
    assert_eq!(read(), before + 5, "counted on {counter}");

    // The nodes' key-change subscriptions moved to the new master too.
    let made = create_key(&c, &open, "after-failover").await;
    let value = made["value"].as_str().unwrap().to_owned();
    within_a_second(&c, &closed, &value, 200).await;
    within_a_second(&c, &strict, &value, 200).await;
    closed
        .log
        .wait_for("connected to the master", Duration::from_secs(1));
}

/// A gateway refuses to start when the sentinels know no master by the configured name, or
/// when they do not take its password, and says which; the password does not show.
#[test]
fn a_gateway_refuses_an_unknown_master_or_a_wrong_sentinel_password() {
    let redis = RedisSentinel::start();
    let yaml = config(&redis, 1000, "fail_closed");
    let unknown = yaml.replace(
        gatehouse_e2e::redis::sentinel::MASTER_NAME,
        "no-such-master",
    );
    let err = refused_start(&unknown, &RedisSentinel::env());
    assert!(err.contains("no master `no-such-master`"), "{err}");
    let env = [
        (
            "TEST_REDIS_PASSWORD",
            gatehouse_e2e::redis::sentinel::DATA_PASSWORD,
        ),
        ("TEST_SENTINEL_PASSWORD", "wrong-sentinel-pass"),
    ];
    let err = refused_start(&yaml, &env);
    assert!(err.contains("no master `gh-main`"), "{err}");
    assert!(!err.contains("wrong-sentinel-pass"), "{err}");
}

/// Sentinels and data nodes that speak TLS (`rediss://` sentinel URLs, the test CA trusted
/// through `tls_ca_file`): keys are shared through the master the sentinels name, and after
/// the master is killed the nodes follow the sentinels to the promoted replica, over TLS too,
/// and count there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_sentinels_name_the_master_and_a_failover_is_followed() {
    let ca = gatehouse_e2e::tls::TestCa::with_server_cert("Gatehouse Sentinel test CA");
    let redis = RedisSentinel::start_tls(&ca);
    let ca_file = redis.ca_file().unwrap();
    let yaml = config(&redis, 100_000, "fail_closed").replace(
        "  password_env: TEST_REDIS_PASSWORD\n",
        &format!(
            "  password_env: TEST_REDIS_PASSWORD\n  tls_ca_file: \"{}\"\n",
            ca_file.display()
        ),
    );
    assert!(
        yaml.contains("rediss://") && yaml.contains("tls_ca_file"),
        "{yaml}"
    );
    let (a, b) = (start(&yaml), start(&yaml));
    let c = http1_client();
    let made = create_key(&c, &a, "made-on-a").await;
    let value = made["value"].as_str().unwrap().to_owned();
    within_a_second(&c, &b, &value, 200).await;
    assert_eq!(status(&c, &a, PARTNER).await, 200);

    let mut redis = redis;
    redis.master.kill();
    let redis = tokio::task::spawn_blocking(move || {
        redis.wait_for_failover(Duration::from_secs(40));
        redis
    })
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while status(&c, &a, PARTNER).await != 200 || status(&c, &b, &value).await != 200 {
        assert!(Instant::now() < deadline, "no recovery after the failover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.log
        .wait_for("connected to the master", Duration::from_secs(1));

    // Each admitted request adds one to the quota counters on the new master (both keys'
    // counters of plan gold, summed).
    let new_master = &redis.replica;
    let read = || -> u64 {
        let counters = redis
            .data(new_master, &["KEYS", "gatehouse:quota:*:gold"])
            .unwrap();
        let counts = counters.lines().map(|counter| {
            let n = redis.data(new_master, &["GET", counter]).unwrap();
            n.parse::<u64>().unwrap()
        });
        counts.sum()
    };
    let before = read();
    for (gw, key) in [(&a, PARTNER), (&b, value.as_str()), (&b, PARTNER)] {
        assert_eq!(status(&c, gw, key).await, 200);
    }
    assert_eq!(read(), before + 3, "counted on the new master");
}

/// ACL users on both sides, each with a password other than the default user's:
/// `sentinel.username` at the sentinels, `sentinel.master_username` at the master. A key made
/// through the admin API works, and the master lists the gateway's connections under its user.
/// Without `sentinel.username` the sentinels take the user's password for the default user's,
/// refuse it, and the gateway does not start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_users_name_the_gateway_to_the_sentinels_and_the_master() {
    use gatehouse_e2e::redis::sentinel::{
        DATA_USER, DATA_USER_PASSWORD, SENTINEL_USER, SENTINEL_USER_PASSWORD,
    };
    let redis = RedisSentinel::start();
    let users = format!(
        "    password_env: TEST_SENTINEL_PASSWORD\n    username: {SENTINEL_USER}\n    master_username: {DATA_USER}\n"
    );
    let yaml = config(&redis, 1000, "fail_closed")
        .replace("    password_env: TEST_SENTINEL_PASSWORD\n", &users);
    let env = [
        ("TEST_REDIS_PASSWORD", DATA_USER_PASSWORD),
        ("TEST_SENTINEL_PASSWORD", SENTINEL_USER_PASSWORD),
    ];
    let a = Gateway::start_env(&yaml, &env);
    let c = http1_client();
    let made = create_key(&c, &a, "made-as-gate").await;
    let value = made["value"].as_str().unwrap().to_owned();
    within_a_second(&c, &a, &value, 200).await;
    let clients = redis.data(&redis.master, &["CLIENT", "LIST"]).unwrap();
    assert!(clients.contains(&format!("user={DATA_USER} ")), "{clients}");

    let no_user = yaml.replace(&format!("    username: {SENTINEL_USER}\n"), "");
    assert_ne!(no_user, yaml);
    let err = refused_start(&no_user, &env);
    assert!(err.contains("no master `gh-main`"), "{err}");
    assert!(!err.contains(SENTINEL_USER_PASSWORD), "{err}");
}
