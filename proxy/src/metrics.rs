//! Prometheus metrics with API Gateway's names.
//!
//! Each (api, stage, resource, method) gets its [`RouteMetrics`] when a config is compiled, so
//! a request only bumps atomics. The registry keeps them across reloads (counters do not reset
//! when a config is swapped) and forgets the ones no compiled config refers to any more.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds of the latency buckets, in milliseconds (API Gateway reports milliseconds).
const BUCKETS_MS: [u64; 14] = [
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000,
];

/// A latency histogram in milliseconds.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS_MS.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let us = d.as_micros().min(u128::from(u64::MAX)) as u64;
        let ms_ceil = us.div_ceil(1000);
        if let Some(i) = BUCKETS_MS.iter().position(|&b| ms_ceil <= b) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
    }
}

/// The counters and histograms of one route.
#[derive(Debug, Default)]
pub struct RouteMetrics {
    pub count: AtomicU64,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    pub client_errors: AtomicU64,
    pub server_errors: AtomicU64,
    /// Requests refused by a throttle or a quota (THROTTLED, QUOTA_EXCEEDED), whatever status
    /// a gateway response override gives them.
    pub throttled: AtomicU64,
    /// Answers whose backend body failed after the head was sent (stalled, cut short).
    pub integration_errors: AtomicU64,
    pub latency: Histogram,
    pub integration_latency: Histogram,
    /// Request body bytes (declared lengths) and response bytes, for usage reports.
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
}

impl RouteMetrics {
    /// Records one finished request; `throttled` when a throttle or quota refused it.
    pub fn record(
        &self,
        status: u16,
        throttled: bool,
        latency: Duration,
        integration: Option<Duration>,
    ) {
        self.count.fetch_add(1, Relaxed);
        if throttled {
            self.throttled.fetch_add(1, Relaxed);
        }
        match status {
            400..=499 => {
                self.client_errors.fetch_add(1, Relaxed);
            }
            500..=599 => {
                self.server_errors.fetch_add(1, Relaxed);
            }
            _ => {}
        }
        self.latency.observe(latency);
        if let Some(d) = integration {
            self.integration_latency.observe(d);
        }
    }
}

/// The counters and histogram of one WebSocket route of one stage, named as API Gateway's
/// WebSocket metrics.
#[derive(Debug, Default)]
pub struct WsMetrics {
    /// Messages sent to the `$connect` route's integration (handshakes that reached it).
    pub connect_count: AtomicU64,
    /// Messages from the client routed here, and messages to the client (the route's replies
    /// and the gateway's error messages; for the `@connections` pseudo-route, pushed messages).
    pub message_count: AtomicU64,
    /// Integration answers with a 4xx or 5xx status.
    pub integration_errors: AtomicU64,
    /// Handshakes and messages refused before an integration was called.
    pub client_errors: AtomicU64,
    /// Integrations that could not be called or failed (unreachable, timed out, trapped).
    pub execution_errors: AtomicU64,
    /// Calls to an integration other than a mock (API Gateway reports none for mocks).
    pub integration_latency: Histogram,
}

/// One WebSocket API stage's open connections (a gauge), named `OpenConnections`.
#[derive(Debug, Default)]
pub struct WsStageMetrics {
    pub open_connections: AtomicU64,
    /// Minutes of closed connections, each rounded up to a whole minute (usage reports).
    pub connection_minutes: AtomicU64,
}

impl WsStageMetrics {
    /// Counts one connection as open until the guard is dropped.
    pub fn open(self: &Arc<Self>) -> OpenConnection {
        self.open_connections.fetch_add(1, Relaxed);
        OpenConnection(self.clone(), std::time::Instant::now())
    }
}

/// One open WebSocket connection, counted in its stage's `OpenConnections` while it lives,
/// and in its connection minutes when it closes.
#[derive(Debug)]
pub struct OpenConnection(Arc<WsStageMetrics>, std::time::Instant);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open_connections.fetch_sub(1, Relaxed);
        let minutes = self.1.elapsed().as_secs().div_ceil(60).max(1);
        self.0.connection_minutes.fetch_add(minutes, Relaxed);
    }
}

