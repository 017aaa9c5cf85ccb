//! `gatehouse validate`: every example config is valid, and broken configs get errors that name
//! the file, the path inside it and what was expected.
//!
//! Each `tests/ui/NAME.yaml` has its expected `gatehouse validate` error output in
//! `tests/ui/NAME.err`. After a deliberate change of wording, regenerate them with
//! `GATEHOUSE_BLESS=1 cargo test -p gatehouse-e2e --test config` and review the diff.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::gateway::run_cli;
use gatehouse_e2e::{http1_client, repo_root, Gateway};
use std::path::PathBuf;

fn yaml_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_config_is_valid() {
    // Gateway configs: the top level and the cluster's nodes (`examples/openapi/` holds
    // OpenAPI documents, not configs).
    let examples = repo_root().join("examples");
    let mut files = yaml_files(&examples);
    files.extend(yaml_files(&examples.join("cluster")));
    assert!(files.len() > 2);
    for file in files {
        let name = file.file_name().unwrap().to_str().unwrap();
        let (code, stdout, stderr) = run_cli(file.parent().unwrap(), &["validate", name]);
        assert_eq!(code, 0, "{name} is invalid:\n{stderr}");
        assert!(stdout.contains(": ok ("), "{stdout}");
    }
}

#[test]
fn broken_configs_get_precise_errors() {
    let ui = repo_root().join("tests/ui");
    let bless = std::env::var_os("GATEHOUSE_BLESS").is_some();
    let mut mismatches = Vec::new();
    for file in yaml_files(&ui) {
        let name = file.file_name().unwrap().to_str().unwrap().to_string();
        let (code, stdout, stderr) = run_cli(&ui, &["validate", &name]);
        assert_eq!(code, 1, "{name} should be refused; stdout: {stdout}");
        assert!(stdout.is_empty(), "{name}: nothing on stdout, got {stdout}");
        let expected_path = file.with_extension("err");
        if bless {
            std::fs::write(&expected_path, &stderr).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|_| {
            panic!(
                "{} is missing; run with GATEHOUSE_BLESS=1",
                expected_path.display()
            )
        });
        if expected != stderr {
            mismatches.push(format!("--- {name}: expected\n{expected}--- got\n{stderr}"));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn serve_refuses_a_broken_config_and_exits_non_zero() {
    let ui = repo_root().join("tests/ui");
    let (code, _, stderr) = run_cli(&ui, &["serve", "-c", "bad-uri.yaml"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(r#"bad-uri.yaml: apis[0].resources["/pets/{id}"].GET.integration.uri"#),
        "{stderr}"
    );
    let (code, _, stderr) = run_cli(&ui, &["validate", "no-such-file.yaml"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no-such-file.yaml"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_lines_use_the_context_vocabulary() {
    let yaml = r#"
version: 1
listeners:
  - name: public
    address: 127.0.0.1:0
access_log:
  destination: access.log
  format: '{"id":"$context.requestId","method":"$context.httpMethod","resource":"$context.resourcePath","path":"$context.path","status":"$context.status","ip":"$context.identity.sourceIp","ua":"$context.identity.userAgent","stage":"$context.stage","api":"$context.apiId","latency":"$context.responseLatency","protocol":"$context.protocol","err":"$context.error.responseType"}'
request_id_header: x-request-id
apis:
  - name: shop
    stages: { live: {} }
    resources:
      /carts/{id}:
        GET: { integration: { type: mock, status: 200, body: "cart" } }
"#;
    let gw = Gateway::start(yaml);
    let c = http1_client();
    let base = gw.url("public");
    let r = c
        .get(format!("{base}/live/carts/3"))
        .header("user-agent", "e2e \"quoted\" agent")
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(r.text().await.unwrap(), "cart");
    let r = c.get(format!("{base}/live/nothing")).send().await.unwrap();
    assert_eq!(r.status(), 403);

    let lines = gw.access_log(2);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let first = &lines[0];
    assert_eq!(first["id"], id.as_str());
    assert_eq!(first["method"], "GET");
    assert_eq!(first["resource"], "/carts/{id}");
    assert_eq!(first["path"], "/live/carts/3");
    assert_eq!(first["status"], "200");
    assert_eq!(first["ip"], "127.0.0.1");
    assert_eq!(first["ua"], "e2e \"quoted\" agent");
    assert_eq!(first["stage"], "live");
    assert_eq!(first["api"], "shop");
    assert_eq!(first["protocol"], "HTTP/1.1");
    assert!(first["latency"].as_str().unwrap().parse::<u64>().is_ok());
    assert_eq!(first["err"], "-");
    assert_eq!(lines[1]["status"], "403");
    assert_eq!(lines[1]["err"], "MISSING_AUTHENTICATION_TOKEN");
}
