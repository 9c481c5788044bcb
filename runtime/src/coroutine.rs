//! Spawning coroutines, their identity, and what happens when they end.

use std::fmt;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::config;
use crate::frame::{Frame, with_frame};
use crate::inherit::{self, Captured};
use crate::panic::{Panic, is_cancellation, panic_message};
use crate::pool::{self, Job};
pub use crate::task::JoinHandle;
use crate::task::{AfterTask, Task};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static SPAWNED: AtomicU64 = AtomicU64::new(0);
static FINISHED: AtomicU64 = AtomicU64::new(0);
static PANICKED: AtomicU64 = AtomicU64::new(0);
static CANCELLED: AtomicU64 = AtomicU64::new(0);

/// Counters of the coroutines spawned by this crate, from [`stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Spawned and not yet finished (their defers included).
    pub live: u64,
    /// Spawned since the process started.
    pub spawned: u64,
    /// Ended by a panic (logged at `error`).
    pub panicked: u64,
    /// Ended by a cancellation (logged at `debug`).
    pub cancelled: u64,
    /// Worker coroutines parked, waiting for the next task (not counted in `live`).
    pub idle: u64,
}

/// The counters of coroutines spawned by this crate.
pub fn stats() -> Stats {
    let finished = FINISHED.load(Ordering::Acquire);
    let spawned = SPAWNED.load(Ordering::Acquire);
    Stats {
        live: spawned.saturating_sub(finished),
        spawned,
        panicked: PANICKED.load(Ordering::Relaxed),
        cancelled: CANCELLED.load(Ordering::Relaxed),
        idle: pool::idle() as u64,
    }
}

/// The current coroutine's id, or `None` outside a coroutine spawned by this crate (on a plain
/// thread, or in a coroutine spawned with may directly). Hyperf reports `-1` there.
///
/// Ids start at 1 and are never reused within a process.
#[doc(alias = "getCid", alias = "Coroutine::id")]
pub fn id() -> Option<u64> {
    with_frame(|frame| frame.map(Frame::id))
}

/// The id of the coroutine that spawned the current one: `Some(0)` for a coroutine spawned from
/// a plain thread (a top-level coroutine), `None` outside a coroutine of this crate.
#[doc(alias = "getPcid", alias = "parentId", alias = "Coroutine::pid")]
pub fn parent_id() -> Option<u64> {
    with_frame(|frame| frame.map(Frame::parent))
}

/// Whether the caller runs in a coroutine spawned by this crate.
#[doc(alias = "inCoroutine")]
pub fn in_coroutine() -> bool {
    with_frame(|frame| frame.is_some())
}

/// Spawns `f` in a new coroutine and returns a handle to join it.
///
/// The coroutine gets an [`id`], an empty [`Context`](crate::Context) and its own defer stack
/// ([`defer`](crate::defer())). A panic inside it is logged and reported by
/// [`JoinHandle::join`]; it never takes the process down.
///
/// # Panics
///
/// When may cannot allocate the coroutine's stack (see [`Builder::spawn`] for the error form).
///
/// # Example
///
/// ```
/// let handle = runtime::spawn(|| 6 * 7);
/// assert_eq!(handle.join().unwrap(), 42);
/// ```
#[doc(alias = "Coroutine::create", alias = "co", alias = "go")]
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new()
        .spawn(f)
        .expect("may could not spawn a coroutine")
}

