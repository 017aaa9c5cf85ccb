//! `gatehouse:plugin/clock`: wall-clock time without WASI.

use crate::bindings::clock::Host;
use crate::CallState;
use std::time::{SystemTime, UNIX_EPOCH};

impl Host for CallState {
    async fn now_millis(&mut self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}
