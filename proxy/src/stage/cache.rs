//! Cache: API Gateway's stage cache, in memory (moka), weighed in bytes.
//!
//! Reads the method's cache settings and the request's key parameters. A hit answers without
//! touching the integration. Concurrent misses for one key wait for a single fetch; only
//! successful responses of at most `max_entry_bytes` are stored, each with its method's TTL.
//! `Cache-Control: max-age=0` from a client refreshes the entry only when the stage's
//! invalidation policy allows that caller; otherwise it is ignored, or rejected with 403
//! when the stage says so. The key is built by [`cache_key`] alone. With a shared tier
//! ([`shared`]), a miss in memory looks in Redis before the integration is called, and a fill
//! is written there too.

use crate::body::Body;
use crate::ctx::IdentitySource;
use crate::ctx::RequestCtx;
use crate::error::{Rejection, ResponseType};
use bytes::{Bytes, BytesMut};
use gatehouse_config::raw::{RawMethodCache, RawStageCache};
use gatehouse_config::{duration, Errors};
use http::header::{HeaderMap, HeaderName, HeaderValue, CACHE_CONTROL};
use http::{Response, StatusCode};
use http_body::Body as _;
use http_body_util::BodyExt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub mod shared;

/// Who may refresh an entry with `Cache-Control: max-age=0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalidation {
    /// Nobody: the header is ignored (or refused, see [`Unauthorized`]).
    None,
    /// Any client.
    Any,
    /// Requests allowed by an authorizer or carrying a valid API key.
    Authorized,
}

/// What happens to a refresh request the policy does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unauthorized {
    /// Serve as if the header were absent (API Gateway's `SUCCEED_WITHOUT_RESPONSE_HEADER`).
    Ignore,
    /// 403 (API Gateway's `FAIL_WITH_403`).
    Fail,
}

/// HIT or MISS, for the status header and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Hit,
    Miss,
}

/// A response as stored.
#[derive(Debug)]
pub struct Cached {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub ttl: Duration,
    /// Read from the shared tier (another node made it): a hit for the integration.
    pub shared: bool,
}

impl Cached {
    fn response(&self) -> Response<Body> {
        let mut r = Response::new(Body::full(self.body.clone()));
        *r.status_mut() = self.status;
        *r.headers_mut() = self.headers.clone();
        r
    }
}

struct PerEntryTtl;

impl moka::Expiry<String, Arc<Cached>> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Arc<Cached>,
        _at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// One stage's cache.
pub struct StageCache {
    entries: moka::future::Cache<String, Arc<Cached>>,
    pub default_ttl: Duration,
    pub invalidation: Invalidation,
    pub unauthorized: Unauthorized,
    pub status_header: Option<HeaderName>,
    pub max_entry_bytes: usize,
    shared: Option<shared::SharedTier>,
}

impl std::fmt::Debug for StageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageCache")
            .field("default_ttl", &self.default_ttl)
            .field("entries", &self.entries.entry_count())
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

/// A method's cache settings.
#[derive(Debug, Clone)]
pub struct MethodCache {
    /// Overrides the stage's TTL.
    pub ttl: Option<Duration>,
    pub key_params: Vec<IdentitySource>,
    /// Cache every method, not only GET (set by `enabled: true` on the method).
    pub all_methods: bool,
}

enum Uncached {
    /// The fetch was rejected: every waiter answers the same.
    Rejected(Rejection),
    /// The response cannot be stored: waiters fetch for themselves.
    NotStored,
}

impl StageCache {
    pub fn new(
        capacity_bytes: u64,
        default_ttl: Duration,
        invalidation: Invalidation,
        unauthorized: Unauthorized,
        status_header: Option<HeaderName>,
    ) -> Self {
        let entries = moka::future::Cache::builder()
            .max_capacity(capacity_bytes)
            .weigher(|k: &String, v: &Arc<Cached>| {
                let headers: usize = v
                    .headers
                    .iter()
                    .map(|(n, v)| n.as_str().len() + v.len() + 32)
                    .sum();
                (k.len() + v.body.len() + headers + 64).min(u32::MAX as usize) as u32
            })
            .expire_after(PerEntryTtl)
            .build();
        Self {
            entries,
            default_ttl,
            invalidation,
            unauthorized,
            status_header,
            max_entry_bytes: (capacity_bytes / 8).clamp(1, 1 << 20) as usize,
            shared: None,
        }
    }

    /// This cache with a shared tier behind it.
    pub fn with_shared(mut self, tier: shared::SharedTier) -> Self {
        self.shared = Some(tier);
        self
    }

    /// Drops every entry (admin flush); with a shared tier, on every node: fails when Redis
    /// does not take the flush (this node's entries are dropped all the same).
    pub async fn flush(&self) -> Result<(), gatehouse_state::StoreError> {
        let shared = match &self.shared {
            Some(tier) => tier.flush().await,
            None => Ok(()),
        };
        self.entries.invalidate_all();
        shared
    }

