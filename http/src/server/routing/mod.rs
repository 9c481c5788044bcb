//! [`Router`]: FastRoute-style patterns — `/user/{id}`, `/user/{id:\d+}`, optional tails
//! `/posts[/{page}]` — with groups, route middlewares and conflict checks.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use http::Method;
use regex::{Regex, RegexSet};

use crate::engine::{BodyPolicy, BoxError, Request, Response};
use crate::server::extract::escape_controls;
use crate::server::extract::{BodyLimits, Handler, StateMap};
use crate::server::middleware::{Entry, Middleware};

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

struct DynamicRoute {
    method: Method,
    regex: Regex,
    /// The parameters' names, and the names of their capture groups in `regex`.
    names: Vec<Arc<str>>,
    groups: Vec<String>,
    route: usize,
}

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

/// The router's verdict for a request, attached to the request's extensions.
#[derive(Clone)]
pub enum Dispatched {
    /// A route matched.
    Found(Found),
    /// No route has this path.
    NotFound,
    /// Routes have this path, but not for this method.
    MethodNotAllowed {
        /// The methods that would have matched.
        allowed: Vec<Method>,
    },
}

impl fmt::Debug for Dispatched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dispatched::Found(found) => f
                .debug_struct("Found")
                .field("pattern", &found.pattern())
                .field("params", &found.params)
                .finish(),
            Dispatched::NotFound => f.write_str("NotFound"),
            Dispatched::MethodNotAllowed { allowed } => f
                .debug_struct("MethodNotAllowed")
                .field("allowed", allowed)
                .finish(),
        }
    }
}

/// A matched route and the parameters taken from the path.
#[derive(Clone, Debug)]
pub struct Found {
    pub(crate) route: Arc<RouteEntry>,
    pub(crate) index: usize,
    params: Params,
}

impl Found {
    /// The route's pattern as registered, e.g. `/user/{id:\d+}`.
    pub fn pattern(&self) -> &str {
        self.route.pattern()
    }

    /// The route.
    pub fn route(&self) -> &RouteEntry {
        &self.route
    }

    /// The path parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }
}

/// Path parameters of a matched route.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    entries: Vec<(Arc<str>, String)>,
}

/// A parameter that is missing or does not parse as the type asked for: a mistake of the
/// client's, which the default exception handler answers with `400 Bad Request` and this
/// error's message (no error-level log).
///
/// Why `400` and not `404`: the path matched a route, so the resource's address is well-formed
/// for the router; what failed is the client's value (`/users/99999999999` for a `u32` id,
/// or a required optional segment left out), and nothing has said that no such resource
/// exists. This is also what axum answers for a path that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    name: String,
    reason: String,
}

impl ParamError {
    /// The parameter's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The status a client is answered with: `400 Bad Request`.
    pub fn status(&self) -> http::StatusCode {
        http::StatusCode::BAD_REQUEST
    }
}

impl ParamError {
    fn new(name: &str, reason: String) -> Self {
        // The reason often echoes the client's value: no control characters into the response
        // or the logs (the name is written with `{:?}`, escaped already).
        let reason = match escape_controls(&reason) {
            std::borrow::Cow::Borrowed(_) => reason,
            std::borrow::Cow::Owned(escaped) => escaped,
        };
        ParamError {
            name: name.to_string(),
            reason,
        }
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "route parameter {:?}: {}", self.name, self.reason)
    }
}

impl std::error::Error for ParamError {}

impl Params {
    /// The raw value of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Parameter `name` parsed as `T`.
    pub fn parse<T: FromStr>(&self, name: &str) -> Result<T, ParamError>
    where
        T::Err: fmt::Display,
    {
        let value = self
            .get(name)
            .ok_or_else(|| ParamError::new(name, "not in this route's path".to_string()))?;
        value
            .parse()
            .map_err(|e: T::Err| ParamError::new(name, e.to_string()))
    }

    /// Every parameter, in the order of the pattern.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, v)| (&**n, v.as_str()))
    }

    /// Whether the route had no parameters (or the optional ones were absent).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many parameters the path gave.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

/// The parameters of the route that matched `request` (empty when none did).
#[doc(alias = "route")]
pub fn params(request: &Request) -> &Params {
    static EMPTY: Params = Params {
        entries: Vec::new(),
    };
    match request.extensions().get::<Dispatched>() {
        Some(Dispatched::Found(found)) => &found.params,
        _ => &EMPTY,
    }
}

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

