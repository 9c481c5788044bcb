//! [`RunningServer`]: a started server — its addresses, messages to its workers, reload, and a
//! graceful shutdown that stops every engine once the pool's shutdown begins.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use coordinator::Coordinator;
use runtime::WorkerPool;

use crate::engine::{Engine, StopReport};
use crate::server::process::placement::Message;
use crate::server::process::readiness::Readiness;

/// Each server's name and what its engine's stop reported.
pub type StopReports = Vec<(String, StopReport)>;

/// How a started server shuts down.
pub(crate) struct Shutdown {
    /// Each engine's stop gets it (the pool's `max_wait_time`).
    pub(crate) grace: Duration,
    pub(crate) drain_delay: Duration,
    pub(crate) readiness: Readiness,
    /// Whether SIGTERM/SIGINT are watched here (with a drain delay) rather than by the pool.
    pub(crate) watch_signals: bool,
}

/// A graceful shutdown's first step: not ready, connections closed after their responses,
/// then the pool's shutdown after the delay.
struct Drain {
    engines: Arc<Vec<(String, Engine)>>,
    pool: Arc<WorkerPool<Message>>,
    readiness: Readiness,
    delay: Duration,
    begun: AtomicBool,
}

impl Drain {
    fn begin(self: &Arc<Self>) {
        if self.delay.is_zero() {
            self.pool.shutdown();
            return;
        }
        if self.begun.swap(true, Ordering::AcqRel) {
            return;
        }
        self.readiness.begin_draining();
        for (_, engine) in self.engines.iter() {
            engine.begin_drain();
        }
        let drain = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("http-drain-delay".into())
            .spawn(move || {
                // Cut short by an immediate shutdown meanwhile (WORKER_EXIT resumed).
                drain.pool.worker_exit().yield_timeout(drain.delay);
                drain.pool.shutdown();
            });
        if let Err(error) = spawned {
            log::warn!("no thread for the drain delay ({error}): shutting down without it");
            self.pool.shutdown();
        }
    }
}

/// Turns SIGTERM into a drain-delayed shutdown and SIGINT into an immediate one.
fn watch_signals(drain: &Arc<Drain>) -> io::Result<signal_hook::iterator::Handle> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])?;
    let handle = signals.handle();
    let drain = Arc::downgrade(drain);
    std::thread::Builder::new()
        .name("http-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                let Some(drain) = drain.upgrade() else { return };
                if signal == SIGTERM {
                    log::info!(
                        "SIGTERM received: not ready, serving {:?} more, then a graceful shutdown",
                        drain.delay
                    );
                    drain.begin();
                } else {
                    log::info!("SIGINT received: immediate shutdown");
                    drain.pool.shutdown_now();
                }
            }
        })?;
    Ok(handle)
}

/// A running server, from [`Server::start`](crate::server::Server::start).
pub struct RunningServer {
    engines: Arc<Vec<(String, Engine)>>,
    pool: Arc<WorkerPool<Message>>,
    drain: Arc<Drain>,
    signals: Option<signal_hook::iterator::Handle>,
    /// Stops the engines once the pool's shutdown begins, however it was asked for (a call,
    /// or a signal the pool handles); yields their reports.
    engine_stopper: StdMutex<Option<std::thread::JoinHandle<StopReports>>>,
}

impl RunningServer {
    /// Serves with `engines` on `pool`, to shut down as `shutdown` says.
    pub(crate) fn new(
        engines: Vec<(String, Engine)>,
        pool: Arc<WorkerPool<Message>>,
        shutdown: Shutdown,
    ) -> io::Result<Self> {
        let grace = shutdown.grace;
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
        let drain = Arc::new(Drain {
            engines: Arc::clone(&engines),
            pool: Arc::clone(&pool),
            readiness: shutdown.readiness,
            delay: shutdown.drain_delay,
            begun: AtomicBool::new(false),
        });
        let signals = match shutdown.watch_signals {
            true => Some(watch_signals(&drain)?),
            false => None,
        };
        Ok(RunningServer {
            engines,
            pool,
            drain,
            signals,
            engine_stopper: StdMutex::new(Some(stopper)),
        })
    }

    /// Every server's name and engine.
    #[cfg(feature = "metrics")]
    pub(crate) fn engines(&self) -> &Arc<Vec<(String, Engine)>> {
        &self.engines
    }

    /// The address server `name` listens on.
    pub fn local_addr(&self, name: &str) -> Option<SocketAddr> {
        self.engines
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| e.local_addr())
    }

    /// How deep the connections of server `name` went into their coroutine stacks, as a share
    /// of the stack size ([`Engine::stack_high_water`]).
    pub fn stack_high_water(&self, name: &str) -> Option<f64> {
        self.engines
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| e.stack_high_water())
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

    /// Begins a graceful shutdown and returns at once: after the
    /// [drain delay](crate::server::Server::drain_delay), if any, the servers stop accepting,
    /// idle connections close, requests in progress (and requests already sent on open
    /// connections) are answered for up to `max_wait_time`, the workers stop and exit.
    /// [`wait`](Self::wait) for the end. SIGTERM does the same (unless signals are off).
    pub fn shutdown(&self) {
        self.drain.begin();
    }

    /// Begins an immediate shutdown, without the drain delay: in-flight requests are
    /// cancelled without waiting. SIGINT does the same (unless signals are off).
    pub fn shutdown_now(&self) {
        self.pool.shutdown_now();
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
        if let Some(signals) = &self.signals {
            signals.close();
        }
        reports
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        // Signals go back to their default handling (the pool's, if it still runs).
        if let Some(signals) = &self.signals {
            signals.close();
        }
    }
}

impl fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningServer")
            .field("servers", &self.local_addrs())
            .finish_non_exhaustive()
    }
}
