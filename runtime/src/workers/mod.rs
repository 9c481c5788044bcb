//! [`Workers`]: a pool of workers with Swoole's lifecycle — manager start, worker start, stop,
//! exit, pipe messages, `max_request` recycling, reload and graceful shutdown.

mod error;
mod manager;
mod post;
mod worker;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use coordinator::constants::{WORKER_EXIT, WORKER_START};
use coordinator::{Coordinator, CoordinatorManager};

pub use self::error::{WorkerError, WorkersError};
pub use self::manager::ShutdownReport;
use self::manager::{Callbacks, PoolShared, manage, watch_signals};
use self::post::Command;
pub use self::worker::Worker;
use crate::coroutine::Builder;

/// A [`Workers`]' settings, as [`Workers::settings`] reads them; each is set by the builder
/// method of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerSettings {
    /// How many workers.
    pub worker_num: usize,
    /// Requests after which a worker is recycled (0: never).
    pub max_request: u64,
    /// How long a stopping worker's in-flight coroutines get before they are cancelled.
    pub max_wait_time: Duration,
    /// Whether the pool handles SIGTERM and SIGINT itself.
    pub handle_signals: bool,
    /// Whether the pool resumes the process-wide `WORKER_START` and `WORKER_EXIT`.
    pub process_coordinators: bool,
}

/// Builds a [`WorkerPool`]: `worker_num` workers with the lifecycle of Swoole's server.
///
/// A worker here is a logical unit of the process, not an OS process: an id, its in-flight
/// coroutines ([`Worker::spawn`]), a mailbox for pipe messages and its own pair of
/// coordinators. The coroutines of all workers share may's scheduler threads.
///
/// The events, in order:
/// 1. `on_manager_start`, once;
/// 2. `on_worker_start(worker)` for each worker; when all have returned, the process-wide
///    [`WORKER_START`] coordinator is resumed (each worker's own [`Worker::started`] as soon
///    as its callback returns);
/// 3. while running: `on_pipe_message(worker, from, message)` for each message, in order;
///    a worker that reported `max_request` requests done ([`Worker::request_done`]) is
///    recycled: stop, exit, then start again under the same id;
/// 4. on shutdown (graceful: [`WorkerPool::shutdown`] or SIGTERM): [`WORKER_EXIT`] is resumed,
///    then `on_worker_stop(worker)` for each (it takes no new work), then `on_worker_exit(worker)`
///    for each (its [`Worker::exiting`] is resumed so its loops break); in-flight coroutines get
///    up to `max_wait_time` to finish, then are cancelled; finally `on_shutdown`.
///    [`WorkerPool::shutdown_now`] (or SIGINT) cancels in-flight work at once.
///
/// A panicking callback is logged and the lifecycle goes on.
///
/// # Example
///
/// ```
/// use std::sync::mpsc;
/// use runtime::Workers;
///
/// let (events, log) = mpsc::channel();
/// let (start, stop) = (events.clone(), events.clone());
/// let pool = Workers::<String>::new()
///     .worker_num(2)
///     .handle_signals(false)
///     .process_coordinators(false)
///     .on_worker_start(move |w| start.send(format!("start {}", w.id())).unwrap())
///     .on_worker_stop(move |w| stop.send(format!("stop {}", w.id())).unwrap())
///     .on_pipe_message(move |w, from, message| {
///         events.send(format!("{} got {message:?} from {from:?}", w.id())).unwrap()
///     })
///     .start()
///     .unwrap();
///
/// assert!(pool.worker_start().yield_timeout(std::time::Duration::from_secs(10)));
/// pool.worker(0).unwrap().send_message(1, "hi".to_string()).unwrap();
/// assert_eq!(log.iter().find(|e| e.contains("got")).unwrap(), r#"1 got "hi" from Some(0)"#);
/// pool.shutdown();
/// let report = pool.wait();
/// assert_eq!(report.cancelled, 0);
/// ```
pub struct Workers<M: Send + 'static> {
    worker_num: usize,
    max_request: u64,
    max_wait_time: Duration,
    handle_signals: bool,
    process_coordinators: bool,
    start_after: Option<Coordinator>,
    callbacks: Callbacks<M>,
}

impl<M: Send + 'static> Default for Workers<M> {
    fn default() -> Self {
        Workers {
            worker_num: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_request: 0,
            max_wait_time: Duration::from_secs(3),
            handle_signals: true,
            process_coordinators: true,
            start_after: None,
            callbacks: Callbacks {
                manager_start: None,
                worker_start: None,
                worker_stop: None,
                worker_exit: None,
                pipe_message: None,
                shutdown: None,
            },
        }
    }
}

