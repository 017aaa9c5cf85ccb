//! The Markdown report: the machine, the versions, one row per scenario and target, the
//! issue's targets with where Gatehouse stands, and memory per idle connection.

use crate::procs::{version_of, which};
use crate::run::Run;
use crate::{Measured, Target};
use std::fmt::Write;

/// The mean of each figure over a target's rounds, and the spread of requests/s.
struct Summary {
    rps: f64,
    spread: f64,
    p50: f64,
    p99: f64,
    p999: f64,
    peak_rss: u64,
    /// Mean CPU µs per request over the rounds that have a reading.
    cpu_us_per_req: Option<f64>,
    non_2xx: u64,
    errors: u64,
    requests: u64,
}

fn summarize(runs: &[Run]) -> Summary {
    let n = runs.len().max(1) as f64;
    let mean = |f: fn(&Run) -> f64| runs.iter().map(f).sum::<f64>() / n;
    let rps = mean(|r| r.rps);
    let (lo, hi) = runs.iter().fold((f64::MAX, 0.0f64), |(lo, hi), r| {
        (lo.min(r.rps), hi.max(r.rps))
    });
    Summary {
        rps,
        spread: if rps > 0.0 && runs.len() > 1 {
            (hi - lo) / 2.0 / rps * 100.0
        } else {
            0.0
        },
        p50: mean(|r| r.p50),
        p99: mean(|r| r.p99),
        p999: mean(|r| r.p999),
        peak_rss: runs.iter().map(|r| r.peak_rss).max().unwrap_or(0),
        cpu_us_per_req: {
            let cpu: Vec<f64> = runs.iter().filter_map(|r| r.cpu_us_per_req).collect();
            (!cpu.is_empty()).then(|| cpu.iter().sum::<f64>() / cpu.len() as f64)
        },
        non_2xx: runs.iter().map(|r| r.non_2xx).sum(),
        errors: runs.iter().map(|r| r.errors).sum(),
        requests: runs.iter().map(|r| r.requests).sum(),
    }
}

fn ms(us: f64) -> String {
    format!("{:.2}", us / 1000.0)
}

fn cpu(us: Option<f64>) -> String {
    us.map_or("-".into(), |us| format!("{us:.1}"))
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or("?".into(), |kb| format!("{:.0} GiB", kb as f64 / 1048576.0));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, {mem} RAM, Linux {kernel}")
}

fn versions() -> String {
    let v = |tool: &str, args: &[&str]| {
        which(tool).map_or("not found".into(), |p| version_of(&p, args))
    };
    format!(
        "{}; {}; {}",
        v("nginx", &["-v"]),
        v("wrk", &["-v"]),
        v("h2load", &["--version"])
    )
}

