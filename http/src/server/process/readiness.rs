//! [`Readiness`]: whether a server takes new work, and the health route that tells a load
//! balancer.
//!
//! A server is ready until its shutdown begins: the drain delay of
//! [`Server::drain_delay`](crate::server::Server::drain_delay) or, without one, `WORKER_EXIT`.
//! (Before every worker has started no request is answered at all: connections wait for
//! `WORKER_START`.) While it drains, its engines close every connection after its response
//! ([`Engine::begin_drain`](crate::engine::Engine::begin_drain)).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use coordinator::Coordinator;
use http::StatusCode;
use http::header::{self, HeaderValue};

use crate::engine::{Body, BoxError, Incoming, Response, Service};

/// Shared by a server's pipelines and its [`RunningServer`](crate::server::RunningServer).
#[derive(Debug, Clone)]
pub(crate) struct Readiness {
    draining: Arc<AtomicBool>,
    worker_exit: Coordinator,
}

impl Readiness {
    pub(crate) fn new(worker_exit: Coordinator) -> Self {
        Readiness {
            draining: Arc::new(AtomicBool::new(false)),
            worker_exit,
        }
    }

    /// The shutdown has begun: not ready from now on.
    pub(crate) fn begin_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Whether the shutdown has begun: the drain delay or the drain.
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire) || self.worker_exit.is_closing()
    }

    /// The health route's answer: `200 ready` or `503 draining`, never cached.
    pub(crate) fn health_response(&self) -> Response {
        let (status, text) = match self.is_draining() {
            false => (StatusCode::OK, "ready\n"),
            true => (StatusCode::SERVICE_UNAVAILABLE, "draining\n"),
        };
        let mut response = Response::new(Body::from(text));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// The health route as a layer around a server's service: its path (any method) is answered
/// with the server's readiness before everything else — before the wait for a started worker
/// (its answer is the server's readiness, not one worker's), routing and middlewares.
pub(crate) struct HealthRoute {
    path: Box<str>,
    readiness: Readiness,
    inner: Arc<dyn Service>,
}

impl HealthRoute {
    pub(crate) fn new(path: Box<str>, readiness: Readiness, inner: Arc<dyn Service>) -> Self {
        HealthRoute {
            path,
            readiness,
            inner,
        }
    }
}

impl Service for HealthRoute {
    fn call(&self, incoming: Incoming<'_>) -> Result<Response, BoxError> {
        if incoming.request().uri().path() == &*self.path {
            // Its body, if any, is the engine's to discard.
            return Ok(self.readiness.health_response());
        }
        self.inner.call(incoming)
    }
}
