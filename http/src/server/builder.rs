//! [`Server`]: named servers on a worker pool, with the seed's callbacks and the default
//! `on_request` pipeline.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use coordinator::Coordinator;
use runtime::{Worker, WorkerPool, Workers};

use crate::config::EngineConfig;
use crate::engine::{ConnectionSpawner, CoroutineSpawner, Engine, Spawned, StopReport};
use crate::server::events::{
    Listeners, RequestHandled, RequestReceived, RequestTerminated, ServerEvent,
};
use crate::server::exception::{ExceptionHandler, Registered};
use crate::server::middleware::{Entry, Middleware};
use crate::server::pipeline::{Pipeline, PipelineParts};
use crate::server::router::Router;
use crate::service::Service;

/// The messages workers send each other (`send_message`, `on_pipe_message`).
pub type Message = String;

type IdHook = Arc<dyn Fn(usize) + Send + Sync>;
type Hook = Arc<dyn Fn() + Send + Sync>;
type PipeHook = Arc<dyn Fn(usize, Option<usize>, Message) + Send + Sync>;

/// One named server: where it listens and how it answers.
pub struct ServerSpec {
    pub(crate) name: String,
    pub(crate) host: String,
    pub(crate) port: u16,
    engine: Option<EngineConfig>,
    router: Router,
    middlewares: Vec<Entry>,
    exception_handlers: Vec<Registered>,
    enable_request_lifecycle: bool,
    on_request: Option<Arc<dyn Service>>,
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
        }
    }

    /// The server's routes.
    pub fn router(mut self, router: Router) -> Self {
        self.router = router;
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

    /// Replaces the default `on_request` pipeline with `service` (routing, middlewares and
    /// exception handlers are then the service's business).
    pub fn on_request(mut self, service: impl Service) -> Self {
        self.on_request = Some(Arc::new(service));
        self
    }

    /// This server's `on_request` as a plain [`Service`], without sockets or workers: for
    /// tests and benchmarks of the pipeline. It does not wait for any worker to start and has
    /// no event listeners (lifecycle events, if enabled, still go through their steps).
    ///
    /// ```
    /// use http::server::{Router, ServerSpec};
    /// use http::{Request, Service};
    ///
    /// let mut router = Router::new();
    /// router.get("/", |_: Request| "hello").unwrap();
    /// let service = ServerSpec::new("test", "127.0.0.1", 0).router(router).into_service();
    /// let response = service.call(Request::new(http::Bytes::new())).unwrap();
    /// assert_eq!(response.body().as_bytes(), Some(&b"hello"[..]));
    /// ```
    pub fn into_service(self) -> Arc<dyn Service> {
        let started = Coordinator::new();
        started.resume();
        self.service(Arc::new(Listeners::default()), started)
    }

    fn service(self, listeners: Arc<Listeners>, worker_start: Coordinator) -> Arc<dyn Service> {
        match self.on_request {
            Some(service) => service,
            None => Arc::new(Pipeline::new(PipelineParts {
                server: Arc::from(self.name.as_str()),
                router: self.router,
                global: self.middlewares,
                exception_handlers: self.exception_handlers,
                lifecycle: self.enable_request_lifecycle,
                listeners,
                worker_start,
            })),
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

/// Builds and starts one or more named HTTP servers on one worker pool.
///
/// ```
/// use std::io::{Read, Write};
/// use http::server::{Json, Router, Server, ServerSpec};
/// use http::Request;
///
/// let mut router = Router::new();
/// router.get("/hello/{name}", |request: Request| {
///     let name = http::server::params(&request).get("name").unwrap_or("you").to_string();
///     Json(serde_json::json!({ "hello": name }))
/// }).unwrap();
///
/// let server = Server::new()
///     .worker_num(2)
///     .handle_signals(false)
///     .process_coordinators(false)
///     .server(ServerSpec::new("http", "127.0.0.1", 0).router(router))
///     .start()
///     .unwrap();
///
/// let mut client = std::net::TcpStream::connect(server.local_addr("http").unwrap()).unwrap();
/// client.write_all(b"GET /hello/ada HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
/// let mut answer = String::new();
/// client.read_to_string(&mut answer).unwrap();
/// assert!(answer.ends_with(r#"{"hello":"ada"}"#));
///
/// server.shutdown();
/// server.wait();
/// ```
pub struct Server {
    worker_num: usize,
    max_request: u64,
    max_wait_time: Duration,
    engine: EngineConfig,
    handle_signals: bool,
    process_coordinators: bool,
    servers: Vec<ServerSpec>,
    on_start: Option<Hook>,
    on_manager_start: Option<Hook>,
    on_worker_start: Option<IdHook>,
    on_worker_stop: Option<IdHook>,
    on_worker_exit: Option<IdHook>,
    on_pipe_message: Option<PipeHook>,
    on_shutdown: Option<Hook>,
    listeners: Listeners,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            worker_num: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_request: 0,
            max_wait_time: Duration::from_secs(3),
            engine: EngineConfig::default(),
            handle_signals: true,
            process_coordinators: true,
            servers: Vec::new(),
            on_start: None,
            on_manager_start: None,
            on_worker_start: None,
            on_worker_stop: None,
            on_worker_exit: None,
            on_pipe_message: None,
            on_shutdown: None,
            listeners: Listeners::default(),
        }
    }
}

/// Why a server could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerError {
    /// No `ServerSpec` was added.
    NoServers,
    /// Two servers share a name.
    DuplicateName(String),
    /// A server could not bind its address (in use, or not an address of this host).
    Bind {
        /// The server's name.
        server: String,
        /// The bind's error.
        error: io::Error,
    },
    /// The worker pool could not start.
    Workers(runtime::WorkersError),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::NoServers => f.write_str("no server to start: add a ServerSpec"),
            ServerError::DuplicateName(name) => write!(f, "two servers are named {name:?}"),
            ServerError::Bind { server, error } => {
                write!(f, "server {server:?} could not bind: {error}")
            }
            ServerError::Workers(error) => write!(f, "the worker pool could not start: {error}"),
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServerError::Bind { error, .. } => Some(error),
            ServerError::Workers(error) => Some(error),
            _ => None,
        }
    }
}

