//! A JSON mapper. Before the integration, a JSON object body becomes
//! `{"received": BODY, "path": PATH, "principal": PRINCIPAL}`; after it, the response gets
//! `x-mapped: json-mapper` and a JSON body becomes `{"data": BODY}`. Other bodies pass as they are.

use gatehouse_sdk::{Request, Response};
use serde_json::json;

struct JsonMapper;

impl gatehouse_sdk::Mapper for JsonMapper {
    fn map_request(mut request: Request) -> Result<Request, String> {
        if request.body.is_empty() {
            return Ok(request);
        }
        let body = request.json()?;
        if !body.is_object() {
            return Err("expected a JSON object body".into());
        }
        let wrapped = json!({
            "received": body,
            "path": request.path,
            "principal": request.principal_id(),
        });
        request.body = wrapped.to_string().into_bytes();
        request.set_header("content-type", "application/json");
        Ok(request)
    }

    fn map_response(_request: Request, response: Response) -> Result<Response, String> {
        let response = response.with_header("x-mapped", "json-mapper");
        match response.json_body() {
            Ok(body) => Ok(Response::json(response.status, &json!({ "data": body }))
                .with_header("x-mapped", "json-mapper")),
            Err(_) => Ok(response),
        }
    }
}

gatehouse_sdk::export_mapper!(JsonMapper);
