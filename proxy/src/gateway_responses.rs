//! Gateway responses as a config overrides them (status, headers, body templates), by
//! response type, `DEFAULT_4XX` and `DEFAULT_5XX` resolved.

use crate::context_template::ContextTemplate;
use crate::error::ResponseType;
use gatehouse_config::http::status_code;
use gatehouse_config::raw::RawGatewayResponse;
use gatehouse_config::Errors;
use http::{HeaderName, StatusCode};
use std::sync::Arc;

/// A gateway response as overridden in config.
#[derive(Debug)]
pub struct ResponseOverride {
    pub status: Option<StatusCode>,
    pub headers: Vec<(HeaderName, ContextTemplate)>,
    pub body: Option<ContextTemplate>,
}

/// The override that applies to each response type, `DEFAULT_4XX`/`DEFAULT_5XX` resolved.
#[derive(Debug, Default)]
pub struct GatewayResponses {
    pub by_type: [Option<Arc<ResponseOverride>>; ResponseType::ALL.len()],
}

impl GatewayResponses {
    pub fn get(&self, t: ResponseType) -> Option<&ResponseOverride> {
        self.by_type[t.index()].as_deref()
    }
}

pub fn compile(
    raw: &indexmap::IndexMap<String, RawGatewayResponse>,
    e: &mut Errors,
) -> GatewayResponses {
    let mut explicit: [Option<Arc<ResponseOverride>>; ResponseType::ALL.len()] = Default::default();
    for (name, r) in raw {
        e.at(name, |e| {
            let Some(t) = ResponseType::from_name(name) else {
                let known: Vec<&str> = ResponseType::ALL.iter().map(|t| t.name()).collect();
                e.push(format!(
                    "unknown gateway response type `{name}`; expected one of {}",
                    known.join(", ")
                ));
                return;
            };
            let status = r
                .status
                .map(|s| e.at("status", |e| status_code(Some(s), 200, e)));
            let mut headers = Vec::with_capacity(r.headers.len());
            e.at("headers", |e| {
                for (k, v) in &r.headers {
                    match (
                        HeaderName::from_bytes(k.as_bytes()),
                        ContextTemplate::compile(v),
                    ) {
                        (Ok(n), Ok(t)) => headers.push((n, t)),
                        (Err(_), _) => e.push_at(k, "expected an HTTP header name"),
                        (_, Err(msg)) => e.push_at(k, msg),
                    }
                }
            });
            let body = r
                .body
                .as_deref()
                .and_then(|b| match ContextTemplate::compile(b) {
                    Ok(t) => Some(t),
                    Err(msg) => {
                        e.push_at("body", msg);
                        None
                    }
                });
            explicit[t.index()] = Some(Arc::new(ResponseOverride {
                status,
                headers,
                body,
            }));
        })
    }
    let d4 = explicit[ResponseType::Default4xx.index()].clone();
    let d5 = explicit[ResponseType::Default5xx.index()].clone();
    let mut out = GatewayResponses::default();
    for t in ResponseType::ALL {
        out.by_type[t.index()] = explicit[t.index()].clone().or_else(|| {
            if t.is_client_error() {
                d4.clone()
            } else {
                d5.clone()
            }
        });
    }
    out
}
