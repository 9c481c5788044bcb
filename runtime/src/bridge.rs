//! Calling async crates from coroutines: [`block_on`](crate::block_on()) runs a future on tokio
//! and parks only the calling coroutine until it is done.
//!
//! ```
//! // Any future of an async crate (a database driver, an HTTP client): here a tokio timer.
//! let answer = runtime::spawn(|| {
//!     runtime::block_on(async {
//!         tokio::task::yield_now().await;
//!         6 * 7
//!     })
//! });
//! assert_eq!(answer.join().unwrap(), 42);
//! ```
//!
//! # Where futures run
//!
//! On a tokio multi-thread runtime the crate starts at the first `block_on` (its thread count:
//! [`Config::bridge_threads`](crate::Config::bridge_threads); threads named `hyperf-tokio`),
//! or on the runtime whose [`Handle`] the program gives to [`use_handle`] before that. The
//! future's first poll happens on the caller, inside that runtime's context (so it can spawn
//! tasks, use tokio's timers and sockets): a future that is ready at once costs no thread
//! switch. If it is not ready, it moves to a tokio task for the rest of its life, and the
//! caller parks until the task is done.
//!
//! # What parks
//!
//! - In a coroutine: the coroutine. Its may worker thread runs other coroutines meanwhile.
//! - On a plain OS thread: the thread (like `Runtime::block_on`).
//! - On a thread of a tokio runtime (a tokio worker, or inside `Runtime::block_on`): refused
//!   with a panic, because blocking it could wait for the very thread that would finish the
//!   future. Await the future there instead.
//!
//! # Cancellation, panics, timeouts
//!
//! - A coroutine cancelled while it waits ([`JoinHandle::cancel`](crate::JoinHandle::cancel),
//!   a worker's drain after `max_wait_time`) aborts the tokio task on its way out: the future is
//!   dropped by tokio at once (or right after its current poll). The abort never waits, which
//!   matters: see `completion.rs` on why nothing may park while a cancellation unwinds.
//! - A panic inside the future comes back as a panic of the caller with the same payload
//!   ([`panic_message`](crate::panic_message()) reads it); the tokio runtime is not affected.
//! - [`block_on_timeout`](crate::block_on_timeout()) gives up after a timeout and drops the
//!   future the same way. The timeout is honoured to the microsecond in coroutines too (it is
//!   the coordinator's, not may's timer).

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;

use crate::completion::Completion;
use crate::panic::Panic;

/// The runtime futures run on: the one given to [`use_handle`], or ours, started on first use.
static HANDLE: OnceLock<Handle> = OnceLock::new();
/// Keeps the runtime the crate started alive for the life of the process.
static OWNED: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
/// [`Config::bridge_threads`](crate::Config::bridge_threads); 0: tokio's default (one per CPU).
static THREADS: AtomicUsize = AtomicUsize::new(0);

pub(crate) fn set_threads(threads: usize) {
    THREADS.store(threads, Ordering::Relaxed);
}

/// Makes [`block_on`](crate::block_on()) run futures on the runtime of `handle` instead of
/// starting a runtime of its own. Call it before the first `block_on`; the runtime must stay
/// alive while coroutines use it.
///
/// ```
/// let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
/// runtime::bridge::use_handle(tokio.handle().clone()).unwrap();
/// assert_eq!(runtime::block_on(async { 1 }), 1);
/// ```
///
/// # Errors
///
/// [`HandleAlreadySet`] when a runtime is already in use (given earlier, or started by a
/// `block_on`).
pub fn use_handle(handle: Handle) -> Result<(), HandleAlreadySet> {
    HANDLE.set(handle).map_err(|_| HandleAlreadySet)
}

/// Why [`use_handle`] refused: futures already run on another runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandleAlreadySet;

impl fmt::Display for HandleAlreadySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("block_on already runs futures on a tokio runtime: give the handle before the first block_on")
    }
}

impl std::error::Error for HandleAlreadySet {}

/// The future did not finish within [`block_on_timeout`](crate::block_on_timeout())'s timeout;
/// it has been dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the future did not finish in time")
    }
}

impl std::error::Error for Elapsed {}

/// The handle futures run on, starting our runtime if nobody gave one.
pub fn handle() -> Handle {
    HANDLE
        .get_or_init(|| {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.thread_name("hyperf-tokio").enable_all();
            match THREADS.load(Ordering::Relaxed) {
                0 => {}
                threads => {
                    builder.worker_threads(threads);
                }
            }
            let runtime = builder
                .build()
                .expect("the bridge's tokio runtime could not start");
            OWNED.get_or_init(|| runtime).handle().clone()
        })
        .clone()
}

