//! Writing a plugin outside the repository: for each language, `gatehouse plugin new` writes a
//! project against the newest WIT package (`gatehouse:plugin@0.3.0`, with 0.2.0 and 0.1.0 in
//! `wit/deps/`) into a temporary folder, `gatehouse plugin build` turns it into a checked
//! component with the installed toolchain, and the real binary serves it. The authorizer, the
//! mapper and the integration (0.3.0's `request-handler`), the worlds whose 0.3.0 exports read
//! the request through imports, are served in every language; the WebSocket handler in Python.
//! A Rust source that exports an older version's world than its project's WIT is refused, and
//! `dist/` keeps the last good build.
//!
//! The toolchains come from `scripts/setup-wasm.sh`; a missing one fails the test with the
//! build's message naming the tool and its install command. Rust projects share one cargo
//! target folder (`GATEHOUSE_PLUGIN_TARGET_DIR`, default `~/.cache/gatehouse-scaffold-target`),
//! so std for wasm32 is compiled once, not on every run.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::ws::WsClient;
use gatehouse_e2e::{gatehouse_bin, http1_client, Gateway};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The longest one `gatehouse plugin build` may take (a first Rust build compiles std).
const BUILD_TIMEOUT: Duration = Duration::from_secs(600);

/// Runs `gatehouse ARGS` in `cwd`, bounded by `timeout`; returns (success, stdout, stderr).
fn gatehouse(cwd: &Path, args: &[&str], timeout: Duration) -> (bool, String, String) {
    let out_file = cwd.join(".gatehouse-stdout");
    let err_file = cwd.join(".gatehouse-stderr");
    let target = std::env::var_os("GATEHOUSE_PLUGIN_TARGET_DIR").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").unwrap())
                .join(".cache/gatehouse-scaffold-target")
        },
        PathBuf::from,
    );
    let mut child = Command::new(gatehouse_bin())
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "warn")
        .env("GATEHOUSE_PLUGIN_TARGET_DIR", target)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_file).unwrap())
        .stderr(std::fs::File::create(&err_file).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let (out, mut err) = (read(&out_file), read(&err_file));
    if status.is_none() {
        err.push_str(&format!("\n(killed after {timeout:?})"));
    }
    (status.is_some_and(|s| s.success()), out, err)
}

/// Writes and builds project `name` in a fresh temporary folder; returns the folder and the
/// component's path.
fn scaffold(name: &str, lang: &str, world: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let args = ["plugin", "new", name, "--lang", lang, "--world", world];
    let (ok, out, err) = gatehouse(tmp.path(), &args, Duration::from_secs(30));
    assert!(ok, "plugin new failed:\n{out}{err}");
    let project = tmp.path().join(name);
    for file in [
        "WORLD",
        "README.md",
        "wit/gatehouse.wit",
        "wit/deps/gatehouse-plugin-0.2.0.wit",
        "wit/deps/gatehouse-plugin-0.1.0.wit",
    ] {
        assert!(project.join(file).is_file(), "{file} missing");
    }
    let started = Instant::now();
    let (ok, out, err) = gatehouse(tmp.path(), &["plugin", "build", name], BUILD_TIMEOUT);
    assert!(ok, "plugin build of the {lang} {world} failed:\n{out}{err}");
    eprintln!("{lang} {world}: built in {:?}", started.elapsed());
    // A new integration is 0.3.0's `request-handler`.
    let exported = if world == "integration" {
        "request-handler"
    } else {
        world
    };
    assert!(
        out.contains(&format!("exports the `{exported}` world")),
        "{out}{err}"
    );
    // The authorizer, the mapper and the integration are the worlds 0.3.0 changed.
    if world != "websocket-handler" {
        assert!(out.contains("world of gatehouse:plugin@0.3.0"), "{out}");
    }
    let component = project.join("dist").join(format!("{name}.wasm"));
    assert!(out.contains(&component.display().to_string()), "{out}");
    assert!(component.is_file());
    (tmp, component)
}

