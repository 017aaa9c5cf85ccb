//! The smallest useful integration: answers `{"message": GREETING, "path": PATH}` where
//! GREETING is the plugin's `greeting` setting (default "hello").

use gatehouse_sdk::{host, Request, Response};
use serde_json::json;

struct Hello;

impl gatehouse_sdk::Integration for Hello {
    fn handle(request: Request) -> Result<Response, String> {
        let greeting = host::config("greeting").unwrap_or_else(|| "hello".into());
        Ok(Response::json(
            200,
            &json!({ "message": greeting, "path": request.path, "plugin": "hello" }),
        ))
    }
}

gatehouse_sdk::export_integration!(Hello);
