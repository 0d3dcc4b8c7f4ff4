//! [`Rejection`]: why an extractor refused a request.

use std::borrow::Cow;
use std::fmt;

use http::header::{HeaderValue, CONNECTION, CONTENT_TYPE};
use http::{Response, StatusCode};

use super::IntoResponse;
use crate::body::Body;

/// Why an extractor refused a request: the status to answer and a plain-text reason.
///
/// | extractor | status |
/// |---|---|
/// | [`Path`](super::Path): a parameter that does not parse | 400 |
/// | [`Path`](super::Path) on a route without parameters | 500 |
/// | [`Query`](super::Query): a query string that does not parse | 400 |
/// | [`Json`](super::Json): no `application/json` content type | 415 |
/// | [`Json`](super::Json), `Bytes`, `String`: body over the limit | 413, and the connection closes |
/// | [`Json`](super::Json): not JSON (syntax, cut short) | 400 |
/// | [`Json`](super::Json): JSON that does not match the type | 422 |
/// | `String`: body not UTF-8 | 400 |
/// | a body that failed on the wire | 400, and the connection closes |
///
/// As a response ([`IntoResponse`]) it is the status with the reason as a `text/plain` body.
/// A 413 also says `Connection: close`: the rest of the body was not read, and reading
/// it only to drop it would let a client make the server read without bound.
///
/// # Examples
///
/// ```
/// use quasar_http::app::{IntoResponse, Rejection};
/// use quasar_http::http::StatusCode;
///
/// let r = Rejection::new(StatusCode::BAD_REQUEST, "no such thing");
/// assert_eq!(r.status(), StatusCode::BAD_REQUEST);
/// assert_eq!(r.into_response().status(), StatusCode::BAD_REQUEST);
/// ```
#[derive(Debug, Clone)]
pub struct Rejection {
    status: StatusCode,
    reason: Cow<'static, str>,
    close: bool,
}

impl Rejection {
    /// A rejection with `status` and `reason` (the response body).
    pub fn new(status: StatusCode, reason: impl Into<Cow<'static, str>>) -> Self {
        Rejection {
            status,
            reason: reason.into(),
            close: false,
        }
    }

    /// The rejection also closes the connection (`Connection: close`).
    pub fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    /// The status answered.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The reason, sent as the body.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.reason)
    }
}

impl std::error::Error for Rejection {}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response<Body> {
        let body = match self.reason {
            Cow::Borrowed(s) => Body::from(s),
            Cow::Owned(s) => Body::from(s),
        };
        let mut resp = Response::new(body);
        *resp.status_mut() = self.status;
        let headers = resp.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if self.close {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }
}
