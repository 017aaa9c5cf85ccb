use super::*;

fn tracer(sample: f64) -> (Tracer, tokio::sync::mpsc::Receiver<Box<Trace>>) {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let t = Tracer {
        threshold: (sample * u64::MAX as f64) as u64,
        always: sample >= 1.0,
        queue: tx,
        batch_at: 2,
        batch_ready: tokio::sync::Notify::new(),
        dropped: AtomicU64::new(0),
        exported: AtomicU64::new(0),
    };
    (t, rx)
}

fn headers(traceparent: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("traceparent", traceparent.parse().unwrap());
    h.insert("tracestate", "vendor=1".parse().unwrap());
    h
}

fn server(route: &str, status: u16) -> ServerSpan<'_> {
    ServerSpan {
        method: "GET",
        path: "/prod/pets",
        route: (!route.is_empty()).then_some(route),
        api: Some("pets"),
        stage: None,
        status,
        request_id: uuid::Uuid::nil(),
        client: std::net::Ipv4Addr::LOCALHOST.into(),
    }
}

const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[test]
fn the_callers_flag_decides_else_the_ratio() {
    let (never, _rx) = tracer(0.0);
    assert!(!never.begin(&HeaderMap::new()).is_on());
    assert!(never.begin(&headers(CALLER)).is_on());
    let (always, _rx) = tracer(1.0);
    assert!(always.begin(&HeaderMap::new()).is_on());
    assert!(!always
        .begin(&headers(&CALLER.replace("-01", "-00")))
        .is_on());
    let (half, _rx) = tracer(0.5);
    let on = (0..10_000)
        .filter(|_| half.begin(&HeaderMap::new()).is_on())
        .count();
    assert!((4_000..6_000).contains(&on), "{on}");
}

