//! Compiles what decides for each authorizer of an API, by its `type`: `plugin`, `jwt`,
//! `cognito` or `lambda`, each with the fields it needs and no other.

use super::authorize::shared::SharedDecisions;
use super::authorize::{AuthorizerBinding, Decider, IdentitySource};
use super::jwks::{parse_set, KeySet};
use super::jwt::{JwtAuthorizer, Style};
use super::lambda_auth::{LambdaAuthorizer, Payload};
use crate::integration::lambda::{invoke_uri, PayloadFormat, UriError};
use crate::plugin::compile::{plugin_ref, Plugins};
use crate::plugin::PluginKind;
use gatehouse_config::raw::{RawAuthorizer, RawAuthorizerType, RawJwt, RawLambdaAuthorizer};
use gatehouse_config::{duration, Errors};
use gatehouse_state::redis_cache::{space_name, SharedCache};
use http::HeaderName;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Where an API's authorizers with `shared: true` keep their decisions: the shared tier and
/// the API's name.
pub type Shared<'a> = Option<(&'a Arc<SharedCache>, &'a str)>;

/// Compiles an API's authorizers; `base` is the config file's folder (for key set files).
pub fn compile(
    raw: &indexmap::IndexMap<String, RawAuthorizer>,
    plugins: &Plugins,
    base: &Path,
    shared: Shared<'_>,
    e: &mut Errors,
) -> HashMap<String, Option<Arc<AuthorizerBinding>>> {
    // `None` for an authorizer with errors of its own: methods naming it add none.
    let mut out = HashMap::with_capacity(raw.len());
    for (name, a) in raw {
        e.at(name, |e| {
            let before = e.len();
            let mut sources: Vec<IdentitySource> = e.at("identity_sources", |e| {
                a.identity_sources
                    .iter()
                    .enumerate()
                    .filter_map(|(i, s)| {
                        IdentitySource::parse(s)
                            .map_err(|msg| e.index(i, |e| e.push(msg)))
                            .ok()
                    })
                    .collect()
            });
            let ttl = duration(e, "ttl", a.ttl.as_deref(), 300_000, 0, 3_600_000);
            let decider = decider(name, a, plugins, base, &mut sources, e);
            if a.shared && matches!(a.kind, RawAuthorizerType::Jwt | RawAuthorizerType::Cognito) {
                e.push_at(
                    "shared",
                    "only `plugin` and `lambda` authorizers keep decisions to share (a JWT authorizer checks every token)",
                );
            }
            let validation = a.identity_validation_expression.as_deref().and_then(|re| {
                if a.kind != RawAuthorizerType::Plugin {
                    e.push_at(
                        "identity_validation_expression",
                        "only `plugin` authorizers take it here (a Lambda authorizer's is under `lambda`)",
                    );
                }
                identity_validation(re, e)
            });
            let binding = decider.filter(|_| e.len() == before).map(|d| {
                // A Lambda TOKEN authorizer's expression is checked by the same step.
                let lambda = match &d {
                    Decider::Lambda(l) => l.identity_validation.clone(),
                    _ => None,
                };
                let mut b = AuthorizerBinding::new(name.clone(), d, sources, ttl);
                b.validation = validation.or(lambda);
                if let Some((cache, api)) = shared.filter(|_| a.shared) {
                    // Keyed by the authorizer's settings: a node serving another version of
                    // them shares none of its decisions.
                    let space = space_name("authorizer", &format!("{api}/{name}"), &format!("{a:?}"));
                    b = b.with_shared(SharedDecisions::new(cache, space));
                }
                Arc::new(b)
            });
            out.insert(name.clone(), binding);
        })
    }
    out
}

/// An identity validation expression, anchored as API Gateway matches it: the whole value.
fn identity_validation(re: &str, e: &mut Errors) -> Option<regex::Regex> {
    regex::Regex::new(&format!("^(?:{re})$"))
        .map_err(|err| e.push_at("identity_validation_expression", err.to_string()))
        .ok()
}

