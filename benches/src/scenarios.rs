//! What is measured: each scenario's arms (Gatehouse, nginx, the backend directly), path
//! and load.

use crate::load::Tool;
use crate::rustload;

/// What answers a scenario's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Gatehouse,
    /// The same config on Redis (`state: {backend: redis}`).
    GatehouseRedis,
    /// The same config with every request traced (`tracing: {sample: 1}`), exported to a
    /// sink of its own.
    GatehouseTraced,
    /// The same config served with `--workers 2`.
    GatehouseWorkers2,
    Nginx,
    /// The same nginx config with `worker_processes 2`.
    NginxWorkers2,
    Direct,
}

/// Which of a target's listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Plain,
    Tls,
    H2c,
}

/// One side of a comparison.
#[derive(Debug, Clone, Copy)]
pub struct Arm {
    pub label: &'static str,
    pub target: Target,
    pub listener: Listener,
    pub path: &'static str,
    /// Load this arm with Gatehouse's own generator in this protocol, with the scenario's
    /// connections and streams.
    pub rust: Option<rustload::Proto>,
}

impl Arm {
    pub fn tool(&self, tool: Tool) -> Tool {
        match (tool, self.rust) {
            (
                Tool::H2load { conns, streams, .. } | Tool::Rust { conns, streams, .. },
                Some(proto),
            ) => Tool::Rust {
                proto,
                conns,
                streams,
            },
            _ => tool,
        }
    }
}

#[derive(Debug)]
pub struct Scenario {
    pub id: &'static str,
    pub title: &'static str,
    /// What the first arm is measured against, for the report.
    pub compares: &'static str,
    pub tool: Tool,
    pub arms: Vec<Arm>,
    /// Idle keep-alive connections held open during the runs.
    pub idle: usize,
    pub needs_plugins: bool,
    /// Said under the results table when the scenario ran; empty for none.
    pub note: &'static str,
}

pub(crate) const fn arm(
    label: &'static str,
    target: Target,
    listener: Listener,
    path: &'static str,
) -> Arm {
    Arm {
        label,
        target,
        listener,
        path,
        rust: None,
    }
}

pub(crate) const GH: Arm = arm(
    "Gatehouse",
    Target::Gatehouse,
    Listener::Plain,
    "/prod/small",
);
pub(crate) const NGINX: Arm = arm("nginx", Target::Nginx, Listener::Plain, "/prod/small");
pub(crate) const DIRECT: Arm = arm("direct", Target::Direct, Listener::Plain, "/prod/small");
pub(crate) const GH_PLAIN: Arm = arm(
    "Gatehouse plain proxy",
    Target::Gatehouse,
    Listener::Plain,
    "/prod/small",
);

pub(crate) fn wrk(conns: usize) -> Tool {
    Tool::Wrk {
        conns,
        post_bytes: 0,
    }
}

