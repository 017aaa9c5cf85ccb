//! Request heads out, response heads in.

use crate::error::Error;
use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Version};
use std::mem::MaybeUninit;

/// Most header lines an answer may have.
const MAX_HEADERS: usize = 100;
/// Largest answer head.
pub(crate) const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How the request body is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    Length(u64),
    Chunked,
}

/// Writes `METHOD target HTTP/1.1`, `Host`, the caller's headers (less `Host`,
/// `Content-Length` and `Transfer-Encoding`, which are the client's to set) and the framing.
pub(crate) fn encode_request(
    method: &Method,
    target: &str,
    host: &str,
    headers: &HeaderMap,
    framing: Framing,
) -> Bytes {
    let mut size = method.as_str().len() + target.len() + host.len() + 48;
    for (name, value) in headers {
        size += name.as_str().len() + value.len() + 4;
    }
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        if name == header::HOST
            || name == header::CONTENT_LENGTH
            || name == header::TRANSFER_ENCODING
        {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match framing {
        Framing::Length(0) if !sends_empty_length(method) => {}
        Framing::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            let mut digits = [0u8; 20];
            out.extend_from_slice(decimal(n, &mut digits));
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    out.extend_from_slice(b"\r\n");
    out.into()
}

/// Methods whose requests normally carry a body say `Content-Length: 0` when theirs is empty
/// (RFC 9110 section 8.6); the others say nothing.
fn sends_empty_length(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET
            | Method::HEAD
            | Method::DELETE
            | Method::OPTIONS
            | Method::CONNECT
            | Method::TRACE
    )
}

fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// How the answer's body is delimited (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    Length(u64),
    Chunked,
    /// Until the backend closes the connection.
    Close,
}

/// A parsed answer head.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    pub(crate) parts: http::response::Parts,
    pub(crate) body: BodyKind,
    /// The connection may carry another request once this answer is read.
    pub(crate) keep_alive: bool,
}

/// Parses one answer head from the front of `buf` and removes it. `Ok(None)`: incomplete.
/// Interim answers (1xx other than 101) are dropped and parsing goes on.
pub(crate) fn parse_response(
    buf: &mut BytesMut,
    request_method: &Method,
) -> Result<Option<ResponseHead>, Error> {
    loop {
        let mut slots = [const { MaybeUninit::uninit() }; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut []);
        let len = match httparse::ParserConfig::default()
            .parse_response_with_uninit_headers(&mut resp, buf, &mut slots)
        {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => {
                if buf.len() > MAX_HEAD_BYTES {
                    return Err(Error::bad(format!(
                        "answer head over {MAX_HEAD_BYTES} bytes"
                    )));
                }
                return Ok(None);
            }
            Err(e) => return Err(Error::bad(format!("answer head: {e}"))),
        };
        let code = resp.code.unwrap_or(0);
        let status =
            StatusCode::from_u16(code).map_err(|_| Error::bad(format!("status code {code}")))?;
        if status.is_informational() {
            if status == StatusCode::SWITCHING_PROTOCOLS {
                return Err(Error::bad("101 to a request that asked for no upgrade"));
            }
            bytes::Buf::advance(buf, len);
            continue;
        }
        let version = match resp.version {
            Some(0) => Version::HTTP_10,
            _ => Version::HTTP_11,
        };
        // Header values stay slices of the head: parse the frozen head again to get them.
        let head = buf.split_to(len).freeze();
        let mut slots = [const { MaybeUninit::uninit() }; MAX_HEADERS];
        let mut again = httparse::Response::new(&mut []);
        if httparse::ParserConfig::default()
            .parse_response_with_uninit_headers(&mut again, &head, &mut slots)
            .is_err()
        {
            return Err(Error::bad("answer head"));
        }
        let mut headers = HeaderMap::with_capacity(again.headers.len());
        for h in again.headers.iter() {
            let name = HeaderName::from_bytes(h.name.as_bytes())
                .map_err(|_| Error::bad(format!("header name `{}`", h.name)))?;
            let value = HeaderValue::from_maybe_shared(head.slice_ref(h.value))
                .map_err(|_| Error::bad(format!("value of header `{name}`")))?;
            headers.append(name, value);
        }
        let (body, keep_alive) = framing(&mut headers, status, version, request_method)?;
        let mut parts = http::Response::new(()).into_parts().0;
        parts.status = status;
        parts.version = version;
        parts.headers = headers;
        return Ok(Some(ResponseHead {
            parts,
            body,
            keep_alive,
        }));
    }
}

