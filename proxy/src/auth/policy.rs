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
                    64 + s.actions.weight() + s.resources.iter().map(String::len).sum::<usize>()
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
    pub actions: Actions,
    pub resources: Vec<String>,
}

/// The actions a statement names.
#[derive(Debug, PartialEq, Eq)]
pub enum Actions {
    /// `execute-api:Invoke` alone: a plugin's statements, which name no action.
    Invoke,
    /// Action patterns, as a Lambda authorizer's policy lists them.
    Listed(Vec<String>),
}

impl Actions {
    /// Whether one of them is `execute-api:Invoke`.
    fn invoke(&self) -> bool {
        match self {
            Self::Invoke => true,
            Self::Listed(list) => list
                .iter()
                .any(|a| wildcard(a.as_bytes(), INVOKE.as_bytes())),
        }
    }

    /// `list` as a statement's actions: exactly `execute-api:Invoke` is [`Actions::Invoke`].
    pub fn from_list(list: Vec<String>) -> Self {
        match list.as_slice() {
            [one] if one == INVOKE => Self::Invoke,
            _ => Self::Listed(list),
        }
    }

    /// The patterns, as a policy document lists them.
    pub fn to_list(&self) -> Vec<String> {
        match self {
            Self::Invoke => vec![INVOKE.to_owned()],
            Self::Listed(list) => list.clone(),
        }
    }

    fn weight(&self) -> usize {
        match self {
            Self::Invoke => INVOKE.len(),
            Self::Listed(list) => list.iter().map(String::len).sum(),
        }
    }
}

impl Statement {
    /// A statement of the effect `allow` for `execute-api:Invoke` on `resources`.
    pub fn invoke(allow: bool, resources: Vec<String>) -> Self {
        Self {
            allow,
            actions: Actions::Invoke,
            resources,
        }
    }

    fn matches(&self, method_arn: &str) -> bool {
        self.actions.invoke()
            && self
                .resources
                .iter()
                .any(|r| wildcard(r.as_bytes(), method_arn.as_bytes()))
    }
}

/// Whether `text` matches `pattern`, where `*` is any run of bytes and `?` any one byte. The
/// parts between stars are matched in order: the first at the start of `text`, the last at its
/// end, each other one at the leftmost place after the one before (which is never wrong, since
/// what a part leaves to the right is then the longest). A pattern of literal ARN prefixes is
/// so compared a slice at a time rather than a byte at a time.
pub fn wildcard(pattern: &[u8], text: &[u8]) -> bool {
    let Some(last_star) = pattern.iter().rposition(|&b| b == b'*') else {
        return pattern.len() == text.len() && part_matches(pattern, text);
    };
    let first_star = pattern.iter().position(|&b| b == b'*').unwrap_or(last_star);
    let (head, tail) = (&pattern[..first_star], &pattern[last_star + 1..]);
    if text.len() < head.len() + tail.len()
        || !part_matches(head, &text[..head.len()])
        || !part_matches(tail, &text[text.len() - tail.len()..])
    {
        return false;
    }
    let mut rest = &text[head.len()..text.len() - tail.len()];
    if first_star == last_star {
        return true;
    }
    for part in pattern[first_star + 1..last_star].split(|&b| b == b'*') {
        if part.is_empty() {
            continue;
        }
        if part.len() > rest.len() {
            return false;
        }
        match (0..=rest.len() - part.len()).find(|&i| part_matches(part, &rest[i..i + part.len()]))
        {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

/// Whether `text` (as long as `part`) matches `part`, which has no `*` (`?` is any byte).
fn part_matches(part: &[u8], text: &[u8]) -> bool {
    if !part.contains(&b'?') {
        return part == text;
    }
    part.iter().zip(text).all(|(&p, &t)| p == b'?' || p == t)
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
        assert!(wildcard(b"*", b""));
        assert!(wildcard(b"**", b"x"));
        assert!(!wildcard(b"", b"x"));
        assert!(!wildcard(b"abc", b"abd"));
        assert!(wildcard(b"a?c", b"abc"));
        // Head and tail may not overlap.
        assert!(!wildcard(b"ab*ba", b"aba"));
        assert!(wildcard(b"ab*ba", b"abba"));
        assert!(wildcard(b"a*a", b"aa"));
        assert!(!wildcard(b"a*a", b"a"));
        // Middle parts in order, each after the one before.
        assert!(wildcard(b"*b*a*", b"xbyaz"));
        assert!(!wildcard(b"*a*b*", b"xbyaz"));
        assert!(wildcard(b"*?b*", b"bb"));
        assert!(!wildcard(b"*?b*", b"b"));
        assert!(wildcard(b"x*ab*ab*y", b"xabababy"));
        assert!(!wildcard(b"x*ab*ab*y", b"xaby"));
        assert!(wildcard(b"*/GET/*", b"api/prod/GET/pets"));
    }

    /// The definition, one byte or star at a time, for checking [`wildcard`] against.
    fn by_definition(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, _) => t.is_empty(),
            (Some(b'*'), _) => {
                by_definition(&p[1..], t) || (!t.is_empty() && by_definition(p, &t[1..]))
            }
            (Some(_), None) => false,
            (Some(&c), Some(&b)) => (c == b'?' || c == b) && by_definition(&p[1..], &t[1..]),
        }
    }

    /// Every word of up to `len` letters from `alphabet`.
    fn words(alphabet: &[u8], len: usize) -> Vec<Vec<u8>> {
        let mut all = vec![Vec::new()];
        let mut last = vec![Vec::new()];
        for _ in 0..len {
            last = last
                .iter()
                .flat_map(|w: &Vec<u8>| {
                    alphabet.iter().map(move |&c| [w.as_slice(), &[c]].concat())
                })
                .collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    #[test]
    fn wildcards_agree_with_the_definition_on_every_short_pattern() {
        let texts = words(b"ab", 6);
        for pattern in words(b"ab*?", 5) {
            for text in &texts {
                assert_eq!(
                    wildcard(&pattern, text),
                    by_definition(&pattern, text),
                    "{} against {}",
                    String::from_utf8_lossy(&pattern),
                    String::from_utf8_lossy(text)
                );
            }
        }
    }
}
