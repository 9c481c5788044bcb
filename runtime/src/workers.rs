//! [`Workers`]: a pool of workers with Swoole's lifecycle — manager start, worker start, stop,
//! exit, pipe messages, `max_request` recycling, reload and graceful shutdown.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use coordinator::constants::{WORKER_EXIT, WORKER_START};
use coordinator::{Coordinator, CoordinatorManager, WaitList};
use parking_lot::Mutex;

use crate::panic::panic_message;
use crate::worker::{Generation, Worker, WorkerError};

type Hook = Arc<dyn Fn() + Send + Sync>;
type WorkerHook<M> = Arc<dyn Fn(&Worker<M>) + Send + Sync>;
type PipeHook<M> = Arc<dyn Fn(&Worker<M>, Option<usize>, M) + Send + Sync>;

/// How long cancelled work gets to unwind before the pool stops waiting for it.
const CANCEL_GRACE: Duration = Duration::from_secs(1);

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

struct Callbacks<M: Send + 'static> {
    manager_start: Option<Hook>,
    worker_start: Option<WorkerHook<M>>,
    worker_stop: Option<WorkerHook<M>>,
    worker_exit: Option<WorkerHook<M>>,
    pipe_message: Option<PipeHook<M>>,
    shutdown: Option<Hook>,
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
    pub fn on_manager_start(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.callbacks.manager_start = Some(Arc::new(f));
        self
    }

    /// Called when a worker starts (also after each recycle).
    pub fn on_worker_start(mut self, f: impl Fn(&Worker<M>) + Send + Sync + 'static) -> Self {
        self.callbacks.worker_start = Some(Arc::new(f));
        self
    }

    /// Called when a worker stops taking new work.
    pub fn on_worker_stop(mut self, f: impl Fn(&Worker<M>) + Send + Sync + 'static) -> Self {
        self.callbacks.worker_stop = Some(Arc::new(f));
        self
    }

    /// Called when a worker's exit begins, before its in-flight work is waited for.
    pub fn on_worker_exit(mut self, f: impl Fn(&Worker<M>) + Send + Sync + 'static) -> Self {
        self.callbacks.worker_exit = Some(Arc::new(f));
        self
    }

    /// Called, in the receiving worker, for each message sent to it: the sender's worker id
    /// (`None` when sent from outside the pool) and the message. One worker's messages are
    /// handled one at a time, in the order they arrived.
    pub fn on_pipe_message(
        mut self,
        f: impl Fn(&Worker<M>, Option<usize>, M) + Send + Sync + 'static,
    ) -> Self {
        self.callbacks.pipe_message = Some(Arc::new(f));
        self
    }

    /// Called once, last, when the pool has shut down.
    pub fn on_shutdown(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.callbacks.shutdown = Some(Arc::new(f));
        self
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
        let shared = Arc::new(PoolShared {
            max_request: self.max_request,
            max_wait_time: self.max_wait_time,
            callbacks: self.callbacks,
            generations: Mutex::new((0..self.worker_num).map(|_| None).collect()),
            mailboxes: (0..self.worker_num).map(|_| Mailbox::default()).collect(),
            commands: Mutex::new(VecDeque::new()),
            command_posted: WaitList::new(),
            stopping: AtomicBool::new(false),
            worker_start,
            worker_exit,
            stopped: Coordinator::new(),
            report: Mutex::new(ShutdownReport::default()),
        });
        let signals = if self.handle_signals {
            Some(watch_signals(&shared).map_err(WorkersError::Signals)?)
        } else {
            None
        };
        let manager = Arc::clone(&shared);
        let gate = self.start_after;
        crate::Builder::new()
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

/// Why a pool could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum WorkersError {
    /// `worker_num` was 0.
    NoWorkers,
    /// The SIGTERM/SIGINT handlers could not be installed.
    Signals(std::io::Error),
    /// The manager coroutine could not be spawned.
    Spawn(std::io::Error),
}

impl fmt::Display for WorkersError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkersError::NoWorkers => f.write_str("a worker pool needs at least one worker"),
            WorkersError::Signals(e) => write!(f, "could not install the signal handlers: {e}"),
            WorkersError::Spawn(e) => write!(f, "could not spawn the manager coroutine: {e}"),
        }
    }
}

impl std::error::Error for WorkersError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WorkersError::NoWorkers => None,
            WorkersError::Signals(e) | WorkersError::Spawn(e) => Some(e),
        }
    }
}

