//! `x-amazon-apigateway-authorizer` of a security scheme, bound to an authorizer of the
//! gateway config (recorded once per scheme in `Ctx::authorizers`):
//!
//! - `token` / `request`: the plugin `openapi.authorizers.NAME` names; else, with
//!   `openapi.lambda_endpoint`, a Lambda authorizer calling the function of `authorizerUri` with
//!   the scheme's payload format, simple responses and identity validation expression;
//! - `cognito_user_pools`: a Cognito authorizer trusting the pool of its one provider ARN,
//!   at Amazon Cognito's issuer URL or at what `openapi.user_pools` binds the pool to;
//! - `jwt` (HTTP APIs): a JWT authorizer with `jwtConfiguration`'s issuer and audiences.
//!
//! A scheme that cannot be served as written is warned at its own pointer and its methods are
//! left out; no check is ever weakened.

use serde_json::{json, Map, Value};

use crate::Ctx;

/// The keys of `x-amazon-apigateway-authorizer` every binding reads.
const COMMON_KEYS: [&str; 4] = [
    "type",
    "identitySource",
    "authorizerResultTtlInSeconds",
    "x-gatehouse-plugin",
];

/// Records the authorizer for scheme `name` of type `kind` (lowercase); false (warned once,
/// at the scheme) when it cannot be served.
pub(crate) fn bind(cx: &mut Ctx<'_>, name: &str, kind: &str, auth: &Value, scheme: &Value) -> bool {
    if cx.authorizers.contains_key(name) {
        return true;
    }
    if cx.unserved_authorizers.contains(name) {
        return false;
    }
    let at = format!(
        "{}/{}/x-amazon-apigateway-authorizer",
        cx.schemes_at,
        crate::esc(name)
    );
    let bound = match kind {
        "cognito_user_pools" => cognito(cx, &at, auth, scheme),
        "jwt" => jwt(cx, &at, auth),
        _ => lambda_or_plugin(cx, name, &at, kind, auth, scheme),
    };
    match bound {
        Some(def) => {
            cx.authorizers.insert(name.to_owned(), Value::Object(def));
            true
        }
        None => {
            cx.unserved_authorizers.insert(name.to_owned());
            false
        }
    }
}

fn ttl(auth: &Value) -> String {
    let secs = auth
        .get("authorizerResultTtlInSeconds")
        .and_then(Value::as_u64)
        .unwrap_or(300);
    format!("{secs}s")
}

/// Warns each key of `auth` that is neither common nor in `served`, with why.
fn warn_other_keys(
    cx: &mut Ctx<'_>,
    at: &str,
    auth: &Value,
    served: &[&str],
    why: impl Fn(&str) -> &'static str,
) {
    for (k, _) in auth.as_object().into_iter().flatten() {
        if COMMON_KEYS.contains(&k.as_str()) || served.contains(&k.as_str()) {
            continue;
        }
        cx.warn(&format!("{at}/{}", crate::esc(k)), why(k));
    }
}

