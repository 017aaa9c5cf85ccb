//! The native config of one API to an OpenAPI 3 document with API Gateway's extensions.

use crate::number;
use serde_json::{json, Map, Value};

/// Writes the native config of one API (an `apis[]` entry, as JSON) as an OpenAPI 3 document
/// with API Gateway's extensions. Plugins are named in `x-gatehouse-plugin` and Lambda
/// functions in API Gateway-style ARNs, so that importing the result gives the same API.
pub fn export(api: &Value) -> Value {
    let name = api.get("name").and_then(Value::as_str).unwrap_or("api");
    let mut doc = Map::new();
    doc.insert("openapi".into(), "3.0.1".into());
    doc.insert("info".into(), json!({ "title": name, "version": "1.0" }));
    let mut schemes = Map::new();
    let mut paths = Map::new();
    let authorizers = api.get("authorizers").and_then(Value::as_object);
    for (path, methods) in api
        .get("resources")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let mut item = Map::new();
        for (method, m) in methods.as_object().into_iter().flatten() {
            let key = if method == "ANY" {
                "x-amazon-apigateway-any-method".to_owned()
            } else {
                method.to_ascii_lowercase()
            };
            let mut op = Map::new();
            let mut params = Vec::new();
            for (p, required) in m
                .get("request_parameters")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let rest = p.strip_prefix("method.request.").unwrap_or(p);
                let Some((kind, pname)) = rest.split_once('.') else {
                    continue;
                };
                let loc = match kind {
                    "querystring" => "query",
                    other => other,
                };
                params.push(json!({ "name": pname, "in": loc, "required": required, "schema": { "type": "string" } }));
            }
            if !params.is_empty() {
                op.insert("parameters".into(), Value::Array(params));
            }
            if let Some(models) = m.get("request_models").and_then(Value::as_object) {
                let content: Map<String, Value> = models
                    .iter()
                    .map(|(media, model)| {
                        let r = format!("#/components/schemas/{}", model.as_str().unwrap_or(""));
                        (media.clone(), json!({ "schema": { "$ref": r } }))
                    })
                    .collect();
                op.insert("requestBody".into(), json!({ "content": content }));
            }
            if let Some(v) = m.get("request_validator") {
                op.insert("x-amazon-apigateway-request-validator".into(), v.clone());
            }
            // One requirement object: its schemes all apply (separate objects would be
            // alternatives).
            let mut security = Map::new();
            if m.get("api_key_required").and_then(Value::as_bool) == Some(true) {
                schemes.insert(
                    "api_key".into(),
                    json!({ "type": "apiKey", "name": "x-api-key", "in": "header" }),
                );
                security.insert("api_key".into(), json!([]));
            }
            if m.get("authorization_type").and_then(Value::as_str) == Some("AWS_IAM") {
                schemes.insert(
                    "sigv4".into(),
                    json!({ "type": "apiKey", "name": "Authorization", "in": "header",
                        "x-amazon-apigateway-authtype": "awsSigv4" }),
                );
                security.insert("sigv4".into(), json!([]));
            }
            if let Some(a) = m.get("authorizer").and_then(Value::as_str) {
                let scopes = m.get("authorization_scopes").cloned().unwrap_or(json!([]));
                security.insert(a.into(), scopes);
                if let Some(def) = authorizers.and_then(|all| all.get(a)) {
                    schemes.insert(a.to_owned(), authorizer_scheme(def));
                }
            }
            if !security.is_empty() {
                op.insert("security".into(), json!([security]));
            }
            op.insert(
                "responses".into(),
                json!({ "200": { "description": "OK" } }),
            );
            if let Some(i) = m.get("integration") {
                let mut integration = export_integration(i);
                // API Gateway keeps a method's cache key parameters on its integration.
                if let (Some(keys), Some(o)) = (
                    m.pointer("/cache/key_parameters"),
                    integration.as_object_mut(),
                ) {
                    o.insert("cacheKeyParameters".into(), keys.clone());
                }
                op.insert("x-amazon-apigateway-integration".into(), integration);
            }
            item.insert(key, Value::Object(op));
        }
        paths.insert(path.clone(), Value::Object(item));
    }
    doc.insert("paths".into(), Value::Object(paths));
    let mut components = Map::new();
    if let Some(models) = api.get("models") {
        components.insert("schemas".into(), models.clone());
    }
    if !schemes.is_empty() {
        components.insert("securitySchemes".into(), Value::Object(schemes));
    }
    if !components.is_empty() {
        doc.insert("components".into(), Value::Object(components));
    }
    if let Some(vs) = api.get("request_validators").and_then(Value::as_object) {
        let out: Map<String, Value> = vs
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    json!({
                        "validateRequestBody": v.get("body").and_then(Value::as_bool).unwrap_or(false),
                        "validateRequestParameters": v.get("params").and_then(Value::as_bool).unwrap_or(false),
                    }),
                )
            })
            .collect();
        doc.insert(
            "x-amazon-apigateway-request-validators".into(),
            Value::Object(out),
        );
    }
    for (native, ext) in [
        ("api_key_source", "x-amazon-apigateway-api-key-source"),
        (
            "binary_media_types",
            "x-amazon-apigateway-binary-media-types",
        ),
    ] {
        if let Some(v) = api.get(native) {
            doc.insert(ext.into(), v.clone());
        }
    }
    if let Some(c) = api.get("cors").and_then(Value::as_object) {
        let mut out = Map::new();
        for (native, ext) in [
            ("allow_origins", "allowOrigins"),
            ("allow_methods", "allowMethods"),
            ("allow_headers", "allowHeaders"),
            ("expose_headers", "exposeHeaders"),
            ("max_age", "maxAge"),
            ("allow_credentials", "allowCredentials"),
        ] {
            if let Some(v) = c.get(native) {
                out.insert(ext.into(), v.clone());
            }
        }
        doc.insert("x-amazon-apigateway-cors".into(), Value::Object(out));
    }
    if let Some(p) = api.get("resource_policy") {
        let mut statements = Vec::new();
        for (field, effect, op) in [
            ("allow_source_ips", "Deny", "NotIpAddress"),
            ("deny_source_ips", "Deny", "IpAddress"),
        ] {
            if let Some(list) = p
                .get(field)
                .and_then(Value::as_array)
                .filter(|l| !l.is_empty())
            {
                statements.push(json!({
                    "Effect": effect, "Principal": "*", "Action": "execute-api:Invoke",
                    "Resource": "execute-api:/*", "Condition": { op: { "aws:SourceIp": list } },
                }));
            }
        }
        doc.insert(
            "x-amazon-apigateway-policy".into(),
            json!({ "Version": "2012-10-17", "Statement": statements }),
        );
    }
    if let Some(gr) = api.get("gateway_responses").and_then(Value::as_object) {
        let mut out = Map::new();
        for (ty, r) in gr {
            let mut o = Map::new();
            if let Some(s) = r.get("status").and_then(number) {
                o.insert("statusCode".into(), s.to_string().into());
            }
            if let Some(h) = r.get("headers").and_then(Value::as_object) {
                let params: Map<String, Value> = h
                    .iter()
                    .map(|(k, v)| {
                        (
                            format!("gatewayresponse.header.{k}"),
                            format!("'{}'", v.as_str().unwrap_or("")).into(),
                        )
                    })
                    .collect();
                o.insert("responseParameters".into(), Value::Object(params));
            }
            if let Some(b) = r.get("body") {
                o.insert("responseTemplates".into(), json!({ "application/json": b }));
            }
            out.insert(ty.clone(), Value::Object(o));
        }
        doc.insert(
            "x-amazon-apigateway-gateway-responses".into(),
            Value::Object(out),
        );
    }
    Value::Object(doc)
}

