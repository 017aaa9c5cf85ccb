//! A load generator of our own for HTTP/3, which the Debian load tools do not speak, and for
//! HTTP/2 over TLS through the same code, so the two protocols are compared like for like:
//! `conns` connections, each with `streams` request loops, for a fixed time, on one thread.

use crate::run::Run;
use anyhow::Context;
use bytes::{Buf, Bytes};
use http_body_util::{BodyExt, Empty};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which protocol the generator speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    H2Tls,
    H3,
}

/// What one request loop saw.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    non_2xx: u64,
    errors: u64,
}

pub fn run(
    proto: Proto,
    addr: SocketAddr,
    path: &str,
    conns: usize,
    streams: usize,
    duration: Duration,
    cert_pem: &Path,
) -> anyhow::Result<Run> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let tls = client_tls(
        cert_pem,
        match proto {
            Proto::H2Tls => b"h2",
            Proto::H3 => b"h3",
        },
    )?;
    let uri: http::Uri = format!("https://localhost:{}{path}", addr.port()).parse()?;
    rt.block_on(async move {
        let started = Instant::now();
        let deadline = started + duration;
        let mut tasks = Vec::new();
        for _ in 0..conns {
            let send = match proto {
                Proto::H3 => Sender::h3(addr, tls.clone()).await?,
                Proto::H2Tls => Sender::h2(addr, tls.clone()).await?,
            };
            for _ in 0..streams {
                let (send, uri) = (send.clone(), uri.clone());
                tasks.push(tokio::spawn(request_loop(send, uri, deadline)));
            }
        }
        let mut all = Tally::default();
        for t in tasks {
            let t = t.await?;
            all.latencies_us.extend(t.latencies_us);
            all.non_2xx += t.non_2xx;
            all.errors += t.errors;
        }
        let secs = started.elapsed().as_secs_f64();
        let mut lat = all.latencies_us;
        lat.sort_unstable();
        Ok(Run {
            rps: lat.len() as f64 / secs,
            p50: crate::run::percentile(&lat, 50.0),
            p99: crate::run::percentile(&lat, 99.0),
            p999: crate::run::percentile(&lat, 99.9),
            requests: lat.len() as u64,
            non_2xx: all.non_2xx,
            errors: all.errors,
            peak_rss: 0,
            cpu_us_per_req: None,
        })
    })
}

async fn request_loop(send: Sender, uri: http::Uri, deadline: Instant) -> Tally {
    let mut tally = Tally::default();
    while Instant::now() < deadline {
        let t0 = Instant::now();
        match send.get(&uri).await {
            Ok(status) => {
                tally.latencies_us.push(t0.elapsed().as_micros() as u64);
                if !(200..400).contains(&status) {
                    tally.non_2xx += 1;
                }
            }
            Err(_) => {
                tally.errors += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    tally
}

/// One connection's request handle, cloned by its request loops.
#[derive(Clone)]
enum Sender {
    H2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
    H3(h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>),
}

impl Sender {
    async fn h2(addr: SocketAddr, tls: Arc<rustls::ClientConfig>) -> anyhow::Result<Sender> {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let name = rustls::pki_types::ServerName::try_from("localhost")?;
        let stream = tokio_rustls::TlsConnector::from(tls)
            .connect(name, tcp)
            .await?;
        let (send, conn) =
            hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .handshake(hyper_util::rt::TokioIo::new(stream))
                .await?;
        tokio::spawn(conn);
        Ok(Sender::H2(send))
    }

    async fn h3(addr: SocketAddr, tls: Arc<rustls::ClientConfig>) -> anyhow::Result<Sender> {
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)?;
        let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse()?)?;
        endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
        let conn = endpoint.connect(addr, "localhost")?.await?;
        let (mut driver, send) = h3::client::new(h3_quinn::Connection::new(conn)).await?;
        tokio::spawn(async move {
            let _keep = endpoint;
            let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
        });
        Ok(Sender::H3(send))
    }

    /// One GET, its body read to the end; the status.
    async fn get(&self, uri: &http::Uri) -> anyhow::Result<u16> {
        match self {
            Sender::H2(send) => {
                let mut send = send.clone();
                let req = http::Request::get(uri.clone()).body(Empty::<Bytes>::new())?;
                let resp = send.send_request(req).await?;
                let status = resp.status().as_u16();
                resp.into_body().collect().await?;
                Ok(status)
            }
            Sender::H3(send) => {
                let mut send = send.clone();
                let req = http::Request::get(uri.clone()).body(())?;
                let mut stream = send.send_request(req).await?;
                stream.finish().await?;
                let resp = stream.recv_response().await?;
                while let Some(mut chunk) = stream.recv_data().await? {
                    chunk.advance(chunk.remaining());
                }
                Ok(resp.status().as_u16())
            }
        }
    }
}

/// A TLS 1.3 client that trusts `cert_pem` and offers `alpn`.
pub fn client_tls(cert_pem: &Path, alpn: &[u8]) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(cert_pem)
        .with_context(|| format!("cannot read {}", cert_pem.display()))?
    {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![alpn.to_vec()];
    Ok(Arc::new(tls))
}