macro_rules! hook {
    ($(#[$doc:meta])* $name:ident, $field:ident, $($arg:ident: $ty:ty),*) => {
        $(#[$doc])*
        pub fn $name(mut self, f: impl Fn($($ty),*) + Send + Sync + 'static) -> Self {
            self.$field = Some(Arc::new(f));
            self
        }
    };
}

impl Server {
    /// A server with the defaults: a worker per CPU, no `max_request`, `max_wait_time` 3 s,
    /// the engine's default limits, SIGTERM/SIGINT handled, the process-wide coordinators.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many workers.
    pub fn worker_num(mut self, workers: usize) -> Self {
        self.worker_num = workers;
        self
    }

    /// Recycle a worker after it served this many requests (0: never).
    pub fn max_request(mut self, requests: u64) -> Self {
        self.max_request = requests;
        self
    }

    /// How long stopping workers' requests get before they are cancelled.
    pub fn max_wait_time(mut self, wait: Duration) -> Self {
        self.max_wait_time = wait;
        self
    }

    /// Engine settings (limits, timeouts) for every server without its own.
    pub fn engine(mut self, engine: EngineConfig) -> Self {
        self.engine = engine;
        self
    }

    /// Whether SIGTERM (graceful) and SIGINT (immediate) shut the server down (default: yes).
    pub fn handle_signals(mut self, handle: bool) -> Self {
        self.handle_signals = handle;
        self
    }

    /// Whether the process-wide `WORKER_START`/`WORKER_EXIT` are the pool's (default: yes);
    /// see [`Workers::process_coordinators`].
    pub fn process_coordinators(mut self, process: bool) -> Self {
        self.process_coordinators = process;
        self
    }

    /// Adds a named server.
    pub fn server(mut self, spec: ServerSpec) -> Self {
        self.servers.push(spec);
        self
    }

    hook!(
        /// Called once the servers are bound, before the manager starts.
        on_start, on_start,
    );
    hook!(
        /// Called when the manager starts.
        on_manager_start, on_manager_start,
    );
    hook!(
        /// Called when a worker starts (also after a recycle), with its id.
        on_worker_start, on_worker_start, id: usize
    );
    hook!(
        /// Called when a worker stops taking new work.
        on_worker_stop, on_worker_stop, id: usize
    );
    hook!(
        /// Called when a worker's exit begins.
        on_worker_exit, on_worker_exit, id: usize
    );
    hook!(
        /// Called in worker `worker_id` for each message sent to it, with the sender (`None`:
        /// from outside the pool) and the message.
        on_pipe_message, on_pipe_message, worker_id: usize, from: Option<usize>, message: Message
    );
    hook!(
        /// Called once everything has shut down.
        on_shutdown, on_shutdown,
    );

    /// Listens to `RequestReceived` (servers with `enable_request_lifecycle`).
    pub fn on_request_received(
        mut self,
        f: impl for<'a> Fn(&RequestReceived<'a>) + Send + Sync + 'static,
    ) -> Self {
        self.listeners.received.push(Arc::new(f));
        self
    }

    /// Listens to `RequestHandled` (servers with `enable_request_lifecycle`).
    pub fn on_request_handled(
        mut self,
        f: impl for<'a> Fn(&RequestHandled<'a>) + Send + Sync + 'static,
    ) -> Self {
        self.listeners.handled.push(Arc::new(f));
        self
    }

    /// Listens to `RequestTerminated` (servers with `enable_request_lifecycle`).
    pub fn on_request_terminated(
        mut self,
        f: impl Fn(&RequestTerminated) + Send + Sync + 'static,
    ) -> Self {
        self.listeners.terminated.push(Arc::new(f));
        self
    }

    /// Listens to the server's lifecycle events.
    pub fn on_server_event(mut self, f: impl Fn(&ServerEvent) + Send + Sync + 'static) -> Self {
        self.listeners.server.push(Arc::new(f));
        self
    }

    /// Binds every server, starts the worker pool, and serves. Requests that arrive before
    /// the workers have started wait (on `WORKER_START`) and are then served.
    pub fn start(mut self) -> Result<RunningServer, ServerError> {
        if self.servers.is_empty() {
            return Err(ServerError::NoServers);
        }
        for (i, spec) in self.servers.iter().enumerate() {
            if self.servers[..i].iter().any(|s| s.name == spec.name) {
                return Err(ServerError::DuplicateName(spec.name.clone()));
            }
        }
        // Every address is bound before anything starts: a taken port fails the start before
        // any callback has run.
        let mut sockets = Vec::with_capacity(self.servers.len());
        for spec in &self.servers {
            let config = spec.engine.clone().unwrap_or_else(|| self.engine.clone());
            match crate::engine::bind((spec.host.as_str(), spec.port), config.backlog) {
                Ok(socket) => sockets.push((socket, config)),
                Err(error) => {
                    return Err(ServerError::Bind {
                        server: spec.name.clone(),
                        error,
                    });
                }
            }
        }
        let listeners = Arc::new(std::mem::take(&mut self.listeners));
        // The manager waits until the servers listen and `on_start` has run.
        let bound = Coordinator::new();
        let pool = self
            .workers(&listeners)
            .start_after(bound.clone())
            .start()
            .map_err(ServerError::Workers)?;
        let pool = Arc::new(pool);
        let spawner = Arc::new(WorkerSpawner {
            pool: Arc::clone(&pool),
            next: AtomicUsize::new(0),
        });
        let mut engines = Vec::new();
        for (spec, (socket, config)) in self.servers.into_iter().zip(sockets) {
            let name = spec.name.clone();
            let service: Arc<dyn Service> = Arc::new(Counted(
                spec.service(Arc::clone(&listeners), pool.worker_start().clone()),
            ));
            let engine = Engine::start_on(
                socket,
                config,
                service,
                Arc::clone(&spawner) as Arc<dyn ConnectionSpawner>,
            );
            match engine {
                Ok(engine) => engines.push((name, engine)),
                Err(error) => {
                    for (_, engine) in &engines {
                        engine.stop(Duration::ZERO);
                    }
                    pool.shutdown_now();
                    bound.resume();
                    pool.wait();
                    return Err(ServerError::Bind {
                        server: name,
                        error,
                    });
                }
            }
        }
        listeners.server(&ServerEvent::Start);
        if let Some(f) = &self.on_start {
            f();
        }
        bound.resume();
        RunningServer::new(engines, pool, self.max_wait_time).map_err(|error| ServerError::Bind {
            server: "(shutdown watcher)".to_string(),
            error,
        })
    }

    fn workers(&self, listeners: &Arc<Listeners>) -> Workers<Message> {
        let mut workers = Workers::<Message>::new()
            .worker_num(self.worker_num)
            .max_request(self.max_request)
            .max_wait_time(self.max_wait_time)
            .handle_signals(self.handle_signals)
            .process_coordinators(self.process_coordinators);
        let (l, hook) = (Arc::clone(listeners), self.on_manager_start.clone());
        workers = workers.on_manager_start(move || {
            l.server(&ServerEvent::ManagerStart);
            if let Some(f) = &hook {
                f();
            }
        });
        let (l, hook) = (Arc::clone(listeners), self.on_worker_start.clone());
        workers = workers.on_worker_start(move |w: &Worker<Message>| {
            l.server(&ServerEvent::WorkerStart { worker_id: w.id() });
            if let Some(f) = &hook {
                f(w.id());
            }
        });
        let (l, hook) = (Arc::clone(listeners), self.on_worker_stop.clone());
        workers = workers.on_worker_stop(move |w: &Worker<Message>| {
            l.server(&ServerEvent::WorkerStop { worker_id: w.id() });
            if let Some(f) = &hook {
                f(w.id());
            }
        });
        let (l, hook) = (Arc::clone(listeners), self.on_worker_exit.clone());
        workers = workers.on_worker_exit(move |w: &Worker<Message>| {
            l.server(&ServerEvent::WorkerExit { worker_id: w.id() });
            if let Some(f) = &hook {
                f(w.id());
            }
        });
        if let Some(f) = self.on_pipe_message.clone() {
            workers = workers.on_pipe_message(move |w, from, message| f(w.id(), from, message));
        }
        let (l, hook) = (Arc::clone(listeners), self.on_shutdown.clone());
        workers.on_shutdown(move || {
            l.server(&ServerEvent::Shutdown);
            if let Some(f) = &hook {
                f();
            }
        })
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("worker_num", &self.worker_num)
            .field("max_request", &self.max_request)
            .field("max_wait_time", &self.max_wait_time)
            .field("servers", &self.servers)
            .finish_non_exhaustive()
    }
}

