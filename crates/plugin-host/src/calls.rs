//! A call's outcome: how many calls a plugin took and how many failed, since it was loaded,
//! and what a failed call is named.

use super::{CallState, Plugin, PluginFailure};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use wasmtime::{Store, Trap};

/// Calls and failures (a trap, the deadline, the memory cap, fuel, or an instance that could
/// not be made).
#[derive(Debug, Default)]
pub(crate) struct CallCounts {
    calls: AtomicU64,
    failures: AtomicU64,
}

impl CallCounts {
    /// Counts one call; `ok` when it returned normally.
    pub(crate) fn count(&self, ok: bool) {
        self.calls.fetch_add(1, Relaxed);
        if !ok {
            self.failures.fetch_add(1, Relaxed);
        }
    }

    /// (calls, failures).
    pub(crate) fn get(&self) -> (u64, u64) {
        (self.calls.load(Relaxed), self.failures.load(Relaxed))
    }
}

impl Plugin {
    /// What a failed call is: out of memory (the cap refused a growth), the deadline, fuel, or
    /// a trap.
    pub(crate) fn failure(&self, store: &Store<CallState>, err: wasmtime::Error) -> PluginFailure {
        if store.data().limits.refused {
            return PluginFailure::OutOfMemory(self.settings.memory_bytes);
        }
        match err.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => PluginFailure::Timeout(self.settings.timeout),
            Some(Trap::OutOfFuel) => PluginFailure::OutOfFuel(self.settings.fuel.unwrap_or(0)),
            Some(t) => PluginFailure::Trap(t.to_string()),
            None => PluginFailure::Trap(format!("{err:#}")),
        }
    }
}
