//! The stage cache: keys, storage, coalescing and invalidation.

use super::*;
use crate::ctx::Matched;
use std::sync::atomic::{AtomicUsize, Ordering};

fn ctx(uri: &str, params: &[(u32, u32)]) -> RequestCtx {
    let (parts, ()) = http::Request::builder()
        .uri(uri)
        .body(())
        .unwrap()
        .into_parts();
    let mut c = RequestCtx::new(&parts, "127.0.0.1".parse().unwrap(), false);
    c.matched = Some(Matched {
        api: 0,
        stage: 0,
        resource: 0,
        method: 0,
        rest_start: 5,
        params: params.iter().copied().collect(),
    });
    c
}

#[test]
fn keys_differ_by_params_and_chosen_query_and_headers_only() {
    let names: Vec<Box<str>> = vec!["id".into()];
    let kp = vec![
        IdentitySource::parse("query.color").unwrap(),
        IdentitySource::parse("header.Accept").unwrap(),
    ];
    let mut h = HeaderMap::new();
    h.insert("accept", "application/json".parse().unwrap());
    let a = cache_key(
        &ctx("/prod/pets/7?color=red&x=1", &[(11, 12)]),
        "/pets/{id}",
        &names,
        &kp,
        &h,
    );
    let b = cache_key(
        &ctx("/prod/pets/7?x=2&color=red", &[(11, 12)]),
        "/pets/{id}",
        &names,
        &kp,
        &h,
    );
    let c = cache_key(
        &ctx("/prod/pets/8?color=red", &[(11, 12)]),
        "/pets/{id}",
        &names,
        &kp,
        &h,
    );
    let d = cache_key(
        &ctx("/prod/pets/7?color=blue", &[(11, 12)]),
        "/pets/{id}",
        &names,
        &kp,
        &h,
    );
    assert_eq!(a, b, "unlisted query parameters do not split the cache");
    assert_ne!(a, c);
    assert_ne!(a, d);
    h.insert("accept", "text/html".parse().unwrap());
    let e = cache_key(
        &ctx("/prod/pets/7?color=red", &[(11, 12)]),
        "/pets/{id}",
        &names,
        &kp,
        &h,
    );
    assert_ne!(a, e);
    assert!(a.starts_with("GET /pets/{id}\u{0}id=7"));
}

fn ok(body: &'static str) -> Result<Response<Body>, Rejection> {
    Ok(Response::new(Body::full(body)))
}

#[tokio::test]
async fn second_request_hits_and_refresh_refetches() {
    let cache = StageCache::new(
        1 << 20,
        Duration::from_secs(60),
        Invalidation::Any,
        Unauthorized::Ignore,
        Some(HeaderName::from_static("x-cache")),
    );
    let calls = AtomicUsize::new(0);
    let fetch = || async {
        calls.fetch_add(1, Ordering::SeqCst);
        ok("body")
    };
    let (r, o) = cache
        .serve("k".into(), Duration::from_secs(60), false, fetch)
        .await;
    assert_eq!(o, Outcome::Miss);
    assert_eq!(r.unwrap().headers()["x-cache"], "MISS");
    let (r, o) = cache
        .serve("k".into(), Duration::from_secs(60), false, fetch)
        .await;
    assert_eq!(o, Outcome::Hit);
    let body = r.unwrap().into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "body");
    let (r, o) = cache
        .serve("k".into(), Duration::from_secs(60), true, fetch)
        .await;
    assert_eq!((r.is_ok(), o), (true, Outcome::Miss));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn errors_are_not_stored() {
    let cache = StageCache::new(
        1 << 20,
        Duration::from_secs(60),
        Invalidation::None,
        Unauthorized::Ignore,
        None,
    );
    let calls = AtomicUsize::new(0);
    let fetch = || async {
        calls.fetch_add(1, Ordering::SeqCst);
        let mut r = Response::new(Body::full("nope"));
        *r.status_mut() = StatusCode::NOT_FOUND;
        Ok(r)
    };
    for _ in 0..2 {
        let (r, _) = cache
            .serve("k".into(), Duration::from_secs(60), false, fetch)
            .await;
        assert_eq!(r.unwrap().status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_share_one_fetch() {
    let cache = Arc::new(StageCache::new(
        1 << 20,
        Duration::from_secs(60),
        Invalidation::None,
        Unauthorized::Ignore,
        None,
    ));
    let calls = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (cache, calls) = (cache.clone(), calls.clone());
        tasks.push(tokio::spawn(async move {
            let (r, _) = cache
                .serve("k".into(), Duration::from_secs(60), false, || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    ok("shared")
                })
                .await;
            r.unwrap().into_body().collect().await.unwrap().to_bytes()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), "shared");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
