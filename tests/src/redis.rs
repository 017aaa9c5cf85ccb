//! A private `redis-server` per test: on a free loopback port, in a temporary folder, with no
//! persistence, stopped (SIGKILL) when dropped. `scripts/setup.sh` installs the Debian package.
//! [`RedisCluster`] starts three of them as a Redis Cluster (three masters, no replicas) and
//! [`SharedRedis`] is either, for tests that run against both. [`RedisSentinel`] runs a master,
//! a replica and three sentinels watching them.

use crate::free_port;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub mod sentinel;
pub use sentinel::RedisSentinel;

/// How many times [`start_with_retries`] starts a server that exits at once.
const START_TRIES: u32 = 5;

/// Runs `start`, which starts a server on new ports and waits for it, until it gives the
/// server, at most [`START_TRIES`] times: tests running in parallel take loopback ports too,
/// so a port can be taken between the probe and the server's bind, and the server exits.
/// `start` names the ports it used and gives the exit status when the server exited first.
fn start_with_retries<T>(mut start: impl FnMut() -> Result<T, (String, ExitStatus)>) -> T {
    for tries in 1.. {
        let (ports, status) = match start() {
            Ok(server) => return server,
            Err(failed) => failed,
        };
        assert!(
            tries < START_TRIES,
            "redis-server on {ports} exited ({status}) before it answered, {tries} times on new ports"
        );
        eprintln!("redis-server on {ports} exited ({status}); starting another");
    }
    unreachable!("the loop returns or panics")
}

/// A running `redis-server`.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    /// The folder it runs in (its working directory).
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    /// Whether the port speaks only TLS (`rediss://`).
    pub tls: bool,
    /// Its arguments (after the common ones), for [`RedisServer::restart`].
    args: Vec<String>,
}

impl RedisServer {
    /// Starts a server and waits until it answers PING; panics with a hint when the binary
    /// is missing.
    pub fn start() -> RedisServer {
        Self::start_on_free_port(|_, _| Vec::new())
    }

