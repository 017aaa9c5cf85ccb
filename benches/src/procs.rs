//! The processes under test: the backend, nginx and Gatehouse, each killed when dropped, and
//! their resident memory and CPU time read from `/proc`.

use anyhow::{bail, Context};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A child process, killed and reaped on drop.
#[derive(Debug)]
pub struct Proc {
    pub name: &'static str,
    child: Child,
}

impl Proc {
    pub fn spawn(name: &'static str, cmd: &mut Command) -> anyhow::Result<Proc> {
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {name} ({cmd:?})"))?;
        Ok(Proc { name, child })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process and its direct children (nginx's workers), for memory readings.
    pub fn pids(&self) -> Vec<u32> {
        let pid = self.pid();
        let mut pids = vec![pid];
        let children = format!("/proc/{pid}/task/{pid}/children");
        if let Ok(text) = std::fs::read_to_string(children) {
            pids.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
        pids
    }

    /// Resident memory of the process and its children, in bytes.
    pub fn rss(&self) -> u64 {
        self.pids().iter().map(|&p| rss_of(p)).sum()
    }

    /// CPU time (user + system, all threads) of the process and its children so far, or `None`
    /// when `/proc` cannot be read for the process itself.
    pub fn cpu_time(&self) -> Option<Duration> {
        let mut pids = self.pids().into_iter();
        let own = cpu_ticks_of(pids.next()?)?;
        // A child that exited between the two readings just drops out.
        let ticks = own + pids.filter_map(cpu_ticks_of).sum::<u64>();
        Some(Duration::from_secs_f64(ticks as f64 / CLOCK_TICKS_PER_SEC))
    }

    /// Fails when the process has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited: {status}", self.name);
        }
        Ok(())
    }

    pub fn stdout_line(&mut self, prefix: &str) -> anyhow::Result<String> {
        let out = self.child.stdout.take().context("stdout not piped")?;
        let mut lines = BufReader::new(out).lines();
        for line in lines.by_ref() {
            let line = line?;
            if let Some(rest) = line.strip_prefix(prefix) {
                let rest = rest.trim().to_owned();
                // Keep draining so the child never blocks on a full pipe.
                std::thread::spawn(move || lines.for_each(drop));
                return Ok(rest);
            }
        }
        bail!("{} closed its output before printing `{prefix}`", self.name)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // nginx stops its workers on SIGTERM; SIGKILL would orphan them.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rss_of(pid: u32) -> u64 {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The unit of the times in `/proc/PID/stat` (`sysconf(_SC_CLK_TCK)`). This crate does not
/// depend on `libc` (and denies `unsafe`), so it assumes 100, which is what Linux reports to
/// user space on every architecture it supports (`USER_HZ`), whatever the kernel's `HZ`.
const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// `utime + stime` (fields 14 and 15 of `/proc/PID/stat`) of every thread of `pid`, in clock
/// ticks.
fn cpu_ticks_of(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 2, the command name, is in parentheses and may itself hold spaces or `)`; the
    // fields after the last `)` start at field 3.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(14 - 3);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Samples a process's resident memory every 20 ms while a load runs; the peak is kept.
#[derive(Debug)]
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    pub fn start(pids: Vec<u32>) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let rss: u64 = pids.iter().map(|&pid| rss_of(pid)).sum();
                p.fetch_max(rss, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        RssSampler {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

/// A free loopback port (bound, then released for the target to take).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Sends one HTTP/1.1 request on `stream` and reads the whole response; returns its status.
pub fn request(stream: &mut TcpStream, path: &str) -> anyhow::Result<u16> {
    write!(stream, "GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n")?;
    read_response(stream)
}

fn read_response(stream: &mut TcpStream) -> anyhow::Result<u16> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            bail!("connection closed before a response");
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("malformed status line")?;
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .context("benchmark responses carry content-length")?;
    let mut have = buf.len() - head_end;
    while have < length {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            bail!("connection closed inside a response body");
        }
        have += n;
    }
    Ok(status)
}

/// Waits until `addr` answers `path` with a non-5xx status.
pub fn wait_ready(proc: &mut Proc, addr: SocketAddr, path: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = String::new();
    while Instant::now() < deadline {
        proc.check_alive()?;
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(mut s) => {
                s.set_read_timeout(Some(Duration::from_secs(2)))?;
                match request(&mut s, path) {
                    Ok(status) if status < 500 => return Ok(()),
                    Ok(status) => last = format!("status {status}"),
                    Err(e) => last = e.to_string(),
                }
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("{} did not answer on {addr}: {last}", proc.name)
}

/// Opens `n` keep-alive connections, each having completed one request, and holds them. At
/// most 64 requests are in flight at once.
pub fn open_idle(addr: SocketAddr, path: &str, n: usize) -> anyhow::Result<Vec<TcpStream>> {
    let mut conns = Vec::with_capacity(n);
    while conns.len() < n {
        let batch = (n - conns.len()).min(64);
        let start = conns.len();
        for _ in 0..batch {
            let mut s = TcpStream::connect(addr)
                .with_context(|| format!("idle connection {} to {addr}", conns.len() + 1))?;
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            write!(s, "GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n")?;
            conns.push(s);
        }
        for s in &mut conns[start..] {
            read_response(s)?;
        }
    }
    Ok(conns)
}

/// Finds `name` on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// First line of `cmd args` (stdout or stderr), for the report's version lines.
pub fn version_of(cmd: &Path, args: &[&str]) -> String {
    let Ok(out) = Command::new(cmd).args(args).stdin(Stdio::null()).output() else {
        return "unknown".into();
    };
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    String::from_utf8_lossy(&text)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("unknown")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::cpu_ticks_of;

    #[test]
    fn reads_own_cpu_ticks() {
        // Burn a little CPU so the reading cannot go backwards unnoticed.
        let before = cpu_ticks_of(std::process::id()).expect("own /proc/PID/stat");
        let mut x = 0u64;
        for i in 0..10_000_000u64 {
            x = std::hint::black_box(x.wrapping_add(i));
        }
        let after = cpu_ticks_of(std::process::id()).expect("own /proc/PID/stat");
        assert!(after >= before, "{after} < {before} ({x})");
        assert_eq!(cpu_ticks_of(u32::MAX), None);
    }
}
