//! Equivalent configurations of the two proxies: the same routes, each doing the same work.
//!
//! | path            | Gatehouse                                   | nginx                         |
//! |-----------------|---------------------------------------------|-------------------------------|
//! | `/prod/...`     | `http_proxy` to the backend                 | `proxy_pass`, upstream keepalive |
//! | `/cached/...`   | stage `cached` with the response cache      | `proxy_cache`                 |
//! | `/prod/limited/...` | method throttle 1 rps, burst 1 (429)    | `limit_req` 1 r/s, burst 1, 429 |
//! | `/prod/authz/...` | Wasm authorizer, decision cache off       | (none)                        |
//! | `/prod/authz-cached/...` | Wasm authorizer, 300 s decision cache | (none)                   |
//! | `/prod/mapped/...` | Wasm request and response mapper         | (none)                        |
//! | `/prod/jwt/...` | JWT authorizer (RS256, keys from a file)    | (none)                        |
//! | `/prod/wasi/...` | `wasi:http/proxy` component integration   | (none)                        |
//! | `/prod/js-authz/...` | JavaScript authorizer, decision cache off | (none)                      |
//! | `/prod/py/...`  | Python integration                          | (none)                        |
//! | `/prod/mock`    | mock integration (a small JSON body)        | (none)                        |
//! | `/prod/keyed/...` | API key, usage plan throttle and quota, method throttle | (none)        |
//!
//! A second Gatehouse serves the same config with `state: {backend: redis}` (its throttles
//! leased from Redis, quota counted there), for the `redis` scenario; for `workers2`, another
//! serves it with `--workers 2` beside an nginx with `worker_processes 2`.
//! Both log nothing per request and buffer nothing on disk.

use std::net::SocketAddr;
use std::path::Path;

/// Where everything listens.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub backend: SocketAddr,
    pub gatehouse: u16,
    pub gatehouse_tls: u16,
    pub nginx: u16,
    pub nginx_tls: u16,
    pub nginx_h2: u16,
}

/// The Wasm plugins the Gatehouse-only routes use, when built.
#[derive(Debug, Clone)]
pub struct Plugins {
    pub authorizer: std::path::PathBuf,
    pub mapper: std::path::PathBuf,
    pub wasi_http: std::path::PathBuf,
    pub js_authorizer: std::path::PathBuf,
    pub py_integration: std::path::PathBuf,
}

/// The key set the JWT route verifies the benchmark's token with.
pub fn jwks() -> String {
    format!(
        "{{\"keys\": [{}]}}",
        include_str!("../../tests/testdata/jwt/rsa-a.jwk.json")
    )
}