    /// Starts a server in a new temporary folder on a free port, with the arguments `extra`
    /// gives for that folder and port, and waits until it answers PING. A server that exits
    /// before it answers is started again ([`start_with_retries`]), in a new folder, on a new
    /// port and with new arguments (so new ports of their own).
    pub(crate) fn start_on_free_port(
        extra: impl Fn(&std::path::Path, u16) -> Vec<String>,
    ) -> RedisServer {
        start_with_retries(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let port = free_port();
            let mut args = vec!["--port".to_owned(), port.to_string()];
            args.extend(extra(dir.path(), port));
            let mut server = Self::spawn(dir, port, &args);
            match server.wait_for_ping() {
                Ok(()) => Ok(server),
                Err(status) => Err((format!("port {port}"), status)),
            }
        })
    }

    /// Waits (at most 10 s) until the server answers PING (with `+PONG`, or when it asks for a
    /// password, with `-NOAUTH`); the exit status when it exits first.
    fn wait_for_ping(&mut self) -> Result<(), std::process::ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let answer = self.command(&["PING"]).unwrap_or_default();
            if answer == "+PONG" || answer.starts_with("-NOAUTH") {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                return Err(status);
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on {} did not answer PING",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (SIGKILL) if it runs, and starts it again on its port, in its folder,
    /// with its arguments (a cluster node finds its `nodes.conf` there, and with persistence
    /// its data); waits until it answers PING.
    pub fn restart(&mut self) {
        self.kill();
        self.child = Some(launch(self.dir.path(), &self.args));
        if let Err(status) = self.wait_for_ping() {
            panic!("redis-server on {} exited ({status}) on restart", self.addr);
        }
    }

    /// Starts a server that speaks only TLS, with `ca`'s server certificate and not asking
    /// clients for theirs, plus `extra` arguments (such as `--requirepass`); waits until its
    /// port accepts connections. [`RedisServer::command`] cannot reach it. A server that exits
    /// first is started again on a new port ([`start_with_retries`]).
    pub fn start_tls(ca: &crate::tls::TestCa, extra: &[&str]) -> RedisServer {
        start_with_retries(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            write_tls_files(ca, dir.path());
            let port = free_port();
            let mut args = vec!["--port".to_owned(), "0".to_owned()];
            for (name, value) in tls_settings(dir.path(), port) {
                args.extend([format!("--{name}"), value]);
            }
            args.extend(extra.iter().map(|s| s.to_string()));
            let mut server = Self::spawn(dir, port, &args);
            server.tls = true;
            match server.wait_for_listen() {
                Ok(()) => Ok(server),
                Err(status) => Err((format!("port {port}"), status)),
            }
        })
    }

    /// Waits (at most 10 s) until the server's port accepts connections; the exit status
    /// when it exits first.
    fn wait_for_listen(&mut self) -> Result<(), std::process::ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                return Err(status);
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on {}",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs redis-server in `dir` on loopback with `args` (which name the port).
    fn spawn(dir: tempfile::TempDir, port: u16, args: &[String]) -> RedisServer {
        let child = launch(dir.path(), args);
        RedisServer {
            child: Some(child),
            dir,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            tls: false,
            args: args.to_vec(),
        }
    }

    /// The URL a gateway config names.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://{}/0", self.addr)
    }

    /// Sends one command (inline protocol) and returns the first line of the answer, or
    /// `None` when the server cannot be reached.
    pub fn command(&self, args: &[&str]) -> Option<String> {
        let (_, line) = self.send(args)?;
        Some(line)
    }

    /// Sends one command and returns the whole answer when it is a bulk string (such as
    /// `CLUSTER INFO`'s), else its first line; `None` when the server cannot be reached.
    pub fn bulk(&self, args: &[&str]) -> Option<String> {
        let (mut reader, line) = self.send(args)?;
        let Some(len) = line.strip_prefix('$').and_then(|n| n.parse().ok()) else {
            return Some(line);
        };
        let mut body = vec![0; len];
        std::io::Read::read_exact(&mut reader, &mut body).ok()?;
        String::from_utf8(body).ok()
    }

    /// Sends one command; returns the connection and the answer's first line.
    fn send(&self, args: &[&str]) -> Option<(BufReader<TcpStream>, String)> {
        self.send_as(None, args)
    }

    /// Sends one command, after `AUTH password` when one is given; returns the connection
    /// and the answer's first line.
    fn send_as(
        &self,
        password: Option<&str>,
        args: &[&str],
    ) -> Option<(BufReader<TcpStream>, String)> {
        let mut s = TcpStream::connect_timeout(&self.addr, Duration::from_millis(500)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut req = String::new();
        let auth = password.map(|p| ["AUTH", p]);
        for cmd in auth.iter().map(|a| &a[..]).chain([args]) {
            req.push_str(&format!("*{}\r\n", cmd.len()));
            for a in cmd {
                req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
            }
        }
        s.write_all(req.as_bytes()).ok()?;
        let mut reader = BufReader::new(s);
        let mut line = String::new();
        if password.is_some() {
            reader.read_line(&mut line).ok()?;
            if !line.starts_with("+OK") {
                return Some((reader, line.trim_end().to_owned()));
            }
            line.clear();
        }
        reader.read_line(&mut line).ok()?;
        Some((reader, line.trim_end().to_owned()))
    }

    /// Sends one command (after `AUTH password`, when given) and returns its whole answer,
    /// arrays flattened: each bulk string, simple string or integer as it reads, a nil as
    /// an empty string, an error as `-MESSAGE`. `None` when the server cannot be reached.
    pub fn query(&self, password: Option<&str>, args: &[&str]) -> Option<Vec<String>> {
        let (mut reader, first) = self.send_as(password, args)?;
        let mut out = Vec::new();
        let mut pending = 1usize;
        let mut line = first;
        loop {
            pending -= 1;
            let (kind, rest) = line.split_at(line.len().min(1));
            match kind {
                "*" => pending += rest.parse::<usize>().unwrap_or(0),
                "$" if rest.starts_with('-') => out.push(String::new()),
                "$" => {
                    let len: usize = rest.parse().ok()?;
                    let mut body = vec![0; len + 2];
                    std::io::Read::read_exact(&mut reader, &mut body).ok()?;
                    body.truncate(len);
                    out.push(String::from_utf8_lossy(&body).into_owned());
                }
                "-" => out.push(line.clone()),
                _ => out.push(rest.to_owned()),
            }
            if pending == 0 {
                return Some(out);
            }
            line.clear();
            reader.read_line(&mut line).ok()?;
            line = line.trim_end().to_owned();
        }
    }

    /// Sends `sig` to the server (SIGSTOP makes it hang without closing connections).
    pub fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            let ok = Command::new("kill")
                .arg(format!("-{sig}"))
                .arg(c.id().to_string())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "kill -{sig} {} failed", c.id());
        }
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `redis-server` binary (`GATEHOUSE_REDIS_SERVER`, else from `PATH`).
fn redis_server_bin() -> String {
    std::env::var("GATEHOUSE_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into())
}

/// Runs redis-server in `dir` on loopback with no persistence, then `args` (which name the
/// port, and may turn persistence on).
fn launch(dir: &std::path::Path, args: &[String]) -> Child {
    let bin = redis_server_bin();
    Command::new(&bin)
        .current_dir(dir)
        .args(["--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--protected-mode", "yes"])
        .args(["--dir", &dir.to_string_lossy()])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run `{bin}` ({e}); install it with scripts/setup.sh (Debian package redis-server)")
        })
}

