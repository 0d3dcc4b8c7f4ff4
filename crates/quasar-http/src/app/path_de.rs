//! A serde `Deserializer` over a route's [`Params`]: one value, a tuple in path order, or a
//! struct / map by name. Values are percent-decoded, then parsed for the type asked.

use std::borrow::Cow;
use std::fmt;

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{self, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

use crate::server::Params;

/// Why a parameter did not deserialize.
#[derive(Debug)]
pub(crate) struct PathError(String);

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PathError {}

impl de::Error for PathError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        PathError(msg.to_string())
    }
}

/// The decoded parameters of one request.
pub(crate) struct ParamsDe<'a> {
    params: Vec<(&'a str, Cow<'a, str>)>,
}

impl<'a> ParamsDe<'a> {
    pub(crate) fn new(params: &'a Params) -> Result<Self, PathError> {
        let params = params
            .iter()
            .map(|(name, raw)| {
                percent_encoding::percent_decode_str(raw)
                    .decode_utf8()
                    .map(|v| (name, v))
                    .map_err(|_| PathError(format!("parameter `{name}` is not UTF-8")))
            })
            .collect::<Result<_, _>>()?;
        Ok(ParamsDe { params })
    }

    fn single(self) -> Result<Value<'a>, PathError> {
        match <[_; 1]>::try_from(self.params) {
            Ok([(name, value)]) => Ok(Value { name, value }),
            Err(all) => Err(PathError(format!(
                "expected 1 path parameter, the route has {}",
                all.len()
            ))),
        }
    }
}

/// Methods that want exactly one parameter and hand it to [`Value`]'s method of the same name.
macro_rules! single {
    ($($method:ident $(($($arg:ident: $ty:ty),*))?)*) => {$(
        fn $method<V: Visitor<'de>>(
            self,
            $($($arg: $ty,)*)?
            visitor: V,
        ) -> Result<V::Value, PathError> {
            self.single()?.$method($($($arg,)*)? visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for ParamsDe<'de> {
    type Error = PathError;

    /// A map (or struct) by parameter name.
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        let entries = self
            .params
            .into_iter()
            .map(|(name, value)| (name, Value { name, value }));
        visitor.visit_map(MapDeserializer::new(entries))
    }

    forward_to_deserialize_any! { map struct }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        let values = self
            .params
            .into_iter()
            .map(|(name, value)| Value { name, value });
        visitor.visit_seq(SeqDeserializer::new(values))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        if self.params.len() != len {
            return Err(PathError(format!(
                "expected {len} path parameters, the route has {}",
                self.params.len()
            )));
        }
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        visitor.visit_newtype_struct(self)
    }

    single! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_bytes deserialize_byte_buf deserialize_option
        deserialize_unit deserialize_identifier deserialize_ignored_any
        deserialize_unit_struct(name: &'static str)
        deserialize_enum(name: &'static str, variants: &'static [&'static str])
    }
}

/// One decoded parameter value.
struct Value<'a> {
    name: &'a str,
    value: Cow<'a, str>,
}

impl Value<'_> {
    fn parse<T: std::str::FromStr>(&self, what: &str) -> Result<T, PathError> {
        self.value.parse().map_err(|_| {
            PathError(format!(
                "parameter `{}`: `{}` is not a valid {what}",
                self.name, self.value
            ))
        })
    }
}

macro_rules! parse {
    ($($method:ident $visit:ident $what:literal)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
            visitor.$visit(self.parse($what)?)
        }
    )*};
}

impl<'de> IntoDeserializer<'de, PathError> for Value<'de> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for Value<'de> {
    type Error = PathError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        match self.value {
            Cow::Borrowed(s) => visitor.visit_borrowed_str(s),
            Cow::Owned(s) => visitor.visit_string(s),
        }
    }

    parse! {
        deserialize_bool visit_bool "boolean"
        deserialize_i8 visit_i8 "integer" deserialize_i16 visit_i16 "integer"
        deserialize_i32 visit_i32 "integer" deserialize_i64 visit_i64 "integer"
        deserialize_i128 visit_i128 "integer"
        deserialize_u8 visit_u8 "unsigned integer" deserialize_u16 visit_u16 "unsigned integer"
        deserialize_u32 visit_u32 "unsigned integer" deserialize_u64 visit_u64 "unsigned integer"
        deserialize_u128 visit_u128 "unsigned integer"
        deserialize_f32 visit_f32 "number" deserialize_f64 visit_f64 "number"
        deserialize_char visit_char "character"
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PathError> {
        let variant: serde::de::value::StringDeserializer<PathError> =
            self.value.into_owned().into_deserializer();
        visitor.visit_enum(variant)
    }

    forward_to_deserialize_any! {
        str string bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use serde::de::DeserializeOwned;
    use serde::Deserialize;

    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(pairs.iter().map(|&(n, v)| (n, v.to_owned())))
    }

    fn de<T: DeserializeOwned>(pairs: &[(&str, &str)]) -> Result<T, PathError> {
        let p = params(pairs);
        T::deserialize(ParamsDe::new(&p)?)
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Named {
        user: String,
        n: Option<u8>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Color {
        Red,
        Blue,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Id(u64);

    #[test]
    fn one_value_tuples_structs_and_enums() {
        assert_eq!(de::<u64>(&[("id", "42")]).unwrap(), 42);
        assert_eq!(de::<Id>(&[("id", "42")]).unwrap(), Id(42));
        assert_eq!(de::<String>(&[("s", "a%20b%2Fc")]).unwrap(), "a b/c");
        assert!(de::<bool>(&[("b", "true")]).unwrap());
        assert_eq!(
            de::<(String, i32)>(&[("a", "x"), ("b", "-3")]).unwrap(),
            ("x".to_owned(), -3)
        );
        assert_eq!(
            de::<Named>(&[("n", "7"), ("user", "ann")]).unwrap(),
            Named {
                user: "ann".into(),
                n: Some(7)
            }
        );
        assert_eq!(de::<Color>(&[("c", "blue")]).unwrap(), Color::Blue);
        assert_eq!(
            de::<Vec<u8>>(&[("a", "1"), ("b", "2")]).unwrap(),
            vec![1, 2]
        );
        let map = de::<std::collections::HashMap<String, String>>(&[("k", "v")]).unwrap();
        assert_eq!(map["k"], "v");
        let _ = Color::Red;
    }

    #[test]
    fn mismatches_are_errors_naming_the_parameter() {
        let e = de::<u8>(&[("n", "300")]).unwrap_err().to_string();
        assert!(e.contains("parameter `n`") && e.contains("300"), "{e}");
        let e = de::<u64>(&[("a", "1"), ("b", "2")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected 1 path parameter"), "{e}");
        let e = de::<(u8, u8, u8)>(&[("a", "1"), ("b", "2")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected 3 path parameters"), "{e}");
        assert!(de::<Named>(&[("n", "1")]).is_err());
        assert!(de::<Color>(&[("c", "green")]).is_err());
        assert!(de::<String>(&[("s", "%ff")])
            .unwrap_err()
            .to_string()
            .contains("UTF-8"));
    }
}
