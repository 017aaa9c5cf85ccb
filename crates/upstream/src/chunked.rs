//! Decoding `Transfer-Encoding: chunked` (RFC 9112 section 7.1) from a read buffer.

use crate::error::Error;
use bytes::{Buf, Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};

/// Longest chunk-size line (with extensions) accepted.
const MAX_SIZE_LINE: usize = 4096;
/// Largest trailer section accepted.
const MAX_TRAILERS: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunked {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

/// What the buffer gave.
#[derive(Debug)]
pub(crate) enum Decoded {
    Data(Bytes),
    Trailers(HeaderMap),
    End,
    /// Read more and ask again.
    More,
}

impl Chunked {
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, Error> {
        loop {
            match *self {
                Chunked::Size => {
                    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
                        if buf.len() > MAX_SIZE_LINE {
                            return Err(Error::bad("chunk size line too long"));
                        }
                        return Ok(Decoded::More);
                    };
                    let line = &buf[..nl];
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    let digits = line
                        .iter()
                        .position(|&b| b == b';')
                        .map_or(line, |semi| &line[..semi])
                        .trim_ascii();
                    if digits.is_empty() || digits.len() > 16 {
                        return Err(Error::bad("chunk size"));
                    }
                    let mut size: u64 = 0;
                    for &d in digits {
                        let v = match d {
                            b'0'..=b'9' => d - b'0',
                            b'a'..=b'f' => d - b'a' + 10,
                            b'A'..=b'F' => d - b'A' + 10,
                            _ => return Err(Error::bad("chunk size is not hexadecimal")),
                        };
                        size = (size << 4) | u64::from(v);
                    }
                    buf.advance(nl + 1);
                    *self = if size == 0 {
                        Chunked::Trailers
                    } else {
                        Chunked::Data(size)
                    };
                }
                Chunked::Data(left) => {
                    if buf.is_empty() {
                        return Ok(Decoded::More);
                    }
                    let n = (buf.len() as u64).min(left);
                    *self = if n == left {
                        Chunked::DataEnd
                    } else {
                        Chunked::Data(left - n)
                    };
                    return Ok(Decoded::Data(buf.split_to(n as usize).freeze()));
                }
                Chunked::DataEnd => {
                    if buf.starts_with(b"\r\n") {
                        buf.advance(2);
                    } else if buf.starts_with(b"\n") {
                        buf.advance(1);
                    } else if buf.len() < 2 {
                        return Ok(Decoded::More);
                    } else {
                        return Err(Error::bad("chunk data not followed by CRLF"));
                    }
                    *self = Chunked::Size;
                }
                Chunked::Trailers => {
                    let mut slots = [httparse::EMPTY_HEADER; 32];
                    match httparse::parse_headers(buf, &mut slots) {
                        Ok(httparse::Status::Complete((len, fields))) => {
                            let mut map = HeaderMap::new();
                            for f in fields {
                                let (Ok(name), Ok(value)) = (
                                    HeaderName::from_bytes(f.name.as_bytes()),
                                    HeaderValue::from_bytes(f.value),
                                ) else {
                                    return Err(Error::bad("trailer field"));
                                };
                                map.append(name, value);
                            }
                            buf.advance(len);
                            *self = Chunked::Done;
                            if !map.is_empty() {
                                return Ok(Decoded::Trailers(map));
                            }
                        }
                        Ok(httparse::Status::Partial) => {
                            if buf.len() > MAX_TRAILERS {
                                return Err(Error::bad("trailer section too large"));
                            }
                            return Ok(Decoded::More);
                        }
                        Err(e) => return Err(Error::bad(format!("trailer section: {e}"))),
                    }
                }
                Chunked::Done => return Ok(Decoded::End),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Feeds `wire` one byte at a time, as the slowest backend would.
    fn decode_bytewise(wire: &[u8]) -> Result<(Vec<u8>, Option<HeaderMap>, usize), Error> {
        let mut state = Chunked::Size;
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut trailers = None;
        let mut fed = 0;
        loop {
            match state.decode(&mut buf)? {
                Decoded::Data(d) => out.extend_from_slice(&d),
                Decoded::Trailers(t) => trailers = Some(t),
                Decoded::End => return Ok((out, trailers, wire.len() - fed + buf.len())),
                Decoded::More => {
                    if fed == wire.len() {
                        return Err(Error::bad("ran out"));
                    }
                    buf.extend_from_slice(&wire[fed..fed + 1]);
                    fed += 1;
                }
            }
        }
    }

    #[test]
    fn decodes_chunks_extensions_and_trailers() {
        let (body, trailers, left) =
            decode_bytewise(b"5;ext=1\r\nhello\r\nA \r\n0123456789\r\n0\r\nx-sum: 7\r\n\r\n")
                .unwrap();
        assert_eq!(body, b"hello0123456789");
        assert_eq!(trailers.unwrap()["x-sum"], "7");
        assert_eq!(left, 0);
        let (body, trailers, _) = decode_bytewise(b"3\r\nabc\r\n0\r\n\r\n").unwrap();
        assert_eq!(body, b"abc");
        assert!(trailers.is_none());
    }

    #[test]
    fn leaves_what_follows_the_last_chunk() {
        let mut state = Chunked::Size;
        let mut buf = BytesMut::from(&b"0\r\n\r\nHTTP/1.1"[..]);
        assert!(matches!(state.decode(&mut buf).unwrap(), Decoded::End));
        assert_eq!(&buf[..], b"HTTP/1.1");
    }

    #[test]
    fn refuses_bad_chunks() {
        for bad in [
            &b"g\r\n"[..],
            b"\r\n",
            b"11111111111111111\r\n",
            b"3\r\nabcX\r\n",
        ] {
            assert!(decode_bytewise(bad).is_err(), "{bad:?}");
        }
    }
}
