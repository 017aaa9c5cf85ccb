//! Traces: the gateway's OTLP/HTTP spans reach a collector in this process with the caller's
//! trace and the stages under the server span; backends and Lambda functions get a
//! `traceparent` naming the integration's span, a Lambda authorizer one naming its
//! `authorizer` span. WebSocket events are traced: `$connect` as the upgrade request, each
//! message and `$disconnect` as a trace of its own linked to it, and their `http`
//! integrations get `traceparent`. Without tracing, or for a request the caller did not
//! sample, the client's `traceparent` reaches the backend as it was sent; a collector that is
//! down fails no request.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use bytes::Bytes;
use gatehouse_e2e::ws::{Connect, WsClient};
use gatehouse_e2e::{http1_client, json, otlp, Backend, Gateway, BASE};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const TRACE_DOWN: &str = "5cf92f3577b34da6a3ce929d0e0e4737";

/// What the collector received: each request's path, headers and body.
type Received = Arc<Mutex<Vec<(String, http::HeaderMap, Bytes)>>>;

/// An OTLP/HTTP collector (`POST /v1/traces`, protobuf or JSON) that is also a Lambda invoke endpoint
/// (`/2015-03-31/functions/...`: function `authorizer` answers a policy allowing everything,
/// any other a proxy response) and a WebSocket API's HTTP backend (any other path, answering
/// `{}`): it records every request.
struct Collector {
    addr: SocketAddr,
    received: Received,
}