/// A piece of a concrete (optional-free) pattern.
enum Part {
    Static(String),
    Param { name: String, regex: Option<String> },
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

    /// Whether a route streams its bodies (then the engine asks the router for each
    /// request's body policy).
    pub(crate) fn streams_bodies(&self) -> bool {
        self.routes
            .iter()
            .any(|route| route.body != BodyPolicy::Buffered)
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

    /// Routes `method` and `path` (FastRoute's order: static routes, then dynamic ones, then
    /// `HEAD` falls back to `GET`; a path known for other methods is "method not allowed").
    pub fn dispatch(&self, method: &Method, path: &str) -> Dispatched {
        if let Some(found) = self.find(method, path) {
            return Dispatched::Found(found);
        }
        if *method == Method::HEAD {
            if let Some(found) = self.find(&Method::GET, path) {
                return Dispatched::Found(found);
            }
        }
        let allowed = self.allowed(path);
        if allowed.is_empty() {
            Dispatched::NotFound
        } else {
            Dispatched::MethodNotAllowed { allowed }
        }
    }

    fn find(&self, method: &Method, path: &str) -> Option<Found> {
        if let Some(candidates) = self.statics.get(path) {
            if let Some((_, index)) = candidates.iter().find(|(m, _)| m == method) {
                return Some(self.found(*index, Params::default()));
            }
        }
        if self.dynamics.is_empty() {
            return None;
        }
        for candidate in self.dynamic_set().matches(path).iter() {
            let dynamic = &self.dynamics[candidate];
            if dynamic.method != *method {
                continue;
            }
            let captures = dynamic.regex.captures(path)?;
            let entries = dynamic
                .names
                .iter()
                .zip(&dynamic.groups)
                .filter_map(|(name, group)| {
                    let value = captures.name(group)?;
                    Some((Arc::clone(name), value.as_str().to_string()))
                })
                .collect();
            return Some(self.found(dynamic.route, Params { entries }));
        }
        None
    }

    fn found(&self, index: usize, params: Params) -> Found {
        Found {
            route: Arc::clone(&self.routes[index]),
            index,
            params,
        }
    }

    fn allowed(&self, path: &str) -> Vec<Method> {
        let mut allowed: Vec<Method> = Vec::new();
        let mut add = |method: &Method| {
            if !allowed.contains(method) {
                allowed.push(method.clone());
            }
        };
        if let Some(candidates) = self.statics.get(path) {
            candidates.iter().for_each(|(m, _)| add(m));
        }
        if !self.dynamics.is_empty() {
            for candidate in self.dynamic_set().matches(path).iter() {
                add(&self.dynamics[candidate].method);
            }
        }
        allowed
    }

    fn dynamic_match(&self, method: &Method, path: &str) -> Option<usize> {
        self.dynamics
            .iter()
            .find(|d| d.method == *method && d.regex.is_match(path))
            .map(|d| d.route)
    }

    fn dynamic_set(&self) -> &RegexSet {
        self.dynamic_set.get_or_init(|| {
            RegexSet::new(self.dynamics.iter().map(|d| d.regex.as_str()))
                .expect("every pattern compiled alone")
        })
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.routes.iter()).finish()
    }
}

fn invalid(pattern: &str, reason: impl Into<String>) -> RouteError {
    RouteError::InvalidPattern {
        pattern: pattern.to_string(),
        reason: reason.into(),
    }
}

/// `/a[/b[/c]]` → `/a`, `/a/b`, `/a/b/c`. Optional parts may only close at the end.
fn expand_optional(pattern: &str) -> Result<Vec<String>, RouteError> {
    if !pattern.starts_with('/') {
        return Err(invalid(pattern, "a pattern starts with '/'"));
    }
    let mut alternatives = Vec::new();
    let mut current = String::new();
    let mut depth_braces = 0usize;
    let mut optional_depth = 0usize;
    let mut closing = false;
    for c in pattern.chars() {
        match c {
            '{' => {
                depth_braces += 1;
                current.push(c);
            }
            '}' => {
                depth_braces = depth_braces
                    .checked_sub(1)
                    .ok_or_else(|| invalid(pattern, "unbalanced '}'"))?;
                current.push(c);
            }
            '[' if depth_braces == 0 => {
                if closing {
                    return Err(invalid(
                        pattern,
                        "optional segments can only occur at the end",
                    ));
                }
                alternatives.push(current.clone());
                optional_depth += 1;
            }
            ']' if depth_braces == 0 => {
                optional_depth = optional_depth
                    .checked_sub(1)
                    .ok_or_else(|| invalid(pattern, "unbalanced ']'"))?;
                closing = true;
            }
            _ if closing => {
                return Err(invalid(
                    pattern,
                    "optional segments can only occur at the end",
                ));
            }
            _ => current.push(c),
        }
    }
    if depth_braces != 0 || optional_depth != 0 {
        return Err(invalid(pattern, "unbalanced brackets"));
    }
    alternatives.push(current);
    if alternatives.iter().any(|a| a.is_empty()) {
        return Err(invalid(pattern, "an empty optional segment"));
    }
    Ok(alternatives)
}

