//! OpenAPI 3 and Swagger 2 import with Amazon API Gateway's `x-amazon-apigateway-*` extensions.
//!
//! A document becomes the native config of one API (the same shape `gatehouse.yaml` takes under
//! `apis[]`, as JSON), so everything after import is the ordinary config path: one set of
//! checks, one set of errors. What is not served yet becomes a warning naming its place in the
//! document (a JSON pointer), never a silent omission: such a method is left out, so it answers
//! API Gateway's 403 rather than something it was not meant to do.
//!
//! Lambda ARNs (in `aws_proxy` URIs) are bound with [`ImportOptions::lambda_endpoint`] (a
//! Lambda-compatible invoke endpoint; the function name comes from the ARN) or per function
//! with [`ImportOptions::functions`] (a `wasm` integration plugin). Authorizers are bound to
//! authorizer plugins by security scheme name with [`ImportOptions::authorizers`]; backend hosts
//! can be redirected with [`ImportOptions::backends`].

use indexmap::IndexMap;
use serde_json::{json, Map, Value};

mod security;

pub use gatehouse_config::raw::ImportOptions;

/// The native API (without `name` and `stages`) and the warnings.
#[derive(Debug)]
pub struct Imported {
    pub api: Value,
    pub warnings: Vec<String>,
}

const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

/// A JSON pointer segment (RFC 6901).
fn esc(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Parses a document (JSON or YAML).
pub fn parse(text: &str) -> Result<Value, String> {
    match serde_json::from_str(text) {
        Ok(v) => Ok(v),
        Err(json_err) => serde_yaml::from_str::<Value>(text)
            .map_err(|e| format!("neither JSON ({json_err}) nor YAML ({e})")),
    }
}

struct Ctx<'a> {
    opts: &'a ImportOptions,
    warnings: Vec<String>,
    /// Security schemes by name.
    schemes: Map<String, Value>,
    authorizers: Map<String, Value>,
}

impl Ctx<'_> {
    fn warn(&mut self, at: &str, msg: impl std::fmt::Display) {
        self.warnings.push(format!("#{at}: {msg}"));
    }
}

