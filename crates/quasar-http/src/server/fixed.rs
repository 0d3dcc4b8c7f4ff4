//! Fixed responses: a response that depends on nothing in the request.
//!
//! [`Router::fixed`](super::Router::fixed) registers one for `GET path` (and `HEAD`). The
//! request goes the ordinary way (parsed, routed); the router then answers with a copy of the
//! stored response instead of calling a handler: no handler future to run, and the body is
//! shared, not rebuilt.
//!
//! # Examples
//!
//! ```
//! use bytes::Bytes;
//! use quasar_http::server::{FixedResponse, Router};
//!
//! let hello = http::Response::builder()
//!     .header("content-type", "text/plain")
//!     .body(Bytes::from_static(b"Hello, World!"))
//!     .unwrap();
//! let router = Router::new().fixed("/", hello);
//! # let _ = router;
//! let fixed = FixedResponse::new(http::Response::new(Bytes::from_static(b"hi")));
//! assert_eq!(fixed.body(), &b"hi"[..]);
//! ```

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::{HeaderMap, Response, StatusCode};

use crate::body::Body;

/// A response that depends on nothing in the request (see the module docs).
#[derive(Debug)]
pub struct FixedResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl FixedResponse {
    /// Wraps `response`. Framing headers in it are ignored (`Content-Length` is computed).
    pub fn new(response: Response<Bytes>) -> Self {
        let (parts, body) = response.into_parts();
        let mut headers = parts.headers;
        headers.remove(CONTENT_LENGTH);
        FixedResponse {
            status: parts.status,
            headers,
            body,
        }
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// A fresh `Response<Body>` sharing the body's memory.
    pub(crate) fn to_response(&self) -> Response<Body> {
        let mut resp = Response::new(Body::from(self.body.clone()));
        *resp.status_mut() = self.status;
        if !self.headers.is_empty() {
            *resp.headers_mut() = self.headers.clone();
        }
        resp
    }
}
