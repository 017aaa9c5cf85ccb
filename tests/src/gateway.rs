//! Starting, watching and stopping the real `gatehouse` process.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Lines a process wrote to one of its streams, shared with the thread that reads them.
#[derive(Debug, Default)]
pub struct Lines {
    lines: Mutex<Vec<String>>,
    grew: Condvar,
    /// Set (under the `lines` lock) once the stream has ended: no more lines will come.
    ended: std::sync::atomic::AtomicBool,
}

impl Lines {
    fn spawn_reader(stream: impl Read + Send + 'static, echo: &'static str) -> Arc<Self> {
        let lines = Arc::new(Lines::default());
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if std::env::var_os("GATEHOUSE_TEST_ECHO").is_some() {
                    eprintln!("[{echo}] {line}");
                }
                sink.lines.lock().expect("lines lock").push(line);
                sink.grew.notify_all();
            }
            let lines = sink.lines.lock().expect("lines lock");
            sink.ended.store(true, std::sync::atomic::Ordering::Relaxed);
            drop(lines);
            sink.grew.notify_all();
        });
        lines
    }

    /// Every line so far.
    pub fn all(&self) -> Vec<String> {
        self.lines.lock().expect("lines lock").clone()
    }

    /// How many lines so far contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.lines
            .lock()
            .expect("lines lock")
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Waits until at least `n` lines contain `needle`; returns the `n`th of them, or `None`
    /// once `timeout` has passed or the stream has ended (the process exited) without them.
    pub fn wait_for_nth(&self, needle: &str, n: usize, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut lines = self.lines.lock().expect("lines lock");
        loop {
            if let Some(l) = lines.iter().filter(|l| l.contains(needle)).nth(n - 1) {
                return Some(l.clone());
            }
            let now = Instant::now();
            if now >= deadline || self.ended.load(std::sync::atomic::Ordering::Relaxed) {
                return None;
            }
            lines = self
                .grew
                .wait_timeout(lines, deadline - now)
                .expect("lines lock")
                .0;
        }
    }

    /// Waits for the first line containing `needle`, panicking with every line seen on timeout.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        self.wait_for_nth(needle, 1, timeout).unwrap_or_else(|| {
            panic!(
                "no line containing {needle:?} within {timeout:?}; lines:\n{}",
                self.all().join("\n")
            )
        })
    }
}

/// A running `gatehouse serve` process; killed when dropped.
#[derive(Debug)]
pub struct Gateway {
    child: Child,
    /// The temporary folder holding the config (and anything else the test puts there).
    pub dir: tempfile::TempDir,
    /// The config file being served.
    pub config_path: PathBuf,
    /// What the process wrote to stderr (its log).
    pub log: Arc<Lines>,
    /// What the process wrote to stdout (the access log, by default).
    pub stdout: Arc<Lines>,
    listeners: HashMap<String, SocketAddr>,
    h3: HashMap<String, SocketAddr>,
    admin: Option<SocketAddr>,
}

/// How long a gateway may take to start (a debug build compiling plugins is slow on 2 cores;
/// a Python plugin alone takes seconds to compile, more on a busy machine).
pub const START_TIMEOUT: Duration = Duration::from_secs(120);

/// How many ports [`Gateway::start_on_free_port`] tries.
pub const PORT_TRIES: u32 = 5;

impl Gateway {
    /// Writes `yaml` as `gatehouse.yaml` in a fresh folder and serves it.
    pub fn start(yaml: &str) -> Gateway {
        Self::start_with(yaml, |_| {})
    }

