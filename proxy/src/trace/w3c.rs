//! W3C Trace Context's `traceparent` header: `VERSION-TRACEID-PARENTID-FLAGS`, in lowercase
//! hex (<https://www.w3.org/TR/trace-context/#traceparent-header>).

/// A valid `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: u128,
    pub parent_id: u64,
    pub sampled: bool,
}

/// Parses `traceparent`; `None` when it is not valid (which means: no caller's trace).
pub fn parse(v: &[u8]) -> Option<TraceParent> {
    if v.len() < 55 || v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
        return None;
    }
    let version = hex(&v[..2])? as u8;
    // Version 00 is exactly 55 bytes; a later version may add fields after a `-`.
    let fits = match version {
        0 => v.len() == 55,
        0xff => false,
        _ => v.len() == 55 || v[55] == b'-',
    };
    let trace_id = hex(&v[3..35])?;
    let parent_id = hex(&v[36..52])? as u64;
    let flags = hex(&v[53..55])? as u8;
    (fits && trace_id != 0 && parent_id != 0).then_some(TraceParent {
        trace_id,
        parent_id,
        sampled: flags & 1 == 1,
    })
}

/// `traceparent` of a sampled span: version 00, the sampled flag set.
pub fn header(trace_id: u128, span_id: u64) -> [u8; 55] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = *b"00-00000000000000000000000000000000-0000000000000000-01";
    for (i, b) in trace_id.to_be_bytes().into_iter().enumerate() {
        out[3 + 2 * i] = DIGITS[usize::from(b >> 4)];
        out[4 + 2 * i] = DIGITS[usize::from(b & 15)];
    }
    for (i, b) in span_id.to_be_bytes().into_iter().enumerate() {
        out[36 + 2 * i] = DIGITS[usize::from(b >> 4)];
        out[37 + 2 * i] = DIGITS[usize::from(b & 15)];
    }
    out
}

/// Lowercase hex digits (at most 32) as a number.
fn hex(digits: &[u8]) -> Option<u128> {
    digits.iter().try_fold(0u128, |n, &d| {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            _ => return None,
        };
        Some(n << 4 | u128::from(v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn reads_the_specs_example() {
        let p = parse(SAMPLED.as_bytes()).unwrap();
        assert_eq!(p.trace_id, 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(p.parent_id, 0x00f067aa0ba902b7);
        assert!(p.sampled);
        assert_eq!(&header(p.trace_id, p.parent_id)[..], SAMPLED.as_bytes());
        let unsampled = SAMPLED.replace("-01", "-00");
        assert!(!parse(unsampled.as_bytes()).unwrap().sampled);
    }

    #[test]
    fn refuses_what_the_spec_calls_invalid() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
        ] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad}");
        }
        // A later version may carry more fields.
        let v1 = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-ab";
        assert!(parse(v1.as_bytes()).is_some());
    }
}
