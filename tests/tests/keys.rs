//! API keys, usage plans and quotas through the real binary: key checks with API Gateway's
//! answers, per-key throttle, quota across a graceful restart and across SIGKILL, and the key
//! lifecycle through the admin API and the `gatehouse keys` CLI.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::gateway::run_cli;
use gatehouse_e2e::{http1_client, json, Gateway};
use std::path::Path;
use std::time::Duration;

const PARTNER: &str = "partner-key-0123456789abcdef";
const TIGHT: &str = "tight-key-0123456789abcdef";

fn config(quota: u64) -> String {
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
  data_dir: state
  flush_interval: 200ms
usage_plans:
  gold:
    stages: [app/prod]
    quota: {{ limit: {quota}, period: DAY }}
  tight:
    stages: [app/prod]
    throttle: {{ rate: 0.5, burst: 2 }}
  elsewhere:
    stages: [app/beta]
api_keys:
  partner: {{ value: {PARTNER}, plans: [gold] }}
  tight: {{ value: {TIGHT}, plans: [tight] }}
  wrong-stage: {{ value: wrong-stage-key-0123456789, plans: [elsewhere] }}
  off: {{ value: disabled-key-0123456789ab, plans: [gold], enabled: false }}
apis:
  - name: app
    stages: {{ prod: {{}}, beta: {{}} }}
    resources:
      /items:
        GET:
          api_key_required: true
          integration: {{ type: mock, body: items }}
      /open:
        GET:
          integration: {{ type: mock, body: open }}
"#
    )
}

