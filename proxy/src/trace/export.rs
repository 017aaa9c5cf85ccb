//! The exporter: drains the queue of finished traces, and posts them in batches to the
//! collector as OTLP/HTTP's JSON encoding of `ExportTraceServiceRequest` (ids in hex, times
//! as nanosecond strings, enums as numbers). A batch goes when it is full or when the export
//! interval ticks; a collector that fails or does not answer in time loses that batch, counted
//! as dropped, and never holds up a request.

use super::{Kind, Trace, Tracer, TracingSettings, Value};
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
const MAX_BATCH: usize = 512;
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
        let room = MAX_BATCH - batch.len();
        tokio::select! {
            n = queue.recv_many(&mut batch, room) => {
                if n == 0 {
                    return;
                }
                if batch.len() < MAX_BATCH {
                    continue;
                }
            }
            _ = tick.tick() => {
                if batch.is_empty() {
                    continue;
                }
            }
        }
        let body = encode(&settings.service_name, &batch);
        let sent = batch.len() as u64;
        batch.clear();
        match post(&client, &settings.endpoint, body).await {
            Ok(()) => {
                tracer.exported.fetch_add(sent, Ordering::Relaxed);
                if failing {
                    tracing::info!(endpoint = %settings.endpoint, "the OTLP collector accepts traces again");
                }
                failing = false;
            }
            Err(why) => {
                tracer.dropped.fetch_add(sent, Ordering::Relaxed);
                if !failing {
                    tracing::warn!(endpoint = %settings.endpoint, "cannot export traces: {why}");
                }
                failing = true;
            }
        }
    }
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

async fn post(client: &HttpClient, endpoint: &http::Uri, body: Vec<u8>) -> Result<(), String> {
    let req = http::Request::post(endpoint.clone())
        .header(http::header::CONTENT_TYPE, "application/json")
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
            let _ = write!(
                out,
                r#"{{"traceId":"{:032x}","spanId":"{:016x}","#,
                t.trace_id, s.id
            );
            if let Some(p) = parent {
                let _ = write!(out, r#""parentSpanId":"{p:016x}","#);
            }
            out.extend_from_slice(br#""name":"#);
            json_str(&mut out, &s.name);
            let kind = match s.kind {
                Kind::Internal => 1,
                Kind::Server => 2,
                Kind::Client => 3,
            };
            let _ = write!(
                out,
                r#","kind":{kind},"startTimeUnixNano":"{}","endTimeUnixNano":"{}","attributes":["#,
                t.unix_ns + s.start,
                t.unix_ns + s.end
            );
            for (j, (k, v)) in s.attrs.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                let _ = write!(out, r#"{{"key":"{k}","value":{{"#);
                match v {
                    Value::Str(s) => {
                        out.extend_from_slice(br#""stringValue":"#);
                        json_str(&mut out, s);
                    }
                    Value::Int(n) => {
                        let _ = write!(out, r#""intValue":"{n}""#);
                    }
                    Value::Bool(b) => {
                        let _ = write!(out, r#""boolValue":{b}"#);
                    }
                }
                out.extend_from_slice(b"}}");
            }
            // Status codes: 0 unset, 2 error.
            let code = if s.error { 2 } else { 0 };
            let _ = write!(out, r#"],"status":{{"code":{code}}}}}"#);
        }
    }
    out.extend_from_slice(b"]}]}]}");
    out
}

/// `s` as a JSON string, quoted and escaped.
fn json_str(out: &mut Vec<u8>, s: &str) {
    if serde_json::to_writer(&mut *out, s).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}
