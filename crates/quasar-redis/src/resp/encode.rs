//! Writing frames: [`Frame::encode`] and one helper per reply a server writes most.
//!
//! The helpers write straight into the output buffer, numbers through `itoa`, so replying
//! `+OK`, an integer or a bulk string allocates nothing and builds no [`Frame`]. Each helper
//! writes the same bytes as encoding the matching frame.
//!
//! # Examples
//!
//! ```
//! use bytes::BytesMut;
//! use quasar_redis::encode::{encode_bulk, encode_integer, encode_null_bulk, encode_ok};
//!
//! let mut out = BytesMut::new();
//! encode_ok(&mut out);
//! encode_integer(&mut out, -3);
//! encode_bulk(&mut out, b"value");
//! encode_null_bulk(&mut out);
//! assert_eq!(&out[..], b"+OK\r\n:-3\r\n$5\r\nvalue\r\n$-1\r\n");
//! ```

use bytes::{BufMut, BytesMut};

use crate::resp::frame::Frame;

const CRLF: &[u8] = b"\r\n";

impl Frame {
    /// Appends this frame's wire form to `dst`, with the type byte its variant names (so
    /// RESP3 variants are written as RESP3).
    ///
    /// Bytes `\r` and `\n` inside a [`Frame::Simple`] or [`Frame::Error`] would end the line
    /// early, so they are written as spaces, as Redis does for error replies. A
    /// [`Frame::BigNumber`] is written as it is held.
    ///
    /// Encoding recurses once per nesting level. Decoded frames are at most
    /// [`Limits::max_depth`](crate::Limits::max_depth) deep; a frame built by hand thousands of
    /// levels deep could overflow the stack.
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use quasar_redis::Frame;
    ///
    /// let mut out = BytesMut::new();
    /// Frame::Array(vec![Frame::bulk("a"), Frame::Null, Frame::Double(f64::INFINITY)])
    ///     .encode(&mut out);
    /// assert_eq!(&out[..], b"*3\r\n$1\r\na\r\n_\r\n,inf\r\n");
    /// ```
    pub fn encode(&self, dst: &mut BytesMut) {
        match self {
            Frame::Simple(s) => encode_simple(dst, s),
            Frame::Error(s) => encode_error(dst, s),
            Frame::Integer(n) => encode_integer(dst, *n),
            Frame::Bulk(data) => encode_bulk(dst, data),
            Frame::NullBulk => encode_null_bulk(dst),
            Frame::Array(items) => encode_items(dst, b'*', items),
            Frame::NullArray => dst.put_slice(b"*-1\r\n"),
            Frame::Null => encode_null(dst),
            Frame::Double(d) => encode_double(dst, *d),
            Frame::Boolean(b) => dst.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            Frame::BigNumber(n) => encode_line(dst, b'(', n),
            Frame::BlobError(data) => encode_blob(dst, b'!', &[data]),
            Frame::Verbatim { format, text } => encode_blob(dst, b'=', &[format, b":", text]),
            Frame::Map(pairs) => encode_pairs(dst, b'%', pairs),
            Frame::Set(items) => encode_items(dst, b'~', items),
            Frame::Attributed { attributes, frame } => {
                encode_pairs(dst, b'|', attributes);
                frame.encode(dst);
            }
            Frame::Push(items) => encode_items(dst, b'>', items),
        }
    }
}

/// Writes `+OK\r\n`.
pub fn encode_ok(dst: &mut BytesMut) {
    dst.put_slice(b"+OK\r\n");
}

/// Writes a simple string (`+text\r\n`), with any `\r` or `\n` in `text` written as a space.
pub fn encode_simple(dst: &mut BytesMut, text: &[u8]) {
    encode_sanitized_line(dst, b'+', text);
}

/// Writes an error (`-ERR message\r\n`), with any `\r` or `\n` in `message` written as a
/// space. By convention `message` starts with an upper-case code such as `ERR` or
/// `WRONGTYPE`.
pub fn encode_error(dst: &mut BytesMut, message: &[u8]) {
    encode_sanitized_line(dst, b'-', message);
}

/// Writes an integer (`:42\r\n`).
pub fn encode_integer(dst: &mut BytesMut, n: i64) {
    dst.put_u8(b':');
    dst.put_slice(itoa::Buffer::new().format(n).as_bytes());
    dst.put_slice(CRLF);
}

/// Writes a bulk string (`$5\r\nhello\r\n`).
pub fn encode_bulk(dst: &mut BytesMut, data: &[u8]) {
    encode_blob(dst, b'$', &[data]);
}

/// Writes RESP2's null bulk string (`$-1\r\n`), the null a RESP2 client expects for a
/// missing value.
pub fn encode_null_bulk(dst: &mut BytesMut) {
    dst.put_slice(b"$-1\r\n");
}

/// Writes RESP3's null (`_\r\n`).
pub fn encode_null(dst: &mut BytesMut) {
    dst.put_slice(b"_\r\n");
}

/// Writes the header of an array of `len` elements (`*3\r\n`); the caller writes the
/// elements after it.
pub fn encode_array_header(dst: &mut BytesMut, len: usize) {
    encode_header(dst, b'*', len);
}

/// Writes a RESP3 double: `inf`, `-inf` and `nan` by name, other values in the shortest form
/// that reads back to the same `f64` (exponent notation for very large or small ones).
pub fn encode_double(dst: &mut BytesMut, d: f64) {
    dst.put_u8(b',');
    // Writing into a BytesMut cannot fail, so the fmt::Result carries nothing.
    let _ = write_double(dst, d);
    dst.put_slice(CRLF);
}

