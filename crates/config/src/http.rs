//! HTTP values as the config writes them: status codes and header maps.

use crate::Errors;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use indexmap::IndexMap;

pub fn status_code(v: Option<u16>, default: u16, e: &mut Errors) -> StatusCode {
    let v = v.unwrap_or(default);
    match StatusCode::from_u16(v) {
        Ok(s) if (100..=599).contains(&v) => s,
        _ => {
            e.push(format!(
                "expected an HTTP status from 100 to 599, found {v}"
            ));
            StatusCode::OK
        }
    }
}

pub fn header_map(raw: &IndexMap<String, String>, e: &mut Errors) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(raw.len());
    for (k, v) in raw {
        let name = HeaderName::from_bytes(k.as_bytes());
        let value = HeaderValue::from_str(v);
        match (name, value) {
            (Ok(n), Ok(v)) => {
                out.append(n, v);
            }
            (Err(_), _) => e.push_at(k, "expected an HTTP header name"),
            (_, Err(_)) => e.push_at(k, "expected a header value of visible ASCII characters"),
        }
    }
    out
}
