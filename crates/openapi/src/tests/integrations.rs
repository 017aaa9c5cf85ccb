//! Every setting of `x-amazon-apigateway-integration`, on every integration type Gatehouse
//! serves, is served (it changes the imported method) or warned at its JSON pointer.
//!
//! Settings and types as the API Gateway extensions reference describes them
//! ("x-amazon-apigateway-integration object"): `http`, `http_proxy`, `mock`, `aws_proxy` and
//! `aws` (here a non-proxy Lambda integration, which the developer guide's "Set up a Lambda
//! custom integration" describes).

use crate::{import, ImportOptions};
use serde_json::{json, Value};

fn integrations() -> Vec<(&'static str, Value)> {
    let lambda = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:1:function:Calc/invocations";
    vec![
        (
            "http",
            json!({ "type": "http", "httpMethod": "GET", "uri": "http://backend.example/x/{id}" }),
        ),
        (
            "http_proxy",
            json!({ "type": "http_proxy", "httpMethod": "GET", "uri": "http://backend.example/x/{id}" }),
        ),
        (
            "mock",
            json!({ "type": "mock", "responses": { "default": { "statusCode": "200" } } }),
        ),
        (
            "aws_proxy",
            json!({ "type": "aws_proxy", "httpMethod": "POST", "uri": lambda }),
        ),
        (
            "aws (Lambda)",
            json!({ "type": "aws", "httpMethod": "POST", "uri": lambda }),
        ),
    ]
}

fn settings() -> Vec<(&'static str, Value)> {
    vec![
        (
            "requestParameters",
            json!({ "integration.request.header.x-id": "method.request.path.id" }),
        ),
        (
            "requestTemplates",
            json!({ "application/json": "{\"statusCode\": 200}" }),
        ),
        ("passthroughBehavior", json!("NEVER")),
        ("credentials", json!("arn:aws:iam::1:role/apigateway")),
        ("tlsConfig", json!({ "insecureSkipVerification": true })),
        ("cacheNamespace", json!("ns1")),
        ("cacheKeyParameters", json!(["method.request.header.x-id"])),
        ("contentHandling", json!("CONVERT_TO_TEXT")),
        ("timeoutInMillis", json!(5000)),
        ("connectionType", json!("VPC_LINK")),
        ("connectionId", json!("vpclink1")),
    ]
}

fn method(integration: &Value) -> (Value, Vec<String>) {
    let doc = json!({ "openapi": "3.0.1",
        "paths": { "/x/{id}": { "get": { "x-amazon-apigateway-integration": integration } } } });
    let opts = ImportOptions {
        lambda_endpoint: Some("http://127.0.0.1:9001".into()),
        ..ImportOptions::default()
    };
    let imported = import(&doc, &opts).unwrap();
    let m = imported
        .api
        .pointer("/resources/~1x~1{id}/GET")
        .cloned()
        .unwrap_or(Value::Null);
    (m, imported.warnings)
}

#[test]
fn every_setting_on_every_type_is_served_or_warned() {
    for (ty, base) in integrations() {
        let (plain, w) = method(&base);
        assert!(plain.is_object() && w.is_empty(), "{ty}: {plain} {w:?}");
        for (key, value) in settings() {
            let mut integ = base.clone();
            integ[key] = value;
            let (m, w) = method(&integ);
            let at = format!("#/paths/~1x~1{{id}}/get/x-amazon-apigateway-integration/{key}");
            let warned = w
                .iter()
                .any(|w| w.starts_with(&format!("{at}: ")) || w.starts_with(&format!("{at}/")));
            assert!(
                warned || (m.is_object() && m != plain),
                "{ty}.{key}: neither served nor warned: {m} {w:?}"
            );
            assert!(
                m.is_object(),
                "{ty}.{key}: a setting never leaves the method out: {w:?}"
            );
        }
    }
}

/// What each served setting becomes, for the type that serves it.
#[test]
fn served_settings_map_into_the_method() {
    let (m, w) = method(
        &json!({ "type": "http", "httpMethod": "GET", "uri": "http://b.example/x",
        "timeoutInMillis": 5000, "passthroughBehavior": "WHEN_NO_TEMPLATES", "connectionType": "INTERNET",
        "cacheKeyParameters": ["method.request.header.x-id", "method.request.path.id"],
        "requestParameters": { "integration.request.querystring.id": "method.request.path.id" } }),
    );
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(m["integration"]["timeout"], "5000ms");
    assert_eq!(
        m["integration"]["passthrough_behavior"],
        "when_no_templates"
    );
    assert_eq!(
        m["integration"]["request_parameters"]["integration.request.querystring.id"],
        "method.request.path.id"
    );
    // The path is always part of the cache key.
    assert_eq!(
        m["cache"],
        json!({ "key_parameters": ["method.request.header.x-id"] })
    );
    // A non-proxy Lambda integration calls Lambda's invoke API with the mapped request.
    let (m, _) = method(&integrations()[4].1);
    assert_eq!(
        m["integration"]["uri"],
        "http://127.0.0.1:9001/2015-03-31/functions/Calc/invocations"
    );
    assert_eq!(m["integration"]["method"], "POST");
}

/// What the proxy would refuse when compiling (so the whole API) is caught per method.
#[test]
fn what_the_gateway_cannot_compile_leaves_one_method_out() {
    let bad_template = json!({ "type": "http", "uri": "http://b.example/x",
        "requestTemplates": { "application/json": "#if(" } });
    let (m, w) = method(&bad_template);
    assert_eq!(m, Value::Null);
    assert!(w[0].starts_with("#/paths/~1x~1{id}/get/x-amazon-apigateway-integration/requestTemplates/application~1json: "), "{w:?}");
    let bad_pattern = json!({ "type": "http", "uri": "http://b.example/x",
        "responses": { "(": { "statusCode": "400" } } });
    let (m, w) = method(&bad_pattern);
    assert_eq!(m, Value::Null, "{w:?}");
    // A substitution left in the document (CloudFormation's `${uri}`, as in LocalStack's
    // petstore) or a `{name}` the path lacks: the proxy would refuse the whole API.
    for (uri, why) in [
        ("https://b.example/${uri}", "is not a stage variable"),
        ("https://b.example/{other}", "is not a path parameter"),
        ("${uri}", "is not an http:// or https:// URL"),
    ] {
        let (m, w) = method(&json!({ "type": "http_proxy", "uri": uri }));
        assert_eq!(m, Value::Null, "{uri}");
        assert!(
            w[0].contains("/x-amazon-apigateway-integration/uri: ") && w[0].contains(why),
            "{w:?}"
        );
    }
    // An unknown mapping source is one mapping left out; the method is served.
    let (m, w) = method(&json!({ "type": "http", "uri": "http://b.example/x",
        "requestParameters": { "integration.request.header.a": "method.request.multivalueheader.a" } }));
    assert_eq!(m["integration"]["request_parameters"], json!({}));
    assert!(
        w[0].contains("/requestParameters/integration.request.header.a: "),
        "{w:?}"
    );
}
