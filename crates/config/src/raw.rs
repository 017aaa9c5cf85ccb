//! The serde schema of `gatehouse.yaml`: what the user wrote, nothing resolved.
//!
//! Every struct denies unknown fields so a typo is an error, not a silently ignored key.
//! Semantic checks (addresses, paths, templates, ranges) are made where each part is compiled
//! into its runtime form (the `gatehouse` crate), which reports every problem with its path.

use indexmap::IndexMap;
use serde::Deserialize;
use std::path::PathBuf;

mod auth;
mod logs;
mod state;
pub use auth::*;
pub use logs::{RawExecutionLog, RawStageExecutionLog};
pub use state::{RawOnUnavailable, RawPolicies, RawSentinel, RawState};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub version: u32,
    #[serde(default)]
    pub listeners: Vec<RawListener>,
    pub admin: Option<RawAdmin>,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub shutdown: RawShutdown,
    /// Connection pools to backends.
    #[serde(default)]
    pub upstream: RawUpstream,
    pub request_id_header: Option<String>,
    #[serde(default)]
    pub access_log: RawAccessLog,
    /// Where stages' execution logs go.
    #[serde(default)]
    pub execution_log: RawExecutionLog,
    /// Account-level throttle (default: API Gateway's 10,000 rps, burst 5,000).
    pub throttle: Option<RawThrottle>,
    #[serde(default)]
    pub plugins: IndexMap<String, RawPlugin>,
    #[serde(default)]
    pub apis: Vec<RawApi>,
    /// Where keys and quota counts are kept.
    #[serde(default)]
    pub state: RawState,
    /// Usage plans by name.
    #[serde(default)]
    pub usage_plans: IndexMap<String, RawUsagePlan>,
    /// API keys by name, imported into the state store on every load.
    #[serde(default)]
    pub api_keys: IndexMap<String, RawApiKey>,
    /// IAM principals that sign requests to `AWS_IAM` methods (Signature Version 4).
    #[serde(default)]
    pub iam: RawIam,
    /// OpenTelemetry traces, exported over OTLP/HTTP; off when absent.
    pub tracing: Option<RawTracing>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTracing {
    /// The collector's OTLP/HTTP traces URL, e.g. `http://127.0.0.1:4318/v1/traces`.
    pub otlp_endpoint: String,
    /// Share of requests recorded (0 to 1, default 1) when the caller's `traceparent` does
    /// not decide.
    pub sample: Option<f64>,
    pub service_name: Option<String>,
    pub export_interval: Option<String>,
    /// Finished traces waiting for export (default 4096); more are dropped.
    pub queue: Option<u64>,
    /// `http/protobuf` (default) or `http/json`: how the posts are encoded.
    pub protocol: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIam {
    /// Principals by name.
    #[serde(default)]
    pub credentials: IndexMap<String, RawIamCredential>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIamCredential {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Requests must carry this `X-Amz-Security-Token`, when set.
    pub session_token: Option<String>,
    /// The principal's ARN, e.g. `arn:aws:iam::123456789012:user/alice`.
    pub principal: String,
    /// Method ARN patterns (`*`, `?`) it may invoke; empty: every `AWS_IAM` method.
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUsagePlan {
    /// `API/STAGE` entries.
    #[serde(default)]
    pub stages: Vec<String>,
    pub throttle: Option<RawThrottle>,
    pub quota: Option<RawQuota>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuota {
    pub limit: u64,
    pub period: String,
    #[serde(default)]
    pub offset: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApiKey {
    pub value: String,
    #[serde(default)]
    pub plans: Vec<String>,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// A Wasm component plugin. Its world (authorizer, mapper, integration, or `wasi:http/proxy`)
/// is read from it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlugin {
    pub path: PathBuf,
    pub timeout: Option<String>,
    pub memory_bytes: Option<u64>,
    pub fuel: Option<u64>,
    #[serde(default)]
    pub config: IndexMap<String, String>,
    #[serde(default)]
    pub env: IndexMap<String, String>,
    /// Warm instances kept between calls (the default), or a new one per call.
    #[serde(default)]
    pub instances: RawInstances,
    /// With `reuse`: calls an instance serves before it is replaced.
    pub max_calls: Option<u64>,
    /// With `reuse`: how long a ready instance may wait for a call (a duration).
    pub max_idle: Option<String>,
    /// Outbound HTTP granted through `wasi:http/outgoing-handler` (none when absent).
    pub http_outbound: Option<RawHttpOutbound>,
}

/// `http_outbound` of a plugin: where its `wasi:http` requests may go.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttpOutbound {
    /// Origins a request may reach: `http://host:port`, `https://host` (port 443 implied).
    pub allow: Vec<String>,
    /// Deadline of one request, connect to the end of the response head (a duration).
    pub timeout: Option<String>,
    /// Requests of this plugin in flight at once, over all its instances.
    pub max_concurrent: Option<u32>,
}

/// `instances` of a plugin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawInstances {
    #[default]
    Reuse,
    Fresh,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListener {
    pub name: Option<String>,
    pub address: String,
    pub protocols: Option<Vec<RawProtocol>>,
    pub tls: Option<RawTls>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawProtocol {
    Http1,
    Http2,
    Http3,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Mutual TLS: client certificates checked against a truststore.
    pub client_auth: Option<RawClientAuth>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClientAuth {
    /// PEM file of the CA certificates a client certificate must chain to.
    pub truststore: PathBuf,
    /// `required` (the default, as API Gateway) or `optional`.
    pub mode: Option<RawClientAuthMode>,
    /// PEM files of certificate revocation lists.
    #[serde(default)]
    pub crl: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawClientAuthMode {
    Required,
    Optional,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub address: String,
    pub token: Option<String>,
    /// A second token that may only read (`GET`, `HEAD`); needs `token`.
    pub read_only_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_body_bytes: Option<u64>,
    pub max_header_bytes: Option<u64>,
    pub max_header_count: Option<u64>,
    pub header_read_timeout: Option<String>,
    pub request_timeout: Option<String>,
    pub client_body_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub tunnel_idle_timeout: Option<String>,
    pub max_connections: Option<u64>,
    pub max_connections_per_ip: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    /// Open connections per backend (`host:port`), over all workers; no cap when absent.
    pub max_connections_per_backend: Option<u64>,
    /// Idle connections kept per backend (per worker for plain-HTTP/1.1 backends).
    pub max_idle_per_backend: Option<u64>,
    pub idle_timeout: Option<String>,
    pub connect_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawShutdown {
    pub drain_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccessLog {
    pub destination: Option<String>,
    pub format: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApi {
    pub name: String,
    pub host: Option<String>,
    pub base_path: Option<String>,
    #[serde(default)]
    pub stages: IndexMap<String, RawStage>,
    #[serde(default)]
    pub gateway_responses: IndexMap<String, RawGatewayResponse>,
    #[serde(default)]
    pub authorizers: IndexMap<String, RawAuthorizer>,
    /// Where API keys come from: HEADER (`x-api-key`, the default) or AUTHORIZER.
    pub api_key_source: Option<String>,
    #[serde(default)]
    pub resources: IndexMap<String, IndexMap<String, RawMethod>>,
    /// JSON Schema models by name, for request validation.
    #[serde(default)]
    pub models: IndexMap<String, serde_json::Value>,
    /// Request validators by name: what they check.
    #[serde(default)]
    pub request_validators: IndexMap<String, RawRequestValidator>,
    /// `rest` (the default) or `websocket`.
    pub protocol: Option<String>,
    /// WebSocket APIs: where the route key is read from each message
    /// (default `$request.body.action`).
    pub route_selection_expression: Option<String>,
    /// WebSocket APIs: routes by key (`$connect`, `$disconnect`, `$default`, custom keys).
    #[serde(default)]
    pub routes: IndexMap<String, RawRoute>,
    /// WebSocket APIs: frame, message, idle and duration limits.
    pub websocket: Option<RawWebSocketLimits>,
    /// CORS: preflights answered by the gateway and headers on responses.
    pub cors: Option<RawCors>,
    /// Who may call the API, by source IP.
    pub resource_policy: Option<RawResourcePolicy>,
    /// Resources, models, validators, ... imported from an OpenAPI 3 / Swagger 2 document
    /// with API Gateway extensions; fields set here take precedence.
    pub openapi: Option<ImportOptions>,
    /// Media types whose bodies Lambda integrations receive base64-encoded.
    #[serde(default)]
    pub binary_media_types: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResourcePolicy {
    /// When set, only these networks (`10.0.0.0/8`, `2001:db8::/32`, single addresses) may call.
    #[serde(default)]
    pub allow_source_ips: Vec<String>,
    /// These may never call.
    #[serde(default)]
    pub deny_source_ips: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCors {
    pub allow_origins: Vec<String>,
    /// Default: GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS.
    #[serde(default)]
    pub allow_methods: Vec<String>,
    /// Default: the headers the preflight asks for.
    #[serde(default)]
    pub allow_headers: Vec<String>,
    #[serde(default)]
    pub expose_headers: Vec<String>,
    /// Seconds browsers may cache a preflight.
    pub max_age: Option<u32>,
    #[serde(default)]
    pub allow_credentials: bool,
}

/// A route of a WebSocket API.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    /// An authorizer of the API (only on `$connect`).
    pub authorizer: Option<String>,
    pub integration: RawRouteIntegration,
}

/// What handles a WebSocket route's events.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawRouteIntegration {
    /// POST the event (JSON) to a backend.
    Http {
        uri: String,
        timeout: Option<String>,
    },
    /// A `websocket-handler` plugin.
    Wasm { plugin: String },
    /// A fixed answer: `status` decides `$connect`, `body` is sent back for messages.
    Mock {
        status: Option<u16>,
        #[serde(default)]
        body: String,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebSocketLimits {
    pub max_frame_bytes: Option<usize>,
    pub max_message_bytes: Option<usize>,
    pub idle_timeout: Option<String>,
    pub max_duration: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRequestValidator {
    #[serde(default)]
    pub body: bool,
    #[serde(default)]
    pub params: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    pub base_path: Option<String>,
    pub throttle: Option<RawThrottle>,
    pub cache: Option<RawStageCache>,
    #[serde(default)]
    pub variables: IndexMap<String, String>,
    /// A canary release on this stage (REST APIs).
    pub canary: Option<RawCanary>,
    /// Execution logging of this stage's requests (REST APIs); off when absent.
    pub execution_log: Option<RawStageExecutionLog>,
}

/// A stage's canary: a share of its requests served with other stage variables, as API
/// Gateway's `canarySettings`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCanary {
    /// The share of requests the canary serves, from 0 to 100 (`percentTraffic`).
    pub percent: f64,
    /// Stage variables the canary's requests see instead of the stage's
    /// (`stageVariableOverrides`); the others are the stage's.
    #[serde(default)]
    pub variables: IndexMap<String, String>,
    /// Whether the canary's requests use the stage's response cache (`useStageCache`);
    /// otherwise they are not cached.
    #[serde(default)]
    pub use_stage_cache: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGatewayResponse {
    pub status: Option<u16>,
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    pub body: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMethod {
    pub authorizer: Option<String>,
    /// JWT and Cognito authorizers: the scopes of which a token needs one.
    #[serde(default)]
    pub authorization_scopes: Vec<String>,
    /// `NONE` (the default) or `AWS_IAM`: requests signed with Signature Version 4.
    pub authorization_type: Option<String>,
    #[serde(default)]
    pub api_key_required: bool,
    pub throttle: Option<RawThrottle>,
    pub cache: Option<RawMethodCache>,
    pub request_mapper: Option<String>,
    pub response_mapper: Option<String>,
    /// The API's request validator this method applies.
    pub request_validator: Option<String>,
    /// Content type → model name.
    #[serde(default)]
    pub request_models: IndexMap<String, String>,
    /// `method.request.{querystring,header,path}.NAME` → required.
    #[serde(default)]
    pub request_parameters: IndexMap<String, bool>,
    pub integration: RawIntegration,
}

/// An integration, selected by its `type` field.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawIntegration {
    HttpProxy {
        uri: String,
        method: Option<String>,
        timeout: Option<String>,
        http_version: Option<String>,
    },
    Wasm {
        plugin: String,
    },
    /// A Lambda proxy integration against a Lambda-compatible invoke endpoint.
    Lambda {
        /// Base URL of the invoke API, e.g. `http://127.0.0.1:9001`.
        endpoint: String,
        /// The function name (may use `${stageVariables.X}`).
        function: String,
        /// `"1.0"` (default, REST) or `"2.0"` (HTTP API).
        payload_format: Option<String>,
        timeout: Option<String>,
    },
    /// HTTP with mapping templates and integration responses (API Gateway's `http`).
    Http {
        uri: String,
        method: Option<String>,
        timeout: Option<String>,
        /// `integration.request.header.X` / `integration.request.querystring.X` → source.
        #[serde(default)]
        request_parameters: IndexMap<String, String>,
        /// Media type → VTL template.
        #[serde(default)]
        request_templates: IndexMap<String, String>,
        /// `when_no_match` (default), `when_no_templates` or `never`.
        passthrough_behavior: Option<String>,
        #[serde(default)]
        responses: Vec<RawIntegrationResponse>,
    },
    Mock {
        status: Option<u16>,
        #[serde(default)]
        headers: IndexMap<String, String>,
        #[serde(default)]
        body: String,
        /// Mapped form, as API Gateway's mocks: a template giving `{"statusCode": N}`...
        #[serde(default)]
        request_templates: IndexMap<String, String>,
        /// ...which selects one of these integration responses.
        #[serde(default)]
        responses: Vec<RawIntegrationResponse>,
    },
}

/// An integration response, chosen by `selection_pattern` over the backend status.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIntegrationResponse {
    /// A regular expression matched against the whole status code; absent: the default.
    pub selection_pattern: Option<String>,
    pub status: Option<u16>,
    /// `method.response.header.X` → source.
    #[serde(default)]
    pub response_parameters: IndexMap<String, String>,
    /// Media type → VTL template.
    #[serde(default)]
    pub response_templates: IndexMap<String, String>,
}

/// A token bucket: steady requests per second and burst size.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawThrottle {
    pub rate: f64,
    pub burst: u32,
}

/// A stage's response cache.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStageCache {
    pub capacity_mb: Option<u64>,
    pub ttl: Option<String>,
    #[serde(default)]
    pub invalidation: RawInvalidation,
    pub status_header: Option<String>,
    /// With `state.backend: redis`: a shared tier in Redis behind each node's (default false).
    #[serde(default)]
    pub shared: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInvalidation {
    /// `none` (default), `any` or `authorized`.
    pub allow: Option<String>,
    /// `ignore` (default) or `fail` (403).
    pub unauthorized: Option<String>,
}

/// A method's cache settings in a caching stage.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMethodCache {
    pub enabled: Option<bool>,
    pub ttl: Option<String>,
    #[serde(default)]
    pub key_parameters: Vec<String>,
}

/// How the document's AWS references are bound to what this gateway runs.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportOptions {
    /// The document: JSON or YAML, relative to the config file.
    #[serde(default)]
    pub file: String,
    /// A Lambda-compatible invoke endpoint for every Lambda function the document names.
    pub lambda_endpoint: Option<String>,
    /// Lambda function name → a `wasm` integration plugin.
    #[serde(default)]
    pub functions: IndexMap<String, String>,
    /// Security scheme name → an authorizer plugin.
    #[serde(default)]
    pub authorizers: IndexMap<String, String>,
    /// Cognito user pool (its ARN or pool id) → the issuer and keys to trust instead of
    /// Amazon Cognito's (a local user-pool emulator, a key set file).
    #[serde(default)]
    pub user_pools: IndexMap<String, RawUserPool>,
    /// Backend host (as in the document's URIs) → `host:port` to use instead.
    #[serde(default)]
    pub backends: IndexMap<String, String>,
}
