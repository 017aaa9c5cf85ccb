//! Route: finds the API stage by host and base path, then the resource and method.
//!
//! Reads the request's host, path and method. Records the match in `RequestCtx`.
//! Rejects with MISSING_AUTHENTICATION_TOKEN (403) when nothing matches, as API Gateway does
//! for an unknown resource, stage or method.

use super::ctx::{Matched, RequestCtx};
use crate::error::Rejection;
use crate::router::ParamSpans;
use crate::runtime::Runtime;

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
        Ok((api, stage, resource, method, rest_start)) => {
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
