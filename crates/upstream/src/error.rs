//! What can go wrong talking to a backend.

use crate::BoxError;
use std::fmt;

/// A failed exchange with a backend. `kind` says which step failed; the source (if any) says
/// why.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    source: Option<BoxError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The TCP connection could not be made.
    Connect,
    /// The TCP connection was not made within the connect timeout.
    ConnectTimeout,
    /// The backend's connection cap was reached and no connection closed in time.
    ConnectionLimit,
    /// Writing the request failed.
    Write,
    /// Reading the answer failed.
    Read,
    /// The backend closed the connection before answering.
    Closed,
    /// The answer is not valid HTTP/1.x.
    BadResponse,
    /// The answer's body ended before its declared length or last chunk.
    Truncated,
    /// The request body (the caller's stream) failed; the source is its error.
    RequestBody,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Self { kind, source: None }
    }

    pub(crate) fn with(kind: ErrorKind, source: impl Into<BoxError>) -> Self {
        Self {
            kind,
            source: Some(source.into()),
        }
    }

    pub(crate) fn bad(why: impl Into<String>) -> Self {
        Self::with(ErrorKind::BadResponse, why.into())
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The request body's own error, for [`ErrorKind::RequestBody`].
    pub fn request_body_error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match self.kind {
            ErrorKind::RequestBody => self.source.as_deref(),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            ErrorKind::Connect => "connecting to the backend failed",
            ErrorKind::ConnectTimeout => "connecting to the backend timed out",
            ErrorKind::ConnectionLimit => {
                "the backend's connection limit was reached and no connection freed in time"
            }
            ErrorKind::Write => "writing the request to the backend failed",
            ErrorKind::Read => "reading the backend's answer failed",
            ErrorKind::Closed => "the backend closed the connection before answering",
            ErrorKind::BadResponse => "the backend's answer is not valid HTTP/1.1",
            ErrorKind::Truncated => "the backend's answer body was cut short",
            ErrorKind::RequestBody => "reading the request body failed",
        })
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
