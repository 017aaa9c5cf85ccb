//! Test plugin: an integration that answers `{"calls": N}`, N counting the calls this instance
//! has served (kept in a global, so it shows whether instances are reused). A path ending in
//! `/trap` panics (a trap in Wasm), one ending in `/loop` computes until its deadline, one
//! ending in `/grow` allocates 64 MiB (past any memory cap the tests set), and one ending in
//! `/oob` reads past the end of its linear memory (a trap the engine must catch).

use gatehouse_sdk::{Request, Response};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};

static CALLS: AtomicU64 = AtomicU64::new(0);

struct Counter;

impl gatehouse_sdk::Integration for Counter {
    fn handle(request: Request) -> Result<Response, String> {
        let calls = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
        if request.path.ends_with("/trap") {
            panic!("asked to trap");
        }
        if request.path.ends_with("/grow") {
            let big = std::hint::black_box(vec![1u8; 64 << 20]);
            return Ok(Response::json(200, &json!({ "calls": calls, "grew": big.len() })));
        }
        if request.path.ends_with("/oob") {
            let end = core::arch::wasm32::memory_size(0) * 65536;
            // Out of bounds on purpose: a Wasm load past the memory's end traps, which is what
            // this op is for.
            #[allow(unsafe_code)]
            let byte = unsafe { core::ptr::read_volatile((end + 16) as *const u8) };
            return Ok(Response::json(200, &json!({ "calls": calls, "read": byte })));
        }
        if request.path.ends_with("/loop") {
            let mut n = request.body.len() as u64;
            while n != 42 || request.path.is_empty() {
                n = std::hint::black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        Ok(Response::json(200, &json!({ "calls": calls })))
    }
}

gatehouse_sdk::export_integration!(Counter);
