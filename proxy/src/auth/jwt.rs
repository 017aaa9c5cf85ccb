//! JWT and Cognito user-pool authorizers: a signed token checked by the gateway itself.
//!
//! Both verify the token's signature with the issuer's key set (`jwks.rs`) and its claims, in
//! the order API Gateway documents for JWT authorizers: `kid` and `alg`, signature, `iss`,
//! audience (`aud`, or `client_id` when `aud` is absent), `exp`, `nbf`, `iat`, and scopes
//! (`scope`, or `scp`) of which the route needs at least one. They differ in how they answer:
//!
//! - `jwt` (HTTP APIs): a bad token is 401 `Unauthorized` with a `www-authenticate: Bearer`
//!   challenge naming `invalid_token` and why; a token without a required scope is 403
//!   `Forbidden` with `insufficient_scope`. The token may carry a `Bearer ` prefix.
//! - `cognito` (REST APIs): every failure is 401 `Unauthorized` without a challenge; a route
//!   with scopes takes access tokens (`token_use: access`) with one of them, a route without
//!   takes ID tokens (`token_use: id`).
//!
//! A token whose signature verified is remembered by its SHA-256 for [`VERIFIED_TTL`] (at most
//! [`VERIFIED_BYTES`] of them) with the identity made of its claims, so a client that sends the
//! same token again costs a hash and the claim checks, which run again on every request (time,
//! audience, scopes), and shares that identity.

use super::jwks::{Alg, KeyError, KeySet};
use crate::ctx::{AuthContext, JwtIdentity};
use crate::error::{Rejection, ResponseType};
use crate::integration::Outbound;
use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::Digest as _;
use std::sync::Arc;
use std::time::Duration;

/// How long a verified token is remembered; a key dropped from the issuer's set stops
/// verifying new tokens at once and remembered ones within this time.
pub const VERIFIED_TTL: Duration = Duration::from_secs(60);
/// Bytes of remembered tokens per authorizer (their claims, estimated).
pub const VERIFIED_BYTES: u64 = 32 * 1024 * 1024;

/// A token whose signature verified: its claims, checked again on each use, and what an
/// allowed request carries.
#[derive(Debug)]
pub struct Verified {
    claims: Map<String, Value>,
    auth: Arc<AuthContext>,
    size: usize,
}

pub type VerifiedCache = moka::sync::Cache<[u8; 32], Arc<Verified>>;

pub fn verified_cache() -> VerifiedCache {
    moka::sync::Cache::builder()
        .max_capacity(VERIFIED_BYTES)
        .weigher(|_, v: &Arc<Verified>| (v.size + 128).min(u32::MAX as usize) as u32)
        .time_to_live(VERIFIED_TTL)
        .build()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Jwt,
    Cognito,
}

#[derive(Debug)]
pub struct JwtAuthorizer {
    pub name: String,
    pub style: Style,
    pub issuer: String,
    /// Accepted `aud` (or `client_id`) values; empty: any (Cognito without app clients named).
    pub audiences: Vec<String>,
    /// Seconds of clock difference forgiven on `exp`, `nbf` and `iat`.
    pub leeway: u64,
    pub keys: KeySet,
    pub verified: VerifiedCache,
}

/// Why a token was refused: the `error_description` of the challenge, and whether the token
/// itself is fine but lacks a scope.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    Invalid(String),
    Scope,
}

fn invalid(why: impl Into<String>) -> Refusal {
    Refusal::Invalid(why.into())
}

fn decode(part: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()
}

/// A claim as `$context.authorizer.claims.*` and Lambda events show it: text as it is, numbers
/// and booleans as their JSON text, a list as `[a b]`, an object as its JSON.
fn claim_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(claim_text).collect();
            format!("[{}]", inner.join(" "))
        }
        other => other.to_string(),
    }
}

