//! Parses response heads for HTTP clients into `http::response::Parts`.
//!
//! The client twin of [`RequestParser`](crate::RequestParser): same scanning, same limits
//! (the status line is capped by [`Limits::max_request_line`](crate::Limits::max_request_line)),
//! with the response framing rules of [`response_body`](crate::response_body), which need the
//! request's method.
//!
//! # Examples
//!
//! ```
//! use bytes::BytesMut;
//! use http::{Method, StatusCode};
//! use quasar_http::ResponseParser;
//!
//! let mut parser = ResponseParser::default();
//! let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"[..]);
//! let mut res = parser.parse(&mut buf, &Method::GET)?.expect("complete head");
//! assert_eq!(res.parts.status, StatusCode::OK);
//! assert!(res.keep_alive);
//! assert_eq!(&res.body.decode(&mut buf)?.unwrap()[..], b"ok");
//! # Ok::<(), quasar_http::HttpError>(())
//! ```

use bytes::BytesMut;
use http::{Method, StatusCode, Version};

use crate::head_scanner::HeadScanner;
use crate::limits::MAX_HEADERS_CEILING;
use crate::request_parser::to_header_map;
use crate::{keep_alive, response_body, BodyDecoder, HttpError, Limits};

/// Incremental HTTP/1.x response-head parser; one per client connection.
#[derive(Debug, Clone, Default)]
pub struct ResponseParser {
    limits: Limits,
    scanner: HeadScanner,
}

/// A response head and how to read what follows it.
#[derive(Debug)]
#[non_exhaustive]
pub struct ParsedResponse {
    /// Status, version and headers.
    pub parts: http::response::Parts,
    /// Decoder for the body; empty for 1xx (parse again for the final response), 204, 304,
    /// HEAD and a successful CONNECT.
    pub body: BodyDecoder,
    /// Whether the connection may be reused ([`keep_alive`](crate::keep_alive)); false for
    /// close-delimited bodies.
    pub keep_alive: bool,
}

impl ResponseParser {
    /// A parser enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        ResponseParser {
            limits,
            scanner: HeadScanner::default(),
        }
    }

    /// Parses one response head (to a `method` request) from the front of `buf`.
    ///
    /// Returns `Ok(None)` when more bytes are needed; on success the head is removed.
    ///
    /// # Errors
    ///
    /// Any [`HttpError`]; the connection must be closed.
    pub fn parse(
        &mut self,
        buf: &mut BytesMut,
        method: &Method,
    ) -> Result<Option<ParsedResponse>, HttpError> {
        let Some(end) = self.scanner.scan(buf, &self.limits)? else {
            return Ok(None);
        };
        self.scanner.reset();
        let head = buf.split_to(end).freeze();
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS_CEILING];
        let max = self.limits.max_headers.min(MAX_HEADERS_CEILING);
        let mut res = httparse::Response::new(&mut slots[..max]);
        if res.parse(&head)?.is_partial() {
            return Err(HttpError::InvalidHead(httparse::Error::Token));
        }
        let (Some(code), Some(minor)) = (res.code, res.version) else {
            return Err(HttpError::InvalidHead(httparse::Error::Status));
        };
        let status = StatusCode::from_u16(code).map_err(|_| HttpError::InvalidStatus)?;
        let version = if minor == 1 {
            Version::HTTP_11
        } else {
            Version::HTTP_10
        };
        let headers = to_header_map(&head, res.headers)?;
        let body = response_body(method, status, version, &headers, &self.limits)?;
        let keep_alive = keep_alive(version, &headers) && !body.is_close_delimited();

        let (mut parts, ()) = http::Response::new(()).into_parts();
        parts.status = status;
        parts.version = version;
        parts.headers = headers;
        Ok(Some(ParsedResponse {
            parts,
            body,
            keep_alive,
        }))
    }
}