    /// Like [`Gateway::start`], letting `prepare` put more files in the folder first.
    pub fn start_with(yaml: &str, prepare: impl FnOnce(&Path)) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        prepare(dir.path());
        let config_path = dir.path().join("gatehouse.yaml");
        std::fs::write(&config_path, yaml).expect("write config");
        Self::serve(dir, config_path)
    }

    /// Like [`Gateway::start`] with `--workers n`.
    pub fn start_workers(yaml: &str, n: usize) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let config_path = dir.path().join("gatehouse.yaml");
        std::fs::write(&config_path, yaml).expect("write config");
        Self::serve_args(dir, config_path, &["--workers", &n.to_string()], &[])
    }

    /// Like [`Gateway::start`] with more environment variables for the process.
    pub fn start_env(yaml: &str, env: &[(&str, &str)]) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let config_path = dir.path().join("gatehouse.yaml");
        std::fs::write(&config_path, yaml).expect("write config");
        Self::serve_args(dir, config_path, &[], env)
    }

    /// Like [`Gateway::start`] for a config that names a port itself (an admin listener the
    /// CLI finds in the config): `yaml` makes it for a port that was free a moment ago. A
    /// port another test took before the gateway bound it is replaced by another, at most
    /// [`PORT_TRIES`] times. Returns the gateway and the port.
    pub fn start_on_free_port(yaml: impl Fn(u16) -> String) -> (Gateway, u16) {
        let mut tries = 0;
        loop {
            tries += 1;
            let port = crate::free_port();
            let dir = tempfile::tempdir().expect("tempdir");
            let config_path = dir.path().join("gatehouse.yaml");
            std::fs::write(&config_path, yaml(port)).expect("write config");
            match Self::try_serve_args(dir, config_path, &[], &[]) {
                Ok(gw) => return (gw, port),
                Err(why) if tries < PORT_TRIES && why.contains("Address already in use") => {
                    eprintln!("port {port} was taken before the gateway bound it; another");
                }
                Err(why) => panic!("{why}"),
            }
        }
    }

    /// Serves `config_path` inside `dir` (which the gateway keeps alive).
    pub fn serve(dir: tempfile::TempDir, config_path: PathBuf) -> Gateway {
        Self::serve_args(dir, config_path, &[], &[])
    }

    fn serve_args(
        dir: tempfile::TempDir,
        config_path: PathBuf,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Gateway {
        Self::try_serve_args(dir, config_path, args, env).unwrap_or_else(|why| panic!("{why}"))
    }

    /// Starts the gateway and waits until it is ready; if it is not, says why, with its log.
    fn try_serve_args(
        dir: tempfile::TempDir,
        config_path: PathBuf,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Gateway, String> {
        let mut child = Command::new(crate::gatehouse_bin())
            .arg("serve")
            .arg("-c")
            .arg(&config_path)
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env("GATEHOUSE_PLUGIN_CACHE", dir.path().join("plugin-cache"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gatehouse");
        let log = Lines::spawn_reader(child.stderr.take().expect("stderr"), "gatehouse");
        let stdout = Lines::spawn_reader(child.stdout.take().expect("stdout"), "stdout");
        let mut gw = Gateway {
            child,
            dir,
            config_path,
            log,
            stdout,
            listeners: HashMap::new(),
            h3: HashMap::new(),
            admin: None,
        };
        if gw.log.wait_for_nth(" ready ", 1, START_TIMEOUT).is_none() {
            let status = gw.child.try_wait().ok().flatten();
            return Err(format!(
                "gatehouse did not become ready (exit: {status:?}); log:\n{}",
                gw.log.all().join("\n")
            ));
        }
        for line in gw.log.all() {
            if let Some(rest) = line.split("listening listener=").nth(1) {
                let mut parts = rest.split_whitespace();
                let name = parts.next().expect("listener name").to_string();
                let addr = parts
                    .next()
                    .and_then(|a| a.strip_prefix("address="))
                    .and_then(|a| a.parse().ok())
                    .expect("listener address");
                gw.listeners.insert(name, addr);
            } else if let Some(rest) = line.split("serving HTTP/3 listener=").nth(1) {
                let mut parts = rest.split_whitespace();
                let name = parts.next().expect("listener name").to_string();
                let addr = parts
                    .next()
                    .and_then(|a| a.strip_prefix("udp="))
                    .and_then(|a| a.parse().ok())
                    .expect("HTTP/3 address");
                gw.h3.insert(name, addr);
            } else if let Some(rest) = line.split("admin listening address=").nth(1) {
                gw.admin = rest.split_whitespace().next().and_then(|a| a.parse().ok());
            }
        }
        Ok(gw)
    }

    /// Stops the process (it must already be stopping or stopped) and keeps its folder.
    pub fn into_dir(mut self) -> tempfile::TempDir {
        let placeholder = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, placeholder)
    }

    /// Stops gracefully (SIGTERM, which must exit 0) and serves the same folder and config
    /// again, as an operator restarting the gateway would.
    pub fn restart(mut self) -> Gateway {
        self.signal(libc::SIGTERM);
        let status = self.wait_exit(Duration::from_secs(15));
        assert!(status.success(), "graceful stop failed: {status}");
        let config_path = self.config_path.clone();
        Gateway::serve(self.into_dir(), config_path)
    }

    /// The UDP address of the listener `name`'s HTTP/3 endpoint.
    pub fn h3_addr(&self, name: &str) -> SocketAddr {
        *self
            .h3
            .get(name)
            .unwrap_or_else(|| panic!("listener {name} serves no HTTP/3"))
    }

    /// The bound address of the listener called `name`.
    pub fn addr(&self, name: &str) -> SocketAddr {
        *self
            .listeners
            .get(name)
            .unwrap_or_else(|| panic!("no listener {name:?}; have {:?}", self.listeners.keys()))
    }

    /// `http://ADDR` of the listener called `name`.
    pub fn url(&self, name: &str) -> String {
        format!("http://{}", self.addr(name))
    }

    /// `http://ADDR` of the admin listener.
    pub fn admin_url(&self) -> String {
        format!(
            "http://{}",
            self.admin.expect("config has an admin listener")
        )
    }

    /// The process id.
    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid fits i32")
    }

    /// Sends a signal (`libc::SIGTERM`, `libc::SIGHUP`, ...) to the process.
    pub fn signal(&self, sig: i32) {
        assert!(
            send_signal(self.pid(), sig),
            "kill -{sig} {} failed",
            self.pid()
        );
    }

    /// Rewrites the config file in place (the gateway's file watch picks it up).
    pub fn rewrite_config(&self, yaml: &str) {
        // Write a sibling and rename, as editors and deploy tools do, so the gateway never
        // reads a half-written file.
        let tmp = self.config_path.with_extension("yaml.new");
        std::fs::write(&tmp, yaml).expect("write new config");
        std::fs::rename(&tmp, &self.config_path).expect("replace config");
    }

    /// The JSON lines of `access.log` in the gateway's folder, waiting (up to 10 s) until there
    /// are at least `at_least` of them, since the log is written off the request path.
    pub fn access_log(&self, at_least: usize) -> Vec<serde_json::Value> {
        let path = self.dir.path().join("access.log");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<serde_json::Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
                .collect();
            if lines.len() >= at_least || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the process to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "gatehouse did not exit within {timeout:?}; log:\n{}",
                self.log.all().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Signals a process through the `kill` command, keeping the test crate free of `unsafe`.
fn send_signal(pid: i32, sig: i32) -> bool {
    Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `gatehouse ARGS...` to completion in `cwd`, returning (exit code, stdout, stderr).
pub fn run_cli(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(crate::gatehouse_bin())
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "warn")
        .env(
            "GATEHOUSE_PLUGIN_CACHE",
            std::env::temp_dir().join("gatehouse-test-plugin-cache"),
        )
        .output()
        .expect("run gatehouse");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
