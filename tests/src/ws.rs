//! WebSocket parts for the tests: an echo server (the backend behind pass-through routes)
//! and a client wrapper with bounded waits.

use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::time::Duration;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A WebSocket server on loopback that echoes every text and binary message; it stops when
/// dropped.
#[derive(Debug)]
pub struct WsEcho {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl WsEcho {
    pub async fn start() -> WsEcho {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind ws echo");
        let addr = listener.local_addr().expect("ws echo addr");
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    // Autobahn's limit cases send messages of up to 16 MiB.
                    let config = WebSocketConfig::default()
                        .max_message_size(Some(64 << 20))
                        .max_frame_size(Some(64 << 20));
                    let Ok(mut ws) =
                        tokio_tungstenite::accept_async_with_config(stream, Some(config)).await
                    else {
                        return;
                    };
                    while let Some(Ok(msg)) = ws.next().await {
                        if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        WsEcho { addr, task }
    }
}

impl Drop for WsEcho {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Stream = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// A connected client.
#[derive(Debug)]
pub struct WsClient {
    pub ws: Stream,
}

/// How a connection attempt ended.
#[derive(Debug)]
pub enum Connect {
    Open(Box<WsClient>),
    /// The handshake was refused with this status and body.
    Refused(u16, String),
}

impl WsClient {
    /// Connects to `url` (ws://...) with extra request headers.
    pub async fn connect_with(url: &str, headers: &[(&str, &str)]) -> Connect {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = url.into_client_request().expect("ws url");
        for (k, v) in headers {
            req.headers_mut().insert(
                http::HeaderName::from_bytes(k.as_bytes()).expect("header name"),
                v.parse().expect("header value"),
            );
        }
        match tokio::time::timeout(
            Duration::from_secs(10),
            tokio_tungstenite::connect_async(req),
        )
        .await
        .expect("handshake within 10 s")
        {
            Ok((ws, _)) => Connect::Open(Box::new(WsClient { ws })),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                let body = resp
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                Connect::Refused(resp.status().as_u16(), body)
            }
            Err(e) => panic!("WebSocket connect to {url} failed: {e}"),
        }
    }

    /// Connects and expects the handshake to succeed.
    pub async fn connect(url: &str) -> WsClient {
        match Self::connect_with(url, &[]).await {
            Connect::Open(c) => *c,
            Connect::Refused(s, b) => panic!("handshake refused: {s} {b}"),
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::text(text))
            .await
            .expect("send a message");
    }

    /// The next text or binary message, skipping pings and pongs; panics after `timeout`.
    pub async fn recv(&mut self, timeout: Duration) -> Message {
        tokio::time::timeout(timeout, async {
            loop {
                match self.ws.next().await {
                    Some(Ok(m)) if m.is_ping() || m.is_pong() => continue,
                    Some(Ok(m)) => return m,
                    Some(Err(e)) => panic!("WebSocket read failed: {e}"),
                    None => panic!("WebSocket closed without a message"),
                }
            }
        })
        .await
        .expect("a message in time")
    }

    /// The next text message as a string.
    pub async fn recv_text(&mut self, timeout: Duration) -> String {
        match self.recv(timeout).await {
            Message::Text(t) => t.to_string(),
            other => panic!("expected a text message, got {other:?}"),
        }
    }

    /// Nothing but pings arrives for `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        if let Ok(m) = tokio::time::timeout(wait, self.recv(wait * 2)).await {
            panic!("expected no message, got {m:?}");
        }
    }

    /// Waits until the connection ends, with or without a close frame.
    pub async fn ended(&mut self, timeout: Duration) {
        tokio::time::timeout(timeout, async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await
        .expect("ended in time")
    }

    /// Waits for the server's close frame; returns its code (1005 when it had none).
    pub async fn closed_with(&mut self, timeout: Duration) -> u16 {
        tokio::time::timeout(timeout, async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Close(f))) => {
                        return f.map_or(1005, |f| u16::from(f.code));
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => panic!("closed without a close frame: {e}"),
                    None => panic!("closed without a close frame"),
                }
            }
        })
        .await
        .expect("closed in time")
    }
}