pub fn import(doc: &Value, opts: &ImportOptions) -> Result<Imported, String> {
    let swagger2 = doc.get("swagger").is_some();
    if !swagger2 && doc.get("openapi").is_none() {
        return Err(
            "not an OpenAPI 3 or Swagger 2 document (no `openapi` or `swagger` field)".into(),
        );
    }
    let schemes = if swagger2 {
        doc.get("securityDefinitions")
    } else {
        doc.pointer("/components/securitySchemes")
    }
    .and_then(Value::as_object)
    .cloned()
    .unwrap_or_default();
    let mut cx = Ctx {
        opts,
        warnings: Vec::new(),
        schemes,
        authorizers: Map::new(),
    };
    let mut api = Map::new();

    // Models: definitions (Swagger 2) or components/schemas (OpenAPI 3), each carrying the
    // others so `$ref`s between them resolve.
    let defs_ptr = if swagger2 {
        "/definitions"
    } else {
        "/components/schemas"
    };
    let defs = doc
        .pointer(defs_ptr)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut models = Map::new();
    let rewritten: Map<String, Value> = defs
        .iter()
        .map(|(k, v)| (k.clone(), rewrite_refs(v)))
        .collect();
    for (name, schema) in &rewritten {
        let mut m = match schema {
            Value::Object(o) => o.clone(),
            _ => {
                cx.warn(
                    &format!("{defs_ptr}/{}", esc(name)),
                    "not a schema object; left out",
                );
                continue;
            }
        };
        // A model that refers to others carries them, so its `$ref`s resolve on its own.
        if has_ref(schema) {
            m.entry("definitions")
                .or_insert_with(|| Value::Object(rewritten.clone()));
        }
        models.insert(name.clone(), Value::Object(m));
    }
    if !models.is_empty() {
        api.insert("models".into(), Value::Object(models));
    }

    // Request validators.
    if let Some(vs) = doc
        .get("x-amazon-apigateway-request-validators")
        .and_then(Value::as_object)
    {
        let mut out = Map::new();
        for (name, v) in vs {
            out.insert(
                name.clone(),
                json!({
                    "body": v.get("validateRequestBody").and_then(Value::as_bool).unwrap_or(false),
                    "params": v.get("validateRequestParameters").and_then(Value::as_bool).unwrap_or(false),
                }),
            );
        }
        api.insert("request_validators".into(), Value::Object(out));
    }
    let default_validator = doc
        .get("x-amazon-apigateway-request-validator")
        .and_then(Value::as_str);

    if let Some(src) = doc
        .get("x-amazon-apigateway-api-key-source")
        .and_then(Value::as_str)
    {
        api.insert("api_key_source".into(), src.into());
    }
    if let Some(types) = doc
        .get("x-amazon-apigateway-binary-media-types")
        .and_then(Value::as_array)
    {
        api.insert("binary_media_types".into(), Value::Array(types.clone()));
    }
    if let Some(c) = doc.get("x-amazon-apigateway-cors") {
        let list = |k: &str| c.get(k).cloned().unwrap_or(Value::Array(Vec::new()));
        let mut cors = Map::new();
        cors.insert("allow_origins".into(), list("allowOrigins"));
        cors.insert("allow_methods".into(), list("allowMethods"));
        cors.insert("allow_headers".into(), list("allowHeaders"));
        cors.insert("expose_headers".into(), list("exposeHeaders"));
        if let Some(m) = c.get("maxAge") {
            cors.insert("max_age".into(), m.clone());
        }
        if let Some(b) = c.get("allowCredentials") {
            cors.insert("allow_credentials".into(), b.clone());
        }
        api.insert("cors".into(), Value::Object(cors));
    }
    if let Some(gr) = doc
        .get("x-amazon-apigateway-gateway-responses")
        .and_then(Value::as_object)
    {
        let mut out = Map::new();
        for (ty, r) in gr {
            let mut o = Map::new();
            if let Some(s) = r.get("statusCode").and_then(number) {
                o.insert("status".into(), s.into());
            }
            let mut headers = Map::new();
            for (k, v) in r
                .get("responseParameters")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let at = format!(
                    "/x-amazon-apigateway-gateway-responses/{}/responseParameters/{}",
                    esc(ty),
                    esc(k)
                );
                match (k.strip_prefix("gatewayresponse.header."), v.as_str().and_then(static_value)) {
                    (Some(h), Some(val)) => {
                        headers.insert(h.to_owned(), val.into());
                    }
                    _ => cx.warn(&at, "only gatewayresponse.header.NAME with a quoted static value is served; left out"),
                }
            }
            if !headers.is_empty() {
                o.insert("headers".into(), Value::Object(headers));
            }
            if let Some(t) = r
                .pointer("/responseTemplates/application~1json")
                .and_then(Value::as_str)
            {
                o.insert("body".into(), t.into());
            }
            out.insert(ty.clone(), Value::Object(o));
        }
        api.insert("gateway_responses".into(), Value::Object(out));
    }
    for (k, _) in doc.as_object().into_iter().flatten() {
        let handled = matches!(
            k.as_str(),
            "x-amazon-apigateway-request-validators"
                | "x-amazon-apigateway-request-validator"
                | "x-amazon-apigateway-api-key-source"
                | "x-amazon-apigateway-binary-media-types"
                | "x-amazon-apigateway-cors"
                | "x-amazon-apigateway-gateway-responses"
                | "x-amazon-apigateway-policy"
        );
        if k.starts_with("x-amazon-apigateway-") && !handled {
            let why = match k.as_str() {
                "x-amazon-apigateway-documentation" => {
                    "documentation parts are not used by the gateway"
                }
                _ => "not supported; ignored",
            };
            cx.warn(&format!("/{}", esc(k)), why);
        }
    }

    if let Some(policy) = doc.get("x-amazon-apigateway-policy") {
        if let Some(p) = resource_policy(&mut cx, policy) {
            api.insert("resource_policy".into(), p);
        }
    }

    // Resources and methods.
    let mut resources = Map::new();
    for (path, item) in doc
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let at_path = format!("/paths/{}", esc(path));
        let mut methods = Map::new();
        let path_params = item
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (key, op) in item.as_object().into_iter().flatten() {
            let method = if key == "x-amazon-apigateway-any-method" {
                "ANY".to_owned()
            } else if METHODS.contains(&key.as_str()) {
                key.to_ascii_uppercase()
            } else {
                if key != "parameters"
                    && !key.starts_with("x-")
                    && !matches!(key.as_str(), "summary" | "description" | "servers")
                {
                    cx.warn(
                        &format!("{at_path}/{}", esc(key)),
                        "not a method API Gateway serves; left out",
                    );
                }
                continue;
            };
            let at = format!("{at_path}/{}", esc(key));
            if let Some(m) = method_of(&mut cx, doc, op, &path_params, &at, default_validator) {
                methods.insert(method, m);
            }
        }
        if !methods.is_empty() {
            resources.insert(path.clone(), Value::Object(methods));
        }
    }
    api.insert("resources".into(), Value::Object(resources));
    if !cx.authorizers.is_empty() {
        api.insert(
            "authorizers".into(),
            Value::Object(std::mem::take(&mut cx.authorizers)),
        );
    }
    Ok(Imported {
        api: Value::Object(api),
        warnings: cx.warnings,
    })
}

