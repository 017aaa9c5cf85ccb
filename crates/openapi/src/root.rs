//! The document's API-level extensions: request validators, API key source, binary media
//! types, CORS, gateway responses, resource policy; and a warning for every other extension
//! at the root, on tags, in `components` and on security schemes.

use crate::{esc, number, warn_unknown_extensions, Ctx};
use serde_json::{json, Map, Value};

/// Why a root extension of the API Gateway extensions reference is not served; `None` when
/// it is (read here, in `security.rs`, or through `$ref`s).
fn root_extension_not_served(key: &str, v: &Value) -> Option<&'static str> {
    Some(match key {
        "x-amazon-apigateway-request-validators"
        | "x-amazon-apigateway-request-validator"
        | "x-amazon-apigateway-api-key-source"
        | "x-amazon-apigateway-binary-media-types"
        | "x-amazon-apigateway-cors"
        | "x-amazon-apigateway-gateway-responses"
        | "x-amazon-apigateway-policy"
        // The default for every operation (security.rs).
        | "x-amazon-apigateway-auth" => return None,
        "x-amazon-apigateway-importexport-version" if v.as_str() == Some("1.0") => return None,
        "x-amazon-apigateway-importexport-version" => "only version 1.0 is known; read as 1.0",
        "x-amazon-apigateway-documentation" => "documentation parts are not used by the gateway",
        "x-amazon-apigateway-endpoint-configuration" => {
            "endpoints are the listeners in gatehouse.yaml; ignored"
        }
        "x-amazon-apigateway-endpoint-access-mode" | "x-amazon-apigateway-security-policy" => {
            "TLS and endpoint access are set on the listeners in gatehouse.yaml; ignored"
        }
        "x-amazon-apigateway-minimum-compression-size" => {
            "responses are not compressed by the gateway; ignored"
        }
        k if k.starts_with("x-amazon-apigateway-") => "not a root extension Gatehouse serves; ignored",
        _ => "not an extension Gatehouse serves; ignored",
    })
}

/// The API-level settings of `doc` into `api`.
pub(crate) fn api_settings(cx: &mut Ctx<'_>, api: &mut Map<String, Value>) {
    let doc = cx.doc;
    for (k, v) in doc.as_object().into_iter().flatten() {
        if k.starts_with("x-") {
            if let Some(why) = root_extension_not_served(k, v) {
                cx.warn(&format!("/{}", esc(k)), why);
            }
        }
    }
    for (i, tag) in crate::items(doc, "tags").enumerate() {
        warn_unknown_extensions(
            cx,
            tag,
            &format!("/tags/{i}"),
            &[],
            "tags (x-amazon-apigateway-tag-value) are not used by the gateway; ignored",
        );
    }
    if let Some(c) = doc.get("components") {
        warn_unknown_extensions(
            cx,
            c,
            "/components",
            &["x-amazon-apigateway-integrations"],
            "not an extension Gatehouse serves; ignored",
        );
    }
    let schemes: Vec<(String, Value)> = cx.schemes.clone().into_iter().collect();
    for (name, scheme) in &schemes {
        let at = format!("{}/{}", cx.schemes_at, esc(name));
        warn_unknown_extensions(
            cx,
            scheme,
            &at,
            &[
                "x-amazon-apigateway-authtype",
                "x-amazon-apigateway-authorizer",
            ],
            "not a security scheme extension Gatehouse serves; ignored",
        );
    }

    if let Some(vs) = doc
        .get("x-amazon-apigateway-request-validators")
        .and_then(Value::as_object)
    {
        let mut out = Map::new();
        for (name, v) in vs {
            let flag = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
            out.insert(
                name.clone(),
                json!({ "body": flag("validateRequestBody"), "params": flag("validateRequestParameters") }),
            );
            warn_keys(
                cx,
                v,
                &format!("/x-amazon-apigateway-request-validators/{}", esc(name)),
                &["validateRequestBody", "validateRequestParameters"],
            );
        }
        api.insert("request_validators".into(), Value::Object(out));
    }
    match doc.get("x-amazon-apigateway-api-key-source") {
        None => {}
        Some(Value::String(src)) if src == "HEADER" || src == "AUTHORIZER" => {
            api.insert("api_key_source".into(), src.as_str().into());
        }
        Some(other) => cx.warn(
            "/x-amazon-apigateway-api-key-source",
            format!("expected HEADER or AUTHORIZER, found {other}; HEADER applies"),
        ),
    }
    if let Some(types) = doc.get("x-amazon-apigateway-binary-media-types") {
        match types.as_array().filter(|a| a.iter().all(Value::is_string)) {
            Some(a) => {
                api.insert("binary_media_types".into(), Value::Array(a.clone()));
            }
            None => cx.warn(
                "/x-amazon-apigateway-binary-media-types",
                "expected a list of media types; ignored",
            ),
        }
    }
    if let Some(c) = doc.get("x-amazon-apigateway-cors") {
        api.insert("cors".into(), cors(cx, c));
    }
    if let Some(gr) = doc
        .get("x-amazon-apigateway-gateway-responses")
        .and_then(Value::as_object)
    {
        let mut out = Map::new();
        for (ty, r) in gr {
            out.insert(ty.clone(), gateway_response(cx, ty, r));
        }
        api.insert("gateway_responses".into(), Value::Object(out));
    }
    if let Some(policy) = doc.get("x-amazon-apigateway-policy") {
        if let Some(p) = resource_policy(cx, policy) {
            api.insert("resource_policy".into(), p);
        }
    }
}