/// What a shutdown did, from [`WorkerPool::wait`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// In-flight coroutines that finished on their own while the workers stopped.
    pub drained: usize,
    /// In-flight coroutines cancelled after `max_wait_time` (or at once, for an immediate
    /// shutdown).
    pub cancelled: usize,
    /// Cancelled coroutines still running when the pool gave up waiting for them: they never
    /// reached a blocking call (may cancels only there).
    pub abandoned: usize,
    /// Pipe messages still queued, dropped undelivered.
    pub undelivered_messages: usize,
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
        self.shared.mailboxes.len()
    }

    /// Sends `message` to worker `to`'s `on_pipe_message`, as from outside the pool (the
    /// sender id it sees is `None`).
    pub fn send_message(&self, to: usize, message: M) -> Result<(), WorkerError> {
        self.shared.deliver(None, to, message)
    }

    /// Recycles every worker gracefully, one after the other, so the others keep serving.
    pub fn reload(&self) {
        self.shared.command(Command::Reload);
    }

    /// Begins a graceful shutdown and returns at once; [`wait`](Self::wait) for its end.
    pub fn shutdown(&self) {
        self.shared.command(Command::Shutdown { graceful: true });
    }

    /// Begins an immediate shutdown: in-flight work is cancelled without waiting.
    pub fn shutdown_now(&self) {
        self.shared.command(Command::Shutdown { graceful: false });
    }

    /// Waits until the pool has shut down (after `on_shutdown`) and reports what it did.
    pub fn wait(&self) -> ShutdownReport {
        self.shared.stopped.r#yield();
        *self.shared.report.lock()
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

pub(crate) enum Command {
    Recycle { id: usize, generation: u64 },
    Reload,
    Shutdown { graceful: bool },
}

/// One worker's queue of pipe messages; it outlives the worker's generations.
struct Mailbox<M> {
    queue: Mutex<VecDeque<(Option<usize>, M)>>,
    posted: WaitList,
}

impl<M> Default for Mailbox<M> {
    fn default() -> Self {
        Mailbox {
            queue: Mutex::new(VecDeque::new()),
            posted: WaitList::new(),
        }
    }
}

/// The pool's state, shared by the manager, the workers and the handles.
pub(crate) struct PoolShared<M: Send + 'static> {
    pub(crate) max_request: u64,
    max_wait_time: Duration,
    callbacks: Callbacks<M>,
    generations: Mutex<Vec<Option<Arc<Generation<M>>>>>,
    mailboxes: Vec<Mailbox<M>>,
    commands: Mutex<VecDeque<Command>>,
    command_posted: WaitList,
    stopping: AtomicBool,
    worker_start: Coordinator,
    worker_exit: Coordinator,
    stopped: Coordinator,
    report: Mutex<ShutdownReport>,
}

impl<M: Send + 'static> PoolShared<M> {
    fn worker(&self, id: usize) -> Option<Worker<M>> {
        let generation = self.generations.lock().get(id)?.clone()?;
        Some(Worker { generation })
    }

    pub(crate) fn command(&self, command: Command) {
        self.commands.lock().push_back(command);
        self.command_posted.notify_one();
    }

    fn next_command(&self) -> Command {
        loop {
            if let Some(command) = self.commands.lock().pop_front() {
                return command;
            }
            self.command_posted
                .wait(None, || !self.commands.lock().is_empty());
        }
    }

    pub(crate) fn deliver(
        &self,
        from: Option<usize>,
        to: usize,
        message: M,
    ) -> Result<(), WorkerError> {
        if self.stopping.load(Ordering::Acquire) {
            return Err(WorkerError::PoolStopped);
        }
        let mailbox = self
            .mailboxes
            .get(to)
            .ok_or(WorkerError::NoSuchWorker(to))?;
        mailbox.queue.lock().push_back((from, message));
        mailbox.posted.notify_one();
        Ok(())
    }
}

/// Calls a lifecycle callback; a panic in it is logged, never fatal.
fn call(event: &str, f: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        log::error!("{event} callback panicked: {}", panic_message(&payload));
    }
}

/// The manager: start events, then commands until shutdown, then the stop events.
fn manage<M: Send + 'static>(pool: &Arc<PoolShared<M>>) {
    if let Some(f) = &pool.callbacks.manager_start {
        call("on_manager_start", || f());
    }
    for id in 0..pool.mailboxes.len() {
        start_worker(pool, id, 0);
    }
    pool.worker_start.resume();
    let graceful = loop {
        match pool.next_command() {
            Command::Recycle { id, generation } => {
                let current = pool.worker(id).map(|w| w.generation());
                if current == Some(generation) {
                    recycle(pool, id);
                }
            }
            Command::Reload => (0..pool.mailboxes.len()).for_each(|id| recycle(pool, id)),
            Command::Shutdown { graceful } => break graceful,
        }
    };
    pool.stopping.store(true, Ordering::Release);
    pool.worker_exit.resume();
    let workers: Vec<Worker<M>> = (0..pool.mailboxes.len())
        .filter_map(|id| pool.worker(id))
        .collect();
    let wait = if graceful {
        pool.max_wait_time
    } else {
        Duration::ZERO
    };
    let mut report = stop_workers(pool, &workers, wait);
    report.undelivered_messages = pool
        .mailboxes
        .iter()
        .map(|mailbox| std::mem::take(&mut *mailbox.queue.lock()).len())
        .sum();
    if let Some(f) = &pool.callbacks.shutdown {
        call("on_shutdown", || f());
    }
    *pool.report.lock() = report;
    pool.stopped.resume();
}

