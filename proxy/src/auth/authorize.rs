//! Authorize: runs the method's authorizer with API Gateway's rules: a Wasm plugin
//! (`plugin_auth.rs`), a JWT or Cognito user-pool authorizer (`jwt.rs`), or a Lambda authorizer
//! (`lambda_auth.rs`).
//!
//! Reads the identity sources (headers, query parameters). A missing identity source is 401
//! UNAUTHORIZED without calling anything. Plugin and Lambda decisions are cached by a SHA-256
//! of the identity source values for the authorizer's TTL (0 disables), up to
//! [`DECISION_CACHE_BYTES`] per authorizer; concurrent requests with the same identity await
//! one call (their tasks wait, no thread is parked). A policy (Lambda authorizers, 0.2.0
//! plugins) is cached as answered and evaluated for each method (`policy.rs`), so the cached
//! policy of an identity decides its other methods. Allow records the principal and context in
//! `RequestCtx`; deny is 403 ACCESS_DENIED; a plugin failure is 500 AUTHORIZER_FAILURE. JWT
//! authorizers check every token (their keys are cached). On a recorded request a Lambda
//! authorizer's call has a client span, `authorizer`, whose `traceparent` the call carries; a
//! decision the cache gave leaves no such span. With `shared: true` (and the state in
//! Redis) a decision missing from the node's cache is looked up in Redis before the call, and
//! a new one is written there ([`shared`]).

use super::jwt::JwtAuthorizer;
use super::lambda_auth::{request_event, token_event, LambdaAuthorizer, Payload};
pub use super::policy::Outcome;
use crate::ctx::RequestCtx;
use crate::ctx::RouteInfo;
use crate::error::{Rejection, ResponseType};
use crate::integration::lambda::{event_v1, event_v2, original_names, PayloadFormat};
pub use crate::integration::lambda::{method_arn, shared_method_arn};
use crate::integration::Outbound;
use crate::plugin::Plugin;
use crate::trace::{Kind, Propagation, RequestTrace, SpanRef, Value};
use sha2::Digest as _;
use std::sync::Arc;
use std::time::Duration;

pub use crate::ctx::IdentitySource;

pub mod shared;

/// What decides for an authorizer.
#[derive(Debug)]
pub enum Decider {
    Plugin(Arc<Plugin>),
    Jwt(JwtAuthorizer),
    Lambda(LambdaAuthorizer),
}

/// An API's authorizer: what decides, its identity sources and its decision cache.
#[derive(Debug)]
pub struct AuthorizerBinding {
    pub name: String,
    pub decider: Decider,
    pub sources: Vec<IdentitySource>,
    /// Plugin and Lambda TOKEN authorizers: what the first identity source's value must match,
    /// else 401 without a call.
    pub validation: Option<regex::Regex>,
    cache: Option<moka::future::Cache<[u8; 32], Decision>>,
    ttl: Duration,
    shared: Option<shared::SharedDecisions>,
}

/// A cached decision and how long it is kept: the authorizer's TTL, or what a decision read
/// from the shared tier had left.
#[derive(Debug, Clone)]
struct Decision(Arc<Outcome>, Duration);

struct DecisionTtl;

impl moka::Expiry<[u8; 32], Decision> for DecisionTtl {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Decision,
        _at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.1)
    }
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
        Outcome::Policy(answer) => answer.weight(),
    };
    (32 + 160 + context).min(u32::MAX as usize) as u32
}

impl AuthorizerBinding {
    pub fn new(
        name: String,
        decider: Decider,
        sources: Vec<IdentitySource>,
        ttl: Duration,
    ) -> Self {
        // Without identity sources there is no cache key, as in API Gateway; JWT authorizers
        // check each token (their keys are what is cached).
        let cacheable = !matches!(decider, Decider::Jwt(_));
        let cache = (cacheable && !ttl.is_zero() && !sources.is_empty()).then(|| {
            moka::future::Cache::builder()
                .max_capacity(DECISION_CACHE_BYTES)
                .weigher(|_, d: &Decision| weight(&d.0))
                .expire_after(DecisionTtl)
                .build()
        });
        Self {
            name,
            decider,
            sources,
            validation: None,
            cache,
            ttl,
            shared: None,
        }
    }

