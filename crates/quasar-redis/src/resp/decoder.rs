//! Decoding frames and commands from a read buffer: [`Decoder`], [`decode`] and
//! [`decode_command`].
//!
//! All three follow the same contract: `Ok(Some(_))` removes exactly one frame (or command)
//! from the front of the buffer, `Ok(None)` means "read more bytes and call again" and leaves
//! the buffer untouched, and `Err(_)` means the stream is broken and the connection should be
//! closed. Decoding is two passes: a check pass finds where the frame ends (applying every
//! limit as early as possible), then a parse pass builds it from one frozen slice of the
//! buffer.
//!
//! A [`Decoder`] keeps the check pass's progress between calls, so a frame that arrives one
//! byte at a time costs linear time in total. The free functions start from scratch on every
//! call — linear per call, quadratic over a trickling frame — and suit one-off decoding and
//! tests. A connection should own a `Decoder`.
//!
//! # Examples
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use quasar_redis::{Decoder, Frame, Limits};
//!
//! let mut decoder = Decoder::new(Limits::default());
//! let mut buf = BytesMut::new();
//! buf.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$1");
//! assert_eq!(decoder.decode_command(&mut buf), Ok(None));
//! assert_eq!(buf.len(), 15, "nothing consumed while incomplete");
//! buf.extend_from_slice(b"\r\nk\r\nPING\r\n");
//! assert_eq!(
//!     decoder.decode_command(&mut buf),
//!     Ok(Some(vec![Bytes::from("GET"), Bytes::from("k")]))
//! );
//! // Inline commands, as typed into telnet, are accepted too.
//! assert_eq!(decoder.decode_command(&mut buf), Ok(Some(vec![Bytes::from("PING")])));
//! assert!(buf.is_empty());
//! ```

use bytes::{Buf, Bytes, BytesMut};

use crate::resp::check::{Cursor, Mode};
use crate::resp::error::DecodeError;
use crate::resp::frame::Frame;
use crate::resp::inline::split_args;
use crate::resp::limits::Limits;
use crate::resp::parse::{parse_command, parse_frame};

/// Decodes one frame from the front of `buf` without keeping state between calls.
///
/// # Errors
///
/// Any [`DecodeError`]: the bytes are not RESP, or break one of `limits`. What was consumed
/// is unspecified after an error; close the connection.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use quasar_redis::{decode, Frame, Limits};
///
/// let mut buf = BytesMut::from(&b":42\r\n+OK"[..]);
/// assert_eq!(decode(&mut buf, &Limits::default()), Ok(Some(Frame::Integer(42))));
/// assert_eq!(decode(&mut buf, &Limits::default()), Ok(None));
/// assert_eq!(&buf[..], b"+OK");
/// ```
pub fn decode(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Frame>, DecodeError> {
    decode_frame_with(&mut Cursor::default(), buf, limits)
}

/// Decodes one client command from the front of `buf` without keeping state between calls.
///
/// A buffer starting with `*` must hold an array of bulk strings (the form every client
/// library sends); anything else is an inline command line ending in `\n` (an optional `\r`
/// before it is dropped), split with Redis's quoting rules. `*0`, `*-1` and a blank inline
/// line decode to an empty command, which Redis ignores and so should the caller.
///
/// # Errors
///
/// Any [`DecodeError`]; in particular [`DecodeError::ExpectedBulk`] for an array element that
/// is not a bulk string, [`DecodeError::InlineTooLong`] and [`DecodeError::UnbalancedQuotes`]
/// for inline commands.
pub fn decode_command(
    buf: &mut BytesMut,
    limits: &Limits,
) -> Result<Option<Vec<Bytes>>, DecodeError> {
    decode_command_with(&mut Cursor::default(), buf, limits)
}

/// A stateful decoder for one connection's read buffer.
///
/// Same results as [`decode`] and [`decode_command`], but the check pass resumes where the
/// previous call stopped, so a large frame that arrives in many small reads is scanned once.
/// Between a call that returned `Ok(None)` and the next, only append to the buffer; after any
/// other change, call [`Decoder::reset`].
#[derive(Debug, Default)]
pub struct Decoder {
    limits: Limits,
    cursor: Cursor,
}

impl Decoder {
    /// A decoder applying `limits`.
    pub fn new(limits: Limits) -> Decoder {
        Decoder {
            limits,
            cursor: Cursor::default(),
        }
    }

    /// The limits this decoder applies.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Decodes one frame from the front of `buf`; see [`decode`].
    ///
    /// # Errors
    ///
    /// As [`decode`].
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        decode_frame_with(&mut self.cursor, buf, &self.limits)
    }

    /// Decodes one client command from the front of `buf`; see [`decode_command`].
    ///
    /// # Errors
    ///
    /// As [`decode_command`].
    pub fn decode_command(
        &mut self,
        buf: &mut BytesMut,
    ) -> Result<Option<Vec<Bytes>>, DecodeError> {
        decode_command_with(&mut self.cursor, buf, &self.limits)
    }

    /// As [`decode_command`](Self::decode_command), into `args` (cleared first) so a
    /// connection reuses one vector for all its commands; `Ok(false)` when no complete
    /// command is buffered yet.
    ///
    /// # Errors
    ///
    /// As [`decode_command`].
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::{Bytes, BytesMut};
    /// use quasar_redis::Decoder;
    ///
    /// let mut decoder = Decoder::default();
    /// let mut args = Vec::new();
    /// let mut buf = BytesMut::from(&b"*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n*1\r\n$4\r\nPING\r\n"[..]);
    /// assert_eq!(decoder.decode_command_into(&mut buf, &mut args), Ok(true));
    /// assert_eq!(args, [Bytes::from("ECHO"), Bytes::from("hi")]);
    /// assert_eq!(decoder.decode_command_into(&mut buf, &mut args), Ok(true));
    /// assert_eq!(args, [Bytes::from("PING")]);
    /// assert_eq!(decoder.decode_command_into(&mut buf, &mut args), Ok(false));
    /// assert!(args.is_empty());
    /// ```
    pub fn decode_command_into(
        &mut self,
        buf: &mut BytesMut,
        args: &mut Vec<Bytes>,
    ) -> Result<bool, DecodeError> {
        decode_command_into(&mut self.cursor, buf, &self.limits, args)
    }

    /// Forgets the progress through a partial frame, for when the buffer was changed other
    /// than by appending.
    pub fn reset(&mut self) {
        self.cursor.reset();
    }
}

