//! OTLP/HTTP's binary encoding (`application/x-protobuf`) of `ExportTraceServiceRequest`,
//! written straight from the recorded traces: ids as raw bytes, times as `fixed64`, the same
//! resource, scope, spans, attributes, links and status as the JSON encoding. Each nested
//! message is written in place behind a one-byte length that is widened afterwards when the
//! message turned out longer than 127 bytes, so nothing is measured twice.

use super::{Kind, Trace, Value};
use std::io::Write as _;

/// Protobuf's wire types.
const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;

/// The protobuf `ExportTraceServiceRequest` of `traces`: one resource (the service) and one
/// instrumentation scope (`gatehouse`).
pub(super) fn encode(service_name: &str, traces: &[Box<Trace>]) -> Vec<u8> {
    let spans: usize = traces.iter().map(|t| t.spans.len()).sum();
    let mut out = Vec::with_capacity(128 + spans * 192);
    // ExportTraceServiceRequest.resource_spans
    nested(&mut out, 1, |out| {
        // ResourceSpans.resource, Resource.attributes
        nested(out, 1, |out| {
            nested(out, 1, |out| {
                bytes(out, 1, b"service.name");
                nested(out, 2, |out| bytes(out, 1, service_name.as_bytes()));
            })
        });
        // ResourceSpans.scope_spans
        nested(out, 2, |out| {
            // ScopeSpans.scope: InstrumentationScope's name and version
            nested(out, 1, |out| {
                bytes(out, 1, b"gatehouse");
                bytes(out, 2, env!("CARGO_PKG_VERSION").as_bytes());
            });
            for t in traces {
                for i in 0..t.spans.len() {
                    // ScopeSpans.spans
                    nested(out, 2, |out| span(out, t, i));
                }
            }
        });
    });
    out
}

/// The fields of span `i` of `t`.
fn span(out: &mut Vec<u8>, t: &Trace, i: usize) {
    let s = &t.spans[i];
    bytes(out, 1, &t.trace_id.to_be_bytes());
    bytes(out, 2, &s.id.to_be_bytes());
    let parent = match i {
        0 => t.remote_parent,
        _ => Some(t.spans[s.parent as usize].id),
    };
    if let Some(p) = parent {
        bytes(out, 4, &p.to_be_bytes());
    }
    bytes(out, 5, t.str(&s.name).as_bytes());
    let kind = match s.kind {
        Kind::Internal => 1,
        Kind::Server => 2,
        Kind::Client => 3,
    };
    tag(out, 6, VARINT);
    varint(out, kind);
    tag(out, 7, FIXED64);
    out.extend_from_slice(&(t.unix_ns + s.start).to_le_bytes());
    tag(out, 8, FIXED64);
    out.extend_from_slice(&(t.unix_ns + s.end).to_le_bytes());
    for (_, key, v) in t
        .attrs
        .iter()
        .filter(|(span, _, _)| usize::from(*span) == i)
    {
        // Span.attributes: KeyValue's key and AnyValue
        nested(out, 9, |out| {
            bytes(out, 1, key.as_bytes());
            nested(out, 2, |out| any_value(out, t, v));
        });
    }
    if let (0, Some(link)) = (i, t.link) {
        // Span.links: the linked span's trace and span ids
        nested(out, 13, |out| {
            bytes(out, 1, &link.trace_id.to_be_bytes());
            bytes(out, 2, &link.span_id.to_be_bytes());
        });
    }
    if s.error {
        // Span.status: code 2 (error); an unset status is left out.
        nested(out, 15, |out| {
            tag(out, 3, VARINT);
            varint(out, 2);
        });
    }
}

/// An attribute's `AnyValue`: `string_value` (1), `bool_value` (2) or `int_value` (3).
fn any_value(out: &mut Vec<u8>, t: &Trace, v: &Value) {
    match v {
        Value::Str(_) | Value::Text(_) => bytes(out, 1, t.str(v).as_bytes()),
        Value::Bool(b) => {
            tag(out, 2, VARINT);
            varint(out, u64::from(*b));
        }
        Value::Int(n) => {
            tag(out, 3, VARINT);
            // int64 travels as its two's complement.
            varint(out, *n as u64);
        }
        Value::Uuid(id) => {
            let mut buf = uuid::Uuid::encode_buffer();
            bytes(out, 1, id.hyphenated().encode_lower(&mut buf).as_bytes());
        }
        Value::Ip(ip) => nested(out, 1, |out| {
            let _ = write!(out, "{ip}");
        }),
    }
}

fn tag(out: &mut Vec<u8>, field: u32, wire: u32) {
    varint(out, u64::from(field << 3 | wire));
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A length-delimited field holding `b`.
fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    tag(out, field, LEN);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A length-delimited field whose content `body` writes.
fn nested(out: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    tag(out, field, LEN);
    let at = out.len();
    out.push(0);
    body(out);
    let len = out.len() - at - 1;
    if len < 0x80 {
        out[at] = len as u8;
        return;
    }
    let mut prefix = Vec::with_capacity(10);
    varint(&mut prefix, len as u64);
    out.splice(at..=at, prefix);
}

#[cfg(test)]
mod tests {
    use super::{nested, varint};

    #[test]
    fn varints_take_seven_bits_a_byte() {
        for (n, want) in [
            (0u64, &[0u8][..]),
            (1, &[1]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (300, &[0xac, 0x02]),
            (
                u64::MAX,
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ] {
            let mut out = Vec::new();
            varint(&mut out, n);
            assert_eq!(out, want, "{n}");
        }
    }

    #[test]
    fn a_long_nested_message_gets_a_wider_length() {
        for len in [0usize, 127, 128, 300, 20_000] {
            let mut out = vec![0xee];
            nested(&mut out, 2, |out| out.resize(out.len() + len, 7));
            out.push(0xdd);
            let mut want = vec![0xee, 2 << 3 | 2];
            varint(&mut want, len as u64);
            want.resize(want.len() + len, 7);
            want.push(0xdd);
            assert_eq!(out, want, "{len}");
        }
    }
}
