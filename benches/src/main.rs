//! `gatehouse-bench`: Gatehouse beside nginx on the same machine, in one run.
//!
//! Starts a minimal backend, nginx (one worker, upstream keepalive) and Gatehouse (one worker
//! thread) with equivalent configs (see `configs.rs`), and the targets only some scenarios
//! load (`extra.rs`; among them a Gatehouse and an nginx with two workers each), then for
//! each scenario loads each target in turn, A B A B, for a fixed time, on loopback only.
//! Prints a Markdown report (also written to `--out`). Run it through `scripts/bench.sh`.

mod configs;
mod extra;
mod idle;
mod load;
mod procs;
mod report;
mod run;
mod rustload;
mod scenarios;
mod wsload;

use anyhow::{bail, Context};
use clap::Parser;
use extra::{start_nginx, start_on_redis, start_traced, start_workers2, wait_loopback, Workers2};
use load::Run;
use procs::{free_port, open_idle, which, Proc, RssSampler};
use scenarios::{scenarios, Arm, Listener, Scenario};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

pub use scenarios::Target;

#[derive(Debug, Parser)]
#[command(about = "Gatehouse beside nginx: one invocation, alternating runs, loopback only")]
struct Args {
    /// Seconds of load per run.
    #[arg(long, default_value_t = 5)]
    duration: u64,
    /// Runs per target and scenario, alternating between targets.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Only the scenarios with these ids (comma-separated); all by default.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The gatehouse binary (default: next to this one).
    #[arg(long)]
    gatehouse: Option<PathBuf>,
    /// Where the built plugins are (for the Wasm scenarios).
    #[arg(long, default_value = "plugins/dist")]
    plugins: PathBuf,
    /// Where the Markdown report goes (besides stdout).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Only measure Gatehouse's memory per idle connection (no nginx, no load tools).
    #[arg(long)]
    idle_only: bool,
    /// Idle connections per reading: RSS is read at a tenth of this and at all of it. The
    /// shell's open-file limit must allow this many (and the target's too).
    #[arg(long, default_value_t = 10_000)]
    idle_count: usize,
    /// Only these Gatehouse idle measurements (comma-separated: http1, h2c, tls, ws); all by
    /// default. Memory a measurement frees stays in the process and lowers the next one's
    /// figure, so separate runs give each protocol a fresh Gatehouse.
    #[arg(long, value_delimiter = ',')]
    idle_proto: Vec<String>,
}

/// Everything started for the run.
struct Bench {
    ports: configs::Ports,
    gatehouse: Proc,
    /// Not started with `--idle-only`.
    nginx: Option<Proc>,
    backend: Proc,
    /// A second Gatehouse on `redis` (a redis-server of its own), when redis-server is
    /// installed and not `--idle-only`.
    on_redis: Option<(Proc, u16, Proc)>,
    /// A third Gatehouse tracing every request, its port and its OTLP sink (a second
    /// bench-backend), when the `trace` scenario is chosen.
    traced: Option<(Proc, u16, Proc)>,
    /// A Gatehouse with `--workers 2` and an nginx with `worker_processes 2`, when the
    /// `workers2` scenario is chosen.
    workers2: Option<Workers2>,
    /// Last, so that it is removed after the processes using it have stopped.
    dir: tempfile::TempDir,
}

