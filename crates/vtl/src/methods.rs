//! The Java methods templates call on strings, lists, maps, map entries and numbers, and the
//! regular expressions `replaceAll`, `replaceFirst`, `matches` and `split` take: compiled at
//! template compile when the pattern is a literal, else once per rendering (cached).

use crate::value::{as_f64, Heap, Obj, V};
use regex::Regex;
use std::collections::HashMap;
use std::rc::Rc;

/// Most dynamic patterns one rendering keeps compiled.
const MAX_CACHED_REGEXES: usize = 64;
/// Most memory one compiled pattern may take, against patterns built to be costly.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Methods whose first argument is a regular expression; `matches` anchors it.
pub(crate) fn regex_method(name: &str) -> Option<bool> {
    match name {
        "replaceAll" | "replaceFirst" | "split" => Some(false),
        "matches" => Some(true),
        _ => None,
    }
}

/// Compiles a Java pattern (the syntax the two share; no look-around or back-references).
pub(crate) fn compile_regex(pattern: &str, anchored: bool) -> Result<Regex, String> {
    let src = if anchored {
        format!("^(?:{pattern})$")
    } else {
        pattern.to_owned()
    };
    regex::RegexBuilder::new(&src)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| format!("bad regular expression `{pattern}`: {e}"))
}

/// Patterns compiled during one rendering.
#[derive(Debug, Default)]
pub(crate) struct Regexes(HashMap<(bool, String), Regex>);

impl Regexes {
    fn get(&mut self, pattern: &str, anchored: bool) -> Result<Regex, String> {
        if let Some(re) = self.0.get(&(anchored, pattern.to_owned())) {
            return Ok(re.clone());
        }
        let re = compile_regex(pattern, anchored)?;
        if self.0.len() < MAX_CACHED_REGEXES {
            self.0.insert((anchored, pattern.to_owned()), re.clone());
        }
        Ok(re)
    }
}

/// One method call's receiver, arguments and the pattern compiled for it, if any.
pub(crate) struct Call<'a> {
    pub(crate) name: &'a str,
    pub(crate) args: &'a [V],
    pub(crate) regex: Option<&'a Regex>,
}

impl Call<'_> {
    fn arg(&self, i: usize) -> Result<&V, String> {
        self.args
            .get(i)
            .ok_or_else(|| format!("`{}` needs argument {}", self.name, i + 1))
    }

    fn int(&self, i: usize) -> Result<i64, String> {
        match self.arg(i)? {
            V::Int(n) => Ok(*n),
            _ => Err(format!(
                "argument {} of `{}` must be an integer",
                i + 1,
                self.name
            )),
        }
    }

    fn index(&self, i: usize, len: usize) -> Result<usize, String> {
        let n = self.int(i)?;
        usize::try_from(n)
            .ok()
            .filter(|n| *n < len)
            .ok_or_else(|| format!("{}: index {n} out of bounds for length {len}", self.name))
    }
}

/// Calls `call` on `v`. A method that does not exist is an error (on API Gateway the template
/// fails); a call on null gives null.
pub(crate) fn call(heap: &mut Heap, re: &mut Regexes, v: &V, c: &Call<'_>) -> Result<V, String> {
    match (c.name, c.args.len()) {
        ("toString", 0) => return Ok(V::str(heap.display(v)?)),
        ("equals", 1) => return Ok(V::Bool(heap.loose_eq(v, c.arg(0)?)?)),
        _ => {}
    }
    match v {
        V::Null => Ok(V::Null),
        V::Str(s) => string(heap, re, s, c),
        V::List(id) => list(heap, *id, c),
        V::Map(id) => map(heap, *id, c),
        V::Entry(id) => match (heap.get(*id), c.name) {
            (Obj::Entry(k, _), "getKey") => Ok(V::Str(k.clone())),
            (Obj::Entry(_, x), "getValue") => Ok(x.clone()),
            _ => Err(format!("a map entry has no method `{}`", c.name)),
        },
        V::Int(_) | V::Float(_) => {
            let f = as_f64(v).unwrap_or(0.0);
            match c.name {
                "intValue" | "longValue" => Ok(V::Int(f as i64)),
                "doubleValue" | "floatValue" => Ok(V::Float(f)),
                _ => Err(format!("numbers have no method `{}`", c.name)),
            }
        }
        V::Bool(b) => match c.name {
            "booleanValue" => Ok(V::Bool(*b)),
            _ => Err(format!("booleans have no method `{}`", c.name)),
        },
    }
}

/// `$x.name` without parentheses: a map's key, an entry's key or value, `empty`.
pub(crate) fn property(heap: &Heap, v: &V, name: &str) -> Result<V, String> {
    Ok(match (v, name) {
        (V::Map(id), _) => heap.lookup(*id, name)?,
        (V::Entry(id), "key" | "value") => match heap.get(*id) {
            Obj::Entry(k, _) if name == "key" => V::Str(k.clone()),
            Obj::Entry(_, x) => x.clone(),
            _ => V::Null,
        },
        (V::List(id), "empty") => V::Bool(heap.items(*id).is_empty()),
        (V::Str(s), "empty") => V::Bool(s.is_empty()),
        _ => V::Null,
    })
}

