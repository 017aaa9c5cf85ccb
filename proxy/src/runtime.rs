//! The compiled, immutable view of a config that every request reads.
//!
//! Built by `config::compile` (each part by the module that runs it), swapped atomically on
//! reload (`config::reload`); a request holds one `Arc<Runtime>` from start to end, so a
//! reload never changes it mid-flight.

use crate::auth::authorize::AuthorizerBinding;
use crate::context_template::{ContextTemplate, Names};
use crate::ctx::{RequestCtx, RouteInfo};
pub use crate::gateway_responses::{GatewayResponses, ResponseOverride};
use crate::integration::Integration;
use crate::metrics::RouteMetrics;
use crate::plugin::Plugin;
use crate::router::{ParamSpans, ResourceTree};
use crate::stage::cache::{MethodCache, StageCache};
use crate::stage::throttle::Bucket;
use crate::state::keys::{ConfigKey, UsagePlan};
use http::{HeaderName, Method};
use std::sync::Arc;
use std::time::Duration;

/// Everything a request needs, compiled from one config file.
#[derive(Debug)]
pub struct Runtime {
    pub apis: Vec<Api>,
    /// Where APIs are served, most specific first.
    pub mounts: Vec<Mount>,
    pub request_id_header: HeaderName,
    pub access_log: Option<ContextTemplate>,
    /// Gateway responses for requests that reach no API.
    pub default_responses: GatewayResponses,
    pub max_body_bytes: u64,
    pub request_timeout: Duration,
    /// The longest a client may pause while sending its request body (then 408).
    pub client_body_timeout: Duration,
    /// Metrics of requests that match no resource.
    pub unmatched_metrics: Arc<RouteMetrics>,
    /// The account-level throttle every request passes.
    pub account_throttle: Bucket,
    /// Usage plans by name.
    pub usage_plans: std::collections::HashMap<String, Arc<UsagePlan>>,
    /// The config file's `api_keys`, imported into the state store after loading.
    pub config_keys: Vec<ConfigKey>,
    /// Whether any API is a WebSocket API (only then does routing look for one first).
    pub has_websocket_apis: bool,
    /// Whether any API has CORS settings.
    pub has_cors: bool,
    /// Whether any event names headers as the client wrote them: a Lambda payload 1.0 event
    /// (integration or REQUEST authorizer) or a WebSocket API's event. Only then do new
    /// HTTP/1.1 connections keep the names' case, which costs five allocations a request.
    pub keeps_header_case: bool,
    /// The config file's `iam.credentials`, imported into the state store after loading.
    pub config_iam: Vec<crate::auth::sigv4::Credential>,
}

/// Where an API's keys come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeySource {
    /// The `x-api-key` header.
    Header,
    /// The authorizer's usage identifier key.
    Authorizer,
}

/// One API: its stages, its resources and their methods.
#[derive(Debug)]
pub struct Api {
    pub name: Box<str>,
    pub stages: Vec<Stage>,
    pub resources: Vec<Resource>,
    pub tree: ResourceTree,
    pub responses: GatewayResponses,
    pub api_key_source: ApiKeySource,
    /// Who may call, by source IP.
    pub policy: Option<Box<crate::stage::policy::ResourcePolicy>>,
    /// CORS settings, when the API has them.
    pub cors: Option<Box<crate::stage::cors::Cors>>,
    /// Set for an API of protocol `websocket` (which has routes instead of resources).
    pub websocket: Option<Box<crate::websocket::WsApi>>,
}

impl Api {
    /// The stage whose throttles stage entry `stage` takes: a canary's is its stage's.
    pub fn limits_of(&self, stage: usize) -> usize {
        self.stages[stage].canary_of.unwrap_or(stage)
    }
}

#[derive(Debug)]
pub struct Stage {
    pub name: Box<str>,
    pub variables: Vec<(Box<str>, Box<str>)>,
    pub throttle: Option<Bucket>,
    pub cache: Option<Arc<StageCache>>,
    /// The stage's canary, when it has one.
    pub canary: Option<Canary>,
    /// For a canary: the index of the stage whose canary it is.
    pub canary_of: Option<usize>,
    /// The stage's execution log; `None` when off.
    pub execution_log: Option<crate::ctx::ExecLogSettings>,
}

