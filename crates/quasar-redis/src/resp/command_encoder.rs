//! Writing client commands: [`encode_command`] and [`CommandEncoder`].
//!
//! A command is an array of bulk strings, `*N\r\n` then `$len\r\narg\r\n` per argument. Both
//! forms write that directly into the output buffer with `itoa` for the numbers, with no
//! intermediate [`Frame`](crate::Frame) or `Vec`. Use [`encode_command`] when the arguments
//! are at hand as byte slices, and [`CommandEncoder`] to mix in integers and floats without
//! formatting them into temporary strings.
//!
//! # Examples
//!
//! ```
//! use bytes::BytesMut;
//! use quasar_redis::{decode_command, encode_command, CommandEncoder, Limits};
//!
//! let mut out = BytesMut::new();
//! encode_command(&mut out, ["SET", "key", "value"]);
//! CommandEncoder::new(&mut out, 3).arg(b"INCRBY").arg(b"counter").arg_int(-5);
//! assert_eq!(
//!     &out[..],
//!     &b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n\
//!        *3\r\n$6\r\nINCRBY\r\n$7\r\ncounter\r\n$2\r\n-5\r\n"[..]
//! );
//! let first = decode_command(&mut out, &Limits::default()).unwrap().unwrap();
//! assert_eq!(first, ["SET", "key", "value"]);
//! ```

use bytes::{BufMut, BytesMut};

use crate::resp::encode::{encode_array_header, encode_bulk, encode_header, write_double};

/// Appends a command — an array of bulk strings, one per argument — to `dst`.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use quasar_redis::encode_command;
///
/// let mut out = BytesMut::new();
/// encode_command(&mut out, [&b"GET"[..], b"k"]);
/// assert_eq!(&out[..], b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
/// ```
pub fn encode_command<I>(dst: &mut BytesMut, args: I)
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
    I::IntoIter: ExactSizeIterator,
{
    let args = args.into_iter();
    encode_array_header(dst, args.len());
    for arg in args {
        encode_bulk(dst, arg.as_ref());
    }
}

/// Writes one command argument by argument, declaring the argument count up front.
///
/// The `*N` header is written by [`CommandEncoder::new`], so the caller must then add exactly
/// `N` arguments; [`CommandEncoder::is_complete`] tells whether it has. Writing more than `N`
/// arguments would corrupt the stream, so extra arguments are dropped (and are a
/// `debug_assert!` failure in debug builds).
pub struct CommandEncoder<'a> {
    dst: &'a mut BytesMut,
    remaining: usize,
}

impl std::fmt::Debug for CommandEncoder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandEncoder")
            .field("remaining", &self.remaining)
            .finish()
    }
}

impl<'a> CommandEncoder<'a> {
    /// Starts a command of `argc` arguments by writing `*argc\r\n` to `dst`.
    pub fn new(dst: &'a mut BytesMut, argc: usize) -> CommandEncoder<'a> {
        encode_array_header(dst, argc);
        CommandEncoder {
            dst,
            remaining: argc,
        }
    }

    /// Adds a binary-safe argument.
    pub fn arg(&mut self, arg: &[u8]) -> &mut Self {
        if self.take_slot() {
            encode_bulk(self.dst, arg);
        }
        self
    }

    /// Adds an integer argument, written in decimal as Redis expects (`INCRBY k 5`).
    pub fn arg_int(&mut self, n: i64) -> &mut Self {
        if self.take_slot() {
            let mut digits = itoa::Buffer::new();
            let digits = digits.format(n).as_bytes();
            encode_header(self.dst, b'$', digits.len());
            self.dst.put_slice(digits);
            self.dst.put_slice(b"\r\n");
        }
        self
    }

    /// Adds a float argument (`INCRBYFLOAT k 1.5`), in the shortest decimal form that reads
    /// back to the same `f64`; infinities are written as `inf` and `-inf`, as Redis reads them.
    pub fn arg_float(&mut self, d: f64) -> &mut Self {
        let mut text = StackText::default();
        if write_double(&mut text, d).is_ok() {
            return self.arg(text.as_bytes());
        }
        // Unreachable in practice (the longest shortest-form f64 is 24 bytes), but a String
        // is a correct fallback.
        let mut text = String::new();
        let _ = write_double(&mut text, d);
        self.arg(text.as_bytes())
    }

    /// Arguments still to add.
    pub fn remaining(&self) -> usize {
        self.remaining
    }

    /// Whether all the declared arguments have been added.
    pub fn is_complete(&self) -> bool {
        self.remaining == 0
    }

    fn take_slot(&mut self) -> bool {
        debug_assert!(self.remaining > 0, "more arguments than declared");
        if self.remaining == 0 {
            return false;
        }
        self.remaining -= 1;
        true
    }
}

/// A fixed stack buffer for formatting one number without a heap allocation.
#[derive(Debug)]
struct StackText {
    buf: [u8; 48],
    len: usize,
}

impl Default for StackText {
    fn default() -> Self {
        StackText {
            buf: [0; 48],
            len: 0,
        }
    }
}

impl StackText {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_arguments_are_written_as_decimal_bulk_strings() {
        let mut out = BytesMut::new();
        let mut cmd = CommandEncoder::new(&mut out, 4);
        cmd.arg(b"X")
            .arg_int(i64::MIN)
            .arg_float(0.1)
            .arg_float(f64::NEG_INFINITY);
        assert!(cmd.is_complete());
        assert_eq!(
            &out[..],
            &b"*4\r\n$1\r\nX\r\n$20\r\n-9223372036854775808\r\n$3\r\n0.1\r\n$4\r\n-inf\r\n"[..]
        );
    }

    #[test]
    fn the_longest_doubles_fit_the_stack_buffer() {
        for d in [
            -2.2250738585072014e-308,
            -1.2345678901234567e-5,
            f64::MIN,
            5e-324,
        ] {
            let mut text = StackText::default();
            assert!(write_double(&mut text, d).is_ok(), "{d}");
            let s = std::str::from_utf8(text.as_bytes()).unwrap();
            assert_eq!(s.parse::<f64>().unwrap(), d);
        }
    }

    #[test]
    fn encode_command_accepts_owned_and_borrowed_arguments() {
        let mut out = BytesMut::new();
        encode_command(&mut out, vec![b"PING".to_vec()]);
        encode_command(&mut out, Vec::<&[u8]>::new());
        assert_eq!(&out[..], b"*1\r\n$4\r\nPING\r\n*0\r\n");
    }
}
