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
//! - Java's methods: of strings (`length`, `substring`, `indexOf`, `replace`, `replaceAll`,
//!   `matches`, `split`, `trim`, ...), of lists (`get`, `add`, `remove`, `contains`,
//!   `indexOf`, `size`, ...) and of maps (`get`, `put`, `putAll`, `containsKey`, `keySet`,
//!   `entrySet` with `.key` / `.value`, `values`, `remove`, ...); `put` and `add` change the
//!   one object every variable holding it sees.
//!
//! Values behave as on API Gateway (see the crate README for the evidence each rule follows):
//! a null (a missing property, an unset variable, a path with no match) renders as nothing
//! and equals `""`; maps render as Java's `{key=value, other=value}`, lists built by the
//! template as `[a, b]`, arrays of the JSON body as compact JSON; `$input.json` gives JSON.
//! An empty body reads as `{}`. Rendering never panics: a failure is an error naming the
//! template position, which the caller answers with 500. What one rendering may cost is
//! capped by [`Limits`].

#![forbid(unsafe_code)]

mod ast;
mod expr;
mod functions;
pub mod jsonpath;
mod limits;
mod methods;
mod parser;
mod render;
mod value;

use ast::Node;
use parser::{Parser, Stop};
use render::{Flow, Renderer};
use serde_json::Value;

pub use functions::url_encode;
pub use limits::Limits;

/// Deepest nesting of directives and expressions the parser accepts.
const MAX_DEPTH: usize = 64;

/// A compiled template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
    limits: Limits,
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
                    Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
                    other => text(other),
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
            Stop::Eof => Ok(Template {
                nodes,
                limits: Limits::default(),
            }),
            _ => Err(format!(
                "{}: `#end`, `#else` or `#elseif` without an opening directive",
                p.pos()
            )),
        }
    }

    /// The same template under other limits.
    pub fn with_limits(mut self, limits: Limits) -> Template {
        self.limits = limits;
        self
    }

    /// The limits renderings run under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Renders against `inputs`.
    pub fn render(&self, inputs: &Inputs<'_>) -> Result<Rendered, String> {
        let mut r = Renderer::new(inputs, self.limits)?;
        match r.nodes(&self.nodes)? {
            Flow::Normal | Flow::Break => {}
        }
        Ok(Rendered {
            context: r.heap.to_json(&r.context),
            body: r.out,
        })
    }
}

/// A header value as text: strings as they are, the rest as JSON.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
