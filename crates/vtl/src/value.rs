//! Values as a template sees them: Java's `String`, `Integer`/`Long`, `Double`, `Boolean`,
//! `Map` and `List`, the containers on a heap that lives for one rendering, so `$m.put(..)`
//! and `$l.add(..)` change the one object every alias sees, as in Java.
//!
//! How a value prints follows what API Gateway produces (its `$input.path` results are the
//! objects of a JSON parser: a map prints as Java's `{key=value, other=value}`, an array as
//! compact JSON), recorded against AWS in LocalStack's `test_input_path_template_formatting`.

use crate::limits::Limits;
use serde_json::{Map, Number, Value};
use std::cell::Cell;
use std::fmt::Write as _;
use std::rc::Rc;

/// Index of a container on the [`Heap`].
pub(crate) type Id = usize;

/// Deepest nesting printed or converted; a cycle (`$m.put('me', $m)`) stops here.
const MAX_NESTING: usize = 128;

#[derive(Debug, Clone)]
pub(crate) enum V {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    List(Id),
    Map(Id),
    /// A `Map.Entry` from `entrySet()`.
    Entry(Id),
}

impl V {
    pub(crate) fn str(s: impl Into<Rc<str>>) -> V {
        V::Str(s.into())
    }
}

#[derive(Debug)]
pub(crate) enum Obj {
    /// `json`: an array of a parsed JSON document (net.minidev `JSONArray`), which prints as
    /// JSON; otherwise a Java `ArrayList`, which prints as `[a, b]`.
    List {
        items: Vec<V>,
        json: bool,
    },
    Map(Vec<(Rc<str>, V)>),
    Entry(Rc<str>, V),
}

/// The containers of one rendering, with a count of the cells they hold, capped.
#[derive(Debug)]
pub(crate) struct Heap {
    objs: Vec<Obj>,
    cells: usize,
    work: Cell<usize>,
    pub(crate) limits: Limits,
}

impl Heap {
    pub(crate) fn new(limits: Limits) -> Heap {
        Heap {
            objs: Vec::new(),
            cells: 0,
            work: Cell::new(0),
            limits,
        }
    }

    /// Counts `n` more cells against [`Limits::max_values`].
    pub(crate) fn grow(&mut self, n: usize) -> Result<(), String> {
        self.cells = self.cells.saturating_add(n);
        if self.cells > self.limits.max_values {
            return Err(format!(
                "the template built more than {} values",
                self.limits.max_values
            ));
        }
        Ok(())
    }

    /// Counts `n` units of work against [`Limits::max_work`].
    pub(crate) fn spend(&self, n: usize) -> Result<(), String> {
        let work = self.work.get().saturating_add(n);
        self.work.set(work);
        if work > self.limits.max_work {
            return Err(format!(
                "the template did more than {} units of work",
                self.limits.max_work
            ));
        }
        Ok(())
    }

    pub(crate) fn alloc(&mut self, obj: Obj) -> Result<Id, String> {
        let n = match &obj {
            Obj::List { items, .. } => items.len(),
            Obj::Map(m) => m.len(),
            Obj::Entry(..) => 1,
        };
        self.grow(n + 1)?;
        self.objs.push(obj);
        Ok(self.objs.len() - 1)
    }

    pub(crate) fn list(&mut self, items: Vec<V>, json: bool) -> Result<V, String> {
        Ok(V::List(self.alloc(Obj::List { items, json })?))
    }

    pub(crate) fn map(&mut self, entries: Vec<(Rc<str>, V)>) -> Result<V, String> {
        Ok(V::Map(self.alloc(Obj::Map(entries))?))
    }

    pub(crate) fn get(&self, id: Id) -> &Obj {
        &self.objs[id]
    }

    pub(crate) fn items_mut(&mut self, id: Id) -> Result<&mut Vec<V>, String> {
        match &mut self.objs[id] {
            Obj::List { items, .. } => Ok(items),
            _ => Err("not a list".into()),
        }
    }

    pub(crate) fn entries_mut(&mut self, id: Id) -> Result<&mut Vec<(Rc<str>, V)>, String> {
        match &mut self.objs[id] {
            Obj::Map(m) => Ok(m),
            _ => Err("not a map".into()),
        }
    }

    pub(crate) fn items(&self, id: Id) -> &[V] {
        match &self.objs[id] {
            Obj::List { items, .. } => items,
            _ => &[],
        }
    }

    pub(crate) fn entries(&self, id: Id) -> &[(Rc<str>, V)] {
        match &self.objs[id] {
            Obj::Map(m) => m,
            _ => &[],
        }
    }

    /// `map.get(key)`.
    pub(crate) fn lookup(&self, id: Id, key: &str) -> Result<V, String> {
        Ok(self
            .position(id, key)?
            .map_or(V::Null, |i| self.entries(id)[i].1.clone()))
    }

