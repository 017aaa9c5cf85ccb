//! WebAssembly component plugins: the host is `gatehouse_plugin_host`'s; [`convert`] turns
//! the gateway's requests and responses into the plugin worlds' types and back; [`outbound`]
//! sends plugins' granted HTTP requests through the gateway's upstream clients.

pub mod compile;
pub mod convert;
pub mod outbound;

pub use gatehouse_plugin_host::*;