pub(crate) fn scenarios() -> Vec<Scenario> {
    let plain = |id, title, tool, path: &'static str| Scenario {
        id,
        title,
        compares: "nginx proxy_pass",
        tool,
        arms: vec![
            Arm { path, ..GH },
            Arm { path, ..NGINX },
            Arm { path, ..DIRECT },
        ],
        idle: 0,
        needs_plugins: false,
        note: "",
    };
    let wasm = |id, title, path: &'static str| Scenario {
        id,
        title,
        compares: "Gatehouse plain proxy",
        tool: wrk(50),
        arms: vec![
            arm("Gatehouse", Target::Gatehouse, Listener::Plain, path),
            GH_PLAIN,
        ],
        idle: 0,
        needs_plugins: true,
        note: "",
    };
    // A `wasi:http/proxy` component's route beside the mock integration: neither has an
    // upstream.
    let wasi_http = |id, title, path: &'static str| Scenario {
        compares: "Gatehouse mock integration",
        arms: vec![
            arm("Gatehouse", Target::Gatehouse, Listener::Plain, path),
            arm(
                "Gatehouse mock integration",
                Target::Gatehouse,
                Listener::Plain,
                "/prod/mock",
            ),
        ],
        ..wasm(id, title, "")
    };
    vec![
        plain(
            "get",
            "HTTP/1.1 keep-alive GET, small JSON, 50 connections",
            wrk(50),
            "/prod/small",
        ),
        Scenario {
            arms: vec![
                arm(
                    "Gatehouse 2 workers",
                    Target::GatehouseWorkers2,
                    Listener::Plain,
                    "/prod/small",
                ),
                arm(
                    "nginx 2 workers",
                    Target::NginxWorkers2,
                    Listener::Plain,
                    "/prod/small",
                ),
            ],
            compares: "nginx proxy_pass, 2 workers",
            note: "Gatehouse `--workers 2` and nginx `worker_processes 2` (each worker with a \
                   listening socket of its own, `SO_REUSEPORT`), in processes of their own \
                   beside the 1-worker ones, which stay idle meanwhile. The load generator \
                   (one `wrk` thread) and the backend (one thread) run on the same cores as \
                   the workers, so on a 2-core machine this is a lower bound on what two \
                   workers give.",
            ..plain(
                "workers2",
                "HTTP/1.1 keep-alive GET, small JSON, 50 connections, 2 workers",
                wrk(50),
                "",
            )
        },
        plain(
            "post16k",
            "HTTP/1.1 POST, 16 KiB body, 50 connections",
            Tool::Wrk {
                conns: 50,
                post_bytes: 16 << 10,
            },
            "/prod/small",
        ),
        Scenario {
            arms: vec![
                arm("Gatehouse", Target::Gatehouse, Listener::H2c, "/prod/small"),
                arm("nginx", Target::Nginx, Listener::H2c, "/prod/small"),
                arm("direct", Target::Direct, Listener::H2c, "/prod/small"),
            ],
            ..plain(
                "h2",
                "HTTP/2 (h2c), 10 connections x 100 streams",
                Tool::H2load {
                    conns: 10,
                    streams: 100,
                    alpn: "h2",
                },
                "",
            )
        },
        plain(
            "resp1k",
            "GET, 1 KiB response, 50 connections",
            wrk(50),
            "/prod/bytes/1024",
        ),
        plain(
            "resp1m",
            "GET, 1 MiB response, 10 connections",
            wrk(10),
            "/prod/bytes/1048576",
        ),
        plain(
            "conns1000",
            "1,000 active connections",
            wrk(1000),
            "/prod/small",
        ),
        Scenario {
            arms: vec![GH, NGINX],
            idle: 1000,
            ..plain(
                "idle1000",
                "1,000 idle keep-alive connections + 50 active",
                wrk(50),
                "",
            )
        },
        Scenario {
            compares: "Gatehouse HTTP/2 over TLS",
            arms: vec![
                Arm {
                    rust: Some(rustload::Proto::H3),
                    ..arm(
                        "Gatehouse HTTP/3",
                        Target::Gatehouse,
                        Listener::Tls,
                        "/prod/small",
                    )
                },
                Arm {
                    rust: Some(rustload::Proto::H2Tls),
                    ..arm(
                        "Gatehouse HTTP/2",
                        Target::Gatehouse,
                        Listener::Tls,
                        "/prod/small",
                    )
                },
            ],
            ..plain(
                "h3",
                "HTTP/3 (QUIC) beside HTTP/2 (TLS), 10 connections x 10 streams, same generator",
                Tool::H2load {
                    conns: 10,
                    streams: 10,
                    alpn: "h2",
                },
                "",
            )
        },
        Scenario {
            compares: "nginx TLS",
            arms: vec![
                arm("Gatehouse", Target::Gatehouse, Listener::Tls, "/prod/small"),
                arm("nginx", Target::Nginx, Listener::Tls, "/prod/small"),
            ],
            ..plain(
                "tls",
                "HTTPS (TLS 1.3, keep-alive) GET, 50 connections",
                wrk(50),
                "",
            )
        },
        Scenario {
            compares: "nginx WebSocket proxy",
            arms: vec![
                arm("Gatehouse", Target::Gatehouse, Listener::Plain, "/prod/ws"),
                arm("nginx", Target::Nginx, Listener::Plain, "/prod/ws"),
                arm("direct", Target::Direct, Listener::Plain, "/prod/ws"),
            ],
            ..plain(
                "ws-echo",
                "WebSocket echo (upgrade pass-through), 64-byte messages, 50 connections",
                Tool::WsEcho { conns: 50 },
                "",
            )
        },
        Scenario {
            compares: "nginx proxy_cache",
            arms: vec![
                arm(
                    "Gatehouse",
                    Target::Gatehouse,
                    Listener::Plain,
                    "/cached/small",
                ),
                arm("nginx", Target::Nginx, Listener::Plain, "/cached/small"),
                GH_PLAIN,
            ],
            ..plain("cache", "Cache hit, small GET", wrk(50), "")
        },
        Scenario {
            compares: "nginx limit_req",
            arms: vec![
                arm(
                    "Gatehouse",
                    Target::Gatehouse,
                    Listener::Plain,
                    "/prod/limited/small",
                ),
                arm(
                    "nginx",
                    Target::Nginx,
                    Listener::Plain,
                    "/prod/limited/small",
                ),
                GH_PLAIN,
            ],
            ..plain("429", "Throttled: 429 answers, small GET", wrk(50), "")
        },
        Scenario {
            compares: "Gatehouse on embedded state",
            arms: vec![
                arm(
                    "Gatehouse on Redis",
                    Target::GatehouseRedis,
                    Listener::Plain,
                    "/prod/keyed/small",
                ),
                arm(
                    "Gatehouse on embedded state",
                    Target::Gatehouse,
                    Listener::Plain,
                    "/prod/keyed/small",
                ),
            ],
            ..plain(
                "redis",
                "API key + usage plan throttle and quota + method throttle, small GET",
                wrk(50),
                "",
            )
        },
        Scenario {
            compares: "Gatehouse plain proxy",
            arms: vec![
                arm(
                    "Gatehouse traced",
                    Target::GatehouseTraced,
                    Listener::Plain,
                    "/prod/small",
                ),
                GH_PLAIN,
            ],
            ..plain(
                "trace",
                "Tracing on, 100% sampled, OTLP/HTTP to a sink; small GET, 50 connections",
                wrk(50),
                "",
            )
        },
        Scenario {
            needs_plugins: false,
            ..wasm(
                "jwt",
                "JWT authorizer (RS256, keys cached) on every request",
                "/prod/jwt/small",
            )
        },
        wasm(
            "authz",
            "Wasm authorizer on every request (decision cache off)",
            "/prod/authz/small",
        ),
        wasm(
            "authz-cached",
            "Wasm authorizer, decision cached (300 s)",
            "/prod/authz-cached/small",
        ),
        wasm(
            "mapped",
            "Wasm request and response mapper (JSON)",
            "/prod/mapped/small",
        ),
        wasm(
            "js-authz",
            "JavaScript (QuickJS) authorizer on every request (decision cache off)",
            "/prod/js-authz/small",
        ),
        wasm(
            "py",
            "Python integration (warm instances)",
            "/prod/py/small",
        ),
        wasi_http(
            "wasi-http",
            "wasi:http/proxy component integration (hello world: a fixed text body)",
            "/prod/wasi/hello-world",
        ),
        wasi_http(
            "wasi-http-json",
            "wasi:http/proxy component integration (JSON of the method, path and context headers)",
            "/prod/wasi/hello",
        ),
    ]
}
