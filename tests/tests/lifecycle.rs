//! Graceful shutdown, hot reload of the config (file watch, SIGHUP, admin API) under load, and
//! refusal of a broken config, against the real binary.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::{http1_client, json, Backend, Gateway};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn config(backend: &Backend, greeting: &str) -> String {
    format!(
        r#"
version: 1
listeners:
  - name: public
    address: 127.0.0.1:0
admin:
  address: 127.0.0.1:0
shutdown:
  drain_timeout: 10s
access_log:
  destination: off
apis:
  - name: app
    stages:
      prod:
        variables: {{ backend: "{}" }}
    resources:
      /greeting:
        GET:
          integration: {{ type: mock, body: "{greeting}" }}
      /slow/{{ms}}:
        GET:
          integration: {{ type: http_proxy, uri: "http://${{stageVariables.backend}}/delay/{{ms}}" }}
"#,
        backend.addr
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_requests_in_flight_then_exits() {
    let backend = Backend::start("b").await;
    let mut gw = Gateway::start(&config(&backend, "hi"));
    let base = gw.url("public");
    let c = http1_client();

    // A request that takes 1.5 s at the backend is in flight when SIGTERM arrives.
    let slow = tokio::spawn({
        let c = c.clone();
        let url = format!("{base}/prod/slow/1500");
        async move {
            let r = c.get(url).send().await.unwrap();
            (r.status(), json(r).await)
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while backend.hits() == 0 {
        assert!(
            Instant::now() < deadline,
            "the slow request never reached the backend"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gw.signal(libc::SIGTERM);
    gw.log.wait_for("shutting down", Duration::from_secs(5));

    // New connections are refused while the old request drains.
    let refused = http1_client()
        .get(format!("{base}/prod/greeting"))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a new connection after SIGTERM was served: {refused:?}"
    );

    let (status, doc) = slow.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(doc["path"], "/delay/1500");

    let exit = tokio::task::spawn_blocking(move || {
        let status = gw.wait_exit(Duration::from_secs(15));
        (status, gw)
    })
    .await
    .unwrap();
    assert!(exit.0.success(), "exit status {:?}", exit.0);
    exit.1
        .log
        .wait_for("shutdown complete", Duration::from_secs(1));
}

/// Runs `workers` client loops against `url` until `stop`, counting answers by outcome.
fn load(
    url: String,
    workers: usize,
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<Vec<String>>> {
    (0..workers)
        .map(|_| {
            let (url, stop, ok, failed) = (url.clone(), stop.clone(), ok.clone(), failed.clone());
            tokio::spawn(async move {
                let c = http1_client();
                let mut bodies = Vec::new();
                // Bounded twice: by the stop flag and by a hard 30 s ceiling.
                let ceiling = Instant::now() + Duration::from_secs(30);
                while !stop.load(Ordering::Relaxed) && Instant::now() < ceiling {
                    match c.get(&url).send().await {
                        Ok(r) if r.status() == 200 => {
                            ok.fetch_add(1, Ordering::Relaxed);
                            bodies.push(r.text().await.unwrap_or_default());
                        }
                        other => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            eprintln!("failed request during reload: {other:?}");
                        }
                    }
                }
                bodies
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_load_drops_nothing_and_refuses_broken_configs() {
    let backend = Backend::start("b").await;
    let gw = Gateway::start(&config(&backend, "v1"));
    let url = format!("{}/prod/greeting", gw.url("public"));
    let (stop, ok, failed) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let tasks = load(url.clone(), 4, stop.clone(), ok.clone(), failed.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;

    // 1. File watch: the config file is replaced.
    gw.rewrite_config(&config(&backend, "v2"));
    gw.log.wait_for("config reloaded", Duration::from_secs(10));
    tokio::time::sleep(Duration::from_millis(200)).await;

    // 2. A broken config is refused and v2 keeps serving.
    gw.rewrite_config("version: 1\nlisteners: []\napis:\n  - name: x\n");
    let refused = gw
        .log
        .wait_for("config reload refused", Duration::from_secs(10));
    assert!(refused.contains("gatehouse.yaml"), "{refused}");
    tokio::time::sleep(Duration::from_millis(200)).await;

    // 3. SIGHUP after fixing the file.
    std::fs::write(&gw.config_path, config(&backend, "v3")).unwrap();
    gw.signal(libc::SIGHUP);
    gw.log
        .wait_for_nth("config reloaded", 2, Duration::from_secs(10))
        .expect("second reload");
    tokio::time::sleep(Duration::from_millis(300)).await;

    stop.store(true, Ordering::Relaxed);
    let mut last_bodies = Vec::new();
    let mut all = Vec::new();
    for t in tasks {
        let bodies = t.await.unwrap();
        last_bodies.push(bodies.last().cloned().unwrap_or_default());
        all.extend(bodies);
    }
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed across reloads"
    );
    assert!(ok.load(Ordering::Relaxed) > 50, "the load loop barely ran");
    for v in ["v1", "v2", "v3"] {
        assert!(all.iter().any(|b| b == v), "never saw {v}");
    }
    assert!(last_bodies.iter().all(|b| b == "v3"), "{last_bodies:?}");
    assert!(all.iter().all(|b| ["v1", "v2", "v3"].contains(&b.as_str())));

    // 4. The admin API reports a refused reload with the errors, and a good one.
    let c = http1_client();
    std::fs::write(&gw.config_path, "version: 2\n").unwrap();
    let r = c
        .post(format!("{}/reload", gw.admin_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    assert!(text.contains("version"), "{text}");
    std::fs::write(&gw.config_path, config(&backend, "v4")).unwrap();
    let r = c
        .post(format!("{}/reload", gw.admin_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["reloaded"], true);
    assert_eq!(
        c.get(&url).send().await.unwrap().text().await.unwrap(),
        "v4"
    );
}
