//! [`Path<T>`]: the matched route's parameters, percent-decoded, through `serde`.

use std::borrow::Cow;
use std::fmt;

use percent_encoding::percent_decode_str;
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

use crate::engine::Request;
use crate::server::extract::{FromRequest, Rejection, RejectionKind};
use crate::server::request_context::{params, with_route};
use crate::server::routing::{self, Dispatched, NO_PARAMS};

/// The route's parameters, percent-decoded: one value (`Path<u32>`, for a route with one
/// parameter), a tuple in the pattern's order (`Path<(u32, String)>`), or a `serde` struct by
/// name. A parameter that is missing (an optional segment left out, for a field that is not
/// an `Option`) or does not parse is a `400`.
///
/// ```
/// use hyperf_http::server::{Path, Router};
///
/// #[derive(serde::Deserialize)]
/// struct Page { slug: String, page: Option<u32> }
///
/// let mut router = Router::new();
/// router.get("/users/{id:\\d+}", |Path(id): Path<u32>| format!("user {id}")).unwrap();
/// router.get("/files/{dir}/{name}", |Path((dir, name)): Path<(String, String)>| {
///     format!("{dir}/{name}")
/// }).unwrap();
/// router.get("/docs/{slug}[/{page}]", |Path(at): Path<Page>| {
///     format!("{} page {}", at.slug, at.page.unwrap_or(1))
/// }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Path<T> {
    type Rejection = Rejection;

    fn from_request(request: &mut Request) -> Result<Self, Rejection> {
        // Borrowed where the route's match is kept: no copy of the parameters.
        with_route(request, |dispatched| {
            let found = match dispatched {
                Some(Dispatched::Found(found)) => found.params(),
                _ => &NO_PARAMS,
            };
            T::deserialize(Params(found))
        })
        .map(Path)
        .map_err(|error| Rejection::new(RejectionKind::Path, error.0))
    }
}

/// Why the parameters do not fit the type: the message for the client.
#[derive(Debug)]
struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<M: fmt::Display>(message: M) -> Self {
        Error(message.to_string())
    }

    fn missing_field(field: &'static str) -> Self {
        Error(format!("route parameter {field:?} is missing"))
    }
}

/// All the parameters: a struct or map by name, a tuple or sequence in order, or a single
/// value when there is exactly one.
struct Params<'a>(&'a routing::Params);

impl<'a> Params<'a> {
    fn single(&self) -> Result<Value<'a>, Error> {
        let mut all = self.0.iter();
        match (all.next(), all.next()) {
            (Some((name, raw)), None) => Ok(Value { name, raw }),
            _ => Err(Error(format!(
                "expected 1 route parameter, the route has {}",
                self.0.len()
            ))),
        }
    }
}

macro_rules! single_value {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.single()?.$method(visitor)
        })*
    };
}

impl<'de> de::Deserializer<'de> for Params<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_map(ByName {
            entries: self.0.iter(),
            value: None,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(InOrder(self.0.iter()))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        if self.0.len() != len {
            return Err(Error(format!(
                "expected {len} route parameters, the route has {}",
                self.0.len()
            )));
        }
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.single()?.deserialize_enum(name, variants, visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.0.is_empty() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    single_value! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_bytes deserialize_byte_buf deserialize_unit
        deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.single()?.deserialize_unit_struct(name, visitor)
    }
}

/// The parameters as a map: names as keys.
struct ByName<'a, I> {
    entries: I,
    value: Option<Value<'a>>,
}

impl<'de, 'a, I: Iterator<Item = (&'a str, &'a str)>> de::MapAccess<'de> for ByName<'a, I> {
    type Error = Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((name, raw)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(Value { name, raw });
        seed.deserialize(name.into_deserializer()).map(Some)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let value = self
            .value
            .take()
            .expect("serde asks for a value after its key");
        seed.deserialize(value)
    }
}

/// The parameters as a sequence, in the pattern's order.
struct InOrder<I>(I);

impl<'de, 'a, I: Iterator<Item = (&'a str, &'a str)>> de::SeqAccess<'de> for InOrder<I> {
    type Error = Error;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.0.next() {
            Some((name, raw)) => seed.deserialize(Value { name, raw }).map(Some),
            None => Ok(None),
        }
    }
}

/// One parameter's value, percent-decoded when it is read, parsed as the type asks.
struct Value<'a> {
    name: &'a str,
    raw: &'a str,
}

impl<'a> Value<'a> {
    fn invalid(&self, reason: impl fmt::Display) -> Error {
        Error(format!("route parameter {:?}: {reason}", self.name))
    }

    /// The decoded text (borrowed when there was nothing to decode).
    fn text(&self) -> Result<Cow<'a, str>, Error> {
        percent_decode_str(self.raw)
            .decode_utf8()
            .map_err(|_| self.invalid("not UTF-8 once percent-decoded"))
    }
}

macro_rules! parsed {
    ($($method:ident => $visit:ident,)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.text()?.parse() {
                Ok(parsed) => visitor.$visit(parsed),
                Err(error) => Err(self.invalid(error)),
            }
        })*
    };
}

impl<'de> de::Deserializer<'de> for Value<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.text()? {
            Cow::Borrowed(text) => visitor.visit_str(text),
            Cow::Owned(text) => visitor.visit_string(text),
        }
    }

    parsed! {
        deserialize_bool => visit_bool,
        deserialize_i8 => visit_i8,
        deserialize_i16 => visit_i16,
        deserialize_i32 => visit_i32,
        deserialize_i64 => visit_i64,
        deserialize_i128 => visit_i128,
        deserialize_u8 => visit_u8,
        deserialize_u16 => visit_u16,
        deserialize_u32 => visit_u32,
        deserialize_u64 => visit_u64,
        deserialize_u128 => visit_u128,
        deserialize_f32 => visit_f32,
        deserialize_f64 => visit_f64,
        deserialize_char => visit_char,
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let name = self.name;
        visitor
            .visit_enum(self.text()?.into_deserializer())
            .map_err(|error: Error| Error(format!("route parameter {name:?}: {error}")))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        Err(self.invalid("one path segment cannot be a sequence"))
    }

    fn deserialize_map<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        Err(self.invalid("one path segment cannot be a map"))
    }

    forward_to_deserialize_any! {
        str string bytes byte_buf unit unit_struct tuple tuple_struct struct identifier
        ignored_any
    }
}

/// A copy of the route's parameters, undecoded.
impl FromRequest for routing::Params {
    type Rejection = std::convert::Infallible;

    fn from_request(request: &mut Request) -> Result<Self, Self::Rejection> {
        Ok(params(request))
    }
}