/// A stage's canary: which share of requests it takes, and the stage entry (after the API's
/// own stages) that serves them with the canary's variables.
#[derive(Debug, Clone, Copy)]
pub struct Canary {
    /// Requests per million that go to the canary.
    pub per_million: u32,
    pub stage: usize,
}

impl Canary {
    /// Whether this request goes to the canary: a uniform draw per request.
    pub fn pick(&self) -> bool {
        use std::cell::Cell;
        thread_local! {
            static STATE: Cell<u64> = Cell::new({
                use std::hash::{BuildHasher, Hasher};
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_u64(0x9e37_79b9_7f4a_7c15);
                h.finish() | 1
            });
        }
        let draw = STATE.with(|s| {
            // xorshift64*
            let mut x = s.get();
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            s.set(x);
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        });
        ((draw >> 32) % 1_000_000) < u64::from(self.per_million)
    }
}

impl Stage {
    /// The name and variables, as integrations' config reads them.
    pub fn view(&self) -> crate::integration::StageView<'_> {
        crate::integration::StageView {
            name: &self.name,
            variables: &self.variables,
        }
    }

    /// The value of stage variable `name`.
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.variables
            .iter()
            .find(|(k, _)| &**k == name)
            .map(|(_, v)| &**v)
    }
}

#[derive(Debug)]
pub struct Resource {
    pub path: Box<str>,
    /// Names of `{param}`s and the `{greedy+}` in path order, matching the router's spans.
    pub param_names: Box<[Box<str>]>,
    /// Index into `methods` per [`MethodKey`].
    pub by_method: [Option<u16>; MethodKey::COUNT],
    pub methods: Vec<MethodEntry>,
}

/// A method of a resource.
#[derive(Debug)]
pub struct MethodEntry {
    pub key: MethodKey,
    pub authorizer: Option<Arc<AuthorizerBinding>>,
    /// JWT and Cognito authorizers: scopes of which a token needs one (none: any token).
    pub authorization_scopes: Box<[String]>,
    /// `AWS_IAM`: requests must be signed (SigV4) by a known principal.
    pub iam: bool,
    /// Requests need an API key of a usage plan covering the stage.
    pub api_key_required: bool,
    pub request_mapper: Option<Arc<Plugin>>,
    pub response_mapper: Option<Arc<Plugin>>,
    /// Request validation, when the method names a validator.
    pub validation: Option<Box<crate::stage::validate::Validation>>,
    /// Method-level throttle, one bucket per stage.
    pub throttle: Option<Box<[Bucket]>>,
    /// Cache settings when the method is cached (its stage must have a cache).
    pub cache: Option<MethodCache>,
    pub integration: Integration,
    /// One per stage, by stage index.
    pub metrics: Box<[Arc<RouteMetrics>]>,
}

/// Where an API stage is served.
#[derive(Debug)]
pub struct Mount {
    /// Lowercase host name; `None` serves every host.
    pub host: Option<Box<str>>,
    /// Path prefix without a trailing slash (`""` for the root).
    pub prefix: Box<str>,
    pub api: usize,
    /// `None`: the next path segment names the stage; `Some`: this stage, no stage segment.
    pub stage: Option<usize>,
}

/// The methods a resource can declare. `Any` matches every method without its own entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodKey {
    Get,
    Post,
    Put,
    Delete,
    Patch,
    Head,
    Options,
    Any,
}

impl MethodKey {
    pub const COUNT: usize = 8;
    pub const NAMES: [&'static str; Self::COUNT] = [
        "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "ANY",
    ];

    pub fn from_name(name: &str) -> Option<Self> {
        use MethodKey::*;
        Some(match name {
            "GET" => Get,
            "POST" => Post,
            "PUT" => Put,
            "DELETE" => Delete,
            "PATCH" => Patch,
            "HEAD" => Head,
            "OPTIONS" => Options,
            "ANY" => Any,
            _ => return None,
        })
    }

