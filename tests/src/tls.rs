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