    /// Shares this authorizer's decisions through `shared` (when it caches them at all).
    pub fn with_shared(mut self, shared: shared::SharedDecisions) -> Self {
        self.shared = self.cache.is_some().then_some(shared);
        self
    }

    /// Whether its decisions are shared by every node.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// A decision from the shared tier, or `decide`'s, written to the shared tier.
    async fn tiered(
        &self,
        key: [u8; 32],
        decide: impl std::future::Future<Output = Result<Arc<Outcome>, Rejection>>,
    ) -> Result<Decision, Rejection> {
        let Some(shared) = &self.shared else {
            return Ok(Decision(decide.await?, self.ttl));
        };
        let found = shared.lookup(&key).await;
        if let Ok(Some((outcome, left))) = found {
            return Ok(Decision(outcome, left.min(self.ttl)));
        }
        let outcome = decide.await?;
        if found.is_ok() {
            shared.store(&key, &outcome, self.ttl).await;
        }
        Ok(Decision(outcome, self.ttl))
    }
}

/// What an authorizer reads of the request beside `RequestCtx`. The parts are mutable only so
/// that a plugin can be lent the headers without a copy (`plugin_auth::call`); they are the
/// same when `authorize` returns.
pub struct Call<'a> {
    pub parts: &'a mut http::request::Parts,
    /// The method's authorization scopes (JWT and Cognito authorizers).
    pub scopes: &'a [String],
    /// What Lambda authorizers and key set fetches are sent through.
    pub out: &'a dyn Outbound,
}

impl std::fmt::Debug for Call<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// Runs `binding` for the request in `ctx`.
pub async fn authorize(
    rt: &dyn RouteInfo,
    ctx: &mut RequestCtx,
    call: Call<'_>,
    binding: &AuthorizerBinding,
) -> Result<(), Rejection> {
    // The URI alone is borrowed, so that the trace can start a span below.
    let values = identity_values(binding, &call.parts.headers, ctx.uri.query())?;
    if let Decider::Jwt(jwt) = &binding.decider {
        // A JWT authorizer reads its token from the first identity source.
        let token = values.first().copied().unwrap_or("");
        // Boxed, as `decide`'s calls are.
        let auth = Box::pin(jwt.verify(call.out, token, call.scopes, epoch_secs())).await?;
        ctx.authorizer = Some(auth);
        return Ok(());
    }
    if let (Some(re), Some(token)) = (&binding.validation, values.first()) {
        if !re.is_match(token) {
            return Err(Rejection::new(
                ResponseType::Unauthorized,
                format!(
                    "the identity does not match the identity validation expression of authorizer `{}`",
                    binding.name
                ),
            ));
        }
    }
    let (span, trace) = lambda_span(&mut ctx.trace, binding);
    // Made once: the plugin or Lambda function is sent it, and the policy it answers (or the
    // decision cache keeps) is evaluated for it.
    let arn = shared_method_arn(rt, ctx);
    let cached = binding.cache.as_ref().map(|c| (c, cache_key(&values)));
    // The values borrow the headers, which the call may take for a while.
    drop(values);
    let decide = decide(rt, ctx, call, binding, &arn, trace.as_ref());
    // Put in an `Arc` only where the decision cache keeps it.
    let (kept, fresh);
    let outcome: Result<&Outcome, Rejection> = match cached {
        Some((cache, key)) => {
            let decide = async { decide.await.map(Arc::new) };
            match Box::pin(cache.try_get_with(key, binding.tiered(key, decide))).await {
                Ok(d) => {
                    kept = d.0;
                    Ok(&*kept)
                }
                Err(e) => Err((*e).clone()),
            }
        }
        None => match decide.await {
            Ok(outcome) => {
                fresh = outcome;
                Ok(&fresh)
            }
            Err(e) => Err(e),
        },
    };
    match (trace.is_some_and(|t| t.applied()), &outcome) {
        // A failed call's span stays open: it ends with the request, as an error.
        (true, Err(_)) => {}
        (true, Ok(_)) => ctx.trace.end(span),
        (false, _) => ctx.trace.discard(span),
    }
    let allowed = match outcome? {
        Outcome::Allow(auth) => Some(auth.clone()),
        Outcome::Deny => None,
        Outcome::Policy(answer) => match answer.decide(&arn) {
            Some(auth) => Some(auth),
            None => return Err(answer.denial()),
        },
    };
    match allowed {
        Some(auth) => {
            ctx.authorizer = Some(auth);
            Ok(())
        }
        None => Err(Rejection::new(
            ResponseType::AccessDenied,
            format!("authorizer `{}` denied the request", binding.name),
        )),
    }
}

