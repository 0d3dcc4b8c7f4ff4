//! [`FromFrame`]: typed replies, the `redis` crate's `FromRedisValue`.
//!
//! A reply arrives as a [`Frame`]; `FromFrame` turns it into the type the caller asked for, or
//! fails with [`RedisError::Type`]. An error reply is never converted: it becomes its
//! [`RedisError`] before `FromFrame` sees it. Conversions follow the `redis` crate's: numbers
//! parse from bulk strings too (`GET counter` into `i64`), `Option<T>` is `None` for a null,
//! `bool` accepts integers (`EXISTS`), and RESP3 maps, sets and arrays are interchangeable
//! where the shape fits (`HGETALL` into a `HashMap` under RESP2 and RESP3 alike).
//!
//! # Examples
//!
//! ```
//! use std::collections::HashMap;
//! use quasar_redis::client::FromFrame;
//! use quasar_redis::Frame;
//!
//! assert_eq!(i64::from_frame(Frame::bulk("42")).unwrap(), 42);
//! assert_eq!(Option::<String>::from_frame(Frame::NullBulk).unwrap(), None);
//! let pairs = Frame::Array(vec![Frame::bulk("a"), Frame::bulk("1")]);
//! let map = HashMap::<String, i64>::from_frame(pairs).unwrap();
//! assert_eq!(map["a"], 1);
//! ```

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use bytes::Bytes;

use super::error::{RedisError, RedisResult};
use crate::Frame;

/// A type a reply converts into.
pub trait FromFrame: Sized {
    /// Converts `frame`, which is not an error reply.
    ///
    /// # Errors
    ///
    /// [`RedisError::Type`] when the frame does not have this type's shape.
    fn from_frame(frame: Frame) -> RedisResult<Self>;
}

/// The reply as it came (attributes dropped).
impl FromFrame for Frame {
    fn from_frame(frame: Frame) -> RedisResult<Self> {
        Ok(frame.strip_attributes())
    }
}

/// Accepts any reply and drops it (`SET` without `GET`, `FLUSHDB`).
impl FromFrame for () {
    fn from_frame(_: Frame) -> RedisResult<Self> {
        Ok(())
    }
}

impl FromFrame for Bytes {
    fn from_frame(frame: Frame) -> RedisResult<Self> {
        match frame.strip_attributes() {
            Frame::Bulk(b) | Frame::Simple(b) | Frame::BigNumber(b) => Ok(b),
            Frame::Verbatim { text, .. } => Ok(text),
            Frame::Integer(n) => Ok(Bytes::from(n.to_string())),
            Frame::Double(d) => Ok(Bytes::from(d.to_string())),
            other => Err(type_error("a string", &other)),
        }
    }
}

impl FromFrame for Vec<u8> {
    fn from_frame(frame: Frame) -> RedisResult<Self> {
        Bytes::from_frame(frame).map(Vec::from)
    }
}

impl FromFrame for String {
    fn from_frame(frame: Frame) -> RedisResult<Self> {
        let bytes = Bytes::from_frame(frame)?;
        String::from_utf8(bytes.into())
            .map_err(|e| RedisError::Type(format!("reply is not UTF-8: {e}")))
    }
}

impl FromFrame for i64 {
    fn from_frame(frame: Frame) -> RedisResult<Self> {
        match frame.strip_attributes() {
            Frame::Integer(n) => Ok(n),
            Frame::Bulk(b) | Frame::Simple(b) | Frame::BigNumber(b) => parse_text(&b),
            other => Err(type_error("an integer", &other)),
        }
    }
}

macro_rules! int_from_i64 {
    ($($t:ty),*) => {$(
        impl FromFrame for $t {
            fn from_frame(frame: Frame) -> RedisResult<Self> {
                let n = i64::from_frame(frame)?;
                <$t>::try_from(n).map_err(|_| RedisError::Type(format!(
                    "{n} does not fit {}", stringify!($t)
                )))
            }
        }
    )*};
}

int_from_i64!(i32, u32, u64, usize);

impl FromFrame for f64 {
    fn from_frame(frame: Frame) -> RedisResult<Self> {
        match frame.strip_attributes() {
            Frame::Double(d) => Ok(d),
            Frame::Integer(n) => Ok(n as f64),
            Frame::Bulk(b) | Frame::Simple(b) => parse_text(&b),
            other => Err(type_error("a number", &other)),
        }
    }
}

impl FromFrame for bool {
    fn from_frame(frame: Frame) -> RedisResult<Self> {
        match frame.strip_attributes() {
            Frame::Boolean(b) => Ok(b),
            Frame::Integer(n) => Ok(n != 0),
            Frame::Simple(s) if &s[..] == b"OK" => Ok(true),
            Frame::Bulk(b) if &b[..] == b"1" || &b[..] == b"0" => Ok(&b[..] == b"1"),
            f if f.is_null() => Ok(false),
            other => Err(type_error("a boolean", &other)),
        }
    }
}

impl<T: FromFrame> FromFrame for Option<T> {
    fn from_frame(frame: Frame) -> RedisResult<Self> {
        if frame.is_null() {
            return Ok(None);
        }
        T::from_frame(frame).map(Some)
    }
}

