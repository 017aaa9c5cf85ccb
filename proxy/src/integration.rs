//! Integrations: what answers a routed request.

pub mod http_mapped;
pub mod http_proxy;
pub mod lambda;
pub mod mock;
pub mod wasm;

use crate::body::read_body;
use crate::body::Body;
use crate::ctx::RequestCtx;
use crate::ctx::RouteInfo;
use crate::error::Rejection;
use crate::plugin::Plugin;
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
        rt: &dyn RouteInfo,
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

/// Sends `req` to a backend and reads its whole answer (at most `limit` bytes) within
/// `timeout`, for the integrations that map or inspect answers instead of streaming them:
/// an unreachable backend or a broken answer is 502, no answer in time 504.
pub(crate) async fn exchange(
    shared: &Shared,
    req: http::Request<Body>,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<(http::response::Parts, bytes::Bytes), Rejection> {
    use crate::error::ResponseType;
    use http_body_util::BodyExt;
    let uri = req.uri().clone();
    let call = async {
        let resp = shared
            .upstreams
            .auto
            .request(req)
            .await
            .map_err(|e| http_proxy::classify(e, &uri.to_string()))?;
        let (parts, body) = resp.into_parts();
        let bytes = http_body_util::Limited::new(body, limit)
            .collect()
            .await
            .map_err(|e| {
                Rejection::new(
                    ResponseType::IntegrationFailure,
                    format!("reading the answer of `{uri}` failed: {e}"),
                )
                .with_status(http::StatusCode::BAD_GATEWAY)
            })?
            .to_bytes();
        Ok((parts, bytes))
    };
    tokio::time::timeout(timeout, call).await.map_err(|_| {
        Rejection::new(
            ResponseType::IntegrationTimeout,
            format!("`{uri}` did not answer within {timeout:?}"),
        )
    })?
}