pub(crate) fn lambda_arn(function: &str) -> String {
    format!("arn:aws:apigateway:local:lambda:path/2015-03-31/functions/arn:aws:lambda:local:000000000000:function:{function}/invocations")
}

pub(crate) fn authorizer_scheme(def: &Value) -> Value {
    let sources: Vec<String> = def
        .get("identity_sources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|s| {
            if let Some(h) = s.strip_prefix("header.") {
                format!("method.request.header.{h}")
            } else if let Some(q) = s.strip_prefix("query.") {
                format!("method.request.querystring.{q}")
            } else {
                s.to_owned()
            }
        })
        .collect();
    let header = sources
        .iter()
        .find_map(|s| s.strip_prefix("method.request.header."))
        .unwrap_or("Authorization")
        .to_owned();
    let ttl = def
        .get("ttl")
        .and_then(Value::as_str)
        .and_then(gatehouse_config::parse_duration)
        .map_or(300, |d| d.as_secs());
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_owned();
    match def.get("type").and_then(Value::as_str) {
        Some("lambda") => {
            let l = def.get("lambda").cloned().unwrap_or_default();
            let mut a = Map::new();
            let payload = text(l.get("payload")).to_ascii_lowercase();
            let payload = if payload.is_empty() {
                "request".to_owned()
            } else {
                payload
            };
            a.insert("type".into(), payload.into());
            a.insert("identitySource".into(), sources.join(", ").into());
            a.insert("authorizerResultTtlInSeconds".into(), ttl.into());
            a.insert(
                "authorizerUri".into(),
                lambda_arn(&text(l.get("function"))).into(),
            );
            for (native, ext) in [
                ("payload_format_version", "authorizerPayloadFormatVersion"),
                (
                    "identity_validation_expression",
                    "identityValidationExpression",
                ),
            ] {
                if let Some(v) = l.get(native) {
                    a.insert(ext.into(), v.clone());
                }
            }
            if l.get("simple_responses").and_then(Value::as_bool) == Some(true) {
                a.insert("enableSimpleResponses".into(), true.into());
            }
            return json!({
                "type": "apiKey", "name": header, "in": "header",
                "x-amazon-apigateway-authtype": "custom",
                "x-amazon-apigateway-authorizer": a,
            });
        }
        Some("cognito") => {
            let issuer = text(def.get("jwt").and_then(|j| j.get("issuer")));
            // `https://cognito-idp.REGION.amazonaws.com/POOL_ID` names the pool; an issuer
            // bound elsewhere is kept in `x-gatehouse-issuer`.
            let pool = issuer
                .strip_prefix("https://cognito-idp.")
                .and_then(|r| r.split_once(".amazonaws.com/"));
            let arn = match pool {
                Some((region, id)) => {
                    format!("arn:aws:cognito-idp:{region}:000000000000:userpool/{id}")
                }
                None => "arn:aws:cognito-idp:local:000000000000:userpool/local".to_owned(),
            };
            return json!({
                "type": "apiKey", "name": header, "in": "header",
                "x-amazon-apigateway-authtype": "cognito_user_pools",
                "x-amazon-apigateway-authorizer": {
                    "type": "cognito_user_pools",
                    "providerARNs": [arn],
                    "identitySource": sources.join(", "),
                },
            });
        }
        Some("jwt") => {
            let j = def.get("jwt").cloned().unwrap_or_default();
            let source = sources
                .first()
                .and_then(|s| s.strip_prefix("method.request."))
                .map_or("$request.header.Authorization".to_owned(), |s| {
                    format!("$request.{s}")
                });
            return json!({
                "type": "oauth2",
                "flows": {},
                "x-amazon-apigateway-authorizer": {
                    "type": "jwt",
                    "identitySource": source,
                    "jwtConfiguration": {
                        "issuer": text(j.get("issuer")),
                        "audience": j.get("audiences").cloned().unwrap_or(json!([])),
                    },
                },
            });
        }
        _ => {}
    }
    let plugin = def.get("plugin").and_then(Value::as_str).unwrap_or("");
    let mut a = json!({
        "type": "request",
        "identitySource": sources.join(", "),
        "authorizerResultTtlInSeconds": ttl,
        "authorizerUri": lambda_arn(plugin),
        "x-gatehouse-plugin": plugin,
    });
    // A validation expression is a TOKEN authorizer's setting in API Gateway.
    if let Some(re) = def.get("identity_validation_expression") {
        a["type"] = "token".into();
        a["identitySource"] = format!("method.request.header.{header}").into();
        a["identityValidationExpression"] = re.clone();
    }
    json!({
        "type": "apiKey",
        "name": header,
        "in": "header",
        "x-amazon-apigateway-authtype": "custom",
        "x-amazon-apigateway-authorizer": a,
    })
}