fn lambda_or_plugin(
    cx: &mut Ctx<'_>,
    name: &str,
    at: &str,
    kind: &str,
    auth: &Value,
    scheme: &Value,
) -> Option<Map<String, Value>> {
    let sources = identity_sources(auth, scheme);
    if let Some(bad) = sources.iter().find(|s| !identity_source_served(s)) {
        cx.warn(
            &format!("{at}/identitySource"),
            format!("identity source `{bad}` is not served (method.request.header.NAME and method.request.querystring.NAME are); its methods are left out"),
        );
        return None;
    }
    let exported = auth.get("x-gatehouse-plugin").and_then(Value::as_str);
    let plugin = cx
        .opts
        .authorizers
        .get(name)
        .map(String::as_str)
        .or(exported)
        .map(str::to_owned);
    let function = auth
        .get("authorizerUri")
        .and_then(Value::as_str)
        .and_then(crate::integration::lambda_function);
    if let Some(plugin) = plugin {
        // API Gateway validates the token of TOKEN authorizers only.
        let validation = auth
            .get("identityValidationExpression")
            .and_then(Value::as_str)
            .filter(|_| kind == "token");
        warn_other_keys(
            cx,
            at,
            auth,
            &["authorizerUri", "identityValidationExpression"],
            |k| match k {
                "authorizerCredentials" => {
                    "AWS credentials are not used: the authorizer is a plugin; ignored"
                }
                "authorizerPayloadFormatVersion" | "enableSimpleResponses" => {
                    "the plugin's decision is Gatehouse's own type, not a Lambda payload; ignored"
                }
                _ => "not a key of x-amazon-apigateway-authorizer; ignored",
            },
        );
        let mut m = Map::new();
        m.insert("plugin".into(), plugin.into());
        if let Some(re) = validation {
            m.insert("identity_validation_expression".into(), re.into());
        }
        m.insert("identity_sources".into(), sources.into());
        m.insert("ttl".into(), ttl(auth).into());
        return Some(m);
    }
    let (Some(endpoint), Some(function)) = (cx.opts.lambda_endpoint.clone(), function) else {
        let function = auth
            .get("authorizerUri")
            .and_then(Value::as_str)
            .and_then(crate::integration::lambda_function)
            .map(|f| format!(" (Lambda function `{f}`)"))
            .unwrap_or_default();
        cx.warn(
            at,
            format!("authorizer `{name}`{function} is not bound: set openapi.lambda_endpoint to call its function, or openapi.authorizers.{name} to an authorizer plugin; its methods are left out"),
        );
        return None;
    };
    let mut lambda = Map::new();
    lambda.insert("endpoint".into(), endpoint.into());
    lambda.insert("function".into(), function.into());
    lambda.insert("payload".into(), kind.into());
    if let Some(v) = auth
        .get("authorizerPayloadFormatVersion")
        .and_then(Value::as_str)
    {
        lambda.insert("payload_format_version".into(), v.into());
    }
    if auth.get("enableSimpleResponses").and_then(Value::as_bool) == Some(true) {
        lambda.insert("simple_responses".into(), true.into());
    }
    if let Some(re) = auth
        .get("identityValidationExpression")
        .and_then(Value::as_str)
    {
        lambda.insert("identity_validation_expression".into(), re.into());
    }
    warn_other_keys(
        cx,
        at,
        auth,
        &[
            "authorizerUri",
            "authorizerPayloadFormatVersion",
            "enableSimpleResponses",
            "identityValidationExpression",
        ],
        |k| {
            match k {
            "authorizerCredentials" => "the function is called on openapi.lambda_endpoint without assuming this role; ignored",
            _ => "not a key of x-amazon-apigateway-authorizer; ignored",
        }
        },
    );
    let mut m = Map::new();
    m.insert("type".into(), "lambda".into());
    m.insert("identity_sources".into(), sources.into());
    m.insert("ttl".into(), ttl(auth).into());
    m.insert("lambda".into(), Value::Object(lambda));
    Some(m)
}

/// `(region, pool id)` of `arn:aws:cognito-idp:REGION:ACCOUNT:userpool/POOL_ID`.
fn user_pool(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:")?;
    let mut p = rest.splitn(5, ':');
    let (_partition, service, region, _account, resource) =
        (p.next()?, p.next()?, p.next()?, p.next()?, p.next()?);
    let pool = resource.strip_prefix("userpool/")?;
    (service == "cognito-idp" && !region.is_empty() && !pool.is_empty()).then_some((region, pool))
}

fn cognito(cx: &mut Ctx<'_>, at: &str, auth: &Value, scheme: &Value) -> Option<Map<String, Value>> {
    let arns: Vec<&str> = auth
        .get("providerARNs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let arn = match arns.as_slice() {
        [one] => *one,
        [] => {
            cx.warn(
                &format!("{at}/providerARNs"),
                "no user pool ARN; its methods are left out",
            );
            return None;
        }
        _ => {
            cx.warn(
                &format!("{at}/providerARNs"),
                "several user pools: an authorizer here trusts one issuer; its methods are left out",
            );
            return None;
        }
    };
    let Some((region, pool)) = user_pool(arn) else {
        cx.warn(
            &format!("{at}/providerARNs/0"),
            format!("expected arn:aws:cognito-idp:REGION:ACCOUNT:userpool/POOL_ID, found `{arn}`; its methods are left out"),
        );
        return None;
    };
    let sources = identity_sources(auth, scheme);
    let sources = if sources.is_empty() {
        vec!["method.request.header.Authorization".to_owned()]
    } else {
        sources
    };
    if sources.len() != 1 || !identity_source_served(&sources[0]) {
        cx.warn(
            &format!("{at}/identitySource"),
            "a Cognito authorizer reads its token from one header or query parameter; its methods are left out",
        );
        return None;
    }
    let binding = cx
        .opts
        .user_pools
        .get(arn)
        .or_else(|| cx.opts.user_pools.get(pool))
        .cloned()
        .unwrap_or_default();
    let mut jwt = Map::new();
    let issuer = binding
        .issuer
        .unwrap_or_else(|| format!("https://cognito-idp.{region}.amazonaws.com/{pool}"));
    jwt.insert("issuer".into(), issuer.into());
    if let Some(u) = binding.jwks_url {
        jwt.insert("jwks_url".into(), u.into());
    }
    if let Some(f) = binding.jwks_file {
        jwt.insert("jwks_file".into(), f.to_string_lossy().into_owned().into());
    }
    warn_other_keys(cx, at, auth, &["providerARNs"], |_| {
        "not a key of a cognito_user_pools authorizer; ignored"
    });
    let mut m = Map::new();
    m.insert("type".into(), "cognito".into());
    m.insert("identity_sources".into(), sources.into());
    m.insert("jwt".into(), Value::Object(jwt));
    Some(m)
}

