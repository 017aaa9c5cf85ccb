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
//! `request` import, and answers a policy. The table is read and split on an instance's first
//! call and kept for its later ones (with `instances: reuse`, the default). A token is compared
//! with each of the table's of its length to the last byte, not up to the first that differs.

use gatehouse_sdk::host;
use gatehouse_sdk::v0_3::{arn_for, request, AuthorizerError, Decision};
use std::cell::OnceCell;

struct Tokens;

/// The settings, read and split once per instance: they never change in an instance's life.
struct Table {
    /// (token, user)
    tokens: Vec<(String, String)>,
    /// (user, plan)
    plans: Vec<(String, String)>,
}

impl Table {
    fn load() -> Result<Table, String> {
        let tokens = host::config("tokens").ok_or("config `tokens` is not set")?;
        let plans = host::config("plans").unwrap_or_default();
        Ok(Table {
            tokens: pairs(&tokens),
            plans: pairs(&plans),
        })
    }

    /// The user of `token`. Every token of the same length is compared to the end, so how
    /// long the answer takes does not tell a caller how much of a token was right.
    fn user(&self, token: &str) -> Option<&str> {
        self.tokens.iter().fold(None, |found, (t, user)| {
            let same = same_bytes(t.as_bytes(), token.as_bytes());
            found.or(same.then_some(user.as_str()))
        })
    }

    fn plan(&self, user: &str) -> &str {
        self.plans
            .iter()
            .find(|(u, _)| u == user)
            .map_or("basic", |(_, plan)| plan)
    }
}

/// The `k=v` pairs of a `k=v,k=v` list, trimmed.
fn pairs(list: &str) -> Vec<(String, String)> {
    list.split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// Whether `a` and `b` are equal, looking at every byte of them whatever they hold, eight at a
/// time.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    words(a)
        .zip(words(b))
        .fold(0, |diff, (x, y)| diff | (x ^ y))
        == 0
}

/// `s` eight bytes at a time, the last word padded with zeros. Whole words are loaded as
/// such; copying each chunk into a buffer would call `memcpy` (a `memory.copy`, which the
/// host runs outside the plugin's code) once per word.
fn words(s: &[u8]) -> impl Iterator<Item = u64> + '_ {
    let whole = s.chunks_exact(8);
    let rest = whole.remainder();
    whole
        .map(|c| c.try_into().map_or(0, u64::from_le_bytes))
        .chain(
            (!rest.is_empty()).then(|| rest.iter().rev().fold(0, |w, &b| (w << 8) | u64::from(b))),
        )
}

thread_local! {
    static TABLE: OnceCell<Result<Table, String>> = const { OnceCell::new() };
}

impl gatehouse_sdk::v0_3::Authorizer for Tokens {
    fn authorize() -> Result<Decision, AuthorizerError> {
        let header = request::header("authorization").unwrap_or_default();
        let raw = header.trim();
        let token = raw.strip_prefix("Bearer ").unwrap_or(raw).trim();
        if token.is_empty() {
            return Err(AuthorizerError::Unauthorized);
        }
        TABLE.with(|table| {
            let table = table
                .get_or_init(Table::load)
                .as_ref()
                .map_err(|e| AuthorizerError::Failed(e.clone()))?;
            match table.user(token) {
                Some(user) => Ok(Decision::new(user)
                    .allow(arn_for("*", "*"))
                    .with_context("user", user)
                    .with_context("plan", table.plan(user))
                    .with_usage_key(token)),
                None => {
                    host::info("unknown token");
                    Ok(Decision::new("anonymous"))
                }
            }
        })
    }
}

gatehouse_sdk::export_authorizer_v0_3!(Tokens);