fn string(heap: &mut Heap, re: &mut Regexes, s: &Rc<str>, c: &Call<'_>) -> Result<V, String> {
    heap.spend(s.len())?;
    let arg_str = |i: usize| -> Result<String, String> { heap.display(c.arg(i)?) };
    let made = |out: String| -> Result<V, String> {
        if out.len() > heap.limits.max_string {
            return Err(format!(
                "a string of more than {} bytes",
                heap.limits.max_string
            ));
        }
        Ok(V::str(out))
    };
    let chars = || s.chars().count();
    let pattern = |re: &mut Regexes, anchored: bool| -> Result<Regex, String> {
        match c.regex {
            Some(r) => Ok(r.clone()),
            None => re.get(&arg_str(0)?, anchored),
        }
    };
    Ok(match c.name {
        "length" | "size" | "count" => V::Int(chars() as i64),
        "isEmpty" => V::Bool(s.is_empty()),
        "contains" => V::Bool(s.contains(arg_str(0)?.as_str())),
        "startsWith" => V::Bool(s.starts_with(arg_str(0)?.as_str())),
        "endsWith" => V::Bool(s.ends_with(arg_str(0)?.as_str())),
        "equalsIgnoreCase" => V::Bool(s.to_lowercase() == arg_str(0)?.to_lowercase()),
        "indexOf" | "lastIndexOf" => {
            let needle = arg_str(0)?;
            let found = if c.name == "indexOf" {
                s.find(needle.as_str())
            } else {
                s.rfind(needle.as_str())
            };
            V::Int(found.map_or(-1, |i| s[..i].chars().count() as i64))
        }
        "toLowerCase" => V::str(s.to_lowercase()),
        "toUpperCase" => V::str(s.to_uppercase()),
        "trim" => V::str(s.trim_matches(|ch: char| ch <= ' ')),
        "concat" => made(format!("{s}{}", arg_str(0)?))?,
        "charAt" => {
            let i = c.index(0, chars())?;
            V::str(s.chars().nth(i).map(String::from).unwrap_or_default())
        }
        "substring" => {
            let len = chars();
            let from = c.int(0)?;
            let to = if c.args.len() > 1 {
                c.int(1)?
            } else {
                len as i64
            };
            if from < 0 || to > len as i64 || from > to {
                return Err(format!(
                    "substring({from}, {to}) of a {len}-character string"
                ));
            }
            V::str(
                s.chars()
                    .skip(from as usize)
                    .take((to - from) as usize)
                    .collect::<String>(),
            )
        }
        "replace" => made(s.replace(arg_str(0)?.as_str(), arg_str(1)?.as_str()))?,
        "replaceAll" | "replaceFirst" => {
            let r = pattern(re, false)?;
            let with = java_replacement(&arg_str(1)?)?;
            let limit = if c.name == "replaceAll" { 0 } else { 1 };
            made(r.replacen(s, limit, with.as_str()).into_owned())?
        }
        "matches" => V::Bool(pattern(re, true)?.is_match(s)),
        "split" => {
            let r = pattern(re, false)?;
            let limit = if c.args.len() > 1 { c.int(1)? } else { 0 };
            let parts = java_split(&r, s, limit);
            let items = parts.into_iter().map(V::str).collect();
            heap.list(items, false)?
        }
        _ => return Err(format!("strings have no method `{}`", c.name)),
    })
}

/// Java's `String.split`: a limit above zero caps the pieces, zero drops trailing empty ones,
/// and no match gives the whole string.
fn java_split<'s>(r: &Regex, s: &'s str, limit: i64) -> Vec<&'s str> {
    if !r.is_match(s) {
        return vec![s];
    }
    let mut parts: Vec<&str> = if limit > 0 {
        r.splitn(s, usize::try_from(limit).unwrap_or(usize::MAX))
            .collect()
    } else {
        r.split(s).collect()
    };
    // A zero-width match at the start gives no leading empty piece (Java 8 and later).
    if parts.first() == Some(&"") && r.find(s).is_some_and(|m| m.start() == 0 && m.is_empty()) {
        parts.remove(0);
    }
    if limit == 0 {
        while parts.last() == Some(&"") {
            parts.pop();
        }
    }
    parts
}

/// Java's replacement text (`$1` a group, `\$` a dollar) in the regex crate's syntax.
fn java_replacement(with: &str) -> Result<String, String> {
    let mut out = String::with_capacity(with.len());
    let mut chars = with.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(other) => out.push(other),
                None => return Err("replacement ends with `\\`".into()),
            },
            '$' => {
                let mut group = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    group.push(*d);
                    chars.next();
                }
                if group.is_empty() {
                    return Err("illegal group reference `$` in a replacement".into());
                }
                out.push_str(&format!("${{{group}}}"));
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

