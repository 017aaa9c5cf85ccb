//! Security requirements of an imported operation, mapped to what a method checks.
//!
//! One rule governs every decision here: a requirement Gatehouse cannot enforce exactly leaves
//! the method out with a warning (it then answers API Gateway's 403 `Missing Authentication
//! Token`), never a weaker check in its place. The forms, as Amazon API Gateway's OpenAPI
//! extensions reference describes them:
//!
//! | form | Gatehouse |
//! |---|---|
//! | scheme with `x-amazon-apigateway-authorizer` of type `token` or `request`, bound to a plugin | the method's authorizer (a plugin) |
//! | the same, not bound to a plugin, with `openapi.lambda_endpoint` set | a Lambda authorizer calling the function of `authorizerUri` |
//! | the same, neither | left out |
//! | the same, with an identity source other than a header or query string | left out |
//! | `cognito_user_pools` with one provider ARN | a Cognito authorizer (`openapi.user_pools` may bind the pool to another issuer or key set) |
//! | `cognito_user_pools` with several provider ARNs | left out (an authorizer trusts one issuer) |
//! | `jwt` (HTTP APIs) with `jwtConfiguration` | a JWT authorizer |
//! | the scopes a requirement lists for a Cognito or JWT scheme | the method's `authorization_scopes` |
//! | scheme with `x-amazon-apigateway-authtype: awsSigv4` (IAM) | `authorization_type: AWS_IAM` |
//! | scheme with another `x-amazon-apigateway-authtype` and no authorizer | left out |
//! | scheme of type `apiKey` with neither extension | API key required (read from `x-api-key`) |
//! | requirement `api_key` with no scheme defined (API Gateway's own exports) | API key required |
//! | any other undefined scheme | left out |
//! | scheme of type `http`, `oauth2`, `openIdConnect`, `mutualTLS` without an authorizer | left out |
//! | two authorizers in one requirement | left out (a method has one authorizer) |
//! | alternatives (`[A]` or `[B]`) that differ | left out (a method cannot express "either") |
//! | `x-amazon-apigateway-auth: {type: AWS_IAM}` | `authorization_type: AWS_IAM` |
//! | IAM and an authorizer on one method | left out (a method has one or the other) |
//! | `x-amazon-apigateway-auth: {type: NONE}` or absent | no further check |
//! | `x-amazon-apigateway-auth` of another type | left out |

use serde_json::Value;

use super::Ctx;

/// What a served method checks before its integration runs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Security {
    pub api_key: bool,
    /// The security scheme naming the method's authorizer.
    pub authorizer: Option<String>,
    /// The scopes the requirement lists for it (Cognito and JWT authorizers check them).
    pub scopes: Vec<String>,
    /// IAM authorization (SigV4).
    pub iam: bool,
}

/// What one security scheme asks for, when Gatehouse serves it.
enum Check {
    ApiKey,
    Authorizer,
    Iam,
}

/// The checks of operation `op` (at JSON pointer `at`), or `None` (with a warning) when the
/// method must be left out.
pub(super) fn of_operation(cx: &mut Ctx<'_>, op: &Value, at: &str) -> Option<Security> {
    let doc = cx.doc;
    // `x-amazon-apigateway-auth` is an operation extension; a document-level one is read as
    // the default for every operation, so it is never ignored.
    let auth = op
        .get("x-amazon-apigateway-auth")
        .map(|a| (a, format!("{at}/x-amazon-apigateway-auth")))
        .or_else(|| {
            doc.get("x-amazon-apigateway-auth")
                .map(|a| (a, "/x-amazon-apigateway-auth".to_owned()))
        });
    let mut iam = false;
    if let Some((auth, ptr)) = auth {
        match auth.get("type").and_then(Value::as_str) {
            Some(t) if t.eq_ignore_ascii_case("none") => {}
            Some(t) if t.eq_ignore_ascii_case("aws_iam") => iam = true,
            other => {
                cx.warn(
                    &ptr,
                    format!(
                        "authorization type `{}` is not known (expected NONE or AWS_IAM); left out",
                        other.unwrap_or("?")
                    ),
                );
                return None;
            }
        }
    }

    // An operation's `security` replaces the document's (an empty list: no checks).
    let (security, ptr) = match op.get("security") {
        Some(s) => (s, format!("{at}/security")),
        None => match doc.get("security") {
            Some(s) => (s, "/security".to_owned()),
            None => {
                return Some(Security {
                    iam,
                    ..Security::default()
                })
            }
        },
    };
    let Some(alternatives) = security.as_array() else {
        cx.warn(&ptr, "expected a list of security requirements; left out");
        return None;
    };
    let mut chosen: Option<Security> = None;
    for (i, requirement) in alternatives.iter().enumerate() {
        let here = format!("{ptr}/{i}");
        let Some(schemes) = requirement.as_object() else {
            cx.warn(&here, "expected a security requirement object; left out");
            return None;
        };
        let mut sec = Security::default();
        for name in schemes.keys() {
            let at_scheme = format!("{here}/{}", super::esc(name));
            match check(cx, name, &at_scheme)? {
                Check::ApiKey => sec.api_key = true,
                Check::Iam => sec.iam = true,
                Check::Authorizer => {
                    if let Some(first) = &sec.authorizer {
                        cx.warn(
                            &here,
                            format!("authorizers `{first}` and `{name}` in one requirement: a method has one authorizer; left out"),
                        );
                        return None;
                    }
                    sec.authorizer = Some(name.clone());
                    sec.scopes = schemes[name]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect();
                }
            }
        }
        match &chosen {
            Some(c) if *c != sec => {
                cx.warn(
                    &ptr,
                    "alternative security requirements differ, and a method checks one set (serving them would require all or any); left out",
                );
                return None;
            }
            _ => chosen = Some(sec),
        }
    }
    let mut sec = chosen.unwrap_or_default();
    sec.iam |= iam;
    if sec.iam && sec.authorizer.is_some() {
        cx.warn(
            &ptr,
            "IAM authorization and an authorizer together: a method has one or the other; left out",
        );
        return None;
    }
    Some(sec)
}

