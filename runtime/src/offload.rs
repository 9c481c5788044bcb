//! Blocking work off the coroutines: [`offload`](crate::offload()) runs a closure on a bounded pool
//! of OS threads (`hyperf-offload-N`) and parks the calling coroutine until it returns.
//!
//! ```
//! let size = runtime::spawn(|| {
//!     // A blocking call (a file, rusqlite, DNS, a long computation) would stall every
//!     // coroutine on this worker thread; on the offload pool it stalls only a pool thread.
//!     runtime::offload(|| std::fs::metadata("Cargo.toml").map(|m| m.len()))
//! });
//! assert!(size.join().unwrap().unwrap().unwrap() > 0);
//! ```
//!
//! # The pool
//!
//! - [`Config::offload_threads`](crate::Config::offload_threads) threads, 16 by default. The
//!   work is mostly waiting (a disk, a database, a resolver), so the pool is larger than the
//!   core count, yet small enough that a burst cannot start hundreds of threads (each reserves
//!   a stack) nor open more database connections than a server usually allows per process.
//!   CPU-heavy work gains nothing past the core count: give it a pool size of its own if that
//!   is all it does. The threads start with the first `offload`.
//! - A queue of [`Config::offload_queue`](crate::Config::offload_queue) closures (1,024 by
//!   default) waiting for a thread. When it is full a caller waits for room — its coroutine
//!   parks — instead of the queue growing without bound; [`offload_timeout`](crate::offload_timeout())
//!   bounds that wait and the run together.
//! - [`shutdown`] lets the queued closures run, then joins the threads. An `offload` after it
//!   starts the pool again.
//!
//! # What parks
//!
//! In a coroutine, the coroutine; on an OS thread, that thread (the closure still runs on the
//! pool, so the bound on blocking work holds for threads too).
//!
//! # Panics and cancellation
//!
//! A panic in the closure comes back as `Err(payload)`, as [`JoinHandle::join`](crate::JoinHandle::join)
//! reports one ([`panic_message`](crate::panic_message()) reads it); the pool thread goes on. A
//! caller cancelled while it waits leaves at once: a closure not yet started is skipped, one
//! already running runs to its end on its thread (threads cannot be interrupted) and its value
//! is dropped.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use coordinator::{WaitList, WaitOutcome};
use parking_lot::Mutex;

use crate::completion::Completion;
use crate::panic::{Panic, panic_message};

/// The default of [`Config::offload_threads`](crate::Config::offload_threads).
pub(crate) const DEFAULT_THREADS: usize = 16;
/// The default of [`Config::offload_queue`](crate::Config::offload_queue).
pub(crate) const DEFAULT_QUEUE: usize = 1024;

static THREADS: AtomicUsize = AtomicUsize::new(DEFAULT_THREADS);
static QUEUE: AtomicUsize = AtomicUsize::new(DEFAULT_QUEUE);

pub(crate) fn set_threads(threads: usize) {
    THREADS.store(threads.max(1), Ordering::Relaxed);
}

pub(crate) fn set_queue(closures: usize) {
    QUEUE.store(closures.max(1), Ordering::Relaxed);
}

type Job = Box<dyn FnOnce() + Send>;

/// One life of the pool, from its first `offload` to its `shutdown`.
struct Pool {
    queue: Mutex<VecDeque<Job>>,
    capacity: usize,
    closing: AtomicBool,
    /// Pool threads waiting for a closure.
    not_empty: WaitList,
    /// Callers waiting for room in the queue.
    not_full: WaitList,
}

