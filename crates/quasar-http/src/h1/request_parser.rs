//! Parses request heads into `http::request::Parts`, with framing and persistence decided.
//!
//! [`RequestParser::parse`] takes bytes from the front of a read buffer. It returns `Ok(None)`
//! until the head is complete (scanning each byte once, so a head trickling in one byte at a
//! time costs linear time), then removes the head from the buffer and returns a
//! [`ParsedRequest`]: the head as [`http::request::Parts`], a [`BodyDecoder`] for the body
//! that follows in the same buffer, and the keep-alive and `Expect` verdicts. Header values and
//! the URI share the read buffer's memory (no copy).
//!
//! # Examples
//!
//! ```
//! use bytes::BytesMut;
//! use quasar_http::{Expectation, RequestParser};
//!
//! let mut parser = RequestParser::default();
//! let mut buf = BytesMut::from(&b"POST /echo HTTP/1.1\r\nHost: example.com\r\n"[..]);
//! assert!(parser.parse(&mut buf)?.is_none()); // need more
//! buf.extend_from_slice(b"Content-Length: 2\r\n\r\nhi");
//! let mut req = parser.parse(&mut buf)?.expect("complete head");
//! assert_eq!(req.parts.method, http::Method::POST);
//! assert_eq!(req.parts.uri.path(), "/echo");
//! assert!(req.keep_alive);
//! assert_eq!(req.expect, Expectation::None);
//! assert_eq!(&req.body.decode(&mut buf)?.unwrap()[..], b"hi");
//! assert!(req.body.is_eof());
//! # Ok::<(), quasar_http::HttpError>(())
//! ```

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, EXPECT, HOST, TRANSFER_ENCODING, UPGRADE};
use http::uri::Authority;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, Version};

use crate::head_scanner::{skip_leading_crlf, HeadScanner};
use crate::limits::MAX_HEADERS_CEILING;
use crate::{connection_has, request_body, request_keep_alive, BodyDecoder, Expectation};
use crate::{HttpError, Limits};

/// Incremental HTTP/1.1 request-head parser; one per connection, reused for each request.
#[derive(Debug, Clone, Default)]
pub struct RequestParser {
    limits: Limits,
    scanner: HeadScanner,
}

/// A request head and what the server needs to know to serve it.
#[derive(Debug)]
#[non_exhaustive]
pub struct ParsedRequest {
    /// Method, URI, version and headers.
    pub parts: http::request::Parts,
    /// Decoder for the body that follows the head in the read buffer.
    pub body: BodyDecoder,
    /// Whether the connection may serve another request afterwards
    /// ([`request_keep_alive`](crate::request_keep_alive)).
    pub keep_alive: bool,
    /// What `Expect` asks for ([`Expectation::of`]).
    pub expect: Expectation,
    /// Whether the request asks to switch protocols (`Connection: upgrade` and an `Upgrade`
    /// header), e.g. a WebSocket handshake.
    pub upgrade: bool,
}

impl RequestParser {
    /// A parser enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        RequestParser {
            limits,
            scanner: HeadScanner::default(),
        }
    }

    /// The limits this parser enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Parses one request head from the front of `buf`.
    ///
    /// Returns `Ok(None)` when more bytes are needed; `buf` must then only grow at its end
    /// before the next call. On success the head is removed from `buf`.
    ///
    /// # Errors
    ///
    /// Any [`HttpError`]; the connection should get [`HttpError::status`] and be closed.
    pub fn parse(&mut self, buf: &mut BytesMut) -> Result<Option<ParsedRequest>, HttpError> {
        match self.head_len(buf)? {
            Some(end) => self.parse_scanned(buf, end).map(Some),
            None => Ok(None),
        }
    }

    /// The length of the complete head at the front of `buf` (leading empty lines dropped),
    /// `None` while it is incomplete; the head stays in `buf`. Follow a `Some` with
    /// [`parse_scanned`](Self::parse_scanned).
    pub(crate) fn head_len(&mut self, buf: &mut BytesMut) -> Result<Option<usize>, HttpError> {
        if !skip_leading_crlf(buf)? {
            return Ok(None);
        }
        self.scanner.scan(buf, &self.limits)
    }

    /// Parses the `end`-byte head [`head_len`](Self::head_len) found, removing it from `buf`.
    pub(crate) fn parse_scanned(
        &mut self,
        buf: &mut BytesMut,
        end: usize,
    ) -> Result<ParsedRequest, HttpError> {
        self.scanner.reset();
        let head = buf.split_to(end).freeze();
        parse_head(&head, &self.limits)
    }
}

