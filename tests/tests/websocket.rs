//! WebSocket APIs through the real binary: `$connect` / `$disconnect` / `$default` and custom
//! routes with mock, HTTP and Wasm integrations, `@connections` on the admin listener, the
//! `$connect` authorizer, the size and idle limits, shutdown, and pass-through of upgrades on
//! REST routes. Clients are tokio-tungstenite; backends are real HTTP and WebSocket servers.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::ws::{Connect, WsClient, WsEcho};
use gatehouse_e2e::{http1_client, repo_root, Backend, Gateway, BASE};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(5);

fn plugin(name: &str) -> String {
    gatehouse_e2e::plugin_path(name).display().to_string()
}

fn ws_url(gw: &Gateway, path: &str) -> String {
    format!("ws://{}{path}", gw.addr("public"))
}

fn config(backend: &Backend, extra_api: &str) -> String {
    format!(
        r#"
version: 1
listeners:
  - name: public
    address: 127.0.0.1:0
admin:
  address: 127.0.0.1:0
access_log: {{ destination: off }}
apis:
  - name: chat
    protocol: websocket
    stages: {{ prod: {{ variables: {{ room: lobby }} }} }}
    routes:
      $connect:
        integration: {{ type: http, uri: "http://{b}/events/quiet" }}
      $disconnect:
        integration: {{ type: http, uri: "http://{b}/events/quiet" }}
      $default:
        integration: {{ type: mock, body: "no route for that" }}
      echo:
        integration: {{ type: http, uri: "http://{b}/events/reply" }}
      ping:
        integration: {{ type: mock, body: pong }}
      broken:
        integration: {{ type: http, uri: "http://{b}/events/status/500" }}
{extra_api}"#,
        b = backend.addr
    )
}

