//! Load generators: `wrk` for HTTP/1.1 (and HTTPS), `h2load` for HTTP/2. Both run for a
//! fixed time against one URL; their results are read back as [`Run`]s.

use crate::run::percentile;
pub use crate::run::Run;
use anyhow::{bail, Context};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// How a scenario loads its target.
#[derive(Debug, Clone, Copy)]
pub enum Tool {
    /// wrk, one thread; `post_bytes > 0` sends POSTs with a body of that size.
    Wrk { conns: usize, post_bytes: usize },
    /// h2load, one thread: h2c by prior knowledge for `http://`; for `https://`, the ALPN
    /// protocol `alpn` (`h2`, or `h3` for HTTP/3 over QUIC).
    H2load {
        conns: usize,
        streams: usize,
        alpn: &'static str,
    },
    /// WebSocket echo round trips (`wsload.rs`) over `conns` connections.
    WsEcho { conns: usize },
    /// Gatehouse's own generator (`rustload.rs`), for HTTP/3 and HTTP/2 over TLS.
    Rust {
        proto: crate::rustload::Proto,
        conns: usize,
        streams: usize,
    },
}

/// The token every run sends: a JWT (RS256, key `rsa-a` of `tests/testdata/jwt`, expiring in
/// 2100) that the JWT authorizer verifies and the Wasm authorizer's table names.
pub const TOKEN: &str = include_str!("../../tests/testdata/jwt/bench-token.txt").trim_ascii();

/// A header every run sends: the token (ignored where nothing checks it).
pub fn auth_header() -> String {
    format!("Authorization: Bearer {TOKEN}")
}

/// A second header every wrk run sends: the JavaScript authorizer's token (`x-api-token`,
/// ignored where nothing checks it).
pub const API_TOKEN_HEADER: &str = "x-api-token: bench";

/// The API key every run sends (`x-api-key`), which the `/prod/keyed/...` route takes.
pub const API_KEY: &str = "bench-key-0123456789abcdef";

const WRK_REPORT: &str = r#"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
"#;

pub fn run(tool: Tool, url: &str, duration: Duration, dir: &Path) -> anyhow::Result<Run> {
    match tool {
        Tool::Wrk { conns, post_bytes } => wrk(url, conns, post_bytes, duration, dir),
        Tool::H2load {
            conns,
            streams,
            alpn,
        } => h2load(url, conns, streams, alpn, duration, dir),
        Tool::WsEcho { conns } => {
            let rest = url
                .strip_prefix("http://")
                .context("a ws echo target is http://")?;
            let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            crate::wsload::echo(host.parse()?, path, conns, duration)
        }
        Tool::Rust {
            proto,
            conns,
            streams,
        } => {
            let uri: http::Uri = url.parse()?;
            let addr = uri
                .authority()
                .context("URL without an address")?
                .as_str()
                .parse()?;
            crate::rustload::run(
                proto,
                addr,
                uri.path(),
                conns,
                streams,
                duration,
                &dir.join("cert.pem"),
            )
        }
    }
}

fn wrk(
    url: &str,
    conns: usize,
    post_bytes: usize,
    duration: Duration,
    dir: &Path,
) -> anyhow::Result<Run> {
    let script = dir.join(format!("wrk-{post_bytes}.lua"));
    if !script.exists() {
        let mut lua = String::new();
        if post_bytes > 0 {
            lua.push_str(&format!(
                "wrk.method = \"POST\"\nwrk.body = string.rep(\"a\", {post_bytes})\n\
                 wrk.headers[\"Content-Type\"] = \"application/octet-stream\"\n"
            ));
        }
        lua.push_str(WRK_REPORT);
        std::fs::write(&script, lua)?;
    }
    let out = Command::new("wrk")
        .arg("-t1")
        .arg(format!("-c{conns}"))
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .arg("--timeout=5s")
        .arg("-s")
        .arg(&script)
        .arg("-H")
        .arg(auth_header())
        .arg("-H")
        .arg(API_TOKEN_HEADER)
        .arg("-H")
        .arg(format!("x-api-key: {API_KEY}"))
        .arg(url)
        .output()
        .context("cannot run wrk (scripts/bench.sh installs it)")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let Some(line) = stdout.lines().find_map(|l| l.strip_prefix("BENCH_RESULT ")) else {
        bail!(
            "wrk gave no result for {url}: {}{}",
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let v: Vec<f64> = line
        .split_whitespace()
        .map(|x| x.parse::<f64>().unwrap_or(0.0))
        .collect();
    if v.len() != 10 {
        bail!("wrk printed an unexpected result line: {line}");
    }
    let secs = v[1] / 1e6;
    Ok(Run {
        rps: if secs > 0.0 { v[0] / secs } else { 0.0 },
        requests: v[0] as u64,
        errors: (v[2] + v[3] + v[4] + v[5]) as u64,
        non_2xx: v[6] as u64,
        p50: v[7],
        p99: v[8],
        p999: v[9],
        peak_rss: 0,
        cpu_us_per_req: None,
    })
}

fn h2load(
    url: &str,
    conns: usize,
    streams: usize,
    alpn: &str,
    duration: Duration,
    dir: &Path,
) -> anyhow::Result<Run> {
    let log = dir.join("h2load.log");
    let _ = std::fs::remove_file(&log);
    let out = Command::new("h2load")
        .arg("-t1")
        .arg(format!("-c{conns}"))
        .arg(format!("-m{streams}"))
        .arg(format!("-D{}", duration.as_secs().max(1)))
        .arg(format!("--log-file={}", log.display()))
        .arg(format!("--npn-list={alpn}"))
        .arg("-H")
        .arg(auth_header().replacen("Authorization", "authorization", 1))
        .arg(url)
        .output()
        .context("cannot run h2load (scripts/bench.sh installs nghttp2-client)")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let rps = stdout
        .lines()
        .find_map(|l| l.strip_prefix("finished in "))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|r| r.strip_suffix(" req/s"))
        .and_then(|r| r.parse::<f64>().ok())
        .with_context(|| format!("h2load gave no result for {url}: {stdout}"))?;
    let field = |line: &str, name: &str| -> u64 {
        line.split(", ")
            .find_map(|p| p.trim().strip_suffix(name))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    };
    let requests_line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("requests: "))
        .unwrap_or("");
    let status_line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("status codes: "))
        .unwrap_or("");
    let done = field(requests_line, "done");
    let ok = field(status_line, "2xx") + field(status_line, "3xx");
    let errors = field(requests_line, "errored") + field(requests_line, "timeout");
    // Per-request log: start (µs since epoch), status, duration (µs).
    let text = std::fs::read_to_string(&log).context("h2load wrote no log")?;
    let mut lat: Vec<u64> = text
        .lines()
        .filter_map(|l| l.split('\t').nth(2))
        .filter_map(|d| d.trim().parse().ok())
        .collect();
    lat.sort_unstable();
    Ok(Run {
        rps,
        p50: percentile(&lat, 50.0),
        p99: percentile(&lat, 99.0),
        p999: percentile(&lat, 99.9),
        requests: done,
        non_2xx: done.saturating_sub(ok),
        errors,
        peak_rss: 0,
        cpu_us_per_req: None,
    })
}
