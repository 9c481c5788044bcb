//! [`ServerSpec`]: one named server — where it listens, its routes, middlewares, exception
//! handlers and lifecycle events — and the `on_request` service it becomes.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use coordinator::Coordinator;
use http::StatusCode;

use crate::engine::{EngineConfig, Service};
use crate::server::access_log::{AccessLog, AccessLogFormat};
use crate::server::client_addr::TrustedProxies;
use crate::server::events::Listeners;
use crate::server::exception::{ExceptionHandler, Registered};
use crate::server::extract::{self, BodyLimits, StateMap};
use crate::server::middleware::{Entry, Middleware};
use crate::server::pipeline::{Pipeline, PipelineParts};
#[cfg(feature = "metrics")]
use crate::server::process::metrics::MetricsSpec;
use crate::server::process::readiness::{HealthRoute, Readiness};
use crate::server::routing::Router;
use crate::server::time_limit::TimeLimits;

/// One named server: where it listens and how it answers.
#[doc(alias = "servers")]
pub struct ServerSpec {
    pub(crate) name: String,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) engine: Option<EngineConfig>,
    router: Router,
    middlewares: Vec<Entry>,
    exception_handlers: Vec<Registered>,
    enable_request_lifecycle: bool,
    on_request: Option<Arc<dyn Service>>,
    states: StateMap,
    access_log: Option<AccessLog>,
    health_route: Option<String>,
    #[cfg(feature = "metrics")]
    pub(crate) metrics: MetricsSpec,
    trusted_proxies: TrustedProxies,
    time_limit: TimeLimits,
    limits: BodyLimits,
}

impl ServerSpec {
    /// A server named `name` on `host:port` (port 0: any free port), with no routes yet.
    pub fn new(name: impl Into<String>, host: impl Into<String>, port: u16) -> Self {
        ServerSpec {
            name: name.into(),
            host: host.into(),
            port,
            engine: None,
            router: Router::new(),
            middlewares: Vec::new(),
            exception_handlers: Vec::new(),
            enable_request_lifecycle: false,
            on_request: None,
            states: StateMap::default(),
            access_log: None,
            health_route: None,
            #[cfg(feature = "metrics")]
            metrics: MetricsSpec::default(),
            trusted_proxies: TrustedProxies::none(),
            time_limit: TimeLimits::default(),
            limits: BodyLimits::default(),
        }
    }

    /// The body extractors' body limit unless set: 2 MiB (axum's is 2 MB too). Far above what
    /// a JSON or form API takes, and low enough that a handful of requests cannot make the
    /// parsers' own memory (a `Vec<(String, String)>` of an `a=b&…` form, a
    /// `serde_json::Value`) reach gigabytes. See [`body_limit`](Self::body_limit).
    pub const DEFAULT_BODY_LIMIT: usize = extract::DEFAULT_BODY_LIMIT;

    /// How deep a `Json` body may nest unless set: 32 levels of arrays and objects. Real APIs
    /// nest a handful of levels, and deserialising recurses once per level on the connection's
    /// coroutine stack (a `serde_json::Value` of 120 levels overflowed the former 64 KiB stack
    /// and ended the process), so the limit keeps that stack's use bounded. Measured whole
    /// request paths (`cargo run --release -p benches --bin stack_use`): about 0.6 KiB a level
    /// in an optimised build and 2 KiB in a debug one, on top of 9 and 26 KiB; 32 levels take
    /// up to 28 KiB (debug: 92 KiB) of the default 256 KiB
    /// ([`EngineConfig::DEFAULT_STACK_SIZE`]). A deeper limit needs a larger
    /// [`EngineConfig::stack_size`]. See [`json_depth`](Self::json_depth).
    pub const DEFAULT_JSON_DEPTH: usize = extract::DEFAULT_JSON_DEPTH;