/// Runs `future` to completion on tokio and returns its output, parking the calling **coroutine**
/// (not its OS thread) meanwhile; on a plain OS thread it blocks the thread. See the
/// [`bridge`](mod@crate::bridge) module for where the future runs.
///
/// ```
/// let handle = runtime::spawn(|| runtime::block_on(async { "from tokio" }));
/// assert_eq!(handle.join().unwrap(), "from tokio");
/// ```
///
/// A future that needs tokio's context when it is *made*, not only when it runs —
/// `tokio::time::sleep(d)`, `tokio::time::timeout(..)`, a `tokio::net` socket's constructor —
/// panics with "there is no reactor running" if it is made on the coroutine and handed over;
/// make it inside an `async` block, which runs on tokio: `block_on(async move {
/// tokio::time::sleep(d).await })`. Futures of crates such as `sqlx` and `reqwest` do nothing
/// until polled, and can be handed over as they are.
///
/// # Panics
///
/// With the future's own panic payload, when the future panics. When called on a thread of a
/// tokio runtime (a tokio worker, or inside `Runtime::block_on`), which it would block: await
/// the future there instead.
#[doc(alias = "await")]
pub fn block_on<F>(future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match run(future, None) {
        Ok(output) => output,
        Err(Elapsed) => unreachable!("no deadline, no timeout"),
    }
}

/// [`block_on`] that gives up after `timeout`: the future is then dropped (the tokio task is
/// aborted) and the caller gets [`Elapsed`].
///
/// ```
/// use std::time::Duration;
/// let never = runtime::block_on_timeout(std::future::pending::<()>(), Duration::from_millis(1));
/// assert_eq!(never, Err(runtime::bridge::Elapsed));
/// ```
///
/// # Errors
///
/// [`Elapsed`] when the future has not finished within `timeout`.
///
/// # Panics
///
/// As [`block_on`].
#[doc(alias = "await")]
pub fn block_on_timeout<F>(future: F, timeout: Duration) -> Result<F::Output, Elapsed>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    run(future, Some(Instant::now().checked_add(timeout)).flatten())
}

fn run<F>(future: F, deadline: Option<Instant>) -> Result<F::Output, Elapsed>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    if !may::coroutine::is_coroutine() && Handle::try_current().is_ok() {
        panic!(
            "runtime::block_on called on a thread of a tokio runtime: it would block that thread \
             (and could wait for itself); `.await` the future there instead"
        );
    }
    let handle = handle();
    let mut future = Box::pin(future);
    // The first poll here: a ready future costs no thread switch. A wake-up it asks for goes
    // nowhere (the no-op waker), which is fine: tokio polls the task as soon as it is spawned.
    {
        let _context = handle.enter();
        if let Poll::Ready(output) = future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            return Ok(output);
        }
    }
    let done = Arc::new(Completion::<Result<F::Output, Panic>>::new());
    let task = handle.spawn(Catching {
        future,
        done: Arc::clone(&done),
    });
    // Aborts the task however this caller leaves before the task is done: cancelled in its
    // park (the guard drops during the unwind), or timed out.
    let guard = AbortOnDrop(task);
    let outcome = done.wait(deadline);
    drop(guard);
    match outcome {
        Some(Ok(output)) => Ok(output),
        Some(Err(payload)) => resume_unwind(payload),
        None => Err(Elapsed),
    }
}

/// The tokio task: polls the future, catching its panic, and hands the outcome to the caller.
struct Catching<F: Future> {
    future: Pin<Box<F>>,
    done: Arc<Completion<Result<F::Output, Panic>>>,
}

impl<F: Future> Future for Catching<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // `Catching` is `Unpin` (the future is boxed): plain field access.
        let this = &mut *self;
        let outcome = match catch_unwind(AssertUnwindSafe(|| this.future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(output)) => Ok(output),
            Err(payload) => Err(payload),
        };
        this.done.complete(outcome);
        Poll::Ready(())
    }
}

/// Aborts the tokio task when dropped unless it has finished. Never waits: it may run while a
/// cancellation unwinds the coroutine.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if !self.0.is_finished() {
            self.0.abort();
        }
    }
}
