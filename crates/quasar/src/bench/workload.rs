//! What a stream connection sends and how it recognises each reply.
//!
//! The TCP driver (`tcp.rs`) is one engine for every stream protocol; a [`StreamWorkload`]
//! supplies the bytes of request `seq` and checks the front of the read buffer for the reply to
//! it. Replies come back in request order on a stream, so the driver always asks about the
//! oldest outstanding request.

use std::fmt;

use crate::bench::payload::{Mismatch, Payload};
use crate::bench::stats::ErrorKind;

/// Why a reply was rejected. The connection closes after one (its byte stream can no longer be
/// trusted to line up with the requests), except after a well-framed [`ReplyError::Status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReplyError {
    /// The reply is not the bytes expected.
    Mismatch(Mismatch),
    /// http: a well-framed response whose status is not 2xx; `len` is its whole length, so
    /// the connection can go on after it.
    Status {
        /// The status code.
        code: u16,
        /// Bytes of the whole response.
        len: usize,
    },
    /// http: the response could not be parsed.
    Parse(&'static str),
}

impl ReplyError {
    /// The error counter this failure goes to.
    pub(crate) fn kind(&self) -> ErrorKind {
        match self {
            ReplyError::Mismatch(_) => ErrorKind::Mismatch,
            ReplyError::Status { .. } => ErrorKind::Status,
            ReplyError::Parse(_) => ErrorKind::Parse,
        }
    }
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::Mismatch(m) if m.got_len == m.expected_len => {
                write!(f, "reply differs from the request at byte {}", m.offset)
            }
            ReplyError::Mismatch(m) => write!(
                f,
                "reply of {} bytes where {} were expected (first difference at byte {})",
                m.got_len, m.expected_len, m.offset
            ),
            ReplyError::Status { code, .. } => write!(f, "status {code}, not 2xx"),
            ReplyError::Parse(why) => write!(f, "unparsable response: {why}"),
        }
    }
}

/// A request/reply protocol over one byte stream.
pub(crate) trait StreamWorkload {
    /// Appends the bytes of request `seq` to `out`.
    fn write_request(&mut self, seq: u64, out: &mut Vec<u8>);

    /// Looks at the front of `buf` for the whole reply to request `seq`.
    ///
    /// Returns `Ok(Some(n))` for a valid reply of `n` bytes, `Ok(None)` when more bytes are
    /// needed.
    ///
    /// # Errors
    ///
    /// The reply (or what has arrived of it) is wrong.
    fn check_reply(&mut self, seq: u64, buf: &[u8]) -> Result<Option<usize>, ReplyError>;

    /// Bytes of one request, to size the write buffer.
    fn request_size(&self) -> usize;

    /// Initial read buffer; the driver doubles it if one reply does not fit.
    fn read_buffer_size(&self) -> usize {
        (self.request_size() * 4).max(16 * 1024)
    }
}

/// TCP echo, framed or raw: the reply to a request is the request.
#[derive(Debug)]
pub(crate) struct EchoWorkload {
    payload: Payload,
    // Bytes of the reply at the front of the buffer already checked, so a large reply arriving
    // in many reads is compared once, not once per read.
    checked: usize,
}

impl EchoWorkload {
    pub(crate) fn new(payload: Payload) -> EchoWorkload {
        EchoWorkload {
            payload,
            checked: 0,
        }
    }
}

impl StreamWorkload for EchoWorkload {
    fn write_request(&mut self, seq: u64, out: &mut Vec<u8>) {
        self.payload.write_to(seq, out);
    }

    fn check_reply(&mut self, seq: u64, buf: &[u8]) -> Result<Option<usize>, ReplyError> {
        // Comparing the whole reply with the request is stricter than looking for the
        // separator: a dropped, added or changed byte anywhere shows up here.
        // A partial reply is checked as far as it goes, so a server that drops a byte is caught
        // at once rather than by a timeout.
        let size = self.payload.size();
        let reply = &buf[..buf.len().min(size)];
        self.payload
            .check_prefix(seq, reply, self.checked)
            .map_err(ReplyError::Mismatch)?;
        if reply.len() < size {
            self.checked = reply.len();
            return Ok(None);
        }
        self.checked = 0;
        Ok(Some(size))
    }

    fn request_size(&self) -> usize {
        self.payload.size()
    }
}
