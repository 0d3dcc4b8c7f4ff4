//! Fixed responses: a response that depends on nothing in the request, encoded once and served
//! without building the request.
//!
//! [`Router::fixed`](super::Router::fixed) registers one for `GET path`. When a keep-alive
//! HTTP/1.1 `GET` for exactly that path arrives with none of the headers that change framing or
//! persistence (`Content-Length`, `Transfer-Encoding`, `Connection`, `Expect`, `Upgrade`), one
//! well-formed `Host` and plain header bytes (one pass, `plain_get`), the server copies the
//! pre-encoded bytes with the cached `Date` spliced in: no header map, no URI, no handler
//! future, no response encoding. Anything else (HEAD, a query string, an odd `Host`, more than
//! [`FAST_MAX_HEADERS`] headers, the last request `max_requests` allows) takes the ordinary
//! path, where the router answers the same response, so both paths write the same bytes.
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

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING};
use http::{HeaderMap, Method, Response, StatusCode};
use quasar_net::{Context, Result};

use crate::body::Body;
use crate::{body_allowed, encode_response, BodyLength, ResponseHead};

/// Most request headers the fixed-response check looks through; a request with more takes the
/// ordinary path.
pub const FAST_MAX_HEADERS: usize = 32;

/// A response that depends on nothing in the request (see the module docs).
#[derive(Debug)]
pub struct FixedResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    /// The wire form for one `Server` value (servers share a router rarely; another value
    /// is encoded per request rather than cached).
    encoded: OnceLock<Encoded>,
}

/// The encoded response: `before` + the 29-byte date + `after`, or `before` alone when the
/// response brings its own `Date`.
#[derive(Debug)]
struct Encoded {
    /// Unique per encoding (the key of [`ASSEMBLED`]).
    id: u64,
    server: Option<&'static str>,
    before: Bytes,
    after: Option<Bytes>,
}

