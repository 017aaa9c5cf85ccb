//! The function's proxy response as API Gateway turns it into an HTTP response.
//!
//! Payload 1.0 (REST APIs, "Output format of a Lambda function for proxy integration"): an
//! object of `statusCode`, `headers`, `multiValueHeaders`, `body` and `isBase64Encoded` only;
//! anything else (no `statusCode`, an unknown field, a non-string body) is a malformed proxy
//! response, 502. `headers` and `multiValueHeaders` are merged into one list per name; a value
//! in both appears once, from `multiValueHeaders` ("If the same key-value pair is specified in
//! both, only the values from multiValueHeaders will appear in the merged list"). A base64
//! body is decoded only when the request's first `Accept` media type is one of the API's
//! binary media types; otherwise the base64 text is the body ("API Gateway uses the first
//! Accept header from the client to determine if a response should return binary media").
//!
//! Payload 2.0 (HTTP APIs, "Lambda function response format"): `statusCode`, `headers`,
//! `body`, `isBase64Encoded` and `cookies` (each one `Set-Cookie`); a JSON value without
//! `statusCode` is inferred to be the body of a 200 `application/json` answer. A base64 body
//! is always decoded. There is no `multiValueHeaders` in 2.0; one sent is ignored.
//!
//! Both default `Content-Type` to `application/json`. Hop-by-hop headers and `Content-Length`
//! from the function are dropped: the gateway frames the body itself.

use super::{is_binary, malformed, PayloadFormat};
use crate::body::Body;
use crate::error::Rejection;
use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Response, StatusCode};
use serde_json::{Map, Value};

/// Whether the request's first `Accept` media type is a binary media type (payload 1.0).
pub fn accepts_binary(types: &[Box<str>], request: &HeaderMap) -> bool {
    let first = request
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split(',').next());
    is_binary(types, first)
}

/// Turns a function's proxy response into an HTTP response; anything malformed is 502.
/// `decode_base64`: whether a body with `isBase64Encoded` goes out decoded.
pub fn proxy_response(
    payload: &[u8],
    format: PayloadFormat,
    decode_base64: bool,
) -> Result<Response<Body>, Rejection> {
    let doc: Value = serde_json::from_slice(payload)
        .map_err(|e| malformed(format!("the function's response is not JSON: {e}")))?;
    let obj = match (&doc, format) {
        (Value::Object(obj), _) if obj.contains_key("statusCode") => obj,
        (_, PayloadFormat::V2) => return Ok(inferred(doc)),
        (Value::Object(_), PayloadFormat::V1) => {
            return Err(malformed("the function's response has no statusCode"))
        }
        (_, PayloadFormat::V1) => {
            return Err(malformed("the function's response is not a JSON object"))
        }
    };
    if format == PayloadFormat::V1 {
        if let Some(key) = obj.keys().find(|k| {
            !matches!(
                k.as_str(),
                "statusCode" | "headers" | "multiValueHeaders" | "body" | "isBase64Encoded"
            )
        }) {
            return Err(malformed(format!(
                "the function's response has an unexpected field `{key}`"
            )));
        }
    }
    let status = obj
        .get("statusCode")
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| malformed("the function's response has no valid statusCode"))?;
    let mut headers = HeaderMap::new();
    if format == PayloadFormat::V1 {
        for (k, vs) in object(obj, "multiValueHeaders")? {
            let Value::Array(vs) = vs else {
                return Err(malformed(format!("multiValueHeaders `{k}` is not a list")));
            };
            for v in vs {
                headers.append(name(k)?, value(k, v)?);
            }
        }
    }
    for (k, v) in object(obj, "headers")? {
        let (n, v) = (name(k)?, value(k, v)?);
        if !headers.get_all(&n).iter().any(|have| *have == v) {
            headers.append(n, v);
        }
    }
    if format == PayloadFormat::V2 {
        match obj.get("cookies") {
            None | Some(Value::Null) => {}
            Some(Value::Array(cookies)) => {
                for c in cookies {
                    headers.append(http::header::SET_COOKIE, value("cookies", c)?);
                }
            }
            Some(_) => return Err(malformed("`cookies` is not a list")),
        }
    }
    crate::integration::http_proxy::strip_hop_by_hop(&mut headers);
    headers.remove(CONTENT_LENGTH);
    let base64 = match obj.get("isBase64Encoded") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        Some(_) => return Err(malformed("`isBase64Encoded` is not a boolean")),
    };
    let body = match obj.get("body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(s)) if base64 && decode_base64 => Bytes::from(
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| malformed(format!("`body` is not base64: {e}")))?,
        ),
        Some(Value::String(s)) => Bytes::from(s.clone()),
        Some(_) => return Err(malformed("`body` is not a string")),
    };
    let mut resp = Response::new(Body::full(body));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    default_json(resp.headers_mut());
    Ok(resp)
}

/// Payload 2.0 format inference: the whole value is the body of a 200 JSON answer.
fn inferred(doc: Value) -> Response<Body> {
    let mut resp = Response::new(Body::full(match doc {
        Value::String(s) => s,
        other => other.to_string(),
    }));
    default_json(resp.headers_mut());
    resp
}

fn default_json(headers: &mut HeaderMap) {
    headers
        .entry(CONTENT_TYPE)
        .or_insert(HeaderValue::from_static("application/json"));
}

/// The object under `key` (absent and null are empty).
fn object<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<&'a Map<String, Value>, Rejection> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    match obj.get(key) {
        None | Some(Value::Null) => Ok(EMPTY.get_or_init(Map::new)),
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(malformed(format!("`{key}` is not an object"))),
    }
}

