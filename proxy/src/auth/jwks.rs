//! JSON Web Key Sets: the public keys a JWT authorizer verifies signatures with.
//!
//! Keys come from a file (read when the config loads) or from the issuer's JWKS URL, fetched
//! on first use and again when a token names a `kid` the set does not have: at most one fetch
//! runs at a time (other requests await it; no thread is parked), and an unknown `kid` starts a
//! new fetch at most once per [`REFETCH_INTERVAL`], so tokens with made-up key ids cannot make
//! the gateway hammer the issuer.

use crate::integration::Outbound;
use arc_swap::ArcSwap;
use base64::Engine as _;
use ring::signature;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Least time between two fetches of one key set caused by unknown key ids.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// How long one fetch of a key set may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Most bytes of a key set document.
const MAX_JWKS_BYTES: usize = 1 << 20;

/// A signature algorithm a JWT may name in its `alg` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    Rs256,
    Rs384,
    Rs512,
    Es256,
    Es384,
    EdDsa,
}

impl Alg {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "RS256" => Self::Rs256,
            "RS384" => Self::Rs384,
            "RS512" => Self::Rs512,
            "ES256" => Self::Es256,
            "ES384" => Self::Es384,
            "EdDSA" => Self::EdDsa,
            _ => return None,
        })
    }
}

/// One public key of a set.
#[derive(Debug, Clone)]
pub struct Jwk {
    pub kid: Option<String>,
    /// The key's `alg`, when the set names one: a token must then use exactly it.
    pub alg: Option<Alg>,
    material: Material,
}

#[derive(Debug, Clone)]
enum Material {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// The uncompressed point `04 || x || y`.
    EcP256(Vec<u8>),
    EcP384(Vec<u8>),
    Ed25519(Vec<u8>),
}

fn b64(v: &Value, field: &str) -> Result<Vec<u8>, String> {
    let s = v
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing `{field}`"))?;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| format!("`{field}` is not base64url"))
}

impl Jwk {
    /// One key of a set; `Ok(None)` for a key that cannot verify signatures (an encryption
    /// key, a symmetric or unsupported one), which the set skips as JOSE asks.
    fn parse(v: &Value) -> Result<Option<Self>, String> {
        if v.get("use")
            .and_then(Value::as_str)
            .is_some_and(|u| u != "sig")
        {
            return Ok(None);
        }
        let alg = match v.get("alg").and_then(Value::as_str) {
            Some(a) => match Alg::parse(a) {
                Some(a) => Some(a),
                None => return Ok(None),
            },
            None => None,
        };
        let material = match v.get("kty").and_then(Value::as_str) {
            Some("RSA") => Material::Rsa {
                n: b64(v, "n")?,
                e: b64(v, "e")?,
            },
            Some("EC") => {
                let (x, y) = (b64(v, "x")?, b64(v, "y")?);
                let mut point = Vec::with_capacity(1 + x.len() + y.len());
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                match v.get("crv").and_then(Value::as_str) {
                    Some("P-256") if x.len() == 32 && y.len() == 32 => Material::EcP256(point),
                    Some("P-384") if x.len() == 48 && y.len() == 48 => Material::EcP384(point),
                    _ => return Ok(None),
                }
            }
            Some("OKP") if v.get("crv").and_then(Value::as_str) == Some("Ed25519") => {
                Material::Ed25519(b64(v, "x")?)
            }
            _ => return Ok(None),
        };
        Ok(Some(Self {
            kid: v.get("kid").and_then(Value::as_str).map(str::to_owned),
            alg,
            material,
        }))
    }

    /// Whether the key fits tokens signed with `alg`.
    pub fn fits(&self, alg: Alg) -> bool {
        if self.alg.is_some_and(|a| a != alg) {
            return false;
        }
        matches!(
            (&self.material, alg),
            (Material::Rsa { .. }, Alg::Rs256 | Alg::Rs384 | Alg::Rs512)
                | (Material::EcP256(_), Alg::Es256)
                | (Material::EcP384(_), Alg::Es384)
                | (Material::Ed25519(_), Alg::EdDsa)
        )
    }

    /// Whether `sig` is this key's signature of `msg` with `alg`.
    pub fn verify(&self, alg: Alg, msg: &[u8], sig: &[u8]) -> bool {
        let ok = match (&self.material, alg) {
            (Material::Rsa { n, e }, _) => {
                let params = match alg {
                    Alg::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    Alg::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    Alg::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    _ => return false,
                };
                signature::RsaPublicKeyComponents { n, e }.verify(params, msg, sig)
            }
            (Material::EcP256(p), Alg::Es256) => {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, p)
                    .verify(msg, sig)
            }
            (Material::EcP384(p), Alg::Es384) => {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, p)
                    .verify(msg, sig)
            }
            (Material::Ed25519(k), Alg::EdDsa) => {
                signature::UnparsedPublicKey::new(&signature::ED25519, k).verify(msg, sig)
            }
            _ => return false,
        };
        ok.is_ok()
    }
}