async fn get(c: &reqwest::Client, url: &str, key: Option<&str>) -> (u16, serde_json::Value) {
    let mut req = c.get(url);
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_plans_throttle_and_quota_follow_api_gateway() {
    let gw = Gateway::start(&config(3));
    let c = http1_client();
    let url = format!("{}/prod/items", gw.url("public"));
    let forbidden = serde_json::json!({"message": "Forbidden"});

    assert_eq!(get(&c, &url, None).await, (403, forbidden.clone()));
    assert_eq!(
        get(&c, &url, Some("no-such-key-0123456789")).await,
        (403, forbidden.clone())
    );
    assert_eq!(
        get(&c, &url, Some("disabled-key-0123456789ab")).await,
        (403, forbidden.clone())
    );
    assert_eq!(
        get(&c, &url, Some("wrong-stage-key-0123456789")).await,
        (403, forbidden.clone()),
        "a key of no plan for this stage"
    );
    // A method without api_key_required needs none.
    let (status, _) = get(&c, &format!("{}/prod/open", gw.url("public")), None).await;
    assert_eq!(status, 200);

    // Quota of 3 a day.
    for _ in 0..3 {
        assert_eq!(get(&c, &url, Some(PARTNER)).await.0, 200);
    }
    let (status, body) = get(&c, &url, Some(PARTNER)).await;
    assert_eq!(
        (status, body),
        (429, serde_json::json!({"message": "Limit Exceeded"}))
    );

    // Per-key throttle: burst 2, then 429 Too Many Requests with Retry-After.
    assert_eq!(get(&c, &url, Some(TIGHT)).await.0, 200);
    assert_eq!(get(&c, &url, Some(TIGHT)).await.0, 200);
    let r = c.get(&url).header("x-api-key", TIGHT).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(json(r).await["message"], "Too Many Requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_survives_restart_and_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gatehouse.yaml"), config(6)).unwrap();
    let keep = dir.path().to_path_buf();
    let c = http1_client();

    // 2 requests, then a graceful stop: counts are flushed at shutdown.
    let mut gw = Gateway::serve(dir, keep.join("gatehouse.yaml"));
    let url = format!("{}/prod/items", gw.url("public"));
    for _ in 0..2 {
        assert_eq!(get(&c, &url, Some(PARTNER)).await.0, 200);
    }
    gw.signal(libc::SIGTERM);
    assert!(gw.wait_exit(Duration::from_secs(15)).success());
    let dir = gw.into_dir();

    // 2 more, a wait longer than the flush interval, then SIGKILL: nothing is lost.
    let mut gw = Gateway::serve(dir, keep.join("gatehouse.yaml"));
    let url = format!("{}/prod/items", gw.url("public"));
    for _ in 0..2 {
        assert_eq!(get(&c, &url, Some(PARTNER)).await.0, 200);
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    gw.signal(libc::SIGKILL);
    gw.wait_exit(Duration::from_secs(5));
    let dir = gw.into_dir();

    // 6 - 4 = 2 left.
    let gw = Gateway::serve(dir, keep.join("gatehouse.yaml"));
    let url = format!("{}/prod/items", gw.url("public"));
    assert_eq!(get(&c, &url, Some(PARTNER)).await.0, 200);
    assert_eq!(get(&c, &url, Some(PARTNER)).await.0, 200);
    assert_eq!(get(&c, &url, Some(PARTNER)).await.0, 429);
}

/// Moves the folder out of a gateway that has exited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_lifecycle_through_admin_api_and_cli() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gatehouse.yaml"), config(1000)).unwrap();
    let keep = dir.path().to_path_buf();

    // CLI while the gateway is stopped.
    let (code, out, err) = cli(&keep, &["create", "--name", "from-cli", "--plan", "gold"]);
    assert_eq!(code, 0, "{err}");
    let cli_value = out
        .lines()
        .find_map(|l| l.strip_prefix("value: "))
        .unwrap()
        .to_string();
    let (code, out, _) = cli(&keep, &["list"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("from-cli") && out.contains("partner  enabled"),
        "{out}"
    );
    assert!(
        !out.contains(&cli_value) && !out.contains(PARTNER),
        "values never listed"
    );
    let (code, _, err) = cli(&keep, &["create", "--name", "x", "--plan", "platinum"]);
    assert_eq!(code, 1);
    assert!(err.contains("no usage plan named `platinum`"), "{err}");

    let gw = Gateway::serve(dir, keep.join("gatehouse.yaml"));
    let c = http1_client();
    let url = format!("{}/prod/items", gw.url("public"));
    let admin = gw.admin_url();
    assert_eq!(get(&c, &url, Some(&cli_value)).await.0, 200);

    // The CLI refuses to touch the store of a running gateway.
    let (code, _, err) = cli(&keep, &["list"]);
    assert_eq!(code, 1);
    assert!(err.contains("in use by another process"), "{err}");

    // Admin API: create, use, disable, enable, delete.
    let r = c
        .post(format!("{admin}/apikeys"))
        .json(&serde_json::json!({"name": "from-admin", "plans": ["gold"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let made = json(r).await;
    let (id, value) = (
        made["id"].as_str().unwrap().to_string(),
        made["value"].as_str().unwrap().to_string(),
    );
    assert_eq!(get(&c, &url, Some(&value)).await.0, 200);
    let list = json(c.get(format!("{admin}/apikeys")).send().await.unwrap()).await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"from-admin") && names.contains(&"from-cli"),
        "{names:?}"
    );
    assert!(!list.to_string().contains(&value));

    let patch = |enabled: bool| {
        c.patch(format!("{admin}/apikeys/{id}"))
            .json(&serde_json::json!({ "enabled": enabled }))
            .send()
    };
    assert_eq!(patch(false).await.unwrap().status(), 200);
    assert_eq!(get(&c, &url, Some(&value)).await.0, 403);
    assert_eq!(patch(true).await.unwrap().status(), 200);
    assert_eq!(get(&c, &url, Some(&value)).await.0, 200);
    let r = c
        .delete(format!("{admin}/apikeys/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(get(&c, &url, Some(&value)).await.0, 403);
    let r = c
        .delete(format!("{admin}/apikeys/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = c
        .post(format!("{admin}/apikeys"))
        .json(&serde_json::json!({"name": "bad", "value": "short"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

fn cli(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["keys", "--config", "gatehouse.yaml"];
    all.extend_from_slice(args);
    run_cli(dir, &all)
}
