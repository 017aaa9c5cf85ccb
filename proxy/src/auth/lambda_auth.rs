//! Lambda authorizers: a function on a Lambda-compatible invoke endpoint decides, as API
//! Gateway calls it.
//!
//! The function receives API Gateway's authorizer event: `TOKEN` (`authorizationToken`,
//! `methodArn`), `REQUEST` in payload 1.0 (the proxy event without a body, plus `type` and
//! `methodArn`) or `REQUEST` in payload 2.0 (the HTTP API event without a body, plus `type`,
//! `routeArn` and `identitySource`). It answers an IAM policy (`principalId`,
//! `policyDocument`, `context`, `usageIdentifierKey`), or with payload 2.0 and simple
//! responses `{"isAuthorized": .., "context": ..}`.
//!
//! A policy is evaluated against the method ARN as `policy.rs` describes; the cache keeps the
//! policy, not the decision, so a cached policy decides for the caller's other methods as API
//! Gateway does.
//! A function error `Unauthorized` is 401; any other error, an unreachable endpoint or an
//! answer that is not a valid policy is 500 `AUTHORIZER_CONFIGURATION_ERROR`.

use super::policy::{context_text, Actions, Answer, Statement};
use crate::ctx::AuthContext;
use crate::error::{Rejection, ResponseType};
use crate::integration::lambda::PayloadFormat;
use crate::integration::Outbound;
use crate::trace::Propagation;
use bytes::Bytes;
use http::{HeaderValue, Request, Uri};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// Most bytes of an authorizer's answer.
const MAX_ANSWER: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    Token,
    Request,
}

#[derive(Debug)]
pub struct LambdaAuthorizer {
    pub name: String,
    pub invoke_uri: Uri,
    pub payload: Payload,
    pub format: PayloadFormat,
    pub simple_responses: bool,
    /// `token`: the identity validation expression, which the binding checks (`AuthorizerBinding::validation`).
    pub identity_validation: Option<regex::Regex>,
    pub timeout: Duration,
}

fn config_error(name: &str, why: impl std::fmt::Display) -> Rejection {
    Rejection::new(
        ResponseType::AuthorizerConfigurationError,
        format!("Lambda authorizer `{name}`: {why}"),
    )
}

/// A string list from a policy field that holds one string or a list of them.
fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => a.iter().map(|x| x.as_str().map(str::to_owned)).collect(),
        _ => None,
    }
}

/// The `context` map: strings, numbers and booleans, each kept as text; a list or an object
/// is refused, as API Gateway refuses it.
fn context(v: Option<&Value>) -> Result<Vec<(String, String)>, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let map = v.as_object().ok_or("`context` is not an object")?;
    map.iter()
        .map(|(k, v)| match context_text(v) {
            Some(text) => Ok((k.clone(), text)),
            None => Err(format!("`context.{k}` is a list or an object; only strings, numbers and booleans are passed on")),
        })
        .collect()
}

/// Reads a function's answer.
pub fn parse_answer(body: &[u8], simple: bool) -> Result<Answer, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    let obj = v.as_object().ok_or("the answer is not a JSON object")?;
    let ctx = context(obj.get("context"))?;
    if simple {
        let allow = obj
            .get("isAuthorized")
            .and_then(Value::as_bool)
            .ok_or("a simple response needs a boolean `isAuthorized`")?;
        let auth = AuthContext {
            principal_id: String::new(),
            context: ctx,
            usage_identifier_key: None,
            jwt: None,
        };
        return Ok(Answer::Simple {
            allow,
            auth: Arc::new(auth),
        });
    }
    let principal_id = match obj.get("principalId") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err("the answer has no `principalId`".into()),
    };
    let doc = obj
        .get("policyDocument")
        .and_then(Value::as_object)
        .ok_or("the answer has no `policyDocument` object")?;
    let list = match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect::<Vec<_>>(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return Err("`policyDocument.Statement` is not a list of statements".into()),
    };
    let mut statements = Vec::with_capacity(list.len());
    for (i, s) in list.into_iter().enumerate() {
        let allow = match s.get("Effect").and_then(Value::as_str) {
            Some(e) if e.eq_ignore_ascii_case("allow") => true,
            Some(e) if e.eq_ignore_ascii_case("deny") => false,
            _ => return Err(format!("statement {i} has no `Effect` of Allow or Deny")),
        };
        let actions =
            strings(s.get("Action")).ok_or_else(|| format!("statement {i} has no `Action`"))?;
        let resources =
            strings(s.get("Resource")).ok_or_else(|| format!("statement {i} has no `Resource`"))?;
        statements.push(Statement {
            allow,
            actions: Actions::from_list(actions),
            resources,
        });
    }
    let usage_identifier_key = obj
        .get("usageIdentifierKey")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(Answer::Policy {
        statements: statements.into_boxed_slice(),
        auth: Arc::new(AuthContext {
            principal_id,
            context: ctx,
            usage_identifier_key,
            jwt: None,
        }),
    })
}