/// A number, or a string holding one (API Gateway writes status codes both ways).
pub fn number(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// An IAM-style resource policy's `aws:SourceIp` conditions as a native resource policy.
/// Statements it cannot enforce are warnings saying so.
fn resource_policy(cx: &mut Ctx<'_>, policy: &Value) -> Option<Value> {
    let at = "/x-amazon-apigateway-policy/Statement";
    let statements = match policy.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => {
            cx.warn("/x-amazon-apigateway-policy", "no Statement; ignored");
            return None;
        }
    };
    let ips = |v: Option<&Value>| -> Vec<Value> {
        match v {
            Some(Value::String(s)) => vec![s.clone().into()],
            Some(Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        }
    };
    let mut allow = Vec::new();
    let mut deny = Vec::new();
    for (i, st) in statements.iter().enumerate() {
        let effect = st.get("Effect").and_then(Value::as_str).unwrap_or("");
        let cond = st.get("Condition").and_then(Value::as_object);
        let Some(cond) = cond else {
            if effect == "Deny" {
                cx.warn(
                    &format!("{at}/{i}"),
                    "a Deny without a condition is not enforced; only aws:SourceIp conditions are",
                );
            }
            continue;
        };
        for (op, args) in cond {
            let list = ips(args.get("aws:SourceIp"));
            let known = args.as_object().is_some_and(|o| o.len() == 1) && !list.is_empty();
            match (effect, op.as_str(), known) {
                ("Allow", "IpAddress", true) | ("Deny", "NotIpAddress", true) => allow.extend(list),
                ("Deny", "IpAddress", true) | ("Allow", "NotIpAddress", true) => deny.extend(list),
                _ => cx.warn(
                    &format!("{at}/{i}/Condition/{}", esc(op)),
                    "only aws:SourceIp with IpAddress or NotIpAddress is enforced; this condition is not",
                ),
            }
        }
    }
    if allow.is_empty() && deny.is_empty() {
        return None;
    }
    Some(json!({ "allow_source_ips": allow, "deny_source_ips": deny }))
}

/// `'value'` → `value`.
fn static_value(s: &str) -> Option<&str> {
    s.strip_prefix('\'')?.strip_suffix('\'')
}

/// `$ref`s to API Gateway model URLs or to definitions/components become `#/definitions/X`.
fn rewrite_refs(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    if k == "$ref" {
                        if let Some(r) = v.as_str() {
                            let name = r.rsplit('/').next().unwrap_or(r);
                            return (k.clone(), Value::String(format!("#/definitions/{name}")));
                        }
                    }
                    (k.clone(), rewrite_refs(v))
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(rewrite_refs).collect()),
        other => other.clone(),
    }
}

fn has_ref(v: &Value) -> bool {
    match v {
        Value::Object(o) => o.iter().any(|(k, v)| k == "$ref" || has_ref(v)),
        Value::Array(a) => a.iter().any(has_ref),
        _ => false,
    }
}

fn ref_name(schema: &Value) -> Option<String> {
    let r = schema.get("$ref")?.as_str()?;
    Some(r.rsplit('/').next().unwrap_or(r).to_owned())
}

fn method_of(
    cx: &mut Ctx<'_>,
    doc: &Value,
    op: &Value,
    path_params: &[Value],
    at: &str,
    default_validator: Option<&str>,
) -> Option<Value> {
    let mut m = Map::new();
    let Some(integ) = op.get("x-amazon-apigateway-integration") else {
        cx.warn(at, "no x-amazon-apigateway-integration; left out");
        return None;
    };
    let integration = integration_of(cx, integ, &format!("{at}/x-amazon-apigateway-integration"))?;
    m.insert("integration".into(), integration);

    // Parameters: required ones are checked by a params validator.
    let mut required = Map::new();
    let params = path_params.iter().chain(
        op.get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten(),
    );
    let mut models = Map::new();
    for p in params {
        let (Some(name), Some(loc)) = (
            p.get("name").and_then(Value::as_str),
            p.get("in").and_then(Value::as_str),
        ) else {
            continue;
        };
        let req = p.get("required").and_then(Value::as_bool).unwrap_or(false);
        let kind = match loc {
            "query" => "querystring",
            "header" => "header",
            "path" => "path",
            "body" => {
                if let Some(model) = p.get("schema").and_then(ref_name) {
                    let consumes = op
                        .get("consumes")
                        .or_else(|| doc.get("consumes"))
                        .and_then(Value::as_array)
                        .and_then(|c| c.first())
                        .and_then(Value::as_str)
                        .unwrap_or("application/json");
                    models.insert(consumes.to_owned(), model.into());
                }
                continue;
            }
            _ => continue,
        };
        if req || kind == "path" {
            required.insert(format!("method.request.{kind}.{name}"), req.into());
        }
    }
    if let Some(content) = op
        .pointer("/requestBody/content")
        .and_then(Value::as_object)
    {
        for (media, c) in content {
            if let Some(model) = c.get("schema").and_then(ref_name) {
                models.insert(media.clone(), model.into());
            }
        }
    }
    let required: Map<String, Value> = required
        .into_iter()
        .filter(|(_, v)| v == &Value::Bool(true))
        .collect();
    if !required.is_empty() {
        m.insert("request_parameters".into(), Value::Object(required));
    }
    if !models.is_empty() {
        m.insert("request_models".into(), Value::Object(models));
    }
    let validator = op
        .get("x-amazon-apigateway-request-validator")
        .and_then(Value::as_str)
        .or(default_validator);
    if let Some(v) = validator {
        m.insert("request_validator".into(), v.into());
    }

    // Security: API keys and authorizers (openapi/security.rs).
    let sec = security::of_operation(cx, doc, op, at)?;
    if sec.api_key {
        m.insert("api_key_required".into(), true.into());
    }
    if let Some(a) = sec.authorizer {
        m.insert("authorizer".into(), a.into());
    }
    Some(Value::Object(m))
}

