//! Process limits the gateway sets for itself at start. A file of its own: the test lowers
//! this test process's open-file limit, which its gateway child inherits.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::{Gateway, BASE};
use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
use std::time::Duration;

/// The soft and hard "Max open files" of a running process, from `/proc`.
fn open_file_limits(pid: i32) -> (String, String) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let mut fields = line["Max open files".len()..].split_whitespace();
    (
        fields.next().unwrap().to_owned(),
        fields.next().unwrap().to_owned(),
    )
}

#[test]
fn the_open_file_limit_is_raised_to_the_hard_limit_at_start() {
    let hard = getrlimit(Resource::Nofile).maximum;
    let low = 256;
    assert!(
        hard.is_none_or(|h| h > low),
        "the hard limit {hard:?} leaves nothing to raise"
    );
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(low),
            maximum: hard,
        },
    )
    .unwrap();
    let gw = Gateway::start(&format!(
        "{BASE}apis:\n- name: a\n  stages: {{ prod: {{}} }}\n  resources:\n    /x:\n      GET: {{ integration: {{ type: mock }} }}\n"
    ));
    let line = gw
        .log
        .wait_for("raised the open-file limit", Duration::from_secs(10));
    assert!(line.contains(&format!("from={low}")), "{line}");
    let (soft, max) = open_file_limits(gw.pid());
    assert_eq!(soft, max, "the gateway runs at its hard limit");
    assert_ne!(soft, low.to_string());
}
