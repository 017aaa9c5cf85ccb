//! References and expressions: literals, operators by precedence, lists, ranges and maps.

use crate::ast::{Expr, Op, Part, Ref};
use crate::parser::{Parser, Stop};
use crate::MAX_DEPTH;
use serde_json::{Number, Value};

impl Parser<'_> {
    /// `$name...` at the cursor (which is on `$`); `None` when it is not a reference.
    pub(crate) fn reference(&mut self) -> Result<Option<(Ref, bool)>, String> {
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
                            let regex = match (crate::methods::regex_method(&name), args.first()) {
                                (Some(anchored), Some(Expr::Lit(Value::String(p)))) => Some(
                                    crate::methods::compile_regex(p, anchored)
                                        .map_err(|e| format!("{}: {e}", self.pos()))?,
                                ),
                                _ => None,
                            };
                            parts.push(Part::Call(name, args, regex));
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

    pub(crate) fn args(&mut self, close: char) -> Result<Vec<Expr>, String> {
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

    pub(crate) fn expr(&mut self) -> Result<Expr, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err("expression nested too deeply");
        }
        let e = self.binary(0);
        self.depth -= 1;
        e
    }

    pub(crate) fn op(&mut self, level: usize) -> Option<Op> {
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

    pub(crate) fn binary(&mut self, level: usize) -> Result<Expr, String> {
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

    pub(crate) fn unary(&mut self) -> Result<Expr, String> {
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

    pub(crate) fn primary(&mut self) -> Result<Expr, String> {
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
                let Some((s, len)) = string_literal(self.rest(), c) else {
                    return self.err("string without its closing quote");
                };
                self.i += len;
                if c == '"' && (s.contains('$') || s.contains('#')) {
                    let mut inner = Parser {
                        src: &s,
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
                    Ok(Expr::Lit(Value::String(s)))
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

/// A string literal after its opening `quote`: its value and the length taken, closing quote
/// included. As Velocity's lexer: a doubled quote stands for one; in a double-quoted string a
/// backslash keeps the next character from ending it, and both stay in the value (Velocity
/// does not unescape, which is why the guide's `replaceAll("\\'","'")` works).
pub(crate) fn string_literal(r: &str, quote: char) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = r.char_indices().peekable();
    while let Some((i, ch)) = chars.next() {
        if ch == quote {
            if chars.peek().is_some_and(|(_, n)| *n == quote) {
                chars.next();
                out.push(quote);
                continue;
            }
            return Some((out, i + 1));
        }
        out.push(ch);
        if ch == '\\' && quote == '"' {
            if let Some((_, n)) = chars.next() {
                out.push(n);
            }
        }
    }
    None
}
