//! HTTP/3 over QUIC (quinn + h3) on a listener's port, over UDP, with the listener's
//! certificate. Requests go to the same pipeline as HTTP/1.1 and HTTP/2: the request body is
//! streamed from the QUIC stream ([`RecvBody`]) and the response body is streamed back frame by
//! frame. On the stop signal each connection sends GOAWAY, finishes its requests in flight and
//! closes; the endpoint then closes once every connection is gone.

use crate::body::{BoxError, RecvBody, RecvData, RequestBody};
use crate::config::{ListenerSettings, ServerSettings};
use crate::pipeline::{self, ConnInfo};
use crate::shared::Shared;
use bytes::{Buf, Bytes};
use h3::server::RequestResolver;
use http_body_util::BodyExt;
use quinn::crypto::rustls::QuicServerConfig;
use rustls::pki_types::CertificateDer;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

type Stream<S> = h3::server::RequestStream<S, Bytes>;

/// The HTTP/3 error code of a clean close (RFC 9114, section 8.1).
const H3_NO_ERROR: u32 = 0x100;

/// After shutdown, how long a connection with nothing in flight waits for the client to close.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// How long a QUIC connection may stay silent before it is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Binds the UDP side of a listener: `port` is the TCP listener's bound port, so that
/// `Alt-Svc: h3=":PORT"` points at it.
pub fn bind(
    l: &ListenerSettings,
    quic: Arc<rustls::ServerConfig>,
    port: u16,
) -> std::io::Result<quinn::Endpoint> {
    let crypto = QuicServerConfig::try_from(quic).map_err(std::io::Error::other)?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport.max_idle_timeout(Some(
        IDLE_TIMEOUT.try_into().map_err(std::io::Error::other)?,
    ));
    config.transport_config(Arc::new(transport));
    let addr = SocketAddr::new(l.address.ip(), port);
    let endpoint = quinn::Endpoint::server(config, addr)?;
    tracing::info!(
        "serving HTTP/3 listener={} udp={}",
        l.name,
        endpoint.local_addr()?
    );
    Ok(endpoint)
}

/// Accepts QUIC connections until `stop` flips, then closes the endpoint once every
/// connection has finished.
pub async fn accept_loop(
    endpoint: quinn::Endpoint,
    settings: &ServerSettings,
    shared: Arc<Shared>,
    in_flight: mpsc::Sender<()>,
    mut stop: watch::Receiver<bool>,
) {
    let max_field_section = settings.max_header_bytes as u64;
    let (conns_tx, mut conns_done) = mpsc::channel::<()>(1);
    loop {
        let incoming = tokio::select! {
            i = endpoint.accept() => match i {
                Some(i) => i,
                None => break,
            },
            _ = stop.changed() => break,
        };
        let shared = shared.clone();
        let in_flight = in_flight.clone();
        let conns = conns_tx.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let _guards = (in_flight, conns);
            if let Err(e) = connection(incoming, shared, max_field_section, stop).await {
                tracing::debug!(error = %e, "HTTP/3 connection ended with an error");
            }
        });
    }
    // Refuse new connections; let the open ones drain, then say goodbye at the QUIC layer.
    endpoint.set_server_config(None);
    drop(conns_tx);
    let _ = conns_done.recv().await;
    endpoint.close(quinn::VarInt::from_u32(0), b"shutdown");
    endpoint.wait_idle().await;
}

