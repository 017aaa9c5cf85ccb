//! Test plugin: an integration whose response is not valid HTTP (status 1000 and a header name
//! with a space). Gatehouse refuses it and answers 502.

use gatehouse_sdk::{Request, Response};

struct Nonsense;

impl gatehouse_sdk::Integration for Nonsense {
    fn handle(_request: Request) -> Result<Response, String> {
        Ok(Response::text(1000, "not HTTP").with_header("bad header", "x"))
    }
}

gatehouse_sdk::export_integration!(Nonsense);