/// The token's scopes: `scope` (space-separated) or `scp` (a list or a string).
fn scopes(claims: &Map<String, Value>) -> Option<Vec<String>> {
    let split = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    match claims.get("scope").or_else(|| claims.get("scp"))? {
        Value::String(s) => Some(split(s)),
        Value::Array(a) => Some(
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        ),
        _ => None,
    }
}

fn number(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, Refusal> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| invalid(format!("the `{name}` claim is not a number"))),
    }
}

impl JwtAuthorizer {
    /// Checks `token` for a route that needs one of `required` scopes (none: any token), at
    /// `now` (seconds since the epoch).
    pub async fn verify(
        &self,
        out: &dyn Outbound,
        token: &str,
        required: &[String],
        now: u64,
    ) -> Result<Arc<AuthContext>, Rejection> {
        let token = match self.style {
            Style::Jwt => strip_bearer(token),
            Style::Cognito => token,
        };
        match self.check(out, token, required, now).await {
            Ok(id) => Ok(id),
            Err(Err(unavailable)) => Err(unavailable),
            Err(Ok(refusal)) => Err(self.refuse(refusal, required)),
        }
    }

    fn refuse(&self, refusal: Refusal, required: &[String]) -> Rejection {
        let scope = required.join(" ");
        match (self.style, refusal) {
            (Style::Jwt, Refusal::Invalid(why)) => {
                let challenge = format!(
                    "Bearer scope=\"{scope}\" error=\"invalid_token\" error_description=\"{}\"",
                    why.replace(['"', '\\'], "'")
                );
                Rejection::new(
                    ResponseType::Unauthorized,
                    format!("authorizer `{}`: {why}", self.name),
                )
                .with_challenge(challenge)
            }
            (Style::Jwt, Refusal::Scope) => Rejection::new(
                ResponseType::AccessDenied,
                format!("authorizer `{}`: the token has none of the scopes `{scope}`", self.name),
            )
            .with_message("Forbidden")
            .with_challenge(format!(
                "Bearer scope=\"{scope}\" error=\"insufficient_scope\" error_description=\"the token does not have the required scope\""
            )),
            (Style::Cognito, refusal) => Rejection::new(
                ResponseType::Unauthorized,
                format!(
                    "authorizer `{}`: {}",
                    self.name,
                    match refusal {
                        Refusal::Invalid(why) => why,
                        Refusal::Scope => format!("the token has none of the scopes `{scope}`"),
                    }
                ),
            ),
        }
    }

