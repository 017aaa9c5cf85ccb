//! Test plugin: an integration that panics, which is a trap in Wasm. Gatehouse answers 502.

use gatehouse_sdk::{Request, Response};

struct Crash;

impl gatehouse_sdk::Integration for Crash {
    fn handle(request: Request) -> Result<Response, String> {
        let parts: Vec<&str> = request.path.split('/').collect();
        // Index far past the end: a panic, compiled with panic=abort into `unreachable`.
        let part = parts[parts.len() + 10];
        Ok(Response::text(200, part))
    }
}

gatehouse_sdk::export_integration!(Crash);
