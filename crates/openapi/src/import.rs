//! A document to the native config of one API, walking its paths and operations.

use crate::operation::method_of;
use crate::{esc, Ctx, ImportOptions, Imported, METHODS};
use serde_json::{json, Map, Value};

pub fn import(doc: &Value, opts: &ImportOptions) -> Result<Imported, String> {
    let swagger2 = doc.get("swagger").is_some();
    if !swagger2 && doc.get("openapi").is_none() {
        return Err(
            "not an OpenAPI 3 or Swagger 2 document (no `openapi` or `swagger` field)".into(),
        );
    }
    let schemes = if swagger2 {
        doc.get("securityDefinitions")
    } else {
        doc.pointer("/components/securitySchemes")
    }
    .and_then(Value::as_object)
    .cloned()
    .unwrap_or_default();
    let mut cx = Ctx {
        opts,
        warnings: Vec::new(),
        schemes,
        authorizers: Map::new(),
    };
    let mut api = Map::new();

    // Models: definitions (Swagger 2) or components/schemas (OpenAPI 3), each carrying the
    // others so `$ref`s between them resolve.
    let defs_ptr = if swagger2 {
        "/definitions"
    } else {
        "/components/schemas"
    };
    let defs = doc
        .pointer(defs_ptr)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut models = Map::new();
    let rewritten: Map<String, Value> = defs
        .iter()
        .map(|(k, v)| (k.clone(), rewrite_refs(v)))
        .collect();
    for (name, schema) in &rewritten {
        let mut m = match schema {
            Value::Object(o) => o.clone(),
            _ => {
                cx.warn(
                    &format!("{defs_ptr}/{}", esc(name)),
                    "not a schema object; left out",
                );
                continue;
            }
        };
        // A model that refers to others carries them, so its `$ref`s resolve on its own.
        if has_ref(schema) {
            m.entry("definitions")
                .or_insert_with(|| Value::Object(rewritten.clone()));
        }
        models.insert(name.clone(), Value::Object(m));
    }
    if !models.is_empty() {
        api.insert("models".into(), Value::Object(models));
    }

    // Request validators.
    if let Some(vs) = doc
        .get("x-amazon-apigateway-request-validators")
        .and_then(Value::as_object)
    {
        let mut out = Map::new();
        for (name, v) in vs {
            out.insert(
                name.clone(),
                json!({
                    "body": v.get("validateRequestBody").and_then(Value::as_bool).unwrap_or(false),
                    "params": v.get("validateRequestParameters").and_then(Value::as_bool).unwrap_or(false),
                }),
            );
        }
        api.insert("request_validators".into(), Value::Object(out));
    }
    let default_validator = doc
        .get("x-amazon-apigateway-request-validator")
        .and_then(Value::as_str);

    if let Some(src) = doc
        .get("x-amazon-apigateway-api-key-source")
        .and_then(Value::as_str)
    {
        api.insert("api_key_source".into(), src.into());
    }
    if let Some(types) = doc
        .get("x-amazon-apigateway-binary-media-types")
        .and_then(Value::as_array)
    {
        api.insert("binary_media_types".into(), Value::Array(types.clone()));
    }
    if let Some(c) = doc.get("x-amazon-apigateway-cors") {
        let list = |k: &str| c.get(k).cloned().unwrap_or(Value::Array(Vec::new()));
        let mut cors = Map::new();
        cors.insert("allow_origins".into(), list("allowOrigins"));
        cors.insert("allow_methods".into(), list("allowMethods"));
        cors.insert("allow_headers".into(), list("allowHeaders"));
        cors.insert("expose_headers".into(), list("exposeHeaders"));
        if let Some(m) = c.get("maxAge") {
            cors.insert("max_age".into(), m.clone());
        }
        if let Some(b) = c.get("allowCredentials") {
            cors.insert("allow_credentials".into(), b.clone());
        }
        api.insert("cors".into(), Value::Object(cors));
    }
    if let Some(gr) = doc
        .get("x-amazon-apigateway-gateway-responses")
        .and_then(Value::as_object)
    {
        let mut out = Map::new();
        for (ty, r) in gr {
            let mut o = Map::new();
            if let Some(s) = r.get("statusCode").and_then(number) {
                o.insert("status".into(), s.into());
            }
            let mut headers = Map::new();
            for (k, v) in r
                .get("responseParameters")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let at = format!(
                    "/x-amazon-apigateway-gateway-responses/{}/responseParameters/{}",
                    esc(ty),
                    esc(k)
                );
                match (k.strip_prefix("gatewayresponse.header."), v.as_str().and_then(static_value)) {
                    (Some(h), Some(val)) => {
                        headers.insert(h.to_owned(), val.into());
                    }
                    _ => cx.warn(&at, "only gatewayresponse.header.NAME with a quoted static value is served; left out"),
                }
            }
            if !headers.is_empty() {
                o.insert("headers".into(), Value::Object(headers));
            }
            if let Some(t) = r
                .pointer("/responseTemplates/application~1json")
                .and_then(Value::as_str)
            {
                o.insert("body".into(), t.into());
            }
            out.insert(ty.clone(), Value::Object(o));
        }
        api.insert("gateway_responses".into(), Value::Object(out));
    }
    for (k, _) in doc.as_object().into_iter().flatten() {
        let handled = matches!(
            k.as_str(),
            "x-amazon-apigateway-request-validators"
                | "x-amazon-apigateway-request-validator"
                | "x-amazon-apigateway-api-key-source"
                | "x-amazon-apigateway-binary-media-types"
                | "x-amazon-apigateway-cors"
                | "x-amazon-apigateway-gateway-responses"
                | "x-amazon-apigateway-policy"
        );
        if k.starts_with("x-amazon-apigateway-") && !handled {
            let why = match k.as_str() {
                "x-amazon-apigateway-documentation" => {
                    "documentation parts are not used by the gateway"
                }
                _ => "not supported; ignored",
            };
            cx.warn(&format!("/{}", esc(k)), why);
        }
    }

    if let Some(policy) = doc.get("x-amazon-apigateway-policy") {
        if let Some(p) = resource_policy(&mut cx, policy) {
            api.insert("resource_policy".into(), p);
        }
    }

    // Resources and methods.
    let mut resources = Map::new();
    for (path, item) in doc
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let at_path = format!("/paths/{}", esc(path));
        let mut methods = Map::new();
        let path_params = item
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (key, op) in item.as_object().into_iter().flatten() {
            let method = if key == "x-amazon-apigateway-any-method" {
                "ANY".to_owned()
            } else if METHODS.contains(&key.as_str()) {
                key.to_ascii_uppercase()
            } else {
                if key != "parameters"
                    && !key.starts_with("x-")
                    && !matches!(key.as_str(), "summary" | "description" | "servers")
                {
                    cx.warn(
                        &format!("{at_path}/{}", esc(key)),
                        "not a method API Gateway serves; left out",
                    );
                }
                continue;
            };
            let at = format!("{at_path}/{}", esc(key));
            if let Some(m) = method_of(&mut cx, doc, op, &path_params, &at, default_validator) {
                methods.insert(method, m);
            }
        }
        if !methods.is_empty() {
            resources.insert(path.clone(), Value::Object(methods));
        }
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

