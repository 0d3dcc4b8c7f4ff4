//! Writes `Transfer-Encoding: chunked` bodies.
//!
//! Each chunk is `SIZE-IN-HEX CRLF data CRLF`; the body ends with the last chunk `0 CRLF CRLF`.
//! [`encode_chunk_header`] lets a writer send large data without copying it into the buffer
//! (header, then the data as its own buffer, then [`CHUNK_END`]).
//!
//! # Examples
//!
//! ```
//! use bytes::BytesMut;
//! use quasar_http::{encode_chunk, encode_last_chunk};
//!
//! let mut dst = BytesMut::new();
//! encode_chunk(&mut dst, b"hello world!");
//! encode_chunk(&mut dst, b""); // empty data writes nothing: "0" would end the body
//! encode_last_chunk(&mut dst);
//! assert_eq!(&dst[..], b"C\r\nhello world!\r\n0\r\n\r\n");
//! ```

use std::fmt::Write as _;

use bytes::{BufMut, BytesMut};

/// The CRLF that closes each chunk's data.
pub const CHUNK_END: &[u8] = b"\r\n";
/// The last chunk and the empty trailer section.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Appends a chunk header for `len` bytes of data. `len` must not be 0 (that is the last chunk).
pub fn encode_chunk_header(dst: &mut BytesMut, len: usize) {
    debug_assert!(len > 0, "a zero-size chunk ends the body");
    // fmt::Write on BytesMut only grows the buffer; it cannot fail.
    let _ = write!(dst, "{len:X}\r\n");
}

/// Appends one chunk holding `data`; empty data appends nothing.
pub fn encode_chunk(dst: &mut BytesMut, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    dst.reserve(data.len() + 20);
    encode_chunk_header(dst, data.len());
    dst.put_slice(data);
    dst.put_slice(CHUNK_END);
}

/// Appends the last chunk, ending the body.
pub fn encode_last_chunk(dst: &mut BytesMut) {
    dst.put_slice(LAST_CHUNK);
}
