//! Authorizer plugins of both WIT versions in one gateway, through the real binary: a
//! `gatehouse:plugin@0.2.0` authorizer (`plugins/policy-authorizer`) answers a policy that
//! Gatehouse evaluates per method as it does a Lambda authorizer's, cached by identity so the
//! cached policy decides the caller's other methods; its typed context values reach a Lambda
//! integration and a mapping template. A 0.3.0 authorizer (`plugins/token-authorizer`, which
//! allows its users every method) decides beside it.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::lambda::LambdaEndpoint;
use gatehouse_e2e::{http1_client, json, plugin_path, Gateway, BASE};
use serde_json::json;
use std::time::Duration;

fn config(lambda: &LambdaEndpoint) -> String {
    format!(
        r#"{BASE}
plugins:
  policies:
    path: {policies}
    config: {{ tokens: "tok-alice=alice,tok-carol=carol,tok-root=root", admins: root }}
  tokens:
    path: {tokens}
    config: {{ tokens: "tok-bob=bob" }}
apis:
  - name: shop
    stages: {{ prod: {{}} }}
    authorizers:
      policy:
        plugin: policies
        identity_sources: [header.Authorization]
        ttl: 60s
      bearer:
        plugin: tokens
        identity_sources: [header.Authorization]
        ttl: 60s
    resources:
      /x:
        GET:
          authorizer: policy
          integration: {{ type: lambda, endpoint: "http://{l}", function: echo }}
        DELETE:
          authorizer: policy
          integration: {{ type: mock, body: deleted }}
      /typed:
        GET:
          authorizer: policy
          integration:
            type: mock
            request_templates: {{ application/json: '{{"statusCode": 200}}' }}
            responses:
              - status: 200
                response_templates:
                  application/json: '{{"principal": "$context.authorizer.principalId", "user": "$context.authorizer.user", "level": $context.authorizer.level, "admin": $context.authorizer.admin, "ratio": $context.authorizer.ratio}}'
      /old:
        GET:
          authorizer: bearer
          integration: {{ type: mock, body: "allowed by a 0.3.0 plugin" }}
        DELETE:
          authorizer: bearer
          integration: {{ type: mock, body: "deleted by a 0.3.0 plugin" }}
"#,
        policies = plugin_path("policy-authorizer").display(),
        tokens = plugin_path("token-authorizer").display(),
        l = lambda.addr,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_0_2_0_policy_decides_per_method_from_the_cache_beside_a_0_3_0_authorizer() {
    let lambda = LambdaEndpoint::start().await;
    let gw = Gateway::start(&config(&lambda));
    let c = http1_client();
    let url = |path: &str| format!("{}/prod{path}", gw.url("public"));
    let send = |method: reqwest::Method, path: &str, token: &str| {
        c.request(method, url(path))
            .header("authorization", format!("Bearer {token}"))
            .send()
    };
    let denied = "User is not authorized to access this resource";

    // No identity source: 401 without calling the plugin.
    let r = c.get(url("/x")).send().await.unwrap();
    assert_eq!(r.status(), 401);

    // Alice's policy allows every method but DELETE. GET calls the plugin; its typed context
    // reaches the Lambda event as text, as a Lambda authorizer's context does.
    let r = send(reqwest::Method::GET, "/x", "tok-alice").await.unwrap();
    assert_eq!(r.status(), 200);
    let event = json(r).await;
    assert_eq!(
        event["requestContext"]["authorizer"],
        json!({"principalId": "alice", "user": "alice", "admin": "false", "level": "1", "ratio": "0.5"})
    );
    // DELETE of the same resource with the same token: the cached policy denies it.
    let r = send(reqwest::Method::DELETE, "/x", "tok-alice")
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(json(r).await["message"], denied);
    // Another method, also from the cache; the mapping template reads the context values.
    let r = send(reqwest::Method::GET, "/typed", "tok-alice")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        json(r).await,
        json!({"principal": "alice", "user": "alice", "level": 1, "admin": false, "ratio": 0.5})
    );

    // Carol's first request is a DELETE: denied, but the policy, not the denial, is cached,
    // so her GET is allowed from the cache.
    let r = send(reqwest::Method::DELETE, "/x", "tok-carol")
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(json(r).await["message"], denied);
    let r = send(reqwest::Method::GET, "/typed", "tok-carol")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["user"], "carol");

    // An admin's policy has no deny.
    let r = send(reqwest::Method::DELETE, "/x", "tok-root")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "deleted");
    let r = send(reqwest::Method::GET, "/typed", "tok-root")
        .await
        .unwrap();
    assert_eq!(
        json(r).await,
        json!({"principal": "root", "user": "root", "level": 2, "admin": true, "ratio": 0.5})
    );

    // The 0.3.0 authorizer in the same gateway: a known token is allowed every method.
    for (method, body) in [
        (reqwest::Method::GET, "allowed by a 0.3.0 plugin"),
        (reqwest::Method::DELETE, "deleted by a 0.3.0 plugin"),
    ] {
        let r = send(method, "/old", "tok-bob").await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), body);
    }
    let r = send(reqwest::Method::GET, "/old", "tok-nobody")
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(json(r).await["message"], denied);

    // An unknown token gets an empty policy: every method is denied. Its log line comes after
    // every other call's, so once it is there, the counts below are final.
    let r = send(reqwest::Method::GET, "/x", "tok-nobody-else")
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(json(r).await["message"], denied);
    assert!(gw
        .log
        .wait_for_nth("unknown token", 2, Duration::from_secs(5))
        .is_some());
    // One plugin call per identity: every other method came from the cached policy.
    for user in ["alice", "carol", "root"] {
        assert_eq!(gw.log.count(&format!("policy for {user}")), 1, "{user}");
    }
    assert_eq!(lambda.events().len(), 1);
}

/// `identity_validation_expression` on a plugin authorizer: a value that does not match the
/// whole expression is 401 without a call, as API Gateway answers for a TOKEN authorizer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_that_fails_validation_is_refused_without_a_call() {
    let gw = Gateway::start(&format!(
        r#"{BASE}
plugins:
  policies:
    path: {policies}
    config: {{ tokens: "tok-alice=alice" }}
apis:
  - name: shop
    stages: {{ prod: {{}} }}
    authorizers:
      policy:
        plugin: policies
        identity_sources: [header.Authorization]
        identity_validation_expression: "Bearer tok-[a-z]+"
        ttl: 0s
    resources:
      /x:
        GET:
          authorizer: policy
          integration: {{ type: mock, body: ok }}
"#,
        policies = plugin_path("policy-authorizer").display(),
    ));
    let c = http1_client();
    let url = format!("{}/prod/x", gw.url("public"));
    let get = |token: &'static str| c.get(&url).header("authorization", token).send();
    let r = get("Bearer tok-alice").await.unwrap();
    assert_eq!(r.status(), 200);
    // Matches only in part (the expression is anchored at both ends): no call.
    for token in ["Bearer tok-alice!", "tok-alice", "Bearer TOK-ALICE"] {
        let r = get(token).await.unwrap();
        assert_eq!(r.status(), 401, "{token}");
        assert_eq!(json(r).await["message"], "Unauthorized");
    }
    // A matching but unknown token reaches the plugin, which answers an empty policy.
    let r = get("Bearer tok-nobody").await.unwrap();
    assert_eq!(r.status(), 403);
    gw.log.wait_for("unknown token", Duration::from_secs(5));
    assert_eq!(gw.log.count("unknown token"), 1, "{:?}", gw.log.all());
}
