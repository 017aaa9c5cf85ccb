//! Integrations: what answers a routed request.

pub mod http_mapped;
pub mod http_proxy;
pub mod lambda;
pub mod mock;
pub mod wasm;

use crate::body::Body;
use crate::error::Rejection;
use crate::pipeline::ctx::RequestCtx;
use crate::pipeline::read_body;
use crate::plugin::Plugin;
use crate::runtime::Runtime;
use crate::Shared;
use http::request::Parts;
use http::Response;
use std::sync::Arc;

/// A compiled integration of one method.
#[derive(Debug)]
pub enum Integration {
    HttpProxy(http_proxy::HttpProxy),
    Http(Box<http_mapped::HttpMapped>),
    Lambda(lambda::Lambda),
    MappedMock(Box<http_mapped::MappedMock>),
    Mock(mock::Mock),
    Wasm(Arc<Plugin>),
}

impl Integration {
    /// Calls the integration. `stage` selects stage-variable substitutions.
    pub async fn invoke(
        &self,
        rt: &Runtime,
        shared: &Shared,
        ctx: &mut RequestCtx,
        stage: usize,
        parts: Parts,
        body: Body,
    ) -> Result<Response<Body>, Rejection> {
        match self {
            Integration::HttpProxy(p) => p.call(shared, ctx, stage, parts, body).await,
            Integration::Mock(m) => Ok(m.respond()),
            Integration::MappedMock(m) => {
                let body = read_body(body).await?;
                m.call(rt, ctx, &parts.headers, body)
            }
            Integration::Lambda(l) => {
                let body = read_body(body).await?;
                l.call(rt, shared, ctx, stage, &parts.headers, body).await
            }
            Integration::Http(h) => {
                let body = read_body(body).await?;
                h.call(rt, shared, ctx, stage, parts, body).await
            }
            Integration::Wasm(plugin) => {
                let body = read_body(body).await?;
                wasm::call(rt, plugin, ctx, &parts.headers, body.into())
            }
        }
    }
}
