//! The `Transfer-Encoding: chunked` decoder (RFC 9112 §7.1) as a byte-level state machine.
//!
//! Framing bytes are consumed one at a time (they are few); chunk data is split off the buffer
//! in bulk. Every line is capped, bare LF is refused, and trailers are checked for size and
//! line structure, then discarded: nothing in this crate consumes trailer fields.

use bytes::{Buf, Bytes, BytesMut};

use crate::{HttpError, Limits};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkedState {
    /// Hex digits of the chunk size.
    Size,
    /// Whitespace after the size (BWS before an extension).
    SizeWs,
    /// A chunk extension, skipped up to CR.
    Extension,
    /// The LF ending the size line.
    SizeLf,
    /// Chunk data; `ChunkedDecoder::remaining` bytes to go.
    Data,
    /// The CR after chunk data.
    DataCr,
    /// The LF after chunk data.
    DataLf,
    /// Start of a trailer line, or of the final empty line.
    TrailerStart,
    /// Inside a trailer field line.
    Trailer,
    /// The LF ending a trailer line.
    TrailerLf,
    /// The LF of the final empty line.
    EndLf,
    /// The body is complete.
    Done,
}

/// Resumable chunked decoder; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct ChunkedDecoder {
    state: ChunkedState,
    /// Size of the chunk being read, then its bytes still to come.
    remaining: u64,
    /// Whether the current size line has at least one digit.
    has_digit: bool,
    /// Bytes in the current size line.
    line_len: usize,
    /// Bytes in the trailer section so far.
    trailer_len: usize,
    /// Sum of the chunk sizes announced so far.
    total: u64,
    limits: Limits,
}

impl ChunkedDecoder {
    pub(crate) fn new(limits: &Limits) -> Self {
        ChunkedDecoder {
            state: ChunkedState::Size,
            remaining: 0,
            has_digit: false,
            line_len: 0,
            trailer_len: 0,
            total: 0,
            limits: *limits,
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.state == ChunkedState::Done
    }

    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, HttpError> {
        loop {
            match self.state {
                ChunkedState::Done => return Ok(None),
                ChunkedState::Data => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let n = usize::try_from(self.remaining)
                        .unwrap_or(usize::MAX)
                        .min(buf.len());
                    self.remaining -= n as u64;
                    if self.remaining == 0 {
                        self.state = ChunkedState::DataCr; // Data -> DataCr
                    }
                    return Ok(Some(buf.split_to(n).freeze()));
                }
                _ => {
                    let Some(&byte) = buf.first() else {
                        return Ok(None);
                    };
                    buf.advance(1);
                    self.step(byte)?;
                }
            }
        }
    }

    /// Feeds one framing byte.
    fn step(&mut self, b: u8) -> Result<(), HttpError> {
        use ChunkedState::*;
        match self.state {
            Size | SizeWs | Extension => {
                self.line_len += 1;
                if self.line_len > self.limits.max_chunk_line {
                    return Err(HttpError::ChunkLineTooLong);
                }
            }
            Trailer | TrailerStart => {
                self.trailer_len += 1;
                if self.trailer_len > self.limits.max_trailer_bytes {
                    return Err(HttpError::TrailersTooLarge);
                }
            }
            _ => {}
        }
        self.state = match (self.state, b) {
            (_, b'\n')
                if matches!(
                    self.state,
                    Size | SizeWs | Extension | DataCr | TrailerStart | Trailer
                ) =>
            {
                return Err(HttpError::BareLineFeed);
            }
            (Size, _) if b.is_ascii_hexdigit() => {
                let digit = u64::from((b as char).to_digit(16).unwrap_or(0));
                self.remaining = self
                    .remaining
                    .checked_mul(16)
                    .and_then(|v| v.checked_add(digit))
                    .ok_or(HttpError::InvalidChunkSize)?;
                self.has_digit = true;
                Size
            }
            (Size, b' ' | b'\t') if self.has_digit => SizeWs,
            (Size, b';') if self.has_digit => Extension,
            (Size, b'\r') if self.has_digit => SizeLf,
            (Size, _) => return Err(HttpError::InvalidChunkSize),
            (SizeWs, b' ' | b'\t') => SizeWs,
            (SizeWs, b';') => Extension,
            (SizeWs, b'\r') => SizeLf,
            (SizeWs, _) => return Err(HttpError::InvalidChunkSize),
            (Extension, b'\r') => SizeLf,
            (Extension, b'\t') => Extension,
            (Extension, 0x00..=0x1f | 0x7f) => return Err(HttpError::InvalidChunkFraming),
            (Extension, _) => Extension,
            (SizeLf, b'\n') => self.end_size_line()?,
            (DataCr, b'\r') => DataLf,
            (DataLf, b'\n') => {
                self.has_digit = false;
                self.line_len = 0;
                Size
            }
            (TrailerStart, b'\r') => EndLf,
            (Trailer, b'\r') => TrailerLf,
            (TrailerStart | Trailer, 0x00) => return Err(HttpError::InvalidChunkFraming),
            (TrailerStart | Trailer, _) => Trailer,
            (TrailerLf, b'\n') => TrailerStart,
            (EndLf, b'\n') => Done,
            _ => return Err(HttpError::InvalidChunkFraming),
        };
        Ok(())
    }