/// Label values identifying a WebSocket route.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct WsKey {
    pub api: String,
    pub stage: String,
    pub route: String,
}

/// A metric's name, help text and where to read it from a route's metrics.
type Counter<M> = (&'static str, &'static str, fn(&M) -> &AtomicU64);
type HistogramDef<M> = (&'static str, &'static str, fn(&M) -> &Histogram);

/// What one route or WebSocket stage counted for usage reports: (source, api, stage, counts).
pub type UsageSource = (String, String, String, gatehouse_state::usage::StageCounts);

/// Label values identifying a route.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RouteKey {
    pub api: String,
    pub stage: String,
    pub resource: String,
    pub method: String,
}

/// A shared state store's availability: `gatehouse_StateStoreUp` (1 or 0) and
/// `gatehouse_StateStoreOutages` (times it became unavailable).
pub fn render_store_health(h: gatehouse_state::StoreHealth) -> String {
    format!(
        "# HELP gatehouse_StateStoreUp Whether the shared state store answered its last call.\n\
         # TYPE gatehouse_StateStoreUp gauge\n\
         gatehouse_StateStoreUp {}\n\
         # HELP gatehouse_StateStoreOutages Times the shared state store became unavailable.\n\
         # TYPE gatehouse_StateStoreOutages counter\n\
         gatehouse_StateStoreOutages {}\n",
        u8::from(h.up),
        h.outages
    )
}

/// The shared cache tier's lookups, by cache (`response`: stage caches, `authorizer`:
/// decisions): `gatehouse_SharedCacheHitCount`, `gatehouse_SharedCacheMissCount` and
/// `gatehouse_SharedCacheErrorCount` (lookups and writes Redis failed or did not answer in
/// time; such a lookup is a miss).
pub fn render_shared_cache(c: &gatehouse_state::redis_cache::SharedCache) -> String {
    use gatehouse_state::redis_cache::Tier;
    let mut out = String::new();
    let kinds = [
        ("Hit", "answered from Redis"),
        ("Miss", "that Redis held no current entry for"),
        (
            "Error",
            "and writes that failed (Redis unavailable or slow; such a lookup is a miss)",
        ),
    ];
    for (i, (kind, help)) in kinds.into_iter().enumerate() {
        let name = format!("gatehouse_SharedCache{kind}Count");
        let _ = writeln!(out, "# HELP {name} Shared cache tier lookups {help}.");
        let _ = writeln!(out, "# TYPE {name} counter");
        for (label, tier) in [
            ("response", Tier::Responses),
            ("authorizer", Tier::Decisions),
        ] {
            let counts = c.counts(tier);
            let n = [&counts.hits, &counts.misses, &counts.errors][i].load(Relaxed);
            let _ = writeln!(out, "{name}{{cache=\"{label}\"}} {n}");
        }
    }
    out
}

/// All route metrics of the process.
#[derive(Debug, Default)]
pub struct Registry {
    routes: Mutex<BTreeMap<RouteKey, Arc<RouteMetrics>>>,
    websocket: Mutex<BTreeMap<WsKey, Arc<WsMetrics>>>,
    /// Per WebSocket API stage, keyed by (api, stage).
    websocket_stages: Mutex<BTreeMap<(String, String), Arc<WsStageMetrics>>>,
}

impl Registry {
    /// The metrics of `key`, created on first use. Called while compiling a config.
    pub fn route(&self, key: RouteKey) -> Arc<RouteMetrics> {
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        routes.entry(key).or_default().clone()
    }

    /// The metrics of a WebSocket route, created on first use. Called while compiling.
    pub fn websocket(&self, key: WsKey) -> Arc<WsMetrics> {
        let mut ws = self.websocket.lock().unwrap_or_else(|p| p.into_inner());
        ws.entry(key).or_default().clone()
    }

