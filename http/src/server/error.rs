//! [`HttpError`]: an error that knows its HTTP status, and how the server finds it inside
//! other errors.

use std::borrow::Cow;
use std::error::Error;
use std::fmt;

use http::StatusCode;

/// An error meant for the client: the default exception handler answers it with its status
/// and message, wherever it is in the error's chain of [`source`](Error::source)s and also
/// inside an `anyhow::Error` a handler returned. Any other error becomes a `500` whose body
/// says nothing of the cause, and an error-level log line.
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

impl Error for HttpError {}

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

impl Error for Panicked {}

/// The first error of type `T` in `error`, in its chain of [`source`](Error::source)s, or inside
/// an `anyhow::Error` a handler returned: how the default exception handler finds an
/// [`HttpError`] however it was wrapped, and how an exception handler of yours finds its own
/// error types.
///
/// ```
/// use hyperf_http::server::{HttpError, find_cause};
/// use hyperf_http::{BoxError, StatusCode};
///
/// #[derive(Debug)]
/// struct Lookup(HttpError);
/// impl std::fmt::Display for Lookup {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("lookup failed") }
/// }
/// impl std::error::Error for Lookup {
///     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> { Some(&self.0) }
/// }
///
/// let error: BoxError = Lookup(HttpError::new(StatusCode::NOT_FOUND, "no such user")).into();
/// let found = find_cause::<HttpError>(&*error).unwrap();
/// assert_eq!(found.status(), StatusCode::NOT_FOUND);
/// ```
pub fn find_cause<'a, T: Error + 'static>(error: &'a (dyn Error + 'static)) -> Option<&'a T> {
    std::iter::successors(Some(error), |cause: &&'a (dyn Error + 'static)| {
        next_cause(*cause)
    })
    .find_map(|cause| cause.downcast_ref::<T>())
}

/// An error the client caused, with the status to answer and the message the client may see:
/// the contract of every client error of this crate — [`HttpError`],
/// [`Rejection`](crate::server::Rejection) (an extractor's), [`ParamError`](crate::server::ParamError)
/// (a route parameter's) and [`BodyError`](crate::BodyError) (a streamed body's) — and of
/// [`TimedOut`](crate::server::TimedOut), a request past its time limit (a `503` the client
/// may be told of, though not its fault). The default exception handler answers each with its
/// status and message, without an error-level log; an exception handler of your own finds one
/// with [`find_client_error`].
pub trait ClientError: Error + Send + Sync + 'static {
    /// The status to answer with (a `4xx`; `TimedOut`'s is settable, `503` by default).
    fn status(&self) -> StatusCode;

    /// What the client may be told: nothing internal, control characters escaped.
    fn client_message(&self) -> Cow<'_, str>;
}

impl ClientError for HttpError {
    fn status(&self) -> StatusCode {
        HttpError::status(self)
    }

    fn client_message(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.message())
    }
}

impl ClientError for crate::server::extract::Rejection {
    fn status(&self) -> StatusCode {
        crate::server::extract::Rejection::status(self)
    }

    fn client_message(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.message())
    }
}

impl ClientError for crate::server::routing::ParamError {
    fn status(&self) -> StatusCode {
        crate::server::routing::ParamError::status(self)
    }

    fn client_message(&self) -> Cow<'_, str> {
        Cow::Owned(self.to_string())
    }
}

impl ClientError for crate::engine::BodyError {
    fn status(&self) -> StatusCode {
        crate::engine::BodyError::status(self)
    }

    fn client_message(&self) -> Cow<'_, str> {
        Cow::Owned(self.reason().to_string())
    }
}

/// The outermost client error in `error` and its causes (as [`find_cause`] walks them, an
/// `anyhow::Error`'s included), or `None` for a server fault. A client error of your own is
/// found when it is an [`HttpError`] (or holds one as a cause).
///
/// ```
/// use hyperf_http::server::{HttpError, find_client_error};
/// use hyperf_http::{BoxError, StatusCode};
///
/// let error: BoxError = HttpError::new(StatusCode::CONFLICT, "taken").into();
/// let found = find_client_error(&*error).unwrap();
/// assert_eq!((found.status(), &*found.client_message()), (StatusCode::CONFLICT, "taken"));
///
/// let fault: BoxError = "the database is down".into();
/// assert!(find_client_error(&*fault).is_none());
/// ```
pub fn find_client_error<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a dyn ClientError> {
    std::iter::successors(Some(error), |cause: &&'a (dyn Error + 'static)| {
        next_cause(*cause)
    })
    .find_map(as_client_error)
}

/// `error` as a client error, if it is one of this crate's.
fn as_client_error<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a dyn ClientError> {
    if let Some(http) = error.downcast_ref::<HttpError>() {
        return Some(http);
    }
    if let Some(rejection) = error.downcast_ref::<crate::server::extract::Rejection>() {
        return Some(rejection);
    }
    if let Some(param) = error.downcast_ref::<crate::server::routing::ParamError>() {
        return Some(param);
    }
    if let Some(timed_out) = error.downcast_ref::<crate::server::TimedOut>() {
        return Some(timed_out);
    }
    error
        .downcast_ref::<crate::engine::BodyError>()
        .map(|body| body as &dyn ClientError)
}

/// The cause of `error`: its `source`, except for an `io::Error` holding an error of its own
/// (a failed read of a streamed body, say), whose `source` would skip that error.
fn next_cause<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a (dyn Error + 'static)> {
    if let Some(inner) = error
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::get_ref)
    {
        let inner: &(dyn Error + 'static) = inner;
        return Some(inner);
    }
    error.source()
}

/// An `anyhow::Error` returned by a handler, kept whole: its causes stay reachable through
/// [`source`](Error::source) (anyhow's own conversion to a boxed error hides the outermost
/// one).
#[cfg(feature = "anyhow")]
pub(crate) struct Anyhow(pub(crate) anyhow::Error);

#[cfg(feature = "anyhow")]
impl fmt::Debug for Anyhow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(feature = "anyhow")]
impl fmt::Display for Anyhow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // With its causes: this is what the error log says of a request that failed.
        write!(f, "{:#}", self.0)
    }
}

#[cfg(feature = "anyhow")]
impl Error for Anyhow {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        let outermost: &(dyn Error + Send + Sync + 'static) = self.0.as_ref();
        Some(outermost)
    }
}
