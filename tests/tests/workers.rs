//! `--workers N`: N threads, each accepting on its own socket of every listener.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::{http1_client, Backend, Gateway, BASE};
use std::time::Duration;

/// The names of a process's threads, from `/proc`.
fn thread_names(pid: i32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_worker_serves_and_all_stop_gracefully() {
    let backend = Backend::start("b").await;
    let mut gw = Gateway::start_workers(
        &format!(
            "{BASE}apis:\n- name: a\n  stages: {{ prod: {{}} }}\n  resources:\n    /{{proxy+}}:\n      ANY: {{ integration: {{ type: http_proxy, uri: \"http://{}/{{proxy}}\" }} }}\n",
            backend.addr
        ),
        3,
    );
    gw.log.wait_for(
        "workers accept on their own sockets",
        Duration::from_secs(5),
    );
    // A thread names itself once it runs, which may be after the log line: wait for it.
    // `comm` holds the first 15 bytes of a thread's name.
    let named = |names: &[String], w: &str| {
        names
            .iter()
            .any(|n| w.starts_with(n.as_str()) && n.len() >= 15)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut names = thread_names(gw.pid());
    while !["gatehouse-worker-1", "gatehouse-worker-2"]
        .iter()
        .all(|w| named(&names, w))
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
        names = thread_names(gw.pid());
    }
    for w in ["gatehouse-worker-1", "gatehouse-worker-2"] {
        assert!(named(&names, w), "{w} in {names:?}");
    }
    // Many connections, each its own client: the kernel spreads them over the sockets, and
    // every one is answered whichever worker took it.
    let mut tasks = Vec::new();
    for i in 0..60 {
        let url = format!("{}/prod/n/{i}", gw.url("public"));
        tasks.push(tokio::spawn(async move {
            let r = http1_client().get(&url).send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 200);
        assert!(body.contains(&format!("/n/{i}")), "{body}");
    }
    gw.signal(libc::SIGTERM);
    let status = gw.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "{status}");
}
