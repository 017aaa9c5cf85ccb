//! The gateway's metrics as an operator sees them: a real Prometheus server (Debian's
//! `prometheus` package, installed by `scripts/setup.sh`) scrapes the admin listener every
//! second with the admin token, a scripted workload runs against a REST API (mock, HTTP
//! backend, a backend answering 404, an unreachable backend, a cached method, a throttled
//! method, an unknown path) and a WebSocket API, and every listed metric is read back through
//! Prometheus's query API. The Grafana dashboard in `examples/grafana/` is checked against
//! the same server: every metric its queries use is one the gateway exports, and every query
//! runs.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::ws::WsClient;
use gatehouse_e2e::{free_port, http1_client, repo_root, Backend, Gateway, BASE};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "metrics-s3cret";
const WAIT: Duration = Duration::from_secs(5);
const PROMETHEUS: &str = "/usr/bin/prometheus";

/// A `prometheus` process on a loopback port, killed when dropped.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts Prometheus scraping `target`'s `/metrics` every second with the admin token, and
    /// waits (bounded) until it is ready. Another process may take the port first: then it
    /// exits and is started again on another one.
    async fn start(target: &str) -> Prometheus {
        assert!(
            Path::new(PROMETHEUS).exists(),
            "{PROMETHEUS} is missing: run scripts/setup.sh (it installs Debian's prometheus)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: gatehouse\n    metrics_path: /metrics\n    \
                 authorization: {{ type: Bearer, credentials: {TOKEN} }}\n    \
                 static_configs:\n      - targets: [\"{target}\"]\n"
            ),
        )
        .expect("write prometheus.yml");
        let http = http1_client();
        for _attempt in 0..3 {
            let port = free_port();
            let mut child = Command::new(PROMETHEUS)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {PROMETHEUS}: {e}"));
            let url = format!("http://127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut exited = false;
            while Instant::now() < deadline {
                if child.try_wait().ok().flatten().is_some() {
                    exited = true;
                    break;
                }
                let ready = http.get(format!("{url}/-/ready")).send().await;
                if ready.is_ok_and(|r| r.status() == 200) {
                    return Prometheus {
                        child,
                        url,
                        _dir: dir,
                    };
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(
                exited,
                "prometheus on port {port} was not ready within 30 s"
            );
        }
        panic!("prometheus exited at start three times (ports taken?)");
    }

    /// Runs an instant query; the whole answer (`status`, `data`, ...).
    async fn query(&self, promql: &str) -> Value {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/v1/query", self.url),
            &[("query", promql)],
        )
        .unwrap();
        let resp = http1_client().get(url).send().await.unwrap();
        gatehouse_e2e::json(resp).await
    }

    /// The value of the single series `promql` selects, if Prometheus has it.
    async fn value(&self, promql: &str) -> Option<f64> {
        let answer = self.query(promql).await;
        let result = answer["data"]["result"].as_array()?;
        match result.as_slice() {
            [one] => one["value"][1].as_str()?.parse().ok(),
            _ => None,
        }
    }
}

/// An address nothing listens on (connections are refused).
fn dead_address() -> String {
    format!("127.0.0.1:{}", free_port())
}

fn config(backend: &Backend, dead: &str) -> String {
    format!(
        r#"{BASE}
admin:
  address: 127.0.0.1:0
  token: {TOKEN}
apis:
  - name: shop
    stages:
      prod:
        cache: {{ ttl: 300s }}  # every GET but those that turn it off
    resources:
      /hello:
        GET:
          cache: {{ enabled: false }}
          integration: {{ type: mock, status: 200, body: hi }}
      /missing:
        GET:
          cache: {{ enabled: false }}
          integration: {{ type: http_proxy, uri: "http://{b}/status/404" }}
      /broken:
        GET:
          cache: {{ enabled: false }}
          integration: {{ type: http_proxy, uri: "http://{dead}/" }}
      /cached:
        GET: {{ integration: {{ type: http_proxy, uri: "http://{b}/cached" }} }}
      /limited:
        GET:
          cache: {{ enabled: false }}
          throttle: {{ rate: 0.001, burst: 2 }}
          integration: {{ type: mock, status: 200, body: ok }}
  - name: chat
    protocol: websocket
    stages: {{ live: {{}} }}
    routes:
      $connect:
        integration: {{ type: http, uri: "http://{b}/events/quiet" }}
      echo:
        integration: {{ type: http, uri: "http://{b}/events/reply" }}
      ping:
        integration: {{ type: mock, body: pong }}
      broken:
        integration: {{ type: http, uri: "http://{b}/events/status/500" }}
      down:
        integration: {{ type: http, uri: "http://{dead}/" }}
"#,
        b = backend.addr
    )
}