/// Three `redis-server`s on loopback made one Redis Cluster (three masters, no replicas), each
/// in its own temporary folder; all killed when dropped.
#[derive(Debug)]
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts the three servers, makes them a cluster with `redis-cli --cluster create` and
    /// waits (at most 20 s) until every node says `cluster_state:ok`.
    pub fn start() -> RedisCluster {
        Self::start_with(&[])
    }

    /// As [`RedisCluster::start`], each server with `extra` arguments too (such as
    /// `--appendonly yes`, to keep the data over a [`RedisCluster::restart`]).
    pub fn start_with(extra: &[&str]) -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                RedisServer::start_on_free_port(|dir, port| {
                    let conf = dir.join(format!("nodes-{port}.conf"));
                    [
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        &conf.to_string_lossy(),
                        "--cluster-port",
                        &free_port().to_string(),
                    ]
                    .iter()
                    .chain(extra)
                    .map(|a| a.to_string())
                    .collect()
                })
            })
            .collect();
        let cli = std::env::var("GATEHOUSE_REDIS_CLI").unwrap_or_else(|_| "redis-cli".into());
        let out = Command::new(&cli)
            .arg("--cluster")
            .arg("create")
            .args(nodes.iter().map(|n| n.addr.to_string()))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run `{cli}` ({e}); it comes with redis-server"));
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = RedisCluster { nodes };
        cluster.wait_until_ok();
        cluster
    }

    /// Waits (at most 20 s) until every node says `cluster_state:ok`.
    pub fn wait_until_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        for node in &self.nodes {
            loop {
                let info = node.bulk(&["CLUSTER", "INFO"]).unwrap_or_default();
                if info.contains("cluster_state:ok") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the cluster is not ok on {}: {info}",
                    node.addr
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Kills every node (SIGKILL) and starts each again on its port with its `nodes.conf`
    /// (and its data, with persistence); waits until the cluster is ok.
    pub fn restart(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        for node in &mut self.nodes {
            node.restart();
        }
        self.wait_until_ok();
    }

    /// The URL a gateway config names (with `cluster: true`): the first node, as the seed.
    pub fn url(&self) -> String {
        self.nodes[0].url()
    }
}

/// Which Redis a test of several gateway nodes runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// One `redis-server`.
    Standalone,
    /// A Redis Cluster of three masters ([`RedisCluster`]).
    Cluster,
}

