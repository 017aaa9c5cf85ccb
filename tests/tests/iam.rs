//! IAM authorization through the real binary: requests signed by botocore (PyPI, installed by
//! scripts/setup.sh) with Signature Version 4, in the header and presigned forms, against an
//! `AWS_IAM` method; tampered, expired, unsigned, malformed and unknown-key requests get API
//! Gateway's 403 answers; the signer's identity reaches the Lambda event.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::lambda::LambdaEndpoint;
use gatehouse_e2e::sigv4::{send, sign};
use gatehouse_e2e::{http1_client, json, Gateway, BASE};
use serde_json::json;
use std::time::{SystemTime, UNIX_EPOCH};

const ALICE: &str = "arn:aws:iam::123456789012:user/alice";
const BOB: &str = "arn:aws:iam::123456789012:user/bob";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread")]
async fn sigv4_signed_requests_are_verified_as_api_gateway_does() {
    let lambda = LambdaEndpoint::start().await;
    let gw = Gateway::start(&format!(
        r#"
{BASE}
iam:
  credentials:
    alice: {{ access_key_id: AKIDALICE, secret_access_key: alice-secret, principal: "{ALICE}" }}
    bob:
      access_key_id: AKIDBOB
      secret_access_key: bob-secret
      session_token: bob-session
      principal: "{BOB}"
      allow: ["arn:aws:execute-api:*:*:shop/prod/GET/*"]
apis:
  - name: shop
    stages: {{ prod: {{}} }}
    resources:
      /orders:
        ANY:
          authorization_type: AWS_IAM
          integration: {{ type: lambda, endpoint: "http://{l}", function: echo }}
"#,
        l = lambda.addr
    ));
    let url = format!("{}/prod/orders", gw.url("public"));
    let alice = |method: &str, url: &str, body: &str| json!({"method": method, "url": url, "body": body, "access_key": "AKIDALICE", "secret": "alice-secret"});
    let query_url = format!("{url}?name=a%20b&z=1&a=%C3%A9&empty=");
    let mut presigned = alice("GET", &url, "");
    presigned["presign"] = 300.into();
    let mut old = alice("GET", &url, "");
    old["at"] = (now() - 600).into();
    let mut expired_link = alice("GET", &url, "");
    expired_link["presign"] = 60.into();
    expired_link["at"] = (now() - 120).into();
    let mut unknown = alice("GET", &url, "");
    unknown["access_key"] = "AKIDNOBODY".into();
    let bob = |method: &str, token: &str| json!({"method": method, "url": url, "body": "", "access_key": "AKIDBOB", "secret": "bob-secret", "token": token});
    let signed = sign(&[
        alice("GET", &url, ""),
        alice("POST", &url, r#"{"item": "book", "qty": 2}"#),
        alice("GET", &query_url, ""),
        presigned,
        old,
        expired_link,
        unknown,
        bob("GET", "bob-session"),
        bob("POST", "bob-session"),
        bob("GET", "stolen"),
    ]);

    // Header form: the signer reaches the function as requestContext.identity.
    let r = send(&signed[0]).await;
    assert_eq!(r.status(), 200);
    let event = json(r).await;
    let id = &event["requestContext"]["identity"];
    assert_eq!(id["userArn"], ALICE);
    assert_eq!(id["accessKey"], "AKIDALICE");
    assert_eq!(id["accountId"], "123456789012");
    // A signed body, and a query that must be canonicalized (decoded, re-encoded, sorted).
    let r = send(&signed[1]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["body"], r#"{"item": "book", "qty": 2}"#);
    assert_eq!(send(&signed[2]).await.status(), 200);
    // Presigned form.
    assert!(signed[3]["url"]
        .as_str()
        .unwrap()
        .contains("X-Amz-Signature="));
    assert_eq!(send(&signed[3]).await.status(), 200);

    let refused = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        let kind = r.headers()["x-amzn-errortype"].to_str().unwrap().to_owned();
        let message = json(r).await["message"].as_str().unwrap().to_owned();
        (status, kind, message)
    };
    // A tampered body no longer matches the signature.
    let mut tampered = signed[1].clone();
    tampered["body"] = r#"{"item": "book", "qty": 200}"#.into();
    let (status, kind, message) = refused(send(&tampered).await).await;
    assert_eq!((status, kind.as_str()), (403, "InvalidSignatureException"));
    assert!(
        message.starts_with(
            "The request signature we calculated does not match the signature you provided."
        ),
        "{message}"
    );
    assert!(
        message.contains("The Canonical String for this request should have been"),
        "{message}"
    );
    // Signed 10 minutes ago; a presigned URL past its expiry.
    for r in [&signed[4], &signed[5]] {
        let (status, kind, message) = refused(send(r).await).await;
        assert_eq!((status, kind.as_str()), (403, "InvalidSignatureException"));
        assert!(message.starts_with("Signature expired: "), "{message}");
    }
    // An access key nobody has.
    let (status, kind, message) = refused(send(&signed[6]).await).await;
    assert_eq!(
        (status, kind.as_str()),
        (403, "UnrecognizedClientException")
    );
    assert_eq!(
        message,
        "The security token included in the request is invalid."
    );
    // Unsigned, and an Authorization header of another scheme.
    let (status, kind, message) = refused(http1_client().get(&url).send().await.unwrap()).await;
    assert_eq!(
        (status, kind.as_str(), message.as_str()),
        (
            403,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token"
        )
    );
    let r = http1_client()
        .get(&url)
        .header("authorization", "Bearer abc")
        .send()
        .await
        .unwrap();
    let (status, kind, message) = refused(r).await;
    assert_eq!(
        (status, kind.as_str()),
        (403, "IncompleteSignatureException")
    );
    assert!(
        message.starts_with("Authorization header requires 'Credential' parameter."),
        "{message}"
    );

    // Bob's allow-list covers GET only; his session token must be the configured one.
    assert_eq!(send(&signed[7]).await.status(), 200);
    let (status, kind, message) = refused(send(&signed[8]).await).await;
    assert_eq!((status, kind.as_str()), (403, "AccessDeniedException"));
    assert_eq!(
        message,
        format!("User: {BOB} is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:000000000000:shop/prod/POST/orders")
    );
    let (status, kind, _) = refused(send(&signed[9]).await).await;
    assert_eq!(
        (status, kind.as_str()),
        (403, "UnrecognizedClientException")
    );
}

/// Signs a GET or POST to `url` with a credential `{access_key_id, secret_access_key}` and sends
/// it; the status.
async fn signed_status(method: &str, url: &str, cred: (&str, &str)) -> u16 {
    let signed = sign(&[
        json!({"method": method, "url": url, "body": "", "access_key": cred.0, "secret": cred.1}),
    ]);
    send(&signed[0]).await.status().as_u16()
}

/// IAM credentials live in the state store like API keys: the config's are imported, others are
/// made by the CLI (gateway stopped) and the admin API (gateway running), survive a restart,
/// and are disabled, enabled and deleted; secrets are shown once and never listed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iam_credentials_are_managed_in_the_store_like_keys() {
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().to_path_buf();
    std::fs::write(
        keep.join("gatehouse.yaml"),
        format!(
            r#"
version: 1
listeners:
  - name: public
    address: 127.0.0.1:0
admin:
  address: 127.0.0.1:0
access_log: {{ destination: off }}
state:
  data_dir: state
iam:
  credentials:
    alice: {{ access_key_id: AKIDALICE, secret_access_key: alice-secret, principal: "{ALICE}" }}
apis:
  - name: shop
    stages: {{ prod: {{}} }}
    resources:
      /orders:
        ANY:
          authorization_type: AWS_IAM
          integration: {{ type: mock, body: orders }}
"#
        ),
    )
    .unwrap();
    let iam = |args: &[&str]| {
        let mut all = vec!["iam", "--config", "gatehouse.yaml"];
        all.extend_from_slice(args);
        gatehouse_e2e::gateway::run_cli(&keep, &all)
    };
    // The CLI, while no gateway runs.
    let carol = "arn:aws:iam::123456789012:user/carol";
    let (code, out, err) = iam(&["create", "--name", "carol", "--principal", carol]);
    assert_eq!(code, 0, "{err}");
    let carol_id = out.split_whitespace().next().unwrap().to_owned();
    let carol_secret = out
        .lines()
        .find_map(|l| l.strip_prefix("secret_access_key: "))
        .unwrap()
        .to_owned();
    assert!(
        carol_id.starts_with("AKIA") && carol_id.len() == 20,
        "{out}"
    );
    let (code, out, _) = iam(&["list"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("AKIDALICE  alice") && out.contains("(from config)"),
        "{out}"
    );
    assert!(
        out.contains(&carol_id) && !out.contains(&carol_secret) && !out.contains("alice-secret"),
        "{out}"
    );
    let (code, _, err) = iam(&["create", "--name", "x", "--principal", "carol"]);
    assert_eq!(code, 1);
    assert!(err.contains("expected an IAM ARN"), "{err}");

    let gw = Gateway::serve(dir, keep.join("gatehouse.yaml"));
    let (c, admin) = (http1_client(), gw.admin_url());
    let url = format!("{}/prod/orders", gw.url("public"));
    assert_eq!(
        signed_status("GET", &url, ("AKIDALICE", "alice-secret")).await,
        200
    );
    assert_eq!(
        signed_status("GET", &url, (&carol_id, &carol_secret)).await,
        200
    );

    // The admin API: a credential limited to GET.
    let r = c
        .post(format!("{admin}/iam/credentials"))
        .json(
            &json!({"name": "dave", "principal": "arn:aws:iam::123456789012:user/dave",
                      "allow": ["arn:aws:execute-api:*:*:shop/prod/GET/*"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let made = json(r).await;
    let dave = (
        made["access_key_id"].as_str().unwrap().to_owned(),
        made["secret_access_key"].as_str().unwrap().to_owned(),
    );
    let dave = (dave.0.as_str(), dave.1.as_str());
    assert_eq!(signed_status("GET", &url, dave).await, 200);
    assert_eq!(
        signed_status("POST", &url, dave).await,
        403,
        "not in its allow-list"
    );
    let list = json(
        c.get(format!("{admin}/iam/credentials"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 3, "{list}");
    for secret in [dave.1, &carol_secret, "alice-secret"] {
        assert!(
            !list.to_string().contains(secret),
            "secrets are never listed: {list}"
        );
    }

    let patch = |enabled: bool| {
        c.patch(format!("{admin}/iam/credentials/{}", dave.0))
            .json(&json!({ "enabled": enabled }))
            .send()
    };
    assert_eq!(patch(false).await.unwrap().status(), 200);
    let signed = sign(&[
        json!({"method": "GET", "url": url, "body": "", "access_key": dave.0, "secret": dave.1}),
    ]);
    let r = send(&signed[0]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.headers()["x-amzn-errortype"],
        "UnrecognizedClientException"
    );
    assert_eq!(patch(true).await.unwrap().status(), 200);
    assert_eq!(signed_status("GET", &url, dave).await, 200);
    let delete = || {
        c.delete(format!("{admin}/iam/credentials/{}", dave.0))
            .send()
    };
    assert_eq!(delete().await.unwrap().status(), 204);
    assert_eq!(signed_status("GET", &url, dave).await, 403);
    assert_eq!(delete().await.unwrap().status(), 404);
    let r = c
        .post(format!("{admin}/iam/credentials"))
        .json(&json!({"name": "eve", "principal": "eve"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(json(r).await["message"]
        .as_str()
        .unwrap()
        .contains("IAM ARN"));
}
