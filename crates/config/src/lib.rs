//! The schema of `gatehouse.yaml` as the user writes it, and how its errors are reported.
//!
//! - [`raw`]: the serde types of the file (`version: 1`), which deny unknown fields;
//! - [`parse`]: YAML to [`raw::RawConfig`], the first schema error reported with its path;
//! - [`Errors`]: what the compilers of each part use to record every problem at its path
//!   (`apis[0].resources["/pets/{id}"].GET.integration.uri`) and [`ConfigErrors`], the report
//!   that names the file;
//! - [`duration`]: `250ms`, `30s`, `5m` and `1h`, with their bounds.
//!
//! Nothing here knows the runtime: turning these types into what serves requests is done by
//! the `gatehouse` crate, each stage compiling its own part.

pub mod duration;
mod error;
pub mod http;
pub mod raw;

pub use duration::{duration, parse_duration};
pub use error::{push_field, render_serde_path, ConfigError, ConfigErrors, Errors};

use std::path::Path;

/// Parses YAML into the raw schema; the first schema error is reported with its path.
pub fn parse(text: &str, path: &Path) -> Result<raw::RawConfig, ConfigErrors> {
    let de = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = error::render_serde_path(e.path());
        ConfigErrors::single(path, field, strip_yaml_path(&e.into_inner().to_string()))
    })
}

/// serde_yaml starts its messages with its own rendering of the path (`apis[0].x: ...`); the
/// path is reported separately, so drop it.
fn strip_yaml_path(msg: &str) -> String {
    match msg.split_once(": ") {
        Some((head, rest)) if !head.is_empty() && !head.contains(' ') => rest.to_owned(),
        _ => msg.to_owned(),
    }
}
