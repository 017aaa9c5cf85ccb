//! The `lambda` integration through the real binary against a Lambda-compatible invoke
//! endpoint: payload format 1.0 and 2.0 events and WebSocket events compared key by key with
//! events API Gateway sent (recorded in aws-lambda-go and aws-lambda-rust-runtime, copied
//! under `tests/testdata/lambda-events`, see `tests/testdata/SOURCES.md`), proxy responses
//! as AWS documents them ("Output format of a Lambda function for proxy integration",
//! "Lambda function response format" for HTTP APIs), binary media types, qualified function
//! ARNs, and 502 for malformed responses and function errors.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::lambda::LambdaEndpoint;
use gatehouse_e2e::ws::{Connect, WsClient};
use gatehouse_e2e::{http1_client, json, repo_root, Backend, Gateway, BASE};
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: &str = "lambda-partner-key-0123456789";

fn config(lambda: &LambdaEndpoint, backend: &Backend) -> String {
    format!(
        r#"
{BASE}
state: {{ data_dir: state }}
usage_plans:
  gold: {{ stages: [fns/prod] }}
api_keys:
  partner: {{ value: {KEY}, plans: [gold] }}
apis:
  - name: fns
    stages: {{ prod: {{ variables: {{ fn: echo }} }} }}
    binary_media_types: [image/png, application/octet-stream]
    resources:
      /v1/{{proxy+}}:
        ANY:
          integration: {{ type: lambda, endpoint: "http://{l}", function: "${{stageVariables.fn}}" }}
      /keyed:
        POST:
          api_key_required: true
          integration: {{ type: lambda, endpoint: "http://{l}", function: echo }}
      /v2/{{proxy+}}:
        ANY:
          integration: {{ type: lambda, endpoint: "http://{l}", function: echo, payload_format: "2.0" }}
      /fn/{{name}}:
        GET:
          integration: {{ type: lambda, endpoint: "http://{l}", function: binary }}
      /fn2/binary:
        GET:
          integration: {{ type: lambda, endpoint: "http://{l}", function: binary, payload_format: "2.0" }}
      /q/arn:
        GET: {{ integration: {{ type: lambda, endpoint: "http://{l}", function: "arn:aws:lambda:us-east-1:123456789012:function:echo:live" }} }}
      /q/version:
        GET: {{ integration: {{ type: lambda, endpoint: "http://{l}", function: "echo:7" }} }}
      /q/uri:
        GET: {{ integration: {{ type: lambda, endpoint: "http://{l}", function: "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:echo:$LATEST/invocations" }} }}
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
  - name: chat
    protocol: websocket
    stages: {{ ws: {{}} }}
    routes:
      $connect:
        integration: {{ type: http, uri: "http://{b}/events/quiet" }}
      $disconnect:
        integration: {{ type: http, uri: "http://{b}/events/quiet" }}
      $default:
        integration: {{ type: http, uri: "http://{b}/events/quiet" }}
"#,
        l = lambda.addr,
        b = backend.addr,
    )
}

fn fixture(name: &str) -> Value {
    let p = repo_root().join("tests/testdata/lambda-events").join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Which differences from the recorded events a request explains, by dotted path.
#[derive(Default)]
struct Allow<'a> {
    /// Maps of request data (headers, parameters): their keys are not compared.
    opaque: &'a [&'a str],
    /// Keys API Gateway sends only for some requests (an authorizer ran, a body was sent).
    optional: &'a [&'a str],
    /// Values that may be null on one side and not on the other (a caller's Cognito or IAM
    /// identity, a map API Gateway sends as null when empty).
    nullable: &'a [&'a str],
}

/// The same keys as the recorded events, recursively: every key of every fixture is in ours
/// (unless optional), every key of ours is in some fixture, and each value has the fixture's
/// JSON type (null on either side only where nullable).
fn same_shape(fixtures: &[&Value], ours: &Value, at: &str, allow: &Allow<'_>) {
    let Value::Object(o) = ours else {
        panic!("{at}: not an object in ours: {ours}");
    };
    let objects: Vec<_> = fixtures.iter().filter_map(|f| f.as_object()).collect();
    let path = |k: &str| {
        if at.is_empty() {
            k.to_owned()
        } else {
            format!("{at}.{k}")
        }
    };
    for k in o.keys() {
        assert!(
            objects.iter().any(|f| f.contains_key(k)),
            "{} is in ours but in no recorded event: {ours}",
            path(k)
        );
    }
    for f in &objects {
        for (k, fv) in f.iter() {
            let p = path(k);
            let Some(ov) = o.get(k) else {
                assert!(
                    allow.optional.contains(&p.as_str()),
                    "{p} is missing from {ours}"
                );
                continue;
            };
            let same_kind = std::mem::discriminant(fv) == std::mem::discriminant(ov);
            let null_ok = (fv.is_null() || ov.is_null()) && allow.nullable.contains(&p.as_str());
            assert!(same_kind || null_ok, "{p}: recorded {fv} vs ours {ov}");
        }
    }
    for (k, ov) in o {
        let p = path(k);
        if ov.is_object() && !allow.opaque.contains(&p.as_str()) {
            let children: Vec<&Value> = objects.iter().filter_map(|f| f.get(k)).collect();
            same_shape(&children, ov, &p, allow);
        }
    }
}

