//! [`Rejection`]: why a built-in extractor could not take its value from a request.

use std::error::Error;
use std::fmt;

use http::StatusCode;

/// A request the built-in extractors could not take a value from: a client's mistake, which
/// the default exception handler answers with [`status`](Rejection::status) and
/// [`message`](Rejection::message), without an error-level log line.
///
/// An exception handler of yours finds it with [`find_cause`](crate::server::find_cause), to
/// render it its own way:
///
/// ```
/// use hyperf_http::server::{ExceptionHandler, Json, Propagation, Rejection, find_cause};
/// use hyperf_http::{BoxError, Response};
/// use hyperf_http::server::IntoResponse;
///
/// struct JsonRejections;
///
/// impl ExceptionHandler for JsonRejections {
///     fn is_valid(&self, error: &BoxError) -> bool {
///         find_cause::<Rejection>(&**error).is_some()
///     }
///
///     fn handle(&self, error: &BoxError, _: Response, propagation: &mut Propagation) -> Result<Response, BoxError> {
///         let rejection = find_cause::<Rejection>(&**error).expect("checked by is_valid");
///         propagation.stop();
///         let body = serde_json::json!({ "error": rejection.message() });
///         Ok((rejection.status(), Json(body)).into_response())
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    kind: RejectionKind,
    message: String,
}

/// What a [`Rejection`] is about, and so its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectionKind {
    /// A route parameter is missing or does not parse as the type asked for: `400`.
    Path,
    /// The query string does not parse as the type asked for: `400`.
    Query,
    /// The body's `Content-Type` is not one the extractor reads: `415`.
    UnsupportedMediaType,
    /// The body is not well-formed JSON: `400`.
    MalformedJson,
    /// The body is JSON, or a form, of the wrong shape (a missing field, a string for a
    /// number): `422`.
    InvalidBody,
    /// The body is not UTF-8 text: `400`.
    InvalidUtf8,
}

impl RejectionKind {
    /// The status a client is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            RejectionKind::Path
            | RejectionKind::Query
            | RejectionKind::MalformedJson
            | RejectionKind::InvalidUtf8 => StatusCode::BAD_REQUEST,
            RejectionKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RejectionKind::InvalidBody => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
}

impl Rejection {
    /// A rejection of `kind`, answered with `message`.
    pub fn new(kind: RejectionKind, message: impl Into<String>) -> Self {
        Rejection {
            kind,
            message: message.into(),
        }
    }

    /// What it is about.
    pub fn kind(&self) -> RejectionKind {
        self.kind
    }

    /// The status a client is answered with.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// The message for the client: what was wrong with its request, nothing of the server's.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status(), self.message)
    }
}

impl Error for Rejection {}
