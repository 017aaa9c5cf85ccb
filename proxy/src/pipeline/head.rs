//! The request head as the RFCs allow it, checked before routing: which authority the request
//! is for, and transfer codings the gateway cannot pass on. Reads only the head; ends the
//! request with 400 (a missing, repeated or malformed `Host`) or 501 (a transfer coding other
//! than `chunked`).

use crate::error::{Rejection, ResponseType};
use http::header::{HOST, TRANSFER_ENCODING};
use http::{HeaderValue, StatusCode, Version};

/// The authority the request is for: the request target's when it has one (an absolute-form
/// HTTP/1.1 target, RFC 9112 §3.2.2; `:authority` on HTTP/2 and HTTP/3, RFC 9113 §8.3.1 and
/// RFC 9114 §4.3.1), else the `Host` header. On HTTP/1.1 exactly one valid `Host` is
/// required even then (RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status
/// code to any HTTP/1.1 request message that lacks a Host header field and to any request
/// message that contains more than one Host header field line or a Host header field with an
/// invalid field value"); HTTP/1.0 may leave it out.
pub fn authority(parts: &http::request::Parts) -> Result<Option<HeaderValue>, Rejection> {
    let mut hosts = parts.headers.get_all(HOST).iter();
    let host = hosts.next();
    let h1 = parts.version <= Version::HTTP_11;
    if h1 {
        if hosts.next().is_some() {
            return Err(bad_host("more than one Host header"));
        }
        match host {
            None if parts.version == Version::HTTP_11 => {
                return Err(bad_host("an HTTP/1.1 request without a Host header"))
            }
            Some(v) if !valid_host(v.as_bytes()) => {
                return Err(bad_host("a Host header that is not host[:port]"))
            }
            _ => {}
        }
    }
    if let Some(a) = parts.uri.authority() {
        // `Uri` accepts user info; an authority with it is not a host the gateway serves.
        if a.as_str().contains('@') {
            return Err(bad_host("a request target whose authority has user info"));
        }
        return Ok(HeaderValue::from_str(a.as_str()).ok());
    }
    match host {
        Some(v) if valid_host(v.as_bytes()) => Ok(Some(v.clone())),
        Some(_) => Err(bad_host("a host header that is not host[:port]")),
        None => Ok(None),
    }
}

/// `uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2): an IP literal in brackets or a
/// registered name (unreserved characters and sub-delimiters; no percent-encoding, which
/// `http`'s authority parser refused too), then digits after a colon. Checked in place: parsing it as an `Authority` copied it, twice a request.
fn valid_host(v: &[u8]) -> bool {
    let (host, port) = if v.first() == Some(&b'[') {
        let Some(end) = v.iter().position(|&b| b == b']') else {
            return false;
        };
        let literal = &v[1..end];
        let ok = !literal.is_empty()
            && literal
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.' | b'v' | b'V'));
        if !ok {
            return false;
        }
        (None, &v[end + 1..])
    } else {
        match v.iter().position(|&b| b == b':') {
            Some(i) => (Some(&v[..i]), &v[i..]),
            None => (Some(v), &v[v.len()..]),
        }
    };
    let name_ok = host.is_none_or(|h| {
        !h.is_empty()
            && h.iter().all(|&b| {
                b.is_ascii_alphanumeric()
                    || matches!(
                        b,
                        b'-' | b'.'
                            | b'_'
                            | b'~'
                            | b'!'
                            | b'$'
                            | b'&'
                            | b'\''
                            | b'('
                            | b')'
                            | b'*'
                            | b'+'
                            | b','
                            | b';'
                            | b'='
                    )
            })
    });
    let port_ok = match port.split_first() {
        None => true,
        Some((b':', digits)) => digits.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    };
    name_ok && port_ok
}

fn bad_host(what: &'static str) -> Rejection {
    Rejection::new(ResponseType::Default4xx, what)
}

/// Refuses transfer codings other than `chunked` (RFC 9112 §6.1: "A server that receives a
/// request message with a transfer coding it does not understand SHOULD respond with 501 (Not
/// Implemented)"). The HTTP/1.1 reader removes the `chunked` framing; a coding below it
/// (`gzip, chunked`) would reach the backend undecoded but unlabelled, so it is refused rather
/// than dropped.
pub fn transfer_codings(parts: &http::request::Parts) -> Result<(), Rejection> {
    for v in parts.headers.get_all(TRANSFER_ENCODING) {
        let Ok(v) = v.to_str() else {
            return Err(not_implemented());
        };
        let unknown = v
            .split(',')
            .map(str::trim)
            .any(|c| !c.is_empty() && !c.eq_ignore_ascii_case("chunked"));
        if unknown {
            return Err(not_implemented());
        }
    }
    Ok(())
}

