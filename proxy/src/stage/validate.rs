//! Validate: API Gateway's request validators. A method names a validator (`body`, `params` or
//! both); `params` checks that the required request parameters are present and not empty,
//! `body` checks the JSON body against the model (a JSON Schema) chosen by the request's
//! content type. Failures are 400 BAD_REQUEST_PARAMETERS (`Missing required request
//! parameters: [a, b]`, headers, then path, then query string parameters, as API Gateway lists
//! them) and 400 BAD_REQUEST_BODY (`Invalid request body`), parameters first; the details go to
//! the log. Schemas are compiled once, when the config is loaded.

use crate::ctx::IdentitySource;
use crate::ctx::RequestCtx;
use crate::error::{Rejection, ResponseType};
use bytes::Bytes;
use gatehouse_config::raw::{RawApi, RawMethod};
use gatehouse_config::Errors;
use http::HeaderMap;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

/// A compiled model.
pub type Model = Arc<jsonschema::Validator>;

/// Compiles a model: JSON Schema draft 4 (as API Gateway's models are) unless the schema
/// declares another draft with `$schema`.
pub fn compile_model(schema: &serde_json::Value) -> Result<Model, String> {
    let compiled = if schema.get("$schema").is_some() {
        jsonschema::validator_for(schema)
    } else {
        jsonschema::draft4::new(schema)
    };
    compiled.map(Arc::new).map_err(|e| e.to_string())
}

/// One required request parameter.
#[derive(Debug, Clone)]
pub enum Required {
    /// A header or query string parameter.
    Source(IdentitySource),
    /// A path parameter, by its index among the resource's parameters.
    Path(usize),
}

/// What a method validates.
#[derive(Debug, Default)]
pub struct Validation {
    /// Checked when the validator validates parameters: name as written, and where it is, in
    /// the order API Gateway names the missing ones (see [`report_order`]).
    pub params: Vec<(Box<str>, Required)>,
    /// Checked when the validator validates bodies: media type (lowercase) → model.
    pub models: Vec<(Box<str>, Model)>,
}

impl Validation {
    pub fn validates_body(&self) -> bool {
        !self.models.is_empty()
    }

    /// The required parameters missing from the request, as API Gateway names them.
    pub fn check_params(&self, ctx: &RequestCtx, headers: &HeaderMap) -> Result<(), Rejection> {
        let mut missing: Vec<&str> = Vec::new();
        for (name, req) in &self.params {
            let present = match req {
                Required::Source(src) => src.value(headers, ctx.query()).is_some(),
                Required::Path(i) => ctx.param_raw(*i).is_some_and(|v| !v.is_empty()),
            };
            if !present {
                missing.push(name);
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let message = format!(
            "Missing required request parameters: [{}]",
            missing.join(", ")
        );
        Err(
            Rejection::new(ResponseType::BadRequestParameters, message.clone())
                .with_message(message),
        )
    }

    /// The model for the request's content type: its media type, else `$default`; a request
    /// without a content type is taken as `application/json`.
    pub fn model_for(&self, headers: &HeaderMap) -> Option<&Model> {
        let media = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim())
            .unwrap_or("application/json");
        self.models
            .iter()
            .find(|(m, _)| m.eq_ignore_ascii_case(media))
            .or_else(|| self.models.iter().find(|(m, _)| &**m == "$default"))
            .map(|(_, model)| model)
    }
}

/// Checks `body` against `model`.
pub fn check_body(model: &Model, body: &Bytes) -> Result<(), Rejection> {
    let invalid = |reason: String| Rejection::new(ResponseType::BadRequestBody, reason);
    let doc: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("request body is not JSON: {e}")))?;
    // `is_valid` stops at the first failure. Describing a failure costs more: an `anyOf`
    // collects the errors of each branch at every depth below it, which grows with the
    // square of the nesting, for every failing item (seconds for a 200 KB body). So a failure
    // is described only for a body of up to `DESCRIBED_BODY` bytes, and briefly, since the
    // description quotes the failing value.
    if model.is_valid(&doc) {
        return Ok(());
    }
    let mut reason = String::from("request body does not match the model");
    if body.len() <= DESCRIBED_BODY {
        if let Err(e) = model.validate(&doc) {
            let at = e.instance_path().to_string();
            let at = if at.is_empty() { "/" } else { &at };
            let _ = write!(reason, ": {at} {e}");
            if reason.len() > MAX_REASON {
                let mut end = MAX_REASON;
                while !reason.is_char_boundary(end) {
                    end -= 1;
                }
                reason.truncate(end);
                reason.push_str("...");
            }
        }
    }
    Err(invalid(reason))
}

/// The largest body whose failure is described in the log.
const DESCRIBED_BODY: usize = 16 * 1024;

/// The longest reason logged for a body that fails its model.
const MAX_REASON: usize = 400;

