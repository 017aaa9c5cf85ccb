//! Request validation through the real binary: required parameters and JSON Schema models
//! (API Gateway's request validators), with API Gateway's 400 bodies, before the backend.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::{http1_client, json, Backend, Gateway, BASE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validators_check_parameters_then_body_before_the_backend() {
    let backend = Backend::start("validated").await;
    let yaml = format!(
        r#"
{BASE}
apis:
  - name: pets
    stages: {{ prod: {{}} }}
    models:
      Pet:
        type: object
        required: [name]
        additionalProperties: false
        properties:
          name: {{ type: string, minLength: 1 }}
          age: {{ type: integer, minimum: 0 }}
          tags: {{ type: array, items: {{ type: string }}, uniqueItems: true }}
    request_validators:
      all: {{ body: true, params: true }}
      params-only: {{ params: true }}
    resources:
      /pets:
        POST:
          request_validator: all
          request_parameters:
            method.request.querystring.dryRun: true
            method.request.header.x-tenant: true
            method.request.querystring.optional: false
          request_models: {{ application/json: Pet }}
          integration: {{ type: http_proxy, uri: "http://{addr}/pets" }}
      /pets/{{id}}:
        GET:
          request_validator: params-only
          request_parameters:
            method.request.path.id: true
            method.request.header.x-tenant: true
          request_models: {{ application/json: Pet }}
          integration: {{ type: http_proxy, uri: "http://{addr}/pets/{{id}}" }}
"#,
        addr = backend.addr
    );
    let gw = Gateway::start(&yaml);
    let c = http1_client();
    let url = format!("{}/prod/pets", gw.url("public"));
    let post = |query: &str, tenant: Option<&str>, ct: &str, body: &str| {
        let mut req = c
            .post(format!("{url}{query}"))
            .header("content-type", ct)
            .body(body.to_owned());
        if let Some(t) = tenant {
            req = req.header("x-tenant", t);
        }
        req.send()
    };
    let good = r#"{"name":"rex","age":3,"tags":["dog"]}"#;

    // Missing parameters are listed as API Gateway lists them, headers before query strings
    // whatever the declared order; the body is not looked at.
    let r = post("", None, "application/json", "not json")
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["x-amzn-errortype"], "BadRequestException");
    assert_eq!(
        json(r).await,
        serde_json::json!({"message": "Missing required request parameters: [x-tenant, dryRun]"})
    );
    // An empty value counts as missing, as in API Gateway.
    let r = post("?dryRun=", Some("acme"), "application/json", good)
        .await
        .unwrap();
    assert_eq!(
        json(r).await["message"],
        "Missing required request parameters: [dryRun]"
    );

    // Bodies that do not match the model, or are not JSON.
    for bad in [
        r#"{"age":3}"#,
        r#"{"name":"rex","age":-1}"#,
        r#"{"name":"rex","colour":"brown"}"#,
        r#"{"name":"rex","tags":["a","a"]}"#,
        r#"["rex"]"#,
        "{",
    ] {
        let r = post("?dryRun=1", Some("acme"), "application/json", bad)
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(
            json(r).await,
            serde_json::json!({"message": "Invalid request body"}),
            "{bad}"
        );
    }
    assert_eq!(backend.hits(), 0, "nothing invalid reached the backend");

    // A valid request goes through with its body intact; the content type's parameters do not
    // change which model applies.
    let r = post(
        "?dryRun=1",
        Some("acme"),
        "application/json; charset=utf-8",
        good,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let doc = json(r).await;
    assert_eq!(doc["body"], good);
    assert_eq!(doc["headers"]["x-tenant"], "acme");
    // A content type without a model (and no `$default`) is not validated.
    let r = post("?dryRun=1", Some("acme"), "text/plain", "anything")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(backend.hits(), 2);

    // A params-only validator ignores bodies, checks headers.
    let item = format!("{url}/7");
    let r = c.get(&item).send().await.unwrap();
    assert_eq!(
        json(r).await["message"],
        "Missing required request parameters: [x-tenant]"
    );
    let r = c
        .get(&item)
        .header("x-tenant", "acme")
        .header("content-type", "application/json")
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
