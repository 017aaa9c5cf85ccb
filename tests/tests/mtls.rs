//! Mutual TLS through the real binary: client certificates issued by a test CA (rcgen) and
//! presented by reqwest over HTTP/2 and HTTP/1.1. A listener with a truststore refuses the
//! handshake without a certificate, with one from another CA and with a revoked one; an
//! `optional` listener serves clients without one. The certificate reaches Lambda events
//! (payload 1.0 `requestContext.identity.clientCert`, 2.0 `requestContext.authentication`),
//! VTL templates, the access log and a 0.2.0 authorizer plugin as API Gateway names it.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use gatehouse_e2e::lambda::LambdaEndpoint;
use gatehouse_e2e::tls::TestCert;
use gatehouse_e2e::{json, plugin_path, Gateway};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SerialNumber,
};

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, "US");
        dn.push(DnType::OrganizationName, "Gatehouse Tests");
        dn.push(DnType::CommonName, name);
        p.distinguished_name = dn;
        let key = KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    /// A client certificate and its key as one PEM (what `reqwest::Identity` reads).
    fn issue(&self, cn: &str, serial: u64) -> (String, String) {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Example, Inc.");
        dn.push(DnType::CommonName, cn);
        p.distinguished_name = dn;
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        p.serial_number = Some(SerialNumber::from(serial));
        p.not_before = rcgen::date_time_ymd(2025, 1, 2);
        p.not_after = rcgen::date_time_ymd(2099, 12, 31);
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.cert, &self.key).unwrap();
        let pem = cert.pem();
        (format!("{pem}{}", key.serialize_pem()), pem)
    }

    fn crl(&self, revoked: u64) -> String {
        CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2025, 1, 1),
            next_update: rcgen::date_time_ymd(2099, 1, 1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: vec![RevokedCertParams {
                serial_number: SerialNumber::from(revoked),
                revocation_time: rcgen::date_time_ymd(2025, 6, 1),
                reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                invalidity_date: None,
            }],
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&self.cert, &self.key)
        .unwrap()
        .pem()
        .unwrap()
    }
}