/// Counts each request towards its worker's `max_request`.
struct Counted(Arc<dyn Service>);

impl Service for Counted {
    fn call(
        &self,
        request: crate::service::Request,
    ) -> Result<crate::service::Response, crate::service::BoxError> {
        let response = self.0.call(request);
        request_done();
        response
    }
}

may::coroutine_local!(static CONNECTION_WORKER: std::cell::RefCell<Option<Worker<Message>>> = std::cell::RefCell::new(None));

/// Waits until the worker serving the current connection has run its start callbacks: after a
/// recycle, the pool's `WORKER_START` is long resumed, but a connection may already be given
/// to the worker's next life while its `on_worker_start` still runs.
pub(crate) fn wait_for_connection_worker() {
    let starting = CONNECTION_WORKER.with(|w| {
        w.borrow()
            .as_ref()
            .map(|worker| worker.started())
            .filter(|started| !started.is_closing())
            .cloned()
    });
    if let Some(started) = starting {
        started.r#yield();
    }
}

/// Reports a request done to the worker that serves the current connection (its
/// `max_request` count).
pub(crate) fn request_done() {
    let worker = CONNECTION_WORKER.with(|w| w.borrow().clone());
    if let Some(worker) = worker {
        worker.request_done();
    }
}

/// Spreads connections over the accepting workers, round robin; each connection is its
/// worker's work, and closes when that worker exits.
struct WorkerSpawner {
    pool: Arc<WorkerPool<Message>>,
    next: AtomicUsize,
}