fn framing(
    headers: &mut HeaderMap,
    status: StatusCode,
    version: Version,
    method: &Method,
) -> Result<(BodyKind, bool), Error> {
    let mut keep_alive = match version {
        Version::HTTP_10 => has_token(headers, "keep-alive"),
        _ => !has_token(headers, "close"),
    };
    if *method == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok((BodyKind::Length(0), keep_alive));
    }
    if headers.contains_key(header::TRANSFER_ENCODING) {
        // Transfer-Encoding wins over Content-Length, which must not be passed on; a message
        // that had both is not trusted to leave the connection in a known state.
        if headers.remove(header::CONTENT_LENGTH).is_some() {
            keep_alive = false;
        }
        let last = headers
            .get_all(header::TRANSFER_ENCODING)
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(str::trim);
        return Ok(match last {
            Some(c) if c.eq_ignore_ascii_case("chunked") && version == Version::HTTP_11 => {
                (BodyKind::Chunked, keep_alive)
            }
            _ => (BodyKind::Close, false),
        });
    }
    let mut length: Option<u64> = None;
    for value in headers.get_all(header::CONTENT_LENGTH) {
        for item in value.as_bytes().split(|&b| b == b',') {
            let item = item.trim_ascii();
            let n = std::str::from_utf8(item)
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| Error::bad("Content-Length is not a number"))?;
            if length.is_some_and(|l| l != n) {
                return Err(Error::bad("two different Content-Length values"));
            }
            length = Some(n);
        }
    }
    Ok(match length {
        Some(n) => (BodyKind::Length(n), keep_alive),
        None => (BodyKind::Close, false),
    })
}

fn has_token(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(text: &str, method: Method) -> Result<Option<ResponseHead>, Error> {
        let mut buf = BytesMut::from(text);
        parse_response(&mut buf, &method)
    }

    #[test]
    fn writes_the_head_with_host_and_framing() {
        let mut h = HeaderMap::new();
        h.insert("x-a", HeaderValue::from_static("1"));
        h.insert("host", HeaderValue::from_static("client.example"));
        h.insert("content-length", HeaderValue::from_static("99"));
        let out = encode_request(&Method::POST, "/p?q=1", "b:81", &h, Framing::Length(12));
        assert_eq!(
            &out[..],
            b"POST /p?q=1 HTTP/1.1\r\nhost: b:81\r\nx-a: 1\r\ncontent-length: 12\r\n\r\n"
        );
        let out = encode_request(
            &Method::GET,
            "/",
            "b",
            &HeaderMap::new(),
            Framing::Length(0),
        );
        assert_eq!(&out[..], b"GET / HTTP/1.1\r\nhost: b\r\n\r\n");
        let out = encode_request(
            &Method::PUT,
            "/",
            "b",
            &HeaderMap::new(),
            Framing::Length(0),
        );
        assert!(out.ends_with(b"content-length: 0\r\n\r\n"));
        let out = encode_request(&Method::PUT, "/", "b", &HeaderMap::new(), Framing::Chunked);
        assert!(out.ends_with(b"transfer-encoding: chunked\r\n\r\n"));
    }

    #[test]
    fn reads_heads_and_their_framing() {
        let r = parse(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello",
            Method::GET,
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.parts.status, 200);
        assert_eq!(r.body, BodyKind::Length(5));
        assert!(r.keep_alive);
        assert_eq!(r.parts.headers["x-a"], "b");

        let r = parse(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
            Method::GET,
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.body, BodyKind::Chunked);
        assert!(!r.keep_alive, "both framings: not reused");
        assert!(!r.parts.headers.contains_key("content-length"));

        let r = parse("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", Method::GET)
            .unwrap()
            .unwrap();
        assert_eq!(r.body, BodyKind::Close);
        assert!(!r.keep_alive);

        let r = parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", Method::GET)
            .unwrap()
            .unwrap();
        assert!(!r.keep_alive, "HTTP/1.0 without keep-alive");

        let r = parse(
            "HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n",
            Method::GET,
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.body, BodyKind::Length(0));
        let r = parse("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", Method::HEAD)
            .unwrap()
            .unwrap();
        assert_eq!(r.body, BodyKind::Length(0));
    }

    #[test]
    fn skips_interim_answers_and_waits_for_a_whole_head() {
        let r = parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", Method::POST)
            .unwrap()
            .unwrap();
        assert_eq!(r.parts.status, 201);
        assert!(parse("HTTP/1.1 200 OK\r\nContent-Len", Method::GET)
            .unwrap()
            .is_none());
    }

    #[test]
    fn refuses_bad_heads() {
        for bad in [
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
            "HTTP/1.1 101 Switching Protocols\r\n\r\n",
            "NOTHTTP\r\n\r\n",
        ] {
            assert!(parse(bad, Method::GET).is_err(), "{bad:?}");
        }
        let r = parse(
            "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
            Method::GET,
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.body, BodyKind::Length(5));
    }
}
