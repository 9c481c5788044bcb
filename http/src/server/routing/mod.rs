//! [`Router`]: FastRoute-style patterns — `/user/{id}`, `/user/{id:\d+}`, optional tails
//! `/posts[/{page}]` — with groups, route middlewares and conflict checks.
//!
//! The router is split by concern: [`registration`] adds routes (and refuses conflicts),
//! [`pattern`] compiles their patterns, [`matcher`] routes a request, and [`matched`] holds
//! what it found. The router itself and the lookup tables they share are here.

mod matched;
mod matcher;
mod pattern;
mod registration;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use http::Method;
use regex::{Regex, RegexSet};

use crate::engine::{BoxError, Request, Response};
use crate::server::extract::StateMap;
use crate::server::middleware::Entry;

pub(crate) use self::matched::NO_PARAMS;
pub use self::matched::{Dispatched, Found, ParamError, Params};
pub use self::registration::{RouteEntry, RouteError, RouteRef};

/// A route's handler, as stored.
pub(crate) type BoxedHandler = Arc<dyn Fn(Request) -> Result<Response, BoxError> + Send + Sync>;

/// Routes requests by method and path.
///
/// ```
/// use hyperf_http::server::{Dispatched, Router};
/// use hyperf_http::{Method, Request};
///
/// let mut router = Router::new();
/// router.get("/user/{id:\\d+}", |request: Request| {
///     let id: u32 = hyperf_http::server::params(&request).parse("id").unwrap();
///     format!("user {id}")
/// }).unwrap();
/// router.get("/posts[/{page}]", |_: Request| "posts").unwrap();
///
/// match router.dispatch(&Method::GET, "/user/42") {
///     Dispatched::Found(found) => {
///         assert_eq!(found.pattern(), "/user/{id:\\d+}");
///         assert_eq!(found.params().get("id"), Some("42"));
///     }
///     other => panic!("{other:?}"),
/// }
/// assert!(matches!(router.dispatch(&Method::GET, "/posts"), Dispatched::Found(_)));
/// assert!(matches!(router.dispatch(&Method::GET, "/user/ada"), Dispatched::NotFound));
/// match router.dispatch(&Method::POST, "/posts/2") {
///     Dispatched::MethodNotAllowed { allowed } => assert_eq!(allowed, [Method::GET]),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Default)]
pub struct Router {
    routes: Vec<Arc<RouteEntry>>,
    /// Routes without parameters, by exact path: looked up without allocating.
    statics: HashMap<Box<str>, Vec<(Method, usize)>, foldhash::fast::RandomState>,
    /// Routes with parameters, in registration order.
    dynamics: Vec<DynamicRoute>,
    /// All dynamic patterns at once, to find candidates in one pass; rebuilt after changes.
    dynamic_set: OnceLock<RegexSet>,
    /// What each registered (method, pattern) normalises to, to refuse duplicates.
    registered: HashMap<(Method, String), String>,
    /// Prefix and middlewares of the group being registered, innermost last.
    groups: Vec<Group>,
    /// What [`State`](crate::server::State) extractors take, by type.
    states: StateMap,
}

#[derive(Clone)]
struct Group {
    prefix: String,
    middlewares: Vec<Entry>,
}

#[derive(Clone)]
struct DynamicRoute {
    method: Method,
    regex: Regex,
    /// The parameters' names, and the names of their capture groups in `regex`.
    names: Vec<Arc<str>>,
    groups: Vec<String>,
    route: usize,
}

impl Router {
    /// A copy that only matches: the same routes (their indexes and patterns), without what
    /// registration needs; its regex set built now. For what must tell a request's route
    /// apart from the pipeline that owns the router (the metrics).
    #[cfg(feature = "metrics")]
    pub(crate) fn matcher(&self) -> Router {
        let copy = Router {
            routes: self.routes.clone(),
            statics: self.statics.clone(),
            dynamics: self.dynamics.clone(),
            ..Router::default()
        };
        if !copy.dynamics.is_empty() {
            copy.dynamic_set();
        }
        copy
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.routes.iter()).finish()
    }
}
