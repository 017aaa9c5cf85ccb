//! Harness for Gatehouse's end-to-end tests.
//!
//! Every test starts the real `gatehouse` binary on loopback with a config written to a fresh
//! temporary directory, talks to it with real clients (reqwest over HTTP/1.1, h2c and TLS) and
//! points it at a real HTTP backend running in the test process ([`backend`]).
//!
//! The binary is built once per test process (`cargo build -p gatehouse`) into the same target
//! directory as the tests, or taken from `GATEHOUSE_BIN` when that is set.

pub mod backend;
pub mod gateway;
pub mod h3;
pub mod jwks;
pub mod lambda;
pub mod nodes;
pub mod otlp;
pub mod redis;
pub mod sigv4;
pub mod tls;
pub mod ws;

pub use backend::Backend;

/// A loopback port that was free a moment ago, for a process that cannot bind port 0 and
/// report it (redis-server, Prometheus, an admin listener the CLI finds in the config).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a probe port");
    l.local_addr().expect("probe address").port()
}
pub use gateway::Gateway;

/// The top of most test configs: `version`, one plain listener named `public` on a free port,
/// no access log. Tests write `{BASE}` at the start of their YAML.
pub const BASE: &str = "version: 1\nlisteners:\n  - name: public\n    address: 127.0.0.1:0\naccess_log: { destination: off }\n";

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository's root folder.
pub fn repo_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("tests/ has a parent")
            .to_path_buf()
    })
}

/// A plugin built by `scripts/build-plugins.sh` (`plugins/dist/NAME.wasm`); panics with what
/// to run when it is missing.
pub fn plugin_path(name: &str) -> PathBuf {
    let p = repo_root()
        .join("plugins/dist")
        .join(format!("{name}.wasm"));
    assert!(
        p.exists(),
        "{} is missing: run scripts/build-plugins.sh",
        p.display()
    );
    p
}

/// The path of the `gatehouse` binary, built on first use.
pub fn gatehouse_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("GATEHOUSE_BIN") {
            return PathBuf::from(p);
        }
        // The test binary lives in <target>/<profile>/deps/.
        let exe = std::env::current_exe().expect("current_exe");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test binary inside <target>/<profile>/deps")
            .to_path_buf();
        let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "-p", "gatehouse", "--bin", "gatehouse"])
            .env("CARGO_TARGET_DIR", &target_dir)
            .current_dir(repo_root());
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd
            .status()
            .expect("run cargo build for the gatehouse binary");
        assert!(status.success(), "building the gatehouse binary failed");
        profile_dir.join("gatehouse")
    })
}

/// A reqwest client for plain HTTP/1.1 with short timeouts and no proxy from the environment.
pub fn http1_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("reqwest client")
}

/// A reqwest client speaking HTTP/2 with prior knowledge (h2c) on plain TCP.
pub fn h2c_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("reqwest client")
}

/// Parses a JSON response body, failing with the text when it is not JSON.
pub async fn json(resp: reqwest::Response) -> serde_json::Value {
    let text = resp.text().await.expect("response body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A tool scripts/setup.sh installs under the user's cache (`gatehouse-tools/REL`), or the path
/// in environment variable `env` when set.
pub fn setup_tool(env: &str, rel: &str) -> PathBuf {
    std::env::var_os(env).map(PathBuf::from).unwrap_or_else(|| {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
            });
        cache.join("gatehouse-tools").join(rel)
    })
}
