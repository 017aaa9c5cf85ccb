//! The smallest useful integration: answers `{"message": GREETING, "path": PATH}` where
//! GREETING is the plugin's `greeting` setting (default "hello"), with `client_cert`: the
//! mutual TLS client certificate's fields as the gateway passes them (the
//! `x-gatehouse-client-cert` header, form-encoded), or null.

use gatehouse_sdk::{host, Request, Response};
use serde_json::json;

struct Hello;

impl gatehouse_sdk::Integration for Hello {
    fn handle(request: Request) -> Result<Response, String> {
        let greeting = host::config("greeting").unwrap_or_else(|| "hello".into());
        Ok(Response::json(
            200,
            &json!({
                "message": greeting,
                "path": request.path,
                "plugin": "hello",
                "client_cert": request.header("x-gatehouse-client-cert"),
            }),
        ))
    }
}

gatehouse_sdk::export_integration!(Hello);
