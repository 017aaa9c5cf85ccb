//! Header names as the client wrote them, for payload 1.0 events (API Gateway keeps the
//! client's case there: `"Accept"`, `"cache-control"`, `"headerName"` in the recorded events).
//!
//! `http::HeaderMap` lowercases every name. With `preserve_header_case` on the listener, hyper
//! keeps the HTTP/1 names as written in a private request extension, which only its own
//! HTTP/1 client reads back, when it writes a request. So the head is written once into
//! memory with that client and the names are read off it. HTTP/2 and HTTP/3 names are
//! lowercase on the wire, so there is nothing to recover for them.

use bytes::Bytes;
use http::request::Parts;
use http::Version;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::AsyncReadExt;

/// Most bytes of a head worth reading back; a longer one keeps lowercase names.
const MAX_HEAD: usize = 256 * 1024;

/// Lowercase name -> the name as the client first wrote it.
#[derive(Debug, Default)]
pub struct Case(HashMap<String, String>);

impl Case {
    /// The client's spelling of `lower`, or `lower` itself.
    pub fn of<'a>(&'a self, lower: &'a str) -> &'a str {
        self.0.get(lower).map_or(lower, String::as_str)
    }
}

/// The client's header names for a request of `version` (empty for HTTP/2 and HTTP/3).
pub async fn original_names(version: Version, parts: &Parts) -> Case {
    if !matches!(version, Version::HTTP_10 | Version::HTTP_11) || parts.headers.is_empty() {
        return Case::default();
    }
    written_head(parts).await.map(parse).unwrap_or_default()
}

/// A body that never yields: hyper writes the head out and then waits on it, whatever
/// `Content-Length` the head declares.
struct Pending;

impl http_body::Body for Pending {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        Poll::Pending
    }
}

/// The request head as hyper's HTTP/1 client writes it with the request's extensions.
async fn written_head(parts: &Parts) -> Option<Vec<u8>> {
    let (ours, mut theirs) = tokio::io::duplex(16 * 1024);
    let (mut send, conn) = hyper::client::conn::http1::handshake::<_, Pending>(TokioIo::new(ours))
        .await
        .ok()?;
    let mut req = http::Request::new(Pending);
    *req.headers_mut() = parts.headers.clone();
    *req.extensions_mut() = parts.extensions.clone();
    let write = async {
        let _ = tokio::join!(conn, send.send_request(req));
    };
    let read = async {
        let mut head = Vec::with_capacity(1024);
        let mut buf = [0u8; 4096];
        loop {
            let n = theirs.read(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            head.extend_from_slice(&buf[..n]);
            if let Some(end) = find(&head, b"\r\n\r\n") {
                head.truncate(end);
                return Some(head);
            }
            if head.len() > MAX_HEAD {
                return None;
            }
        }
    };
    tokio::select! {
        head = read => head,
        () = write => None,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Names from the header lines of `head` (the request line first).
fn parse(head: Vec<u8>) -> Case {
    let mut case = HashMap::new();
    for line in head.split(|&b| b == b'\n').skip(1) {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let Ok(name) = std::str::from_utf8(&line[..colon]) else {
            continue;
        };
        case.entry(name.to_ascii_lowercase())
            .or_insert_with(|| name.to_owned());
    }
    Case(case)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Empty;
    use hyper::service::service_fn;

    /// A request through a hyper server with `preserve_header_case`, as the listener runs.
    async fn served(raw: &'static [u8]) -> Vec<(String, String)> {
        let (client, server) = tokio::io::duplex(16 * 1024);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let tx = std::sync::Mutex::new(Some(tx));
        let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
            let (parts, _) = req.into_parts();
            let tx = tx.lock().ok().and_then(|mut t| t.take());
            async move {
                let case = original_names(parts.version, &parts).await;
                let names = parts
                    .headers
                    .keys()
                    .map(|k| (k.as_str().to_owned(), case.of(k.as_str()).to_owned()))
                    .collect::<Vec<_>>();
                if let Some(tx) = tx {
                    let _ = tx.send(names);
                }
                Ok::<_, Infallible>(http::Response::new(Empty::<Bytes>::new()))
            }
        });
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .preserve_header_case(true)
                .serve_connection(TokioIo::new(server), svc)
                .await;
        });
        let mut client = client;
        tokio::io::AsyncWriteExt::write_all(&mut client, raw)
            .await
            .unwrap();
        rx.await.unwrap()
    }

    #[tokio::test]
    async fn http1_names_keep_the_clients_case() {
        let names = served(
            b"POST / HTTP/1.1\r\nHost: x\r\nheaderName: v\r\ncache-control: no-cache\r\nX-Amz-Cf-Id: 1\r\nx-two: a\r\nX-Two: b\r\nContent-Length: 5\r\n\r\nhello",
        )
        .await;
        let want = [
            ("host", "Host"),
            ("headername", "headerName"),
            ("cache-control", "cache-control"),
            ("x-amz-cf-id", "X-Amz-Cf-Id"),
            ("x-two", "x-two"),
            ("content-length", "Content-Length"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(names, want);
    }
}