    /// Where `key` stands in map `id`, the scan counted as work.
    pub(crate) fn position(&self, id: Id, key: &str) -> Result<Option<usize>, String> {
        let entries = self.entries(id);
        self.spend(entries.len())?;
        Ok(entries.iter().position(|(k, _)| &**k == key))
    }

    /// `map.put(key, value)`: the previous value, or null.
    pub(crate) fn put(&mut self, id: Id, key: Rc<str>, value: V) -> Result<V, String> {
        let at = self.position(id, &key)?;
        let m = self.entries_mut(id)?;
        if let Some(i) = at {
            return Ok(std::mem::replace(&mut m[i].1, value));
        }
        m.push((key, value));
        self.grow(1)?;
        Ok(V::Null)
    }

    /// A JSON value as the objects API Gateway's JSON parser gives: objects are maps, arrays
    /// print as JSON when `json_arrays`, else as Java lists.
    pub(crate) fn load_json(&mut self, v: &Value, json_arrays: bool) -> Result<V, String> {
        self.load_at(v, json_arrays, 0)
    }

    fn load_at(&mut self, v: &Value, json_arrays: bool, depth: usize) -> Result<V, String> {
        if depth > MAX_NESTING {
            return Err("JSON nested too deeply".into());
        }
        Ok(match v {
            Value::Null => V::Null,
            Value::Bool(b) => V::Bool(*b),
            Value::Number(n) => number(n),
            Value::String(s) => V::str(s.as_str()),
            Value::Array(a) => {
                let mut items = Vec::with_capacity(a.len());
                for x in a {
                    items.push(self.load_at(x, json_arrays, depth + 1)?);
                }
                self.list(items, json_arrays)?
            }
            Value::Object(o) => {
                let mut entries = Vec::with_capacity(o.len());
                for (k, x) in o {
                    entries.push((
                        Rc::from(k.as_str()),
                        self.load_at(x, json_arrays, depth + 1)?,
                    ));
                }
                self.map(entries)?
            }
        })
    }

    /// Back to JSON (for `$context` after rendering).
    pub(crate) fn to_json(&self, v: &V) -> Value {
        self.to_json_at(v, 0)
    }

    fn to_json_at(&self, v: &V, depth: usize) -> Value {
        if depth > MAX_NESTING {
            return Value::Null;
        }
        match v {
            V::Null => Value::Null,
            V::Bool(b) => Value::Bool(*b),
            V::Int(i) => Value::from(*i),
            V::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
            V::Str(s) => Value::String(s.to_string()),
            V::List(id) => Value::Array(
                self.items(*id)
                    .iter()
                    .map(|x| self.to_json_at(x, depth + 1))
                    .collect(),
            ),
            V::Map(id) => Value::Object(
                self.entries(*id)
                    .iter()
                    .map(|(k, x)| (k.to_string(), self.to_json_at(x, depth + 1)))
                    .collect::<Map<_, _>>(),
            ),
            V::Entry(id) => match self.get(*id) {
                Obj::Entry(k, x) => {
                    let mut m = Map::new();
                    m.insert(k.to_string(), self.to_json_at(x, depth + 1));
                    Value::Object(m)
                }
                _ => Value::Null,
            },
        }
    }

    /// `String.valueOf(v)` as API Gateway prints it; a null prints as nothing.
    pub(crate) fn display(&self, v: &V) -> Result<String, String> {
        if let V::Str(s) = v {
            return Ok(s.to_string());
        }
        let mut out = String::new();
        if !matches!(v, V::Null) {
            self.java(v, &mut out, 0)?;
        }
        Ok(out)
    }

    fn check(&self, out: &str, depth: usize) -> Result<(), String> {
        self.spend(1)?;
        if depth > MAX_NESTING {
            return Err("a value nested too deeply (or containing itself) to print".into());
        }
        if out.len() > self.limits.max_string {
            return Err(format!(
                "a string of more than {} bytes",
                self.limits.max_string
            ));
        }
        Ok(())
    }

    /// Java's `toString` (`{k=v, k2=v2}`, `[a, b]`, `k=v`; a null inside prints `null`) or,
    /// with `json` and for everything inside a JSON array, compact JSON (`[{"foo":"bar"}]`).
    fn java(&self, v: &V, out: &mut String, depth: usize) -> Result<(), String> {
        self.write(v, out, depth, false)
    }

