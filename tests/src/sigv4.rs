//! Requests signed with Signature Version 4 by botocore (PyPI, installed by scripts/setup.sh),
//! through `tests/sigv4/sign.py`.

use crate::{http1_client, repo_root};
use serde_json::Value;
use std::io::Write as _;
use std::process::{Command, Stdio};

fn python() -> std::path::PathBuf {
    crate::setup_tool("GATEHOUSE_PYTHON", "venv/bin/python")
}

/// Signs each request (`{method, url, body, access_key, secret, token?, presign?, at?}`) with
/// botocore; gives them back as sent (`{method, url, headers, body}`).
pub fn sign(requests: &[Value]) -> Vec<Value> {
    let py = python();
    assert!(
        py.exists(),
        "{} is missing: run scripts/setup.sh",
        py.display()
    );
    let mut child = Command::new(&py)
        .arg(repo_root().join("tests/sigv4/sign.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start sign.py");
    child
        .stdin
        .take()
        .expect("sign.py's stdin")
        .write_all(Value::from(requests.to_vec()).to_string().as_bytes())
        .expect("write to sign.py");
    let out = child.wait_with_output().expect("wait for sign.py");
    assert!(out.status.success(), "sign.py failed");
    serde_json::from_slice(&out.stdout).expect("sign.py writes JSON")
}

/// Sends a request [`sign`] gave back.
pub async fn send(r: &Value) -> reqwest::Response {
    let text = |v: &Value| v.as_str().expect("sign.py gives text").to_owned();
    let method: reqwest::Method = text(&r["method"]).parse().expect("an HTTP method");
    let mut req = http1_client().request(method, text(&r["url"]));
    for (k, v) in r["headers"].as_object().expect("sign.py gives headers") {
        req = req.header(k, text(v));
    }
    req.body(text(&r["body"]))
        .send()
        .await
        .expect("the gateway answers")
}
