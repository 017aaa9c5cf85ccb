//! `gatehouse import` with the flags that bind what a document leaves to the deployment
//! (`--function`, `--authorizer`, `--backend`, as the config's `openapi:` entry does): the
//! warnings about unbound functions and authorizers go away, and the printed config, served as
//! it is, reaches the plugins and the loopback backend it was bound to.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::gateway::run_cli;
use gatehouse_e2e::{http1_client, json, repo_root, Backend, Gateway, BASE};

fn warnings(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect()
}

/// The orders export (a Lambda token authorizer, a Lambda proxy integration) bound to the
/// Wasm plugins of `examples/openapi-orders.yaml` by flags instead of by a config.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_and_authorizer_flags_serve_the_methods_they_bind() {
    let dir = repo_root().join("examples/openapi");
    let (code, stdout, stderr) = run_cli(&dir, &["import", "orders.yaml"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("Lambda function `OrdersFunction` is not bound"),
        "{stderr}"
    );
    assert!(stdout.contains("resources: {}"), "left out: {stdout}");

    let (code, _, stderr) = run_cli(
        &dir,
        &[
            "import",
            "orders.yaml",
            "--function",
            "OrdersFunction=orders",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("OrdersFunction"), "{stderr}");
    assert!(
        stderr.contains("authorizer `TokenAuth`") && stderr.contains("is not bound"),
        "{stderr}"
    );

    let (code, stdout, stderr) = run_cli(
        &dir,
        &[
            "import",
            "orders.yaml",
            "--name",
            "orders",
            "--function",
            "OrdersFunction=orders",
            "--authorizer",
            "TokenAuth=tokens",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(warnings(&stderr).is_empty(), "{stderr}");
    assert!(stdout.starts_with("apis:\n- name: orders\n"), "{stdout}");

    let dist = repo_root().join("plugins/dist");
    let yaml = format!(
        r#"{BASE}plugins:
  tokens:
    path: "{tokens}"
    config: {{ tokens: "tok-alice=alice" }}
  orders:
    path: "{orders}"
{stdout}"#,
        tokens = dist.join("token-authorizer.wasm").display(),
        orders = dist.join("kv-items.wasm").display(),
    );
    let gw = Gateway::start(&yaml);
    let http = http1_client();
    let url = format!("{}/prod/orders/7", gw.url("public"));
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(
        r.status(),
        401,
        "the authorizer's identity source is missing"
    );
    let r = http
        .put(&url)
        .header("authorization", "Bearer tok-alice")
        .body(r#"{"item":"tea"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "the function's plugin stored the order");
    let r = http
        .get(&url)
        .header("authorization", "Bearer tok-alice")
        .send()
        .await
        .unwrap();
    assert_eq!(json(r).await, serde_json::json!({"item": "tea"}));
}

/// The API Gateway guide's PetStore export calls `petstore-demo-endpoint.execute-api.com`;
/// `--backend` sends those calls to a loopback backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_flag_sends_the_documents_backend_host_to_loopback() {
    let backend = Backend::start("petstore").await;
    let dir = repo_root().join("crates/openapi/testdata/openapi");
    let doc = "awsdocs-petstore-request-validation.swagger2.json";
    let to = format!("petstore-demo-endpoint.execute-api.com={}", backend.addr);
    let (code, stdout, stderr) = run_cli(
        &dir,
        &["import", doc, "--name", "petstore", "--backend", &to],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.contains("petstore-demo-endpoint"), "{stdout}");
    assert!(
        stdout.contains(&format!("http://{}/petstore/pets", backend.addr)),
        "{stdout}"
    );

    let yaml = format!(
        r#"{BASE}usage_plans:
  basic: {{ stages: [petstore/prod] }}
api_keys:
  tester: {{ value: "test-key-0123456789abcdef", plans: [basic] }}
{stdout}"#
    );
    let gw = Gateway::start(&yaml);
    let r = http1_client()
        .get(format!("{}/prod/validation", gw.url("public")))
        .header("x-api-key", "test-key-0123456789abcdef")
        .query(&[("q1", "cat")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["path"], "/petstore/pets");
    assert_eq!(backend.hits(), 1);
}

#[test]
fn malformed_bindings_are_refused_with_what_was_expected() {
    let dir = repo_root().join("examples/openapi");
    for (args, expected) in [
        (
            &["--function", "OrdersFunction"][..],
            "expected KEY=VALUE, found `OrdersFunction`",
        ),
        (&["--authorizer", "=tokens"][..], "expected KEY=VALUE"),
        (
            &["--backend", "example.com=localhost"][..],
            "expected HOST:PORT after `=`, found `localhost`",
        ),
        (
            &["--function", "A=x", "--function", "A=y"][..],
            "--function binds `A` twice",
        ),
    ] {
        let mut argv = vec!["import", "orders.yaml"];
        argv.extend_from_slice(args);
        let (code, stdout, stderr) = run_cli(&dir, &argv);
        assert_ne!(code, 0, "{args:?}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
