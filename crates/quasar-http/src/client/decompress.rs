//! Response bodies in `gzip` or `deflate`, decoded as they arrive, under a decoded-size cap.
//!
//! [`HttpClient`](crate::client::HttpClient) sends `Accept-Encoding: gzip, deflate` unless the
//! caller set an `Accept-Encoding` of its own or turned decompression off
//! ([`HttpClientBuilder::decompress`](crate::client::HttpClientBuilder::decompress)), and
//! decodes a response whose `Content-Encoding` is `gzip`, `x-gzip` or `deflate` (zlib-wrapped
//! as RFC 9110 says, or raw deflate as some servers send it; the first two bytes tell). Body
//! bytes go through the decoder as they come off the socket, and the decoded output is
//! checked against [`Limits::max_body`](crate::Limits::max_body) as it grows: a small
//! compressed body that inflates past the limit (a "zip bomb") fails with
//! [`HttpError::BodyTooLarge`](crate::HttpError::BodyTooLarge) once the limit plus one decoder buffer has been produced, never
//! after inflating it all. The decoded response loses its `Content-Encoding` and
//! `Content-Length` headers (they described the bytes on the wire). Other codings, and
//! stacked ones (`gzip, br`), are returned as they are. `br` is not offered: it would add a
//! large dependency for little gain on the API servers this client talks to.

use std::io::{self, Write};

use bytes::{Bytes, BytesMut};
use flate2::write::{DeflateDecoder, GzDecoder, ZlibDecoder};
use http::header::CONTENT_ENCODING;
use http::HeaderMap;

/// The `Accept-Encoding` the client sends.
pub(crate) const ACCEPT_ENCODING: &str = "gzip, deflate";

/// A streaming decoder for one response body.
pub(crate) struct Decompressor {
    state: State,
    /// Whether any body byte came: a body-less answer (HEAD, 204, 304) is left as it is.
    fed: bool,
}

enum State {
    Gzip(GzDecoder<Capped>),
    Zlib(ZlibDecoder<Capped>),
    Raw(DeflateDecoder<Capped>),
    /// `deflate` before its first two bytes: zlib header or raw stream?
    Sniffing(Vec<u8>, Capped),
    Done,
}

/// The decoded bytes so far, refusing to grow past `max`.
struct Capped {
    out: BytesMut,
    total: u64,
    max: u64,
}

/// Why a body could not be decoded.
#[derive(Debug)]
pub(crate) enum DecodeError {
    /// The decoded body passed the cap.
    TooLarge,
    /// The bytes are not valid gzip/deflate.
    Corrupt(String),
}

impl Decompressor {
    /// A decoder for a response with these headers, if it is encoded with one coding this
    /// client decodes; `max` caps the decoded size.
    pub(crate) fn for_headers(headers: &HeaderMap, max: u64) -> Option<Decompressor> {
        let mut values = headers.get_all(CONTENT_ENCODING).iter();
        let value = values.next()?;
        if values.next().is_some() {
            return None;
        }
        let coding = value.to_str().ok()?.trim();
        let out = Capped {
            out: BytesMut::new(),
            total: 0,
            max,
        };
        let state = if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip")
        {
            State::Gzip(GzDecoder::new(out))
        } else if coding.eq_ignore_ascii_case("deflate") {
            State::Sniffing(Vec::with_capacity(2), out)
        } else {
            return None;
        };
        Some(Decompressor { state, fed: false })
    }