fn identity_sources(auth: &Value, scheme: &Value) -> Vec<String> {
    let from_auth = auth.get("identitySource").and_then(Value::as_str).map(|s| {
        s.split(',')
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
    });
    match from_auth {
        Some(list) if !list.is_empty() => list,
        // A token authorizer reads the header the scheme names.
        _ => scheme
            .get("name")
            .and_then(Value::as_str)
            .map(|h| vec![format!("method.request.header.{h}")])
            .unwrap_or_default(),
    }
}

/// `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:ALIAS]` inside an invoke URI.
fn lambda_function(uri: &str) -> Option<String> {
    let i = uri.find(":function:")?;
    let rest = &uri[i + ":function:".len()..];
    let end = rest.find(['/', ':']).unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

fn rebind_host(uri: &str, backends: &IndexMap<String, String>) -> String {
    for (host, to) in backends {
        for scheme in ["http://", "https://"] {
            if let Some(rest) = uri.strip_prefix(&format!("{scheme}{host}")) {
                if rest.is_empty() || rest.starts_with(['/', ':', '?']) {
                    let rest = match rest.strip_prefix(':') {
                        Some(r) => r.trim_start_matches(|c: char| c.is_ascii_digit()),
                        None => rest,
                    };
                    return format!("http://{to}{rest}");
                }
            }
        }
    }
    uri.to_owned()
}

fn integration_of(cx: &mut Ctx<'_>, integ: &Value, at: &str) -> Option<Value> {
    let ty = integ
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    let uri = integ.get("uri").and_then(Value::as_str).unwrap_or("");
    let timeout = integ
        .get("timeoutInMillis")
        .and_then(number)
        .map(|ms| format!("{ms}ms"));
    let backend_method = integ.get("httpMethod").and_then(Value::as_str);
    for (k, why) in [
        (
            "contentHandling",
            "contentHandling conversions are not served; bodies pass as they are",
        ),
        (
            "cacheKeyParameters",
            "cache keys come from the stage cache settings in gatehouse.yaml",
        ),
        ("connectionType", "VPC links are not served"),
    ] {
        if integ.get(k).is_some() {
            cx.warn(&format!("{at}/{k}"), why);
        }
    }
    let mut out = Map::new();
    match ty.as_str() {
        "http_proxy" => {
            out.insert("type".into(), "http_proxy".into());
            out.insert("uri".into(), rebind_host(uri, &cx.opts.backends).into());
            if let Some(m) = backend_method.filter(|m| !m.eq_ignore_ascii_case("ANY")) {
                out.insert("method".into(), m.to_ascii_uppercase().into());
            }
        }
        "http" => {
            out.insert("type".into(), "http".into());
            out.insert("uri".into(), rebind_host(uri, &cx.opts.backends).into());
            if let Some(m) = backend_method.filter(|m| !m.eq_ignore_ascii_case("ANY")) {
                out.insert("method".into(), m.to_ascii_uppercase().into());
            }
            mapping(cx, integ, at, &mut out);
        }
        "mock" => {
            out.insert("type".into(), "mock".into());
            // As API Gateway runs it: the request template's statusCode selects the
            // integration response, whose template renders the body.
            if integ.get("responses").is_some() {
                mapping(cx, integ, at, &mut out);
                out.remove("request_parameters");
                out.remove("passthrough_behavior");
            }
        }
        "aws_proxy" => {
            let Some(function) = lambda_function(uri) else {
                cx.warn(
                    at,
                    format!("aws_proxy to `{uri}` is not a Lambda function; left out"),
                );
                return None;
            };
            let exported = integ.get("x-gatehouse-plugin").and_then(Value::as_str);
            if let Some(plugin) = cx
                .opts
                .functions
                .get(&function)
                .map(String::as_str)
                .or(exported)
            {
                out.insert("type".into(), "wasm".into());
                out.insert("plugin".into(), plugin.into());
            } else if let Some(endpoint) = &cx.opts.lambda_endpoint {
                out.insert("type".into(), "lambda".into());
                out.insert("endpoint".into(), endpoint.clone().into());
                out.insert("function".into(), function.into());
                if integ.get("payloadFormatVersion").and_then(Value::as_str) == Some("2.0") {
                    out.insert("payload_format".into(), "2.0".into());
                }
                if let Some(t) = &timeout {
                    out.insert("timeout".into(), t.clone().into());
                }
                return Some(Value::Object(out));
            } else {
                cx.warn(at, format!("Lambda function `{function}` is not bound: set openapi.lambda_endpoint or openapi.functions.{function}; left out"));
                return None;
            }
            return Some(Value::Object(out));
        }
        "aws" => {
            let service = uri.split(':').nth(4).unwrap_or("an AWS service");
            cx.warn(
                at,
                format!("an AWS service integration ({service}) is not served; left out"),
            );
            return None;
        }
        other => {
            cx.warn(
                at,
                format!("integration type `{other}` is not known; left out"),
            );
            return None;
        }
    }
    if let Some(t) = timeout {
        out.insert("timeout".into(), t.into());
    }
    Some(Value::Object(out))
}

/// Request parameters, templates, passthrough and integration responses of an `http`
/// integration.
fn mapping(cx: &mut Ctx<'_>, integ: &Value, at: &str, out: &mut Map<String, Value>) {
    if let Some(p) = integ.get("requestParameters").and_then(Value::as_object) {
        let mut params = Map::new();
        for (k, v) in p {
            if k.starts_with("integration.request.path.") {
                cx.warn(
                    &format!("{at}/requestParameters/{}", esc(k)),
                    "path parameters come from the uri template's {name}s; left out",
                );
                continue;
            }
            params.insert(k.clone(), v.clone());
        }
        out.insert("request_parameters".into(), Value::Object(params));
    }
    if let Some(t) = integ.get("requestTemplates") {
        out.insert("request_templates".into(), t.clone());
    }
    if let Some(p) = integ.get("passthroughBehavior").and_then(Value::as_str) {
        out.insert("passthrough_behavior".into(), p.to_ascii_lowercase().into());
    }
    let mut responses = Vec::new();
    let mut default = None;
    for (pattern, r) in integ
        .get("responses")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let mut o = Map::new();
        if pattern != "default" {
            o.insert("selection_pattern".into(), pattern.clone().into());
        }
        if let Some(s) = r.get("statusCode").and_then(number) {
            o.insert("status".into(), s.into());
        }
        if let Some(p) = r.get("responseParameters") {
            o.insert("response_parameters".into(), p.clone());
        }
        if let Some(t) = r.get("responseTemplates") {
            o.insert("response_templates".into(), t.clone());
        }
        if pattern == "default" {
            default = Some(Value::Object(o));
        } else {
            responses.push(Value::Object(o));
        }
    }
    responses.extend(default);
    if !responses.is_empty() {
        out.insert("responses".into(), Value::Array(responses));
    }
}

