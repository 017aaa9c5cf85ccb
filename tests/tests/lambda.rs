//! The `lambda` integration through the real binary against a Lambda-compatible invoke
//! endpoint: payload format 1.0 and 2.0 events with the fields real handlers read (checked
//! against aws-lambda-go's fixtures, `proxy/testdata/lambda-events`), proxy responses with
//! headers, multi-value headers, cookies and base64 bodies, binary media types, and 502 for
//! malformed responses and function errors.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::lambda::LambdaEndpoint;
use gatehouse_e2e::{http1_client, json, repo_root, Gateway, BASE};
use serde_json::Value;

fn config(lambda: &LambdaEndpoint) -> String {
    format!(
        r#"
{BASE}
apis:
  - name: fns
    stages: {{ prod: {{ variables: {{ fn: echo }} }} }}
    binary_media_types: [image/png, application/octet-stream]
    resources:
      /v1/{{proxy+}}:
        ANY:
          integration: {{ type: lambda, endpoint: "http://{l}", function: "${{stageVariables.fn}}" }}
      /v2/{{proxy+}}:
        ANY:
          integration: {{ type: lambda, endpoint: "http://{l}", function: echo, payload_format: "2.0" }}
      /fn/{{name}}:
        GET:
          integration: {{ type: lambda, endpoint: "http://{l}", function: binary }}
      /bad/malformed:
        GET: {{ integration: {{ type: lambda, endpoint: "http://{l}", function: malformed }} }}
      /bad/badfield:
        GET: {{ integration: {{ type: lambda, endpoint: "http://{l}", function: badfield }} }}
      /bad/crash:
        GET: {{ integration: {{ type: lambda, endpoint: "http://{l}", function: crash }} }}
      /bad/missing:
        GET: {{ integration: {{ type: lambda, endpoint: "http://{l}", function: nope }} }}
      /bad/inferred-v1:
        GET: {{ integration: {{ type: lambda, endpoint: "http://{l}", function: inferred }} }}
      /ok/inferred-v2:
        GET: {{ integration: {{ type: lambda, endpoint: "http://{l}", function: inferred, payload_format: "2.0" }} }}
      /ok/cookies:
        GET: {{ integration: {{ type: lambda, endpoint: "http://{l}", function: cookies, payload_format: "2.0" }} }}
"#,
        l = lambda.addr
    )
}

fn fixture(name: &str) -> Value {
    let p = repo_root().join("proxy/testdata/lambda-events").join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Every key of `fixture` is in `ours` with a value of the same JSON type (null allowed where
/// API Gateway sends null for an empty map), recursively for `requestContext`.
fn same_shape(fixture: &Value, ours: &Value, at: &str, skip: &[&str]) {
    let (Value::Object(f), Value::Object(o)) = (fixture, ours) else {
        panic!("{at}: not an object in ours: {ours}");
    };
    for (k, fv) in f {
        if skip.contains(&k.as_str()) {
            continue;
        }
        let ov = o
            .get(k)
            .unwrap_or_else(|| panic!("{at}.{k} is missing from {ours}"));
        let kind = |v: &Value| std::mem::discriminant(v);
        let compatible = kind(fv) == kind(ov) || ov.is_null() || fv.is_null();
        assert!(compatible, "{at}.{k}: fixture {fv} vs ours {ov}");
        if k == "requestContext" || k == "http" {
            same_shape(fv, ov, &format!("{at}.{k}"), skip);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_formats_and_proxy_responses() {
    let lambda = LambdaEndpoint::start().await;
    let gw = Gateway::start(&config(&lambda));
    let http = http1_client();
    let base = gw.url("public");

    // Payload 1.0, function name from a stage variable.
    let r = http
        .post(format!("{base}/prod/v1/pets/7?a=1&a=2&b=x%20y"))
        .header("content-type", "application/json")
        .header("x-multi", "one")
        .body(r#"{"name":"rex"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-fn"], "echo");
    let cookies: Vec<_> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        cookies,
        ["a=1", "b=2"],
        "multiValueHeaders replace headers of the same name"
    );
    let event: Value = json(r).await;
    same_shape(
        &fixture("apigw-request.json"),
        &event,
        "v1",
        &["accountId", "resourceId", "domainPrefix", "authorizer"],
    );
    assert_eq!(event["resource"], "/v1/{proxy+}");
    assert_eq!(event["path"], "/prod/v1/pets/7");
    assert_eq!(event["httpMethod"], "POST");
    assert_eq!(event["pathParameters"]["proxy"], "pets/7");
    assert_eq!(
        event["queryStringParameters"],
        serde_json::json!({"a": "2", "b": "x y"})
    );
    assert_eq!(
        event["multiValueQueryStringParameters"]["a"],
        serde_json::json!(["1", "2"])
    );
    assert_eq!(
        event["multiValueHeaders"]["x-multi"],
        serde_json::json!(["one"])
    );
    assert_eq!(event["stageVariables"]["fn"], "echo");
    assert_eq!(event["requestContext"]["identity"]["sourceIp"], "127.0.0.1");
    assert_eq!(event["requestContext"]["stage"], "prod");
    assert_eq!(event["body"], r#"{"name":"rex"}"#);
    assert_eq!(event["isBase64Encoded"], false);

    // A binary media type goes base64.
    let png = [0x89u8, 0x50, 0x4e, 0x47, 0x0d, 0x0a];
    let r = http
        .put(format!("{base}/prod/v1/upload"))
        .header("content-type", "image/png")
        .body(png.to_vec())
        .send()
        .await
        .unwrap();
    let event: Value = json(r).await;
    assert_eq!(event["isBase64Encoded"], true);
    assert_eq!(event["body"], "iVBORw0K");

    // Payload 2.0.
    let r = http
        .get(format!("{base}/prod/v2/items?x=1&x=2"))
        .header("cookie", "s=1; t=2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let event: Value = json(r).await;
    same_shape(
        &fixture("apigw-v2-request-no-authorizer.json"),
        &event,
        "v2",
        &["accountId", "domainPrefix", "authentication"],
    );
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "GET /v2/{proxy+}");
    assert_eq!(event["rawPath"], "/prod/v2/items");
    assert_eq!(event["rawQueryString"], "x=1&x=2");
    assert_eq!(event["queryStringParameters"]["x"], "1,2");
    assert_eq!(event["cookies"], serde_json::json!(["s=1", "t=2"]));
    assert_eq!(event["requestContext"]["http"]["method"], "GET");
    assert!(event.get("multiValueHeaders").is_none());

    // Proxy responses: base64 bodies, 2.0 cookies and inferred responses.
    let r = http.get(format!("{base}/prod/fn/x")).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        &[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0xff]
    );
    let r = http
        .get(format!("{base}/prod/ok/cookies"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let cookies: Vec<_> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(cookies, ["c=1; Path=/", "d=2"]);
    let r = http
        .get(format!("{base}/prod/ok/inferred-v2"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await, serde_json::json!({"hello": "world"}));

    // What API Gateway answers 502 for.
    for path in ["malformed", "badfield", "crash", "missing", "inferred-v1"] {
        let r = http
            .get(format!("{base}/prod/bad/{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 502, "{path}");
        assert_eq!(
            r.text().await.unwrap(),
            r#"{"message":"Internal server error"}"#,
            "{path}"
        );
    }
    assert!(lambda.events().iter().any(|(name, _)| name == "nope"));
}
