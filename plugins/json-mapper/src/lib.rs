//! A JSON mapper. Before the integration, a JSON object body becomes
//! `{"received": BODY, "path": PATH, "principal": PRINCIPAL}`; after it, the response gets
//! `x-mapped: json-mapper` and a JSON body becomes `{"data": BODY}`. Other bodies pass as they are.
//!
//! It is written for `gatehouse:plugin@0.3.0`: it reads what it needs of the request and the
//! response through the `request` and `response` imports, and answers only its changes.

use gatehouse_sdk::v0_3::{request, request_json, response_json};
use gatehouse_sdk::v0_3::{Mapper, RequestEdits, ResponseEdits};
use serde_json::json;

struct JsonMapper;

impl Mapper for JsonMapper {
    fn map_request() -> Result<RequestEdits, String> {
        if request::body().is_empty() {
            return Ok(RequestEdits::none());
        }
        let body = request_json()?;
        if !body.is_object() {
            return Err("expected a JSON object body".into());
        }
        let wrapped = json!({
            "received": body,
            "path": request::path(),
            "principal": request::principal_id(),
        });
        Ok(RequestEdits::none().with_json(&wrapped))
    }

    fn map_response() -> Result<ResponseEdits, String> {
        let edits = ResponseEdits::none().with_header("x-mapped", "json-mapper");
        match response_json() {
            Ok(body) => Ok(edits.with_json(&json!({ "data": body }))),
            Err(_) => Ok(edits),
        }
    }
}

gatehouse_sdk::export_mapper_v0_3!(JsonMapper);