fn parse_head(head: &Bytes, limits: &Limits) -> Result<ParsedRequest, HttpError> {
    // Uninitialised slots: zeroing 256 of them per request cost more than parsing a small head.
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CEILING];
    let max = limits.max_headers.min(MAX_HEADERS_CEILING);
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(head, &mut slots[..max]) {
        Ok(httparse::Status::Complete(_)) => {}
        // The scanner saw the blank line, so httparse can only be partial on garbage.
        Ok(httparse::Status::Partial) => {
            return Err(HttpError::InvalidHead(httparse::Error::Token))
        }
        Err(httparse::Error::Version) if well_formed_version(head) => {
            return Err(HttpError::UnsupportedVersion)
        }
        Err(e) => return Err(e.into()),
    }
    let (Some(method), Some(path), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(HttpError::InvalidHead(httparse::Error::Token));
    };
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| HttpError::InvalidMethod)?;
    let uri = Uri::from_maybe_shared(head.slice_ref(path.as_bytes()))
        .map_err(|_| HttpError::InvalidUri)?;
    let version = if minor == 1 {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };
    let (headers, seen) = header_map_and_seen(head, req.headers)?;
    check_host(version, &headers, head, &seen)?;

    // The framing, persistence and `Expect` rules read only these headers: when a request
    // has none of them (the common GET), their answers are known without a lookup.
    let body = if seen.content_length || seen.transfer_encoding {
        request_body(version, &headers, limits)?
    } else {
        BodyDecoder::length(0, limits)
    };
    let keep_alive = if seen.connection {
        request_keep_alive(&method, version, &headers)
    } else {
        version == Version::HTTP_11 || method == Method::CONNECT
    };
    let expect = if seen.expect {
        Expectation::of(version, &headers)
    } else {
        Expectation::None
    };
    let upgrade = seen.upgrade && seen.connection && connection_has(&headers, "upgrade");

    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method = method;
    parts.uri = uri;
    parts.version = version;
    parts.headers = headers;
    Ok(ParsedRequest {
        parts,
        body,
        keep_alive,
        expect,
        upgrade,
    })
}

/// Which of the headers that decide framing, persistence and `Expect` a head carries, and
/// its one `Host` value (its memory shared with the head).
#[derive(Debug, Default)]
struct Seen<'a> {
    content_length: bool,
    transfer_encoding: bool,
    connection: bool,
    expect: bool,
    upgrade: bool,
    hosts: usize,
    host: &'a [u8],
}

/// Converts httparse's borrowed headers, sharing `head`'s memory for the values.
pub(crate) fn to_header_map(
    head: &Bytes,
    raw: &[httparse::Header<'_>],
) -> Result<HeaderMap, HttpError> {
    header_map_and_seen(head, raw).map(|(headers, _)| headers)
}

fn header_map_and_seen<'a>(
    head: &Bytes,
    raw: &[httparse::Header<'a>],
) -> Result<(HeaderMap, Seen<'a>), HttpError> {
    let mut headers = HeaderMap::with_capacity(raw.len());
    let mut seen = Seen::default();
    for h in raw {
        let name =
            HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| HttpError::InvalidHeader)?;
        let value = HeaderValue::from_maybe_shared(head.slice_ref(h.value))
            .map_err(|_| HttpError::InvalidHeader)?;
        // Standard names compare as enum tags: cheap next to a hash lookup later.
        if name == HOST {
            seen.hosts += 1;
            seen.host = h.value;
        } else if name == CONTENT_LENGTH {
            seen.content_length = true;
        } else if name == TRANSFER_ENCODING {
            seen.transfer_encoding = true;
        } else if name == CONNECTION {
            seen.connection = true;
        } else if name == EXPECT {
            seen.expect = true;
        } else if name == UPGRADE {
            seen.upgrade = true;
        }
        headers.append(name, value);
    }
    Ok((headers, seen))
}

