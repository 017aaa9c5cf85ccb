//! Gateway responses as a config overrides them (status, headers, body templates), by
//! response type, `DEFAULT_4XX` and `DEFAULT_5XX` resolved, and the status a rejection is
//! answered with.

use crate::context_template::ContextTemplate;
use crate::error::{Rejection, ResponseType};
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

    /// The status `r` is answered with: the `status` of the override that applies to its type
    /// (its own, else `DEFAULT_4XX`/`DEFAULT_5XX`), else the status the rejection carries (502
    /// for a failed integration), else the type's default from API Gateway's table.
    pub fn status(&self, r: &Rejection) -> StatusCode {
        self.get(r.kind)
            .and_then(|o| o.status)
            .or(r.status)
            .unwrap_or_else(|| r.kind.default_status())
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

#[cfg(test)]
mod tests {
    use super::*;
    use indexmap::IndexMap;

    fn responses(raw: &[(&str, Option<u16>)]) -> GatewayResponses {
        let raw: IndexMap<String, RawGatewayResponse> = raw
            .iter()
            .map(|(name, status)| {
                let mut headers = IndexMap::new();
                headers.insert("x-from".to_owned(), (*name).to_owned());
                let r = RawGatewayResponse {
                    status: *status,
                    headers,
                    body: None,
                };
                ((*name).to_owned(), r)
            })
            .collect();
        let mut e = Errors::default();
        let out = compile(&raw, &mut e);
        assert!(e.is_empty(), "{e:?}");
        out
    }

    fn status(g: &GatewayResponses, kind: ResponseType, own: Option<u16>) -> u16 {
        let mut r = Rejection::new(kind, "test");
        r.status = own.and_then(|s| StatusCode::from_u16(s).ok());
        g.status(&r).as_u16()
    }

    fn from(g: &GatewayResponses, kind: ResponseType) -> Option<String> {
        let o = g.get(kind)?;
        o.headers
            .first()
            .and_then(|(_, t)| t.as_static().map(str::to_owned))
    }

    /// Without overrides a rejection keeps its own status, else its type's default: an
    /// integration that fails gets 502 as API Gateway answers a failed Lambda function (502
    /// `Internal server error`, see docs/configuration.md "Gateway responses"), where the table
    /// gives INTEGRATION_FAILURE 504.
    #[test]
    fn without_overrides_the_rejections_status_then_the_tables() {
        let g = responses(&[]);
        assert_eq!(status(&g, ResponseType::IntegrationFailure, Some(502)), 502);
        assert_eq!(status(&g, ResponseType::IntegrationFailure, None), 504);
        assert_eq!(
            status(&g, ResponseType::MissingAuthenticationToken, None),
            403
        );
        assert_eq!(status(&g, ResponseType::Default4xx, Some(408)), 408);
    }

    /// API Gateway's table, DEFAULT_4XX: "The default gateway response for an unspecified
    /// response type with the status code of 4XX. Changing the status code of this fallback
    /// gateway response changes the status codes of all other 4XX responses to the new value.
    /// Resetting this status code to null reverts the status codes of all other 4XX responses
    /// to their original values." (DEFAULT_5XX says the same of 5XX.) And of every other type:
    /// "If the response type is unspecified, this response defaults to the DEFAULT_4XX type"
    /// (or DEFAULT_5XX), so a type with an override of its own does not take the fallback's.
    #[test]
    fn fallbacks_give_their_status_to_types_without_an_override_of_their_own() {
        let g = responses(&[
            ("DEFAULT_4XX", Some(418)),
            ("UNAUTHORIZED", None),
            ("THROTTLED", Some(503)),
            ("DEFAULT_5XX", Some(599)),
        ]);
        // Unspecified 4XX and 5XX types take the fallback's status and headers, whatever
        // status the rejection carried.
        assert_eq!(
            status(&g, ResponseType::MissingAuthenticationToken, None),
            418
        );
        assert_eq!(status(&g, ResponseType::Default4xx, Some(408)), 418);
        assert_eq!(
            from(&g, ResponseType::QuotaExceeded).as_deref(),
            Some("DEFAULT_4XX")
        );
        assert_eq!(status(&g, ResponseType::IntegrationFailure, Some(502)), 599);
        assert_eq!(status(&g, ResponseType::IntegrationTimeout, None), 599);
        assert_eq!(
            from(&g, ResponseType::AuthorizerFailure).as_deref(),
            Some("DEFAULT_5XX")
        );
        // A type with its own override keeps its own status, or its default when it sets none.
        assert_eq!(status(&g, ResponseType::Unauthorized, None), 401);
        assert_eq!(
            from(&g, ResponseType::Unauthorized).as_deref(),
            Some("UNAUTHORIZED")
        );
        assert_eq!(status(&g, ResponseType::Throttled, None), 503);

        // A fallback without a status ("reset to null") leaves every type its own status.
        let g = responses(&[("DEFAULT_4XX", None), ("DEFAULT_5XX", None)]);
        assert_eq!(
            status(&g, ResponseType::MissingAuthenticationToken, None),
            403
        );
        assert_eq!(status(&g, ResponseType::Throttled, None), 429);
        assert_eq!(status(&g, ResponseType::IntegrationFailure, Some(502)), 502);
        assert_eq!(status(&g, ResponseType::IntegrationTimeout, None), 504);
        assert_eq!(
            from(&g, ResponseType::ExpiredToken).as_deref(),
            Some("DEFAULT_4XX")
        );
    }

    /// An override of INTEGRATION_FAILURE that sets no status changes headers and body only: the
    /// failure keeps the status it was answered with before (502), not the table's 504.
    #[test]
    fn an_override_without_a_status_keeps_the_failures_own() {
        let g = responses(&[("INTEGRATION_FAILURE", None)]);
        assert_eq!(status(&g, ResponseType::IntegrationFailure, Some(502)), 502);
        assert_eq!(
            from(&g, ResponseType::IntegrationFailure).as_deref(),
            Some("INTEGRATION_FAILURE")
        );
        let g = responses(&[("INTEGRATION_FAILURE", Some(500))]);
        assert_eq!(status(&g, ResponseType::IntegrationFailure, Some(502)), 500);
    }
}