impl<T: FromFrame> FromFrame for Vec<T> {
    fn from_frame(frame: Frame) -> RedisResult<Self> {
        match frame.strip_attributes() {
            Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
                items.into_iter().map(T::from_frame).collect()
            }
            Frame::Map(pairs) => {
                let mut out = Vec::with_capacity(pairs.len() * 2);
                for (k, v) in pairs {
                    out.push(T::from_frame(k)?);
                    out.push(T::from_frame(v)?);
                }
                Ok(out)
            }
            f if f.is_null() => Ok(Vec::new()),
            other => Err(type_error("an array", &other)),
        }
    }
}

impl<T: FromFrame + Eq + Hash> FromFrame for HashSet<T> {
    fn from_frame(frame: Frame) -> RedisResult<Self> {
        Vec::<T>::from_frame(frame).map(|v| v.into_iter().collect())
    }
}

impl<K: FromFrame + Eq + Hash, V: FromFrame> FromFrame for HashMap<K, V> {
    fn from_frame(frame: Frame) -> RedisResult<Self> {
        Ok(pairs(frame)?.into_iter().collect())
    }
}

/// Tuples read an array of exactly their size (a pipeline's replies, `BLPOP`'s pair).
macro_rules! tuple_from_array {
    ($n:expr; $($t:ident),+) => {
        impl<$($t: FromFrame),+> FromFrame for ($($t,)+) {
            #[allow(non_snake_case)]
            fn from_frame(frame: Frame) -> RedisResult<Self> {
                match frame.strip_attributes() {
                    Frame::Array(items) if items.len() == $n => {
                        let mut items = items.into_iter();
                        $(let $t = $t::from_frame(items.next().unwrap_or(Frame::Null))?;)+
                        Ok(($($t,)+))
                    }
                    other => Err(type_error(concat!("an array of ", $n), &other)),
                }
            }
        }
    };
}

tuple_from_array!(1; A);
tuple_from_array!(2; A, B);
tuple_from_array!(3; A, B, C);
tuple_from_array!(4; A, B, C, D);
tuple_from_array!(5; A, B, C, D, E);
tuple_from_array!(6; A, B, C, D, E, F);

/// Key/value pairs from a RESP3 map or a flat RESP2 array (`HGETALL`, `ZRANGE WITHSCORES`).
pub(crate) fn pairs<K: FromFrame, V: FromFrame>(frame: Frame) -> RedisResult<Vec<(K, V)>> {
    match frame.strip_attributes() {
        Frame::Map(pairs) => pairs
            .into_iter()
            .map(|(k, v)| Ok((K::from_frame(k)?, V::from_frame(v)?)))
            .collect(),
        Frame::Array(items) => {
            if items.len() % 2 != 0 {
                return Err(RedisError::Type("expected an even number of items".into()));
            }
            let mut out = Vec::with_capacity(items.len() / 2);
            let mut items = items.into_iter();
            while let (Some(k), Some(v)) = (items.next(), items.next()) {
                out.push((K::from_frame(k)?, V::from_frame(v)?));
            }
            Ok(out)
        }
        f if f.is_null() => Ok(Vec::new()),
        other => Err(type_error("a map", &other)),
    }
}

fn parse_text<T: std::str::FromStr>(text: &[u8]) -> RedisResult<T> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            RedisError::Type(format!(
                "{:?} is not a number",
                String::from_utf8_lossy(text)
            ))
        })
}

fn type_error(expected: &str, got: &Frame) -> RedisError {
    let mut got = format!("{got:?}");
    // A mistyped 1 MiB reply should not become a 1 MiB error message.
    if got.len() > 120 {
        let mut end = 120;
        while !got.is_char_boundary(end) {
            end -= 1;
        }
        got.truncate(end);
        got.push('…');
    }
    RedisError::Type(format!("expected {expected}, got {got}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_from_strings_and_refuse_junk() {
        assert_eq!(i64::from_frame(Frame::Integer(-7)).unwrap(), -7);
        assert_eq!(f64::from_frame(Frame::bulk("2.5")).unwrap(), 2.5);
        assert!(i64::from_frame(Frame::bulk("x")).is_err());
        assert!(u32::from_frame(Frame::Integer(-1)).is_err());
        assert!(String::from_frame(Frame::bulk(vec![0xff])).is_err());
    }

    #[test]
    fn maps_come_from_resp2_arrays_and_resp3_maps() {
        let resp3 = Frame::Map(vec![(Frame::bulk("f"), Frame::bulk("v"))]);
        let map = HashMap::<String, String>::from_frame(resp3).unwrap();
        assert_eq!(map["f"], "v");
        let odd = Frame::Array(vec![Frame::bulk("f")]);
        assert!(HashMap::<String, String>::from_frame(odd).is_err());
    }

    #[test]
    fn nulls_are_none_empty_or_false() {
        assert_eq!(Option::<i64>::from_frame(Frame::Null).unwrap(), None);
        assert!(Vec::<String>::from_frame(Frame::NullArray)
            .unwrap()
            .is_empty());
        assert!(!bool::from_frame(Frame::NullBulk).unwrap());
        assert!(bool::from_frame(Frame::Integer(1)).unwrap());
    }

    #[test]
    fn type_errors_are_bounded() {
        let big = Frame::Array(vec![Frame::bulk(vec![b'x'; 10_000])]);
        let RedisError::Type(msg) = i64::from_frame(big).unwrap_err() else {
            panic!("not a type error")
        };
        assert!(msg.len() < 200, "{}", msg.len());
    }
}
