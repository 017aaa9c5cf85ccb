//! Authorizers through the real binary: JWT authorizers against an issuer's key set on
//! loopback (tokens minted by the `jsonwebtoken` crate with RSA, ECDSA and Ed25519 keys: key
//! rotation, unknown `kid`, expired, wrong issuer and audience, missing scope), Cognito
//! user-pool authorizers with a key set file (ID and access tokens), and Lambda authorizers
//! (TOKEN, REQUEST 1.0, REQUEST 2.0 with simple responses) against a Lambda-compatible
//! endpoint, with their policies, contexts, errors and cache.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use base64::Engine as _;
use gatehouse_e2e::jwks::JwksServer;
use gatehouse_e2e::lambda::LambdaEndpoint;
use gatehouse_e2e::{http1_client, json, repo_root, Gateway, BASE};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const POOL: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A signing key and its public JWK.
struct Signer {
    alg: Algorithm,
    kid: String,
    key: EncodingKey,
    jwk: Value,
}

impl Signer {
    fn rsa(name: &str) -> Signer {
        let dir = repo_root().join("tests/testdata/jwt");
        let pem = std::fs::read(dir.join(format!("{name}.pem"))).unwrap();
        let jwk: Value =
            serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.jwk.json"))).unwrap())
                .unwrap();
        Signer {
            alg: Algorithm::RS256,
            kid: name.into(),
            key: EncodingKey::from_rsa_pem(&pem).unwrap(),
            jwk,
        }
    }

    fn ec(kid: &str) -> Signer {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let point = pair.public_key_raw();
        Signer {
            alg: Algorithm::ES256,
            kid: kid.into(),
            key: EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap(),
            jwk: json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
                "x": b64(&point[1..33]), "y": b64(&point[33..65])}),
        }
    }

    fn ed(kid: &str) -> Signer {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        Signer {
            alg: Algorithm::EdDSA,
            kid: kid.into(),
            key: EncodingKey::from_ed_pem(pair.serialize_pem().as_bytes()).unwrap(),
            jwk: json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(pair.public_key_raw())}),
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut h = Header::new(self.alg);
        h.kid = Some(self.kid.clone());
        encode(&h, claims, &self.key).unwrap()
    }
}

fn jwt_config(issuer: &JwksServer, lambda: &LambdaEndpoint) -> String {
    format!(
        r#"
{BASE}
apis:
  - name: shop
    stages: {{ prod: {{}} }}
    authorizers:
      users:
        type: jwt
        jwt: {{ issuer: "{iss}", audiences: [app] }}
      pool:
        type: cognito
        jwt: {{ issuer: "{POOL}", audiences: [pool-client], jwks_file: pool-jwks.json }}
    resources:
      /me:
        GET:
          authorizer: users
          integration: {{ type: lambda, endpoint: "http://{l}", function: echo, payload_format: "2.0" }}
      /orders:
        POST:
          authorizer: users
          authorization_scopes: [orders/write, orders/admin]
          integration: {{ type: lambda, endpoint: "http://{l}", function: echo, payload_format: "2.0" }}
      /profile:
        GET:
          authorizer: pool
          integration: {{ type: lambda, endpoint: "http://{l}", function: echo }}
      /pool-orders:
        GET:
          authorizer: pool
          authorization_scopes: [orders/read]
          integration:
            type: mock
            request_templates: {{ application/json: '{{"statusCode": 200}}' }}
            responses:
              - status: 200
                response_templates: {{ application/json: '{{"sub": "$context.authorizer.claims.sub"}}' }}
"#,
        iss = issuer.issuer(),
        l = lambda.addr,
    )
}