struct Running {
    pool: Arc<Pool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

static POOL: Mutex<Option<Running>> = Mutex::new(None);

fn pool() -> Arc<Pool> {
    let mut running = POOL.lock();
    if let Some(running) = &*running {
        return Arc::clone(&running.pool);
    }
    let pool = Arc::new(Pool {
        queue: Mutex::new(VecDeque::new()),
        capacity: QUEUE.load(Ordering::Relaxed),
        closing: AtomicBool::new(false),
        not_empty: WaitList::new(),
        not_full: WaitList::new(),
    });
    let threads = (0..THREADS.load(Ordering::Relaxed))
        .map(|n| {
            let pool = Arc::clone(&pool);
            std::thread::Builder::new()
                .name(format!("hyperf-offload-{n}"))
                .spawn(move || pool.serve())
                .expect("an offload thread could not start")
        })
        .collect();
    *running = Some(Running {
        pool: Arc::clone(&pool),
        threads,
    });
    pool
}

impl Pool {
    /// A pool thread: runs queued closures until the pool closes and the queue is empty.
    fn serve(&self) {
        loop {
            let job = {
                let mut queue = self.queue.lock();
                match queue.pop_front() {
                    Some(job) => Some(job),
                    // Read under the queue lock, where `shutdown` sets it: a closure queued
                    // before the close is run, and none can be queued after it.
                    None if self.closing.load(Ordering::Acquire) => return,
                    None => None,
                }
            };
            match job {
                Some(job) => {
                    self.not_full.notify_one();
                    job();
                }
                None => {
                    self.not_empty.wait(None, || {
                        !self.queue.lock().is_empty() || self.closing.load(Ordering::Acquire)
                    });
                }
            }
        }
    }

    /// Queues `job`, waiting for room until `deadline`.
    fn push(&self, job: Job, deadline: Option<Instant>) -> Result<(), Refused> {
        let mut job = Some(job);
        let closed = std::cell::Cell::new(false);
        let try_push = |job: &mut Option<Job>| {
            let mut queue = self.queue.lock();
            if self.closing.load(Ordering::Acquire) {
                closed.set(true);
            } else if queue.len() < self.capacity {
                queue.push_back(job.take().expect("pushed once"));
            }
            job.is_none() || closed.get()
        };
        if !try_push(&mut job) {
            loop {
                // The check runs under the list lock, so room made after it is not missed.
                let outcome = self.not_full.wait(deadline, || try_push(&mut job));
                if job.is_none() || closed.get() {
                    break;
                }
                if outcome == WaitOutcome::TimedOut {
                    return Err(Refused::Full);
                }
            }
        }
        if let Some(job) = job {
            return Err(Refused::Closed(job));
        }
        self.not_empty.notify_one();
        Ok(())
    }
}

/// Why a closure was not queued.
enum Refused {
    Full,
    /// The pool is shutting down: the closure goes to the next pool.
    Closed(Job),
}

/// Runs `f` on the offload pool and returns its value, parking the calling coroutine (or
/// blocking the calling OS thread) until it has returned. See the [`offload`](mod@crate::offload)
/// module for the pool.
///
/// ```
/// let sum = runtime::spawn(|| runtime::offload(|| (1..=100u64).sum::<u64>()));
/// assert_eq!(sum.join().unwrap().unwrap(), 5050);
/// ```
///
/// # Errors
///
/// The payload of `f`'s panic, as [`JoinHandle::join`](crate::JoinHandle::join) reports one.
#[doc(alias = "spawn_blocking", alias = "blocking")]
pub fn offload<F, T>(f: F) -> Result<T, Panic>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match run(f, None) {
        Ok(value) => Ok(value),
        Err(OffloadError::Panicked(payload)) => Err(payload),
        Err(_) => unreachable!("no deadline, no timeout"),
    }
}

/// [`offload`] with a bound on the whole call: the wait for room in the queue and the run.
///
/// ```
/// use std::time::Duration;
/// let quick = runtime::offload_timeout(|| 1, Duration::from_secs(10));
/// assert_eq!(quick.unwrap(), 1);
/// ```
///
/// # Errors
///
/// [`OffloadError::QueueFull`] when the queue had no room before the timeout (`f` never runs),
/// [`OffloadError::Timeout`] when `f` had not returned in time (if it had not started it never
/// will; if it had, it runs to its end and its value is dropped),
/// [`OffloadError::Panicked`] when it panicked.
pub fn offload_timeout<F, T>(f: F, timeout: Duration) -> Result<T, OffloadError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    run(f, Instant::now().checked_add(timeout))
}