    /// `Err(Ok(_))` refuses the token; `Err(Err(_))` is the gateway's failure to check it.
    async fn check(
        &self,
        out: &dyn Outbound,
        token: &str,
        required: &[String],
        now: u64,
    ) -> Result<Arc<AuthContext>, Result<Refusal, Rejection>> {
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        if let Some(v) = self.verified.get(&digest) {
            self.check_claims(&v.claims, required, now).map_err(Ok)?;
            return Ok(v.auth.clone());
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Ok(invalid("token contains an invalid number of segments")));
        };
        let header: Map<String, Value> = decode(h)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| Ok(invalid("the token header is not base64url-encoded JSON")))?;
        let alg_name = header.get("alg").and_then(Value::as_str).unwrap_or("");
        let alg = Alg::parse(alg_name)
            .ok_or_else(|| Ok(invalid(format!("signing method {alg_name} is invalid"))))?;
        let kid = header.get("kid").and_then(Value::as_str);
        let sig = decode(s).ok_or_else(|| Ok(invalid("the token signature is not base64url")))?;
        let key = match self.keys.key(out, kid, alg).await {
            Ok(k) => k,
            Err(KeyError::Unknown) => {
                return Err(Ok(invalid(match kid {
                    Some(kid) => format!("no key with kid {kid} signs tokens with {alg_name}"),
                    None => format!("no key signs tokens with {alg_name}"),
                })))
            }
            Err(KeyError::Unavailable(why)) => {
                return Err(Err(Rejection::new(
                    ResponseType::AuthorizerConfigurationError,
                    format!("authorizer `{}`: {why}", self.name),
                )))
            }
        };
        let signed = &token[..h.len() + 1 + p.len()];
        if !key.verify(alg, signed.as_bytes(), &sig) {
            return Err(Ok(invalid("the token signature is invalid")));
        }
        let claims: Map<String, Value> = decode(p)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| Ok(invalid("the token payload is not base64url-encoded JSON")))?;
        let checked = self.check_claims(&claims, required, now);
        // A token with a good signature is remembered even when a claim check failed: the
        // checks run again on each use (a token may be early, or fit another route's scopes).
        let auth = identity(&claims);
        self.verified.insert(
            digest,
            Arc::new(Verified {
                size: p.len(),
                claims,
                auth: auth.clone(),
            }),
        );
        checked.map_err(Ok)?;
        Ok(auth)
    }

    fn check_claims(
        &self,
        claims: &Map<String, Value>,
        required: &[String],
        now: u64,
    ) -> Result<(), Refusal> {
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(invalid("the token does not have a valid issuer"));
        }
        if self.style == Style::Cognito {
            let want = if required.is_empty() { "id" } else { "access" };
            if claims.get("token_use").and_then(Value::as_str) != Some(want) {
                return Err(invalid(format!(
                    "the route takes {want} tokens (`token_use: {want}`)"
                )));
            }
        }
        if !self.audiences.is_empty() {
            let matches = |v: &Value| match v {
                Value::String(s) => self.audiences.contains(s),
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|s| self.audiences.iter().any(|x| x == s)),
                _ => false,
            };
            let ok = match claims.get("aud") {
                Some(aud) => matches(aud),
                None => claims.get("client_id").is_some_and(matches),
            };
            if !ok {
                return Err(invalid("the token does not have a valid audience"));
            }
        }
        let now = now as f64;
        let leeway = self.leeway as f64;
        match number(claims, "exp")? {
            Some(exp) if exp + leeway > now => {}
            Some(_) => return Err(invalid("the token has expired")),
            None => return Err(invalid("the token has no `exp` claim")),
        }
        if number(claims, "nbf")?.is_some_and(|nbf| nbf > now + leeway) {
            return Err(invalid("the token is not valid yet"));
        }
        if number(claims, "iat")?.is_some_and(|iat| iat > now + leeway) {
            return Err(invalid("the token was issued in the future"));
        }
        if !required.is_empty() {
            let have = scopes(claims).unwrap_or_default();
            if !required.iter().any(|r| have.contains(r)) {
                return Err(Refusal::Scope);
            }
        }
        Ok(())
    }
}

/// What a request with this token carries: the `sub` claim as principal, and the claims.
fn identity(claims: &Map<String, Value>) -> Arc<AuthContext> {
    let principal = claims.get("sub").and_then(Value::as_str).unwrap_or("");
    Arc::new(AuthContext {
        principal_id: principal.to_owned(),
        context: Vec::new(),
        usage_identifier_key: None,
        jwt: Some(Box::new(JwtIdentity {
            principal: principal.to_owned(),
            scopes: scopes(claims),
            claims: claims
                .iter()
                .map(|(k, v)| (k.clone(), claim_text(v)))
                .collect(),
        })),
    })
}

