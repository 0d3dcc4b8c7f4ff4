//! Caps on everything a peer can make the decoder buffer or allocate.
//!
//! The decoder checks each cap as soon as the header that declares a size is seen, so a peer
//! announcing a 4 GiB bulk string is refused after a dozen bytes, not after buffering it. The
//! defaults follow Redis's own server-side limits where it has one; see `docs/resp-codec.md`.
//!
//! # Examples
//!
//! ```
//! use bytes::BytesMut;
//! use quasar_redis::{decode, DecodeError, Limits};
//!
//! let mut limits = Limits::default();
//! limits.max_bulk_len = 4;
//! let mut buf = BytesMut::from(&b"$5\r\n"[..]);
//! assert_eq!(
//!     decode(&mut buf, &limits),
//!     Err(DecodeError::BulkTooLarge { len: 5, limit: 4 })
//! );
//! ```

/// Redis's `proto-max-bulk-len` default: 512 MiB.
pub const DEFAULT_MAX_BULK_LEN: usize = 512 * 1024 * 1024;
/// The multibulk length Redis accepted for commands for most of its history: 1024 * 1024.
pub const DEFAULT_MAX_AGGREGATE_LEN: usize = 1024 * 1024;
/// Default nesting limit; hiredis and redis-py stop at similar depths, Redis itself never nests
/// replies more than a few levels.
pub const DEFAULT_MAX_DEPTH: usize = 128;
/// Redis's `PROTO_INLINE_MAX_SIZE`: 64 KiB.
pub const DEFAULT_MAX_INLINE_LEN: usize = 64 * 1024;
/// Longest simple string, error, number or header line: also `PROTO_INLINE_MAX_SIZE`, the
/// limit Redis applies to the `*N` and `$N` lines it reads.
pub const DEFAULT_MAX_LINE_LEN: usize = 64 * 1024;
/// Redis's `client-query-buffer-limit` default: 1 GiB.
pub const DEFAULT_MAX_FRAME_LEN: usize = 1024 * 1024 * 1024;

/// Caps applied by [`decode`](crate::decode), [`decode_command`](crate::decode_command) and
/// [`Decoder`](crate::Decoder).
///
/// Construct with [`Limits::default`] and change the fields you care about; the struct is
/// `#[non_exhaustive]` so that new caps can be added without breaking callers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Longest bulk string, blob error or verbatim string payload, in bytes.
    pub max_bulk_len: usize,
    /// Most elements in one array, set or push, and most pairs in one map or attribute.
    pub max_aggregate_len: usize,
    /// Most aggregates (and attributes) open at once. `0` allows scalars only.
    pub max_depth: usize,
    /// Longest inline command line, in bytes, without its line ending.
    pub max_inline_len: usize,
    /// Longest line (simple string, error, integer, double, ... or a length header), in bytes,
    /// without its `\r\n`.
    pub max_line_len: usize,
    /// Longest whole frame, in bytes on the wire.
    ///
    /// This bounds the memory a frame can hold; a decoded frame takes up to about
    /// `size_of::<Frame>() / 3` times its wire size, because the smallest element (`_\r\n`)
    /// is 3 bytes.
    pub max_frame_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: DEFAULT_MAX_BULK_LEN,
            max_aggregate_len: DEFAULT_MAX_AGGREGATE_LEN,
            max_depth: DEFAULT_MAX_DEPTH,
            max_inline_len: DEFAULT_MAX_INLINE_LEN,
            max_line_len: DEFAULT_MAX_LINE_LEN,
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
        }
    }
}