fn jwt(cx: &mut Ctx<'_>, at: &str, auth: &Value) -> Option<Map<String, Value>> {
    let conf = auth.get("jwtConfiguration");
    let Some(issuer) = conf.and_then(|c| c.get("issuer")).and_then(Value::as_str) else {
        cx.warn(
            at,
            "a jwt authorizer needs jwtConfiguration.issuer; its methods are left out",
        );
        return None;
    };
    let audiences: Vec<Value> = conf
        .and_then(|c| c.get("audience"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // HTTP APIs write identity sources as `$request.header.NAME` or `$request.querystring.NAME`.
    let source = match auth.get("identitySource") {
        None => Some("header.Authorization".to_owned()),
        Some(Value::String(s)) => http_api_source(s),
        Some(Value::Array(a)) if a.len() == 1 => a[0].as_str().and_then(http_api_source),
        Some(_) => None,
    };
    let Some(source) = source else {
        cx.warn(
            &format!("{at}/identitySource"),
            "a jwt authorizer reads its token from one `$request.header.NAME` or `$request.querystring.NAME`; its methods are left out",
        );
        return None;
    };
    warn_other_keys(cx, at, auth, &["jwtConfiguration"], |_| {
        "not a key of a jwt authorizer; ignored"
    });
    Some(
        json!({
            "type": "jwt",
            "identity_sources": [source],
            "jwt": { "issuer": issuer, "audiences": audiences },
        })
        .as_object()
        .cloned()
        .unwrap_or_default(),
    )
}

fn http_api_source(s: &str) -> Option<String> {
    let rest = s.trim().strip_prefix("$request.")?;
    if let Some(h) = rest.strip_prefix("header.") {
        return crate::integration::header_name(h).then(|| format!("header.{h}"));
    }
    rest.strip_prefix("querystring.")
        .filter(|q| !q.is_empty())
        .map(|q| format!("query.{q}"))
}

/// The identity sources of a token or request authorizer: its `identitySource` list, else
/// the header the scheme names.
pub(crate) fn identity_sources(auth: &Value, scheme: &Value) -> Vec<String> {
    let from_auth = auth.get("identitySource").and_then(Value::as_str).map(|s| {
        s.split(',')
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
    });
    match from_auth {
        Some(list) if !list.is_empty() => list,
        // A token authorizer reads the header the scheme names.
        _ => scheme
            .get("name")
            .and_then(Value::as_str)
            .map(|h| vec![format!("method.request.header.{h}")])
            .unwrap_or_default(),
    }
}

/// Whether the gateway reads identity source `s`.
fn identity_source_served(s: &str) -> bool {
    let rest = s.strip_prefix("method.request.").unwrap_or(s);
    rest.strip_prefix("header.")
        .is_some_and(crate::integration::header_name)
        || rest
            .strip_prefix("querystring.")
            .or_else(|| rest.strip_prefix("query."))
            .is_some_and(|q| !q.is_empty())
}

#[cfg(test)]
mod tests {
    use super::user_pool;

    #[test]
    fn user_pool_arns_name_region_and_pool() {
        assert_eq!(
            user_pool("arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbC"),
            Some(("eu-west-1", "eu-west-1_AbC"))
        );
        assert_eq!(user_pool("arn:aws:lambda:eu-west-1:1:function:f"), None);
        assert_eq!(user_pool("userpool/x"), None);
    }
}
