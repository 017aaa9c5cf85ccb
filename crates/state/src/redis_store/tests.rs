use super::*;

#[test]
fn urls_are_checked_and_passwords_kept_out_of_them_and_of_logs() {
    assert!(RedisConfig::check_url("redis://127.0.0.1:6379/0").is_ok());
    assert!(RedisConfig::check_url("rediss://cache.internal:6380").is_ok());
    assert!(RedisConfig::check_url("redis://gatehouse@127.0.0.1/2").is_ok());
    let e = RedisConfig::check_url("redis://:hunter2@127.0.0.1").unwrap_err();
    assert!(e.contains("password_env"), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
    assert!(RedisConfig::check_url("http://127.0.0.1:6379").is_err());
    assert!(RedisConfig::check_url("not a url").is_err());

    let config = RedisConfig {
        password: Some("hunter2".into()),
        password_env: Some("REDIS_PASSWORD".into()),
        ..RedisConfig::for_tests("redis://127.0.0.1:6379/0")
    };
    let shown = format!("{config:?}");
    assert!(
        shown.contains("REDIS_PASSWORD") && !shown.contains("hunter2"),
        "{shown}"
    );
}

#[test]
fn an_unreachable_server_fails_within_the_timeout() {
    // A port nothing listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("probe port");
    let config = RedisConfig {
        timeout: Duration::from_millis(200),
        ..RedisConfig::for_tests(&format!("redis://127.0.0.1:{port}/0"))
    };
    let start = std::time::Instant::now();
    let e = RedisStore::open(config).unwrap_err();
    assert!(e.0.contains("cannot connect"), "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_cluster_needs_database_0_and_a_prefix_without_hash_tags() {
    assert!(RedisConfig::check_cluster("redis://127.0.0.1:7000", "gatehouse").is_empty());
    assert!(RedisConfig::check_cluster("rediss://node-1:7000/0", "gh").is_empty());
    let wrong = RedisConfig::check_cluster("redis://127.0.0.1:7000/3", "{gh}");
    let fields: Vec<&str> = wrong.iter().map(|(f, _)| *f).collect();
    assert_eq!(fields, ["url", "key_prefix"], "{wrong:?}");
    assert!(wrong[0].1.contains("only database 0"), "{wrong:?}");
}

#[test]
fn on_a_cluster_the_keys_and_their_channel_share_a_hash_tag() {
    let mut config = RedisConfig {
        key_prefix: "gh".into(),
        ..RedisConfig::for_tests("redis://127.0.0.1:7000")
    };
    assert_eq!(
        keys_key(&config, "keys"),
        "gh:keys",
        "unchanged on one server"
    );
    config.cluster = true;
    let names = ["keys", "iam", "keys:changed"].map(|k| keys_key(&config, k));
    assert_eq!(names, ["{gh}:keys", "{gh}:iam", "{gh}:keys:changed"]);
}

#[test]
fn a_cluster_without_a_master_for_a_slot_counts_as_unavailable() {
    use redis::{ErrorKind, ServerErrorKind};
    let down = RedisError::from((ErrorKind::Server(ServerErrorKind::ClusterDown), "down"));
    assert!(unavailable(&down));
    let wrong = RedisError::from((ErrorKind::Server(ServerErrorKind::CrossSlot), "slots"));
    assert!(!unavailable(&wrong), "a wrong command is not an outage");
}
