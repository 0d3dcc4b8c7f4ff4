//! One-pass recogniser of a plain keep-alive `GET` head, for the fixed-response fast path.
//!
//! The ordinary path looks at a request head three times: the head scanner finds the blank
//! line, httparse tokenises the head, and a check walks the headers again for the ones that
//! change framing or persistence. For a fixed route none of the tokens are kept, so
//! [`plain_get`] does all three in one walk over the bytes (lookup tables, header values eight
//! bytes at a time, a pipelined run's repeated `Host` compared rather than checked), and gives up
//! (`None`) at the first byte outside a deliberately narrow grammar: exactly
//! `GET <path> HTTP/1.1\r\n`, a path of characters a URI path takes as they are, header names
//! of token characters directly followed by `:`, values of the bytes `http::HeaderValue`
//! accepts, CRLF line ends only, exactly one `Host` of a plain authority, none of
//! `Content-Length`, `Transfer-Encoding`, `Connection`, `Expect`, `Upgrade`, and within the
//! configured limits. Every head it accepts is one httparse accepts with the same path (a
//! property test checks this against the httparse-based check), so a `None` only costs the
//! ordinary path; it never changes an answer.
//!
//! Written by hand rather than with httparse because httparse's three passes over the head
//! cost more than the rest of a fixed response (the figures are in `docs/perf/http.md`).
//!
//! # Examples
//!
//! ```text
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

/// Bytes of a host name the fast path takes as they are (see `plain_host_end`).
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
    plain_get_after(buf, limits, &mut SeenHost::default(), route)
}

/// The last `Host` value the recogniser found plain, exactly as it stood between the
/// whitespace after the colon and the CRLF. The requests on one connection name the same
/// host, so a pipelined run of heads (`plain_get_after`) checks the value once and then
/// only compares the bytes.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SeenHost<'b>(&'b [u8]);

/// As [`plain_get`], for a head that follows others in the same buffer: a `Host` value
/// equal to `seen`'s is not checked again, and a newly checked one is remembered there.
pub(crate) fn plain_get_after<'b, T>(
    buf: &'b [u8],
    limits: &Limits,
    seen: &mut SeenHost<'b>,
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
        // The common spelling of `Host` skips the name scan.
        let (name_len, is_host) = if line.starts_with(b"Host:") {
            (4, true)
        } else {
            let n = line.iter().position(|&b| !TOKEN[usize::from(b)])?;
            if n == 0 || line[n] != b':' {
                return None;
            }
            (n, n == 4 && line[..4].eq_ignore_ascii_case(b"host"))
        };
        let mut j = i + name_len + 1;
        while matches!(buf.get(j)?, b' ' | b'\t') {
            j += 1;
        }
        let special = if is_host {
            hosts += 1;
            let known = seen.0;
            let after = j + known.len();
            if buf.get(j..after) == Some(known) && buf.get(after..after + 2) == Some(b"\r\n") {
                j = after;
            } else {
                let end = plain_host_end(buf, j)?;
                *seen = SeenHost(&buf[j..end]);
                j = end;
            }
            false
        } else {
            j = value_end(buf, j)?;
            changes_framing(&line[..name_len])
        };
        if special || buf.get(j..j + 2)? != b"\r\n" {
            return None;
        }
        i = j + 2;
        if i > limits.max_head_bytes {
            return None;
        }
    }
}

/// `0x01` in every byte of a word.
const ONES: u64 = u64::from_le_bytes([0x01; 8]);
/// `0x80` in every byte of a word.
const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);

/// The index of the first byte from `start` on that is not a [`VALUE`] byte (a header
/// value's end: the `\r` of its CRLF, or a byte that makes the head unusual), or `None`
/// when the buffer ends first.
///
/// Eight bytes at a time: a word with no control byte and no DEL (the usual case) is
/// passed over whole; the first flagged byte is exact (the subtraction's borrows only
/// spill into bytes above a flagged one, so the lowest flag is never a false one), a tab
/// there is stepped over, and the last few bytes go through the table.
fn value_end(buf: &[u8], mut start: usize) -> Option<usize> {
    while let Some(word) = buf.get(start..).and_then(<[u8]>::first_chunk::<8>) {
        let x = u64::from_le_bytes(*word);
        // Bytes below 0x20 (a byte >= 0x80 has its top bit clear in !x) ...
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
        // ... and bytes equal to 0x7f (zero after the xor).
        let y = x ^ (ONES * 0x7f);
        let del = y.wrapping_sub(ONES) & !y & HIGHS;
        let flags = control | del;
        if flags == 0 {
            start += 8;
            continue;
        }
        let at = start + (flags.trailing_zeros() / 8) as usize;
        if buf[at] != b'\t' {
            return Some(at);
        }
        start = at + 1;
    }
    let rest = buf.get(start..)?;
    rest.iter()
        .position(|&b| !VALUE[usize::from(b)])
        .map(|n| start + n)
}

