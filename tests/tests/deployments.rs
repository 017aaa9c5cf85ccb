//! Deployments (every loaded config in the state store's history, rollback through the CLI and
//! the admin API, a rollback kept across a restart) and canary stages, against the real binary.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::gateway::run_cli;
use gatehouse_e2e::{http1_client, Backend, Gateway};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn config(admin_port: u16, greeting: &str) -> String {
    format!(
        r#"
version: 1
listeners:
  - name: public
    address: 127.0.0.1:0
admin:
  address: 127.0.0.1:{admin_port}
  token: deploy-secret
state:
  data_dir: state
access_log:
  destination: off
apis:
  - name: app
    stages:
      prod: {{}}
    resources:
      /greeting:
        GET:
          integration: {{ type: mock, body: "{greeting}" }}
"#
    )
}

fn cli(dir: &Path, args: &[&str]) -> String {
    let (code, out, err) = run_cli(dir, args);
    assert_eq!(code, 0, "gatehouse {args:?} failed: {err}");
    out
}

/// Waits (up to 10 s) until the greeting is `want`.
async fn wait_greeting(c: &reqwest::Client, url: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = c.get(url).send().await.unwrap().text().await.unwrap();
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still `{got}`, expected `{want}`"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The deployments the admin API lists, newest first, and the current one's id, once there
/// are `n` (a deployment is recorded just after its config starts serving).
async fn listed(gw: &Gateway, n: usize) -> (Vec<serde_json::Value>, String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let doc: serde_json::Value = http1_client()
            .get(format!("{}/deployments", gw.admin_url()))
            .bearer_auth("deploy-secret")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let items = doc["items"].as_array().unwrap().clone();
        if items.len() >= n || Instant::now() > deadline {
            assert_eq!(items.len(), n, "{items:?}");
            return (items, doc["current"].as_str().unwrap().to_owned());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_load_is_a_deployment_and_a_rollback_under_load_fails_no_request() {
    let (gw, port) = Gateway::start_on_free_port(|port| config(port, "v1"));
    let dir = gw.config_path.parent().unwrap().to_path_buf();
    let url = format!("{}/prod/greeting", gw.url("public"));
    let c = http1_client();

    // Load on the whole time: every answer must be a 200 from one of the deployments.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (stop, ok, failed, url) = (stop.clone(), ok.clone(), failed.clone(), url.clone());
        load.push(tokio::spawn(async move {
            let c = http1_client();
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                match c.get(&url).send().await {
                    Ok(r) if r.status() == 200 => {
                        let body = r.text().await.unwrap_or_default();
                        let counter = if body.starts_with('v') { &ok } else { &failed };
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }

    gw.rewrite_config(&config(port, "v2"));
    wait_greeting(&c, &url, "v2").await;
    let config_arg = gw.config_path.to_str().unwrap().to_owned();
    let (items, current) = listed(&gw, 2).await;
    let list = cli(&dir, &["deployments", "-c", &config_arg, "list"]);
    let (second, first) = (items[0].clone(), items[1].clone());
    assert_eq!(first["source"], "start");
    assert_eq!(second["source"], "file");
    assert_eq!(current, second["id"].as_str().unwrap());
    assert_ne!(first["digest"], second["digest"]);
    let first_id = first["id"].as_str().unwrap().to_owned();
    assert!(
        list.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with('*') && l.contains(&*current)),
        "the newest line is the current one, marked:\n{list}"
    );
    assert!(list.contains(&first_id), "{list}");

    // Roll back while the load runs.
    let out = cli(
        &dir,
        &["deployments", "-c", &config_arg, "rollback", &first_id],
    );
    assert!(out.contains(&first_id), "{out}");
    wait_greeting(&c, &url, "v1").await;
    let shown = cli(&dir, &["deployments", "-c", &config_arg, "show", &first_id]);
    assert!(
        shown.contains("body: \"v1\""),
        "show prints the config text:\n{shown}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    println!("under load: {ok} requests answered, {failed} failed");
    assert_eq!(failed, 0);
    assert!(ok > 0);

    let (items, current) = listed(&gw, 3).await;
    assert_eq!(items[0]["source"], "rollback");
    assert_eq!(items[0]["rollback_of"], &*first_id);
    assert_eq!(items[0]["digest"], first["digest"]);
    assert_eq!(current, items[0]["id"].as_str().unwrap());

    // An unknown deployment: a clear error and nothing changes.
    let (code, _, err) = run_cli(
        &dir,
        &["deployments", "-c", &config_arg, "rollback", "nosuchid00"],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("404") && err.contains("no deployment"),
        "{err}"
    );
    wait_greeting(&c, &url, "v1").await;

    // A restart keeps the rollback while the file is unchanged; a new file wins.
    let gw = gw.restart();
    let url = format!("{}/prod/greeting", gw.url("public"));
    wait_greeting(&c, &url, "v1").await;
    let (items, _) = listed(&gw, 4).await;
    assert_eq!(items[0]["source"], "start");
    assert_eq!(items[0]["digest"], first["digest"]);
    gw.rewrite_config(&config(port, "v3"));
    wait_greeting(&c, &url, "v3").await;
    let (items, current) = listed(&gw, 5).await;
    assert_eq!(items[0]["source"], "file");
    assert_eq!(current, items[0]["id"].as_str().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_takes_its_share_with_its_own_stage_variables() {
    let (stable, canary) = (
        Backend::start("stable").await,
        Backend::start("canary").await,
    );
    let yaml = format!(
        r#"
version: 1
listeners:
  - name: public
    address: 127.0.0.1:0
admin:
  address: 127.0.0.1:0
access_log:
  destination: access.log
  format: '{{"canary":"$context.isCanaryRequest","stage":"$context.stage","path":"$context.path"}}'
apis:
  - name: app
    stages:
      prod:
        variables: {{ backend: "{}", color: blue }}
        canary:
          percent: 10
          variables: {{ backend: "{}" }}
      beta:
        variables: {{ backend: "{}", color: green }}
    resources:
      /item:
        GET:
          integration: {{ type: http_proxy, uri: "http://${{stageVariables.backend}}/item?color=${{stageVariables.color}}" }}
"#,
        stable.addr, canary.addr, stable.addr
    );
    let gw = Gateway::start(&yaml);
    let c = http1_client();
    const N: usize = 2000;
    let mut by_backend: HashMap<String, usize> = HashMap::new();
    for _ in 0..N {
        let r = c
            .get(format!("{}/prod/item", gw.url("public")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let backend = r.headers()["x-backend"].to_str().unwrap().to_owned();
        let doc: serde_json::Value = r.json().await.unwrap();
        // The canary keeps the variables it does not override.
        assert_eq!(doc["query"], "color=blue", "{doc}");
        *by_backend.entry(backend).or_default() += 1;
    }
    let to_canary = by_backend.get("canary").copied().unwrap_or(0);
    println!("{to_canary} of {N} requests went to the canary");
    assert_eq!(to_canary, canary.hits());
    // 10% ± 3% of 2,000.
    assert!((140..=260).contains(&to_canary), "{by_backend:?}");

    // A stage without a canary never sends there.
    for _ in 0..50 {
        let r = c
            .get(format!("{}/beta/item", gw.url("public")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["x-backend"], "stable");
    }

    // The access log tells canary requests; the stage is the stage's name.
    let lines = gw.access_log(N + 50);
    let flagged = lines.iter().filter(|l| l["canary"] == "true").count();
    assert_eq!(flagged, to_canary);
    assert_eq!(
        lines.iter().filter(|l| l["canary"] == "false").count(),
        N - to_canary
    );
    assert!(lines
        .iter()
        .filter(|l| l["path"] == "/beta/item")
        .all(|l| l["canary"] == "-" && l["stage"] == "beta"));
    assert!(lines
        .iter()
        .filter(|l| l["path"] == "/prod/item")
        .all(|l| l["stage"] == "prod"));

    // Metrics count the canary's requests under `prod/Canary`.
    let metrics = http1_client()
        .get(format!("{}/metrics", gw.admin_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let count = |stage: &str| -> usize {
        let prefix = format!(
            "gatehouse_Count{{api=\"app\",stage=\"{stage}\",resource=\"/item\",method=\"GET\"}} "
        );
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{metrics}"))
            .parse()
            .unwrap()
    };
    assert_eq!(count("prod/Canary"), to_canary);
    assert_eq!(count("prod"), N - to_canary);
}

#[test]
fn a_canary_is_checked_when_the_config_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatehouse.yaml");
    std::fs::write(
        &path,
        r#"
version: 1
listeners:
  - address: 127.0.0.1:0
apis:
  - name: app
    stages:
      prod:
        canary: { percent: 120, variables: { "bad name": x } }
    resources:
      /a:
        GET: { integration: { type: mock } }
  - name: chat
    protocol: websocket
    stages:
      prod:
        canary: { percent: 5 }
    routes:
      $default: { integration: { type: mock } }
"#,
    )
    .unwrap();
    let (code, _, err) = run_cli(dir.path(), &["validate", path.to_str().unwrap()]);
    assert_ne!(code, 0);
    for want in [
        "apis[0].stages.prod.canary.percent: expected a share from 0 to 100, found 120",
        "apis[0].stages.prod.canary.variables[\"bad name\"]: expected a variable name",
        "apis[1].stages.prod.canary: a WebSocket API's stage has no canary",
    ] {
        assert!(err.contains(want), "missing `{want}` in:\n{err}");
    }
}