/// Options for one coroutine: a name (shown in may's diagnostics) and a stack size.
#[derive(Debug, Default, Clone)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// Default options: no name, the runtime's configured stack size.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the coroutine.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The coroutine's stack size in bytes (may rounds it to whole words). A coroutine that
    /// overflows its stack crashes the process: size it for the deepest call chain it runs.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Spawns `f` with these options. See [`spawn`].
    ///
    /// Without a name, `f` may run on a worker coroutine that ran an earlier task with the
    /// same stack size (see the crate docs, "Worker coroutines"); a named coroutine is always
    /// a new one.
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_task(move |_| f())
    }

    /// [`spawn`](Self::spawn), with `f` given its own task (for a [`Canceller`]).
    pub(crate) fn spawn_task<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce(&Arc<Task<T>>) -> T + Send + 'static,
        T: Send + 'static,
    {
        config::mark_started();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let parent = id_or_top_level();
        let task = Arc::new(Task::new());
        let job: Box<dyn Job> = Box::new(TaskJob {
            id,
            parent,
            f,
            task: Arc::clone(&task),
            inherited: inherit::capture(),
        });
        SPAWNED.fetch_add(1, Ordering::AcqRel);
        // may counts its stack in machine words.
        let words = self
            .stack_size
            .map(|bytes| bytes.div_ceil(size_of::<usize>()));
        let pooled = self.name.is_none();
        let job = if pooled {
            let stack = words.unwrap_or_else(pool::default_stack);
            match pool::hand_off(stack, job) {
                Ok(()) => return Ok(JoinHandle { task, id }),
                Err(job) => job,
            }
        } else {
            job
        };
        let stack = pooled.then(|| words.unwrap_or_else(pool::default_stack));
        match pool::spawn(stack, words, self.name, job) {
            Ok(()) => Ok(JoinHandle { task, id }),
            Err(error) => {
                FINISHED.fetch_add(1, Ordering::AcqRel);
                Err(error)
            }
        }
    }
}

/// A task and what it needs to run as a coroutine of this crate.
struct TaskJob<F, T> {
    id: u64,
    parent: u64,
    f: F,
    task: Arc<Task<T>>,
    /// What the spawn hooks took from the spawning code ([`inherit`]).
    inherited: Captured,
}

impl<F, T> Job for TaskJob<F, T>
where
    F: FnOnce(&Arc<Task<T>>) -> T + Send,
    T: Send,
{
    fn run(self: Box<Self>) -> AfterTask {
        let TaskJob {
            id,
            parent,
            f,
            task,
            inherited,
        } = *self;
        let (result, retire) = inherited.run(|| run(id, parent, || f(&task)));
        // A cancellation that did not come through the task (may's handle of the coroutine,
        // kept from elsewhere) is set on the coroutine for good too.
        let cancelled = result.as_ref().is_err_and(is_cancellation);
        match task.finish(result) {
            AfterTask::Reuse if !cancelled && !retire => AfterTask::Reuse,
            _ => AfterTask::Retire,
        }
    }

    fn install(&self, coroutine: may::coroutine::Coroutine) {
        self.task.install(coroutine);
    }
}

fn id_or_top_level() -> u64 {
    id().unwrap_or(0)
}

/// The body of every coroutine of this crate: the user's function, then its defers (LIFO, each
/// isolated), then its context is released. Also whether the task asked for its coroutine to
/// end with it ([`retire_coroutine`]).
fn run<F, T>(id: u64, parent: u64, f: F) -> (Result<T, Panic>, bool)
where
    F: FnOnce() -> T,
{
    let frame = Frame::new(id, parent);
    let result = frame.run_current(|| catch_unwind(AssertUnwindSafe(f)));
    let cancelled = result.as_ref().is_err_and(is_cancellation);
    let retire = frame.retires();
    frame.end(cancelled);
    match &result {
        Ok(_) => {}
        Err(_) if cancelled => {
            CANCELLED.fetch_add(1, Ordering::Relaxed);
            log::debug!("coroutine {id} was cancelled");
        }
        Err(payload) => {
            PANICKED.fetch_add(1, Ordering::Relaxed);
            log::error!("coroutine {id} panicked: {}", panic_message(payload));
        }
    }
    FINISHED.fetch_add(1, Ordering::AcqRel);
    (result, retire)
}

/// Asks that the coroutine running the current task end with it, rather than park and run a
/// later spawn's task (see the crate docs, "Worker coroutines"). For a task that ran deep into
/// its stack: a reused coroutine keeps every stack page it ever touched resident, while an
/// ended one gives them back — unless its stack has may's configured default size
/// ([`Config::stack_size`](crate::Config::stack_size)): may keeps such stacks, touched pages
/// and all, in a pool of its own for its next coroutines. `false`, and nothing done, outside a
/// task's own body: outside a coroutine of this crate, or inside a [`scope`] (which has no
/// coroutine of its own).
///
/// ```
/// let handle = runtime::spawn(|| {
///     // ... a deep recursion ...
///     runtime::retire_coroutine()
/// });
/// assert!(handle.join().unwrap());
/// assert!(!runtime::retire_coroutine()); // not in a coroutine
/// ```
pub fn retire_coroutine() -> bool {
    with_frame(|frame| frame.is_some_and(Frame::retire))
}

