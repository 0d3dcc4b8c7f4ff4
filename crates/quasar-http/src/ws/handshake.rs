//! The opening handshake (RFC 6455 §4): server validation and answer, client request and check.
//!
//! A server calls [`validate_request`] on a parsed request head; on success it writes the 101
//! with [`encode_accept`] and switches the connection to a [`WsDecoder`](crate::ws::WsDecoder)
//! with [`Role::Server`](crate::ws::Role::Server). On failure it writes
//! [`HandshakeError::encode_rejection`] (426 with `Sec-WebSocket-Version: 13` for a version we
//! do not speak, 400 otherwise) and closes. A client writes [`encode_client_request`] and checks
//! the answer with [`validate_response`].
//!
//! # Examples
//!
//! ```
//! use bytes::BytesMut;
//! use quasar_http::ws::{accept_key, encode_accept, validate_request};
//! use quasar_http::RequestParser;
//!
//! // RFC 6455 §1.3's sample key.
//! assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
//!
//! let mut buf = BytesMut::from(&b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\n\
//!     Upgrade: websocket\r\nConnection: Upgrade\r\n\
//!     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"[..]);
//! let req = RequestParser::default().parse(&mut buf).unwrap().unwrap();
//! let accept = validate_request(&req.parts)?;
//! let mut out = BytesMut::new();
//! encode_accept(&mut out, &accept, None);
//! assert!(out.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
//! # Ok::<(), quasar_http::ws::HandshakeError>(())
//! ```

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::{BufMut, BytesMut};
use http::header::{
    HeaderName, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::uri::{Authority, PathAndQuery};
use http::{HeaderMap, Method, StatusCode, Version};
use sha1::{Digest, Sha1};

use crate::connection_has;
use crate::framing::list_members;

/// The GUID RFC 6455 appends to the key before hashing.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Why a handshake was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The request method is not GET.
    NotGet,
    /// The request is not HTTP/1.1 (or later).
    NotHttp11,
    /// No `Upgrade` header listing `websocket`.
    MissingUpgrade,
    /// No `Connection` header listing `upgrade`.
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Version` is absent or not 13 (answered with 426).
    UnsupportedVersion,
    /// `Sec-WebSocket-Key` is absent, repeated, or not 16 bytes in base64.
    InvalidKey,
    /// Client side: the server answered with this status instead of 101.
    NotSwitchingProtocols(StatusCode),
    /// Client side: `Sec-WebSocket-Accept` is absent or does not match the key.
    InvalidAccept,
    /// Client side: `Sec-WebSocket-Extensions` names an extension or parameter that was not
    /// offered, or is malformed.
    InvalidExtension,
}

impl HandshakeError {
    /// The status a server answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            HandshakeError::UnsupportedVersion => StatusCode::UPGRADE_REQUIRED,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// Appends the refusal response (with `Sec-WebSocket-Version: 13` for 426) to `dst`;
    /// the server closes the connection after it.
    pub fn encode_rejection(&self, dst: &mut BytesMut) {
        let status = self.status();
        dst.put_slice(b"HTTP/1.1 ");
        dst.put_slice(status.as_str().as_bytes());
        dst.put_u8(b' ');
        dst.put_slice(status.canonical_reason().unwrap_or("").as_bytes());
        dst.put_slice(b"\r\n");
        if *self == HandshakeError::UnsupportedVersion {
            dst.put_slice(b"sec-websocket-version: 13\r\n");
        }
        dst.put_slice(b"content-length: 0\r\nconnection: close\r\n\r\n");
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::NotGet => f.write_str("websocket handshake must use GET"),
            HandshakeError::NotHttp11 => f.write_str("websocket handshake needs HTTP/1.1"),
            HandshakeError::MissingUpgrade => f.write_str("missing `Upgrade: websocket`"),
            HandshakeError::MissingConnectionUpgrade => {
                f.write_str("missing `Connection: upgrade`")
            }
            HandshakeError::UnsupportedVersion => f.write_str("unsupported websocket version"),
            HandshakeError::InvalidKey => f.write_str("invalid Sec-WebSocket-Key"),
            HandshakeError::NotSwitchingProtocols(s) => write!(f, "server answered {s}"),
            HandshakeError::InvalidAccept => f.write_str("invalid Sec-WebSocket-Accept"),
            HandshakeError::InvalidExtension => f.write_str("invalid Sec-WebSocket-Extensions"),
        }
    }
}

impl std::error::Error for HandshakeError {}

/// `Sec-WebSocket-Accept` for `key`: base64(SHA-1(key + GUID)).
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.trim().as_bytes());
    sha.update(GUID);
    STANDARD.encode(sha.finalize())
}

/// Checks a server-side handshake request; returns the `Sec-WebSocket-Accept` value.
///
/// Subprotocol and extension negotiation are left to the caller (`Sec-WebSocket-Protocol`
/// is in `parts.headers`).
///
/// # Errors
///
/// The first rule broken, in RFC 6455 §4.2.1 order.
pub fn validate_request(parts: &http::request::Parts) -> Result<String, HandshakeError> {
    if parts.method != Method::GET {
        return Err(HandshakeError::NotGet);
    }
    if parts.version < Version::HTTP_11 {
        return Err(HandshakeError::NotHttp11);
    }
    let headers = &parts.headers;
    if !header_lists(headers, &UPGRADE, "websocket") {
        return Err(HandshakeError::MissingUpgrade);
    }
    if !connection_has(headers, "upgrade") {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    let mut versions = headers.get_all(SEC_WEBSOCKET_VERSION).iter();
    match (versions.next(), versions.next()) {
        (Some(v), None) if v.as_bytes() == b"13" => {}
        _ => return Err(HandshakeError::UnsupportedVersion),
    }
    let mut keys = headers.get_all(SEC_WEBSOCKET_KEY).iter();
    let key = match (keys.next(), keys.next()) {
        (Some(k), None) => k.to_str().map_err(|_| HandshakeError::InvalidKey)?.trim(),
        _ => return Err(HandshakeError::InvalidKey),
    };
    let mut decoded = [0u8; 18];
    match STANDARD.decode_slice(key, &mut decoded) {
        Ok(16) if key.len() == 24 => Ok(accept_key(key)),
        _ => Err(HandshakeError::InvalidKey),
    }
}

/// Appends the `101 Switching Protocols` answer carrying `accept`, and the chosen subprotocol.
///
/// `protocol` must be one the client offered (a token; it is written as given).
pub fn encode_accept(dst: &mut BytesMut, accept: &str, protocol: Option<&str>) {
    encode_accept_with_extensions(dst, accept, protocol, None);
}

/// [`encode_accept`] plus a `Sec-WebSocket-Extensions` answer (e.g. from
/// [`DeflateConfig::accept_offer`](crate::ws::DeflateConfig::accept_offer)).
pub fn encode_accept_with_extensions(
    dst: &mut BytesMut,
    accept: &str,
    protocol: Option<&str>,
    extensions: Option<&str>,
) {
    dst.put_slice(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ");
    dst.put_slice(accept.as_bytes());
    dst.put_slice(b"\r\n");
    if let Some(p) = protocol {
        dst.put_slice(b"sec-websocket-protocol: ");
        dst.put_slice(p.as_bytes());
        dst.put_slice(b"\r\n");
    }
    if let Some(e) = extensions {
        dst.put_slice(b"sec-websocket-extensions: ");
        dst.put_slice(e.as_bytes());
        dst.put_slice(b"\r\n");
    }
    dst.put_slice(b"\r\n");
}

/// A fresh `Sec-WebSocket-Key` from 16 random bytes of a thread-local RNG.
pub fn generate_key() -> String {
    key_from_bytes(rand::random())
}

/// The `Sec-WebSocket-Key` for 16 caller-chosen bytes (for tests and custom RNGs).
pub fn key_from_bytes(nonce: [u8; 16]) -> String {
    STANDARD.encode(nonce)
}

/// Appends a client handshake request for `path` on `host` with `key`, plus `extra` headers
/// (e.g. `Sec-WebSocket-Protocol`, `Origin`).
pub fn encode_client_request(
    dst: &mut BytesMut,
    host: &Authority,
    path: &PathAndQuery,
    key: &str,
    extra: &HeaderMap,
) {
    dst.put_slice(b"GET ");
    dst.put_slice(path.as_str().as_bytes());
    dst.put_slice(b" HTTP/1.1\r\nhost: ");
    dst.put_slice(host.as_str().as_bytes());
    dst.put_slice(b"\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: ");
    dst.put_slice(key.as_bytes());
    dst.put_slice(b"\r\nsec-websocket-version: 13\r\n");
    for (name, value) in extra {
        dst.put_slice(name.as_str().as_bytes());
        dst.put_slice(b": ");
        dst.put_slice(value.as_bytes());
        dst.put_slice(b"\r\n");
    }
    dst.put_slice(b"\r\n");
}

/// Checks the server's answer to a handshake sent with `key`.
///
/// # Errors
///
/// [`HandshakeError::NotSwitchingProtocols`], [`HandshakeError::MissingUpgrade`],
/// [`HandshakeError::MissingConnectionUpgrade`] or [`HandshakeError::InvalidAccept`].
pub fn validate_response(parts: &http::response::Parts, key: &str) -> Result<(), HandshakeError> {
    if parts.status != StatusCode::SWITCHING_PROTOCOLS {
        return Err(HandshakeError::NotSwitchingProtocols(parts.status));
    }
    if !header_lists(&parts.headers, &UPGRADE, "websocket") {
        return Err(HandshakeError::MissingUpgrade);
    }
    if !connection_has(&parts.headers, "upgrade") {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    match parts.headers.get(SEC_WEBSOCKET_ACCEPT) {
        Some(v) if v.as_bytes() == accept_key(key).as_bytes() => Ok(()),
        _ => Err(HandshakeError::InvalidAccept),
    }
}

/// Whether any `name` header lists `token` (case-insensitive).
fn header_lists(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .any(|v| list_members(v.as_bytes()).any(|m| m.eq_ignore_ascii_case(token.as_bytes())))
}
