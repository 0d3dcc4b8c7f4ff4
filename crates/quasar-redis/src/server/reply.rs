//! Replies in the connection's protocol version: RESP2 by default, RESP3 after `HELLO 3`.
//!
//! RESP3 has maps, sets, doubles and a single null; a RESP2 client gets the flat array,
//! the array, the bulk string and `$-1` Redis sends it instead.

use bytes::BytesMut;

use crate::resp::encode;

/// A reply writer over the session's scratch buffer.
#[derive(Debug)]
pub(crate) struct Reply<'a> {
    pub(crate) out: &'a mut BytesMut,
    pub(crate) resp3: bool,
}

impl Reply<'_> {
    pub(crate) fn ok(&mut self) {
        encode::encode_ok(self.out);
    }

    pub(crate) fn simple(&mut self, s: &str) {
        encode::encode_simple(self.out, s.as_bytes());
    }

    /// An error; `msg` starts with its code (`ERR ...`, `WRONGTYPE ...`).
    pub(crate) fn error(&mut self, msg: &str) {
        encode::encode_error(self.out, msg.as_bytes());
    }

    pub(crate) fn int(&mut self, n: i64) {
        encode::encode_integer(self.out, n);
    }

    pub(crate) fn uint(&mut self, n: usize) {
        self.int(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub(crate) fn bulk(&mut self, b: &[u8]) {
        encode::encode_bulk(self.out, b);
    }

    /// A missing value: `$-1` in RESP2, `_` in RESP3.
    pub(crate) fn null(&mut self) {
        if self.resp3 {
            encode::encode_null(self.out);
        } else {
            encode::encode_null_bulk(self.out);
        }
    }

    /// A missing array (a timed-out `BLPOP`, an aborted `EXEC`): `*-1` or `_`.
    pub(crate) fn null_array(&mut self) {
        if self.resp3 {
            encode::encode_null(self.out);
        } else {
            self.out.extend_from_slice(b"*-1\r\n");
        }
    }

    pub(crate) fn array(&mut self, n: usize) {
        encode::encode_array_header(self.out, n);
    }

    /// A map of `n` pairs: `%n`, or a flat array of `2n` in RESP2.
    pub(crate) fn map(&mut self, n: usize) {
        if self.resp3 {
            encode::encode_header(self.out, b'%', n);
        } else {
            self.array(2 * n);
        }
    }

    /// A set of `n` members: `~n`, or an array in RESP2.
    pub(crate) fn set(&mut self, n: usize) {
        if self.resp3 {
            encode::encode_header(self.out, b'~', n);
        } else {
            self.array(n);
        }
    }

    /// A push message of `n` elements (pub/sub): `>n`, or an array in RESP2.
    pub(crate) fn push(&mut self, n: usize) {
        if self.resp3 {
            encode::encode_header(self.out, b'>', n);
        } else {
            self.array(n);
        }
    }

    /// A double: `,d` in RESP3, its text as a bulk string in RESP2.
    pub(crate) fn double(&mut self, d: f64) {
        if self.resp3 {
            encode::encode_double(self.out, d);
        } else {
            let mut s = String::new();
            let _ = encode::write_double(&mut s, d);
            self.bulk(s.as_bytes());
        }
    }

    /// A bulk string or null.
    pub(crate) fn opt_bulk(&mut self, b: Option<&[u8]>) {
        match b {
            Some(b) => self.bulk(b),
            None => self.null(),
        }
    }

    pub(crate) fn wrong_type(&mut self) {
        self.error(WRONGTYPE);
    }

    pub(crate) fn not_int(&mut self) {
        self.error(NOT_INT);
    }

    pub(crate) fn syntax(&mut self) {
        self.error(SYNTAX);
    }
}

/// Redis's reply to an operation on a key of another type.
pub(crate) const WRONGTYPE: &str =
    "WRONGTYPE Operation against a key holding the wrong kind of value";
/// Redis's reply to an argument that is not a 64-bit integer.
pub(crate) const NOT_INT: &str = "ERR value is not an integer or out of range";
/// Redis's reply to an argument that is not a float.
pub(crate) const NOT_FLOAT: &str = "ERR value is not a valid float";
/// Redis's reply to unknown options.
pub(crate) const SYNTAX: &str = "ERR syntax error";