    /// The metrics of a WebSocket API stage, created on first use. Called while compiling.
    pub fn websocket_stage(&self, api: &str, stage: &str) -> Arc<WsStageMetrics> {
        let mut stages = self
            .websocket_stages
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        stages
            .entry((api.to_owned(), stage.to_owned()))
            .or_default()
            .clone()
    }

    /// The usage each route and WebSocket stage counted since it was created, for usage
    /// reports: `(source, api, stage, counts)`, counts in the order of
    /// `gatehouse_state::usage::DIMENSIONS`; `source` names the route or stage, so that the
    /// caller can tell what each added since it last looked. A canary's requests count under
    /// their stage; requests that matched no API are left out.
    pub fn usage_sources(&self) -> Vec<UsageSource> {
        use gatehouse_state::usage::StageCounts;
        let mut out = Vec::new();
        let stage_of = |s: &str| s.strip_suffix("/Canary").unwrap_or(s).to_owned();
        {
            let routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
            for (k, m) in routes.iter().filter(|(k, _)| k.api != "-") {
                let mut c: StageCounts = Default::default();
                c[0] = m.count.load(Relaxed);
                c[1] = m.bytes_in.load(Relaxed);
                c[2] = m.bytes_out.load(Relaxed);
                c[3] = m.cache_hits.load(Relaxed);
                c[4] = m.cache_misses.load(Relaxed);
                let source = format!("route {} {} {} {}", k.api, k.stage, k.method, k.resource);
                out.push((source, k.api.clone(), stage_of(&k.stage), c));
            }
        }
        {
            let stages = self
                .websocket_stages
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            for ((api, stage), m) in stages.iter() {
                let mut c: StageCounts = Default::default();
                c[5] = m.connection_minutes.load(Relaxed);
                out.push((
                    format!("ws-stage {api} {stage}"),
                    api.clone(),
                    stage.clone(),
                    c,
                ));
            }
        }
        {
            let ws = self.websocket.lock().unwrap_or_else(|p| p.into_inner());
            for (k, m) in ws.iter() {
                let mut c: StageCounts = Default::default();
                c[6] = m.message_count.load(Relaxed);
                let source = format!("ws {} {} {}", k.api, k.stage, k.route);
                out.push((source, k.api.clone(), k.stage.clone(), c));
            }
        }
        out
    }

    /// Drops metrics no compiled config (or open connection) holds any more (call after a
    /// swap).
    pub fn prune(&self) {
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        routes.retain(|_, m| Arc::strong_count(m) > 1);
        let mut ws = self.websocket.lock().unwrap_or_else(|p| p.into_inner());
        ws.retain(|_, m| Arc::strong_count(m) > 1);
        let mut stages = self
            .websocket_stages
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        stages.retain(|_, m| Arc::strong_count(m) > 1);
    }