/// Writes the text of a double as [`encode_double`] does, without the `,` and `\r\n`.
pub(crate) fn write_double(out: &mut impl std::fmt::Write, d: f64) -> std::fmt::Result {
    if d.is_nan() {
        out.write_str("nan")
    } else if d.is_infinite() {
        out.write_str(if d > 0.0 { "inf" } else { "-inf" })
    } else {
        let magnitude = d.abs();
        // Display never uses an exponent, which would make 1e300 a 301-digit line.
        if magnitude != 0.0 && !(1e-5..1e16).contains(&magnitude) {
            write!(out, "{d:e}")
        } else {
            write!(out, "{d}")
        }
    }
}

pub(crate) fn encode_header(dst: &mut BytesMut, ty: u8, len: usize) {
    dst.put_u8(ty);
    dst.put_slice(itoa::Buffer::new().format(len).as_bytes());
    dst.put_slice(CRLF);
}

/// Writes a length-prefixed payload made of `parts`, so a verbatim string's `fmt:text` needs
/// no temporary buffer.
fn encode_blob(dst: &mut BytesMut, ty: u8, parts: &[&[u8]]) {
    let len = parts.iter().map(|p| p.len()).sum();
    encode_header(dst, ty, len);
    dst.reserve(len + 2);
    for part in parts {
        dst.put_slice(part);
    }
    dst.put_slice(CRLF);
}

fn encode_line(dst: &mut BytesMut, ty: u8, content: &[u8]) {
    dst.reserve(content.len() + 3);
    dst.put_u8(ty);
    dst.put_slice(content);
    dst.put_slice(CRLF);
}

fn encode_sanitized_line(dst: &mut BytesMut, ty: u8, content: &[u8]) {
    if !content.iter().any(|&b| b == b'\r' || b == b'\n') {
        return encode_line(dst, ty, content);
    }
    dst.reserve(content.len() + 3);
    dst.put_u8(ty);
    for &b in content {
        dst.put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
    }
    dst.put_slice(CRLF);
}

fn encode_items(dst: &mut BytesMut, ty: u8, items: &[Frame]) {
    encode_header(dst, ty, items.len());
    for item in items {
        item.encode(dst);
    }
}

fn encode_pairs(dst: &mut BytesMut, ty: u8, pairs: &[(Frame, Frame)]) {
    encode_header(dst, ty, pairs.len());
    for (key, value) in pairs {
        key.encode(dst);
        value.encode(dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn encoded(frame: &Frame) -> Vec<u8> {
        let mut out = BytesMut::new();
        frame.encode(&mut out);
        out.to_vec()
    }

    #[test]
    fn every_kind_is_written_with_its_type_byte() {
        let cases: Vec<(Frame, &[u8])> = vec![
            (Frame::simple("OK"), b"+OK\r\n"),
            (Frame::error("ERR bad"), b"-ERR bad\r\n"),
            (Frame::Integer(i64::MIN), b":-9223372036854775808\r\n"),
            (Frame::bulk(""), b"$0\r\n\r\n"),
            (Frame::NullBulk, b"$-1\r\n"),
            (Frame::Array(vec![]), b"*0\r\n"),
            (Frame::NullArray, b"*-1\r\n"),
            (Frame::Null, b"_\r\n"),
            (Frame::Double(1.5), b",1.5\r\n"),
            (Frame::Double(-0.0), b",-0\r\n"),
            (Frame::Double(1e300), b",1e300\r\n"),
            (Frame::Double(f64::NEG_INFINITY), b",-inf\r\n"),
            (Frame::Double(f64::NAN), b",nan\r\n"),
            (Frame::Boolean(false), b"#f\r\n"),
            (Frame::BigNumber(Bytes::from("-123")), b"(-123\r\n"),
            (
                Frame::BlobError(Bytes::from("SYNTAX x")),
                b"!8\r\nSYNTAX x\r\n",
            ),
            (
                Frame::Verbatim {
                    format: *b"txt",
                    text: Bytes::from("hi"),
                },
                b"=6\r\ntxt:hi\r\n",
            ),
            (
                Frame::Map(vec![(Frame::simple("a"), Frame::Integer(1))]),
                b"%1\r\n+a\r\n:1\r\n",
            ),
            (Frame::Set(vec![Frame::Boolean(true)]), b"~1\r\n#t\r\n"),
            (
                Frame::Attributed {
                    attributes: vec![(Frame::simple("ttl"), Frame::Integer(3))],
                    frame: Box::new(Frame::bulk("v")),
                },
                b"|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n",
            ),
            (
                Frame::Push(vec![Frame::bulk("message")]),
                b">1\r\n$7\r\nmessage\r\n",
            ),
        ];
        for (frame, wire) in cases {
            assert_eq!(encoded(&frame), wire, "{frame:?}");
        }
    }

    #[test]
    fn line_breaks_in_simple_strings_and_errors_become_spaces() {
        assert_eq!(encoded(&Frame::error("ERR a\r\nb")), b"-ERR a  b\r\n");
        assert_eq!(encoded(&Frame::simple("x\ny")), b"+x y\r\n");
    }

    #[test]
    fn doubles_read_back_exactly() {
        for d in [0.1, 1.0 / 3.0, 123456.789, 1e-7, 5e-324, f64::MAX, -2.5e16] {
            let out = encoded(&Frame::Double(d));
            let text = std::str::from_utf8(&out[1..out.len() - 2]).unwrap();
            assert_eq!(
                text.parse::<f64>().unwrap().to_bits(),
                d.to_bits(),
                "{text}"
            );
        }
    }
}
