//! The benchmark's backend: as little work per request as hyper allows, so that the figures
//! measure the proxy in front of it.
//!
//! - `GET /bytes/{n}`: `n` bytes (at most 8 MiB) of `application/octet-stream`;
//! - a WebSocket upgrade to a path ending in `/ws`: echoes every message;
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

/// Answers the upgrade with 101 and echoes text and binary messages on the new connection.
fn websocket(mut req: Request<Incoming>) -> Response<Full<Bytes>> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::protocol::Role;
    let Some(key) = req.headers().get("sec-websocket-key").cloned() else {
        return Response::builder()
            .status(400)
            .body(Full::default())
            .unwrap_or_default();
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(io) = on_upgrade.await else { return };
        let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            TokioIo::new(io),
            Role::Server,
            None,
        )
        .await;
        while let Some(Ok(m)) = ws.next().await {
            if (m.is_text() || m.is_binary()) && ws.send(m).await.is_err() {
                break;
            }
        }
    });
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    Response::builder()
        .status(101)
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-accept", accept)
        .body(Full::default())
        .unwrap_or_default()
}

async fn answer(req: Request<Incoming>, big: Bytes) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path().ends_with("/ws") && req.headers().contains_key("upgrade") {
        return Ok(websocket(req));
    }
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
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