impl FixedResponse {
    /// Wraps `response`. Framing headers in it are ignored (`Content-Length` is computed).
    pub fn new(response: Response<Bytes>) -> Self {
        let (parts, body) = response.into_parts();
        FixedResponse {
            status: parts.status,
            headers: parts.headers,
            body,
            encoded: OnceLock::new(),
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

    /// Whether the fast path may serve it: a body-carrying status below 400 (errors may close the
    /// connection) and no framing header of the caller's own.
    pub(crate) fn is_fast(&self) -> bool {
        self.status.as_u16() < 400
            && body_allowed(&Method::GET, self.status)
            && !self.headers.contains_key(TRANSFER_ENCODING)
            && !self.headers.contains_key(CONNECTION)
    }

    /// A fresh `Response<Body>` for the ordinary path.
    pub(crate) fn to_response(&self) -> Response<Body> {
        let mut resp = Response::new(Body::from(self.body.clone()));
        *resp.status_mut() = self.status;
        *resp.headers_mut() = self.headers.clone();
        resp.headers_mut().remove(CONTENT_LENGTH);
        resp
    }

    /// Writes the response to a keep-alive `GET` into the connection's output.
    pub(crate) fn write(&self, cx: &mut Context<'_>, server: Option<&'static str>) -> Result<()> {
        self.write_dated(cx, server, &crate::http_date())
    }

    /// As [`write`](Self::write), with a `Date` the caller read (once for a batch of
    /// pipelined responses).
    pub(crate) fn write_dated(
        &self,
        cx: &mut Context<'_>,
        server: Option<&'static str>,
        date: &[u8; crate::HTTP_DATE_LEN],
    ) -> Result<()> {
        let encoded = self.encoded.get_or_init(|| self.encode(server));
        if encoded.server != server {
            return self.encode(server).write(cx, date);
        }
        encoded.write(cx, date)
    }

    /// The whole response with `date`, repeated: shared bytes holding one or more copies
    /// back to back, and the length of one. A pipelined batch looks it up once and writes
    /// a run of answers to the same route with one copy of `copies * len` bytes. `None`
    /// when it is not kept assembled (large, or another `Server` value): then
    /// [`write_dated`](Self::write_dated).
    pub(crate) fn assembled(
        &self,
        server: Option<&'static str>,
        date: &[u8; crate::HTTP_DATE_LEN],
    ) -> Option<(Bytes, usize)> {
        let encoded = self.encoded.get_or_init(|| self.encode(server));
        if encoded.server != server {
            return None;
        }
        match &encoded.after {
            None => Some((encoded.before.clone(), encoded.before.len())),
            Some(_) => encoded.with_assembled(date, |block, len| (block.clone(), len)),
        }
    }

    /// Encodes with the ordinary encoder, then cuts around the date it wrote, so both paths
    /// produce the same bytes.
    fn encode(&self, server: Option<&'static str>) -> Encoded {
        let mut dst = BytesMut::new();
        let head = ResponseHead::new(
            self.status,
            &self.headers,
            BodyLength::Length(self.body.len() as u64),
        )
        .server(server);
        encode_response(&mut dst, &head);
        dst.put_slice(&self.body);
        let all = dst.freeze();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        if self.headers.contains_key(DATE) {
            return Encoded {
                id,
                server,
                before: all,
                after: None,
            };
        }
        // The encoder writes "date: " right after the status line.
        match all.windows(8).position(|w| w == b"\r\ndate: ") {
            Some(i) => Encoded {
                id,
                server,
                before: all.slice(..i + 8),
                after: Some(all.slice(i + 8 + crate::HTTP_DATE_LEN..)),
            },
            // Not reached (no `Date` of the caller's, so the encoder wrote one); kept whole
            // rather than cut at a guess.
            None => Encoded {
                id,
                server,
                before: all,
                after: None,
            },
        }
    }
}

/// Responses up to this size are assembled once per second per thread (see [`Assembled`])
/// and copied into the write queue in one piece; larger ones are written in three.
const ASSEMBLE_BELOW: usize = 4 * 1024;

/// How many copies of an assembled response are kept back to back: a pipelined run of up
/// to this many requests for one route is answered with one copy into the write queue.
const ASSEMBLED_COPIES: usize = 16;

/// Tells apart [`Encoded`] values for the per-thread cache (an address could be reused).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The last fixed response this thread assembled with a date: consecutive requests for the
/// same route in the same second (a benchmark, a health check) copy it whole.
struct Assembled {
    id: u64,
    date: [u8; crate::HTTP_DATE_LEN],
    /// The response, [`ASSEMBLED_COPIES`] times.
    block: Bytes,
    /// The length of one copy.
    len: usize,
}

thread_local! {
    static ASSEMBLED: RefCell<Assembled> = const {
        RefCell::new(Assembled {
            id: 0,
            date: [0; crate::HTTP_DATE_LEN],
            block: Bytes::new(),
            len: 0,
        })
    };
}

impl Encoded {
    fn write(&self, cx: &mut Context<'_>, date: &[u8; crate::HTTP_DATE_LEN]) -> Result<()> {
        let Some(after) = &self.after else {
            return cx.write(&self.before);
        };
        if let Some(written) = self.with_assembled(date, |block, len| cx.write(&block[..len])) {
            return written;
        }
        cx.write(&self.before)?;
        cx.write(date)?;
        cx.write(after)
    }

    /// Runs `f` on this response assembled with `date` ([`ASSEMBLED_COPIES`] copies back
    /// to back, and the length of one; rebuilt when the thread's copy is of another route
    /// or second); `None` when it has no date to splice or is too large to keep assembled.
    fn with_assembled<R>(
        &self,
        date: &[u8; crate::HTTP_DATE_LEN],
        f: impl FnOnce(&Bytes, usize) -> R,
    ) -> Option<R> {
        let after = self.after.as_ref()?;
        let len = self.before.len() + date.len() + after.len();
        if len > ASSEMBLE_BELOW {
            return None;
        }
        ASSEMBLED.with(|cell| {
            let mut a = cell.borrow_mut();
            if a.id != self.id || a.date != *date {
                let mut block = BytesMut::with_capacity(len * ASSEMBLED_COPIES);
                for _ in 0..ASSEMBLED_COPIES {
                    block.extend_from_slice(&self.before);
                    block.extend_from_slice(date);
                    block.extend_from_slice(after);
                }
                a.id = self.id;
                a.date = *date;
                a.block = block.freeze();
                a.len = len;
            }
            Some(f(&a.block, a.len))
        })
    }
}

/// Whether `head` (a complete request head) is a plain keep-alive HTTP/1.1 `GET` whose
/// answer cannot depend on its headers; returns its path. Conservative: `None` sends the
/// request down the ordinary path, which decides (and rejects) as it always does.
#[cfg(test)]
pub(crate) fn is_plain_get(head: &[u8], max_headers: usize) -> Option<&[u8]> {
    let mut slots =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; FAST_MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let n = max_headers.min(FAST_MAX_HEADERS);
    match req.parse_with_uninit_headers(head, &mut slots[..n]) {
        Ok(httparse::Status::Complete(len)) if len == head.len() => {}
        _ => return None,
    }
    if req.method != Some("GET") || req.version != Some(1) {
        return None;
    }
    let mut hosts = 0;
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        // Dispatch on the length first: most names compare against nothing.
        let special = match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => {
                hosts += 1;
                if !is_plain_host(h.value) {
                    return None;
                }
                false
            }
            _ => super::plain_get::changes_framing(name),
        };
        if special {
            return None;
        }
        // What `http::HeaderValue` accepts (the ordinary path would reject anything else).
        if !h
            .value
            .iter()
            .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
        {
            return None;
        }
    }
    (hosts == 1).then(|| req.path.map(str::as_bytes)).flatten()
}

