//! Registration: routes, groups and states added to a [`Router`], the [`RouteEntry`] each
//! route becomes and the [`RouteRef`] that tunes it — everything that changes the router
//! before it serves.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::Method;
use regex::Regex;

use super::pattern::{dynamic_regex, expand_optional, normalise, parse_parts, static_path};
use super::{BoxedHandler, DynamicRoute, Group, Router};
use crate::engine::BodyPolicy;
use crate::server::extract::{BodyLimits, Handler, StateMap};
use crate::server::middleware::{Entry, Middleware};

/// One registered route: its pattern as written (with the group prefix), its handler and its
/// middlewares (the groups', then its own).
pub struct RouteEntry {
    pattern: Arc<str>,
    methods: Vec<Method>,
    pub(crate) handler: BoxedHandler,
    pub(crate) middlewares: Vec<Entry>,
    /// The router's states, shared by its routes once the server is built.
    pub(crate) states: OnceLock<Arc<StateMap>>,
    /// How the engine reads this route's bodies.
    pub(crate) body: BodyPolicy,
    /// The route's own body limit and JSON depth (`RouteRef::body_limit`, `json_depth`).
    body_limit: Option<usize>,
    json_depth: Option<usize>,
    /// The route's own time limit (`RouteRef::time_limit`); `Duration::ZERO` for none.
    pub(crate) time_limit: Option<Duration>,
    /// Those, or the server's, resolved when the server is built.
    resolved_limits: OnceLock<BodyLimits>,
}

impl RouteEntry {
    /// The pattern, as registered (with its group's prefix).
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The methods it answers.
    pub fn methods(&self) -> &[Method] {
        &self.methods
    }

    /// The body limit and JSON depth of the body extractors on this route.
    pub(crate) fn limits(&self) -> BodyLimits {
        match self.resolved_limits.get() {
            Some(limits) => *limits,
            // A router no server was built with (its routes dispatched by hand).
            None => self.limits_over(BodyLimits::default()),
        }
    }

    /// The route's own limits, `server`'s where it has none.
    fn limits_over(&self, server: BodyLimits) -> BodyLimits {
        BodyLimits {
            body: self.body_limit.unwrap_or(server.body),
            json_depth: self.json_depth.unwrap_or(server.json_depth),
        }
    }
}

impl fmt::Debug for RouteEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteEntry")
            .field("pattern", &self.pattern)
            .field("methods", &self.methods)
            .field("middlewares", &self.middlewares)
            .finish()
    }
}

/// Why a route could not be registered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteError {
    /// The pattern is malformed.
    InvalidPattern {
        /// The pattern.
        pattern: String,
        /// What is wrong.
        reason: String,
    },
    /// Another route already answers this method and pattern.
    Conflict {
        /// The method.
        method: Method,
        /// The new pattern.
        pattern: String,
        /// The pattern registered first.
        existing: String,
    },
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteError::InvalidPattern { pattern, reason } => {
                write!(f, "invalid route pattern {pattern:?}: {reason}")
            }
            RouteError::Conflict {
                method,
                pattern,
                existing,
            } => write!(
                f,
                "route {method} {pattern:?} conflicts with {method} {existing:?}"
            ),
        }
    }
}

impl std::error::Error for RouteError {}

/// A handle to a just-registered route, to add its middlewares.
pub struct RouteRef<'a> {
    route: &'a mut RouteEntry,
}

