//! Lifecycle events and their listeners.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;

use crate::server::request_context::RequestHead;
use crate::server::routing::Dispatched;

use crate::engine::{BoxError, Request, Response};

/// A request was routed and is about to enter the middlewares (only with
/// `enable_request_lifecycle`). Fires for 404s and 405s too.
#[derive(Debug)]
pub struct RequestReceived<'a> {
    /// The server's name.
    pub server: &'a str,
    /// The request.
    pub request: &'a Request,
    /// The router's verdict for it.
    pub dispatched: &'a Dispatched,
}

/// A response is ready and about to be written (only with `enable_request_lifecycle`).
#[derive(Debug)]
pub struct RequestHandled<'a> {
    /// The server's name.
    pub server: &'a str,
    /// The request, as the pipeline stored it in the context.
    pub request: &'a RequestHead,
    /// The response about to be written.
    pub response: &'a Response,
    /// The error the exception handlers turned into this response, if any.
    pub error: Option<&'a Arc<BoxError>>,
}

/// The request's coroutine has ended: its response has been written (only with
/// `enable_request_lifecycle`; fired by a `defer`).
#[derive(Debug, Clone)]
pub struct RequestTerminated {
    /// The server's name.
    pub server: Arc<str>,
    /// The request, as the pipeline stored it in the context.
    pub request: Arc<RequestHead>,
    /// The status that was sent.
    pub status: StatusCode,
    /// The error the exception handlers turned into the response, if any.
    pub error: Option<Arc<BoxError>>,
    /// From the start of the pipeline to the end of the request's coroutine.
    pub elapsed: Duration,
}

/// A server lifecycle event, in the order they happen.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// The server instance has started (its listeners are bound).
    Start,
    /// The manager has started.
    ManagerStart,
    /// A worker has started.
    WorkerStart {
        /// The worker's id.
        worker_id: usize,
    },
    /// A worker stopped taking new work.
    WorkerStop {
        /// The worker's id.
        worker_id: usize,
    },
    /// A worker is exiting.
    WorkerExit {
        /// The worker's id.
        worker_id: usize,
    },
    /// The server has shut down.
    Shutdown,
}

pub(crate) type ReceivedListener = Arc<dyn for<'a> Fn(&RequestReceived<'a>) + Send + Sync>;
pub(crate) type HandledListener = Arc<dyn for<'a> Fn(&RequestHandled<'a>) + Send + Sync>;
pub(crate) type TerminatedListener = Arc<dyn Fn(&RequestTerminated) + Send + Sync>;
pub(crate) type ServerListener = Arc<dyn Fn(&ServerEvent) + Send + Sync>;

/// The listeners registered on a server.
#[derive(Default, Clone)]
pub(crate) struct Listeners {
    pub(crate) received: Vec<ReceivedListener>,
    pub(crate) handled: Vec<HandledListener>,
    pub(crate) terminated: Vec<TerminatedListener>,
    pub(crate) server: Vec<ServerListener>,
}

impl Listeners {
    pub(crate) fn received(&self, event: &RequestReceived<'_>) {
        self.received
            .iter()
            .for_each(|l| guarded("RequestReceived", || l(event)));
    }

    pub(crate) fn handled(&self, event: &RequestHandled<'_>) {
        self.handled
            .iter()
            .for_each(|l| guarded("RequestHandled", || l(event)));
    }

    pub(crate) fn terminated(&self, event: &RequestTerminated) {
        self.terminated
            .iter()
            .for_each(|l| guarded("RequestTerminated", || l(event)));
    }

    pub(crate) fn server(&self, event: &ServerEvent) {
        self.server
            .iter()
            .for_each(|l| guarded("server event", || l(event)));
    }
}

impl fmt::Debug for Listeners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listeners")
            .field("received", &self.received.len())
            .field("handled", &self.handled.len())
            .field("terminated", &self.terminated.len())
            .field("server", &self.server.len())
            .finish()
    }
}

/// Calls one listener; a panic in it is logged, and the caller goes on with the others.
pub(crate) fn guarded(what: &str, listener: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(listener)) {
        if runtime::is_cancelled(&payload) {
            std::panic::resume_unwind(payload);
        }
        log::error!("a {what} listener panicked");
    }
}
