//! The `http` integration's config and the mapping parts a mapped mock shares: request
//! parameters, request templates, passthrough behaviour and integration responses.

use crate::integration::{Integration, StageView};
use crate::vtl::Template;
use gatehouse_config::http::status_code;
use gatehouse_config::raw::{RawIntegration, RawIntegrationResponse};
use gatehouse_config::Errors;
use http::HeaderName;
use std::collections::HashMap;

pub fn templates(
    raw: &indexmap::IndexMap<String, String>,
    e: &mut Errors,
) -> Vec<(Box<str>, Template)> {
    let mut out = Vec::with_capacity(raw.len());
    for (media, text) in raw {
        match Template::compile(text) {
            Ok(t) => out.push((media.to_ascii_lowercase().into_boxed_str(), t)),
            Err(msg) => e.push_at(media, format!("not a valid VTL template: {msg}")),
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
pub fn compile(
    uri: &str,
    method: Option<&str>,
    timeout: Option<&str>,
    request_parameters: &indexmap::IndexMap<String, String>,
    request_templates: &indexmap::IndexMap<String, String>,
    passthrough: Option<&str>,
    responses: &[RawIntegrationResponse],
    params: &[Box<str>],
    stages: &[StageView<'_>],
    e: &mut Errors,
) -> Option<Integration> {
    use super::{parse_source, HttpMapped, Passthrough, Target};
    let proxy = crate::integration::compile(
        &RawIntegration::HttpProxy {
            uri: uri.to_owned(),
            method: method.map(str::to_owned),
            timeout: timeout.map(str::to_owned),
            http_version: None,
        },
        params,
        stages,
        &HashMap::new(),
        &[],
        e,
    );
    let mut mapped_params = Vec::new();
    e.at("request_parameters", |e| {
        for (target, source) in request_parameters {
            let t = if let Some(h) = target.strip_prefix("integration.request.header.") {
                HeaderName::from_bytes(h.as_bytes()).ok().map(Target::Header)
            } else {
                target
                    .strip_prefix("integration.request.querystring.")
                    .filter(|q| !q.is_empty())
                    .map(|q| Target::Query(q.to_owned()))
            };
            let Some(t) = t else {
                e.push_at(target, "expected integration.request.header.NAME or integration.request.querystring.NAME");
                continue;
            };
            match parse_source(source, params, false) {
                Ok(s) => mapped_params.push((t, s)),
                Err(msg) => e.push_at(target, msg),
            }
        }
    });
    let request_templates = e.at("request_templates", |e| templates(request_templates, e));
    let passthrough = match passthrough.map(str::to_ascii_lowercase).as_deref() {
        None | Some("when_no_match") => Passthrough::WhenNoMatch,
        Some("when_no_templates") => Passthrough::WhenNoTemplates,
        Some("never") => Passthrough::Never,
        Some(other) => {
            e.push_at(
                "passthrough_behavior",
                format!("expected when_no_match, when_no_templates or never, found `{other}`"),
            );
            Passthrough::WhenNoMatch
        }
    };
    let out_responses = e.at("responses", |e| integration_responses(responses, params, e));
    match proxy {
        Some(Integration::HttpProxy(p)) => Some(Integration::Http(Box::new(HttpMapped {
            uris: p.uris,
            method: p.method,
            timeout: p.timeout,
            request_parameters: mapped_params,
            request_templates,
            passthrough,
            responses: out_responses,
        }))),
        _ => None,
    }
}

pub fn integration_responses(
    responses: &[RawIntegrationResponse],
    params: &[Box<str>],
    e: &mut Errors,
) -> Vec<super::IntegrationResponse> {
    use super::{parse_source, IntegrationResponse};
    let mut out_responses = Vec::with_capacity(responses.len());
    for (i, r) in responses.iter().enumerate() {
        e.index(i, |e| {
            let pattern = r.selection_pattern.as_ref().and_then(|p| {
                match regex::Regex::new(&format!("^(?:{p})$")) {
                    Ok(re) => Some(re),
                    Err(err) => {
                        e.push_at(
                            "selection_pattern",
                            format!("not a valid regular expression: {err}"),
                        );
                        None
                    }
                }
            });
            let status = e.at("status", |e| status_code(r.status, 200, e));
            let mut headers = Vec::new();
            e.at("response_parameters", |e| {
                for (target, source) in &r.response_parameters {
                    let Some(h) = target
                        .strip_prefix("method.response.header.")
                        .and_then(|h| HeaderName::from_bytes(h.as_bytes()).ok())
                    else {
                        e.push_at(target, "expected method.response.header.NAME");
                        continue;
                    };
                    match parse_source(source, params, true) {
                        Ok(s) => headers.push((h, s)),
                        Err(msg) => e.push_at(target, msg),
                    }
                }
            });
            let templates = e.at("response_templates", |e| {
                templates(&r.response_templates, e)
            });
            out_responses.push(IntegrationResponse {
                pattern,
                status,
                headers,
                templates,
            });
        })
    }
    if responses
        .iter()
        .filter(|r| r.selection_pattern.is_none())
        .count()
        > 1
    {
        e.push("at most one response without selection_pattern (the default)");
    }
    out_responses
}