/// The token without a leading `Bearer ` (any case), as HTTP APIs accept both.
fn strip_bearer(v: &str) -> &str {
    match v.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("bearer ") => v[7..].trim_start(),
        _ => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_render_as_api_gateway_shows_them() {
        assert_eq!(claim_text(&"a".into()), "a");
        assert_eq!(claim_text(&serde_json::json!(1700000000)), "1700000000");
        assert_eq!(claim_text(&serde_json::json!(true)), "true");
        assert_eq!(
            claim_text(&serde_json::json!(["admin", "dev"])),
            "[admin dev]"
        );
    }

    #[test]
    fn scopes_come_from_scope_or_scp() {
        let m = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            scopes(&m(serde_json::json!({"scope": "read  write"}))),
            Some(vec!["read".into(), "write".into()])
        );
        assert_eq!(
            scopes(&m(serde_json::json!({"scp": ["read"]}))),
            Some(vec!["read".into()])
        );
        assert_eq!(scopes(&m(serde_json::json!({}))), None);
    }

    #[test]
    fn bearer_prefix_is_optional() {
        assert_eq!(strip_bearer("Bearer abc"), "abc");
        assert_eq!(strip_bearer("bearer  abc"), "abc");
        assert_eq!(strip_bearer("abc"), "abc");
        assert_eq!(strip_bearer("Bear"), "Bear");
    }

    fn authorizer(style: Style) -> JwtAuthorizer {
        JwtAuthorizer {
            name: "a".into(),
            style,
            issuer: "https://issuer".into(),
            audiences: vec!["app".into()],
            leeway: 5,
            keys: KeySet::fixed(Vec::new()),
            verified: verified_cache(),
        }
    }

    #[test]
    fn claims_are_checked_in_order() {
        let a = authorizer(Style::Jwt);
        let check = |v: Value, scopes: &[&str]| {
            let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
            a.check_claims(v.as_object().unwrap(), &scopes, 1000)
        };
        let ok = serde_json::json!({"iss": "https://issuer", "aud": "app", "exp": 2000});
        assert_eq!(check(ok.clone(), &[]), Ok(()));
        let mut v = ok.clone();
        v["iss"] = "https://other".into();
        assert!(matches!(check(v, &[]), Err(Refusal::Invalid(w)) if w.contains("issuer")));
        let mut v = ok.clone();
        v["aud"] = serde_json::json!(["x", "app"]);
        assert_eq!(check(v, &[]), Ok(()));
        // `client_id` counts only when `aud` is absent.
        let v = serde_json::json!({"iss": "https://issuer", "client_id": "app", "exp": 2000});
        assert_eq!(check(v, &[]), Ok(()));
        let v = serde_json::json!({"iss": "https://issuer", "aud": "x", "client_id": "app", "exp": 2000});
        assert!(check(v, &[]).is_err());
        let mut v = ok.clone();
        v["exp"] = 996.into();
        assert_eq!(check(v, &[]), Ok(()), "within the leeway");
        let mut v = ok.clone();
        v["exp"] = 995.into();
        assert_eq!(check(v, &[]), Err(invalid("the token has expired")));
        let mut v = ok.clone();
        v["nbf"] = 1010.into();
        assert!(check(v, &[]).is_err());
        let mut v = ok.clone();
        v["scope"] = "read write".into();
        assert_eq!(check(v.clone(), &["admin", "write"]), Ok(()));
        assert_eq!(check(v, &["admin"]), Err(Refusal::Scope));
        assert_eq!(check(ok, &["read"]), Err(Refusal::Scope));
    }

    #[test]
    fn cognito_routes_take_id_or_access_tokens() {
        let a = authorizer(Style::Cognito);
        let id = serde_json::json!({"iss": "https://issuer", "aud": "app", "exp": 2000, "token_use": "id"});
        let access = serde_json::json!({"iss": "https://issuer", "client_id": "app", "exp": 2000,
            "token_use": "access", "scope": "orders/read"});
        let no: &[String] = &[];
        let read = ["orders/read".to_owned()];
        assert_eq!(a.check_claims(id.as_object().unwrap(), no, 1000), Ok(()));
        assert!(a
            .check_claims(access.as_object().unwrap(), no, 1000)
            .is_err());
        assert_eq!(
            a.check_claims(access.as_object().unwrap(), &read, 1000),
            Ok(())
        );
        assert!(a
            .check_claims(id.as_object().unwrap(), &read, 1000)
            .is_err());
    }
}
