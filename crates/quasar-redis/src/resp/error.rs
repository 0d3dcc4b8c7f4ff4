//! The one error type of the codec: every way the bytes on the wire can be malformed.
//!
//! "Need more bytes" is not an error: the decoders return `Ok(None)` for it. Every
//! [`DecodeError`] means the peer broke the protocol (or a [`Limits`](crate::Limits) cap), the
//! stream cannot be resynchronised, and the connection should be closed — after sending the
//! error to the peer, as Redis does, if this is a server.
//!
//! # Examples
//!
//! ```
//! use bytes::BytesMut;
//! use quasar_redis::{decode, DecodeError, Limits};
//!
//! let mut buf = BytesMut::from(&b"?oops\r\n"[..]);
//! let err = decode(&mut buf, &Limits::default()).unwrap_err();
//! assert_eq!(err, DecodeError::InvalidTypeByte(b'?'));
//! assert_eq!(err.to_string(), "invalid frame type byte 0x3f");
//! ```

use std::fmt;

/// Why a RESP frame or a command could not be decoded.
///
/// Callers match on the variant; the `Display` text is lower-case and meant for logs and for
/// the `-ERR Protocol error: ...` reply a server sends before closing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The first byte of a frame is not one of the RESP2/RESP3 type bytes.
    InvalidTypeByte(u8),
    /// A length header (`$`, `*`, `%`, ...) is empty or not a decimal number.
    InvalidLength,
    /// A length header is negative and is not the `-1` null marker (or `-1` where no null is
    /// allowed, as for blob errors and maps).
    NegativeLength(i64),
    /// A number does not fit in an `i64`.
    IntegerOverflow,
    /// An integer (`:`) frame is empty or has a non-digit byte.
    InvalidInteger,
    /// A line holds a lone `\r` or `\n` instead of ending with `\r\n`.
    MissingCrlf,
    /// The payload of a bulk string, blob error or verbatim string is not followed by `\r\n`.
    BulkMissingCrlf,
    /// Aggregates (and attributes) are nested more than [`Limits::max_depth`](crate::Limits::max_depth) deep.
    TooDeep {
        /// The configured maximum depth.
        limit: usize,
    },
    /// A bulk payload is longer than [`Limits::max_bulk_len`](crate::Limits::max_bulk_len).
    BulkTooLarge {
        /// The declared length.
        len: u64,
        /// The configured maximum.
        limit: usize,
    },
    /// An aggregate declares more elements than [`Limits::max_aggregate_len`](crate::Limits::max_aggregate_len).
    AggregateTooLarge {
        /// The declared element (or pair) count.
        len: u64,
        /// The configured maximum.
        limit: usize,
    },
    /// A line runs past [`Limits::max_line_len`](crate::Limits::max_line_len) without `\r\n`.
    LineTooLong {
        /// The configured maximum.
        limit: usize,
    },
    /// An inline command runs past [`Limits::max_inline_len`](crate::Limits::max_inline_len) without `\n`.
    InlineTooLong {
        /// The configured maximum.
        limit: usize,
    },
    /// The whole frame would be longer than [`Limits::max_frame_len`](crate::Limits::max_frame_len).
    FrameTooLarge {
        /// The configured maximum.
        limit: usize,
    },
    /// A double (`,`) frame is not a number, `inf`, `-inf` or `nan`.
    InvalidDouble,
    /// A boolean (`#`) frame is not `t` or `f`.
    InvalidBoolean,
    /// A big number (`(`) frame is not an optional sign followed by decimal digits.
    InvalidBigNumber,
    /// A null (`_`) frame has bytes between `_` and `\r\n`.
    InvalidNull,
    /// A verbatim string (`=`) is shorter than 4 bytes or its 4th byte is not `:`.
    InvalidVerbatim,
    /// An element of a command array is not a bulk string (Redis: "expected '$', got 'x'").
    ExpectedBulk {
        /// The type byte that was found instead of `$`.
        found: u8,
    },
    /// A command array holds a null bulk string (`$-1`).
    NullBulkInCommand,
    /// An inline command has a quote that is not closed, or a closing quote not followed by
    /// a space.
    UnbalancedQuotes,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::InvalidTypeByte(b) => write!(f, "invalid frame type byte {b:#04x}"),
            DecodeError::InvalidLength => f.write_str("invalid length"),
            DecodeError::NegativeLength(n) => write!(f, "invalid negative length {n}"),
            DecodeError::IntegerOverflow => f.write_str("integer overflow"),
            DecodeError::InvalidInteger => f.write_str("invalid integer"),
            DecodeError::MissingCrlf => f.write_str("line does not end with crlf"),
            DecodeError::BulkMissingCrlf => f.write_str("bulk payload not followed by crlf"),
            DecodeError::TooDeep { limit } => write!(f, "frames nested deeper than {limit}"),
            DecodeError::BulkTooLarge { len, limit } => {
                write!(f, "bulk length {len} exceeds the limit of {limit}")
            }
            DecodeError::AggregateTooLarge { len, limit } => {
                write!(f, "aggregate length {len} exceeds the limit of {limit}")
            }
            DecodeError::LineTooLong { limit } => {
                write!(f, "line longer than {limit} bytes")
            }
            DecodeError::InlineTooLong { limit } => {
                write!(f, "inline command longer than {limit} bytes")
            }
            DecodeError::FrameTooLarge { limit } => {
                write!(f, "frame longer than {limit} bytes")
            }
            DecodeError::InvalidDouble => f.write_str("invalid double"),
            DecodeError::InvalidBoolean => f.write_str("invalid boolean"),
            DecodeError::InvalidBigNumber => f.write_str("invalid big number"),
            DecodeError::InvalidNull => f.write_str("invalid null"),
            DecodeError::InvalidVerbatim => f.write_str("invalid verbatim string format"),
            DecodeError::ExpectedBulk { found } => {
                write!(f, "expected '$', got {found:#04x}")
            }
            DecodeError::NullBulkInCommand => f.write_str("null bulk string in a command"),
            DecodeError::UnbalancedQuotes => f.write_str("unbalanced quotes in request"),
        }
    }
}