impl Bench {
    fn addr(&self, target: Target, listener: Listener) -> SocketAddr {
        let port = match (target, listener) {
            (Target::Gatehouse, Listener::Tls) => self.ports.gatehouse_tls,
            (Target::Gatehouse, _) => self.ports.gatehouse,
            (Target::GatehouseRedis, _) => self.on_redis.as_ref().map_or(0, |(_, port, _)| *port),
            (Target::GatehouseTraced, _) => self.traced.as_ref().map_or(0, |(_, port, _)| *port),
            (Target::Nginx, Listener::Plain) => self.ports.nginx,
            (Target::Nginx, Listener::Tls) => self.ports.nginx_tls,
            (Target::Nginx, Listener::H2c) => self.ports.nginx_h2,
            (Target::GatehouseWorkers2, _) => {
                self.workers2.as_ref().map_or(0, |w| w.gatehouse_port)
            }
            (Target::NginxWorkers2, _) => self.workers2.as_ref().map_or(0, |w| w.nginx_port),
            (Target::Direct, _) => self.ports.backend.port(),
        };
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn url(&self, arm: &Arm) -> String {
        let scheme = if arm.listener == Listener::Tls {
            "https"
        } else {
            "http"
        };
        format!(
            "{scheme}://{}{}",
            self.addr(arm.target, arm.listener),
            arm.path
        )
    }

    fn proc(&self, target: Target) -> &Proc {
        match target {
            Target::Gatehouse => &self.gatehouse,
            Target::GatehouseRedis => self
                .on_redis
                .as_ref()
                .map_or(&self.gatehouse, |(p, _, _)| p),
            Target::GatehouseTraced => self.traced.as_ref().map_or(&self.gatehouse, |(p, _, _)| p),
            Target::Nginx => self.nginx.as_ref().unwrap_or(&self.gatehouse),
            Target::GatehouseWorkers2 => self
                .workers2
                .as_ref()
                .map_or(&self.gatehouse, |w| &w.gatehouse),
            Target::NginxWorkers2 => self.workers2.as_ref().map_or(&self.gatehouse, |w| &w.nginx),
            Target::Direct => &self.backend,
        }
    }
}

fn start(args: &Args, plugins: Option<&configs::Plugins>) -> anyhow::Result<Bench> {
    let dir = tempfile::tempdir()?;
    let here = std::env::current_exe()?;
    let bin_dir = here
        .parent()
        .context("no parent of the current executable")?;
    let gatehouse_bin = args
        .gatehouse
        .clone()
        .unwrap_or_else(|| bin_dir.join("gatehouse"));
    if !gatehouse_bin.is_file() {
        bail!(
            "{} not found: build with `cargo build --release -p gatehouse -p gatehouse-bench`",
            gatehouse_bin.display()
        );
    }

    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])?;
    std::fs::write(dir.path().join("cert.pem"), cert.cert.pem())?;
    std::fs::write(dir.path().join("key.pem"), cert.key_pair.serialize_pem())?;
    for sub in ["tmp", "cache"] {
        std::fs::create_dir_all(dir.path().join(sub))?;
    }

    let mut backend = Proc::spawn(
        "backend",
        Command::new(bin_dir.join("bench-backend"))
            .args(["127.0.0.1:0", "1"])
            .stdout(Stdio::piped()),
    )?;
    let backend_addr: SocketAddr = backend.stdout_line("listening ")?.parse()?;
    let ports = configs::Ports {
        backend: backend_addr,
        gatehouse: free_port()?,
        gatehouse_tls: free_port()?,
        nginx: free_port()?,
        nginx_tls: free_port()?,
        nginx_h2: free_port()?,
    };

    let gh_config = dir.path().join("gatehouse.yaml");
    std::fs::write(
        &gh_config,
        configs::gatehouse(&ports, dir.path(), plugins, None),
    )?;
    std::fs::write(dir.path().join("jwks.json"), configs::jwks())?;
    let mut gatehouse = Proc::spawn(
        "gatehouse",
        Command::new(&gatehouse_bin)
            .args(["serve", "--workers", "1", "-c"])
            .arg(&gh_config)
            .env("RUST_LOG", "warn")
            .env("GATEHOUSE_PLUGIN_CACHE", dir.path().join("plugin-cache"))
            .stdout(Stdio::null()),
    )?;
    wait_loopback(&mut gatehouse, ports.gatehouse)?;
    let nginx = if args.idle_only {
        None
    } else {
        let nginx_bin = which("nginx").context("nginx not found (scripts/bench.sh installs it)")?;
        let ngx_config = dir.path().join("nginx.conf");
        std::fs::write(
            &ngx_config,
            configs::nginx(&ports, dir.path(), dir.path(), 1),
        )?;
        let nginx = start_nginx("nginx", &nginx_bin, dir.path(), &ngx_config, ports.nginx)?;
        Some(nginx)
    };
    let on_redis = match (args.idle_only, which("redis-server")) {
        (false, Some(redis_bin)) => Some(start_on_redis(
            &redis_bin,
            &gatehouse_bin,
            &ports,
            dir.path(),
            plugins,
        )?),
        _ => None,
    };
    let chosen =
        |id: &str| !args.idle_only && (args.only.is_empty() || args.only.iter().any(|o| o == id));
    let traced = match chosen("trace") {
        true => Some(start_traced(
            &bin_dir.join("bench-backend"),
            &gatehouse_bin,
            &ports,
            dir.path(),
        )?),
        false => None,
    };
    let workers2 = match chosen("workers2") {
        true => Some(start_workers2(
            &which("nginx").context("nginx not found (scripts/bench.sh installs it)")?,
            &gatehouse_bin,
            &ports,
            dir.path(),
            plugins,
        )?),
        false => None,
    };
    Ok(Bench {
        dir,
        ports,
        gatehouse,
        nginx,
        backend,
        on_redis,
        traced,
        workers2,
    })
}

