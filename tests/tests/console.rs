//! The admin console in a real browser: headless Chromium, driven through chromedriver
//! (WebDriver) by fantoccini, against the real binary with a mock, an HTTP backend, a plugin,
//! an API key and a usage plan, after some traffic. The test logs in, walks every page,
//! creates a key and disables it, runs a test invoke, logs in again with the read-only token,
//! reads the usage report of a key it sent requests with, rolls back to the first deployment
//! after a second config load, and saves a screenshot of each page (PNG) in
//! `console-screenshots/` under the target directory; it prints where.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use fantoccini::{Client, ClientBuilder, Locator};
use gatehouse_e2e::{http1_client, plugin_path, Backend, Gateway, BASE};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ADMIN: &str = "console-admin-token-0123";
const VIEWER: &str = "console-viewer-token-0123";
const PARTNER: &str = "partner-key-0123456789abcdef";
/// A key only the usage step sends requests with, [`METERED`] of them.
const METER: &str = "meter-key-0123456789abcdef";
const METERED: u64 = 7;
/// How long the page may take to show something (a debug build on a busy 2-core machine).
const PATIENCE: Duration = Duration::from_secs(30);

/// The gateway's config; `health` is the body of `GET /health`, which tells two deployments apart.
fn config(backend: &str, hello: &Path, health: &str) -> String {
    format!(
        r#"{BASE}admin:
  address: 127.0.0.1:0
  token: {ADMIN}
  read_only_token: {VIEWER}
plugins:
  hello: {{ path: {hello} }}
usage_plans:
  gold:
    stages: [shop/prod]
    throttle: {{ rate: 100, burst: 50 }}
    quota: {{ limit: 10000, period: DAY }}
api_keys:
  partner: {{ value: {PARTNER}, plans: [gold] }}
  meter: {{ value: {METER}, plans: [gold] }}
apis:
  - name: shop
    stages:
      prod:
        variables: {{ backend: "{backend}" }}
        cache: {{ ttl: 60s }}
    resources:
      /health:
        GET:
          integration: {{ type: mock, body: {health} }}
      /orders/{{id}}:
        GET:
          api_key_required: true
          integration: {{ type: http_proxy, uri: "http://${{stageVariables.backend}}/orders/{{id}}" }}
      /catalog:
        GET:
          cache: {{ ttl: 60s }}
          integration: {{ type: http_proxy, uri: "http://${{stageVariables.backend}}/catalog" }}
      /hello:
        GET:
          integration: {{ type: wasm, plugin: hello }}
  - name: beta
    stages:
      live:
        canary: {{ percent: 12.5 }}
    resources:
      /ping:
        GET:
          integration: {{ type: mock, body: pong }}
"#,
        hello = hello.display()
    )
}

/// chromedriver on a free loopback port; killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn need(path: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: the console's browser test needs Debian's chromium and \
         chromium-driver; run scripts/setup.sh"
    );
}

