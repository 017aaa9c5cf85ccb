//! `wasi:http` through the real binary: a standard `wasi:http/proxy` component (the
//! `wasi-http-hello` plugin, built against the `wasip2` crate with no Gatehouse SDK) serves as
//! an integration, sees the gateway's context headers (and never a client's forgery of them),
//! reads a streamed body and streams its answer; its outbound requests through
//! `wasi:http/outgoing-handler` reach a granted loopback backend, are denied elsewhere without
//! touching the network, and are cut off at the grant's timeout.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::backend::Backend;
use gatehouse_e2e::{http1_client, json, plugin_path, Gateway, BASE};

/// `hello` (granted `allowed`'s origin with a 300 ms timeout), `closed` (no grant) and
/// `patient` (granted, the default 10 s timeout, a 5 s deadline), each under `/NAME/{proxy+}`,
/// a mock under `/plain`, and a stage variable.
fn config(allowed: &Backend) -> String {
    let hello = plugin_path("wasi-http-hello");
    let hello = hello.display();
    let origin = format!("http://{}", allowed.addr);
    format!(
        r#"{BASE}plugins:
  hello:
    path: {hello}
    http_outbound:
      allow: ["{origin}"]
      timeout: 300ms
  closed:
    path: {hello}
  patient:
    path: {hello}
    timeout: 5s
    http_outbound:
      allow: ["{origin}"]
apis:
  - name: app
    stages: {{ prod: {{ variables: {{ color: blue }} }} }}
    resources:
      /hello/{{proxy+}}: {{ ANY: {{ integration: {{ type: wasm, plugin: hello }} }} }}
      /closed/{{proxy+}}: {{ ANY: {{ integration: {{ type: wasm, plugin: closed }} }} }}
      /patient/{{proxy+}}: {{ ANY: {{ integration: {{ type: wasm, plugin: patient }} }} }}
      /plain: {{ GET: {{ integration: {{ type: mock, body: plain }} }} }}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasi_http_component_serves_with_the_gateways_context() {
    let backend = Backend::start("b").await;
    let gw = Gateway::start_workers(&config(&backend), 1);
    let c = http1_client();
    let url = format!("{}/prod/hello/hello/pets/7?q=1", gw.url("public"));
    let r = c
        .get(&url)
        .header("x-gatehouse-principal-id", "forged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let first = json(r).await;
    assert_eq!(first["method"], "GET");
    // The path below the stage, as a Lambda proxy event's `path`.
    assert_eq!(first["path"], "/hello/hello/pets/7?q=1");
    let ctx = &first["context"];
    assert_eq!(ctx["x-gatehouse-stage"], "prod");
    assert_eq!(ctx["x-gatehouse-resource-path"], "/hello/{proxy+}");
    assert_eq!(ctx["x-gatehouse-path-parameters"], "proxy=hello%2Fpets%2F7");
    assert_eq!(ctx["x-gatehouse-stage-variables"], "color=blue");
    assert_eq!(ctx["x-gatehouse-source-ip"], "127.0.0.1");
    assert!(ctx["x-gatehouse-request-id"].as_str().unwrap().len() == 36);
    // No authorizer ran: a client's own x-gatehouse-* header does not get through.
    assert!(ctx.get("x-gatehouse-principal-id").is_none(), "{first}");

    // One worker, instances reused: the second call finds the first one's global.
    let second = json(c.get(&url).send().await.unwrap()).await;
    assert_eq!(
        second["calls"].as_u64().unwrap(),
        first["calls"].as_u64().unwrap() + 1
    );

    // A call that returns with its body written goes out whole, of known length; one that an
    // epoch tick interrupted after it set its response streams instead, so of ten calls on a
    // warm instance, most (here: one at least) are whole.
    let mut whole = 0;
    for _ in 0..10 {
        let r = c.get(&url).send().await.unwrap();
        let length = r.headers().get("content-length").cloned();
        let body = r.bytes().await.unwrap();
        if let Some(length) = length {
            assert_eq!(length.to_str().unwrap(), body.len().to_string());
            whole += 1;
        }
    }
    assert!(whole > 0, "every response streamed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_stream_in_and_out() {
    let backend = Backend::start("b").await;
    let gw = Gateway::start(&config(&backend));
    let c = http1_client();
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let r = c
        .post(format!("{}/prod/hello/echo", gw.url("public")))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), body.as_slice());

    let r = c
        .get(format!("{}/prod/hello/stream/500", gw.url("public")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Five hundred writes do not fit the body's buffer: the response left while the plugin
    // was still writing, and its body streamed.
    assert_eq!(r.headers()["transfer-encoding"], "chunked");
    let text = r.text().await.unwrap();
    assert_eq!(text.lines().count(), 500);
    assert_eq!(text.lines().last(), Some("chunk 499"));

    let r = c
        .get(format!("{}/prod/closed/nothing-here", gw.url("public")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

/// How a request to a plugin that traps mid-call ended for the client.
#[derive(Debug, PartialEq)]
enum Ending {
    /// The gateway answered for the failed call.
    BadGateway,
    /// The connection closed before the response was whole (before its head, or mid-body).
    CutShort,
}

async fn ending(c: &reqwest::Client, url: &str) -> Ending {
    let Ok(r) = c.get(url).send().await else {
        return Ending::CutShort;
    };
    let status = r.status();
    match r.bytes().await {
        Ok(body) => {
            assert_eq!(
                status, 502,
                "a trapped call's response ended as if whole: {body:?}"
            );
            let body = String::from_utf8_lossy(&body);
            assert!(body.contains("Internal server error"), "{body}");
            Ending::BadGateway
        }
        Err(_) => Ending::CutShort,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_traps_fails_its_own_response_only() {
    let backend = Backend::start("b").await;
    let gw = Gateway::start(&config(&backend));
    let c = http1_client();
    // One chunk written, then a trap: the call fails before its response leaves, and the
    // client gets the gateway's 502. A call that an epoch tick interrupted after it set its
    // response has sent it on, and is cut short instead; of five calls, one at least is a 502.
    let url = format!("{}/prod/hello/stream-then-trap/1", gw.url("public"));
    let mut endings = Vec::new();
    for _ in 0..5 {
        endings.push(ending(&c, &url).await);
    }
    assert!(endings.contains(&Ending::BadGateway), "{endings:?}");

    // Five hundred chunks: the response has left when the plugin traps, so it is cut short;
    // the client never sees a body that looks whole.
    let url = format!("{}/prod/hello/stream-then-trap/500", gw.url("public"));
    assert_eq!(ending(&c, &url).await, Ending::CutShort);

    // The trap cost those requests only: the plugin serves the next one.
    let r = c
        .get(format!("{}/prod/hello/stream/3", gw.url("public")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap().lines().count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_requests_reach_only_granted_origins() {
    let allowed = Backend::start("allowed").await;
    let other = Backend::start("other").await;
    let gw = Gateway::start(&config(&allowed));
    let c = http1_client();
    let fetch = |plugin: &str, target: String| {
        let url = format!("{}/prod/{plugin}/fetch/{target}", gw.url("public"));
        let c = c.clone();
        async move {
            let r = c.get(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };

    // Granted: the component gets the backend's answer.
    let (status, body) = fetch("hello", format!("{}/status/201", allowed.addr)).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = fetch("hello", format!("{}/from-plugin", allowed.addr)).await;
    assert_eq!(status, 200, "{body}");
    let seen: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(seen["path"], "/from-plugin");
    assert_eq!(allowed.hits(), 2);

    // Another port of the same host, and a plugin with no grant: denied inside the plugin,
    // and nothing reaches either backend.
    let (status, body) = fetch("hello", format!("{}/x", other.addr)).await;
    assert_eq!(
        (status, body.as_str()),
        (502, "ErrorCode::HttpRequestDenied")
    );
    let (status, body) = fetch("closed", format!("{}/x", allowed.addr)).await;
    assert_eq!(
        (status, body.as_str()),
        (502, "ErrorCode::HttpRequestDenied")
    );
    assert_eq!(other.hits(), 0);
    assert_eq!(allowed.hits(), 2);

    // A granted backend slower than the grant's 300 ms timeout.
    let (status, body) = fetch("hello", format!("{}/delay/2000/slow", allowed.addr)).await;
    assert_eq!(
        (status, body.as_str()),
        (502, "ErrorCode::HttpResponseTimeout")
    );
}

/// With one worker, plugin calls waiting on a slow outbound request do not hold the worker:
/// requests to a mock route sent meanwhile all succeed, and the waiting calls then get their
/// answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_waiting_on_an_outbound_call_does_not_hold_the_worker() {
    let backend = Backend::start("slow").await;
    let gw = Gateway::start_workers(&config(&backend), 1);
    let slow: Vec<_> = (0..3)
        .map(|_| {
            let url = format!(
                "{}/prod/patient/fetch/{}/delay/1500/x",
                gw.url("public"),
                backend.addr
            );
            tokio::spawn(async move { http1_client().get(&url).send().await.map(|r| r.status()) })
        })
        .collect();
    let c = http1_client();
    let mut plain = 0;
    while plain < 20 {
        let r = c
            .get(format!("{}/prod/plain", gw.url("public")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "plain");
        plain += 1;
    }
    let waiting = slow.iter().filter(|t| !t.is_finished()).count();
    eprintln!(
        "{plain} plain requests done while {waiting} of 3 plugin calls waited on the backend"
    );
    for t in slow {
        assert_eq!(t.await.unwrap().unwrap(), 200);
    }
}
