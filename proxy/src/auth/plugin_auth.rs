//! Authorizer plugins: a Wasm component of the `authorizer` world decides.
//!
//! A plugin of `gatehouse:plugin@0.1.0` answers allow or deny, cached as that verdict. A
//! plugin of 0.2.0 gets the method ARN in its request, and one of 0.3.0 is lent the request
//! (`convert::lent_request`); both answer a policy, cached as answered and evaluated for each
//! method by the same code as a Lambda authorizer's (`policy.rs`); its typed context values
//! reach integrations as text, as a Lambda authorizer's do. `unauthorized` is 401; a failure,
//! a trap or a malformed decision is 500 AUTHORIZER_FAILURE.

use super::policy::{Answer, Outcome, Statement};
use crate::ctx::{AuthContext, RequestCtx, RouteInfo};
use crate::error::{Rejection, ResponseType};
use crate::plugin::bindings::policy;
use crate::plugin::bindings::types::{self, AuthorizerError};
use crate::plugin::{convert, Plugin};
use std::sync::Arc;

/// Calls `plugin` for the request in `ctx`; `method_arn` is the method it decides for, which a
/// 0.2.0 plugin is sent and a 0.3.0 one reads through `request.method-arn`. A 0.3.0 plugin is
/// lent the request's `headers` themselves where it would see them unchanged
/// ([`convert::take_as_sent`]): taken out for the call, they are put back when it returns,
/// whatever it answered or however it failed. (A request dropped during the call drops them
/// with it; nothing goes on with a request whose authorization was dropped.)
pub async fn call(
    rt: &dyn RouteInfo,
    ctx: &RequestCtx,
    headers: &mut http::HeaderMap,
    plugin: &Plugin,
    method_arn: &Arc<str>,
) -> Result<Outcome, Rejection> {
    let mut id = uuid::Uuid::encode_buffer();
    let id = ctx.request_id.hyphenated().encode_lower(&mut id);
    let answer = if plugin.reads_lent_request() {
        let (lent, taken) = match convert::take_as_sent(ctx, headers) {
            Some(lent) => (lent, true),
            None => (convert::lent_headers(ctx, headers), false),
        };
        let req = Arc::new(convert::lent_request(
            rt,
            ctx,
            lent,
            bytes::Bytes::new(),
            method_arn.clone(),
        ));
        let answer = plugin.authorize_lent(id, req.clone()).await;
        if taken {
            // The plugin host holds the request only while the call runs.
            *headers = match Arc::try_unwrap(req) {
                Ok(req) => req.headers,
                Err(req) => req.headers.clone(),
            };
        }
        answer.map(|r| r.map(policy_answer))
    } else if plugin.answers_policy() {
        let req = convert::request(rt, ctx, headers, Vec::new());
        plugin
            .authorize_policy(id, &policy_request(req, method_arn.to_string(), ctx))
            .await
            .map(|r| r.map(policy_answer))
    } else {
        plugin
            .authorize(id, &convert::request(rt, ctx, headers, Vec::new()))
            .await
            .map(|r| r.map(|d| Ok(verdict(d))))
    };
    match answer {
        Ok(Ok(Ok(outcome))) => Ok(outcome),
        Ok(Ok(Err(malformed))) => Err(Rejection::new(
            ResponseType::AuthorizerFailure,
            format!(
                "authorizer plugin `{}` returned a malformed decision: {malformed}",
                plugin.name
            ),
        )),
        Ok(Err(AuthorizerError::Unauthorized)) => Err(Rejection::new(
            ResponseType::Unauthorized,
            format!("authorizer plugin `{}` answered unauthorized", plugin.name),
        )),
        Ok(Err(AuthorizerError::Failed(msg))) => Err(Rejection::new(
            ResponseType::AuthorizerFailure,
            format!("authorizer plugin `{}` failed: {msg}", plugin.name),
        )),
        Err(failure) => Err(Rejection::new(
            ResponseType::AuthorizerFailure,
            format!("authorizer plugin `{}` {failure}", plugin.name),
        )),
    }
}

/// A 0.1.0 decision: allow or deny, whatever the method.
fn verdict(d: types::Decision) -> Outcome {
    if !d.allow {
        return Outcome::Deny;
    }
    Outcome::Allow(Arc::new(AuthContext {
        principal_id: d.principal_id,
        context: d.context.into_iter().map(|p| (p.name, p.value)).collect(),
        usage_identifier_key: d.usage_identifier_key,
        jwt: None,
    }))
}

/// The 0.2.0 request: the 0.1.0 one without what an authorizer cannot know yet (body,
/// principal, authorizer context), with the method ARN and the client certificate.
fn policy_request(req: types::Request, method_arn: String, ctx: &RequestCtx) -> policy::Request {
    let c = req.context;
    policy::Request {
        method: req.method,
        path: req.path,
        resource_path: req.resource_path,
        path_parameters: req.path_parameters,
        query: req.query,
        headers: req.headers,
        stage_variables: req.stage_variables,
        context: policy::RequestContext {
            request_id: c.request_id,
            api_id: c.api_id,
            stage: c.stage,
            source_ip: c.source_ip,
            user_agent: c.user_agent,
            method_arn,
            client_cert: convert::client_cert(ctx),
            request_time_epoch: c.request_time_epoch,
        },
    }
}