pub fn markdown(
    settings: &str,
    results: &[Measured<'_>],
    idle: &[crate::idle::IdleCost],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Machine: {}  ", machine());
    let _ = writeln!(out, "Tools: {}  ", versions());
    let _ = writeln!(
        out,
        "Setup: Gatehouse `--workers 1`, nginx `worker_processes 1` (unless a scenario's note \
         below says otherwise), backend 1 thread, load generator 1 thread, all on loopback; \
         {settings}. Latencies in ms; RSS in MiB, peak during the runs (nginx: master + \
         workers). CPU µs/req: user + system CPU time of the target's processes (Gatehouse, \
         all its threads; nginx master + workers; for `direct`, the backend alone) \
         during a run, divided by the requests answered in it, mean over rounds; it leaves out \
         the load generator and, for the proxies, the backend."
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| scenario | target | req/s | ± | p50 | p99 | p99.9 | peak RSS | CPU µs/req | non-2xx | errors | ratio |"
    );
    let _ = writeln!(out, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|");
    let mut find = std::collections::HashMap::new();
    for m in results {
        let sums: Vec<Summary> = m.runs.iter().map(|r| summarize(r)).collect();
        let base = sums.get(1).map_or(0.0, |s| s.rps);
        for (i, (arm, s)) in m.scenario.arms.iter().zip(&sums).enumerate() {
            let ratio = match (i, arm.target) {
                (0, _) if base > 0.0 => format!("{:.2}× {}", s.rps / base, m.scenario.compares),
                (_, Target::Direct) => "ceiling".into(),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {:.1}% | {} | {} | {} | {} | {} | {} | {} | {} |",
                if i == 0 { m.scenario.title } else { "" },
                arm.label,
                s.rps,
                s.spread,
                ms(s.p50),
                ms(s.p99),
                ms(s.p999),
                mib(s.peak_rss),
                cpu(s.cpu_us_per_req),
                if s.non_2xx == s.requests && s.requests > 0 {
                    "all".to_owned()
                } else {
                    s.non_2xx.to_string()
                },
                s.errors,
                ratio
            );
        }
        find.insert(m.scenario.id, sums);
    }
    for m in results.iter().filter(|m| !m.scenario.note.is_empty()) {
        let _ = writeln!(out, "\n`{}`: {}", m.scenario.id, m.scenario.note);
    }

    let _ = writeln!(out);
    let _ = writeln!(out, "| target | measured | met |");
    let _ = writeln!(out, "|---|---|---|");
    let rps = |id: &str, arm: usize| find.get(id).and_then(|s| s.get(arm)).map(|s| s.rps);
    let p99 = |id: &str, arm: usize| find.get(id).and_then(|s| s.get(arm)).map(|s| s.p99);
    let mut target = |name: &str, measured: Option<(String, bool)>| {
        let (text, met) = measured.unwrap_or(("not measured in this run".into(), false));
        let _ = writeln!(
            out,
            "| {name} | {text} | {} |",
            if met { "yes" } else { "no" }
        );
    };
    // (label, scenario, arm measured, arm compared with, minimum ratio)
    let ratios = [
        ("Plain HTTP/1.1 proxy: >= 1.3× nginx", "get", 0, 1, 1.3),
        (
            "Wasm authorizer, uncached: >= 0.85× plain proxy",
            "authz",
            0,
            1,
            0.85,
        ),
        (
            "Wasm authorizer, cached: >= 0.95× plain proxy",
            "authz-cached",
            0,
            1,
            0.95,
        ),
        (
            "Wasm request and response mapper: >= 0.7× plain proxy",
            "mapped",
            0,
            1,
            0.7,
        ),
        (
            "wasi:http hello-world component: >= 0.8× mock integration",
            "wasi-http",
            0,
            1,
            0.8,
        ),
        (
            "JavaScript authorizer: >= 0.6× plain proxy",
            "js-authz",
            0,
            1,
            0.6,
        ),
        ("Python integration: >= 0.4× plain proxy", "py", 0, 1, 0.4),
        (
            "JWT authorizer (cached keys): >= 0.9× plain proxy",
            "jwt",
            0,
            1,
            0.9,
        ),
        ("Cache hit: >= 1.5× nginx proxy_cache", "cache", 0, 1, 1.5),
        (
            "Redis-backed throttles, quota and key: >= 0.9× embedded state",
            "redis",
            0,
            1,
            0.9,
        ),
        ("429 answers: >= 1.5× nginx limit_req", "429", 0, 1, 1.5),
    ];
    for (name, id, arm, base, min) in ratios {
        target(
            name,
            rps(id, arm)
                .zip(rps(id, base))
                .map(|(a, b)| (format!("{:.2}×", a / b), a >= min * b)),
        );
    }
    target(
        "Plain HTTP/1.1 proxy: p99 <= nginx",
        p99("get", 0)
            .zip(p99("get", 1))
            .map(|(g, n)| (format!("{} ms vs {} ms", ms(g), ms(n)), g <= n)),
    );

    let _ = writeln!(out);
    out.push_str(&idle_table(idle));
    out
}

/// The idle-connection table: RSS at `n1` and `n2` idle connections, the slope between them,
/// and how many sampled connections still answered.
pub fn idle_table(idle: &[crate::idle::IdleCost]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| idle connections | n1 | RSS at n1 | n2 | RSS at n2 | per connection | alive after |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|");
    for c in idle {
        let _ = writeln!(
            out,
            "| {} | {} | {} MiB | {} | {} MiB | {:.2} KiB | {}/{} |",
            c.what,
            c.n1,
            mib(c.rss1),
            c.n2,
            mib(c.rss2),
            c.per_connection() / 1024.0,
            c.alive.0,
            c.alive.1
        );
    }
    out
}
