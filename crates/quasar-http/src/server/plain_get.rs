//! One-pass recogniser of a plain keep-alive `GET` head, for the fixed-response fast path.
//!
//! The ordinary path looks at a request head three times: the head scanner finds the blank
//! line, httparse tokenises the head, and a check walks the headers again for the ones that
//! change framing or persistence. For a fixed route none of the tokens are kept, so
//! [`plain_get`] does all three in one walk over the bytes with lookup tables, and gives up
//! (`None`) at the first byte outside a deliberately narrow grammar: exactly
//! `GET <path> HTTP/1.1\r\n`, a path of characters a URI path takes as they are, header names
//! of token characters directly followed by `:`, values of the bytes `http::HeaderValue`
//! accepts, CRLF line ends only, exactly one `Host` of a plain authority, none of
//! `Content-Length`, `Transfer-Encoding`, `Connection`, `Expect`, `Upgrade`, and within the
//! configured limits. Every head it accepts is one httparse accepts with the same path (a
//! property test checks this against the httparse-based check), so a `None` only costs the
//! ordinary path; it never changes an answer.
//!
//! Written by hand rather than with httparse because a benchmark showed the three passes cost
//! more than the rest of a fixed response (see docs/http-performance.md).
//!
//! # Examples
//!
//! ```ignore
//! let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nnext";
//! let got = plain_get(head, &Limits::default(), |path| (path == b"/").then_some(1));
//! assert_eq!(got, Some((27, 1)));
//! ```

use crate::Limits;

use super::fixed::FAST_MAX_HEADERS;

const REQUEST_PREFIX: &[u8] = b"GET ";
const VERSION_SUFFIX: &[u8] = b" HTTP/1.1\r\n";

/// A byte-class table: `byte_table!(|c| test)` is a `[bool; 256]` with `t[c] = test` for
/// every byte `c`, built at compile time.
macro_rules! byte_table {
    (|$c:ident| $test:expr) => {{
        let mut t = [false; 256];
        let mut b = 0;
        while b < 256 {
            let $c = b as u8;
            t[b] = $test;
            b += 1;
        }
        t
    }};
}

// Statics, not consts: a const table indexed at run time may be copied to the stack per use.

/// `tchar` of RFC 9110 §5.6.2: the bytes of a header name.
static TOKEN: [bool; 256] =
    byte_table!(|c| c.is_ascii_alphanumeric() || is_in(c, b"!#$%&'*+-.^_`|~"));

/// Bytes of a header value `http::HeaderValue` takes: HTAB, visible ASCII, SP, obs-text.
static VALUE: [bool; 256] = byte_table!(|c| c == 0x09 || (c >= 0x20 && c != 0x7f));

/// Bytes of a host name the fast path takes as they are (see `fixed::is_plain_host`).
pub(super) static HOST_NAME: [bool; 256] =
    byte_table!(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-');

/// Bytes of a literal route path: the characters a URI path takes as they are (no `%`,
/// `?`, `#`). Also what `Router::fixed` accepts for a fast route (`fixed::is_plain_path`),
/// so a registered path and the recogniser agree by construction.
pub(super) static PATH: [bool; 256] =
    byte_table!(|c| c.is_ascii_alphanumeric() || is_in(c, b"/-._~!$&'()*+,;=:@"));

/// `set.contains(&c)`, usable in the tables' const initialisers.
const fn is_in(c: u8, set: &[u8]) -> bool {
    let mut i = 0;
    while i < set.len() {
        if set[i] == c {
            return true;
        }
        i += 1;
    }
    false
}

/// Recognises a complete plain `GET` head at the front of `buf` (see the module docs) whose
/// path `route` maps to something; returns the head's length (blank line included) and what
/// `route` gave. `route` is asked right after the request line, so a `GET` to any other path
/// costs only that line.
pub(crate) fn plain_get<'b, T>(
    buf: &'b [u8],
    limits: &Limits,
    route: impl FnOnce(&'b [u8]) -> Option<T>,
) -> Option<(usize, T)> {
    let rest = buf.strip_prefix(REQUEST_PREFIX)?;
    let path_len = rest.iter().position(|&b| !PATH[usize::from(b)])?;
    let path = &rest[..path_len];
    if path.first() != Some(&b'/') || !rest[path_len..].starts_with(VERSION_SUFFIX) {
        return None;
    }
    let mut i = REQUEST_PREFIX.len() + path_len + VERSION_SUFFIX.len();
    if i > limits.max_request_line {
        return None;
    }
    let found = route(path)?;
    let max_headers = limits.max_headers.min(FAST_MAX_HEADERS);
    let mut headers = 0;
    let mut hosts = 0;
    loop {
        match buf.get(i..i + 2)? {
            b"\r\n" => {
                let end = i + 2;
                return (hosts == 1 && end <= limits.max_head_bytes).then_some((end, found));
            }
            _ if headers == max_headers => return None,
            _ => {}
        }
        headers += 1;
        let line = &buf[i..];
        let name_len = line.iter().position(|&b| !TOKEN[usize::from(b)])?;
        let name = &line[..name_len];
        if name.is_empty() || line[name_len] != b':' {
            return None;
        }
        let after_colon = &line[name_len + 1..];
        let ws = after_colon.iter().position(|&b| b != b' ' && b != b'\t')?;
        let value_and_rest = &after_colon[ws..];
        let value_len = value_and_rest
            .iter()
            .position(|&b| !VALUE[usize::from(b)])?;
        if !value_and_rest[value_len..].starts_with(b"\r\n") {
            return None;
        }
        let value_start = i + name_len + 1 + ws;
        i = value_start + value_len;
        let value = trim_end(&buf[value_start..i]);
        i += 2;
        // Dispatch on the length first: most names compare against nothing.
        let special = match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => {
                hosts += 1;
                !super::fixed::is_plain_host(value)
            }
            6 => name.eq_ignore_ascii_case(b"expect"),
            7 => name.eq_ignore_ascii_case(b"upgrade"),
            10 => name.eq_ignore_ascii_case(b"connection"),
            14 => name.eq_ignore_ascii_case(b"content-length"),
            17 => name.eq_ignore_ascii_case(b"transfer-encoding"),
            _ => false,
        };
        if special || i > limits.max_head_bytes {
            return None;
        }
    }
}

