//! The client certificate of a mutual TLS connection, as API Gateway hands it on in
//! `$context.identity.clientCert.*`, Lambda events and authorizer events: the PEM, the subject
//! and issuer distinguished names, the serial number and the validity period.
//!
//! The listener reads it once per connection, after the handshake verified the chain; every
//! request of the connection shares it. The forms follow what API Gateway sends: names in the
//! certificate's order as `C=US,O=Example,CN=client` (RFC 4514 escaping, no spaces), the serial
//! number in decimal, times as `May 28 12:30:02 2019 GMT`.

use base64::Engine as _;
use serde_json::{json, Value};

/// What a request knows of its connection's verified client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// The certificate, PEM-encoded.
    pub pem: String,
    pub subject_dn: String,
    pub issuer_dn: String,
    /// The serial number, in decimal.
    pub serial_number: String,
    pub not_before: String,
    pub not_after: String,
}

impl ClientCert {
    /// Reads a DER-encoded X.509 certificate; `None` when it is not one.
    pub fn from_der(der: &[u8]) -> Option<ClientCert> {
        let (tag, cert, _) = tlv(der)?;
        expect(tag, SEQUENCE)?;
        let (tag, tbs, _) = tlv(cert)?;
        expect(tag, SEQUENCE)?;
        let (mut tag, mut value, mut rest) = tlv(tbs)?;
        if tag == 0xa0 {
            // [0] EXPLICIT version
            (tag, value, rest) = tlv(rest)?;
        }
        expect(tag, INTEGER)?;
        let serial_number = decimal(value);
        let (tag, _, rest) = tlv(rest)?; // signature algorithm
        expect(tag, SEQUENCE)?;
        let (tag, issuer, rest) = tlv(rest)?;
        expect(tag, SEQUENCE)?;
        let (tag, validity, rest) = tlv(rest)?;
        expect(tag, SEQUENCE)?;
        let (tag, subject, _) = tlv(rest)?;
        expect(tag, SEQUENCE)?;
        let (t1, before, after_rest) = tlv(validity)?;
        let (t2, after, _) = tlv(after_rest)?;
        Some(ClientCert {
            pem: pem(der),
            subject_dn: name(subject)?,
            issuer_dn: name(issuer)?,
            serial_number,
            not_before: time(t1, before)?,
            not_after: time(t2, after)?,
        })
    }

    /// The `clientCert` object of API Gateway's events.
    pub fn to_json(&self) -> Value {
        json!({
            "clientCertPem": self.pem,
            "subjectDN": self.subject_dn,
            "issuerDN": self.issuer_dn,
            "serialNumber": self.serial_number,
            "validity": { "notBefore": self.not_before, "notAfter": self.not_after },
        })
    }

    /// The value of `$context.identity.clientCert.NAME`, for the names API Gateway defines.
    pub fn field(&self, name: &str) -> Option<&str> {
        Some(match name {
            "clientCertPem" => &self.pem,
            "subjectDN" => &self.subject_dn,
            "issuerDN" => &self.issuer_dn,
            "serialNumber" => &self.serial_number,
            "validity.notBefore" => &self.not_before,
            "validity.notAfter" => &self.not_after,
            _ => return None,
        })
    }

    /// The names [`ClientCert::field`] knows.
    pub const FIELDS: &'static [&'static str] = &[
        "clientCertPem",
        "subjectDN",
        "issuerDN",
        "serialNumber",
        "validity.notBefore",
        "validity.notAfter",
    ];
}

const INTEGER: u8 = 0x02;
const OID: u8 = 0x06;
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;

fn expect(tag: u8, want: u8) -> Option<()> {
    (tag == want).then_some(())
}

