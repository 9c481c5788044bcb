//! [`Server`]: the builder of named servers on one worker pool — its settings, the seed's
//! callbacks — and their assembly when it starts: bind every address, start the pool, then an
//! engine per server whose connections are placed on the workers.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use coordinator::Coordinator;
use runtime::{Worker, Workers};

use crate::engine::{ConnectionSpawner, Engine, EngineConfig};
use crate::server::events::{
    Listeners, RequestHandled, RequestReceived, RequestTerminated, ServerEvent,
};
use crate::server::process::placement::{Message, WorkerGate, WorkerSpawner};
use crate::server::process::readiness::Readiness;
use crate::server::process::running::{RunningServer, Shutdown};
use crate::server::process::spec::ServerSpec;

type IdHook = Arc<dyn Fn(usize) + Send + Sync>;
type Hook = Arc<dyn Fn() + Send + Sync>;
type PipeHook = Arc<dyn Fn(usize, Option<usize>, Message) + Send + Sync>;

/// Builds and starts one or more named HTTP servers on one worker pool.
///
/// ```
/// use std::io::{Read, Write};
/// use hyperf_http::server::{Json, Router, Server, ServerSpec};
/// use hyperf_http::Request;
///
/// let mut router = Router::new();
/// router.get("/hello/{name}", |request: Request| {
///     let name = hyperf_http::server::params(&request).get("name").unwrap_or("you").to_string();
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
    drain_delay: Duration,
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
            drain_delay: Duration::ZERO,
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

    /// How long a graceful shutdown (SIGTERM, or [`RunningServer::shutdown`]) keeps serving
    /// before it stops accepting (default: none). During the delay the servers' health routes
    /// ([`ServerSpec::health_route`]) answer `503` and every response says
    /// `Connection: close`, so a load balancer takes the instance out of rotation and closes
    /// its pooled connections between requests; then the drain runs as without a delay
    /// (`max_wait_time`). Set it a little longer than the balancer's health-check interval.
    /// SIGINT and [`RunningServer::shutdown_now`] skip it.
    ///
    /// [`RunningServer::shutdown`]: crate::server::RunningServer::shutdown
    /// [`RunningServer::shutdown_now`]: crate::server::RunningServer::shutdown_now
    pub fn drain_delay(mut self, delay: Duration) -> Self {
        self.drain_delay = delay;
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
        #[doc(alias = "onStart")]
        on_start, on_start,
    );
    hook!(
        /// Called when the manager starts.
        #[doc(alias = "onManagerStart")]
        on_manager_start, on_manager_start,
    );
    hook!(
        /// Called when a worker starts (also after a recycle), with its id.
        #[doc(alias = "onWorkerStart")]
        on_worker_start, on_worker_start, id: usize
    );
    hook!(
        /// Called when a worker stops taking new work.
        #[doc(alias = "onWorkerStop")]
        on_worker_stop, on_worker_stop, id: usize
    );
    hook!(
        /// Called when a worker's exit begins.
        #[doc(alias = "onWorkerExit")]
        on_worker_exit, on_worker_exit, id: usize
    );
    hook!(
        /// Called in worker `worker_id` for each message sent to it, with the sender (`None`:
        /// from outside the pool) and the message.
        #[doc(alias = "onPipeMessage")]
        on_pipe_message, on_pipe_message, worker_id: usize, from: Option<usize>, message: Message
    );
    hook!(
        /// Called once everything has shut down.
        #[doc(alias = "onShutdown")]
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
            match crate::engine::bind((spec.host.as_str(), spec.port), &config) {
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
        let readiness = Readiness::new(pool.worker_exit().clone());
        let spawner = Arc::new(WorkerSpawner::new(Arc::clone(&pool)));
        let mut engines = Vec::new();
        for (spec, (socket, config)) in self.servers.into_iter().zip(sockets) {
            let name = spec.name.clone();
            let worker_start = pool.worker_start().clone();
            let service = spec.service(Arc::clone(&listeners), readiness.clone(), |inner| {
                Arc::new(WorkerGate::new(worker_start, inner))
            });
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
        let shutdown = Shutdown {
            grace: self.max_wait_time,
            drain_delay: self.drain_delay,
            readiness,
            // With a drain delay the server turns SIGTERM into its own shutdown; else the pool
            // handles the signals.
            watch_signals: self.handle_signals && !self.drain_delay.is_zero(),
        };
        RunningServer::new(engines, pool, shutdown).map_err(|error| ServerError::Bind {
            server: "(shutdown watcher)".to_string(),
            error,
        })
    }

    fn workers(&self, listeners: &Arc<Listeners>) -> Workers<Message> {
        let mut workers = Workers::<Message>::new()
            .worker_num(self.worker_num)
            .max_request(self.max_request)
            .max_wait_time(self.max_wait_time)
            .handle_signals(self.handle_signals && self.drain_delay.is_zero())
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
            .field("drain_delay", &self.drain_delay)
            .field("servers", &self.servers)
            .finish_non_exhaustive()
    }
}