fn name(k: &str) -> Result<HeaderName, Rejection> {
    HeaderName::from_bytes(k.as_bytes())
        .map_err(|_| malformed(format!("`{k}` is not a header name")))
}

fn value(k: &str, v: &Value) -> Result<HeaderValue, Rejection> {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return Err(malformed(format!("a value of `{k}` is not a string"))),
    };
    HeaderValue::from_str(&text).map_err(|_| malformed(format!("bad value for header `{k}`")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use serde_json::json;

    async fn answer(doc: Value, format: PayloadFormat, decode: bool) -> (u16, HeaderMap, Bytes) {
        let r = proxy_response(doc.to_string().as_bytes(), format, decode).unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.into_body().collect().await.unwrap().to_bytes();
        (status, headers, body)
    }

    fn all(h: &HeaderMap, name: &str) -> Vec<String> {
        h.get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    // AWS, "Output format of a Lambda function for proxy integration": headers and
    // multiValueHeaders are merged; a pair in both appears once.
    #[tokio::test]
    async fn v1_merges_headers_and_defaults_to_json() {
        let doc = json!({
            "statusCode": 201,
            "headers": {"X-One": "a", "Set-Cookie": "b=2", "x-same": "s"},
            "multiValueHeaders": {"set-cookie": ["a=1", "b=2"], "X-Same": ["s"]},
            "body": "hi",
        });
        let (status, h, body) = answer(doc, PayloadFormat::V1, false).await;
        assert_eq!(status, 201);
        assert_eq!(all(&h, "set-cookie"), ["a=1", "b=2"]);
        assert_eq!(all(&h, "x-same"), ["s"]);
        assert_eq!(all(&h, "x-one"), ["a"]);
        assert_eq!(all(&h, "content-type"), ["application/json"]);
        assert_eq!(body, "hi");
        let doc =
            json!({"statusCode": 200, "headers": {"a": "1"}, "multiValueHeaders": {"A": ["2"]}});
        let (_, h, _) = answer(doc, PayloadFormat::V1, false).await;
        assert_eq!(all(&h, "a"), ["2", "1"]);
    }

    // AWS, "Return binary media from a Lambda proxy integration": REST APIs decode base64
    // only for a binary Accept; HTTP APIs always.
    #[tokio::test]
    async fn base64_bodies_are_decoded_as_each_api_kind_does() {
        let doc = json!({"statusCode": 200, "body": "aGk=", "isBase64Encoded": true});
        let (_, _, body) = answer(doc.clone(), PayloadFormat::V1, false).await;
        assert_eq!(body, "aGk=");
        let (_, _, body) = answer(doc.clone(), PayloadFormat::V1, true).await;
        assert_eq!(body, "hi");
        let (_, _, body) = answer(doc, PayloadFormat::V2, true).await;
        assert_eq!(body, "hi");
        let types: Vec<Box<str>> = vec!["image/png".into(), "application/*".into()];
        let accept = |a: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(ACCEPT, HeaderValue::from_static(a));
            accepts_binary(&types, &h)
        };
        assert!(accept("image/png"));
        assert!(accept("application/pdf;q=0.9, text/html"));
        assert!(
            !accept("text/html, image/png"),
            "only the first media type counts"
        );
        assert!(!accept("*/*"));
        assert!(!accepts_binary(&types, &HeaderMap::new()));
    }

    // AWS, "Lambda function response format" (HTTP APIs): format inference and cookies.
    #[tokio::test]
    async fn v2_infers_responses_and_sets_cookies() {
        let (status, h, body) = answer(json!({"hello": "world"}), PayloadFormat::V2, true).await;
        assert_eq!(
            (status, body.as_ref()),
            (200, br#"{"hello":"world"}"#.as_ref())
        );
        assert_eq!(all(&h, "content-type"), ["application/json"]);
        let (_, _, body) = answer(json!([1, 2]), PayloadFormat::V2, true).await;
        assert_eq!(body, "[1,2]");
        let (_, _, body) = answer(json!("text"), PayloadFormat::V2, true).await;
        assert_eq!(body, "text");
        let (_, _, body) = answer(json!({"body": "x"}), PayloadFormat::V2, true).await;
        assert_eq!(body, r#"{"body":"x"}"#);
        let doc = json!({
            "statusCode": 302,
            "headers": {"location": "/x", "content-type": "text/plain"},
            "multiValueHeaders": {"x-ignored": ["1"]},
            "cookies": ["a=1; Path=/", "b=2"],
        });
        let (status, h, _) = answer(doc, PayloadFormat::V2, true).await;
        assert_eq!(status, 302);
        assert_eq!(all(&h, "set-cookie"), ["a=1; Path=/", "b=2"]);
        assert_eq!(all(&h, "content-type"), ["text/plain"]);
        assert!(h.get("x-ignored").is_none());
    }

    #[test]
    fn malformed_v1_responses_are_rejected() {
        for doc in [
            json!({"body": "no status"}),
            json!({"statusCode": 200, "cookies": []}),
            json!({"statusCode": 200, "body": {"not": "a string"}}),
            json!({"statusCode": 200, "headers": []}),
            json!("text"),
        ] {
            let r = proxy_response(doc.to_string().as_bytes(), PayloadFormat::V1, false);
            assert_eq!(
                r.err().and_then(|e| e.status),
                Some(StatusCode::BAD_GATEWAY),
                "{doc}"
            );
        }
        assert!(proxy_response(b"not json", PayloadFormat::V2, true).is_err());
    }
}
