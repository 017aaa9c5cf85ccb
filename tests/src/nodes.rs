//! Requests for tests of several gateway nodes on one Redis: the status a key gets, and
//! waiting (at most a second) until a change made on one node shows on another.

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
