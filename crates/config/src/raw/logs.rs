//! Execution logs: where they go (top level) and which stages write them.

use serde::Deserialize;

/// The top-level `execution_log:`: where every stage's execution log lines go.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExecutionLog {
    /// `stderr` (the default), `stdout`, `off` or a file path.
    pub destination: Option<String>,
}

/// A stage's `execution_log:`, as API Gateway's stage `loggingLevel` and `dataTraceEnabled`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStageExecutionLog {
    /// `info` (every request) or `error` (requests that ended in a 5xx or an integration
    /// failure); `off` writes nothing.
    pub level: Option<String>,
    /// Also write request and response headers and bodies (masked, truncated).
    #[serde(default)]
    pub data_trace: bool,
}
