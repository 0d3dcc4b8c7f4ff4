//! Resumable body decoders: fixed length, chunked, and read-until-close.
//!
//! A [`BodyDecoder`] is built by [`request_body`](crate::request_body) /
//! [`response_body`](crate::response_body) (or by the request parser). Each call to
//! [`decode`](BodyDecoder::decode) consumes framing from the buffer and hands back the next
//! slice of body data as zero-copy [`Bytes`] split off the read buffer. The total is capped by
//! [`Limits::max_body`].
//!
//! # Examples
//!
//! ```
//! use bytes::BytesMut;
//! use quasar_http::{BodyDecoder, Limits};
//!
//! let mut dec = BodyDecoder::chunked(&Limits::default());
//! let mut buf = BytesMut::from(&b"5\r\nhello\r\n0\r\n\r\nNEXT"[..]);
//! let mut body = Vec::new();
//! while let Some(data) = dec.decode(&mut buf)? {
//!     body.extend_from_slice(&data);
//! }
//! assert!(dec.is_eof());
//! assert_eq!(body, b"hello");
//! assert_eq!(&buf[..], b"NEXT"); // the next message is left in place
//! # Ok::<(), quasar_http::HttpError>(())
//! ```

use bytes::{Bytes, BytesMut};

use crate::chunked::ChunkedDecoder;
use crate::{HttpError, Limits};

/// Decodes one message body out of a read buffer.
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// `Content-Length`: bytes still to come.
    Length(u64),
    Chunked(ChunkedDecoder),
    /// Close-delimited response: bytes seen so far, and whether the peer has closed.
    UntilEof {
        received: u64,
        max: u64,
        closed: bool,
    },
}

impl BodyDecoder {
    /// A body of exactly `len` bytes. The caller checks `len` against the limit
    /// ([`request_body`](crate::request_body) does).
    pub fn length(len: u64, _limits: &Limits) -> Self {
        BodyDecoder {
            kind: Kind::Length(len),
        }
    }

    /// A `Transfer-Encoding: chunked` body.
    pub fn chunked(limits: &Limits) -> Self {
        BodyDecoder {
            kind: Kind::Chunked(ChunkedDecoder::new(limits)),
        }
    }

    /// A response body that ends when the peer closes the connection.
    pub fn until_eof(limits: &Limits) -> Self {
        BodyDecoder {
            kind: Kind::UntilEof {
                received: 0,
                max: limits.max_body,
                closed: false,
            },
        }
    }

    /// The next slice of body data, or `None`.
    ///
    /// `None` means "need more bytes" unless [`is_eof`](Self::is_eof) is now true. Data slices
    /// are never empty. Bytes past the body's end stay in `buf`.
    ///
    /// # Errors
    ///
    /// Chunk framing errors ([`HttpError::InvalidChunkSize`], [`HttpError::BareLineFeed`],
    /// [`HttpError::InvalidChunkFraming`], [`HttpError::ChunkLineTooLong`],
    /// [`HttpError::TrailersTooLarge`]) and [`HttpError::BodyTooLarge`]. The decoder must not be
    /// used after an error.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, HttpError> {
        match &mut self.kind {
            Kind::Length(remaining) => {
                if *remaining == 0 || buf.is_empty() {
                    return Ok(None);
                }
                let n = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(buf.len());
                *remaining -= n as u64;
                Ok(Some(buf.split_to(n).freeze()))
            }
            Kind::Chunked(chunked) => chunked.decode(buf),
            Kind::UntilEof {
                received,
                max,
                closed,
            } => {
                if *closed || buf.is_empty() {
                    return Ok(None);
                }
                *received = received.saturating_add(buf.len() as u64);
                if *received > *max {
                    return Err(HttpError::BodyTooLarge);
                }
                Ok(Some(buf.split().freeze()))
            }
        }
    }

    /// Whether the whole body has been decoded.
    pub fn is_eof(&self) -> bool {
        match &self.kind {
            Kind::Length(remaining) => *remaining == 0,
            Kind::Chunked(chunked) => chunked.is_done(),
            Kind::UntilEof { closed, .. } => *closed,
        }
    }

    /// Whether this body is chunked.
    pub fn is_chunked(&self) -> bool {
        matches!(self.kind, Kind::Chunked(_))
    }

    /// Whether this body ends only when the peer closes.
    pub fn is_close_delimited(&self) -> bool {
        matches!(self.kind, Kind::UntilEof { .. })
    }

    /// Tells the decoder the peer closed its side; call after decoding what was buffered.
    ///
    /// # Errors
    ///
    /// [`HttpError::IncompleteBody`] when the body was truncated: a length or chunked body
    /// that had not reached its end. A close-delimited body ends here successfully.
    pub fn finish_on_eof(&mut self) -> Result<(), HttpError> {
        if let Kind::UntilEof { closed, .. } = &mut self.kind {
            *closed = true;
        }
        if self.is_eof() {
            Ok(())
        } else {
            Err(HttpError::IncompleteBody)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(dec: &mut BodyDecoder, buf: &mut BytesMut) -> Result<Vec<u8>, HttpError> {
        let mut out = Vec::new();
        while let Some(b) = dec.decode(buf)? {
            assert!(!b.is_empty(), "data slices are never empty");
            out.extend_from_slice(&b);
        }
        Ok(out)
    }

    #[test]
    fn length_body_stops_at_its_length_and_leaves_the_rest() {
        let mut dec = BodyDecoder::length(3, &Limits::default());
        let mut buf = BytesMut::from(&b"abcdef"[..]);
        assert_eq!(drain(&mut dec, &mut buf).unwrap(), b"abc");
        assert!(dec.is_eof());
        assert_eq!(&buf[..], b"def");
    }

    #[test]
    fn truncated_length_body_is_an_error_on_eof() {
        let mut dec = BodyDecoder::length(10, &Limits::default());
        let mut buf = BytesMut::from(&b"abc"[..]);
        assert_eq!(drain(&mut dec, &mut buf).unwrap(), b"abc");
        assert!(!dec.is_eof());
        assert_eq!(dec.finish_on_eof(), Err(HttpError::IncompleteBody));
    }

    #[test]
    fn zero_length_body_is_eof_at_once() {
        let mut dec = BodyDecoder::length(0, &Limits::default());
        assert!(dec.is_eof());
        assert_eq!(dec.finish_on_eof(), Ok(()));
    }

    #[test]
    fn close_delimited_body_ends_on_eof_and_respects_the_limit() {
        let limits = Limits {
            max_body: 4,
            ..Limits::default()
        };
        let mut dec = BodyDecoder::until_eof(&limits);
        let mut buf = BytesMut::from(&b"abcd"[..]);
        assert_eq!(drain(&mut dec, &mut buf).unwrap(), b"abcd");
        assert!(!dec.is_eof());
        buf.extend_from_slice(b"e");
        assert_eq!(dec.decode(&mut buf), Err(HttpError::BodyTooLarge));

        let mut dec = BodyDecoder::until_eof(&limits);
        let mut buf = BytesMut::from(&b"ab"[..]);
        drain(&mut dec, &mut buf).unwrap();
        assert_eq!(dec.finish_on_eof(), Ok(()));
        assert!(dec.is_eof());
    }
}
