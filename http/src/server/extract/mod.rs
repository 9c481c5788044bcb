//! Extractors: what a handler takes as arguments, taken from the request ([`FromRequest`]),
//! and the handler forms they make ([`Handler`]).

mod client;
mod handler;
#[cfg(feature = "json")]
mod json;
mod limits;
mod path;
mod rejection;
mod state;
mod state_map;
mod urlencoded;

use bytes::Bytes;
use http::{HeaderMap, Method, Uri, Version};

use crate::engine::{BodyReader, BoxError, Request};

pub use self::handler::Handler;
pub(crate) use self::limits::{BodyLimits, DEFAULT_BODY_LIMIT, DEFAULT_JSON_DEPTH, limited_body};
pub use self::path::Path;
pub(crate) use self::rejection::escape_controls;
pub use self::rejection::{Rejection, RejectionKind};
pub use self::state::{MissingState, State};
pub(crate) use self::state_map::StateMap;
pub use self::urlencoded::{Form, Query};

/// A type a handler can take as an argument, taken from the request: an extractor.
///
/// A handler takes, as arguments, what it needs from the request — route
/// parameters, the query, a JSON or form body, headers, shared state — each argument a type
/// that implements [`FromRequest`].
///
/// ```
/// use hyperf_http::server::{Json, Path, Query, Router, State};
///
/// #[derive(serde::Deserialize)]
/// struct Paging { page: Option<u32>, per_page: Option<u32> }
///
/// #[derive(serde::Deserialize, serde::Serialize)]
/// struct NewPost { title: String }
///
/// struct Db { name: &'static str }
///
/// let mut router = Router::new();
/// router.state(std::sync::Arc::new(Db { name: "blog" }));
/// router.get("/users/{id:\\d+}/posts/{slug}", |Path((id, slug)): Path<(u32, String)>| {
///     format!("post {slug} of user {id}")
/// }).unwrap();
/// router.get("/posts", |Query(paging): Query<Paging>| {
///     format!("page {} of {}", paging.page.unwrap_or(1), paging.per_page.unwrap_or(20))
/// }).unwrap();
/// router.post("/posts", |State(db): State<std::sync::Arc<Db>>, Json(post): Json<NewPost>| {
///     (hyperf_http::StatusCode::CREATED, format!("{} saved in {}", post.title, db.name))
/// }).unwrap();
/// ```
///
/// Extraction runs inside the request pipeline, after the middlewares (they see the raw
/// request), in argument order. An extractor that fails returns its
/// [`Rejection`](FromRequest::Rejection): an error that goes through the exception handlers
/// like any handler error. The built-in extractors reject with a [`Rejection`], which the
/// default exception handler answers with its status and a short message, without an
/// error-level log line (a client's mistake is not a server fault).
///
/// | extractor | takes | rejected with |
/// |---|---|---|
/// | [`Path<T>`] | route parameters: one value, a tuple in pattern order, or a `serde` struct by name (percent-decoded) | `400` |
/// | [`Query<T>`] | the query string, as a `serde` type | `400` |
/// | [`Json<T>`](crate::server::Json) | the body, as JSON | `415` without a JSON `Content-Type`, `413` past the body limit, `400` nested too deep, `400` malformed, `422` of the wrong shape |
/// | [`Form<T>`] | the body, urlencoded | `415` without `application/x-www-form-urlencoded`, `413` past the body limit, `422` of the wrong shape |
/// | [`State<T>`] | a value registered with [`Router::state`](crate::server::Router::state) or [`ServerSpec::state`](crate::server::ServerSpec::state) | a `500` if none was registered (a server fault) |
/// | [`Bytes`], `String` | the body (`String`: UTF-8) | `413` past the body limit, `400` if not UTF-8 |
/// | [`BodyReader`] | the body as it arrives, on a route that [streams](crate::server::RouteRef::stream_body) | a `500` on other routes; its reads fail with a [`BodyError`](crate::BodyError) (`413`, `408`, `400`) |
/// | [`HeaderMap`], [`Method`], [`Uri`], [`Version`], [`Params`](crate::server::Params) | a copy | never |
///
/// # Body limits
///
/// The extractors that take the whole body (`Json`, `Form`, `Bytes`, `String`) refuse one
/// longer than the route's body limit with `413`: 2 MiB
/// ([`ServerSpec::DEFAULT_BODY_LIMIT`](crate::server::ServerSpec::DEFAULT_BODY_LIMIT)) unless
/// the server ([`ServerSpec::body_limit`](crate::server::ServerSpec::body_limit)) or the route
/// ([`RouteRef::body_limit`](crate::server::RouteRef::body_limit)) says otherwise. `Json`
/// also refuses, with `400` and before deserialising, a body whose arrays and objects nest
/// deeper than the route's JSON depth: 32
/// ([`ServerSpec::DEFAULT_JSON_DEPTH`](crate::server::ServerSpec::DEFAULT_JSON_DEPTH); set by
/// [`ServerSpec::json_depth`](crate::server::ServerSpec::json_depth) and
/// [`RouteRef::json_depth`](crate::server::RouteRef::json_depth)) — deserialising recurses
/// once per level, on a connection's small coroutine stack. The engine's
/// [`max_body_bytes`](crate::Limits::max_body_bytes) (8 MiB) still caps what is read at all:
/// a route's body limit above it has no effect past it. A handler of the whole [`Request`]
/// gets the body as the engine read it, without these limits.
///
/// A handler is a function of 0 to 8 extractors, or of the whole [`Request`] (not mixed with
/// extractors: the request is whole, or taken apart by extractors). It returns anything
/// [`HandlerResult`](crate::server::HandlerResult).
///
/// # Your own extractors
///
/// Write your own for what your handlers share: an authenticated user, a tenant, a paging
/// window. Reject with an error; a [`HttpError`](crate::server::HttpError) (or a
/// [`Rejection`]) is answered with its status by the default exception handler.
///
/// ```
/// use hyperf_http::server::{FromRequest, HttpError, Router};
/// use hyperf_http::{Request, StatusCode};
///
/// /// The caller, from a bearer token.
/// struct User(String);
///
/// impl FromRequest for User {
///     type Rejection = HttpError;
///
///     fn from_request(request: &mut Request) -> Result<Self, HttpError> {
///         request
///             .headers()
///             .get("authorization")
///             .and_then(|value| value.to_str().ok())
///             .and_then(|value| value.strip_prefix("Bearer "))
///             .map(|token| User(token.to_string()))
///             .ok_or_else(|| HttpError::new(StatusCode::UNAUTHORIZED, "a bearer token is required"))
///     }
/// }
///
/// let mut router = Router::new();
/// router.get("/me", |User(name): User| format!("hello, {name}")).unwrap();
/// ```
pub trait FromRequest: Sized {
    /// The error when the request does not hold a `Self`.
    type Rejection: Into<BoxError>;