/// Gatehouse's config; with `redis` (a `redis://` URL), on shared state.
pub fn gatehouse(
    ports: &Ports,
    dir: &Path,
    plugins: Option<&Plugins>,
    redis: Option<&str>,
) -> String {
    let state = match redis {
        Some(url) => format!("state: {{ backend: redis, url: \"{url}\" }}\n"),
        None => String::new(),
    };
    let backend = ports.backend;
    let (plugin_section, plugin_routes, plugin_authorizers) = match plugins {
        Some(p) => (
            format!(
                r#"plugins:
  tokens:
    path: {authz}
    config: {{ tokens: "{token}=alice" }}
  json-mapper:
    path: {mapper}
  wasi-hello:
    path: {wasi_http}
  js-tokens:
    path: {js}
    timeout: 1s
    config: {{ token: bench }}
  py-echo:
    path: {py}
    memory_bytes: 67108864
"#,
                js = p.js_authorizer.display(),
                py = p.py_integration.display(),
                authz = p.authorizer.display(),
                mapper = p.mapper.display(),
                wasi_http = p.wasi_http.display(),
                token = crate::load::TOKEN,
            ),
            format!(
                r#"      /authz/{{proxy+}}:
        GET:
          authorizer: uncached
          integration: {{ type: http_proxy, uri: "http://{backend}/{{proxy}}" }}
      /authz-cached/{{proxy+}}:
        GET:
          authorizer: cached
          integration: {{ type: http_proxy, uri: "http://{backend}/{{proxy}}" }}
      /mapped/{{proxy+}}:
        GET:
          request_mapper: json-mapper
          response_mapper: json-mapper
          integration: {{ type: http_proxy, uri: "http://{backend}/{{proxy}}" }}
      /wasi/{{proxy+}}:
        GET:
          integration: {{ type: wasm, plugin: wasi-hello }}
      /js-authz/{{proxy+}}:
        GET:
          authorizer: js-uncached
          integration: {{ type: http_proxy, uri: "http://{backend}/{{proxy}}" }}
      /py/{{proxy+}}:
        GET:
          integration: {{ type: wasm, plugin: py-echo }}
"#
            ),
            r#"      uncached: { plugin: tokens, identity_sources: [header.Authorization], ttl: 0s }
      cached: { plugin: tokens, identity_sources: [header.Authorization], ttl: 300s }
      js-uncached: { plugin: js-tokens, identity_sources: [header.x-api-token], ttl: 0s }
"#
            .to_owned(),
        ),
        None => (String::new(), String::new(), String::new()),
    };
    format!(
        r#"# Generated by gatehouse-bench.
version: 1
listeners:
  - name: plain
    address: 127.0.0.1:{plain}
  - name: tls
    address: 127.0.0.1:{tls}
    protocols: [http1, http2, http3]
    tls: {{ cert: {dir}/cert.pem, key: {dir}/key.pem }}
access_log: {{ destination: "off" }}
# API Gateway's account default (10,000 rps) would cap the benchmark, not measure it.
throttle: {{ rate: 10000000, burst: 10000000 }}
{state}usage_plans:
  bench:
    stages: [bench/prod]
    throttle: {{ rate: 10000000, burst: 10000000 }}
    quota: {{ limit: 1000000000, period: DAY }}
api_keys:
  bench: {{ value: {api_key}, plans: [bench] }}
{plugin_section}apis:
  - name: bench
    authorizers:
      jwt:
        type: jwt
        jwt: {{ issuer: "https://issuer.bench.invalid", audiences: [bench], jwks_file: {dir}/jwks.json }}
{plugin_authorizers}    stages:
      prod: {{}}
      cached:
        cache: {{ capacity_mb: 64, ttl: 300s, status_header: "" }}
    resources:
      /{{proxy+}}:
        ANY:
          integration: {{ type: http_proxy, uri: "http://{backend}/{{proxy}}" }}
      /limited/{{proxy+}}:
        ANY:
          throttle: {{ rate: 1, burst: 1 }}
          integration: {{ type: http_proxy, uri: "http://{backend}/{{proxy}}" }}
      /mock:
        GET:
          integration: {{ type: mock, body: '{{"message":"hello"}}' }}
      /keyed/{{proxy+}}:
        GET:
          api_key_required: true
          throttle: {{ rate: 10000000, burst: 10000000 }}
          integration: {{ type: http_proxy, uri: "http://{backend}/{{proxy}}" }}
      /jwt/{{proxy+}}:
        GET:
          authorizer: jwt
          authorization_scopes: [bench/read]
          integration: {{ type: http_proxy, uri: "http://{backend}/{{proxy}}" }}
{plugin_routes}  - name: sessions
    protocol: websocket
    stages:
      live: {{ base_path: /wsapi }}
    routes:
      $default:
        integration: {{ type: mock, body: ok }}
"#,
        plain = ports.gatehouse,
        tls = ports.gatehouse_tls,
        dir = dir.display(),
        api_key = crate::load::API_KEY,
    )
}

/// [`gatehouse`] without plugins, every request traced and exported to `sink`.
pub fn traced(ports: &Ports, dir: &Path, sink: std::net::SocketAddr) -> String {
    format!(
        "{}tracing: {{ otlp_endpoint: \"http://{sink}/v1/traces\", sample: 1, export_interval: 1s }}\n",
        gatehouse(ports, dir, None, None)
    )
}

/// nginx's config, with `workers` worker processes; the certificates are in `dir`, the pid
/// file, error log, temp and cache directories in `state`. With more than one worker each
/// has listening sockets of its own (`reuseport`), as Gatehouse's workers have.
pub fn nginx(ports: &Ports, dir: &Path, state: &Path, workers: usize) -> String {
    let d = state.display();
    let certs = dir.display();
    let reuseport = if workers > 1 { " reuseport" } else { "" };
    let proxy = r#"proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;"#;
    format!(
        r#"# Generated by gatehouse-bench.
worker_processes {workers};
worker_rlimit_nofile 19000;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 18000; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    client_max_body_size 10m;
    client_body_buffer_size 64k;
    proxy_buffers 32 64k;
    proxy_max_temp_file_size 0;
    keepalive_requests 1000000;
    upstream backend {{
        server {backend};
        keepalive 256;
        keepalive_requests 1000000;
    }}
    proxy_cache_path {d}/cache levels=1:2 keys_zone=bench:10m max_size=64m inactive=10m use_temp_path=off;
    limit_req_zone $host zone=limited:1m rate=1r/s;
    server {{
        listen 127.0.0.1:{plain}{reuseport};
        listen 127.0.0.1:{tls} ssl{reuseport};
        listen 127.0.0.1:{h2} http2{reuseport};
        ssl_certificate {certs}/cert.pem;
        ssl_certificate_key {certs}/key.pem;
        location / {{
            {proxy}
        }}
        location /prod/ws {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_read_timeout 1h;
        }}
        location /cached/ {{
            proxy_cache bench;
            proxy_cache_valid 200 300s;
            proxy_cache_lock on;
            {proxy}
        }}
        location /prod/limited/ {{
            limit_req zone=limited burst=1 nodelay;
            limit_req_status 429;
            {proxy}
        }}
    }}
}}
"#,
        backend = ports.backend,
        plain = ports.nginx,
        tls = ports.nginx_tls,
        h2 = ports.nginx_h2,
    )
}
