//! Configuration: the YAML schema (`raw`), its compilation into a [`Runtime`] with every error
//! reported by path (`compile`), and hot reload (`reload`).

pub mod compile;
pub mod error;
pub mod raw;
pub mod reload;

pub use error::{ConfigError, ConfigErrors};

use crate::metrics::Registry;
use crate::runtime::Runtime;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Settings fixed for the life of the process (a reload that changes them logs a warning).
#[derive(Debug)]
pub struct ServerSettings {
    pub listeners: Vec<ListenerSettings>,
    pub admin: Option<AdminSettings>,
    pub max_header_bytes: usize,
    pub header_read_timeout: Duration,
    pub drain_timeout: Duration,
    pub access_log: LogDestination,
}

#[derive(Debug)]
pub struct ListenerSettings {
    pub name: String,
    pub address: SocketAddr,
    pub http1: bool,
    pub http2: bool,
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

#[derive(Debug, Clone)]
pub struct AdminSettings {
    pub address: SocketAddr,
    pub token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogDestination {
    Off,
    Stdout,
    Stderr,
    File(PathBuf),
}

/// A compiled config file.
#[derive(Debug)]
pub struct Loaded {
    pub settings: ServerSettings,
    pub runtime: Runtime,
    /// Identifies the restart-only settings, to warn when a reload changes them.
    pub fingerprint: String,
}

/// Reads, parses and compiles `path`.
pub fn load(path: &Path, metrics: &Registry) -> Result<Loaded, ConfigErrors> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigErrors::single(path, "", format!("cannot read the file: {e}")))?;
    load_str(&text, path, metrics)
}

/// Parses and compiles `text`, reporting errors against `path`.
pub fn load_str(text: &str, path: &Path, metrics: &Registry) -> Result<Loaded, ConfigErrors> {
    let raw = parse(text, path)?;
    compile::compile(raw, path, metrics)
}

/// Parses YAML into the raw schema; the first schema error is reported with its path.
pub fn parse(text: &str, path: &Path) -> Result<raw::RawConfig, ConfigErrors> {
    let de = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = error::render_serde_path(e.path());
        ConfigErrors::single(path, field, e.into_inner().to_string())
    })
}