impl LambdaAuthorizer {
    /// Calls the function with `event`, carrying the request's trace when it is recorded.
    pub async fn call(
        &self,
        out: &dyn Outbound,
        event: Value,
        trace: Option<&Propagation>,
    ) -> Result<Answer, Rejection> {
        let mut req = Request::new(crate::body::Body::full(Bytes::from(event.to_string())));
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = self.invoke_uri.clone();
        req.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(t) = trace {
            t.apply(req.headers_mut());
        }
        let (parts, body) = crate::integration::exchange(out, req, MAX_ANSWER, self.timeout)
            .await
            .map_err(|r| config_error(&self.name, r.reason))?;
        if !parts.status.is_success() {
            return Err(config_error(
                &self.name,
                format!("the invoke endpoint answered {}", parts.status.as_u16()),
            ));
        }
        if parts.headers.contains_key("x-amz-function-error") {
            let message = serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
                v.get("errorMessage")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
            if message.as_deref() == Some("Unauthorized") {
                return Err(Rejection::new(
                    ResponseType::Unauthorized,
                    format!("Lambda authorizer `{}` answered Unauthorized", self.name),
                ));
            }
            return Err(config_error(
                &self.name,
                format!(
                    "the function failed: {}",
                    message
                        .unwrap_or_else(
                            || String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
                        )
                ),
            ));
        }
        let simple = self.simple_responses && self.format == PayloadFormat::V2;
        parse_answer(&body, simple).map_err(|e| config_error(&self.name, e))
    }
}

/// The `TOKEN` event.
pub fn token_event(token: &str, method_arn: &str) -> Value {
    let mut e = Map::new();
    e.insert("type".into(), "TOKEN".into());
    e.insert("authorizationToken".into(), token.into());
    e.insert("methodArn".into(), method_arn.into());
    Value::Object(e)
}

/// A `REQUEST` event from the proxy event of the same payload format.
pub fn request_event(
    mut proxy_event: Value,
    format: PayloadFormat,
    arn: &str,
    identity: Vec<String>,
) -> Value {
    if let Some(e) = proxy_event.as_object_mut() {
        e.remove("body");
        e.remove("isBase64Encoded");
        e.insert("type".into(), "REQUEST".into());
        match format {
            PayloadFormat::V1 => {
                e.insert("methodArn".into(), arn.into());
            }
            PayloadFormat::V2 => {
                e.insert("routeArn".into(), arn.into());
                e.insert("identitySource".into(), identity.into());
            }
        }
    }
    proxy_event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_deny_wins_then_allow_else_deny() {
        let answer = parse_answer(
            br#"{"principalId": "u1", "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:aws:execute-api:*:*:shop/prod/*"},
                {"Action": ["execute-api:*"], "Effect": "Deny", "Resource": ["arn:aws:execute-api:*:*:shop/prod/DELETE/*"]}
            ]}, "context": {"tier": "gold", "n": 3, "ok": true}, "usageIdentifierKey": "k1"}"#,
            false,
        )
        .unwrap();
        let arn =
            |m: &str| format!("arn:aws:execute-api:us-east-1:000000000000:shop/prod/{m}/pets");
        let auth = answer.decide(&arn("GET")).unwrap();
        assert_eq!(auth.principal_id, "u1");
        assert_eq!(
            auth.context,
            [
                ("tier".into(), "gold".into()),
                ("n".into(), "3".into()),
                ("ok".into(), "true".into())
            ]
        );
        assert_eq!(auth.usage_identifier_key.as_deref(), Some("k1"));
        assert!(answer.decide(&arn("DELETE")).is_none());
        assert!(answer
            .decide("arn:aws:execute-api:us-east-1:000000000000:shop/test/GET/pets")
            .is_none());
    }

    #[test]
    fn malformed_answers_are_refused() {
        for bad in [
            &br#"{"policyDocument": {"Statement": []}}"#[..],
            br#"{"principalId": "u", "policyDocument": {"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}}"#,
            br#"{"principalId": "u", "policyDocument": {"Statement": []}, "context": {"a": {"b": 1}}}"#,
            b"[]",
        ] {
            assert!(parse_answer(bad, false).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let simple = parse_answer(br#"{"isAuthorized": false}"#, true).unwrap();
        assert!(simple.decide("x").is_none());
        assert!(parse_answer(br#"{"isAuthorized": "yes"}"#, true).is_err());
    }
}