impl<M: Send + 'static> Workers<M> {
    /// A pool with the defaults: a worker per CPU, no `max_request`, a `max_wait_time` of 3 s,
    /// SIGTERM/SIGINT handled, the process-wide `WORKER_START`/`WORKER_EXIT` resumed.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many workers (at least 1).
    pub fn worker_num(mut self, workers: usize) -> Self {
        self.worker_num = workers;
        self
    }

    /// Recycle a worker after it reported this many requests done (0: never).
    pub fn max_request(mut self, requests: u64) -> Self {
        self.max_request = requests;
        self
    }

    /// How long a stopping worker's in-flight coroutines get before they are cancelled
    /// (default 3 s).
    pub fn max_wait_time(mut self, wait: Duration) -> Self {
        self.max_wait_time = wait;
        self
    }

    /// Whether the pool handles SIGTERM (graceful shutdown) and SIGINT (immediate shutdown)
    /// itself (default: yes). Turn it off when the host program handles signals.
    pub fn handle_signals(mut self, handle: bool) -> Self {
        self.handle_signals = handle;
        self
    }

    /// Whether the pool resumes the process-wide [`WORKER_START`] and [`WORKER_EXIT`]
    /// coordinators (default: yes). With `false` it uses coordinators of its own (see
    /// [`WorkerPool::worker_start`]), so that several pools can run in one process.
    ///
    /// With `true`, a pool that finds the process-wide coordinators already resumed (by a pool
    /// that ran before it) clears them and starts from fresh ones.
    pub fn process_coordinators(mut self, process: bool) -> Self {
        self.process_coordinators = process;
        self
    }

    /// Makes the manager wait for `gate` before its first event: a host that must do more
    /// set-up after [`start`](Self::start) (bind its listeners, say) resumes it when done, so
    /// its own start event comes before `on_manager_start`.
    pub fn start_after(mut self, gate: Coordinator) -> Self {
        self.start_after = Some(gate);
        self
    }

    /// Called once, first, when the pool starts.
    #[doc(alias = "onManagerStart")]
    pub fn on_manager_start(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.callbacks.manager_start = Some(Arc::new(f));
        self
    }

    /// Called when a worker starts (also after each recycle).
    #[doc(alias = "onWorkerStart")]
    pub fn on_worker_start(mut self, f: impl Fn(&Worker<M>) + Send + Sync + 'static) -> Self {
        self.callbacks.worker_start = Some(Arc::new(f));
        self
    }

    /// Called when a worker stops taking new work.
    #[doc(alias = "onWorkerStop")]
    pub fn on_worker_stop(mut self, f: impl Fn(&Worker<M>) + Send + Sync + 'static) -> Self {
        self.callbacks.worker_stop = Some(Arc::new(f));
        self
    }

    /// Called when a worker's exit begins, before its in-flight work is waited for.
    #[doc(alias = "onWorkerExit")]
    pub fn on_worker_exit(mut self, f: impl Fn(&Worker<M>) + Send + Sync + 'static) -> Self {
        self.callbacks.worker_exit = Some(Arc::new(f));
        self
    }

    /// Called, in the receiving worker, for each message sent to it: the sender's worker id
    /// (`None` when sent from outside the pool) and the message. One worker's messages are
    /// handled one at a time, in the order they arrived.
    #[doc(alias = "onPipeMessage")]
    pub fn on_pipe_message(
        mut self,
        f: impl Fn(&Worker<M>, Option<usize>, M) + Send + Sync + 'static,
    ) -> Self {
        self.callbacks.pipe_message = Some(Arc::new(f));
        self
    }

    /// Called once, last, when the pool has shut down.
    #[doc(alias = "onShutdown")]
    pub fn on_shutdown(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.callbacks.shutdown = Some(Arc::new(f));
        self
    }

    /// The settings as configured so far, for a host that builds on this pool (the HTTP
    /// server reads its `max_wait_time` for its own drain).
    pub fn settings(&self) -> WorkerSettings {
        WorkerSettings {
            worker_num: self.worker_num,
            max_request: self.max_request,
            max_wait_time: self.max_wait_time,
            handle_signals: self.handle_signals,
            process_coordinators: self.process_coordinators,
        }
    }

    /// Starts the pool: the manager runs the start events in a coroutine of its own and this
    /// returns at once (wait on [`WorkerPool::worker_start`] for the workers to be up).
    pub fn start(self) -> Result<WorkerPool<M>, WorkersError> {
        if self.worker_num == 0 {
            return Err(WorkersError::NoWorkers);
        }
        let (worker_start, worker_exit) = if self.process_coordinators {
            (
                fresh_process_coordinator(WORKER_START),
                fresh_process_coordinator(WORKER_EXIT),
            )
        } else {
            (Coordinator::new(), Coordinator::new())
        };
        let shared = Arc::new(PoolShared::new(
            self.worker_num,
            self.max_request,
            self.max_wait_time,
            self.callbacks,
            worker_start,
            worker_exit,
        ));
        let signals = if self.handle_signals {
            Some(watch_signals(&shared).map_err(WorkersError::Signals)?)
        } else {
            None
        };
        let manager = Arc::clone(&shared);
        let gate = self.start_after;
        Builder::new()
            .name("worker-manager")
            .spawn(move || {
                if let Some(gate) = gate {
                    gate.r#yield();
                }
                manage(&manager)
            })
            .map_err(WorkersError::Spawn)?;
        Ok(WorkerPool { shared, signals })
    }
}