/// Writes the native config of one API (an `apis[]` entry, as JSON) as an OpenAPI 3 document
/// with API Gateway's extensions. Plugins are named in `x-gatehouse-plugin` and Lambda
/// functions in API Gateway-style ARNs, so that importing the result gives the same API.
pub fn export(api: &Value) -> Value {
    let name = api.get("name").and_then(Value::as_str).unwrap_or("api");
    let mut doc = Map::new();
    doc.insert("openapi".into(), "3.0.1".into());
    doc.insert("info".into(), json!({ "title": name, "version": "1.0" }));
    let mut schemes = Map::new();
    let mut paths = Map::new();
    let authorizers = api.get("authorizers").and_then(Value::as_object);
    for (path, methods) in api
        .get("resources")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let mut item = Map::new();
        for (method, m) in methods.as_object().into_iter().flatten() {
            let key = if method == "ANY" {
                "x-amazon-apigateway-any-method".to_owned()
            } else {
                method.to_ascii_lowercase()
            };
            let mut op = Map::new();
            let mut params = Vec::new();
            for (p, required) in m
                .get("request_parameters")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let rest = p.strip_prefix("method.request.").unwrap_or(p);
                let Some((kind, pname)) = rest.split_once('.') else {
                    continue;
                };
                let loc = match kind {
                    "querystring" => "query",
                    other => other,
                };
                params.push(json!({ "name": pname, "in": loc, "required": required, "schema": { "type": "string" } }));
            }
            if !params.is_empty() {
                op.insert("parameters".into(), Value::Array(params));
            }
            if let Some(models) = m.get("request_models").and_then(Value::as_object) {
                let content: Map<String, Value> = models
                    .iter()
                    .map(|(media, model)| {
                        let r = format!("#/components/schemas/{}", model.as_str().unwrap_or(""));
                        (media.clone(), json!({ "schema": { "$ref": r } }))
                    })
                    .collect();
                op.insert("requestBody".into(), json!({ "content": content }));
            }
            if let Some(v) = m.get("request_validator") {
                op.insert("x-amazon-apigateway-request-validator".into(), v.clone());
            }
            // One requirement object: its schemes all apply (separate objects would be
            // alternatives).
            let mut security = Map::new();
            if m.get("api_key_required").and_then(Value::as_bool) == Some(true) {
                schemes.insert(
                    "api_key".into(),
                    json!({ "type": "apiKey", "name": "x-api-key", "in": "header" }),
                );
                security.insert("api_key".into(), json!([]));
            }
            if let Some(a) = m.get("authorizer").and_then(Value::as_str) {
                security.insert(a.into(), json!([]));
                if let Some(def) = authorizers.and_then(|all| all.get(a)) {
                    schemes.insert(a.to_owned(), authorizer_scheme(def));
                }
            }
            if !security.is_empty() {
                op.insert("security".into(), json!([security]));
            }
            op.insert(
                "responses".into(),
                json!({ "200": { "description": "OK" } }),
            );
            if let Some(i) = m.get("integration") {
                op.insert(
                    "x-amazon-apigateway-integration".into(),
                    export_integration(i),
                );
            }
            item.insert(key, Value::Object(op));
        }
        paths.insert(path.clone(), Value::Object(item));
    }
    doc.insert("paths".into(), Value::Object(paths));
    let mut components = Map::new();
    if let Some(models) = api.get("models") {
        components.insert("schemas".into(), models.clone());
    }
    if !schemes.is_empty() {
        components.insert("securitySchemes".into(), Value::Object(schemes));
    }
    if !components.is_empty() {
        doc.insert("components".into(), Value::Object(components));
    }
    if let Some(vs) = api.get("request_validators").and_then(Value::as_object) {
        let out: Map<String, Value> = vs
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    json!({
                        "validateRequestBody": v.get("body").and_then(Value::as_bool).unwrap_or(false),
                        "validateRequestParameters": v.get("params").and_then(Value::as_bool).unwrap_or(false),
                    }),
                )
            })
            .collect();
        doc.insert(
            "x-amazon-apigateway-request-validators".into(),
            Value::Object(out),
        );
    }
    for (native, ext) in [
        ("api_key_source", "x-amazon-apigateway-api-key-source"),
        (
            "binary_media_types",
            "x-amazon-apigateway-binary-media-types",
        ),
    ] {
        if let Some(v) = api.get(native) {
            doc.insert(ext.into(), v.clone());
        }
    }
    if let Some(c) = api.get("cors").and_then(Value::as_object) {
        let mut out = Map::new();
        for (native, ext) in [
            ("allow_origins", "allowOrigins"),
            ("allow_methods", "allowMethods"),
            ("allow_headers", "allowHeaders"),
            ("expose_headers", "exposeHeaders"),
            ("max_age", "maxAge"),
            ("allow_credentials", "allowCredentials"),
        ] {
            if let Some(v) = c.get(native) {
                out.insert(ext.into(), v.clone());
            }
        }
        doc.insert("x-amazon-apigateway-cors".into(), Value::Object(out));
    }
    if let Some(p) = api.get("resource_policy") {
        let mut statements = Vec::new();
        for (field, effect, op) in [
            ("allow_source_ips", "Deny", "NotIpAddress"),
            ("deny_source_ips", "Deny", "IpAddress"),
        ] {
            if let Some(list) = p
                .get(field)
                .and_then(Value::as_array)
                .filter(|l| !l.is_empty())
            {
                statements.push(json!({
                    "Effect": effect, "Principal": "*", "Action": "execute-api:Invoke",
                    "Resource": "execute-api:/*", "Condition": { op: { "aws:SourceIp": list } },
                }));
            }
        }
        doc.insert(
            "x-amazon-apigateway-policy".into(),
            json!({ "Version": "2012-10-17", "Statement": statements }),
        );
    }
    if let Some(gr) = api.get("gateway_responses").and_then(Value::as_object) {
        let mut out = Map::new();
        for (ty, r) in gr {
            let mut o = Map::new();
            if let Some(s) = r.get("status").and_then(number) {
                o.insert("statusCode".into(), s.to_string().into());
            }
            if let Some(h) = r.get("headers").and_then(Value::as_object) {
                let params: Map<String, Value> = h
                    .iter()
                    .map(|(k, v)| {
                        (
                            format!("gatewayresponse.header.{k}"),
                            format!("'{}'", v.as_str().unwrap_or("")).into(),
                        )
                    })
                    .collect();
                o.insert("responseParameters".into(), Value::Object(params));
            }
            if let Some(b) = r.get("body") {
                o.insert("responseTemplates".into(), json!({ "application/json": b }));
            }
            out.insert(ty.clone(), Value::Object(o));
        }
        doc.insert(
            "x-amazon-apigateway-gateway-responses".into(),
            Value::Object(out),
        );
    }
    Value::Object(doc)
}