/// What security scheme `name` asks for; `None` (with a warning at `at`) when it is not served.
fn check(cx: &mut Ctx<'_>, name: &str, at: &str) -> Option<Check> {
    let Some(scheme) = cx.schemes.get(name).cloned() else {
        // API Gateway's exports require API keys with a requirement named `api_key` and no
        // scheme behind it (as the developer guide's request-validation example does).
        if name == "api_key" {
            return Some(Check::ApiKey);
        }
        cx.warn(
            at,
            format!("security scheme `{name}` is not defined; left out"),
        );
        return None;
    };
    // An authorizer decides on its own `type`; `x-amazon-apigateway-authtype` beside it is a
    // label (exports carry `custom`, `oauth2`, `cognito_user_pools`).
    if let Some(auth) = scheme.get("x-amazon-apigateway-authorizer") {
        let kind = auth
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("token")
            .to_ascii_lowercase();
        if !matches!(
            kind.as_str(),
            "token" | "request" | "cognito_user_pools" | "jwt"
        ) {
            cx.warn(
                at,
                format!("authorizer `{name}` of type `{kind}` is not known (expected token, request, cognito_user_pools or jwt); left out"),
            );
            return None;
        }
        if !crate::authorizers::bind(cx, name, &kind, auth, &scheme) {
            cx.warn(
                at,
                format!(
                    "authorizer `{name}` is not served (see #{}/{}); left out",
                    cx.schemes_at,
                    super::esc(name)
                ),
            );
            return None;
        }
        return Some(Check::Authorizer);
    }
    if let Some(authtype) = scheme
        .get("x-amazon-apigateway-authtype")
        .and_then(Value::as_str)
    {
        if authtype.eq_ignore_ascii_case("awssigv4") {
            return Some(Check::Iam);
        } else {
            cx.warn(
                at,
                format!("security scheme `{name}` has x-amazon-apigateway-authtype `{authtype}` and no x-amazon-apigateway-authorizer; not served, left out"),
            );
        }
        return None;
    }
    match scheme.get("type").and_then(Value::as_str) {
        Some("apiKey") => {
            let header = scheme.get("in").and_then(Value::as_str) == Some("header");
            let key_name = scheme.get("name").and_then(Value::as_str).unwrap_or("");
            if !header || !key_name.eq_ignore_ascii_case("x-api-key") {
                cx.warn(
                    at,
                    format!("API key scheme `{name}` names `{key_name}`; the key is read from the `x-api-key` header (or an authorizer), as API Gateway does"),
                );
            }
            Some(Check::ApiKey)
        }
        other => {
            cx.warn(
                at,
                format!(
                    "security scheme `{name}` ({}) is not served; left out",
                    other.unwrap_or("?")
                ),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{import, ImportOptions};
    use serde_json::{json, Value};

    /// Imports one GET /x (a mock) under `security` with schemes `schemes`, OpenAPI 3 or
    /// Swagger 2; gives the method (or null when left out) and the warnings.
    fn import_with(swagger2: bool, schemes: Value, op_extra: Value) -> (Value, Vec<String>) {
        let mut op = json!({ "x-amazon-apigateway-integration": { "type": "mock" } });
        for (k, v) in op_extra.as_object().unwrap() {
            op[k] = v.clone();
        }
        let doc = if swagger2 {
            json!({ "swagger": "2.0", "securityDefinitions": schemes, "paths": { "/x": { "get": op } } })
        } else {
            json!({ "openapi": "3.0.1", "components": { "securitySchemes": schemes }, "paths": { "/x": { "get": op } } })
        };
        let imported = import(&doc, &bound()).unwrap();
        let method = imported
            .api
            .pointer("/resources/~1x/GET")
            .cloned()
            .unwrap_or(Value::Null);
        (method, imported.warnings)
    }

    /// Options binding authorizer schemes `tok`, `a` and `b` to plugins.
    fn bound() -> ImportOptions {
        let mut opts = ImportOptions::default();
        for name in ["tok", "a", "b"] {
            opts.authorizers
                .insert(name.into(), format!("plugin-{name}"));
        }
        opts
    }

    /// Item 3 of the import issue: an authorizer whose Lambda function cannot be bound (no
    /// plugin under openapi.authorizers) is left out with its methods, warned once at the
    /// scheme and once per method; the rest of the API is served. API Gateway calls the
    /// authorizer's Lambda before the integration (developer guide, "Use API Gateway Lambda
    /// authorizers"), so serving the method without it would skip the check.
    #[test]
    fn unbound_authorizers_leave_their_methods_out() {
        let doc = json!({ "swagger": "2.0",
            "securityDefinitions": { "lam": { "type": "apiKey", "name": "Authorization", "in": "header",
                "x-amazon-apigateway-authtype": "custom",
                "x-amazon-apigateway-authorizer": { "type": "token",
                    "authorizerUri": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:1:function:Auth/invocations" } } },
            "paths": {
                "/a": { "get": { "security": [{ "lam": [] }], "x-amazon-apigateway-integration": { "type": "mock" } } },
                "/b": { "get": { "security": [{ "lam": [] }], "x-amazon-apigateway-integration": { "type": "mock" } } },
                "/open": { "get": { "x-amazon-apigateway-integration": { "type": "mock" } } } } });
        let imported = import(&doc, &ImportOptions::default()).unwrap();
        assert_eq!(
            imported.api["resources"],
            json!({ "/open": { "GET": { "integration": { "type": "mock" } } } })
        );
        assert_eq!(imported.api.get("authorizers"), None);
        let w = &imported.warnings;
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w[0].starts_with("#/securityDefinitions/lam/x-amazon-apigateway-authorizer: authorizer `lam` (Lambda function `Auth`) is not bound"), "{w:?}");
        assert!(
            w[1].starts_with("#/paths/~1a/get/security/0/lam: "),
            "{w:?}"
        );
        assert!(
            w[2].starts_with("#/paths/~1b/get/security/0/lam: "),
            "{w:?}"
        );
        // Bound, it is served, with the token authorizer's identityValidationExpression.
        let mut doc = doc;
        doc["securityDefinitions"]["lam"]["x-amazon-apigateway-authorizer"]
            ["identityValidationExpression"] = "^Bearer ".into();
        let mut opts = ImportOptions::default();
        opts.authorizers.insert("lam".into(), "tokens".into());
        let imported = import(&doc, &opts).unwrap();
        assert_eq!(imported.api["resources"]["/a"]["GET"]["authorizer"], "lam");
        assert_eq!(imported.api["authorizers"]["lam"]["plugin"], "tokens");
        assert_eq!(
            imported.api["authorizers"]["lam"]["identity_validation_expression"],
            "^Bearer "
        );
        assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
        // An identity source the gateway does not read leaves the authorizer out too.
        doc["securityDefinitions"]["lam"]["x-amazon-apigateway-authorizer"]["identitySource"] =
            "context.sourceIp".into();
        let imported = import(&doc, &opts).unwrap();
        assert_eq!(
            imported.api["resources"].as_object().map(|r| r.len()),
            Some(1)
        );
        assert!(
            imported
                .warnings
                .iter()
                .any(|w| w.contains("/identitySource: identity source `context.sourceIp`")),
            "{:?}",
            imported.warnings
        );
    }

    fn sigv4() -> Value {
        json!({ "sigv4": { "type": "apiKey", "name": "Authorization", "in": "header",
                           "x-amazon-apigateway-authtype": "awsSigv4" } })
    }

    /// Extensions reference, x-amazon-apigateway-authtype: "awsSigv4" marks IAM
    /// authorization; it must never become an API key check.
    #[test]
    fn aws_sigv4_schemes_are_iam_in_both_versions() {
        for swagger2 in [false, true] {
            let (m, w) = import_with(swagger2, sigv4(), json!({ "security": [{ "sigv4": [] }] }));
            assert_eq!(m["authorization_type"], "AWS_IAM", "swagger2={swagger2}");
            assert_eq!(m.get("api_key_required"), None);
            assert!(w.is_empty(), "{w:?}");
        }
    }

    /// The same at document level (OpenAPI's global `security` applies to every operation).
    #[test]
    fn document_level_requirements_are_checked_as_well() {
        let doc = json!({ "openapi": "3.0.1", "security": [{ "sigv4": [] }],
            "components": { "securitySchemes": sigv4() },
            "paths": { "/x": { "get": { "x-amazon-apigateway-integration": { "type": "mock" } } } } });
        let imported = import(&doc, &ImportOptions::default()).unwrap();
        assert_eq!(
            imported.api["resources"]["/x"]["GET"]["authorization_type"],
            "AWS_IAM"
        );
    }

    /// Extensions reference, x-amazon-apigateway-auth: type AWS_IAM or NONE.
    #[test]
    fn x_amazon_apigateway_auth_iam_and_unknown_types_are_left_out() {
        let (m, w) = import_with(
            false,
            json!({}),
            json!({ "x-amazon-apigateway-auth": { "type": "AWS_IAM" } }),
        );
        assert_eq!(m["authorization_type"], "AWS_IAM", "{w:?}");
        let (m, w) = import_with(
            false,
            json!({}),
            json!({ "x-amazon-apigateway-auth": { "type": "COGNITO" } }),
        );
        assert_eq!(m, Value::Null);
        assert!(w[0].contains("not known"), "{w:?}");
        let (m, w) = import_with(
            false,
            json!({}),
            json!({ "x-amazon-apigateway-auth": { "type": "none" } }),
        );
        assert!(m.is_object() && w.is_empty(), "{m} {w:?}");
    }

    /// Extensions reference, x-amazon-apigateway-authorizer: type `token`, `request`,
    /// `cognito_user_pools` (and `jwt` for HTTP APIs); the authtype beside it is a label.
    #[test]
    fn authorizer_schemes_decide_on_their_type() {
        let schemes = json!({
            "tok": { "type": "apiKey", "name": "Authorization", "in": "header",
                     "x-amazon-apigateway-authtype": "oauth2",
                     "x-amazon-apigateway-authorizer": { "type": "token" } },
            "pool": { "type": "apiKey", "name": "Authorization", "in": "header",
                      "x-amazon-apigateway-authtype": "cognito_user_pools",
                      "x-amazon-apigateway-authorizer": { "type": "cognito_user_pools", "providerARNs": [] } }
        });
        let (m, _) = import_with(
            false,
            schemes.clone(),
            json!({ "security": [{ "tok": [] }] }),
        );
        assert_eq!(m["authorizer"], "tok");
        assert_eq!(
            m.get("api_key_required"),
            None,
            "an authorizer scheme is not an API key"
        );
        // A user pool authorizer needs its one pool.
        let (m, w) = import_with(
            false,
            schemes.clone(),
            json!({ "security": [{ "pool": [] }] }),
        );
        assert_eq!(m, Value::Null);
        assert!(w.iter().any(|w| w.contains("no user pool ARN")), "{w:?}");
        let mut one = schemes;
        one["pool"]["x-amazon-apigateway-authorizer"]["providerARNs"] =
            json!(["arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbC"]);
        let doc = json!({
            "openapi": "3.0.1",
            "paths": { "/x": { "get": {
                "security": [{ "pool": ["orders/read"] }],
                "x-amazon-apigateway-integration": { "type": "mock" } } } },
            "components": { "securitySchemes": one },
        });
        let imported = super::super::import(&doc, &ImportOptions::default()).unwrap();
        assert_eq!(
            imported.api["resources"]["/x"]["GET"]["authorization_scopes"],
            json!(["orders/read"])
        );
        assert_eq!(
            imported.api["authorizers"]["pool"],
            json!({ "type": "cognito", "identity_sources": ["method.request.header.Authorization"],
                "jwt": { "issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC" } })
        );
    }

    /// A requirement object lists schemes that all apply (API key and authorizer together, as
    /// API Gateway exports a method with both); two authorizers cannot both apply.
    #[test]
    fn schemes_in_one_requirement_all_apply() {
        let schemes = json!({
            "api_key": { "type": "apiKey", "name": "x-api-key", "in": "header" },
            "a": { "type": "apiKey", "name": "Authorization", "in": "header",
                   "x-amazon-apigateway-authorizer": { "type": "token" } },
            "b": { "type": "apiKey", "name": "Authorization", "in": "header",
                   "x-amazon-apigateway-authorizer": { "type": "request" } }
        });
        let (m, _) = import_with(
            true,
            schemes.clone(),
            json!({ "security": [{ "api_key": [], "a": [] }] }),
        );
        assert_eq!(m["api_key_required"], true);
        assert_eq!(m["authorizer"], "a");
        let (m, w) = import_with(
            true,
            schemes.clone(),
            json!({ "security": [{ "a": [], "b": [] }] }),
        );
        assert_eq!(m, Value::Null);
        assert!(w.iter().any(|w| w.contains("one authorizer")), "{w:?}");
        // IAM next to an API key: both are checked, as API Gateway checks both.
        let mut with_iam = schemes;
        with_iam["sigv4"] = sigv4()["sigv4"].clone();
        let (m, _) = import_with(
            false,
            with_iam,
            json!({ "security": [{ "api_key": [], "sigv4": [] }] }),
        );
        assert_eq!(m["authorization_type"], "AWS_IAM");
        assert_eq!(m["api_key_required"], true);
    }

    /// OpenAPI: several requirement objects are alternatives. One method checks one set, so
    /// alternatives that differ are left out rather than turned into "all" or "any".
    #[test]
    fn differing_alternatives_are_left_out_and_equal_ones_served() {
        let schemes = json!({
            "api_key": { "type": "apiKey", "name": "x-api-key", "in": "header" },
            "a": { "type": "apiKey", "name": "Authorization", "in": "header",
                   "x-amazon-apigateway-authorizer": { "type": "token" } }
        });
        for alternatives in [
            json!([{ "api_key": [] }, { "a": [] }]),
            json!([{}, { "api_key": [] }]),
        ] {
            let (m, w) = import_with(false, schemes.clone(), json!({ "security": alternatives }));
            assert_eq!(m, Value::Null, "{alternatives}");
            assert!(
                w.iter()
                    .any(|w| w.starts_with("#/paths/~1x/get/security: alternative")),
                "{w:?}"
            );
        }
        let (m, w) = import_with(
            false,
            schemes,
            json!({ "security": [{ "api_key": [] }, { "api_key": [] }] }),
        );
        assert_eq!(m["api_key_required"], true, "{w:?}");
        // An operation's empty list replaces the document's requirements.
        let (m, _) = import_with(false, json!({}), json!({ "security": [] }));
        assert!(m.is_object() && m.get("api_key_required").is_none());
    }

    /// An undefined scheme never invents a check, except `api_key`, which API Gateway's own
    /// exports use without defining it.
    #[test]
    fn undefined_schemes_are_left_out_but_api_key() {
        let (m, w) = import_with(false, json!({}), json!({ "security": [{ "nope": [] }] }));
        assert_eq!(m, Value::Null);
        assert!(w[0].contains("`nope` is not defined"), "{w:?}");
        let (m, w) = import_with(true, json!({}), json!({ "security": [{ "api_key": [] }] }));
        assert_eq!(m["api_key_required"], true);
        assert!(w.is_empty(), "{w:?}");
    }

    /// Schemes API Gateway does not attach to REST methods without an authorizer, and an
    /// authtype without an authorizer, are left out; an API key named elsewhere is served as
    /// API Gateway serves keys (from `x-api-key`) with a warning.
    #[test]
    fn other_scheme_kinds() {
        let schemes = json!({
            "basic": { "type": "http", "scheme": "basic" },
            "oidc": { "type": "openIdConnect", "openIdConnectUrl": "https://issuer.example/.well-known/openid-configuration" },
            "custom": { "type": "apiKey", "name": "Authorization", "in": "header",
                        "x-amazon-apigateway-authtype": "custom" },
            "query_key": { "type": "apiKey", "name": "key", "in": "query" }
        });
        for name in ["basic", "oidc", "custom"] {
            let (m, w) = import_with(
                false,
                schemes.clone(),
                json!({ "security": [{ name: [] }] }),
            );
            assert_eq!(m, Value::Null, "{name}");
            assert!(w[0].contains("left out"), "{w:?}");
        }
        let (m, w) = import_with(false, schemes, json!({ "security": [{ "query_key": [] }] }));
        assert_eq!(m["api_key_required"], true);
        assert!(w[0].contains("x-api-key"), "{w:?}");
    }
}