fn client(server: &TestCert, identity: Option<&str>, http1: bool) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(server.cert_pem.as_bytes()).unwrap())
        .timeout(std::time::Duration::from_secs(20));
    if let Some(pem) = identity {
        b = b.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    if http1 {
        b = b.http1_only();
    }
    b.build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_are_verified_and_reach_events_templates_and_logs() {
    let lambda = LambdaEndpoint::start().await;
    let server = TestCert::localhost();
    let (ca, other) = (Ca::new("Test CA"), Ca::new("Other CA"));
    let (alice, alice_pem) = ca.issue("alice", 4242);
    let (revoked, _) = ca.issue("mallory", 77);
    let (stranger, _) = other.issue("alice", 4242);
    let yaml = format!(
        r#"
version: 1
listeners:
  - name: strict
    address: 127.0.0.1:0
    tls: {{ cert: cert.pem, key: key.pem,
            client_auth: {{ truststore: truststore.pem, crl: [ca.crl.pem] }} }}
  - name: lenient
    address: 127.0.0.1:0
    tls: {{ cert: cert.pem, key: key.pem,
            client_auth: {{ truststore: truststore.pem, mode: optional }} }}
plugins:
  policies:
    path: {policies}
    config: {{ tokens: "tok-alice=alice" }}
  hello:
    path: {hello}
access_log:
  destination: access.log
  format: '{{"subject":"$context.identity.clientCert.subjectDN","serial":"$context.identity.clientCert.serialNumber"}}'
apis:
  - name: app
    stages: {{ prod: {{}} }}
    authorizers:
      policy: {{ plugin: policies, identity_sources: [header.Authorization] }}
    resources:
      /authz:
        GET:
          authorizer: policy
          integration: {{ type: lambda, endpoint: "http://{l}", function: echo }}
      /v1:
        GET:
          integration: {{ type: lambda, endpoint: "http://{l}", function: echo }}
      /plugin:
        GET:
          integration: {{ type: wasm, plugin: hello }}
      /v2:
        GET:
          integration: {{ type: lambda, endpoint: "http://{l}", function: echo, payload_format: "2.0" }}
      /vtl:
        GET:
          integration:
            type: mock
            request_templates: {{ application/json: '{{"statusCode": 200}}' }}
            responses:
              - status: 200
                response_templates:
                  application/json: '{{"issuer": "$context.identity.clientCert.issuerDN", "notAfter": "$context.identity.clientCert.validity.notAfter"}}'
"#,
        l = lambda.addr,
        policies = plugin_path("policy-authorizer").display(),
        hello = plugin_path("hello").display(),
    );
    let gw = Gateway::start_with(&yaml, |dir| {
        server.write_to(dir);
        std::fs::write(dir.join("truststore.pem"), ca.cert.pem()).unwrap();
        std::fs::write(dir.join("ca.crl.pem"), ca.crl(77)).unwrap();
    });
    let strict = format!("https://localhost:{}/prod", gw.addr("strict").port());
    let lenient = format!("https://localhost:{}/prod", gw.addr("lenient").port());

    for http1 in [false, true] {
        let c = client(&server, Some(&alice), http1);
        let r = c.get(format!("{strict}/v1")).send().await.unwrap();
        assert_eq!(r.status(), 200, "http1={http1}");
        let event = json(r).await;
        let cert = &event["requestContext"]["identity"]["clientCert"];
        assert_eq!(cert["subjectDN"], "O=Example\\, Inc.,CN=alice");
        assert_eq!(cert["issuerDN"], "C=US,O=Gatehouse Tests,CN=Test CA");
        assert_eq!(cert["serialNumber"], "4242");
        assert_eq!(cert["validity"]["notBefore"], "Jan  2 00:00:00 2025 GMT");
        assert_eq!(cert["validity"]["notAfter"], "Dec 31 00:00:00 2099 GMT");
        assert_eq!(
            cert["clientCertPem"].as_str().unwrap().trim_end(),
            alice_pem.replace("\r\n", "\n").trim_end()
        );
    }
    let c = client(&server, Some(&alice), false);
    let r = c.get(format!("{strict}/v2")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let event = json(r).await;
    let cert = &event["requestContext"]["authentication"]["clientCert"];
    assert_eq!(cert["subjectDN"], "O=Example\\, Inc.,CN=alice");
    assert_eq!(cert["serialNumber"], "4242");
    let r = c
        .get(format!("{strict}/authz"))
        .header("authorization", "Bearer tok-alice")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let event = json(r).await;
    assert_eq!(
        event["requestContext"]["authorizer"]["certSubject"],
        "O=Example\\, Inc.,CN=alice"
    );
    // A gatehouse:plugin@0.1.0 integration reads it from its header; a client's own header of
    // that name never gets through.
    let r = c
        .get(format!("{strict}/plugin"))
        .header("x-gatehouse-client-cert", "subjectDN=CN%3Dforged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let form = json(r).await["client_cert"].as_str().unwrap().to_owned();
    let fields = form_fields(&form);
    assert_eq!(fields["subjectDN"], "O=Example\\, Inc.,CN=alice", "{form}");
    assert_eq!(fields["serialNumber"], "4242");
    let r = client(&server, None, false)
        .get(format!("{lenient}/plugin"))
        .header("x-gatehouse-client-cert", "subjectDN=CN%3Dforged")
        .send()
        .await
        .unwrap();
    assert_eq!(json(r).await["client_cert"], serde_json::Value::Null);
    let r = c.get(format!("{strict}/vtl")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let doc = json(r).await;
    assert_eq!(doc["issuer"], "C=US,O=Gatehouse Tests,CN=Test CA");
    assert_eq!(doc["notAfter"], "Dec 31 00:00:00 2099 GMT");

    // No certificate, another CA's, a revoked one: the handshake fails, nothing is served.
    let before = lambda.invocations().len();
    for (what, identity) in [
        ("none", None),
        ("another CA", Some(stranger.as_str())),
        ("revoked", Some(revoked.as_str())),
    ] {
        let r = client(&server, identity, false)
            .get(format!("{strict}/v1"))
            .send()
            .await;
        assert!(r.is_err(), "{what}: {r:?}");
    }
    assert_eq!(lambda.invocations().len(), before);

    // Optional: a client without a certificate is served with a null clientCert; one with a
    // certificate is verified all the same.
    let r = client(&server, None, false)
        .get(format!("{lenient}/v1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let event = json(r).await;
    assert_eq!(
        event["requestContext"]["identity"]["clientCert"],
        serde_json::Value::Null
    );
    let r = client(&server, None, false)
        .get(format!("{lenient}/v2"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json(r).await["requestContext"]["authentication"],
        serde_json::Value::Null
    );
    let r = client(&server, Some(&alice), false)
        .get(format!("{lenient}/v1"))
        .send()
        .await
        .unwrap();
    let event = json(r).await;
    assert_eq!(
        event["requestContext"]["identity"]["clientCert"]["serialNumber"],
        "4242"
    );
    let r = client(&server, Some(&stranger), false)
        .get(format!("{lenient}/v1"))
        .send()
        .await;
    assert!(
        r.is_err(),
        "another CA's certificate on the optional listener: {r:?}"
    );

    let log = gw.access_log(10);
    assert_eq!(log[0]["subject"], "O=Example\\, Inc.,CN=alice");
    assert_eq!(log[0]["serial"], "4242");
    let anonymous = log.iter().filter(|l| l["serial"] == "-").count();
    assert_eq!(anonymous, 3, "{log:?}");
}

/// The pairs of an `application/x-www-form-urlencoded` text.
fn form_fields(form: &str) -> std::collections::HashMap<String, String> {
    let decode = |s: &str| {
        let b = s.replace('+', " ").into_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 2 < b.len() {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    };
    form.split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

#[test]
fn a_bad_truststore_is_a_config_error_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    TestCert::localhost().write_to(dir.path());
    std::fs::write(dir.path().join("empty.pem"), "").unwrap();
    let validate = |client_auth: &str| {
        let yaml = format!(
            "version: 1\nlisteners:\n  - name: strict\n    address: 127.0.0.1:0\n    tls:\n      cert: cert.pem\n      key: key.pem\n      client_auth: {client_auth}\napis: []\n"
        );
        std::fs::write(dir.path().join("gatehouse.yaml"), yaml).unwrap();
        let (code, _, stderr) =
            gatehouse_e2e::gateway::run_cli(dir.path(), &["validate", "gatehouse.yaml"]);
        assert_ne!(code, 0, "{stderr}");
        stderr
    };
    let stderr = validate("{ truststore: empty.pem, mode: sometimes }");
    assert!(stderr.contains("mode"), "{stderr}");
    let stderr = validate("{ truststore: empty.pem, crl: [missing.pem] }");
    assert!(
        stderr.contains("listeners[0].tls.client_auth.truststore: expected PEM CA certificates"),
        "{stderr}"
    );
    assert!(
        stderr.contains("listeners[0].tls.client_auth.crl[0]: cannot read a PEM revocation list"),
        "{stderr}"
    );
}
