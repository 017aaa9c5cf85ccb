//! Where the gateway thread allocates (`GATEHOUSE_ALLOC_SITES=N`): the call stack and size of
//! each allocation while tracing is on, grouped into places after the run.

use std::cell::Cell;
use std::sync::atomic::AtomicBool;

/// Whether the gateway thread's allocations are being traced to their places.
pub static SITES_ON: AtomicBool = AtomicBool::new(false);
/// The sizes and call stacks of traced allocations, resolved after the run.
static SITES: std::sync::Mutex<Vec<(usize, std::backtrace::Backtrace)>> =
    std::sync::Mutex::new(Vec::new());

thread_local! {
    /// Set while this thread captures a call stack, whose own allocations are not traced.
    static TRACING: Cell<bool> = const { Cell::new(false) };
}

pub fn record_site(size: usize) {
    if TRACING.try_with(|t| t.replace(true)).unwrap_or(true) {
        return;
    }
    let trace = std::backtrace::Backtrace::force_capture();
    if let Ok(mut sites) = SITES.lock() {
        sites.push((size, trace));
    }
    let _ = TRACING.try_with(|t| t.set(false));
}

/// Frames of the allocator and of the standard library's containers, left out of a place.
const ALLOCATOR_FRAMES: &[&str] = &[
    "record_site",
    "record",
    "alloc",
    "alloc_zeroed",
    "realloc",
    "try_allocate_in",
    "with_capacity_in",
    "allocate_in",
    "exchange_malloc",
    "grow_one",
    "grow_amortized",
    "finish_grow",
    "reserve",
    "do_reserve_and_handle",
    "reserve_for_push",
    "alloc_impl_runtime",
    "alloc_impl",
    "allocate",
    "grow_impl_runtime",
    "grow_impl",
    "grow",
    "box_new_uninit",
];

/// The name of the function a frame is in, without its path and generic arguments:
/// `alloc_impl_runtime` for `<alloc::alloc::Global>::alloc_impl_runtime`.
fn frame_name(frame: &str) -> &str {
    let mut depth = 0usize;
    let mut start = 0;
    let mut end = frame.len();
    for (i, c) in frame.char_indices() {
        match c {
            '<' => {
                if depth == 0 && i > start {
                    end = i;
                    break;
                }
                depth += 1;
            }
            '>' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    start = i + 1;
                }
            }
            _ => {}
        }
    }
    let name = &frame[start.min(end)..end];
    name.rsplit("::").next().unwrap_or(name)
}

/// The traced places, each as its first frames below the allocator and the standard
/// library's containers, with their counts per request.
pub fn sites_report(path: &str, requests: u64) -> String {
    let traces = std::mem::take(&mut *SITES.lock().unwrap_or_else(|p| p.into_inner()));
    let mut by_place = std::collections::HashMap::<String, (u64, usize)>::new();
    for (size, trace) in &traces {
        let text = trace.to_string();
        let frames: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| l.contains(": ") && !l.starts_with("at "))
            .map(|l| l.split_once(": ").map_or(l, |(_, f)| f))
            .skip_while(|f| ALLOCATOR_FRAMES.contains(&frame_name(f)) || f.starts_with("__rust"))
            .take(8)
            .collect();
        let place = by_place.entry(frames.join("\n    < ")).or_default();
        place.0 += 1;
        place.1 += size;
    }
    let mut places: Vec<_> = by_place.into_iter().collect();
    places.sort_by_key(|p| std::cmp::Reverse(p.1 .0));
    let mut out = format!(
        "\nWhere `{path}` allocates ({} allocations traced over {requests} requests):\n",
        traces.len()
    );
    for (place, (n, bytes)) in places {
        out.push_str(&format!(
            "{:6.2} per request, {:5} bytes each: {place}\n",
            n as f64 / requests as f64,
            bytes / n as usize
        ));
    }
    out
}
