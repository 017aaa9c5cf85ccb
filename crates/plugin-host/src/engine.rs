//! The `wasmtime::Engine`s: component model, pooling allocator, epoch interruption, fuel
//! metering only in the engines of plugins that set a fuel budget, and memories without
//! guard pages in the engines of plugins with `instances: fresh`.
//!
//! One ticker thread advances every engine's epoch: every [`TICK`] while a plugin call runs
//! ([`Running`]), every [`IDLE_TICK`] while none runs but one started within [`LINGER`], and
//! not at all after that, until a call starts: under load, calls of a few microseconds come
//! and go between two ticks, and waking the ticker for each would cost a futex call per plugin
//! call. At each tick a running call checks its deadline (see `Plugin`): past it the call
//! traps, before it the call yields to the async executor, so a plugin that computes for a
//! while shares its worker thread with the other requests (its first tick comes within
//! [`IDLE_TICK`] of its start, the next ones every [`TICK`]) and is stopped within about one
//! tick of its timeout.
//!
//! Why two rates: each wake-up of the ticker costs its core about 12 µs on a 2-core VM
//! (timer interrupt, two context switches, the sleep call). At one every millisecond, it took
//! 1.1% of a core while a gateway served 42,000 authorized requests a second (0.26 µs per
//! request); calls that short are rarely running when the ticker looks, so it mostly sleeps
//! the longer [`IDLE_TICK`].
//!
//! Why fresh instances get their own engines: with guard pages, compiled code leaves bounds
//! checks to the hardware, and a memory slot's pages past the module's initial size are
//! inaccessible. A guest that grows its memory (Rust's allocator on wasm32 does on its first
//! allocation) makes pages accessible, and the next instance in that slot starts by taking
//! them back with `mprotect`, which interrupts every other core the process runs on to flush
//! their TLBs; an instance per call pays that per call. Without guard pages and with explicit
//! bounds checks, nothing is remapped between instances: a fresh instance and call of the
//! Rust authorizer took 8.5 µs instead of 14.8 µs, while a call on a warm instance took 2.65
//! instead of 2.45 µs when all engines were made so (criterion, 2-core Xeon). So reused
//! instances keep the guard pages and fresh ones do not.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use wasmtime::{Config, Engine, EngineWeak, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Epoch granularity: how often a running plugin yields and checks its deadline.
pub const TICK: Duration = Duration::from_millis(1);

/// The ticker's period when it finds no call running but calls started lately: the longest a
/// call that starts computing waits for its first tick.
pub const IDLE_TICK: Duration = Duration::from_millis(2);

/// How long the ticker keeps ticking after the last call started before it sleeps.
pub const LINGER: Duration = Duration::from_millis(200);

/// Hard ceiling for any plugin's linear memory; per-plugin caps are lower (`ResourceLimiter`).
pub const MAX_MEMORY_BYTES: usize = 256 << 20;

/// Bytes of each pooled linear memory kept resident between instances (see `new_engine`).
const KEEP_RESIDENT_BYTES: usize = 1 << 20;

/// Plugin instances alive at once per engine (running or kept warm); beyond it a call fails
/// with a clear error.
const POOL_INSTANCES: u32 = 1000;

/// What an engine's compiled code and memories are made for; a plugin is compiled for the
/// engine of its settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EngineKind {
    /// The compiled code meters fuel (it costs on every loop and call, so only plugins with
    /// a budget have it).
    pub fuel: bool,
    /// For `instances: fresh`: memories without guard pages, bounds checked by the compiled
    /// code (see the module's documentation).
    pub fresh: bool,
}

impl EngineKind {
    /// A short name for file names and messages: `plain`, `fuel`, `fresh`, `fresh-fuel`.
    pub fn label(self) -> &'static str {
        match (self.fresh, self.fuel) {
            (false, false) => "plain",
            (false, true) => "fuel",
            (true, false) => "fresh",
            (true, true) => "fresh-fuel",
        }
    }
}