    /// The longest body the body extractors (`Json`, `Form`, `Bytes`, `String`) take on this
    /// server's routes, in bytes (default [`DEFAULT_BODY_LIMIT`](Self::DEFAULT_BODY_LIMIT),
    /// 2 MiB); a longer one is refused with `413`. A route may set its own
    /// ([`RouteRef::body_limit`](crate::server::RouteRef::body_limit)). The engine's
    /// [`max_body_bytes`](crate::Limits::max_body_bytes) (8 MiB by default) still caps what is
    /// read: it answers `413` itself past it, before the body is read. TOML:
    /// `body_limit` in `[servers.options]`.
    ///
    /// ```
    /// use hyperf_http::server::ServerSpec;
    ///
    /// let spec = ServerSpec::new("http", "127.0.0.1", 0).body_limit(256 * 1024);
    /// # let _ = spec;
    /// ```
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.limits.body = bytes;
        self
    }

    /// How deep a JSON body's arrays and objects may nest for the `Json` extractors of this
    /// server's routes (default [`DEFAULT_JSON_DEPTH`](Self::DEFAULT_JSON_DEPTH), 32); a deeper
    /// body is refused with `400` before it is deserialised. A route may set its own
    /// ([`RouteRef::json_depth`](crate::server::RouteRef::json_depth)). Deserialising recurses
    /// once per level on the connection's coroutine stack: raise the depth only with
    /// [`EngineConfig::stack_size`]. TOML: `json_depth` in `[servers.options]`.
    ///
    /// ```
    /// use hyperf_http::server::ServerSpec;
    ///
    /// let spec = ServerSpec::new("http", "127.0.0.1", 0).json_depth(8);
    /// # let _ = spec;
    /// ```
    pub fn json_depth(mut self, levels: usize) -> Self {
        self.limits.json_depth = levels;
        self
    }

    /// The server's routes.
    pub fn router(mut self, router: Router) -> Self {
        self.router = router;
        self
    }

    /// Registers `value` for the [`State<T>`](crate::server::State) extractors of this
    /// server's handlers (a value of the same type registered on the router wins).
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.states.insert(value);
        self
    }

    /// Engine settings for this server (default: the server-wide ones).
    pub fn engine(mut self, engine: EngineConfig) -> Self {
        self.engine = Some(engine);
        self
    }

    /// The server's own engine settings, if it has some.
    pub fn engine_config(&self) -> Option<&EngineConfig> {
        self.engine.as_ref()
    }

    /// The server's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The access log's format, if the server has one.
    pub fn access_log_format(&self) -> Option<AccessLogFormat> {
        self.access_log.map(|log| log.format())
    }

    /// Whether the lifecycle events fire.
    pub fn request_lifecycle(&self) -> bool {
        self.enable_request_lifecycle
    }

    /// Adds a global middleware (every request of this server, found or not), no priority.
    pub fn middleware(mut self, middleware: impl Middleware) -> Self {
        self.middlewares
            .push(Entry::new(Arc::new(middleware), None));
        self
    }

    /// Adds a global middleware with a priority: the chain is then sorted (higher first).
    #[doc(alias = "PriorityMiddleware")]
    pub fn middleware_with_priority(mut self, middleware: impl Middleware, priority: i32) -> Self {
        self.middlewares
            .push(Entry::new(Arc::new(middleware), Some(priority)));
        self
    }

    /// Adds an exception handler (priority 0).
    pub fn exception_handler(self, handler: impl ExceptionHandler) -> Self {
        self.exception_handler_with_priority(handler, 0)
    }

    /// Adds an exception handler; higher priorities run first, ties in registration order.
    pub fn exception_handler_with_priority(
        mut self,
        handler: impl ExceptionHandler,
        priority: i32,
    ) -> Self {
        self.exception_handlers.push(Registered {
            handler: Arc::new(handler),
            priority,
        });
        self
    }

    /// Fire `RequestReceived`, `RequestHandled` and `RequestTerminated` (default: off).
    pub fn enable_request_lifecycle(mut self, enable: bool) -> Self {
        self.enable_request_lifecycle = enable;
        self
    }

    /// Writes one access-log line per request ([`AccessLog`]), once its response is final.
    pub fn access_log(mut self, access_log: AccessLog) -> Self {
        self.access_log = Some(access_log);
        self
    }

    /// Answers `path` (any method) with the server's readiness, before routing and the
    /// middlewares (of the default pipeline; an [`on_request`](Self::on_request) service
    /// answers its own paths): `200 ready` while it serves, `503 draining` once its shutdown
    /// has begun — the drain delay
    /// ([`Server::drain_delay`](crate::server::Server::drain_delay)) or the drain. Point a load
    /// balancer's health check (a Kubernetes readiness probe) at it. Off by default.
    ///
    /// ```
    /// use hyperf_http::server::ServerSpec;
    ///
    /// let spec = ServerSpec::new("http", "127.0.0.1", 0).health_route("/health");
    /// # let _ = spec;
    /// ```
    pub fn health_route(mut self, path: impl Into<String>) -> Self {
        self.health_route = Some(path.into());
        self
    }

    /// Answers `path` (any method) with the process's metrics in Prometheus's text format,
    /// before routing and the middlewares (as the [health route](Self::health_route) is), and
    /// records this server's requests: their duration by method, route pattern and status
    /// class, those in flight, body bytes; and, read at each scrape, the open connections and
    /// the offload queue's depth. README, "Metrics", lists them. Off by default; needs the
    /// `metrics` feature.
    ///
    /// The process has one recorder: the first server started with a metrics route installs
    /// a Prometheus recorder as the `metrics` crate's global recorder, and every later one
    /// shares it, so each metrics route renders every server's metrics, and the
    /// application's own (`metrics::counter!(…)`) too. If a recorder of someone else's is
    /// installed already, [`Server::start`](crate::server::Server::start) fails with
    /// [`ServerError::Metrics`](crate::server::ServerError::Metrics).
    ///
    /// ```
    /// use hyperf_http::server::ServerSpec;
    ///
    /// let spec = ServerSpec::new("http", "127.0.0.1", 0).metrics_route("/metrics");
    /// # let _ = spec;
    /// ```
    #[cfg(feature = "metrics")]
    pub fn metrics_route(mut self, path: impl Into<String>) -> Self {
        self.metrics.route = Some(path.into());
        self
    }

    /// The proxies whose `Forwarded` / `X-Forwarded-For` / `X-Forwarded-Proto` headers this
    /// server believes when it tells who a request's client is ([`ClientAddr`], the access
    /// log). None by default: then those headers are ignored and the client is the
    /// connection's peer. Name only the proxies in front of the server (a load balancer's
    /// network): a client that can reach the server directly from a trusted address could
    /// claim to be anyone.
    ///
    /// ```
    /// use hyperf_http::server::ServerSpec;
    ///
    /// let spec = ServerSpec::new("http", "127.0.0.1", 9501)
    ///     .trusted_proxies("127.0.0.1, 10.0.0.0/8".parse().unwrap());
    /// # let _ = spec;
    /// ```
    ///
    /// [`ClientAddr`]: crate::server::ClientAddr
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// How long a request may take, from the pipeline's start (its body read, unless the route
    /// streams it) to its response: past it the client is answered at once with
    /// [`time_limit_status`](Self::time_limit_status) (`503` unless set) through the exception
    /// handlers as a [`TimedOut`] error (with the request id and an access line like any
    /// failed request), and the request's coroutine is cancelled: it unwinds at its next
    /// blocking call, dropping what it holds (a bridge's future, a body reader) and running
    /// its defers. A streamed response still being written at the limit is cut and its
    /// connection closed; so is the connection of a streamed upload cut short; otherwise the
    /// connection stays open. None by default; a route may set its own
    /// ([`RouteRef::time_limit`]), or none with `Duration::ZERO`.
    ///
    /// A time-limited request runs in a coroutine of its own (the engine's stack size) while
    /// its connection's coroutine waits for it: a spawn and a wake-up more per request (see
    /// the README's figures). Handler code must stay consistent when unwound at any blocking
    /// call, as for [`Server::max_wait_time`](crate::server::Server::max_wait_time)'s
    /// cancellations. A handler that never blocks cannot be cancelled: its client is answered
    /// 200 ms after the limit and its connection closed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use hyperf_http::server::ServerSpec;
    ///
    /// let spec = ServerSpec::new("http", "127.0.0.1", 9501).time_limit(Duration::from_secs(5));
    /// # let _ = spec;
    /// ```
    ///
    /// [`TimedOut`]: crate::server::TimedOut
    /// [`RouteRef::time_limit`]: crate::server::RouteRef::time_limit
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.time_limit.limit = Some(limit).filter(|limit| !limit.is_zero());
        self
    }

    /// The status a request past its [time limit](Self::time_limit) is answered with: `503
    /// Service Unavailable` unless set (`504 Gateway Timeout` suits a server that mostly waits
    /// on others).
    pub fn time_limit_status(mut self, status: StatusCode) -> Self {
        self.time_limit.status = status;
        self
    }

    /// Replaces the default `on_request` pipeline with `service` (routing, middlewares and
    /// exception handlers are then the service's business).
    #[doc(alias = "onRequest")]
    pub fn on_request(mut self, service: impl Service) -> Self {
        self.on_request = Some(Arc::new(service));
        self
    }

    /// This server's `on_request` as a plain [`Service`], without sockets or workers: for
    /// tests and benchmarks of the pipeline. It does not wait for any worker to start and has
    /// no event listeners (lifecycle events, if enabled, still go through their steps).
    ///
    /// ```
    /// use hyperf_http::server::{Router, ServerSpec};
    /// use hyperf_http::{Request, Service};
    ///
    /// let mut router = Router::new();
    /// router.get("/", |_: Request| "hello").unwrap();
    /// let service = ServerSpec::new("test", "127.0.0.1", 0).router(router).into_service();
    /// let response = service.call(Request::new(hyperf_http::Bytes::new()).into()).unwrap();
    /// assert_eq!(response.body().as_bytes(), Some(&b"hello"[..]));
    /// ```
    pub fn into_service(self) -> Arc<dyn Service> {
        let readiness = Readiness::new(Coordinator::new());
        self.service(Arc::new(Listeners::default()), readiness, |service| service)
    }

    /// The service the server's engine calls: its own `on_request` or the pipeline, inside
    /// `gate` (the process's wait for a started worker), inside the health route.
    pub(crate) fn service(
        mut self,
        listeners: Arc<Listeners>,
        readiness: Readiness,
        gate: impl FnOnce(Arc<dyn Service>) -> Arc<dyn Service>,
    ) -> Arc<dyn Service> {
        let health_route = self.health_route.take();
        #[cfg(feature = "metrics")]
        let (metrics, name) = (std::mem::take(&mut self.metrics), self.name.clone());
        // The metrics tell routes apart with a copy of the router (the pipeline takes it).
        #[cfg(feature = "metrics")]
        let router = metrics.is_on().then(|| self.router.matcher());
        let gated = gate(self.handler(listeners));
        // Every request past the health and metrics routes is recorded, the wait for a worker
        // included.
        #[cfg(feature = "metrics")]
        let gated = metrics.layer(&name, router.unwrap_or_default(), gated);
        match health_route {
            Some(path) => Arc::new(HealthRoute::new(path.into(), readiness, gated)),
            None => gated,
        }
    }

    /// What answers a request: the server's own `on_request`, or the pipeline.
    fn handler(self, listeners: Arc<Listeners>) -> Arc<dyn Service> {
        match self.on_request {
            Some(service) => service,
            None => Pipeline::new(PipelineParts {
                server: Arc::from(self.name.as_str()),
                router: self.router,
                states: self.states,
                limits: self.limits,
                global: self.middlewares,
                exception_handlers: self.exception_handlers,
                lifecycle: self.enable_request_lifecycle,
                listeners,
                access_log: self.access_log,
                trusted_proxies: self.trusted_proxies,
                time_limit: self.time_limit,
                stack_size: self
                    .engine
                    .as_ref()
                    .map_or(EngineConfig::DEFAULT_STACK_SIZE, |engine| engine.stack_size),
            }),
        }
    }
}

impl fmt::Debug for ServerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerSpec")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("routes", &self.router)
            .field("middlewares", &self.middlewares)
            .field("enable_request_lifecycle", &self.enable_request_lifecycle)
            .finish_non_exhaustive()
    }
}