/// The value without trailing SP/HTAB, as httparse hands it over.
fn trim_end(mut value: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_path(path: &[u8]) -> Option<Vec<u8>> {
        Some(path.to_vec())
    }

    #[test]
    fn a_plain_get_gives_its_length_and_path() {
        let head = b"GET /a/b HTTP/1.1\r\nHost: example.com:8080 \r\nUser-Agent: x\r\n\r\nGET";
        let got = plain_get(head, &Limits::default(), any_path);
        assert_eq!(got, Some((head.len() - 3, b"/a/b".to_vec())));
        let empty_host = b"GET / HTTP/1.1\r\nHost:\r\n\r\n";
        assert_eq!(
            plain_get(empty_host, &Limits::default(), any_path),
            Some((empty_host.len(), b"/".to_vec()))
        );
    }

    #[test]
    fn an_unknown_path_stops_after_the_request_line() {
        let mut asked = Vec::new();
        let head = b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n";
        let got = plain_get(head, &Limits::default(), |p| {
            asked.push(p.to_vec());
            None::<()>
        });
        assert_eq!(got, None);
        assert_eq!(asked, vec![b"/nope".to_vec()]);
    }

    #[test]
    fn anything_unusual_is_left_to_the_ordinary_path() {
        for head in [
            &b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"GET / HTTP/1.0\r\nHost: a\r\n\r\n",
            b"GET /?x HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\n\r\n",
            b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
            b"GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a@b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\ncontent-length: 0\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nX: \x7f\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n\r",
        ] {
            assert_eq!(
                plain_get(head, &Limits::default(), any_path),
                None,
                "{}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn limits_are_kept() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n";
        let ok = Limits::default();
        assert!(plain_get(head, &ok, any_path).is_some());
        for limits in [
            Limits {
                max_headers: 1,
                ..ok
            },
            Limits {
                max_head_bytes: head.len() - 1,
                ..ok
            },
            Limits {
                max_request_line: 15,
                ..ok
            },
        ] {
            assert_eq!(plain_get(head, &limits, any_path), None, "{limits:?}");
        }
    }

    /// Heads built from pieces near the grammar's edges, so both verdicts occur often.
    fn head_strategy() -> impl Strategy<Value = Vec<u8>> {
        let line = prop_oneof![
            Just(b"GET / HTTP/1.1\r\n".to_vec()),
            Just(b"GET /a-b.c HTTP/1.1\r\n".to_vec()),
            Just(b"GET /a%20 HTTP/1.1\r\n".to_vec()),
            Just(b"GET /x?y HTTP/1.1\r\n".to_vec()),
            Just(b"GET / HTTP/1.0\r\n".to_vec()),
            Just(b"HEAD / HTTP/1.1\r\n".to_vec()),
        ];
        let name = prop_oneof![
            Just(b"Host".to_vec()),
            Just(b"host".to_vec()),
            Just(b"Connection".to_vec()),
            Just(b"X-A".to_vec()),
            Just(b"Content-Length".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..6),
        ];
        let value = prop_oneof![
            Just(b"a".to_vec()),
            Just(b"127.0.0.1:8080".to_vec()),
            Just(b" x\t".to_vec()),
            Just(b"a:99999".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..8),
        ];
        let header = (
            name,
            prop_oneof![
                Just(b": ".to_vec()),
                Just(b":".to_vec()),
                Just(b" :".to_vec())
            ],
            value,
            prop_oneof![Just(b"\r\n".to_vec()), Just(b"\n".to_vec())],
        )
            .prop_map(|(n, s, v, e)| [n, s, v, e].concat());
        (
            line,
            proptest::collection::vec(header, 0..5),
            proptest::collection::vec(any::<u8>(), 0..4),
        )
            .prop_map(|(l, hs, tail)| {
                let mut head = l;
                for h in hs {
                    head.extend_from_slice(&h);
                }
                head.extend_from_slice(b"\r\n");
                head.extend_from_slice(&tail);
                head
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// Whatever the one-pass recogniser accepts, the head scanner and the httparse-based
        /// check accept too, with the same length and path.
        #[test]
        fn agrees_with_the_httparse_check(
            head in head_strategy(),
            max_headers in 1usize..6,
        ) {
            let limits = Limits { max_headers, ..Limits::default() };
            if let Some((end, path)) = plain_get(&head, &limits, any_path) {
                let mut scanner = crate::head_scanner::HeadScanner::default();
                prop_assert_eq!(scanner.scan(&head, &limits).ok().flatten(), Some(end));
                prop_assert_eq!(
                    super::super::fixed::is_plain_get(&head[..end], max_headers),
                    Some(&path[..])
                );
            }
        }

        /// Arbitrary bytes never panic it, and a `Some` is always within the buffer.
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut input = b"GET / HTTP/1.1\r\n".to_vec();
            input.extend_from_slice(&bytes);
            if let Some((end, _)) = plain_get(&input, &Limits::default(), any_path) {
                prop_assert!(end <= input.len());
            }
        }
    }
}