#[test]
fn spans_nest_and_open_ones_end_as_errors() {
    let (t, mut rx) = tracer(1.0);
    let mut rt = t.begin(&headers(CALLER));
    let route = rt.start("route", Kind::Internal);
    rt.end(route);
    let cache = rt.start("cache", Kind::Internal);
    let integration = rt.start("integration", Kind::Client);
    let mut h = HeaderMap::new();
    rt.propagate(&mut h, || "backend:80");
    rt.end(cache);
    let _open = rt.start("map-response", Kind::Internal);
    rt.attr(integration, "gatehouse.integration", || {
        Value::Str("http_proxy".into())
    });
    t.finish(rt, server("/pets", 502));
    let trace = rx.try_recv().unwrap();
    let s = &trace.spans;
    assert_eq!(s.len(), 5);
    assert_eq!(trace.remote_parent, Some(0x00f067aa0ba902b7));
    assert_eq!(
        (s[1].parent, s[2].parent, s[3].parent, s[4].parent),
        (0, 0, 2, 0)
    );
    assert!(s.iter().all(|s| s.end >= s.start && s.end > 0));
    assert!(s[0].error && !s[1].error && !s[3].error && s[4].error);
    let tp = h.get("traceparent").unwrap().to_str().unwrap();
    assert_eq!(
        tp,
        format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{:016x}-01", s[3].id)
    );
    assert_eq!(h.get("tracestate").unwrap(), "vendor=1");

    let json: serde_json::Value =
        serde_json::from_slice(&export::encode("gw \"1\"", &[trace])).unwrap();
    let rs = &json["resourceSpans"][0];
    assert_eq!(
        rs["resource"]["attributes"][0]["value"]["stringValue"],
        "gw \"1\""
    );
    let spans = rs["scopeSpans"][0]["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 5);
    assert_eq!(spans[0]["name"], "GET /pets");
    assert_eq!(spans[0]["kind"], 2);
    assert_eq!(spans[0]["parentSpanId"], "00f067aa0ba902b7");
    assert_eq!(spans[0]["status"]["code"], 2);
    let attrs = |i: usize| {
        spans[i]["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["key"].as_str().unwrap(), a["value"].clone()))
            .collect::<std::collections::HashMap<_, _>>()
    };
    let root = attrs(0);
    assert_eq!(root["http.response.status_code"]["intValue"], "502");
    assert_eq!(root["http.route"]["stringValue"], "/pets");
    assert_eq!(root["http.request.method"]["stringValue"], "GET");
    assert_eq!(root["url.path"]["stringValue"], "/prod/pets");
    assert_eq!(root["gatehouse.api"]["stringValue"], "pets");
    assert_eq!(root["client.address"]["stringValue"], "127.0.0.1");
    assert_eq!(
        root["gatehouse.request_id"]["stringValue"],
        "00000000-0000-0000-0000-000000000000"
    );
    assert!(!root.contains_key("gatehouse.stage"));
    assert_eq!(spans[3]["parentSpanId"], spans[2]["spanId"]);
    assert_eq!(spans[3]["kind"], 3);
    assert_eq!(attrs(3)["server.address"]["stringValue"], "backend:80");
    assert_eq!(
        attrs(3)["gatehouse.integration"]["stringValue"],
        "http_proxy"
    );
    let start: u64 = spans[1]["startTimeUnixNano"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(start > 1_600_000_000_000_000_000);
}

#[test]
fn a_full_queue_drops_and_counts() {
    let (t, _rx) = tracer(1.0);
    for _ in 0..6 {
        let rt = t.begin(&HeaderMap::new());
        t.finish(rt, server("", 200));
    }
    assert_eq!(t.dropped.load(Ordering::Relaxed), 2);
}

#[test]
fn off_records_nothing_and_leaves_headers_alone() {
    let mut off = RequestTrace::OFF;
    let s = off.start("route", Kind::Internal);
    assert!(s.is_none());
    off.end(s);
    let mut h = headers(CALLER);
    off.propagate(&mut h, || unreachable!());
    assert_eq!(h.get("traceparent").unwrap(), CALLER);
}

#[test]
fn a_kept_propagation_names_its_span_and_an_unused_span_is_dropped() {
    let (t, mut rx) = tracer(1.0);
    let mut rt = t.begin(&headers(CALLER));
    let authorize = rt.start("authorize", Kind::Internal);
    // A cached decision: the span made no call and goes.
    let unused = rt.start("authorizer", Kind::Client);
    let p = rt.propagation(|| "lambda:9001").unwrap();
    assert!(!p.applied());
    rt.discard(unused);
    // A call: the span stays, and the call carried it.
    let called = rt.start("authorizer", Kind::Client);
    let p = rt.propagation(|| "lambda:9001").unwrap();
    let mut h = HeaderMap::new();
    p.apply(&mut h);
    assert!(p.applied());
    rt.end(called);
    rt.end(authorize);
    t.finish(rt, server("/pets", 200));
    let trace = rx.try_recv().unwrap();
    let s = &trace.spans;
    assert_eq!(s.len(), 3);
    assert_eq!((s[1].parent, s[2].parent), (0, 1));
    let tp = h.get("traceparent").unwrap().to_str().unwrap();
    assert_eq!(
        tp,
        format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{:016x}-01", s[2].id)
    );
    assert_eq!(h.get("tracestate").unwrap(), "vendor=1");
    let on_span = |i: u16| trace.attrs.iter().filter(|a| a.0 == i).count();
    assert_eq!((on_span(1), on_span(2)), (0, 1));

    let mut off = RequestTrace::OFF;
    assert!(off.propagation(|| unreachable!()).is_none());
    off.discard(None);
}

#[test]
fn websocket_events_are_named_by_route_and_link_to_connect() {
    let (t, mut rx) = tracer(1.0);
    let mut connect = t.begin(&HeaderMap::new());
    connect.websocket_connect("conn-1");
    let link = connect.context().unwrap();
    t.finish(connect, server("", 101));
    let connect = rx.try_recv().unwrap();
    assert_eq!(connect.str(&connect.spans[0].name), "GET $connect");
    assert_eq!(link.span_id, connect.spans[0].id);

    let mut message = t.begin_event();
    let integration = message.start("integration", Kind::Client);
    message.propagate(&mut HeaderMap::new(), || "backend:80");
    message.end(integration);
    let span = |route_key, status| EventSpan {
        event_type: "MESSAGE",
        route_key,
        connection_id: "conn-1",
        message_id: Some("m-1"),
        api: "chat",
        stage: "prod",
        status,
        request_id: uuid::Uuid::nil(),
        client: std::net::Ipv4Addr::LOCALHOST.into(),
        link: Some(link),
    };
    t.finish_event(message, span(Some("echo"), 200));
    t.finish_event(t.begin_event(), span(None, 500));
    let traces = [rx.try_recv().unwrap(), rx.try_recv().unwrap()];
    assert_ne!(traces[0].trace_id, link.trace_id);
    let json: serde_json::Value = serde_json::from_slice(&export::encode("gw", &traces)).unwrap();
    let spans = json["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array()
        .unwrap();
    assert_eq!(spans.len(), 3);
    assert_eq!(spans[0]["name"], "MESSAGE echo");
    assert!(spans[0].get("parentSpanId").is_none());
    assert_eq!(
        spans[0]["links"][0]["spanId"],
        format!("{:016x}", link.span_id)
    );
    assert_eq!(
        spans[0]["links"][0]["traceId"],
        format!("{:032x}", link.trace_id)
    );
    assert_eq!(spans[1]["parentSpanId"], spans[0]["spanId"]);
    assert!(spans[1].get("links").is_none());
    let keys: Vec<&str> = spans[0]["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["key"].as_str().unwrap())
        .collect();
    for k in [
        "gatehouse.route_key",
        "gatehouse.event_type",
        "gatehouse.connection_id",
        "gatehouse.message_id",
        "gatehouse.status",
    ] {
        assert!(keys.contains(&k), "{k} in {keys:?}");
    }
    assert_eq!(spans[2]["name"], "MESSAGE");
    assert_eq!(spans[2]["status"]["code"], 2);
}
