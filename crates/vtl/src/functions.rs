//! Values and built-ins: property and index access, comparison and arithmetic, the Java
//! methods of strings, lists and maps, and `$util`.

use crate::ast::Op;
use serde_json::{Number, Value};
use std::fmt::Write as _;

/// How a value prints in a template: nothing for null, strings as they are, the rest as JSON.
pub(crate) fn display(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

pub(crate) fn truthy(v: &Value) -> bool {
    !matches!(v, Value::Null | Value::Bool(false))
}

pub(crate) fn property(v: &Value, name: &str) -> Value {
    match v {
        Value::Object(m) => m.get(name).cloned().unwrap_or(Value::Null),
        // Java bean getters on lists and strings that templates use as properties.
        Value::Array(a) if name == "size" || name == "length" => Value::from(a.len()),
        Value::String(s) if name == "length" => Value::from(s.chars().count()),
        _ => Value::Null,
    }
}

pub(crate) fn index(v: &Value, idx: &Value) -> Value {
    match (v, idx) {
        (Value::Array(a), Value::Number(n)) => n
            .as_i64()
            .and_then(|i| {
                let i = if i < 0 { a.len() as i64 + i } else { i };
                usize::try_from(i).ok()
            })
            .and_then(|i| a.get(i).cloned())
            .unwrap_or(Value::Null),
        (Value::Object(m), k) => m.get(&display(k)).cloned().unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

pub(crate) fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        // Velocity compares different types by their string forms.
        (Value::String(s), other) | (other, Value::String(s)) if !other.is_null() => {
            *s == display(other)
        }
        _ => a == b,
    }
}

pub(crate) fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

pub(crate) fn arith(op: Op, a: &Value, b: &Value) -> Result<Value, String> {
    if op == Op::Add {
        if let (Value::String(_), _) | (_, Value::String(_)) = (a, b) {
            return Ok(Value::String(display(a) + &display(b)));
        }
    }
    let (Value::Number(x), Value::Number(y)) = (a, b) else {
        return Err(format!("arithmetic needs numbers, found {a} and {b}"));
    };
    if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
        let r = match op {
            Op::Add => x.checked_add(y),
            Op::Sub => x.checked_sub(y),
            Op::Mul => x.checked_mul(y),
            Op::Div => x.checked_div(y),
            _ => x.checked_rem(y),
        };
        return r
            .map(Value::from)
            .ok_or_else(|| "integer overflow or division by zero".to_owned());
    }
    let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
    let r = match op {
        Op::Add => x + y,
        Op::Sub => x - y,
        Op::Mul => x * y,
        Op::Div => x / y,
        _ => x % y,
    };
    Number::from_f64(r)
        .map(Value::Number)
        .ok_or_else(|| "not a finite number".to_owned())
}

pub(crate) fn str_arg(args: &[Value], i: usize) -> Result<String, String> {
    match args.get(i) {
        Some(v) => Ok(display(v)),
        None => Err(format!("missing argument {}", i + 1)),
    }
}

pub(crate) fn int_arg(args: &[Value], i: usize) -> Result<i64, String> {
    args.get(i)
        .and_then(Value::as_i64)
        .ok_or_else(|| format!("argument {} must be an integer", i + 1))
}

/// Java's methods on strings, lists and maps.
pub(crate) fn method(v: &Value, name: &str, args: &[Value]) -> Result<Value, String> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    let common = match name {
        "toString" => Some(Value::String(display(v))),
        "equals" => Some(Value::Bool(loose_eq(
            v,
            args.first().unwrap_or(&Value::Null),
        ))),
        "isEmpty" => Some(Value::Bool(match v {
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(m) => m.is_empty(),
            _ => false,
        })),
        "size" | "length" | "count" => match v {
            Value::String(s) => Some(Value::from(s.chars().count())),
            Value::Array(a) => Some(Value::from(a.len())),
            Value::Object(m) => Some(Value::from(m.len())),
            _ => None,
        },
        _ => None,
    };
    if let Some(r) = common {
        return Ok(r);
    }
    match v {
        Value::String(s) => string_method(s, name, args),
        Value::Array(a) => match name {
            "get" => Ok(index(v, &Value::from(int_arg(args, 0)?))),
            "contains" => {
                Ok(Value::Bool(a.iter().any(|x| {
                    loose_eq(x, args.first().unwrap_or(&Value::Null))
                })))
            }
            "indexOf" => Ok(Value::from(
                a.iter()
                    .position(|x| loose_eq(x, args.first().unwrap_or(&Value::Null)))
                    .map_or(-1, |p| p as i64),
            )),
            _ => Err(format!("lists have no method `{name}`")),
        },
        Value::Object(m) => match name {
            "get" => Ok(m.get(&str_arg(args, 0)?).cloned().unwrap_or(Value::Null)),
            "containsKey" => Ok(Value::Bool(m.contains_key(&str_arg(args, 0)?))),
            "keySet" => Ok(Value::Array(
                m.keys().map(|k| Value::String(k.clone())).collect(),
            )),
            "values" => Ok(Value::Array(m.values().cloned().collect())),
            "entrySet" => Ok(Value::Array(
                m.iter()
                    .map(|(k, v)| serde_json::json!({ "key": k, "value": v }))
                    .collect(),
            )),
            _ => Err(format!("maps have no method `{name}`")),
        },
        Value::Number(n) => match name {
            "intValue" | "longValue" => Ok(Value::from(n.as_f64().unwrap_or(0.0) as i64)),
            "doubleValue" | "floatValue" => {
                Ok(Number::from_f64(n.as_f64().unwrap_or(0.0)).map_or(Value::Null, Value::Number))
            }
            _ => Err(format!("numbers have no method `{name}`")),
        },
        _ => Err(format!("{v} has no method `{name}`")),
    }
}