/// Required parameters in the order API Gateway lists the missing ones: sorted by their
/// `method.request.{location}.{name}` key, whatever order the config declares them in, so
/// headers come before path parameters and path parameters before query strings.
fn report_order(mut params: Vec<(&str, &str, Required)>) -> Vec<(Box<str>, Required)> {
    params.sort_by(|a, b| a.0.cmp(b.0));
    params
        .into_iter()
        .map(|(_, name, req)| (name.into(), req))
        .collect()
}

/// Compiles an API's models; a schema that does not compile is reported at its name.
pub fn models(
    raw: &indexmap::IndexMap<String, serde_json::Value>,
    e: &mut Errors,
) -> HashMap<String, Model> {
    let mut out = HashMap::with_capacity(raw.len());
    for (name, schema) in raw {
        match compile_model(schema) {
            Ok(m) => {
                out.insert(name.clone(), m);
            }
            Err(msg) => e.push_at(name, format!("not a valid JSON Schema: {msg}")),
        }
    }
    out
}

/// A method's request validation: the validator it names, the required parameters and the
/// models by content type. Parameters and models are checked even without a validator, so a
/// typo is reported rather than silently never enforced.
pub fn compile(
    a: &RawApi,
    m: &RawMethod,
    models: &HashMap<String, Model>,
    param_names: &[Box<str>],
    e: &mut Errors,
) -> Option<Box<Validation>> {
    let mut params = Vec::new();
    e.at("request_parameters", |e| {
        for (key, &required) in &m.request_parameters {
            let rest = key.strip_prefix("method.request.").unwrap_or("");
            let parsed = if let Some(name) = rest.strip_prefix("path.") {
                match param_names.iter().position(|p| **p == *name) {
                    Some(i) => Some((name, Required::Path(i))),
                    None => {
                        e.push_at(key, format!("the resource has no path parameter `{name}`"));
                        continue;
                    }
                }
            } else if let Some(name) = rest.strip_prefix("querystring.") {
                (!name.is_empty()).then(|| (name, Required::Source(IdentitySource::Query(name.to_owned()))))
            } else if let Some(name) = rest.strip_prefix("header.") {
                http::HeaderName::from_bytes(name.as_bytes())
                    .ok()
                    .map(|h| (name, Required::Source(IdentitySource::Header(h))))
            } else {
                None
            };
            match parsed {
                Some((name, req)) if required => params.push((key.as_str(), name, req)),
                Some(_) => {}
                None => e.push_at(
                    key,
                    "expected method.request.querystring.NAME, method.request.header.NAME or method.request.path.NAME",
                ),
            }
        }
    });
    let mut by_type = Vec::new();
    e.at("request_models", |e| {
        for (media, name) in &m.request_models {
            match models.get(name) {
                Some(model) => {
                    by_type.push((media.to_ascii_lowercase().into_boxed_str(), model.clone()))
                }
                None if a.models.contains_key(name) => {} // reported under `models`
                None => {
                    let mut known: Vec<&str> = a.models.keys().map(String::as_str).collect();
                    known.sort_unstable();
                    e.push_at(
                        media,
                        format!(
                            "no model named `{name}` under this API's `models` (defined: {})",
                            if known.is_empty() {
                                "none".to_owned()
                            } else {
                                known.join(", ")
                            }
                        ),
                    );
                }
            }
        }
    });
    let name = m.request_validator.as_ref()?;
    let Some(v) = a.request_validators.get(name) else {
        let mut known: Vec<&str> = a.request_validators.keys().map(String::as_str).collect();
        known.sort_unstable();
        e.push_at(
            "request_validator",
            format!(
                "no request validator named `{name}` under this API's `request_validators` (defined: {})",
                if known.is_empty() { "none".to_owned() } else { known.join(", ") }
            ),
        );
        return None;
    };
    Some(Box::new(Validation {
        params: if v.params {
            report_order(params)
        } else {
            Vec::new()
        },
        models: if v.body { by_type } else { Vec::new() },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A large body of deeply nested values that all fail a recursive `anyOf` model is
    /// refused without describing its failure (describing it took seconds: each branch's
    /// errors at every depth of every item); a small one gets its first failure, in a
    /// bounded line.
    #[test]
    fn only_a_small_invalid_body_gets_its_failure_described() {
        let model = compile_model(&serde_json::json!({
            "anyOf": [
                { "type": "array", "items": { "$ref": "#" } },
                { "type": "object", "additionalProperties": { "$ref": "#" } },
                { "type": "string" }
            ]
        }))
        .unwrap();
        let chain = format!("{}1{}", "{\"a\":".repeat(120), "}".repeat(120));
        let refused = |items: usize| {
            let body = format!("[{}]", vec![chain.as_str(); items].join(","));
            match check_body(&model, &Bytes::from(body)) {
                Err(r) => {
                    assert_eq!(r.kind, ResponseType::BadRequestBody);
                    r.reason.into_owned()
                }
                Ok(()) => panic!("an integer leaf matches no branch"),
            }
        };
        assert_eq!(refused(250), "request body does not match the model");
        let small = refused(2);
        assert!(
            small.starts_with("request body does not match the model: / "),
            "{small}"
        );
        assert!(small.len() <= MAX_REASON + 3, "{}", small.len());
        let valid = format!("[{}]", vec!["[[\"x\"]]"; 1000].join(","));
        assert!(check_body(&model, &Bytes::from(valid)).is_ok());
    }

    /// The official JSON-Schema-Test-Suite, draft 4 (copied under `testdata/`, see its
    /// SOURCES.md). `refRemote.json` is not copied: it needs a server for remote references,
    /// which Gatehouse never fetches.
    #[test]
    fn json_schema_test_suite_draft4() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/jsonschema-draft4");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        assert!(
            files.len() >= 25,
            "expected the draft 4 suite in {}",
            dir.display()
        );
        let (mut passed, mut failed) = (0, Vec::new());
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let groups: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            for group in groups.as_array().into_iter().flatten() {
                let model = match compile_model(&group["schema"]) {
                    Ok(m) => m,
                    Err(e) => {
                        failed.push(format!("{}: {}: {e}", file.display(), group["description"]));
                        continue;
                    }
                };
                for case in group["tests"].as_array().into_iter().flatten() {
                    let expected = case["valid"].as_bool().unwrap_or(false);
                    if model.is_valid(&case["data"]) == expected {
                        passed += 1;
                    } else {
                        failed.push(format!(
                            "{}: {} / {}",
                            file.file_name()
                                .map(|n| n.to_string_lossy())
                                .unwrap_or_default(),
                            group["description"],
                            case["description"]
                        ));
                    }
                }
            }
        }
        assert!(
            failed.is_empty(),
            "{passed} passed; failed:\n{}",
            failed.join("\n")
        );
        assert!(passed > 400, "only {passed} cases ran");
    }

    /// Recorded on API Gateway by LocalStack's AWS-validated test
    /// `tests/aws/services/apigateway/test_apigateway_common.py::test_api_gateway_request_validator`
    /// (snapshot `missing-all-required-request-params-post`, recorded 2024-01-10): a method
    /// declaring `method.request.querystring.qs1`, then `method.request.header.x-header-param`,
    /// then `method.request.path.issuer` answered a request missing all three with
    /// `Missing required request parameters: [x-header-param, issuer, qs1]`; the same snapshot
    /// shows API Gateway returning the method's `requestParameters` sorted by key. Sorting by
    /// key gives that order; within one location it is by name.
    #[test]
    fn missing_parameters_are_named_in_api_gateway_order() {
        let q = |n: &str| Required::Source(IdentitySource::Query(n.to_owned()));
        let declared = vec![
            ("method.request.querystring.qs1", "qs1", q("qs1")),
            (
                "method.request.header.x-header-param",
                "x-header-param",
                Required::Source(IdentitySource::Header(http::HeaderName::from_static(
                    "x-header-param",
                ))),
            ),
            ("method.request.path.issuer", "issuer", Required::Path(0)),
            ("method.request.querystring.a", "a", q("a")),
        ];
        let names: Vec<Box<str>> = report_order(declared).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            ["x-header-param", "issuer", "a", "qs1"].map(Box::<str>::from)
        );
    }

    #[test]
    fn model_chosen_by_media_type_then_default() {
        let json =
            compile_model(&serde_json::json!({"type": "object"})).unwrap_or_else(|e| panic!("{e}"));
        let any =
            compile_model(&serde_json::json!({"type": "string"})).unwrap_or_else(|e| panic!("{e}"));
        let v = Validation {
            params: Vec::new(),
            models: vec![
                ("application/json".into(), json.clone()),
                ("$default".into(), any.clone()),
            ],
        };
        let mut h = HeaderMap::new();
        assert!(
            Arc::ptr_eq(v.model_for(&h).unwrap_or(&any), &json),
            "no content type = JSON"
        );
        h.insert(
            "content-type",
            http::HeaderValue::from_static("Application/JSON; charset=utf-8"),
        );
        assert!(Arc::ptr_eq(v.model_for(&h).unwrap_or(&any), &json));
        h.insert("content-type", http::HeaderValue::from_static("text/plain"));
        assert!(Arc::ptr_eq(v.model_for(&h).unwrap_or(&json), &any));
        assert!(check_body(&json, &Bytes::from_static(b"{}")).is_ok());
        let err = check_body(&json, &Bytes::from_static(b"[1]"))
            .err()
            .map(|e| e.reason.to_string());
        assert!(err.is_some_and(|r| r.contains("does not match")));
        assert!(check_body(&json, &Bytes::from_static(b"{")).is_err());
    }
}
