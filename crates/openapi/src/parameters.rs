//! An operation's parameters and body: required parameters and body models.
//!
//! Parameters come from the path item and the operation (the operation's replace the path
//! item's of the same name and location, as OpenAPI says), each possibly a `$ref`
//! (`#/parameters/NAME` in Swagger 2, `#/components/parameters/NAME` in OpenAPI 3). A
//! parameter that cannot be read (a dangling or cyclic `$ref`, no `name` or `in`) leaves the
//! method out, since it may be a required one; one that cannot apply (a path parameter the
//! path has no `{segment}` for, a cookie or form parameter, which API Gateway's REST APIs do
//! not validate) is left out with a warning and the method is served.

use crate::integration::header_name;
use crate::models::Models;
use crate::{esc, Ctx};
use serde_json::{Map, Value};

/// What a method validates: `method.request.*` → true, and media type → model.
#[derive(Default)]
pub(crate) struct Checks {
    pub(crate) required: Map<String, Value>,
    pub(crate) models: Map<String, Value>,
}

/// The checks of operation `op` at `at` on path `path` (path item parameters at
/// `item_at/parameters`), or `None` (with a warning) to leave the method out.
pub(crate) fn checks(
    cx: &mut Ctx<'_>,
    path: &str,
    item: &Value,
    item_at: &str,
    op: &Value,
    at: &str,
) -> Option<Checks> {
    let mut params: Vec<(Value, String)> = Vec::new();
    for (list, list_at) in [(item, item_at), (op, at)] {
        for (i, p) in crate::items(list, "parameters").enumerate() {
            let here = format!("{list_at}/parameters/{i}");
            let (p, _) = cx.resolve(p, &here, "left out")?;
            let key = |p: &Value| (p.get("name").cloned(), p.get("in").cloned());
            params.retain(|(q, _)| key(q) != key(p));
            params.push((p.clone(), here));
        }
    }
    let mut out = Checks::default();
    let hint = body_model_name(path, at);
    for (p, here) in &params {
        let (Some(name), Some(loc)) = (
            p.get("name").and_then(Value::as_str),
            p.get("in").and_then(Value::as_str),
        ) else {
            cx.warn(here, "a parameter needs `name` and `in`; left out");
            return None;
        };
        let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
        let kind = match loc {
            "query" => "querystring",
            "header" => "header",
            "path" => {
                if !path_has(path, name) {
                    cx.warn(
                        here,
                        format!("path `{path}` has no `{{{name}}}` segment; parameter left out"),
                    );
                    continue;
                }
                "path"
            }
            "body" => {
                let Some(schema) = p.get("schema") else {
                    continue;
                };
                let media = op
                    .get("consumes")
                    .or_else(|| cx.doc.get("consumes"))
                    .and_then(Value::as_array)
                    .and_then(|c| c.first())
                    .and_then(Value::as_str)
                    .unwrap_or("application/json")
                    .to_owned();
                let model = Models::of_body(cx, schema, &format!("{here}/schema"), &hint)?;
                out.models.insert(media, model.into());
                continue;
            }
            other => {
                cx.warn(
                    here,
                    format!("`{other}` parameters are not validated (API Gateway validates query strings, headers and paths); parameter left out"),
                );
                continue;
            }
        };
        if kind == "header" && !header_name(name) {
            cx.warn(
                here,
                format!("`{name}` is not a header name; parameter left out"),
            );
            continue;
        }
        if required || kind == "path" {
            out.required
                .insert(format!("method.request.{kind}.{name}"), true.into());
        }
    }
    if let Some(body) = op.get("requestBody") {
        let body_at = format!("{at}/requestBody");
        let (body, body_at) = cx.resolve(body, &body_at, "left out")?;
        let body = body.clone();
        for (media, c) in crate::entries(&body, "content") {
            let Some(schema) = c.get("schema") else {
                continue;
            };
            let here = format!("{body_at}/content/{}/schema", esc(media));
            let model = Models::of_body(cx, schema, &here, &hint)?;
            out.models.insert(media.clone(), model.into());
        }
    }
    Some(out)
}

/// Whether `path` has a `{name}` or `{name+}` segment.
pub(crate) fn path_has(path: &str, name: &str) -> bool {
    path.split('/').any(|seg| {
        seg.strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .map(|s| s.strip_suffix('+').unwrap_or(s))
            == Some(name)
    })
}

/// A name for an inline body schema's model: `PetsIdPostBody` for `POST /pets/{id}`
/// (API Gateway's model names are alphanumeric).
fn body_model_name(path: &str, at: &str) -> String {
    let method = at.rsplit('/').next().unwrap_or("");
    let method = if method == "x-amazon-apigateway-any-method" {
        "any"
    } else {
        method
    };
    let mut name = String::new();
    for word in path
        .split(|c: char| !c.is_ascii_alphanumeric())
        .chain([method, "body"])
    {
        let mut cs = word.chars();
        if let Some(c) = cs.next() {
            name.push(c.to_ascii_uppercase());
            name.extend(cs);
        }
    }
    name
}
