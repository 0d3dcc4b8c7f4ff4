//! The one-pass fast path for client commands: a complete, plainly written
//! `*N\r\n$len\r\narg\r\n...` array at the front of the buffer.
//!
//! The general decoder checks a frame in one pass (resumable, applying every limit) and
//! builds it in a second. Nearly every command a client library sends arrives whole and
//! in the canonical form, so this scans it once and reports where each argument lies.
//! Anything else — an incomplete frame, a length with a sign or leading zeros, a limit
//! crossed, a missing `\r\n` — returns `None` and the general decoder decides, so both
//! paths always give the same result or error (a property test checks this).

use smallvec::SmallVec;

use crate::resp::limits::Limits;

/// Where each argument lies in the frame, and the frame's length.
pub(crate) type Spans = SmallVec<[(usize, usize); 6]>;

/// Longest length header accepted here (keeps the arithmetic far from overflow).
const MAX_DIGITS: usize = 18;

/// Scans a complete command at the front of `buf`: `Some((frame_len, spans))`, or `None`
/// when the general decoder must decide.
pub(crate) fn scan(buf: &[u8], limits: &Limits) -> Option<(usize, Spans)> {
    if buf.first() != Some(&b'*') || limits.max_depth == 0 {
        return None;
    }
    let (n, mut pos) = number(buf, 1, limits)?;
    if n == 0 || n > limits.max_aggregate_len {
        return None;
    }
    let mut spans = Spans::new();
    for _ in 0..n {
        if buf.get(pos) != Some(&b'$') {
            return None;
        }
        let (len, start) = number(buf, pos + 1, limits)?;
        if len > limits.max_bulk_len {
            return None;
        }
        let end = start + len;
        if buf.get(end..end + 2)? != b"\r\n" {
            return None;
        }
        spans.push((start, end));
        pos = end + 2;
    }
    if pos > limits.max_frame_len {
        return None;
    }
    Some((pos, spans))
}

/// A canonical decimal at `buf[at..]` ending in `\r\n`: its value and the index after
/// the `\r\n`.
fn number(buf: &[u8], at: usize, limits: &Limits) -> Option<(usize, usize)> {
    let rest = buf.get(at..)?;
    // Nearly every header is one or two digits (`*2`, `$3`, `$16`): matched whole,
    // without the loop below.
    match *rest {
        [d @ b'0'..=b'9', b'\r', b'\n', ..] if limits.max_line_len >= 1 => {
            return Some((usize::from(d - b'0'), at + 3));
        }
        [t @ b'1'..=b'9', u @ b'0'..=b'9', b'\r', b'\n', ..] if limits.max_line_len >= 2 => {
            return Some((usize::from(t - b'0') * 10 + usize::from(u - b'0'), at + 4));
        }
        _ => {}
    }
    // One pass: value and digit count together (lengths are mostly one or two digits).
    let (mut n, mut digits) = (0usize, 0);
    while let Some(&d) = rest.get(digits) {
        if !d.is_ascii_digit() {
            break;
        }
        if digits == MAX_DIGITS {
            return None;
        }
        n = n * 10 + usize::from(d - b'0');
        digits += 1;
    }
    if digits == 0 || digits > limits.max_line_len || (digits > 1 && rest[0] == b'0') {
        return None;
    }
    if rest.get(digits..digits + 2)? != b"\r\n" {
        return None;
    }
    Some((n, at + digits + 2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode_command;
    use bytes::BytesMut;
    use proptest::prelude::*;

    #[test]
    fn a_canonical_command_is_found_in_one_pass() {
        let buf = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1";
        let (len, spans) = scan(buf, &Limits::default()).unwrap();
        assert_eq!(len, 20);
        assert_eq!(&spans[..], &[(8, 11), (17, 18)]);
    }

    #[test]
    fn headers_of_every_width_are_read_and_the_line_limit_holds() {
        let l = Limits::default();
        assert_eq!(number(b"0\r\n", 0, &l), Some((0, 3)));
        assert_eq!(number(b"x7\r\n", 1, &l), Some((7, 4)));
        assert_eq!(number(b"42\r\n", 0, &l), Some((42, 4)));
        assert_eq!(number(b"512\r\n", 0, &l), Some((512, 5)));
        assert_eq!(number(b"99\r", 0, &l), None);
        for bad in [
            &b"00\r\n"[..],
            b"07\r\n",
            b"1\n",
            b"1\r",
            b"\r\n",
            b"-1\r\n",
        ] {
            assert_eq!(number(bad, 0, &l), None, "{bad:?}");
        }
        let one = Limits {
            max_line_len: 1,
            ..Limits::default()
        };
        assert_eq!(number(b"9\r\n", 0, &one), Some((9, 3)));
        assert_eq!(number(b"10\r\n", 0, &one), None);
        let zero = Limits {
            max_line_len: 0,
            ..Limits::default()
        };
        assert_eq!(number(b"9\r\n", 0, &zero), None);
    }

    #[test]
    fn anything_unusual_is_left_to_the_general_decoder() {
        let l = Limits::default();
        for input in [
            &b"*2\r\n$3\r\nGET\r\n$1\r\nk\r"[..],
            b"*0\r\n",
            b"*-1\r\n",
            b"*01\r\n$1\r\na\r\n",
            b"*1\r\n$+1\r\na\r\n",
            b"*1\r\n$1\r\nab\r\n",
            b"*1\r\n:1\r\n",
            b"*1\n$1\r\na\r\n",
            b"PING\r\n",
            b"*9999999999999999999\r\n",
        ] {
            assert!(scan(input, &l).is_none(), "{input:?}");
        }
        let small = Limits {
            max_bulk_len: 2,
            ..Limits::default()
        };
        assert!(scan(b"*1\r\n$3\r\nabc\r\n", &small).is_none());
        let small = Limits {
            max_aggregate_len: 1,
            ..Limits::default()
        };
        assert!(scan(b"*2\r\n$1\r\na\r\n$1\r\nb\r\n", &small).is_none());
    }

    proptest! {
        /// Whatever the fast path accepts, the general decoder decodes to the same
        /// arguments and the same length.
        #[test]
        fn agrees_with_the_general_decoder(bytes in proptest::collection::vec(
            prop_oneof![Just(b'*'), Just(b'$'), Just(b'\r'), Just(b'\n'), Just(b'0'),
                Just(b'1'), Just(b'2'), Just(b'3'), Just(b'a'), Just(b'-')], 0..40)) {
            let l = Limits::default();
            if let Some((len, spans)) = scan(&bytes, &l) {
                let mut buf = BytesMut::from(&bytes[..]);
                let args = decode_command(&mut buf, &l).unwrap().unwrap();
                prop_assert_eq!(bytes.len() - buf.len(), len);
                let want: Vec<&[u8]> = spans.iter().map(|&(s, e)| &bytes[s..e]).collect();
                let got: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
                prop_assert_eq!(got, want);
            }
        }

        #[test]
        fn well_formed_commands_take_the_fast_path(args in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..20), 1..6)) {
            let mut wire = format!("*{}\r\n", args.len()).into_bytes();
            for a in &args {
                wire.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                wire.extend_from_slice(a);
                wire.extend_from_slice(b"\r\n");
            }
            let (len, spans) = scan(&wire, &Limits::default()).unwrap();
            prop_assert_eq!(len, wire.len());
            let got: Vec<&[u8]> = spans.iter().map(|&(s, e)| &wire[s..e]).collect();
            let want: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
            prop_assert_eq!(got, want);
        }
    }
}
