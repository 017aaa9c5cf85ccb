//! Host implementations of the interfaces plugins import, one file each.

mod clock;
mod config;
mod kv;
mod log;

pub use kv::{KvStore, StoreSlot};

impl super::bindings::types::Host for super::CallState {}