async fn connect_event(backend: &Backend) -> serde_json::Value {
    backend
        .wait_event(WAIT, |e| e["requestContext"]["eventType"] == "CONNECT")
        .await
        .expect("the $connect event reached the backend")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_messages_and_connections_api_push_get_and_delete() {
    let backend = Backend::start("events").await;
    let gw = Gateway::start(&config(&backend, ""));
    let mut client = match WsClient::connect_with(
        &ws_url(&gw, "/prod?user=ann&user=bo"),
        &[("x-client", "t1")],
    )
    .await
    {
        Connect::Open(c) => *c,
        Connect::Refused(s, b) => panic!("refused: {s} {b}"),
    };

    // $connect saw the upgrade request's headers and query, in API Gateway's event shape.
    let connect = connect_event(&backend).await;
    let rc = &connect["requestContext"];
    assert_eq!(rc["routeKey"], "$connect");
    assert_eq!(rc["stage"], "prod");
    assert_eq!(rc["apiId"], "chat");
    assert_eq!(rc["identity"]["sourceIp"], "127.0.0.1");
    assert_eq!(connect["headers"]["x-client"], "t1");
    assert_eq!(
        connect["multiValueQueryStringParameters"]["user"],
        serde_json::json!(["ann", "bo"])
    );
    assert_eq!(connect["stageVariables"]["room"], "lobby");
    let id = rc["connectionId"].as_str().unwrap().to_owned();

    // Route selection on $request.body.action: a custom route over HTTP, a mock, $default.
    client.send_text(r#"{"action":"echo","n":1}"#).await;
    assert_eq!(client.recv_text(WAIT).await, r#"{"action":"echo","n":1}"#);
    let echoed = backend
        .wait_event(WAIT, |e| e["requestContext"]["routeKey"] == "echo")
        .await
        .unwrap();
    assert_eq!(echoed["requestContext"]["eventType"], "MESSAGE");
    assert_eq!(echoed["requestContext"]["connectionId"], id.as_str());
    assert_eq!(echoed["isBase64Encoded"], false);
    client.send_text(r#"{"action":"ping"}"#).await;
    assert_eq!(client.recv_text(WAIT).await, "pong");
    // A protocol ping is answered with a pong carrying the same payload.
    {
        use futures_util::{SinkExt, StreamExt};
        client
            .ws
            .send(Message::Ping(b"are you there".to_vec().into()))
            .await
            .unwrap();
        let pong = tokio::time::timeout(WAIT, client.ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(pong, Message::Pong(b"are you there".to_vec().into()));
    }
    client.send_text("not json at all").await;
    assert_eq!(client.recv_text(WAIT).await, "no route for that");
    client.send_text(r#"{"action":"nope"}"#).await;
    assert_eq!(client.recv_text(WAIT).await, "no route for that");
    // A failing integration gives the caller API Gateway's error message; the connection stays.
    client.send_text(r#"{"action":"broken"}"#).await;
    let err: serde_json::Value = serde_json::from_str(&client.recv_text(WAIT).await).unwrap();
    assert_eq!(err["message"], "Internal server error");
    assert_eq!(err["connectionId"], id.as_str());
    assert!(err["requestId"].is_string());

    // @connections on the admin listener.
    let http = http1_client();
    let url = format!("{}/@connections/{id}", gw.admin_url());
    let info: serde_json::Value = http.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["identity"]["sourceIp"], "127.0.0.1");
    assert!(info["connectedAt"].as_str().unwrap().ends_with('Z'));
    assert!(info["lastActiveAt"].as_str().unwrap() >= info["connectedAt"].as_str().unwrap());
    let r = http.post(&url).body("pushed hello").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(client.recv_text(WAIT).await, "pushed hello");
    let r = http
        .post(&url)
        .body(vec![0xffu8, 0x00, 0x01])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        client.recv(WAIT).await,
        Message::Binary(vec![0xffu8, 0x00, 0x01].into())
    );
    let r = http.delete(&url).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(client.closed_with(WAIT).await, 1000);
    let gone = backend
        .wait_event(WAIT, |e| e["requestContext"]["eventType"] == "DISCONNECT")
        .await
        .expect("$disconnect ran");
    assert_eq!(gone["requestContext"]["connectionId"], id.as_str());
    assert_eq!(gone["requestContext"]["disconnectStatusCode"], 1000);
    for r in [
        http.get(&url).send().await.unwrap(),
        http.post(&url).body("late").send().await.unwrap(),
        http.delete(&url).send().await.unwrap(),
    ] {
        assert_eq!(r.status(), 410);
        assert_eq!(r.text().await.unwrap(), r#"{"message":"Gone"}"#);
    }
    let never = format!("{}/@connections/AAAAAAAAAAAAAAAA", gw.admin_url());
    assert_eq!(
        http.post(&never).body("x").send().await.unwrap().status(),
        410
    );

    // A client that closes gets $disconnect with its close code.
    let mut second = WsClient::connect(&ws_url(&gw, "/prod")).await;
    second.send_text(r#"{"action":"ping"}"#).await;
    assert_eq!(second.recv_text(WAIT).await, "pong");
    second.ws.close(None).await.unwrap();
    let closes = || {
        backend
            .events()
            .into_iter()
            .filter(|e| e["requestContext"]["eventType"] == "DISCONNECT")
            .count()
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    while closes() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(closes(), 2, "the client's close ran $disconnect");

    // Plain HTTP to a WebSocket stage is 426; other paths under it are not routes.
    let r = http.get(gw.url("public") + "/prod").send().await.unwrap();
    assert_eq!(r.status(), 426);
    let r = http.get(gw.url("public") + "/prod/x").send().await.unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_authorizer_and_connect_integration_decide_the_handshake() {
    let backend = Backend::start("events").await;
    let extra = format!(
        r#"
  - name: guarded
    protocol: websocket
    base_path: /guarded
    stages: {{ prod: {{}} }}
    authorizers:
      bearer: {{ plugin: tokens, identity_sources: [header.Authorization] }}
    routes:
      $connect:
        authorizer: bearer
        integration: {{ type: http, uri: "http://{b}/events/quiet" }}
      $default:
        integration: {{ type: http, uri: "http://{b}/events/reply" }}
  - name: refusing
    protocol: websocket
    base_path: /refusing
    stages: {{ prod: {{}} }}
    routes:
      $connect:
        integration: {{ type: http, uri: "http://{b}/events/status/403" }}
plugins:
  tokens:
    path: {p}
    config: {{ tokens: "tok-alice=alice" }}
"#,
        b = backend.addr,
        p = plugin("token-authorizer"),
    );
    let gw = Gateway::start(&config(&backend, &extra));
    let url = ws_url(&gw, "/guarded/prod");

    match WsClient::connect_with(&url, &[]).await {
        Connect::Refused(401, body) => assert_eq!(body, r#"{"message":"Unauthorized"}"#),
        other => panic!("expected 401, got {other:?}"),
    }
    match WsClient::connect_with(&url, &[("authorization", "Bearer tok-mallory")]).await {
        Connect::Refused(403, body) => assert!(body.contains("not authorized"), "{body}"),
        other => panic!("expected 403, got {other:?}"),
    }
    assert!(
        backend.events().is_empty(),
        "a refused handshake never reaches $connect"
    );
    let mut alice =
        match WsClient::connect_with(&url, &[("authorization", "Bearer tok-alice")]).await {
            Connect::Open(c) => *c,
            other => panic!("expected a connection, got {other:?}"),
        };
    let connect = connect_event(&backend).await;
    assert_eq!(
        connect["requestContext"]["authorizer"]["principalId"],
        "alice"
    );
    alice.send_text("hello").await;
    assert_eq!(alice.recv_text(WAIT).await, "hello");
    let msg = backend
        .wait_event(WAIT, |e| e["requestContext"]["routeKey"] == "$default")
        .await
        .unwrap();
    assert_eq!(msg["requestContext"]["authorizer"]["principalId"], "alice");

    // A $connect integration that answers 403 refuses the handshake with it.
    match WsClient::connect_with(&ws_url(&gw, "/refusing/prod"), &[]).await {
        Connect::Refused(403, body) => assert_eq!(body, "denied by the backend"),
        other => panic!("expected 403, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_idle_connections_are_closed_and_shutdown_says_going_away() {
    let backend = Backend::start("events").await;
    let yaml = config(&backend, "").replace(
        "    routes:\n",
        "    websocket: { max_frame_bytes: 1024, max_message_bytes: 4096, idle_timeout: 600ms }\n    routes:\n",
    );
    let mut gw = Gateway::start(&yaml);
    let url = ws_url(&gw, "/prod");
    let disconnects = |reason: &'static str| {
        let events = backend.events();
        events
            .into_iter()
            .filter(|e| e["requestContext"]["disconnectReason"] == reason)
            .count()
    };

    // A message over max_message_bytes is 1009 (Message Too Big).
    let mut big = WsClient::connect(&url).await;
    big.send_text(&"a".repeat(5000)).await;
    assert_eq!(big.closed_with(WAIT).await, 1009);
    // One frame over max_frame_bytes is 1009 as well.
    let mut wide = WsClient::connect(&url).await;
    wide.send_text(&"b".repeat(2000)).await;
    assert_eq!(wide.closed_with(WAIT).await, 1009);

    // Within the limits all is well, and activity keeps a connection open past the timeout.
    let mut busy = WsClient::connect(&url).await;
    for _ in 0..6 {
        busy.send_text(r#"{"action":"ping"}"#).await;
        assert_eq!(busy.recv_text(WAIT).await, "pong");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Silence past idle_timeout is 1001 and a $disconnect saying why.
    assert_eq!(busy.closed_with(WAIT).await, 1001);
    let deadline = tokio::time::Instant::now() + WAIT;
    while disconnects("Idle timeout") < 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(disconnects("Idle timeout"), 1);
    assert_eq!(disconnects("Message too big"), 2);

    // SIGTERM closes open connections with 1001 and still runs $disconnect.
    let mut open = WsClient::connect(&url).await;
    open.send_text(r#"{"action":"ping"}"#).await;
    assert_eq!(open.recv_text(WAIT).await, "pong");
    gw.signal(libc::SIGTERM);
    assert_eq!(open.closed_with(WAIT).await, 1001);
    assert!(gw.wait_exit(Duration::from_secs(10)).success());
    assert_eq!(disconnects("Going away"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_routes_pass_websocket_upgrades_through_to_the_backend() {
    let echo = WsEcho::start().await;
    let yaml = format!(
        r#"
{BASE}
apis:
  - name: tunnel
    stages: {{ prod: {{}} }}
    resources:
      /ws:
        GET:
          cache: {{ enabled: false }}
          integration: {{ type: http_proxy, uri: "http://{e}/ws" }}
"#,
        e = echo.addr
    );
    let gw = Gateway::start(&yaml);
    let mut a = WsClient::connect(&ws_url(&gw, "/prod/ws")).await;
    let mut b = WsClient::connect(&ws_url(&gw, "/prod/ws")).await;
    a.send_text("through the tunnel").await;
    b.send_text("second tunnel").await;
    assert_eq!(a.recv_text(WAIT).await, "through the tunnel");
    assert_eq!(b.recv_text(WAIT).await, "second tunnel");
    use futures_util::SinkExt;
    let big = vec![7u8; 300 * 1024];
    a.ws.send(Message::Binary(big.clone().into()))
        .await
        .unwrap();
    assert_eq!(a.recv(WAIT).await, Message::Binary(big.into()));
    a.ws.close(None).await.unwrap();
    b.send_text("still open").await;
    assert_eq!(b.recv_text(WAIT).await, "still open");
}

/// `examples/chat.yaml` as shipped (ports and plugin paths adjusted): many clients in two
/// rooms; each message reaches exactly its room's members through `@connections`, a client
/// that leaves stops receiving, and connecting without a token is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_example_fans_messages_out_to_room_members() {
    let text = std::fs::read_to_string(repo_root().join("examples/chat.yaml")).unwrap();
    let dist = repo_root().join("plugins/dist");
    let yaml = text
        .replace("127.0.0.1:8082", "127.0.0.1:0")
        .replace("127.0.0.1:9092", "127.0.0.1:0")
        .replace("../plugins/dist", &dist.display().to_string());
    plugin("chat");
    let gw = Gateway::start(&yaml);
    let url = ws_url(&gw, "/prod");
    match WsClient::connect_with(&url, &[]).await {
        Connect::Refused(401, _) => {}
        other => panic!("expected 401 without a token, got {other:?}"),
    }

    const LOBBY: usize = 24;
    const OTHER: usize = 6;
    let mut clients = Vec::new();
    for i in 0..LOBBY + OTHER {
        let token = if i % 2 == 0 {
            "Bearer tok-alice"
        } else {
            "Bearer tok-bob"
        };
        let mut c = match WsClient::connect_with(&url, &[("authorization", token)]).await {
            Connect::Open(c) => *c,
            other => panic!("client {i}: {other:?}"),
        };
        let room = if i < LOBBY { "lobby" } else { "other" };
        c.send_text(&format!(
            r#"{{"action":"join","room":"{room}","name":"u{i}"}}"#
        ))
        .await;
        let joined: serde_json::Value = serde_json::from_str(&c.recv_text(WAIT).await).unwrap();
        assert_eq!(joined["joined"], room);
        let expected = if i < LOBBY { i + 1 } else { i + 1 - LOBBY };
        assert_eq!(joined["members"], expected, "client {i}");
        clients.push(c);
    }

    clients[3]
        .send_text(r#"{"action":"send","text":"hello lobby"}"#)
        .await;
    for (i, c) in clients.iter_mut().enumerate().take(LOBBY) {
        let got: serde_json::Value = serde_json::from_str(&c.recv_text(WAIT).await).unwrap();
        assert_eq!(
            got,
            serde_json::json!({ "room": "lobby", "from": "u3", "text": "hello lobby" }),
            "client {i}"
        );
    }
    for c in clients.iter_mut().skip(LOBBY) {
        c.expect_silence(Duration::from_millis(200)).await;
    }

    // Client 0 leaves; its $disconnect removes it from the room.
    let mut gone = clients.remove(0);
    gone.ws.close(None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let last = clients.len() - 1;
    clients[last]
        .send_text(r#"{"action":"send","text":"in other"}"#)
        .await;
    for c in clients.iter_mut().skip(LOBBY - 1) {
        let got: serde_json::Value = serde_json::from_str(&c.recv_text(WAIT).await).unwrap();
        assert_eq!(got["text"], "in other");
        assert_eq!(got["from"], format!("u{}", LOBBY + OTHER - 1));
    }
    let mut late = WsClient::connect_with(&url, &[("authorization", "Bearer tok-bob")]).await;
    let Connect::Open(late) = &mut late else {
        panic!("connect")
    };
    late.send_text(r#"{"action":"join","room":"lobby","name":"late"}"#)
        .await;
    let joined: serde_json::Value = serde_json::from_str(&late.recv_text(WAIT).await).unwrap();
    assert_eq!(
        joined["members"], LOBBY,
        "the one that left is no longer counted"
    );
    late.send_text(r#"{"action":"dance"}"#).await;
    let help: serde_json::Value = serde_json::from_str(&late.recv_text(WAIT).await).unwrap();
    assert!(help["error"].as_str().unwrap().contains("unknown action"));
}

/// The Autobahn WebSocket test suite's cases (run by kosoku, installed by scripts/setup.sh)
/// against an echo server behind a pass-through route: the gateway must not disturb any of
/// the protocol. Compression cases (12.*, 13.*) are excluded: permessage-deflate is not
/// offered. Every case must end OK, NON-STRICT or INFORMATIONAL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autobahn_cases_pass_through_the_gateway() {
    let echo = WsEcho::start().await;
    let yaml = format!(
        r#"
{BASE}
apis:
  - name: tunnel
    stages: {{ prod: {{ base_path: / }} }}
    resources:
      /:
        GET:
          integration: {{ type: http_proxy, uri: "http://{e}/" }}
      /{{proxy+}}:
        GET:
          integration: {{ type: http_proxy, uri: "http://{e}/{{proxy}}" }}
"#,
        e = echo.addr
    );
    let gw = Gateway::start(&yaml);
    let url = format!("ws://{}", gw.addr("public"));
    autobahn(&gw, &url, "through Gatehouse").await;
}

/// The same cases against Gatehouse's own WebSocket API sessions: a `$default` route whose
/// Wasm handler (`plugins/ws-echo`) sends every message back, with the frame and message
/// limits raised to the 16 MiB the cases send. Framing, fragmentation, control frames,
/// UTF-8 validation and the closing handshake are all the session's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autobahn_cases_pass_against_a_websocket_api() {
    let yaml = format!(
        r#"
{BASE}
apis:
  - name: echo
    protocol: websocket
    stages: {{ prod: {{}} }}
    websocket: {{ max_frame_bytes: 16777216, max_message_bytes: 16777216 }}
    routes:
      $default:
        integration: {{ type: wasm, plugin: echo }}
plugins:
  echo: {{ path: {p}, memory_bytes: 134217728, timeout: 10s }}
"#,
        p = plugin("ws-echo")
    );
    let gw = Gateway::start(&yaml);
    let url = format!("ws://{}/prod", gw.addr("public"));
    autobahn(&gw, &url, "against a WebSocket API").await;
}

/// Runs kosoku's fuzzing client (every case but compression's) against `url` and asserts
/// that each case ended OK, NON-STRICT or INFORMATIONAL, closing included.
async fn autobahn(gw: &Gateway, url: &str, what: &str) {
    let kosoku = gatehouse_e2e::setup_tool("GATEHOUSE_KOSOKU", "venv/bin/kosoku");
    assert!(
        kosoku.exists(),
        "{} is missing: run scripts/setup.sh",
        kosoku.display()
    );
    let out = gw.dir.path().join("autobahn");
    let run = tokio::process::Command::new(&kosoku)
        .args([
            "-m",
            "fuzzingclient",
            "-x",
            "12.*",
            "-x",
            "13.*",
            "-p",
            "4",
            "-o",
        ])
        .arg(&out)
        .arg(url)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .expect("kosoku finished within 10 minutes")
        .unwrap();
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap_or_else(|e| {
            panic!(
                "no report ({e}); kosoku said:\n{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        }))
        .unwrap();
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    let mut failed = Vec::new();
    for cases in index.as_object().unwrap().values() {
        for (id, case) in cases.as_object().unwrap() {
            let behavior = case["behavior"].as_str().unwrap_or("?").to_owned();
            let close = case["behaviorClose"].as_str().unwrap_or("?");
            if !matches!(behavior.as_str(), "OK" | "NON-STRICT" | "INFORMATIONAL")
                || !matches!(close, "OK" | "INFORMATIONAL")
            {
                failed.push(format!("{id}: {behavior}/{close}"));
            }
            *counts.entry(behavior).or_default() += 1;
        }
    }
    let total: usize = counts.values().sum();
    println!("Autobahn {what}: {total} cases, {counts:?}");
    assert!(total > 200, "only {total} cases ran: {counts:?}");
    assert!(failed.is_empty(), "failed cases: {failed:?}");
}

/// API Gateway's WebSocket metrics on the admin listener, per API, stage and route, after a
/// scripted exchange: connects, routed messages and their replies, an integration error, a
/// message no route took, and a push through `@connections`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_metrics_count_connects_messages_and_errors() {
    let backend = Backend::start("events").await;
    let gw = Gateway::start(&config(&backend, ""));
    let mut client = WsClient::connect(&ws_url(&gw, "/prod")).await;
    let id = connect_event(&backend).await["requestContext"]["connectionId"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..2 {
        client.send_text(r#"{"action":"ping"}"#).await;
        assert_eq!(client.recv_text(WAIT).await, "pong");
    }
    client.send_text(r#"{"action":"broken"}"#).await;
    assert!(client
        .recv_text(WAIT)
        .await
        .contains("Internal server error"));
    client.send_text("no action here").await;
    assert_eq!(client.recv_text(WAIT).await, "no route for that");
    let http = http1_client();
    let push = format!("{}/@connections/{id}", gw.admin_url());
    assert_eq!(
        http.post(&push)
            .body("pushed")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(client.recv_text(WAIT).await, "pushed");

    let text = http
        .get(format!("{}/metrics", gw.admin_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |metric: &str, route: &str| {
        let series = format!(
            "gatehouse_websocket_{metric}{{api=\"chat\",stage=\"prod\",route=\"{route}\"}} "
        );
        text.lines()
            .find_map(|l| l.strip_prefix(&series))
            .unwrap_or_else(|| panic!("no {series}in\n{text}"))
            .to_owned()
    };
    assert_eq!(value("ConnectCount", "$connect"), "1");
    assert_eq!(value("IntegrationLatency_count", "$connect"), "1");
    assert_eq!(
        value("MessageCount", "ping"),
        "4",
        "two messages and two replies"
    );
    assert_eq!(
        value("IntegrationLatency_count", "ping"),
        "0",
        "none for a mock, as API Gateway"
    );
    assert_eq!(
        value("MessageCount", "broken"),
        "2",
        "the message and the error message sent back"
    );
    assert_eq!(value("IntegrationLatency_count", "broken"), "1");
    assert_eq!(value("IntegrationError", "broken"), "1");
    assert_eq!(value("ExecutionError", "broken"), "0");
    assert_eq!(value("MessageCount", "$default"), "2");
    assert_eq!(value("MessageCount", "@connections"), "1");
    assert_eq!(value("ClientError", "$connect"), "0");
}

/// A WebSocket API's access log has a line per event, as API Gateway's: the connect, each
/// message with its route and message id, the disconnect; all with the connection's id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_has_a_line_per_event() {
    let backend = Backend::start("events").await;
    let log = r#"access_log: { destination: access.log, format: '{"requestId":"$context.requestId","eventType":"$context.eventType","routeKey":"$context.routeKey","connectionId":"$context.connectionId","messageId":"$context.messageId","status":"$context.status","integrationLatency":"$context.integrationLatency","stage":"$context.stage"}' }"#;
    let yaml = config(&backend, "").replace("access_log: { destination: off }", log);
    let gw = Gateway::start(&yaml);
    let mut client = WsClient::connect(&ws_url(&gw, "/prod")).await;
    let id = connect_event(&backend).await["requestContext"]["connectionId"]
        .as_str()
        .unwrap()
        .to_owned();
    client.send_text(r#"{"action":"ping"}"#).await;
    assert_eq!(client.recv_text(WAIT).await, "pong");
    client.send_text(r#"{"action":"echo"}"#).await;
    assert_eq!(client.recv_text(WAIT).await, r#"{"action":"echo"}"#);
    let echoed = backend
        .wait_event(WAIT, |e| e["requestContext"]["routeKey"] == "echo")
        .await
        .unwrap();
    client.ws.close(None).await.unwrap();
    client.ended(WAIT).await;

    let lines = gw.access_log(4);
    assert_eq!(lines.len(), 4, "{lines:#?}");
    for l in &lines {
        assert_eq!(l["connectionId"], id.as_str(), "{l}");
        assert_eq!(l["stage"], "prod", "{l}");
    }
    let kinds: Vec<_> = lines
        .iter()
        .map(|l| {
            (
                l["eventType"].as_str().unwrap(),
                l["routeKey"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("CONNECT", "$connect"),
            ("MESSAGE", "ping"),
            ("MESSAGE", "echo"),
            ("DISCONNECT", "$disconnect"),
        ]
    );
    assert_eq!(lines[0]["status"], "101");
    assert_eq!(lines[0]["messageId"], "-");
    // Each message has its own id and request id; the integration's event carries both.
    let (ping, echo) = (&lines[1], &lines[2]);
    assert_eq!(ping["status"], "200");
    assert_eq!(ping["integrationLatency"], "-", "none for a mock");
    assert_ne!(ping["messageId"], "-");
    assert_ne!(ping["messageId"], echo["messageId"]);
    assert_eq!(echo["status"], "200");
    assert_ne!(echo["integrationLatency"], "-");
    assert_eq!(echo["messageId"], echoed["requestContext"]["messageId"]);
    assert_eq!(echo["requestId"], echoed["requestContext"]["requestId"]);
    assert_eq!(lines[3]["status"], "200");
    assert_eq!(lines[3]["messageId"], "-");
}
