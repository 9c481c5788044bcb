//! [`State<T>`]: values the application shares with its handlers (a database pool, a
//! configuration), registered once and handed to every request that asks.

use crate::engine::Request;
use crate::server::extract::FromRequest;
use crate::server::request_context::with_route;
use crate::server::routing::Dispatched;
use std::error::Error;
use std::fmt;

/// A value registered with [`Router::state`](crate::server::Router::state) or
/// [`ServerSpec::state`](crate::server::ServerSpec::state), by its type, cloned for each
/// request that takes it: share big or mutable things through an `Arc`.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use hyperf_http::server::{Router, State};
///
/// #[derive(Default)]
/// struct Hits(AtomicU64);
///
/// let mut router = Router::new();
/// router.state(Arc::new(Hits::default()));
/// router.get("/", |State(hits): State<Arc<Hits>>| {
///     format!("visit {}", hits.0.fetch_add(1, Ordering::Relaxed) + 1)
/// }).unwrap();
/// ```
///
/// Asking for a type nobody registered is a server fault, not a client's mistake: the request
/// fails with a [`MissingState`] error (a `500` and an error-level log line).
#[derive(Debug, Clone, Copy, Default)]
pub struct State<T>(pub T);

impl<T: Clone + Send + Sync + 'static> FromRequest for State<T> {
    type Rejection = MissingState;

    fn from_request(request: &mut Request) -> Result<Self, MissingState> {
        with_route(request, |dispatched| match dispatched {
            Some(Dispatched::Found(found)) => found
                .route
                .states
                .get()
                .and_then(|states| states.get::<T>())
                .map(|value| State(value.clone())),
            _ => None,
        })
        .ok_or(MissingState {
            type_name: std::any::type_name::<T>(),
        })
    }
}

/// A handler asked for a [`State<T>`] whose `T` was never registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingState {
    type_name: &'static str,
}

impl MissingState {
    /// The type asked for.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }
}

impl fmt::Display for MissingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "State<{}> was asked for but never registered (Router::state or ServerSpec::state)",
            self.type_name
        )
    }
}

impl Error for MissingState {}
