//! What handlers return: anything [`IntoResponse`] (text, [`Json`], a `Response`, `()`, a
//! status), or a `Result` of it.

use bytes::Bytes;
use http::StatusCode;
use http::header::{self, HeaderValue};
#[cfg(feature = "json")]
use serde::Serialize;

use crate::engine::Body;
use crate::engine::{BoxError, Response, recycled_header_map};

/// Converts a handler's value into a response.
///
/// | value | response |
/// |---|---|
/// | `&'static str`, `String` | `200`, `text/plain; charset=utf-8` |
/// | `Bytes`, `Vec<u8>`, `&'static [u8]` | `200`, `application/octet-stream` |
/// | [`Json`]`(value)` | `200`, `application/json` |
/// | `Response` | as is |
/// | `()` | `200`, empty body |
/// | `StatusCode` | that status, empty body |
/// | `(StatusCode, value)` | the value's response with that status |
pub trait IntoResponse {
    /// The response.
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

/// A response with `body` and room for a header or two, in a map the engine recycled.
pub(crate) fn with_room(body: Body) -> Response {
    let mut response = Response::new(body);
    *response.headers_mut() = recycled_header_map(2);
    response
}

fn text(body: Body) -> Response {
    let mut response = with_room(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        text(Body::from(self))
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        text(Body::from(self))
    }
}

/// Bytes of no declared kind: `application/octet-stream`, as axum does, rather than no
/// `Content-Type` (which leaves a client to guess).
fn octets(body: Body) -> Response {
    let mut response = with_room(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    response
}

impl IntoResponse for Bytes {
    fn into_response(self) -> Response {
        octets(Body::from(self))
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        octets(Body::from(self))
    }
}

impl IntoResponse for &'static [u8] {
    fn into_response(self) -> Response {
        octets(Body::from(self))
    }
}

impl IntoResponse for () {
    fn into_response(self) -> Response {
        Response::new(Body::empty())
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = self;
        response
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        let mut response = self.1.into_response();
        *response.status_mut() = self.0;
        response
    }
}

/// A value sent as JSON (`application/json`), serialised with `serde_json`.
///
/// ```
/// use hyperf_http::server::{IntoResponse, Json};
///
/// #[derive(serde::Serialize)]
/// struct User { id: u32, name: &'static str }
///
/// let response = Json(User { id: 1, name: "ada" }).into_response();
/// assert_eq!(response.body().as_bytes(), Some(&br#"{"id":1,"name":"ada"}"#[..]));
/// ```
#[cfg(feature = "json")]
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

#[cfg(feature = "json")]
impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(bytes) => {
                let mut response = with_room(Body::from(bytes));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                response
            }
            Err(error) => {
                log::error!("could not serialise a JSON response: {error}");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

/// What a handler may return: a value [`IntoResponse`], or a `Result` of one whose error
/// goes to the exception handlers.
pub trait HandlerResult {
    /// The response, or the error for the exception handlers.
    fn into_result(self) -> Result<Response, BoxError>;
}

impl<T: IntoResponse> HandlerResult for T {
    fn into_result(self) -> Result<Response, BoxError> {
        Ok(self.into_response())
    }
}

impl<T: IntoResponse, E: Into<BoxError> + 'static> HandlerResult for Result<T, E> {
    fn into_result(self) -> Result<Response, BoxError> {
        self.map(IntoResponse::into_response).map_err(box_error)
    }
}

/// Boxes a handler's error so that what it carries stays findable
/// ([`find_cause`](crate::server::find_cause)).
fn box_error<E: Into<BoxError> + 'static>(error: E) -> BoxError {
    #[cfg(feature = "anyhow")]
    if std::any::TypeId::of::<E>() == std::any::TypeId::of::<anyhow::Error>() {
        // Only on the error path, and only for anyhow: its own `Into<BoxError>` would hide the
        // outermost error (an `HttpError` would lose its status).
        let error: Box<dyn std::any::Any> = Box::new(error);
        if let Ok(error) = error.downcast::<anyhow::Error>() {
            return Box::new(crate::server::error::Anyhow(*error));
        }
        unreachable!("the type id says the error is an anyhow::Error");
    }
    error.into()
}
