//! Import and export against the documents in `testdata/openapi`.

mod extensions;
mod integrations;
mod models;

use super::*;
use crate::integration::{lambda_function, rebind_host};
use indexmap::IndexMap;
use serde_json::json;

fn doc(name: &str) -> Value {
    let p = format!("{}/testdata/openapi/{name}", env!("CARGO_MANIFEST_DIR"));
    parse(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// import(export(x)) is x for every API an import produced (and thus for the documents).
#[test]
fn export_then_import_gives_the_same_api() {
    let dir = format!("{}/testdata/openapi", env!("CARGO_MANIFEST_DIR"));
    let opts = ImportOptions {
        lambda_endpoint: Some("http://127.0.0.1:9001".into()),
        ..ImportOptions::default()
    };
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let first = import(&doc(path.file_name().unwrap().to_str().unwrap()), &opts).unwrap();
        let mut native = first.api.clone();
        native["name"] = "x".into();
        let exported = export(&native);
        let again = import(&exported, &opts).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(again.api, first.api, "{}", path.display());
        assert!(
            again.warnings.is_empty() || !first.warnings.is_empty(),
            "{:?}",
            again.warnings
        );
    }
}

/// A method with an API key and an authorizer exports as one requirement object (both
/// apply) and imports back with both.
#[test]
fn api_key_and_authorizer_round_trip_as_one_requirement() {
    let native = json!({ "name": "x",
        "authorizers": { "tok": { "plugin": "p", "identity_sources": ["method.request.header.Authorization"], "ttl": "300s" } },
        "resources": { "/a": { "GET": { "api_key_required": true, "authorizer": "tok",
            "integration": { "type": "mock" } } } } });
    let exported = export(&native);
    assert_eq!(
        exported.pointer("/paths/~1a/get/security"),
        Some(&json!([{ "api_key": [], "tok": [] }]))
    );
    let again = import(&exported, &ImportOptions::default()).unwrap();
    let m = &again.api["resources"]["/a"]["GET"];
    assert_eq!(m["api_key_required"], true, "{:?}", again.warnings);
    assert_eq!(m["authorizer"], "tok");
}

#[test]
fn source_ip_policies_import_and_export() {
    let doc = json!({
        "openapi": "3.0.1",
        "paths": {},
        "x-amazon-apigateway-policy": { "Version": "2012-10-17", "Statement": [
            { "Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*" },
            { "Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
              "Condition": { "NotIpAddress": { "aws:SourceIp": ["10.0.0.0/8", "192.0.2.1"] } } },
            { "Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
              "Condition": { "IpAddress": { "aws:SourceIp": "10.9.0.0/16" } } },
            { "Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
              "Condition": { "StringNotEquals": { "aws:SourceVpce": "vpce-1" } } }
        ] }
    });
    let imported = import(&doc, &ImportOptions::default()).unwrap();
    assert_eq!(
        imported.api["resource_policy"],
        json!({ "allow_source_ips": ["10.0.0.0/8", "192.0.2.1"], "deny_source_ips": ["10.9.0.0/16"] })
    );
    assert_eq!(imported.warnings.len(), 1, "{:?}", imported.warnings);
    assert!(imported.warnings[0]
        .starts_with("#/x-amazon-apigateway-policy/Statement/3/Condition/StringNotEquals"));
    let mut native = imported.api.clone();
    native["name"] = "x".into();
    let again = import(&export(&native), &ImportOptions::default()).unwrap();
    assert_eq!(again.api, imported.api);
}

#[test]
fn lambda_arns_and_hosts_are_rebound() {
    assert_eq!(
        lambda_function("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123:function:Calc:live/invocations"),
        Some("Calc".into())
    );
    let mut b = IndexMap::new();
    b.insert(
        "petstore.example.com".to_owned(),
        "127.0.0.1:9000".to_owned(),
    );
    assert_eq!(
        rebind_host("https://petstore.example.com/pets/{id}", &b),
        "http://127.0.0.1:9000/pets/{id}"
    );
    assert_eq!(
        rebind_host("https://petstore.example.com:443/x", &b),
        "http://127.0.0.1:9000/x"
    );
    assert_eq!(
        rebind_host("https://other.example.com/x", &b),
        "https://other.example.com/x"
    );
}

/// Every document of the shared test material imports: what cannot be served is left out
/// with a warning whose JSON pointer names a place in the document, and the methods API
/// Gateway would serve that Gatehouse can (all but the S3 and Kinesis service integrations,
/// developer guide "Tutorial: Create a REST API as an Amazon S3 proxy" / "... Kinesis proxy")
/// are served.
#[test]
fn every_shared_document_imports_with_warnings_naming_places() {
    let dir = format!("{}/testdata/openapi", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    // Served methods with openapi.lambda_endpoint set (S3 and Kinesis: none, each warned).
    let served: [(&str, usize); 8] = [
        ("awsdocs-image-lambda-binary.oas30.json", 2),
        ("awsdocs-kinesis-proxy.oas30.json", 0),
        ("awsdocs-lambda-proxy-validators.swagger2.json", 3),
        ("awsdocs-petstore-request-validation.swagger2.json", 2),
        ("awsdocs-s3-proxy.swagger2.json", 0),
        ("awsdocs-simple-calc-models-templates.swagger2.json", 5),
        // The Lambda token authorizer of `GET /` is served on the Lambda endpoint.
        ("localstack-petstore-authorizer.swagger.json", 3),
        ("localstack-swagger-mock-cors.json", 4),
    ];
    assert_eq!(
        names,
        served.map(|(n, _)| n),
        "a new document needs its line here"
    );
    let opts = ImportOptions {
        lambda_endpoint: Some("http://127.0.0.1:9001".into()),
        ..ImportOptions::default()
    };
    for (n, count) in served {
        let d = doc(n);
        let imported = import(&d, &opts).unwrap_or_else(|e| panic!("{n}: {e}"));
        for w in &imported.warnings {
            let ptr = w
                .strip_prefix('#')
                .and_then(|w| w.split_once(": "))
                .map(|(p, _)| p);
            assert!(
                ptr.is_some_and(|p| p.is_empty() || d.pointer(p).is_some()),
                "{n}: the warning names no place in the document: {w}"
            );
        }
        let methods: usize = imported.api["resources"]
            .as_object()
            .unwrap()
            .values()
            .map(|m| m.as_object().map_or(0, |m| m.len()))
            .sum();
        assert_eq!(methods, count, "{n}: {:?}", imported.warnings);
        if count == 0 {
            assert!(!imported.warnings.is_empty(), "{n}");
        }
    }
    // AWS service integrations are named, not dropped silently.
    let s3 = import(&doc("awsdocs-s3-proxy.swagger2.json"), &opts).unwrap();
    assert!(
        s3.warnings
            .iter()
            .any(|w| w.contains("AWS service integration (s3)")),
        "{:?}",
        s3.warnings
    );
    let jwt = json!({
        "openapi": "3.0.1",
        "components": { "securitySchemes": { "jwt": { "type": "oauth2",
            "x-amazon-apigateway-authorizer": { "type": "jwt", "identitySource": "$request.header.Authorization" } } } },
        "paths": { "/me": { "get": { "security": [{ "jwt": [] }],
            "x-amazon-apigateway-integration": { "type": "mock" } } } }
    });
    let imported = import(&jwt, &opts).unwrap();
    assert_eq!(
        imported.api["resources"],
        json!({}),
        "never served without its authorizer"
    );
    assert!(
        imported.warnings[0].starts_with(
            "#/components/securitySchemes/jwt/x-amazon-apigateway-authorizer: a jwt authorizer needs jwtConfiguration.issuer"
        ),
        "{:?}",
        imported.warnings
    );
    // With its issuer, it is a JWT authorizer; the requirement's scopes go with the method.
    let mut jwt = jwt;
    jwt["components"]["securitySchemes"]["jwt"]["x-amazon-apigateway-authorizer"]
        ["jwtConfiguration"] = json!({ "issuer": "https://issuer.example", "audience": ["app"] });
    jwt["paths"]["/me"]["get"]["security"] = json!([{ "jwt": ["profile"] }]);
    let imported = import(&jwt, &opts).unwrap();
    assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
    assert_eq!(
        imported.api["authorizers"]["jwt"],
        json!({ "type": "jwt", "identity_sources": ["header.Authorization"],
            "jwt": { "issuer": "https://issuer.example", "audiences": ["app"] } })
    );
    assert_eq!(
        imported.api["resources"]["/me"]["GET"]["authorization_scopes"],
        json!(["profile"])
    );
    let kinesis = import(&doc("awsdocs-kinesis-proxy.oas30.json"), &opts).unwrap();
    assert!(
        kinesis.warnings.iter().any(|w| w.contains("(kinesis)")),
        "{:?}",
        kinesis.warnings
    );
}
