//! OTLP trace posts as a collector reads them: the binary (protobuf) encoding decoded with
//! `prost` from message types written here after OTLP's `trace.proto`, `common.proto` and
//! `resource.proto` (only the fields a trace post uses), and both encodings turned into the
//! same JSON value (OTLP/JSON's field names, ids in hex, times and 64-bit integers as
//! strings), so a test asserts on one shape whatever the gateway sent.

use prost::Message;
use serde_json::{json, Map, Value};

#[derive(Clone, PartialEq, Message)]
pub struct ExportTraceServiceRequest {
    #[prost(message, repeated, tag = "1")]
    pub resource_spans: Vec<ResourceSpans>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ResourceSpans {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    pub scope_spans: Vec<ScopeSpans>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Resource {
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ScopeSpans {
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    #[prost(message, repeated, tag = "2")]
    pub spans: Vec<Span>,
}

#[derive(Clone, PartialEq, Message)]
pub struct InstrumentationScope {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub version: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Span {
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
    #[prost(string, tag = "3")]
    pub trace_state: String,
    #[prost(bytes = "vec", tag = "4")]
    pub parent_span_id: Vec<u8>,
    #[prost(string, tag = "5")]
    pub name: String,
    #[prost(int32, tag = "6")]
    pub kind: i32,
    #[prost(fixed64, tag = "7")]
    pub start_time_unix_nano: u64,
    #[prost(fixed64, tag = "8")]
    pub end_time_unix_nano: u64,
    #[prost(message, repeated, tag = "9")]
    pub attributes: Vec<KeyValue>,
    #[prost(message, repeated, tag = "13")]
    pub links: Vec<Link>,
    #[prost(message, optional, tag = "15")]
    pub status: Option<Status>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Link {
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Status {
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(int32, tag = "3")]
    pub code: i32,
}

#[derive(Clone, PartialEq, Message)]
pub struct KeyValue {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

#[derive(Clone, PartialEq, Message)]
pub struct AnyValue {
    #[prost(oneof = "any_value::Value", tags = "1, 2, 3, 4")]
    pub value: Option<any_value::Value>,
}

pub mod any_value {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        #[prost(string, tag = "1")]
        StringValue(String),
        #[prost(bool, tag = "2")]
        BoolValue(bool),
        #[prost(int64, tag = "3")]
        IntValue(i64),
        #[prost(double, tag = "4")]
        DoubleValue(f64),
    }
}

/// A trace post's body as OTLP/JSON's value, by its `content_type`: JSON as it is, protobuf
/// decoded and mapped; an error for anything else or a body that does not decode.
pub fn post_as_json(content_type: &str, body: &[u8]) -> Result<Value, String> {
    match content_type {
        "application/json" => serde_json::from_slice(body).map_err(|e| e.to_string()),
        "application/x-protobuf" => ExportTraceServiceRequest::decode(body)
            .map(|req| request_json(&req))
            .map_err(|e| format!("not an ExportTraceServiceRequest: {e}")),
        other => Err(format!("unexpected content-type {other}")),
    }
}

fn request_json(req: &ExportTraceServiceRequest) -> Value {
    let resource_spans: Vec<Value> = req
        .resource_spans
        .iter()
        .map(|rs| {
            let scope_spans: Vec<Value> = rs
                .scope_spans
                .iter()
                .map(|ss| {
                    let scope = ss.scope.clone().unwrap_or_default();
                    json!({
                        "scope": {"name": scope.name, "version": scope.version},
                        "spans": ss.spans.iter().map(span_json).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let attributes = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes);
            json!({
                "resource": {"attributes": attributes_json(attributes)},
                "scopeSpans": scope_spans,
            })
        })
        .collect();
    json!({ "resourceSpans": resource_spans })
}

fn span_json(s: &Span) -> Value {
    let mut out = Map::new();
    out.insert("traceId".into(), hex(&s.trace_id).into());
    out.insert("spanId".into(), hex(&s.span_id).into());
    if !s.parent_span_id.is_empty() {
        out.insert("parentSpanId".into(), hex(&s.parent_span_id).into());
    }
    out.insert("name".into(), s.name.clone().into());
    out.insert("kind".into(), s.kind.into());
    out.insert(
        "startTimeUnixNano".into(),
        s.start_time_unix_nano.to_string().into(),
    );
    out.insert(
        "endTimeUnixNano".into(),
        s.end_time_unix_nano.to_string().into(),
    );
    out.insert("attributes".into(), attributes_json(&s.attributes));
    if !s.links.is_empty() {
        let links: Vec<Value> = s
            .links
            .iter()
            .map(|l| json!({"traceId": hex(&l.trace_id), "spanId": hex(&l.span_id)}))
            .collect();
        out.insert("links".into(), links.into());
    }
    let code = s.status.as_ref().map_or(0, |st| st.code);
    out.insert("status".into(), json!({ "code": code }));
    Value::Object(out)
}

fn attributes_json(attrs: &[KeyValue]) -> Value {
    use any_value::Value as V;
    attrs
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(V::StringValue(s)) => json!({ "stringValue": s }),
                Some(V::BoolValue(b)) => json!({ "boolValue": b }),
                Some(V::IntValue(n)) => json!({ "intValue": n.to_string() }),
                Some(V::DoubleValue(d)) => json!({ "doubleValue": d }),
                None => json!({}),
            };
            json!({ "key": kv.key, "value": value })
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
