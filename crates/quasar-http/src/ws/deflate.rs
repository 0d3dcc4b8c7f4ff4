//! permessage-deflate (RFC 7692) compression and decompression of message payloads.
//!
//! A [`Deflater`] compresses one message at a time with a sync flush and strips the empty
//! block tail `0x00 0x00 0xff 0xff` the flush ends with (RFC 7692 §7.2.1); an [`Inflater`]
//! appends the tail back at the end of each message (§7.2.2) and decompresses into the
//! message buffer, never past the caller's limit, so a deflate bomb ends in
//! [`WsError::MessageTooLarge`] (close 1009) after at most `limit + 64 KiB` bytes of output.
//! With context takeover the LZ77 window carries over from message to message; with
//! `no_context_takeover` each message starts from an empty window.
//!
//! Window sizes: the deflate backends (zlib and zlib-rs) cannot compress raw deflate with an
//! 8-bit (256-byte) window, so a [`Deflater`] limited to 8 bits sends every message
//! uncompressed, which RFC 7692 allows (RSV1 is per message). An [`Inflater`] always
//! decompresses with a 15-bit window: a larger window decodes any stream made with a smaller
//! one, and peers that round 8 up to 9 (as zlib does) still decode.
//!
//! # Examples
//!
//! ```
//! use bytes::BytesMut;
//! use quasar_http::ws::{Deflater, Inflater};
//!
//! let mut deflater = Deflater::new(6, 15, false);
//! let mut inflater = Inflater::new(false);
//! let text = b"Hello, Hello, Hello, Hello!";
//! let wire = deflater.compress(text).expect("a 15-bit window compresses");
//! assert!(wire.len() < text.len());
//! let mut out = BytesMut::new();
//! inflater.inflate(&wire, &mut out, 1024)?;
//! inflater.finish_message(&mut out, 1024)?;
//! assert_eq!(&out[..], text);
//! # Ok::<(), quasar_http::ws::WsError>(())
//! ```

use std::fmt;

use bytes::{Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::ws::WsError;

/// The empty stored block a sync flush ends with; stripped by the sender, restored by the
/// receiver.
pub const DEFLATE_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// Output grown per decompression step: the most a step can overshoot the limit by.
const INFLATE_STEP: usize = 64 * 1024;
/// Smallest window the backend compresses with.
const MIN_COMPRESS_BITS: u8 = 9;
/// Largest window (32 KiB).
const MAX_BITS: u8 = 15;

/// Compresses outgoing message payloads; see the module docs.
pub struct Deflater {
    /// `None` for an 8-bit window: messages go out uncompressed.
    compress: Option<Compress>,
    no_context_takeover: bool,
}

impl Deflater {
    /// A compressor at `level` (0-9) with a window of `window_bits` (8-15; clamped), resetting
    /// its window after every message when `no_context_takeover`.
    pub fn new(level: u32, window_bits: u8, no_context_takeover: bool) -> Self {
        let bits = window_bits.min(MAX_BITS);
        let compress = (bits >= MIN_COMPRESS_BITS)
            .then(|| Compress::new_with_window_bits(Compression::new(level.min(9)), false, bits));
        Deflater {
            compress,
            no_context_takeover,
        }
    }

    /// The compressed form of one whole message payload, tail stripped; `None` means "send
    /// this message uncompressed" (8-bit window, or the backend failed and was reset).
    pub fn compress(&mut self, payload: &[u8]) -> Option<Bytes> {
        let compress = self.compress.as_mut()?;
        let start = compress.total_in();
        let mut out = Vec::with_capacity(payload.len() / 2 + 64);
        loop {
            let consumed = usize::try_from(compress.total_in() - start).unwrap_or(usize::MAX);
            let rest = payload.get(consumed..).unwrap_or_default();
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(1024));
            }
            let spare_before = out.capacity() - out.len();
            let before = out.len();
            if compress
                .compress_vec(rest, &mut out, FlushCompress::Sync)
                .is_err()
            {
                compress.reset();
                return None;
            }
            let consumed = usize::try_from(compress.total_in() - start).unwrap_or(usize::MAX);
            // zlib's rule: the flush is complete once a call leaves output space unused.
            if consumed >= payload.len() && out.len() - before < spare_before {
                break;
            }
        }
        if !out.ends_with(&DEFLATE_TAIL) {
            // A sync flush always ends with the empty block; without it the stream is not
            // one we can frame, and its context is no longer the peer's.
            compress.reset();
            return None;
        }
        out.truncate(out.len() - DEFLATE_TAIL.len());
        if self.no_context_takeover {
            compress.reset();
        }
        Some(Bytes::from(out))
    }
}