fn serve(plugins: &str, apis: &str) -> Gateway {
    Gateway::start_workers(
        &format!(
            "{}plugins:\n{plugins}apis:\n  - name: demo\n    stages: {{ prod: {{}} }}\n{apis}",
            gatehouse_e2e::BASE
        ),
        1,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_authorizer() {
    let (tmp, wasm) = scaffold("demo-auth", "rust", "authorizer");
    let gw = serve(
        &format!(
            "  demo-auth:\n    path: {}\n    config: {{ token: s3cret }}\n",
            wasm.display()
        ),
        "    authorizers:\n      token:\n        plugin: demo-auth\n        identity_sources: [header.x-api-token]\n        ttl: 0s\n    resources:\n      /hello:\n        GET:\n          authorizer: token\n          integration: { type: mock, body: \"hello behind Rust\" }\n",
    );
    token_checked(
        &format!("{}/prod/hello", gw.url("public")),
        "hello behind Rust",
    )
    .await;
    // Rust source names its world itself: one exporting 0.1.0's authorizer from the same 0.3.0
    // project compiles, and the check refuses it, naming both versions.
    // The refused component never reaches dist/, which keeps the last good build.
    let project = tmp.path().join("demo-auth");
    let good = std::fs::read(&wasm).unwrap();
    std::fs::write(project.join("src/lib.rs"), OLD_AUTHORIZER).unwrap();
    let (ok, out, err) = gatehouse(tmp.path(), &["plugin", "build", "demo-auth"], BUILD_TIMEOUT);
    assert!(!ok, "a 0.1.0 authorizer passed as 0.3.0's:\n{out}{err}");
    assert!(
        err.contains("exports the `authorizer` world of gatehouse:plugin@0.1.0, but the project's wit/ is gatehouse:plugin@0.3.0"),
        "{out}{err}"
    );
    assert!(std::fs::read(&wasm).unwrap() == good, "dist/ changed");
}

/// A Rust authorizer of `gatehouse:plugin@0.1.0`, which is sent the request as a record.
const OLD_AUTHORIZER: &str = r#"
wit_bindgen::generate!({ world: "gatehouse:plugin/authorizer@0.1.0", path: "wit", generate_all });

struct Plugin;

impl Guest for Plugin {
    fn authorize(_request: Request) -> Result<Decision, AuthorizerError> {
        Err(AuthorizerError::Unauthorized)
    }
}

export!(Plugin);
"#;

/// The scaffolded authorizer's decisions, behind the resource at `url` (a mock answering
/// `body`): its token is allowed, another denied (403), none unauthorized (401).
async fn token_checked(url: &str, body: &str) {
    let c = http1_client();
    let r = c
        .get(url)
        .header("x-api-token", "s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{url}");
    assert_eq!(r.text().await.unwrap(), body);
    // Header names are matched in any case.
    let r = c
        .get(url)
        .header("X-Api-Token", "guess")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "{url}");
    assert_eq!(c.get(url).send().await.unwrap().status(), 401, "{url}");
}

/// Writes and builds `world` in each of `langs` as plugin `PREFIX-LANG`; returns the folders
/// (to keep until the test ends) and the `plugins:` entries that serve the components, each
/// with the lines `settings`.
fn scaffold_each(
    prefix: &str,
    world: &str,
    langs: &[&str],
    settings: &str,
) -> (Vec<tempfile::TempDir>, String) {
    let mut folders = Vec::new();
    let mut plugins = String::new();
    for lang in langs {
        let name = format!("{prefix}-{lang}");
        let (tmp, wasm) = scaffold(&name, lang, world);
        folders.push(tmp);
        // CPython inside the component needs more than the default memory limit.
        let memory = if *lang == "python" {
            "    memory_bytes: 67108864\n"
        } else {
            ""
        };
        plugins.push_str(&format!(
            "  {name}:\n    path: {}\n{settings}{memory}",
            wasm.display()
        ));
    }
    (folders, plugins)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorizers_in_c_javascript_and_python() {
    let langs = ["c", "js", "python"];
    let settings = "    config: { token: s3cret }\n";
    let (_folders, plugins) = scaffold_each("auth", "authorizer", &langs, settings);
    let mut apis = "    authorizers:\n".to_string();
    for lang in langs {
        apis.push_str(&format!(
            "      {lang}:\n        plugin: auth-{lang}\n        identity_sources: [header.x-api-token]\n        ttl: 0s\n"
        ));
    }
    apis.push_str("    resources:\n");
    for lang in langs {
        apis.push_str(&format!(
            "      /{lang}:\n        GET:\n          authorizer: {lang}\n          integration: {{ type: mock, body: \"hello behind {lang}\" }}\n"
        ));
    }
    let gw = serve(&plugins, &apis);
    for lang in langs {
        let url = format!("{}/prod/{lang}", gw.url("public"));
        token_checked(&url, &format!("hello behind {lang}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mappers_in_every_language() {
    let langs = ["rust", "c", "js", "python"];
    let (_folders, plugins) = scaffold_each("map", "mapper", &langs, "");
    let mut resources = "    resources:\n".to_string();
    for lang in langs {
        resources.push_str(&format!(
            "      /{lang}:\n        GET:\n          request_mapper: map-{lang}\n          response_mapper: map-{lang}\n          integration: {{ type: mock, body: \"mapped\" }}\n"
        ));
    }
    let gw = serve(&plugins, &resources);
    for lang in langs {
        let url = format!("{}/prod/{lang}", gw.url("public"));
        let r = http1_client().get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        assert_eq!(r.headers()["x-mapped-by"], format!("map-{lang}"));
        assert_eq!(r.text().await.unwrap(), "mapped");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integrations_in_every_language() {
    let langs = ["rust", "c", "js", "python"];
    let greeting = "    config: { greeting: bonjour }\n";
    let (_folders, plugins) = scaffold_each("int", "integration", &langs, greeting);
    let mut resources = "    resources:\n".to_string();
    for lang in langs {
        resources.push_str(&format!(
            "      /hello/{lang}/{{name}}:\n        ANY:\n          integration: {{ type: wasm, plugin: int-{lang} }}\n"
        ));
    }
    let gw = serve(&plugins, &resources);
    for lang in langs {
        let url = format!("{}/prod/hello/{lang}/x", gw.url("public"));
        let r = http1_client()
            .post(&url)
            .header("x-many", "1".repeat(1000))
            .body("a body it does not read")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{url}");
        assert_eq!(r.headers()["content-type"], "text/plain");
        assert_eq!(
            r.text().await.unwrap(),
            format!("bonjour from int-{lang}: POST /prod/hello/{lang}/x\n")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_websocket_handler() {
    let (_tmp, wasm) = scaffold("demo-ws", "python", "websocket-handler");
    let gw = serve(
        &format!(
            "  demo-ws:\n    path: {}\n    memory_bytes: 67108864\n",
            wasm.display()
        ),
        "    protocol: websocket\n    route_selection_expression: $request.body.action\n    routes:\n      $default:\n        integration: { type: wasm, plugin: demo-ws }\n",
    );
    let mut ws = WsClient::connect(&format!("ws://{}/prod", gw.addr("public"))).await;
    ws.send_text(r#"{"action":"say","text":"hi from Python"}"#)
        .await;
    assert_eq!(
        ws.recv_text(Duration::from_secs(20)).await,
        r#"{"action":"say","text":"hi from Python"}"#
    );
}