/// The scripted workload; the expected values are in [`expected`]. Gives back the connection
/// it leaves open.
async fn workload(gw: &Gateway, backend: &Backend) -> WsClient {
    let c = http1_client();
    let base = gw.url("public");
    let get = |path: &str| {
        let req = c.get(format!("{base}{path}"));
        async move { req.send().await.unwrap() }
    };
    for _ in 0..7 {
        assert_eq!(get("/prod/hello").await.status(), 200);
    }
    for _ in 0..3 {
        assert_eq!(get("/prod/nowhere").await.status(), 403, "unknown path");
    }
    for _ in 0..4 {
        assert_eq!(get("/prod/missing").await.status(), 404);
    }
    for _ in 0..2 {
        assert_eq!(get("/prod/broken").await.status(), 502);
    }
    let mut cache = Vec::new();
    for _ in 0..5 {
        cache.push(get("/prod/cached").await.headers()["x-cache"].clone());
    }
    assert_eq!(cache, ["MISS", "HIT", "HIT", "HIT", "HIT"]);
    let mut limited = Vec::new();
    for _ in 0..5 {
        limited.push(get("/prod/limited").await.status().as_u16());
    }
    assert_eq!(limited, [200, 200, 429, 429, 429]);

    // A plain request to the WebSocket stage (426) is $connect's ClientError, and no REST
    // request; then two connections, seven messages from the client, five answers, one push.
    assert_eq!(get("/live").await.status(), 426);
    let url = format!("ws://{}/live", gw.addr("public"));
    let mut first = WsClient::connect(&url).await;
    for i in 0..3 {
        let msg = format!(r#"{{"action":"echo","n":{i}}}"#);
        first.send_text(&msg).await;
        assert_eq!(first.recv_text(WAIT).await, msg);
    }
    let mut second = WsClient::connect(&url).await;
    second.send_text(r#"{"action":"ping"}"#).await;
    assert_eq!(second.recv_text(WAIT).await, "pong");
    for action in ["broken", "down"] {
        second
            .send_text(&format!(r#"{{"action":"{action}"}}"#))
            .await;
        assert!(second
            .recv_text(WAIT)
            .await
            .contains("Internal server error"));
    }
    second.send_text("no route takes this").await;
    assert!(second.recv_text(WAIT).await.contains("Forbidden"));
    let connect = backend
        .wait_event(WAIT, |e| e["requestContext"]["eventType"] == "CONNECT")
        .await
        .expect("a $connect event reached the backend");
    let id = connect["requestContext"]["connectionId"].as_str().unwrap();
    let push = c
        .post(format!("{}/@connections/{id}", gw.admin_url()))
        .bearer_auth(TOKEN)
        .body("pushed")
        .send()
        .await
        .unwrap();
    assert_eq!(push.status(), 200);
    assert_eq!(
        first.recv_text(WAIT).await,
        "pushed",
        "the first connection's id"
    );

    // The first connection closes; the second stays open while the caller holds it.
    first.ws.close(None).await.unwrap();
    first.ended(WAIT).await;
    second
}

/// Each listed metric's series (as a PromQL selector) and its value after [`workload`].
fn expected() -> Vec<(String, f64)> {
    let rest = |metric: &str, resource: &str, v: f64| {
        (
            format!(
                r#"gatehouse_{metric}{{api="shop",stage="prod",resource="{resource}",method="GET"}}"#
            ),
            v,
        )
    };
    let ws = |metric: &str, route: &str, v: f64| {
        (
            format!(r#"gatehouse_websocket_{metric}{{api="chat",stage="live",route="{route}"}}"#),
            v,
        )
    };
    let none = |metric: &str, v: f64| {
        (
            format!(r#"gatehouse_{metric}{{api="-",stage="-",resource="-",method="-"}}"#),
            v,
        )
    };
    vec![
        rest("Count", "/hello", 7.0),
        rest("4XXError", "/hello", 0.0),
        rest("5XXError", "/hello", 0.0),
        rest("Latency_count", "/hello", 7.0),
        rest("IntegrationLatency_count", "/hello", 0.0),
        none("Count", 3.0),
        none("4XXError", 3.0),
        rest("Count", "/missing", 4.0),
        rest("4XXError", "/missing", 4.0),
        rest("IntegrationLatency_count", "/missing", 4.0),
        rest("Count", "/broken", 2.0),
        rest("5XXError", "/broken", 2.0),
        rest("4XXError", "/broken", 0.0),
        rest("IntegrationLatency_count", "/broken", 2.0),
        rest("Latency_count", "/broken", 2.0),
        rest("Count", "/cached", 5.0),
        rest("CacheMissCount", "/cached", 1.0),
        rest("CacheHitCount", "/cached", 4.0),
        rest("IntegrationLatency_count", "/cached", 1.0),
        rest("CacheHitCount", "/hello", 0.0),
        rest("CacheMissCount", "/hello", 0.0),
        rest("Count", "/limited", 5.0),
        rest("ThrottledCount", "/limited", 3.0),
        rest("4XXError", "/limited", 3.0),
        ws("ConnectCount", "$connect", 2.0),
        ws("IntegrationLatency_count", "$connect", 2.0),
        ws("MessageCount", "echo", 6.0),
        ws("IntegrationLatency_count", "echo", 3.0),
        ws("MessageCount", "ping", 2.0),
        ws("IntegrationLatency_count", "ping", 0.0),
        ws("MessageCount", "broken", 2.0),
        ws("IntegrationError", "broken", 1.0),
        ws("ExecutionError", "broken", 0.0),
        ws("MessageCount", "down", 2.0),
        ws("ExecutionError", "down", 1.0),
        ws("IntegrationError", "down", 0.0),
        ws("MessageCount", "$default", 2.0),
        ws("ClientError", "$default", 1.0),
        ws("ClientError", "$connect", 1.0),
        ws("MessageCount", "@connections", 1.0),
        (
            r#"gatehouse_websocket_OpenConnections{api="chat",stage="live"}"#.to_owned(),
            1.0,
        ),
    ]
}

/// The gateway's `/metrics`, read with the admin token.
async fn scrape(gw: &Gateway) -> String {
    let resp = http1_client()
        .get(format!("{}/metrics", gw.admin_url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

/// The metric names in an exposition (`_bucket`, `_sum`, `_count` series included).
fn exported_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// The `gatehouse_...` metric names a PromQL expression reads.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("gatehouse_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.push(name);
    }
    names
}

/// Every `expr` of every panel (rows' nested panels included).
fn panel_queries(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(panels: &Value, out: &mut Vec<(String, String)>) {
        for panel in panels.as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or("?").to_owned();
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    out.push((title.clone(), expr.to_owned()));
                }
            }
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// The dashboard's Grafana variables replaced as Grafana would for "All" and a 1 s scrape.
fn as_grafana_sends(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "5s")
        .replace("$__range", "5m")
        .replace("${api:regex}", ".*")
        .replace("${stage:regex}", ".*")
        .replace("$api", ".*")
        .replace("$stage", ".*")
}

fn dashboard() -> Value {
    let path = repo_root().join("examples/grafana/gatehouse-dashboard.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_every_listed_metric_with_the_workloads_values() {
    let backend = Backend::start("metrics").await;
    let dead = dead_address();
    let gw = Gateway::start(&config(&backend, &dead));
    let admin = gw.admin_url();
    let prometheus = Prometheus::start(admin.trim_start_matches("http://")).await;

    let _open = workload(&gw, &backend).await;

    // Prometheus's latest samples equal the gateway's counts once it has scraped after the
    // workload; each scrape is a second apart.
    let want = expected();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut wrong = Vec::new();
    loop {
        wrong.clear();
        for (series, value) in &want {
            let got = prometheus.value(series).await;
            if got != Some(*value) {
                wrong.push(format!("{series}: want {value}, Prometheus has {got:?}"));
            }
        }
        if wrong.is_empty() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        wrong.is_empty(),
        "after 60 s:\n{}\nthe gateway's /metrics:\n{}",
        wrong.join("\n"),
        scrape(&gw).await
    );
    let up = prometheus.value(r#"up{job="gatehouse"}"#).await;
    assert_eq!(up, Some(1.0), "the scrape with the admin token succeeds");

    // The Grafana dashboard reads only metrics the gateway exports, and every panel's query
    // runs on this server (with Grafana's variables as it sends them for "All").
    let exported = exported_names(&scrape(&gw).await);
    let dashboard = dashboard();
    let queries = panel_queries(&dashboard);
    assert!(
        queries.len() >= 8,
        "{} queries in the dashboard",
        queries.len()
    );
    for (title, expr) in &queries {
        let names = metric_names(expr);
        assert!(
            !names.is_empty(),
            "panel {title:?} reads no gatehouse metric: {expr}"
        );
        for name in names {
            assert!(
                exported.contains(&name),
                "panel {title:?} reads {name}, which the gateway does not export: {expr}"
            );
        }
        let answer = prometheus.query(&as_grafana_sends(expr)).await;
        assert_eq!(
            answer["status"], "success",
            "panel {title:?}: {expr} -> {answer}"
        );
    }
}

/// Without a server: the dashboard is Grafana's JSON model with the datasource and the
/// variables the panels use, and its queries name only `gatehouse_` metrics the gateway's
/// families define (the e2e test above checks them against a live `/metrics`).
#[test]
fn dashboard_declares_its_datasource_and_variables() {
    let d = dashboard();
    assert!(d["schemaVersion"].as_u64().unwrap() >= 36);
    assert!(d["uid"].as_str().is_some_and(|u| !u.is_empty()));
    let inputs = d["__inputs"].as_array().expect("__inputs for import");
    assert!(inputs
        .iter()
        .any(|i| i["name"] == "DS_PROMETHEUS" && i["pluginId"] == "prometheus"));
    let vars: Vec<&str> = d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    for v in ["api", "stage"] {
        assert!(vars.contains(&v), "no variable {v}: {vars:?}");
    }
    for (title, expr) in panel_queries(&d) {
        assert!(
            expr.contains("api=~\"$api\"") || expr.contains("api=~\"${api:regex}\""),
            "panel {title:?} ignores the api variable: {expr}"
        );
    }
}
