//! [`Frame`]: one RESP2 or RESP3 value, as it travels on the wire.
//!
//! A frame owns its payloads as [`Bytes`] slices of the read buffer, so decoding a 1 MiB bulk
//! string copies nothing. The variant says which type byte it is written with, so a frame
//! round-trips through [`Frame::encode`] and [`decode`](crate::decode) unchanged; a server that
//! speaks RESP2 to a client must itself avoid the RESP3-only variants.
//!
//! # Examples
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use quasar_redis::{decode, Frame, Limits};
//!
//! let frame = Frame::Map(vec![(Frame::simple("role"), Frame::bulk("master"))]);
//! let mut buf = BytesMut::new();
//! frame.encode(&mut buf);
//! assert_eq!(&buf[..], b"%1\r\n+role\r\n$6\r\nmaster\r\n");
//! assert_eq!(decode(&mut buf, &Limits::default()), Ok(Some(frame)));
//! ```

use bytes::Bytes;

/// One RESP value.
///
/// RESP2 has simple strings, errors, integers, bulk strings and arrays (each of the last two
/// with a null form); RESP3 adds the rest.
///
/// # Attributes
///
/// A RESP3 attribute (`|`) is metadata about the frame that follows it, and does not count as
/// an element of an enclosing aggregate. The decoder therefore attaches it to that frame:
/// `|1\r\n+key\r\n+val\r\n:5\r\n` decodes to [`Frame::Attributed`] wrapping `Integer(5)`, and
/// encoding the wrapper writes the attribute back in front of the frame. Use
/// [`Frame::strip_attributes`] to ignore them.
///
/// # Equality
///
/// `PartialEq` compares doubles by bit pattern, with every NaN equal to every other NaN, so a
/// decoded `,nan\r\n` equals [`Frame::Double(f64::NAN)`](Frame::Double) and `0.0` differs from
/// `-0.0`.
#[derive(Debug, Clone)]
pub enum Frame {
    /// `+OK\r\n`: a line of text without `\r` or `\n`.
    Simple(Bytes),
    /// `-ERR message\r\n`: an error line; by convention the first word is the error code.
    Error(Bytes),
    /// `:42\r\n`: a signed 64-bit integer.
    Integer(i64),
    /// `$5\r\nhello\r\n`: binary-safe bytes.
    Bulk(Bytes),
    /// `$-1\r\n`: RESP2's null (a missing key, for example).
    NullBulk,
    /// `*2\r\n...`: an ordered list of frames.
    Array(Vec<Frame>),
    /// `*-1\r\n`: RESP2's null array (a timed-out `BLPOP`, for example).
    NullArray,
    /// `_\r\n`: RESP3's single null.
    Null,
    /// `,3.14\r\n`, `,inf\r\n`, `,-inf\r\n`, `,nan\r\n`: a RESP3 double.
    Double(f64),
    /// `#t\r\n` or `#f\r\n`: a RESP3 boolean.
    Boolean(bool),
    /// `(3492890328409238509324850943850943825024385\r\n`: a RESP3 big number, kept as its
    /// decimal text (an optional `-` or `+` and at least one digit).
    BigNumber(Bytes),
    /// `!21\r\nSYNTAX invalid syntax\r\n`: a RESP3 binary-safe error.
    BlobError(Bytes),
    /// `=15\r\ntxt:Some string\r\n`: a RESP3 verbatim string with its 3-byte format (`txt`,
    /// `mkd`).
    Verbatim {
        /// The three bytes before the `:`.
        format: [u8; 3],
        /// The bytes after the `:`.
        text: Bytes,
    },
    /// `%1\r\n+key\r\n:1\r\n`: a RESP3 map, as its key/value pairs in wire order.
    Map(Vec<(Frame, Frame)>),
    /// `~2\r\n...`: a RESP3 set, in wire order (duplicates are kept).
    Set(Vec<Frame>),
    /// `|1\r\n+key\r\n+val\r\n<frame>`: a RESP3 attribute and the frame it describes.
    Attributed {
        /// The attribute's key/value pairs, in wire order.
        attributes: Vec<(Frame, Frame)>,
        /// The frame that followed the attribute.
        frame: Box<Frame>,
    },
    /// `>2\r\n...`: a RESP3 out-of-band push (pub/sub message, invalidation).
    Push(Vec<Frame>),
}

