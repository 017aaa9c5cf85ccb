//! {{name}}: a Gatehouse authorizer. A request whose `x-api-token` header equals the plugin's
//! `token` setting gets a policy that allows every method of its stage (principal `user`,
//! context `plugin` = `{{name}}`); another token gets an empty policy, so Gatehouse denies it
//! (403); a missing one is `unauthorized` (401).

wit_bindgen::generate!({ world: "authorizer", path: "wit", generate_all });

use gatehouse::plugin0_1_0::config;
use gatehouse::plugin0_2_0::types::{ContextEntry, Effect, Statement, Value};

struct Plugin;

impl Guest for Plugin {
    fn authorize(request: Request) -> Result<Decision, AuthorizerError> {
        let expected = config::get("token")
            .ok_or_else(|| AuthorizerError::Failed("config `token` is not set".to_string()))?;
        decide(
            header(&request, "x-api-token"),
            &expected,
            &request.context.method_arn,
        )
    }
}

export!(Plugin);

/// The first value of header `name` (header names arrive lowercase).
fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|h| h.name == name)
        .and_then(|h| h.values.first())
        .map(String::as_str)
}

/// The pattern of every method of the request's stage: its method ARN
/// (`arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH`) cut after the stage, then `/*`.
fn stage_pattern(method_arn: &str) -> String {
    let end = method_arn
        .match_indices('/')
        .nth(1)
        .map_or(method_arn.len(), |(i, _)| i);
    format!("{}/*", &method_arn[..end])
}

/// The decision for the token a request carries, given the configured one.
fn decide(
    token: Option<&str>,
    expected: &str,
    method_arn: &str,
) -> Result<Decision, AuthorizerError> {
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or(AuthorizerError::Unauthorized)?;
    if token != expected {
        return Ok(Decision {
            policy: Vec::new(),
            principal_id: "anonymous".to_string(),
            context: Vec::new(),
            usage_identifier_key: None,
        });
    }
    Ok(Decision {
        policy: vec![Statement {
            effect: Effect::Allow,
            resources: vec![stage_pattern(method_arn)],
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

    const ARN: &str = "arn:aws:execute-api:us-east-1:000000000000:demo/prod/GET/hello";

    #[test]
    fn the_configured_token_is_allowed_the_whole_stage() {
        let d = decide(Some("s3cret"), "s3cret", ARN).ok().unwrap();
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
        assert!(decide(Some("guess"), "s3cret", ARN)
            .ok()
            .unwrap()
            .policy
            .is_empty());
        assert!(matches!(
            decide(None, "s3cret", ARN),
            Err(AuthorizerError::Unauthorized)
        ));
        assert!(matches!(
            decide(Some(""), "s3cret", ARN),
            Err(AuthorizerError::Unauthorized)
        ));
    }
}
