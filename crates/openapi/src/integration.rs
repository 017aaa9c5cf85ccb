//! `x-amazon-apigateway-integration` as a native integration.
//!
//! Every key of the integration object (API Gateway extensions reference,
//! "x-amazon-apigateway-integration object") is either served for the integration's type or
//! warned at its JSON pointer, never dropped silently:
//!
//! | key | served for |
//! |---|---|
//! | `type`, `uri`, `httpMethod` | every type Gatehouse serves (`http`, `http_proxy`, `mock`, `aws_proxy` to Lambda) |
//! | `timeoutInMillis` | `http`, `http_proxy`, `aws_proxy` bound to a Lambda endpoint |
//! | `requestParameters`, `passthroughBehavior` | `http` |
//! | `requestTemplates`, `responses` | `http`, `mock` (a mock's template picks its response) |
//! | `payloadFormatVersion` | `aws_proxy` bound to a Lambda endpoint |
//! | `cacheKeyParameters` | every type: header and query string ones become the method's cache key (the path is always in it) |
//! | `connectionType: INTERNET` | every type (what Gatehouse does) |
//! | `connectionType: VPC_LINK`, `connectionId`, `credentials`, `tlsConfig`, `cacheNamespace`, `contentHandling`, `responseTransferMode: STREAM` | warned; the method is served without them |
//! | `integrationSubtype` (HTTP APIs' AWS service integrations) | warned; the method is left out |
//!
//! Settings the proxy would refuse when it compiles the config (a template that does not
//! parse, a mapping from a source it does not know) are caught here, so one of them leaves one
//! method or one mapping out, never the whole API.

use crate::{esc, number, Ctx};
use indexmap::IndexMap;
use serde_json::{Map, Value};

/// A native integration, and the method's cache key parameters it asks for.
pub(crate) struct Integration {
    pub(crate) native: Value,
    pub(crate) cache_keys: Vec<Value>,
}

/// The kind of integration served, for which keys apply.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Http,
    HttpProxy,
    Mock,
    Lambda,
    Wasm,
}

/// Why `key` is not served for `kind`; `None` when it is.
fn not_served(kind: Kind, key: &str, v: &Value) -> Option<&'static str> {
    use Kind::*;
    let proxy = matches!(kind, HttpProxy | Lambda | Wasm);
    Some(match key {
        "type" | "uri" | "cacheKeyParameters" | "x-gatehouse-plugin" => return None,
        "httpMethod" if kind == Mock => "a mock calls no backend; left out",
        "httpMethod" => return None,
        "timeoutInMillis" if kind == Mock => "a mock calls no backend; left out",
        "timeoutInMillis" if kind == Wasm => {
            "a plugin's deadline is its `timeout` under plugins in gatehouse.yaml; left out"
        }
        "timeoutInMillis" => return None,
        "requestParameters" if kind == Http => return None,
        "requestParameters" => {
            "request parameter mappings are served for `http` integrations only; left out"
        }
        "requestTemplates" | "passthroughBehavior" if proxy => {
            "mapping templates do not apply to proxy integrations (API Gateway passes the request through); left out"
        }
        "requestTemplates" => return None,
        "passthroughBehavior" if kind == Http => return None,
        "passthroughBehavior" => "not served for mocks; left out",
        "responses" if proxy => {
            "integration responses do not apply to proxy integrations (the backend's response is returned); left out"
        }
        "responses" => return None,
        "payloadFormatVersion" if kind == Lambda => return None,
        "payloadFormatVersion" if v.as_str() == Some("1.0") => return None,
        "payloadFormatVersion" => "applies to Lambda functions bound to openapi.lambda_endpoint; left out",
        "connectionType" if v.as_str().is_some_and(|c| c.eq_ignore_ascii_case("internet")) => {
            return None
        }
        "connectionType" | "connectionId" => {
            "VPC links are not served: the uri is called directly (redirect its host with openapi.backends)"
        }
        "credentials" => "AWS credentials are not used: Gatehouse calls the backend itself; left out",
        "tlsConfig" => {
            "not served: backend certificates are always verified, against the uri's host; left out"
        }
        "cacheNamespace" => "not served: each method's cache entries are its own; left out",
        "contentHandling" => "contentHandling conversions are not served; bodies pass as they are",
        "responseTransferMode" if v.as_str() == Some("BUFFERED") => return None,
        "responseTransferMode" => "responses are buffered, not streamed; left out",
        "integrationSubtype" => "AWS service integrations are not served; left out",
        _ => "not a key of x-amazon-apigateway-integration; ignored",
    })
}