fn not_implemented() -> Rejection {
    Rejection::new(
        ResponseType::Default5xx,
        "a transfer coding other than chunked",
    )
    .with_status(StatusCode::NOT_IMPLEMENTED)
    .with_message("Not Implemented")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(version: Version, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = http::Request::builder().version(version).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(())
            .map(|r| r.into_parts().0)
            .expect("a valid request")
    }

    fn host(version: Version, uri: &str, headers: &[(&str, &str)]) -> Result<String, String> {
        authority(&parts(version, uri, headers))
            .map(|h| h.map_or(String::new(), |h| h.to_str().unwrap_or("?").to_owned()))
            .map_err(|r| r.reason.into_owned())
    }

    #[test]
    fn http11_needs_exactly_one_valid_host() {
        let v = Version::HTTP_11;
        assert_eq!(
            host(v, "/x", &[("host", "a.example")]).as_deref(),
            Ok("a.example")
        );
        assert!(host(v, "/x", &[]).is_err());
        assert!(host(v, "/x", &[("host", "a.example"), ("host", "b.example")]).is_err());
        assert!(host(v, "/x", &[("host", "u@a.example")]).is_err());
        assert!(host(v, "/x", &[("host", "a b")]).is_err());
        assert!(host(v, "/x", &[("host", "")]).is_err());
        // HTTP/1.0 may leave it out.
        assert_eq!(host(Version::HTTP_10, "/x", &[]).as_deref(), Ok(""));
    }

    #[test]
    fn the_request_targets_authority_wins_over_host() {
        let v = Version::HTTP_11;
        let h = host(v, "http://b.example/x", &[("host", "a.example")]);
        assert_eq!(h.as_deref(), Ok("b.example"));
        assert!(host(v, "http://u@b.example/x", &[("host", "a.example")]).is_err());
        // On HTTP/2 `:authority` (the URI's) wins, and a host header is not required.
        let h = host(
            Version::HTTP_2,
            "https://b.example/x",
            &[("host", "a.example")],
        );
        assert_eq!(h.as_deref(), Ok("b.example"));
        let h = host(Version::HTTP_2, "/x", &[("host", "a.example")]);
        assert_eq!(h.as_deref(), Ok("a.example"));
    }

    /// Hosts as RFC 3986 §3.2.2 writes them, and what is not one. Each verdict is also the
    /// one `http`'s authority parser gives where it applies (it accepts user info, which a
    /// Host must not have).
    #[test]
    fn hosts_are_checked_in_place() {
        let good = [
            "a.example",
            "a.example:8080",
            "A-b_c~d.example:1",
            "127.0.0.1",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:443",
            "[2001:db8::7]",
            "xn--bcher-kva.example",
            "a.example:",
        ];
        let bad = [
            "",
            "a b",
            "u@a.example",
            "a.example:80:80",
            "a.example:8x",
            "[::1",
            "[]",
            "[::1]x",
            "[::1]:8x",
            ":80",
            "a/b",
            "a?b",
            "a#b",
            "a\"b",
            "a%20b",
        ];
        for h in good {
            assert!(valid_host(h.as_bytes()), "{h} is a host");
            assert!(http::uri::Authority::try_from(h).is_ok(), "{h}");
        }
        for h in bad {
            assert!(!valid_host(h.as_bytes()), "{h} is not a host");
        }
    }

    #[test]
    fn transfer_codings_other_than_chunked_are_refused() {
        let v = Version::HTTP_11;
        let ok = |te: &str| transfer_codings(&parts(v, "/", &[("transfer-encoding", te)]));
        assert!(ok("chunked").is_ok());
        assert!(ok("Chunked").is_ok());
        let refused = ok("gzip, chunked").map_err(|r| r.status);
        assert_eq!(refused, Err(Some(StatusCode::NOT_IMPLEMENTED)));
        assert!(ok("identity").is_err());
    }
}
