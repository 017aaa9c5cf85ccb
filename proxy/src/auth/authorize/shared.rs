//! Shared authorizer decisions (`shared: true` on a plugin or Lambda authorizer, with
//! `state.backend: redis`): a decision the node's memory does not hold is looked up in Redis
//! before the authorizer is called, and a new one is written there for the authorizer's TTL, so
//! one call decides for every node. Keys are the decision cache's own (a SHA-256 of the
//! identity values, hashed again by the store): no token reaches Redis. A Redis failure or a
//! lookup past the state's timeout is a miss, and the authorizer is called.

use super::Outcome;
use crate::auth::policy::{Actions, Answer, Statement};
use crate::ctx::AuthContext;
use gatehouse_state::redis_cache::{SharedCache, Tier};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// One authorizer's space in the shared tier.
pub struct SharedDecisions {
    cache: Arc<SharedCache>,
    space: String,
}

impl std::fmt::Debug for SharedDecisions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedDecisions")
            .field("space", &self.space)
            .finish_non_exhaustive()
    }
}

impl SharedDecisions {
    /// The space `space` of `cache` (see [`gatehouse_state::redis_cache::space_name`]).
    pub fn new(cache: &Arc<SharedCache>, space: String) -> Self {
        Self {
            cache: cache.clone(),
            space,
        }
    }

    /// The decision stored for `key` and how long it has left (`Ok(None)`: none);
    /// `Err(())` when Redis failed, and then no decision is written either.
    pub async fn lookup(&self, key: &[u8; 32]) -> Result<Option<(Arc<Outcome>, Duration)>, ()> {
        let lookup = self.cache.lookup(Tier::Decisions, &self.space, key, false);
        let Some(found) = lookup.await.ok_or(())?.found else {
            return Ok(None);
        };
        let wire = serde_json::from_slice::<Wire>(&found.value).ok();
        Ok(wire.map(|w| (Arc::new(w.into()), found.ttl)))
    }

    /// Stores `outcome` as `key`'s decision for `ttl`.
    pub async fn store(&self, key: &[u8; 32], outcome: &Outcome, ttl: Duration) {
        let Ok(bytes) = serde_json::to_vec(&Wire::from(outcome)) else {
            return;
        };
        let space = &self.space;
        self.cache
            .store(Tier::Decisions, space, key, 0, &bytes, ttl)
            .await;
    }
}

/// An [`Outcome`] as stored in Redis.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "lowercase")]
enum Wire {
    Allow {
        auth: WireAuth,
    },
    Deny,
    Policy {
        statements: Vec<WireStatement>,
        auth: WireAuth,
    },
    Simple {
        allow: bool,
        auth: WireAuth,
    },
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct WireAuth {
    principal: String,
    #[serde(default)]
    context: Vec<(String, String)>,
    #[serde(default)]
    usage_key: Option<String>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct WireStatement {
    allow: bool,
    actions: Vec<String>,
    resources: Vec<String>,
}

impl From<&AuthContext> for WireAuth {
    fn from(a: &AuthContext) -> Self {
        Self {
            principal: a.principal_id.clone(),
            context: a.context.clone(),
            usage_key: a.usage_identifier_key.clone(),
        }
    }
}

impl From<WireAuth> for Arc<AuthContext> {
    fn from(w: WireAuth) -> Self {
        Arc::new(AuthContext {
            principal_id: w.principal,
            context: w.context,
            usage_identifier_key: w.usage_key,
            jwt: None,
        })
    }
}

impl From<&Outcome> for Wire {
    fn from(o: &Outcome) -> Self {
        match o {
            Outcome::Allow(auth) => Wire::Allow {
                auth: (&**auth).into(),
            },
            Outcome::Deny => Wire::Deny,
            Outcome::Policy(Answer::Policy { statements, auth }) => Wire::Policy {
                statements: statements
                    .iter()
                    .map(|s| WireStatement {
                        allow: s.allow,
                        actions: s.actions.to_list(),
                        resources: s.resources.clone(),
                    })
                    .collect(),
                auth: (&**auth).into(),
            },
            Outcome::Policy(Answer::Simple { allow, auth }) => Wire::Simple {
                allow: *allow,
                auth: (&**auth).into(),
            },
        }
    }
}

impl From<Wire> for Outcome {
    fn from(w: Wire) -> Self {
        match w {
            Wire::Allow { auth } => Outcome::Allow(auth.into()),
            Wire::Deny => Outcome::Deny,
            Wire::Policy { statements, auth } => Outcome::Policy(Answer::Policy {
                statements: statements
                    .into_iter()
                    .map(|s| Statement {
                        allow: s.allow,
                        actions: Actions::from_list(s.actions),
                        resources: s.resources,
                    })
                    .collect(),
                auth: auth.into(),
            }),
            Wire::Simple { allow, auth } => Outcome::Policy(Answer::Simple {
                allow,
                auth: auth.into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Arc<AuthContext> {
        Arc::new(AuthContext {
            principal_id: "user-7".into(),
            context: vec![("tier".into(), "gold".into())],
            usage_identifier_key: Some("key-1".into()),
            jwt: None,
        })
    }

    #[test]
    fn every_decision_comes_back_as_it_was_stored() {
        let arn = "arn:aws:execute-api:us-east-1:000000000000:shop/prod/GET/pets";
        let outcomes = [
            Outcome::Allow(auth()),
            Outcome::Deny,
            Outcome::Policy(Answer::Policy {
                statements: vec![Statement::invoke(true, vec![arn.into()])].into(),
                auth: auth(),
            }),
            Outcome::Policy(Answer::Simple {
                allow: false,
                auth: auth(),
            }),
        ];
        for o in &outcomes {
            let bytes = serde_json::to_vec(&Wire::from(o)).unwrap();
            let back: Outcome = serde_json::from_slice::<Wire>(&bytes).unwrap().into();
            assert_eq!(Wire::from(&back), Wire::from(o));
        }
        let Outcome::Policy(answer) = Outcome::from(Wire::from(&outcomes[2])) else {
            panic!("a policy");
        };
        assert_eq!(answer.decide(arn).unwrap().principal_id, "user-7");
    }
}