/// `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:ALIAS]` inside an invoke URI.
pub(crate) fn lambda_function(uri: &str) -> Option<String> {
    let i = uri.find(":function:")?;
    let rest = &uri[i + ":function:".len()..];
    let end = rest.find(['/', ':']).unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

pub(crate) fn rebind_host(uri: &str, backends: &IndexMap<String, String>) -> String {
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

/// The integration at `at` of a method on a resource with path parameters `params`, or
/// `None` (with a warning) to leave the method out.
pub(crate) fn integration_of(
    cx: &mut Ctx<'_>,
    integ: &Value,
    at: &str,
    params: &[&str],
) -> Option<Integration> {
    let ty = integ
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    let uri = integ.get("uri").and_then(Value::as_str).unwrap_or("");
    let backend_method = integ
        .get("httpMethod")
        .and_then(Value::as_str)
        .filter(|m| !m.eq_ignore_ascii_case("ANY"))
        .map(str::to_ascii_uppercase);
    if integ.get("integrationSubtype").is_some() {
        cx.warn(
            &format!("{at}/integrationSubtype"),
            "AWS service integrations are not served; left out",
        );
        return None;
    }
    let mut out = Map::new();
    let kind = match ty.as_str() {
        "http_proxy" | "http" => {
            if let Some(why) = uri_problem(uri, params) {
                cx.warn(&format!("{at}/uri"), format!("{why}; left out"));
                return None;
            }
            out.insert("type".into(), ty.clone().into());
            out.insert("uri".into(), rebind_host(uri, &cx.opts.backends).into());
            if let Some(m) = backend_method {
                out.insert("method".into(), m.into());
            }
            if ty == "http" {
                Kind::Http
            } else {
                Kind::HttpProxy
            }
        }
        "mock" => {
            out.insert("type".into(), "mock".into());
            Kind::Mock
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
                Kind::Wasm
            } else if let Some(endpoint) = &cx.opts.lambda_endpoint {
                out.insert("type".into(), "lambda".into());
                out.insert("endpoint".into(), endpoint.clone().into());
                out.insert("function".into(), function.into());
                if integ.get("payloadFormatVersion").and_then(Value::as_str) == Some("2.0") {
                    out.insert("payload_format".into(), "2.0".into());
                }
                Kind::Lambda
            } else {
                cx.warn(at, format!("Lambda function `{function}` is not bound: set openapi.lambda_endpoint or openapi.functions.{function}; left out"));
                return None;
            }
        }
        "aws" if uri.contains(":lambda:path/") => {
            // A non-proxy Lambda integration is Lambda's invoke API called with the mapped
            // request as the event (developer guide, "Set up a Lambda custom integration"):
            // an `http` integration against the bound endpoint.
            let function = lambda_function(uri).unwrap_or_default();
            let Some(endpoint) = cx.opts.lambda_endpoint.as_deref() else {
                cx.warn(at, format!("Lambda function `{function}` (a non-proxy integration) is not bound: set openapi.lambda_endpoint; left out"));
                return None;
            };
            let endpoint = endpoint.trim_end_matches('/');
            out.insert("type".into(), "http".into());
            out.insert(
                "uri".into(),
                format!("{endpoint}/2015-03-31/functions/{function}/invocations").into(),
            );
            out.insert("method".into(), "POST".into());
            for (pattern, _) in crate::entries(integ, "responses") {
                if pattern != "default" {
                    cx.warn(
                        &format!("{at}/responses/{}", esc(pattern)),
                        "matched against the invoke call's status code; API Gateway matches a Lambda error's errorMessage",
                    );
                }
            }
            Kind::Http
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
    };
    for (k, v) in integ.as_object().into_iter().flatten() {
        if let Some(why) = not_served(kind, k, v) {
            cx.warn(&format!("{at}/{}", esc(k)), why);
        }
    }
    if matches!(kind, Kind::Http | Kind::HttpProxy | Kind::Lambda) {
        if let Some(ms) = integ.get("timeoutInMillis").and_then(number) {
            out.insert("timeout".into(), format!("{ms}ms").into());
        }
    }
    match kind {
        Kind::Http => mapping(cx, integ, at, params, &mut out)?,
        Kind::Mock if integ.get("responses").is_some() => {
            // As API Gateway runs it: the request template's statusCode selects the
            // integration response, whose template renders the body.
            mapping(cx, integ, at, params, &mut out)?;
        }
        Kind::Mock if integ.get("requestTemplates").is_some() => cx.warn(
            &format!("{at}/requestTemplates"),
            "a mock without responses answers 200 with an empty body; left out",
        ),
        _ => {}
    }
    let cache_keys = cache_keys(cx, integ, at);
    Some(Integration {
        native: Value::Object(out),
        cache_keys,
    })
}

/// Why the gateway cannot call `uri` on a resource with path parameters `params`: not an
/// absolute http(s) URL, a `${...}` that is no stage variable (such as a CloudFormation
/// substitution left in the document), or a `{name}` the path does not have.
fn uri_problem(uri: &str, params: &[&str]) -> Option<String> {
    if !["http://", "https://", "${stageVariables."]
        .iter()
        .any(|p| uri.starts_with(p))
    {
        return Some(format!("`{uri}` is not an http:// or https:// URL"));
    }
    let mut rest = uri;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}').map(|c| open + c) else {
            return Some(format!("`{{` without a closing `}}` in `{uri}`"));
        };
        let name = &rest[open + 1..close];
        let is_var = open > 0 && rest.as_bytes()[open - 1] == b'$';
        if is_var && !name.starts_with("stageVariables.") {
            return Some(format!("`${{{name}}}` is not a stage variable (`${{stageVariables.NAME}}`); a substitution left in the document is not resolved"));
        }
        if !is_var && !params.contains(&name.strip_suffix('+').unwrap_or(name)) {
            return Some(format!(
                "`{{{name}}}` is not a path parameter of this resource"
            ));
        }
        rest = &rest[close + 1..];
    }
    None
}

