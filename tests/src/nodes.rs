//! Requests for tests of several gateway nodes on one Redis: the status a key gets, waiting
//! (at most a second) until a change made on one node shows on another, load over several
//! nodes, and a node that refuses to start.

use crate::Gateway;
use std::time::{Duration, Instant};

/// The value of the config's API key `partner`.
pub const PARTNER: &str = "partner-key-0123456789abcdef";

/// The status of `GET /prod/items` on `gw`'s `public` listener with `key` as `x-api-key`.
pub async fn status(c: &reqwest::Client, gw: &Gateway, key: &str) -> u16 {
    let r = c
        .get(format!("{}/prod/items", gw.url("public")))
        .header("x-api-key", key)
        .send()
        .await
        .expect("GET /prod/items");
    r.status().as_u16()
}

/// The status of a `GET url` (with `key` as `x-api-key`, if any; 0 when there is no answer)
/// and how long it took.
pub async fn timed(c: &reqwest::Client, url: &str, key: Option<&str>) -> (u16, Duration) {
    let start = Instant::now();
    let mut req = c.get(url);
    if let Some(key) = key {
        req = req.header("x-api-key", key);
    }
    let status = req.send().await.map_or(0, |r| r.status().as_u16());
    (status, start.elapsed())
}

/// Polls `gw` with `key` until it answers `want`; returns how long that took (panics after 1 s).
pub async fn within_a_second(c: &reqwest::Client, gw: &Gateway, key: &str, want: u16) -> Duration {
    let start = Instant::now();
    loop {
        let got = status(c, gw, key).await;
        if got == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "still {got}, not {want}, a second after the change"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A config for one node of several on the Redis at `url`: the API `app`, stage `prod`, with
/// `GET /items` (API key required), `/signed` (AWS_IAM) and `/throttled` (1000/s); the usage
/// plan `gold` with a daily quota of `quota` and the key `partner` ([`PARTNER`]) in it; quota
/// checks fail as `on_unavailable` says when Redis does not answer.
pub fn config(url: &str, quota: u64, on_unavailable: &str) -> String {
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
  timeout: 300ms
  on_unavailable: {on_unavailable}
usage_plans:
  gold:
    stages: [app/prod]
    quota: {{ limit: {quota}, period: DAY }}
api_keys:
  partner: {{ value: {PARTNER}, plans: [gold] }}
apis:
  - name: app
    stages: {{ prod: {{}} }}
    resources:
      /items:
        GET:
          api_key_required: true
          integration: {{ type: mock, body: items }}
      /signed:
        GET:
          authorization_type: AWS_IAM
          integration: {{ type: mock, body: signed }}
      /throttled:
        GET:
          throttle: {{ rate: 1000, burst: 1000 }}
          integration: {{ type: mock, body: throttled }}
"#,
    )
}

/// Sends `n` requests of the key `partner` ([`PARTNER`]) to `GET /prod/items` of each gateway,
/// 4 at a time per gateway; returns the statuses (0 for a request that got no answer).
pub async fn load(c: &reqwest::Client, gws: &[&Gateway], n: usize) -> Vec<u16> {
    let mut tasks = Vec::new();
    for gw in gws {
        let url = format!("{}/prod/items", gw.url("public"));
        for _ in 0..4 {
            let (c, url) = (c.clone(), url.clone());
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::new();
                for _ in 0..n / 4 {
                    let r = c.get(&url).header("x-api-key", PARTNER).send().await;
                    out.push(r.map_or(0, |r| r.status().as_u16()));
                }
                out
            }));
        }
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("a load task"));
    }
    all
}

/// How many of `statuses` are `want`.
pub fn count(statuses: &[u16], want: u16) -> usize {
    statuses.iter().filter(|s| **s == want).count()
}

/// Runs `gatehouse serve` on `yaml` with `env`, expecting it to refuse to start; returns what
/// it wrote to stderr.
pub fn refused_start(yaml: &str, env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("gatehouse.yaml"), yaml).expect("write the config");
    let out = std::process::Command::new(crate::gatehouse_bin())
        .args(["serve", "-c", "gatehouse.yaml"])
        .current_dir(dir.path())
        .envs(env.iter().copied())
        .output()
        .expect("run gatehouse serve");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "it started: {err}");
    err
}

/// Makes the API key `name` in the plan `gold` through `gw`'s admin API (201); returns what
/// the API answered (`id`, `value`, ...).
pub async fn create_key(c: &reqwest::Client, gw: &Gateway, name: &str) -> serde_json::Value {
    let body = serde_json::json!({"name": name, "plans": ["gold"]});
    let url = format!("{}/apikeys", gw.admin_url());
    let r = c.post(url).json(&body).send().await.expect("POST /apikeys");
    assert_eq!(r.status(), 201, "POST /apikeys");
    crate::json(r).await
}
