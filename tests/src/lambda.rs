//! A Lambda-compatible invoke endpoint on loopback (`POST /2015-03-31/functions/{name}/invocations`,
//! as the Lambda runtime interface emulator serves it), with functions that answer in each way
//! the gateway must handle. Every event received is recorded, with the invoked path and query
//! (`?Qualifier=` for an alias or version).
//!
//! Functions: `echo` (200, the event as the JSON body, a multi-value `set-cookie`), `binary`
//! (a base64 PNG header), `cookies` (payload 2.0 `cookies`), `inferred` (a bare JSON object,
//! valid only in payload 2.0), `malformed` (not JSON), `badfield` (an unknown field), `crash`
//! (a function error); any other name is 404 like an unknown function.
//!
//! Authorizer functions read the caller's token from `authorizationToken` (TOKEN events), the
//! first `identitySource` (payload 2.0) or the `Authorization` header (REQUEST events).
//! `authorizer` answers an IAM policy by token: `allow-get` allows GET on every API and stage
//! (principal `user-1`, a context of a string, a number and a boolean), `deny` denies
//! everything, `unauthorized` fails with `Unauthorized`, `nested` returns a context with an
//! object in it, anything else fails. `simple` answers payload 2.0's simple response,
//! authorized for the token `ok`.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

type Events = Arc<Mutex<Vec<(String, serde_json::Value, String)>>>;

#[derive(Debug)]
pub struct LambdaEndpoint {
    pub addr: SocketAddr,
    events: Events,
    task: tokio::task::JoinHandle<()>,
}

impl LambdaEndpoint {
    pub async fn start() -> LambdaEndpoint {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind lambda endpoint");
        let addr = listener.local_addr().expect("lambda addr");
        let events: Events = Arc::default();
        let recorded = events.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| invoke(req, recorded.clone()));
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        LambdaEndpoint { addr, events, task }
    }

    /// `(function, event)` pairs in arrival order.
    pub fn events(&self) -> Vec<(String, serde_json::Value)> {
        let events = self.events.lock().expect("events");
        events
            .iter()
            .map(|(n, e, _)| (n.clone(), e.clone()))
            .collect()
    }

    /// The path and query of each invocation, in arrival order.
    pub fn invocations(&self) -> Vec<String> {
        let events = self.events.lock().expect("events");
        events.iter().map(|(_, _, uri)| uri.clone()).collect()
    }
}

impl Drop for LambdaEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The caller's token in an authorizer event.
fn token(event: &serde_json::Value) -> String {
    let header = event["headers"].as_object().and_then(|h| {
        h.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .and_then(|(_, v)| v.as_str())
    });
    event["authorizationToken"]
        .as_str()
        .or(event["identitySource"][0].as_str())
        .or(header)
        .unwrap_or("")
        .to_owned()
}

fn reply(status: u16, body: impl Into<Bytes>, error: bool) -> Response<Full<Bytes>> {
    let mut b = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    if error {
        b = b.header("x-amz-function-error", "Unhandled");
    }
    b.body(Full::new(body.into())).expect("response")
}

async fn invoke(
    req: Request<Incoming>,
    events: Events,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let target = req
        .uri()
        .path_and_query()
        .map_or(path.clone(), |pq| pq.as_str().to_owned());
    let name = path
        .strip_prefix("/2015-03-31/functions/")
        .and_then(|p| p.strip_suffix("/invocations"))
        .unwrap_or("")
        .to_owned();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    events
        .lock()
        .expect("events")
        .push((name.clone(), event.clone(), target));
    let json = |v: serde_json::Value| reply(200, v.to_string(), false);
    Ok(match name.as_str() {
        "echo" => json(serde_json::json!({
            "statusCode": 200,
            "headers": { "content-type": "application/json", "x-fn": "echo", "set-cookie": "ignored=1" },
            "multiValueHeaders": { "set-cookie": ["a=1", "b=2"] },
            "body": event.to_string(),
            "isBase64Encoded": false,
        })),
        "binary" => json(serde_json::json!({
            "statusCode": 200,
            "headers": { "content-type": "image/png" },
            "body": "iVBORw0K/w==",
            "isBase64Encoded": true,
        })),
        "cookies" => json(serde_json::json!({
            "statusCode": 201,
            "cookies": ["c=1; Path=/", "d=2"],
            "body": "made",
        })),
        "inferred" => json(serde_json::json!({ "hello": "world" })),
        "malformed" => reply(200, "this is not json", false),
        "badfield" => json(serde_json::json!({ "statusCode": 200, "bogus": 1 })),
        "crash" => reply(200, r#"{"errorMessage":"boom","errorType":"Error"}"#, true),
        "authorizer" => match token(&event).as_str() {
            "allow-get" => json(serde_json::json!({
                "principalId": "user-1",
                "policyDocument": { "Version": "2012-10-17", "Statement": [
                    { "Action": "execute-api:Invoke", "Effect": "Allow",
                      "Resource": "arn:aws:execute-api:*:*:*/*/GET/*" }
                ] },
                "context": { "tier": "gold", "level": 3, "admin": false },
            })),
            "deny" => json(serde_json::json!({
                "principalId": "user-2",
                "policyDocument": { "Version": "2012-10-17", "Statement": [
                    { "Action": "execute-api:Invoke", "Effect": "Deny", "Resource": "*" }
                ] },
            })),
            "unauthorized" => reply(
                200,
                r#"{"errorMessage":"Unauthorized","errorType":"Error"}"#,
                true,
            ),
            "nested" => json(serde_json::json!({
                "principalId": "user-3",
                "policyDocument": { "Version": "2012-10-17", "Statement": [
                    { "Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*" }
                ] },
                "context": { "user": { "id": 1 } },
            })),
            _ => reply(
                200,
                r#"{"errorMessage":"bad token","errorType":"Error"}"#,
                true,
            ),
        },
        "simple" => json(serde_json::json!({
            "isAuthorized": token(&event) == "ok",
            "context": { "who": "simple" },
        })),
        _ => reply(
            404,
            r#"{"Type":"User","message":"Function not found"}"#,
            false,
        ),
    })
}