impl Deflater {
    /// The payload to put on the wire for a data message and the RSV bits of its first
    /// frame: compressed with RSV1 (`0x40`), or as given with none.
    pub fn encode_payload(&mut self, payload: &Bytes) -> (Bytes, u8) {
        match self.compress(payload) {
            Some(wire) => (wire, 0x40),
            None => (payload.clone(), 0),
        }
    }
}

impl fmt::Debug for Deflater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deflater")
            .field("compresses", &self.compress.is_some())
            .field("no_context_takeover", &self.no_context_takeover)
            .finish()
    }
}

/// Decompresses incoming compressed messages with a size limit; see the module docs.
pub struct Inflater {
    decompress: Decompress,
    no_context_takeover: bool,
}

impl Inflater {
    /// A decompressor that forgets its window after every message when the peer announced
    /// `no_context_takeover` for its side (it may still rely on it otherwise).
    pub fn new(no_context_takeover: bool) -> Self {
        Inflater {
            decompress: Decompress::new_with_window_bits(false, MAX_BITS),
            no_context_takeover,
        }
    }

    /// Decompresses `input` (part of a compressed message) onto the end of `out`.
    ///
    /// # Errors
    ///
    /// [`WsError::MessageTooLarge`] once `out` would grow past `limit` bytes;
    /// [`WsError::InvalidCompressedData`] for a stream that is not valid deflate.
    pub fn inflate(
        &mut self,
        input: &[u8],
        out: &mut BytesMut,
        limit: usize,
    ) -> Result<(), WsError> {
        let mut consumed = 0usize;
        loop {
            let len = out.len();
            // One byte past the limit is enough to tell "too large" from "exactly the limit".
            let room = limit
                .saturating_add(1)
                .saturating_sub(len)
                .min(INFLATE_STEP);
            if room == 0 {
                return Err(WsError::MessageTooLarge);
            }
            out.resize(len + room, 0);
            let (in0, out0) = (self.decompress.total_in(), self.decompress.total_out());
            let rest = input.get(consumed..).unwrap_or_default();
            let status = self
                .decompress
                .decompress(rest, &mut out[len..], FlushDecompress::Sync);
            let produced = usize::try_from(self.decompress.total_out() - out0).unwrap_or(room);
            let took = usize::try_from(self.decompress.total_in() - in0).unwrap_or(rest.len());
            consumed += took;
            out.truncate(len + produced.min(room));
            if out.len() > limit {
                return Err(WsError::MessageTooLarge);
            }
            match status {
                Err(_) => return Err(WsError::InvalidCompressedData),
                // A final block (BFINAL) ends the deflate stream; what follows starts anew.
                Ok(Status::StreamEnd) => self.decompress.reset(false),
                Ok(Status::Ok | Status::BufError) => {}
            }
            let done_input = consumed >= input.len();
            if done_input && produced < room {
                return Ok(());
            }
            if produced == 0 && took == 0 && !matches!(status, Ok(Status::StreamEnd)) {
                // No progress with output space available: the input is exhausted.
                return Ok(());
            }
        }
    }

    /// Ends a compressed message: feeds the stripped tail, and forgets the window when the
    /// peer does not take its context over.
    ///
    /// # Errors
    ///
    /// As [`inflate`](Self::inflate).
    pub fn finish_message(&mut self, out: &mut BytesMut, limit: usize) -> Result<(), WsError> {
        let result = self.inflate(&DEFLATE_TAIL, out, limit);
        if self.no_context_takeover {
            self.decompress.reset(false);
        }
        result
    }
}