impl Collector {
    async fn start() -> Collector {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Received::default();
        let rec = received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let rec = rec.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| record(req, rec.clone()));
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Collector { addr, received }
    }

    /// Every span posted so far, in OTLP/JSON's shape whichever encoding it came in.
    fn spans(&self) -> Vec<Value> {
        let received = self.received.lock().unwrap();
        let mut out = Vec::new();
        for (path, headers, body) in received.iter() {
            if path != "/v1/traces" {
                continue;
            }
            let content_type = headers["content-type"].to_str().unwrap();
            let doc = otlp::post_as_json(content_type, body).unwrap();
            for rs in doc["resourceSpans"].as_array().unwrap() {
                assert_eq!(
                    rs["resource"]["attributes"][0]["value"]["stringValue"],
                    "gw-under-test"
                );
                for ss in rs["scopeSpans"].as_array().unwrap() {
                    out.extend(ss["spans"].as_array().unwrap().iter().cloned());
                }
            }
        }
        out
    }

    /// The spans of trace `trace_id` once its server span has arrived (within 10 s).
    async fn trace(&self, trace_id: &str) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let spans: Vec<Value> = self
                .spans()
                .into_iter()
                .filter(|s| s["traceId"] == trace_id)
                .collect();
            if spans.iter().any(|s| s["kind"] == 2) {
                return spans;
            }
            assert!(Instant::now() < deadline, "no server span of {trace_id}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The content types of the trace posts received.
    fn encodings(&self) -> Vec<String> {
        let received = self.received.lock().unwrap();
        let posts = received.iter().filter(|(path, _, _)| path == "/v1/traces");
        posts
            .map(|(_, h, _)| h["content-type"].to_str().unwrap().to_owned())
            .collect()
    }

    /// The `traceparent` of each Lambda invocation received.
    fn invocations(&self) -> Vec<Option<String>> {
        self.traceparents(|path| path.starts_with("/2015-03-31/"))
    }

    /// The `traceparent` of each request received whose path matches.
    fn traceparents(&self, path: impl Fn(&str) -> bool) -> Vec<Option<String>> {
        let received = self.received.lock().unwrap();
        received
            .iter()
            .filter(|(p, _, _)| path(p))
            .map(|(_, h, _)| h.get("traceparent").map(|v| v.to_str().unwrap().to_owned()))
            .collect()
    }

    /// The `traceparent` of the first request to `path`, once it has arrived (within 10 s).
    async fn traceparent_of(&self, path: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(tp) = self.traceparents(|p| p == path).into_iter().next() {
                return tp.unwrap_or_else(|| panic!("no traceparent on {path}"));
            }
            assert!(Instant::now() < deadline, "no request to {path}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The trace id and parent span id of a `traceparent`.
fn ids(traceparent: &str) -> (&str, &str) {
    (&traceparent[3..35], &traceparent[36..52])
}

async fn record(
    req: Request<Incoming>,
    rec: Received,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    rec.lock()
        .unwrap()
        .push((path.clone(), parts.headers, body));
    let answer = if path.starts_with("/2015-03-31/functions/authorizer/") {
        r#"{"principalId":"u1","policyDocument":{"Version":"2012-10-17","Statement":[{"Action":"execute-api:Invoke","Effect":"Allow","Resource":"*"}]}}"#
    } else if path.starts_with("/2015-03-31/") {
        r#"{"statusCode":200,"body":"from the function"}"#
    } else {
        "{}"
    };
    Ok(Response::new(Full::new(Bytes::from(answer))))
}

fn config(backend: SocketAddr, lambda: SocketAddr, tracing: &str) -> String {
    format!(
        r#"{BASE}admin:
  address: 127.0.0.1:0
{tracing}
apis:
  - name: pets
    stages:
      prod: {{}}
    resources:
      /pets/{{id}}:
        GET:
          integration: {{ type: http_proxy, uri: "http://{backend}/pets/{{id}}" }}
      /fn:
        GET:
          integration: {{ type: lambda, endpoint: "http://{lambda}", function: echo }}
      /down:
        GET:
          integration: {{ type: http_proxy, uri: "http://127.0.0.1:1/down" }}
"#
    )
}

fn tracing_to(collector: SocketAddr, sample: f64) -> String {
    format!(
        "tracing: {{ otlp_endpoint: \"http://{collector}/v1/traces\", sample: {sample}, service_name: gw-under-test, export_interval: 50ms }}"
    )
}

/// [`tracing_to`] with posts in OTLP's JSON encoding (protobuf when not said).
fn json_tracing_to(collector: SocketAddr, sample: f64) -> String {
    let protobuf = tracing_to(collector, sample);
    format!(
        "{}, protocol: http/json }}",
        protobuf.trim_end_matches(" }")
    )
}

/// The `traceparent` the backend saw for a GET of `path` sent with `traceparent`, if any.
async fn backend_saw(gw: &Gateway, path: &str, traceparent: Option<&str>) -> Option<String> {
    let mut req = http1_client().get(format!("{}{path}", gw.url("public")));
    if let Some(tp) = traceparent {
        req = req
            .header("traceparent", tp)
            .header("tracestate", "caller=1");
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let echo = json(resp).await;
    echo["headers"]["traceparent"].as_str().map(str::to_owned)
}

fn attr<'a>(span: &'a Value, key: &str) -> &'a Value {
    let attrs = span["attributes"].as_array().unwrap();
    let a = attrs.iter().find(|a| a["key"] == key);
    &a.unwrap_or_else(|| panic!("no {key} in {span}"))["value"]
}

fn named<'a>(spans: &'a [Value], name: &str) -> &'a Value {
    let s = spans.iter().find(|s| s["name"] == name);
    s.unwrap_or_else(|| panic!("no span {name} in {spans:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_nest_under_the_callers_trace_and_backends_get_the_integration_span() {
    let backend = Backend::start("b").await;
    let collector = Collector::start().await;
    let gw = Gateway::start(&config(
        backend.addr,
        collector.addr,
        &tracing_to(collector.addr, 1.0),
    ));
    let caller = format!("00-{TRACE}-{CALLER_SPAN}-01");
    let seen = backend_saw(&gw, "/prod/pets/7", Some(&caller))
        .await
        .unwrap();

    let spans = collector.trace(TRACE).await;
    let server = named(&spans, "GET /pets/{id}");
    assert_eq!(server["kind"], 2);
    assert_eq!(server["parentSpanId"], CALLER_SPAN);
    assert_eq!(attr(server, "http.request.method")["stringValue"], "GET");
    assert_eq!(attr(server, "url.path")["stringValue"], "/prod/pets/7");
    assert_eq!(attr(server, "http.response.status_code")["intValue"], "200");
    assert_eq!(attr(server, "gatehouse.api")["stringValue"], "pets");
    assert_eq!(attr(server, "gatehouse.stage")["stringValue"], "prod");
    assert_eq!(attr(server, "http.route")["stringValue"], "/pets/{id}");
    let id = attr(server, "gatehouse.request_id")["stringValue"]
        .as_str()
        .unwrap();
    assert_eq!((id.len(), id.matches('-').count()), (36, 4), "{id}");
    assert_eq!(attr(server, "client.address")["stringValue"], "127.0.0.1");
    let route = named(&spans, "route");
    let integration = named(&spans, "integration");
    for child in [route, integration] {
        assert_eq!(child["parentSpanId"], server["spanId"], "{child}");
        let (start, end) = (&child["startTimeUnixNano"], &child["endTimeUnixNano"]);
        let n = |v: &Value| v.as_str().unwrap().parse::<u64>().unwrap();
        assert!(
            n(start) >= n(&server["startTimeUnixNano"]) && n(end) <= n(&server["endTimeUnixNano"])
        );
        assert!(n(start) <= n(end));
    }
    assert_eq!(integration["kind"], 3);
    assert_eq!(
        attr(integration, "server.address")["stringValue"],
        backend.addr.to_string()
    );
    assert_eq!(
        attr(integration, "gatehouse.integration")["stringValue"],
        "http_proxy"
    );
    let span_id = integration["spanId"].as_str().unwrap();
    assert_eq!(seen, format!("00-{TRACE}-{span_id}-01"));

    // A request without a caller's trace starts one; a Lambda invocation carries it too.
    let lambda = http1_client()
        .get(format!("{}/prod/fn", gw.url("public")))
        .send()
        .await
        .unwrap();
    assert_eq!(lambda.status(), 200);
    assert_eq!(lambda.text().await.unwrap(), "from the function");
    let sent = collector.invocations();
    assert_eq!(sent.len(), 1);
    let sent = sent[0].clone().expect("the invocation has a traceparent");
    let (trace_id, span_id) = (&sent[3..35], &sent[36..52]);
    assert_ne!(trace_id, TRACE);
    let spans = collector.trace(trace_id).await;
    let server = named(&spans, "GET /fn");
    assert!(server.get("parentSpanId").is_none(), "{server}");
    let integration = named(&spans, "integration");
    assert_eq!(integration["spanId"], span_id);
    assert_eq!(integration["parentSpanId"], server["spanId"]);
    assert_eq!(
        attr(integration, "gatehouse.integration")["stringValue"],
        "lambda"
    );

    // A backend that refuses: the 502's server span has the error status (code 2).
    let down = format!("00-{TRACE_DOWN}-{CALLER_SPAN}-01");
    let resp = http1_client()
        .get(format!("{}/prod/down", gw.url("public")))
        .header("traceparent", down)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    let spans = collector.trace(TRACE_DOWN).await;
    let server = named(&spans, "GET /down");
    assert_eq!(server["status"]["code"], 2, "{server}");
    assert_eq!(attr(server, "http.response.status_code")["intValue"], "502");
    assert_eq!(named(&spans, "route")["status"]["code"], 0);

    // Without `protocol:` the posts are OTLP's binary encoding.
    let encodings = collector.encodings();
    assert!(
        !encodings.is_empty() && encodings.iter().all(|e| e == "application/x-protobuf"),
        "{encodings:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tracing_or_the_callers_sample_the_traceparent_passes_unchanged() {
    let backend = Backend::start("b").await;
    let collector = Collector::start().await;
    let unsampled = format!("00-{TRACE}-{CALLER_SPAN}-00");
    let sampled = format!("00-{TRACE}-{CALLER_SPAN}-01");

    let off = Gateway::start(&config(backend.addr, collector.addr, ""));
    let seen = backend_saw(&off, "/prod/pets/1", Some(&sampled)).await;
    assert_eq!(seen.as_deref(), Some(sampled.as_str()));
    drop(off);

    let gw = Gateway::start(&config(
        backend.addr,
        collector.addr,
        &tracing_to(collector.addr, 0.0),
    ));
    let seen = backend_saw(&gw, "/prod/pets/2", Some(&unsampled)).await;
    assert_eq!(seen.as_deref(), Some(unsampled.as_str()));
    assert_eq!(backend_saw(&gw, "/prod/pets/3", None).await, None);
    // A caller's sampled trace is recorded even at 0: it is exported after the requests
    // above, so had they been recorded they would be there by now.
    let other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    backend_saw(&gw, "/prod/pets/4", Some(other)).await.unwrap();
    collector.trace("0af7651916cd43dd8448eb211c80319c").await;
    let spans = collector.spans();
    assert!(
        spans
            .iter()
            .all(|s| s["traceId"] == "0af7651916cd43dd8448eb211c80319c"),
        "{spans:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_is_down_fails_no_request() {
    let backend = Backend::start("b").await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let gw = Gateway::start(&config(backend.addr, closed, &tracing_to(closed, 1.0)));
    for i in 0..20 {
        backend_saw(&gw, &format!("/prod/pets/{i}"), None)
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = http1_client()
            .get(format!("{}/metrics", gw.admin_url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let dropped = metrics
            .lines()
            .find_map(|l| l.strip_prefix("gatehouse_TracesDropped "))
            .map(|n| n.parse::<u64>().unwrap());
        if dropped == Some(20) {
            break;
        }
        assert!(Instant::now() < deadline, "dropped: {dropped:?}\n{metrics}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lambda_authorizers_call_carries_its_span_and_a_cached_decision_makes_none() {
    let backend = Backend::start("b").await;
    let collector = Collector::start().await;
    let c = collector.addr;
    let gw = Gateway::start(&format!(
        r#"{BASE}{tracing}
apis:
  - name: shop
    stages: {{ prod: {{}} }}
    authorizers:
      tokens:
        type: lambda
        ttl: 300s
        lambda: {{ endpoint: "http://{c}", function: authorizer, payload: token }}
    resources:
      /pets/{{id}}:
        GET:
          authorizer: tokens
          integration: {{ type: http_proxy, uri: "http://{b}/pets/{{id}}" }}
"#,
        tracing = json_tracing_to(c, 1.0),
        b = backend.addr,
    ));
    let get = |trace: &str| {
        http1_client()
            .get(format!("{}/prod/pets/1", gw.url("public")))
            .header("authorization", "token-1")
            .header("traceparent", format!("00-{trace}-{CALLER_SPAN}-01"))
            .send()
    };
    let resp = get(TRACE).await.unwrap();
    assert_eq!(resp.status(), 200);
    let seen = json(resp).await["headers"]["traceparent"].clone();

    let sent = collector.invocations();
    assert_eq!(sent.len(), 1);
    let sent = sent[0]
        .clone()
        .expect("the authorizer's call has a traceparent");
    let (trace_id, parent) = ids(&sent);
    assert_eq!(trace_id, TRACE);
    let spans = collector.trace(TRACE).await;
    let server = named(&spans, "GET /pets/{id}");
    let authorize = named(&spans, "authorize");
    let authorizer = named(&spans, "authorizer");
    assert_eq!(authorizer["spanId"], parent);
    assert_eq!(authorizer["kind"], 3);
    assert_eq!(authorizer["parentSpanId"], authorize["spanId"]);
    assert_eq!(authorize["parentSpanId"], server["spanId"]);
    assert_eq!(
        attr(authorizer, "server.address")["stringValue"],
        c.to_string()
    );
    assert_eq!(
        attr(authorizer, "gatehouse.authorizer")["stringValue"],
        "tokens"
    );
    let integration = named(&spans, "integration");
    assert_eq!(
        seen,
        format!("00-{TRACE}-{}-01", integration["spanId"].as_str().unwrap())
    );

    // The same token again: the cached decision calls nothing, so there is no authorizer span.
    let other = "0af7651916cd43dd8448eb211c80319c";
    assert_eq!(get(other).await.unwrap().status(), 200);
    assert_eq!(collector.invocations().len(), 1);
    let spans = collector.trace(other).await;
    named(&spans, "authorize");
    assert!(spans.iter().all(|s| s["name"] != "authorizer"), "{spans:?}");

    // `protocol: http/json`: every post is OTLP's JSON encoding.
    let encodings = collector.encodings();
    assert!(
        !encodings.is_empty() && encodings.iter().all(|e| e == "application/json"),
        "{encodings:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_events_are_traced_and_their_http_integrations_get_traceparent() {
    let collector = Collector::start().await;
    let c = collector.addr;
    let gw = Gateway::start(&format!(
        r#"{BASE}{tracing}
apis:
  - name: chat
    protocol: websocket
    stages: {{ prod: {{}} }}
    routes:
      $connect:
        integration: {{ type: http, uri: "http://{c}/ws/connect" }}
      $disconnect:
        integration: {{ type: http, uri: "http://{c}/ws/disconnect" }}
      echo:
        integration: {{ type: http, uri: "http://{c}/ws/echo" }}
"#,
        tracing = tracing_to(c, 1.0),
    ));
    let url = format!("ws://{}/prod", gw.addr("public"));
    let caller = format!("00-{TRACE}-{CALLER_SPAN}-01");
    let mut client = match WsClient::connect_with(&url, &[("traceparent", &caller)]).await {
        Connect::Open(c) => *c,
        Connect::Refused(s, b) => panic!("refused: {s} {b}"),
    };

    // $connect: the upgrade request's trace, under the caller's span.
    let spans = collector.trace(TRACE).await;
    let connect = named(&spans, "GET $connect");
    assert_eq!(connect["parentSpanId"], CALLER_SPAN);
    assert_eq!(
        attr(connect, "gatehouse.route_key")["stringValue"],
        "$connect"
    );
    assert_eq!(
        attr(connect, "http.response.status_code")["intValue"],
        "101"
    );
    let connection_id = attr(connect, "gatehouse.connection_id")["stringValue"].clone();
    let integration = named(&spans, "integration");
    assert_eq!(integration["parentSpanId"], connect["spanId"]);
    assert_eq!(integration["kind"], 3);
    assert_eq!(
        attr(integration, "gatehouse.integration")["stringValue"],
        "http"
    );
    assert_eq!(
        collector.traceparent_of("/ws/connect").await,
        format!("00-{TRACE}-{}-01", integration["spanId"].as_str().unwrap())
    );

    // A message: a trace of its own, linked to $connect.
    client.send_text(r#"{"action":"echo"}"#).await;
    assert_eq!(client.recv_text(Duration::from_secs(10)).await, "{}");
    let sent = collector.traceparent_of("/ws/echo").await;
    let (trace_id, parent) = ids(&sent);
    assert_ne!(trace_id, TRACE);
    let spans = collector.trace(trace_id).await;
    let message = named(&spans, "MESSAGE echo");
    assert_eq!(message["kind"], 2);
    assert!(message.get("parentSpanId").is_none(), "{message}");
    assert_eq!(message["links"][0]["traceId"], TRACE);
    assert_eq!(message["links"][0]["spanId"], connect["spanId"]);
    assert_eq!(attr(message, "gatehouse.route_key")["stringValue"], "echo");
    assert_eq!(
        attr(message, "gatehouse.event_type")["stringValue"],
        "MESSAGE"
    );
    assert_eq!(
        attr(message, "gatehouse.connection_id")["stringValue"],
        connection_id
    );
    assert_eq!(attr(message, "gatehouse.status")["intValue"], "200");
    let integration = named(&spans, "integration");
    assert_eq!(integration["spanId"], parent);
    assert_eq!(integration["parentSpanId"], message["spanId"]);

    // $disconnect, when the client leaves.
    client.ws.close(None).await.unwrap();
    client.ended(Duration::from_secs(10)).await;
    let sent = collector.traceparent_of("/ws/disconnect").await;
    let (trace_id, parent) = ids(&sent);
    let spans = collector.trace(trace_id).await;
    let disconnect = named(&spans, "DISCONNECT $disconnect");
    assert_eq!(disconnect["links"][0]["spanId"], connect["spanId"]);
    assert_eq!(named(&spans, "integration")["spanId"], parent);
}