fn lambda_arn(function: &str) -> String {
    format!("arn:aws:apigateway:local:lambda:path/2015-03-31/functions/arn:aws:lambda:local:000000000000:function:{function}/invocations")
}

fn authorizer_scheme(def: &Value) -> Value {
    let sources: Vec<String> = def
        .get("identity_sources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|s| {
            if let Some(h) = s.strip_prefix("header.") {
                format!("method.request.header.{h}")
            } else if let Some(q) = s.strip_prefix("query.") {
                format!("method.request.querystring.{q}")
            } else {
                s.to_owned()
            }
        })
        .collect();
    let header = sources
        .iter()
        .find_map(|s| s.strip_prefix("method.request.header."))
        .unwrap_or("Authorization")
        .to_owned();
    let ttl = def
        .get("ttl")
        .and_then(Value::as_str)
        .and_then(gatehouse_config::parse_duration)
        .map_or(300, |d| d.as_secs());
    let plugin = def.get("plugin").and_then(Value::as_str).unwrap_or("");
    json!({
        "type": "apiKey",
        "name": header,
        "in": "header",
        "x-amazon-apigateway-authtype": "custom",
        "x-amazon-apigateway-authorizer": {
            "type": "request",
            "identitySource": sources.join(", "),
            "authorizerResultTtlInSeconds": ttl,
            "authorizerUri": lambda_arn(plugin),
            "x-gatehouse-plugin": plugin,
        }
    })
}

