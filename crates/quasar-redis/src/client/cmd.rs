//! [`Cmd`]: one or more encoded Redis commands, the request type of the client consumer.
//!
//! A `Cmd` is built argument by argument and writes each argument as a RESP bulk string
//! straight into its buffer, so sending it copies nothing more: only the `*N` array header,
//! known when the command is complete, is written separately. Commands can be appended to
//! one another ([`Cmd::append`]), and the result is sent in one write and answered by as many
//! replies as it holds commands — that is how a [`Pipeline`](super::Pipeline) and a
//! `MULTI`/`EXEC` block travel.
//!
//! # Examples
//!
//! ```
//! use quasar_redis::client::{cmd, Cmd};
//!
//! let set = Cmd::new("SET").arg("greeting").arg("hello").arg("EX").arg(60);
//! assert_eq!(
//!     set.to_bytes(),
//!     &b"*5\r\n$3\r\nSET\r\n$8\r\ngreeting\r\n$5\r\nhello\r\n$2\r\nEX\r\n$2\r\n60\r\n"[..]
//! );
//! assert_eq!(cmd("PING").replies(), 1);
//! ```

use std::fmt;

use bytes::{Bytes, BytesMut};

use crate::resp::encode::{encode_array_header, encode_bulk};

/// Starts a command named `name`: shorthand for [`Cmd::new`].
pub fn cmd(name: &str) -> Cmd {
    Cmd::new(name)
}

/// One or more Redis commands, encoded as RESP arrays of bulk strings.
#[derive(Clone, Default)]
pub struct Cmd {
    /// Complete commands, headers included.
    done: BytesMut,
    /// The arguments of the command being built, without its `*N` header.
    args: BytesMut,
    argc: usize,
    /// Replies the whole thing expects: one per complete command.
    replies: usize,
    /// The reply to a (P|S)SUBSCRIBE-family command arrives as a RESP3 push.
    pubsub: bool,
}

/// What [`Cmd::new`] reserves for the arguments.
const INITIAL_CAPACITY: usize = 64;

/// A command's `*N\r\n` array header, encoded on the stack.
#[derive(Debug, Default)]
pub(crate) struct Header {
    buf: [u8; 24],
    len: usize,
}

impl Header {
    fn new(argc: usize) -> Header {
        let mut h = Header::default();
        let mut digits = itoa::Buffer::new();
        let n = digits.format(argc).as_bytes();
        // `*`, at most 20 digits, CRLF: 23 bytes fit.
        h.buf[0] = b'*';
        h.buf[1..1 + n.len()].copy_from_slice(n);
        h.buf[1 + n.len()..3 + n.len()].copy_from_slice(b"\r\n");
        h.len = 3 + n.len();
        h
    }

    /// The encoded header; empty when there is no command being built.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// A value that can be a command argument: written as one RESP bulk string.
///
/// Implemented for strings, byte slices, [`Bytes`], integers and floats (written in decimal,
/// as Redis reads them).
pub trait ToArg {
    /// Writes `self` as one bulk string into `out`.
    fn write_arg(&self, out: &mut BytesMut);
}

// ===== impl Cmd =====

impl Cmd {
    /// A command whose first argument is `name` (`"GET"`, `"CLIENT"`...).
    pub fn new(name: &str) -> Cmd {
        const PUBSUB: [&str; 5] = [
            "SUBSCRIBE",
            "PSUBSCRIBE",
            "SSUBSCRIBE",
            "UNSUBSCRIBE",
            "PUNSUBSCRIBE",
        ];
        let mut cmd = Cmd {
            pubsub: PUBSUB.iter().any(|p| p.eq_ignore_ascii_case(name)),
            // Room for a typical `SET key value` at once: growing from empty would
            // reallocate two or three times per command.
            args: BytesMut::with_capacity(INITIAL_CAPACITY),
            ..Cmd::default()
        };
        cmd.push_arg(name);
        cmd
    }

    /// Adds an argument.
    pub fn arg<A: ToArg>(mut self, arg: A) -> Cmd {
        self.push_arg(arg);
        self
    }

    /// Adds an argument in place (for building in a loop).
    pub fn push_arg<A: ToArg>(&mut self, arg: A) -> &mut Cmd {
        arg.write_arg(&mut self.args);
        self.argc += 1;
        self
    }

    /// Adds every argument of `args`.
    pub fn args<I>(mut self, args: I) -> Cmd
    where
        I: IntoIterator,
        I::Item: ToArg,
    {
        for arg in args {
            self.push_arg(arg);
        }
        self
    }

    /// Appends the commands of `other` after this one's (a pipeline).
    pub fn append(&mut self, other: Cmd) -> &mut Cmd {
        self.seal();
        let mut other = other;
        other.seal();
        self.done.unsplit(other.done);
        self.replies += other.replies;
        self.pubsub |= other.pubsub;
        self
    }

    /// How many replies the commands expect: one per command, except that the
    /// `SUBSCRIBE` family is confirmed once per channel.
    pub fn replies(&self) -> usize {
        self.replies + self.pending_replies()
    }

    /// The replies of the command being built.
    fn pending_replies(&self) -> usize {
        match self.argc {
            0 => 0,
            argc if self.pubsub => (argc - 1).max(1),
            _ => 1,
        }
    }

    /// Whether there is no command at all.
    pub fn is_empty(&self) -> bool {
        self.replies() == 0
    }

    /// Arguments of the command being built, its name included.
    pub(crate) fn arg_count(&self) -> usize {
        self.argc
    }