fn fresh_process_coordinator(name: &str) -> Coordinator {
    let current = CoordinatorManager::until(name);
    if current.is_closing() {
        CoordinatorManager::clear(name);
        return CoordinatorManager::until(name);
    }
    current
}

impl<M: Send + 'static> fmt::Debug for Workers<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Workers")
            .field("worker_num", &self.worker_num)
            .field("max_request", &self.max_request)
            .field("max_wait_time", &self.max_wait_time)
            .field("handle_signals", &self.handle_signals)
            .field("process_coordinators", &self.process_coordinators)
            .field("start_after", &self.start_after)
            .finish_non_exhaustive()
    }
}

/// A running pool of workers, from [`Workers::start`].
pub struct WorkerPool<M: Send + 'static> {
    shared: Arc<PoolShared<M>>,
    signals: Option<signal_hook::iterator::Handle>,
}

impl<M: Send + 'static> WorkerPool<M> {
    /// The current generation of worker `id`; `None` for an unknown id, or before the worker
    /// first started.
    pub fn worker(&self, id: usize) -> Option<Worker<M>> {
        self.shared.worker(id)
    }

    /// How many workers the pool has.
    pub fn worker_num(&self) -> usize {
        self.shared.worker_num()
    }

    /// Sends `message` to worker `to`'s `on_pipe_message`, as from outside the pool (the
    /// sender id it sees is `None`).
    #[doc(alias = "sendMessage")]
    pub fn send_message(&self, to: usize, message: M) -> Result<(), WorkerError> {
        self.shared.post.deliver(None, to, message)
    }

    /// Recycles every worker gracefully, one after the other, so the others keep serving.
    pub fn reload(&self) {
        self.shared.post.command(Command::Reload);
    }

    /// Begins a graceful shutdown and returns at once; [`wait`](Self::wait) for its end.
    pub fn shutdown(&self) {
        self.shared
            .post
            .command(Command::Shutdown { graceful: true });
    }

    /// Begins an immediate shutdown: in-flight work is cancelled without waiting.
    pub fn shutdown_now(&self) {
        self.shared
            .post
            .command(Command::Shutdown { graceful: false });
    }

    /// Waits until the pool has shut down (after `on_shutdown`) and reports what it did.
    pub fn wait(&self) -> ShutdownReport {
        self.shared.stopped.r#yield();
        *self.shared.report.lock()
    }

    /// A latch resumed once some worker accepts work: already resumed when one does now;
    /// otherwise resumed when the next worker's life begins (the end of a recycle), or when
    /// shutdown begins, after which none ever will, so a waiter never waits for nothing.
    ///
    /// A host that hands work to the workers waits on it while every worker is between two
    /// lives (a pool of one, recycled), instead of polling:
    ///
    /// ```
    /// use runtime::Workers;
    ///
    /// let pool = Workers::<()>::new()
    ///     .worker_num(1)
    ///     .handle_signals(false)
    ///     .process_coordinators(false)
    ///     .start()
    ///     .unwrap();
    /// assert!(pool.accepting().yield_timeout(std::time::Duration::from_secs(10)));
    /// assert!(pool.worker(0).unwrap().is_accepting());
    /// pool.shutdown();
    /// pool.wait();
    /// ```
    pub fn accepting(&self) -> Coordinator {
        self.shared.accepting()
    }

    /// Whether the pool has shut down.
    pub fn is_stopped(&self) -> bool {
        self.shared.stopped.is_closing()
    }

    /// Resumed once every worker's start callback has returned: the process-wide
    /// [`WORKER_START`] unless the pool was built with `process_coordinators(false)`.
    pub fn worker_start(&self) -> &Coordinator {
        &self.shared.worker_start
    }

    /// Resumed when shutdown begins: the process-wide [`WORKER_EXIT`] unless the pool was
    /// built with `process_coordinators(false)`.
    pub fn worker_exit(&self) -> &Coordinator {
        &self.shared.worker_exit
    }
}

impl<M: Send + 'static> Drop for WorkerPool<M> {
    fn drop(&mut self) {
        if let Some(signals) = &self.signals {
            signals.close();
        }
    }
}

impl<M: Send + 'static> fmt::Debug for WorkerPool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerPool")
            .field("worker_num", &self.worker_num())
            .field("stopped", &self.is_stopped())
            .finish_non_exhaustive()
    }
}
