//! The `http` integration through the real binary: request parameters and a VTL request
//! template build the backend request; the backend status selects an integration response
//! whose parameters and VTL template shape the answer; passthrough behaviour decides what an
//! unmapped content type gets.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::{http1_client, json, Backend, Gateway, BASE};

fn config(backend: &Backend) -> String {
    format!(
        r#"
{BASE}
apis:
  - name: pets
    stages: {{ prod: {{ variables: {{ tier: gold }} }} }}
    resources:
      /pets/{{id}}:
        POST:
          integration:
            type: http
            uri: "http://{b}/echo/{{id}}"
            request_parameters:
              integration.request.header.x-pet-id: method.request.path.id
              integration.request.header.x-static: "'fixed'"
              integration.request.header.x-tier: stageVariables.tier
              integration.request.querystring.src: method.request.header.x-source
            request_templates:
              application/json: |
                #set($body = $input.path('$'))
                {{
                  "petName": "$body.name",
                  "id": "$input.params('id')",
                  "stage": "$context.stage",
                  "tags": $input.json('$.tags'),
                  "count": $body.tags.size()
                }}
            passthrough_behavior: when_no_templates
            responses:
              - status: 201
                response_parameters:
                  method.response.header.x-from: integration.response.header.x-backend
                  method.response.header.x-const: "'yes'"
                response_templates:
                  application/json: |
                    #set($r = $input.path('$'))
                    {{"sent": $r.body, "path": "$r.path", "query": "$r.query", "petHeader": "$r.headers.x-pet-id", "static": "$r.headers.x-static", "tier": "$r.headers.x-tier"}}
      /status/{{code}}:
        GET:
          integration:
            type: http
            uri: "http://{b}/status/{{code}}"
            responses:
              - selection_pattern: "4\\d\\d"
                status: 400
                response_templates:
                  application/json: |
                    #set($r = $input.path('$'))
                    {{"error": "backend answered $r.status"}}
                    #if($r.status == 404)
                    #set($context.responseOverride.status = 404)
                    #end
              - selection_pattern: "5\\d\\d"
                status: 502
              - status: 200
      /mock/{{code}}:
        GET:
          integration:
            type: mock
            request_templates:
              application/json: '{{"statusCode": $input.params(''code'')}}'
            responses:
              - selection_pattern: "4\\d\\d"
                status: 404
                response_templates:
                  application/json: '{{"missing": "$input.params(''code'')"}}'
              - status: 200
                response_parameters:
                  method.response.header.x-mock: "'yes'"
                response_templates:
                  application/json: '{{"ok": true, "stage": "$context.stage"}}'
"#,
        b = backend.addr
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_templates_parameters_and_integration_responses_shape_the_exchange() {
    let backend = Backend::start("mapped").await;
    let gw = Gateway::start(&config(&backend));
    let http = http1_client();
    let base = gw.url("public");

    let r = http
        .post(format!("{base}/prod/pets/7"))
        .header("content-type", "application/json; charset=utf-8")
        .header("x-source", "web app")
        .body(r#"{"name": "rex", "tags": ["good", "dog"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-from"], "mapped");
    assert_eq!(r.headers()["x-const"], "yes");
    assert_eq!(r.headers()["content-type"], "application/json");
    let doc = json(r).await;
    assert_eq!(
        doc["sent"],
        serde_json::json!({"petName": "rex", "id": "7", "stage": "prod", "tags": ["good", "dog"], "count": 2})
    );
    assert_eq!(doc["path"], "/echo/7");
    assert_eq!(doc["query"], "src=web+app");
    assert_eq!(doc["petHeader"], "7");
    assert_eq!(doc["static"], "fixed");
    assert_eq!(doc["tier"], "gold");

    // A content type without a template, with when_no_templates and templates present: 415.
    let r = http
        .post(format!("{base}/prod/pets/7"))
        .header("content-type", "text/plain")
        .body("rex")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"message":"Unsupported Media Type"}"#
    );
    let calls = backend.hits();

    // Integration responses by selection pattern over the backend status.
    let r = http
        .get(format!("{base}/prod/status/409"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        json(r).await,
        serde_json::json!({"error": "backend answered 409"})
    );
    let r = http
        .get(format!("{base}/prod/status/404"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        404,
        "the template's responseOverride.status wins"
    );
    let r = http
        .get(format!("{base}/prod/status/503"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(
        json(r).await,
        serde_json::json!({"status": 503}),
        "no template: the body passes"
    );
    let r = http
        .get(format!("{base}/prod/status/204"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the default response");
    assert_eq!(backend.hits(), calls + 4);

    // A mock as API Gateway runs one: the request template's statusCode picks the response.
    let r = http
        .get(format!("{base}/prod/mock/200"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-mock"], "yes");
    assert_eq!(
        json(r).await,
        serde_json::json!({"ok": true, "stage": "prod"})
    );
    let r = http
        .get(format!("{base}/prod/mock/418"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(json(r).await, serde_json::json!({"missing": "418"}));
    assert_eq!(backend.hits(), calls + 4, "mocks never reach the backend");
}