    /// Takes `Self` from `request`. Extractors run in argument order, each with the request
    /// as the previous ones left it.
    fn from_request(request: &mut Request) -> Result<Self, Self::Rejection>;
}

impl FromRequest for HeaderMap {
    type Rejection = std::convert::Infallible;

    fn from_request(request: &mut Request) -> Result<Self, Self::Rejection> {
        Ok(request.headers().clone())
    }
}

impl FromRequest for Method {
    type Rejection = std::convert::Infallible;

    fn from_request(request: &mut Request) -> Result<Self, Self::Rejection> {
        Ok(request.method().clone())
    }
}

impl FromRequest for Uri {
    type Rejection = std::convert::Infallible;

    fn from_request(request: &mut Request) -> Result<Self, Self::Rejection> {
        Ok(request.uri().clone())
    }
}

impl FromRequest for Version {
    type Rejection = std::convert::Infallible;

    fn from_request(request: &mut Request) -> Result<Self, Self::Rejection> {
        Ok(request.version())
    }
}

/// The body, as received (a cheap, shared copy); `413` past the route's
/// [body limit](crate::server::RouteRef::body_limit).
impl FromRequest for Bytes {
    type Rejection = Rejection;

    fn from_request(request: &mut Request) -> Result<Self, Rejection> {
        limited_body(request).cloned()
    }
}

/// A [streamed](crate::server::RouteRef::stream_body) body, read as it arrives. On a route
/// that does not stream its bodies there is none: the request fails as a server fault (a
/// `500` and an error-level log line).
impl FromRequest for BodyReader {
    type Rejection = BoxError;

    fn from_request(request: &mut Request) -> Result<Self, BoxError> {
        request.extensions_mut().remove::<BodyReader>().ok_or_else(|| {
            "BodyReader taken on a route that does not stream its bodies (RouteRef::stream_body), or taken twice".into()
        })
    }
}

/// The body as UTF-8 text; `413` past the route's
/// [body limit](crate::server::RouteRef::body_limit).
impl FromRequest for String {
    type Rejection = Rejection;

    fn from_request(request: &mut Request) -> Result<Self, Rejection> {
        String::from_utf8(limited_body(request)?.to_vec()).map_err(|_| {
            Rejection::new(RejectionKind::InvalidUtf8, "the request body is not UTF-8")
        })
    }
}

/// Whether the request's `Content-Type` is `essence` (`type/subtype`, case-insensitive,
/// parameters allowed), or, with `suffix`, any `type/*+suffix` of the same type.
fn has_content_type(request: &Request, essence: &str, suffix: Option<&str>) -> bool {
    let Some(value) = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let mime = value.split(';').next().unwrap_or_default().trim();
    if mime.eq_ignore_ascii_case(essence) {
        return true;
    }
    let Some(suffix) = suffix else {
        return false;
    };
    let (kind, _) = essence.split_once('/').unwrap_or((essence, ""));
    match mime.split_once('/') {
        Some((mime_kind, subtype)) => {
            mime_kind.eq_ignore_ascii_case(kind)
                && subtype.len() > suffix.len() + 1
                && subtype.as_bytes()[subtype.len() - suffix.len() - 1] == b'+'
                && subtype[subtype.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
        }
        None => false,
    }
}
