//! {{name}}: a Gatehouse authorizer. A request is allowed when its `x-api-token` header equals
//! the plugin's `token` setting (principal `user`, context `plugin` = `{{name}}`); another
//! token is denied (403) and a missing one is `unauthorized` (401).

wit_bindgen::generate!({ world: "authorizer", path: "wit" });

use gatehouse::plugin::config;
use gatehouse::plugin::types::Pair;

struct Plugin;

impl Guest for Plugin {
    fn authorize(request: Request) -> Result<Decision, AuthorizerError> {
        let expected = config::get("token")
            .ok_or_else(|| AuthorizerError::Failed("config `token` is not set".to_string()))?;
        decide(header(&request, "x-api-token"), &expected)
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

/// The decision for the token a request carries, given the configured one.
fn decide(token: Option<&str>, expected: &str) -> Result<Decision, AuthorizerError> {
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or(AuthorizerError::Unauthorized)?;
    let allow = token == expected;
    Ok(Decision {
        allow,
        principal_id: if allow { "user" } else { "anonymous" }.to_string(),
        context: if allow {
            vec![Pair {
                name: "plugin".to_string(),
                value: "{{name}}".to_string(),
            }]
        } else {
            Vec::new()
        },
        usage_identifier_key: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configured_token_is_allowed() {
        let d = decide(Some("s3cret"), "s3cret").ok().unwrap();
        assert!(d.allow);
        assert_eq!(d.principal_id, "user");
    }

    #[test]
    fn another_token_is_denied_and_none_is_unauthorized() {
        assert!(!decide(Some("guess"), "s3cret").ok().unwrap().allow);
        assert!(matches!(
            decide(None, "s3cret"),
            Err(AuthorizerError::Unauthorized)
        ));
        assert!(matches!(
            decide(Some(""), "s3cret"),
            Err(AuthorizerError::Unauthorized)
        ));
    }
}
