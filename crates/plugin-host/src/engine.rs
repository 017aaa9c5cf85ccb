//! The `wasmtime::Engine`s: component model, pooling allocator, epoch interruption, and fuel
//! metering only in the engine of plugins that set a fuel budget.
//!
//! A ticker thread advances each engine's epoch every [`TICK`] while plugin calls run
//! ([`Running`]), and sleeps once none has run for [`LINGER`]: under load, calls of a few
//! microseconds come and go between two ticks, and waking the ticker for each would cost a
//! futex call per plugin call. At each tick a running call
//! checks its deadline (see `Plugin`): past it the call traps, before it the call yields to
//! the async executor, so a plugin that computes for a while shares its worker thread with
//! the other requests and is stopped within about one tick of its timeout.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Epoch granularity: how often a running plugin yields and checks its deadline.
pub const TICK: Duration = Duration::from_millis(1);

/// How long the ticker keeps ticking after the last call ended before it sleeps.
pub const LINGER: Duration = Duration::from_millis(200);

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
        .table_keep_resident(KEEP_RESIDENT_BYTES / 16)
        // Where the kernel has PAGEMAP_SCAN (Linux 6.7+), only the pages an instance wrote
        // are reset when its slot is reused, not the whole resident megabyte.
        .pagemap_scan(wasmtime::Enabled::Auto);
    let mut cfg = Config::new();
    cfg.wasm_component_model(true)
        .epoch_interruption(true)
        .consume_fuel(fuel)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let engine = Engine::new(&cfg)?;
    let ticker = engine.weak();
    let linger_ticks = (LINGER.as_millis() / TICK.as_millis()).max(1);
    let thread = std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || {
            let mut quiet_ticks = 0;
            let mut starts = STARTS.load(Ordering::Relaxed);
            while let Some(engine) = ticker.upgrade() {
                let now = STARTS.load(Ordering::Relaxed);
                if now != starts {
                    starts = now;
                    quiet_ticks = 0;
                }
                if RUNNING.load(Ordering::SeqCst) == 0 && quiet_ticks < linger_ticks {
                    // Nothing runs now, but calls ran lately: keep ticking a while.
                    quiet_ticks += 1;
                    drop(engine);
                    std::thread::sleep(TICK);
                    continue;
                }
                if RUNNING.load(Ordering::SeqCst) == 0 {
                    // Nothing runs: sleep until a call starts (see `Running::start`). The
                    // flag is set before the second look, so a call that starts in between
                    // either is seen here or sees the flag and wakes this thread.
                    PARKED.store(true, Ordering::SeqCst);
                    if RUNNING.load(Ordering::SeqCst) == 0 {
                        drop(engine);
                        std::thread::park();
                    }
                    PARKED.store(false, Ordering::SeqCst);
                    quiet_ticks = 0;
                    continue;
                }
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(TICK);
            }
        })
        .map_err(wasmtime::Error::from)?;
    TICKERS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(thread.thread().clone());
    Ok(engine)
}

/// Plugin calls running now, over all engines.
static RUNNING: AtomicUsize = AtomicUsize::new(0);
/// Plugin calls started, over all engines (the ticker's sign of recent calls).
static STARTS: AtomicUsize = AtomicUsize::new(0);
/// Set while the tickers may be asleep.
static PARKED: AtomicBool = AtomicBool::new(false);
/// The ticker threads, to wake when a call starts.
static TICKERS: Mutex<Vec<std::thread::Thread>> = Mutex::new(Vec::new());

/// Held for the length of one plugin call: while none is held, the epoch tickers sleep, so
/// a gateway serving no plugin calls pays no wake-up every tick.
#[derive(Debug)]
pub struct Running(());

impl Running {
    pub fn start() -> Self {
        RUNNING.fetch_add(1, Ordering::SeqCst);
        STARTS.fetch_add(1, Ordering::Relaxed);
        if PARKED.swap(false, Ordering::SeqCst) {
            for t in TICKERS.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                t.unpark();
            }
        }
        Running(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::SeqCst);
    }
}
