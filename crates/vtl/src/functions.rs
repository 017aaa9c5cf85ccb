//! Operators over values (comparison, arithmetic, `+` joining strings) and `$util`.

use crate::ast::Op;
use crate::value::{as_f64, Heap, V};
use std::fmt::Write as _;

/// `< <= > >=` on numbers or strings; anything else compares false, as Velocity logs and
/// answers false.
pub(crate) fn compare(a: &V, b: &V) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (V::Int(x), V::Int(y)) => Some(x.cmp(y)),
        (V::Str(x), V::Str(y)) => Some(x.cmp(y)),
        _ => as_f64(a)?.partial_cmp(&as_f64(b)?),
    }
}

/// `+ - * / %`. `+` with a string on either side joins the printed forms; integer overflow
/// widens to a double, as Velocity's `MathUtils` widens.
pub(crate) fn arith(heap: &Heap, op: Op, a: &V, b: &V) -> Result<V, String> {
    if op == Op::Add && (matches!(a, V::Str(_)) || matches!(b, V::Str(_))) {
        let (x, y) = (heap.display(a)?, heap.display(b)?);
        if x.len() + y.len() > heap.limits.max_string {
            return Err(format!(
                "a string of more than {} bytes",
                heap.limits.max_string
            ));
        }
        return Ok(V::str(x + &y));
    }
    if let (V::Int(x), V::Int(y)) = (a, b) {
        if matches!(op, Op::Div | Op::Rem) && *y == 0 {
            return Err("division by zero".into());
        }
        let r = match op {
            Op::Add => x.checked_add(*y),
            Op::Sub => x.checked_sub(*y),
            Op::Mul => x.checked_mul(*y),
            Op::Div => x.checked_div(*y),
            _ => x.checked_rem(*y),
        };
        if let Some(r) = r {
            return Ok(V::Int(r));
        }
    }
    let (Some(x), Some(y)) = (as_f64(a), as_f64(b)) else {
        return Err(format!(
            "arithmetic needs numbers, found `{}` and `{}`",
            heap.display(a)?,
            heap.display(b)?
        ));
    };
    if matches!(op, Op::Div | Op::Rem) && y == 0.0 {
        return Err("division by zero".into());
    }
    Ok(V::Float(match op {
        Op::Add => x + y,
        Op::Sub => x - y,
        Op::Mul => x * y,
        Op::Div => x / y,
        _ => x % y,
    }))
}

/// `$util.*` as API Gateway documents it. `qr`/`quiet` and the rest of AppSync's `$util` do
/// not exist there.
pub(crate) fn util_call(heap: &mut Heap, name: &str, args: &[V]) -> Result<V, String> {
    use base64::Engine as _;
    let arg = args
        .first()
        .ok_or_else(|| format!("`$util.{name}` needs an argument"))?;
    let s = heap.display(arg)?;
    let out = match name {
        "escapeJavaScript" => escape_javascript(&s),
        "urlEncode" => url_encode(&s),
        "urlDecode" => url_decode(&s)?,
        "base64Encode" => base64::engine::general_purpose::STANDARD.encode(s),
        "base64Decode" => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .map_err(|e| format!("$util.base64Decode: {e}"))?;
            String::from_utf8_lossy(&bytes).into_owned()
        }
        "parseJson" => {
            let v: serde_json::Value =
                serde_json::from_str(&s).map_err(|e| format!("$util.parseJson: {e}"))?;
            return heap.load_json(&v, true);
        }
        "qr" | "quiet" => {
            return Err(format!(
                "`$util.{name}` is AppSync's, not API Gateway's; use #set($ignored = ...)"
            ))
        }
        _ => return Err(format!("`$util.{name}` is not known")),
    };
    if out.len() > heap.limits.max_string {
        return Err(format!(
            "a string of more than {} bytes",
            heap.limits.max_string
        ));
    }
    Ok(V::str(out))
}

/// Java's `StringEscapeUtils.escapeJavaScript`: quotes, backslash, slash, control characters
/// and non-ASCII as `\uXXXX`.
pub(crate) fn escape_javascript(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04X}");
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// `application/x-www-form-urlencoded`, as Java's `URLEncoder` (UTF-8).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

pub(crate) fn url_decode(s: &str) -> Result<String, String> {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|e| format!("$util.urlDecode: {e}"))
}