    /// Renders everything in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let routes: Vec<(String, Arc<RouteMetrics>)> = {
            let routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
            routes.iter().map(|(k, v)| (labels(k), v.clone())).collect()
        };
        let mut out = String::with_capacity(256 + routes.len() * 2048);
        let counters: [Counter<RouteMetrics>; 7] = [
            ("Count", "Requests received", |m| &m.count),
            ("4XXError", "Requests answered with a 4xx status", |m| {
                &m.client_errors
            }),
            ("5XXError", "Requests answered with a 5xx status", |m| {
                &m.server_errors
            }),
            (
                "CacheHitCount",
                "Requests served from the stage cache",
                |m| &m.cache_hits,
            ),
            (
                "CacheMissCount",
                "Cacheable requests the stage cache could not serve",
                |m| &m.cache_misses,
            ),
            (
                "ThrottledCount",
                "Requests refused by a throttle or a quota",
                |m| &m.throttled,
            ),
            (
                "IntegrationError",
                "Answers whose backend body failed after its head was sent",
                |m| &m.integration_errors,
            ),
        ];
        for c in counters {
            counter_family(&mut out, "gatehouse_", c, &routes);
        }
        let histograms: [HistogramDef<RouteMetrics>; 2] = [
            (
                "Latency",
                "Milliseconds from receiving a request to sending its response head",
                |m| &m.latency,
            ),
            (
                "IntegrationLatency",
                "Milliseconds from calling the integration to its response head",
                |m| &m.integration_latency,
            ),
        ];
        for h in histograms {
            histogram_family(&mut out, "gatehouse_", h, &routes);
        }
        self.render_websocket(&mut out);
        out
    }

    /// The WebSocket routes' metrics: API Gateway's WebSocket metric names after
    /// `gatehouse_websocket_`, labelled `api`, `stage`, `route`.
    fn render_websocket(&self, out: &mut String) {
        let ws: Vec<(String, Arc<WsMetrics>)> = {
            let ws = self.websocket.lock().unwrap_or_else(|p| p.into_inner());
            ws.iter()
                .map(|(k, v)| {
                    let l = label_set(&[("api", &k.api), ("stage", &k.stage), ("route", &k.route)]);
                    (l, v.clone())
                })
                .collect()
        };
        if ws.is_empty() {
            return;
        }
        let stages: Vec<(String, u64)> = {
            let stages = self
                .websocket_stages
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            stages
                .iter()
                .map(|((api, stage), m)| {
                    let l = label_set(&[("api", api), ("stage", stage)]);
                    (l, m.open_connections.load(Relaxed))
                })
                .collect()
        };
        let name = "gatehouse_websocket_OpenConnections";
        let _ = writeln!(out, "# HELP {name} WebSocket connections open now.");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (l, open) in stages {
            let _ = writeln!(out, "{name}{{{l}}} {open}");
        }
        let counters: [Counter<WsMetrics>; 5] = [
            (
                "ConnectCount",
                "Handshakes sent to the $connect route's integration",
                |m| &m.connect_count,
            ),
            ("MessageCount", "Messages from and to clients", |m| {
                &m.message_count
            }),
            (
                "IntegrationError",
                "Integration answers with a 4xx or 5xx status",
                |m| &m.integration_errors,
            ),
            (
                "ClientError",
                "Handshakes and messages refused before an integration was called",
                |m| &m.client_errors,
            ),
            (
                "ExecutionError",
                "Integrations that could not be called or failed",
                |m| &m.execution_errors,
            ),
        ];
        for c in counters {
            counter_family(out, "gatehouse_websocket_", c, &ws);
        }
        let latency: HistogramDef<WsMetrics> = (
            "IntegrationLatency",
            "Milliseconds from calling a route's integration to its answer",
            |m| &m.integration_latency,
        );
        histogram_family(out, "gatehouse_websocket_", latency, &ws);
    }
}

/// One counter family: its HELP and TYPE lines, then a series per (labels, metrics).
fn counter_family<M>(
    out: &mut String,
    prefix: &str,
    (name, help, get): Counter<M>,
    series: &[(String, Arc<M>)],
) {
    let _ = writeln!(out, "# HELP {prefix}{name} {help}.");
    let _ = writeln!(out, "# TYPE {prefix}{name} counter");
    for (l, m) in series {
        let _ = writeln!(out, "{prefix}{name}{{{l}}} {}", get(m).load(Relaxed));
    }
}

/// One histogram family: its HELP and TYPE lines, then a histogram per (labels, metrics).
fn histogram_family<M>(
    out: &mut String,
    prefix: &str,
    (name, help, get): HistogramDef<M>,
    series: &[(String, Arc<M>)],
) {
    let _ = writeln!(out, "# HELP {prefix}{name} {help}.");
    let _ = writeln!(out, "# TYPE {prefix}{name} histogram");
    for (l, m) in series {
        histogram_series(out, &format!("{prefix}{name}"), l, get(m));
    }
}

fn labels(k: &RouteKey) -> String {
    label_set(&[
        ("api", &k.api),
        ("stage", &k.stage),
        ("resource", &k.resource),
        ("method", &k.method),
    ])
}

/// `name="value",...`, values escaped as the text format wants.
fn label_set(pairs: &[(&str, &str)]) -> String {
    let mut s = String::with_capacity(64);
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(name);
        s.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => s.push_str("\\\\"),
                '"' => s.push_str("\\\""),
                '\n' => s.push_str("\\n"),
                c => s.push(c),
            }
        }
        s.push('"');
    }
    s
}

