//! Helpers on the WIT types: lookups on requests, builders for responses and decisions.

use crate::{Decision, MultiValue, Pair, Request, Response};

pub(crate) fn find_pair<'a>(list: &'a [Pair], name: &str) -> Option<&'a str> {
    list.iter()
        .find(|p| p.name == name)
        .map(|p| p.value.as_str())
}

pub(crate) fn first<'a>(list: &'a [MultiValue], name: &str, ignore_case: bool) -> Option<&'a str> {
    list.iter()
        .find(|m| {
            if ignore_case {
                m.name.eq_ignore_ascii_case(name)
            } else {
                m.name == name
            }
        })
        .and_then(|m| m.values.first())
        .map(String::as_str)
}

impl Request {
    /// The first value of header `name` (case-insensitive).
    ///
    /// ```
    /// # let mut r = gatehouse_sdk::Request::example("GET", "/prod/pets");
    /// r.headers.push(gatehouse_sdk::MultiValue { name: "authorization".into(), values: vec!["Bearer x".into()] });
    /// assert_eq!(r.header("Authorization"), Some("Bearer x"));
    /// assert_eq!(r.header("x-missing"), None);
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        first(&self.headers, name, true)
    }

    /// Every value of header `name` (case-insensitive), in the order received.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.headers
            .iter()
            .filter(move |m| m.name.eq_ignore_ascii_case(name))
            .flat_map(|m| m.values.iter().map(String::as_str))
    }

    /// The first value of query string parameter `name` (percent-decoded).
    pub fn query(&self, name: &str) -> Option<&str> {
        first(&self.query, name, false)
    }

    /// The path parameter `name` of the matched resource, e.g. `id` in `/pets/{id}`.
    ///
    /// ```
    /// # let mut r = gatehouse_sdk::Request::example("GET", "/prod/pets/7");
    /// r.path_parameters.push(gatehouse_sdk::Pair { name: "id".into(), value: "7".into() });
    /// assert_eq!(r.path_param("id"), Some("7"));
    /// ```
    pub fn path_param(&self, name: &str) -> Option<&str> {
        find_pair(&self.path_parameters, name)
    }

    /// The stage variable `name`.
    pub fn stage_variable(&self, name: &str) -> Option<&str> {
        find_pair(&self.stage_variables, name)
    }

    /// The authorizer's principal id, once an authorizer allowed the request.
    pub fn principal_id(&self) -> Option<&str> {
        self.context.principal_id.as_deref()
    }

    /// A value of the authorizer's context (`$context.authorizer.KEY`).
    pub fn authorizer_value(&self, key: &str) -> Option<&str> {
        find_pair(&self.context.authorizer, key)
    }

    /// The body as UTF-8 text, if it is.
    pub fn body_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }

    /// The body parsed as JSON.
    ///
    /// ```
    /// # let mut r = gatehouse_sdk::Request::example("POST", "/prod/pets");
    /// r.body = br#"{"name":"rex"}"#.to_vec();
    /// assert_eq!(r.json().unwrap()["name"], "rex");
    /// ```
    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("request body is not JSON: {e}"))
    }

    /// Replaces header `name` with one value (names are stored lowercase).
    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        set_header(&mut self.headers, name, value.into());
    }

    /// A request with the given method and path and nothing else, for tests and examples.
    pub fn example(method: &str, path: &str) -> Request {
        Request {
            method: method.into(),
            path: path.into(),
            resource_path: path.into(),
            path_parameters: Vec::new(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
            stage_variables: Vec::new(),
            context: crate::RequestContext {
                request_id: "example".into(),
                api_id: "example".into(),
                stage: "prod".into(),
                source_ip: "127.0.0.1".into(),
                user_agent: None,
                principal_id: None,
                authorizer: Vec::new(),
                request_time_epoch: 0,
            },
        }
    }
}

fn set_header(headers: &mut Vec<MultiValue>, name: &str, value: String) {
    let name = name.to_ascii_lowercase();
    headers.retain(|m| m.name != name);
    headers.push(MultiValue {
        name,
        values: vec![value],
    });
}

