//! A TLS listener's rustls configuration: its certificate and key, ALPN, and for mutual TLS
//! the verifier of client certificates.

use gatehouse_config::raw::{RawClientAuth, RawClientAuthMode};
use gatehouse_config::Errors;
use std::path::Path;
use std::sync::Arc;

/// Mutual TLS: a verifier of client certificates against the truststore, with the revocation
/// lists. Revocation is checked for the client's own certificate, against the lists of its
/// issuer; a certificate whose issuer has no list here is not checked for revocation.
pub(super) fn client_verifier(
    c: &RawClientAuth,
    dir: &Path,
    e: &mut Errors,
) -> Option<Arc<dyn rustls::server::danger::ClientCertVerifier>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, CertificateRevocationListDer};
    let path = dir.join(&c.truststore);
    // Every problem is reported, the revocation lists' too, before giving up.
    let mut failed = false;
    let certs: Vec<CertificateDer<'static>> =
        match CertificateDer::pem_file_iter(&path).and_then(|it| it.collect::<Result<_, _>>()) {
            Ok(certs) => certs,
            Err(err) => {
                failed = true;
                e.push_at(
                    "truststore",
                    format!(
                        "cannot read PEM certificates from `{}`: {err}",
                        path.display()
                    ),
                );
                Vec::new()
            }
        };
    let mut roots = rustls::RootCertStore::empty();
    for (i, cert) in certs.into_iter().enumerate() {
        if let Err(err) = roots.add(cert) {
            e.push_at(
                "truststore",
                format!(
                    "certificate {} of `{}` is not a usable CA certificate: {err}",
                    i + 1,
                    path.display()
                ),
            );
        }
    }
    if roots.is_empty() && !failed {
        failed = true;
        e.push_at(
            "truststore",
            format!(
                "expected PEM CA certificates in `{}`, found none",
                path.display()
            ),
        );
    }
    let mut crls = Vec::new();
    for (i, file) in c.crl.iter().enumerate() {
        let path = dir.join(file);
        match CertificateRevocationListDer::pem_file_iter(&path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        {
            Ok(list) if !list.is_empty() => crls.extend(list),
            Ok(_) => e.at("crl", |e| {
                e.index(i, |e| {
                    e.push(format!(
                        "expected a PEM revocation list in `{}`, found none",
                        path.display()
                    ))
                })
            }),
            Err(err) => e.at("crl", |e| {
                e.index(i, |e| {
                    e.push(format!(
                        "cannot read a PEM revocation list from `{}`: {err}",
                        path.display()
                    ))
                })
            }),
        }
    }
    if failed {
        return None;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut b = rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
        .with_crls(crls)
        .only_check_end_entity_revocation()
        .allow_unknown_revocation_status();
    if c.mode == Some(RawClientAuthMode::Optional) {
        b = b.allow_unauthenticated();
    }
    match b.build() {
        Ok(v) => Some(v),
        Err(err) => {
            e.push(format!(
                "the truststore or revocation lists cannot be used: {err}"
            ));
            None
        }
    }
}

pub(super) fn tls_config(
    cert: &Path,
    key: &Path,
    alpn: Vec<Vec<u8>>,
    client_auth: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
) -> Result<rustls::ServerConfig, (&'static str, String)> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|err| {
            (
                "cert",
                format!(
                    "cannot read PEM certificates from `{}`: {err}",
                    cert.display()
                ),
            )
        })?;
    if certs.is_empty() {
        return Err((
            "cert",
            format!(
                "expected PEM certificates in `{}`, found none",
                cert.display()
            ),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|err| {
        (
            "key",
            format!(
                "cannot read a PEM private key from `{}`: {err}",
                key.display()
            ),
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| ("cert", err.to_string()))?;
    let builder = match client_auth {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder.with_single_cert(certs, key).map_err(|err| {
        (
            "key",
            format!("the certificate and key cannot be used together: {err}"),
        )
    })?;
    cfg.alpn_protocols = alpn;
    Ok(cfg)
}
