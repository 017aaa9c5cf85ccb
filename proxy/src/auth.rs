//! Authorizers: who may call a method. `authorize` runs a method's authorizer on a request;
//! `authorizers` compiles them from the config; `jwt` and `jwks` verify tokens against an
//! issuer's keys; `lambda_auth` calls Lambda authorizers and `plugin_auth` authorizer plugins;
//! `policy` evaluates the policies both can answer; `sigv4` verifies IAM (Signature Version 4)
//! signatures.

pub mod authorize;
pub mod authorizers;
pub mod jwks;
pub mod jwt;
pub mod lambda_auth;
pub mod plugin_auth;
pub mod policy;
pub mod sigv4;
