//! What the HTTP client consumer sends: a request, or a WebSocket opening handshake.
//!
//! A [`ClientRequest`] wraps an [`http::Request<Bytes>`] (built with `From`), or, from
//! [`ClientRequest::websocket`], a handshake whose `101` hands the connection over through a
//! oneshot channel. [`encode_request`] writes the request head and body in HTTP/1.1 form:
//! origin-form target, `Host` from the URI unless the caller set one, and the body framed by
//! `Content-Length`, or chunked when the caller asked for `Transfer-Encoding: chunked`.
//!
//! # Examples
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use quasar_http::client::{encode_request, ClientRequest};
//!
//! let req = http::Request::post("http://example.com:8080/submit?x=1")
//!     .body(Bytes::from_static(b"hi"))?;
//! let mut out = BytesMut::new();
//! encode_request(&mut out, &ClientRequest::from(req))?;
//! assert_eq!(
//!     &out[..],
//!     b"POST /submit?x=1 HTTP/1.1\r\nhost: example.com:8080\r\ncontent-length: 2\r\n\r\nhi"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::io::Write as _;

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::uri::{Authority, PathAndQuery};
use http::{HeaderMap, Method, Request};
use quasar_net::transport::Detached;
use tokio::sync::oneshot;

use crate::client::ClientError;
use crate::{encode_chunk, encode_last_chunk};

/// A request for [`HttpConsumer`](crate::client::HttpConsumer).
pub struct ClientRequest {
    pub(crate) request: Request<Bytes>,
    pub(crate) websocket: Option<WsUpgrade>,
    /// Written in absolute form (`GET http://host/path`), for a forward proxy.
    pub(crate) absolute_form: bool,
    /// Decode a `gzip`/`deflate` body (the client offered them).
    pub(crate) decode: bool,
    /// The request carries `Expect: 100-continue`: the body waits for a `100` this long.
    pub(crate) expect_continue: Option<std::time::Duration>,
}

/// The WebSocket side of a handshake request: its key and where the connection goes.
pub(crate) struct WsUpgrade {
    pub(crate) key: String,
    pub(crate) to: oneshot::Sender<Detached>,
}

impl ClientRequest {
    /// A WebSocket opening handshake for `request`'s URI (GET, with `request`'s headers
    /// added, such as `Sec-WebSocket-Protocol` or `Origin`) using `key`
    /// ([`generate_key`](crate::ws::generate_key)). On a valid `101` the consumer detaches the
    /// connection and sends it, with the bytes that came after the `101`, to `to`.
    pub fn websocket(request: Request<Bytes>, key: String, to: oneshot::Sender<Detached>) -> Self {
        ClientRequest {
            request,
            websocket: Some(WsUpgrade { key, to }),
            absolute_form: false,
            decode: false,
            expect_continue: None,
        }
    }

    /// The HTTP request.
    pub fn request(&self) -> &Request<Bytes> {
        &self.request
    }

    /// Whether this is a WebSocket handshake.
    pub fn is_websocket(&self) -> bool {
        self.websocket.is_some()
    }

    /// Writes the request target in absolute form (`GET http://host:port/path HTTP/1.1`),
    /// as a forward proxy needs it, instead of origin form. The URI's user info is never
    /// written.
    pub fn absolute_form(mut self, on: bool) -> Self {
        self.absolute_form = on;
        self
    }
}

impl From<Request<Bytes>> for ClientRequest {
    fn from(request: Request<Bytes>) -> Self {
        ClientRequest {
            request,
            websocket: None,
            absolute_form: false,
            decode: false,
            expect_continue: None,
        }
    }
}

impl fmt::Debug for ClientRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientRequest")
            .field("method", self.request.method())
            .field("uri", self.request.uri())
            .field("websocket", &self.websocket.is_some())
            .finish()
    }
}

/// Appends `req` to `dst` as an HTTP/1.1 request, body included.
///
/// The caller's `Content-Length` is replaced by the body's real length (a stale one would
/// desynchronise the connection); `Transfer-Encoding: chunked` sends the body as one chunk.
/// Other transfer codings are refused: the body is not encoded with them.
///
/// # Errors
///
/// [`ClientError::InvalidRequest`] when there is neither a `Host` header nor a URI authority,
/// or for a transfer coding other than `chunked`.
pub fn encode_request(dst: &mut BytesMut, req: &ClientRequest) -> Result<(), ClientError> {
    let r = &req.request;
    let host = host_header(r)?;
    let target = r
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    if let Some(ws) = &req.websocket {
        let authority: Authority = host
            .parse()
            .map_err(|_| ClientError::InvalidRequest("host is not an authority".into()))?;
        let mut extra = r.headers().clone();
        extra.remove(HOST);
        crate::ws::encode_client_request(dst, &authority, &target, &ws.key, &extra);
        return Ok(());
    }
    let chunked = match r.headers().get(TRANSFER_ENCODING) {
        None => false,
        Some(v) if v.as_bytes().eq_ignore_ascii_case(b"chunked") => true,
        Some(_) => {
            return Err(ClientError::InvalidRequest(
                "only `Transfer-Encoding: chunked` is supported".into(),
            ))
        }
    };
    let body = r.body();
    dst.reserve(64 + target.as_str().len() + body.len());
    dst.put_slice(r.method().as_str().as_bytes());
    dst.put_u8(b' ');
    if req.absolute_form {
        let scheme = r.uri().scheme_str().unwrap_or("http");
        dst.put_slice(scheme.as_bytes());
        dst.put_slice(b"://");
        // The authority without user info: credentials never go in the request line.
        let authority = r.uri().authority().ok_or_else(|| {
            ClientError::InvalidRequest("absolute form needs a URI authority".into())
        })?;
        dst.put_slice(
            authority
                .as_str()
                .rsplit('@')
                .next()
                .unwrap_or("")
                .as_bytes(),
        );
    }
    dst.put_slice(target.as_str().as_bytes());
    dst.put_slice(b" HTTP/1.1\r\n");
    if !r.headers().contains_key(HOST) {
        dst.put_slice(b"host: ");
        dst.put_slice(host.as_bytes());
        dst.put_slice(b"\r\n");
    }
    write_headers(dst, r.headers());
    if !chunked && sends_length(r.method(), body) {
        // Writing into a BytesMut only grows it; it cannot fail.
        let _ = write!(dst.writer(), "content-length: {}\r\n", body.len());
    }
    dst.put_slice(b"\r\n");
    if chunked {
        encode_chunk(dst, body);
        encode_last_chunk(dst);
    } else {
        dst.put_slice(body);
    }
    Ok(())
}

