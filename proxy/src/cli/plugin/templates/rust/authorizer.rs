//! {{name}}: a Gatehouse authorizer. A request whose `x-api-token` header equals the plugin's
//! `token` setting gets a policy that allows every method of its stage (principal `user`,
//! context `plugin` = `{{name}}`); another token gets an empty policy, so Gatehouse denies it
//! (403); a missing one is `unauthorized` (401).
//!
//! `authorize` takes no argument: it asks the `request` import for what it needs (here one
//! header and, when it allows, the method ARN), so nothing else of the request is copied in.

wit_bindgen::generate!({ world: "authorizer", path: "wit", generate_all });

use gatehouse::plugin0_1_0::config;
use gatehouse::plugin0_2_0::types::{ContextEntry, Effect, Statement, Value};
use gatehouse::plugin0_3_0::request;

struct Plugin;

impl Guest for Plugin {
    fn authorize() -> Result<PolicyDecision, AuthorizerError> {
        let expected = config::get("token")
            .ok_or_else(|| AuthorizerError::Failed("config `token` is not set".to_string()))?;
        decide(
            request::header("x-api-token").as_deref(),
            &expected,
            request::method_arn,
        )
    }
}

export!(Plugin);

/// The pattern of every method of the request's stage: its method ARN
/// (`arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH`) cut after the stage, then `/*`.
fn stage_pattern(method_arn: &str) -> String {
    let end = method_arn
        .match_indices('/')
        .nth(1)
        .map_or(method_arn.len(), |(i, _)| i);
    format!("{}/*", &method_arn[..end])
}

/// The decision for the token a request carries, given the configured one; `method_arn` is
/// asked for only when the token is allowed.
fn decide(
    token: Option<&str>,
    expected: &str,
    method_arn: impl FnOnce() -> String,
) -> Result<PolicyDecision, AuthorizerError> {
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or(AuthorizerError::Unauthorized)?;
    if token != expected {
        return Ok(PolicyDecision {
            policy: Vec::new(),
            principal_id: "anonymous".to_string(),
            context: Vec::new(),
            usage_identifier_key: None,
        });
    }
    Ok(PolicyDecision {
        policy: vec![Statement {
            effect: Effect::Allow,
            resources: vec![stage_pattern(&method_arn())],
        }],
        principal_id: "user".to_string(),
        context: vec![ContextEntry {
            name: "plugin".to_string(),
            value: Value::Text("{{name}}".to_string()),
        }],
        usage_identifier_key: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arn() -> String {
        "arn:aws:execute-api:us-east-1:000000000000:demo/prod/GET/hello".to_string()
    }

    #[test]
    fn the_configured_token_is_allowed_the_whole_stage() {
        let d = decide(Some("s3cret"), "s3cret", arn).ok().unwrap();
        assert_eq!(d.principal_id, "user");
        assert_eq!(d.policy.len(), 1);
        assert!(matches!(d.policy[0].effect, Effect::Allow));
        assert_eq!(
            d.policy[0].resources,
            ["arn:aws:execute-api:us-east-1:000000000000:demo/prod/*"]
        );
    }

    #[test]
    fn another_token_is_denied_and_none_is_unauthorized() {
        assert!(decide(Some("guess"), "s3cret", arn)
            .ok()
            .unwrap()
            .policy
            .is_empty());
        assert!(matches!(
            decide(None, "s3cret", arn),
            Err(AuthorizerError::Unauthorized)
        ));
        assert!(matches!(
            decide(Some(""), "s3cret", arn),
            Err(AuthorizerError::Unauthorized)
        ));
    }
}
