//! What a request on a stage with execution logging records beside the context: the stage's
//! setting and, with `data_trace`, the headers and bodies the context does not keep. Values a
//! log must not hold (credentials, cookies) are masked here, when they are recorded.

use http::HeaderMap;

/// The most of a body (in bytes) an execution log line shows, as API Gateway's 1,024-byte log
/// events.
pub const MAX_TRACED_BODY: usize = 1024;

/// Headers whose values are never written: credentials and cookies.
const MASKED: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-amz-security-token",
];

/// What a stage's execution log writes (`stages.NAME.execution_log`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecLogSettings {
    /// Write only requests that ended in an error (a 5xx or an integration failure).
    pub errors_only: bool,
    /// Also write headers and bodies.
    pub data_trace: bool,
}

/// One request's recorded data; set on the context when the matched stage has an execution
/// log. Bodies are recorded only with `data_trace`, each at most [`MAX_TRACED_BODY`] bytes.
#[derive(Debug)]
pub struct ExecTrace {
    pub settings: ExecLogSettings,
    /// The method request's headers, masked.
    pub request_headers: Option<String>,
    pub request_body: Option<String>,
    /// The body sent to the integration, when a mapper changed it.
    pub endpoint_request_body: Option<String>,
    pub endpoint_response_headers: Option<String>,
    pub endpoint_response_body: Option<String>,
    /// The body after a response mapper, when one ran.
    pub method_response_body: Option<String>,
}

impl ExecTrace {
    pub fn new(settings: ExecLogSettings, headers: &HeaderMap) -> Self {
        Self {
            settings,
            request_headers: settings.data_trace.then(|| headers_text(headers)),
            request_body: None,
            endpoint_request_body: None,
            endpoint_response_headers: None,
            endpoint_response_body: None,
            method_response_body: None,
        }
    }
}

/// `{Name=value, Other=value}`, as API Gateway writes headers in its execution logs; the
/// values of [`MASKED`] headers are replaced by `****`.
pub fn headers_text(headers: &HeaderMap) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in headers.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(name.as_str());
        out.push('=');
        if MASKED.contains(&name.as_str()) {
            out.push_str("****");
        } else {
            out.push_str(&String::from_utf8_lossy(value.as_bytes()));
        }
    }
    out.push('}');
    out
}

/// A body's first [`MAX_TRACED_BODY`] bytes as text, with ` [TRUNCATED]` when there was more.
pub fn body_text(bytes: &[u8], more: bool) -> String {
    let cut = bytes.len() > MAX_TRACED_BODY;
    let mut s = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_TRACED_BODY)]).into_owned();
    if cut || more {
        s.push_str(" [TRUNCATED]");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_cookies_are_masked() {
        let mut h = HeaderMap::new();
        h.insert("accept", "*/*".parse().unwrap());
        h.insert("authorization", "Bearer secret".parse().unwrap());
        h.insert("x-api-key", "k123".parse().unwrap());
        h.insert("cookie", "s=1".parse().unwrap());
        let t = headers_text(&h);
        assert_eq!(
            t,
            "{accept=*/*, authorization=****, x-api-key=****, cookie=****}"
        );
    }

    #[test]
    fn bodies_are_cut_at_1024_bytes() {
        assert_eq!(body_text(b"hi", false), "hi");
        let long = vec![b'a'; 2000];
        let t = body_text(&long, false);
        assert_eq!(t.len(), 1024 + " [TRUNCATED]".len());
        assert!(t.ends_with(" [TRUNCATED]"));
    }
}
