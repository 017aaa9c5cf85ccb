//! Resource policies through the real binary: source IP allow and deny lists, checked before
//! authorizers and backends, on REST routes and on WebSocket handshakes.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::ws::{Connect, WsClient};
use gatehouse_e2e::{http1_client, json, Backend, Gateway, BASE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_ip_policies_admit_and_refuse_callers() {
    let backend = Backend::start("guarded").await;
    let yaml = format!(
        r#"
{BASE}
apis:
  - name: office
    base_path: /office
    stages: {{ prod: {{}} }}
    resource_policy: {{ allow_source_ips: ["10.0.0.0/8", "192.0.2.0/24"] }}
    resources:
      /data: {{ GET: {{ integration: {{ type: http_proxy, uri: "http://{b}/data" }} }} }}
  - name: local
    base_path: /local
    stages: {{ prod: {{}} }}
    resource_policy: {{ allow_source_ips: ["127.0.0.0/8", "::1"] }}
    resources:
      /data: {{ GET: {{ integration: {{ type: http_proxy, uri: "http://{b}/data" }} }} }}
  - name: blocked
    base_path: /blocked
    stages: {{ prod: {{}} }}
    resource_policy: {{ deny_source_ips: ["127.0.0.1"] }}
    resources:
      /data: {{ GET: {{ integration: {{ type: http_proxy, uri: "http://{b}/data" }} }} }}
  - name: live
    protocol: websocket
    base_path: /live
    stages: {{ prod: {{}} }}
    resource_policy: {{ deny_source_ips: ["127.0.0.0/8"] }}
    routes:
      $default: {{ integration: {{ type: mock, body: hi }} }}
"#,
        b = backend.addr
    );
    let gw = Gateway::start(&yaml);
    let http = http1_client();
    let base = gw.url("public");

    let r = http
        .get(format!("{base}/office/prod/data"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        json(r).await["message"],
        "User: anonymous is not authorized to perform: execute-api:Invoke on resource: office/prod/GET/data with an explicit deny"
    );
    let r = http
        .get(format!("{base}/blocked/prod/data"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(backend.hits(), 0, "refused callers never reach the backend");
    let r = http
        .get(format!("{base}/local/prod/data"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(backend.hits(), 1);
    match WsClient::connect_with(&format!("ws://{}/live/prod", gw.addr("public")), &[]).await {
        Connect::Refused(403, body) => assert!(body.contains("explicit deny"), "{body}"),
        other => panic!("expected 403, got {other:?}"),
    }
}
