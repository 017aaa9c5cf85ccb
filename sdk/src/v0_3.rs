//! The authorizer, mapper and request handler of `gatehouse:plugin@0.3.0`: they are not sent
//! the request (and a response mapper the response) as a record, but read it through
//! [`request`] (and [`response`]), whose functions answer for the call in progress and each
//! copy one part of it into the plugin. An authorizer reads the headers it needs and answers
//! 0.2.0's policy [`Decision`]; a mapper answers the changes it makes ([`RequestEdits`],
//! [`ResponseEdits`]); a request handler answers a [`Response`].
//!
//! ```no_run
//! use gatehouse_sdk::v0_3::{arn_for, request, Authorizer, Decision};
//! use gatehouse_sdk::AuthorizerError;
//!
//! struct ReadOnly;
//!
//! impl Authorizer for ReadOnly {
//!     fn authorize() -> Result<Decision, AuthorizerError> {
//!         request::header("authorization").ok_or(AuthorizerError::Unauthorized)?;
//!         Ok(Decision::new("reader").allow(arn_for("GET", "*")))
//!     }
//! }
//!
//! gatehouse_sdk::export_authorizer_v0_3!(ReadOnly);
//! # fn main() {}
//! ```

pub use crate::v0_2::{ContextEntry, Decision, Effect, Statement, Value};
/// The request of the call in progress.
pub use crate::world::authorizer_v0_3::gatehouse::plugin0_3_0::request;
pub use crate::world::authorizer_v0_3::gatehouse::plugin0_3_0::request::{
    RequestContext, RequestEdits,
};
/// The integration's response, in a mapper's `map_response`.
pub use crate::world::mapper_v0_3::gatehouse::plugin0_3_0::response;
pub use crate::world::mapper_v0_3::gatehouse::plugin0_3_0::response::ResponseEdits;
pub use crate::{AuthorizerError, MultiValue, Pair, Response};

/// An authorizer of 0.3.0: decides with a policy. `Err(AuthorizerError::Unauthorized)`
/// answers 401, `Err(AuthorizerError::Failed(reason))` answers 500 and logs the reason.
pub use crate::world::authorizer_v0_3::Guest as Authorizer;

/// A mapper of 0.3.0: answers the changes to make to the request and to the integration's
/// response. An `Err` answers 500 and logs the reason.
pub use crate::world::mapper_v0_3::Guest as Mapper;

/// A request handler of 0.3.0: an integration that answers the request itself, reading what
/// it needs of it through [`request`] (the body is the whole body the client sent). An `Err`
/// answers 502 and logs the reason.
///
/// ```no_run
/// use gatehouse_sdk::v0_3::{request, RequestHandler, Response};
///
/// struct Echo;
///
/// impl RequestHandler for Echo {
///     fn handle() -> Result<Response, String> {
///         let who = request::path_parameter("name").unwrap_or_else(|| "world".into());
///         let sent = request::body().len();
///         Ok(Response::text(200, format!("hello {who}, you sent {sent} bytes")))
///     }
/// }
///
/// gatehouse_sdk::export_request_handler_v0_3!(Echo);
/// # fn main() {}
/// ```
pub use crate::world::request_handler_v0_3::Guest as RequestHandler;

/// The method ARN of the request with another method and path (each may be a pattern), as
/// [`crate::v0_2::Request::arn_for`].
pub fn arn_for(method: &str, path: &str) -> String {
    crate::v0_2::into_arn_with(request::method_arn(), method, path)
}

/// The request's body as JSON.
pub fn request_json() -> Result<serde_json::Value, String> {
    serde_json::from_slice(&request::body()).map_err(|e| format!("body is not JSON: {e}"))
}

/// The response's body as JSON (in `map_response`).
pub fn response_json() -> Result<serde_json::Value, String> {
    serde_json::from_slice(&response::body()).map_err(|e| format!("body is not JSON: {e}"))
}
fn set(headers: &mut Vec<MultiValue>, name: &str, values: Vec<String>) {
    let name = name.to_ascii_lowercase();
    headers.retain(|h| h.name != name);
    headers.push(MultiValue { name, values });
}

impl RequestEdits {
    /// No change.
    pub fn none() -> RequestEdits {
        RequestEdits {
            headers: Vec::new(),
            query: None,
            body: None,
        }
    }

    /// Sets header `name` to `value`, replacing its other values.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> RequestEdits {
        set(&mut self.headers, name, vec![value.into()]);
        self
    }

    /// Removes header `name`.
    pub fn without_header(mut self, name: &str) -> RequestEdits {
        set(&mut self.headers, name, Vec::new());
        self
    }

    /// Replaces the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> RequestEdits {
        self.body = Some(body.into());
        self
    }

    /// Replaces the body with `value` as JSON, and sets `content-type: application/json`.
    pub fn with_json(self, value: &serde_json::Value) -> RequestEdits {
        self.with_body(value.to_string())
            .with_header("content-type", "application/json")
    }

    /// Replaces the query string.
    pub fn with_query(mut self, query: Vec<MultiValue>) -> RequestEdits {
        self.query = Some(query);
        self
    }
}

impl ResponseEdits {
    /// No change.
    pub fn none() -> ResponseEdits {
        ResponseEdits {
            status: None,
            headers: Vec::new(),
            body: None,
        }
    }

    /// Sets the status code.
    pub fn with_status(mut self, status: u16) -> ResponseEdits {
        self.status = Some(status);
        self
    }

    /// Sets header `name` to `value`, replacing its other values.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> ResponseEdits {
        set(&mut self.headers, name, vec![value.into()]);
        self
    }

    /// Removes header `name`.
    pub fn without_header(mut self, name: &str) -> ResponseEdits {
        set(&mut self.headers, name, Vec::new());
        self
    }

    /// Replaces the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> ResponseEdits {
        self.body = Some(body.into());
        self
    }

    /// Replaces the body with `value` as JSON, and sets `content-type: application/json`.
    pub fn with_json(self, value: &serde_json::Value) -> ResponseEdits {
        self.with_body(value.to_string())
            .with_header("content-type", "application/json")
    }
}
