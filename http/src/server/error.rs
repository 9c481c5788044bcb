//! [`HttpError`]: an error that knows its HTTP status.

use std::fmt;

use http::StatusCode;

/// An error meant for the client: the default exception handler answers it with its status
/// and message. Any other error becomes a `500` whose body says nothing of the cause.
///
/// ```
/// use hyperf_http::server::HttpError;
/// use hyperf_http::StatusCode;
///
/// fn find_user(id: u32) -> Result<&'static str, HttpError> {
///     if id == 1 { Ok("ada") } else { Err(HttpError::new(StatusCode::NOT_FOUND, "no such user")) }
/// }
/// assert_eq!(find_user(2).unwrap_err().status(), StatusCode::NOT_FOUND);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[doc(alias = "HttpException")]
pub struct HttpError {
    status: StatusCode,
    message: String,
}

impl HttpError {
    /// An error answered with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        HttpError {
            status,
            message: message.into(),
        }
    }

    /// An error answered with `status` and its standard reason phrase.
    pub fn status_only(status: StatusCode) -> Self {
        Self::new(status, status.canonical_reason().unwrap_or("Error"))
    }

    /// The status to answer with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message to answer with.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

impl std::error::Error for HttpError {}

/// A panic caught in the request pipeline, turned into an error for the exception handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panicked {
    message: String,
}

impl Panicked {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Panicked {
            message: message.into(),
        }
    }

    /// The panic's message (for logs; never sent to clients by the default handler).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "panicked: {}", self.message)
    }
}

impl std::error::Error for Panicked {}
