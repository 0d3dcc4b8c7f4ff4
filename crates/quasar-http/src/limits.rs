//! Size limits for everything the HTTP/1.1 parsers buffer.
//!
//! Every field a peer controls is capped here, and each cap maps to the status a server answers
//! with when it is exceeded (see [`HttpError::status`](crate::HttpError::status)).
//!
//! # Examples
//!
//! ```
//! use quasar_http::Limits;
//!
//! let limits = Limits { max_body: 1024, ..Limits::default() };
//! assert_eq!(limits.max_headers, 100);
//! assert_eq!(limits.max_body, 1024);
//! ```

/// Default [`Limits::max_headers`].
pub const DEFAULT_MAX_HEADERS: usize = 100;
/// Default [`Limits::max_head_bytes`]: 16 KiB.
pub const DEFAULT_MAX_HEAD_BYTES: usize = 16 * 1024;
/// Default [`Limits::max_request_line`]: 8 KiB.
pub const DEFAULT_MAX_REQUEST_LINE: usize = 8 * 1024;
/// Default [`Limits::max_body`]: 16 MiB, pulsar's `stream_buffer` default.
pub const DEFAULT_MAX_BODY: u64 = 16 * 1024 * 1024;
/// Default [`Limits::max_chunk_line`]: 4 KiB.
pub const DEFAULT_MAX_CHUNK_LINE: usize = 4 * 1024;
/// Default [`Limits::max_trailer_bytes`]: 16 KiB.
pub const DEFAULT_MAX_TRAILER_BYTES: usize = 16 * 1024;
/// Hard ceiling on [`Limits::max_headers`]: the header slots live on the stack.
pub const MAX_HEADERS_CEILING: usize = 256;

/// Caps on what one HTTP/1.1 message may make the parsers buffer.
///
/// Build one with struct-update syntax over [`Limits::default`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most header lines in a head (above it: 431). Values above
    /// [`MAX_HEADERS_CEILING`] are treated as the ceiling.
    pub max_headers: usize,
    /// Most bytes in a whole head, request line included (above it: 431).
    pub max_head_bytes: usize,
    /// Most bytes in the request line, and so in the request target (above it: 414).
    pub max_request_line: usize,
    /// Most body bytes, declared or received, in one message (above it: 413).
    pub max_body: u64,
    /// Most bytes in one chunk-size line, extensions included (above it: 400).
    pub max_chunk_line: usize,
    /// Most bytes in a chunked body's trailer section (above it: 431).
    pub max_trailer_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_headers: DEFAULT_MAX_HEADERS,
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
            max_request_line: DEFAULT_MAX_REQUEST_LINE,
            max_body: DEFAULT_MAX_BODY,
            max_chunk_line: DEFAULT_MAX_CHUNK_LINE,
            max_trailer_bytes: DEFAULT_MAX_TRAILER_BYTES,
        }
    }
}
