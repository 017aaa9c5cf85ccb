//! The caps on what one rendering may cost.

/// What one rendering may cost; going past any of them is a render error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of output (default 10 MiB).
    pub max_output: usize,
    /// Most items one `#foreach` walks (default 1,000, API Gateway's own limit).
    pub max_iterations: usize,
    /// Most `#foreach` iterations of one rendering, nested loops counted together
    /// (default 100,000).
    pub max_total_iterations: usize,
    /// Most numbers a range `[a..b]` holds (default 1,000).
    pub max_range: usize,
    /// Most bytes of any one string a template builds: concatenation, interpolation,
    /// `replace`, printing a map or list (default 1 MiB).
    pub max_string: usize,
    /// Most values (list items, map entries, containers) one rendering creates, counting
    /// those `$input.path` and `$util.parseJson` build (default 1,000,000).
    pub max_values: usize,
    /// Most units of work one rendering does beyond the above: one per comparison, per map
    /// entry scanned by a lookup, per byte a string method or `$input.json` reads, per value
    /// printed (default 100,000,000).
    pub max_work: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_output: 10 << 20,
            max_iterations: 1000,
            max_total_iterations: 100_000,
            max_range: 1000,
            max_string: 1 << 20,
            max_values: 1_000_000,
            max_work: 100_000_000,
        }
    }
}