impl WorkerSpawner {
    /// Waits until a worker may take work again: before the first workers start (a server's
    /// listeners accept as soon as it is bound), or while every worker is between two lives
    /// (a single worker's recycle). As in Swoole, where the master keeps new requests until a
    /// worker is up, the connection waits for one — it would otherwise be served outside every
    /// worker, never counted towards `max_request` nor drained with a worker. `false` once
    /// the pool is shutting down: then nothing will take work again.
    fn wait_for_a_worker(&self) -> bool {
        let started = self.pool.worker_start();
        if !started.is_closing() {
            started.r#yield();
            return true;
        }
        if self.pool.worker_exit().is_closing() {
            return false;
        }
        // A recycle has no latch to wait on: it ends when the worker's next life is installed,
        // within the pool's `max_wait_time`.
        Coordinator::new().yield_timeout(Duration::from_millis(1));
        true
    }

    /// Spawns the connection on an accepting worker; gives `serve` back when none takes it.
    fn spawn_on_a_worker(
        &self,
        serve: Box<dyn FnOnce() + Send>,
        stack_size: usize,
    ) -> Result<io::Result<Spawned>, Box<dyn FnOnce() + Send>> {
        let workers = self.pool.worker_num();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        // A worker may stop accepting between the check and the spawn (a recycle): it then
        // refuses the coroutine, and the connection goes to the next worker. The coroutine
        // that does start takes the connection from here.
        let serve = Arc::new(parking_lot::Mutex::new(Some(serve)));
        for id in (0..workers).map(|offset| (start + offset) % workers) {
            let Some(worker) = self.pool.worker(id).filter(Worker::is_accepting) else {
                continue;
            };
            let closing = worker.exiting().clone();
            let owner = worker.clone();
            let connection = Arc::clone(&serve);
            let spawned =
                worker.spawn_with(runtime::Builder::new().stack_size(stack_size), move || {
                    CONNECTION_WORKER.with(|w| *w.borrow_mut() = Some(owner));
                    let serve = connection.lock().take();
                    if let Some(serve) = serve {
                        serve();
                    }
                });
            match spawned {
                Ok(handle) => {
                    return Ok(Ok(Spawned {
                        handle,
                        closing: vec![closing, self.pool.worker_exit().clone()],
                    }));
                }
                Err(runtime::WorkerError::NotAccepting) => continue,
                Err(error) => return Ok(Err(io::Error::other(error.to_string()))),
            }
        }
        let serve = serve.lock().take();
        Err(serve.expect("no worker's coroutine started, so none took the connection"))
    }
}