/// The `Host` value: the caller's header, else the URI's authority without user info.
pub(crate) fn host_header(r: &Request<Bytes>) -> Result<String, ClientError> {
    if let Some(v) = r.headers().get(HOST) {
        return v
            .to_str()
            .map(str::to_owned)
            .map_err(|_| ClientError::InvalidRequest("Host is not visible ASCII".into()));
    }
    let authority = r
        .uri()
        .authority()
        .ok_or_else(|| ClientError::InvalidRequest("no Host header and no URI authority".into()))?;
    Ok(match authority.port() {
        Some(port) => format!("{}:{}", authority.host(), port),
        None => authority.host().to_owned(),
    })
}

/// Every header but the framing ones, which [`encode_request`] decides itself.
fn write_headers(dst: &mut BytesMut, headers: &HeaderMap) {
    for (name, value) in headers {
        if name == CONTENT_LENGTH {
            continue;
        }
        dst.put_slice(name.as_str().as_bytes());
        dst.put_slice(b": ");
        dst.put_slice(value.as_bytes());
        dst.put_slice(b"\r\n");
    }
}

/// RFC 9110 §8.6: send `Content-Length` for any body, and `0` for methods that define one.
fn sends_length(method: &Method, body: &Bytes) -> bool {
    !body.is_empty() || matches!(*method, Method::POST | Method::PUT | Method::PATCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(req: Request<Bytes>) -> Result<String, ClientError> {
        let mut out = BytesMut::new();
        encode_request(&mut out, &req.into())?;
        Ok(String::from_utf8(out.to_vec()).unwrap())
    }

    #[test]
    fn get_has_no_length_and_a_host_without_user_info() {
        let req = Request::get("http://u:p@h.test/")
            .body(Bytes::new())
            .unwrap();
        assert_eq!(
            encode(req).unwrap(),
            "GET / HTTP/1.1\r\nhost: h.test\r\n\r\n"
        );
    }

    #[test]
    fn a_stale_content_length_is_replaced_by_the_real_one() {
        let req = Request::put("http://h/x")
            .header("content-length", "99")
            .body(Bytes::from_static(b"abc"))
            .unwrap();
        assert_eq!(
            encode(req).unwrap(),
            "PUT /x HTTP/1.1\r\nhost: h\r\ncontent-length: 3\r\n\r\nabc"
        );
    }

    #[test]
    fn chunked_bodies_are_sent_as_one_chunk_and_the_last_chunk() {
        let req = Request::post("http://h/")
            .header("transfer-encoding", "chunked")
            .body(Bytes::from_static(b"hello"))
            .unwrap();
        assert!(encode(req)
            .unwrap()
            .ends_with("transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"));
    }

    #[test]
    fn other_transfer_codings_and_missing_hosts_are_refused() {
        let req = Request::post("http://h/")
            .header("transfer-encoding", "gzip")
            .body(Bytes::new())
            .unwrap();
        assert!(matches!(encode(req), Err(ClientError::InvalidRequest(_))));
        let req = Request::get("/only-a-path").body(Bytes::new()).unwrap();
        assert!(matches!(encode(req), Err(ClientError::InvalidRequest(_))));
    }

    #[test]
    fn absolute_form_drops_user_info() {
        let req = Request::get("http://u:p@h.test:81/a?b")
            .body(Bytes::new())
            .unwrap();
        let mut out = BytesMut::new();
        encode_request(&mut out, &ClientRequest::from(req).absolute_form(true)).unwrap();
        assert_eq!(
            &out[..],
            b"GET http://h.test:81/a?b HTTP/1.1\r\nhost: h.test:81\r\n\r\n"
        );
    }

    #[test]
    fn a_callers_host_header_wins() {
        let req = Request::get("/p")
            .header("host", "virtual.test")
            .body(Bytes::new())
            .unwrap();
        assert_eq!(
            encode(req).unwrap(),
            "GET /p HTTP/1.1\r\nhost: virtual.test\r\n\r\n"
        );
    }
}