    /// Feeds compressed bytes; returns what they decoded to so far.
    pub(crate) fn push(&mut self, mut data: &[u8]) -> Result<Bytes, DecodeError> {
        self.fed |= !data.is_empty();
        if let State::Sniffing(head, _) = &mut self.state {
            let take = (2 - head.len()).min(data.len());
            head.extend_from_slice(&data[..take]);
            data = &data[take..];
            if head.len() < 2 {
                return Ok(Bytes::new());
            }
            let State::Sniffing(head, out) = std::mem::replace(&mut self.state, State::Done) else {
                unreachable!("matched above")
            };
            let zlib =
                head[0] & 0x0f == 8 && (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 == 0;
            self.state = if zlib {
                State::Zlib(ZlibDecoder::new(out))
            } else {
                State::Raw(DeflateDecoder::new(out))
            };
            self.write(&head)?;
        }
        self.write(data)?;
        Ok(self.take())
    }

    /// Whether any body byte went through the decoder.
    pub(crate) fn was_fed(&self) -> bool {
        self.fed
    }

    /// The end of the body: flushes the decoder and checks the stream was complete. A body
    /// with no byte at all decodes to nothing.
    pub(crate) fn finish(&mut self) -> Result<Bytes, DecodeError> {
        if !self.fed {
            return Ok(Bytes::new());
        }
        let result = match &mut self.state {
            State::Gzip(d) => d.try_finish(),
            State::Zlib(d) => d.try_finish(),
            State::Raw(d) => d.try_finish(),
            // Fewer than two bytes of deflate: nothing to decode, or a truncated stream.
            State::Sniffing(head, _) if head.is_empty() => Ok(()),
            State::Sniffing(..) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "truncated deflate stream",
            )),
            State::Done => Ok(()),
        };
        result.map_err(classify)?;
        Ok(self.take())
    }

    fn write(&mut self, data: &[u8]) -> Result<(), DecodeError> {
        let result = match &mut self.state {
            State::Gzip(d) => d.write_all(data),
            State::Zlib(d) => d.write_all(data),
            State::Raw(d) => d.write_all(data),
            State::Sniffing(..) | State::Done => Ok(()),
        };
        result.map_err(classify)
    }

    fn take(&mut self) -> Bytes {
        let out = match &mut self.state {
            State::Gzip(d) => d.get_mut(),
            State::Zlib(d) => d.get_mut(),
            State::Raw(d) => d.get_mut(),
            State::Sniffing(_, out) => out,
            State::Done => return Bytes::new(),
        };
        out.out.split().freeze()
    }
}

fn classify(e: io::Error) -> DecodeError {
    if e.get_ref().is_some_and(|inner| inner.is::<TooLarge>()) {
        DecodeError::TooLarge
    } else {
        DecodeError::Corrupt(e.to_string())
    }
}

/// The marker error `Capped` fails with.
#[derive(Debug)]
struct TooLarge;

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("decoded body over the limit")
    }
}

impl std::error::Error for TooLarge {}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.total + buf.len() as u64 > self.max {
            return Err(io::Error::other(TooLarge));
        }
        self.total += buf.len() as u64;
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use http::HeaderValue;

    fn headers(coding: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_ENCODING, HeaderValue::from_str(coding).unwrap());
        h
    }

    fn decode_in_pieces(coding: &str, wire: &[u8], max: u64) -> Result<Vec<u8>, DecodeError> {
        let mut d = Decompressor::for_headers(&headers(coding), max).unwrap();
        let mut out = Vec::new();
        for piece in wire.chunks(1) {
            out.extend_from_slice(&d.push(piece)?);
        }
        out.extend_from_slice(&d.finish()?);
        Ok(out)
    }

    #[test]
    fn gzip_zlib_and_raw_deflate_decode_byte_by_byte() {
        let text = b"hello hello hello hello".repeat(50);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&text).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(decode_in_pieces("gzip", &gz, 1 << 20).unwrap(), text);
        assert_eq!(decode_in_pieces("X-Gzip", &gz, 1 << 20).unwrap(), text);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(&text).unwrap();
        assert_eq!(
            decode_in_pieces("deflate", &z.finish().unwrap(), 1 << 20).unwrap(),
            text
        );
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), Compression::default());
        raw.write_all(&text).unwrap();
        assert_eq!(
            decode_in_pieces("deflate", &raw.finish().unwrap(), 1 << 20).unwrap(),
            text
        );
    }

    #[test]
    fn bombs_truncation_and_garbage_are_errors() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), Compression::best());
        gz.write_all(&vec![0u8; 4 << 20]).unwrap();
        let bomb = gz.finish().unwrap();
        assert!(matches!(
            decode_in_pieces("gzip", &bomb, 1 << 20),
            Err(DecodeError::TooLarge)
        ));
        assert!(matches!(
            decode_in_pieces("gzip", &bomb[..bomb.len() / 2], 8 << 20),
            Err(DecodeError::Corrupt(_))
        ));
        assert!(matches!(
            decode_in_pieces("gzip", b"not gzip at all", 1 << 20),
            Err(DecodeError::Corrupt(_))
        ));
    }

    #[test]
    fn an_empty_body_decodes_to_nothing() {
        let mut d = Decompressor::for_headers(&headers("gzip"), 10).unwrap();
        assert!(d.finish().unwrap().is_empty());
        assert!(!d.was_fed());
    }

    #[test]
    fn only_single_known_codings_are_decoded() {
        assert!(Decompressor::for_headers(&HeaderMap::new(), 1).is_none());
        assert!(Decompressor::for_headers(&headers("br"), 1).is_none());
        assert!(Decompressor::for_headers(&headers("gzip, br"), 1).is_none());
        let mut h = headers("gzip");
        h.append(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        assert!(Decompressor::for_headers(&h, 1).is_none());
    }
}
