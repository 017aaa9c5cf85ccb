//! `mock`: a fixed response from config, no backend.

use crate::body::Body;
use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};

#[derive(Debug)]
pub struct Mock {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Mock {
    pub fn respond(&self) -> Response<Body> {
        let mut resp = Response::new(Body::full(self.body.clone()));
        *resp.status_mut() = self.status;
        *resp.headers_mut() = self.headers.clone();
        resp
    }
}