/// A number, or a string holding one (API Gateway writes status codes both ways).
pub fn number(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// An IAM-style resource policy's `aws:SourceIp` conditions as a native resource policy.
/// Statements it cannot enforce are warnings saying so.
pub(crate) fn resource_policy(cx: &mut Ctx<'_>, policy: &Value) -> Option<Value> {
    let at = "/x-amazon-apigateway-policy/Statement";
    let statements = match policy.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => {
            cx.warn("/x-amazon-apigateway-policy", "no Statement; ignored");
            return None;
        }
    };
    let ips = |v: Option<&Value>| -> Vec<Value> {
        match v {
            Some(Value::String(s)) => vec![s.clone().into()],
            Some(Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        }
    };
    let mut allow = Vec::new();
    let mut deny = Vec::new();
    for (i, st) in statements.iter().enumerate() {
        let effect = st.get("Effect").and_then(Value::as_str).unwrap_or("");
        let cond = st.get("Condition").and_then(Value::as_object);
        let Some(cond) = cond else {
            if effect == "Deny" {
                cx.warn(
                    &format!("{at}/{i}"),
                    "a Deny without a condition is not enforced; only aws:SourceIp conditions are",
                );
            }
            continue;
        };
        for (op, args) in cond {
            let list = ips(args.get("aws:SourceIp"));
            let known = args.as_object().is_some_and(|o| o.len() == 1) && !list.is_empty();
            match (effect, op.as_str(), known) {
                ("Allow", "IpAddress", true) | ("Deny", "NotIpAddress", true) => allow.extend(list),
                ("Deny", "IpAddress", true) | ("Allow", "NotIpAddress", true) => deny.extend(list),
                _ => cx.warn(
                    &format!("{at}/{i}/Condition/{}", esc(op)),
                    "only aws:SourceIp with IpAddress or NotIpAddress is enforced; this condition is not",
                ),
            }
        }
    }
    if allow.is_empty() && deny.is_empty() {
        return None;
    }
    Some(json!({ "allow_source_ips": allow, "deny_source_ips": deny }))
}

/// `'value'` → `value`.
pub(crate) fn static_value(s: &str) -> Option<&str> {
    s.strip_prefix('\'')?.strip_suffix('\'')
}

/// `$ref`s to API Gateway model URLs or to definitions/components become `#/definitions/X`.
pub(crate) fn rewrite_refs(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    if k == "$ref" {
                        if let Some(r) = v.as_str() {
                            let name = r.rsplit('/').next().unwrap_or(r);
                            return (k.clone(), Value::String(format!("#/definitions/{name}")));
                        }
                    }
                    (k.clone(), rewrite_refs(v))
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(rewrite_refs).collect()),
        other => other.clone(),
    }
}

pub(crate) fn has_ref(v: &Value) -> bool {
    match v {
        Value::Object(o) => o.iter().any(|(k, v)| k == "$ref" || has_ref(v)),
        Value::Array(a) => a.iter().any(has_ref),
        _ => false,
    }
}
