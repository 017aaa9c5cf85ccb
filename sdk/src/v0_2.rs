//! The authorizer of `gatehouse:plugin@0.2.0`: it answers a policy, which Gatehouse evaluates
//! for each method as API Gateway evaluates a Lambda authorizer's policy (an explicit deny
//! wins, then an allow; otherwise 403), and caches for the caller's other methods.
//!
//! ```no_run
//! use gatehouse_sdk::v0_2::{Authorizer, Decision, Request};
//! use gatehouse_sdk::AuthorizerError;
//!
//! struct ReadOnly;
//!
//! impl Authorizer for ReadOnly {
//!     fn authorize(request: Request) -> Result<Decision, AuthorizerError> {
//!         request.header("authorization").ok_or(AuthorizerError::Unauthorized)?;
//!         Ok(Decision::new("reader")
//!             .allow(request.arn_for("GET", "*"))
//!             .with_context("level", 1))
//!     }
//! }
//!
//! gatehouse_sdk::export_authorizer_v0_2!(ReadOnly);
//! # fn main() {}
//! ```

use crate::types::{find_pair, first};

pub use crate::world::authorizer_v0_2::gatehouse::plugin0_2_0::types::{
    ContextEntry, Decision, Effect, Request, RequestContext, Statement, Value,
};
pub use crate::AuthorizerError;

/// An authorizer of 0.2.0: decides with a policy. `Err(AuthorizerError::Unauthorized)`
/// answers 401, `Err(AuthorizerError::Failed(reason))` answers 500 and logs the reason.
pub use crate::world::authorizer_v0_2::Guest as Authorizer;

impl Request {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        first(&self.headers, name, true)
    }

    /// The first value of query string parameter `name` (percent-decoded).
    pub fn query(&self, name: &str) -> Option<&str> {
        first(&self.query, name, false)
    }

    /// The path parameter `name` of the matched resource.
    pub fn path_param(&self, name: &str) -> Option<&str> {
        find_pair(&self.path_parameters, name)
    }

    /// The stage variable `name`.
    pub fn stage_variable(&self, name: &str) -> Option<&str> {
        find_pair(&self.stage_variables, name)
    }

    /// The method ARN of this request with another method and path (each may be a pattern):
    ///
    /// ```
    /// let r = gatehouse_sdk::v0_2::Request::example("DELETE", "/prod/items/7");
    /// assert_eq!(r.context.method_arn, "arn:aws:execute-api:us-east-1:000000000000:example/prod/DELETE/items/7");
    /// assert_eq!(r.arn_for("GET", "items/*"), "arn:aws:execute-api:us-east-1:000000000000:example/prod/GET/items/*");
    /// assert_eq!(r.arn_for("*", "*"), "arn:aws:execute-api:us-east-1:000000000000:example/prod/*/*");
    /// ```
    pub fn arn_for(&self, method: &str, path: &str) -> String {
        arn_with(&self.context.method_arn, method, path)
    }

    /// A request with the given method and path (its first segment as the stage) and nothing
    /// else, for tests and examples.
    pub fn example(method: &str, path: &str) -> Request {
        let path = path.to_owned();
        let (stage, rest) = path
            .trim_start_matches('/')
            .split_once('/')
            .unwrap_or((path.trim_start_matches('/'), ""));
        Request {
            method: method.into(),
            resource_path: format!("/{rest}"),
            path_parameters: Vec::new(),
            query: Vec::new(),
            headers: Vec::new(),
            stage_variables: Vec::new(),
            context: RequestContext {
                request_id: "example".into(),
                api_id: "example".into(),
                stage: stage.into(),
                source_ip: "127.0.0.1".into(),
                user_agent: None,
                method_arn: format!(
                    "arn:aws:execute-api:us-east-1:000000000000:example/{stage}/{method}/{rest}"
                ),
                client_cert: None,
                request_time_epoch: 0,
            },
            path,
        }
    }
}

/// `arn` (a method ARN) with another method and path.
pub(crate) fn arn_with(arn: &str, method: &str, path: &str) -> String {
    let kept = &arn[..api_and_stage_len(arn)];
    let mut out = String::with_capacity(kept.len() + method.len() + 1 + path.len());
    out.push_str(kept);
    push_method_and_path(&mut out, method, path);
    out
}

/// [`arn_with`] written over `arn` itself: a 0.3.0 plugin's own copy of the method ARN, which
/// it has no other use for, becomes the new one without another allocation.
pub(crate) fn into_arn_with(mut arn: String, method: &str, path: &str) -> String {
    arn.truncate(api_and_stage_len(&arn));
    push_method_and_path(&mut arn, method, path);
    arn
}

fn push_method_and_path(out: &mut String, method: &str, path: &str) {
    out.push_str(method);
    out.push('/');
    out.push_str(path);
}

