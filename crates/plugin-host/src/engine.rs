//! The one `wasmtime::Engine`: component model, pooling allocator, epoch interruption.
//!
//! A ticker thread advances the epoch every [`TICK`]; a call's deadline is a number of ticks,
//! so a plugin that loops is stopped within one tick of its timeout.

use std::time::Duration;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Epoch granularity: deadlines are rounded up to this.
pub const TICK: Duration = Duration::from_millis(1);

/// Hard ceiling for any plugin's linear memory; per-plugin caps are lower (`ResourceLimiter`).
pub const MAX_MEMORY_BYTES: usize = 256 << 20;

/// Bytes of each pooled linear memory kept resident between instances (see `new_engine`).
const KEEP_RESIDENT_BYTES: usize = 1 << 20;

/// Plugin instances alive at once; beyond it a call fails with a clear error.
const POOL_INSTANCES: u32 = 1000;

/// Builds the engine and starts its epoch ticker.
pub fn new_engine() -> wasmtime::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(POOL_INSTANCES)
        .total_core_instances(POOL_INSTANCES)
        .total_memories(POOL_INSTANCES)
        .total_tables(POOL_INSTANCES)
        .max_memory_size(MAX_MEMORY_BYTES)
        // Reset the first pages of a used slot with memset instead of madvise: every call
        // frees an instance, and an madvise per call costs page faults and TLB shootdowns
        // (interrupting the other cores) that dwarf the call itself.
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        .table_keep_resident(KEEP_RESIDENT_BYTES / 16);
    let mut cfg = Config::new();
    // Fuel is metered always so a plugin can opt into an instruction budget; plugins without
    // one get an unlimited tank and only the epoch deadline applies.
    cfg.wasm_component_model(true)
        .epoch_interruption(true)
        .consume_fuel(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let engine = Engine::new(&cfg)?;
    let ticker = engine.weak();
    std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || {
            while let Some(engine) = ticker.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(TICK);
            }
        })
        .map_err(wasmtime::Error::from)?;
    Ok(engine)
}

/// Ticks for a deadline, at least one.
pub fn ticks(timeout: Duration) -> u64 {
    (timeout.as_micros() / TICK.as_micros()).max(1) as u64 + 1
}
