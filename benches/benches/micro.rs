//! Micro-benchmarks of the request path's hot spots: routing, the cache key, one Wasm
//! plugin call (a fresh instance per call, and a reused one), the JavaScript authorizer's
//! call on a reused instance, a `wasi:http/proxy` component's call, VTL mapping templates and the
//! verification of a SigV4-signed request (IAM authorization).
//!
//! `cargo bench -p gatehouse-bench --bench micro`; the plugin benchmarks need
//! `scripts/build-plugins.sh` to have built `plugins/dist/token-authorizer.wasm`,
//! `plugins/dist/js-authorizer.wasm` and `plugins/dist/wasi-http-hello.wasm`.

use criterion::{criterion_group, criterion_main, Criterion};
use gatehouse::config::{self, CompileEnv};
use gatehouse::metrics::Registry;
use gatehouse::pipeline::authorize::IdentitySource;
use gatehouse::pipeline::cache::cache_key;
use gatehouse::pipeline::ctx::RequestCtx;
use gatehouse::pipeline::route::route;
use gatehouse::plugin::{convert, PluginHost, PluginSettings};
use gatehouse::runtime::Runtime;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A config shaped like a real API: literals, parameters, greedy paths, several methods.
const CONFIG: &str = r#"
version: 1
listeners: [{ address: "127.0.0.1:0" }]
apis:
  - name: shop
    stages: { prod: {}, beta: {} }
    resources:
      /: { GET: { integration: { type: mock } } }
      /health: { GET: { integration: { type: mock } } }
      /pets: { GET: { integration: { type: mock } }, POST: { integration: { type: mock } } }
      /pets/{id}: { ANY: { integration: { type: mock } } }
      /pets/{id}/photos: { GET: { integration: { type: mock } } }
      /pets/{id}/photos/{photoId}: { GET: { integration: { type: mock } } }
      /owners: { GET: { integration: { type: mock } } }
      /owners/{ownerId}: { GET: { integration: { type: mock } }, PUT: { integration: { type: mock } } }
      /owners/{ownerId}/pets: { GET: { integration: { type: mock } } }
      /orders: { GET: { integration: { type: mock } } }
      /orders/{orderId}: { GET: { integration: { type: mock } }, DELETE: { integration: { type: mock } } }
      /store/inventory: { GET: { integration: { type: mock } } }
      /files/{proxy+}: { GET: { integration: { type: mock } } }
      /{proxy+}: { ANY: { integration: { type: mock } } }
"#;

fn runtime(host: &PluginHost) -> Runtime {
    let metrics = Registry::default();
    let env = CompileEnv {
        metrics: &metrics,
        plugins: host,
        leases: None,
        shared_cache: None,
    };
    match config::load_str(CONFIG, Path::new("bench.yaml"), env) {
        Ok(loaded) => loaded.runtime,
        Err(e) => panic!("benchmark config: {e}"),
    }
}

fn ctx(method: &str, uri: &str) -> RequestCtx {
    let req = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "api.example.test")
        .header("accept", "application/json")
        .body(())
        .unwrap_or_default();
    let (parts, ()) = req.into_parts();
    RequestCtx::new(&parts, IpAddr::V4(Ipv4Addr::LOCALHOST), false)
}

fn host() -> PluginHost {
    match PluginHost::new(None) {
        Ok(h) => h,
        Err(e) => panic!("wasm engine: {e:#}"),
    }
}