/// The results of one scenario: per arm, one [`Run`] per round.
#[derive(Debug)]
pub struct Measured<'a> {
    pub scenario: &'a Scenario,
    pub runs: Vec<Vec<Run>>,
}

fn measure<'a>(bench: &Bench, s: &'a Scenario, args: &Args) -> anyhow::Result<Measured<'a>> {
    let duration = Duration::from_secs(args.duration);
    // Warm every arm (connections, caches, JIT-free but page-cache-warm) before measuring.
    for arm in &s.arms {
        load::run(
            s.tool,
            &bench.url(arm),
            Duration::from_secs(1),
            bench.dir.path(),
        )?;
    }
    let mut runs = vec![Vec::new(); s.arms.len()];
    for round in 0..args.rounds {
        for (i, arm) in s.arms.iter().enumerate() {
            let idle = if s.idle > 0 {
                open_idle(bench.addr(arm.target, arm.listener), "/prod/small", s.idle)?
            } else {
                Vec::new()
            };
            let target = bench.proc(arm.target);
            let sampler = RssSampler::start(target.pids());
            let cpu_before = target.cpu_time();
            let mut run = load::run(
                arm.tool(s.tool),
                &bench.url(arm),
                duration,
                bench.dir.path(),
            )
            .with_context(|| format!("{} / {}", s.id, arm.label))?;
            let cpu_after = target.cpu_time();
            run.peak_rss = sampler.finish();
            run.cpu_us_per_req = cpu_per_request(cpu_before, cpu_after, run.requests);
            drop(idle);
            eprintln!(
                "  {:<14} round {}  {:<22} {:>10.0} req/s  p99 {:>7.2} ms  ({} non-2xx, {} errors)",
                s.id,
                round + 1,
                arm.label,
                run.rps,
                run.p99 / 1000.0,
                run.non_2xx,
                run.errors
            );
            runs[i].push(run);
        }
    }
    Ok(Measured { scenario: s, runs })
}

/// Microseconds of the target's CPU time per request, from its CPU time before and after a
/// run of `requests` requests.
fn cpu_per_request(
    before: Option<Duration>,
    after: Option<Duration>,
    requests: u64,
) -> Option<f64> {
    let delta = after?.checked_sub(before?)?;
    (requests > 0).then(|| delta.as_secs_f64() * 1e6 / requests as f64)
}

/// Resident memory per idle connection of `target` ([`idle::measure`]): `n` connections in
/// all, `n / 10` at the first reading.
fn idle_cost(
    bench: &Bench,
    target: Target,
    what: &str,
    (listener, proto, path): (Listener, idle::Proto, &str),
    n: usize,
) -> anyhow::Result<idle::IdleCost> {
    let tls = match proto {
        idle::Proto::Tls => Some(rustload::client_tls(
            &bench.dir.path().join("cert.pem"),
            b"http/1.1",
        )?),
        _ => None,
    };
    let t = idle::Target {
        addr: bench.addr(target, listener),
        proto,
        path: path.to_owned(),
        tls,
    };
    let proc = bench.proc(target);
    let cost = idle::measure(what, &t, (n / 10).max(1), n, || proc.rss())?;
    eprintln!(
        "{what}: {:.1} KiB per idle connection, {}/{} alive",
        cost.per_connection() / 1024.0,
        cost.alive.0,
        cost.alive.1
    );
    Ok(cost)
}

