//! The admin console's page and the admin tokens.
//!
//! `GET /console` and its script and style sheet are embedded in the binary and served without
//! a token: they hold no data. The page asks for the admin token and sends it as
//! `Authorization: Bearer TOKEN` on every call it makes (`console_api` and the admin routes).
//!
//! [`Tokens`] checks that header: `admin.token` may do everything, `admin.read_only_token` may
//! only read (`GET` and `HEAD`); anything else it asks for is 403.

use super::json;
use crate::body::Body;
use crate::config::AdminSettings;
use http::header::{HeaderValue, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, Method, Response, StatusCode};
use std::sync::Arc;

const INDEX: &str = include_str!("console/index.html");
const SCRIPT: &str = include_str!("console/console.js");
const STYLE: &str = include_str!("console/console.css");
const USAGE: &str = include_str!("console/usage.js");
const DEPLOYMENTS: &str = include_str!("console/deployments.js");

/// Answers `GET /console`, `/console/` and the page's scripts and style sheet under
/// `/console/`.
pub(super) fn asset(method: &Method, path: &str) -> Option<Response<Body>> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    let (body, content_type) = match path {
        "/console" | "/console/" => (INDEX, "text/html; charset=utf-8"),
        "/console/console.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "/console/console.css" => (STYLE, "text/css; charset=utf-8"),
        "/console/usage.js" => (USAGE, "text/javascript; charset=utf-8"),
        "/console/deployments.js" => (DEPLOYMENTS, "text/javascript; charset=utf-8"),
        _ => return None,
    };
    let mut r = Response::new(Body::full(body));
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Everything the page loads comes from this listener: no inline script, no other origin.
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    Some(r)
}

/// What a caller's token lets it do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// `admin.token`, or no token configured.
    Full,
    /// `admin.read_only_token`: reads only.
    ReadOnly,
}

impl Access {
    pub(super) fn name(self) -> &'static str {
        match self {
            Access::Full => "full",
            Access::ReadOnly => "read-only",
        }
    }
}

/// The admin listener's tokens, as the `Authorization` values they must arrive in.
#[derive(Debug)]
pub(super) struct Tokens {
    full: Box<[u8]>,
    read_only: Option<Box<[u8]>>,
}

impl Tokens {
    /// `None` when no `admin.token` is set: every route is open.
    pub(super) fn of(settings: &AdminSettings) -> Option<Arc<Tokens>> {
        let bearer = |t: &str| format!("Bearer {t}").into_bytes().into_boxed_slice();
        Some(Arc::new(Tokens {
            full: bearer(settings.token.as_deref()?),
            read_only: settings.read_only_token.as_deref().map(bearer),
        }))
    }

    /// What the request's `Authorization` header allows; `None` without a known token.
    fn access(&self, headers: &HeaderMap) -> Option<Access> {
        let given = headers.get(AUTHORIZATION)?.as_bytes();
        if super::constant_time_eq(given, &self.full) {
            Some(Access::Full)
        } else if self
            .read_only
            .as_deref()
            .is_some_and(|r| super::constant_time_eq(given, r))
        {
            Some(Access::ReadOnly)
        } else {
            None
        }
    }

    /// The answer that refuses the request, or `None` when its token may make it: 401
    /// without a known token, 403 for a read-only token asking for anything but `GET` or
    /// `HEAD`.
    pub(super) fn refusal(&self, method: &Method, headers: &HeaderMap) -> Option<Response<Body>> {
        match self.access(headers) {
            Some(Access::Full) => None,
            Some(Access::ReadOnly) if method == Method::GET || method == Method::HEAD => None,
            Some(Access::ReadOnly) => Some(json(
                StatusCode::FORBIDDEN,
                r#"{"message":"the read-only admin token cannot change anything"}"#.to_owned(),
            )),
            None => {
                let mut r = json(
                    StatusCode::UNAUTHORIZED,
                    r#"{"message":"Unauthorized"}"#.to_owned(),
                );
                r.headers_mut()
                    .insert("www-authenticate", HeaderValue::from_static("Bearer"));
                Some(r)
            }
        }
    }
}

/// What `headers` may do, for a request [`Tokens::refusal`] has let through.
pub(super) fn access_of(tokens: Option<&Tokens>, headers: &HeaderMap) -> Access {
    tokens
        .and_then(|t| t.access(headers))
        .unwrap_or(Access::Full)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens {
            full: b"Bearer full".to_vec().into(),
            read_only: Some(b"Bearer look".to_vec().into()),
        }
    }

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn the_read_only_token_reads_and_cannot_change() {
        let t = tokens();
        assert!(t.refusal(&Method::POST, &headers("Bearer full")).is_none());
        assert!(t.refusal(&Method::GET, &headers("Bearer look")).is_none());
        let refused = t.refusal(&Method::POST, &headers("Bearer look")).unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        let refused = t.refusal(&Method::PATCH, &headers("Bearer look")).unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        let unknown = t.refusal(&Method::GET, &headers("Bearer nope")).unwrap();
        assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
        let missing = t.refusal(&Method::GET, &HeaderMap::new()).unwrap();
        assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            access_of(Some(&t), &headers("Bearer look")),
            Access::ReadOnly
        );
    }

    #[test]
    fn assets_are_the_embedded_files() {
        let r = asset(&Method::GET, "/console").unwrap();
        assert_eq!(r.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(asset(&Method::GET, "/console/console.js").is_some());
        assert!(asset(&Method::GET, "/console/usage.js").is_some());
        assert!(asset(&Method::GET, "/console/deployments.js").is_some());
        assert!(asset(&Method::POST, "/console").is_none());
        assert!(asset(&Method::GET, "/console/other").is_none());
    }
}
