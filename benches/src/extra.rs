//! The targets started beside the main Gatehouse and nginx, each on ports of its own: a
//! Gatehouse on Redis, a traced Gatehouse with its OTLP sink, and a Gatehouse and an nginx
//! with two workers each.

use crate::configs;
use crate::procs::{free_port, wait_ready, Proc};
use anyhow::bail;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A Gatehouse and an nginx with two workers each, for the `workers2` scenario.
#[derive(Debug)]
pub struct Workers2 {
    pub gatehouse: Proc,
    pub gatehouse_port: u16,
    pub nginx: Proc,
    pub nginx_port: u16,
}

/// Waits until `proc` answers `/prod/small` on loopback port `port`.
pub fn wait_loopback(proc: &mut Proc, port: u16) -> anyhow::Result<()> {
    wait_ready(
        proc,
        SocketAddr::from(([127, 0, 0, 1], port)),
        "/prod/small",
    )
}

/// Starts nginx on `config` with `prefix` as its prefix (error log there) and waits until it
/// answers on `port`.
pub fn start_nginx(
    label: &'static str,
    nginx_bin: &Path,
    prefix: &Path,
    config: &Path,
    port: u16,
) -> anyhow::Result<Proc> {
    let mut nginx = Proc::spawn(
        label,
        Command::new(nginx_bin)
            .arg("-p")
            .arg(prefix)
            .arg("-e")
            .arg(prefix.join("error.log"))
            .arg("-c")
            .arg(config)
            .args(["-g", "daemon off; master_process on;"])
            .stdout(Stdio::null()),
    )?;
    wait_loopback(&mut nginx, port)?;
    Ok(nginx)
}

/// A Gatehouse with `--workers 2` on the main config (its own ports) and an nginx with
/// `worker_processes 2` (its own ports, pid file, log, temp and cache directories under
/// `dir/nginx-workers2`).
pub fn start_workers2(
    nginx_bin: &Path,
    gatehouse_bin: &Path,
    ports: &configs::Ports,
    dir: &Path,
    plugins: Option<&configs::Plugins>,
) -> anyhow::Result<Workers2> {
    let (gatehouse, gatehouse_port) = start_second(
        gatehouse_bin,
        ports,
        dir,
        ("gatehouse (2 workers)", "gatehouse-workers2.yaml", 2),
        |own| configs::gatehouse(own, dir, plugins, None),
    )?;
    let state = dir.join("nginx-workers2");
    for sub in ["tmp", "cache"] {
        std::fs::create_dir_all(state.join(sub))?;
    }
    let own = configs::Ports {
        nginx: free_port()?,
        nginx_tls: free_port()?,
        nginx_h2: free_port()?,
        ..*ports
    };
    let config = state.join("nginx.conf");
    std::fs::write(&config, configs::nginx(&own, dir, &state, 2))?;
    let nginx = start_nginx("nginx (2 workers)", nginx_bin, &state, &config, own.nginx)?;
    Ok(Workers2 {
        gatehouse,
        gatehouse_port,
        nginx,
        nginx_port: own.nginx,
    })
}

/// A sink for OTLP posts (a bench-backend: it reads each body and answers 200) and a
/// Gatehouse with the main config that traces every request to it: the Gatehouse process,
/// its port and the sink.
pub fn start_traced(
    backend_bin: &Path,
    gatehouse_bin: &Path,
    ports: &configs::Ports,
    dir: &Path,
) -> anyhow::Result<(Proc, u16, Proc)> {
    let mut sink = Proc::spawn(
        "OTLP sink",
        Command::new(backend_bin)
            .args(["127.0.0.1:0", "1"])
            .stdout(Stdio::piped()),
    )?;
    let sink_addr: SocketAddr = sink.stdout_line("listening ")?.parse()?;
    let (gatehouse, port) = start_second(
        gatehouse_bin,
        ports,
        dir,
        ("gatehouse (traced)", "gatehouse-traced.yaml", 1),
        |own| configs::traced(own, dir, sink_addr),
    )?;
    Ok((gatehouse, port, sink))
}

/// A redis-server (no persistence) and a second Gatehouse with the same config on it; the
/// Gatehouse process, its port and the Redis process.
pub fn start_on_redis(
    redis_bin: &Path,
    gatehouse_bin: &Path,
    ports: &configs::Ports,
    dir: &Path,
    plugins: Option<&configs::Plugins>,
) -> anyhow::Result<(Proc, u16, Proc)> {
    let redis_port = free_port()?;
    let redis = Proc::spawn(
        "redis-server",
        Command::new(redis_bin)
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(redis_port.to_string())
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null()),
    )?;
    let url = format!("redis://127.0.0.1:{redis_port}/0");
    // redis-server takes a moment to listen; Gatehouse refuses to start without it.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", redis_port)).is_err() {
        if std::time::Instant::now() > deadline {
            bail!("redis-server did not listen on {redis_port}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (gatehouse, port) = start_second(
        gatehouse_bin,
        ports,
        dir,
        ("gatehouse (redis)", "gatehouse-redis.yaml", 1),
        |own| configs::gatehouse(own, dir, plugins, Some(&url)),
    )?;
    Ok((gatehouse, port, redis))
}

/// Another Gatehouse beside the main one, on ports of its own, serving `config` (made for
/// those ports) from `file` in `dir` with `workers` workers; `label` names the process in
/// errors. The process and its port.
fn start_second(
    gatehouse_bin: &Path,
    ports: &configs::Ports,
    dir: &Path,
    (label, file, workers): (&'static str, &str, usize),
    config: impl FnOnce(&configs::Ports) -> String,
) -> anyhow::Result<(Proc, u16)> {
    let port = free_port()?;
    let own = configs::Ports {
        gatehouse: port,
        gatehouse_tls: free_port()?,
        ..*ports
    };
    let path = dir.join(file);
    std::fs::write(&path, config(&own))?;
    let mut gatehouse = Proc::spawn(
        label,
        Command::new(gatehouse_bin)
            .args(["serve", "--workers", &workers.to_string(), "-c"])
            .arg(&path)
            .env("RUST_LOG", "warn")
            .env("GATEHOUSE_PLUGIN_CACHE", dir.join("plugin-cache"))
            .stdout(Stdio::null()),
    )?;
    wait_loopback(&mut gatehouse, port)?;
    Ok((gatehouse, port))
}