/// A `Host` value that is certainly a valid authority: empty, or a name of letters, digits,
/// `.` and `-` with an optional port of 1–5 digits up to 65535. Anything else (IPv6, odd
/// characters) is left to the ordinary path's full check. The reference for the
/// recogniser's own one-walk check (`plain_get`), which the property tests compare with it.
#[cfg(test)]
pub(crate) fn is_plain_host(value: &[u8]) -> bool {
    if value.is_empty() {
        return true;
    }
    let name_len = value
        .iter()
        .position(|&b| !super::plain_get::HOST_NAME[usize::from(b)])
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

/// Whether `path` is a literal route path the fast path may compare raw request targets
/// with: `/`-separated segments of characters a URI path takes as they are (no `%`, `?`,
/// `#`), so a raw target equal to it is certainly a valid URI.
pub(crate) fn is_plain_path(path: &str) -> bool {
    path.starts_with('/') && path.bytes().all(|b| super::plain_get::PATH[usize::from(b)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_get_gives_its_path() {
        let head = b"GET /a/b HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: x\r\n\r\n";
        assert_eq!(is_plain_get(head, 100), Some(&b"/a/b"[..]));
        let empty_host = b"GET / HTTP/1.1\r\nHost:\r\n\r\n";
        assert_eq!(is_plain_get(empty_host, 100), Some(&b"/"[..]));
    }

    #[test]
    fn anything_that_could_change_the_answer_takes_the_ordinary_path() {
        for head in [
            &b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"GET / HTTP/1.0\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a@b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\ncontent-length: 0\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nX: \x7f\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\nextra",
            b"GET / HTTP/1.1\r\nHost: a\r\n",
        ] {
            assert_eq!(
                is_plain_get(head, 100),
                None,
                "{}",
                String::from_utf8_lossy(head)
            );
        }
        // Over the header limit: the ordinary path answers 431.
        assert_eq!(
            is_plain_get(b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n", 1),
            None
        );
    }

    #[test]
    fn only_literal_paths_are_fast() {
        assert!(is_plain_path("/"));
        assert!(is_plain_path("/hello/world.txt"));
        assert!(!is_plain_path("hello"));
        assert!(!is_plain_path("/a%20b"));
        assert!(!is_plain_path("/a?b"));
        assert!(!is_plain_path("/a b"));
    }

    #[test]
    fn the_encoding_splices_todays_date_between_its_halves() {
        let fixed = FixedResponse::new(
            Response::builder()
                .header("content-type", "text/plain")
                .body(Bytes::from_static(b"hi"))
                .unwrap(),
        );
        let e = fixed.encode(Some("quasar"));
        assert_eq!(&e.before[..], b"HTTP/1.1 200 OK\r\ndate: ");
        assert_eq!(
            &e.after.unwrap()[..],
            &b"\r\nserver: quasar\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nhi"[..]
        );
    }
}
