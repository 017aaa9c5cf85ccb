//! IAM authorization (`authorization_type: AWS_IAM`): AWS Signature Version 4, verified as
//! API Gateway verifies it for the `execute-api` service.
//!
//! Both forms are read: the `Authorization: AWS4-HMAC-SHA256 Credential=..,
//! SignedHeaders=.., Signature=..` header with `X-Amz-Date` (or `Date`), and the presigned
//! query (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`,
//! `X-Amz-SignedHeaders`, `X-Amz-Signature`). The canonical request is built from the request
//! as received: the path URI-encoded once more (as for every service but S3), the query
//! parameters decoded, re-encoded and sorted, the signed headers lowercased with their values
//! trimmed, and the payload's SHA-256 (or `x-amz-content-sha256`, which may be
//! `UNSIGNED-PAYLOAD`). A request more than 5 minutes from the gateway's clock is refused, as
//! is a presigned one past its expiry.
//!
//! Answers, as API Gateway gives them: no signature at all is 403 `Missing Authentication
//! Token`; a malformed one 403 `IncompleteSignatureException`; an unknown access key 403
//! `UnrecognizedClientException` ("The security token included in the request is invalid.");
//! a wrong signature 403 `InvalidSignatureException` with the canonical request and string to
//! sign the gateway computed; an expired one 403 `InvalidSignatureException` `Signature
//! expired: ..`; a principal whose allow-list does not cover the method 403
//! `AccessDeniedException`.

pub use crate::ctx::IamIdentity;
use crate::error::{Rejection, ResponseType};
use ring::hmac;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod date;
pub use date::amz_date;
use date::parse_amz_date;

/// Most a signing time may differ from the gateway's clock.
pub const MAX_SKEW: Duration = Duration::from_secs(300);
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const SERVICE: &str = "execute-api";

/// One IAM principal's signing key, as the state store keeps it.
pub type Credential = gatehouse_state::StoredCredential;

/// The parts of a request a signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    pub method: &'a str,
    /// The path as received (still percent-encoded).
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a http::HeaderMap,
    /// The request's authority, for a signed `host` on HTTP/2 and HTTP/3 (no Host header).
    pub authority: Option<&'a str>,
    pub body: &'a [u8],
}

fn incomplete(msg: String) -> Rejection {
    Rejection::new(
        ResponseType::MissingAuthenticationToken,
        "incomplete SigV4 signature",
    )
    .with_message(msg)
    .with_error_type("IncompleteSignatureException")
}

fn invalid_signature(msg: String) -> Rejection {
    Rejection::new(ResponseType::InvalidSignature, "SigV4 signature mismatch").with_message(msg)
}

/// `%XX`-decodes `s` (bytes that are not valid escapes are kept).
fn decode(s: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(s).collect()
}

/// AWS's URI encoding: every byte but `A-Z a-z 0-9 - _ . ~` as `%XX` (and `/` kept when
/// `keep_slash`).
fn encode(bytes: &[u8], keep_slash: bool, out: &mut String) {
    for &b in bytes {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// What a signature names: from the `Authorization` header or the presigned query.
#[derive(Debug, PartialEq, Eq)]
struct Claimed {
    access_key: String,
    date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
    amz_date: String,
    /// Presigned: seconds the URL is valid for.
    expires: Option<u64>,
    token: Option<String>,
}

fn query_params(query: Option<&str>) -> Vec<(Vec<u8>, Vec<u8>)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                decode(&k.replace('+', "%20")),
                decode(&v.replace('+', "%20")),
            )
        })
        .collect()
}

fn header<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The credential scope `AKID/DATE/REGION/SERVICE/aws4_request`.
fn scope(credential: &str) -> Option<(String, String, String, String)> {
    let mut p = credential.rsplitn(5, '/');
    let (term, service, region, date, akid) =
        (p.next()?, p.next()?, p.next()?, p.next()?, p.next()?);
    (term == "aws4_request" && !akid.is_empty()).then(|| {
        (
            akid.to_owned(),
            date.to_owned(),
            region.to_owned(),
            service.to_owned(),
        )
    })
}

