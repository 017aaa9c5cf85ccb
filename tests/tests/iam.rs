//! IAM authorization through the real binary: requests signed by botocore (PyPI, installed by
//! scripts/setup.sh) with Signature Version 4, in the header and presigned forms, against an
//! `AWS_IAM` method; tampered, expired, unsigned, malformed and unknown-key requests get API
//! Gateway's 403 answers; the signer's identity reaches the Lambda event.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::lambda::LambdaEndpoint;
use gatehouse_e2e::{http1_client, json, repo_root, Gateway, BASE};
use serde_json::{json, Value};
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

const ALICE: &str = "arn:aws:iam::123456789012:user/alice";
const BOB: &str = "arn:aws:iam::123456789012:user/bob";

fn python() -> std::path::PathBuf {
    gatehouse_e2e::setup_tool("GATEHOUSE_PYTHON", "venv/bin/python")
}

/// Signs each request with botocore; gives them back as sent.
fn sign(requests: &[Value]) -> Vec<Value> {
    let py = python();
    assert!(
        py.exists(),
        "{} is missing: run scripts/setup.sh",
        py.display()
    );
    let mut child = Command::new(&py)
        .arg(repo_root().join("tests/sigv4/sign.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(Value::from(requests.to_vec()).to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "sign.py failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn send(r: &Value) -> reqwest::Response {
    let method: reqwest::Method = r["method"].as_str().unwrap().parse().unwrap();
    let mut req = http1_client().request(method, r["url"].as_str().unwrap());
    for (k, v) in r["headers"].as_object().unwrap() {
        req = req.header(k, v.as_str().unwrap());
    }
    req.body(r["body"].as_str().unwrap().to_owned())
        .send()
        .await
        .unwrap()
}

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