/// The values of `binding`'s identity sources (most authorizers read one or two: kept in
/// place, not allocated), or 401 for the first one missing.
fn identity_values<'a>(
    binding: &AuthorizerBinding,
    headers: &'a http::HeaderMap,
    query: Option<&'a str>,
) -> Result<smallvec::SmallVec<[&'a str; 2]>, Rejection> {
    let mut values = smallvec::SmallVec::new();
    for src in &binding.sources {
        match src.value(headers, query) {
            Some(v) => values.push(v),
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
    Ok(values)
}

/// The decision cache's key: a SHA-256 of the identity values, each with its length, so the
/// cache holds 32 bytes per caller however long the values are, and no two value lists share a
/// key.
fn cache_key(values: &[&str]) -> [u8; 32] {
    let mut key = sha2::Sha256::new();
    for v in values {
        key.update((v.len() as u64).to_le_bytes());
        key.update(v.as_bytes());
    }
    key.finalize().into()
}

fn epoch_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A recorded request's span for its Lambda authorizer's call (a client span under
/// `authorize`), and the trace the call carries; dropped again when the decision cache
/// answers instead.
fn lambda_span(
    trace: &mut RequestTrace,
    binding: &AuthorizerBinding,
) -> (Option<SpanRef>, Option<Propagation>) {
    let Decider::Lambda(l) = &binding.decider else {
        return (None, None);
    };
    let span = trace.start("authorizer", Kind::Client);
    trace.attr(span, "gatehouse.authorizer", || {
        Value::Str(binding.name.clone().into())
    });
    let propagation = trace.propagation(|| l.invoke_uri.authority().map_or("", |a| a.as_str()));
    (span, propagation)
}

async fn decide(
    rt: &dyn RouteInfo,
    ctx: &RequestCtx,
    call: Call<'_>,
    binding: &AuthorizerBinding,
    arn: &Arc<str>,
    trace: Option<&Propagation>,
) -> Result<Outcome, Rejection> {
    match &binding.decider {
        Decider::Plugin(plugin) => {
            // Each arm's call is boxed: its state (a Lambda call's is several KiB) would
            // otherwise widen every authorized request's future, which is moved whole.
            Box::pin(super::plugin_auth::call(
                rt,
                ctx,
                &mut call.parts.headers,
                plugin,
                arn,
            ))
            .await
        }
        Decider::Lambda(l) => {
            Box::pin(async move {
                // Read again: `authorize` checked that each is there.
                let values = identity_values(binding, &call.parts.headers, ctx.uri.query())?;
                let event = match l.payload {
                    Payload::Token => token_event(values.first().copied().unwrap_or(""), arn),
                    Payload::Request => {
                        let headers = &call.parts.headers;
                        let proxy = match l.format {
                            PayloadFormat::V1 => {
                                let case = original_names(ctx.version, call.parts).await;
                                event_v1(rt, ctx, headers, &case, b"", false)
                            }
                            PayloadFormat::V2 => event_v2(rt, ctx, headers, b"", false),
                        };
                        let identity = values.iter().map(|v| (*v).to_owned()).collect();
                        request_event(proxy, l.format, arn, identity)
                    }
                };
                Ok(Outcome::Policy(l.call(call.out, event, trace).await?))
            })
            .await
        }
        Decider::Jwt(_) => Err(Rejection::new(
            ResponseType::AuthorizerConfigurationError,
            "a JWT authorizer has no cached decisions",
        )),
    }
}
