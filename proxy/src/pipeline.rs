//! The request pipeline: one ordered list of stages.
//!
//! ```text
//! route          pipeline/route.rs    API, stage, resource, method, path parameters
//! body limit     (below)              413 for a declared length over the limit
//! integration    integration.rs       http_proxy | mock
//! observe        pipeline/observe.rs  request id header, metrics, access log: every exit path
//! ```
//! Each stage either lets the request go on or ends it with a [`Rejection`];
//! `pipeline/respond.rs` is the only place a rejection becomes a response. The runtime is
//! loaded once per request, so a reload never changes a request half-way.

pub mod ctx;
pub mod observe;
pub mod respond;
pub mod route;

use crate::body::Body;
use crate::error::{Rejection, ResponseType};
use crate::runtime::Runtime;
use crate::Shared;
use ctx::RequestCtx;
use http::{Request, Response};
use hyper::body::Incoming;
use std::net::SocketAddr;
use std::sync::Arc;

/// What a connection knows about its peer.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub tls: bool,
}

/// Serves one request from start to finish.
pub async fn handle(shared: Arc<Shared>, req: Request<Incoming>, conn: ConnInfo) -> Response<Body> {
    let rt = shared.runtime.load_full();
    let (parts, body) = req.into_parts();
    let mut ctx = RequestCtx::new(&parts, conn.peer.ip(), conn.tls);
    let outcome =
        tokio::time::timeout(rt.request_timeout, run(&shared, &rt, &mut ctx, parts, body)).await;
    let mut resp = match outcome {
        Ok(Ok(resp)) => resp,
        Ok(Err(rejection)) => respond::rejection(&rt, &mut ctx, rejection),
        Err(_) => respond::rejection(
            &rt,
            &mut ctx,
            Rejection::new(ResponseType::IntegrationTimeout, "request_timeout elapsed"),
        ),
    };
    observe::finish(&shared, &rt, &mut ctx, &mut resp);
    resp
}

async fn run(
    shared: &Shared,
    rt: &Runtime,
    ctx: &mut RequestCtx,
    parts: http::request::Parts,
    body: Incoming,
) -> Result<Response<Body>, Rejection> {
    let matched = route::route(rt, ctx)?;
    check_declared_length(rt, &parts)?;
    let body = Body::limited(body, rt.max_body_bytes);
    let entry = &rt.apis[matched.api].resources[matched.resource].methods[matched.method];
    entry
        .integration
        .invoke(&shared.upstreams, ctx, matched.stage, parts, body)
        .await
}

/// Rejects a body whose declared length is over the limit before reading any of it.
fn check_declared_length(rt: &Runtime, parts: &http::request::Parts) -> Result<(), Rejection> {
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > rt.max_body_bytes => Err(Rejection::new(
            ResponseType::RequestTooLarge,
            format!(
                "declared body of {n} bytes is over the limit of {}",
                rt.max_body_bytes
            ),
        )),
        _ => Ok(()),
    }
}