/// How much of a method ARN, `arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH`, names
/// the API and stage: up to the `/` after the stage (all of it when it has fewer parts). A
/// plain scan of the bytes, which `str`'s character searches take several times as long
/// over in a plugin's compiled code; it can only stop after a `:` or `/` byte, which UTF-8
/// never uses inside a longer character, so it ends on a character boundary.
fn api_and_stage_len(arn: &str) -> usize {
    let (mut colons, mut slashes) = (0, 0);
    for (i, &b) in arn.as_bytes().iter().enumerate() {
        if colons < 5 {
            colons += usize::from(b == b':');
        } else if b == b'/' {
            slashes += 1;
            if slashes == 2 {
                return i + 1;
            }
        }
    }
    arn.len()
}

impl Decision {
    /// A decision for `principal_id` with an empty policy (which denies every method); add
    /// statements with [`Decision::allow`] and [`Decision::deny`].
    ///
    /// ```
    /// use gatehouse_sdk::v0_2::{Decision, Effect, Value};
    /// let d = Decision::new("alice")
    ///     .allow("arn:aws:execute-api:*:*:shop/prod/GET/*")
    ///     .deny("arn:aws:execute-api:*:*:shop/prod/DELETE/*")
    ///     .with_context("tier", "gold")
    ///     .with_context("limit", 100)
    ///     .with_context("beta", true);
    /// assert!(matches!(d.policy[1].effect, Effect::Deny));
    /// assert!(matches!(d.context[1].value, Value::Integer(100)));
    /// ```
    pub fn new(principal_id: impl Into<String>) -> Decision {
        Decision {
            policy: Vec::new(),
            principal_id: principal_id.into(),
            context: Vec::new(),
            usage_identifier_key: None,
        }
    }

    /// Allows the methods whose ARN matches `resource` (`*`: any run of characters, `?`: one).
    pub fn allow(self, resource: impl Into<String>) -> Decision {
        self.statement(Effect::Allow, resource.into())
    }

    /// Denies the methods whose ARN matches `resource`; a deny wins over any allow.
    pub fn deny(self, resource: impl Into<String>) -> Decision {
        self.statement(Effect::Deny, resource.into())
    }

    fn statement(mut self, effect: Effect, resource: String) -> Decision {
        self.policy.push(Statement {
            effect,
            resources: vec![resource],
        });
        self
    }

    /// Adds `key` = `value` to the context passed on as `$context.authorizer.KEY` (as text).
    pub fn with_context(mut self, key: impl Into<String>, value: impl Into<Value>) -> Decision {
        self.context.push(ContextEntry {
            name: key.into(),
            value: value.into(),
        });
        self
    }

    /// Sets the API key that usage plans use when the API's key source is `AUTHORIZER`.
    pub fn with_usage_key(mut self, key: impl Into<String>) -> Decision {
        self.usage_identifier_key = Some(key.into());
        self
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Text(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Text(s)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Integer(n)
    }
}

impl From<i32> for Value {
    fn from(n: i32) -> Value {
        Value::Integer(n.into())
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Value {
        Value::Integer(n.into())
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Value {
        Value::Number(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Boolean(b)
    }
}

#[cfg(test)]
mod tests {
    use super::{arn_with, into_arn_with};

    #[test]
    fn another_method_and_path_keep_the_api_and_stage() {
        let arn = "arn:aws:execute-api:us-east-1:123456789012:shop/prod/GET/items/7";
        let want = "arn:aws:execute-api:us-east-1:123456789012:shop/prod/*/*";
        assert_eq!(arn_with(arn, "*", "*"), want);
        assert_eq!(into_arn_with(arn.to_owned(), "*", "*"), want);
        assert_eq!(
            arn_with(arn, "DELETE", "items/*"),
            "arn:aws:execute-api:us-east-1:123456789012:shop/prod/DELETE/items/*"
        );
        // A stage or path with colons or non-ASCII text: only the resource's slashes count.
        let odd = "arn:aws:execute-api:eu-west-1:1:api/st:ä/GET/a:b";
        assert_eq!(
            into_arn_with(odd.to_owned(), "PUT", "x"),
            "arn:aws:execute-api:eu-west-1:1:api/st:ä/PUT/x"
        );
    }

    #[test]
    fn an_arn_of_fewer_parts_is_kept_whole() {
        for arn in [
            "",
            "arn:aws",
            "arn:aws:execute-api:r:a:api",
            "arn:aws:execute-api:r:a:api/prod",
        ] {
            assert_eq!(arn_with(arn, "GET", "x"), format!("{arn}GET/x"));
            assert_eq!(
                into_arn_with(arn.to_owned(), "GET", "x"),
                format!("{arn}GET/x")
            );
        }
    }
}
