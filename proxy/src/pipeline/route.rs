//! Route: finds the API stage by host and base path, then the resource and method.
//!
//! Reads the request's host, path and method. Records the match in `RequestCtx`.
//! Rejects with MISSING_AUTHENTICATION_TOKEN (403) when nothing matches, as API Gateway does
//! for an unknown resource, stage or method.

use crate::body::Body;
use crate::ctx::{Matched, RequestCtx};
use crate::error::Rejection;
use crate::router::ParamSpans;
use crate::runtime::MethodKey;
use crate::runtime::Runtime;
use http::header::{self, HeaderMap};
use http::{Method, Response};

/// Routes `ctx`'s request; returns a copy of the match for the stages after it.
pub fn route(rt: &Runtime, ctx: &mut RequestCtx) -> Result<Matched, Rejection> {
    let mut params = ParamSpans::new();
    let host = ctx.host_name();
    let routed = rt.route(host, ctx.uri.path(), &ctx.method, &mut params);
    let stage_of_api = |api: usize| {
        rt.mount_for(host, ctx.uri.path())
            .ok()
            .filter(|(a, _, _)| *a == api)
            .map(|(_, s, _)| s)
    };
    match routed {
        Ok((api, mut stage, resource, method, rest_start)) => {
            if let Some(canary) = rt.apis[api].stages[stage].canary {
                let picked = canary.pick();
                if picked {
                    stage = canary.stage;
                }
                ctx.canary = Some(picked);
            }
            let m = Matched {
                api,
                stage,
                resource,
                method,
                rest_start,
                params,
            };
            ctx.api = Some(api);
            ctx.stage = Some(stage);
            ctx.matched = Some(m.clone());
            Ok(m)
        }
        Err(api) => {
            let stage = api.and_then(stage_of_api);
            ctx.api = api;
            ctx.stage = stage;
            Err(Rejection::missing_token())
        }
    }
}

/// A preflight to a CORS-enabled API's resource that has no `OPTIONS` method of its own.
pub fn preflight(
    rt: &Runtime,
    host: Option<&str>,
    method: &Method,
    headers: &HeaderMap,
    path: &str,
) -> Option<Response<Body>> {
    if method != Method::OPTIONS || !headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
        return None;
    }
    let (api_idx, _, rest) = rt.mount_for(host, path).ok()?;
    let api = &rt.apis[api_idx];
    let cors = api.cors.as_deref()?;
    let mut params = ParamSpans::new();
    let (resource, ()) = api.tree.find(path, rest, &mut |_| Some(()), &mut params)?;
    if api.resources[resource].by_method[MethodKey::Options as usize].is_some() {
        return None;
    }
    Some(cors.preflight(
        headers.get(header::ORIGIN),
        headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS),
    ))
}
