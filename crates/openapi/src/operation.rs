//! One operation: its method settings, integration and mappings.

use crate::integration::integration_of;
use crate::{esc, parameters, security, warn_unknown_extensions, Ctx};
use serde_json::{json, Map, Value};

/// The extensions an operation may carry (API Gateway extensions reference).
const OPERATION_EXTENSIONS: [&str; 3] = [
    "x-amazon-apigateway-integration",
    "x-amazon-apigateway-auth",
    "x-amazon-apigateway-request-validator",
];

/// The native method of operation `op` at `at` on `path` (whose path item is `item` at
/// `item_at`), or `None` (with a warning) to leave it out.
pub(crate) fn method_of(
    cx: &mut Ctx<'_>,
    path: &str,
    (item, item_at): (&Value, &str),
    op: &Value,
    at: &str,
    default_validator: Option<&str>,
) -> Option<Value> {
    warn_unknown_extensions(
        cx,
        op,
        at,
        &OPERATION_EXTENSIONS,
        "not an operation extension Gatehouse serves; ignored",
    );
    let mut m = Map::new();
    let Some(integ) = op.get("x-amazon-apigateway-integration") else {
        cx.warn(at, "no x-amazon-apigateway-integration; left out");
        return None;
    };
    // HTTP APIs may name an entry of components/x-amazon-apigateway-integrations.
    let integ_at = format!("{at}/x-amazon-apigateway-integration");
    let (integ, integ_at) = cx.resolve(integ, &integ_at, "left out")?;
    let params: Vec<&str> = path
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|s| s.strip_suffix('+').unwrap_or(s))
        .collect();
    let integration = integration_of(cx, integ, &integ_at, &params)?;
    m.insert("integration".into(), integration.native);
    if !integration.cache_keys.is_empty() {
        m.insert(
            "cache".into(),
            json!({ "key_parameters": integration.cache_keys }),
        );
    }

    let checks = parameters::checks(cx, path, item, item_at, op, at)?;
    if !checks.required.is_empty() {
        m.insert("request_parameters".into(), Value::Object(checks.required));
    }
    if !checks.models.is_empty() {
        m.insert("request_models".into(), Value::Object(checks.models));
    }
    let validator = match op.get("x-amazon-apigateway-request-validator") {
        Some(Value::String(v)) => Some((
            v.as_str(),
            format!("{at}/x-amazon-apigateway-request-validator"),
        )),
        Some(_) => {
            cx.warn(
                &format!("{at}/x-amazon-apigateway-request-validator"),
                "expected the name of a request validator; left out",
            );
            return None;
        }
        None => default_validator.map(|v| (v, "/x-amazon-apigateway-request-validator".to_owned())),
    };
    if let Some((v, ptr)) = validator {
        let known = cx
            .doc
            .pointer(&format!(
                "/x-amazon-apigateway-request-validators/{}",
                esc(v)
            ))
            .is_some();
        if !known {
            cx.warn(
                &ptr,
                format!("request validator `{v}` is not in x-amazon-apigateway-request-validators; left out"),
            );
            return None;
        }
        m.insert("request_validator".into(), v.into());
    }

    // Security: API keys and authorizers (openapi/security.rs).
    let sec = security::of_operation(cx, op, at)?;
    if sec.api_key {
        m.insert("api_key_required".into(), true.into());
    }
    if sec.iam {
        m.insert("authorization_type".into(), "AWS_IAM".into());
    }
    if let Some(a) = sec.authorizer {
        m.insert("authorizer".into(), a.into());
        if !sec.scopes.is_empty() {
            m.insert("authorization_scopes".into(), sec.scopes.into());
        }
    }
    Some(Value::Object(m))
}