fn claims(iss: &str, extra: Value) -> Value {
    let mut c = json!({"iss": iss, "sub": "alice", "aud": "app", "exp": now() + 600, "iat": now()});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

async fn get(url: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = http1_client().get(url);
    if let Some(t) = token {
        req = req.header("authorization", t);
    }
    req.send().await.unwrap()
}

fn challenge(r: &reqwest::Response) -> String {
    r.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn jwt_authorizers_verify_tokens_against_the_issuers_keys() {
    let (a, b, ec, ed) = (
        Signer::rsa("rsa-a"),
        Signer::rsa("rsa-b"),
        Signer::ec("ec-1"),
        Signer::ed("ed-1"),
    );
    let issuer = JwksServer::start(vec![a.jwk.clone(), ec.jwk.clone(), ed.jwk.clone()]).await;
    let lambda = LambdaEndpoint::start().await;
    let pool = Signer::ec("pool-1");
    let pool_set = json!({"keys": [pool.jwk.clone()]}).to_string();
    let gw = Gateway::start_with(&jwt_config(&issuer, &lambda), |dir| {
        std::fs::write(dir.join("pool-jwks.json"), &pool_set).unwrap()
    });
    let me = format!("{}/prod/me", gw.url("public"));
    let iss = issuer.issuer();

    // Concurrent first requests share one fetch of the key set.
    let token = a.sign(&claims(&iss, json!({"scope": "profile orders/read"})));
    let bearer = format!("Bearer {token}");
    let all = futures_util::future::join_all((0..16).map(|_| get(&me, Some(&bearer)))).await;
    let statuses: Vec<u16> = all.iter().map(|r| r.status().as_u16()).collect();
    assert!(
        statuses.iter().all(|s| *s == 200),
        "{statuses:?}: {}",
        gw.log.all().join("\n")
    );
    assert_eq!(issuer.fetches(), 1, "one fetch for concurrent requests");

    // Claims and scopes reach the function as payload 2.0's `authorizer.jwt`.
    let r = get(&me, Some(&token)).await;
    assert_eq!(r.status(), 200, "the Bearer prefix is optional");
    let event = json(r).await;
    let jwt = &event["requestContext"]["authorizer"]["jwt"];
    assert_eq!(jwt["claims"]["sub"], "alice");
    assert_eq!(jwt["claims"]["aud"], "app");
    assert!(jwt["claims"]["exp"].is_string(), "claims are text: {jwt}");
    assert_eq!(jwt["scopes"], json!(["profile", "orders/read"]));
    let recorded: Value = serde_json::from_str(
        &std::fs::read_to_string(
            repo_root().join("tests/testdata/lambda-events/apigw-v2-request-jwt-authorizer.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        keys(&event["requestContext"]["authorizer"]["jwt"]),
        keys(&recorded["requestContext"]["authorizer"]["jwt"])
    );

    // ECDSA and Ed25519 keys of the set verify too.
    for s in [&ec, &ed] {
        let r = get(
            &me,
            Some(&format!("Bearer {}", s.sign(&claims(&iss, json!({}))))),
        )
        .await;
        assert_eq!(r.status(), 200, "{:?}", s.alg);
    }

    // Refusals: 401 Unauthorized with a Bearer challenge naming why.
    let refused = [
        (None, ""),
        (
            Some(a.sign(&claims(&iss, json!({"exp": now() - 60})))),
            "the token has expired",
        ),
        (
            Some(a.sign(&claims(&iss, json!({"aud": "other"})))),
            "valid audience",
        ),
        (
            Some(a.sign(&claims("https://elsewhere", json!({})))),
            "valid issuer",
        ),
        (
            Some(a.sign(&claims(&iss, json!({"nbf": now() + 600})))),
            "not valid yet",
        ),
        (Some("not-a-token".into()), "invalid number of segments"),
        (
            Some(
                encode(
                    &Header::new(Algorithm::HS256),
                    &claims(&iss, json!({})),
                    &EncodingKey::from_secret(b"guess"),
                )
                .unwrap(),
            ),
            "signing method HS256 is invalid",
        ),
    ];
    for (token, why) in &refused {
        let auth = token.as_ref().map(|t| format!("Bearer {t}"));
        let r = get(&me, auth.as_deref()).await;
        assert_eq!(r.status(), 401, "{why}");
        let c = challenge(&r);
        if token.is_some() {
            assert!(
                c.starts_with("Bearer scope=\"\" error=\"invalid_token\""),
                "{c}"
            );
            assert!(c.contains(why), "{why}: {c}");
        }
        assert_eq!(json(r).await, json!({"message": "Unauthorized"}));
    }
    // A tampered payload fails the signature.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = b64(claims(&iss, json!({"sub": "mallory"}))
        .to_string()
        .as_bytes());
    let r = get(&me, Some(&parts.join("."))).await;
    assert_eq!(r.status(), 401);
    assert!(challenge(&r).contains("signature is invalid"));

    // Scopes: one of the route's is needed, else 403 Forbidden with insufficient_scope.
    let orders = format!("{}/prod/orders", gw.url("public"));
    let post = |t: String| {
        let orders = orders.clone();
        async move {
            http1_client()
                .post(&orders)
                .header("authorization", format!("Bearer {t}"))
                .send()
                .await
                .unwrap()
        }
    };
    let r = post(token.clone()).await;
    assert_eq!(r.status(), 403);
    let c = challenge(&r);
    assert!(
        c.contains("scope=\"orders/write orders/admin\"") && c.contains("insufficient_scope"),
        "{c}"
    );
    assert_eq!(json(r).await, json!({"message": "Forbidden"}));
    let r = post(a.sign(&claims(&iss, json!({"scp": ["orders/admin"]})))).await;
    assert_eq!(r.status(), 200);

    // Rotation: a token from a key the set does not have yet is refused, and refetching is
    // rate-limited; once the issuer publishes the key and the interval passed, it verifies.
    let fetched = issuer.fetches();
    let rotated = b.sign(&claims(&iss, json!({})));
    for _ in 0..5 {
        let r = get(&me, Some(&rotated)).await;
        assert_eq!(r.status(), 401);
        assert!(challenge(&r).contains("kid rsa-b"), "{}", challenge(&r));
    }
    assert!(
        issuer.fetches() <= fetched + 1,
        "unknown kids do not hammer the issuer"
    );
    issuer.set_keys(vec![a.jwk.clone(), b.jwk.clone()]);
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    assert_eq!(get(&me, Some(&rotated)).await.status(), 200);
    // The old key stays valid while the set has it; a key dropped from the set is not.
    assert_eq!(get(&me, Some(&token)).await.status(), 200);
    // (A token not seen before: one that verified is remembered for up to a minute.)
    let ec_token = ec.sign(&claims(&iss, json!({"n": 2})));
    assert_eq!(get(&me, Some(&ec_token)).await.status(), 401);

    // Cognito (REST): ID tokens on routes without scopes, access tokens with one of the
    // route's scopes; every refusal is 401 without a challenge.
    let profile = format!("{}/prod/profile", gw.url("public"));
    let id_token = pool.sign(&json!({"iss": POOL, "sub": "u-1", "aud": "pool-client",
        "token_use": "id", "email": "u1@example.com", "cognito:groups": ["admin", "dev"],
        "exp": now() + 600, "iat": now()}));
    let access = pool.sign(
        &json!({"iss": POOL, "sub": "u-1", "client_id": "pool-client",
        "token_use": "access", "scope": "orders/read", "exp": now() + 600, "iat": now()}),
    );
    let r = get(&profile, Some(&id_token)).await;
    assert_eq!(r.status(), 200);
    let event = json(r).await;
    let claims_v1 = &event["requestContext"]["authorizer"]["claims"];
    assert_eq!(claims_v1["email"], "u1@example.com");
    assert_eq!(claims_v1["cognito:groups"], "[admin dev]");
    let r = get(&profile, Some(&access)).await;
    assert_eq!(r.status(), 401);
    assert_eq!(challenge(&r), "");
    let pool_orders = format!("{}/prod/pool-orders", gw.url("public"));
    let r = get(&pool_orders, Some(&access)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await, json!({"sub": "u-1"}));
    assert_eq!(get(&pool_orders, Some(&id_token)).await.status(), 401);
    let foreign = a.sign(&json!({"iss": POOL, "sub": "x", "aud": "pool-client", "token_use": "id", "exp": now() + 600}));
    assert_eq!(get(&profile, Some(&foreign)).await.status(), 401);
}

fn lambda_config(lambda: &LambdaEndpoint) -> String {
    format!(
        r#"
{BASE}
apis:
  - name: shop
    stages: {{ prod: {{}} }}
    authorizers:
      tokens:
        type: lambda
        ttl: 300s
        lambda: {{ endpoint: "http://{l}", function: authorizer, payload: token, identity_validation_expression: "[a-z-]+" }}
      uncached:
        type: lambda
        ttl: 0s
        lambda: {{ endpoint: "http://{l}", function: authorizer, payload: token }}
      requests:
        type: lambda
        identity_sources: [method.request.header.Authorization]
        lambda: {{ endpoint: "http://{l}", function: "arn:aws:lambda:us-east-1:123456789012:function:authorizer" }}
      simple:
        type: lambda
        identity_sources: [header.Authorization]
        lambda: {{ endpoint: "http://{l}", function: simple, payload_format_version: "2.0", simple_responses: true }}
    resources:
      /pets/{{id}}:
        GET:
          authorizer: tokens
          integration: {{ type: lambda, endpoint: "http://{l}", function: echo }}
        POST:
          authorizer: tokens
          integration: {{ type: lambda, endpoint: "http://{l}", function: echo }}
      /uncached:
        GET:
          authorizer: uncached
          integration: {{ type: lambda, endpoint: "http://{l}", function: echo }}
      /request:
        GET:
          authorizer: requests
          integration: {{ type: lambda, endpoint: "http://{l}", function: echo }}
      /simple:
        GET:
          authorizer: simple
          integration: {{ type: lambda, endpoint: "http://{l}", function: echo, payload_format: "2.0" }}
"#,
        l = lambda.addr,
    )
}

fn top_keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

fn fixture(name: &str) -> Value {
    let p = repo_root().join("tests/testdata/lambda-events").join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn lambda_authorizers_evaluate_policies_and_cache_them() {
    let lambda = LambdaEndpoint::start().await;
    let gw = Gateway::start(&lambda_config(&lambda));
    let base = format!("{}/prod", gw.url("public"));
    let calls = |l: &LambdaEndpoint| {
        l.events()
            .iter()
            .filter(|(f, _)| f == "authorizer" || f == "simple")
            .count()
    };

    // TOKEN: the event is API Gateway's; the policy allows GET, its context reaches the
    // integration (numbers and booleans as text).
    let r = get(&format!("{base}/pets/7"), Some("allow-get")).await;
    assert_eq!(r.status(), 200);
    let event = json(r).await;
    assert_eq!(
        event["requestContext"]["authorizer"],
        json!({"principalId": "user-1", "tier": "gold", "level": "3", "admin": "false"})
    );
    let (_, auth_event) = lambda
        .events()
        .into_iter()
        .find(|(f, _)| f == "authorizer")
        .unwrap();
    assert_eq!(
        top_keys(&auth_event),
        top_keys(&fixture("apigw-custom-auth-request.json"))
    );
    assert_eq!(auth_event["type"], "TOKEN");
    assert_eq!(auth_event["authorizationToken"], "allow-get");
    assert_eq!(
        auth_event["methodArn"],
        "arn:aws:execute-api:us-east-1:000000000000:shop/prod/GET/pets/7"
    );
    // The cached policy decides for other requests of the same caller: another GET is
    // allowed and a POST denied, without calling the function again.
    assert_eq!(
        get(&format!("{base}/pets/8"), Some("allow-get"))
            .await
            .status(),
        200
    );
    let r = http1_client()
        .post(format!("{base}/pets/8"))
        .header("authorization", "allow-get")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        json(r).await,
        json!({"message": "User is not authorized to access this resource"})
    );
    assert_eq!(calls(&lambda), 1, "the policy is cached");

    // Without a cache, each request calls the function.
    for _ in 0..3 {
        assert_eq!(
            get(&format!("{base}/uncached"), Some("allow-get"))
                .await
                .status(),
            200
        );
    }
    assert_eq!(calls(&lambda), 4);

    // Denials and failures, each as API Gateway answers them.
    let cases = [
        (
            "deny",
            403,
            "User is not authorized to access this resource",
        ),
        ("unauthorized", 401, "Unauthorized"),
        ("nested", 500, "Internal server error"),
        ("crash", 500, "Internal server error"),
    ];
    for (token, status, message) in cases {
        let r = get(&format!("{base}/pets/1"), Some(token)).await;
        assert_eq!(r.status(), status, "{token}");
        if status == 500 {
            assert_eq!(
                r.headers()["x-amzn-errortype"],
                "AuthorizerConfigurationException"
            );
        }
        assert_eq!(json(r).await, json!({"message": message}), "{token}");
    }
    // A token that fails the identity validation expression is 401 without a call; so is a
    // missing token.
    let before = calls(&lambda);
    assert_eq!(
        get(&format!("{base}/pets/1"), Some("Bad Token!"))
            .await
            .status(),
        401
    );
    assert_eq!(get(&format!("{base}/pets/1"), None).await.status(), 401);
    assert_eq!(calls(&lambda), before);

    // REQUEST 1.0: the proxy event without a body, plus `type` and `methodArn`.
    let r = get(&format!("{base}/request?q=1"), Some("allow-get")).await;
    assert_eq!(r.status(), 200);
    let (_, ev) = lambda
        .events()
        .into_iter()
        .rev()
        .find(|(f, _)| f == "authorizer")
        .unwrap();
    let mut want = top_keys(&fixture("apigw-custom-auth-request-type-request.json"));
    want.retain(|k| k != "version"); // not in payload 1.0 events API Gateway sends
    let mut have = top_keys(&ev);
    have.retain(|k| k != "version");
    assert_eq!(have, want);
    assert_eq!(ev["type"], "REQUEST");
    assert_eq!(ev["queryStringParameters"], json!({"q": "1"}));
    assert_eq!(
        ev["methodArn"],
        "arn:aws:execute-api:us-east-1:000000000000:shop/prod/GET/request"
    );

    // REQUEST 2.0 with simple responses.
    let r = get(&format!("{base}/simple"), Some("ok")).await;
    assert_eq!(r.status(), 200);
    let event = json(r).await;
    assert_eq!(
        event["requestContext"]["authorizer"],
        json!({"lambda": {"who": "simple"}})
    );
    let (_, ev) = lambda
        .events()
        .into_iter()
        .rev()
        .find(|(f, _)| f == "simple")
        .unwrap();
    let mut want = top_keys(&fixture("apigw-v2-custom-authorizer-v2-request.json"));
    let mut have = top_keys(&ev);
    // `cookies` and `queryStringParameters` are left out when empty, as in payload 2.0.
    want.retain(|k| {
        k != "cookies"
            && k != "queryStringParameters"
            && k != "pathParameters"
            && k != "stageVariables"
    });
    have.retain(|k| {
        k != "cookies"
            && k != "queryStringParameters"
            && k != "pathParameters"
            && k != "stageVariables"
    });
    assert_eq!(have, want);
    assert_eq!(ev["identitySource"], json!(["ok"]));
    assert!(ev["routeArn"]
        .as_str()
        .unwrap()
        .ends_with(":shop/prod/GET/simple"));
    let r = get(&format!("{base}/simple"), Some("no")).await;
    assert_eq!(r.status(), 403);
    assert_eq!(json(r).await, json!({"message": "Forbidden"}));
}

/// An exported document's authorizers are served: a Lambda token authorizer on the Lambda
/// endpoint and a Cognito user pool bound to a key set file, scopes from the requirements.
#[tokio::test(flavor = "multi_thread")]
async fn imported_lambda_and_cognito_authorizers_are_served() {
    let lambda = LambdaEndpoint::start().await;
    let pool = Signer::ec("pool-1");
    let pool_set = json!({"keys": [pool.jwk.clone()]}).to_string();
    let arn = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Example";
    let doc = json!({
        "swagger": "2.0",
        "info": { "title": "shop", "version": "1" },
        "paths": {
            "/pets": { "get": {
                "security": [{ "tokens": [] }],
                "x-amazon-apigateway-integration": { "type": "aws_proxy", "httpMethod": "POST",
                    "uri": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:echo/invocations" } } },
            "/orders": { "get": {
                "security": [{ "pool": ["orders/read"] }],
                "x-amazon-apigateway-integration": { "type": "mock",
                    "requestTemplates": { "application/json": "{\"statusCode\": 200}" },
                    "responses": { "default": { "statusCode": "200" } } } } }
        },
        "securityDefinitions": {
            "tokens": { "type": "apiKey", "name": "Authorization", "in": "header",
                "x-amazon-apigateway-authtype": "custom",
                "x-amazon-apigateway-authorizer": { "type": "token",
                    "authorizerUri": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:authorizer/invocations",
                    "authorizerResultTtlInSeconds": 0 } },
            "pool": { "type": "apiKey", "name": "Authorization", "in": "header",
                "x-amazon-apigateway-authtype": "cognito_user_pools",
                "x-amazon-apigateway-authorizer": { "type": "cognito_user_pools", "providerARNs": [arn] } }
        }
    })
    .to_string();
    let config = format!(
        r#"
{BASE}
apis:
  - name: shop
    stages: {{ prod: {{}} }}
    openapi:
      file: shop.json
      lambda_endpoint: "http://{l}"
      user_pools: {{ "{arn}": {{ issuer: "{POOL}", jwks_file: pool-jwks.json }} }}
"#,
        l = lambda.addr
    );
    let gw = Gateway::start_with(&config, |dir| {
        std::fs::write(dir.join("shop.json"), &doc).unwrap();
        std::fs::write(dir.join("pool-jwks.json"), &pool_set).unwrap();
    });
    let base = format!("{}/prod", gw.url("public"));
    assert_eq!(
        get(&format!("{base}/pets"), Some("allow-get"))
            .await
            .status(),
        200
    );
    assert_eq!(
        get(&format!("{base}/pets"), Some("deny")).await.status(),
        403
    );
    assert_eq!(get(&format!("{base}/pets"), None).await.status(), 401);
    let access = |scope: &str| {
        pool.sign(
            &json!({"iss": POOL, "sub": "u-1", "client_id": "c", "token_use": "access",
            "scope": scope, "exp": now() + 600}),
        )
    };
    assert_eq!(
        get(&format!("{base}/orders"), Some(&access("orders/read")))
            .await
            .status(),
        200
    );
    assert_eq!(
        get(&format!("{base}/orders"), Some(&access("orders/write")))
            .await
            .status(),
        401
    );
}