impl fmt::Debug for Inflater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inflater")
            .field("no_context_takeover", &self.no_context_takeover)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inflate_all(inflater: &mut Inflater, wire: &[u8], limit: usize) -> Result<Vec<u8>, WsError> {
        let mut out = BytesMut::new();
        inflater.inflate(wire, &mut out, limit)?;
        inflater.finish_message(&mut out, limit)?;
        Ok(out.to_vec())
    }

    #[test]
    fn rfc7692_sample_hello() {
        // RFC 7692 §7.2.3.1: "Hello" compressed, tail removed.
        let wire = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        let mut inflater = Inflater::new(false);
        assert_eq!(inflate_all(&mut inflater, &wire, 100).unwrap(), b"Hello");
        // §7.2.3.2: the second "Hello" with context takeover is a back-reference.
        let wire2 = [0xf2, 0x00, 0x11, 0x00, 0x00];
        assert_eq!(inflate_all(&mut inflater, &wire2, 100).unwrap(), b"Hello");
        let mut fresh = Inflater::new(false);
        assert_eq!(
            inflate_all(&mut fresh, &wire2, 100),
            Err(WsError::InvalidCompressedData)
        );
    }

    #[test]
    fn the_sender_strips_the_tail_and_empty_is_one_byte() {
        let mut deflater = Deflater::new(6, 15, false);
        let wire = deflater.compress(b"").unwrap();
        assert_eq!(&wire[..], [0x00]);
        let wire = deflater.compress(b"Hello").unwrap();
        assert!(!wire.ends_with(&DEFLATE_TAIL));
    }

    #[test]
    fn context_takeover_makes_repeats_smaller() {
        let msg = b"a message that repeats itself, a message that repeats itself";
        let mut with = Deflater::new(6, 15, false);
        let first = with.compress(msg).unwrap();
        let second = with.compress(msg).unwrap();
        assert!(second.len() < first.len() / 2, "{second:?} vs {first:?}");
        let mut without = Deflater::new(6, 15, true);
        let a = without.compress(msg).unwrap();
        let b = without.compress(msg).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn an_8_bit_window_sends_uncompressed() {
        assert!(Deflater::new(6, 8, false).compress(b"Hello").is_none());
        assert!(Deflater::new(6, 9, false).compress(b"Hello").is_some());
    }

    #[test]
    fn a_deflate_bomb_stops_at_the_limit() {
        let zeros = vec![0u8; 4 * 1024 * 1024];
        let wire = Deflater::new(9, 15, false).compress(&zeros).unwrap();
        assert!(wire.len() < 10 * 1024, "{}", wire.len());
        let mut out = BytesMut::new();
        let err = Inflater::new(false).inflate(&wire, &mut out, 1024 * 1024);
        assert_eq!(err, Err(WsError::MessageTooLarge));
        assert!(out.len() <= 1024 * 1024 + INFLATE_STEP);
        // Exactly the limit is fine.
        let mut inflater = Inflater::new(false);
        assert_eq!(
            inflate_all(&mut inflater, &wire, zeros.len())
                .unwrap()
                .len(),
            zeros.len()
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut inflater = Inflater::new(false);
        assert_eq!(
            inflate_all(&mut inflater, &[0xff; 16], 100),
            Err(WsError::InvalidCompressedData)
        );
    }

    #[test]
    fn a_final_block_restarts_the_stream() {
        // "Hello" as a BFINAL fixed-Huffman block, then "Hello" again as a fresh stream.
        let mut c = Compress::new_with_window_bits(Compression::default(), false, 15);
        let mut wire = Vec::with_capacity(64);
        c.compress_vec(b"Hello", &mut wire, FlushCompress::Finish)
            .unwrap();
        let once = wire.clone();
        wire.extend_from_slice(&once);
        let mut inflater = Inflater::new(false);
        assert_eq!(
            inflate_all(&mut inflater, &wire, 100).unwrap(),
            b"HelloHello"
        );
    }
}
