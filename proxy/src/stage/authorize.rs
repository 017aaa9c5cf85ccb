//! Authorize: runs the method's authorizer plugin, with API Gateway's rules.
//!
//! Reads the identity sources (headers, query parameters). A missing identity source is 401
//! UNAUTHORIZED without calling the plugin. Decisions are cached by a SHA-256 of the identity
//! source values for the authorizer's TTL (0 disables), up to [`DECISION_CACHE_BYTES`] per
//! authorizer; concurrent requests with the same identity await
//! one plugin call (their tasks wait, no thread is parked). Allow records the principal and
//! context in `RequestCtx`; deny is 403 ACCESS_DENIED; a plugin failure is 500
//! AUTHORIZER_FAILURE.

use crate::ctx::RouteInfo;
use crate::ctx::{AuthContext, RequestCtx};
use crate::error::{Rejection, ResponseType};
use crate::plugin::bindings::types::AuthorizerError;
use crate::plugin::compile::{plugin_ref, Plugins};
use crate::plugin::PluginKind;
use crate::plugin::{convert, Plugin};
use gatehouse_config::raw::RawAuthorizer;
use gatehouse_config::{duration, Errors};
use http::HeaderName;
use sha2::Digest as _;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Where an authorizer reads the caller's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    Header(HeaderName),
    Query(String),
}

impl IdentitySource {
    /// Parses `header.NAME`, `query.NAME`, or API Gateway's `method.request.header.NAME` and
    /// `method.request.querystring.NAME`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s2 = s.strip_prefix("method.request.").unwrap_or(s);
        if let Some(h) = s2.strip_prefix("header.") {
            return HeaderName::from_bytes(h.as_bytes())
                .map(Self::Header)
                .map_err(|_| format!("`{h}` is not a valid header name"));
        }
        if let Some(q) = s2
            .strip_prefix("query.")
            .or_else(|| s2.strip_prefix("querystring."))
        {
            if !q.is_empty() {
                return Ok(Self::Query(q.to_owned()));
            }
        }
        Err(format!(
            "expected an identity source such as `header.Authorization` or `query.token`, found `{s}`"
        ))
    }

    pub fn value<'a>(
        &self,
        headers: &'a http::HeaderMap,
        query: Option<&'a str>,
    ) -> Option<&'a str> {
        match self {
            Self::Header(h) => headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty()),
            Self::Query(name) => query?
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| k == name)
                .map(|(_, v)| v)
                .filter(|v| !v.is_empty()),
        }
    }
}

/// What an authorizer decided, as cached.
#[derive(Debug)]
pub enum Outcome {
    Allow(Arc<AuthContext>),
    Deny,
}

/// An API's authorizer: the plugin, its identity sources and its decision cache.
#[derive(Debug)]
pub struct AuthorizerBinding {
    pub name: String,
    pub plugin: Arc<Plugin>,
    pub sources: Vec<IdentitySource>,
    cache: Option<moka::future::Cache<[u8; 32], Arc<Outcome>>>,
}

/// Bytes the decision cache of one authorizer may hold (keys, decisions and moka's own
/// bookkeeping, estimated): identity values are the caller's choice, so the cache is bounded by
/// what it holds, not by entry count.
pub const DECISION_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// What one cached decision is counted as: its key, its context, and a fixed overhead.
fn weight(outcome: &Outcome) -> u32 {
    let context = match outcome {
        Outcome::Allow(a) => {
            a.principal_id.len()
                + a.usage_identifier_key.as_ref().map_or(0, String::len)
                + a.context
                    .iter()
                    .map(|(k, v)| k.len() + v.len() + 48)
                    .sum::<usize>()
        }
        Outcome::Deny => 0,
    };
    (32 + 160 + context).min(u32::MAX as usize) as u32
}

impl AuthorizerBinding {
    pub fn new(
        name: String,
        plugin: Arc<Plugin>,
        sources: Vec<IdentitySource>,
        ttl: Duration,
    ) -> Self {
        // Without identity sources there is no cache key, as in API Gateway.
        let cache = (!ttl.is_zero() && !sources.is_empty()).then(|| {
            moka::future::Cache::builder()
                .max_capacity(DECISION_CACHE_BYTES)
                .weigher(|_, outcome: &Arc<Outcome>| weight(outcome))
                .time_to_live(ttl)
                .build()
        });
        Self {
            name,
            plugin,
            sources,
            cache,
        }
    }
}