async fn connection(
    incoming: quinn::Incoming,
    shared: Arc<Shared>,
    max_field_section: u64,
    mut stop: watch::Receiver<bool>,
) -> Result<(), BoxError> {
    let conn = incoming.await?;
    let quic = conn.clone();
    let chain = conn
        .peer_identity()
        .and_then(|id| id.downcast::<Vec<CertificateDer<'static>>>().ok());
    let info = ConnInfo {
        peer: conn.remote_address(),
        tls: true,
        client_cert: super::client_cert(chain.as_deref().map(Vec::as_slice)),
    };
    let mut h3 = h3::server::builder()
        .max_field_section_size(max_field_section)
        .build::<_, Bytes>(h3_quinn::Connection::new(conn))
        .await?;
    // Every request task holds a clone; `requests_done` yields `None` once all have ended.
    let (requests, mut requests_done) = mpsc::channel::<()>(1);
    if !*stop.borrow() {
        loop {
            tokio::select! {
                accepted = h3.accept() => match accepted {
                    Ok(Some(resolver)) => {
                        let (shared, guard) = (shared.clone(), requests.clone());
                        let info = info.clone();
                        tokio::spawn(async move {
                            request(resolver, shared, info).await;
                            drop(guard);
                        });
                    }
                    Ok(None) => return Ok(()),
                    Err(e) if e.is_h3_no_error() => return Ok(()),
                    Err(e) => return Err(e.into()),
                },
                _ = stop.changed() => break,
            }
        }
    }
    // GOAWAY: no new requests; those already accepted run to completion while the connection
    // keeps being driven. Then the client gets a moment to read the last responses and close
    // on its own (closing first would discard response data not yet acknowledged); after
    // that the connection is closed even if the client would keep it open.
    tracing::debug!(peer = %info.peer, "HTTP/3 connection draining");
    h3.shutdown(0).await?;
    drop(requests);
    let mut driving = true;
    loop {
        tokio::select! {
            _ = requests_done.recv() => break,
            accepted = h3.accept(), if driving => {
                // After GOAWAY nothing new is accepted; stop polling once the peer is done.
                if !matches!(accepted, Ok(Some(_))) {
                    driving = false;
                }
            }
        }
    }
    let _ = tokio::time::timeout(CLOSE_GRACE, quic.closed()).await;
    quic.close(quinn::VarInt::from_u32(H3_NO_ERROR), b"");
    Ok(())
}

async fn request<C>(resolver: RequestResolver<C, Bytes>, shared: Arc<Shared>, conn: ConnInfo)
where
    C: h3::quic::Connection<Bytes>,
    C::BidiStream: h3::quic::BidiStream<Bytes> + Send + 'static,
    <C::BidiStream as h3::quic::BidiStream<Bytes>>::RecvStream: Send + 'static,
    <C::BidiStream as h3::quic::BidiStream<Bytes>>::SendStream: Send + 'static,
{
    let (req, stream) = match resolver.resolve_request().await {
        Ok(x) => x,
        Err(e) => {
            tracing::debug!(peer = %conn.peer, error = %e, "malformed HTTP/3 request");
            return;
        }
    };
    let (mut send, recv) = stream.split();
    let body = RecvBody::new(Box::new(recv));
    let req = req.map(|()| RequestBody::H3(body));
    let peer = conn.peer;
    let resp = pipeline::handle(shared, req, conn).await;
    if let Err(e) = respond(&mut send, resp).await {
        tracing::debug!(%peer, error = %e, "HTTP/3 response not delivered");
    }
}

async fn respond<S>(
    send: &mut Stream<S>,
    resp: http::Response<crate::body::Body>,
) -> Result<(), BoxError>
where
    S: h3::quic::SendStream<Bytes>,
{
    let (parts, mut body) = resp.into_parts();
    send.send_response(http::Response::from_parts(parts, ()))
        .await?;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                // The backend broke off mid-body: reset the stream so the client sees it.
                send.stop_stream(h3::error::Code::H3_INTERNAL_ERROR);
                return Err(e);
            }
        };
        match frame.into_data() {
            Ok(data) => {
                if !data.is_empty() {
                    send.send_data(data).await?;
                }
            }
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    send.send_trailers(trailers).await?;
                }
            }
        }
    }
    send.finish().await?;
    Ok(())
}

impl<R> RecvData for Stream<R>
where
    R: h3::quic::RecvStream + Send,
{
    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, BoxError>> {
        self.poll_recv_data(cx).map(|r| match r {
            Ok(Some(mut buf)) => Ok(Some(buf.copy_to_bytes(buf.remaining()))),
            Ok(None) => Ok(None),
            Err(e) => Err(Box::new(e) as BoxError),
        })
    }
}