/// The decider of authorizer `name`; `None` with errors recorded. Adds the default identity
/// source (`Authorization`) where a kind has one and none is given.
pub fn decider(
    name: &str,
    a: &RawAuthorizer,
    plugins: &Plugins,
    dir: &Path,
    sources: &mut Vec<IdentitySource>,
    e: &mut Errors,
) -> Option<Decider> {
    use RawAuthorizerType as T;
    let kind = a.kind;
    let stray = |e: &mut Errors, field: &str, present: bool| {
        if present {
            e.push_at(
                field,
                format!(
                    "`{field}` is not a setting of a `{}` authorizer",
                    type_name(kind)
                ),
            );
        }
    };
    stray(e, "plugin", a.plugin.is_some() && kind != T::Plugin);
    stray(
        e,
        "jwt",
        a.jwt.is_some() && !matches!(kind, T::Jwt | T::Cognito),
    );
    stray(e, "lambda", a.lambda.is_some() && kind != T::Lambda);
    let authorization = || IdentitySource::Header(HeaderName::from_static("authorization"));
    match kind {
        T::Plugin => {
            let Some(p) = &a.plugin else {
                e.push("a `plugin` authorizer needs `plugin`: the name of an authorizer plugin");
                return None;
            };
            e.at("plugin", |e| {
                plugin_ref(plugins, p, PluginKind::Authorizer, e)
            })
            .map(Decider::Plugin)
        }
        T::Jwt | T::Cognito => {
            if sources.is_empty() {
                sources.push(authorization());
            }
            if sources.len() > 1 {
                e.push_at(
                    "identity_sources",
                    "a JWT authorizer reads its token from one identity source",
                );
            }
            let Some(j) = &a.jwt else {
                e.push(format!(
                    "a `{}` authorizer needs `jwt`: its `issuer` and keys",
                    type_name(kind)
                ));
                return None;
            };
            let style = if kind == T::Jwt {
                Style::Jwt
            } else {
                Style::Cognito
            };
            e.at("jwt", |e| jwt(name, j, style, dir, e))
                .map(Decider::Jwt)
        }
        T::Lambda => {
            let Some(l) = &a.lambda else {
                e.push("a `lambda` authorizer needs `lambda`: its `endpoint` and `function`");
                return None;
            };
            e.at("lambda", |e| lambda(name, l, sources, e))
                .map(Decider::Lambda)
        }
    }
}

fn type_name(t: RawAuthorizerType) -> &'static str {
    match t {
        RawAuthorizerType::Plugin => "plugin",
        RawAuthorizerType::Jwt => "jwt",
        RawAuthorizerType::Cognito => "cognito",
        RawAuthorizerType::Lambda => "lambda",
    }
}

/// Whether `uri` may carry keys: HTTPS, or plain HTTP to a loopback address (a local issuer).
fn key_url_ok(uri: &http::Uri) -> bool {
    match uri.scheme_str() {
        Some("https") => true,
        Some("http") => uri.host().is_some_and(|h| {
            let h = h.trim_start_matches('[').trim_end_matches(']');
            h == "localhost"
                || h.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }),
        _ => false,
    }
}

fn jwt(name: &str, j: &RawJwt, style: Style, dir: &Path, e: &mut Errors) -> Option<JwtAuthorizer> {
    let before = e.len();
    if j.issuer.is_empty() {
        e.push_at("issuer", "expected the issuer URL tokens carry in `iss`");
    }
    let leeway = duration(e, "leeway", j.leeway.as_deref(), 0, 0, 300_000);
    let keys = match (&j.jwks_url, &j.jwks_file) {
        (Some(_), Some(_)) => {
            e.push("`jwks_url` and `jwks_file` are alternatives; give one");
            None
        }
        (None, Some(file)) => {
            let path = dir.join(file);
            e.at("jwks_file", |e| {
                match std::fs::read(&path)
                    .map_err(|err| err.to_string())
                    .and_then(|b| parse_set(&b))
                {
                    Ok(keys) if keys.is_empty() => {
                        e.push(format!(
                            "`{}` has no key that verifies signatures",
                            path.display()
                        ));
                        None
                    }
                    Ok(keys) => Some(KeySet::fixed(keys)),
                    Err(why) => {
                        e.push(format!("reading the key set `{}`: {why}", path.display()));
                        None
                    }
                }
            })
        }
        (url, None) => {
            let text = url.clone().unwrap_or_else(|| {
                format!("{}/.well-known/jwks.json", j.issuer.trim_end_matches('/'))
            });
            let field = if url.is_some() { "jwks_url" } else { "issuer" };
            match text.parse::<http::Uri>() {
                Ok(u) if key_url_ok(&u) => Some(KeySet::url(u)),
                _ => {
                    e.push_at(field, format!(
                        "expected an https:// key set URL (http:// only to a loopback address), found `{text}`"
                    ));
                    None
                }
            }
        }
    };
    let keys = keys?;
    (e.len() == before).then(|| JwtAuthorizer {
        name: name.to_owned(),
        style,
        issuer: j.issuer.clone(),
        audiences: j.audiences.clone(),
        leeway: leeway.as_secs(),
        keys,
        verified: super::jwt::verified_cache(),
    })
}