/// The keys of a JWKS document (`{"keys": [..]}`), skipping those that cannot verify.
pub fn parse_set(doc: &[u8]) -> Result<Vec<Jwk>, String> {
    let v: Value = serde_json::from_slice(doc).map_err(|e| format!("not JSON: {e}"))?;
    let keys = v
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("expected a JSON Web Key Set: an object with a `keys` list")?;
    let mut out = Vec::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        if let Some(k) = Jwk::parse(k).map_err(|e| format!("keys[{i}]: {e}"))? {
            out.push(k);
        }
    }
    Ok(out)
}

/// Where a key set comes from.
#[derive(Debug)]
pub enum Source {
    /// Read once, when the config loaded.
    Fixed,
    Url(http::Uri),
}

/// A key set, with its refresh state.
#[derive(Debug)]
pub struct KeySet {
    source: Source,
    keys: ArcSwap<Vec<Jwk>>,
    /// When the last fetch started and why it failed, if it did; held across a fetch so only
    /// one runs.
    fetched: tokio::sync::Mutex<Option<(Instant, Option<String>)>>,
}

/// Why no key verifies a token.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyError {
    /// The set, as fetched, has no key for the token.
    Unknown,
    /// The set could not be fetched (the reason is for the log).
    Unavailable(String),
}

impl KeySet {
    pub fn fixed(keys: Vec<Jwk>) -> Self {
        Self {
            source: Source::Fixed,
            keys: ArcSwap::from_pointee(keys),
            fetched: tokio::sync::Mutex::new(None),
        }
    }

    pub fn url(uri: http::Uri) -> Self {
        Self {
            source: Source::Url(uri),
            keys: ArcSwap::from_pointee(Vec::new()),
            fetched: tokio::sync::Mutex::new(None),
        }
    }

    fn find(keys: &[Jwk], kid: Option<&str>, alg: Alg) -> Option<Jwk> {
        keys.iter()
            .find(|k| k.fits(alg) && (kid.is_none() || k.kid.as_deref() == kid))
            .cloned()
    }

    /// The key for a token's `kid` and `alg`, fetching the set when it lacks one.
    pub async fn key(
        &self,
        out: &dyn Outbound,
        kid: Option<&str>,
        alg: Alg,
    ) -> Result<Jwk, KeyError> {
        if let Some(k) = Self::find(&self.keys.load(), kid, alg) {
            return Ok(k);
        }
        let Source::Url(uri) = &self.source else {
            return Err(KeyError::Unknown);
        };
        let mut fetched = self.fetched.lock().await;
        // Another request may have fetched the set while this one waited.
        if let Some(k) = Self::find(&self.keys.load(), kid, alg) {
            return Ok(k);
        }
        if let Some((at, failed)) = &*fetched {
            if at.elapsed() < REFETCH_INTERVAL {
                // Until the interval passes, a failed fetch stays the answer.
                return Err(failed
                    .clone()
                    .map_or(KeyError::Unknown, KeyError::Unavailable));
            }
        }
        let started = Instant::now();
        match fetch(out, uri).await {
            Ok(keys) => {
                *fetched = Some((started, None));
                let found = Self::find(&keys, kid, alg);
                self.keys.store(Arc::new(keys));
                found.ok_or(KeyError::Unknown)
            }
            Err(why) => {
                *fetched = Some((started, Some(why.clone())));
                Err(KeyError::Unavailable(why))
            }
        }
    }
}

async fn fetch(out: &dyn Outbound, uri: &http::Uri) -> Result<Vec<Jwk>, String> {
    let mut req = http::Request::new(crate::body::Body::full(bytes::Bytes::new()));
    *req.uri_mut() = uri.clone();
    req.headers_mut().insert(
        http::header::ACCEPT,
        http::HeaderValue::from_static("application/json"),
    );
    let (parts, body) = crate::integration::exchange(out, req, MAX_JWKS_BYTES, FETCH_TIMEOUT)
        .await
        .map_err(|r| format!("fetching the key set `{uri}` failed: {}", r.reason))?;
    if !parts.status.is_success() {
        return Err(format!(
            "the key set `{uri}` answered {}",
            parts.status.as_u16()
        ));
    }
    parse_set(&body).map_err(|e| format!("the key set `{uri}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_skip_keys_that_cannot_verify() {
        let doc = br#"{"keys": [
            {"kty": "oct", "k": "c2VjcmV0"},
            {"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"},
            {"kty": "RSA", "alg": "RS256", "kid": "a", "n": "AQAB", "e": "AQAB"},
            {"kty": "EC", "crv": "P-256", "kid": "b", "x": "AA", "y": "AA"},
            {"kty": "OKP", "crv": "Ed25519", "kid": "c", "x": "AAAA"}
        ]}"#;
        let keys = parse_set(doc).unwrap();
        let kids: Vec<_> = keys.iter().map(|k| k.kid.as_deref().unwrap()).collect();
        // The EC key's coordinates have the wrong length for P-256.
        assert_eq!(kids, ["a", "c"]);
        assert!(keys[0].fits(Alg::Rs256));
        assert!(!keys[0].fits(Alg::Rs384), "the key names RS256 alone");
        assert!(keys[1].fits(Alg::EdDsa));
        assert!(parse_set(b"{}").is_err());
        assert!(parse_set(br#"{"keys": [{"kty": "RSA", "n": "!!"}]}"#).is_err());
    }
}
