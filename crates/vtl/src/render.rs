//! Rendering a parsed template against one request's inputs.

use crate::ast::{Expr, Node, Op, Part, Pos, Ref};
use crate::functions::{arith, compare, util_call};
use crate::limits::Limits;
use crate::methods::{self, Call, Regexes};
use crate::value::{truthy, Heap, Obj, V};
use crate::Inputs;
use serde_json::Value;
use std::collections::HashMap;
use std::rc::Rc;

/// `e` naming the template position `at`, unless it names one already.
fn located(at: Pos, e: String) -> String {
    if e.starts_with("line ") {
        e
    } else {
        format!("{at}: {e}")
    }
}

pub(crate) enum Flow {
    Normal,
    Break,
}

/// What a reference evaluates to: data, or one of the built-in objects.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Data(V),
    Input,
    Util,
}

pub(crate) struct Renderer<'a> {
    pub(crate) inputs: &'a Inputs<'a>,
    pub(crate) heap: Heap,
    pub(crate) vars: HashMap<String, V>,
    pub(crate) context: V,
    pub(crate) stage_variables: V,
    pub(crate) out: String,
    /// Most bytes `out` may hold: the output cap, or the string cap inside a string literal.
    pub(crate) cap: usize,
    pub(crate) body_json: Option<Value>,
    pub(crate) regexes: Regexes,
    /// `#foreach` iterations so far, all loops together.
    pub(crate) iterations: usize,
}

