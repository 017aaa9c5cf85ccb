//! WebAssembly component plugins: the host is `gatehouse_plugin_host`'s; [`convert`] turns
//! the gateway's requests and responses into the plugin worlds' types and back.

pub mod compile;
pub mod convert;

pub use gatehouse_plugin_host::*;