fn routing(c: &mut Criterion) {
    let host = host();
    let rt = runtime(&host);
    let mut g = c.benchmark_group("route");
    for (name, method, uri) in [
        ("literal", "GET", "/prod/store/inventory"),
        ("two params", "GET", "/prod/pets/42/photos/7"),
        ("greedy", "GET", "/prod/files/a/b/c/d.txt"),
        ("fallback", "PATCH", "/prod/unknown/deep/path"),
    ] {
        let template = ctx(method, uri);
        g.bench_function(name, |b| {
            b.iter_batched_ref(
                || {
                    let mut c = ctx(method, uri);
                    c.request_id = template.request_id;
                    c
                },
                |c| black_box(route(&rt, c).is_ok()),
                criterion::BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn cache_keys(c: &mut Criterion) {
    let host = host();
    let rt = runtime(&host);
    let mut ctx = ctx("GET", "/prod/pets/42/photos/7?size=large&color=red&page=2");
    if route(&rt, &mut ctx).is_err() {
        panic!("benchmark request did not route");
    }
    let names: Vec<Box<str>> = vec!["id".into(), "photoId".into()];
    let params: Vec<IdentitySource> = ["query.size", "header.Accept"]
        .iter()
        .filter_map(|s| IdentitySource::parse(s).ok())
        .collect();
    let mut headers = http::HeaderMap::new();
    headers.insert("accept", http::HeaderValue::from_static("application/json"));
    c.bench_function("cache key (2 path params, 1 query, 1 header)", |b| {
        b.iter(|| {
            black_box(cache_key(
                &ctx,
                "/pets/{id}/photos/{photoId}",
                &names,
                &params,
                &headers,
            ))
        })
    });
}

/// What an authorizer benchmark calls: the plugin's file, a host to load it, the lent request
/// of a routed `GET /prod/pets/42` with one more header, and a runtime to call on.
struct AuthorizerBench {
    wasm: PathBuf,
    host: PluginHost,
    request: Arc<gatehouse::plugin::messages::RequestView>,
    exec: tokio::runtime::Runtime,
}

/// The path of `plugins/dist/FILE`; `None`, said on stderr, when the plugin is not built.
fn built_plugin(file: &str) -> Option<PathBuf> {
    let wasm = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/dist")
        .join(file);
    if !wasm.is_file() {
        eprintln!(
            "skipping a plugin benchmark: {} is missing (run scripts/build-plugins.sh)",
            wasm.display()
        );
        return None;
    }
    Some(wasm)
}

/// The setup for the 0.3.0 authorizer `plugins/dist/FILE` (which reads the request through
/// imports), the request carrying `header`; `None`, said on stderr, when the plugin is not
/// built.
fn authorizer_bench(file: &str, header: (&'static str, &'static str)) -> Option<AuthorizerBench> {
    let wasm = built_plugin(file)?;
    let host = host();
    let rt = runtime(&host);
    let mut ctx = ctx("GET", "/prod/pets/42");
    if route(&rt, &mut ctx).is_err() {
        panic!("benchmark request did not route");
    }
    let mut headers = http::HeaderMap::new();
    headers.insert(header.0, http::HeaderValue::from_static(header.1));
    let arn = gatehouse::auth::authorize::shared_method_arn(&rt, &ctx);
    let request = Arc::new(convert::lent_request(
        &rt,
        &ctx,
        convert::lent_headers(&ctx, &headers),
        bytes::Bytes::new(),
        arn,
    ));
    let exec = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(rt) => rt,
        Err(e) => panic!("tokio runtime: {e}"),
    };
    Some(AuthorizerBench {
        wasm,
        host,
        request,
        exec,
    })
}

/// What one authorizer call answers.
type Answer = Result<
    Result<
        gatehouse::plugin::bindings::policy::Decision,
        gatehouse::plugin::bindings::types::AuthorizerError,
    >,
    gatehouse::plugin::PluginFailure,
>;

impl AuthorizerBench {
    /// The plugin loaded as `name` with `settings`.
    fn load(&self, name: &str, settings: PluginSettings) -> Arc<gatehouse::plugin::Plugin> {
        match self.host.load(name, &self.wasm, settings) {
            Ok(p) => p,
            Err(e) => panic!("cannot load {}: {e}", self.wasm.display()),
        }
    }

    /// One call of `plugin` for the benchmark's request.
    fn call(&self, plugin: &gatehouse::plugin::Plugin) -> Answer {
        self.exec
            .block_on(plugin.authorize_lent("bench", self.request.clone()))
    }
}

fn plugin_call(c: &mut Criterion) {
    let Some(bench) = authorizer_bench(
        "token-authorizer.wasm",
        ("authorization", "Bearer tok-alice"),
    ) else {
        return;
    };
    let modes = [
        (
            "wasm authorizer call (instantiate + authorize)",
            gatehouse::plugin::Instances::Fresh,
        ),
        (
            "wasm authorizer call (reused instance)",
            gatehouse::plugin::Instances::Reuse {
                max_calls: None,
                max_idle: Duration::from_secs(60),
            },
        ),
    ];
    for (name, instances) in modes {
        let settings = PluginSettings {
            timeout: Duration::from_millis(50),
            fuel: None,
            memory_bytes: 16 << 20,
            config: Arc::new([("tokens".to_owned(), "tok-alice=alice".to_owned())].into()),
            env: Arc::new([]),
            instances,
            http: None,
        };
        let plugin = bench.load("tokens", settings);
        let call = || bench.call(&plugin);
        if let Err(e) = call() {
            panic!("the benchmark's authorizer call failed: {e}");
        }
        c.bench_function(name, |b| b.iter(|| black_box(matches!(call(), Ok(Ok(_))))));
    }
}

/// The JavaScript (QuickJS) authorizer's call on a reused instance: the same call as the load
/// benchmark's `js-authz` route makes, less the HTTP around it.
fn js_plugin_call(c: &mut Criterion) {
    let Some(bench) = authorizer_bench("js-authorizer.wasm", ("x-api-token", "bench")) else {
        return;
    };
    let settings = PluginSettings {
        timeout: Duration::from_secs(1),
        fuel: None,
        memory_bytes: 64 << 20,
        config: Arc::new([("token".to_owned(), "bench".to_owned())].into()),
        env: Arc::new([]),
        instances: gatehouse::plugin::Instances::Reuse {
            max_calls: None,
            max_idle: Duration::from_secs(60),
        },
        http: None,
    };
    let plugin = bench.load("js-tokens", settings);
    let call = || bench.call(&plugin);
    match call() {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => panic!("the JavaScript authorizer refused the benchmark's token: {e:?}"),
        Err(e) => panic!("the JavaScript authorizer's call failed: {e}"),
    }
    c.bench_function("js authorizer call (reused instance)", |b| {
        b.iter(|| black_box(matches!(call(), Ok(Ok(_)))))
    });
}

/// One call of the `wasi:http/proxy` component `plugins/dist/wasi-http-hello.wasm` on a
/// reused instance, its response body read to the end: the same call as the load benchmark's
/// `wasi-http` (`/hello-world`: a fixed text) and `wasi-http-json` (`/hello`: JSON of the
/// request's method, path and headers) routes make, less the HTTP and the gateway's context
/// headers around it.
fn wasi_http_call(c: &mut Criterion) {
    use http_body_util::BodyExt;
    let Some(wasm) = built_plugin("wasi-http-hello.wasm") else {
        return;
    };
    let host = host();
    let settings = PluginSettings {
        timeout: Duration::from_secs(1),
        ..PluginSettings::default()
    };
    let plugin = match host.load("wasi-hello", &wasm, settings) {
        Ok(p) => p,
        Err(e) => panic!("cannot load {}: {e}", wasm.display()),
    };
    let exec = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("tokio runtime: {e}"),
    };
    for (name, path) in [
        (
            "wasi:http call, hello world (reused instance)",
            "/hello-world",
        ),
        ("wasi:http call, hello JSON (reused instance)", "/hello"),
    ] {
        let call = || {
            exec.block_on(async {
                let req = http::Request::builder()
                    .uri(format!("http://api.example.test{path}"))
                    .header("accept", "application/json")
                    .body(http_body_util::Empty::<bytes::Bytes>::new())
                    .unwrap_or_default();
                let resp = plugin.serve_http("bench", false, req).await?;
                let body = resp.into_body().collect().await;
                Ok::<_, gatehouse::plugin::PluginFailure>(
                    body.map(|b| b.to_bytes().len()).unwrap_or(0),
                )
            })
        };
        match call() {
            Ok(n) if n > 0 => {}
            Ok(_) => panic!("the wasi:http component answered {path} with an empty body"),
            Err(e) => panic!("the wasi:http component's call failed: {e}"),
        }
        c.bench_function(name, |b| b.iter(|| black_box(call().is_ok())));
    }
}

/// The API Gateway guide's photos output mapping over its two-photo input (a `#foreach` with
/// property reads and JSON output), and a small request template using params and context.
fn vtl(c: &mut Criterion) {
    use gatehouse::vtl::{Inputs, Template};
    let photos = r#"{"photos":{"page":1,"pages":"1234","perpage":100,"total":"123398","photo":[
        {"id":"12345678901","owner":"23456789@A12","secret":"abc123d456","server":"1234","farm":1,
         "title":"Sample photo 1","ispublic":1,"isfriend":0,"isfamily":0},
        {"id":"23456789012","owner":"34567890@B23","secret":"bcd234e567","server":"2345","farm":2,
         "title":"Sample photo 2","ispublic":1,"isfriend":0,"isfamily":0}]}}"#;
    let template = Template::compile(
        r#"#set($inputRoot = $input.path('$'))
{
  "photos": [
#foreach($elem in $inputRoot.photos.photo)
    {
      "id": "$elem.id",
      "owner": "$elem.owner",
      "title": "$elem.title",
      "ispublic": $elem.ispublic,
      "isfriend": $elem.isfriend,
      "isfamily": $elem.isfamily
    }#if($foreach.hasNext),#end
#end
  ]
}"#,
    )
    .unwrap_or_else(|e| panic!("template: {e}"));
    let context = serde_json::json!({ "stage": "prod" });
    let inputs = Inputs {
        body: photos.as_bytes(),
        context: &context,
        ..Inputs::default()
    };
    c.bench_function("vtl: guide's photos output mapping (2 items)", |b| {
        b.iter(|| black_box(template.render(black_box(&inputs))))
    });
    let small = Template::compile(
        r#"{"name": "$input.params('name')", "stage": "$context.stage", "pet": $input.json('$.pet')}"#,
    )
    .unwrap_or_else(|e| panic!("template: {e}"));
    let querystring = [("name".to_owned(), "rex".to_owned())];
    let context = serde_json::json!({ "stage": "prod", "requestId": "r-1" });
    let inputs = Inputs {
        body: br#"{"pet": {"id": 7, "type": "dog"}}"#,
        querystring: &querystring,
        context: &context,
        ..Inputs::default()
    };
    c.bench_function("vtl: request template (param, context, $input.json)", |b| {
        b.iter(|| black_box(small.render(black_box(&inputs))))
    });
    c.bench_function("vtl: compile the photos template", |b| {
        b.iter(|| {
            black_box(Template::compile(black_box(
                "#set($r = $input.path('$'))#foreach($e in $r.items)\"$e.id\"#if($foreach.hasNext),#end#end",
            )))
        })
    });
}

