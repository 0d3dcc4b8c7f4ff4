//! [`IntoResponse`]: what a typed handler may return.

use std::borrow::Cow;
use std::convert::Infallible;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Response, StatusCode};

use crate::body::Body;

const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const OCTETS: HeaderValue = HeaderValue::from_static("application/octet-stream");

/// Turns a handler's return value into a response.
///
/// Implemented for `Response<Body>` and [`Body`] (as they are), `&'static str`, `String`
/// and `Cow<'static, str>` (`text/plain; charset=utf-8`), `Bytes`, `Vec<u8>` and
/// `&'static [u8]` (`application/octet-stream`), `()` (an empty 200), [`StatusCode`] (an
/// empty response with that status), [`Json`](super::Json), [`Rejection`](super::Rejection),
/// `(StatusCode, T)` and `(StatusCode, HeaderMap, T)` (`T` with that status and those
/// headers added), and `Result<T, E>` of any two of them.
///
/// # Examples
///
/// ```
/// use quasar_http::app::IntoResponse;
/// use quasar_http::http::StatusCode;
///
/// let resp = (StatusCode::CREATED, "made").into_response();
/// assert_eq!(resp.status(), StatusCode::CREATED);
/// assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
///
/// let missing: Result<&str, StatusCode> = Err(StatusCode::NOT_FOUND);
/// assert_eq!(missing.into_response().status(), StatusCode::NOT_FOUND);
/// ```
pub trait IntoResponse {
    /// The response.
    fn into_response(self) -> Response<Body>;
}

fn typed(body: Body, ct: HeaderValue) -> Response<Body> {
    let mut resp = Response::new(body);
    resp.headers_mut().insert(CONTENT_TYPE, ct);
    resp
}

impl IntoResponse for Response<Body> {
    fn into_response(self) -> Response<Body> {
        self
    }
}

impl IntoResponse for Body {
    fn into_response(self) -> Response<Body> {
        Response::new(self)
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response<Body> {
        typed(Body::from(self), TEXT)
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response<Body> {
        typed(Body::from(self), TEXT)
    }
}

impl IntoResponse for Cow<'static, str> {
    fn into_response(self) -> Response<Body> {
        match self {
            Cow::Borrowed(s) => s.into_response(),
            Cow::Owned(s) => s.into_response(),
        }
    }
}

impl IntoResponse for Bytes {
    fn into_response(self) -> Response<Body> {
        typed(Body::from(self), OCTETS)
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response<Body> {
        typed(Body::from(self), OCTETS)
    }
}

impl IntoResponse for &'static [u8] {
    fn into_response(self) -> Response<Body> {
        typed(Body::from(self), OCTETS)
    }
}

impl IntoResponse for () {
    fn into_response(self) -> Response<Body> {
        Response::new(Body::empty())
    }
}

impl IntoResponse for Infallible {
    fn into_response(self) -> Response<Body> {
        match self {}
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response<Body> {
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = self;
        resp
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response<Body> {
        let mut resp = self.1.into_response();
        *resp.status_mut() = self.0;
        resp
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, HeaderMap, T) {
    fn into_response(self) -> Response<Body> {
        let mut resp = self.2.into_response();
        *resp.status_mut() = self.0;
        resp.headers_mut().extend(self.1);
        resp
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response<Body> {
        match self {
            Ok(t) => t.into_response(),
            Err(e) => e.into_response(),
        }
    }
}