/// Native integration responses as API Gateway's `responses` map (pattern or `default`).
pub(crate) fn export_responses(i: &Value) -> Value {
    let mut responses = Map::new();
    for r in i
        .get("responses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = r
            .get("selection_pattern")
            .and_then(Value::as_str)
            .unwrap_or("default");
        let mut o = Map::new();
        o.insert(
            "statusCode".into(),
            r.get("status")
                .and_then(number)
                .unwrap_or(200)
                .to_string()
                .into(),
        );
        for (native, ext) in [
            ("response_parameters", "responseParameters"),
            ("response_templates", "responseTemplates"),
        ] {
            if let Some(v) = r.get(native) {
                o.insert(ext.into(), v.clone());
            }
        }
        responses.insert(key.to_owned(), Value::Object(o));
    }
    Value::Object(responses)
}

pub(crate) fn export_integration(i: &Value) -> Value {
    let ty = i.get("type").and_then(Value::as_str).unwrap_or("");
    let mut out = Map::new();
    let timeout = i
        .get("timeout")
        .and_then(Value::as_str)
        .and_then(gatehouse_config::parse_duration)
        .map(|d| d.as_millis() as u64);
    match ty {
        "http_proxy" | "http" => {
            out.insert("type".into(), ty.into());
            out.insert("uri".into(), i.get("uri").cloned().unwrap_or_default());
            out.insert(
                "httpMethod".into(),
                i.get("method").cloned().unwrap_or_else(|| "ANY".into()),
            );
            if ty == "http" {
                for (native, ext) in [
                    ("request_parameters", "requestParameters"),
                    ("request_templates", "requestTemplates"),
                ] {
                    if let Some(v) = i.get(native) {
                        out.insert(ext.into(), v.clone());
                    }
                }
                if let Some(p) = i.get("passthrough_behavior").and_then(Value::as_str) {
                    out.insert("passthroughBehavior".into(), p.to_ascii_uppercase().into());
                }
                if i.get("responses").is_some() {
                    out.insert("responses".into(), export_responses(i));
                }
            }
        }
        "mock" if i.get("responses").is_some() => {
            out.insert("type".into(), "mock".into());
            if let Some(t) = i.get("request_templates") {
                out.insert("requestTemplates".into(), t.clone());
            }
            out.insert("responses".into(), export_responses(i));
        }
        "mock" => {
            let status = i.get("status").and_then(number).unwrap_or(200);
            out.insert("type".into(), "mock".into());
            out.insert(
                "requestTemplates".into(),
                json!({ "application/json": format!("{{\"statusCode\": {status}}}") }),
            );
            let mut r = Map::new();
            r.insert("statusCode".into(), status.to_string().into());
            if let Some(h) = i.get("headers").and_then(Value::as_object) {
                let params: Map<String, Value> = h
                    .iter()
                    .map(|(k, v)| {
                        (
                            format!("method.response.header.{k}"),
                            format!("'{}'", v.as_str().unwrap_or("")).into(),
                        )
                    })
                    .collect();
                r.insert("responseParameters".into(), Value::Object(params));
            }
            if let Some(b) = i.get("body") {
                r.insert("responseTemplates".into(), json!({ "application/json": b }));
            }
            out.insert("responses".into(), json!({ "default": r }));
        }
        "lambda" | "wasm" => {
            let function = i
                .get(if ty == "lambda" { "function" } else { "plugin" })
                .and_then(Value::as_str)
                .unwrap_or("");
            out.insert("type".into(), "aws_proxy".into());
            out.insert("httpMethod".into(), "POST".into());
            out.insert("uri".into(), lambda_arn(function).into());
            if ty == "wasm" {
                out.insert("x-gatehouse-plugin".into(), function.into());
            }
            if i.get("payload_format").and_then(Value::as_str) == Some("2.0") {
                out.insert("payloadFormatVersion".into(), "2.0".into());
            }
        }
        other => {
            out.insert("type".into(), other.into());
        }
    }
    if let Some(ms) = timeout {
        out.insert("timeoutInMillis".into(), ms.into());
    }
    Value::Object(out)
}