    /// SizeLf -> Data, or -> TrailerStart after the last chunk.
    fn end_size_line(&mut self) -> Result<ChunkedState, HttpError> {
        if self.remaining == 0 {
            return Ok(ChunkedState::TrailerStart);
        }
        self.total = self
            .total
            .checked_add(self.remaining)
            .ok_or(HttpError::BodyTooLarge)?;
        if self.total > self.limits.max_body {
            return Err(HttpError::BodyTooLarge);
        }
        Ok(ChunkedState::Data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8], limits: &Limits) -> Result<(Vec<u8>, bool, usize), HttpError> {
        let mut dec = ChunkedDecoder::new(limits);
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(b) = dec.decode(&mut buf)? {
            out.extend_from_slice(&b);
        }
        Ok((out, dec.is_done(), buf.len()))
    }

    fn ok(input: &[u8]) -> Vec<u8> {
        let (out, done, _) = decode_all(input, &Limits::default()).unwrap();
        assert!(
            done,
            "{:?} should be complete",
            String::from_utf8_lossy(input)
        );
        out
    }

    fn err(input: &[u8]) -> HttpError {
        decode_all(input, &Limits::default()).unwrap_err()
    }

    #[test]
    fn decodes_chunks_with_extensions_and_trailers() {
        assert_eq!(ok(b"3\r\nabc\r\n2;name=val;x\r\nde\r\n0\r\n\r\n"), b"abcde");
        assert_eq!(
            ok(b"A\r\n0123456789\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\n"),
            b"0123456789"
        );
        assert_eq!(ok(b"3 ;ext\r\nabc\r\n0\r\n\r\n"), b"abc");
        assert_eq!(ok(b"0000\r\n\r\n"), b"");
    }

    #[test]
    fn bare_lf_anywhere_in_the_framing_is_rejected() {
        assert_eq!(err(b"3\nabc\r\n0\r\n\r\n"), HttpError::BareLineFeed);
        assert_eq!(err(b"3\r\nabc\n0\r\n\r\n"), HttpError::BareLineFeed);
        assert_eq!(err(b"3;e\nabc\r\n"), HttpError::BareLineFeed);
        assert_eq!(err(b"0\r\nX: 1\n\r\n"), HttpError::BareLineFeed);
        assert_eq!(err(b"0\r\n\n"), HttpError::BareLineFeed);
    }

    #[test]
    fn invalid_and_overflowing_sizes_are_rejected() {
        assert_eq!(err(b"\r\n"), HttpError::InvalidChunkSize);
        assert_eq!(err(b"g\r\n"), HttpError::InvalidChunkSize);
        assert_eq!(err(b"-1\r\n"), HttpError::InvalidChunkSize);
        assert_eq!(err(b"0x5\r\n"), HttpError::InvalidChunkSize);
        assert_eq!(err(b"10000000000000000\r\n"), HttpError::InvalidChunkSize);
        assert_eq!(err(b" 5\r\n"), HttpError::InvalidChunkSize);
        assert_eq!(err(b"5 5\r\n"), HttpError::InvalidChunkSize);
    }

    #[test]
    fn data_must_be_followed_by_crlf() {
        assert_eq!(err(b"3\r\nabcd\r\n"), HttpError::InvalidChunkFraming);
        assert_eq!(err(b"3\r\nabc\rX"), HttpError::InvalidChunkFraming);
        assert_eq!(err(b"3\rX"), HttpError::InvalidChunkFraming);
    }

    #[test]
    fn control_bytes_in_extensions_are_rejected() {
        assert_eq!(err(b"3;\x00\r\n"), HttpError::InvalidChunkFraming);
    }

    #[test]
    fn size_lines_trailers_and_totals_are_bounded() {
        let limits = Limits {
            max_chunk_line: 8,
            max_trailer_bytes: 8,
            max_body: 10,
            ..Limits::default()
        };
        assert_eq!(
            decode_all(b"3;aaaaaaaa\r\n", &limits).unwrap_err(),
            HttpError::ChunkLineTooLong
        );
        assert_eq!(
            decode_all(b"000000000\r\n", &limits).unwrap_err(),
            HttpError::ChunkLineTooLong
        );
        assert_eq!(
            decode_all(b"0\r\nX: 123456\r\n\r\n", &limits).unwrap_err(),
            HttpError::TrailersTooLarge
        );
        assert_eq!(
            decode_all(b"b\r\n", &limits).unwrap_err(),
            HttpError::BodyTooLarge
        );
        assert_eq!(
            decode_all(b"5\r\n12345\r\n6\r\n", &limits).unwrap_err(),
            HttpError::BodyTooLarge
        );
        let (body, done, _) =
            decode_all(b"5\r\n12345\r\n5\r\n12345\r\n0\r\n\r\n", &limits).unwrap();
        assert!(done);
        assert_eq!(body.len(), 10);
    }

    #[test]
    fn stops_after_the_last_chunk_and_leaves_the_next_message() {
        let (body, done, left) = decode_all(b"1\r\na\r\n0\r\n\r\nGET", &Limits::default()).unwrap();
        assert_eq!((body, done, left), (b"a".to_vec(), true, 3));
    }
}
