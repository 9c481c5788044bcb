//! [`Middleware`]: code around the handler, in a chain sorted by priority.

use std::fmt;
use std::sync::Arc;

use crate::engine::{BoxError, Request, Response};

/// Code that runs around the rest of the request pipeline: it may change the request, answer
/// it itself, or call [`Next::run`] and change the response.
///
/// The first middleware of a chain is the outermost, the route's handler the innermost.
/// `next` is a plain value holding the rest of the chain: there is no shared cursor, so
/// calling it twice (say, to retry) runs the rest of the chain twice, from this point.
///
/// Closures are middlewares too:
///
/// ```
/// use hyperf_http::server::{Middleware, Next};
/// use hyperf_http::{BoxError, Request, Response};
///
/// let timing = |request: Request, next: Next<'_>| -> Result<Response, BoxError> {
///     let started = std::time::Instant::now();
///     let mut response = next.run(request)?;
///     let micros = started.elapsed().as_micros().to_string();
///     response.headers_mut().insert("x-elapsed-us", micros.parse()?);
///     Ok(response)
/// };
/// # fn is_middleware(_: impl Middleware) {}
/// # is_middleware(timing);
/// ```
pub trait Middleware: Send + Sync + 'static {
    /// Handles `request`, usually by calling `next.run(request)` somewhere in between.
    fn process(&self, request: Request, next: Next<'_>) -> Result<Response, BoxError>;

    /// The middleware's identity for de-duplication when chains are priority-sorted: two
    /// entries with the same name are the same middleware (Hyperf compares class names). The
    /// default is the type's name.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }
}

impl<F> Middleware for F
where
    F: Fn(Request, Next<'_>) -> Result<Response, BoxError> + Send + Sync + 'static,
{
    fn process(&self, request: Request, next: Next<'_>) -> Result<Response, BoxError> {
        self(request, next)
    }
}

/// The innermost step of a pipeline.
pub(crate) type Endpoint<'a> = &'a (dyn Fn(Request) -> Result<Response, BoxError> + Send + Sync);

/// The rest of a middleware chain, ending in the handler.
#[derive(Clone, Copy)]
pub struct Next<'a> {
    rest: &'a [Arc<dyn Middleware>],
    endpoint: Endpoint<'a>,
}

impl<'a> Next<'a> {
    pub(crate) fn new(chain: &'a [Arc<dyn Middleware>], endpoint: Endpoint<'a>) -> Self {
        Next {
            rest: chain,
            endpoint,
        }
    }

    /// Runs the rest of the chain on `request`.
    #[doc(alias = "handle")]
    pub fn run(self, request: Request) -> Result<Response, BoxError> {
        match self.rest.split_first() {
            Some((middleware, rest)) => middleware.process(
                request,
                Next {
                    rest,
                    endpoint: self.endpoint,
                },
            ),
            None => (self.endpoint)(request),
        }
    }

    /// How many middlewares are left before the handler.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }
}

impl fmt::Debug for Next<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.rest.iter().map(|m| m.name()).collect();
        f.debug_struct("Next").field("rest", &names).finish()
    }
}

/// A middleware as registered: with a priority (default 0) and whether one was given.
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) middleware: Arc<dyn Middleware>,
    pub(crate) priority: i32,
    pub(crate) explicit_priority: bool,
}

impl Entry {
    pub(crate) fn new(middleware: Arc<dyn Middleware>, priority: Option<i32>) -> Self {
        Entry {
            middleware,
            priority: priority.unwrap_or(0),
            explicit_priority: priority.is_some(),
        }
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.middleware.name(), self.priority)
    }
}

/// Hyperf's `sortMiddlewares`: descending priority, ties in insertion order, then duplicates
/// (by name) removed keeping the first occurrence.
pub(crate) fn sort(entries: &[Entry]) -> Vec<Arc<dyn Middleware>> {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    // The sort is stable: equal priorities keep their insertion order.
    sorted.sort_by_key(|e| std::cmp::Reverse(e.priority));
    let mut seen: Vec<&str> = Vec::with_capacity(sorted.len());
    let mut chain = Vec::with_capacity(sorted.len());
    for entry in sorted {
        let name = entry.middleware.name();
        if !seen.contains(&name) {
            seen.push(name);
            chain.push(Arc::clone(&entry.middleware));
        }
    }
    chain
}

/// The chain for a request: the global entries, then the route's. Sorted only when the route
/// has middlewares or a global entry was given a priority; otherwise the raw global list runs,
/// duplicates and all (Hyperf's rule).
pub(crate) fn chain(global: &[Entry], route: &[Entry]) -> Vec<Arc<dyn Middleware>> {
    if route.is_empty() && !global.iter().any(|e| e.explicit_priority) {
        return global.iter().map(|e| Arc::clone(&e.middleware)).collect();
    }
    let all: Vec<Entry> = global.iter().chain(route).cloned().collect();
    sort(&all)
}