impl<'a> Renderer<'a> {
    pub(crate) fn new(inputs: &'a Inputs<'a>, limits: Limits) -> Result<Renderer<'a>, String> {
        let mut heap = Heap::new(limits);
        let mut object = |v: &Value| match v {
            Value::Null => heap.map(Vec::new()),
            v => heap.load_json(v, false),
        };
        let context = object(inputs.context)?;
        let stage_variables = object(inputs.stage_variables)?;
        Ok(Renderer {
            inputs,
            heap,
            vars: HashMap::new(),
            context,
            stage_variables,
            out: String::new(),
            cap: limits.max_output,
            body_json: None,
            regexes: Regexes::default(),
            iterations: 0,
        })
    }

    fn limits(&self) -> Limits {
        self.heap.limits
    }

    pub(crate) fn nodes(&mut self, nodes: &[Node]) -> Result<Flow, String> {
        for n in nodes {
            match n {
                Node::Text(t) => self.emit(t)?,
                // A null renders as nothing, quiet or not: API Gateway prints no reference
                // text (`"body": $result` with no match gives `"body": `, recorded in
                // LocalStack's AWS-validated `test_input_path_template_formatting`).
                Node::Ref(r) => {
                    if let Val::Data(v) = self.reference(r)? {
                        let text = self.heap.display(&v).map_err(|e| located(r.at, e))?;
                        self.emit(&text)?;
                    }
                }
                Node::Set { target, value } => {
                    let v = self.expr(value).map_err(|e| located(target.at, e))?;
                    self.assign(target, v)?;
                }
                Node::If {
                    branches,
                    otherwise,
                    at,
                } => {
                    let mut taken = None;
                    for (cond, body) in branches {
                        if truthy(&self.expr(cond).map_err(|e| located(*at, e))?) {
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
                    let over = self.expr(iter)?;
                    self.foreach(var, &over, body)
                        .map_err(|e| located(*at, e))?;
                }
                Node::Break => return Ok(Flow::Break),
            }
        }
        Ok(Flow::Normal)
    }

    fn foreach(&mut self, var: &str, over: &V, body: &[Node]) -> Result<(), String> {
        let items = match over {
            V::List(id) => self.heap.items(*id).to_vec(),
            V::Map(id) => self
                .heap
                .entries(*id)
                .iter()
                .map(|(_, v)| v.clone())
                .collect(),
            V::Null => Vec::new(),
            other => vec![other.clone()],
        };
        self.heap.spend(items.len())?;
        let limits = self.limits();
        if items.len() > limits.max_iterations {
            return Err(format!(
                "#foreach over {} items (at most {})",
                items.len(),
                limits.max_iterations
            ));
        }
        let saved = (
            self.vars.remove(var),
            self.vars.remove("foreach"),
            self.vars.remove("velocityCount"),
        );
        let fe = self.heap.alloc(Obj::Map(Vec::new()))?;
        self.heap.grow(5)?;
        let n = items.len();
        let mut result = Ok(());
        for (i, item) in items.into_iter().enumerate() {
            self.iterations += 1;
            if self.iterations > limits.max_total_iterations {
                result = Err(format!(
                    "more than {} #foreach iterations in all",
                    limits.max_total_iterations
                ));
                break;
            }
            let state = [
                ("index", V::Int(i as i64)),
                ("count", V::Int(i as i64 + 1)),
                ("hasNext", V::Bool(i + 1 < n)),
                ("first", V::Bool(i == 0)),
                ("last", V::Bool(i + 1 == n)),
            ];
            *self.heap.entries_mut(fe)? = state.map(|(k, v)| (Rc::from(k), v)).to_vec();
            self.vars.insert(var.to_owned(), item);
            self.vars.insert("foreach".into(), V::Map(fe));
            self.vars
                .insert("velocityCount".into(), V::Int(i as i64 + 1));
            match self.nodes(body) {
                Ok(Flow::Normal) => {}
                Ok(Flow::Break) => break,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        for (k, v) in [
            (var, saved.0),
            ("foreach", saved.1),
            ("velocityCount", saved.2),
        ] {
            match v {
                Some(v) => self.vars.insert(k.to_owned(), v),
                None => self.vars.remove(k),
            };
        }
        result
    }

    pub(crate) fn emit(&mut self, s: &str) -> Result<(), String> {
        if self.out.len() + s.len() > self.cap {
            return Err(format!("output over {} bytes", self.cap));
        }
        self.out.push_str(s);
        Ok(())
    }

    /// The body as JSON; an empty body is `{}`, as API Gateway passes it.
    fn body_json(&mut self) -> Result<&Value, String> {
        if self.body_json.is_none() {
            let body = self.inputs.body;
            let v = if body.iter().all(u8::is_ascii_whitespace) {
                Value::Object(serde_json::Map::new())
            } else {
                serde_json::from_slice(body)
                    .map_err(|e| format!("Could not parse request body into json: {e}"))?
            };
            self.body_json = Some(v);
        }
        Ok(self.body_json.get_or_insert(Value::Null))
    }

    pub(crate) fn reference(&mut self, r: &Ref) -> Result<Val, String> {
        let mut cur = match r.root.as_str() {
            "input" => Val::Input,
            "util" => Val::Util,
            "context" => Val::Data(self.context.clone()),
            "stageVariables" => Val::Data(self.stage_variables.clone()),
            name => Val::Data(self.vars.get(name).cloned().unwrap_or(V::Null)),
        };
        let at = |e: String| format!("{}: {e}", r.at);
        for part in &r.parts {
            cur = match (part, cur) {
                (Part::Prop(name), Val::Input) if name == "body" => Val::Data(self.body()),
                (Part::Prop(name), Val::Input | Val::Util) => {
                    return Err(at(format!("`${}.{name}` is not known", r.root)));
                }
                (Part::Prop(name), Val::Data(v)) => {
                    Val::Data(methods::property(&self.heap, &v, name).map_err(at)?)
                }
                (Part::Index(e), Val::Data(v)) => {
                    let idx = self.expr(e)?;
                    Val::Data(self.index(&v, &idx).map_err(at)?)
                }
                (Part::Index(_), _) => return Err(at(format!("cannot index `${}`", r.root))),
                (Part::Call(name, args, regex), cur) => {
                    let mut values = Vec::with_capacity(args.len());
                    for a in args {
                        values.push(self.expr(a)?);
                    }
                    let v = match cur {
                        Val::Input => self.input_call(name, &values),
                        Val::Util => util_call(&mut self.heap, name, &values),
                        Val::Data(v) => {
                            let call = Call {
                                name,
                                args: &values,
                                regex: regex.as_ref(),
                            };
                            methods::call(&mut self.heap, &mut self.regexes, &v, &call)
                        }
                    };
                    Val::Data(v.map_err(at)?)
                }
            };
        }
        Ok(cur)
    }

    /// `$input.body`: the payload as text; an empty one reads `{}` (API Gateway passes `{}`
    /// for an empty body, whatever its content type: LocalStack's AWS-validated
    /// `test_input_body_formatting`).
    fn body(&self) -> V {
        if self.inputs.body.is_empty() {
            V::str("{}")
        } else {
            V::str(String::from_utf8_lossy(self.inputs.body).as_ref())
        }
    }

    /// `$list[i]` (negative counts from the end, as Velocity 2's index notation) and
    /// `$map[key]`; an index past the end is an error, as Java's `get` throws.
    fn index(&self, v: &V, idx: &V) -> Result<V, String> {
        match (v, idx) {
            (V::Null, _) => Ok(V::Null),
            (V::List(id), V::Int(i)) => {
                let items = self.heap.items(*id);
                let len = items.len() as i64;
                let at = if *i < 0 { len + i } else { *i };
                usize::try_from(at)
                    .ok()
                    .and_then(|at| items.get(at).cloned())
                    .ok_or_else(|| format!("index {i} out of bounds for length {len}"))
            }
            (V::Map(id), k) => self.heap.lookup(*id, &self.heap.display(k)?),
            _ => Err("only lists and maps can be indexed".into()),
        }
    }

    fn input_call(&mut self, name: &str, args: &[V]) -> Result<V, String> {
        let path = match args.first() {
            Some(V::Str(p)) => p.to_string(),
            None => "$".to_owned(),
            Some(other) => self.heap.display(other)?,
        };
        match name {
            // JSON text; a path with no match gives `""` (LocalStack's finding on AWS, #12774).
            "json" => {
                self.spend_path(&path)?;
                let found = crate::jsonpath::find(self.body_json()?, &path)?;
                let text = match found {
                    Some(v) => v.to_string(),
                    None => "\"\"".to_owned(),
                };
                self.heap.spend(text.len())?;
                Ok(V::str(text))
            }
            "path" => {
                self.spend_path(&path)?;
                let found = crate::jsonpath::select(self.body_json()?, &path)?;
                self.heap.load_json(&found, true)
            }
            "params" => self.params(args),
            _ => Err(format!(
                "`$input.{name}()` is not known (body, json, path, params)"
            )),
        }
    }

    /// A path searching the whole body (`..`, `*`) counts the body's bytes as work.
    fn spend_path(&self, path: &str) -> Result<(), String> {
        let whole = path.contains("..") || path.contains('*');
        self.heap
            .spend(if whole { self.inputs.body.len() } else { 1 })
    }

    /// `$input.params()`: a map of `path`, `querystring` and `header`; `$input.params(name)`:
    /// the first of those holding `name` (headers case-insensitively), else `""`.
    fn params(&mut self, args: &[V]) -> Result<V, String> {
        let i = self.inputs;
        match args.first() {
            None => {
                let mut all = Vec::with_capacity(3);
                for (k, list) in [
                    ("path", i.path),
                    ("querystring", i.querystring),
                    ("header", i.header),
                ] {
                    let entries = list
                        .iter()
                        .map(|(k, v)| (Rc::from(k.as_str()), V::str(v.as_str())))
                        .collect();
                    all.push((Rc::from(k), self.heap.map(entries)?));
                }
                self.heap.map(all)
            }
            Some(n) => {
                let n = self.heap.display(n)?;
                let found = i
                    .path
                    .iter()
                    .chain(i.querystring)
                    .find(|(k, _)| *k == n)
                    .or_else(|| i.header.iter().find(|(k, _)| k.eq_ignore_ascii_case(&n)));
                Ok(V::str(found.map_or("", |(_, v)| v.as_str())))
            }
        }
    }

    /// `#set`. A null value sets null (the variable reads as unset afterwards).
    pub(crate) fn assign(&mut self, target: &Ref, v: V) -> Result<(), String> {
        let mut keys = Vec::with_capacity(target.parts.len());
        for p in &target.parts {
            match p {
                Part::Prop(k) => keys.push(V::str(k.as_str())),
                Part::Index(e) => keys.push(self.expr(e)?),
                Part::Call(..) => {
                    return Err(format!(
                        "{}: cannot #set the result of a method call",
                        target.at
                    ))
                }
            }
        }
        let root = match target.root.as_str() {
            "context" => self.context.clone(),
            "input" | "util" | "stageVariables" => {
                return Err(format!("{}: `${}` cannot be set", target.at, target.root))
            }
            name => {
                let Some(last) = keys.pop() else {
                    match v {
                        V::Null => self.vars.remove(name),
                        v => self.vars.insert(name.to_owned(), v),
                    };
                    return Ok(());
                };
                keys.push(last);
                match self.vars.get(name) {
                    Some(v @ (V::Map(_) | V::List(_))) => v.clone(),
                    _ => {
                        let m = self.heap.map(Vec::new())?;
                        self.vars.insert(name.to_owned(), m.clone());
                        m
                    }
                }
            }
        };
        let Some(last) = keys.pop() else {
            return Err(format!("{}: `$context` cannot be replaced", target.at));
        };
        let mut cur = root;
        for k in keys {
            let next = self.index(&cur, &k).unwrap_or(V::Null);
            cur = match next {
                V::Map(_) | V::List(_) => next,
                _ => {
                    let m = self.heap.map(Vec::new())?;
                    self.set_slot(&cur, &k, m.clone())
                        .map_err(|e| format!("{}: {e}", target.at))?;
                    m
                }
            };
        }
        self.set_slot(&cur, &last, v)
            .map_err(|e| format!("{}: {e}", target.at))
    }

    fn set_slot(&mut self, container: &V, key: &V, v: V) -> Result<(), String> {
        match (container, key) {
            (V::Map(id), k) => {
                let k = Rc::from(self.heap.display(k)?);
                self.heap.put(*id, k, v).map(drop)
            }
            (V::List(id), V::Int(i)) => {
                let call = Call {
                    name: "set",
                    args: &[V::Int(*i), v],
                    regex: None,
                };
                methods::call(&mut self.heap, &mut self.regexes, &V::List(*id), &call).map(drop)
            }
            _ => Err("cannot set a property here".into()),
        }
    }

    pub(crate) fn expr(&mut self, e: &Expr) -> Result<V, String> {
        Ok(match e {
            Expr::Lit(v) => match v {
                Value::Bool(b) => V::Bool(*b),
                Value::Number(n) => crate::value::number(n),
                Value::String(s) => V::str(s.as_str()),
                _ => V::Null,
            },
            Expr::Interp(nodes) => {
                let saved = std::mem::take(&mut self.out);
                let max_string = self.limits().max_string;
                let cap = std::mem::replace(&mut self.cap, max_string);
                let flow = self.nodes(nodes);
                self.cap = cap;
                let text = std::mem::replace(&mut self.out, saved);
                flow?;
                V::str(text)
            }
            Expr::Ref(r) => match self.reference(r)? {
                Val::Data(v) => v,
                Val::Input | Val::Util => V::Null,
            },
            Expr::List(items) => {
                let mut values = Vec::with_capacity(items.len());
                for i in items {
                    values.push(self.expr(i)?);
                }
                self.heap.list(values, false)?
            }
            Expr::Range(a, b) => {
                let (V::Int(a), V::Int(b)) = (self.expr(a)?, self.expr(b)?) else {
                    return Err("a range needs integer bounds".into());
                };
                let max = self.limits().max_range;
                if a.abs_diff(b) >= max as u64 {
                    return Err(format!("a range of more than {max} numbers"));
                }
                let items = if a <= b {
                    (a..=b).map(V::Int).collect()
                } else {
                    (b..=a).rev().map(V::Int).collect()
                };
                self.heap.list(items, false)?
            }
            Expr::Map(entries) => {
                let mut m = Vec::with_capacity(entries.len());
                for (k, v) in entries {
                    let k = self.expr(k)?;
                    let k = Rc::from(self.heap.display(&k)?);
                    let v = self.expr(v)?;
                    match m.iter_mut().find(|(x, _): &&mut (Rc<str>, V)| *x == k) {
                        Some(slot) => slot.1 = v,
                        None => m.push((k, v)),
                    }
                }
                self.heap.map(m)?
            }
            Expr::Not(e) => V::Bool(!truthy(&self.expr(e)?)),
            Expr::Neg(e) => {
                let v = self.expr(e)?;
                arith(&self.heap, Op::Sub, &V::Int(0), &v)?
            }
            Expr::Bin(op, a, b) => self.binary(*op, a, b)?,
        })
    }

    fn binary(&mut self, op: Op, a: &Expr, b: &Expr) -> Result<V, String> {
        match op {
            Op::And => {
                return Ok(V::Bool(truthy(&self.expr(a)?) && truthy(&self.expr(b)?)));
            }
            Op::Or => {
                return Ok(V::Bool(truthy(&self.expr(a)?) || truthy(&self.expr(b)?)));
            }
            _ => {}
        }
        let (a, b) = (self.expr(a)?, self.expr(b)?);
        Ok(match op {
            Op::Eq => V::Bool(self.heap.loose_eq(&a, &b)?),
            Op::Ne => V::Bool(!self.heap.loose_eq(&a, &b)?),
            Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                V::Bool(compare(&a, &b).is_some_and(|ord| match op {
                    Op::Lt => ord.is_lt(),
                    Op::Le => ord.is_le(),
                    Op::Gt => ord.is_gt(),
                    _ => ord.is_ge(),
                }))
            }
            _ => arith(&self.heap, op, &a, &b)?,
        })
    }
}
