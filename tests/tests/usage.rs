//! Usage reports (admin `/usage`, `gatehouse usage`): the figures equal the requests sent, per
//! stage and per API key, and survive a restart, against the real binary.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::gateway::run_cli;
use gatehouse_e2e::ws::WsClient;
use gatehouse_e2e::{http1_client, Backend, Gateway};
use serde_json::Value;
use std::time::{Duration, Instant};

const PARTNER: &str = "partner-key-0123456789abcdef";
const OTHER: &str = "other-key-0123456789abcdef01";

fn config(admin_port: u16, backend: &Backend) -> String {
    format!(
        r#"
version: 1
listeners:
  - name: public
    address: 127.0.0.1:0
admin:
  address: 127.0.0.1:{admin_port}
  token: usage-secret
state:
  data_dir: state
  flush_interval: 1h
access_log:
  destination: off
usage_plans:
  gold:
    stages: [shop/prod]
    quota: {{ limit: 50, period: DAY }}
api_keys:
  partner: {{ value: {PARTNER}, plans: [gold] }}
  other: {{ value: {OTHER}, plans: [gold] }}
apis:
  - name: shop
    stages:
      prod:
        cache: {{ ttl: 60s }}
    resources:
      /hello:
        GET:
          api_key_required: true
          cache: {{ enabled: false }}
          integration: {{ type: mock, body: "hello" }}
      /orders:
        POST:
          api_key_required: true
          integration: {{ type: http_proxy, uri: "http://{}/orders" }}
      /catalog:
        GET:
          cache: {{ ttl: 60s }}
          integration: {{ type: mock, body: "catalog" }}
  - name: chat
    protocol: websocket
    stages: {{ live: {{}} }}
    routes:
      $default:
        integration: {{ type: mock, body: "pong" }}
"#,
        backend.addr
    )
}

/// Sends a request, checks its status, and returns its body's length.
async fn send(r: reqwest::RequestBuilder, want: u16) -> u64 {
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), want);
    r.bytes().await.unwrap().len() as u64
}

async fn report(gw: &Gateway, path: &str) -> Value {
    let r = http1_client()
        .get(format!("{}{path}", gw.admin_url()))
        .bearer_auth("usage-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

fn today_of(doc: &Value, api: &str, stage: &str) -> Value {
    doc["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["api"] == api && s["stage"] == stage)
        .unwrap_or_else(|| panic!("no {api}/{stage} in {doc}"))["days"][0]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_reports_equal_the_requests_sent_and_survive_a_restart() {
    let backend = Backend::start("orders").await;
    let (gw, _) = Gateway::start_on_free_port(|port| config(port, &backend));
    let base = format!("{}/prod", gw.url("public"));
    let c = http1_client();
    let mut bytes_out = 0u64;
    for _ in 0..7 {
        bytes_out += send(
            c.get(format!("{base}/hello")).header("x-api-key", PARTNER),
            200,
        )
        .await;
    }
    for _ in 0..3 {
        bytes_out += send(
            c.get(format!("{base}/hello")).header("x-api-key", OTHER),
            200,
        )
        .await;
    }
    let body = "x".repeat(1000);
    bytes_out += send(
        c.post(format!("{base}/orders"))
            .header("x-api-key", PARTNER)
            .body(body),
        200,
    )
    .await;
    // Without a key: refused, counted for the stage, not for any key.
    bytes_out += send(c.get(format!("{base}/hello")), 403).await;
    for _ in 0..3 {
        bytes_out += send(c.get(format!("{base}/catalog")), 200).await;
    }

    // A WebSocket session: three messages, each answered.
    let mut ws = WsClient::connect(&format!("ws://{}/live", gw.addr("public"))).await;
    for _ in 0..3 {
        ws.send_text("ping").await;
        assert_eq!(ws.recv_text(Duration::from_secs(5)).await, "pong");
    }
    drop(ws);

    // The session's minute is counted once the gateway has seen it close.
    let deadline = Instant::now() + Duration::from_secs(10);
    let doc = loop {
        let doc = report(&gw, "/usage").await;
        if today_of(&doc, "chat", "live")["websocket_connection_minutes"] == 1 {
            break doc;
        }
        assert!(Instant::now() < deadline, "no connection minute in {doc}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let shop = today_of(&doc, "shop", "prod");
    assert_eq!(shop["requests"], 15, "{shop}");
    assert_eq!(shop["bytes_in"], 1000);
    assert_eq!(shop["bytes_out"], bytes_out);
    assert_eq!(shop["cache_hits"], 2);
    assert_eq!(shop["cache_misses"], 1);
    let chat = today_of(&doc, "chat", "live");
    assert_eq!(
        chat["requests"], 0,
        "a WebSocket API counts minutes and messages: {chat}"
    );
    assert_eq!(chat["websocket_messages"], 6, "three in, three out: {chat}");

    // The plan's report, as API Gateway's GetUsage: [used, remaining] per key per day.
    let plan = report(&gw, "/usage/plans/gold").await;
    let keys = plan["keys"].as_array().unwrap();
    let id_of = |name: &str| {
        keys.iter().find(|k| k["name"] == name).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (partner, other) = (id_of("partner"), id_of("other"));
    assert_eq!(plan["items"][&partner], serde_json::json!([[8, 42]]));
    assert_eq!(plan["items"][&other], serde_json::json!([[3, 47]]));
    let only = report(&gw, &format!("/usage/plans/gold?keyId={other}")).await;
    assert_eq!(only["items"].as_object().unwrap().len(), 1);

    // The CLI prints the same figures.
    let dir = gw.config_path.parent().unwrap().to_path_buf();
    let config_arg = gw.config_path.to_str().unwrap().to_owned();
    let (code, csv, err) = run_cli(&dir, &["usage", "-c", &config_arg, "--format", "csv"]);
    assert_eq!(code, 0, "{err}");
    let row = csv
        .lines()
        .find(|l| l.contains(",shop,prod,"))
        .unwrap_or_else(|| panic!("{csv}"));
    assert!(
        row.ends_with(&format!(",shop,prod,15,1000,{bytes_out},2,1,0,0")),
        "{row}"
    );
    let (code, table, err) = run_cli(&dir, &["usage", "-c", &config_arg, "--plan", "gold"]);
    assert_eq!(code, 0, "{err}");
    let line = table.lines().find(|l| l.contains("partner")).unwrap();
    assert!(
        line.split_whitespace().eq([
            "gold",
            partner.as_str(),
            "partner",
            doc["start"].as_str().unwrap(),
            "8",
            "42"
        ]),
        "{table}"
    );

    // A bad range: 400 with what was expected.
    let r = http1_client()
        .get(format!("{}/usage?start=2026-02-30", gw.admin_url()))
        .bearer_auth("usage-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("YYYY-MM-DD"));

    // After a restart (the last counts are written at shutdown), the same figures.
    let gw = gw.restart();
    let doc = report(&gw, "/usage").await;
    assert_eq!(today_of(&doc, "shop", "prod")["requests"], 15);
    let plan = report(&gw, "/usage/plans/gold").await;
    assert_eq!(plan["items"][&partner], serde_json::json!([[8, 42]]));
}
