//! One operation: its method settings, integration and mappings.

use crate::{esc, number, ref_name, security, Ctx};
use indexmap::IndexMap;
use serde_json::{Map, Value};

pub(crate) fn method_of(
    cx: &mut Ctx<'_>,
    doc: &Value,
    op: &Value,
    path_params: &[Value],
    at: &str,
    default_validator: Option<&str>,
) -> Option<Value> {
    let mut m = Map::new();
    let Some(integ) = op.get("x-amazon-apigateway-integration") else {
        cx.warn(at, "no x-amazon-apigateway-integration; left out");
        return None;
    };
    let integration = integration_of(cx, integ, &format!("{at}/x-amazon-apigateway-integration"))?;
    m.insert("integration".into(), integration);

    // Parameters: required ones are checked by a params validator.
    let mut required = Map::new();
    let params = path_params.iter().chain(
        op.get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten(),
    );
    let mut models = Map::new();
    for p in params {
        let (Some(name), Some(loc)) = (
            p.get("name").and_then(Value::as_str),
            p.get("in").and_then(Value::as_str),
        ) else {
            continue;
        };
        let req = p.get("required").and_then(Value::as_bool).unwrap_or(false);
        let kind = match loc {
            "query" => "querystring",
            "header" => "header",
            "path" => "path",
            "body" => {
                if let Some(model) = p.get("schema").and_then(ref_name) {
                    let consumes = op
                        .get("consumes")
                        .or_else(|| doc.get("consumes"))
                        .and_then(Value::as_array)
                        .and_then(|c| c.first())
                        .and_then(Value::as_str)
                        .unwrap_or("application/json");
                    models.insert(consumes.to_owned(), model.into());
                }
                continue;
            }
            _ => continue,
        };
        if req || kind == "path" {
            required.insert(format!("method.request.{kind}.{name}"), req.into());
        }
    }
    if let Some(content) = op
        .pointer("/requestBody/content")
        .and_then(Value::as_object)
    {
        for (media, c) in content {
            if let Some(model) = c.get("schema").and_then(ref_name) {
                models.insert(media.clone(), model.into());
            }
        }
    }
    let required: Map<String, Value> = required
        .into_iter()
        .filter(|(_, v)| v == &Value::Bool(true))
        .collect();
    if !required.is_empty() {
        m.insert("request_parameters".into(), Value::Object(required));
    }
    if !models.is_empty() {
        m.insert("request_models".into(), Value::Object(models));
    }
    let validator = op
        .get("x-amazon-apigateway-request-validator")
        .and_then(Value::as_str)
        .or(default_validator);
    if let Some(v) = validator {
        m.insert("request_validator".into(), v.into());
    }

    // Security: API keys and authorizers (openapi/security.rs).
    let sec = security::of_operation(cx, doc, op, at)?;
    if sec.api_key {
        m.insert("api_key_required".into(), true.into());
    }
    if let Some(a) = sec.authorizer {
        m.insert("authorizer".into(), a.into());
    }
    Some(Value::Object(m))
}

