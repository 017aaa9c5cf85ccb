//! A component of the standard `wasi:http/proxy` world, written against the `wasip2` crate only,
//! as for any `wasi:http` host. Routes on what its path contains, wherever it is mounted:
//!
//! - `.../stream/N`: `N` chunks of `chunk I\n`;
//! - `.../stream-then-trap/N`: sets a `200`, writes `N` such chunks, then traps before
//!   finishing the body;
//! - `POST .../echo`: the request body back, read and written as it streams;
//! - `.../fetch/HOST:PORT/PATH`: `GET http://HOST:PORT/PATH` through
//!   `wasi:http/outgoing-handler`, answered with the status and body it got, or `502` with
//!   the error code when the request failed (an origin not granted among them);
//! - `.../fetch-https/HOST:PORT/PATH`: the same with `GET https://HOST:PORT/PATH`;
//! - a path ending in `/hello-world`: `200` with `Hello, world!`;
//! - any other path with `/hello` in it: `200` JSON with the method, path, the gateway's
//!   context headers (`x-gatehouse-*`) and how many calls this instance has served;
//! - anything else: `404`.

use std::sync::atomic::{AtomicU64, Ordering};
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
    ResponseOutparam, Scheme,
};

static CALLS: AtomicU64 = AtomicU64::new(0);

struct Hello;

impl wasip2::exports::http::incoming_handler::Guest for Hello {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let calls = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
        let path = request.path_with_query().unwrap_or_default();
        let method = method_name(&request.method());
        if let Some(n) = after(&path, "/stream-then-trap/") {
            let n: u32 = n.parse().unwrap_or(0);
            let chunks = (0..n).map(|i| format!("chunk {i}\n").into_bytes());
            respond_unfinished(out, chunks);
            panic!("trapping after {n} chunks, as asked");
        } else if let Some(n) = after(&path, "/stream/") {
            let n: u32 = n.parse().unwrap_or(0);
            let chunks = (0..n).map(|i| format!("chunk {i}\n").into_bytes());
            respond(out, 200, "text/plain", chunks);
        } else if path.ends_with("/echo") && method == "POST" {
            let body = read_body(&request);
            respond(out, 200, "application/octet-stream", [body]);
        } else if let Some((scheme, target)) = fetch_target(&path) {
            match fetch(scheme, target) {
                Ok((status, body)) => respond(out, status, "text/plain", [body]),
                Err(why) => respond(out, 502, "text/plain", [why.into_bytes()]),
            }
        } else if path.ends_with("/hello-world") {
            respond(out, 200, "text/plain", [b"Hello, world!\n".to_vec()]);
        } else if path.contains("/hello") {
            let headers = request.headers();
            let mut context = String::new();
            for (name, value) in headers.entries() {
                if name.starts_with("x-gatehouse-") {
                    let sep = if context.is_empty() { "" } else { "," };
                    let value = String::from_utf8_lossy(&value);
                    context.push_str(&format!("{sep}\"{name}\":\"{}\"", escape(&value)));
                }
            }
            let json = format!(
                "{{\"method\":\"{method}\",\"path\":\"{}\",\"calls\":{calls},\"context\":{{{context}}}}}",
                escape(&path)
            );
            respond(out, 200, "application/json", [json.into_bytes()]);
        } else {
            respond(out, 404, "text/plain", [b"not found\n".to_vec()]);
        }
    }
}

/// What follows the first `marker` in `path`.
fn after<'a>(path: &'a str, marker: &str) -> Option<&'a str> {
    path.find(marker).map(|i| &path[i + marker.len()..])
}

fn method_name(m: &Method) -> String {
    match m {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Patch => "PATCH".into(),
        Method::Options => "OPTIONS".into(),
        Method::Connect => "CONNECT".into(),
        Method::Trace => "TRACE".into(),
        Method::Other(s) => s.clone(),
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn read_body(request: &IncomingRequest) -> Vec<u8> {
    let mut data = Vec::new();
    let Ok(body) = request.consume() else {
        return data;
    };
    if let Ok(stream) = body.stream() {
        while let Ok(chunk) = stream.blocking_read(64 * 1024) {
            data.extend_from_slice(&chunk);
        }
    }
    data
}

/// Sends the response head, then each chunk as its own write.
fn respond(out: ResponseOutparam, status: u16, content_type: &str, chunks: impl IntoIterator<Item = Vec<u8>>) {
    let headers = Fields::from_list(&[("content-type".to_string(), content_type.as_bytes().to_vec())])
        .unwrap_or_else(|_| Fields::new());
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(status);
    let Ok(body) = response.body() else {
        return;
    };
    ResponseOutparam::set(out, Ok(response));
    if let Ok(stream) = body.write() {
        for chunk in chunks {
            for part in chunk.chunks(4096) {
                if stream.blocking_write_and_flush(part).is_err() {
                    return;
                }
            }
        }
    }
    let _ = OutgoingBody::finish(body, None);
}

/// Sends the response head and writes each chunk, leaving the body unfinished.
fn respond_unfinished(out: ResponseOutparam, chunks: impl IntoIterator<Item = Vec<u8>>) {
    let response = OutgoingResponse::new(Fields::new());
    let Ok(body) = response.body() else {
        return;
    };
    ResponseOutparam::set(out, Ok(response));
    if let Ok(stream) = body.write() {
        for chunk in chunks {
            if stream.blocking_write_and_flush(&chunk).is_err() {
                return;
            }
        }
    }
    std::mem::forget(body);
}

/// The scheme and `HOST:PORT/PATH` of a `.../fetch/...` or `.../fetch-https/...` path.
fn fetch_target(path: &str) -> Option<(Scheme, &str)> {
    after(path, "/fetch/")
        .map(|t| (Scheme::Http, t))
        .or_else(|| after(path, "/fetch-https/").map(|t| (Scheme::Https, t)))
}

fn fetch(scheme: Scheme, target: &str) -> Result<(u16, Vec<u8>), String> {
    let (authority, rest) = target.split_once('/').unwrap_or((target, ""));
    let request = OutgoingRequest::new(Fields::new());
    let _ = request.set_scheme(Some(&scheme));
    let _ = request.set_authority(Some(authority));
    let _ = request.set_path_with_query(Some(&format!("/{rest}")));
    let pending = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(r))) => r,
        Some(Ok(Err(e))) => return Err(format!("{e:?}")),
        Some(Err(())) | None => return Err("no response".into()),
    };
    let status = response.status();
    let mut data = Vec::new();
    if let Ok(body) = response.consume() {
        if let Ok(stream) = body.stream() {
            while let Ok(chunk) = stream.blocking_read(64 * 1024) {
                data.extend_from_slice(&chunk);
            }
        }
    }
    Ok((status, data))
}

wasip2::http::proxy::export!(Hello);