impl Response {
    /// An empty response with `status`.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A JSON response.
    ///
    /// ```
    /// let r = gatehouse_sdk::Response::json(201, &serde_json::json!({"id": 7}));
    /// assert_eq!(r.status, 201);
    /// assert_eq!(r.header("content-type"), Some("application/json"));
    /// assert_eq!(r.body, br#"{"id":7}"#);
    /// ```
    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        Response::new(status)
            .with_header("content-type", "application/json")
            .with_body(value.to_string())
    }

    /// A plain-text response.
    pub fn text(status: u16, text: impl Into<String>) -> Response {
        Response::new(status)
            .with_header("content-type", "text/plain; charset=utf-8")
            .with_body(text.into())
    }

    /// This response with header `name` set to one value.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Response {
        set_header(&mut self.headers, name, value.into());
        self
    }

    /// This response with `body`.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = body.into();
        self
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        first(&self.headers, name, true)
    }

    /// The body parsed as JSON.
    pub fn json_body(&self) -> Result<serde_json::Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("response body is not JSON: {e}"))
    }
}

impl Decision {
    /// Allows the request for `principal_id`.
    ///
    /// ```
    /// let d = gatehouse_sdk::Decision::allow("alice")
    ///     .with_context("plan", "gold")
    ///     .with_usage_key("key-123");
    /// assert!(d.allow);
    /// assert_eq!(d.context[0].value, "gold");
    /// assert_eq!(d.usage_identifier_key.as_deref(), Some("key-123"));
    /// ```
    pub fn allow(principal_id: impl Into<String>) -> Decision {
        Decision {
            allow: true,
            principal_id: principal_id.into(),
            context: Vec::new(),
            usage_identifier_key: None,
        }
    }

    /// Denies the request (403 `User is not authorized to access this resource`).
    pub fn deny(principal_id: impl Into<String>) -> Decision {
        Decision {
            allow: false,
            ..Decision::allow(principal_id)
        }
    }

    /// Adds `key` = `value` to the context passed on as `$context.authorizer.KEY`.
    pub fn with_context(mut self, key: impl Into<String>, value: impl Into<String>) -> Decision {
        self.context.push(Pair {
            name: key.into(),
            value: value.into(),
        });
        self
    }

    /// Sets the API key that usage plans use when the API's key source is `AUTHORIZER`.
    pub fn with_usage_key(mut self, key: impl Into<String>) -> Decision {
        self.usage_identifier_key = Some(key.into());
        self
    }
}

impl crate::Event {
    /// The message as text, when it came in a text frame.
    pub fn text(&self) -> Option<&str> {
        if self.is_text {
            std::str::from_utf8(&self.body).ok()
        } else {
            None
        }
    }

    /// The message parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("message is not JSON: {e}"))
    }

    /// The value of stage variable `name`.
    pub fn stage_variable(&self, name: &str) -> Option<&str> {
        find_pair(&self.stage_variables, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lookup_ignores_case_and_keeps_every_value() {
        let mut r = Request::example("GET", "/");
        r.headers.push(MultiValue {
            name: "accept".into(),
            values: vec!["a".into(), "b".into()],
        });
        assert_eq!(r.header("ACCEPT"), Some("a"));
        assert_eq!(r.header_values("Accept").collect::<Vec<_>>(), ["a", "b"]);
        r.set_header("Accept", "c");
        assert_eq!(r.header_values("accept").collect::<Vec<_>>(), ["c"]);
    }

    #[test]
    fn query_is_case_sensitive_like_api_gateway() {
        let mut r = Request::example("GET", "/");
        r.query.push(MultiValue {
            name: "Color".into(),
            values: vec!["red".into()],
        });
        assert_eq!(r.query("Color"), Some("red"));
        assert_eq!(r.query("color"), None);
    }

    #[test]
    fn response_builders_replace_headers() {
        let r = Response::text(200, "hi")
            .with_header("X-A", "1")
            .with_header("x-a", "2");
        assert_eq!(r.header("x-a"), Some("2"));
        assert_eq!(r.headers.iter().filter(|h| h.name == "x-a").count(), 1);
        assert_eq!(r.body, b"hi");
        assert!(Response::new(204).json_body().is_err());
    }

    #[test]
    fn deny_keeps_the_principal() {
        let d = Decision::deny("bob").with_context("why", "expired");
        assert!(!d.allow);
        assert_eq!(d.principal_id, "bob");
        assert_eq!(d.context.len(), 1);
    }
}