fn parse_parts(concrete: &str, pattern: &str) -> Result<Vec<Part>, RouteError> {
    let mut parts = Vec::new();
    let mut rest = concrete;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(Part::Static(rest[..open].to_string()));
        }
        // The parameter ends at the brace that balances this one (its regex may hold braces).
        let mut depth = 0usize;
        let close = rest[open..]
            .char_indices()
            .find_map(|(i, c)| {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(open + i);
                        }
                    }
                    _ => {}
                }
                None
            })
            .ok_or_else(|| invalid(pattern, "unclosed '{'"))?;
        let inside = &rest[open + 1..close];
        let (name, regex) = match inside.split_once(':') {
            Some((name, regex)) => (name.trim(), Some(regex.trim().to_string())),
            None => (inside.trim(), None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err(invalid(pattern, format!("bad parameter name {name:?}")));
        }
        if parts
            .iter()
            .any(|p| matches!(p, Part::Param { name: n, .. } if n == name))
        {
            return Err(invalid(
                pattern,
                format!("parameter {name:?} appears twice"),
            ));
        }
        parts.push(Part::Param {
            name: name.to_string(),
            regex,
        });
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Static(rest.to_string()));
    }
    Ok(parts)
}

fn static_path(parts: &[Part]) -> Option<String> {
    parts
        .iter()
        .map(|p| match p {
            Part::Static(text) => Some(text.as_str()),
            Part::Param { .. } => None,
        })
        .collect()
}

/// The pattern with parameter names dropped: two routes that normalise alike match alike.
fn normalise(parts: &[Part]) -> String {
    parts
        .iter()
        .map(|p| match p {
            Part::Static(text) => text.clone(),
            Part::Param { regex, .. } => {
                format!("{{{}}}", regex.as_deref().unwrap_or(DEFAULT_PARAM))
            }
        })
        .collect()
}

/// What a parameter without a constraint matches: one path segment.
const DEFAULT_PARAM: &str = "[^/]+";

fn dynamic_regex(parts: &[Part], pattern: &str) -> Result<(Regex, Vec<Arc<str>>), RouteError> {
    let mut source = String::from("^");
    let mut names = Vec::new();
    for part in parts {
        match part {
            Part::Static(text) => source.push_str(&regex::escape(text)),
            Part::Param { name, regex } => {
                source.push_str(&format!(
                    "(?P<p{}>{})",
                    names.len(),
                    regex.as_deref().unwrap_or(DEFAULT_PARAM)
                ));
                names.push(Arc::from(name.as_str()));
            }
        }
    }
    source.push('$');
    let regex = Regex::new(&source).map_err(|e| invalid(pattern, e.to_string()))?;
    Ok((regex, names))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value whose parse error echoes what it was given, as many do.
    #[derive(Debug)]
    struct Echo;

    impl FromStr for Echo {
        type Err = String;

        fn from_str(text: &str) -> Result<Self, String> {
            Err(format!("{text}: no such thing"))
        }
    }

    #[test]
    fn a_param_errors_reason_has_its_control_characters_escaped() {
        let params = Params {
            entries: vec![(Arc::from("kind"), "x\r\nX-Injected: yes".to_string())],
        };
        let error = params.parse::<Echo>("kind").unwrap_err();
        let message = error.to_string();
        assert!(!message.contains(['\r', '\n']), "{message:?}");
        assert_eq!(
            message,
            r#"route parameter "kind": x\r\nX-Injected: yes: no such thing"#
        );
    }
}