const IDENTITY_NULLS: [&str; 11] = [
    "cognitoIdentityPoolId",
    "accountId",
    "cognitoIdentityId",
    "caller",
    "accessKey",
    "principalOrgId",
    "cognitoAuthenticationType",
    "cognitoAuthenticationProvider",
    "userArn",
    "user",
    "clientCert",
];

/// A raw HTTP/1.1 request (reqwest would lowercase the header names); the response body.
async fn raw_request(gw: &Gateway, head: &str, body: &str) -> Value {
    let mut s = tokio::net::TcpStream::connect(gw.addr("public"))
        .await
        .unwrap();
    let req = format!(
        "{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    serde_json::from_str(body).unwrap()
}

/// `GET url` with `headers`.
async fn get(url: String, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = http1_client().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

/// Every value of the response header `name`.
fn all(r: &reqwest::Response, name: &str) -> Vec<String> {
    r.headers()
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_1_0_events_carry_every_key_api_gateway_sends() {
    let lambda = LambdaEndpoint::start().await;
    let backend = Backend::start("events").await;
    let gw = Gateway::start(&config(&lambda, &backend));
    let host = gw.addr("public");

    // Compared with aws-lambda-go's apigw-request.json and the console test event of
    // aws-lambda-rust-runtime (which has principalOrgId and the null maps).
    let event = raw_request(
        &gw,
        &format!(
            "POST /prod/keyed?name=me&name=you HTTP/1.1\r\nHost: {host}\r\nheaderName: headerValue\r\ncache-control: no-cache\r\nX-Amz-Cf-Id: abc\r\nContent-Type: application/json\r\nKeep-Alive: timeout=5\r\nx-api-key: {KEY}"
        ),
        r#"{"a": 1}"#,
    )
    .await;
    let maps = [
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "stageVariables",
    ];
    let mut nullable: Vec<String> = maps.iter().map(|m| m.to_string()).collect();
    nullable.extend(
        IDENTITY_NULLS
            .iter()
            .map(|k| format!("requestContext.identity.{k}")),
    );
    // The raw request sends no User-Agent.
    nullable.push("requestContext.identity.userAgent".into());
    let nullable: Vec<&str> = nullable.iter().map(String::as_str).collect();
    let mut opaque = maps.to_vec();
    opaque.push("requestContext.authorizer");
    let allow = Allow {
        opaque: &opaque,
        optional: &["requestContext.authorizer"],
        nullable: &nullable,
    };
    let recorded = [
        fixture("apigw-request.json"),
        fixture("example-apigw-console-test-request.json"),
    ];
    same_shape(&[&recorded[0], &recorded[1]], &event, "", &allow);

    // The client's header-name case; hop-by-hop headers left out.
    let headers = event["headers"].as_object().unwrap();
    assert_eq!(headers["headerName"], "headerValue");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["X-Amz-Cf-Id"], "abc");
    assert_eq!(headers["Content-Type"], "application/json");
    assert_eq!(
        event["multiValueHeaders"]["headerName"],
        serde_json::json!(["headerValue"])
    );
    assert!(!headers.contains_key("Connection") && !headers.contains_key("Keep-Alive"));
    assert!(!headers
        .keys()
        .any(|k| k.eq_ignore_ascii_case("headername") && k != "headerName"));

    // The stage is only in requestContext.path.
    let rc = &event["requestContext"];
    assert_eq!(event["path"], "/keyed");
    assert_eq!(rc["path"], "/prod/keyed");
    assert_eq!(rc["resourcePath"], "/keyed");
    assert_eq!(rc["stage"], "prod");
    assert_eq!(rc["protocol"], "HTTP/1.1");
    assert_eq!(rc["domainName"], "127.0.0.1");
    let time = rc["requestTime"].as_str().unwrap();
    // `09/Apr/2015:12:34:56 +0000`
    assert_eq!(time.len(), 26, "{time}");
    assert!(
        time.ends_with(" +0000") && time.as_bytes()[2] == b'/',
        "{time}"
    );
    assert!(rc["requestTimeEpoch"].as_u64().unwrap() > 1_600_000_000_000);
    assert_ne!(rc["extendedRequestId"], rc["requestId"]);
    assert_eq!(rc["resourceId"].as_str().unwrap().len(), 6);
    // The key the request was admitted with; nulls where an anonymous caller has none.
    assert_eq!(rc["identity"]["apiKey"], KEY);
    let key_id = rc["identity"]["apiKeyId"].as_str().unwrap();
    assert!(!key_id.is_empty() && key_id != KEY, "{key_id}");
    assert_eq!(rc["identity"]["sourceIp"], "127.0.0.1");
    assert_eq!(rc["identity"]["userAgent"], Value::Null);
    for k in IDENTITY_NULLS {
        assert!(rc["identity"][k].is_null(), "identity.{k}");
    }
    assert_eq!(
        event["multiValueQueryStringParameters"]["name"],
        serde_json::json!(["me", "you"])
    );
    assert_eq!(event["queryStringParameters"]["name"], "you");
    assert_eq!(event["pathParameters"], Value::Null);
    assert_eq!(event["isBase64Encoded"], false);

    // As the console test event: empty maps are null; no key, so apiKey is null.
    let r = get(format!("{}/prod/v1/pets", gw.url("public")), &[]).await;
    let event: Value = json(r).await;
    assert_eq!(event["queryStringParameters"], Value::Null);
    assert_eq!(event["multiValueQueryStringParameters"], Value::Null);
    assert_eq!(event["body"], Value::Null);
    assert_eq!(event["path"], "/v1/pets");
    assert_eq!(event["requestContext"]["identity"]["apiKey"], Value::Null);
    assert_eq!(event["requestContext"]["identity"]["apiKeyId"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_formats_and_proxy_responses() {
    let lambda = LambdaEndpoint::start().await;
    let backend = Backend::start("events").await;
    let gw = Gateway::start(&config(&lambda, &backend));
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
    let cookies = all(&r, "set-cookie");
    assert_eq!(
        cookies,
        ["a=1", "b=2", "ignored=1"],
        "headers and multiValueHeaders are merged"
    );
    let event: Value = json(r).await;
    assert_eq!(event["resource"], "/v1/{proxy+}");
    assert_eq!(event["path"], "/v1/pets/7");
    assert_eq!(event["requestContext"]["path"], "/prod/v1/pets/7");
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
    assert_eq!(event["body"], r#"{"name":"rex"}"#);

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

    // Payload 2.0, compared with aws-lambda-go's apigw-v2-request-*.json.
    let r = get(
        format!("{base}/prod/v2/items?x=1&x=2"),
        &[("cookie", "s=1; t=2"), ("X-Upper", "u")],
    )
    .await;
    assert_eq!(r.status(), 200);
    let event: Value = json(r).await;
    let recorded = [
        fixture("apigw-v2-request-no-authorizer.json"),
        fixture("apigw-v2-request-lambda-authorizer.json"),
    ];
    let allow = Allow {
        opaque: &[
            "headers",
            "queryStringParameters",
            "pathParameters",
            "stageVariables",
            "requestContext.authorizer",
            "requestContext.authentication",
        ],
        optional: &["body", "requestContext.authorizer"],
        nullable: &["requestContext.authentication"],
    };
    same_shape(&[&recorded[0], &recorded[1]], &event, "", &allow);
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "GET /v2/{proxy+}");
    assert_eq!(event["rawPath"], "/prod/v2/items");
    assert_eq!(event["rawQueryString"], "x=1&x=2");
    assert_eq!(event["queryStringParameters"]["x"], "1,2");
    assert_eq!(event["cookies"], serde_json::json!(["s=1", "t=2"]));
    assert_eq!(event["headers"]["x-upper"], "u");
    assert!(event["headers"].get("cookie").is_none());
    assert_eq!(event["requestContext"]["http"]["method"], "GET");
    assert_eq!(event["requestContext"]["http"]["path"], "/prod/v2/items");
    assert_eq!(event["requestContext"]["routeKey"], "GET /v2/{proxy+}");
    assert!(event["requestContext"]["timeEpoch"].as_u64().is_some());
    assert!(event.get("multiValueHeaders").is_none());
    // HTTP APIs pass text types as text and base64-encode the rest (observed on AWS).
    for (ct, b64) in [
        ("application/json", false),
        ("application/x-www-form-urlencoded", true),
    ] {
        let r = http
            .post(format!("{base}/prod/v2/form"))
            .header("content-type", ct)
            .body("a=1")
            .send()
            .await
            .unwrap();
        let event: Value = json(r).await;
        assert_eq!(event["isBase64Encoded"], b64, "{ct}");
        assert_eq!(event["body"], if b64 { "YT0x" } else { "a=1" }, "{ct}");
    }

    // Payload 1.0 base64 bodies are decoded only for a binary first Accept media type
    // (AWS, "Return binary media from a Lambda proxy integration").
    let r = get(format!("{base}/prod/fn/x"), &[("accept", "image/png")]).await;
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        &[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0xff]
    );
    let r = get(
        format!("{base}/prod/fn/x"),
        &[("accept", "text/html,image/png")],
    )
    .await;
    assert_eq!(r.text().await.unwrap(), "iVBORw0K/w==");
    // Payload 2.0 always decodes.
    let r = get(format!("{base}/prod/fn2/binary"), &[]).await;
    assert_eq!(r.bytes().await.unwrap().len(), 7);

    let r = get(format!("{base}/prod/ok/cookies"), &[]).await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.headers()["content-type"],
        "application/json",
        "the default"
    );
    let cookies = all(&r, "set-cookie");
    assert_eq!(cookies, ["c=1; Path=/", "d=2"]);
    let r = get(format!("{base}/prod/ok/inferred-v2"), &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(json(r).await, serde_json::json!({"hello": "world"}));

    // What API Gateway answers 502 for.
    for path in ["malformed", "badfield", "crash", "missing", "inferred-v1"] {
        let r = get(format!("{base}/prod/bad/{path}"), &[]).await;
        assert_eq!(r.status(), 502, "{path}");
        assert_eq!(
            r.text().await.unwrap(),
            r#"{"message":"Internal server error"}"#,
            "{path}"
        );
    }
    assert!(lambda.events().iter().any(|(name, _)| name == "nope"));
}

// Lambda Invoke API: `POST /2015-03-31/functions/{name}/invocations?Qualifier=..`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qualified_function_arns_invoke_that_qualifier() {
    let lambda = LambdaEndpoint::start().await;
    let backend = Backend::start("events").await;
    let gw = Gateway::start(&config(&lambda, &backend));
    for path in ["arn", "version", "uri"] {
        let r = get(format!("{}/prod/q/{path}", gw.url("public")), &[]).await;
        assert_eq!(r.status(), 200, "{path}");
    }
    let f = "/2015-03-31/functions/echo/invocations";
    assert_eq!(
        lambda.invocations(),
        [
            format!("{f}?Qualifier=live"),
            format!("{f}?Qualifier=7"),
            format!("{f}?Qualifier=$LATEST"),
        ]
    );
}

// The recorded WebSocket events: $connect (aws-lambda-rust-runtime), a message and
// $disconnect (aws-lambda-go, recorded in 2024).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_events_carry_every_key_api_gateway_sends() {
    let lambda = LambdaEndpoint::start().await;
    let backend = Backend::start("events").await;
    let gw = Gateway::start(&config(&lambda, &backend));
    let url = format!("ws://{}/ws", gw.addr("public"));
    let mut client = match WsClient::connect_with(&url, &[("X-Trace", "t1")]).await {
        Connect::Open(c) => *c,
        Connect::Refused(s, b) => panic!("refused: {s} {b}"),
    };
    client.send_text("hello").await;
    let wait = Duration::from_secs(5);
    let message = backend
        .wait_event(wait, |e| e["requestContext"]["eventType"] == "MESSAGE")
        .await
        .unwrap();
    drop(client);
    let gone = backend
        .wait_event(wait, |e| e["requestContext"]["eventType"] == "DISCONNECT")
        .await
        .unwrap();
    let connect = backend
        .wait_event(wait, |e| e["requestContext"]["eventType"] == "CONNECT")
        .await
        .unwrap();

    let allow = Allow {
        opaque: &["headers", "multiValueHeaders"],
        optional: &[
            "requestContext.identity.apiKey",
            "requestContext.identity.apiKeyId",
        ],
        nullable: &[],
    };
    let recorded = fixture("example-apigw-websocket-request-without-method.json");
    same_shape(&[&recorded], &connect, "", &allow);
    let headers = connect["headers"].as_object().unwrap();
    assert!(headers.contains_key("Sec-WebSocket-Key"), "{headers:?}");
    assert!(!headers.contains_key("Upgrade") && !headers.contains_key("upgrade"));
    assert!(connect.get("body").is_none());

    let allow = Allow {
        optional: &["requestContext.identity.userAgent"],
        ..Allow::default()
    };
    let recorded = fixture("apigw-websocket-request-send-message.json");
    same_shape(&[&recorded], &message, "", &allow);
    assert_eq!(message["body"], "hello");
    let recorded = fixture("apigw-websocket-request-disconnect.json");
    same_shape(&[&recorded], &gone, "", &allow);
    assert!(gone.get("body").is_none());
    let rc = &message["requestContext"];
    assert_eq!(rc["connectedAt"], connect["requestContext"]["connectedAt"]);
    assert_eq!(rc["requestTime"].as_str().unwrap().len(), 26);
    assert_ne!(rc["messageId"], rc["requestId"]);
}
