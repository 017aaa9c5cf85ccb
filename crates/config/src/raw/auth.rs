//! The authorizers' part of the schema: plugin, JWT, Cognito and Lambda authorizers.

use serde::Deserialize;
use std::path::PathBuf;

/// An authorizer of an API, referenced by name from methods.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuthorizer {
    /// `plugin` (the default), `jwt`, `cognito` or `lambda`.
    #[serde(rename = "type", default)]
    pub kind: RawAuthorizerType,
    /// `plugin`: the authorizer plugin.
    pub plugin: Option<String>,
    /// `plugin`: a regular expression the first identity source's value must match whole,
    /// else 401 without a call (API Gateway's `identityValidationExpression`).
    pub identity_validation_expression: Option<String>,
    #[serde(default)]
    pub identity_sources: Vec<String>,
    pub ttl: Option<String>,
    /// `plugin` and `lambda`, with `state.backend: redis`: decisions shared by every node
    /// through Redis (default false).
    #[serde(default)]
    pub shared: bool,
    /// `jwt` and `cognito`: the token's issuer and keys.
    pub jwt: Option<RawJwt>,
    /// `lambda`: the function and how it is called.
    pub lambda: Option<RawLambdaAuthorizer>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawAuthorizerType {
    #[default]
    Plugin,
    Jwt,
    Cognito,
    Lambda,
}

/// The issuer a JWT or Cognito authorizer trusts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJwt {
    /// The `iss` claim tokens must carry, e.g.
    /// `https://cognito-idp.REGION.amazonaws.com/POOL_ID`.
    pub issuer: String,
    /// Accepted `aud` (or `client_id`) values.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Where the key set is fetched (default `{issuer}/.well-known/jwks.json`).
    pub jwks_url: Option<String>,
    /// A key set file instead of a URL, relative to the config file.
    pub jwks_file: Option<PathBuf>,
    /// Clock difference forgiven on `exp`, `nbf`, `iat` (a duration, default 0s).
    pub leeway: Option<String>,
}

/// What a Cognito user pool of an imported document is served with.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUserPool {
    /// The `iss` of its tokens (default `https://cognito-idp.REGION.amazonaws.com/POOL_ID`).
    pub issuer: Option<String>,
    pub jwks_url: Option<String>,
    pub jwks_file: Option<PathBuf>,
}

/// A Lambda authorizer: a function on a Lambda-compatible invoke endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLambdaAuthorizer {
    /// The invoke endpoint, e.g. `http://127.0.0.1:9001`.
    pub endpoint: String,
    /// A function name, `name:alias` or a function ARN.
    pub function: String,
    /// `token` or `request` (the default).
    pub payload: Option<String>,
    /// `1.0` (the default) or `2.0` (request authorizers of HTTP APIs).
    pub payload_format_version: Option<String>,
    /// Payload 2.0: the function answers `{"isAuthorized": ..}` instead of a policy.
    #[serde(default)]
    pub simple_responses: bool,
    /// `token`: a regular expression the token must match, else 401 without a call.
    pub identity_validation_expression: Option<String>,
    /// How long a call may take (default 10s, as API Gateway's authorizer limit).
    pub timeout: Option<String>,
}