/// One DER element: its tag, its contents and what follows it.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// A non-negative big-endian integer in decimal (serial numbers are positive).
fn decimal(bytes: &[u8]) -> String {
    let mut n: Vec<u8> = bytes.iter().copied().skip_while(|&b| b == 0).collect();
    if n.is_empty() {
        return "0".into();
    }
    let mut digits = Vec::new();
    while !n.is_empty() {
        let mut rem = 0u32;
        for b in n.iter_mut() {
            let cur = (rem << 8) | u32::from(*b);
            *b = (cur / 10) as u8;
            rem = cur % 10;
        }
        digits.push(b'0' + rem as u8);
        let zeros = n.iter().take_while(|&&b| b == 0).count();
        n.drain(..zeros);
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

/// Short names of the attribute types API Gateway and OpenSSL print by name.
const ATTRIBUTES: &[(&[u8], &str)] = &[
    (&[0x55, 0x04, 0x03], "CN"),
    (&[0x55, 0x04, 0x04], "SN"),
    (&[0x55, 0x04, 0x05], "SERIALNUMBER"),
    (&[0x55, 0x04, 0x06], "C"),
    (&[0x55, 0x04, 0x07], "L"),
    (&[0x55, 0x04, 0x08], "ST"),
    (&[0x55, 0x04, 0x09], "STREET"),
    (&[0x55, 0x04, 0x0a], "O"),
    (&[0x55, 0x04, 0x0b], "OU"),
    (&[0x55, 0x04, 0x0c], "T"),
    (&[0x55, 0x04, 0x2a], "GIVENNAME"),
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01],
        "EMAILADDRESS",
    ),
    (
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19],
        "DC",
    ),
    (
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01],
        "UID",
    ),
];

/// A distinguished name in the certificate's order: `C=US,O=Example,CN=client`; the values of
/// a multi-valued RDN are joined with `+`.
fn name(mut rdns: &[u8]) -> Option<String> {
    let mut out = String::new();
    while !rdns.is_empty() {
        let (tag, mut set, rest) = tlv(rdns)?;
        expect(tag, SET)?;
        rdns = rest;
        let mut first_in_set = true;
        while !set.is_empty() {
            let (tag, atv, rest) = tlv(set)?;
            expect(tag, SEQUENCE)?;
            set = rest;
            let (tag, oid, value) = tlv(atv)?;
            expect(tag, OID)?;
            if !out.is_empty() {
                out.push(if first_in_set { ',' } else { '+' });
            }
            first_in_set = false;
            match ATTRIBUTES.iter().find(|(o, _)| *o == oid) {
                Some((_, short)) => out.push_str(short),
                None => out.push_str(&dotted(oid)),
            }
            out.push('=');
            let (vtag, text, _) = tlv(value)?;
            match string(vtag, text) {
                Some(s) => escape(&s, &mut out),
                None => {
                    out.push('#');
                    for b in value {
                        out.push_str(&format!("{b:02x}"));
                    }
                }
            }
        }
    }
    Some(out)
}

/// The text of a directory string; `None` for a type that is not text.
fn string(tag: u8, bytes: &[u8]) -> Option<String> {
    match tag {
        // UTF8String, PrintableString, IA5String, NumericString, VisibleString
        0x0c | 0x13 | 0x16 | 0x12 | 0x1a => std::str::from_utf8(bytes).ok().map(str::to_owned),
        // TeletexString: Latin-1 in practice
        0x14 => Some(bytes.iter().map(|&b| char::from(b)).collect()),
        // BMPString: UTF-16BE
        0x1e => {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        // UniversalString: UTF-32BE
        0x1c => bytes
            .chunks_exact(4)
            .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        _ => None,
    }
}

/// RFC 4514 escaping of an attribute value.
fn escape(value: &str, out: &mut String) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        if c == '\0' {
            out.push_str("\\00");
        } else {
            out.push(c);
        }
    }
}

/// An object identifier in dotted form.
fn dotted(oid: &[u8]) -> String {
    let mut parts = Vec::new();
    let mut acc: u64 = 0;
    for &b in oid {
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() {
                // The first subidentifier holds the first two arcs: 40 * X + Y.
                let first = acc.min(80) / 40;
                parts.push(first);
                parts.push(acc - first * 40);
            } else {
                parts.push(acc);
            }
            acc = 0;
        }
    }
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A UTCTime or GeneralizedTime as `May 28 12:30:02 2019 GMT` (day padded with a space).
fn time(tag: u8, bytes: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(bytes).ok()?;
    let s = s.strip_suffix('Z')?;
    let (year, rest) = match tag {
        // UTCTime: YYMMDDHHMMSS, years 50..99 are 19xx (RFC 5280 §4.1.2.5.1)
        0x17 if s.len() == 12 => {
            let yy: u32 = s[..2].parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &s[2..])
        }
        // GeneralizedTime: YYYYMMDDHHMMSS
        0x18 if s.len() == 14 => (s[..4].parse().ok()?, &s[4..]),
        _ => return None,
    };
    if !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let month: usize = rest[..2].parse().ok()?;
    let day: u32 = rest[2..4].parse().ok()?;
    let month = MONTHS.get(month.checked_sub(1)?)?;
    Some(format!(
        "{month} {day:>2} {}:{}:{} {year} GMT",
        &rest[4..6],
        &rest[6..8],
        &rest[8..10]
    ))
}

