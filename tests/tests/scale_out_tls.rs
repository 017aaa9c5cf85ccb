//! Gateway nodes on a Redis that speaks only TLS (`rediss://`), trusting a test CA through
//! `state.tls_ca_file`: a key made on one node works on the other and a quota is exact over
//! both; the Redis password never reaches a log; a gateway that does not trust the server's
//! certificate refuses to start and says why. Each test starts its own redis-server.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::nodes::{status, within_a_second, PARTNER};
use gatehouse_e2e::redis::RedisServer;
use gatehouse_e2e::tls::TestCa;
use gatehouse_e2e::{http1_client, json, Gateway};
use std::path::Path;

const PASSWORD: &str = "tls-s3cret-pass";

/// The nodes' config (a quota of 30 a day) with TLS settings and the password from
/// `TEST_REDIS_PASSWORD`.
fn config(redis: &RedisServer, ca_file: &Path, on_unavailable: &str) -> String {
    let yaml = gatehouse_e2e::nodes::config(&redis.url(), 30, on_unavailable);
    let tls = format!(
        "  tls_ca_file: \"{}\"\n  password_env: TEST_REDIS_PASSWORD\n  timeout: 300ms",
        ca_file.display()
    );
    let yaml = yaml.replace("  timeout: 300ms", &tls);
    assert!(yaml.contains("tls_ca_file"), "{yaml}");
    yaml
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_keys_and_quotas_over_tls_and_never_log_the_password() {
    let ca = TestCa::with_server_cert("Gatehouse Redis test CA");
    let redis = RedisServer::start_tls(&ca, &["--requirepass", PASSWORD]);
    let ca_file = redis.dir.path().join("ca.pem");
    let yaml = config(&redis, &ca_file, "fail_closed");
    assert!(yaml.contains("rediss://"), "{yaml}");
    let env = [("TEST_REDIS_PASSWORD", PASSWORD)];
    let (a, b) = (
        Gateway::start_env(&yaml, &env),
        Gateway::start_env(&yaml, &env),
    );
    let c = http1_client();

    // A key made through A's admin API works on B within a second.
    let r = c
        .post(format!("{}/apikeys", a.admin_url()))
        .json(&serde_json::json!({"name": "made-on-a", "plans": ["gold"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let value = json(r).await["value"].as_str().unwrap().to_owned();
    within_a_second(&c, &b, &value, 200).await;

    // The config's key has a quota of 30 a day, counted once over both nodes: of 20 requests
    // to each, exactly 30 are admitted.
    let (mut admitted, mut refused) = (0, 0);
    for _ in 0..20 {
        for gw in [&a, &b] {
            match status(&c, gw, PARTNER).await {
                200 => admitted += 1,
                429 => refused += 1,
                other => panic!("unexpected {other}"),
            }
        }
    }
    assert_eq!((admitted, refused), (30, 10));

    for gw in [&a, &b] {
        let log = gw.log.all().join("\n");
        assert!(
            !log.contains(PASSWORD),
            "the password shows in a log:\n{log}"
        );
    }
}

/// A gateway that trusts another CA than the one that signed Redis's certificate cannot
/// connect, and, as with any Redis that does not answer at start, refuses to start (whatever
/// `on_unavailable` says), naming the certificate problem and not the password.
#[test]
fn a_gateway_trusting_another_ca_refuses_to_start_and_says_why() {
    let ca = TestCa::with_server_cert("Gatehouse Redis test CA");
    let redis = RedisServer::start_tls(&ca, &["--requirepass", PASSWORD]);
    let dir = tempfile::tempdir().unwrap();
    let other = TestCa::with_server_cert("Another CA");
    std::fs::write(dir.path().join("other-ca.pem"), &other.ca_pem).unwrap();
    let yaml = config(&redis, Path::new("other-ca.pem"), "fail_open");
    std::fs::write(dir.path().join("gatehouse.yaml"), &yaml).unwrap();
    let out = std::process::Command::new(gatehouse_e2e::gatehouse_bin())
        .args(["serve", "-c", "gatehouse.yaml"])
        .current_dir(dir.path())
        .env("TEST_REDIS_PASSWORD", PASSWORD)
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started with the wrong CA: {err}");
    assert!(err.contains("cannot connect to rediss://"), "{err}");
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert!(!err.contains(PASSWORD), "the password shows: {err}");
}