/// Builds an engine of `kind` and has the ticker advance its epoch.
pub fn new_engine(kind: EngineKind) -> wasmtime::Result<Engine> {
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
        .consume_fuel(kind.fuel)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    if kind.fresh {
        // Every slot is a plain read-write reservation of the largest memory: growing and
        // reusing it remaps nothing.
        cfg.signals_based_traps(false)
            .memory_guard_size(0)
            .memory_reservation(MAX_MEMORY_BYTES as u64)
            .memory_reservation_for_growth(0);
    }
    let engine = Engine::new(&cfg)?;
    add_to_ticker(&engine).map_err(wasmtime::Error::from)?;
    Ok(engine)
}

/// Adds `engine` to the ones the ticker advances, starting the ticker if none runs.
fn add_to_ticker(engine: &Engine) -> std::io::Result<()> {
    let mut ticker = TICKER.lock().unwrap_or_else(|p| p.into_inner());
    ticker.engines.push(engine.weak());
    if ticker.thread.is_none() {
        let thread = std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(run_ticker)?;
        ticker.thread = Some(thread.thread().clone());
    }
    Ok(())
}

/// The ticker thread: ticks every [`TICK`] while a call runs, every [`IDLE_TICK`] while calls
/// started lately, parks otherwise, and ends once every engine is gone (a later engine starts
/// a new one).
fn run_ticker() {
    let mut starts = STARTS.load(Ordering::Relaxed);
    let mut last_start = Instant::now();
    loop {
        let now = STARTS.load(Ordering::Relaxed);
        if now != starts {
            starts = now;
            last_start = Instant::now();
        }
        let period = if RUNNING.load(Ordering::SeqCst) > 0 {
            TICK
        } else if last_start.elapsed() < LINGER {
            // Nothing runs now, but calls started lately: keep ticking, less often.
            IDLE_TICK
        } else {
            // Nothing ran lately: sleep until a call starts (see `Running::start`). The flag
            // is set before the second look, so a call that starts in between either is seen
            // here or sees the flag and wakes this thread.
            PARKED.store(true, Ordering::SeqCst);
            if RUNNING.load(Ordering::SeqCst) == 0 {
                std::thread::park();
            }
            PARKED.store(false, Ordering::SeqCst);
            last_start = Instant::now();
            continue;
        };
        if !advance() {
            return;
        }
        std::thread::sleep(period);
    }
}

/// Advances the epoch of every live engine and forgets dropped ones; false (and the ticker
/// is marked gone) once none is left.
fn advance() -> bool {
    let mut ticker = TICKER.lock().unwrap_or_else(|p| p.into_inner());
    ticker.engines.retain(|weak| match weak.upgrade() {
        Some(engine) => {
            engine.increment_epoch();
            true
        }
        None => false,
    });
    if ticker.engines.is_empty() {
        ticker.thread = None;
        return false;
    }
    true
}

/// The engines the ticker advances and its thread, while it runs.
struct Ticker {
    engines: Vec<EngineWeak>,
    thread: Option<std::thread::Thread>,
}

static TICKER: Mutex<Ticker> = Mutex::new(Ticker {
    engines: Vec::new(),
    thread: None,
});

/// Plugin calls running now, over all engines.
static RUNNING: AtomicUsize = AtomicUsize::new(0);
/// Plugin calls started, over all engines (the ticker's sign of recent calls).
static STARTS: AtomicUsize = AtomicUsize::new(0);
/// Set while the ticker may be asleep.
static PARKED: AtomicBool = AtomicBool::new(false);

/// Held for the length of one plugin call: while none is held, the epoch ticker sleeps, so
/// a gateway serving no plugin calls pays no wake-up every tick.
#[derive(Debug)]
pub struct Running(());

impl Running {
    pub fn start() -> Self {
        RUNNING.fetch_add(1, Ordering::SeqCst);
        STARTS.fetch_add(1, Ordering::Relaxed);
        // Looked at before it is swapped: the swap's locked write is paid only to wake it.
        if PARKED.load(Ordering::SeqCst) && PARKED.swap(false, Ordering::SeqCst) {
            if let Some(t) = &TICKER.lock().unwrap_or_else(|p| p.into_inner()).thread {
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
