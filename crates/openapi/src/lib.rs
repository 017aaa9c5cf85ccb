//! OpenAPI 3 and Swagger 2 import with Amazon API Gateway's `x-amazon-apigateway-*` extensions.
//!
//! A document becomes the native config of one API (the same shape `gatehouse.yaml` takes under
//! `apis[]`, as JSON), so everything after import is the ordinary config path: one set of
//! checks, one set of errors. What is not served yet becomes a warning naming its place in the
//! document (a JSON pointer), never a silent omission. One construct never refuses the whole
//! API: a setting that is not served is left out and its method served; a method that cannot
//! be served as written is left out, so it answers API Gateway's 403 rather than something it
//! was not meant to do; a model that cannot mean what it says is refused with the methods
//! using it. Whatever the proxy would refuse when compiling the config is caught here first.
//!
//! Modules, in the order a document is read: `root` (API-level extensions), `models`,
//! `operation` (one method) with `parameters`, `integration` and `security`; `refs` resolves
//! local `$ref`s; `export` writes a native API back as OpenAPI 3.
//!
//! Lambda ARNs (in `aws_proxy` URIs) are bound with [`ImportOptions::lambda_endpoint`] (a
//! Lambda-compatible invoke endpoint; the function name comes from the ARN) or per function
//! with [`ImportOptions::functions`] (a `wasm` integration plugin). Authorizers are bound to
//! authorizer plugins by security scheme name with [`ImportOptions::authorizers`]; backend hosts
//! can be redirected with [`ImportOptions::backends`].

use serde_json::{Map, Value};
use std::collections::BTreeSet;

mod authorizers;
mod export;
mod import;
mod integration;
mod models;
mod operation;
mod parameters;
mod refs;
mod root;
mod security;

pub use export::export;
pub use import::import;

pub use gatehouse_config::raw::ImportOptions;

/// The native API (without `name` and `stages`) and the warnings.
#[derive(Debug)]
pub struct Imported {
    pub api: Value,
    pub warnings: Vec<String>,
}

pub(crate) const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

/// A JSON pointer segment (RFC 6901).
pub(crate) fn esc(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Parses a document (JSON or YAML).
pub fn parse(text: &str) -> Result<Value, String> {
    match serde_json::from_str(text) {
        Ok(v) => Ok(v),
        Err(json_err) => serde_yaml::from_str::<Value>(text)
            .map_err(|e| format!("neither JSON ({json_err}) nor YAML ({e})")),
    }
}

pub(crate) struct Ctx<'a> {
    pub(crate) opts: &'a ImportOptions,
    /// The document, for `$ref`s.
    pub(crate) doc: &'a Value,
    pub(crate) warnings: Vec<String>,
    /// Security schemes by name.
    pub(crate) schemes: Map<String, Value>,
    /// Where they are: `/securityDefinitions` or `/components/securitySchemes`.
    pub(crate) schemes_at: &'static str,
    /// Bound authorizers by scheme name.
    pub(crate) authorizers: Map<String, Value>,
    /// Authorizer schemes that cannot be served (warned once; their methods are left out).
    pub(crate) unserved_authorizers: BTreeSet<String>,
    pub(crate) models: models::Models,
}

impl<'a> Ctx<'a> {
    pub(crate) fn warn(&mut self, at: &str, msg: impl std::fmt::Display) {
        self.warnings.push(format!("#{at}: {msg}"));
    }

    /// `v` at `at` through its local `$ref`s, with the pointer it resolved to; `None`, warned
    /// at `at` with what `leaves_out`, when it does not resolve.
    pub(crate) fn resolve<'v>(
        &mut self,
        v: &'v Value,
        at: &str,
        leaves_out: &str,
    ) -> Option<(&'v Value, String)>
    where
        'a: 'v,
    {
        match refs::resolve(self.doc, v, at) {
            Ok(r) => Some(r),
            Err(e) => {
                self.warn(at, format!("{e}; {leaves_out}"));
                None
            }
        }
    }
}

/// The items of array `v[key]` (none when it is absent or no array).
pub(crate) fn items<'v>(v: &'v Value, key: &str) -> impl Iterator<Item = &'v Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

/// The entries of object `v[key]` (none when it is absent or no object).
pub(crate) fn entries<'v>(
    v: &'v Value,
    key: &str,
) -> impl Iterator<Item = (&'v String, &'v Value)> {
    v.get(key).and_then(Value::as_object).into_iter().flatten()
}

/// A number, or a string holding one (API Gateway writes status codes both ways).
pub fn number(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// The `x-` keys of `obj` not in `known`, each warned at `at/KEY` with `why`.
pub(crate) fn warn_unknown_extensions(
    cx: &mut Ctx<'_>,
    obj: &Value,
    at: &str,
    known: &[&str],
    why: &str,
) {
    for k in obj.as_object().into_iter().flatten().map(|(k, _)| k) {
        if k.starts_with("x-") && !known.contains(&k.as_str()) {
            cx.warn(&format!("{at}/{}", esc(k)), why);
        }
    }
}

#[cfg(test)]
mod tests;