    pub fn entry_count(&self) -> u64 {
        self.entries.entry_count()
    }

    /// Whether the client asked for a fresh response, and whether that is allowed.
    pub fn refresh_requested(
        &self,
        ctx: &RequestCtx,
        headers: &HeaderMap,
        api_key: bool,
    ) -> Result<bool, Rejection> {
        let asked = headers
            .get_all(CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|d| d.trim().eq_ignore_ascii_case("max-age=0"));
        if !asked {
            return Ok(false);
        }
        let allowed = match self.invalidation {
            Invalidation::None => false,
            Invalidation::Any => true,
            Invalidation::Authorized => ctx.authorizer.is_some() || api_key,
        };
        match (allowed, self.unauthorized) {
            (true, _) => Ok(true),
            (false, Unauthorized::Ignore) => Ok(false),
            (false, Unauthorized::Fail) => Err(Rejection::new(
                ResponseType::AccessDenied,
                "cache invalidation by this caller is not allowed",
            )),
        }
    }

    /// Answers from the cache, or runs `fetch` once for all concurrent requests of `key`.
    pub async fn serve<F, Fut>(
        &self,
        key: String,
        ttl: Duration,
        refresh: bool,
        fetch: F,
    ) -> (Result<Response<Body>, Rejection>, Outcome)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Response<Body>, Rejection>>,
    {
        let shared = self.shared.as_ref();
        if shared.is_some_and(shared::SharedTier::flushed) {
            self.entries.invalidate_all();
        }
        if refresh {
            self.entries.invalidate(&key).await;
        } else if let Some(hit) = self.entries.get(&key).await {
            return (Ok(self.mark(hit.response(), Outcome::Hit)), Outcome::Hit);
        }
        let mut fetch = Some(fetch);
        let mut own: Option<Response<Body>> = None;
        let max = self.max_entry_bytes;
        let shared_key = shared.map(|_| key.clone());
        let result = self
            .entries
            .try_get_with(key, async {
                let Some(fetch) = fetch.take() else {
                    return Err(Uncached::NotStored);
                };
                // The shared tier answers unless the client asked for a fresh response; a
                // fill is written under the generation it answered (none when it failed).
                let mut fill = None;
                if let (Some(tier), Some(k)) = (shared, &shared_key) {
                    match tier.lookup(k).await {
                        Some((Some(entry), _)) if !refresh => return Ok(Arc::new(entry)),
                        Some((_, generation)) => fill = Some((tier, k, generation)),
                        None => {}
                    }
                }
                match fetch().await {
                    Err(rejection) => Err(Uncached::Rejected(rejection)),
                    Ok(resp) if !resp.status().is_success() => {
                        own = Some(resp);
                        Err(Uncached::NotStored)
                    }
                    Ok(resp) => match buffer(resp, max).await {
                        Ok((status, headers, body)) => {
                            let entry = Cached {
                                status,
                                headers,
                                body,
                                ttl,
                                shared: false,
                            };
                            if let Some((tier, k, generation)) = fill {
                                tier.store(k, generation, &entry, max).await;
                            }
                            Ok(Arc::new(entry))
                        }
                        Err(resp) => {
                            own = Some(resp);
                            Err(Uncached::NotStored)
                        }
                    },
                }
            })
            .await;
        let response = match result {
            // From the shared tier: a hit, for the leader and the waiters it served.
            Ok(entry) if entry.shared => {
                return (Ok(self.mark(entry.response(), Outcome::Hit)), Outcome::Hit);
            }
            // The leader and the waiters it served: a miss for the integration either way.
            Ok(entry) => Ok(entry.response()),
            Err(e) => match (&*e, own, fetch) {
                (Uncached::Rejected(r), _, _) => Err(r.clone()),
                (Uncached::NotStored, Some(resp), _) => Ok(resp),
                (Uncached::NotStored, None, Some(fetch)) => fetch().await,
                (Uncached::NotStored, None, None) => Err(Rejection::new(
                    ResponseType::IntegrationFailure,
                    "the response could not be read for the cache",
                )
                .with_status(StatusCode::BAD_GATEWAY)),
            },
        };
        (response.map(|r| self.mark(r, Outcome::Miss)), Outcome::Miss)
    }

    fn mark(&self, mut resp: Response<Body>, outcome: Outcome) -> Response<Body> {
        if let Some(h) = &self.status_header {
            let v = match outcome {
                Outcome::Hit => "HIT",
                Outcome::Miss => "MISS",
            };
            resp.headers_mut()
                .insert(h.clone(), HeaderValue::from_static(v));
        }
        resp
    }
}