/// Runs `binding` for the request in `ctx`.
pub async fn authorize(
    rt: &dyn RouteInfo,
    ctx: &mut RequestCtx,
    headers: &http::HeaderMap,
    binding: &AuthorizerBinding,
) -> Result<(), Rejection> {
    // The cache key is a SHA-256 of the identity values, each with its length, so the cache
    // holds 32 bytes per caller however long the values are, and no two value lists share a key.
    let mut key = sha2::Sha256::new();
    for src in &binding.sources {
        match src.value(headers, ctx.query()) {
            Some(v) => {
                key.update((v.len() as u64).to_le_bytes());
                key.update(v.as_bytes());
            }
            None => {
                return Err(Rejection::new(
                    ResponseType::Unauthorized,
                    format!(
                        "identity source {src:?} of authorizer `{}` is missing",
                        binding.name
                    ),
                ))
            }
        }
    }
    let outcome = match &binding.cache {
        Some(cache) => cache
            .try_get_with(key.finalize().into(), call(rt, ctx, headers, binding))
            .await
            .map_err(|e| (*e).clone())?,
        None => call(rt, ctx, headers, binding).await?,
    };
    match &*outcome {
        Outcome::Allow(auth) => {
            ctx.authorizer = Some(auth.clone());
            Ok(())
        }
        Outcome::Deny => Err(Rejection::new(
            ResponseType::AccessDenied,
            format!("authorizer `{}` denied the request", binding.name),
        )),
    }
}

async fn call(
    rt: &dyn RouteInfo,
    ctx: &RequestCtx,
    headers: &http::HeaderMap,
    binding: &AuthorizerBinding,
) -> Result<Arc<Outcome>, Rejection> {
    let req = convert::request(rt, ctx, headers, Vec::new());
    let mut id = uuid::Uuid::encode_buffer();
    let id = ctx.request_id.hyphenated().encode_lower(&mut id);
    let plugin = &binding.plugin;
    match plugin.authorize(id, &req).await {
        Ok(Ok(d)) if d.allow => Ok(Arc::new(Outcome::Allow(Arc::new(AuthContext {
            principal_id: d.principal_id,
            context: d.context.into_iter().map(|p| (p.name, p.value)).collect(),
            usage_identifier_key: d.usage_identifier_key,
        })))),
        Ok(Ok(_)) => Ok(Arc::new(Outcome::Deny)),
        Ok(Err(AuthorizerError::Unauthorized)) => Err(Rejection::new(
            ResponseType::Unauthorized,
            format!("authorizer plugin `{}` answered unauthorized", plugin.name),
        )),
        Ok(Err(AuthorizerError::Failed(msg))) => Err(Rejection::new(
            ResponseType::AuthorizerFailure,
            format!("authorizer plugin `{}` failed: {msg}", plugin.name),
        )),
        Err(failure) => Err(Rejection::new(
            ResponseType::AuthorizerFailure,
            format!("authorizer plugin `{}` {failure}", plugin.name),
        )),
    }
}

pub fn compile(
    raw: &indexmap::IndexMap<String, RawAuthorizer>,
    plugins: &Plugins,
    e: &mut Errors,
) -> HashMap<String, Option<Arc<AuthorizerBinding>>> {
    // `None` for an authorizer with errors of its own: methods naming it add none.
    let mut out = HashMap::with_capacity(raw.len());
    for (name, a) in raw {
        e.at(name, |e| {
            let plugin = e.at("plugin", |e| {
                plugin_ref(plugins, &a.plugin, PluginKind::Authorizer, e)
            });
            let sources: Vec<IdentitySource> = e.at("identity_sources", |e| {
                a.identity_sources
                    .iter()
                    .enumerate()
                    .filter_map(|(i, s)| {
                        IdentitySource::parse(s)
                            .map_err(|msg| e.index(i, |e| e.push(msg)))
                            .ok()
                    })
                    .collect()
            });
            let ttl = duration(e, "ttl", a.ttl.as_deref(), 300_000, 0, 3_600_000);
            let binding = plugin
                .map(|plugin| Arc::new(AuthorizerBinding::new(name.clone(), plugin, sources, ttl)));
            out.insert(name.clone(), binding);
        })
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_sources_parse_both_spellings() {
        assert_eq!(
            IdentitySource::parse("header.Authorization").unwrap(),
            IdentitySource::Header(HeaderName::from_static("authorization"))
        );
        assert_eq!(
            IdentitySource::parse("method.request.header.X-Token").unwrap(),
            IdentitySource::Header(HeaderName::from_static("x-token"))
        );
        assert_eq!(
            IdentitySource::parse("method.request.querystring.t").unwrap(),
            IdentitySource::Query("t".into())
        );
        assert!(IdentitySource::parse("cookie.x").is_err());
    }

    #[test]
    fn identity_values_come_from_headers_and_query() {
        let mut h = http::HeaderMap::new();
        h.insert("authorization", "Bearer x".parse().unwrap());
        let src = IdentitySource::parse("header.Authorization").unwrap();
        assert_eq!(src.value(&h, None), Some("Bearer x"));
        let q = IdentitySource::parse("query.token").unwrap();
        assert_eq!(q.value(&h, Some("a=1&token=abc")), Some("abc"));
        assert_eq!(q.value(&h, Some("token=")), None);
    }
}
