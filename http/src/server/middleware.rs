//! [`Middleware`]: code around the handler, in a chain sorted by priority.

use std::any::TypeId;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use http::header::{HeaderName, HeaderValue};

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
///
/// # Identity
///
/// When a chain is sorted by priority, a middleware registered twice runs once (Hyperf
/// de-duplicates by class). What "the same middleware" means is its
/// [`identity`](Self::identity):
///
/// - a type of yours: every value of the type is the same middleware, as in Hyperf — register
///   `Auth` globally and on a route, and it runs once;
/// - a closure: every registration is a middleware of its own, always — two closures (even two
///   made by one function, with different captures) both run;
/// - a type that overrides [`name`](Self::name): the name is its identity, so values of one
///   type with different names are different middlewares (and types sharing a name are one).
///
/// A type whose values differ by configuration (`RequireRole("admin")`,
/// `RequireRole("audit")`) should override `name` to include it, or return
/// [`Identity::Distinct`] from `identity`: otherwise the second one in a sorted chain is
/// dropped as a duplicate of the first.
pub trait Middleware: Send + Sync + 'static {
    /// Handles `request`, usually by calling `next.run(request)` somewhere in between.
    fn process(&self, request: Request, next: Next<'_>) -> Result<Response, BoxError>;

    /// The middleware's name, for logs and `Debug`; the type's name unless overridden. A name
    /// of your own also becomes the middleware's [`identity`](Self::identity).
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }

    /// What makes two registrations the same middleware when a sorted chain drops duplicates
    /// (see [Identity](Middleware#identity)): the [`name`](Self::name) if it was overridden,
    /// else the type. Closures are [`Identity::Distinct`].
    fn identity(&self) -> Identity {
        let name = self.name();
        if name == std::any::type_name::<Self>() {
            Identity::Type(TypeId::of::<Self>())
        } else {
            Identity::Name(name.to_owned())
        }
    }
}

/// What makes two registrations of middlewares the same middleware; see
/// [Identity](Middleware#identity).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Identity {
    /// Every value of this type is the same middleware (Hyperf's rule: by class).
    Type(TypeId),
    /// Every middleware with this name is the same middleware.
    Name(String),
    /// Every registration is a middleware of its own.
    Distinct,
}

impl<F> Middleware for F
where
    F: Fn(Request, Next<'_>) -> Result<Response, BoxError> + Send + Sync + 'static,
{
    fn process(&self, request: Request, next: Next<'_>) -> Result<Response, BoxError> {
        self(request, next)
    }

    /// Closures have no name to tell them apart (closures of one function share their type's
    /// name), and one closure type can carry different captures: each registration is its own.
    fn identity(&self) -> Identity {
        Identity::Distinct
    }
}

/// The innermost step of a pipeline.
pub(crate) type Endpoint<'a> = &'a (dyn Fn(Request) -> Result<Response, BoxError> + Send + Sync);

/// Headers that middlewares ask the pipeline to set on a request's final response, whatever
/// it turns out to be: when the rest of their chain fails or panics, that response is made
/// later, by the exception handlers, out of their reach. One per request, on the pipeline's
/// stack; empty (and allocation-free) unless a chain failed.
#[derive(Debug, Default)]
pub(crate) struct FinalHeaders(Mutex<Vec<(HeaderName, HeaderValue)>>);

impl FinalHeaders {
    /// Sets `name: value` on the final response (replacing a value set before).
    fn push(&self, name: HeaderName, value: HeaderValue) {
        let mut headers = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        headers.push((name, value));
    }

    /// Sets the headers pushed on `response`, in order.
    pub(crate) fn apply(self, response: &mut Response) {
        let headers = self.0.into_inner().unwrap_or_else(PoisonError::into_inner);
        for (name, value) in headers {
            response.headers_mut().insert(name, value);
        }
    }
}

/// The rest of a middleware chain, ending in the handler.
#[derive(Clone, Copy)]
pub struct Next<'a> {
    rest: &'a [Arc<dyn Middleware>],
    endpoint: Endpoint<'a>,
    final_headers: &'a FinalHeaders,
}

impl<'a> Next<'a> {
    pub(crate) fn new(
        chain: &'a [Arc<dyn Middleware>],
        endpoint: Endpoint<'a>,
        final_headers: &'a FinalHeaders,
    ) -> Self {
        Next {
            rest: chain,
            endpoint,
            final_headers,
        }
    }

    /// Makes sure the request's final response has `name: value`, even when the rest of the
    /// chain fails or panics and the exception handlers make that response: the pipeline sets
    /// it after them (replacing any value they set).
    pub(crate) fn set_on_final_response(&self, name: HeaderName, value: HeaderValue) {
        self.final_headers.push(name, value);
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
                    final_headers: self.final_headers,
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

/// Which registrations are one middleware, fixed when it is registered.
#[derive(Clone, PartialEq, Eq)]
enum Key {
    Type(TypeId),
    Name(String),
    /// A distinct middleware: a number no other registration has.
    Registration(u64),
}

/// A middleware as registered: with a priority (default 0), whether one was given, and its
/// identity.
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) middleware: Arc<dyn Middleware>,
    pub(crate) priority: i32,
    pub(crate) explicit_priority: bool,
    key: Key,
}

impl Entry {
    pub(crate) fn new(middleware: Arc<dyn Middleware>, priority: Option<i32>) -> Self {
        static REGISTRATIONS: AtomicU64 = AtomicU64::new(0);
        let key = match middleware.identity() {
            Identity::Type(id) => Key::Type(id),
            Identity::Name(name) => Key::Name(name),
            Identity::Distinct => Key::Registration(REGISTRATIONS.fetch_add(1, Ordering::Relaxed)),
        };
        Entry {
            middleware,
            priority: priority.unwrap_or(0),
            explicit_priority: priority.is_some(),
            key,
        }
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.middleware.name(), self.priority)
    }
}

/// Hyperf's `sortMiddlewares`: descending priority, ties in insertion order, then duplicates
/// (by identity) removed keeping the first occurrence.
fn sort(entries: &[Entry]) -> Vec<Arc<dyn Middleware>> {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    // The sort is stable: equal priorities keep their insertion order.
    sorted.sort_by_key(|e| std::cmp::Reverse(e.priority));
    let mut seen: Vec<&Key> = Vec::with_capacity(sorted.len());
    let mut chain = Vec::with_capacity(sorted.len());
    for entry in sorted {
        if !seen.contains(&&entry.key) {
            seen.push(&entry.key);
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
