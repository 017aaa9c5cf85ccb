//! Test plugin: an integration that keeps allocating. Gatehouse must refuse to grow its
//! memory past the plugin's cap and answer that one request with 502.

use gatehouse_sdk::{Request, Response};

struct Hog;

impl gatehouse_sdk::Integration for Hog {
    fn handle(request: Request) -> Result<Response, String> {
        let mut kept: Vec<Vec<u8>> = Vec::new();
        loop {
            let mut block = vec![0u8; 1 << 20];
            block[0] = request.body.len() as u8;
            kept.push(std::hint::black_box(block));
            if kept.len() == usize::MAX {
                return Ok(Response::new(200));
            }
        }
    }
}

gatehouse_sdk::export_integration!(Hog);