impl ConnectionSpawner for WorkerSpawner {
    fn spawn(&self, serve: Box<dyn FnOnce() + Send>, stack_size: usize) -> io::Result<Spawned> {
        let mut serve = serve;
        loop {
            serve = match self.spawn_on_a_worker(serve, stack_size) {
                Ok(spawned) => return spawned,
                Err(serve) => serve,
            };
            if !self.wait_for_a_worker() {
                // The pool is shutting down: serve the connection on its own (the engine's
                // stop winds it down) rather than refuse it.
                return CoroutineSpawner.spawn(serve, stack_size);
            }
        }
    }
}

/// Each server's name and what its engine's stop reported.
pub type StopReports = Vec<(String, StopReport)>;

/// A running server, from [`Server::start`].
pub struct RunningServer {
    engines: Arc<Vec<(String, Engine)>>,
    pool: Arc<WorkerPool<Message>>,
    /// Stops the engines once the pool's shutdown begins, however it was asked for (a call,
    /// or a signal the pool handles); yields their reports.
    engine_stopper: StdMutex<Option<std::thread::JoinHandle<StopReports>>>,
}

impl RunningServer {
    fn new(
        engines: Vec<(String, Engine)>,
        pool: Arc<WorkerPool<Message>>,
        grace: Duration,
    ) -> io::Result<Self> {
        let engines = Arc::new(engines);
        let (watched, exit) = (Arc::clone(&engines), pool.worker_exit().clone());
        let stopper = std::thread::Builder::new()
            .name("http-server-stop".into())
            .spawn(move || {
                exit.r#yield();
                // Stop every server at once: each gets the whole grace period.
                std::thread::scope(|scope| {
                    let stops: Vec<_> = watched
                        .iter()
                        .map(|(name, engine)| {
                            scope.spawn(move || (name.clone(), engine.stop(grace)))
                        })
                        .collect();
                    stops.into_iter().filter_map(|s| s.join().ok()).collect()
                })
            })?;
        Ok(RunningServer {
            engines,
            pool,
            engine_stopper: StdMutex::new(Some(stopper)),
        })
    }

    /// The address server `name` listens on.
    pub fn local_addr(&self, name: &str) -> Option<SocketAddr> {
        self.engines
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| e.local_addr())
    }

    /// Every server's name and address.
    pub fn local_addrs(&self) -> Vec<(&str, SocketAddr)> {
        self.engines
            .iter()
            .map(|(n, e)| (n.as_str(), e.local_addr()))
            .collect()
    }

    /// Sends `message` to worker `worker_id`'s `on_pipe_message` (as from outside the pool).
    pub fn send_message(
        &self,
        worker_id: usize,
        message: Message,
    ) -> Result<(), runtime::WorkerError> {
        self.pool.send_message(worker_id, message)
    }

    /// Recycles every worker gracefully, one at a time.
    pub fn reload(&self) {
        self.pool.reload();
    }

    /// Resumed once every worker has started.
    pub fn worker_start(&self) -> &Coordinator {
        self.pool.worker_start()
    }

    /// The worker pool.
    pub fn workers(&self) -> &WorkerPool<Message> {
        &self.pool
    }

    /// Begins a graceful shutdown and returns at once: the servers stop accepting, idle
    /// connections close, requests in progress (and requests already sent on open
    /// connections) are answered for up to `max_wait_time`, the workers stop and exit.
    /// [`wait`](Self::wait) for the end. SIGTERM does the same (unless signals are off).
    pub fn shutdown(&self) {
        self.pool.shutdown();
    }

    /// Waits until the server has shut down; what each server's engine reported.
    pub fn wait(&self) -> StopReports {
        let stopper = self
            .engine_stopper
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let reports = stopper
            .and_then(|stopper| stopper.join().ok())
            .unwrap_or_default();
        self.pool.wait();
        reports
    }
}

impl fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningServer")
            .field("servers", &self.local_addrs())
            .finish_non_exhaustive()
    }
}