/// One `redis-server` or a Redis Cluster, as [`Topology`] says.
#[derive(Debug)]
pub enum SharedRedis {
    Server(RedisServer),
    Cluster(RedisCluster),
}

impl SharedRedis {
    pub fn start(topology: Topology) -> SharedRedis {
        match topology {
            Topology::Standalone => SharedRedis::Server(RedisServer::start()),
            Topology::Cluster => SharedRedis::Cluster(RedisCluster::start()),
        }
    }

    /// The URL a gateway config names: the server, or the cluster's seed node.
    pub fn url(&self) -> String {
        match self {
            SharedRedis::Server(s) => s.url(),
            SharedRedis::Cluster(c) => c.url(),
        }
    }

    /// Whether it is a cluster (the config's `state.cluster`).
    pub fn cluster(&self) -> bool {
        matches!(self, SharedRedis::Cluster(_))
    }

    /// How many keys match `pattern` (`KEYS`), over every node of a cluster.
    pub fn count_keys(&self, pattern: &str) -> usize {
        let nodes = match self {
            SharedRedis::Server(s) => std::slice::from_ref(s),
            SharedRedis::Cluster(c) => &c.nodes[..],
        };
        let count = |n: &RedisServer| {
            let answer = n.command(&["KEYS", pattern]).unwrap_or_default();
            answer
                .strip_prefix('*')
                .and_then(|k| k.parse::<usize>().ok())
        };
        nodes
            .iter()
            .map(|n| count(n).unwrap_or_else(|| panic!("KEYS on {} failed", n.addr)))
            .sum()
    }

    /// The one server, for tests of one server only; panics on a cluster.
    pub fn server(&mut self) -> &mut RedisServer {
        match self {
            SharedRedis::Server(s) => s,
            SharedRedis::Cluster(_) => panic!("a test of one redis-server ran on a cluster"),
        }
    }

    /// The `state:` fields that name it, for a YAML flow mapping: `url: "...", cluster: BOOL`.
    pub fn fields(&self) -> String {
        format!("url: \"{}\", cluster: {}", self.url(), self.cluster())
    }
}

/// Runs each scenario `async fn NAME(topology: Topology)` of the calling test file against one
/// redis-server (`standalone::NAME`) and against a Redis Cluster of three masters
/// (`cluster::NAME`), each starting its own.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod standalone {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::redis::Topology::Standalone).await
                }
            )*
        }
        mod cluster {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::redis::Topology::Cluster).await
                }
            )*
        }
    };
}

/// A server's TLS settings (as `redis.conf` lines) with the files [`write_tls_files`] wrote in
/// `dir`, listening with TLS on `port` and not asking clients for a certificate.
pub(crate) fn tls_settings(dir: &std::path::Path, port: u16) -> Vec<(String, String)> {
    let file = |name: &str| dir.join(name).display().to_string();
    vec![
        ("tls-port".into(), port.to_string()),
        ("tls-cert-file".into(), file("cert.pem")),
        ("tls-key-file".into(), file("key.pem")),
        ("tls-ca-cert-file".into(), file("ca.pem")),
        ("tls-auth-clients".into(), "no".into()),
    ]
}

/// Writes `ca`'s authority (`ca.pem`), server certificate (`cert.pem`) and key (`key.pem`)
/// into `dir`, for a server's TLS settings.
pub(crate) fn write_tls_files(ca: &crate::tls::TestCa, dir: &std::path::Path) {
    for (file, pem) in [
        ("ca.pem", &ca.ca_pem),
        ("cert.pem", &ca.cert_pem),
        ("key.pem", &ca.key_pem),
    ] {
        std::fs::write(dir.join(file), pem).expect("write a TLS file");
    }
}
