//! A document to the native config of one API, walking its paths and operations.

use crate::models::Models;
use crate::operation::method_of;
use crate::{esc, root, Ctx, ImportOptions, Imported, METHODS};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Path item keys that are neither operations nor extensions, read elsewhere or not needed.
const PATH_ITEM_KEYS: [&str; 4] = ["parameters", "summary", "description", "servers"];

/// Imports `doc`. Only a document that is no OpenAPI 3 or Swagger 2 document is an error;
/// everything else not served is a warning, and leaves out at most one method (or one
/// setting, or one model and the methods using it).
pub fn import(doc: &Value, opts: &ImportOptions) -> Result<Imported, String> {
    let swagger2 = doc.get("swagger").is_some();
    if !swagger2 && doc.get("openapi").is_none() {
        return Err(
            "not an OpenAPI 3 or Swagger 2 document (no `openapi` or `swagger` field)".into(),
        );
    }
    let schemes_at = if swagger2 {
        "/securityDefinitions"
    } else {
        "/components/securitySchemes"
    };
    let mut cx = Ctx {
        opts,
        doc,
        warnings: Vec::new(),
        schemes: doc
            .pointer(schemes_at)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
        schemes_at,
        authorizers: Map::new(),
        unserved_authorizers: BTreeSet::new(),
        models: Models::default(),
    };
    let mut api = Map::new();
    Models::collect(
        &mut cx,
        if swagger2 {
            "/definitions"
        } else {
            "/components/schemas"
        },
    );
    root::api_settings(&mut cx, &mut api);
    let default_validator = doc
        .get("x-amazon-apigateway-request-validator")
        .and_then(Value::as_str);

    // Resources and methods.
    let mut resources = Map::new();
    for (path, item) in crate::entries(doc, "paths") {
        let at_path = format!("/paths/{}", esc(path));
        let Some((item, item_at)) = cx.resolve(item, &at_path, "the path is left out") else {
            continue;
        };
        let mut methods = Map::new();
        for (key, op) in item.as_object().into_iter().flatten() {
            let at = format!("{item_at}/{}", esc(key));
            let method = if key == "x-amazon-apigateway-any-method" {
                "ANY".to_owned()
            } else if METHODS.contains(&key.as_str()) {
                key.to_ascii_uppercase()
            } else {
                if key.starts_with("x-") {
                    cx.warn(&at, "not a path item extension Gatehouse serves; ignored");
                } else if !PATH_ITEM_KEYS.contains(&key.as_str()) {
                    cx.warn(&at, "not a method API Gateway serves; left out");
                }
                continue;
            };
            if let Some(m) = method_of(&mut cx, path, (item, &item_at), op, &at, default_validator)
            {
                methods.insert(method, m);
            }
        }
        if !methods.is_empty() {
            resources.insert(path.clone(), Value::Object(methods));
        }
    }
    let models = std::mem::take(&mut cx.models.served);
    if !models.is_empty() {
        api.insert("models".into(), Value::Object(models));
    }
    api.insert("resources".into(), Value::Object(resources));
    if !cx.authorizers.is_empty() {
        api.insert(
            "authorizers".into(),
            Value::Object(std::mem::take(&mut cx.authorizers)),
        );
    }
    Ok(Imported {
        api: Value::Object(api),
        warnings: cx.warnings,
    })
}
