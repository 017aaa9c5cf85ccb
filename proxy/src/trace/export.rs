//! The exporter: drains the queue of finished traces, and posts them in batches to the
//! collector as an OTLP/HTTP `ExportTraceServiceRequest`, in the binary encoding
//! (`super::protobuf`) or the JSON one (here: ids in hex, times as nanosecond strings, enums
//! as numbers). It wakes when the export interval ticks or when a
//! request finds a batch's worth queued (not for every trace: a wake per request would cost
//! the request path a task switch); a collector that fails or does not answer in time loses
//! that batch, counted as dropped, and never holds up a request.

use super::{Kind, Protocol, Trace, Tracer, TracingSettings, Value};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::io::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::Receiver;

/// Most traces in one post.
pub(super) const MAX_BATCH: usize = 512;
/// How long the collector has to answer a post.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) async fn run(
    settings: TracingSettings,
    mut queue: Receiver<Box<Trace>>,
    tracer: Arc<Tracer>,
) {
    let client = Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .build_http::<Full<Bytes>>();
    let mut tick = tokio::time::interval(settings.export_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = tracer.batch_ready.notified() => {}
        }
        loop {
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(t) => batch.push(t),
                    Err(_) => break,
                }
            }
            if batch.is_empty() {
                break;
            }
            let more = batch.len() == MAX_BATCH;
            failing = send(&client, &settings, &tracer, &batch, failing).await;
            batch.clear();
            if !more {
                break;
            }
        }
    }
}

/// Posts `batch`; whether the post failed.
async fn send(
    client: &HttpClient,
    settings: &TracingSettings,
    tracer: &Tracer,
    batch: &[Box<Trace>],
    failing: bool,
) -> bool {
    {
        let body = match settings.protocol {
            Protocol::Protobuf => super::protobuf::encode(&settings.service_name, batch),
            Protocol::Json => encode(&settings.service_name, batch),
        };
        let sent = batch.len() as u64;
        match post(client, settings, body).await {
            Ok(()) => {
                tracer.exported.fetch_add(sent, Ordering::Relaxed);
                if failing {
                    tracing::info!(endpoint = %settings.endpoint, "the OTLP collector accepts traces again");
                }
                false
            }
            Err(why) => {
                tracer.dropped.fetch_add(sent, Ordering::Relaxed);
                if !failing {
                    tracing::warn!(endpoint = %settings.endpoint, "cannot export traces: {why}");
                }
                true
            }
        }
    }
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

async fn post(
    client: &HttpClient,
    settings: &TracingSettings,
    body: Vec<u8>,
) -> Result<(), String> {
    let content_type = match settings.protocol {
        Protocol::Protobuf => "application/x-protobuf",
        Protocol::Json => "application/json",
    };
    let req = http::Request::post(settings.endpoint.clone())
        .header(http::header::CONTENT_TYPE, content_type)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let resp = tokio::time::timeout(POST_TIMEOUT, client.request(req))
        .await
        .map_err(|_| format!("no answer within {POST_TIMEOUT:?}"))?
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    // The answer's body is not read: dropping it closes or frees the connection.
    match status.is_success() {
        true => Ok(()),
        false => Err(format!("the collector answered {status}")),
    }
}

/// The JSON `ExportTraceServiceRequest` of `traces`: one resource (the service) and one
/// instrumentation scope (`gatehouse`).
pub(super) fn encode(service_name: &str, traces: &[Box<Trace>]) -> Vec<u8> {
    let spans: usize = traces.iter().map(|t| t.spans.len()).sum();
    let mut out = Vec::with_capacity(256 + spans * 320);
    out.extend_from_slice(
        br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"#,
    );
    json_str(&mut out, service_name);
    let _ = write!(
        out,
        r#"}}}}]}},"scopeSpans":[{{"scope":{{"name":"gatehouse","version":"{}"}},"spans":["#,
        env!("CARGO_PKG_VERSION")
    );
    let mut first = true;
    for t in traces {
        for (i, s) in t.spans.iter().enumerate() {
            if !first {
                out.push(b',');
            }
            first = false;
            let parent = match i {
                0 => t.remote_parent,
                _ => Some(t.spans[s.parent as usize].id),
            };
            out.extend_from_slice(br#"{"traceId":""#);
            hex(&mut out, &t.trace_id.to_be_bytes());
            out.extend_from_slice(br#"","spanId":""#);
            hex(&mut out, &s.id.to_be_bytes());
            if let Some(p) = parent {
                out.extend_from_slice(br#"","parentSpanId":""#);
                hex(&mut out, &p.to_be_bytes());
            }
            out.extend_from_slice(br#"","name":"#);
            json_str(&mut out, t.str(&s.name));
            out.extend_from_slice(match s.kind {
                Kind::Internal => br#","kind":1,"startTimeUnixNano":""#,
                Kind::Server => br#","kind":2,"startTimeUnixNano":""#,
                Kind::Client => br#","kind":3,"startTimeUnixNano":""#,
            });
            decimal(&mut out, t.unix_ns + s.start);
            out.extend_from_slice(br#"","endTimeUnixNano":""#);
            decimal(&mut out, t.unix_ns + s.end);
            out.extend_from_slice(br#"","attributes":["#);
            let attrs = t
                .attrs
                .iter()
                .filter(|(span, _, _)| usize::from(*span) == i);
            for (j, (_, k, v)) in attrs.enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(br#"{"key":""#);
                out.extend_from_slice(k.as_bytes());
                out.extend_from_slice(br#"","value":{"#);
                match v {
                    Value::Str(_) | Value::Text(_) => {
                        out.extend_from_slice(br#""stringValue":"#);
                        json_str(&mut out, t.str(v));
                    }
                    Value::Int(n) => {
                        out.extend_from_slice(br#""intValue":""#);
                        if *n < 0 {
                            out.push(b'-');
                        }
                        decimal(&mut out, n.unsigned_abs());
                        out.push(b'"');
                    }
                    Value::Uuid(id) => {
                        let mut buf = uuid::Uuid::encode_buffer();
                        out.extend_from_slice(br#""stringValue":""#);
                        out.extend_from_slice(id.hyphenated().encode_lower(&mut buf).as_bytes());
                        out.push(b'"');
                    }
                    Value::Ip(ip) => {
                        let _ = write!(out, r#""stringValue":"{ip}""#);
                    }
                    Value::Bool(true) => out.extend_from_slice(br#""boolValue":true"#),
                    Value::Bool(false) => out.extend_from_slice(br#""boolValue":false"#),
                }
                out.extend_from_slice(b"}}");
            }
            out.push(b']');
            if let (0, Some(link)) = (i, t.link) {
                out.extend_from_slice(br#","links":[{"traceId":""#);
                hex(&mut out, &link.trace_id.to_be_bytes());
                out.extend_from_slice(br#"","spanId":""#);
                hex(&mut out, &link.span_id.to_be_bytes());
                out.extend_from_slice(br#""}]"#);
            }
            // Status codes: 0 unset, 2 error.
            out.extend_from_slice(match s.error {
                true => br#","status":{"code":2}}"#,
                false => br#","status":{"code":0}}"#,
            });
        }
    }
    out.extend_from_slice(b"]}]}]}");
    out
}

/// `bytes` in lowercase hex.
fn hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 15)]);
    }
}

/// `n` in decimal.
fn decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// `s` as a JSON string, quoted and escaped.
fn json_str(out: &mut Vec<u8>, s: &str) {
    if serde_json::to_writer(&mut *out, s).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}
