//! Integrations: what answers a routed request.

pub mod http_proxy;
pub mod mock;

use crate::body::Body;
use crate::error::Rejection;
use crate::pipeline::ctx::RequestCtx;
use crate::upstream::Upstreams;
use http::request::Parts;
use http::Response;

/// A compiled integration of one method.
#[derive(Debug)]
pub enum Integration {
    HttpProxy(http_proxy::HttpProxy),
    Mock(mock::Mock),
}

impl Integration {
    /// Calls the integration. `stage` selects stage-variable substitutions.
    pub async fn invoke(
        &self,
        upstreams: &Upstreams,
        ctx: &mut RequestCtx,
        stage: usize,
        parts: Parts,
        body: Body,
    ) -> Result<Response<Body>, Rejection> {
        match self {
            Integration::HttpProxy(p) => p.call(upstreams, ctx, stage, parts, body).await,
            Integration::Mock(m) => Ok(m.respond()),
        }
    }
}