impl RouteRef<'_> {
    /// Adds a middleware to this route (priority 0).
    pub fn middleware(self, middleware: impl Middleware) -> Self {
        self.route
            .middlewares
            .push(Entry::new(Arc::new(middleware), None));
        self
    }

    /// Adds a middleware to this route with a priority (higher runs earlier).
    #[doc(alias = "PriorityMiddleware")]
    pub fn middleware_with_priority(self, middleware: impl Middleware, priority: i32) -> Self {
        self.route
            .middlewares
            .push(Entry::new(Arc::new(middleware), Some(priority)));
        self
    }

    /// Streams this route's request bodies: the handler reads each as it arrives, through a
    /// [`BodyReader`](crate::BodyReader) argument, instead of receiving it whole; the body
    /// may have up to `max_bytes` (0: no limit) instead of the engine's
    /// [`max_body_bytes`](crate::Limits::max_body_bytes). A `Content-Length` past the limit is
    /// refused with `413` before the handler runs; a chunked body past it fails the reader's
    /// read (answered `413`).
    ///
    /// ```
    /// use std::io::Read;
    /// use hyperf_http::BodyReader;
    /// use hyperf_http::server::Router;
    ///
    /// let mut router = Router::new();
    /// router
    ///     .post("/upload", |mut body: BodyReader| -> std::io::Result<String> {
    ///         let mut total = 0;
    ///         let mut buffer = [0u8; 8192];
    ///         loop {
    ///             match body.read(&mut buffer)? {
    ///                 0 => return Ok(format!("{total} bytes")),
    ///                 read => total += read,
    ///             }
    ///         }
    ///     })
    ///     .unwrap()
    ///     .stream_body(0);
    /// ```
    pub fn stream_body(self, max_bytes: u64) -> Self {
        self.route.body = BodyPolicy::Streamed { max_bytes };
        self
    }

    /// The longest body this route's body extractors (`Json`, `Form`, `Bytes`, `String`) take,
    /// in bytes; a longer one is refused with `413`. Instead of the server's
    /// ([`ServerSpec::body_limit`](crate::server::ServerSpec::body_limit), by default
    /// [`ServerSpec::DEFAULT_BODY_LIMIT`](crate::server::ServerSpec::DEFAULT_BODY_LIMIT),
    /// 2 MiB), lower or higher. The engine's
    /// [`max_body_bytes`](crate::Limits::max_body_bytes) (8 MiB by default) still caps what it
    /// reads: to take more than that on a route, raise both.
    ///
    /// ```
    /// use hyperf_http::server::{Form, Json, Router};
    ///
    /// let mut router = Router::new();
    /// router
    ///     .post("/comments", |Form(comment): Form<Vec<(String, String)>>| comment.len().to_string())
    ///     .unwrap()
    ///     .body_limit(16 * 1024);
    /// router
    ///     .post("/import", |Json(rows): Json<Vec<Vec<u32>>>| rows.len().to_string())
    ///     .unwrap()
    ///     .body_limit(6 * 1024 * 1024);
    /// ```
    pub fn body_limit(self, bytes: usize) -> Self {
        self.route.body_limit = Some(bytes);
        self
    }

    /// How deep a JSON body's arrays and objects may nest for this route's `Json` extractors
    /// (`[]` is 1 deep, `{"a":[1]}` 2); a deeper body is refused with `400` before it is
    /// deserialised. Instead of the server's
    /// ([`ServerSpec::json_depth`](crate::server::ServerSpec::json_depth), by default
    /// [`ServerSpec::DEFAULT_JSON_DEPTH`](crate::server::ServerSpec::DEFAULT_JSON_DEPTH), 32).
    /// Deserialising recurses once per level on the connection's coroutine stack (256 KiB by
    /// default, and an overflow ends the process): raise it only with the stack
    /// ([`EngineConfig::stack_size`](crate::EngineConfig::stack_size)). `serde_json` refuses
    /// more than 128 levels itself.
    ///
    /// ```
    /// use hyperf_http::server::{Json, Router};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Point { x: f64, y: f64 }
    ///
    /// let mut router = Router::new();
    /// router
    ///     .post("/points", |Json(points): Json<Vec<Point>>| points.len().to_string())
    ///     .unwrap()
    ///     .json_depth(2);
    /// ```
    pub fn json_depth(self, levels: usize) -> Self {
        self.route.json_depth = Some(levels);
        self
    }

    /// How long a request to this route may take before it is answered with the server's
    /// time-limit status and its coroutine cancelled, instead of the server's
    /// ([`ServerSpec::time_limit`](crate::server::ServerSpec::time_limit)); `Duration::ZERO`
    /// for no limit on this route (a long poll, a large upload).
    pub fn time_limit(self, limit: Duration) -> Self {
        self.route.time_limit = Some(limit);
        self
    }
}

