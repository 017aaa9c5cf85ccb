//! What one timed run measured, whatever generated the load.

/// One timed run against one target.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub rps: f64,
    /// Latency percentiles in microseconds.
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub requests: u64,
    /// Responses that were not 2xx/3xx.
    pub non_2xx: u64,
    /// Connect, read, write errors and timeouts.
    pub errors: u64,
    /// Peak resident memory of the target during the run, bytes.
    pub peak_rss: u64,
    /// CPU time (user + system) the target's processes spent during the run, in microseconds
    /// per request answered; `None` where it was not read (no requests, or no `/proc`).
    pub cpu_us_per_req: Option<f64>,
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    // The epsilon keeps float noise (0.999 * 1000 = 999.0000000000001) from moving a rank up.
    let rank = (p * sorted.len() as f64 / 100.0 - 1e-9).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank() {
        let v: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&v, 50.0), 500.0);
        assert_eq!(percentile(&v, 99.0), 990.0);
        assert_eq!(percentile(&v, 99.9), 999.0);
        assert_eq!(percentile(&[7], 99.9), 7.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
