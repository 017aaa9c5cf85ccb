//! The subcommands other than `serve`, one module each.

pub mod admin_client;
pub mod deployments;
pub mod iam;
pub mod keys;
pub mod openapi;
pub mod plugin;
pub mod usage;