/// RFC 9112 §3.2: HTTP/1.1 needs exactly one Host; any Host must be a valid authority (or
/// empty, for a target without one). Parsed from the head's own memory: no copy.
fn check_host(
    version: Version,
    headers: &HeaderMap,
    head: &Bytes,
    seen: &Seen<'_>,
) -> Result<(), HttpError> {
    debug_assert_eq!(seen.hosts, headers.get_all(HOST).iter().count());
    match seen.hosts {
        0 if version == Version::HTTP_11 => Err(HttpError::MissingHost),
        0 => Ok(()),
        1 if seen.host.is_empty() || is_plain_host(seen.host) => Ok(()),
        1 => match Authority::from_maybe_shared(head.slice_ref(seen.host)) {
            // userinfo ("user@host") is not allowed in Host.
            Ok(a) if !a.as_str().contains('@') => Ok(()),
            _ => Err(HttpError::InvalidHost),
        },
        _ => Err(HttpError::InvalidHost),
    }
}

/// A `Host` value that is certainly a valid authority without parsing one: a name of
/// letters, digits, `.` and `-`, with an optional port of 1-5 digits up to 65535 (what
/// nearly every client sends). Anything else (IPv6 literals, odd characters, userinfo) gets
/// `Authority`'s full parse.
fn is_plain_host(value: &[u8]) -> bool {
    let name_len = value
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b == b'.' || b == b'-'))
        .unwrap_or(value.len());
    if name_len == 0 {
        return false;
    }
    match &value[name_len..] {
        [] => true,
        [b':', port @ ..] if (1..=5).contains(&port.len()) => {
            let mut n = 0u32;
            for &d in port {
                if !d.is_ascii_digit() {
                    return false;
                }
                n = n * 10 + u32::from(d - b'0');
            }
            n <= 65535
        }
        _ => false,
    }
}

/// Whether the request line ends in `HTTP/<digit>.<digit>`: a version we do not speak (505)
/// rather than garbage (400).
fn well_formed_version(head: &[u8]) -> bool {
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let token = line.rsplit(|&b| b == b' ').next().unwrap_or_default();
    matches!(token, [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
        if major.is_ascii_digit() && minor.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_hosts_are_valid_authorities_and_the_rest_is_parsed() {
        let plain = ["example.com", "a", "127.0.0.1:8080", "x-y.z:1", "h:65535"];
        let other = [
            ":80", "a:", "a:99999", "a:123456", "[::1]:80", "u@h", "a b", "a:8x",
        ];
        for (hosts, expected) in [(&plain[..], true), (&other[..], false)] {
            for host in hosts {
                assert_eq!(is_plain_host(host.as_bytes()), expected, "{host}");
                if expected {
                    assert!(Authority::try_from(host.as_bytes()).is_ok());
                }
            }
        }
    }

    #[test]
    fn versions_we_do_not_speak_are_told_apart_from_garbage() {
        assert!(well_formed_version(b"GET / HTTP/2.0\r\n"));
        assert!(well_formed_version(b"GET / HTTP/1.2\r\n"));
        assert!(!well_formed_version(b"GET / HTTP/1-x\r\n"));
        assert!(!well_formed_version(b"GET / FTP/1.1\r\n"));
    }
}
