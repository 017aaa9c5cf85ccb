//! Directives, text and references: the template level of the parser.

use crate::ast::{Expr, Node, Pos};
use crate::MAX_DEPTH;

// Parsing

pub(crate) struct Parser<'a> {
    pub(crate) src: &'a str,
    pub(crate) i: usize,
    pub(crate) depth: usize,
}

/// What ended a block.
#[derive(Debug)]
pub(crate) enum Stop {
    Eof,
    End,
    Else,
    ElseIf(Expr),
}

impl<'a> Parser<'a> {
    pub(crate) fn pos(&self) -> Pos {
        let before = &self.src[..self.i];
        let line = before.matches('\n').count() as u32 + 1;
        let col = before
            .rfind('\n')
            .map_or(before.len(), |n| before.len() - n - 1) as u32
            + 1;
        Pos { line, col }
    }

    pub(crate) fn rest(&self) -> &'a str {
        &self.src[self.i..]
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub(crate) fn err<T>(&self, msg: impl std::fmt::Display) -> Result<T, String> {
        Err(format!("{}: {msg}", self.pos()))
    }

    pub(crate) fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start_matches([' ', '\t', '\r', '\n']);
        self.i = self.src.len() - trimmed.len();
    }

    pub(crate) fn eat(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.i += s.len();
            true
        } else {
            false
        }
    }

    pub(crate) fn ident(&mut self) -> Option<String> {
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
    pub(crate) fn gobble_newline(&mut self, line_start_only: bool) {
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

    pub(crate) fn block(&mut self) -> Result<(Vec<Node>, Stop), String> {
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
                            let at = self.pos();
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
                                at,
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
                        Some((r, _quiet)) => {
                            if !text.is_empty() {
                                nodes.push(Node::Text(std::mem::take(&mut text)));
                            }
                            nodes.push(Node::Ref(r));
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

    pub(crate) fn at_line_start(&self) -> bool {
        self.src[..self.i]
            .rsplit('\n')
            .next()
            .is_none_or(|l| l.chars().all(|c| c == ' ' || c == '\t'))
    }

    pub(crate) fn open_paren(&mut self) -> Result<(), String> {
        self.skip_ws();
        if self.eat("(") {
            Ok(())
        } else {
            self.err("expected `(`")
        }
    }

    pub(crate) fn close_paren(&mut self) -> Result<(), String> {
        self.skip_ws();
        if self.eat(")") {
            Ok(())
        } else {
            self.err("expected `)`")
        }
    }
}

/// `set(`, `if(`, `{end}`, ... after a `#`: the directive word as written, else `None`.
pub(crate) fn directive_word(r: &str) -> Option<&str> {
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