/// Runs `f` as a coroutine of its own without spawning one: for its duration the caller has a
/// new [`id`] (its [`parent_id`] is the caller's), an empty [`Context`](crate::Context) and its
/// own defer stack; when `f` returns (or panics, or the coroutine is cancelled), the scope's
/// defers run and its context is released — exactly what a coroutine's end does.
///
/// A server uses it to give each request of a keep-alive connection the life of a coroutine:
/// the request's defers run once its response is written, while the connection's coroutine
/// goes on to the next request.
///
/// ```
/// use std::sync::{Arc, Mutex};
///
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let in_scope = Arc::clone(&log);
/// runtime::spawn(move || {
///     let connection = runtime::id();
///     runtime::scope(|| {
///         assert_ne!(runtime::id(), connection);
///         assert_eq!(runtime::parent_id(), connection);
///         let deferred = Arc::clone(&in_scope);
///         runtime::defer(move || deferred.lock().unwrap().push("request defer"));
///         in_scope.lock().unwrap().push("request");
///     });
///     in_scope.lock().unwrap().push("after the scope");
/// })
/// .join()
/// .unwrap();
/// assert_eq!(*log.lock().unwrap(), ["request", "request defer", "after the scope"]);
/// ```
pub fn scope<T>(f: impl FnOnce() -> T) -> T {
    let (value, open) = scope_open(f);
    open.end();
    value
}

/// Like [`scope`], but the scope stays open after `f` returns: its defers run and its context
/// is released when the returned [`OpenScope`] is ended (or dropped). If `f` panics, the scope
/// ends at once and the panic goes on.
///
/// An HTTP engine that writes pipelined responses in one batch keeps each request's scope open
/// until the batch is on the wire, so every request's defers still run after its response was
/// sent.
///
/// ```
/// use std::sync::{Arc, Mutex};
///
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let in_scope = Arc::clone(&log);
/// runtime::spawn(move || {
///     let deferred = Arc::clone(&in_scope);
///     let ((), open) = runtime::scope_open(move || {
///         runtime::defer(move || deferred.lock().unwrap().push("defer"));
///     });
///     in_scope.lock().unwrap().push("response sent");
///     open.end();
/// })
/// .join()
/// .unwrap();
/// assert_eq!(*log.lock().unwrap(), ["response sent", "defer"]);
/// ```
pub fn scope_open<T>(f: impl FnOnce() -> T) -> (T, OpenScope) {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let frame = Frame::for_scope(id);
    let result = frame.run_as_child(|| catch_unwind(AssertUnwindSafe(f)));
    let open = OpenScope { frame: Some(frame) };
    match result {
        Ok(value) => (value, open),
        Err(payload) => {
            open.finish(is_cancellation(&payload));
            std::panic::resume_unwind(payload)
        }
    }
}

/// A scope whose code has run but whose end — its defers, then the release of its context —
/// is still to come; see [`scope_open`]. Dropping it ends it.
pub struct OpenScope {
    frame: Option<Frame>,
}

impl OpenScope {
    /// The scope's id (what [`id`] returned inside it).
    pub fn id(&self) -> u64 {
        self.frame.as_ref().map_or(0, Frame::id)
    }

    /// Ends the scope: runs its defers (they see the scope's id and context), then releases its
    /// context.
    pub fn end(self) {
        self.finish(false);
    }

    fn finish(mut self, cancelled: bool) {
        if let Some(frame) = self.frame.take() {
            frame.end(cancelled);
        }
    }
}

impl Drop for OpenScope {
    fn drop(&mut self) {
        if let Some(frame) = self.frame.take() {
            frame.end(false);
        }
    }
}

impl fmt::Debug for OpenScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenScope").field("id", &self.id()).finish()
    }
}
