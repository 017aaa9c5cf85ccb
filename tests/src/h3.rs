//! An HTTP/3 client for the tests: quinn + h3, trusting one test certificate.

use bytes::{Buf, Bytes};
use std::net::SocketAddr;
use std::sync::Arc;

/// A response read to the end.
#[derive(Debug)]
pub struct H3Response {
    pub status: u16,
    pub version: http::Version,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl H3Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// One QUIC connection carrying HTTP/3 requests.
pub struct H3Client {
    endpoint: quinn::Endpoint,
    send: h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>,
    driver: tokio::task::JoinHandle<()>,
    authority: String,
}

impl std::fmt::Debug for H3Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H3Client")
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

impl H3Client {
    /// Connects to `addr` (UDP), verifying the server against `cert_pem` for `localhost`.
    pub async fn connect(addr: SocketAddr, cert_pem: &str) -> anyhow::Result<H3Client> {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(cert_pem.as_bytes()) {
            roots.add(cert?)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"h3".to_vec()];
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)?;
        let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse()?)?;
        endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
        let conn = endpoint.connect(addr, "localhost")?.await?;
        let (mut driver, send) = h3::client::new(h3_quinn::Connection::new(conn)).await?;
        let driver = tokio::spawn(async move {
            let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
        });
        Ok(H3Client {
            endpoint,
            send,
            driver,
            authority: format!("localhost:{}", addr.port()),
        })
    }

    /// Sends `method path` with `body` (and `headers`) and reads the whole response.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> anyhow::Result<H3Response> {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("https://{}{path}", self.authority));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut stream = self.send.send_request(req.body(())?).await?;
        // Send the body in pieces, as a streaming client would.
        for chunk in body.chunks(16 * 1024) {
            stream.send_data(Bytes::copy_from_slice(chunk)).await?;
        }
        stream.finish().await?;
        let resp = stream.recv_response().await?;
        let mut out = Vec::new();
        while let Some(mut chunk) = stream.recv_data().await? {
            while chunk.has_remaining() {
                let part = chunk.chunk();
                out.extend_from_slice(part);
                let n = part.len();
                chunk.advance(n);
            }
        }
        Ok(H3Response {
            status: resp.status().as_u16(),
            version: resp.version(),
            headers: resp.headers().clone(),
            body: out,
        })
    }

    pub async fn get(&mut self, path: &str) -> anyhow::Result<H3Response> {
        self.request("GET", path, &[], &[]).await
    }

    /// Closes the connection and waits for the endpoint to go idle.
    pub async fn close(self) {
        self.endpoint.close(quinn::VarInt::from_u32(0), b"done");
        self.endpoint.wait_idle().await;
        self.driver.abort();
    }
}
