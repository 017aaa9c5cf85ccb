//! The stage cache's shared tier (`cache: {shared: true}` with `state.backend: redis`):
//! after a miss in the node's memory the entry is looked up in Redis, and a fill is written
//! there with its TTL, so the other nodes answer from it. Entries are stored compactly
//! ([`encode`]); one whose encoding exceeds the stage's largest entry is not shared. A Redis
//! failure or a lookup past the state's timeout is a miss. A flush raises the stage's
//! generation in Redis and tells every node to empty its memory ([`SharedTier::flushed`]).

use super::Cached;
use bytes::Bytes;
use gatehouse_state::redis_cache::{Lookup, SharedCache, Tier};
use gatehouse_state::StoreError;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// One stage's space in the shared tier.
pub struct SharedTier {
    cache: Arc<SharedCache>,
    space: String,
    /// Flushes of the space announced so far, and how many this stage has applied.
    flushes: Arc<AtomicU64>,
    seen: AtomicU64,
}

impl std::fmt::Debug for SharedTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedTier")
            .field("space", &self.space)
            .finish_non_exhaustive()
    }
}

impl SharedTier {
    /// The space `space` of `cache` (see [`gatehouse_state::redis_cache::space_name`]).
    pub fn new(cache: &Arc<SharedCache>, space: String) -> Self {
        let flushes = cache.flushes(&space);
        let seen = AtomicU64::new(flushes.load(Relaxed));
        Self {
            cache: cache.clone(),
            space,
            flushes,
            seen,
        }
    }

    /// Whether a flush of the space was announced since the last call: the node's memory
    /// must be emptied before it answers again.
    pub fn flushed(&self) -> bool {
        let now = self.flushes.load(Relaxed);
        self.seen.swap(now, Relaxed) != now
    }

    /// The entry of `key`, with the generation a fill must be written under; `None` when Redis
    /// did not answer (then nothing is written either).
    pub async fn lookup(&self, key: &str) -> Option<(Option<Cached>, u64)> {
        let Lookup { found, generation } = self
            .cache
            .lookup(Tier::Responses, &self.space, key.as_bytes(), true)
            .await?;
        let entry = found.and_then(|f| {
            let (status, headers, body) = decode(&f.value)?;
            Some(Cached {
                status,
                headers,
                body,
                ttl: f.ttl,
                shared: true,
            })
        });
        Some((entry, generation))
    }

    /// Writes `entry` as `key` unless its encoding exceeds `max` bytes.
    pub async fn store(&self, key: &str, generation: u64, entry: &Cached, max: usize) {
        let bytes = encode(entry.status, &entry.headers, &entry.body);
        if bytes.len() > max {
            return;
        }
        let (space, ttl) = (&self.space, entry.ttl);
        self.cache
            .store(
                Tier::Responses,
                space,
                key.as_bytes(),
                generation,
                &bytes,
                ttl,
            )
            .await;
    }

    /// Makes every entry of the space a miss on every node.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.cache.flush(&self.space).await
    }
}

/// `status` (2 bytes), the header count (2), each header as its name's length (2), the name,
/// its value's length (4) and the value, then the body; big-endian.
pub fn encode(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Vec<u8> {
    let size: usize = headers
        .iter()
        .map(|(n, v)| 6 + n.as_str().len() + v.len())
        .sum();
    let mut out = Vec::with_capacity(4 + size + body.len());
    out.extend_from_slice(&status.as_u16().to_be_bytes());
    let count = headers.len().min(usize::from(u16::MAX));
    out.extend_from_slice(&(count as u16).to_be_bytes());
    for (name, value) in headers.iter().take(count) {
        out.extend_from_slice(&(name.as_str().len() as u16).to_be_bytes());
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    out.extend_from_slice(body);
    out
}

/// What [`encode`] wrote; `None` when `bytes` is not such an encoding.
pub fn decode(bytes: &[u8]) -> Option<(StatusCode, HeaderMap, Bytes)> {
    let mut rest = bytes;
    let mut take = |n: usize| {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    let u16_of = |b: &[u8]| u16::from_be_bytes([b[0], b[1]]);
    let status = StatusCode::from_u16(u16_of(take(2)?)).ok()?;
    let count = u16_of(take(2)?);
    let mut headers = HeaderMap::with_capacity(usize::from(count));
    for _ in 0..count {
        let len = u16_of(take(2)?);
        let name = HeaderName::from_bytes(take(usize::from(len))?).ok()?;
        let len = u32::from_be_bytes(take(4)?.try_into().ok()?);
        let value = HeaderValue::from_bytes(take(len as usize)?).ok()?;
        headers.append(name, value);
    }
    Some((status, headers, Bytes::copy_from_slice(rest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_comes_back_as_it_was_stored() {
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/json".parse().unwrap());
        h.append("set-cookie", "a=1".parse().unwrap());
        h.append("set-cookie", "b=2".parse().unwrap());
        let bytes = encode(StatusCode::CREATED, &h, b"{\"id\":7}");
        let (status, headers, body) = decode(&bytes).unwrap();
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(headers, h);
        assert_eq!(&body[..], b"{\"id\":7}");
        assert_eq!(
            bytes.len(),
            4 + (6 + 12 + 16) + 2 * (6 + 10 + 3) + 8,
            "compact"
        );
    }

    #[test]
    fn a_truncated_or_foreign_value_is_a_miss() {
        let bytes = encode(StatusCode::OK, &HeaderMap::new(), b"");
        assert!(decode(&bytes).is_some());
        assert!(decode(&bytes[..3]).is_none());
        assert!(decode(b"\x00\x00\x00\x00").is_none(), "status 0");
        assert!(
            decode(b"\x00\xc8\x00\x01\x00\x05ab").is_none(),
            "short header"
        );
    }
}
