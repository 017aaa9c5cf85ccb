//! Velocity (VTL) mapping templates, the subset Amazon API Gateway users rely on.
//!
//! Templates are parsed once at load into a tree ([`Template::compile`]; errors name the line
//! and column) and rendered per request against [`Inputs`]:
//! - references `$a.b.c`, `${a.b}`, quiet `$!a`, method calls `$a.b('x')`, indexing `$a[0]`;
//! - `#set`, `#if` / `#elseif` / `#else`, `#foreach` (with `$foreach.hasNext`, `.index`,
//!   `.count` and `$velocityCount`), `#break`, `##` and `#* *#` comments;
//! - expressions: string literals (double-quoted ones interpolate), numbers, booleans, lists,
//!   ranges `[1..3]`, maps, `== != < <= > >= && || !` (and `and`, `or`, `not`), `+ - * / %`;
//! - `$input.body`, `$input.json(path)`, `$input.path(path)`, `$input.params()` and
//!   `$input.params(name)`; `$context.*` (and `#set($context.responseOverride.status = ..)`,
//!   `$context.requestOverride.header.NAME`, ...), `$stageVariables.*`; `$util.escapeJavaScript`,
//!   `urlEncode`, `urlDecode`, `base64Encode`, `base64Decode`, `parseJson`;
//! - methods of strings, lists and maps as in Java (`size`, `contains`, `replaceAll`, `get`,
//!   `keySet`, ...).
//!
//! A value with no content (a missing property, a null) renders as nothing. Objects and lists
//! render as JSON. Rendering never panics: a failure is an error naming the template position,
//! which the caller answers with 500. Loops stop after 1,000 iterations and output after
//! 10 MiB, as a bound on what one request can cost.

mod ast;
mod expr;
mod functions;
pub mod jsonpath;
mod parser;
mod render;

use ast::Node;
use parser::{Parser, Stop};
use render::{Flow, Renderer};
use serde_json::Value;
use std::collections::HashMap;

pub use functions::url_encode;

/// Most iterations one `#foreach` runs (API Gateway's limit).
const MAX_ITERATIONS: usize = 1000;
/// Most bytes one rendering produces.
const MAX_OUTPUT: usize = 10 << 20;
/// Deepest nesting of directives and expressions the parser accepts.
const MAX_DEPTH: usize = 64;

/// A compiled template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

/// What a template reads; borrowed, so one request's values serve all its templates.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The request (or integration response) body.
    pub body: &'a [u8],
    /// Path parameters, query string parameters and headers, in that order of lookup.
    pub path: &'a [(String, String)],
    pub querystring: &'a [(String, String)],
    pub header: &'a [(String, String)],
    /// `$context`: a JSON object (null: empty).
    pub context: &'a Value,
    /// `$stageVariables`: a JSON object (null: empty).
    pub stage_variables: &'a Value,
}

impl Default for Inputs<'_> {
    fn default() -> Self {
        static NULL: Value = Value::Null;
        Inputs {
            body: &[],
            path: &[],
            querystring: &[],
            header: &[],
            context: &NULL,
            stage_variables: &NULL,
        }
    }
}

/// A rendered template: the text and what it set under `$context.requestOverride` and
/// `$context.responseOverride`.
#[derive(Debug, Default, PartialEq)]
pub struct Rendered {
    pub body: String,
    /// The `$context` object after rendering (holding any overrides set).
    pub context: Value,
}

impl Rendered {
    /// `$context.responseOverride.status`, when set to a valid status.
    pub fn status_override(&self) -> Option<u16> {
        let v = self.context.get("responseOverride")?.get("status")?;
        match v {
            Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// Header overrides under `$context.{request,response}Override.header` (`which`).
    pub fn header_overrides(&self, which: &str) -> Vec<(String, String)> {
        let Some(Value::Object(h)) = self.context.get(which).and_then(|o| o.get("header")) else {
            return Vec::new();
        };
        h.iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::Array(items) => items
                        .iter()
                        .map(functions::display)
                        .collect::<Vec<_>>()
                        .join(","),
                    other => functions::display(other),
                };
                (k.clone(), text)
            })
            .collect()
    }
}

impl Template {
    /// Parses `src`; an error names the position and what was expected.
    pub fn compile(src: &str) -> Result<Template, String> {
        let mut p = Parser {
            src,
            i: 0,
            depth: 0,
        };
        let (nodes, stop) = p.block()?;
        match stop {
            Stop::Eof => Ok(Template { nodes }),
            _ => Err(format!(
                "{}: `#end`, `#else` or `#elseif` without an opening directive",
                p.pos()
            )),
        }
    }

    /// Renders against `inputs`.
    pub fn render(&self, inputs: &Inputs<'_>) -> Result<Rendered, String> {
        let mut r = Renderer {
            inputs,
            vars: HashMap::new(),
            context: inputs.context.clone(),
            out: String::new(),
            body_json: None,
        };
        match r.nodes(&self.nodes)? {
            Flow::Normal | Flow::Break => {}
        }
        Ok(Rendered {
            body: r.out,
            context: r.context,
        })
    }
}

#[cfg(test)]
mod tests;

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
