//! The JSONPath subset API Gateway's `$input.path` and `$input.json` take: `$`, `.name`,
//! `['name']`, `[n]` (negative counts from the end), `.*` / `[*]` and `..name`.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Child(String),
    Index(i64),
    Wildcard,
    Descendant(String),
}

/// Selects from `root`. A path with a wildcard or `..` gives a list of every match; otherwise
/// the one value, or null when there is none.
pub fn select(root: &Value, path: &str) -> Result<Value, String> {
    Ok(find(root, path)?.unwrap_or(Value::Null))
}

/// As [`select`], telling no match (`None`) from a match that is null.
pub fn find(root: &Value, path: &str) -> Result<Option<Value>, String> {
    let steps = parse(path)?;
    let many = steps
        .iter()
        .any(|s| matches!(s, Step::Wildcard | Step::Descendant(_)));
    let mut current: Vec<&Value> = vec![root];
    for step in &steps {
        let mut next = Vec::new();
        for v in current {
            match step {
                Step::Child(name) => {
                    if let Some(c) = v.get(name.as_str()) {
                        next.push(c);
                    }
                }
                Step::Index(i) => {
                    if let Value::Array(a) = v {
                        let idx = if *i < 0 { a.len() as i64 + i } else { *i };
                        if let Some(c) = usize::try_from(idx).ok().and_then(|i| a.get(i)) {
                            next.push(c);
                        }
                    }
                }
                Step::Wildcard => match v {
                    Value::Array(a) => next.extend(a.iter()),
                    Value::Object(o) => next.extend(o.values()),
                    _ => {}
                },
                Step::Descendant(name) => descend(v, name, &mut next),
            }
        }
        current = next;
    }
    Ok(if many {
        Some(Value::Array(current.into_iter().cloned().collect()))
    } else {
        current.first().map(|v| (*v).clone())
    })
}

fn descend<'a>(v: &'a Value, name: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(o) => {
            if let Some(c) = o.get(name) {
                out.push(c);
            }
            for c in o.values() {
                descend(c, name, out);
            }
        }
        Value::Array(a) => {
            for c in a {
                descend(c, name, out);
            }
        }
        _ => {}
    }
}

fn parse(path: &str) -> Result<Vec<Step>, String> {
    let bad = |why: &str| format!("JSONPath `{path}`: {why}");
    let rest = path
        .trim()
        .strip_prefix('$')
        .ok_or_else(|| bad("must start with `$`"))?;
    let b = rest.as_bytes();
    let mut i = 0;
    let mut steps = Vec::new();
    let name_end = |from: usize| {
        b[from..]
            .iter()
            .position(|c| matches!(c, b'.' | b'['))
            .map_or(b.len(), |p| from + p)
    };
    while i < b.len() {
        match b[i] {
            b'.' if b.get(i + 1) == Some(&b'.') => {
                let end = name_end(i + 2);
                let name = &rest[i + 2..end];
                if name.is_empty() {
                    return Err(bad("`..` needs a name"));
                }
                steps.push(Step::Descendant(name.to_owned()));
                i = end;
            }
            b'.' => {
                let end = name_end(i + 1);
                let name = &rest[i + 1..end];
                match name {
                    "" => return Err(bad("empty name after `.`")),
                    "*" => steps.push(Step::Wildcard),
                    _ => steps.push(Step::Child(name.to_owned())),
                }
                i = end;
            }
            b'[' => {
                let close = rest[i..]
                    .find(']')
                    .map(|p| i + p)
                    .ok_or_else(|| bad("`[` without `]`"))?;
                let inner = rest[i + 1..close].trim();
                if inner == "*" {
                    steps.push(Step::Wildcard);
                } else if let Some(q) = inner
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
                {
                    steps.push(Step::Child(q.to_owned()));
                } else {
                    let n: i64 = inner.parse().map_err(|_| {
                        bad(&format!(
                            "expected an index, `*` or a quoted name in `[{inner}]`"
                        ))
                    })?;
                    steps.push(Step::Index(n));
                }
                i = close + 1;
            }
            _ => return Err(bad(&format!("unexpected `{}`", &rest[i..]))),
        }
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selects_children_indices_wildcards_and_descendants() {
        let doc = json!({"pets": [{"id": 1, "type": "dog"}, {"id": 2, "type": "cat"}], "a b": {"c": true}});
        assert_eq!(select(&doc, "$").unwrap(), doc);
        assert_eq!(select(&doc, "$.pets[1].type").unwrap(), json!("cat"));
        assert_eq!(select(&doc, "$.pets[-1].id").unwrap(), json!(2));
        assert_eq!(select(&doc, "$['a b'].c").unwrap(), json!(true));
        assert_eq!(select(&doc, "$.pets[*].id").unwrap(), json!([1, 2]));
        assert_eq!(
            select(&doc, "$.pets.*.type").unwrap(),
            json!(["dog", "cat"])
        );
        assert_eq!(select(&doc, "$..id").unwrap(), json!([1, 2]));
        assert_eq!(select(&doc, "$.missing.deeper").unwrap(), Value::Null);
        assert_eq!(select(&doc, "$.pets[9]").unwrap(), Value::Null);
        for bad in ["pets", "$.", "$[x]", "$[1", "$..", "$pets"] {
            assert!(select(&doc, bad).is_err(), "{bad}");
        }
    }
}