async fn start_driver() -> Driver {
    need("/usr/bin/chromium");
    need("/usr/bin/chromedriver");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("/usr/bin/chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver (run scripts/setup.sh)");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let c = http1_client();
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(r) = c.get(format!("{}/status", driver.url)).send().await {
            if r.status() == 200 {
                return driver;
            }
        }
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn browser(driver: &Driver) -> Client {
    // The Debian wrapper (/usr/bin/chromium) runs this binary.
    let binary = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": binary,
            "args": ["--headless=new", "--no-sandbox", "--window-size=1280,900",
                     "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("start headless chromium through chromedriver")
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| gatehouse_e2e::repo_root().join("target"));
    let dir = target.join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shoot(b: &Client, dir: &Path, name: &str) {
    let png = b.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a screenshot is a PNG");
    let path = dir.join(name);
    std::fs::write(&path, png).unwrap();
    println!("screenshot: {}", path.display());
}

/// Waits (bounded) until the text of `css` satisfies `ok`; returns it.
async fn wait_text(b: &Client, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + PATIENCE;
    let mut last = String::new();
    loop {
        if let Ok(e) = b.find(Locator::Css(css)).await {
            if let Ok(t) = e.text().await {
                if ok(&t) {
                    return t;
                }
                last = t;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what}: `{css}` never showed it; last text: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

async fn click(b: &Client, css: &str) {
    b.wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no `{css}`: {e}"))
        .click()
        .await
        .unwrap();
}

async fn type_into(b: &Client, css: &str, text: &str) {
    let e = b.find(Locator::Css(css)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

/// Scrolls the page so that `css` is at the `block` edge of the window (`start`, `end`).
async fn scroll_to(b: &Client, css: &str, block: &str) {
    b.execute(
        "document.querySelector(arguments[0]).scrollIntoView({ block: arguments[1] })",
        vec![css.into(), block.into()],
    )
    .await
    .unwrap();
}

async fn log_in(b: &Client, admin: &str, token: &str) {
    b.goto(&format!("{admin}/console")).await.unwrap();
    b.wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css("#token"))
        .await
        .unwrap();
    // By keyboard: the token, then Enter submits the form.
    type_into(b, "#token", &format!("{token}\u{E007}")).await;
    wait_text(b, "#access", "the access badge after login", |t| {
        !t.is_empty()
    })
    .await;
}

/// Some traffic of every kind the console charts: mocks, backend calls, a cache hit, a plugin,
/// refusals (403 without a key, 404).
async fn traffic(public: &str) {
    let c = http1_client();
    for i in 0..10 {
        let get = |p: String| c.get(format!("{public}{p}"));
        assert_eq!(
            get("/prod/health".into()).send().await.unwrap().status(),
            200
        );
        let r = get(format!("/prod/orders/{i}"))
            .header("x-api-key", PARTNER)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            get("/prod/orders/1".into()).send().await.unwrap().status(),
            403
        );
        assert_eq!(
            get("/prod/catalog".into()).send().await.unwrap().status(),
            200
        );
        assert_eq!(
            get("/prod/hello".into()).send().await.unwrap().status(),
            200
        );
        let nowhere = get("/prod/nowhere".into()).send().await.unwrap().status();
        assert!(nowhere.is_client_error(), "{nowhere}");
    }
}

/// `GET /apikeys` with `token`, which must be allowed to list.
async fn admin_keys(admin: &str, token: &str) -> Vec<serde_json::Value> {
    let r = http1_client()
        .get(format!("{admin}/apikeys"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: serde_json::Value = r.json().await.unwrap();
    doc["items"].as_array().unwrap().clone()
}

/// `GET {admin}{path}` with the full token; the JSON it answers with status 200.
async fn admin_get(admin: &str, path: &str) -> serde_json::Value {
    let r = http1_client()
        .get(format!("{admin}{path}"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.unwrap()
}

/// `n` with a comma between each group of three digits, as the page writes numbers.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The Usage page: [`METERED`] requests with the meter key show as its count for today, with
/// the quota it leaves; the stage's table has the same figure for today as the admin API.
async fn usage_page(b: &Client, shots: &Path, public: &str, admin: &str) {
    let c = http1_client();
    for i in 0..METERED {
        let r = c
            .get(format!("{public}/prod/orders/{i}"))
            .header("x-api-key", METER)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // Today (UTC) as the gateway counts it: a report without a range is today's.
    let report = admin_get(admin, "/usage").await;
    let today = report["end"].as_str().unwrap().to_owned();
    let gold = report["plans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["usagePlanId"] == "gold")
        .unwrap();
    let meter = gold["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "meter")
        .unwrap();
    assert_eq!(meter["days"][0]["requests"], METERED, "{meter}");

    click(b, "a[href='#usage']").await;
    let cell = format!("table[data-plan='gold'] td[data-cell='meter/{today}']");
    let shown = wait_text(b, &cell, "the meter key's requests today", |t| {
        !t.is_empty()
    })
    .await;
    assert_eq!(shown, METERED.to_string(), "the requests the test sent");
    let left = wait_text(
        b,
        "table[data-plan='gold'] td[data-cell='meter/left']",
        "quota left",
        |t| !t.is_empty(),
    )
    .await;
    assert_eq!(left, grouped(10_000 - METERED));
    let plans = wait_text(b, "#usage-plans", "the plans", |t| t.contains("Left today")).await;
    assert!(plans.contains("gold: quota 10,000 per day"), "{plans}");
    // The stage's row for today, as the admin API counts it (no traffic since the page read).
    let stages = wait_text(b, "#usage-stages", "the stage table", |t| {
        t.contains("shop / prod")
    })
    .await;
    let report = admin_get(admin, "/usage").await;
    let prod = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["api"] == "shop" && s["stage"] == "prod")
        .unwrap();
    let requests = prod["days"][0]["requests"].as_u64().unwrap();
    assert!(requests >= METERED, "{prod}");
    let row = stages
        .lines()
        .find(|l| l.starts_with(&today))
        .unwrap_or_else(|| panic!("no row for {today}: {stages}"));
    assert_eq!(
        row.split_whitespace().nth(1),
        Some(grouped(requests).as_str()),
        "today's row {row:?}, the admin API counts {requests}"
    );
    assert!(stages.contains("Total"), "{stages}");
    scroll_to(b, "#usage-plans", "end").await;
    shoot(b, shots, "09-usage.png").await;

    b.set_window_size(390, 844).await.unwrap();
    wait_text(b, &cell, "the usage on a phone", |t| !t.is_empty()).await;
    scroll_to(b, "#usage-plans", "end").await;
    shoot(b, shots, "11-phone-usage.png").await;
    b.set_window_size(1280, 900).await.unwrap();
}

/// Waits (bounded) until `GET /prod/health` answers `want`.
async fn wait_health(public: &str, want: &str) {
    let c = http1_client();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let got = c
            .get(format!("{public}/prod/health"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "health is `{got}`, not `{want}`");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The Deployments page: a second config (`v2`) loads from the file; the page views the first
/// deployment's config and rolls back to it; the admin API and the data plane agree.
async fn deployments_page(b: &Client, shots: &Path, gw: &Gateway, v2: &str) {
    let (public, admin) = (gw.url("public"), gw.admin_url());
    gw.rewrite_config(v2);
    wait_health(&public, "ok-v2").await;
    let list = admin_get(&admin, "/deployments").await;
    let items = list["items"].as_array().unwrap();
    let first = items.last().unwrap()["id"].as_str().unwrap().to_owned();
    assert_eq!(items.last().unwrap()["source"], "start", "{list}");
    let before = list["current"].as_str().unwrap().to_owned();
    assert_ne!(first, before);

    click(b, "a[href='#deployments']").await;
    wait_text(b, "#deployments-body", "the deployment list", |t| {
        t.lines()
            .any(|l| l.contains(&before) && l.contains("current"))
    })
    .await;
    click(
        b,
        &format!("button[aria-label='View the config of deployment {first}']"),
    )
    .await;
    let text = wait_text(b, "#deployment-text", "the first config's text", |t| {
        t.contains("meter")
    })
    .await;
    assert!(text.contains("type: mock, body: ok }"), "{text}");
    assert!(!text.contains("ok-v2"), "{text}");

    click(
        b,
        &format!("button[aria-label='Roll back to deployment {first}']"),
    )
    .await;
    let ask = wait_text(b, "#rollback-ask", "the confirmation", |t| {
        t.contains("Roll back?")
    })
    .await;
    assert!(ask.contains(&first), "{ask}");
    click(b, "#rollback-confirm").await;
    let said = wait_text(b, "#status", "the rollback", |t| t.contains("Rolled back")).await;

    let list = admin_get(&admin, "/deployments").await;
    let now = list["current"].as_str().unwrap().to_owned();
    assert!(said.contains(&now), "{said}");
    let newest = &list["items"][0];
    assert_eq!(newest["id"], now.as_str(), "{list}");
    assert_eq!(newest["source"], "rollback", "{list}");
    assert_eq!(newest["rollback_of"], first.as_str(), "{list}");
    wait_health(&public, "ok").await;
    wait_text(b, "#deployments-body", "the new current deployment", |t| {
        t.lines().any(|l| l.contains(&now) && l.contains("current"))
    })
    .await;
    shoot(b, shots, "10-deployments.png").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_walks_every_page_in_headless_chromium() {
    let backend = Backend::start("orders").await;
    let hello = plugin_path("hello");
    let gw = Gateway::start(&config(&backend.addr.to_string(), &hello, "ok"));
    let (public, admin) = (gw.url("public"), gw.admin_url());
    traffic(&public).await;
    let shots = screenshot_dir();
    let driver = start_driver().await;
    let b = browser(&driver).await;

    // Log in; the APIs page comes from the served config.
    log_in(&b, &admin, ADMIN).await;
    let apis = wait_text(&b, "#apis-body", "the APIs page", |t| {
        t.contains("/orders/{id}")
    })
    .await;
    assert!(apis.contains("shop"), "{apis}");
    assert!(apis.contains("http_proxy (same method) http://"), "{apis}");
    assert!(
        apis.contains(&format!("{}/orders/{{id}}", backend.addr)),
        "{apis}"
    );
    assert!(apis.contains("plugin hello"), "{apis}");
    assert!(apis.contains("TTL 60s"), "{apis}");
    assert!(
        apis.contains("12.5 % of requests to live/Canary"),
        "the canary's share: {apis}"
    );
    assert_eq!(
        wait_text(&b, "#access", "badge", |t| !t.is_empty()).await,
        "full access"
    );
    shoot(&b, &shots, "01-apis.png").await;

    // Metrics: totals from /metrics, charts after a few samples (more traffic meanwhile).
    click(&b, "a[href='#metrics']").await;
    let total = wait_text(&b, "#total-requests", "the request count", |t| {
        t.replace(',', "").parse::<u64>().is_ok_and(|n| n >= 60)
    })
    .await;
    println!("requests shown: {total}");
    traffic(&public).await;
    wait_text(&b, "#charts", "charts with data", |t| {
        t.contains("Latest: requests/s") && !t.contains("waiting for two samples")
    })
    .await;
    // Three intervals at least, so that each chart draws lines.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let charts = b.find(Locator::Css("#charts")).await.unwrap();
        let points = charts
            .attr("data-points")
            .await
            .unwrap()
            .unwrap_or_default();
        if points.parse::<u32>().is_ok_and(|n| n >= 3) {
            break;
        }
        assert!(Instant::now() < deadline, "the charts never had 3 points");
        traffic(&public).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let tiles = wait_text(&b, "#totals", "the totals", |t| {
        t.contains("Cache hit ratio")
    })
    .await;
    assert!(tiles.contains("4XX errors"), "{tiles}");
    shoot(&b, &shots, "02-metrics.png").await;

    // API keys: create one in the usage plan, use it, disable it.
    click(&b, "a[href='#keys']").await;
    wait_text(&b, "#keys-body", "the key list", |t| t.contains("partner")).await;
    type_into(&b, "#key-name", "console-made").await;
    click(&b, "#plan-gold").await;
    click(&b, "#create-key button[type=submit]").await;
    let value = wait_text(&b, "#created-value", "the new key's value", |t| {
        t.len() >= 20
    })
    .await;
    let c = http1_client();
    let orders = format!("{public}/prod/orders/7");
    let with_key = c
        .get(&orders)
        .header("x-api-key", &value)
        .send()
        .await
        .unwrap();
    assert_eq!(with_key.status(), 200, "the key made in the console works");
    click(&b, "button[aria-label='Disable key console-made']").await;
    wait_text(&b, "#keys-body", "the disabled key", |t| {
        t.lines()
            .any(|l| l.contains("console-made") && l.contains("disabled"))
    })
    .await;
    let made = admin_keys(&admin, ADMIN)
        .await
        .into_iter()
        .find(|k| k["name"] == "console-made")
        .expect("the admin API lists the key made in the console");
    assert_eq!(made["enabled"], false, "{made}");
    assert_eq!(made["plans"], serde_json::json!(["gold"]));
    let deadline = Instant::now() + PATIENCE;
    loop {
        let r = c
            .get(&orders)
            .header("x-api-key", &value)
            .send()
            .await
            .unwrap();
        if r.status() == 403 {
            break;
        }
        assert!(Instant::now() < deadline, "the disabled key still works");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shoot(&b, &shots, "03-keys.png").await;

    // Plugins.
    click(&b, "a[href='#plugins']").await;
    let plugins = wait_text(&b, "#plugins-body", "the plugin list", |t| {
        t.contains("hello")
    })
    .await;
    assert!(plugins.contains("integration"), "{plugins}");
    assert!(
        plugins.contains("shop GET /hello: integration"),
        "{plugins}"
    );
    shoot(&b, &shots, "04-plugins.png").await;

    // Reloads: one refused (with its error), then a good one.
    let good = std::fs::read_to_string(&gw.config_path).unwrap();
    let broken = good.replace("type: mock, body: ok", "type: nonsense, body: ok");
    let reload = |yaml: String| {
        let (path, admin) = (gw.config_path.clone(), admin.clone());
        async move {
            std::fs::write(&path, yaml).unwrap();
            http1_client()
                .post(format!("{admin}/reload"))
                .bearer_auth(ADMIN)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(reload(broken).await, 400);
    assert_eq!(reload(good).await, 200);
    click(&b, "a[href='#reloads']").await;
    let reloads = wait_text(&b, "#reloads-body", "the reload list", |t| {
        t.contains("refused") && t.contains("nonsense")
    })
    .await;
    assert!(reloads.contains("start"), "{reloads}");
    shoot(&b, &shots, "05-reloads.png").await;

    // Test invoke: a keyed backend method; the decisions and the integration request show.
    click(&b, "a[href='#invoke']").await;
    b.find(Locator::Css("#invoke-pick"))
        .await
        .unwrap()
        .select_by_label("shop / prod: GET /orders/{id}")
        .await
        .unwrap();
    type_into(&b, "#invoke-path", "/prod/orders/42?color=red").await;
    type_into(&b, "#invoke-headers", &format!("x-api-key: {PARTNER}")).await;
    click(&b, "#invoke button[type=submit]").await;
    let status = wait_text(&b, "#invoke-status", "the test invoke", |t| !t.is_empty()).await;
    assert_eq!(status, "200");
    let result = wait_text(&b, "#invoke-result", "the decisions", |t| {
        t.contains("Stages")
    })
    .await;
    assert!(
        result.contains("API shop, stage prod, GET /orders/{id}"),
        "{result}"
    );
    assert!(result.contains("admitted"), "{result}");
    assert!(result.contains("cache miss"), "{result}");
    assert!(
        result.contains(&format!(
            "http_proxy GET http://{}/orders/42?color=red",
            backend.addr
        )),
        "{result}"
    );
    assert!(
        result.contains("x-backend: orders"),
        "the backend's answer: {result}"
    );
    shoot(&b, &shots, "06-test-invoke.png").await;

    // A phone's width.
    b.set_window_size(390, 844).await.unwrap();
    click(&b, "a[href='#metrics']").await;
    wait_text(&b, "#total-requests", "the request count on a phone", |t| {
        !t.is_empty()
    })
    .await;
    shoot(&b, &shots, "07-phone-metrics.png").await;
    b.set_window_size(1280, 900).await.unwrap();

    // The read-only token: it sees everything, changes nothing (the server refuses too).
    click(&b, "#logout").await;
    log_in(&b, &admin, VIEWER).await;
    assert_eq!(
        wait_text(&b, "#access", "badge", |t| !t.is_empty()).await,
        "read-only"
    );
    click(&b, "a[href='#keys']").await;
    wait_text(&b, "#keys-body", "the key list", |t| {
        t.contains("console-made")
    })
    .await;
    let create = b
        .find(Locator::Css("#create-key button[type=submit]"))
        .await
        .unwrap();
    assert!(!create.is_enabled().await.unwrap());
    let refused = http1_client()
        .post(format!("{admin}/apikeys"))
        .bearer_auth(VIEWER)
        .json(&serde_json::json!({ "name": "sneaky", "plans": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(!admin_keys(&admin, VIEWER).await.is_empty());
    shoot(&b, &shots, "08-read-only-keys.png").await;
    click(&b, "a[href='#deployments']").await;
    wait_text(&b, "#deployments-body", "the deployments", |t| {
        t.contains("current")
    })
    .await;
    let roll = b
        .find(Locator::Css(
            "button[aria-label^='Roll back to deployment']",
        ))
        .await
        .expect("a deployment that is not the current one");
    assert!(
        !roll.is_enabled().await.unwrap(),
        "no rollback when read-only"
    );

    click(&b, "#logout").await;
    log_in(&b, &admin, ADMIN).await;
    usage_page(&b, &shots, &public, &admin).await;
    let v2 = config(&backend.addr.to_string(), &hello, "ok-v2");
    deployments_page(&b, &shots, &gw, &v2).await;

    b.close().await.unwrap();
    println!("screenshots saved in {}", shots.display());
}