/// One `AWS_IAM` request as botocore signs it: GET with a query, five headers of which three
/// are signed, empty body; verified against a table of 1,000 credentials.
fn sigv4(c: &mut Criterion) {
    use gatehouse::auth::sigv4::{self, Signed};
    use gatehouse::state::iam::{IamCredentials, NewCredential};
    let store = std::sync::Arc::new(gatehouse::state::MemoryStore::default());
    let creds = IamCredentials::new(store).expect("memory store");
    for i in 0..1000 {
        creds
            .create(NewCredential {
                name: format!("u{i}"),
                access_key_id: Some(format!("AKID{i:04}")),
                secret_access_key: Some(format!("secret-{i}")),
                session_token: None,
                principal: format!("arn:aws:iam::123456789012:user/u{i}"),
                allow: Vec::new(),
                enabled: true,
            })
            .expect("a valid credential");
    }
    let now = std::time::SystemTime::now();
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut headers = http::HeaderMap::new();
    headers.insert("host", http::HeaderValue::from_static("api.example.test"));
    let amz = sigv4::amz_date(secs);
    headers.insert("x-amz-date", amz.parse().expect("date header"));
    headers.insert("accept", http::HeaderValue::from_static("application/json"));
    headers.insert("user-agent", http::HeaderValue::from_static("Boto3/1.35"));
    headers.insert(
        "x-amz-content-sha256",
        http::HeaderValue::from_static(
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
    );
    let mut req = Signed {
        method: "GET",
        path: "/prod/orders/42",
        query: Some("status=open&page=2"),
        headers: &headers,
        authority: None,
        body: b"",
    };
    let auth = sigv4::authorization(
        &req,
        &["host", "x-amz-content-sha256", "x-amz-date"],
        "AKID0500",
        "secret-500",
        "us-east-1",
    )
    .expect("sign");
    let mut signed = headers.clone();
    signed.insert("authorization", auth.parse().expect("authorization header"));
    req.headers = &signed;
    let arn = "arn:aws:execute-api:us-east-1:000000000000:shop/prod/GET/orders/42";
    assert!(sigv4::verify(|id| creds.lookup(id), &req, now, arn).is_ok());
    c.bench_function(
        "sigv4: verify a signed GET (3 signed headers, query)",
        |b| {
            b.iter(|| {
                black_box(sigv4::verify(|id| creds.lookup(id), black_box(&req), now, arn).is_ok())
            })
        },
    );
}

criterion_group!(
    benches,
    routing,
    cache_keys,
    plugin_call,
    js_plugin_call,
    wasi_http_call,
    vtl,
    sigv4
);
criterion_main!(benches);
