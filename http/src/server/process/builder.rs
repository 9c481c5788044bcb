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
    /// The worker pool's settings and its pipe-message callback, kept in the pool's own
    /// builder: the server adds to them only what it serves.
    workers: Workers<Message>,
    drain_delay: Duration,
    engine: EngineConfig,
    servers: Vec<ServerSpec>,
    /// Every listener, the seed's callbacks (`on_start`, `on_worker_start`, …) included: each
    /// is a listener of one [`ServerEvent`].
    listeners: Listeners,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            workers: Workers::new(),
            drain_delay: Duration::ZERO,
            engine: EngineConfig::default(),
            servers: Vec::new(),
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
    /// A server has a metrics route, and a metrics recorder other than the server's is
    /// installed in the process already
    /// ([`ServerSpec::metrics_route`](crate::server::ServerSpec::metrics_route)).
    #[cfg(feature = "metrics")]
    Metrics(String),
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
            #[cfg(feature = "metrics")]
            ServerError::Metrics(error) => f.write_str(error),
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

impl Server {
    /// A server with the defaults: a worker per CPU, no `max_request`, `max_wait_time` 3 s,
    /// the engine's default limits, SIGTERM/SIGINT handled, the process-wide coordinators.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many workers ([`Workers::worker_num`]).
    pub fn worker_num(mut self, workers: usize) -> Self {
        self.workers = self.workers.worker_num(workers);
        self
    }

    /// Recycle a worker after it served this many requests, 0 for never
    /// ([`Workers::max_request`]).
    pub fn max_request(mut self, requests: u64) -> Self {
        self.workers = self.workers.max_request(requests);
        self
    }