/// Reads the signature's claims; `Ok(None)` when the request is not signed at all.
fn claimed(req: &Signed<'_>) -> Result<Option<Claimed>, Rejection> {
    if let Some(auth) = header(req.headers, "authorization") {
        let Some(params) = auth.strip_prefix(ALGORITHM).filter(|p| p.starts_with(' ')) else {
            // API Gateway reads any other Authorization value as a malformed signature.
            return Err(incomplete(format!("Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={auth}")));
        };
        let mut fields: HashMap<&str, &str> = HashMap::new();
        for part in params.split(',') {
            if let Some((k, v)) = part.trim().split_once('=') {
                fields.insert(k.trim(), v.trim());
            }
        }
        let date_header = header(req.headers, "x-amz-date").or_else(|| header(req.headers, "date"));
        let mut missing = String::new();
        for (key, present) in [
            ("Credential", fields.contains_key("Credential")),
            ("Signature", fields.contains_key("Signature")),
            ("SignedHeaders", fields.contains_key("SignedHeaders")),
        ] {
            if !present {
                let _ = write!(missing, "Authorization header requires '{key}' parameter. ");
            }
        }
        if date_header.is_none() {
            missing.push_str("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ");
        }
        if !missing.is_empty() {
            return Err(incomplete(format!("{missing}Authorization={auth}")));
        }
        let credential = fields["Credential"];
        let (access_key, date, region, service) = scope(credential).ok_or_else(|| {
            incomplete(format!(
                "Credential should be scoped to a valid region. Authorization={auth}"
            ))
        })?;
        return Ok(Some(Claimed {
            access_key,
            date,
            region,
            service,
            signed_headers: fields["SignedHeaders"]
                .split(';')
                .map(str::to_owned)
                .collect(),
            signature: fields["Signature"].to_owned(),
            amz_date: date_header.unwrap_or("").to_owned(),
            expires: None,
            token: header(req.headers, "x-amz-security-token").map(str::to_owned),
        }));
    }
    let params = query_params(req.query);
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k.as_slice() == name.as_bytes())
            .map(|(_, v)| crate::ctx::utf8_text(v).into_owned())
    };
    let Some(algorithm) = get("X-Amz-Algorithm") else {
        return Ok(None);
    };
    if algorithm != ALGORITHM {
        return Err(incomplete(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'"
        )));
    }
    let mut missing = Vec::new();
    for key in [
        "X-Amz-Credential",
        "X-Amz-Signature",
        "X-Amz-SignedHeaders",
        "X-Amz-Date",
    ] {
        if get(key).is_none() {
            missing.push(format!("AWS query-string parameters must include '{key}'."));
        }
    }
    if !missing.is_empty() {
        return Err(incomplete(format!(
            "{} Re-examine the query-string parameters.",
            missing.join(" ")
        )));
    }
    let credential = get("X-Amz-Credential").unwrap_or_default();
    let (access_key, date, region, service) = scope(&credential)
        .ok_or_else(|| incomplete("Credential should be scoped to a valid region.".into()))?;
    let expires = match get("X-Amz-Expires") {
        None => None,
        Some(e) => Some(
            e.parse::<u64>()
                .ok()
                .filter(|e| *e <= 604_800)
                .ok_or_else(|| {
                    incomplete(format!(
                        "X-Amz-Expires must be a number of seconds up to 604800, found {e}"
                    ))
                })?,
        ),
    };
    Ok(Some(Claimed {
        access_key,
        date,
        region,
        service,
        signed_headers: get("X-Amz-SignedHeaders")
            .unwrap_or_default()
            .split(';')
            .map(str::to_owned)
            .collect(),
        signature: get("X-Amz-Signature").unwrap_or_default(),
        amz_date: get("X-Amz-Date").unwrap_or_default(),
        expires,
        token: get("X-Amz-Security-Token"),
    }))
}

/// The canonical request of `req` for the signed headers `signed`; `presigned` leaves
/// `X-Amz-Signature` out of the query.
fn canonical_request(req: &Signed<'_>, signed: &[String], presigned: bool) -> String {
    let mut c = String::with_capacity(256);
    c.push_str(req.method);
    c.push('\n');
    if req.path.is_empty() {
        c.push('/');
    } else {
        encode(req.path.as_bytes(), true, &mut c);
    }
    c.push('\n');
    let mut params: Vec<(String, String)> = query_params(req.query)
        .into_iter()
        .filter(|(k, _)| !(presigned && k.as_slice() == b"X-Amz-Signature"))
        .map(|(k, v)| {
            let (mut ke, mut ve) = (String::new(), String::new());
            encode(&k, false, &mut ke);
            encode(&v, false, &mut ve);
            (ke, ve)
        })
        .collect();
    params.sort();
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            c.push('&');
        }
        c.push_str(k);
        c.push('=');
        c.push_str(v);
    }
    c.push('\n');
    for name in signed {
        c.push_str(name);
        c.push(':');
        let mut values: Vec<String> = req
            .headers
            .get_all(name.as_str())
            .iter()
            .map(|v| {
                crate::ctx::utf8_text(v.as_bytes())
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        if values.is_empty() && name == "host" {
            values.extend(req.authority.map(str::to_owned));
        }
        c.push_str(&values.join(","));
        c.push('\n');
    }
    c.push('\n');
    c.push_str(&signed.join(";"));
    c.push('\n');
    match header(req.headers, "x-amz-content-sha256") {
        Some(h) => c.push_str(h),
        None => c.push_str(&hex(&Sha256::digest(req.body))),
    }
    c
}

fn hmac(key: &[u8], msg: &str) -> hmac::Tag {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), msg.as_bytes())
}