/// Warns every key of `obj` not in `known`.
fn warn_keys(cx: &mut Ctx<'_>, obj: &Value, at: &str, known: &[&str]) {
    for k in obj.as_object().into_iter().flatten().map(|(k, _)| k) {
        if !known.contains(&k.as_str()) {
            cx.warn(&format!("{at}/{}", esc(k)), "not served; ignored");
        }
    }
}

/// `x-amazon-apigateway-cors` (HTTP APIs) as the native `cors`.
fn cors(cx: &mut Ctx<'_>, c: &Value) -> Value {
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
    warn_keys(
        cx,
        c,
        "/x-amazon-apigateway-cors",
        &[
            "allowOrigins",
            "allowMethods",
            "allowHeaders",
            "exposeHeaders",
            "maxAge",
            "allowCredentials",
        ],
    );
    Value::Object(cors)
}

/// One `x-amazon-apigateway-gateway-responses.gatewayResponse`: status, static headers and the
/// `application/json` template.
fn gateway_response(cx: &mut Ctx<'_>, ty: &str, r: &Value) -> Value {
    let at = format!("/x-amazon-apigateway-gateway-responses/{}", esc(ty));
    let mut o = Map::new();
    if let Some(s) = r.get("statusCode").and_then(number) {
        o.insert("status".into(), s.into());
    }
    let mut headers = Map::new();
    for (k, v) in crate::entries(r, "responseParameters") {
        match (
            k.strip_prefix("gatewayresponse.header."),
            v.as_str().and_then(static_value),
        ) {
            (Some(h), Some(val)) => {
                headers.insert(h.to_owned(), val.into());
            }
            _ => cx.warn(
                &format!("{at}/responseParameters/{}", esc(k)),
                "only gatewayresponse.header.NAME with a quoted static value is served; left out",
            ),
        }
    }
    if !headers.is_empty() {
        o.insert("headers".into(), Value::Object(headers));
    }
    for (media, t) in crate::entries(r, "responseTemplates") {
        match (media.as_str(), t.as_str()) {
            ("application/json", Some(t)) => {
                o.insert("body".into(), t.into());
            }
            _ => cx.warn(
                &format!("{at}/responseTemplates/{}", esc(media)),
                "only the application/json template is served (every gateway response is JSON); left out",
            ),
        }
    }
    warn_keys(
        cx,
        r,
        &at,
        &["statusCode", "responseParameters", "responseTemplates"],
    );
    Value::Object(o)
}

/// An IAM-style resource policy's `aws:SourceIp` conditions as a native resource policy.
/// Statements it cannot enforce are warnings saying so.
fn resource_policy(cx: &mut Ctx<'_>, policy: &Value) -> Option<Value> {
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
fn static_value(s: &str) -> Option<&str> {
    s.strip_prefix('\'')?.strip_suffix('\'')
}
