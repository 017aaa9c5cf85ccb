//! A private `redis-server` per test: on a free loopback port, in a temporary folder, with no
//! persistence, stopped (SIGKILL) when dropped. `scripts/setup.sh` installs the Debian package.

use crate::free_port;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    /// The folder it runs in (its working directory).
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    /// Whether the port speaks only TLS (`rediss://`).
    pub tls: bool,
}

impl RedisServer {
    /// Starts a server and waits until it answers PING; panics with a hint when the binary
    /// is missing.
    pub fn start() -> RedisServer {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(dir, free_port())
    }

    fn start_in(dir: tempfile::TempDir, port: u16) -> RedisServer {
        let server = Self::spawn(dir, port, &["--port".into(), port.to_string()]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.command(&["PING"]).as_deref() != Some("+PONG") {
            assert!(
                Instant::now() < deadline,
                "redis-server on {port} did not answer PING"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// Starts a server that speaks only TLS, with `ca`'s server certificate and not asking
    /// clients for theirs, plus `extra` arguments (such as `--requirepass`); waits until its
    /// port accepts connections. [`RedisServer::command`] cannot reach it.
    pub fn start_tls(ca: &crate::tls::TestCa, extra: &[&str]) -> RedisServer {
        let dir = tempfile::tempdir().expect("tempdir");
        for (file, pem) in [
            ("ca.pem", &ca.ca_pem),
            ("cert.pem", &ca.cert_pem),
            ("key.pem", &ca.key_pem),
        ] {
            std::fs::write(dir.path().join(file), pem).expect("write a TLS file");
        }
        let port = free_port();
        let mut args: Vec<String> = ["--port", "0", "--tls-port", &port.to_string()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for (flag, file) in [
            ("--tls-cert-file", "cert.pem"),
            ("--tls-key-file", "key.pem"),
            ("--tls-ca-cert-file", "ca.pem"),
        ] {
            args.push(flag.into());
            args.push(dir.path().join(file).to_string_lossy().into_owned());
        }
        args.extend(["--tls-auth-clients".into(), "no".into()]);
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut server = Self::spawn(dir, port, &args);
        server.tls = true;
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&server.addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// Runs redis-server in `dir` on loopback with `args` (which name the port).
    fn spawn(dir: tempfile::TempDir, port: u16, args: &[String]) -> RedisServer {
        let bin = std::env::var("GATEHOUSE_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new(&bin)
            .current_dir(dir.path())
            .args(["--bind", "127.0.0.1"])
            .args(args)
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "yes"])
            .args(["--dir", &dir.path().to_string_lossy()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run `{bin}` ({e}); install it with scripts/setup.sh (Debian package redis-server)")
            });
        RedisServer {
            child: Some(child),
            dir,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            tls: false,
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
        let mut s = TcpStream::connect_timeout(&self.addr, Duration::from_millis(500)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).ok()?;
        let mut line = String::new();
        BufReader::new(&mut s).read_line(&mut line).ok()?;
        Some(line.trim_end().to_owned())
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
