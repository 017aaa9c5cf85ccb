//! `wasi:http/outgoing-handler`: a plugin's own HTTP requests, only to the origins its config
//! grants (`http_outbound`), each bounded by the grant's timeout and concurrency cap.
//!
//! A request to an origin that is not granted, or from a plugin with no grant, never reaches
//! the network: the guest gets `error-code.http-request-denied`. A granted request goes to the
//! process's [`HttpClient`], which the gateway sets to its upstream clients
//! ([`crate::PluginHost::use_http_client`]), so plugins share the integrations' connection
//! pools, connection caps and connect timeout.

use bytes::Bytes;
use http_body_util::BodyExt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::Semaphore;
use wasmtime_wasi_http::{Error, RequestOptions, WasiHttpHooks};
pub use wasmtime_wasi_http::{Error as ErrorCode, WasiBody};

/// What sends plugins' granted requests. `send` resolves when the response head has arrived;
/// the body streams after. `between_frames` bounds each wait for the next frame of the
/// request body. Errors are `wasi:http` error codes, as the guest sees them.
pub trait HttpClient: Send + Sync + 'static {
    fn send(&self, request: http::Request<WasiBody>, between_frames: Duration) -> ClientFuture;
}

/// The future of [`HttpClient::send`].
pub type ClientFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<WasiBody>, Error>> + Send>>;

/// The process's [`HttpClient`], set once at startup; while unset, every granted request
/// fails with an internal error (nothing in the process can reach the network for plugins).
#[derive(Default)]
pub struct ClientSlot(OnceLock<Arc<dyn HttpClient>>);

impl ClientSlot {
    pub fn set(&self, client: Arc<dyn HttpClient>) -> bool {
        self.0.set(client).is_ok()
    }
}

impl std::fmt::Debug for ClientSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSlot")
            .field("set", &self.0.get().is_some())
            .finish()
    }
}

/// One origin a plugin may call: scheme, lowercase host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub https: bool,
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// Parses `http://host[:port]` or `https://host[:port]` (nothing after the authority but
    /// an optional `/`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let expected = || {
            format!("expected an origin such as http://127.0.0.1:9000 or https://api.example.com, found `{s}`")
        };
        let uri: http::Uri = s.parse().map_err(|_| expected())?;
        if uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
            return Err(expected());
        }
        Self::of(&uri).ok_or_else(expected)
    }

    /// The origin a request URI goes to; `None` without a scheme of http(s) or a host.
    pub fn of(uri: &http::Uri) -> Option<Self> {
        let https = match uri.scheme_str()? {
            "http" => false,
            "https" => true,
            _ => return None,
        };
        let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return None;
        }
        Some(Self {
            https,
            host: host.to_ascii_lowercase(),
            port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
        })
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// A plugin's request body as the gateway forwards it (the same body type a `wasi:http/proxy`
/// plugin answers with).
impl From<WasiBody> for crate::HttpBody {
    fn from(body: WasiBody) -> Self {
        crate::HttpBody::streaming(body, None)
    }
}

/// What a plugin's config grants it of outbound HTTP.
#[derive(Debug)]
pub struct HttpGrant {
    pub allow: Vec<Origin>,
    /// From sending the request to the end of the response head; also bounds each wait
    /// between two reads of the response body.
    pub timeout: Duration,
    permits: Arc<Semaphore>,
    pub max_concurrent: u32,
}

impl HttpGrant {
    pub fn new(allow: Vec<Origin>, timeout: Duration, max_concurrent: u32) -> Self {
        Self {
            allow,
            timeout,
            permits: Arc::new(Semaphore::new(max_concurrent as usize)),
            max_concurrent,
        }
    }
}

/// The `wasi:http` hooks of one plugin's store.
#[derive(Debug, Default)]
pub struct Outbound {
    pub grant: Option<Arc<HttpGrant>>,
    pub plugin: Arc<str>,
    pub client: Arc<ClientSlot>,
}

