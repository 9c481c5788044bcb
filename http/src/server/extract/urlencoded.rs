//! [`Query<T>`] and [`Form<T>`]: the query string and urlencoded bodies, through `serde`.

use serde::de::{self, Deserialize, DeserializeOwned, Deserializer};

use crate::engine::Request;
use crate::server::extract::{
    FromRequest, Rejection, RejectionKind, has_content_type, limited_body,
};

/// The query string, as a `serde` type (absent fields: make them `Option`s or give them a
/// `#[serde(default)]`).
///
/// ```
/// use hyperf_http::server::{Query, Router};
///
/// #[derive(serde::Deserialize)]
/// struct Search { q: String, page: Option<u32> }
///
/// let mut router = Router::new();
/// router.get("/search", |Query(search): Query<Search>| {
///     format!("{} (page {})", search.q, search.page.unwrap_or(1))
/// }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Rejection = Rejection;

    fn from_request(request: &mut Request) -> Result<Self, Rejection> {
        let query = request.uri().query().unwrap_or_default();
        serde_urlencoded::from_str::<Tracked<T>>(query)
            .map(|Tracked(value)| Query(value))
            .map_err(|error| {
                Rejection::new(
                    RejectionKind::Query,
                    format!("the query string does not fit: {error}"),
                )
            })
    }
}

/// An `application/x-www-form-urlencoded` body, as a `serde` type; `413` past the route's
/// [body limit](crate::server::RouteRef::body_limit) (2 MiB by default).
///
/// ```
/// use hyperf_http::server::{Form, Router};
///
/// #[derive(serde::Deserialize)]
/// struct Login { user: String, remember: Option<bool> }
///
/// let mut router = Router::new();
/// router.post("/login", |Form(login): Form<Login>| {
///     format!("{} (remembered: {})", login.user, login.remember.unwrap_or(false))
/// }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Form<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Form<T> {
    type Rejection = Rejection;

    fn from_request(request: &mut Request) -> Result<Self, Rejection> {
        if !has_content_type(request, "application/x-www-form-urlencoded", None) {
            return Err(Rejection::new(
                RejectionKind::UnsupportedMediaType,
                "expected a request with `Content-Type: application/x-www-form-urlencoded`",
            ));
        }
        serde_urlencoded::from_bytes::<Tracked<T>>(limited_body(request)?)
            .map(|Tracked(value)| Form(value))
            .map_err(|error| {
                Rejection::new(
                    RejectionKind::InvalidBody,
                    format!("the form does not fit: {error}"),
                )
            })
    }
}

/// `T`, deserialised through `serde_path_to_error`, so that an error names the field it is
/// about (`page: invalid digit found in string`); one at the top level (a missing field) has
/// no path to name and reads as serde's. `serde_urlencoded` keeps its deserialiser private,
/// so the tracking goes in here, around `T`, and the path into the error's message (its
/// errors are only messages anyway).
struct Tracked<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Tracked<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde_path_to_error::deserialize(deserializer)
            .map(Tracked)
            .map_err(de::Error::custom)
    }
}
