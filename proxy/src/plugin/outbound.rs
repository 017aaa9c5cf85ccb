//! Plugins' outbound HTTP (`wasi:http/outgoing-handler`) through the gateway's upstream
//! clients, once the plugin host has checked the grant: a plain-`http` request goes over the
//! HTTP/1.1 pools of `gatehouse_upstream` on the calling task (the worker's idle connections,
//! each backend's connection cap and the connect timeout, shared with the integrations), an
//! `https` one (or one asking for HTTP/2) through hyper's client, as `http_proxy` sends it.

use crate::body::{Body, BoxError, FromBackend};
use crate::plugin::host::http::{ClientFuture, ErrorCode, HttpClient, WasiBody};
use crate::plugin::HttpBody;
use crate::upstream::Upstreams;
use gatehouse_upstream::{ErrorKind, SendBody};
use http::{header, Request, Version};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Duration;

/// The gateway's upstream clients as the plugin host's [`HttpClient`].
#[derive(Debug)]
pub struct PluginUpstreams(pub Arc<Upstreams>);

impl HttpClient for PluginUpstreams {
    fn send(&self, request: Request<WasiBody>, between_frames: Duration) -> ClientFuture {
        let upstreams = self.0.clone();
        Box::pin(async move {
            let plain = request.uri().scheme() == Some(&http::uri::Scheme::HTTP)
                && request.version() != Version::HTTP_2;
            // Only granted origins get here: the pools gain at most a backend per origin a
            // config grants.
            match (plain, request.uri().authority().cloned()) {
                (true, Some(authority)) => h1(&upstreams, &authority, request).await,
                _ => pooled_client(&upstreams, request, between_frames).await,
            }
        })
    }
}

/// Over a pooled plain-HTTP/1.1 connection of this worker.
async fn h1(
    upstreams: &Upstreams,
    authority: &http::uri::Authority,
    request: Request<WasiBody>,
) -> Result<http::Response<WasiBody>, ErrorCode> {
    let backend = upstreams.h1.backend(authority);
    let (mut parts, body) = request.into_parts();
    // The pool writes the backend's own `Host`.
    parts.headers.remove(header::HOST);
    let target = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let body = body.map_err(|e| BoxError::from(format!("the plugin's request body failed: {e:?}")));
    let response = backend
        .send(
            &parts.method,
            &target,
            &parts.headers,
            SendBody::Stream(body),
        )
        .await
        .map_err(|e| error_code(&e))?;
    Ok(response.map(|b| b.map_err(|e| error_code(&e)).boxed_unsync()))
}

/// Through hyper's client (TLS with HTTP/2 or HTTP/1.1 by ALPN; h2c when asked for HTTP/2).
async fn pooled_client(
    upstreams: &Upstreams,
    request: Request<WasiBody>,
    between_frames: Duration,
) -> Result<http::Response<WasiBody>, ErrorCode> {
    let client = match request.version() {
        Version::HTTP_2 => &upstreams.h2,
        _ => &upstreams.auto,
    };
    let request =
        request.map(|b| Body::Plugin(FromBackend::new(HttpBody::from(b), between_frames)));
    match client.request(request).await {
        Ok(response) => Ok(response.map(|b| b.map_err(ErrorCode::from).boxed_unsync())),
        Err(e) if e.is_connect() => Err(tls_failure(&e).unwrap_or(ErrorCode::ConnectionRefused)),
        Err(e) => {
            tracing::debug!(error = %e, "a plugin's HTTP request failed");
            Err(ErrorCode::HttpProtocolError)
        }
    }
}

/// The `wasi:http` error code of a TLS handshake that failed (an untrusted certificate, an
/// alert from the server), when that is what ended a connect attempt.
fn tls_failure(e: &(dyn std::error::Error + 'static)) -> Option<ErrorCode> {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(match tls {
                rustls::Error::InvalidCertificate(_) => ErrorCode::TlsCertificateError,
                rustls::Error::AlertReceived(alert) => ErrorCode::TlsAlertReceived {
                    alert_id: Some(u8::from(*alert)),
                    alert_message: Some(format!("{alert:?}")),
                },
                _ => ErrorCode::TlsProtocolError,
            });
        }
        // An I/O error's `source` skips the error it wraps (which may wrap another): go into
        // it instead.
        next = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

/// The `wasi:http` error code a plugin sees for a failed exchange over a pooled connection.
fn error_code(e: &gatehouse_upstream::Error) -> ErrorCode {
    match e.kind() {
        ErrorKind::Connect => ErrorCode::ConnectionRefused,
        ErrorKind::ConnectTimeout => ErrorCode::ConnectionTimeout,
        ErrorKind::ConnectionLimit => ErrorCode::ConnectionLimitReached,
        ErrorKind::Write | ErrorKind::Read => ErrorCode::ConnectionTerminated,
        ErrorKind::Closed | ErrorKind::Truncated => ErrorCode::HttpResponseIncomplete,
        ErrorKind::RequestBody => ErrorCode::InternalError(Some(e.to_string())),
        _ => ErrorCode::HttpProtocolError,
    }
}
