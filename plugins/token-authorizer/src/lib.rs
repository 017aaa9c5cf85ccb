//! A bearer-token authorizer. Its config holds the token table:
//!
//! ```yaml
//! plugins:
//!   tokens:
//!     path: plugins/dist/token-authorizer.wasm
//!     config:
//!       tokens: "tok-alice=alice,tok-bob=bob"   # token=user pairs
//!       plans: "alice=gold"                      # optional: user=plan, passed as context `plan`
//! ```
//!
//! `Authorization: Bearer TOKEN` (or the bare token) of a known token is allowed every method
//! of the stage with the user as principal id, context `user` and `plan`, and the token as
//! usage identifier key (for usage plans with key source AUTHORIZER). An unknown token is
//! denied (403); a missing or empty header is `unauthorized` (401).
//!
//! It is written for `gatehouse:plugin@0.3.0`: it reads the one header it needs through the
//! `request` import, and answers a policy.

use gatehouse_sdk::host;
use gatehouse_sdk::v0_3::{arn_for, request, AuthorizerError, Decision};

struct Tokens;

/// The value for `key` in a `k=v,k=v` list.
fn lookup<'a>(list: &'a str, key: &str) -> Option<&'a str> {
    list.split(',')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim())
}

impl gatehouse_sdk::v0_3::Authorizer for Tokens {
    fn authorize() -> Result<Decision, AuthorizerError> {
        let header = request::header("authorization").unwrap_or_default();
        let raw = header.trim();
        let token = raw.strip_prefix("Bearer ").unwrap_or(raw).trim();
        if token.is_empty() {
            return Err(AuthorizerError::Unauthorized);
        }
        let table = host::config("tokens")
            .ok_or_else(|| AuthorizerError::Failed("config `tokens` is not set".into()))?;
        match lookup(&table, token) {
            Some(user) => {
                let plans = host::config("plans").unwrap_or_default();
                let plan = lookup(&plans, user).unwrap_or("basic");
                Ok(Decision::new(user)
                    .allow(arn_for("*", "*"))
                    .with_context("user", user)
                    .with_context("plan", plan)
                    .with_usage_key(token))
            }
            None => {
                host::info("unknown token");
                Ok(Decision::new("anonymous"))
            }
        }
    }
}

gatehouse_sdk::export_authorizer_v0_3!(Tokens);