fn start_worker<M: Send + 'static>(pool: &Arc<PoolShared<M>>, id: usize, number: u64) {
    let generation = Arc::new(Generation::new(id, number, Arc::downgrade(pool)));
    pool.generations.lock()[id] = Some(Arc::clone(&generation));
    let worker = Worker { generation };
    if let Some(f) = &pool.callbacks.worker_start {
        call("on_worker_start", || f(&worker));
    }
    worker.generation.started.resume();
    start_dispatcher(pool, &worker);
}

/// Delivers the worker's pipe messages, one at a time, while the worker accepts work. It is
/// not counted as the worker's in-flight work, but a stop waits for the message being handled
/// just the same (see `stop_workers`).
fn start_dispatcher<M: Send + 'static>(pool: &Arc<PoolShared<M>>, worker: &Worker<M>) {
    let pool = Arc::downgrade(pool);
    let me = worker.clone();
    let spawned = crate::Builder::new().spawn(move || {
        let generation = Arc::clone(&me.generation);
        crate::defer(move || generation.dispatcher_done.resume());
        *me.generation.dispatcher.lock() = Some(may::coroutine::current());
        loop {
            let Some(pool) = pool.upgrade() else { return };
            let mailbox = &pool.mailboxes[me.id()];
            let message = loop {
                if !me.is_accepting() {
                    return;
                }
                if let Some(message) = mailbox.queue.lock().pop_front() {
                    break message;
                }
                let ready = || !mailbox.queue.lock().is_empty() || !me.is_accepting();
                mailbox.posted.wait(None, ready);
            };
            let (from, message) = message;
            match &pool.callbacks.pipe_message {
                Some(f) => call("on_pipe_message", || f(&me, from, message)),
                None => log::warn!(
                    "worker {}: no on_pipe_message callback; message dropped",
                    me.id()
                ),
            }
        }
    });
    if let Err(error) = spawned {
        worker.generation.dispatcher_done.resume();
        log::error!(
            "worker {}: could not start its message dispatcher: {error}",
            worker.id()
        );
    }
}

fn recycle<M: Send + 'static>(pool: &Arc<PoolShared<M>>, id: usize) {
    let Some(worker) = pool.worker(id) else {
        return;
    };
    let report = stop_workers(pool, std::slice::from_ref(&worker), pool.max_wait_time);
    if report.cancelled > 0 {
        log::warn!(
            "worker {id}: recycled with {} coroutines cancelled",
            report.cancelled
        );
    }
    start_worker(pool, id, worker.generation() + 1);
}

/// Stops `workers` together: stop events, exit events, then a shared wait of `wait` for their
/// in-flight work before cancelling what is left.
fn stop_workers<M: Send + 'static>(
    pool: &PoolShared<M>,
    workers: &[Worker<M>],
    wait: Duration,
) -> ShutdownReport {
    for worker in workers {
        worker.generation.accepting.store(false, Ordering::Release);
        // The dispatcher parks on the mailbox: wake it so it sees the worker stop.
        pool.mailboxes[worker.id()].posted.notify_all();
    }
    // Nothing new can start now: this is the work the stop waits for.
    let in_flight: usize = workers.iter().map(Worker::in_flight).sum();
    for worker in workers {
        if let Some(f) = &pool.callbacks.worker_stop {
            call("on_worker_stop", || f(worker));
        }
    }
    for worker in workers {
        if let Some(f) = &pool.callbacks.worker_exit {
            call("on_worker_exit", || f(worker));
        }
        worker.generation.exiting.resume();
    }
    let deadline = Instant::now() + wait;
    for worker in workers {
        worker.generation.wait_drained(deadline);
        if !worker
            .generation
            .dispatcher_done
            .yield_timeout(remaining(deadline))
        {
            worker.generation.cancel_dispatcher();
        }
    }
    let cancelled: usize = workers
        .iter()
        .filter(|w| w.in_flight() > 0)
        .map(|w| w.generation.cancel_in_flight())
        .sum();
    let grace = Instant::now() + CANCEL_GRACE;
    let abandoned: usize = workers
        .iter()
        .map(|w| {
            w.generation.wait_drained(grace);
            w.in_flight()
        })
        .sum();
    ShutdownReport {
        drained: in_flight.saturating_sub(cancelled),
        cancelled,
        abandoned,
        undelivered_messages: 0,
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// Turns SIGTERM into a graceful shutdown and SIGINT into an immediate one.
fn watch_signals<M: Send + 'static>(
    pool: &Arc<PoolShared<M>>,
) -> std::io::Result<signal_hook::iterator::Handle> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])?;
    let handle = signals.handle();
    let pool = Arc::downgrade(pool);
    std::thread::Builder::new()
        .name("worker-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                let Some(pool) = pool.upgrade() else { return };
                let graceful = signal == SIGTERM;
                log::info!(
                    "{} received: {} shutdown",
                    if graceful { "SIGTERM" } else { "SIGINT" },
                    if graceful { "graceful" } else { "immediate" }
                );
                pool.command(Command::Shutdown { graceful });
            }
        })?;
    Ok(handle)
}
