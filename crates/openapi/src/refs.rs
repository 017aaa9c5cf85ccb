//! Local `$ref`s (`#/...`, RFC 6901 pointers into the same document) to parameters, request
//! bodies, path items and `x-amazon-apigateway-integrations` entries. Models have their own
//! rules (`models.rs`): they stay `$ref`s for the JSON Schema validator to follow.

use serde_json::Value;

/// `v`, or what its `$ref` chain points at, with the pointer it was found at (`at` when `v`
/// is no reference). An error says why the chain does not resolve: not local, dangling, or
/// a cycle (each step named).
pub(crate) fn resolve<'v>(
    doc: &'v Value,
    v: &'v Value,
    at: &str,
) -> Result<(&'v Value, String), String> {
    let mut here = v;
    let mut ptr = at.to_owned();
    let mut seen: Vec<String> = Vec::new();
    while let Some(r) = here.get("$ref") {
        let Some(r) = r.as_str() else {
            return Err("`$ref` is not a string".into());
        };
        let Some(target) = r.strip_prefix('#') else {
            return Err(format!(
                "`$ref` `{r}` is not in this document (only `#/...` references are resolved)"
            ));
        };
        if seen.iter().any(|s| s == target) {
            seen.push(target.to_owned());
            return Err(format!("`$ref`s form a cycle: {}", seen.join(" -> ")));
        }
        seen.push(target.to_owned());
        here = doc
            .pointer(target)
            .ok_or_else(|| format!("`$ref` `{r}` points at nothing in this document"))?;
        ptr = target.to_owned();
    }
    Ok((here, ptr))
}

#[cfg(test)]
mod tests {
    use super::resolve;
    use serde_json::json;

    #[test]
    fn chains_resolve_and_cycles_or_dangling_refs_are_named() {
        let doc = json!({ "parameters": {
            "a": { "$ref": "#/parameters/b" },
            "b": { "name": "limit", "in": "query" },
            "c": { "$ref": "#/parameters/d" },
            "d": { "$ref": "#/parameters/c" } } });
        let (v, at) = resolve(&doc, &doc["parameters"]["a"], "/x").unwrap();
        assert_eq!(
            (v["name"].as_str(), at.as_str()),
            (Some("limit"), "/parameters/b")
        );
        let (v, at) = resolve(&doc, &doc["parameters"]["b"], "/x").unwrap();
        assert_eq!((v["in"].as_str(), at.as_str()), (Some("query"), "/x"));
        let e = resolve(&doc, &doc["parameters"]["c"], "/x").unwrap_err();
        assert!(
            e.contains("cycle: /parameters/d -> /parameters/c -> /parameters/d"),
            "{e}"
        );
        let e = resolve(&doc, &json!({ "$ref": "#/parameters/nope" }), "/x").unwrap_err();
        assert!(e.contains("points at nothing"), "{e}");
        let e = resolve(&doc, &json!({ "$ref": "other.json#/a" }), "/x").unwrap_err();
        assert!(e.contains("not in this document"), "{e}");
    }
}
