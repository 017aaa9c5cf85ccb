//! Models: `definitions` (Swagger 2) or `components/schemas` (OpenAPI 3), and inline body
//! schemas, as native models (JSON Schema draft 4, as API Gateway's models are).
//!
//! `$ref`s between models stay references: each served model carries the models it reaches
//! under `definitions`, with every reference rewritten to `#/definitions/NAME`, so the
//! validator follows them lazily and a recursive model (a tree whose `children` are trees)
//! validates recursively, to any depth.
//!
//! A model is refused, with a warning at its JSON pointer, when it cannot mean what it says:
//! - a `$ref` that names no model of the document (dangling, external, or into a model's
//!   inside), which API Gateway also refuses;
//! - a cycle of `$ref`s that reaches the same model again without a keyword that descends
//!   into the instance (`properties`, `items`, ...) between, such as `A = {$ref: B}`,
//!   `B = {allOf: [{$ref: A}]}`: that schema has no finite expansion, so a validator either
//!   loops or validates nothing; refusing it is the only answer that neither hangs nor
//!   accepts every body;
//! - a schema the validator does not compile;
//! - a model referring to a refused one.
//!
//! Methods whose body names a refused model are then left out (`operation.rs`), so a body
//! is never let through unvalidated.

use crate::{esc, Ctx};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Default)]
pub(crate) struct Models {
    /// Served models by name, each carrying the models it reaches.
    pub(crate) served: Map<String, Value>,
    /// Refused models by name, with the JSON pointer where the reason was warned.
    pub(crate) refused: BTreeMap<String, String>,
    /// Every model as written (refused ones included), for inline schemas' `$ref`s.
    defs: Map<String, Value>,
}

/// The model a `$ref` names: `#/definitions/NAME`, `#/components/schemas/NAME` or API
/// Gateway's model URL `https://apigateway.amazonaws.com/restapis/ID/models/NAME`.
pub(crate) fn target(r: &str) -> Option<String> {
    let name = r
        .strip_prefix("#/definitions/")
        .or_else(|| r.strip_prefix("#/components/schemas/"))
        .or_else(|| {
            let rest = r.strip_prefix("https://apigateway.amazonaws.com/restapis/")?;
            Some(rest.split_once("/models/")?.1)
        })?;
    (!name.is_empty() && !name.contains('/')).then(|| name.replace("~1", "/").replace("~0", "~"))
}

/// A `$ref` inside a schema: where (below the schema), what, and whether it applies to the
/// same instance as the schema (directly or through `allOf`/`anyOf`/`oneOf`/`not`), rather
/// than to a part of it.
struct Ref {
    at: String,
    to: String,
    same_instance: bool,
}

fn refs_of(v: &Value, at: &str, same: bool, out: &mut Vec<Ref>) {
    match v {
        Value::Object(o) => {
            for (k, child) in o {
                let here = format!("{at}/{}", esc(k));
                if k == "$ref" {
                    if let Some(r) = child.as_str() {
                        out.push(Ref {
                            at: here,
                            to: r.to_owned(),
                            same_instance: same,
                        });
                    }
                    continue;
                }
                // Values, not schemas.
                if matches!(
                    k.as_str(),
                    "enum" | "default" | "example" | "examples" | "const"
                ) {
                    continue;
                }
                let same = same && matches!(k.as_str(), "allOf" | "anyOf" | "oneOf" | "not");
                refs_of(child, &here, same, out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                refs_of(child, &format!("{at}/{i}"), same, out);
            }
        }
        _ => {}
    }
}

fn refs(schema: &Value) -> Vec<Ref> {
    let mut out = Vec::new();
    refs_of(schema, "", true, &mut out);
    out
}

/// `$ref`s rewritten to `#/definitions/NAME` (all of them name models by now).
fn rewrite(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| match (k.as_str(), v.as_str().and_then(target)) {
                    ("$ref", Some(name)) => {
                        (k.clone(), format!("#/definitions/{}", esc(&name)).into())
                    }
                    _ => (k.clone(), rewrite(v)),
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(rewrite).collect()),
        other => other.clone(),
    }
}

/// Compiles as the gateway will (draft 4 unless the schema names another).
fn compiles(schema: &Value) -> Result<(), String> {
    let compiled = if schema.get("$schema").is_some() {
        jsonschema::validator_for(schema).map(drop)
    } else {
        jsonschema::draft4::new(schema).map(drop)
    };
    compiled.map_err(|e| e.to_string())
}

