//! A `gatehouse:plugin@0.3.0` mapper for tests: it reads the request and the response
//! through the `request` and `response` imports and answers edits.
//!
//! `map-request` sets `x-read` to what it read of the request (method, resource path, path
//! parameter `id`, stage variable `color`, query parameter `q`, principal, the `x-in` header
//! and every value of `x-multi`, as JSON), removes `x-remove-me`, and replaces the query
//! string with `q` doubled (`q=VV`); the body passes as it came. `map-response` sets the
//! status to 201, removes `x-backend` (the test backend's name) and adds `x-request-q` with
//! the client's `q`; with `?fail=status` it answers the status 1000, which is refused.

use gatehouse_sdk::v0_3::{request, response, Mapper, MultiValue, RequestEdits, ResponseEdits};
use serde_json::json;

struct EditMapper;

impl Mapper for EditMapper {
    fn map_request() -> Result<RequestEdits, String> {
        let q = request::query("q").unwrap_or_default();
        let read = json!({
            "method": request::method(),
            "resource": request::resource_path(),
            "id": request::path_parameter("id"),
            "color": request::stage_variable("color"),
            "q": q,
            "principal": request::principal_id(),
            "in": request::header("X-In"),
            "multi": request::header_values("x-multi"),
            "stage": request::context().stage,
        });
        Ok(RequestEdits::none()
            .with_header("x-read", read.to_string())
            .without_header("x-remove-me")
            .with_query(vec![MultiValue {
                name: "q".into(),
                values: vec![format!("{q}{q}")],
            }]))
    }

    fn map_response() -> Result<ResponseEdits, String> {
        let q = request::query("q").unwrap_or_default();
        let status = if request::query("fail").as_deref() == Some("status") {
            1000
        } else {
            201
        };
        // The response is read too: the backend's status must be there to be replaced.
        if response::status() == 0 {
            return Err("no status".into());
        }
        Ok(ResponseEdits::none()
            .with_status(status)
            .without_header("x-backend")
            .with_header("x-request-q", q))
    }
}

gatehouse_sdk::export_mapper_v0_3!(EditMapper);
