//! A private `redis-server` per test: on a free loopback port, in a temporary folder, with no
//! persistence, stopped (SIGKILL) when dropped. `scripts/setup.sh` installs the Debian package.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    /// The folder it runs in (its working directory).
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
}

/// A port that was free a moment ago (redis-server cannot bind port 0 and report it).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a probe port");
    l.local_addr().expect("probe address").port()
}

impl RedisServer {
    /// Starts a server and waits until it answers PING; panics with a hint when the binary
    /// is missing.
    pub fn start() -> RedisServer {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(dir, free_port())
    }

    fn start_in(dir: tempfile::TempDir, port: u16) -> RedisServer {
        let bin = std::env::var("GATEHOUSE_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new(&bin)
            .current_dir(dir.path())
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "yes"])
            .args(["--dir", &dir.path().to_string_lossy()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run `{bin}` ({e}); install it with scripts/setup.sh (Debian package redis-server)")
            });
        let server = RedisServer {
            child: Some(child),
            dir,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
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

    /// The URL a gateway config names.
    pub fn url(&self) -> String {
        format!("redis://{}/0", self.addr)
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
