//! Connection persistence and `Expect` rules, as pulsar applied them.
//!
//! | request                                   | keep alive? |
//! |-------------------------------------------|-------------|
//! | `Connection: close` (any version)         | no          |
//! | `Connection: upgrade`                     | yes         |
//! | `Connection: keep-alive`                  | yes         |
//! | HTTP/1.1 otherwise                        | yes         |
//! | `CONNECT` otherwise                       | yes         |
//! | HTTP/1.0 otherwise                        | no          |
//!
//! pulsar also closed the connection after any response with status >= 400, whatever the
//! request said ([`response_keep_alive`]). The server applies that rule only when
//! `ServerConfig::close_on_error` asks for it; by default an error response keeps the
//! connection as any other does.
//!
//! # Examples
//!
//! ```
//! use http::{HeaderMap, HeaderValue, Method, StatusCode, Version};
//! use quasar_http::{request_keep_alive, response_keep_alive};
//!
//! let mut headers = HeaderMap::new();
//! assert!(!request_keep_alive(&Method::GET, Version::HTTP_10, &headers));
//! headers.insert("connection", HeaderValue::from_static("Keep-Alive"));
//! assert!(request_keep_alive(&Method::GET, Version::HTTP_10, &headers));
//! assert!(!response_keep_alive(true, StatusCode::NOT_FOUND));
//! ```

use http::header::{CONNECTION, EXPECT};
use http::{HeaderMap, Method, StatusCode, Version};

use crate::framing::list_members;

/// Whether any `Connection` header lists `token` (case-insensitive).
pub fn connection_has(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get_all(CONNECTION)
        .iter()
        .any(|v| list_members(v.as_bytes()).any(|m| m.eq_ignore_ascii_case(token.as_bytes())))
}

/// Whether a message of `version` with these headers leaves the connection open (RFC 9112
/// §9.3): `close` closes; HTTP/1.1 persists by default; HTTP/1.0 only with `keep-alive`.
///
/// Clients use this on responses (pulsar detached the connection from its pool otherwise).
pub fn keep_alive(version: Version, headers: &HeaderMap) -> bool {
    if connection_has(headers, "close") {
        return false;
    }
    version == Version::HTTP_11 || connection_has(headers, "keep-alive")
}

/// Whether the server should keep the connection open after answering this request, by the
/// table in the module docs.
pub fn request_keep_alive(method: &Method, version: Version, headers: &HeaderMap) -> bool {
    if connection_has(headers, "close") {
        return false;
    }
    connection_has(headers, "upgrade") || keep_alive(version, headers) || method == Method::CONNECT
}

/// pulsar's rule: whether the connection stays open after a response with `status`;
/// statuses >= 400 close it. The server follows it only with `ServerConfig::close_on_error`.
pub fn response_keep_alive(request_keep_alive: bool, status: StatusCode) -> bool {
    request_keep_alive && status.as_u16() < 400
}

/// What a request's `Expect` header asks of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expectation {
    /// No expectation (or one to ignore: `100-continue` in HTTP/1.0, RFC 9110 §10.1.1).
    None,
    /// `Expect: 100-continue`: send [`CONTINUE_100`](crate::CONTINUE_100) before reading the
    /// body, or answer with a final status and close.
    Continue,
    /// Anything else: answer 417 ([`Expectation::status`]).
    Unsupported,
}

impl Expectation {
    /// The expectation a request carries.
    ///
    /// pulsar answered 417 to `100-continue` from HTTP/1.0 clients; RFC 9110 says to ignore
    /// it, which is what this does.
    pub fn of(version: Version, headers: &HeaderMap) -> Expectation {
        let mut values = headers.get_all(EXPECT).iter();
        let Some(first) = values.next() else {
            return Expectation::None;
        };
        let mut members = list_members(first.as_bytes());
        let only_continue = members
            .next()
            .is_some_and(|m| m.eq_ignore_ascii_case(b"100-continue"))
            && members.next().is_none()
            && values.next().is_none();
        match (only_continue, version) {
            (true, Version::HTTP_11) => Expectation::Continue,
            (true, _) => Expectation::None,
            (false, _) => Expectation::Unsupported,
        }
    }

    /// 417 for [`Expectation::Unsupported`], `None` otherwise.
    pub fn status(self) -> Option<StatusCode> {
        match self {
            Expectation::Unsupported => Some(StatusCode::EXPECTATION_FAILED),
            _ => None,
        }
    }
}
