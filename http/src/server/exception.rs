//! Exception handlers: the chain that turns an error of the request pipeline into a response.

use std::fmt;
use std::sync::Arc;

use http::StatusCode;
use http::header::{self, HeaderValue};

use crate::engine::Body;
use crate::engine::{BoxError, Response};
use crate::server::error::find_client_error;

/// Turns errors of the request pipeline into responses. Handlers form a chain, ordered by
/// priority (higher first), then registration; each valid handler gets the response so far and
/// returns the next; one that calls [`Propagation::stop`] ends the chain. After every
/// registered handler comes the default one: a [client error](crate::server::ClientError) — an
/// [`HttpError`](crate::server::HttpError), an extractor's rejection, a route parameter's or a
/// streamed body's error — becomes its status and message,
/// anything else a `500` that says nothing of the cause.
///
/// If a handler itself fails (returns an error or panics), the answer is a bare `500` (a
/// server fault, whatever the error was) and an error-level log line.
///
/// ```
/// use hyperf_http::server::{ExceptionHandler, Propagation};
/// use hyperf_http::{BoxError, Response, StatusCode};
///
/// struct Teapot;
///
/// impl ExceptionHandler for Teapot {
///     fn is_valid(&self, error: &BoxError) -> bool {
///         error.to_string().contains("tea")
///     }
///     fn handle(&self, _: &BoxError, mut response: Response, propagation: &mut Propagation) -> Result<Response, BoxError> {
///         *response.status_mut() = StatusCode::IM_A_TEAPOT;
///         propagation.stop();
///         Ok(response)
///     }
/// }
/// ```
pub trait ExceptionHandler: Send + Sync + 'static {
    /// Whether this handler deals with `error`.
    #[doc(alias = "isValid")]
    fn is_valid(&self, error: &BoxError) -> bool;

    /// Returns the response for `error`, given the response so far.
    fn handle(
        &self,
        error: &BoxError,
        response: Response,
        propagation: &mut Propagation,
    ) -> Result<Response, BoxError>;
}

/// Whether the exception-handler chain goes on after the current handler (a per-request flag).
#[derive(Debug, Default)]
pub struct Propagation {
    stopped: bool,
}

impl Propagation {
    /// Ends the chain after the current handler.
    #[doc(alias = "stopPropagation")]
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// Whether a handler has ended the chain.
    #[doc(alias = "isPropagationStopped")]
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }
}

/// A handler in the chain with its priority.
#[derive(Clone)]
pub(crate) struct Registered {
    pub(crate) handler: Arc<dyn ExceptionHandler>,
    pub(crate) priority: i32,
}

impl fmt::Debug for Registered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExceptionHandler({})", self.priority)
    }
}

/// Orders a chain by priority, ties in registration order.
pub(crate) fn order(handlers: &mut [Registered]) {
    handlers.sort_by_key(|h| std::cmp::Reverse(h.priority));
}

/// The built-in last handler.
struct DefaultHandler;

impl ExceptionHandler for DefaultHandler {
    fn is_valid(&self, _: &BoxError) -> bool {
        true
    }

    fn handle(
        &self,
        error: &BoxError,
        mut response: Response,
        propagation: &mut Propagation,
    ) -> Result<Response, BoxError> {
        let (status, message) = match client_error(error) {
            Some((status, message)) => {
                log::debug!("request refused with {status}: {error}");
                (status, message)
            }
            None => {
                log::error!("request failed: {error}");
                let status = StatusCode::INTERNAL_SERVER_ERROR;
                (
                    status,
                    status.canonical_reason().unwrap_or_default().to_string(),
                )
            }
        };
        *response.status_mut() = status;
        *response.body_mut() = Body::from(message);
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        propagation.stop();
        Ok(response)
    }
}

/// The status and message for the client, when `error` is a client's mistake (a
/// [`ClientError`] anywhere in it: [`find_client_error`]). `None`: a server fault.
fn client_error(error: &BoxError) -> Option<(StatusCode, String)> {
    find_client_error(&**error).map(|found| (found.status(), found.client_message().into_owned()))
}

/// Runs the chain for `error`; `None` if a handler failed (the caller answers `500`).
pub(crate) fn handle(handlers: &[Registered], error: &BoxError) -> Option<Response> {
    let mut response = Response::new(Body::empty());
    let mut propagation = Propagation::default();
    let default = DefaultHandler;
    let chain = handlers
        .iter()
        .map(|r| &*r.handler)
        .chain(std::iter::once(&default as &dyn ExceptionHandler));
    for handler in chain {
        if !handler.is_valid(error) {
            continue;
        }
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handler.handle(error, response, &mut propagation)
        }));
        response = match outcome {
            Ok(Ok(response)) => response,
            Ok(Err(failure)) => {
                log::error!("an exception handler failed on {error}: {failure}");
                return None;
            }
            Err(payload) if runtime::is_cancelled(&payload) => std::panic::resume_unwind(payload),
            Err(_) => {
                log::error!("an exception handler panicked on {error}");
                return None;
            }
        };
        if propagation.is_stopped() {
            break;
        }
    }
    Some(response)
}
