//! Host implementations of the interfaces plugins import, one file each.

mod clock;
mod config;
mod connections;
pub mod http;
mod kv;
mod log;

pub use connections::ConnectionsSlot;
pub use kv::{KvStore, StoreSlot};

impl super::bindings::types::Host for super::CallState {}

impl super::bindings::policy::Host for super::CallState {}

impl super::bindings::websocket::Host for super::CallState {}
