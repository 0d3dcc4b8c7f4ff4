//! Writes response heads straight into a `BytesMut`.
//!
//! [`encode_response`] writes the status line, `Date` (from the per-thread cache of
//! [`http_date`](crate::http_date)), `Server`, the caller's headers, the framing header chosen by
//! [`BodyLength`] and `Connection: close` when the connection will close. Framing headers in the
//! caller's map are ignored so the head can never disagree with the body that follows. Nothing
//! is allocated besides growing `dst`.
//!
//! # Examples
//!
//! ```
//! use bytes::BytesMut;
//! use http::{HeaderMap, StatusCode};
//! use quasar_http::{encode_response, BodyLength, ResponseHead};
//!
//! let headers = HeaderMap::new();
//! let mut dst = BytesMut::new();
//! let head = ResponseHead::new(StatusCode::OK, &headers, BodyLength::Length(5)).close(true);
//! encode_response(&mut dst, &head);
//! let text = std::str::from_utf8(&dst).unwrap();
//! assert!(text.starts_with("HTTP/1.1 200 OK\r\ndate: "));
//! assert!(text.ends_with("content-length: 5\r\nconnection: close\r\n\r\n"));
//! ```

use bytes::{BufMut, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, DATE, SERVER, TRANSFER_ENCODING};
use http::{HeaderMap, Method, StatusCode};

use crate::http_date;