/// Where the CRLF after a plain `Host` value starting at `start` begins: the value must be
/// empty, or a name of [`HOST_NAME`] bytes with an optional port of 1–5 digits up to 65535,
/// then optional SP/HTAB. `None` for anything else (IPv6, odd characters: the ordinary
/// path's full check decides those) or a buffer that ends first. One walk, rather than the
/// value scan followed by a host check.
fn plain_host_end(buf: &[u8], start: usize) -> Option<usize> {
    let rest = buf.get(start..)?;
    let name_len = rest.iter().position(|&b| !HOST_NAME[usize::from(b)])?;
    let mut k = name_len;
    if rest[k] == b':' {
        let port = &rest[k + 1..];
        let digits = port.iter().position(|b| !b.is_ascii_digit())?;
        if name_len == 0 || !(1..=5).contains(&digits) {
            return None;
        }
        let n = port[..digits]
            .iter()
            .fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
        if n > 65535 {
            return None;
        }
        k += 1 + digits;
    }
    while matches!(rest.get(k)?, b' ' | b'\t') {
        k += 1;
    }
    Some(start + k)
}

/// A header the fast path leaves to the ordinary one because it changes the framing or the
/// connection's persistence. Dispatched on the length first: most names compare against
/// nothing.
pub(super) fn changes_framing(name: &[u8]) -> bool {
    match name.len() {
        6 => name.eq_ignore_ascii_case(b"expect"),
        7 => name.eq_ignore_ascii_case(b"upgrade"),
        10 => name.eq_ignore_ascii_case(b"connection"),
        14 => name.eq_ignore_ascii_case(b"content-length"),
        17 => name.eq_ignore_ascii_case(b"transfer-encoding"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_path(path: &[u8]) -> Option<Vec<u8>> {
        Some(path.to_vec())
    }

    /// A plain reference recogniser, without the word-at-a-time value scan and the one-walk
    /// `Host` check: a byte-at-a-time walk with the tables, the `Host` value checked by
    /// `fixed::is_plain_host` after the scan. The fast one must agree with it on every input.
    fn reference<'b>(buf: &'b [u8], limits: &Limits) -> Option<(usize, &'b [u8])> {
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
        let max_headers = limits.max_headers.min(FAST_MAX_HEADERS);
        let mut headers = 0;
        let mut hosts = 0;
        loop {
            match buf.get(i..i + 2)? {
                b"\r\n" => {
                    let end = i + 2;
                    return (hosts == 1 && end <= limits.max_head_bytes).then_some((end, path));
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
            let mut value = &buf[value_start..i];
            while let [rest @ .., b' ' | b'\t'] = value {
                value = rest;
            }
            i += 2;
            let special = match name.len() {
                4 if name.eq_ignore_ascii_case(b"host") => {
                    hosts += 1;
                    !super::super::fixed::is_plain_host(value)
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
    fn long_values_are_scanned_a_word_at_a_time() {
        let ok = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:18071 \t\r\nX-Long: abcdefgh\tijklmnop\x80\xffqrstuvwxyz0123456789\r\n\r\n";
        assert_eq!(
            plain_get(ok, &Limits::default(), any_path),
            Some((ok.len(), b"/".to_vec()))
        );
        for bad in [&b"\x7f"[..], b"\x00", b"\x1f", b"\rx", b"\n"] {
            for at in 0..20 {
                let mut head = b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: ".to_vec();
                head.extend(std::iter::repeat_n(b'v', at));
                head.extend_from_slice(bad);
                head.extend_from_slice(b"abcdefghijklmnop\r\n\r\n");
                assert_eq!(
                    plain_get(&head, &Limits::default(), any_path),
                    None,
                    "{head:?}"
                );
            }
        }
        for host in [&b"a:65536"[..], b"a:123456", b"a:", b":1", b"a:1 2", b"a b"] {
            let mut head = b"GET / HTTP/1.1\r\nHost: ".to_vec();
            head.extend_from_slice(host);
            head.extend_from_slice(b"\r\nX-Long: abcdefghijklmnop\r\n\r\n");
            assert_eq!(
                plain_get(&head, &Limits::default(), any_path),
                None,
                "{head:?}"
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
            Just(b"HOST".to_vec()),
            Just(b"Expect".to_vec()),
            Just(b"host".to_vec()),
            Just(b"Connection".to_vec()),
            Just(b"X-A".to_vec()),
            Just(b"Content-Length".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..6),
        ];
        // Values long enough for the word-at-a-time scan, of bytes near its class edges.
        let edge_byte = prop_oneof![
            Just(b'a'),
            Just(b' '),
            Just(b'\t'),
            Just(b'\r'),
            Just(b'\n'),
            Just(0x00u8),
            Just(0x1f),
            Just(0x7e),
            Just(0x7f),
            Just(0x80),
            Just(0xa0),
            Just(0xff),
            Just(b':'),
            Just(b'9'),
        ];
        let value = prop_oneof![
            Just(b"a".to_vec()),
            Just(b"127.0.0.1:8080".to_vec()),
            Just(b"127.0.0.1:18071 \t".to_vec()),
            Just(b" x\t".to_vec()),
            Just(b"a:99999".to_vec()),
            Just(b"a:65536".to_vec()),
            Just(b"a:065535".to_vec()),
            Just(b"a:1 2".to_vec()),
            Just(b":80".to_vec()),
            Just(b"Mozilla/5.0 (X11; Linux x86_64) \x80\xff\ttab".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..8),
            proptest::collection::vec(edge_byte, 0..24),
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
            let got = plain_get(&head, &limits, any_path);
            prop_assert_eq!(
                got.as_ref().map(|(end, path)| (*end, &path[..])),
                reference(&head, &limits)
            );
            if let Some((end, path)) = got {
                let mut scanner = crate::head_scanner::HeadScanner::default();
                prop_assert_eq!(scanner.scan(&head, &limits).ok().flatten(), Some(end));
                prop_assert_eq!(
                    super::super::fixed::is_plain_get(&head[..end], max_headers),
                    Some(&path[..])
                );
            }
        }

        /// Cut at every length, a head gets the same verdict as from the byte-at-a-time
        /// recogniser (a cut inside a value ends the word-at-a-time scan early).
        #[test]
        fn cut_heads_agree_with_the_reference(head in head_strategy()) {
            let limits = Limits::default();
            for n in 0..=head.len() {
                let got = plain_get(&head[..n], &limits, any_path);
                prop_assert_eq!(
                    got.as_ref().map(|(end, path)| (*end, &path[..])),
                    reference(&head[..n], &limits),
                    "cut at {}", n
                );
            }
        }

        /// A remembered plain `Host` value (any value the one-walk check accepts) never
        /// changes a verdict: heads with that host, another host or a longer one.
        #[test]
        fn a_seen_host_agrees_with_the_reference(
            head in head_strategy(),
            host in prop_oneof![
                Just(b"127.0.0.1:8080".to_vec()),
                Just(b"a".to_vec()),
                Just(b"a \t".to_vec()),
                Just(b"127.0.0.1".to_vec()),
                Just(b"a:1".to_vec()),
                Just(Vec::new()),
            ],
        ) {
            let mut line = host.clone();
            line.extend_from_slice(b"\r\n");
            prop_assume!(plain_host_end(&line, 0) == Some(host.len()));
            let limits = Limits::default();
            for n in 0..=head.len() {
                let mut seen = SeenHost(&host[..]);
                let got = plain_get_after(&head[..n], &limits, &mut seen, any_path);
                prop_assert_eq!(
                    got.as_ref().map(|(end, path)| (*end, &path[..])),
                    reference(&head[..n], &limits),
                    "cut at {}", n
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
