//! Every extension of Amazon API Gateway's OpenAPI extensions reference is served or warned.
//!
//! The list follows the reference's table of contents, "OpenAPI extensions for API Gateway"
//! (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions.html),
//! every object and property page, REST and HTTP APIs alike.

use crate::{import, ImportOptions};
use serde_json::{json, Value};

/// What importing a document with the extension must show.
enum Expect {
    /// Served: the native API has a value at this pointer, and nothing is warned.
    Served(&'static str),
    /// Read, with nothing to configure (only `x-amazon-apigateway-importexport-version: 1.0`):
    /// no warning, and the method is served.
    Understood,
    /// Warned at this JSON pointer of the document.
    Warned(&'static str),
}
use Expect::*;

/// `patch` merged into a document with one mock `GET /x`.
fn doc(patch: Value) -> Value {
    let mut d = json!({ "openapi": "3.0.1", "info": { "title": "t", "version": "1" },
        "paths": { "/x": { "get": { "x-amazon-apigateway-integration": {
            "type": "mock", "requestTemplates": { "application/json": "{\"statusCode\": 200}" },
            "responses": { "default": { "statusCode": "200" } } } } } } });
    merge(&mut d, patch);
    d
}

fn merge(into: &mut Value, patch: Value) {
    match (into, patch) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

fn http(extra: Value) -> Value {
    let mut i = json!({ "type": "http", "httpMethod": "GET", "uri": "http://backend.example/x" });
    merge(&mut i, extra);
    json!({ "paths": { "/x": { "get": { "x-amazon-apigateway-integration": i } } } })
}

fn cases() -> Vec<(&'static str, Value, Expect)> {
    let token = json!({ "type": "apiKey", "name": "Authorization", "in": "header",
        "x-amazon-apigateway-authtype": "custom",
        "x-amazon-apigateway-authorizer": { "type": "token", "authorizerUri": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:1:function:Auth/invocations" } });
    vec![
        ("x-amazon-apigateway-any-method",
         json!({ "paths": { "/y": { "x-amazon-apigateway-any-method": { "x-amazon-apigateway-integration": { "type": "mock" } } } } }),
         Served("/resources/~1y/ANY")),
        ("x-amazon-apigateway-cors",
         json!({ "x-amazon-apigateway-cors": { "allowOrigins": ["https://a.example"] } }),
         Served("/cors/allow_origins/0")),
        ("x-amazon-apigateway-api-key-source",
         json!({ "x-amazon-apigateway-api-key-source": "AUTHORIZER" }),
         Served("/api_key_source")),
        ("x-amazon-apigateway-auth",
         json!({ "paths": { "/x": { "get": { "x-amazon-apigateway-auth": { "type": "AWS_IAM" } } } } }),
         Served("/resources/~1x/GET/authorization_type")),
        ("x-amazon-apigateway-authorizer",
         json!({ "components": { "securitySchemes": { "tok": token } },
                 "paths": { "/x": { "get": { "security": [{ "tok": [] }] } } } }),
         Served("/authorizers/tok/plugin")),
        ("x-amazon-apigateway-authtype",
         json!({ "components": { "securitySchemes": { "iam": { "type": "apiKey", "name": "Authorization", "in": "header", "x-amazon-apigateway-authtype": "awsSigv4" } } },
                 "paths": { "/x": { "get": { "security": [{ "iam": [] }] } } } }),
         Served("/resources/~1x/GET/authorization_type")),
        ("x-amazon-apigateway-binary-media-types",
         json!({ "x-amazon-apigateway-binary-media-types": ["image/png"] }),
         Served("/binary_media_types/0")),
        ("x-amazon-apigateway-documentation",
         json!({ "x-amazon-apigateway-documentation": { "version": "1", "documentationParts": [] } }),
         Warned("/x-amazon-apigateway-documentation")),
        ("x-amazon-apigateway-endpoint-access-mode",
         json!({ "x-amazon-apigateway-endpoint-access-mode": "STRICT" }),
         Warned("/x-amazon-apigateway-endpoint-access-mode")),
        ("x-amazon-apigateway-endpoint-configuration",
         json!({ "x-amazon-apigateway-endpoint-configuration": { "disableExecuteApiEndpoint": true } }),
         Warned("/x-amazon-apigateway-endpoint-configuration")),
        ("x-amazon-apigateway-gateway-responses",
         json!({ "x-amazon-apigateway-gateway-responses": { "DEFAULT_4XX": {} } }),
         Served("/gateway_responses/DEFAULT_4XX")),
        ("x-amazon-apigateway-gateway-responses.gatewayResponse",
         json!({ "x-amazon-apigateway-gateway-responses": { "MISSING_AUTHENTICATION_TOKEN": { "statusCode": 404 } } }),
         Served("/gateway_responses/MISSING_AUTHENTICATION_TOKEN/status")),
        ("x-amazon-apigateway-gateway-responses.responseParameters",
         json!({ "x-amazon-apigateway-gateway-responses": { "DEFAULT_5XX": { "responseParameters": { "gatewayresponse.header.x-a": "'b'" } } } }),
         Served("/gateway_responses/DEFAULT_5XX/headers/x-a")),
        ("x-amazon-apigateway-gateway-responses.responseParameters (a request value)",
         json!({ "x-amazon-apigateway-gateway-responses": { "DEFAULT_5XX": { "responseParameters": { "gatewayresponse.header.x-a": "method.request.header.x" } } } }),
         Warned("/x-amazon-apigateway-gateway-responses/DEFAULT_5XX/responseParameters/gatewayresponse.header.x-a")),
        ("x-amazon-apigateway-gateway-responses.responseTemplates",
         json!({ "x-amazon-apigateway-gateway-responses": { "DEFAULT_4XX": { "responseTemplates": { "application/json": "{\"m\": $context.error.messageString}" } } } }),
         Served("/gateway_responses/DEFAULT_4XX/body")),
        ("x-amazon-apigateway-gateway-responses.responseTemplates (not JSON)",
         json!({ "x-amazon-apigateway-gateway-responses": { "DEFAULT_4XX": { "responseTemplates": { "text/plain": "no" } } } }),
         Warned("/x-amazon-apigateway-gateway-responses/DEFAULT_4XX/responseTemplates/text~1plain")),
        ("x-amazon-apigateway-importexport-version",
         json!({ "x-amazon-apigateway-importexport-version": "1.0" }),
         Understood),
        ("x-amazon-apigateway-integration", http(json!({})), Served("/resources/~1x/GET/integration/uri")),
        ("x-amazon-apigateway-integrations",
         json!({ "components": { "x-amazon-apigateway-integrations": { "backend": { "type": "http_proxy", "httpMethod": "GET", "uri": "http://backend.example/shared" } } },
                 "paths": { "/x": { "get": { "x-amazon-apigateway-integration": { "$ref": "#/components/x-amazon-apigateway-integrations/backend" } } } } }),
         Served("/resources/~1x/GET/integration/uri")),
        ("x-amazon-apigateway-integration.requestTemplates",
         http(json!({ "requestTemplates": { "application/json": "{}" } })),
         Served("/resources/~1x/GET/integration/request_templates/application~1json")),
        ("x-amazon-apigateway-integration.requestParameters",
         http(json!({ "requestParameters": { "integration.request.header.x-a": "'b'" } })),
         Served("/resources/~1x/GET/integration/request_parameters/integration.request.header.x-a")),
        ("x-amazon-apigateway-integration.responses",
         http(json!({ "responses": { "4\\d{2}": { "statusCode": "400" } } })),
         Served("/resources/~1x/GET/integration/responses/0/selection_pattern")),
        ("x-amazon-apigateway-integration.response",
         http(json!({ "responses": { "default": { "statusCode": "201" } } })),
         Served("/resources/~1x/GET/integration/responses/0/status")),
        ("x-amazon-apigateway-integration.responseTemplates",
         http(json!({ "responses": { "default": { "responseTemplates": { "application/json": "{}" } } } })),
         Served("/resources/~1x/GET/integration/responses/0/response_templates")),
        ("x-amazon-apigateway-integration.responseParameters",
         http(json!({ "responses": { "default": { "responseParameters": { "method.response.header.x-a": "integration.response.header.x-b" } } } })),
         Served("/resources/~1x/GET/integration/responses/0/response_parameters/method.response.header.x-a")),
        ("x-amazon-apigateway-integration.responseParameters (from the body)",
         http(json!({ "responses": { "default": { "responseParameters": { "method.response.header.x-a": "integration.response.body.a" } } } })),
         Warned("/paths/~1x/get/x-amazon-apigateway-integration/responses/default/responseParameters/method.response.header.x-a")),
        ("x-amazon-apigateway-integration.tlsConfig",
         http(json!({ "tlsConfig": { "insecureSkipVerification": true } })),
         Warned("/paths/~1x/get/x-amazon-apigateway-integration/tlsConfig")),
        ("x-amazon-apigateway-minimum-compression-size",
         json!({ "x-amazon-apigateway-minimum-compression-size": 1024 }),
         Warned("/x-amazon-apigateway-minimum-compression-size")),
        ("x-amazon-apigateway-policy",
         json!({ "x-amazon-apigateway-policy": { "Statement": [{ "Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
             "Resource": "execute-api:/*", "Condition": { "IpAddress": { "aws:SourceIp": "10.0.0.0/8" } } }] } }),
         Served("/resource_policy/allow_source_ips/0")),
        ("x-amazon-apigateway-request-validator",
         json!({ "x-amazon-apigateway-request-validators": { "all": { "validateRequestBody": true } },
                 "paths": { "/x": { "get": { "x-amazon-apigateway-request-validator": "all" } } } }),
         Served("/resources/~1x/GET/request_validator")),
        ("x-amazon-apigateway-request-validators",
         json!({ "x-amazon-apigateway-request-validators": { "params": { "validateRequestParameters": true } } }),
         Served("/request_validators/params")),
        ("x-amazon-apigateway-request-validators.requestValidator",
         json!({ "x-amazon-apigateway-request-validators": { "all": { "validateRequestBody": true, "validateRequestParameters": true } } }),
         Served("/request_validators/all/body")),
        ("x-amazon-apigateway-security-policy",
         json!({ "x-amazon-apigateway-security-policy": "SecurityPolicy_TLS13_1_3_2025_09" }),
         Warned("/x-amazon-apigateway-security-policy")),
        ("x-amazon-apigateway-tag-value",
         json!({ "tags": [{ "name": "owner", "x-amazon-apigateway-tag-value": "team" }] }),
         Warned("/tags/0/x-amazon-apigateway-tag-value")),
    ]
}

#[test]
fn every_extension_of_the_reference_is_served_or_warned() {
    let mut opts = ImportOptions::default();
    opts.authorizers.insert("tok".into(), "tokens".into());
    for (name, patch, expect) in cases() {
        let imported = import(&doc(patch), &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
        let w = &imported.warnings;
        match expect {
            Served(at) => {
                assert!(
                    imported.api.pointer(at).is_some(),
                    "{name}: nothing at {at} in {}",
                    imported.api
                );
                assert!(w.is_empty(), "{name}: {w:?}");
            }
            Understood => {
                assert!(w.is_empty(), "{name}: {w:?}");
                assert!(
                    imported.api.pointer("/resources/~1x/GET").is_some(),
                    "{name}"
                );
            }
            Warned(at) => assert!(
                w.iter().any(|w| w.starts_with(&format!("#{at}: "))),
                "{name}: no warning at #{at}: {w:?}"
            ),
        }
    }
}

/// `x-` keys the reference does not define, on the root, a path item and an operation, are
/// named too (never dropped silently).
#[test]
fn other_extensions_are_warned_where_they_are() {
    let d = doc(json!({ "x-team": "a", "x-amazon-apigateway-nope": 1,
        "paths": { "/x": { "x-owner": "b", "get": { "x-trace": true } } } }));
    let imported = import(&d, &ImportOptions::default()).unwrap();
    for at in [
        "/x-team",
        "/x-amazon-apigateway-nope",
        "/paths/~1x/x-owner",
        "/paths/~1x/get/x-trace",
    ] {
        assert!(
            imported
                .warnings
                .iter()
                .any(|w| w.starts_with(&format!("#{at}: "))),
            "{at}: {:?}",
            imported.warnings
        );
    }
    assert!(
        imported.api.pointer("/resources/~1x/GET").is_some(),
        "still served"
    );
}
