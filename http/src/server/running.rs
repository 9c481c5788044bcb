//! [`RunningServer`]: a started server — its addresses, messages to its workers, reload, and a
//! graceful shutdown that stops every engine once the pool's shutdown begins.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use coordinator::Coordinator;
use runtime::WorkerPool;

use crate::engine::{Engine, StopReport};
use crate::server::placement::Message;

/// Each server's name and what its engine's stop reported.
pub type StopReports = Vec<(String, StopReport)>;

/// A running server, from [`Server::start`](crate::server::Server::start).
pub struct RunningServer {
    engines: Arc<Vec<(String, Engine)>>,
    pool: Arc<WorkerPool<Message>>,
    /// Stops the engines once the pool's shutdown begins, however it was asked for (a call,
    /// or a signal the pool handles); yields their reports.
    engine_stopper: StdMutex<Option<std::thread::JoinHandle<StopReports>>>,
}

impl RunningServer {
    /// Serves with `engines` on `pool`; each engine's stop gets `grace`.
    pub(crate) fn new(
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
    #[doc(alias = "sendMessage")]
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
