//! The parsed form of a template.

use serde_json::Value;

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Text(String),
    /// `$x` or quiet `$!x`; both render a null as nothing, as API Gateway does.
    Ref(Ref),
    Set {
        target: Ref,
        value: Expr,
    },
    If {
        branches: Vec<(Expr, Vec<Node>)>,
        otherwise: Vec<Node>,
        at: Pos,
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
pub(crate) struct Ref {
    pub(crate) root: String,
    pub(crate) parts: Vec<Part>,
    pub(crate) at: Pos,
}

#[derive(Debug, Clone)]
pub(crate) enum Part {
    Prop(String),
    /// A method call; the regular expression is compiled at load when its pattern is a literal.
    Call(String, Vec<Expr>, Option<regex::Regex>),
    Index(Expr),
}

#[derive(Debug, Clone)]
pub(crate) enum Expr {
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
pub(crate) enum Op {
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
pub(crate) struct Pos {
    pub(crate) line: u32,
    pub(crate) col: u32,
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}, column {}", self.line, self.col)
    }
}