/// `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:ALIAS]` inside an invoke URI.
pub(crate) fn lambda_function(uri: &str) -> Option<String> {
    let i = uri.find(":function:")?;
    let rest = &uri[i + ":function:".len()..];
    let end = rest.find(['/', ':']).unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

pub(crate) fn rebind_host(uri: &str, backends: &IndexMap<String, String>) -> String {
    for (host, to) in backends {
        for scheme in ["http://", "https://"] {
            if let Some(rest) = uri.strip_prefix(&format!("{scheme}{host}")) {
                if rest.is_empty() || rest.starts_with(['/', ':', '?']) {
                    let rest = match rest.strip_prefix(':') {
                        Some(r) => r.trim_start_matches(|c: char| c.is_ascii_digit()),
                        None => rest,
                    };
                    return format!("http://{to}{rest}");
                }
            }
        }
    }
    uri.to_owned()
}

pub(crate) fn integration_of(cx: &mut Ctx<'_>, integ: &Value, at: &str) -> Option<Value> {
    let ty = integ
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    let uri = integ.get("uri").and_then(Value::as_str).unwrap_or("");
    let timeout = integ
        .get("timeoutInMillis")
        .and_then(number)
        .map(|ms| format!("{ms}ms"));
    let backend_method = integ.get("httpMethod").and_then(Value::as_str);
    for (k, why) in [
        (
            "contentHandling",
            "contentHandling conversions are not served; bodies pass as they are",
        ),
        (
            "cacheKeyParameters",
            "cache keys come from the stage cache settings in gatehouse.yaml",
        ),
        ("connectionType", "VPC links are not served"),
    ] {
        if integ.get(k).is_some() {
            cx.warn(&format!("{at}/{k}"), why);
        }
    }
    let mut out = Map::new();
    match ty.as_str() {
        "http_proxy" => {
            out.insert("type".into(), "http_proxy".into());
            out.insert("uri".into(), rebind_host(uri, &cx.opts.backends).into());
            if let Some(m) = backend_method.filter(|m| !m.eq_ignore_ascii_case("ANY")) {
                out.insert("method".into(), m.to_ascii_uppercase().into());
            }
        }
        "http" => {
            out.insert("type".into(), "http".into());
            out.insert("uri".into(), rebind_host(uri, &cx.opts.backends).into());
            if let Some(m) = backend_method.filter(|m| !m.eq_ignore_ascii_case("ANY")) {
                out.insert("method".into(), m.to_ascii_uppercase().into());
            }
            mapping(cx, integ, at, &mut out);
        }
        "mock" => {
            out.insert("type".into(), "mock".into());
            // As API Gateway runs it: the request template's statusCode selects the
            // integration response, whose template renders the body.
            if integ.get("responses").is_some() {
                mapping(cx, integ, at, &mut out);
                out.remove("request_parameters");
                out.remove("passthrough_behavior");
            }
        }
        "aws_proxy" => {
            let Some(function) = lambda_function(uri) else {
                cx.warn(
                    at,
                    format!("aws_proxy to `{uri}` is not a Lambda function; left out"),
                );
                return None;
            };
            let exported = integ.get("x-gatehouse-plugin").and_then(Value::as_str);
            if let Some(plugin) = cx
                .opts
                .functions
                .get(&function)
                .map(String::as_str)
                .or(exported)
            {
                out.insert("type".into(), "wasm".into());
                out.insert("plugin".into(), plugin.into());
            } else if let Some(endpoint) = &cx.opts.lambda_endpoint {
                out.insert("type".into(), "lambda".into());
                out.insert("endpoint".into(), endpoint.clone().into());
                out.insert("function".into(), function.into());
                if integ.get("payloadFormatVersion").and_then(Value::as_str) == Some("2.0") {
                    out.insert("payload_format".into(), "2.0".into());
                }
                if let Some(t) = &timeout {
                    out.insert("timeout".into(), t.clone().into());
                }
                return Some(Value::Object(out));
            } else {
                cx.warn(at, format!("Lambda function `{function}` is not bound: set openapi.lambda_endpoint or openapi.functions.{function}; left out"));
                return None;
            }
            return Some(Value::Object(out));
        }
        "aws" => {
            let service = uri.split(':').nth(4).unwrap_or("an AWS service");
            cx.warn(
                at,
                format!("an AWS service integration ({service}) is not served; left out"),
            );
            return None;
        }
        other => {
            cx.warn(
                at,
                format!("integration type `{other}` is not known; left out"),
            );
            return None;
        }
    }
    if let Some(t) = timeout {
        out.insert("timeout".into(), t.into());
    }
    Some(Value::Object(out))
}

/// Request parameters, templates, passthrough and integration responses of an `http`
/// integration.
pub(crate) fn mapping(cx: &mut Ctx<'_>, integ: &Value, at: &str, out: &mut Map<String, Value>) {
    if let Some(p) = integ.get("requestParameters").and_then(Value::as_object) {
        let mut params = Map::new();
        for (k, v) in p {
            if k.starts_with("integration.request.path.") {
                cx.warn(
                    &format!("{at}/requestParameters/{}", esc(k)),
                    "path parameters come from the uri template's {name}s; left out",
                );
                continue;
            }
            params.insert(k.clone(), v.clone());
        }
        out.insert("request_parameters".into(), Value::Object(params));
    }
    if let Some(t) = integ.get("requestTemplates") {
        out.insert("request_templates".into(), t.clone());
    }
    if let Some(p) = integ.get("passthroughBehavior").and_then(Value::as_str) {
        out.insert("passthrough_behavior".into(), p.to_ascii_lowercase().into());
    }
    let mut responses = Vec::new();
    let mut default = None;
    for (pattern, r) in integ
        .get("responses")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let mut o = Map::new();
        if pattern != "default" {
            o.insert("selection_pattern".into(), pattern.clone().into());
        }
        if let Some(s) = r.get("statusCode").and_then(number) {
            o.insert("status".into(), s.into());
        }
        if let Some(p) = r.get("responseParameters") {
            o.insert("response_parameters".into(), p.clone());
        }
        if let Some(t) = r.get("responseTemplates") {
            o.insert("response_templates".into(), t.clone());
        }
        if pattern == "default" {
            default = Some(Value::Object(o));
        } else {
            responses.push(Value::Object(o));
        }
    }
    responses.extend(default);
    if !responses.is_empty() {
        out.insert("responses".into(), Value::Array(responses));
    }
}