impl Outbound {
    pub fn new(
        grant: &Option<Arc<HttpGrant>>,
        plugin: &Arc<str>,
        client: &Arc<ClientSlot>,
    ) -> Self {
        Self {
            grant: grant.clone(),
            plugin: plugin.clone(),
            client: client.clone(),
        }
    }
}

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> ResponseFuture {
        let grant = self.grant.clone();
        let plugin = self.plugin.clone();
        let client = self.client.0.get().cloned();
        Box::new(async move {
            let origin = Origin::of(request.uri()).ok_or(Error::HttpRequestUriInvalid)?;
            let Some(grant) = grant.filter(|g| g.allow.contains(&origin)) else {
                tracing::warn!(plugin = %plugin, %origin, "plugin HTTP request denied: origin not granted");
                return Err(Error::HttpRequestDenied);
            };
            let Ok(permit) = grant.permits.clone().try_acquire_owned() else {
                tracing::warn!(plugin = %plugin, %origin, max = grant.max_concurrent, "plugin HTTP request refused: too many in flight");
                return Err(Error::ConnectionLimitReached);
            };
            // The guest may ask for shorter waits, never longer ones.
            let shorter =
                |asked: Option<Duration>| asked.map_or(grant.timeout, |d| d.min(grant.timeout));
            let head_timeout = shorter(options.and_then(|o| o.first_byte_timeout));
            let body_timeout = shorter(options.and_then(|o| o.between_bytes_timeout));
            let Some(client) = client else {
                return Err(Error::InternalError(Some(
                    "outbound HTTP is not set up in this process".to_string(),
                )));
            };
            let response = match tokio::time::timeout(
                head_timeout,
                client.send(request, body_timeout),
            )
            .await
            {
                Err(_) => return Err(Error::HttpResponseTimeout),
                Ok(Err(e)) => {
                    tracing::debug!(plugin = %plugin, %origin, error = ?e, "plugin HTTP request failed");
                    return Err(e);
                }
                Ok(Ok(r)) => r,
            };
            let response = response.map(|body| {
                Bounded {
                    body,
                    timeout: body_timeout,
                    timer: None,
                    _permit: permit,
                }
                .boxed_unsync()
            });
            let done: Box<dyn Future<Output = Result<(), Error>> + Send> =
                Box::new(async { Ok(()) });
            Ok((response, done))
        })
    }
}

/// A response body that fails when no frame arrives within `timeout`, and holds its
/// request's concurrency permit until it is read or dropped.
struct Bounded {
    body: WasiBody,
    timeout: Duration,
    timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl http_body::Body for Bounded {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Error>>> {
        use std::task::Poll;
        let this = &mut *self;
        match std::pin::Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(r) => {
                this.timer = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let timeout = this.timeout;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Error::ConnectionReadTimeout))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }
}

#[cfg(test)]
mod tests {
    use super::Origin;

    #[test]
    fn origins_parse_with_default_ports() {
        let o = Origin::parse("https://API.example.com").unwrap();
        assert_eq!(
            (o.https, o.host.as_str(), o.port),
            (true, "api.example.com", 443)
        );
        let o = Origin::parse("http://127.0.0.1:9000/").unwrap();
        assert_eq!(
            (o.https, o.host.as_str(), o.port),
            (false, "127.0.0.1", 9000)
        );
        let o = Origin::parse("http://[::1]:81").unwrap();
        assert_eq!((o.host.as_str(), o.port), ("::1", 81));
        assert_eq!(o.to_string(), "http://[::1]:81");
        for bad in ["ftp://x", "http://x/path", "127.0.0.1:80", "http://"] {
            assert!(Origin::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_request_matches_only_its_own_origin() {
        let granted = Origin::parse("http://127.0.0.1:9000").unwrap();
        let uri: http::Uri = "http://127.0.0.1:9000/x?y=1".parse().unwrap();
        assert_eq!(Origin::of(&uri).as_ref(), Some(&granted));
        for other in [
            "https://127.0.0.1:9000/x",
            "http://127.0.0.1:9001/x",
            "http://localhost:9000/x",
        ] {
            let uri: http::Uri = other.parse().unwrap();
            assert_ne!(Origin::of(&uri).as_ref(), Some(&granted), "{other}");
        }
    }
}