/// A 0.2.0 decision as the policy the decision cache keeps. A number that is not finite is
/// refused (a Lambda authorizer's JSON cannot carry one either).
fn policy_answer(d: policy::Decision) -> Result<Outcome, String> {
    let statements = d
        .policy
        .into_iter()
        .map(|s| Statement::invoke(matches!(s.effect, policy::Effect::Allow), s.resources))
        .collect();
    let context = d
        .context
        .into_iter()
        .map(|e| {
            // As `context_text` writes a JSON string, number or boolean.
            let text = match e.value {
                policy::Value::Text(s) => s,
                policy::Value::Integer(i) => i.to_string(),
                policy::Value::Number(f) => serde_json::Number::from_f64(f)
                    .map(|n| n.to_string())
                    .ok_or_else(|| format!("context `{}` is the number {f}", e.name))?,
                policy::Value::Boolean(b) => b.to_string(),
            };
            Ok((e.name, text))
        })
        .collect::<Result<_, String>>()?;
    Ok(Outcome::Policy(Answer::Policy {
        statements,
        auth: Arc::new(AuthContext {
            principal_id: d.principal_id,
            context,
            usage_identifier_key: d.usage_identifier_key,
            jwt: None,
        }),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy::{ContextEntry, Effect, Value};

    const ARN: &str = "arn:aws:execute-api:us-east-1:000000000000:shop/prod";

    fn decision(policy: Vec<policy::Statement>, context: Vec<ContextEntry>) -> policy::Decision {
        policy::Decision {
            policy,
            principal_id: "alice".into(),
            context,
            usage_identifier_key: Some("k1".into()),
        }
    }

    fn statement(effect: Effect, resources: &[&str]) -> policy::Statement {
        policy::Statement {
            effect,
            resources: resources.iter().map(|r| format!("{ARN}/{r}")).collect(),
        }
    }

    fn entry(name: &str, value: Value) -> ContextEntry {
        ContextEntry {
            name: name.into(),
            value,
        }
    }

    #[test]
    fn a_policy_decides_per_method_deny_first() {
        let d = decision(
            vec![
                statement(Effect::Allow, &["*/items", "GET/items/*"]),
                statement(Effect::Deny, &["DELETE/*"]),
            ],
            Vec::new(),
        );
        let Outcome::Policy(answer) = policy_answer(d).unwrap() else {
            panic!("a 0.2.0 decision is a policy");
        };
        let allows = |m: &str, p: &str| answer.decide(&format!("{ARN}/{m}/{p}")).is_some();
        assert!(allows("GET", "items"));
        assert!(allows("POST", "items"));
        assert!(allows("GET", "items/7"));
        assert!(!allows("DELETE", "items"), "an explicit deny wins");
        assert!(!allows("PUT", "items/7"), "no statement matches");
        let auth = answer.decide(&format!("{ARN}/GET/items")).unwrap();
        assert_eq!(auth.principal_id, "alice");
        assert_eq!(auth.usage_identifier_key.as_deref(), Some("k1"));
    }

    #[test]
    fn typed_context_values_become_text_as_lambda_context_does() {
        let d = decision(
            vec![statement(Effect::Allow, &["*"])],
            vec![
                entry("tier", Value::Text("gold".into())),
                entry("n", Value::Integer(-3)),
                entry("big", Value::Integer(i64::MAX)),
                entry("ratio", Value::Number(1.5)),
                entry("whole", Value::Number(2.0)),
                entry("ok", Value::Boolean(true)),
            ],
        );
        let Outcome::Policy(answer) = policy_answer(d).unwrap() else {
            panic!("a 0.2.0 decision is a policy");
        };
        let auth = answer.decide(&format!("{ARN}/GET/x")).unwrap();
        let lambda = super::super::lambda_auth::parse_answer(
            br#"{"principalId": "alice", "policyDocument": {"Statement": []},
                 "context": {"ratio": 1.5, "whole": 2.0, "ok": true}}"#,
            false,
        )
        .unwrap();
        let Answer::Policy { auth: lambda, .. } = lambda else {
            panic!("a policy answer");
        };
        assert_eq!(
            auth.context,
            [
                ("tier".into(), "gold".into()),
                ("n".into(), "-3".into()),
                ("big".into(), i64::MAX.to_string()),
                ("ratio".into(), "1.5".into()),
                ("whole".into(), "2.0".into()),
                ("ok".into(), "true".into()),
            ]
        );
        assert_eq!(&auth.context[3..], &lambda.context[..]);
    }

    #[test]
    fn a_number_that_is_not_finite_is_malformed() {
        for f in [f64::NAN, f64::INFINITY] {
            let d = decision(Vec::new(), vec![entry("x", Value::Number(f))]);
            assert!(policy_answer(d).unwrap_err().contains("context `x`"));
        }
    }

    #[test]
    fn an_empty_policy_denies_everything() {
        let Outcome::Policy(answer) = policy_answer(decision(Vec::new(), Vec::new())).unwrap()
        else {
            panic!("a 0.2.0 decision is a policy");
        };
        assert!(answer.decide(&format!("{ARN}/GET/x")).is_none());
    }

    #[test]
    fn a_0_1_0_decision_is_a_verdict() {
        let allow = types::Decision {
            allow: true,
            principal_id: "bob".into(),
            context: vec![types::Pair {
                name: "plan".into(),
                value: "gold".into(),
            }],
            usage_identifier_key: None,
        };
        match verdict(allow) {
            Outcome::Allow(a) => assert_eq!(a.context, [("plan".into(), "gold".into())]),
            other => panic!("{other:?}"),
        }
        let deny = types::Decision {
            allow: false,
            principal_id: String::new(),
            context: Vec::new(),
            usage_identifier_key: None,
        };
        assert!(matches!(verdict(deny), Outcome::Deny));
    }
}