/// The signature of `string_to_sign` with `secret` for the scope's date and region.
pub fn signature(
    secret: &str,
    date: &str,
    region: &str,
    service: &str,
    string_to_sign: &str,
) -> String {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date);
    let k = hmac(k.as_ref(), region);
    let k = hmac(k.as_ref(), service);
    let k = hmac(k.as_ref(), "aws4_request");
    hex(hmac(k.as_ref(), string_to_sign).as_ref())
}

/// The `Authorization` header a client would send for `req` (header form, signing the
/// headers `signed`, which must include `host` and `x-amz-date`), as AWS's SDKs compute it.
/// The benchmarks sign their requests with it.
pub fn authorization(
    req: &Signed<'_>,
    signed: &[&str],
    access_key: &str,
    secret: &str,
    region: &str,
) -> Option<String> {
    let amz_date = header(req.headers, "x-amz-date")?;
    let date = amz_date.get(..8)?;
    let signed: Vec<String> = signed.iter().map(|h| h.to_ascii_lowercase()).collect();
    let canonical = canonical_request(req, &signed, false);
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{date}/{region}/{SERVICE}/aws4_request\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let sig = signature(secret, date, region, SERVICE, &string_to_sign);
    Some(format!(
        "{ALGORITHM} Credential={access_key}/{date}/{region}/{SERVICE}/aws4_request, SignedHeaders={}, Signature={sig}",
        signed.join(";")
    ))
}

