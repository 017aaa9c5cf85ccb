//! IAM-style authorizer policies, as Lambda authorizers and 0.2.0 authorizer plugins answer
//! them, evaluated against the method ARN
//! `arn:aws:execute-api:{region}:{account}:{api}/{stage}/{METHOD}/{path}`: an explicit `Deny`
//! statement that matches wins, then an `Allow` that matches; otherwise the request is denied
//! (403). `Resource` and `Action` patterns take `*` and `?`. The decision cache keeps an
//! [`Answer`], not its verdict, so a cached policy decides for the caller's other methods as
//! API Gateway does.

use crate::ctx::AuthContext;
use crate::error::{Rejection, ResponseType};
use std::sync::Arc;

/// What a plugin or Lambda authorizer decided, as the decision cache keeps it.
#[derive(Debug)]
pub enum Outcome {
    Allow(Arc<AuthContext>),
    Deny,
    /// A Lambda authorizer's or 0.2.0 plugin's answer, evaluated for each method it is used
    /// for.
    Policy(Answer),
}

/// What an authorizer answered.
#[derive(Debug)]
pub enum Answer {
    /// A policy, evaluated for each method it decides for.
    Policy {
        statements: Box<[Statement]>,
        auth: Arc<AuthContext>,
    },
    /// A Lambda authorizer's simple response (payload 2.0): the same verdict for every method.
    Simple { allow: bool, auth: Arc<AuthContext> },
}

impl Answer {
    /// What the cache counts this answer as, in bytes (roughly).
    pub fn weight(&self) -> usize {
        let auth = match self {
            Self::Policy { auth, .. } | Self::Simple { auth, .. } => auth,
        };
        let statements = match self {
            Self::Policy { statements, .. } => statements
                .iter()
                .map(|s| {
                    64 + s
                        .actions
                        .iter()
                        .chain(&s.resources)
                        .map(String::len)
                        .sum::<usize>()
                })
                .sum(),
            Self::Simple { .. } => 0,
        };
        statements
            + auth.principal_id.len()
            + auth
                .context
                .iter()
                .map(|(k, v)| k.len() + v.len() + 48)
                .sum::<usize>()
    }

    /// The caller's context when this answer allows `method_arn`.
    pub fn decide(&self, method_arn: &str) -> Option<Arc<AuthContext>> {
        match self {
            Self::Simple { allow, auth } => allow.then(|| auth.clone()),
            Self::Policy { statements, auth } => {
                let matching = |effect| {
                    statements
                        .iter()
                        .any(|s| s.allow == effect && s.matches(method_arn))
                };
                (!matching(false) && matching(true)).then(|| auth.clone())
            }
        }
    }

    pub fn denial(&self) -> Rejection {
        let r = Rejection::new(
            ResponseType::AccessDenied,
            "the authorizer's answer does not allow this method",
        );
        match self {
            // HTTP APIs answer a simple denial with 403 `Forbidden`.
            Self::Simple { .. } => r.with_message("Forbidden"),
            Self::Policy { .. } => r,
        }
    }
}

/// A context value as integrations and templates see it (`$context.authorizer.KEY`): a string
/// as it is, a number or boolean as JSON writes it, null as empty; `None` for a list or an
/// object, which API Gateway refuses.
pub fn context_text(v: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
        Value::Null => Some(String::new()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// The action a policy statement names for calling a method.
const INVOKE: &str = "execute-api:Invoke";

/// One statement of a policy document.
#[derive(Debug, PartialEq, Eq)]
pub struct Statement {
    pub allow: bool,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
}

impl Statement {
    /// A statement of the effect `allow` for `execute-api:Invoke` on `resources`.
    pub fn invoke(allow: bool, resources: Vec<String>) -> Self {
        Self {
            allow,
            actions: vec![INVOKE.to_owned()],
            resources,
        }
    }

    fn matches(&self, method_arn: &str) -> bool {
        self.actions
            .iter()
            .any(|a| wildcard(a.as_bytes(), INVOKE.as_bytes()))
            && self
                .resources
                .iter()
                .any(|r| wildcard(r.as_bytes(), method_arn.as_bytes()))
    }
}

/// Whether `text` matches `pattern`, where `*` is any run of bytes and `?` any one byte
/// (linear in the worst case: the last `*` is the only backtrack point).
pub fn wildcard(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_iam_does() {
        let arn = b"arn:aws:execute-api:us-east-1:000000000000:shop/prod/GET/pets/1";
        assert!(wildcard(b"*", arn));
        assert!(wildcard(
            b"arn:aws:execute-api:us-east-1:000000000000:shop/prod/GET/*",
            arn
        ));
        assert!(wildcard(b"arn:aws:execute-api:*:*:shop/*/GET/pets/?", arn));
        assert!(!wildcard(b"arn:aws:execute-api:*:*:shop/*/POST/*", arn));
        assert!(!wildcard(
            b"arn:aws:execute-api:*:*:shop/prod/GET/pets",
            arn
        ));
        assert!(wildcard(b"a*b*c", b"aXXbYYc"));
        assert!(!wildcard(b"a*b*c", b"aXXbYY"));
        assert!(wildcard(b"", b""));
        assert!(!wildcard(b"?", b""));
    }
}