/// The interim response to `Expect: 100-continue`.
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// How the body after a head is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLength {
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`; write the body with [`encode_chunk`](crate::encode_chunk)
    /// and end it with [`encode_last_chunk`](crate::encode_last_chunk). HTTP/1.1 peers only.
    Chunked,
    /// No framing header: the body ends when the connection closes (forces `Connection: close`).
    /// For HTTP/1.0 peers when the length is unknown.
    CloseDelimited,
}

/// What [`encode_response`] writes.
#[derive(Debug, Clone, Copy)]
#[must_use = "a ResponseHead does nothing until encoded"]
pub struct ResponseHead<'a> {
    status: StatusCode,
    headers: &'a HeaderMap,
    body: BodyLength,
    close: bool,
    server: Option<&'a str>,
}

impl<'a> ResponseHead<'a> {
    /// A head with `status`, the caller's `headers` and body framing; keep-alive, no `Server`.
    pub fn new(status: StatusCode, headers: &'a HeaderMap, body: BodyLength) -> Self {
        ResponseHead {
            status,
            headers,
            body,
            close: false,
            server: None,
        }
    }

    /// Whether the server closes after this response (writes `Connection: close`).
    pub fn close(mut self, close: bool) -> Self {
        self.close = close;
        self
    }

    /// The `Server` value, unless the caller's headers carry one. `None` writes nothing.
    pub fn server(mut self, server: Option<&'a str>) -> Self {
        self.server = server;
        self
    }
}

/// Whether a response to `method` with `status` may carry a body (RFC 9110 §6.4.1): not for
/// HEAD, 1xx, 204, 304, nor a 2xx to CONNECT (the connection becomes a tunnel).
pub fn body_allowed(method: &Method, status: StatusCode) -> bool {
    !(method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || (method == Method::CONNECT && status.is_success()))
}

/// Appends the response head to `dst`.
///
/// 1xx and 204 responses get no framing header whatever `body` says (RFC 9110 §8.6). HEAD and
/// 304 responses may carry the `Content-Length` the full response would have had: pass it.
pub fn encode_response(dst: &mut BytesMut, head: &ResponseHead<'_>) {
    let close = head.close || head.body == BodyLength::CloseDelimited;
    // One pass over the caller's headers sizes the head and notes `Date` and `Server`
    // (standard names compare as enum tags; two map lookups would hash both names).
    let mut user_len = 0;
    let mut has_date = false;
    let mut has_server = false;
    for (name, value) in head.headers {
        user_len += name.as_str().len() + value.len() + 4;
        has_date |= name == DATE;
        has_server |= name == SERVER;
    }
    dst.reserve(128 + user_len);

    dst.put_slice(b"HTTP/1.1 ");
    dst.put_slice(head.status.as_str().as_bytes());
    dst.put_u8(b' ');
    dst.put_slice(head.status.canonical_reason().unwrap_or("").as_bytes());
    dst.put_slice(b"\r\n");

    if !has_date {
        dst.put_slice(b"date: ");
        dst.put_slice(&http_date());
        dst.put_slice(b"\r\n");
    }
    if let Some(server) = head.server.filter(|_| !has_server) {
        put_header(dst, b"server", server.as_bytes());
    }
    for (name, value) in head.headers {
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING || (close && name == CONNECTION) {
            continue;
        }
        put_header(dst, name.as_str().as_bytes(), value.as_bytes());
    }
    if !(head.status.is_informational() || head.status == StatusCode::NO_CONTENT) {
        match head.body {
            BodyLength::Length(n) => {
                dst.put_slice(b"content-length: ");
                // itoa: no `fmt` machinery per response.
                dst.put_slice(itoa::Buffer::new().format(n).as_bytes());
                dst.put_slice(b"\r\n");
            }
            BodyLength::Chunked => dst.put_slice(b"transfer-encoding: chunked\r\n"),
            BodyLength::CloseDelimited => {}
        }
    }
    if close {
        dst.put_slice(b"connection: close\r\n");
    }
    dst.put_slice(b"\r\n");
}

fn put_header(dst: &mut BytesMut, name: &[u8], value: &[u8]) {
    dst.put_slice(name);
    dst.put_slice(b": ");
    dst.put_slice(value);
    dst.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn encode(head: &ResponseHead<'_>) -> String {
        let mut dst = BytesMut::new();
        encode_response(&mut dst, head);
        String::from_utf8(dst.to_vec()).unwrap()
    }

    #[test]
    fn writes_status_date_server_headers_and_length() {
        let mut headers = HeaderMap::new();
        headers.insert("x-a", HeaderValue::from_static("1"));
        let text = encode(
            &ResponseHead::new(StatusCode::NOT_FOUND, &headers, BodyLength::Length(12))
                .server(Some("quasar")),
        );
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], "HTTP/1.1 404 Not Found");
        assert!(
            lines[1].starts_with("date: ") && lines[1].len() == 6 + 29,
            "{}",
            lines[1]
        );
        assert_eq!(
            &lines[2..],
            ["server: quasar", "x-a: 1", "content-length: 12", "", ""]
        );
    }

    #[test]
    fn callers_framing_headers_are_replaced_by_the_chosen_framing() {
        let mut headers = HeaderMap::new();
        headers.insert("content-length", HeaderValue::from_static("99"));
        headers.insert(
            "date",
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        let text = encode(&ResponseHead::new(
            StatusCode::OK,
            &headers,
            BodyLength::Chunked,
        ));
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\ntransfer-encoding: chunked\r\n\r\n"
        );
    }

    #[test]
    fn no_framing_for_204_and_1xx_and_close_for_close_delimited() {
        let mut headers = HeaderMap::new();
        headers.insert("date", HeaderValue::from_static("x"));
        headers.insert("connection", HeaderValue::from_static("keep-alive"));
        let text = encode(&ResponseHead::new(
            StatusCode::NO_CONTENT,
            &headers,
            BodyLength::Length(0),
        ));
        assert_eq!(
            text,
            "HTTP/1.1 204 No Content\r\ndate: x\r\nconnection: keep-alive\r\n\r\n"
        );
        let text = encode(&ResponseHead::new(
            StatusCode::OK,
            &headers,
            BodyLength::CloseDelimited,
        ));
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\ndate: x\r\nconnection: close\r\n\r\n"
        );
    }

    #[test]
    fn body_is_not_allowed_for_head_1xx_204_304_and_connect_2xx() {
        assert!(!body_allowed(&Method::HEAD, StatusCode::OK));
        assert!(!body_allowed(&Method::GET, StatusCode::CONTINUE));
        assert!(!body_allowed(&Method::GET, StatusCode::NO_CONTENT));
        assert!(!body_allowed(&Method::GET, StatusCode::NOT_MODIFIED));
        assert!(!body_allowed(&Method::CONNECT, StatusCode::OK));
        assert!(body_allowed(&Method::CONNECT, StatusCode::BAD_GATEWAY));
        assert!(body_allowed(&Method::GET, StatusCode::OK));
    }
}
