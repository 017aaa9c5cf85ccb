//! Models and `$ref`s. API Gateway's models are JSON Schema draft 4 (developer guide, "Data
//! models for REST APIs"), referring to each other by `$ref`; parameters may be `$ref`s to
//! `#/parameters` (Swagger 2) or `#/components/parameters` (OpenAPI 3).

use crate::{import, ImportOptions, Imported};
use serde_json::{json, Value};

fn swagger(definitions: Value, op: Value) -> Imported {
    let mut get = json!({ "x-amazon-apigateway-integration": { "type": "mock" } });
    for (k, v) in op.as_object().into_iter().flatten() {
        get[k] = v.clone();
    }
    let doc = json!({ "swagger": "2.0", "definitions": definitions,
        "parameters": {
            "limit": { "name": "limit", "in": "query", "required": true, "type": "string" },
            "alias": { "$ref": "#/parameters/limit" },
            "loop1": { "$ref": "#/parameters/loop2" },
            "loop2": { "$ref": "#/parameters/loop1" } },
        "paths": { "/x/{id}": { "post": get } } });
    import(&doc, &ImportOptions::default()).unwrap()
}

fn body(model: &str) -> Value {
    json!({ "parameters": [{ "name": "b", "in": "body", "schema": { "$ref": format!("#/definitions/{model}") } }] })
}

fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::draft4::new(schema).unwrap()
}

/// A recursive model (through a property) is served and validates recursively, to any depth.
#[test]
fn recursive_models_validate_recursively() {
    let defs = json!({ "Tree": { "type": "object", "required": ["name"],
        "properties": { "name": { "type": "string" },
            "children": { "type": "array", "items": { "$ref": "#/definitions/Tree" } } } } });
    let imported = swagger(defs, body("Tree"));
    assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
    assert_eq!(
        imported.api["resources"]["/x/{id}"]["POST"]["request_models"]["application/json"],
        "Tree"
    );
    let v = validator(&imported.api["models"]["Tree"]);
    let deep = json!({ "name": "a", "children": [{ "name": "b", "children": [{ "name": "c" }] }] });
    assert!(v.is_valid(&deep));
    let bad = json!({ "name": "a", "children": [{ "name": "b", "children": [{ "name": 3 }] }] });
    assert!(!v.is_valid(&bad), "the third level is checked too");
}

/// A cycle with no property or item between has no finite schema: refused with a located
/// warning, and the method whose body names it is left out rather than unvalidated.
#[test]
fn ref_cycles_and_dangling_refs_refuse_the_model_and_its_methods() {
    let defs = json!({
        "A": { "$ref": "#/definitions/B" },
        "B": { "allOf": [{ "$ref": "#/definitions/A" }] },
        "UsesA": { "type": "object", "properties": { "a": { "$ref": "#/definitions/A" } } },
        "Dangling": { "type": "object", "properties": { "x": { "$ref": "#/definitions/Nope" } } },
        "Fine": { "type": "object" } });
    let imported = swagger(defs.clone(), body("A"));
    let w = &imported.warnings;
    assert!(
        w.iter()
            .any(|w| w.starts_with("#/definitions/A: `$ref`s lead back")
                && w.contains("A -> B -> A")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|w| w.starts_with("#/definitions/UsesA: refers to model `A`")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|w| w.starts_with("#/definitions/Dangling/properties/x/$ref: ")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|w| w
                .starts_with("#/paths/~1x~1{id}/post/parameters/0/schema: model `A` is refused")),
        "{w:?}"
    );
    assert_eq!(imported.api["resources"], json!({}));
    let served: Vec<&String> = imported.api["models"].as_object().unwrap().keys().collect();
    assert_eq!(served, ["Fine"]);
    let imported = swagger(defs, body("Dangling"));
    assert_eq!(
        imported.api["resources"],
        json!({}),
        "{:?}",
        imported.warnings
    );
}

/// `$ref` parameters resolve (through chains); a dangling or cyclic one leaves the method out
/// with a warning at the parameter, since it may be a required one.
#[test]
fn ref_parameters_resolve_or_leave_the_method_out() {
    let imported = swagger(
        json!({}),
        json!({ "parameters": [{ "$ref": "#/parameters/alias" }] }),
    );
    assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
    let m = &imported.api["resources"]["/x/{id}"]["POST"];
    assert_eq!(
        m["request_parameters"]["method.request.querystring.limit"],
        true
    );
    for (r, why) in [
        ("#/parameters/nope", "points at nothing"),
        ("#/parameters/loop1", "cycle"),
    ] {
        let imported = swagger(json!({}), json!({ "parameters": [{ "$ref": r }] }));
        assert_eq!(imported.api["resources"], json!({}), "{r}");
        assert!(
            imported.warnings[0].starts_with("#/paths/~1x~1{id}/post/parameters/0: ")
                && imported.warnings[0].contains(why),
            "{:?}",
            imported.warnings
        );
    }
    // OpenAPI 3: components/parameters and components/requestBodies.
    let doc = json!({ "openapi": "3.0.1",
        "components": {
            "parameters": { "key": { "name": "x-key", "in": "header", "required": true } },
            "requestBodies": { "pet": { "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Pet" } } } } },
            "schemas": { "Pet": { "type": "object" } } },
        "paths": { "/p": { "post": { "parameters": [{ "$ref": "#/components/parameters/key" }],
            "requestBody": { "$ref": "#/components/requestBodies/pet" },
            "x-amazon-apigateway-integration": { "type": "mock" } } } } });
    let imported = import(&doc, &ImportOptions::default()).unwrap();
    let m = &imported.api["resources"]["/p"]["POST"];
    assert_eq!(
        m["request_parameters"]["method.request.header.x-key"], true,
        "{:?}",
        imported.warnings
    );
    assert_eq!(m["request_models"]["application/json"], "Pet");
}

/// A path parameter for a segment the path does not have is left out (it can never be
/// present); the method is served. Inline body schemas become models of their own.
#[test]
fn stray_path_parameters_and_inline_bodies() {
    let imported = swagger(
        json!({}),
        json!({ "parameters": [
        { "name": "other", "in": "path", "required": true, "type": "string" },
        { "name": "b", "in": "body", "schema": { "type": "object", "required": ["n"] } }] }),
    );
    let m = &imported.api["resources"]["/x/{id}"]["POST"];
    assert_eq!(m.get("request_parameters"), None);
    assert!(
        imported.warnings[0]
            .starts_with("#/paths/~1x~1{id}/post/parameters/0: path `/x/{id}` has no `{other}`"),
        "{:?}",
        imported.warnings
    );
    assert_eq!(m["request_models"]["application/json"], "XIdPostBody");
    let v = validator(&imported.api["models"]["XIdPostBody"]);
    assert!(!v.is_valid(&json!({})) && v.is_valid(&json!({ "n": 1 })));
}
