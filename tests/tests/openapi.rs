//! OpenAPI import through the real binary: the API Gateway guide's PetStore request-validation
//! export (Swagger 2, `crates/openapi/testdata/openapi`) served as it is, its backend host rebound to a
//! local backend: API key requirement, request validators (params-only by default, all on
//! POST), the body model, request parameter mapping and integration responses. And the
//! `import` and `plugin check` commands.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::gateway::run_cli;
use gatehouse_e2e::{http1_client, json, repo_root, Backend, Gateway, BASE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exported_petstore_document_is_served_unmodified() {
    let backend = Backend::start("petstore").await;
    let doc = repo_root()
        .join("crates/openapi/testdata/openapi/awsdocs-petstore-request-validation.swagger2.json");
    let yaml = format!(
        r#"
{BASE}
usage_plans:
  basic: {{ stages: [petstore/v1] }}
api_keys:
  tester: {{ value: "test-key-0123456789abcdef", plans: [basic] }}
apis:
  - name: petstore
    stages: {{ v1: {{}} }}
    openapi:
      file: "{doc}"
      backends: {{ petstore-demo-endpoint.execute-api.com: "{b}" }}
"#,
        doc = doc.display(),
        b = backend.addr
    );
    let gw = Gateway::start(&yaml);
    let http = http1_client();
    let url = format!("{}/v1/validation", gw.url("public"));
    let key = ("x-api-key", "test-key-0123456789abcdef");

    let r = http.get(&url).query(&[("q1", "cat")]).send().await.unwrap();
    assert_eq!(r.status(), 403, "the document's api_key requirement");
    let r = http.get(&url).header(key.0, key.1).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        json(r).await["message"],
        "Missing required request parameters: [q1]"
    );
    let r = http
        .get(&url)
        .header(key.0, key.1)
        .query(&[("q1", "cat")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "2\\d{{2}} selects the 200 response");
    let seen = json(r).await;
    assert_eq!(seen["path"], "/petstore/pets");
    assert_eq!(
        // Non-proxy integrations pass only mapped parameters, as API Gateway does.
        seen["query"],
        "type=cat",
        "integration.request.querystring.type from q1, and q1 itself not passed"
    );

    let post = |body: &'static str, h1: bool| {
        let mut req = http
            .post(&url)
            .header(key.0, key.1)
            .header("content-type", "application/json")
            .body(body);
        if h1 {
            req = req.header("h1", "v1");
        }
        req.send()
    };
    let r = post(r#"{"type":"dog","name":"rex","price":30}"#, false)
        .await
        .unwrap();
    assert_eq!(
        json(r).await["message"],
        "Missing required request parameters: [h1]"
    );
    let r = post(r#"{"type":"cow","name":"rex","price":30}"#, true)
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["message"], "Invalid request body");
    let r = post(r#"{"type":"dog","name":"rex","price":10}"#, true)
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "price below the model's minimum");
    let hits = backend.hits();
    let r = post(r#"{"type":"dog","name":"rex","price":30}"#, true)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = json(r).await;
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["headers"]["custom_h1"], "v1");
    assert_eq!(backend.hits(), hits + 1);
}

#[test]
fn import_prints_native_config_and_names_what_is_not_served() {
    let dir = repo_root().join("crates/openapi/testdata/openapi");
    let (code, stdout, stderr) = run_cli(&dir, &["import", "awsdocs-s3-proxy.swagger2.json"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("apis:\n- name: imported\n"), "{stdout}");
    assert!(
        stderr.contains("awsdocs-s3-proxy.swagger2.json#/paths/")
            && stderr.contains("AWS service integration (s3) is not served"),
        "{stderr}"
    );
    let (code, stdout, stderr) = run_cli(
        &dir,
        &[
            "import",
            "localstack-swagger-mock-cors.json",
            "--lambda-endpoint",
            "http://127.0.0.1:9001",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("type: lambda") && stdout.contains("type: mock"),
        "{stdout}"
    );
    let (code, _, stderr) = run_cli(&dir, &["import", "localstack-swagger-mock-cors.json"]);
    assert_eq!(code, 0);
    assert!(
        stderr.contains("is not bound: set openapi.lambda_endpoint"),
        "{stderr}"
    );
}

/// Every document of the shared test material passes `gatehouse validate` (what cannot be
/// served leaves out a method or a setting, never the API), and `validate` and `import`
/// print the same located warnings: the ones the gateway logs when it serves the document
/// (all three run the one import).
#[test]
fn validate_and_import_print_the_same_warnings_for_every_shared_document() {
    let src = repo_root().join("crates/openapi/testdata/openapi");
    let mut names: Vec<String> = std::fs::read_dir(&src)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert!(!names.is_empty());
    let warnings = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.starts_with("warning: "))
            .map(str::to_owned)
            .collect()
    };
    for n in &names {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::copy(src.join(n), tmp.path().join(n)).unwrap();
        let yaml = format!(
            "{BASE}apis:\n  - name: a\n    stages: {{ prod: {{}} }}\n    openapi: {{ file: {n}, lambda_endpoint: \"http://127.0.0.1:9001\" }}\n"
        );
        std::fs::write(tmp.path().join("gatehouse.yaml"), yaml).unwrap();
        let (code, stdout, validated) = run_cli(tmp.path(), &["validate", "gatehouse.yaml"]);
        assert_eq!(code, 0, "{n}: {validated}");
        assert!(stdout.contains(": ok ("), "{n}: {stdout}");
        let (code, _, imported) = run_cli(
            tmp.path(),
            &["import", n, "--lambda-endpoint", "http://127.0.0.1:9001"],
        );
        assert_eq!(code, 0, "{n}: {imported}");
        assert_eq!(warnings(&validated), warnings(&imported), "{n}");
        for w in warnings(&imported) {
            assert!(w.starts_with(&format!("warning: {n}#/")), "{w}");
        }
    }
}

#[test]
fn plugin_check_names_the_world_and_refuses_what_does_not_link() {
    let dist = repo_root().join("plugins/dist");
    for (file, world) in [
        ("chat.wasm", "websocket-handler"),
        ("token-authorizer.wasm", "authorizer"),
        ("kv-items.wasm", "integration"),
    ] {
        let (code, stdout, stderr) = run_cli(&dist, &["plugin", "check", file]);
        assert_eq!(code, 0, "{file}: {stderr}");
        assert!(
            stdout.contains(&format!("exports the `{world}` world")),
            "{stdout}"
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("junk.wasm"), b"not wasm").unwrap();
    let (code, _, stderr) = run_cli(tmp.path(), &["plugin", "check", "junk.wasm"]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("not a valid WebAssembly component"),
        "{stderr}"
    );
}

#[test]
fn export_writes_openapi_that_imports_back() {
    let examples = repo_root().join("examples");
    let (code, stdout, stderr) = run_cli(&examples, &["export", "-c", "quickstart.yaml"]);
    assert_eq!(code, 0, "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["openapi"], "3.0.1");
    let paths = doc["paths"].as_object().unwrap();
    assert!(!paths.is_empty());
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("exported.json"), &stdout).unwrap();
    let (code, yaml, stderr) = run_cli(tmp.path(), &["import", "exported.json"]);
    assert_eq!(code, 0, "{stderr}");
    for path in paths.keys() {
        assert!(
            yaml.contains(&format!("    {path}:")),
            "{path} missing from:\n{yaml}"
        );
    }
}

/// An example config with its ports freed, its document and plugins at absolute paths and
/// `127.0.0.1:9000` replaced by `backend`.
fn example(name: &str, listen: &str, backend: Option<&Backend>) -> String {
    let examples = repo_root().join("examples");
    let text = std::fs::read_to_string(examples.join(name)).unwrap();
    let mut yaml = text
        .replace(listen, "127.0.0.1:0")
        .replace(
            "file: openapi/",
            &format!("file: {}/openapi/", examples.display()),
        )
        .replace(
            "../plugins/dist",
            &repo_root().join("plugins/dist").display().to_string(),
        );
    if let Some(b) = backend {
        yaml = yaml.replace("127.0.0.1:9000", &b.addr.to_string());
    }
    yaml
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn petstore_example_document_is_served_end_to_end() {
    let backend = Backend::start("store").await;
    let gw = Gateway::start(&example(
        "openapi-petstore.yaml",
        "127.0.0.1:8083",
        Some(&backend),
    ));
    let http = http1_client();
    let url = format!("{}/prod/pets", gw.url("public"));

    // http integration: request parameter mapping and a VTL response template.
    let r = http
        .get(&url)
        .query(&[("type", "dog")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        json(r).await,
        serde_json::json!({"served_by": "store", "backend_query": "kind=dog", "stage": "prod"})
    );
    // Model validation with the document's custom BAD_REQUEST_BODY gateway response.
    let r = http
        .post(&url)
        .header("content-type", "application/json")
        .body(r#"{"name":"rex","type":"cow","price":30}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(r.headers()["x-error-kind"], "validation");
    let err = json(r).await;
    assert_eq!(err["error"], "Invalid request body");
    // passthroughBehavior NEVER: a type without a template is 415.
    let r = http
        .post(&url)
        .header("content-type", "text/plain")
        .body("rex")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    // A valid pet goes through the request template; the response template wraps the answer.
    let r = http
        .post(&url)
        .header("content-type", "application/json")
        .header("origin", "https://shop.example.com")
        .body(r#"{"name":"o'rex","type":"dog","price":30,"tags":["good","small"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-served-by"], "store");
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://shop.example.com"
    );
    // The backend echoes what it got; the response template embeds that as `created`.
    let created = json(r).await;
    assert_eq!(
        created["created"],
        serde_json::json!({"name": "o'rex", "type": "dog", "price": 30, "tags": ["good", "small"]})
    );
    // The proxy route, and a CORS preflight answered by the gateway.
    let r = http.get(format!("{url}/42")).send().await.unwrap();
    assert_eq!(json(r).await["path"], "/pets/42");
    let r = http
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://shop.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-methods"], "GET, POST");
    assert_eq!(r.headers()["access-control-max-age"], "300");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_example_binds_its_lambda_functions_to_wasm_plugins() {
    let gw = Gateway::start(&example("openapi-orders.yaml", "127.0.0.1:8084", None));
    let http = http1_client();
    let url = format!("{}/prod/orders/1", gw.url("public"));
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(
        r.status(),
        401,
        "the token authorizer's identity source is missing"
    );
    let r = http
        .get(&url)
        .header("authorization", "Bearer tok-mallory")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http
        .put(&url)
        .header("authorization", "Bearer tok-alice")
        .body(r#"{"item":"tea"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(json(r).await["owner"], "alice");
    let r = http
        .get(&url)
        .header("authorization", "Bearer tok-alice")
        .send()
        .await
        .unwrap();
    assert_eq!(json(r).await, serde_json::json!({"item": "tea"}));
    let r = http
        .get(&url)
        .header("authorization", "Bearer tok-bob")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "orders are per principal");
}

/// LocalStack's shopping-cart export: CORS preflights are mocks with mapping templates and
/// the reads are Lambda proxies, bound to a Lambda-compatible endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_cors_and_lambda_document_is_served() {
    let lambda = gatehouse_e2e::lambda::LambdaEndpoint::start().await;
    let doc = repo_root().join("crates/openapi/testdata/openapi/localstack-swagger-mock-cors.json");
    let yaml = format!(
        r#"
{BASE}
apis:
  - name: cart
    stages: {{ prod: {{}} }}
    openapi: {{ file: "{doc}", lambda_endpoint: "http://{l}" }}
"#,
        doc = doc.display(),
        l = lambda.addr
    );
    let gw = Gateway::start(&yaml);
    let http = http1_client();
    let r = http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/prod/product/7", gw.url("public")),
        )
        .header("origin", "http://localhost:8080")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "http://localhost:8080"
    );
    assert_eq!(
        r.headers()["access-control-allow-methods"],
        "OPTIONS,POST,GET"
    );
    assert_eq!(r.text().await.unwrap(), "{}\n");
    // The function is unknown to the endpoint: a bound Lambda proxy that fails is 502.
    let r = http
        .get(format!("{}/prod/product/7", gw.url("public")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let events = lambda.events();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].0,
        "aws-serverless-shopping-cart-produc-GetProductFunction-28378339"
    );
    assert_eq!(events[0].1["pathParameters"]["product_id"], "7");
}

/// An IAM-protected method in API Gateway's export form (a security scheme with
/// `x-amazon-apigateway-authtype: awsSigv4`), Swagger 2 and OpenAPI 3, is served as an
/// `AWS_IAM` method, never as an API key method: unsigned, it answers 403 `Missing
/// Authentication Token` with or without an API key. A method of the same document with an
/// API key requirement is served with its key. `validate` and `import` print no warning for
/// the scheme, and `import` writes `authorization_type: AWS_IAM`. (Signed requests are
/// tested in iam.rs.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iam_methods_in_an_import_are_served_with_sigv4_never_as_api_key_methods() {
    let mock = r#"{ "type": "mock", "requestTemplates": { "application/json": "{\"statusCode\": 200}" },
                    "responses": { "default": { "statusCode": "200" } } }"#;
    let sigv4 = r#"{ "type": "apiKey", "name": "Authorization", "in": "header",
                     "x-amazon-apigateway-authtype": "awsSigv4" }"#;
    let api_key = r#"{ "type": "apiKey", "name": "x-api-key", "in": "header" }"#;
    let paths = format!(
        r#"{{ "/iam": {{ "get": {{ "x-amazon-apigateway-integration": {mock} }} }},
              "/keyed": {{ "get": {{ "security": [{{ "api_key": [] }}],
                                    "x-amazon-apigateway-integration": {mock} }} }} }}"#
    );
    let swagger2 = format!(
        r#"{{ "swagger": "2.0", "info": {{ "title": "iam", "version": "1" }},
              "security": [{{ "sigv4": [] }}],
              "securityDefinitions": {{ "sigv4": {sigv4}, "api_key": {api_key} }},
              "paths": {paths} }}"#
    );
    let oas3 = format!(
        r#"{{ "openapi": "3.0.1", "info": {{ "title": "iam", "version": "1" }},
              "security": [{{ "sigv4": [] }}],
              "components": {{ "securitySchemes": {{ "sigv4": {sigv4}, "api_key": {api_key} }} }},
              "paths": {paths} }}"#
    );
    let yaml = format!(
        r#"
{BASE}
usage_plans:
  basic: {{ stages: [s2/prod, o3/prod] }}
api_keys:
  tester: {{ value: "test-key-0123456789abcdef", plans: [basic] }}
apis:
  - name: s2
    base_path: /s2
    stages: {{ prod: {{}} }}
    openapi: {{ file: swagger2.json }}
  - name: o3
    base_path: /o3
    stages: {{ prod: {{}} }}
    openapi: {{ file: oas3.json }}
"#
    );
    let gw = Gateway::start_with(&yaml, |dir| {
        std::fs::write(dir.join("swagger2.json"), &swagger2).unwrap();
        std::fs::write(dir.join("oas3.json"), &oas3).unwrap();
    });
    let http = http1_client();
    let public = gw.url("public");
    for api in ["s2", "o3"] {
        for key in [None, Some("test-key-0123456789abcdef")] {
            let mut req = http.get(format!("{public}/{api}/prod/iam"));
            if let Some(k) = key {
                req = req.header("x-api-key", k);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 403, "{api} key={key:?}");
            assert_eq!(
                r.headers()["x-amzn-errortype"],
                "MissingAuthenticationTokenException"
            );
            assert_eq!(json(r).await["message"], "Missing Authentication Token");
        }
    }
    for api in ["s2", "o3"] {
        let url = format!("{public}/{api}/prod/keyed");
        let r = http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 403, "{api}: the api_key method needs its key");
        assert_eq!(json(r).await["message"], "Forbidden");
        let r = http
            .get(&url)
            .header("x-api-key", "test-key-0123456789abcdef")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{api}");
    }

    let (code, _, stderr) = run_cli(gw.dir.path(), &["validate", "gatehouse.yaml"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("sigv4"), "{stderr}");
    for file in ["swagger2.json", "oas3.json"] {
        let (code, stdout, stderr) = run_cli(gw.dir.path(), &["import", file]);
        assert_eq!(code, 0, "{stderr}");
        assert!(!stderr.contains("sigv4"), "{stderr}");
        assert!(stdout.contains("/iam"), "{stdout}");
        assert!(stdout.contains("AWS_IAM"), "{stdout}");
        assert!(stdout.contains("/keyed"), "{stdout}");
    }
}