impl fmt::Debug for RouteRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.route.fmt(f)
    }
}

/// Where one (method, alternative) of a route being registered will be looked up.
enum Lookup {
    Static(String),
    Dynamic { regex: Regex, names: Vec<Arc<str>> },
}

impl Router {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `handler` for `methods` on `pattern`.
    #[doc(alias = "addRoute")]
    pub fn route<Args>(
        &mut self,
        methods: &[Method],
        pattern: &str,
        handler: impl Handler<Args>,
    ) -> Result<RouteRef<'_>, RouteError> {
        let prefix: String = self.groups.iter().map(|g| g.prefix.as_str()).collect();
        let full = format!("{prefix}{pattern}");
        let alternatives = expand_optional(&full)?;
        let mut compiled = Vec::new();
        for alternative in &alternatives {
            compiled.push(parse_parts(alternative, &full)?);
        }
        // Everything that can fail — conflicts, constraint regexes — is checked before the
        // router changes, so an `Err` leaves it exactly as it was.
        let mut keys = Vec::new();
        let mut planned = Vec::new();
        for method in methods {
            for parts in &compiled {
                let key = (method.clone(), normalise(parts));
                if let Some(existing) = self.registered.get(&key) {
                    return Err(RouteError::Conflict {
                        method: method.clone(),
                        pattern: full.clone(),
                        existing: existing.clone(),
                    });
                }
                let lookup = match static_path(parts) {
                    Some(path) => {
                        if let Some(shadow) = self.dynamic_match(method, &path) {
                            return Err(RouteError::Conflict {
                                method: method.clone(),
                                pattern: full.clone(),
                                existing: self.routes[shadow].pattern.to_string(),
                            });
                        }
                        Lookup::Static(path)
                    }
                    None => {
                        let (regex, names) = dynamic_regex(parts, &full)?;
                        Lookup::Dynamic { regex, names }
                    }
                };
                keys.push(key);
                planned.push((method.clone(), lookup));
            }
        }
        let index = self.routes.len();
        let middlewares = self
            .groups
            .iter()
            .flat_map(|g| g.middlewares.iter().cloned())
            .collect();
        let entry = RouteEntry {
            pattern: full.clone().into(),
            methods: methods.to_vec(),
            handler: Arc::new(move |request| handler.call(request)),
            middlewares,
            states: OnceLock::new(),
            body: BodyPolicy::Buffered,
            body_limit: None,
            json_depth: None,
            time_limit: None,
            resolved_limits: OnceLock::new(),
        };
        self.routes.push(Arc::new(entry));
        for key in keys {
            self.registered.insert(key, full.clone());
        }
        for (method, lookup) in planned {
            match lookup {
                Lookup::Static(path) => self
                    .statics
                    .entry(path.into())
                    .or_default()
                    .push((method, index)),
                Lookup::Dynamic { regex, names } => {
                    let groups = (0..names.len()).map(|i| format!("p{i}")).collect();
                    self.dynamics.push(DynamicRoute {
                        method,
                        regex,
                        names,
                        groups,
                        route: index,
                    });
                }
            }
        }
        self.dynamic_set = OnceLock::new();
        let route = Arc::get_mut(&mut self.routes[index]).expect("just created, not shared");
        Ok(RouteRef { route })
    }

    /// Registers a `GET` route.
    pub fn get<Args>(
        &mut self,
        pattern: &str,
        handler: impl Handler<Args>,
    ) -> Result<RouteRef<'_>, RouteError> {
        self.route(&[Method::GET], pattern, handler)
    }

    /// Registers a `POST` route.
    pub fn post<Args>(
        &mut self,
        pattern: &str,
        handler: impl Handler<Args>,
    ) -> Result<RouteRef<'_>, RouteError> {
        self.route(&[Method::POST], pattern, handler)
    }

    /// Registers a `PUT` route.
    pub fn put<Args>(
        &mut self,
        pattern: &str,
        handler: impl Handler<Args>,
    ) -> Result<RouteRef<'_>, RouteError> {
        self.route(&[Method::PUT], pattern, handler)
    }

    /// Registers a `PATCH` route.
    pub fn patch<Args>(
        &mut self,
        pattern: &str,
        handler: impl Handler<Args>,
    ) -> Result<RouteRef<'_>, RouteError> {
        self.route(&[Method::PATCH], pattern, handler)
    }

    /// Registers a `DELETE` route.
    pub fn delete<Args>(
        &mut self,
        pattern: &str,
        handler: impl Handler<Args>,
    ) -> Result<RouteRef<'_>, RouteError> {
        self.route(&[Method::DELETE], pattern, handler)
    }

    /// Registers routes under `prefix`, with `middlewares` (priority 0) run before each route's
    /// own.
    ///
    /// ```
    /// use hyperf_http::server::Router;
    /// use hyperf_http::{Method, Request};
    ///
    /// let mut router = Router::new();
    /// router.group("/api", |api| {
    ///     api.get("/me", |_: Request| "me")?;
    ///     api.get("/users/{id}", |_: Request| "a user")?;
    ///     Ok(())
    /// }).unwrap();
    /// assert!(matches!(router.dispatch(&Method::GET, "/api/me"), hyperf_http::server::Dispatched::Found(_)));
    /// ```
    #[doc(alias = "addGroup")]
    pub fn group(
        &mut self,
        prefix: &str,
        routes: impl FnOnce(&mut Router) -> Result<(), RouteError>,
    ) -> Result<(), RouteError> {
        self.group_with(prefix, Vec::new(), routes)
    }

    /// Like [`group`](Self::group), with middlewares and their priorities.
    pub fn group_with_middlewares(
        &mut self,
        prefix: &str,
        middlewares: Vec<(Arc<dyn Middleware>, Option<i32>)>,
        routes: impl FnOnce(&mut Router) -> Result<(), RouteError>,
    ) -> Result<(), RouteError> {
        let entries = middlewares
            .into_iter()
            .map(|(m, p)| Entry::new(m, p))
            .collect();
        self.group_with(prefix, entries, routes)
    }

    fn group_with(
        &mut self,
        prefix: &str,
        middlewares: Vec<Entry>,
        routes: impl FnOnce(&mut Router) -> Result<(), RouteError>,
    ) -> Result<(), RouteError> {
        self.groups.push(Group {
            prefix: prefix.to_string(),
            middlewares,
        });
        let result = routes(self);
        self.groups.pop();
        result
    }

    /// Registers `value` for the [`State<T>`](crate::server::State) extractors of this
    /// router's handlers, by its type (a second value of the same type replaces the first).
    ///
    /// ```
    /// use hyperf_http::server::{Router, State};
    ///
    /// #[derive(Clone)]
    /// struct Greeting(&'static str);
    ///
    /// let mut router = Router::new();
    /// router.state(Greeting("hello"));
    /// router.get("/", |State(greeting): State<Greeting>| greeting.0).unwrap();
    /// ```
    pub fn state<T: Send + Sync + 'static>(&mut self, value: T) -> &mut Self {
        self.states.insert(value);
        self
    }

    /// Every registered route, in registration order.
    pub fn routes(&self) -> impl Iterator<Item = &RouteEntry> {
        self.routes.iter().map(|r| &**r)
    }

    pub(crate) fn route_entries(&self) -> &[Arc<RouteEntry>] {
        &self.routes
    }

    /// Compiles what lookups need now, not on the first request (compiling a regex set takes
    /// more stack than a connection's coroutine should need).
    pub(crate) fn prepare(&mut self, server_states: &StateMap, server_limits: BodyLimits) {
        if !self.dynamics.is_empty() {
            self.dynamic_set();
        }
        self.states.fill_from(server_states);
        let states = Arc::new(self.states.clone());
        for route in &self.routes {
            // A router is prepared once, by the server it is given to.
            let _ = route.states.set(Arc::clone(&states));
            let _ = route.resolved_limits.set(route.limits_over(server_limits));
        }
    }
}