impl Models {
    /// Reads the document's models, warning (and refusing) those that cannot be served.
    pub(crate) fn collect(cx: &mut Ctx<'_>, defs_at: &str) {
        let defs = cx
            .doc
            .pointer(defs_at)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut refused: BTreeMap<String, String> = BTreeMap::new();
        let mut edges: BTreeMap<String, Vec<(String, bool)>> = BTreeMap::new();
        for (name, schema) in &defs {
            let at = format!("{defs_at}/{}", esc(name));
            if !schema.is_object() {
                cx.warn(&at, "not a schema object; model refused");
                refused.insert(name.clone(), at);
                continue;
            }
            let mut out = Vec::new();
            for r in refs(schema) {
                match target(&r.to).filter(|t| defs.contains_key(t)) {
                    Some(t) => out.push((t, r.same_instance)),
                    None if !refused.contains_key(name) => {
                        cx.warn(
                            &format!("{at}{}", r.at),
                            format!("`$ref` `{}` names no model of this document; model `{name}` refused", r.to),
                        );
                        refused.insert(name.clone(), at.clone());
                    }
                    None => {}
                }
            }
            edges.insert(name.clone(), out);
        }
        // Cycles with no descent into the instance between.
        for name in defs.keys() {
            if refused.contains_key(name) {
                continue;
            }
            if let Some(cycle) = same_instance_cycle(&edges, name) {
                let at = format!("{defs_at}/{}", esc(name));
                cx.warn(
                    &at,
                    format!("`$ref`s lead back to this model with no property or item between ({}), so it has no finite schema; model refused", cycle.join(" -> ")),
                );
                refused.insert(name.clone(), at);
            }
        }
        let mut models = Models {
            served: Map::new(),
            refused,
            defs,
        };
        // Referring to a refused model refuses, until nothing changes.
        loop {
            let mut newly = Vec::new();
            for (name, out) in &edges {
                if models.refused.contains_key(name) {
                    continue;
                }
                if let Some((bad, _)) = out.iter().find(|(t, _)| models.refused.contains_key(t)) {
                    newly.push((name.to_string(), bad.clone()));
                }
            }
            if newly.is_empty() {
                break;
            }
            for (name, bad) in newly {
                let at = format!("{defs_at}/{}", esc(&name));
                cx.warn(
                    &at,
                    format!("refers to model `{bad}`, which is refused; model refused"),
                );
                models.refused.insert(name, at);
            }
        }
        let names: Vec<String> = models.defs.keys().cloned().collect();
        for name in names {
            if models.refused.contains_key(&name) {
                continue;
            }
            let at = format!("{defs_at}/{}", esc(&name));
            let schema = models.build(&models.defs[&name]);
            match compiles(&schema) {
                Ok(()) => {
                    models.served.insert(name, schema);
                }
                Err(e) => {
                    cx.warn(&at, format!("not a valid JSON Schema ({e}); model refused"));
                    models.refused.insert(name, at);
                }
            }
        }
        cx.models = models;
    }

    /// `schema` rewritten, carrying the models its `$ref`s reach.
    fn build(&self, schema: &Value) -> Value {
        let mut reach = BTreeSet::new();
        let mut todo: Vec<String> = refs(schema).iter().filter_map(|r| target(&r.to)).collect();
        while let Some(t) = todo.pop() {
            if let Some(d) = self.defs.get(&t) {
                if reach.insert(t) {
                    todo.extend(refs(d).iter().filter_map(|r| target(&r.to)));
                }
            }
        }
        let mut out = rewrite(schema);
        if let (false, Some(o)) = (reach.is_empty(), out.as_object_mut()) {
            let carried = o
                .entry("definitions")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(c) = carried.as_object_mut() {
                for t in reach {
                    let v = rewrite(&self.defs[&t]);
                    c.entry(t).or_insert(v);
                }
            }
        }
        out
    }

    /// The model a body schema at `at` names: its `$ref`'s model, or a new model (named from
    /// `hint`) for an inline schema. `None` (with a warning) when it cannot be validated.
    pub(crate) fn of_body(
        cx: &mut Ctx<'_>,
        schema: &Value,
        at: &str,
        hint: &str,
    ) -> Option<String> {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let Some(name) = target(r).filter(|t| cx.models.defs.contains_key(t)) else {
                cx.warn(
                    &format!("{at}/$ref"),
                    format!("`$ref` `{r}` names no model of this document; left out"),
                );
                return None;
            };
            if let Some(why) = cx.models.refused.get(&name).cloned() {
                cx.warn(at, format!("model `{name}` is refused (#{why}); left out"));
                return None;
            }
            return Some(name);
        }
        for r in refs(schema) {
            let ok = target(&r.to).filter(|t| cx.models.served.contains_key(t));
            if ok.is_none() {
                cx.warn(
                    &format!("{at}{}", r.at),
                    format!(
                        "`$ref` `{}` names no served model of this document; left out",
                        r.to
                    ),
                );
                return None;
            }
        }
        let built = cx.models.build(schema);
        if let Err(e) = compiles(&built) {
            cx.warn(at, format!("not a valid JSON Schema ({e}); left out"));
            return None;
        }
        let mut name = hint.to_owned();
        let mut n = 1;
        while cx.models.defs.contains_key(&name) || cx.models.served.contains_key(&name) {
            n += 1;
            name = format!("{hint}{n}");
        }
        cx.models.served.insert(name.clone(), built);
        Some(name)
    }
}

/// A cycle from `start` back to it over same-instance edges, as the names along it.
fn same_instance_cycle(
    edges: &BTreeMap<String, Vec<(String, bool)>>,
    start: &str,
) -> Option<Vec<String>> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<Vec<String>> = vec![vec![start.to_owned()]];
    while let Some(path) = stack.pop() {
        let last = path.last().map(String::as_str).unwrap_or(start);
        for (t, same) in edges.get(last).into_iter().flatten() {
            if !same {
                continue;
            }
            let mut next = path.clone();
            next.push(t.clone());
            if t == start {
                return Some(next);
            }
            if seen.insert(t.clone()) {
                stack.push(next);
            }
        }
    }
    None
}