impl Frame {
    /// A [`Frame::Simple`] from anything that converts to [`Bytes`].
    pub fn simple(s: impl Into<Bytes>) -> Frame {
        Frame::Simple(s.into())
    }

    /// A [`Frame::Error`] from anything that converts to [`Bytes`].
    pub fn error(s: impl Into<Bytes>) -> Frame {
        Frame::Error(s.into())
    }

    /// A [`Frame::Bulk`] from anything that converts to [`Bytes`].
    pub fn bulk(data: impl Into<Bytes>) -> Frame {
        Frame::Bulk(data.into())
    }

    /// Whether this is an error reply ([`Frame::Error`] or [`Frame::BlobError`]), looking
    /// through attributes.
    pub fn is_error(&self) -> bool {
        match self {
            Frame::Error(_) | Frame::BlobError(_) => true,
            Frame::Attributed { frame, .. } => frame.is_error(),
            _ => false,
        }
    }

    /// Whether this is a null of any protocol version ([`Frame::Null`], [`Frame::NullBulk`]
    /// or [`Frame::NullArray`]), looking through attributes.
    pub fn is_null(&self) -> bool {
        match self {
            Frame::Null | Frame::NullBulk | Frame::NullArray => true,
            Frame::Attributed { frame, .. } => frame.is_null(),
            _ => false,
        }
    }

    /// The frame without its attributes, at the top level only.
    pub fn strip_attributes(self) -> Frame {
        let mut frame = self;
        while let Frame::Attributed { frame: inner, .. } = frame {
            frame = *inner;
        }
        frame
    }
}

// ===== impl PartialEq =====

impl PartialEq for Frame {
    fn eq(&self, other: &Frame) -> bool {
        use Frame::*;
        match (self, other) {
            (Simple(a), Simple(b))
            | (Error(a), Error(b))
            | (Bulk(a), Bulk(b))
            | (BigNumber(a), BigNumber(b))
            | (BlobError(a), BlobError(b)) => a == b,
            (Integer(a), Integer(b)) => a == b,
            (NullBulk, NullBulk) | (NullArray, NullArray) | (Null, Null) => true,
            (Array(a), Array(b)) | (Set(a), Set(b)) | (Push(a), Push(b)) => a == b,
            // Bitwise so that a round trip is checked exactly, NaN-tolerant so that it can be.
            (Double(a), Double(b)) => a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
            (Boolean(a), Boolean(b)) => a == b,
            (
                Verbatim {
                    format: fa,
                    text: ta,
                },
                Verbatim {
                    format: fb,
                    text: tb,
                },
            ) => fa == fb && ta == tb,
            (Map(a), Map(b)) => a == b,
            (
                Attributed {
                    attributes: aa,
                    frame: fa,
                },
                Attributed {
                    attributes: ab,
                    frame: fb,
                },
            ) => aa == ab && fa == fb,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_at_most_40_bytes() {
        // Limits::max_frame_len's docs bound memory by size_of::<Frame>() / 3 per wire byte.
        assert!(
            std::mem::size_of::<Frame>() <= 40,
            "{}",
            std::mem::size_of::<Frame>()
        );
    }

    #[test]
    fn nan_doubles_are_equal_and_signed_zeros_are_not() {
        assert_eq!(Frame::Double(f64::NAN), Frame::Double(-f64::NAN));
        assert_ne!(Frame::Double(0.0), Frame::Double(-0.0));
        assert_ne!(Frame::Double(1.0), Frame::Integer(1));
    }

    #[test]
    fn predicates_look_through_attributes() {
        let f = Frame::Attributed {
            attributes: vec![],
            frame: Box::new(Frame::Attributed {
                attributes: vec![(Frame::Null, Frame::Null)],
                frame: Box::new(Frame::BlobError(Bytes::from_static(b"ERR x"))),
            }),
        };
        assert!(f.is_error());
        assert!(!f.is_null());
        assert_eq!(
            f.strip_attributes(),
            Frame::BlobError(Bytes::from_static(b"ERR x"))
        );
        assert!(Frame::NullArray.is_null());
        assert!(!Frame::Bulk(Bytes::new()).is_null());
    }
}