    /// Whether a RESP3 push is this command's reply (`SUBSCRIBE` and its family).
    pub(crate) fn is_pubsub(&self) -> bool {
        self.pubsub
    }

    /// The encoded commands, as they go on the wire.
    pub fn to_bytes(&self) -> Bytes {
        let mut clone = self.clone();
        clone.seal();
        clone.done.freeze()
    }

    /// The encoded commands in three pieces, without copying the arguments: the complete
    /// commands, the `*N` header of the last one (on the stack: a buffer of its own would
    /// cost an allocation per command), then the last one's arguments.
    pub(crate) fn into_parts(self) -> (Bytes, Header, BytesMut) {
        let header = if self.argc > 0 {
            Header::new(self.argc)
        } else {
            Header::default()
        };
        (self.done.freeze(), header, self.args)
    }

    fn seal(&mut self) {
        if self.argc > 0 {
            encode_array_header(&mut self.done, self.argc);
            let args = self.args.split();
            self.done.unsplit(args);
            self.replies += self.pending_replies();
            self.argc = 0;
        }
    }
}

impl fmt::Debug for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The name of the first command is enough to recognise it in a log; arguments may
        // hold secrets (AUTH).
        let bytes = self.to_bytes();
        let name = crate::decode_command(&mut BytesMut::from(&bytes[..]), &Default::default())
            .ok()
            .flatten()
            .and_then(|args| args.into_iter().next())
            .map(|n| String::from_utf8_lossy(&n).into_owned());
        f.debug_struct("Cmd")
            .field("name", &name)
            .field("replies", &self.replies())
            .field("len", &bytes.len())
            .finish()
    }
}

// ===== impl ToArg =====

impl<T: ToArg + ?Sized> ToArg for &T {
    fn write_arg(&self, out: &mut BytesMut) {
        (**self).write_arg(out)
    }
}

impl ToArg for [u8] {
    fn write_arg(&self, out: &mut BytesMut) {
        encode_bulk(out, self);
    }
}

impl<const N: usize> ToArg for [u8; N] {
    fn write_arg(&self, out: &mut BytesMut) {
        encode_bulk(out, self);
    }
}

impl ToArg for Vec<u8> {
    fn write_arg(&self, out: &mut BytesMut) {
        encode_bulk(out, self);
    }
}

impl ToArg for Bytes {
    fn write_arg(&self, out: &mut BytesMut) {
        encode_bulk(out, self);
    }
}

impl ToArg for str {
    fn write_arg(&self, out: &mut BytesMut) {
        encode_bulk(out, self.as_bytes());
    }
}

impl ToArg for String {
    fn write_arg(&self, out: &mut BytesMut) {
        encode_bulk(out, self.as_bytes());
    }
}

macro_rules! int_args {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            fn write_arg(&self, out: &mut BytesMut) {
                let mut digits = itoa::Buffer::new();
                encode_bulk(out, digits.format(*self).as_bytes());
            }
        }
    )*};
}

int_args!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);

impl ToArg for f64 {
    fn write_arg(&self, out: &mut BytesMut) {
        // The codec's float form is the one Redis reads back exactly (inf, -inf, shortest).
        let mut text = String::new();
        let _ = crate::resp::encode::write_double(&mut text, *self);
        encode_bulk(out, text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_is_an_array_of_bulk_strings() {
        let c = Cmd::new("INCRBYFLOAT").arg("k").arg(1.5).arg(-3);
        assert_eq!(
            c.to_bytes(),
            &b"*4\r\n$11\r\nINCRBYFLOAT\r\n$1\r\nk\r\n$3\r\n1.5\r\n$2\r\n-3\r\n"[..]
        );
    }

    #[test]
    fn appended_commands_expect_one_reply_each() {
        let mut p = Cmd::default();
        assert!(p.is_empty());
        p.append(cmd("MULTI"));
        p.append(cmd("GET").arg("a"));
        p.append(cmd("EXEC"));
        assert_eq!(p.replies(), 3);
        assert_eq!(
            p.to_bytes(),
            &b"*1\r\n$5\r\nMULTI\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n*1\r\n$4\r\nEXEC\r\n"[..]
        );
        let (done, header, tail) = p.into_parts();
        assert_eq!((header.as_bytes().len(), tail.len()), (0, 0));
        assert_eq!(done.len(), 49);
    }

    #[test]
    fn parts_join_to_the_whole() {
        let c = cmd("SET").arg("k").arg(b"v\r\n");
        let whole = c.to_bytes();
        let (done, header, tail) = c.into_parts();
        assert_eq!(
            [&done[..], header.as_bytes(), &tail[..]].concat(),
            &whole[..]
        );
        assert_eq!(header.as_bytes(), b"*3\r\n");
        let mut big = cmd("X");
        for _ in 0..1_000_000 {
            big.push_arg("");
        }
        assert_eq!(big.into_parts().1.as_bytes(), b"*1000001\r\n");
    }

    #[test]
    fn subscribe_commands_are_marked() {
        assert!(cmd("subscribe").arg("c").is_pubsub());
        assert_eq!(cmd("SUBSCRIBE").arg("a").arg("b").replies(), 2);
        let mut both = cmd("PSUBSCRIBE").arg("a*").arg("b*").arg("c*");
        both.append(cmd("PING"));
        assert_eq!(both.replies(), 4);
        assert!(!cmd("PUBLISH").arg("c").is_pubsub());
    }
}
