//! The `wasmtime::Engine`s: component model, pooling allocator, epoch interruption, and fuel
//! metering only in the engine of plugins that set a fuel budget.
//!
//! A ticker thread advances each engine's epoch every [`TICK`]. At each tick a running call
//! checks its deadline (see `Plugin`): past it the call traps, before it the call yields to
//! the async executor, so a plugin that computes for a while shares its worker thread with
//! the other requests and is stopped within about one tick of its timeout.

use std::time::Duration;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Epoch granularity: how often a running plugin yields and checks its deadline.
pub const TICK: Duration = Duration::from_millis(1);

/// Hard ceiling for any plugin's linear memory; per-plugin caps are lower (`ResourceLimiter`).
pub const MAX_MEMORY_BYTES: usize = 256 << 20;

/// Bytes of each pooled linear memory kept resident between instances (see `new_engine`).
const KEEP_RESIDENT_BYTES: usize = 1 << 20;

/// Plugin instances alive at once per engine (running or kept warm); beyond it a call fails
/// with a clear error.
const POOL_INSTANCES: u32 = 1000;

/// Builds an engine and starts its epoch ticker. `fuel`: whether compiled code meters fuel
/// (it costs on every loop and call, so only the engine of plugins with a budget has it).
pub fn new_engine(fuel: bool) -> wasmtime::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(POOL_INSTANCES)
        .total_core_instances(POOL_INSTANCES)
        .total_memories(POOL_INSTANCES)
        .total_tables(POOL_INSTANCES)
        .total_stacks(POOL_INSTANCES)
        .max_memory_size(MAX_MEMORY_BYTES)
        // Reset the first pages of a used slot with memset instead of madvise: a fresh
        // instance per call frees a slot per call, and an madvise per call costs page faults
        // and TLB shootdowns (interrupting the other cores) that dwarf the call itself.
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        .table_keep_resident(KEEP_RESIDENT_BYTES / 16);
    let mut cfg = Config::new();
    cfg.wasm_component_model(true)
        .epoch_interruption(true)
        .consume_fuel(fuel)
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
