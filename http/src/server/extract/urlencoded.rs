//! [`Query<T>`] and [`Form<T>`]: the query string and urlencoded bodies, through `serde`.

use serde::de::DeserializeOwned;

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
        serde_urlencoded::from_str(query)
            .map(Query)
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
        serde_urlencoded::from_bytes(limited_body(request)?)
            .map(Form)
            .map_err(|error| {
                Rejection::new(
                    RejectionKind::InvalidBody,
                    format!("the form does not fit: {error}"),
                )
            })
    }
}
