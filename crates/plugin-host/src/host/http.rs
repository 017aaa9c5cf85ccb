//! `wasi:http/outgoing-handler`: a plugin's own HTTP requests, only to the origins its config
//! grants (`http_outbound`), each bounded by the grant's timeout and concurrency cap.
//!
//! A request to an origin that is not granted, or from a plugin with no grant, never reaches
//! the network: the guest gets `error-code.http-request-denied`. Requests go through one pooled
//! client per process (HTTP/1.1 or HTTP/2, TLS verified against the system's roots).

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::Semaphore;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

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
            let response = match tokio::time::timeout(head_timeout, client().request(request)).await
            {
                Err(_) => return Err(Error::HttpResponseTimeout),
                Ok(Err(e)) if e.is_connect() => return Err(Error::ConnectionRefused),
                Ok(Err(e)) => {
                    tracing::debug!(plugin = %plugin, %origin, error = %e, "plugin HTTP request failed");
                    return Err(Error::HttpProtocolError);
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
    body: hyper::body::Incoming,
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
                Poll::Ready(r.map(|f| f.map_err(Error::from)))
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

type Connector = HttpsConnector<HttpConnector>;

/// How long a plugin's request may wait for its connection (within the grant's timeout).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The process's client for plugins' requests.
fn client() -> &'static Client<Connector, WasiBody> {
    static CLIENT: OnceLock<Client<Connector, WasiBody>> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let connector = gatehouse_upstream::https_connector(CONNECT_TIMEOUT, "plugins' requests");
        Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector)
    })
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