/// A reload that brings in an OpenAPI document logs what the document leaves out, as a start
/// does: here an authorizer that is not bound to a function or plugin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_logs_the_warnings_of_an_imported_document() {
    let gw = Gateway::start(&format!(
        "{BASE}apis:\n  - name: first\n    stages: {{ prod: {{}} }}\n    resources:\n      /a: {{ GET: {{ integration: {{ type: mock }} }} }}\n"
    ));
    let doc = r#"{ "openapi": "3.0.1", "info": { "title": "lam", "version": "1" },
        "components": { "securitySchemes": { "lam": { "type": "apiKey", "name": "Authorization",
            "in": "header", "x-amazon-apigateway-authtype": "custom",
            "x-amazon-apigateway-authorizer": { "type": "token",
                "authorizerUri": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:auth/invocations" } } } },
        "paths": { "/b": { "get": { "security": [{ "lam": [] }],
            "x-amazon-apigateway-integration": { "type": "mock",
                "requestTemplates": { "application/json": "{\"statusCode\": 200}" },
                "responses": { "default": { "statusCode": "200" } } } } } } }"#;
    std::fs::write(gw.dir.path().join("lam.json"), doc).unwrap();
    gw.rewrite_config(&format!(
        "{BASE}apis:\n  - name: second\n    stages: {{ prod: {{}} }}\n    openapi: {{ file: lam.json }}\n"
    ));
    gw.log
        .wait_for("config reloaded", std::time::Duration::from_secs(15));
    let line = gw
        .log
        .wait_for("is not bound", std::time::Duration::from_secs(5));
    assert!(line.contains("lam.json"), "{line}");
}