impl std::error::Error for DecodeError {}

impl DecodeError {
    /// Whether the input broke a configured [`Limits`](crate::Limits) cap rather than the
    /// protocol's grammar.
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            DecodeError::TooDeep { .. }
                | DecodeError::BulkTooLarge { .. }
                | DecodeError::AggregateTooLarge { .. }
                | DecodeError::LineTooLong { .. }
                | DecodeError::InlineTooLong { .. }
                | DecodeError::FrameTooLarge { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_lower_case_for_every_variant() {
        let all = [
            DecodeError::InvalidTypeByte(b'?'),
            DecodeError::InvalidLength,
            DecodeError::NegativeLength(-2),
            DecodeError::IntegerOverflow,
            DecodeError::InvalidInteger,
            DecodeError::MissingCrlf,
            DecodeError::BulkMissingCrlf,
            DecodeError::TooDeep { limit: 1 },
            DecodeError::BulkTooLarge { len: 2, limit: 1 },
            DecodeError::AggregateTooLarge { len: 2, limit: 1 },
            DecodeError::LineTooLong { limit: 1 },
            DecodeError::InlineTooLong { limit: 1 },
            DecodeError::FrameTooLarge { limit: 1 },
            DecodeError::InvalidDouble,
            DecodeError::InvalidBoolean,
            DecodeError::InvalidBigNumber,
            DecodeError::InvalidNull,
            DecodeError::InvalidVerbatim,
            DecodeError::ExpectedBulk { found: b':' },
            DecodeError::NullBulkInCommand,
            DecodeError::UnbalancedQuotes,
        ];
        for e in all {
            let s = e.to_string();
            assert!(!s.is_empty());
            assert_eq!(s, s.to_lowercase(), "{e:?}");
        }
    }

    #[test]
    fn only_cap_violations_are_limit_errors() {
        assert!(DecodeError::TooDeep { limit: 1 }.is_limit());
        assert!(DecodeError::InlineTooLong { limit: 1 }.is_limit());
        assert!(!DecodeError::MissingCrlf.is_limit());
        assert!(!DecodeError::UnbalancedQuotes.is_limit());
    }
}