fn run<F, T>(f: F, deadline: Option<Instant>) -> Result<T, OffloadError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let done = Arc::new(Completion::<Result<T, Panic>>::new());
    let abandoned = Arc::new(AtomicBool::new(false));
    let job: Job = {
        let (done, abandoned) = (Arc::clone(&done), Arc::clone(&abandoned));
        Box::new(move || {
            if !abandoned.load(Ordering::Acquire) {
                done.complete(catch_unwind(AssertUnwindSafe(f)));
            }
        })
    };
    let mut job = job;
    loop {
        match pool().push(job, deadline) {
            Ok(()) => break,
            Err(Refused::Full) => return Err(OffloadError::QueueFull),
            // Raced a `shutdown`: the next `pool()` is a new pool.
            Err(Refused::Closed(refused)) => job = refused,
        }
    }
    // Marks the job abandoned however the caller leaves early: cancelled (the guard drops
    // during the unwind, and only stores a flag: nothing may park then) or timed out.
    let _abandon = Abandon(&abandoned);
    match done.wait(deadline) {
        Some(Ok(value)) => Ok(value),
        Some(Err(payload)) => Err(OffloadError::Panicked(payload)),
        None => Err(OffloadError::Timeout),
    }
}

struct Abandon<'a>(&'a AtomicBool);

impl Drop for Abandon<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Lets the closures already queued run, then joins the pool's threads; returns how many
/// threads it joined (0 when the pool was not running). An [`offload`](crate::offload()) after it
/// starts a new pool. Call it at the end of `main` (after the worker pool has stopped) for a
/// clean exit; a process that just exits does not need it.
///
/// Blocks the calling thread (or parks the calling coroutine) until the queue is done.
pub fn shutdown() -> usize {
    let Some(running) = POOL.lock().take() else {
        return 0;
    };
    {
        // Under the queue lock: see `serve` and `push`.
        let _queue = running.pool.queue.lock();
        running.pool.closing.store(true, Ordering::Release);
    }
    running.pool.not_empty.notify_all();
    running.pool.not_full.notify_all();
    let joined = running.threads.len();
    for thread in running.threads {
        // A closure's panic is caught on the thread: only a failure of ours could end one.
        let _ = thread.join();
    }
    joined
}

/// How many closures wait in the queue for a pool thread right now (0 when the pool is not
/// running): for metrics, and to see a pool that cannot keep up.
///
/// ```
/// assert_eq!(runtime::offload::queued(), 0);
/// ```
pub fn queued() -> usize {
    let running = POOL
        .lock()
        .as_ref()
        .map(|running| Arc::clone(&running.pool));
    running.map_or(0, |pool| pool.queue.lock().len())
}

/// Why [`offload_timeout`](crate::offload_timeout()) has no value.
#[non_exhaustive]
pub enum OffloadError {
    /// The queue had no room before the timeout: the closure was not queued and never runs.
    QueueFull,
    /// The closure did not return in time (see [`offload_timeout`](crate::offload_timeout())).
    Timeout,
    /// The closure panicked; this is its payload.
    Panicked(Panic),
}

impl fmt::Debug for OffloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OffloadError::QueueFull => f.write_str("QueueFull"),
            OffloadError::Timeout => f.write_str("Timeout"),
            OffloadError::Panicked(payload) => f
                .debug_tuple("Panicked")
                .field(&panic_message(payload))
                .finish(),
        }
    }
}

impl fmt::Display for OffloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OffloadError::QueueFull => f.write_str("the offload queue stayed full"),
            OffloadError::Timeout => f.write_str("the offloaded closure did not return in time"),
            OffloadError::Panicked(payload) => {
                write!(
                    f,
                    "the offloaded closure panicked: {}",
                    panic_message(payload)
                )
            }
        }
    }
}

impl std::error::Error for OffloadError {}
