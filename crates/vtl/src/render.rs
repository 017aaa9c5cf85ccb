//! Rendering a parsed template against one request's inputs.

use crate::ast::{Expr, Node, Op, Part, Ref};
use crate::functions::*;
use crate::jsonpath;
use crate::{Inputs, MAX_ITERATIONS, MAX_OUTPUT};
use serde_json::{Map, Value};
use std::collections::HashMap;

pub(crate) enum Flow {
    Normal,
    Break,
}

/// What an expression evaluates to: data, or one of the built-in objects.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Json(Value),
    Input,
    Util,
}

pub(crate) struct Renderer<'a> {
    pub(crate) inputs: &'a Inputs<'a>,
    pub(crate) vars: HashMap<String, Value>,
    pub(crate) context: Value,
    pub(crate) out: String,
    pub(crate) body_json: Option<Value>,
}

impl Renderer<'_> {
    pub(crate) fn nodes(&mut self, nodes: &[Node]) -> Result<Flow, String> {
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

    pub(crate) fn known_root(&self, root: &str) -> bool {
        matches!(root, "input" | "util" | "context" | "stageVariables")
            || self.vars.contains_key(root)
    }

    pub(crate) fn emit(&mut self, s: &str) -> Result<(), String> {
        if self.out.len() + s.len() > MAX_OUTPUT {
            return Err(format!("output over {MAX_OUTPUT} bytes"));
        }
        self.out.push_str(s);
        Ok(())
    }

    pub(crate) fn body_json(&mut self) -> Result<&Value, String> {
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

    pub(crate) fn reference(&mut self, r: &Ref) -> Result<Val, String> {
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

    pub(crate) fn input_call(&mut self, name: &str, args: &[Value]) -> Result<Value, String> {
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

    pub(crate) fn assign(&mut self, target: &Ref, v: Value) -> Result<(), String> {
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

    pub(crate) fn expr(&mut self, e: &Expr) -> Result<Value, String> {
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