    fn write(&self, v: &V, out: &mut String, depth: usize, json: bool) -> Result<(), String> {
        self.check(out, depth)?;
        let (sep, pair) = if json { (",", ":") } else { (", ", "=") };
        let quoted = |s: &str| Value::String(s.to_owned()).to_string();
        match v {
            V::Null => out.push_str("null"),
            V::Str(s) if json => out.push_str(&quoted(s)),
            V::Str(s) => out.push_str(s),
            V::Bool(_) | V::Int(_) | V::Float(_) => scalar(v, out),
            V::List(id) => {
                let json = json || matches!(self.get(*id), Obj::List { json: true, .. });
                out.push('[');
                for (i, x) in self.items(*id).iter().enumerate() {
                    if i > 0 {
                        out.push_str(if json { "," } else { ", " });
                    }
                    self.write(x, out, depth + 1, json)?;
                }
                out.push(']');
            }
            V::Map(id) => {
                out.push('{');
                for (i, (k, x)) in self.entries(*id).iter().enumerate() {
                    if i > 0 {
                        out.push_str(sep);
                    }
                    out.push_str(&if json { quoted(k) } else { k.to_string() });
                    out.push_str(pair);
                    self.write(x, out, depth + 1, json)?;
                }
                out.push('}');
            }
            V::Entry(_) if json => {
                let text = self.to_json_at(v, depth).to_string();
                out.push_str(&text);
            }
            V::Entry(id) => {
                if let Obj::Entry(k, x) = self.get(*id) {
                    out.push_str(k);
                    out.push('=');
                    self.write(x, out, depth + 1, false)?;
                }
            }
        }
        Ok(())
    }

    /// Java's `equals`, with Velocity's rule for different types: compare the printed forms.
    /// A null equals null and, as on API Gateway, the empty string.
    pub(crate) fn loose_eq(&self, a: &V, b: &V) -> Result<bool, String> {
        self.eq_at(a, b, 0)
    }

    fn eq_at(&self, a: &V, b: &V, depth: usize) -> Result<bool, String> {
        self.spend(1)?;
        if depth > MAX_NESTING {
            return Err("a value nested too deeply (or containing itself) to compare".into());
        }
        Ok(match (a, b) {
            (V::Null, V::Null) => true,
            (V::Null, V::Str(s)) | (V::Str(s), V::Null) => s.is_empty(),
            (V::Null, _) | (_, V::Null) => false,
            (V::Int(x), V::Int(y)) => x == y,
            (V::Int(_) | V::Float(_), V::Int(_) | V::Float(_)) => as_f64(a) == as_f64(b),
            (V::Str(x), V::Str(y)) => x == y,
            (V::Bool(x), V::Bool(y)) => x == y,
            // Java's collections are equal to themselves before any element is compared.
            (V::List(x), V::List(y)) | (V::Map(x), V::Map(y)) if x == y => true,
            (V::List(x), V::List(y)) => {
                let (x, y) = (self.items(*x), self.items(*y));
                if x.len() != y.len() {
                    return Ok(false);
                }
                for (v, w) in x.iter().zip(y) {
                    if !self.eq_at(v, w, depth + 1)? {
                        return Ok(false);
                    }
                }
                true
            }
            (V::Map(x), V::Map(y)) => {
                let (x, y) = (self.entries(*x), self.entries(*y));
                if x.len() != y.len() {
                    return Ok(false);
                }
                for (k, v) in x {
                    match y.iter().find(|(k2, _)| k2 == k) {
                        Some((_, w)) if self.eq_at(v, w, depth + 1)? => {}
                        _ => return Ok(false),
                    }
                }
                true
            }
            _ => self.display(a)? == self.display(b)?,
        })
    }
}

pub(crate) fn number(n: &Number) -> V {
    match n.as_i64() {
        Some(i) => V::Int(i),
        None => V::Float(n.as_f64().unwrap_or(0.0)),
    }
}

pub(crate) fn as_f64(v: &V) -> Option<f64> {
    match v {
        V::Int(i) => Some(*i as f64),
        V::Float(f) => Some(*f),
        _ => None,
    }
}

fn scalar(v: &V, out: &mut String) {
    match v {
        V::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        V::Int(i) => {
            let _ = write!(out, "{i}");
        }
        V::Float(f) => out.push_str(&java_double(*f)),
        _ => {}
    }
}

/// Java's `Double.toString`: `1.0`, `249.99`, `1.0E10`, `1.0E-4`.
pub(crate) fn java_double(f: f64) -> String {
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".into()
        } else if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let a = f.abs();
    if a == 0.0 || (1e-3..1e7).contains(&a) {
        let s = format!("{f}");
        return if s.contains('.') { s } else { s + ".0" };
    }
    let s = format!("{f:e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let mantissa = if mantissa.contains('.') {
        mantissa.to_owned()
    } else {
        format!("{mantissa}.0")
    };
    format!("{mantissa}E{exp}")
}

/// Velocity's `#if`: false for null and `false`, true for anything else (an empty string too).
pub(crate) fn truthy(v: &V) -> bool {
    !matches!(v, V::Null | V::Bool(false))
}