fn decode_frame_with(
    cursor: &mut Cursor,
    buf: &mut BytesMut,
    limits: &Limits,
) -> Result<Option<Frame>, DecodeError> {
    let Some(len) = cursor.check(buf, limits, Mode::Frame)? else {
        return Ok(None);
    };
    let frame = buf.split_to(len).freeze();
    parse_frame(&frame).map(Some)
}

fn decode_command_with(
    cursor: &mut Cursor,
    buf: &mut BytesMut,
    limits: &Limits,
) -> Result<Option<Vec<Bytes>>, DecodeError> {
    let mut args = Vec::new();
    Ok(decode_command_into(cursor, buf, limits, &mut args)?.then_some(args))
}

fn decode_command_into(
    cursor: &mut Cursor,
    buf: &mut BytesMut,
    limits: &Limits,
    args: &mut Vec<Bytes>,
) -> Result<bool, DecodeError> {
    args.clear();
    let decoded = match buf.first() {
        None => return Ok(false),
        Some(b'*') => {
            if cursor.is_fresh() {
                if let Some((len, spans)) = crate::resp::command_scan::scan(buf, limits) {
                    let frame = buf.split_to(len).freeze();
                    args.extend(spans.iter().map(|&(s, e)| frame.slice(s..e)));
                    return Ok(true);
                }
            }
            let Some(len) = cursor.check(buf, limits, Mode::Command)? else {
                return Ok(false);
            };
            let frame = buf.split_to(len).freeze();
            parse_command(&frame)?
        }
        Some(_) => match decode_inline(cursor, buf, limits)? {
            Some(decoded) => decoded,
            None => return Ok(false),
        },
    };
    *args = decoded;
    Ok(true)
}

/// Redis reads an inline command up to `\n`, refusing one longer than its inline limit even
/// before the `\n` arrives.
fn decode_inline(
    cursor: &mut Cursor,
    buf: &mut BytesMut,
    limits: &Limits,
) -> Result<Option<Vec<Bytes>>, DecodeError> {
    let from = cursor.resume_inline(buf.len());
    let Some(i) = buf[from..].iter().position(|&b| b == b'\n') else {
        cursor.reset();
        if buf.len() > limits.max_inline_len {
            return Err(DecodeError::InlineTooLong {
                limit: limits.max_inline_len,
            });
        }
        cursor.set_scanned(buf.len());
        return Ok(None);
    };
    cursor.reset();
    let newline = from + i;
    let line = match buf[..newline].split_last() {
        Some((b'\r', rest)) => rest,
        _ => &buf[..newline],
    };
    if line.len() > limits.max_inline_len {
        return Err(DecodeError::InlineTooLong {
            limit: limits.max_inline_len,
        });
    }
    let args = split_args(line, limits)?;
    buf.advance(newline + 1);
    Ok(Some(args))
}