pub(crate) fn string_method(s: &str, name: &str, args: &[Value]) -> Result<Value, String> {
    Ok(match name {
        "contains" => Value::Bool(s.contains(&str_arg(args, 0)?)),
        "startsWith" => Value::Bool(s.starts_with(&str_arg(args, 0)?)),
        "endsWith" => Value::Bool(s.ends_with(&str_arg(args, 0)?)),
        "indexOf" => Value::from(
            s.find(&str_arg(args, 0)?)
                .map_or(-1, |i| s[..i].chars().count() as i64),
        ),
        "toLowerCase" => Value::String(s.to_lowercase()),
        "toUpperCase" => Value::String(s.to_uppercase()),
        "trim" => Value::String(s.trim().to_owned()),
        "equalsIgnoreCase" => Value::Bool(s.eq_ignore_ascii_case(&str_arg(args, 0)?)),
        "substring" => {
            let chars: Vec<char> = s.chars().collect();
            let from = usize::try_from(int_arg(args, 0)?).map_err(|_| "negative index")?;
            let to = match args.get(1) {
                Some(_) => usize::try_from(int_arg(args, 1)?).map_err(|_| "negative index")?,
                None => chars.len(),
            };
            if from > to || to > chars.len() {
                return Err(format!(
                    "substring({from}, {to}) of a {}-character string",
                    chars.len()
                ));
            }
            Value::String(chars[from..to].iter().collect())
        }
        "replace" => Value::String(s.replace(&str_arg(args, 0)?, &str_arg(args, 1)?)),
        "replaceAll" | "replaceFirst" => {
            let re = regex::Regex::new(&str_arg(args, 0)?)
                .map_err(|e| format!("bad regular expression: {e}"))?;
            // Java's `$1` group references read the same in the regex crate.
            let with = str_arg(args, 1)?;
            let out = if name == "replaceAll" {
                re.replace_all(s, with.as_str())
            } else {
                re.replacen(s, 1, with.as_str())
            };
            Value::String(out.into_owned())
        }
        "matches" => {
            let re = regex::Regex::new(&format!("^(?:{})$", str_arg(args, 0)?))
                .map_err(|e| format!("bad regular expression: {e}"))?;
            Value::Bool(re.is_match(s))
        }
        "split" => {
            let re = regex::Regex::new(&str_arg(args, 0)?)
                .map_err(|e| format!("bad regular expression: {e}"))?;
            Value::Array(re.split(s).map(|p| Value::String(p.to_owned())).collect())
        }
        "charAt" => {
            let i = usize::try_from(int_arg(args, 0)?).map_err(|_| "negative index")?;
            Value::String(
                s.chars()
                    .nth(i)
                    .map(String::from)
                    .ok_or("index past the end")?,
            )
        }
        _ => return Err(format!("strings have no method `{name}`")),
    })
}

/// `$util.*`.
pub(crate) fn util_call(name: &str, args: &[Value]) -> Result<Value, String> {
    use base64::Engine as _;
    let s = || str_arg(args, 0);
    Ok(match name {
        "escapeJavaScript" => Value::String(escape_javascript(&s()?)),
        "urlEncode" => Value::String(url_encode(&s()?)),
        "urlDecode" => Value::String(url_decode(&s()?)?),
        "base64Encode" => Value::String(base64::engine::general_purpose::STANDARD.encode(s()?)),
        "base64Decode" => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s()?.trim())
                .map_err(|e| format!("$util.base64Decode: {e}"))?;
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        }
        "parseJson" => serde_json::from_str(&s()?).map_err(|e| format!("$util.parseJson: {e}"))?,
        _ => return Err(format!("`$util.{name}` is not known")),
    })
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