/// Reads a response into memory when it fits in `max` bytes; otherwise gives back a
/// response that streams what was read and the rest.
async fn buffer(
    resp: Response<Body>,
    max: usize,
) -> Result<(StatusCode, HeaderMap, Bytes), Response<Body>> {
    let too_big = resp.body().size_hint().lower() > max as u64;
    if too_big {
        return Err(resp);
    }
    let (parts, mut body) = resp.into_parts();
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Ok(data) = f.into_data() {
                    buf.extend_from_slice(&data);
                    if buf.len() > max {
                        let prefix = Body::full(buf.freeze());
                        return Err(Response::from_parts(parts, chain(prefix, body)));
                    }
                }
            }
            Err(_) => {
                let mut r = Response::new(Body::Empty);
                *r.status_mut() = StatusCode::BAD_GATEWAY;
                return Err(r);
            }
        }
    }
    Ok((parts.status, parts.headers, buf.freeze()))
}

fn chain(first: Body, rest: Body) -> Body {
    Body::Chain(Box::new((first, rest)))
}

/// The cache key: method, resource path, path parameters and the configured key
/// parameters. Two requests share an entry exactly when all of these are equal.
pub fn cache_key(
    ctx: &RequestCtx,
    resource_path: &str,
    param_names: &[Box<str>],
    key_params: &[IdentitySource],
    headers: &HeaderMap,
) -> String {
    let mut k = String::with_capacity(64);
    k.push_str(ctx.method.as_str());
    k.push(' ');
    k.push_str(resource_path);
    for (i, name) in param_names.iter().enumerate() {
        k.push('\u{0}');
        k.push_str(name);
        k.push('=');
        k.push_str(ctx.param_raw(i).unwrap_or(""));
    }
    for p in key_params {
        k.push('\u{0}');
        match p {
            IdentitySource::Header(h) => {
                k.push_str("h:");
                k.push_str(h.as_str());
                k.push('=');
                for (i, v) in headers.get_all(h).iter().enumerate() {
                    if i > 0 {
                        k.push(',');
                    }
                    k.push_str(&crate::ctx::utf8_text(v.as_bytes()));
                }
            }
            IdentitySource::Query(q) => {
                k.push_str("q:");
                k.push_str(q);
                k.push('=');
                let values = ctx
                    .query()
                    .unwrap_or("")
                    .split('&')
                    .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
                    .filter(|(name, _)| name == q)
                    .map(|(_, v)| v);
                for (i, v) in values.enumerate() {
                    if i > 0 {
                        k.push(',');
                    }
                    k.push_str(v);
                }
            }
        }
    }
    k
}

/// A stage's cache; `shared` is its space in the shared tier, when it asks for one
/// (`shared: true`) and the state is in Redis.
pub fn compile_stage(
    c: &RawStageCache,
    shared: Option<shared::SharedTier>,
    e: &mut Errors,
) -> Arc<StageCache> {
    let mb = c.capacity_mb.unwrap_or(64);
    if !(1..=1_048_576).contains(&mb) {
        e.push_at(
            "capacity_mb",
            format!("expected 1..=1048576 megabytes, found {mb}"),
        );
    }
    let ttl = duration(e, "ttl", c.ttl.as_deref(), 300_000, 0, 3_600_000);
    let invalidation = e.at("invalidation", |e| {
        let allow = match c.invalidation.allow.as_deref() {
            None | Some("none") => Invalidation::None,
            Some("any") => Invalidation::Any,
            Some("authorized") => Invalidation::Authorized,
            Some(other) => {
                e.push_at(
                    "allow",
                    format!("expected none, any or authorized, found `{other}`"),
                );
                Invalidation::None
            }
        };
        let unauthorized = match c.invalidation.unauthorized.as_deref() {
            None | Some("ignore") => Unauthorized::Ignore,
            Some("fail") => Unauthorized::Fail,
            Some(other) => {
                e.push_at(
                    "unauthorized",
                    format!("expected ignore or fail, found `{other}`"),
                );
                Unauthorized::Ignore
            }
        };
        (allow, unauthorized)
    });
    let status_header = match c.status_header.as_deref() {
        None => Some(HeaderName::from_static("x-cache")),
        Some("") => None,
        Some(h) => HeaderName::from_bytes(h.as_bytes()).ok().or_else(|| {
            e.push_at(
                "status_header",
                format!("expected an HTTP header name, or \"\" for none, found `{h}`"),
            );
            None
        }),
    };
    let cache = StageCache::new(mb << 20, ttl, invalidation.0, invalidation.1, status_header);
    Arc::new(match shared.filter(|_| c.shared) {
        Some(tier) => cache.with_shared(tier),
        None => cache,
    })
}

pub fn compile_method(c: &RawMethodCache, e: &mut Errors) -> Option<MethodCache> {
    let ttl = c
        .ttl
        .as_deref()
        .map(|t| duration(e, "ttl", Some(t), 300_000, 0, 3_600_000));
    let key_params = e.at("key_parameters", |e| {
        c.key_parameters
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                IdentitySource::parse(p)
                    .map_err(|m| e.index(i, |e| e.push(m)))
                    .ok()
            })
            .collect()
    });
    if c.enabled == Some(false) || ttl == Some(Duration::ZERO) {
        return None;
    }
    Some(MethodCache {
        ttl,
        key_params,
        all_methods: c.enabled == Some(true),
    })
}

#[cfg(test)]
mod tests;
