//! The connector of the gateway's hyper clients (TLS and HTTP/2 backends, plugins' outbound
//! requests): TCP with no Nagle delay, and TLS verified against the system's root certificates,
//! offering HTTP/2 and HTTP/1.1 by ALPN.

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use std::time::Duration;

/// An `http` or `https` connector; `what` names its users in the warning logged when the
/// system has no root certificates (every TLS connection then fails verification).
pub fn https_connector(connect_timeout: Duration, what: &str) -> HttpsConnector<HttpConnector> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    let builder = match hyper_rustls::HttpsConnectorBuilder::new().with_native_roots() {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "no system root certificates; {what} over https will fail verification");
            let empty = rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(empty)
        }
    };
    builder
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(http)
}