fn lambda(
    name: &str,
    l: &RawLambdaAuthorizer,
    sources: &mut Vec<IdentitySource>,
    e: &mut Errors,
) -> Option<LambdaAuthorizer> {
    let before = e.len();
    let payload = match l.payload.as_deref() {
        None | Some("request") | Some("REQUEST") => Payload::Request,
        Some("token") | Some("TOKEN") => Payload::Token,
        Some(other) => {
            e.push_at(
                "payload",
                format!("expected `token` or `request`, found `{other}`"),
            );
            Payload::Request
        }
    };
    let format = match l.payload_format_version.as_deref() {
        None | Some("1.0") => PayloadFormat::V1,
        Some("2.0") => PayloadFormat::V2,
        Some(other) => {
            e.push_at(
                "payload_format_version",
                format!("expected `1.0` or `2.0`, found `{other}`"),
            );
            PayloadFormat::V1
        }
    };
    if payload == Payload::Token {
        if format == PayloadFormat::V2 {
            e.push_at(
                "payload_format_version",
                "token authorizers use payload 1.0",
            );
        }
        if sources.is_empty() {
            sources.push(IdentitySource::Header(HeaderName::from_static(
                "authorization",
            )));
        }
        if sources.len() > 1 {
            e.at("identity_sources", |e| {
                e.push("a token authorizer reads its token from one identity source")
            });
        }
    }
    if l.simple_responses && format != PayloadFormat::V2 {
        e.push_at(
            "simple_responses",
            "simple responses are a payload 2.0 setting",
        );
    }
    let identity_validation = l.identity_validation_expression.as_deref().and_then(|re| {
        if payload != Payload::Token {
            e.push_at(
                "identity_validation_expression",
                "only token authorizers validate their token",
            );
        }
        identity_validation(re, e)
    });
    let timeout = duration(e, "timeout", l.timeout.as_deref(), 10_000, 1, 30_000);
    let invoke_uri = match invoke_uri(l.endpoint.trim_end_matches('/'), &l.function) {
        Ok(u) => Some(u),
        Err(UriError::Function(why)) => {
            e.push_at("function", why);
            None
        }
        Err(UriError::Endpoint) => {
            e.push_at(
                "endpoint",
                format!(
                    "expected an http:// or https:// invoke endpoint, found `{}`",
                    l.endpoint
                ),
            );
            None
        }
    };
    let invoke_uri = invoke_uri?;
    (e.len() == before).then(|| LambdaAuthorizer {
        name: name.to_owned(),
        invoke_uri,
        payload,
        format,
        simple_responses: l.simple_responses,
        identity_validation,
        timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_sets_travel_over_https_or_loopback() {
        let ok = |s: &str| key_url_ok(&s.parse().unwrap());
        assert!(ok("https://issuer.example/.well-known/jwks.json"));
        assert!(ok("http://127.0.0.1:8080/jwks.json"));
        assert!(ok("http://[::1]:8080/jwks.json"));
        assert!(ok("http://localhost/jwks.json"));
        assert!(!ok("http://issuer.example/jwks.json"));
        assert!(!ok("ftp://127.0.0.1/jwks.json"));
    }
}
