//! CORS for an API with `cors` settings (API Gateway's `x-amazon-apigateway-cors`): preflight
//! `OPTIONS` requests to a resource without its own `OPTIONS` method are answered by the gateway
//! (before authorizers, as preflights carry no credentials), and every response to an allowed
//! `Origin` carries the `Access-Control-*` headers.

use crate::body::Body;
use gatehouse_config::raw::RawCors;
use gatehouse_config::Errors;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};

#[derive(Debug)]
pub struct Cors {
    /// Allowed origins, lowercase; `*` allows any.
    pub origins: Vec<Box<str>>,
    /// `Access-Control-Allow-Methods` (comma-joined).
    pub methods: HeaderValue,
    pub headers: Option<HeaderValue>,
    pub expose: Option<HeaderValue>,
    pub max_age: Option<HeaderValue>,
    pub credentials: bool,
}

impl Cors {
    /// The `Access-Control-Allow-Origin` value for `origin`, if it is allowed.
    fn allow_origin(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        let o = origin.to_str().ok()?;
        let any = self.origins.iter().any(|x| &**x == "*");
        if any && !self.credentials {
            return Some(HeaderValue::from_static("*"));
        }
        (any || self.origins.iter().any(|x| x.eq_ignore_ascii_case(o))).then(|| origin.clone())
    }

    /// Adds the response headers for an allowed `origin`.
    pub fn decorate(&self, origin: &HeaderValue, headers: &mut HeaderMap) {
        let Some(allow) = self.allow_origin(origin) else {
            return;
        };
        if allow != "*" {
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        if self.credentials {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if let Some(e) = &self.expose {
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, e.clone());
        }
    }

    /// The answer to a preflight: 204, with the allow headers when the origin is allowed.
    pub fn preflight(
        &self,
        origin: Option<&HeaderValue>,
        request_headers: Option<&HeaderValue>,
    ) -> Response<Body> {
        let mut resp = Response::new(Body::Empty);
        *resp.status_mut() = StatusCode::NO_CONTENT;
        let Some(origin) = origin else { return resp };
        if self.allow_origin(origin).is_none() {
            return resp;
        }
        let h = resp.headers_mut();
        self.decorate(origin, h);
        h.remove(header::ACCESS_CONTROL_EXPOSE_HEADERS);
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, self.methods.clone());
        // Without configured headers, the ones asked for are allowed.
        if let Some(v) = self.headers.clone().or_else(|| request_headers.cloned()) {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
        if let Some(m) = &self.max_age {
            h.insert(header::ACCESS_CONTROL_MAX_AGE, m.clone());
        }
        resp
    }
}

pub fn compile(c: &RawCors, e: &mut Errors) -> Option<Box<crate::stage::cors::Cors>> {
    let list = |e: &mut Errors, field: &str, items: &[String]| -> Option<HeaderValue> {
        if items.is_empty() {
            return None;
        }
        let joined = items.join(", ");
        HeaderValue::from_str(&joined)
            .map_err(|_| e.push_at(field, format!("`{joined}` is not a valid header value")))
            .ok()
    };
    if c.allow_origins.is_empty() {
        e.push_at(
            "allow_origins",
            "expected at least one origin, such as https://app.example.com or *",
        );
    }
    for (i, o) in c.allow_origins.iter().enumerate() {
        if o != "*" && !(o.starts_with("http://") || o.starts_with("https://")) {
            e.at("allow_origins", |e| {
                e.index(i, |e| {
                    e.push(format!(
                        "expected * or an origin such as https://app.example.com, found `{o}`"
                    ))
                })
            });
        }
    }
    if c.allow_credentials && c.allow_origins.iter().any(|o| o == "*") {
        e.push_at(
            "allow_credentials",
            "browsers refuse credentials with a `*` origin; list the origins instead",
        );
    }
    for (i, m) in c.allow_methods.iter().enumerate() {
        if m != "*" && Method::from_bytes(m.as_bytes()).is_err() {
            e.at("allow_methods", |e| {
                e.index(i, |e| {
                    e.push(format!("expected an HTTP method, found `{m}`"))
                })
            });
        }
    }
    let methods = list(e, "allow_methods", &c.allow_methods).unwrap_or(HeaderValue::from_static(
        "GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS",
    ));
    Some(Box::new(crate::stage::cors::Cors {
        origins: c
            .allow_origins
            .iter()
            .map(|o| {
                o.trim_end_matches('/')
                    .to_ascii_lowercase()
                    .into_boxed_str()
            })
            .collect(),
        methods,
        headers: list(e, "allow_headers", &c.allow_headers),
        expose: list(e, "expose_headers", &c.expose_headers),
        max_age: c.max_age.map(HeaderValue::from),
        credentials: c.allow_credentials,
    }))
}