/// Native integration responses as API Gateway's `responses` map (pattern or `default`).
fn export_responses(i: &Value) -> Value {
    let mut responses = Map::new();
    for r in i
        .get("responses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = r
            .get("selection_pattern")
            .and_then(Value::as_str)
            .unwrap_or("default");
        let mut o = Map::new();
        o.insert(
            "statusCode".into(),
            r.get("status")
                .and_then(number)
                .unwrap_or(200)
                .to_string()
                .into(),
        );
        for (native, ext) in [
            ("response_parameters", "responseParameters"),
            ("response_templates", "responseTemplates"),
        ] {
            if let Some(v) = r.get(native) {
                o.insert(ext.into(), v.clone());
            }
        }
        responses.insert(key.to_owned(), Value::Object(o));
    }
    Value::Object(responses)
}

fn export_integration(i: &Value) -> Value {
    let ty = i.get("type").and_then(Value::as_str).unwrap_or("");
    let mut out = Map::new();
    let timeout = i
        .get("timeout")
        .and_then(Value::as_str)
        .and_then(gatehouse_config::parse_duration)
        .map(|d| d.as_millis() as u64);
    match ty {
        "http_proxy" | "http" => {
            out.insert("type".into(), ty.into());
            out.insert("uri".into(), i.get("uri").cloned().unwrap_or_default());
            out.insert(
                "httpMethod".into(),
                i.get("method").cloned().unwrap_or_else(|| "ANY".into()),
            );
            if ty == "http" {
                for (native, ext) in [
                    ("request_parameters", "requestParameters"),
                    ("request_templates", "requestTemplates"),
                ] {
                    if let Some(v) = i.get(native) {
                        out.insert(ext.into(), v.clone());
                    }
                }
                if let Some(p) = i.get("passthrough_behavior").and_then(Value::as_str) {
                    out.insert("passthroughBehavior".into(), p.to_ascii_uppercase().into());
                }
                if i.get("responses").is_some() {
                    out.insert("responses".into(), export_responses(i));
                }
            }
        }
        "mock" if i.get("responses").is_some() => {
            out.insert("type".into(), "mock".into());
            if let Some(t) = i.get("request_templates") {
                out.insert("requestTemplates".into(), t.clone());
            }
            out.insert("responses".into(), export_responses(i));
        }
        "mock" => {
            let status = i.get("status").and_then(number).unwrap_or(200);
            out.insert("type".into(), "mock".into());
            out.insert(
                "requestTemplates".into(),
                json!({ "application/json": format!("{{\"statusCode\": {status}}}") }),
            );
            let mut r = Map::new();
            r.insert("statusCode".into(), status.to_string().into());
            if let Some(h) = i.get("headers").and_then(Value::as_object) {
                let params: Map<String, Value> = h
                    .iter()
                    .map(|(k, v)| {
                        (
                            format!("method.response.header.{k}"),
                            format!("'{}'", v.as_str().unwrap_or("")).into(),
                        )
                    })
                    .collect();
                r.insert("responseParameters".into(), Value::Object(params));
            }
            if let Some(b) = i.get("body") {
                r.insert("responseTemplates".into(), json!({ "application/json": b }));
            }
            out.insert("responses".into(), json!({ "default": r }));
        }
        "lambda" | "wasm" => {
            let function = i
                .get(if ty == "lambda" { "function" } else { "plugin" })
                .and_then(Value::as_str)
                .unwrap_or("");
            out.insert("type".into(), "aws_proxy".into());
            out.insert("httpMethod".into(), "POST".into());
            out.insert("uri".into(), lambda_arn(function).into());
            if ty == "wasm" {
                out.insert("x-gatehouse-plugin".into(), function.into());
            }
            if i.get("payload_format").and_then(Value::as_str) == Some("2.0") {
                out.insert("payloadFormatVersion".into(), "2.0".into());
            }
        }
        other => {
            out.insert("type".into(), other.into());
        }
    }
    if let Some(ms) = timeout {
        out.insert("timeoutInMillis".into(), ms.into());
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(name: &str) -> Value {
        let p = format!("{}/testdata/openapi/{name}", env!("CARGO_MANIFEST_DIR"));
        parse(&std::fs::read_to_string(p).unwrap()).unwrap()
    }

    /// import(export(x)) is x for every API an import produced (and thus for the documents).
    #[test]
    fn export_then_import_gives_the_same_api() {
        let dir = format!("{}/testdata/openapi", env!("CARGO_MANIFEST_DIR"));
        let opts = ImportOptions {
            lambda_endpoint: Some("http://127.0.0.1:9001".into()),
            ..ImportOptions::default()
        };
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let first = import(&doc(path.file_name().unwrap().to_str().unwrap()), &opts).unwrap();
            let mut native = first.api.clone();
            native["name"] = "x".into();
            let exported = export(&native);
            let again =
                import(&exported, &opts).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(again.api, first.api, "{}", path.display());
            assert!(
                again.warnings.is_empty() || !first.warnings.is_empty(),
                "{:?}",
                again.warnings
            );
        }
    }

    /// A method with an API key and an authorizer exports as one requirement object (both
    /// apply) and imports back with both.
    #[test]
    fn api_key_and_authorizer_round_trip_as_one_requirement() {
        let native = json!({ "name": "x",
            "authorizers": { "tok": { "plugin": "p", "identity_sources": ["method.request.header.Authorization"], "ttl": "300s" } },
            "resources": { "/a": { "GET": { "api_key_required": true, "authorizer": "tok",
                "integration": { "type": "mock" } } } } });
        let exported = export(&native);
        assert_eq!(
            exported.pointer("/paths/~1a/get/security"),
            Some(&json!([{ "api_key": [], "tok": [] }]))
        );
        let again = import(&exported, &ImportOptions::default()).unwrap();
        let m = &again.api["resources"]["/a"]["GET"];
        assert_eq!(m["api_key_required"], true, "{:?}", again.warnings);
        assert_eq!(m["authorizer"], "tok");
    }

    #[test]
    fn source_ip_policies_import_and_export() {
        let doc = json!({
            "openapi": "3.0.1",
            "paths": {},
            "x-amazon-apigateway-policy": { "Version": "2012-10-17", "Statement": [
                { "Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*" },
                { "Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
                  "Condition": { "NotIpAddress": { "aws:SourceIp": ["10.0.0.0/8", "192.0.2.1"] } } },
                { "Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
                  "Condition": { "IpAddress": { "aws:SourceIp": "10.9.0.0/16" } } },
                { "Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
                  "Condition": { "StringNotEquals": { "aws:SourceVpce": "vpce-1" } } }
            ] }
        });
        let imported = import(&doc, &ImportOptions::default()).unwrap();
        assert_eq!(
            imported.api["resource_policy"],
            json!({ "allow_source_ips": ["10.0.0.0/8", "192.0.2.1"], "deny_source_ips": ["10.9.0.0/16"] })
        );
        assert_eq!(imported.warnings.len(), 1, "{:?}", imported.warnings);
        assert!(imported.warnings[0]
            .starts_with("#/x-amazon-apigateway-policy/Statement/3/Condition/StringNotEquals"));
        let mut native = imported.api.clone();
        native["name"] = "x".into();
        let again = import(&export(&native), &ImportOptions::default()).unwrap();
        assert_eq!(again.api, imported.api);
    }

    #[test]
    fn lambda_arns_and_hosts_are_rebound() {
        assert_eq!(
            lambda_function("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123:function:Calc:live/invocations"),
            Some("Calc".into())
        );
        let mut b = IndexMap::new();
        b.insert(
            "petstore.example.com".to_owned(),
            "127.0.0.1:9000".to_owned(),
        );
        assert_eq!(
            rebind_host("https://petstore.example.com/pets/{id}", &b),
            "http://127.0.0.1:9000/pets/{id}"
        );
        assert_eq!(
            rebind_host("https://petstore.example.com:443/x", &b),
            "http://127.0.0.1:9000/x"
        );
        assert_eq!(
            rebind_host("https://other.example.com/x", &b),
            "https://other.example.com/x"
        );
    }

    #[test]
    fn every_shared_document_imports_with_warnings_naming_places() {
        let dir = format!("{}/testdata/openapi", env!("CARGO_MANIFEST_DIR"));
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        assert_eq!(names.len(), 8);
        let opts = ImportOptions {
            lambda_endpoint: Some("http://127.0.0.1:9001".into()),
            ..ImportOptions::default()
        };
        for n in &names {
            let imported = import(&doc(n), &opts).unwrap_or_else(|e| panic!("{n}: {e}"));
            for w in &imported.warnings {
                assert!(w.starts_with("#/"), "{n}: {w}");
            }
            assert!(imported.api["resources"].is_object(), "{n}");
        }
        // AWS service integrations are named, not dropped silently.
        let s3 = import(&doc("awsdocs-s3-proxy.swagger2.json"), &opts).unwrap();
        assert!(
            s3.warnings
                .iter()
                .any(|w| w.contains("AWS service integration (s3)")),
            "{:?}",
            s3.warnings
        );
        let jwt = json!({
            "openapi": "3.0.1",
            "components": { "securitySchemes": { "jwt": { "type": "oauth2",
                "x-amazon-apigateway-authorizer": { "type": "jwt", "identitySource": "$request.header.Authorization" } } } },
            "paths": { "/me": { "get": { "security": [{ "jwt": [] }],
                "x-amazon-apigateway-integration": { "type": "mock" } } } }
        });
        let imported = import(&jwt, &opts).unwrap();
        assert_eq!(
            imported.api["resources"],
            json!({}),
            "never served without its authorizer"
        );
        assert!(
            imported.warnings[0]
                .starts_with("#/paths/~1me/get/security/0/jwt: authorizer `jwt` of type `jwt`"),
            "{:?}",
            imported.warnings
        );
        let kinesis = import(&doc("awsdocs-kinesis-proxy.oas30.json"), &opts).unwrap();
        assert!(
            kinesis.warnings.iter().any(|w| w.contains("(kinesis)")),
            "{:?}",
            kinesis.warnings
        );
    }
}
