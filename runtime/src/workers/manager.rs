//! The pool's manager: its shared state and callbacks, and the loop that starts, recycles and
//! stops the workers (and turns SIGTERM/SIGINT into shutdowns).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use coordinator::Coordinator;
use parking_lot::Mutex;

use super::post::{Command, Post};
use super::worker::{Generation, Worker};
use crate::coroutine::Builder;
use crate::defer::defer;
use crate::panic::panic_message;
use crate::task::Canceller;

type Hook = Arc<dyn Fn() + Send + Sync>;
type WorkerHook<M> = Arc<dyn Fn(&Worker<M>) + Send + Sync>;
type PipeHook<M> = Arc<dyn Fn(&Worker<M>, Option<usize>, M) + Send + Sync>;

/// How long cancelled work gets to unwind before the pool stops waiting for it.
const CANCEL_GRACE: Duration = Duration::from_secs(1);

/// The lifecycle callbacks a pool was built with; the manager calls them.
pub(crate) struct Callbacks<M: Send + 'static> {
    pub(crate) manager_start: Option<Hook>,
    pub(crate) worker_start: Option<WorkerHook<M>>,
    pub(crate) worker_stop: Option<WorkerHook<M>>,
    pub(crate) worker_exit: Option<WorkerHook<M>>,
    pub(crate) pipe_message: Option<PipeHook<M>>,
    pub(crate) shutdown: Option<Hook>,
}

/// What a shutdown did, from [`WorkerPool::wait`](crate::WorkerPool::wait).
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

/// The pool's state, shared by the manager and the pool's handle; workers see only its post.
pub(crate) struct PoolShared<M: Send + 'static> {
    max_wait_time: Duration,
    callbacks: Callbacks<M>,
    generations: Mutex<Vec<Option<Arc<Generation<M>>>>>,
    /// Commands for the manager and messages for the workers; its own `Arc`, so that a worker
    /// can hold it weakly without holding the rest of the pool.
    pub(crate) post: Arc<Post<M>>,
    pub(crate) worker_start: Coordinator,
    pub(crate) worker_exit: Coordinator,
    pub(crate) stopped: Coordinator,
    pub(crate) report: Mutex<ShutdownReport>,
    /// Resumed, and replaced by a fresh one, each time a worker's new life starts accepting
    /// work, and when shutdown begins; see [`PoolShared::accepting`].
    next_accepting: Mutex<Coordinator>,
}

impl<M: Send + 'static> PoolShared<M> {
    /// A pool of `worker_num` workers, none started yet.
    pub(crate) fn new(
        worker_num: usize,
        max_request: u64,
        max_wait_time: Duration,
        callbacks: Callbacks<M>,
        worker_start: Coordinator,
        worker_exit: Coordinator,
    ) -> Self {
        PoolShared {
            max_wait_time,
            callbacks,
            generations: Mutex::new((0..worker_num).map(|_| None).collect()),
            post: Arc::new(Post::new(worker_num, max_request)),
            worker_start,
            worker_exit,
            stopped: Coordinator::new(),
            report: Mutex::new(ShutdownReport::default()),
            next_accepting: Mutex::new(Coordinator::new()),
        }
    }

    /// A latch that is resumed once some worker accepts work: already resumed if one does
    /// now, else resumed by the next worker start (or by the shutdown, after which none will).
    pub(crate) fn accepting(&self) -> Coordinator {
        // Checked under the latch's lock, which `announce_accepting` takes after a worker is
        // installed: either the check sees that worker, or the latch returned is the one its
        // start resumes.
        let next = self.next_accepting.lock();
        let any = self
            .generations
            .lock()
            .iter()
            .flatten()
            .any(|generation| generation.admission.is_open());
        if any || self.worker_exit.is_closing() {
            let now = Coordinator::new();
            now.resume();
            return now;
        }
        next.clone()
    }

    /// Wakes whoever waits in [`accepting`](Self::accepting) for a worker.
    fn announce_accepting(&self) {
        let announced = std::mem::take(&mut *self.next_accepting.lock());
        announced.resume();
    }

    /// How many workers the pool has.
    pub(crate) fn worker_num(&self) -> usize {
        self.post.mailboxes.len()
    }

    /// The current generation of worker `id`, if it has started.
    pub(crate) fn worker(&self, id: usize) -> Option<Worker<M>> {
        let generation = self.generations.lock().get(id)?.clone()?;
        Some(Worker { generation })
    }
}

