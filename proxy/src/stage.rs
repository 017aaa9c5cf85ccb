//! The stages a REST request passes that the runtime holds settings for: each module has the
//! compiled form of its part of the config and the code that applies it to a request. They
//! read the request context (`ctx`), never the runtime; `pipeline` runs them in order.

pub mod cache;
pub mod cors;
pub mod policy;
pub mod throttle;
pub mod validate;
