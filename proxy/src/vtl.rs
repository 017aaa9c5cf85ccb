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

pub mod jsonpath;

use serde_json::{Map, Number, Value};
use std::collections::HashMap;
use std::fmt::Write as _;

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
                    Value::Array(items) => items.iter().map(display).collect::<Vec<_>>().join(","),
                    other => display(other),
                };
                (k.clone(), text)
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Ref {
        r: Ref,
        quiet: bool,
        src: String,
    },
    Set {
        target: Ref,
        value: Expr,
    },
    If {
        branches: Vec<(Expr, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
    Foreach {
        var: String,
        iter: Expr,
        body: Vec<Node>,
        at: Pos,
    },
    Break,
}

#[derive(Debug, Clone)]
struct Ref {
    root: String,
    parts: Vec<Part>,
    at: Pos,
}

#[derive(Debug, Clone)]
enum Part {
    Prop(String),
    Call(String, Vec<Expr>),
    Index(Expr),
}

#[derive(Debug, Clone)]
enum Expr {
    Lit(Value),
    Interp(Vec<Node>),
    Ref(Ref),
    List(Vec<Expr>),
    Range(Box<Expr>, Box<Expr>),
    Map(Vec<(Expr, Expr)>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Bin(Op, Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

/// A position in the template, 1-based, for errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pos {
    line: u32,
    col: u32,
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}, column {}", self.line, self.col)
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

struct Parser<'a> {
    src: &'a str,
    i: usize,
    depth: usize,
}

/// What ended a block.
#[derive(Debug)]
enum Stop {
    Eof,
    End,
    Else,
    ElseIf(Expr),
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

impl<'a> Parser<'a> {
    fn pos(&self) -> Pos {
        let before = &self.src[..self.i];
        let line = before.matches('\n').count() as u32 + 1;
        let col = before
            .rfind('\n')
            .map_or(before.len(), |n| before.len() - n - 1) as u32
            + 1;
        Pos { line, col }
    }

    fn rest(&self) -> &'a str {
        &self.src[self.i..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn err<T>(&self, msg: impl std::fmt::Display) -> Result<T, String> {
        Err(format!("{}: {msg}", self.pos()))
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start_matches([' ', '\t', '\r', '\n']);
        self.i = self.src.len() - trimmed.len();
    }

    fn eat(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.i += s.len();
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> Option<String> {
        let r = self.rest();
        let mut chars = r.char_indices();
        match chars.next() {
            Some((_, c)) if c.is_ascii_alphabetic() || c == '_' => {}
            _ => return None,
        }
        let end = chars
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
            .map_or(r.len(), |(i, _)| i);
        // A trailing `-` belongs to the text, not the name.
        let name = r[..end].trim_end_matches('-');
        self.i += name.len();
        Some(name.to_owned())
    }

    /// After a directive: a line holding only it leaves nothing behind (its indentation was
    /// dropped by the caller, its newline is dropped here).
    fn gobble_newline(&mut self, line_start_only: bool) {
        if !line_start_only {
            return;
        }
        let r = self.rest();
        let spaces = r.len() - r.trim_start_matches([' ', '\t']).len();
        let after = &r[spaces..];
        if after.starts_with("\r\n") {
            self.i += spaces + 2;
        } else if after.starts_with('\n') {
            self.i += spaces + 1;
        } else if after.is_empty() {
            self.i += spaces;
        }
    }

    fn block(&mut self) -> Result<(Vec<Node>, Stop), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err("directives nested too deeply");
        }
        let mut nodes = Vec::new();
        let mut text = String::new();
        let stop = loop {
            let Some(c) = self.peek() else {
                break Stop::Eof;
            };
            match c {
                '#' => {
                    let r = self.rest();
                    if r.starts_with("##") {
                        let end = r.find('\n').map_or(r.len(), |n| n + 1);
                        self.i += end;
                        continue;
                    }
                    if r.starts_with("#*") {
                        let end = r
                            .find("*#")
                            .ok_or_else(|| format!("{}: `#*` comment without `*#`", self.pos()))?;
                        self.i += end + 2;
                        continue;
                    }
                    let Some(word) = directive_word(r) else {
                        text.push('#');
                        self.i += 1;
                        continue;
                    };
                    // Indentation before a directive that starts its line is dropped.
                    let line_start = self.at_line_start();
                    if line_start {
                        let keep = text.trim_end_matches([' ', '\t']).len();
                        text.truncate(keep);
                    }
                    if !text.is_empty() {
                        nodes.push(Node::Text(std::mem::take(&mut text)));
                    }
                    self.i += word.len() + 1;
                    let name = word.trim_start_matches('{').trim_end_matches('}');
                    match name {
                        "set" => {
                            self.open_paren()?;
                            let target =
                                match self.expr()? {
                                    Expr::Ref(r) => r,
                                    _ => return self.err(
                                        "#set needs a reference on the left, such as $x or $a.b",
                                    ),
                                };
                            self.skip_ws();
                            if !self.eat("=") {
                                return self.err("expected `=` in #set");
                            }
                            let value = self.expr()?;
                            self.close_paren()?;
                            self.gobble_newline(line_start);
                            nodes.push(Node::Set { target, value });
                        }
                        "if" => {
                            self.open_paren()?;
                            let cond = self.expr()?;
                            self.close_paren()?;
                            self.gobble_newline(line_start);
                            let mut branches = Vec::new();
                            let mut otherwise = Vec::new();
                            let (body, mut stop) = self.block()?;
                            branches.push((cond, body));
                            loop {
                                match stop {
                                    Stop::End => break,
                                    Stop::Eof => return self.err("#if without #end"),
                                    Stop::ElseIf(c) => {
                                        let (body, s) = self.block()?;
                                        branches.push((c, body));
                                        stop = s;
                                    }
                                    Stop::Else => {
                                        let (body, s) = self.block()?;
                                        if !matches!(s, Stop::End) {
                                            return self.err("#else must be followed by #end");
                                        }
                                        otherwise = body;
                                        break;
                                    }
                                }
                            }
                            nodes.push(Node::If {
                                branches,
                                otherwise,
                            });
                        }
                        "elseif" => {
                            self.open_paren()?;
                            let cond = self.expr()?;
                            self.close_paren()?;
                            self.gobble_newline(line_start);
                            break Stop::ElseIf(cond);
                        }
                        "else" => {
                            self.gobble_newline(line_start);
                            break Stop::Else;
                        }
                        "end" => {
                            self.gobble_newline(line_start);
                            break Stop::End;
                        }
                        "break" => {
                            self.gobble_newline(line_start);
                            nodes.push(Node::Break);
                        }
                        "foreach" => {
                            let at = self.pos();
                            self.open_paren()?;
                            self.skip_ws();
                            if !self.eat("$") {
                                return self.err("expected `$name in ...` in #foreach");
                            }
                            let var = match self.ident() {
                                Some(v) => v,
                                None => return self.err("expected a variable name in #foreach"),
                            };
                            self.skip_ws();
                            if !self.eat("in") {
                                return self.err("expected `in` in #foreach");
                            }
                            let iter = self.expr()?;
                            self.close_paren()?;
                            self.gobble_newline(line_start);
                            let (body, stop) = self.block()?;
                            if !matches!(stop, Stop::End) {
                                return self.err("#foreach without #end");
                            }
                            nodes.push(Node::Foreach {
                                var,
                                iter,
                                body,
                                at,
                            });
                        }
                        other => return self.err(format!("unknown directive #{other}")),
                    }
                }
                '$' => {
                    let start = self.i;
                    match self.reference()? {
                        Some((r, quiet)) => {
                            if !text.is_empty() {
                                nodes.push(Node::Text(std::mem::take(&mut text)));
                            }
                            let src = self.src[start..self.i].to_owned();
                            nodes.push(Node::Ref { r, quiet, src });
                        }
                        None => {
                            text.push('$');
                            self.i = start + 1;
                        }
                    }
                }
                '\\' if self.rest()[1..].starts_with('$') || self.rest()[1..].starts_with('#') => {
                    // `\$x` and `\#set` are literal.
                    let next = self.rest()[1..].chars().next().unwrap_or('$');
                    text.push(next);
                    self.i += 2;
                }
                _ => {
                    text.push(c);
                    self.i += c.len_utf8();
                }
            }
        };
        if !text.is_empty() {
            nodes.push(Node::Text(text));
        }
        self.depth -= 1;
        Ok((nodes, stop))
    }

    fn at_line_start(&self) -> bool {
        self.src[..self.i]
            .rsplit('\n')
            .next()
            .is_none_or(|l| l.chars().all(|c| c == ' ' || c == '\t'))
    }

    fn open_paren(&mut self) -> Result<(), String> {
        self.skip_ws();
        if self.eat("(") {
            Ok(())
        } else {
            self.err("expected `(`")
        }
    }

    fn close_paren(&mut self) -> Result<(), String> {
        self.skip_ws();
        if self.eat(")") {
            Ok(())
        } else {
            self.err("expected `)`")
        }
    }

    /// `$name...` at the cursor (which is on `$`); `None` when it is not a reference.
    fn reference(&mut self) -> Result<Option<(Ref, bool)>, String> {
        let at = self.pos();
        let start = self.i;
        self.i += 1;
        let quiet = self.eat("!");
        let formal = self.eat("{");
        let Some(root) = self.ident() else {
            self.i = start;
            return Ok(None);
        };
        let mut parts = Vec::new();
        loop {
            let r = self.rest();
            if r.starts_with('.') {
                let save = self.i;
                self.i += 1;
                match self.ident() {
                    Some(name) => {
                        if self.peek() == Some('(') {
                            self.i += 1;
                            let args = self.args(')')?;
                            parts.push(Part::Call(name, args));
                        } else {
                            parts.push(Part::Prop(name));
                        }
                    }
                    None => {
                        self.i = save;
                        break;
                    }
                }
            } else if r.starts_with('[') {
                self.i += 1;
                let idx = self.expr()?;
                self.skip_ws();
                if !self.eat("]") {
                    return self.err("expected `]`");
                }
                parts.push(Part::Index(idx));
            } else {
                break;
            }
        }
        if formal && !self.eat("}") {
            return self.err("expected `}` closing `${`");
        }
        Ok(Some((Ref { root, parts, at }, quiet)))
    }

    fn args(&mut self, close: char) -> Result<Vec<Expr>, String> {
        let mut args = Vec::new();
        self.skip_ws();
        if self.peek() == Some(close) {
            self.i += 1;
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.i += 1,
                Some(c) if c == close => {
                    self.i += 1;
                    return Ok(args);
                }
                _ => return self.err(format!("expected `,` or `{close}`")),
            }
        }
    }

    fn expr(&mut self) -> Result<Expr, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err("expression nested too deeply");
        }
        let e = self.binary(0);
        self.depth -= 1;
        e
    }

    fn op(&mut self, level: usize) -> Option<Op> {
        self.skip_ws();
        let r = self.rest();
        let word = |w: &str| {
            r.starts_with(w)
                && !r[w.len()..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        let (op, len) = match level {
            0 if r.starts_with("||") => (Op::Or, 2),
            0 if word("or") => (Op::Or, 2),
            1 if r.starts_with("&&") => (Op::And, 2),
            1 if word("and") => (Op::And, 3),
            2 if r.starts_with("==") => (Op::Eq, 2),
            2 if r.starts_with("!=") => (Op::Ne, 2),
            2 if word("eq") => (Op::Eq, 2),
            2 if word("ne") => (Op::Ne, 2),
            3 if r.starts_with("<=") => (Op::Le, 2),
            3 if r.starts_with(">=") => (Op::Ge, 2),
            3 if r.starts_with('<') => (Op::Lt, 1),
            3 if r.starts_with('>') => (Op::Gt, 1),
            4 if r.starts_with('+') => (Op::Add, 1),
            4 if r.starts_with('-') => (Op::Sub, 1),
            5 if r.starts_with('*') => (Op::Mul, 1),
            5 if r.starts_with('/') => (Op::Div, 1),
            5 if r.starts_with('%') => (Op::Rem, 1),
            _ => return None,
        };
        self.i += len;
        Some(op)
    }

    fn binary(&mut self, level: usize) -> Result<Expr, String> {
        if level > 5 {
            return self.unary();
        }
        let mut left = self.binary(level + 1)?;
        while let Some(op) = self.op(level) {
            let right = self.binary(level + 1)?;
            left = Expr::Bin(op, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        self.skip_ws();
        if self.rest().starts_with('!') && !self.rest().starts_with("!=") {
            self.i += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.rest().starts_with("not ") {
            self.i += 3;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.rest().starts_with('-')
            && !self.rest()[1..].starts_with(|c: char| c.is_ascii_digit())
        {
            self.i += 1;
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, String> {
        self.skip_ws();
        let Some(c) = self.peek() else {
            return self.err("expected an expression");
        };
        match c {
            '$' => match self.reference()? {
                Some((r, _)) => Ok(Expr::Ref(r)),
                None => self.err("expected a reference after `$`"),
            },
            '\'' | '"' => {
                self.i += 1;
                let start = self.i;
                let end = self.rest().find(c).map(|e| start + e);
                let Some(end) = end else {
                    return self.err("string without its closing quote");
                };
                let s = &self.src[start..end];
                self.i = end + 1;
                if c == '"' && (s.contains('$') || s.contains('#')) {
                    let mut inner = Parser {
                        src: s,
                        i: 0,
                        depth: self.depth,
                    };
                    let (nodes, stop) = inner
                        .block()
                        .map_err(|e| format!("{}: in a string: {e}", self.pos()))?;
                    if !matches!(stop, Stop::Eof) {
                        return self.err("unbalanced directive in a string");
                    }
                    Ok(Expr::Interp(nodes))
                } else {
                    Ok(Expr::Lit(Value::String(s.to_owned())))
                }
            }
            '(' => {
                self.i += 1;
                let e = self.expr()?;
                self.close_paren()?;
                Ok(e)
            }
            '[' => {
                self.i += 1;
                self.skip_ws();
                if self.eat("]") {
                    return Ok(Expr::List(Vec::new()));
                }
                let first = self.expr()?;
                self.skip_ws();
                if self.eat("..") {
                    let last = self.expr()?;
                    self.skip_ws();
                    if !self.eat("]") {
                        return self.err("expected `]` closing a range");
                    }
                    return Ok(Expr::Range(Box::new(first), Box::new(last)));
                }
                let mut items = vec![first];
                loop {
                    self.skip_ws();
                    if self.eat("]") {
                        return Ok(Expr::List(items));
                    }
                    if !self.eat(",") {
                        return self.err("expected `,` or `]` in a list");
                    }
                    items.push(self.expr()?);
                }
            }
            '{' => {
                self.i += 1;
                let mut entries = Vec::new();
                self.skip_ws();
                if self.eat("}") {
                    return Ok(Expr::Map(entries));
                }
                loop {
                    let k = self.expr()?;
                    self.skip_ws();
                    if !self.eat(":") {
                        return self.err("expected `:` in a map");
                    }
                    let v = self.expr()?;
                    entries.push((k, v));
                    self.skip_ws();
                    if self.eat("}") {
                        return Ok(Expr::Map(entries));
                    }
                    if !self.eat(",") {
                        return self.err("expected `,` or `}` in a map");
                    }
                }
            }
            c if c.is_ascii_digit() || c == '-' => {
                let r = self.rest();
                let mut end = usize::from(c == '-');
                let b = r.as_bytes();
                while end < b.len() && b[end].is_ascii_digit() {
                    end += 1;
                }
                // `1..3` is a range, not a decimal.
                if end + 1 < b.len() && b[end] == b'.' && b[end + 1].is_ascii_digit() {
                    end += 1;
                    while end < b.len() && b[end].is_ascii_digit() {
                        end += 1;
                    }
                }
                let text = &r[..end];
                self.i += end;
                if let Ok(n) = text.parse::<i64>() {
                    Ok(Expr::Lit(Value::from(n)))
                } else if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
                    Ok(Expr::Lit(Value::Number(n)))
                } else {
                    self.err(format!("`{text}` is not a number"))
                }
            }
            _ => {
                for (w, v) in [
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                    ("null", Value::Null),
                ] {
                    if self.rest().starts_with(w) {
                        self.i += w.len();
                        return Ok(Expr::Lit(v));
                    }
                }
                self.err(format!("unexpected `{c}` in an expression"))
            }
        }
    }
}

/// `set(`, `if(`, `{end}`, ... after a `#`: the directive word as written, else `None`.
fn directive_word(r: &str) -> Option<&str> {
    let after = &r[1..];
    for w in ["foreach", "elseif", "else", "break", "set", "end", "if"] {
        let braced_len = w.len() + 2;
        if after.starts_with('{')
            && after[1..].starts_with(w)
            && after[1 + w.len()..].starts_with('}')
        {
            return Some(&after[..braced_len]);
        }
        if let Some(rest) = after.strip_prefix(w) {
            let next = rest.chars().next();
            let ok = match w {
                "else" | "end" | "break" => {
                    !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                }
                _ => rest.trim_start_matches([' ', '\t']).starts_with('('),
            };
            if ok {
                return Some(&after[..w.len()]);
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Rendering

enum Flow {
    Normal,
    Break,
}

/// What an expression evaluates to: data, or one of the built-in objects.
#[derive(Debug, Clone)]
enum Val {
    Json(Value),
    Input,
    Util,
}

struct Renderer<'a> {
    inputs: &'a Inputs<'a>,
    vars: HashMap<String, Value>,
    context: Value,
    out: String,
    body_json: Option<Value>,
}

fn display(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

fn truthy(v: &Value) -> bool {
    !matches!(v, Value::Null | Value::Bool(false))
}

impl Renderer<'_> {
    fn nodes(&mut self, nodes: &[Node]) -> Result<Flow, String> {
        for n in nodes {
            match n {
                Node::Text(t) => self.emit(t)?,
                Node::Ref { r, quiet, src } => {
                    let v = self.reference(r)?;
                    match v {
                        Val::Json(Value::Null) if !quiet => {
                            // A reference with no value renders as nothing (API Gateway's
                            // behaviour for missing JSON fields), except a plain unknown
                            // variable that was never set, which renders as written.
                            if r.parts.is_empty() && !self.known_root(&r.root) {
                                let src = src.clone();
                                self.emit(&src)?;
                            }
                        }
                        Val::Json(v) => {
                            let text = display(&v);
                            self.emit(&text)?;
                        }
                        Val::Input | Val::Util => {}
                    }
                }
                Node::Set { target, value } => {
                    let v = self.expr(value)?;
                    self.assign(target, v)?;
                }
                Node::If {
                    branches,
                    otherwise,
                } => {
                    let mut taken = None;
                    for (cond, body) in branches {
                        if truthy(&self.expr(cond)?) {
                            taken = Some(body);
                            break;
                        }
                    }
                    if let Flow::Break = self.nodes(taken.unwrap_or(otherwise))? {
                        return Ok(Flow::Break);
                    }
                }
                Node::Foreach {
                    var,
                    iter,
                    body,
                    at,
                } => {
                    let items = match self.expr(iter)? {
                        Value::Array(a) => a,
                        Value::Object(o) => o.into_iter().map(|(_, v)| v).collect(),
                        Value::Null => Vec::new(),
                        other => vec![other],
                    };
                    if items.len() > MAX_ITERATIONS {
                        return Err(format!(
                            "{at}: #foreach over {} items (at most {MAX_ITERATIONS})",
                            items.len()
                        ));
                    }
                    let saved = (
                        self.vars.remove(var),
                        self.vars.remove("foreach"),
                        self.vars.remove("velocityCount"),
                    );
                    let n = items.len();
                    for (i, item) in items.into_iter().enumerate() {
                        self.vars.insert(var.clone(), item);
                        let mut fe = Map::new();
                        fe.insert("index".into(), Value::from(i));
                        fe.insert("count".into(), Value::from(i + 1));
                        fe.insert("hasNext".into(), Value::Bool(i + 1 < n));
                        fe.insert("first".into(), Value::Bool(i == 0));
                        fe.insert("last".into(), Value::Bool(i + 1 == n));
                        self.vars.insert("foreach".into(), Value::Object(fe));
                        self.vars.insert("velocityCount".into(), Value::from(i + 1));
                        if let Flow::Break = self.nodes(body)? {
                            break;
                        }
                    }
                    for (k, v) in [
                        (var.as_str(), saved.0),
                        ("foreach", saved.1),
                        ("velocityCount", saved.2),
                    ] {
                        match v {
                            Some(v) => {
                                self.vars.insert(k.to_owned(), v);
                            }
                            None => {
                                self.vars.remove(k);
                            }
                        }
                    }
                }
                Node::Break => return Ok(Flow::Break),
            }
        }
        Ok(Flow::Normal)
    }

    fn known_root(&self, root: &str) -> bool {
        matches!(root, "input" | "util" | "context" | "stageVariables")
            || self.vars.contains_key(root)
    }

    fn emit(&mut self, s: &str) -> Result<(), String> {
        if self.out.len() + s.len() > MAX_OUTPUT {
            return Err(format!("output over {MAX_OUTPUT} bytes"));
        }
        self.out.push_str(s);
        Ok(())
    }

    fn body_json(&mut self) -> Result<&Value, String> {
        if self.body_json.is_none() {
            let body = self.inputs.body;
            let v = if body.iter().all(u8::is_ascii_whitespace) {
                Value::Object(Map::new())
            } else {
                serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?
            };
            self.body_json = Some(v);
        }
        Ok(self.body_json.get_or_insert(Value::Null))
    }

    fn reference(&mut self, r: &Ref) -> Result<Val, String> {
        // Fast path: properties of data are read in place; only the result is copied.
        if r.parts.iter().all(|p| matches!(p, Part::Prop(_))) {
            static NULL: Value = Value::Null;
            let root = match r.root.as_str() {
                "input" | "util" => None,
                "context" => Some(&self.context),
                "stageVariables" => Some(self.inputs.stage_variables),
                name => Some(self.vars.get(name).unwrap_or(&NULL)),
            };
            if let Some(mut cur) = root {
                let mut objects_only = true;
                for p in &r.parts {
                    match (cur, p) {
                        (Value::Object(m), Part::Prop(name)) => cur = m.get(name).unwrap_or(&NULL),
                        (Value::Null, _) => break,
                        _ => {
                            objects_only = false;
                            break;
                        }
                    }
                }
                if objects_only {
                    return Ok(Val::Json(cur.clone()));
                }
            }
        }
        let mut cur = match r.root.as_str() {
            "input" => Val::Input,
            "util" => Val::Util,
            "context" => Val::Json(self.context.clone()),
            "stageVariables" => Val::Json(self.inputs.stage_variables.clone()),
            name => Val::Json(self.vars.get(name).cloned().unwrap_or(Value::Null)),
        };
        for part in &r.parts {
            cur = match part {
                Part::Prop(name) => match cur {
                    Val::Input if name == "body" => Val::Json(Value::String(
                        String::from_utf8_lossy(self.inputs.body).into_owned(),
                    )),
                    Val::Input | Val::Util => {
                        return Err(format!("{}: `${}.{name}` is not known", r.at, r.root))
                    }
                    Val::Json(v) => Val::Json(property(&v, name)),
                },
                Part::Index(e) => {
                    let idx = self.expr(e)?;
                    match cur {
                        Val::Json(v) => Val::Json(index(&v, &idx)),
                        _ => return Err(format!("{}: cannot index `${}`", r.at, r.root)),
                    }
                }
                Part::Call(name, args) => {
                    let args = args
                        .iter()
                        .map(|a| self.expr(a))
                        .collect::<Result<Vec<_>, _>>()?;
                    match cur {
                        Val::Input => Val::Json(
                            self.input_call(name, &args)
                                .map_err(|e| format!("{}: {e}", r.at))?,
                        ),
                        Val::Util => {
                            Val::Json(util_call(name, &args).map_err(|e| format!("{}: {e}", r.at))?)
                        }
                        Val::Json(v) => Val::Json(
                            method(&v, name, &args).map_err(|e| format!("{}: {e}", r.at))?,
                        ),
                    }
                }
            };
        }
        Ok(cur)
    }

    fn input_call(&mut self, name: &str, args: &[Value]) -> Result<Value, String> {
        let path_arg = || match args.first() {
            Some(Value::String(p)) => Ok(p.clone()),
            None => Ok("$".to_owned()),
            Some(other) => Err(format!("expected a JSONPath string, found {other}")),
        };
        match name {
            "json" => {
                let p = path_arg()?;
                let v = jsonpath::select(self.body_json()?, &p)?;
                Ok(Value::String(v.to_string()))
            }
            "path" => {
                let p = path_arg()?;
                jsonpath::select(self.body_json()?, &p)
            }
            "params" => {
                let i = self.inputs;
                let map = |list: &[(String, String)]| {
                    let mut m = Map::new();
                    for (k, v) in list {
                        m.insert(k.clone(), Value::String(v.clone()));
                    }
                    Value::Object(m)
                };
                match args.first() {
                    None => {
                        let mut all = Map::new();
                        all.insert("path".into(), map(i.path));
                        all.insert("querystring".into(), map(i.querystring));
                        all.insert("header".into(), map(i.header));
                        Ok(Value::Object(all))
                    }
                    Some(Value::String(n)) => {
                        let found = i
                            .path
                            .iter()
                            .chain(i.querystring)
                            .find(|(k, _)| k == n)
                            .or_else(|| i.header.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)));
                        Ok(found.map_or(Value::Null, |(_, v)| Value::String(v.clone())))
                    }
                    Some(other) => Err(format!("$input.params takes a name, found {other}")),
                }
            }
            _ => Err(format!(
                "`$input.{name}()` is not known (body, json, path, params)"
            )),
        }
    }

    fn assign(&mut self, target: &Ref, v: Value) -> Result<(), String> {
        let mut keys = Vec::with_capacity(target.parts.len());
        for p in &target.parts {
            match p {
                Part::Prop(k) => keys.push(k.clone()),
                Part::Index(e) => keys.push(display(&self.expr(e)?)),
                Part::Call(..) => {
                    return Err(format!(
                        "{}: cannot #set the result of a method call",
                        target.at
                    ))
                }
            }
        }
        let slot = match target.root.as_str() {
            "context" => &mut self.context,
            "input" | "util" | "stageVariables" => {
                return Err(format!("{}: `${}` cannot be set", target.at, target.root))
            }
            name => self.vars.entry(name.to_owned()).or_insert(Value::Null),
        };
        let mut cur = slot;
        for k in keys {
            if !cur.is_object() {
                *cur = Value::Object(Map::new());
            }
            match cur {
                Value::Object(m) => cur = m.entry(k).or_insert(Value::Null),
                _ => return Err(format!("{}: cannot set a property here", target.at)),
            }
        }
        *cur = v;
        Ok(())
    }

    fn expr(&mut self, e: &Expr) -> Result<Value, String> {
        Ok(match e {
            Expr::Lit(v) => v.clone(),
            Expr::Interp(nodes) => {
                let saved = std::mem::take(&mut self.out);
                let flow = self.nodes(nodes);
                let text = std::mem::replace(&mut self.out, saved);
                flow?;
                Value::String(text)
            }
            Expr::Ref(r) => match self.reference(r)? {
                Val::Json(v) => v,
                Val::Input | Val::Util => Value::Null,
            },
            Expr::List(items) => Value::Array(
                items
                    .iter()
                    .map(|i| self.expr(i))
                    .collect::<Result<_, _>>()?,
            ),
            Expr::Range(a, b) => {
                let (a, b) = (self.expr(a)?, self.expr(b)?);
                let (Some(a), Some(b)) = (a.as_i64(), b.as_i64()) else {
                    return Err("a range needs integer bounds".into());
                };
                if a.abs_diff(b) as usize >= MAX_ITERATIONS {
                    return Err(format!("a range of more than {MAX_ITERATIONS} numbers"));
                }
                if a <= b {
                    (a..=b).map(Value::from).collect()
                } else {
                    (b..=a).rev().map(Value::from).collect()
                }
            }
            Expr::Map(entries) => {
                let mut m = Map::new();
                for (k, v) in entries {
                    let k = display(&self.expr(k)?);
                    let v = self.expr(v)?;
                    m.insert(k, v);
                }
                Value::Object(m)
            }
            Expr::Not(e) => Value::Bool(!truthy(&self.expr(e)?)),
            Expr::Neg(e) => arith(Op::Sub, &Value::from(0), &self.expr(e)?)?,
            Expr::Bin(op, a, b) => {
                match op {
                    Op::And => {
                        return Ok(Value::Bool(
                            truthy(&self.expr(a)?) && truthy(&self.expr(b)?),
                        ))
                    }
                    Op::Or => {
                        return Ok(Value::Bool(
                            truthy(&self.expr(a)?) || truthy(&self.expr(b)?),
                        ))
                    }
                    _ => {}
                }
                let (a, b) = (self.expr(a)?, self.expr(b)?);
                match op {
                    Op::Eq => Value::Bool(loose_eq(&a, &b)),
                    Op::Ne => Value::Bool(!loose_eq(&a, &b)),
                    Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                        let ord =
                            compare(&a, &b).ok_or_else(|| format!("cannot compare {a} and {b}"))?;
                        Value::Bool(match op {
                            Op::Lt => ord.is_lt(),
                            Op::Le => ord.is_le(),
                            Op::Gt => ord.is_gt(),
                            _ => ord.is_ge(),
                        })
                    }
                    _ => arith(*op, &a, &b)?,
                }
            }
        })
    }
}

fn property(v: &Value, name: &str) -> Value {
    match v {
        Value::Object(m) => m.get(name).cloned().unwrap_or(Value::Null),
        // Java bean getters on lists and strings that templates use as properties.
        Value::Array(a) if name == "size" || name == "length" => Value::from(a.len()),
        Value::String(s) if name == "length" => Value::from(s.chars().count()),
        _ => Value::Null,
    }
}

fn index(v: &Value, idx: &Value) -> Value {
    match (v, idx) {
        (Value::Array(a), Value::Number(n)) => n
            .as_i64()
            .and_then(|i| {
                let i = if i < 0 { a.len() as i64 + i } else { i };
                usize::try_from(i).ok()
            })
            .and_then(|i| a.get(i).cloned())
            .unwrap_or(Value::Null),
        (Value::Object(m), k) => m.get(&display(k)).cloned().unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        // Velocity compares different types by their string forms.
        (Value::String(s), other) | (other, Value::String(s)) if !other.is_null() => {
            *s == display(other)
        }
        _ => a == b,
    }
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn arith(op: Op, a: &Value, b: &Value) -> Result<Value, String> {
    if op == Op::Add {
        if let (Value::String(_), _) | (_, Value::String(_)) = (a, b) {
            return Ok(Value::String(display(a) + &display(b)));
        }
    }
    let (Value::Number(x), Value::Number(y)) = (a, b) else {
        return Err(format!("arithmetic needs numbers, found {a} and {b}"));
    };
    if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
        let r = match op {
            Op::Add => x.checked_add(y),
            Op::Sub => x.checked_sub(y),
            Op::Mul => x.checked_mul(y),
            Op::Div => x.checked_div(y),
            _ => x.checked_rem(y),
        };
        return r
            .map(Value::from)
            .ok_or_else(|| "integer overflow or division by zero".to_owned());
    }
    let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
    let r = match op {
        Op::Add => x + y,
        Op::Sub => x - y,
        Op::Mul => x * y,
        Op::Div => x / y,
        _ => x % y,
    };
    Number::from_f64(r)
        .map(Value::Number)
        .ok_or_else(|| "not a finite number".to_owned())
}

fn str_arg(args: &[Value], i: usize) -> Result<String, String> {
    match args.get(i) {
        Some(v) => Ok(display(v)),
        None => Err(format!("missing argument {}", i + 1)),
    }
}

fn int_arg(args: &[Value], i: usize) -> Result<i64, String> {
    args.get(i)
        .and_then(Value::as_i64)
        .ok_or_else(|| format!("argument {} must be an integer", i + 1))
}

/// Java's methods on strings, lists and maps.
fn method(v: &Value, name: &str, args: &[Value]) -> Result<Value, String> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    let common = match name {
        "toString" => Some(Value::String(display(v))),
        "equals" => Some(Value::Bool(loose_eq(
            v,
            args.first().unwrap_or(&Value::Null),
        ))),
        "isEmpty" => Some(Value::Bool(match v {
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(m) => m.is_empty(),
            _ => false,
        })),
        "size" | "length" | "count" => match v {
            Value::String(s) => Some(Value::from(s.chars().count())),
            Value::Array(a) => Some(Value::from(a.len())),
            Value::Object(m) => Some(Value::from(m.len())),
            _ => None,
        },
        _ => None,
    };
    if let Some(r) = common {
        return Ok(r);
    }
    match v {
        Value::String(s) => string_method(s, name, args),
        Value::Array(a) => match name {
            "get" => Ok(index(v, &Value::from(int_arg(args, 0)?))),
            "contains" => {
                Ok(Value::Bool(a.iter().any(|x| {
                    loose_eq(x, args.first().unwrap_or(&Value::Null))
                })))
            }
            "indexOf" => Ok(Value::from(
                a.iter()
                    .position(|x| loose_eq(x, args.first().unwrap_or(&Value::Null)))
                    .map_or(-1, |p| p as i64),
            )),
            _ => Err(format!("lists have no method `{name}`")),
        },
        Value::Object(m) => match name {
            "get" => Ok(m.get(&str_arg(args, 0)?).cloned().unwrap_or(Value::Null)),
            "containsKey" => Ok(Value::Bool(m.contains_key(&str_arg(args, 0)?))),
            "keySet" => Ok(Value::Array(
                m.keys().map(|k| Value::String(k.clone())).collect(),
            )),
            "values" => Ok(Value::Array(m.values().cloned().collect())),
            "entrySet" => Ok(Value::Array(
                m.iter()
                    .map(|(k, v)| serde_json::json!({ "key": k, "value": v }))
                    .collect(),
            )),
            _ => Err(format!("maps have no method `{name}`")),
        },
        Value::Number(n) => match name {
            "intValue" | "longValue" => Ok(Value::from(n.as_f64().unwrap_or(0.0) as i64)),
            "doubleValue" | "floatValue" => {
                Ok(Number::from_f64(n.as_f64().unwrap_or(0.0)).map_or(Value::Null, Value::Number))
            }
            _ => Err(format!("numbers have no method `{name}`")),
        },
        _ => Err(format!("{v} has no method `{name}`")),
    }
}

fn string_method(s: &str, name: &str, args: &[Value]) -> Result<Value, String> {
    Ok(match name {
        "contains" => Value::Bool(s.contains(&str_arg(args, 0)?)),
        "startsWith" => Value::Bool(s.starts_with(&str_arg(args, 0)?)),
        "endsWith" => Value::Bool(s.ends_with(&str_arg(args, 0)?)),
        "indexOf" => Value::from(
            s.find(&str_arg(args, 0)?)
                .map_or(-1, |i| s[..i].chars().count() as i64),
        ),
        "toLowerCase" => Value::String(s.to_lowercase()),
        "toUpperCase" => Value::String(s.to_uppercase()),
        "trim" => Value::String(s.trim().to_owned()),
        "equalsIgnoreCase" => Value::Bool(s.eq_ignore_ascii_case(&str_arg(args, 0)?)),
        "substring" => {
            let chars: Vec<char> = s.chars().collect();
            let from = usize::try_from(int_arg(args, 0)?).map_err(|_| "negative index")?;
            let to = match args.get(1) {
                Some(_) => usize::try_from(int_arg(args, 1)?).map_err(|_| "negative index")?,
                None => chars.len(),
            };
            if from > to || to > chars.len() {
                return Err(format!(
                    "substring({from}, {to}) of a {}-character string",
                    chars.len()
                ));
            }
            Value::String(chars[from..to].iter().collect())
        }
        "replace" => Value::String(s.replace(&str_arg(args, 0)?, &str_arg(args, 1)?)),
        "replaceAll" | "replaceFirst" => {
            let re = regex::Regex::new(&str_arg(args, 0)?)
                .map_err(|e| format!("bad regular expression: {e}"))?;
            // Java's `$1` group references read the same in the regex crate.
            let with = str_arg(args, 1)?;
            let out = if name == "replaceAll" {
                re.replace_all(s, with.as_str())
            } else {
                re.replacen(s, 1, with.as_str())
            };
            Value::String(out.into_owned())
        }
        "matches" => {
            let re = regex::Regex::new(&format!("^(?:{})$", str_arg(args, 0)?))
                .map_err(|e| format!("bad regular expression: {e}"))?;
            Value::Bool(re.is_match(s))
        }
        "split" => {
            let re = regex::Regex::new(&str_arg(args, 0)?)
                .map_err(|e| format!("bad regular expression: {e}"))?;
            Value::Array(re.split(s).map(|p| Value::String(p.to_owned())).collect())
        }
        "charAt" => {
            let i = usize::try_from(int_arg(args, 0)?).map_err(|_| "negative index")?;
            Value::String(
                s.chars()
                    .nth(i)
                    .map(String::from)
                    .ok_or("index past the end")?,
            )
        }
        _ => return Err(format!("strings have no method `{name}`")),
    })
}

/// `$util.*`.
fn util_call(name: &str, args: &[Value]) -> Result<Value, String> {
    use base64::Engine as _;
    let s = || str_arg(args, 0);
    Ok(match name {
        "escapeJavaScript" => Value::String(escape_javascript(&s()?)),
        "urlEncode" => Value::String(url_encode(&s()?)),
        "urlDecode" => Value::String(url_decode(&s()?)?),
        "base64Encode" => Value::String(base64::engine::general_purpose::STANDARD.encode(s()?)),
        "base64Decode" => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s()?.trim())
                .map_err(|e| format!("$util.base64Decode: {e}"))?;
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        }
        "parseJson" => serde_json::from_str(&s()?).map_err(|e| format!("$util.parseJson: {e}"))?,
        _ => return Err(format!("`$util.{name}` is not known")),
    })
}

/// Java's `StringEscapeUtils.escapeJavaScript`: quotes, backslash, slash, control characters
/// and non-ASCII as `\uXXXX`.
fn escape_javascript(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04X}");
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// `application/x-www-form-urlencoded`, as Java's `URLEncoder` (UTF-8).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

fn url_decode(s: &str) -> Result<String, String> {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|e| format!("$util.urlDecode: {e}"))
}

#[cfg(test)]
mod tests;