/// PEM with 64-character lines, as OpenSSL writes it.
fn pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 60);
    out.push_str("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_numbers_are_decimal() {
        assert_eq!(decimal(&[0x01]), "1");
        assert_eq!(decimal(&[0x00, 0xff]), "255");
        assert_eq!(decimal(&[0x01, 0x00]), "256");
        assert_eq!(
            decimal(&[0x0b, 0xad, 0xc0, 0xff, 0xee, 0x00, 0x11, 0x22, 0x33]),
            (0x0badc0ffee00112233u128).to_string()
        );
        assert_eq!(decimal(&[0xff; 16]), u128::MAX.to_string());
        assert_eq!(decimal(&[]), "0");
    }

    #[test]
    fn times_print_as_api_gateway_does() {
        assert_eq!(
            time(0x17, b"190528123002Z").as_deref(),
            Some("May 28 12:30:02 2019 GMT")
        );
        assert_eq!(
            time(0x17, b"210805093604Z").as_deref(),
            Some("Aug  5 09:36:04 2021 GMT")
        );
        assert_eq!(
            time(0x17, b"991231235959Z").as_deref(),
            Some("Dec 31 23:59:59 1999 GMT")
        );
        assert_eq!(
            time(0x18, b"20500101000000Z").as_deref(),
            Some("Jan  1 00:00:00 2050 GMT")
        );
        assert_eq!(time(0x17, b"191328123002Z"), None);
        assert_eq!(time(0x17, b"1905281230Z"), None);
    }

    #[test]
    fn values_are_escaped_as_rfc_4514_says() {
        let mut out = String::new();
        escape("Example, Inc.", &mut out);
        assert_eq!(out, "Example\\, Inc.");
        out.clear();
        escape("#a+b ", &mut out);
        assert_eq!(out, "\\#a\\+b\\ ");
    }

    #[test]
    fn oids_print_dotted() {
        assert_eq!(dotted(&[0x55, 0x04, 0x03]), "2.5.4.3");
        assert_eq!(
            dotted(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01]),
            "1.2.840.113549.1.9.1"
        );
    }

    #[test]
    fn a_certificate_reads_as_api_gateway_describes_it() {
        let mut params = rcgen::CertificateParams::new(vec!["client.example".into()]).unwrap();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CountryName, "US");
        dn.push(rcgen::DnType::OrganizationName, "Example, Inc.");
        dn.push(rcgen::DnType::CommonName, "client one");
        params.distinguished_name = dn;
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x01, 0x00, 0x01]));
        params.not_before = rcgen::date_time_ymd(2025, 3, 7);
        params.not_after = rcgen::date_time_ymd(2051, 11, 30);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let c = ClientCert::from_der(cert.der()).expect("parsed");
        assert_eq!(c.subject_dn, "C=US,O=Example\\, Inc.,CN=client one");
        assert_eq!(c.issuer_dn, c.subject_dn);
        assert_eq!(c.serial_number, "65537");
        assert_eq!(c.not_before, "Mar  7 00:00:00 2025 GMT");
        assert_eq!(c.not_after, "Nov 30 00:00:00 2051 GMT");
        assert_eq!(
            c.pem.trim_end(),
            cert.pem().trim_end().replace("\r\n", "\n")
        );
        assert_eq!(c.field("validity.notAfter"), Some(c.not_after.as_str()));
        assert_eq!(c.to_json()["validity"]["notBefore"], c.not_before);
        assert_eq!(ClientCert::from_der(&cert.der()[..40]), None);
    }
}