fn list(heap: &mut Heap, id: usize, c: &Call<'_>) -> Result<V, String> {
    let len = heap.items(id).len();
    let position = |heap: &Heap, x: &V, last: bool| -> Result<i64, String> {
        let items = heap.items(id).to_vec();
        let mut found = -1;
        for (i, y) in items.iter().enumerate() {
            if heap.loose_eq(y, x)? {
                found = i as i64;
                if !last {
                    break;
                }
            }
        }
        Ok(found)
    };
    Ok(match (c.name, c.args.len()) {
        // `count()` as the guide's `$input.path('$.pets').count()` shows.
        ("size" | "count", 0) => V::Int(len as i64),
        ("isEmpty", 0) => V::Bool(len == 0),
        ("get", 1) => heap.items(id)[c.index(0, len)?].clone(),
        ("contains", 1) => V::Bool(position(heap, c.arg(0)?, false)? >= 0),
        ("indexOf", 1) => V::Int(position(heap, c.arg(0)?, false)?),
        ("lastIndexOf", 1) => V::Int(position(heap, c.arg(0)?, true)?),
        ("add", 1) => {
            heap.grow(1)?;
            heap.items_mut(id)?.push(c.arg(0)?.clone());
            V::Bool(true)
        }
        ("add", 2) => {
            let at = c.int(0)?;
            if at < 0 || at > len as i64 {
                return Err(format!("add: index {at} out of bounds for length {len}"));
            }
            heap.grow(1)?;
            heap.items_mut(id)?.insert(at as usize, c.arg(1)?.clone());
            V::Null
        }
        ("addAll", 1) => {
            let more = match c.arg(0)? {
                V::List(other) => heap.items(*other).to_vec(),
                _ => return Err("addAll takes a list".into()),
            };
            heap.grow(more.len())?;
            let changed = !more.is_empty();
            heap.items_mut(id)?.extend(more);
            V::Bool(changed)
        }
        ("set", 2) => {
            let at = c.index(0, len)?;
            std::mem::replace(&mut heap.items_mut(id)?[at], c.arg(1)?.clone())
        }
        // Velocity picks `remove(int)` for an integer argument, `remove(Object)` otherwise.
        ("remove", 1) => match c.arg(0)? {
            V::Int(_) => {
                let at = c.index(0, len)?;
                heap.items_mut(id)?.remove(at)
            }
            x => {
                let at = position(heap, x, false)?;
                if at >= 0 {
                    heap.items_mut(id)?.remove(at as usize);
                }
                V::Bool(at >= 0)
            }
        },
        ("clear", 0) => {
            heap.items_mut(id)?.clear();
            V::Null
        }
        _ => {
            return Err(format!(
                "lists have no method `{}` with {} arguments",
                c.name,
                c.args.len()
            ))
        }
    })
}

fn map(heap: &mut Heap, id: usize, c: &Call<'_>) -> Result<V, String> {
    let key = |heap: &Heap| -> Result<Rc<str>, String> { Ok(Rc::from(heap.display(c.arg(0)?)?)) };
    Ok(match (c.name, c.args.len()) {
        ("size", 0) => V::Int(heap.entries(id).len() as i64),
        ("isEmpty", 0) => V::Bool(heap.entries(id).is_empty()),
        ("get", 1) => heap.lookup(id, &key(heap)?)?,
        ("containsKey", 1) => V::Bool(heap.position(id, &key(heap)?)?.is_some()),
        ("containsValue", 1) => {
            let values: Vec<V> = heap.entries(id).iter().map(|(_, v)| v.clone()).collect();
            let mut found = false;
            for v in &values {
                if heap.loose_eq(v, c.arg(0)?)? {
                    found = true;
                    break;
                }
            }
            V::Bool(found)
        }
        ("put", 2) => heap.put(id, key(heap)?, c.arg(1)?.clone())?,
        ("putAll", 1) => {
            let more = match c.arg(0)? {
                V::Map(other) => heap.entries(*other).to_vec(),
                _ => return Err("putAll takes a map".into()),
            };
            for (k, v) in more {
                heap.put(id, k, v)?;
            }
            V::Null
        }
        ("remove", 1) => match heap.position(id, &key(heap)?)? {
            Some(i) => heap.entries_mut(id)?.remove(i).1,
            None => V::Null,
        },
        ("clear", 0) => {
            heap.entries_mut(id)?.clear();
            V::Null
        }
        ("keySet", 0) => {
            let keys = heap
                .entries(id)
                .iter()
                .map(|(k, _)| V::Str(k.clone()))
                .collect();
            heap.list(keys, false)?
        }
        ("values", 0) => {
            let values = heap.entries(id).iter().map(|(_, v)| v.clone()).collect();
            heap.list(values, false)?
        }
        ("entrySet", 0) => {
            let pairs = heap.entries(id).to_vec();
            let mut entries = Vec::with_capacity(pairs.len());
            for (k, v) in pairs {
                entries.push(V::Entry(heap.alloc(Obj::Entry(k, v))?));
            }
            heap.list(entries, false)?
        }
        _ => {
            return Err(format!(
                "maps have no method `{}` with {} arguments",
                c.name,
                c.args.len()
            ))
        }
    })
}