/// One histogram's series (`_bucket`, `_sum`, `_count`) for the labels `l`.
fn histogram_series(out: &mut String, name: &str, l: &str, h: &Histogram) {
    let mut cumulative = 0;
    for (i, bound) in BUCKETS_MS.iter().enumerate() {
        cumulative += h.buckets[i].load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{l},le=\"{bound}\"}} {cumulative}");
    }
    let count = h.count.load(Relaxed);
    let _ = writeln!(out, "{name}_bucket{{{l},le=\"+Inf\"}} {count}");
    let sum_ms = h.sum_us.load(Relaxed) as f64 / 1000.0;
    let _ = writeln!(out, "{name}_sum{{{l}}} {sum_ms}");
    let _ = writeln!(out, "{name}_count{{{l}}} {count}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> RouteKey {
        RouteKey {
            api: "pets".into(),
            stage: "prod".into(),
            resource: "/pets/{id}".into(),
            method: "GET".into(),
        }
    }

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let reg = Registry::default();
        let m = reg.route(key());
        m.record(
            200,
            false,
            Duration::from_micros(1500),
            Some(Duration::from_millis(1)),
        );
        m.record(429, true, Duration::from_millis(40), None);
        m.record(502, false, Duration::from_secs(60), None);
        let text = reg.render();
        let l = r#"api="pets",stage="prod",resource="/pets/{id}",method="GET""#;
        assert!(
            text.contains(&format!("gatehouse_Count{{{l}}} 3\n")),
            "{text}"
        );
        assert!(text.contains(&format!("gatehouse_4XXError{{{l}}} 1\n")));
        assert!(text.contains(&format!("gatehouse_5XXError{{{l}}} 1\n")));
        assert!(text.contains(&format!("gatehouse_ThrottledCount{{{l}}} 1\n")));
        assert!(text.contains("# TYPE gatehouse_ThrottledCount counter\n"));
        assert!(text.contains("# TYPE gatehouse_Latency histogram\n"));
        assert!(text.contains(&format!("gatehouse_Latency_bucket{{{l},le=\"1\"}} 0\n")));
        assert!(text.contains(&format!("gatehouse_Latency_bucket{{{l},le=\"2\"}} 1\n")));
        assert!(text.contains(&format!("gatehouse_Latency_bucket{{{l},le=\"50\"}} 2\n")));
        assert!(text.contains(&format!("gatehouse_Latency_bucket{{{l},le=\"30000\"}} 2\n")));
        assert!(text.contains(&format!("gatehouse_Latency_bucket{{{l},le=\"+Inf\"}} 3\n")));
        assert!(text.contains(&format!("gatehouse_IntegrationLatency_count{{{l}}} 1\n")));
    }

    #[test]
    fn open_connections_is_a_gauge_that_follows_its_guards() {
        let reg = Registry::default();
        let key = WsKey {
            api: "chat".into(),
            stage: "prod".into(),
            route: "$connect".into(),
        };
        let _route = reg.websocket(key);
        let stage = reg.websocket_stage("chat", "prod");
        let (a, b) = (stage.open(), stage.open());
        let series = "gatehouse_websocket_OpenConnections{api=\"chat\",stage=\"prod\"}";
        let text = reg.render();
        assert!(text.contains("# TYPE gatehouse_websocket_OpenConnections gauge\n"));
        assert!(text.contains(&format!("{series} 2\n")), "{text}");
        drop(a);
        assert!(reg.render().contains(&format!("{series} 1\n")));
        drop((b, stage));
        reg.prune();
        assert!(!reg.render().contains(series));
    }

    #[test]
    fn the_same_key_shares_metrics_and_prune_drops_unused_ones() {
        let reg = Registry::default();
        let a = reg.route(key());
        let b = reg.route(key());
        assert!(Arc::ptr_eq(&a, &b));
        drop((a, b));
        reg.prune();
        assert!(!reg.render().contains("gatehouse_Count{"));
    }
}