/// Calls a lifecycle callback; a panic in it is logged, never fatal.
fn call(event: &str, f: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        log::error!("{event} callback panicked: {}", panic_message(&payload));
    }
}

/// The manager: start events, then commands until shutdown, then the stop events.
pub(crate) fn manage<M: Send + 'static>(pool: &Arc<PoolShared<M>>) {
    if let Some(f) = &pool.callbacks.manager_start {
        call("on_manager_start", || f());
    }
    for id in 0..pool.worker_num() {
        start_worker(pool, id, 0);
    }
    pool.worker_start.resume();
    let graceful = loop {
        match pool.post.next_command() {
            Command::Recycle { id, generation } => {
                let current = pool.worker(id).map(|w| w.generation());
                if current == Some(generation) {
                    recycle(pool, id);
                }
            }
            Command::Reload => (0..pool.worker_num()).for_each(|id| recycle(pool, id)),
            Command::Shutdown { graceful } => break graceful,
        }
    };
    pool.post.stopping.store(true, Ordering::Release);
    pool.worker_exit.resume();
    pool.announce_accepting();
    let workers: Vec<Worker<M>> = (0..pool.worker_num())
        .filter_map(|id| pool.worker(id))
        .collect();
    let wait = if graceful {
        pool.max_wait_time
    } else {
        Duration::ZERO
    };
    let mut report = stop_workers(pool, &workers, wait);
    report.undelivered_messages = pool
        .post
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
    let generation = Arc::new(Generation::new(id, number, Arc::downgrade(&pool.post)));
    pool.generations.lock()[id] = Some(Arc::clone(&generation));
    let worker = Worker { generation };
    if let Some(f) = &pool.callbacks.worker_start {
        call("on_worker_start", || f(&worker));
    }
    worker.generation.started.resume();
    pool.announce_accepting();
    start_dispatcher(pool, &worker);
}

/// Delivers the worker's pipe messages, one at a time, while the worker accepts work. It is
/// not counted as the worker's in-flight work, but a stop waits for the message being handled
/// just the same (see `stop_workers`).
fn start_dispatcher<M: Send + 'static>(pool: &Arc<PoolShared<M>>, worker: &Worker<M>) {
    let pool = Arc::downgrade(pool);
    let me = worker.clone();
    let spawned = Builder::new().spawn_task(move |task| {
        let generation = Arc::clone(&me.generation);
        defer(move || generation.dispatcher_done.resume());
        *me.generation.dispatcher.lock() = Some(Canceller::new(Arc::clone(task)));
        loop {
            let Some(pool) = pool.upgrade() else { return };
            let mailbox = &pool.post.mailboxes[me.id()];
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
            me.generation.handling.store(true, Ordering::Release);
            match &pool.callbacks.pipe_message {
                Some(f) => call("on_pipe_message", || f(&me, from, message)),
                None => log::warn!(
                    "worker {}: no on_pipe_message callback; message dropped",
                    me.id()
                ),
            }
            me.generation.handling.store(false, Ordering::Release);
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
    // Nothing new can start once a worker is closed: what was in flight then is the work the
    // stop waits for.
    let mut in_flight = 0;
    for worker in workers {
        in_flight += worker.generation.admission.close();
        // The dispatcher parks on the mailbox: wake it so it sees the worker stop.
        pool.post.mailboxes[worker.id()].posted.notify_all();
    }
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
        stop_dispatcher(&worker.generation, deadline);
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

/// Waits for the worker's message dispatcher to end, cancelling it only when a message handler
/// holds it past `deadline`. An idle dispatcher has been woken by the stop and is on its way out:
/// it is left to end on its own: a cancel landing just as its park is woken is the case that made
/// may 0.3.51 spin forever (`reaper.rs`, and `coordinator`'s `HeldCell`, now keep it from
/// spinning; an immediate shutdown's deadline is now, so that is exactly when a cancel would
/// land, and an idle dispatcher needs no cancel).
fn stop_dispatcher<M: Send + 'static>(generation: &Generation<M>, deadline: Instant) {
    let done = &generation.dispatcher_done;
    if done.yield_timeout(remaining(deadline)) {
        return;
    }
    if !generation.handling.load(Ordering::Acquire) && done.yield_timeout(CANCEL_GRACE) {
        return;
    }
    generation.cancel_dispatcher();
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// Turns SIGTERM into a graceful shutdown and SIGINT into an immediate one.
pub(crate) fn watch_signals<M: Send + 'static>(
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
                pool.post.command(Command::Shutdown { graceful });
            }
        })?;
    Ok(handle)
}