/// Whether two byte strings are equal, in time independent of where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Verifies the signature of `req` at `now` against the credential `creds` finds by access key
/// id (a disabled one is as good as none), then that the principal may invoke `method_arn`.
pub fn verify(
    creds: impl Fn(&str) -> Option<Arc<Credential>>,
    req: &Signed<'_>,
    now: SystemTime,
    method_arn: &str,
) -> Result<IamIdentity, Rejection> {
    let Some(c) = claimed(req)? else {
        return Err(Rejection::new(
            ResponseType::MissingAuthenticationToken,
            "AWS_IAM method without a SigV4 signature",
        ));
    };
    let Some(cred) = creds(&c.access_key).filter(|c| c.enabled) else {
        return Err(
            Rejection::new(ResponseType::InvalidSignature, "unknown access key id")
                .with_message("The security token included in the request is invalid.")
                .with_error_type("UnrecognizedClientException"),
        );
    };
    if c.service != SERVICE {
        return Err(incomplete(format!(
            "Credential should be scoped to correct service: '{SERVICE}'. "
        )));
    }
    let signed_at = parse_amz_date(&c.amz_date)
        .ok_or_else(|| incomplete(format!("Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601", c.amz_date)))?;
    if c.amz_date.get(..8) != Some(c.date.as_str()) {
        return Err(invalid_signature(format!("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.", c.date, c.amz_date.get(..8).unwrap_or(""), c.amz_date)));
    }
    let now_s = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let skew = MAX_SKEW.as_secs();
    match c.expires {
        Some(expires) if now_s > signed_at + expires => {
            return Err(
                Rejection::new(ResponseType::InvalidSignature, "presigned URL expired")
                    .with_message(format!(
                        "Signature expired: {} is now earlier than {} ({} - {expires} sec.)",
                        c.amz_date,
                        amz_date(now_s - expires),
                        amz_date(now_s)
                    )),
            );
        }
        None if signed_at + skew < now_s => {
            return Err(
                Rejection::new(ResponseType::InvalidSignature, "SigV4 signature expired")
                    .with_message(format!(
                        "Signature expired: {} is now earlier than {} ({} - 5 min.)",
                        c.amz_date,
                        amz_date(now_s - skew),
                        amz_date(now_s)
                    )),
            );
        }
        _ => {}
    }
    if signed_at > now_s + skew {
        return Err(Rejection::new(
            ResponseType::InvalidSignature,
            "SigV4 signature in the future",
        )
        .with_message(format!(
            "Signature not yet current: {} is still later than {} ({} + 5 min.)",
            c.amz_date,
            amz_date(now_s + skew),
            amz_date(now_s)
        )));
    }
    if !c.signed_headers.iter().any(|h| h == "host") {
        return Err(invalid_signature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    if let Some(want) = &cred.session_token {
        if c.token.as_deref() != Some(want.as_str()) {
            return Err(
                Rejection::new(ResponseType::InvalidSignature, "session token mismatch")
                    .with_message("The security token included in the request is invalid.")
                    .with_error_type("UnrecognizedClientException"),
            );
        }
    }
    let canonical = canonical_request(
        req,
        &c.signed_headers,
        c.expires.is_some() || header(req.headers, "authorization").is_none(),
    );
    let string_to_sign = format!(
        "{ALGORITHM}\n{}\n{}/{}/{}/aws4_request\n{}",
        c.amz_date,
        c.date,
        c.region,
        c.service,
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let expected = signature(
        &cred.secret_access_key,
        &c.date,
        &c.region,
        &c.service,
        &string_to_sign,
    );
    if !same(
        expected.as_bytes(),
        c.signature.to_ascii_lowercase().as_bytes(),
    ) {
        return Err(invalid_signature(format!("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical String for this request should have been\n'{canonical}'\n\nThe String-to-Sign should have been\n'{string_to_sign}'\n")));
    }
    if !allowed(&cred, method_arn) {
        return Err(Rejection::new(ResponseType::AccessDenied, "principal not allowed")
            .with_message(format!(
                "User: {} is not authorized to perform: execute-api:Invoke on resource: {method_arn}",
                cred.principal
            )));
    }
    let (account_id, user) = principal_parts(&cred.principal);
    Ok(IamIdentity {
        access_key: c.access_key,
        principal: cred.principal.clone(),
        account_id,
        user,
    })
}

/// `(account, resource)` of `arn:aws:iam::ACCOUNT:RESOURCE`.
fn principal_parts(arn: &str) -> (String, String) {
    let mut p = arn.splitn(6, ':');
    let account = p.nth(4).unwrap_or("").to_owned();
    let user = p.next().unwrap_or("").to_owned();
    (account, user)
}

/// The `iam` section: the config file's credentials, which each load imports into the store.
pub fn compile(
    raw: &gatehouse_config::raw::RawIam,
    e: &mut gatehouse_config::Errors,
) -> Vec<Credential> {
    let mut out: Vec<Credential> = Vec::new();
    e.at("credentials", |e| {
        for (name, c) in &raw.credentials {
            e.at(name, |e| {
                let new = gatehouse_state::iam::NewCredential {
                    name: name.clone(),
                    access_key_id: Some(c.access_key_id.clone()),
                    secret_access_key: Some(c.secret_access_key.clone()),
                    session_token: c.session_token.clone(),
                    principal: c.principal.clone(),
                    allow: c.allow.clone(),
                    enabled: c.enabled,
                };
                if let Err(why) = gatehouse_state::iam::validate(&new) {
                    return e.push(why);
                }
                if out.iter().any(|o| o.access_key_id == c.access_key_id) {
                    return e.push_at(
                        "access_key_id",
                        format!("access key `{}` is given twice", c.access_key_id),
                    );
                }
                out.push(Credential {
                    access_key_id: c.access_key_id.clone(),
                    name: name.clone(),
                    secret_access_key: c.secret_access_key.clone(),
                    session_token: c.session_token.clone(),
                    principal: c.principal.clone(),
                    allow: c.allow.clone(),
                    enabled: c.enabled,
                    created_at: 0,
                    from_config: true,
                });
            })
        }
    });
    out
}

/// Whether `cred`'s allow-list lets it invoke `method_arn`.
pub fn allowed(cred: &Credential, method_arn: &str) -> bool {
    cred.allow.is_empty()
        || cred
            .allow
            .iter()
            .any(|p| super::policy::wildcard(p.as_bytes(), method_arn.as_bytes()))
}

#[cfg(test)]
mod tests;