/// Memory per idle connection for each protocol Gatehouse serves, and for nginx unless
/// `--idle-only`.
fn idle_costs(bench: &Bench, args: &Args) -> anyhow::Result<Vec<idle::IdleCost>> {
    use idle::Proto;
    let n = args.idle_count;
    let h1 = (Listener::Plain, Proto::Http1, "/prod/small");
    let gatehouse = [
        ("http1", "Gatehouse, HTTP/1.1 keep-alive", h1),
        (
            "h2c",
            "Gatehouse, h2c",
            (Listener::Plain, Proto::H2c, "/prod/small"),
        ),
        (
            "tls",
            "Gatehouse, HTTP/1.1 over TLS",
            (Listener::Tls, Proto::Tls, "/prod/small"),
        ),
        // Sessions held by Gatehouse itself (a WebSocket API stage, no backend connection).
        (
            "ws",
            "Gatehouse, WebSocket API sessions",
            (Listener::Plain, Proto::WebSocket, "/wsapi"),
        ),
    ];
    let mut out = Vec::new();
    for (id, what, how) in gatehouse {
        if args.idle_proto.is_empty() || args.idle_proto.iter().any(|p| p == id) {
            out.push(idle_cost(bench, Target::Gatehouse, what, how, n)?);
        }
    }
    if !args.idle_only {
        out.push(idle_cost(
            bench,
            Target::Nginx,
            "nginx, HTTP/1.1 keep-alive",
            h1,
            n,
        )?);
        if args.only.is_empty() || args.only.iter().any(|o| o == "ws-echo") {
            // Pass-through holds two sockets per connection, so fewer fit the file limit.
            let ws = (Listener::Plain, Proto::WebSocket, "/prod/ws");
            let pass = (n / 2).min(4_000);
            out.push(idle_cost(
                bench,
                Target::Gatehouse,
                "Gatehouse, WebSocket pass-through",
                ws,
                pass,
            )?);
            out.push(idle_cost(
                bench,
                Target::Nginx,
                "nginx, WebSocket proxy",
                ws,
                pass,
            )?);
        }
    }
    Ok(out)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.idle_only {
        for tool in ["wrk", "h2load", "nginx"] {
            if which(tool).is_none() {
                bail!("`{tool}` not found: run scripts/bench.sh, which installs it");
            }
        }
    }
    let plugins = {
        let files = [
            "token-authorizer",
            "json-mapper",
            "wasi-http-hello",
            "js-authorizer",
            "py-integration",
        ]
        .map(|name| {
            let path = args.plugins.join(format!("{name}.wasm"));
            std::fs::canonicalize(&path).unwrap_or(path)
        });
        files.iter().all(|f| f.is_file()).then(|| {
            let [authorizer, mapper, wasi_http, js_authorizer, py_integration] = files;
            configs::Plugins {
                authorizer,
                mapper,
                wasi_http,
                js_authorizer,
                py_integration,
            }
        })
    };
    if plugins.is_none() {
        eprintln!(
            "note: no plugins in {}; the Wasm scenarios are skipped (scripts/build-plugins.sh builds them)",
            args.plugins.display()
        );
    }
    let all = scenarios();
    let chosen: Vec<&Scenario> = all
        .iter()
        .filter(|s| args.only.is_empty() || args.only.iter().any(|o| o == s.id))
        .filter(|s| plugins.is_some() || !s.needs_plugins)
        .collect();
    if chosen.is_empty() {
        bail!(
            "no scenario matches --only {:?}; ids: {}",
            args.only,
            all.iter().map(|s| s.id).collect::<Vec<_>>().join(", ")
        );
    }

    let bench = start(&args, plugins.as_ref())?;
    eprintln!(
        "gatehouse on 127.0.0.1:{}, nginx on 127.0.0.1:{} (unless --idle-only), backend on {}; {} s per run, {} rounds",
        bench.ports.gatehouse, bench.ports.nginx, bench.ports.backend, args.duration, args.rounds
    );
    let idle = idle_costs(&bench, &args)?;
    if args.idle_only {
        let text = report::idle_table(&idle);
        println!("{text}");
        return Ok(());
    }
    let mut results = Vec::new();
    for s in chosen {
        let on_redis = s.arms.iter().any(|a| a.target == Target::GatehouseRedis);
        if on_redis && bench.on_redis.is_none() {
            eprintln!(
                "note: {} skipped: no redis-server (scripts/setup.sh installs it)",
                s.id
            );
            continue;
        }
        eprintln!("{}: {}", s.id, s.title);
        results.push(measure(&bench, s, &args)?);
    }
    let text = report::markdown(&args_line(&args), &results, &idle);
    println!("{text}");
    if let Some(out) = &args.out {
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(out, &text).with_context(|| format!("cannot write {}", out.display()))?;
        eprintln!("report written to {}", out.display());
    }
    Ok(())
}

fn args_line(args: &Args) -> String {
    format!(
        "{} s per run, {} rounds per target, targets alternating",
        args.duration, args.rounds
    )
}