/// `cacheKeyParameters` that join the method's cache key: headers and query strings (the
/// path is always part of the key).
fn cache_keys(cx: &mut Ctx<'_>, integ: &Value, at: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for (i, p) in crate::items(integ, "cacheKeyParameters").enumerate() {
        let s = p.as_str().unwrap_or("");
        if let Some(h) = s.strip_prefix("method.request.header.") {
            if header_name(h) {
                out.push(p.clone());
                continue;
            }
        } else if s
            .strip_prefix("method.request.querystring.")
            .is_some_and(|q| !q.is_empty())
            || s.starts_with("method.request.path.")
        {
            if !s.starts_with("method.request.path.") {
                out.push(p.clone());
            }
            continue;
        }
        cx.warn(
            &format!("{at}/cacheKeyParameters/{i}"),
            "only method.request.header, querystring and path parameters key the cache; left out",
        );
    }
    out
}

/// RFC 9110 token characters, at least one.
pub(crate) fn header_name(h: &str) -> bool {
    !h.is_empty()
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether the gateway maps from `s` (`response`: in an integration response).
fn known_source(s: &str, params: &[&str], response: bool) -> bool {
    if s.len() >= 2 && s.starts_with('\'') && s.ends_with('\'') {
        return true;
    }
    if let Some(h) = s.strip_prefix("method.request.header.") {
        return header_name(h);
    }
    if let Some(p) = s.strip_prefix("method.request.path.") {
        return params.contains(&p);
    }
    if let Some(h) = s.strip_prefix("integration.response.header.") {
        return response && header_name(h);
    }
    ["method.request.querystring.", "stageVariables.", "context."]
        .iter()
        .any(|p| s.starts_with(p))
}

/// VTL templates by media type; `None` (warned) when one does not parse.
fn templates(cx: &mut Ctx<'_>, t: Option<&Value>, at: &str) -> Option<Option<Value>> {
    let Some(t) = t else { return Some(None) };
    let Some(map) = t.as_object() else {
        cx.warn(at, "expected templates by media type; left out");
        return None;
    };
    for (media, text) in map {
        let parsed = text
            .as_str()
            .ok_or_else(|| "not a string".to_owned())
            .and_then(gatehouse_vtl::Template::compile);
        if let Err(e) = parsed {
            cx.warn(
                &format!("{at}/{}", esc(media)),
                format!("not a template Gatehouse runs ({e}); left out"),
            );
            return None;
        }
    }
    Some(Some(t.clone()))
}

/// Request parameters, templates, passthrough and integration responses of an `http`
/// integration (and a mapped mock's templates and responses); `None` (warned) to leave the
/// method out.
fn mapping(
    cx: &mut Ctx<'_>,
    integ: &Value,
    at: &str,
    params: &[&str],
    out: &mut Map<String, Value>,
) -> Option<()> {
    let http = out.get("type").and_then(Value::as_str) == Some("http");
    if let (true, Some(p)) = (
        http,
        integ.get("requestParameters").and_then(Value::as_object),
    ) {
        let mut mapped = Map::new();
        for (k, v) in p {
            let here = format!("{at}/requestParameters/{}", esc(k));
            if k.starts_with("integration.request.path.") {
                cx.warn(
                    &here,
                    "path parameters come from the uri template's {name}s; left out",
                );
                continue;
            }
            let target = k
                .strip_prefix("integration.request.header.")
                .map(header_name)
                .or_else(|| {
                    k.strip_prefix("integration.request.querystring.")
                        .map(|q| !q.is_empty())
                })
                .unwrap_or(false);
            let source = v.as_str().filter(|s| known_source(s, params, false));
            match (target, source) {
                (true, Some(_)) => {
                    mapped.insert(k.clone(), v.clone());
                }
                (false, _) => cx.warn(&here, "only integration.request.header.NAME and integration.request.querystring.NAME are mapped; left out"),
                (true, None) => cx.warn(&here, format!("mapping from {v} is not served (method.request.header/querystring/path, stageVariables, context and 'static' values are); left out")),
            }
        }
        out.insert("request_parameters".into(), Value::Object(mapped));
    }
    let request_templates = templates(
        cx,
        integ.get("requestTemplates"),
        &format!("{at}/requestTemplates"),
    )?;
    if let Some(t) = request_templates {
        out.insert("request_templates".into(), t);
    }
    if let (true, Some(p)) = (
        http,
        integ.get("passthroughBehavior").and_then(Value::as_str),
    ) {
        let p = p.to_ascii_lowercase();
        if matches!(p.as_str(), "when_no_match" | "when_no_templates" | "never") {
            out.insert("passthrough_behavior".into(), p.into());
        } else {
            cx.warn(
                &format!("{at}/passthroughBehavior"),
                "expected WHEN_NO_MATCH, WHEN_NO_TEMPLATES or NEVER; left out (WHEN_NO_MATCH applies)",
            );
        }
    }
    let mut responses = Vec::new();
    let mut default = None;
    for (pattern, r) in crate::entries(integ, "responses") {
        let here = format!("{at}/responses/{}", esc(pattern));
        let mut o = Map::new();
        if pattern != "default" {
            if let Err(e) = regex::Regex::new(&format!("^(?:{pattern})$")) {
                cx.warn(
                    &here,
                    format!("not a regular expression Gatehouse runs ({e}); left out"),
                );
                return None;
            }
            o.insert("selection_pattern".into(), pattern.clone().into());
        }
        for (k, v) in r.as_object().into_iter().flatten() {
            match k.as_str() {
                "statusCode" => match number(v).filter(|s| (100..=599).contains(s)) {
                    Some(s) => {
                        o.insert("status".into(), s.into());
                    }
                    None => {
                        cx.warn(
                            &format!("{here}/statusCode"),
                            "expected an HTTP status code; left out",
                        );
                        return None;
                    }
                },
                "responseParameters" => {
                    let mut mapped = Map::new();
                    for (t, s) in v.as_object().into_iter().flatten() {
                        let target = t
                            .strip_prefix("method.response.header.")
                            .is_some_and(header_name);
                        if target && s.as_str().is_some_and(|s| known_source(s, params, true)) {
                            mapped.insert(t.clone(), s.clone());
                        } else {
                            cx.warn(
                                &format!("{here}/responseParameters/{}", esc(t)),
                                "only method.response.header.NAME from a header, a path or query parameter, stageVariables, context, integration.response.header or a 'static' value is mapped; left out",
                            );
                        }
                    }
                    o.insert("response_parameters".into(), Value::Object(mapped));
                }
                "responseTemplates" => {
                    let t = templates(cx, Some(v), &format!("{here}/responseTemplates"))?;
                    o.extend(t.map(|t| ("response_templates".to_owned(), t)));
                }
                "contentHandling" => cx.warn(
                    &format!("{here}/contentHandling"),
                    "contentHandling conversions are not served; bodies pass as they are",
                ),
                other => cx.warn(
                    &format!("{here}/{}", esc(other)),
                    "not a key of an integration response; ignored",
                ),
            }
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
    Some(())
}
