//! An authorizer of `gatehouse:plugin@0.2.0` that answers a policy. Its config holds the
//! token table and the admins:
//!
//! ```yaml
//! plugins:
//!   policies:
//!     path: plugins/dist/policy-authorizer.wasm
//!     config:
//!       tokens: "tok-alice=alice,tok-root=root"   # token=user pairs
//!       admins: "root"                            # optional: users who may also DELETE
//! ```
//!
//! A known token gets a policy for the whole stage: every method is allowed, and `DELETE` is
//! denied unless the user is an admin (an explicit deny wins over the allow). The context
//! carries typed values: `user` (text), `admin` (boolean), `level` (integer: 2 for admins, 1
//! otherwise) and `ratio` (number, 0.5), and on a mutual TLS connection `certSubject` (the
//! client certificate's subject); the token is the usage identifier key. Each call logs
//! `policy for USER`, so a test can tell a call from a cached policy. An unknown token gets an
//! empty policy (403 for every method); a missing header is `unauthorized` (401).

use gatehouse_sdk::v0_2::{Authorizer, Decision, Request};
use gatehouse_sdk::{host, AuthorizerError};

struct Policies;

/// The value for `key` in a `k=v,k=v` list.
fn lookup<'a>(list: &'a str, key: &str) -> Option<&'a str> {
    list.split(',')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim())
}

impl Authorizer for Policies {
    fn authorize(request: Request) -> Result<Decision, AuthorizerError> {
        let raw = request.header("authorization").unwrap_or("").trim();
        let token = raw.strip_prefix("Bearer ").unwrap_or(raw).trim();
        if token.is_empty() {
            return Err(AuthorizerError::Unauthorized);
        }
        let table = host::config("tokens")
            .ok_or_else(|| AuthorizerError::Failed("config `tokens` is not set".into()))?;
        let Some(user) = lookup(&table, token) else {
            host::info("unknown token");
            return Ok(Decision::new("anonymous"));
        };
        host::info(&format!("policy for {user}"));
        let admin = host::config("admins")
            .unwrap_or_default()
            .split(',')
            .any(|a| a.trim() == user);
        let mut decision = Decision::new(user).allow(request.arn_for("*", "*"));
        if !admin {
            decision = decision.deny(request.arn_for("DELETE", "*"));
        }
        if let Some(cert) = &request.context.client_cert {
            decision = decision.with_context("certSubject", cert.subject_dn.as_str());
        }
        Ok(decision
            .with_context("user", user)
            .with_context("admin", admin)
            .with_context("level", if admin { 2 } else { 1 })
            .with_context("ratio", 0.5)
            .with_usage_key(token))
    }
}

gatehouse_sdk::export_authorizer_v0_2!(Policies);
