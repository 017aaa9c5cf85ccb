//! A throw-away certificate authority for TLS tests.

use std::path::Path;

/// A self-signed certificate for `localhost` and `127.0.0.1`, written as PEM files.
#[derive(Debug)]
pub struct TestCert {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM (PKCS#8).
    pub key_pem: String,
}

impl TestCert {
    /// Generates a fresh certificate.
    pub fn localhost() -> TestCert {
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let ck = rcgen::generate_simple_self_signed(names).expect("generate certificate");
        TestCert {
            cert_pem: ck.cert.pem(),
            key_pem: ck.key_pair.serialize_pem(),
        }
    }

    /// Writes `cert.pem` and `key.pem` into `dir`.
    pub fn write_to(&self, dir: &Path) {
        std::fs::write(dir.join("cert.pem"), &self.cert_pem).expect("write cert");
        std::fs::write(dir.join("key.pem"), &self.key_pem).expect("write key");
    }

    /// A reqwest client trusting only this certificate.
    pub fn client(&self) -> reqwest::Client {
        let root = reqwest::Certificate::from_pem(self.cert_pem.as_bytes()).expect("cert");
        reqwest::Client::builder()
            .no_proxy()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(root)
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .expect("reqwest TLS client")
    }
}

/// A test certificate authority and a server certificate it signed, for `localhost` and
/// `127.0.0.1`, as PEM.
#[derive(Debug)]
pub struct TestCa {
    /// The authority's certificate (what a client trusts).
    pub ca_pem: String,
    /// The server's certificate, signed by the authority.
    pub cert_pem: String,
    /// The server's private key (PKCS#8).
    pub key_pem: String,
}

impl TestCa {
    /// A fresh authority named `name` and a server certificate from it.
    pub fn with_server_cert(name: &str) -> TestCa {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, name);
        let ca_key = KeyPair::generate().expect("CA key");
        let ca = ca.self_signed(&ca_key).expect("CA certificate");
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let server = CertificateParams::new(names).expect("server params");
        let key = KeyPair::generate().expect("server key");
        let cert = server
            .signed_by(&key, &ca, &ca_key)
            .expect("server certificate");
        TestCa {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}