    /// The key of a request method; methods API Gateway has no name for are only `ANY`.
    pub fn of(m: &Method) -> Self {
        use MethodKey::*;
        match *m {
            Method::GET => Get,
            Method::POST => Post,
            Method::PUT => Put,
            Method::DELETE => Delete,
            Method::PATCH => Patch,
            Method::HEAD => Head,
            Method::OPTIONS => Options,
            _ => Any,
        }
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

impl Resource {
    /// The entry serving `method`: its own, else `ANY`.
    pub fn entry_for(&self, method: MethodKey) -> Option<usize> {
        self.by_method[method as usize]
            .or(self.by_method[MethodKey::Any as usize])
            .map(usize::from)
    }
}

impl Runtime {
    /// Finds the API stage serving `host` and `path`, returning (api, stage, rest start).
    ///
    /// When a mount's prefix matches but its stage segment does not, the API is still
    /// reported (as `Err(Some(api))`) so its gateway-response overrides apply.
    pub fn mount_for(
        &self,
        host: Option<&str>,
        path: &str,
    ) -> Result<(usize, usize, usize), Option<usize>> {
        let mut api_seen = None;
        for m in &self.mounts {
            if let Some(h) = &m.host {
                match host {
                    Some(req) if req.eq_ignore_ascii_case(h) => {}
                    _ => continue,
                }
            }
            let Some(after) = path.strip_prefix(&*m.prefix) else {
                continue;
            };
            if !(after.is_empty() || after.starts_with('/')) {
                continue;
            }
            let base_end = m.prefix.len();
            match m.stage {
                Some(stage) => return Ok((m.api, stage, base_end)),
                None => {
                    api_seen.get_or_insert(m.api);
                    let seg = after.strip_prefix('/').unwrap_or(after);
                    let seg = seg.split('/').next().unwrap_or("");
                    let stages = &self.apis[m.api].stages;
                    if let Some(stage) = stages.iter().position(|s| &*s.name == seg) {
                        return Ok((m.api, stage, base_end + 1 + seg.len()));
                    }
                }
            }
        }
        Err(api_seen)
    }

    /// Routes a request: mount, then resource and method. Fills `params`.
    pub fn route(
        &self,
        host: Option<&str>,
        path: &str,
        method: &Method,
        params: &mut ParamSpans,
    ) -> Result<(usize, usize, usize, usize, usize), Option<usize>> {
        let (api_idx, stage, rest) = self.mount_for(host, path)?;
        let api = &self.apis[api_idx];
        let key = MethodKey::of(method);
        let found = api
            .tree
            .find(path, rest, &mut |r| api.resources[r].entry_for(key), params);
        match found {
            Some((resource, entry)) => Ok((api_idx, stage, resource, entry, rest)),
            None => Err(Some(api_idx)),
        }
    }

    /// The gateway-response overrides that apply to `ctx`'s API.
    pub fn responses_for(&self, ctx: &RequestCtx) -> &GatewayResponses {
        match ctx.api {
            Some(a) => &self.apis[a].responses,
            None => &self.default_responses,
        }
    }
}

impl RouteInfo for Runtime {
    /// The matched resource's path parameter names, in path order.
    fn path_parameter_names(&self, ctx: &RequestCtx) -> &[Box<str>] {
        match &ctx.matched {
            Some(m) => &self.apis[m.api].resources[m.resource].param_names,
            None => &[],
        }
    }

    /// The matched stage's variables.
    fn stage_variables(&self, ctx: &RequestCtx) -> &[(Box<str>, Box<str>)] {
        match &ctx.matched {
            Some(m) => &self.apis[m.api].stages[m.stage].variables,
            None => &[],
        }
    }

    /// Names for `$context` templates.
    fn names(&self, ctx: &RequestCtx) -> Names<'_> {
        let api = ctx.api.map(|a| &self.apis[a]);
        Names {
            api: api.map(|a| &*a.name),
            stage: api.zip(ctx.stage).map(|(a, s)| &*a.stages[s].name),
            resource: api
                .zip(ctx.matched.as_ref())
                .map(|(a, m)| &*a.resources[m.resource].path),
        }
    }
}