    /// How long stopping workers' requests get before they are cancelled
    /// ([`Workers::max_wait_time`]).
    pub fn max_wait_time(mut self, wait: Duration) -> Self {
        self.workers = self.workers.max_wait_time(wait);
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

    /// Whether SIGTERM (graceful) and SIGINT (immediate) shut the server down (default: yes;
    /// [`Workers::handle_signals`]).
    pub fn handle_signals(mut self, handle: bool) -> Self {
        self.workers = self.workers.handle_signals(handle);
        self
    }

    /// Whether the process-wide `WORKER_START`/`WORKER_EXIT` are the pool's (default: yes);
    /// see [`Workers::process_coordinators`].
    pub fn process_coordinators(mut self, process: bool) -> Self {
        self.workers = self.workers.process_coordinators(process);
        self
    }

    /// Adds a named server.
    pub fn server(mut self, spec: ServerSpec) -> Self {
        self.servers.push(spec);
        self
    }

    /// Called once the servers are bound, before the manager starts: a listener of
    /// [`ServerEvent::Start`].
    #[doc(alias = "onStart")]
    pub fn on_start(self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_server_event(move |event| {
            if let ServerEvent::Start = event {
                f();
            }
        })
    }

    /// Called when the manager starts: a listener of [`ServerEvent::ManagerStart`].
    #[doc(alias = "onManagerStart")]
    pub fn on_manager_start(self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_server_event(move |event| {
            if let ServerEvent::ManagerStart = event {
                f();
            }
        })
    }

    /// Called when a worker starts (also after a recycle), with its id: a listener of
    /// [`ServerEvent::WorkerStart`].
    #[doc(alias = "onWorkerStart")]
    pub fn on_worker_start(self, f: impl Fn(usize) + Send + Sync + 'static) -> Self {
        self.on_server_event(move |event| {
            if let ServerEvent::WorkerStart { worker_id } = event {
                f(*worker_id);
            }
        })
    }

    /// Called when a worker stops taking new work: a listener of [`ServerEvent::WorkerStop`].
    #[doc(alias = "onWorkerStop")]
    pub fn on_worker_stop(self, f: impl Fn(usize) + Send + Sync + 'static) -> Self {
        self.on_server_event(move |event| {
            if let ServerEvent::WorkerStop { worker_id } = event {
                f(*worker_id);
            }
        })
    }

    /// Called when a worker's exit begins: a listener of [`ServerEvent::WorkerExit`].
    #[doc(alias = "onWorkerExit")]
    pub fn on_worker_exit(self, f: impl Fn(usize) + Send + Sync + 'static) -> Self {
        self.on_server_event(move |event| {
            if let ServerEvent::WorkerExit { worker_id } = event {
                f(*worker_id);
            }
        })
    }

    /// Called in worker `worker_id` for each message sent to it, with the sender (`None`:
    /// from outside the pool) and the message ([`Workers::on_pipe_message`]; a later call
    /// replaces an earlier one, as a message is handled once).
    #[doc(alias = "onPipeMessage")]
    pub fn on_pipe_message(
        mut self,
        f: impl Fn(usize, Option<usize>, Message) + Send + Sync + 'static,
    ) -> Self {
        self.workers = self
            .workers
            .on_pipe_message(move |worker, from, message| f(worker.id(), from, message));
        self
    }

    /// Called once everything has shut down: a listener of [`ServerEvent::Shutdown`].
    #[doc(alias = "onShutdown")]
    pub fn on_shutdown(self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_server_event(move |event| {
            if let ServerEvent::Shutdown = event {
                f();
            }
        })
    }

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

    /// Listens to the server's lifecycle events; the `on_start`, `on_worker_start`, …
    /// callbacks are listeners of one event each. Every listener is called, in the order they
    /// were added.
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
        // One recorder per process, installed before anything starts; the engines are known
        // once they are.
        #[cfg(feature = "metrics")]
        let metrics_engines = self.attach_metrics()?;
        let listeners = Arc::new(std::mem::take(&mut self.listeners));
        let settings = self.workers.settings();
        // With a drain delay the server turns SIGTERM into its own shutdown; else the pool
        // handles the signals.
        let watch_signals = settings.handle_signals && !self.drain_delay.is_zero();
        // The manager waits until the servers listen and `on_start` has run.
        let bound = Coordinator::new();
        let pool = announced(self.workers, &listeners)
            .handle_signals(settings.handle_signals && !watch_signals)
            .start_after(bound.clone())
            .start()
            .map_err(ServerError::Workers)?;
        let pool = Arc::new(pool);
        let readiness = Readiness::new(pool.worker_exit().clone());
        let spawner = Arc::new(WorkerSpawner::new(Arc::clone(&pool)));
        let mut engines = Vec::new();
        for (mut spec, (socket, config)) in self.servers.into_iter().zip(sockets) {
            let name = spec.name.clone();
            // The settings it is served with (a time-limited request's coroutine takes the
            // engine's stack size).
            spec.engine = Some(config.clone());
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
        bound.resume();
        let shutdown = Shutdown {
            grace: settings.max_wait_time,
            drain_delay: self.drain_delay,
            readiness,
            watch_signals,
        };
        let running =
            RunningServer::new(engines, pool, shutdown).map_err(|error| ServerError::Bind {
                server: "(shutdown watcher)".to_string(),
                error,
            })?;
        #[cfg(feature = "metrics")]
        if let Some(metrics_engines) = metrics_engines {
            metrics_engines.set(running.engines());
        }
        Ok(running)
    }

    /// Gives the servers with a metrics route the process's recorder, and counts worker
    /// restarts; the engines to read at a scrape, if any server has a metrics route.
    #[cfg(feature = "metrics")]
    fn attach_metrics(
        &mut self,
    ) -> Result<Option<crate::server::process::metrics::Engines>, ServerError> {
        use crate::server::process::metrics;
        if !self.servers.iter().any(|spec| spec.metrics.is_on()) {
            return Ok(None);
        }
        let handle =
            metrics::recorder().map_err(|error| ServerError::Metrics(error.to_string()))?;
        let engines = metrics::Engines::default();
        for spec in self.servers.iter_mut().filter(|spec| spec.metrics.is_on()) {
            spec.metrics.attach(handle.clone(), engines.clone());
        }
        // First, so that the application's listeners of the event see the count already.
        self.listeners
            .server
            .insert(0, Arc::new(metrics::worker_restarts()));
        Ok(Some(engines))
    }
}

/// `workers` with its lifecycle callbacks announcing each event to the server's listeners.
fn announced(workers: Workers<Message>, listeners: &Arc<Listeners>) -> Workers<Message> {
    let announce = |event: fn(&Worker<Message>) -> ServerEvent| {
        let listeners = Arc::clone(listeners);
        move |worker: &Worker<Message>| listeners.server(&event(worker))
    };
    let (manager, shutdown) = (Arc::clone(listeners), Arc::clone(listeners));
    workers
        .on_manager_start(move || manager.server(&ServerEvent::ManagerStart))
        .on_worker_start(announce(|w| ServerEvent::WorkerStart { worker_id: w.id() }))
        .on_worker_stop(announce(|w| ServerEvent::WorkerStop { worker_id: w.id() }))
        .on_worker_exit(announce(|w| ServerEvent::WorkerExit { worker_id: w.id() }))
        .on_shutdown(move || shutdown.server(&ServerEvent::Shutdown))
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("workers", &self.workers.settings())
            .field("drain_delay", &self.drain_delay)
            .field("servers", &self.servers)
            .finish_non_exhaustive()
    }
}
