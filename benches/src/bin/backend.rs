//! The benchmark's backend: as little work per request as hyper allows, so that the figures
//! measure the proxy in front of it.
//!
//! - `GET /bytes/{n}`: `n` bytes (at most 8 MiB) of `application/octet-stream`;
//! - any other request: its body is read to the end, then a small JSON answer.
//!
//! Speaks HTTP/1.1 and h2c (prior knowledge) on one port. Usage:
//! `bench-backend 127.0.0.1:PORT [THREADS]`; prints `listening ADDR` once ready.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::io::Write;

const SMALL: &[u8] = b"{\"message\":\"hello from the backend\"}";
const MAX_BYTES: usize = 8 << 20;

async fn answer(req: Request<Incoming>, big: Bytes) -> Result<Response<Full<Bytes>>, Infallible> {
    let n = req
        .uri()
        .path()
        .rsplit_once("/bytes/")
        .and_then(|(_, n)| n.parse::<usize>().ok());
    if let Some(n) = n {
        let body = big.slice(..n.min(MAX_BYTES));
        return Ok(Response::builder()
            .header("content-type", "application/octet-stream")
            .body(Full::new(body))
            .unwrap_or_default());
    }
    // Read the request body to the end, as a real service would.
    let mut body = req.into_body();
    while let Some(frame) = body.frame().await {
        if frame.is_err() {
            break;
        }
    }
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(SMALL)))
        .unwrap_or_default())
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr: std::net::SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:0".into())
        .parse()?;
    let threads: usize = args.next().map_or(Ok(1), |t| t.parse())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        println!("listening {}", listener.local_addr()?);
        std::io::stdout().flush()?;
        let big = Bytes::from(vec![b'x'; MAX_BYTES]);
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let big = big.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| answer(req, big.clone()));
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
