//! Coroutines with `defer` and a per-coroutine context, the coroutine toolkit, and workers with
//! a lifecycle — on may's stackful coroutines, so application code is plain blocking Rust.
//!
//! ```
//! use runtime::{Context, ContextKey, defer};
//!
//! static USER: ContextKey<String> = ContextKey::new("user");
//!
//! let handle = runtime::go!(|| {
//!     Context::set(&USER, "ada".to_string());
//!     defer! {
//!         // Runs when the coroutine ends — the context is still there.
//!         log::info!("request of {} done", Context::get(&USER).unwrap());
//!     }
//!     format!("hello, {}", Context::get(&USER).unwrap())
//! });
//! assert_eq!(handle.join().unwrap(), "hello, ada");
//! ```
//!
//! # The coroutine contract
//!
//! may's `spawn` is `unsafe`; [`spawn`] is not, because this crate states the contract once,
//! here, for all code it runs in coroutines:
//!
//! - **No thread-locals across blocking calls.** A coroutine can resume on another OS thread
//!   after any blocking call (a lock, a channel, I/O, a sleep), so a reference into a
//!   `thread_local!` (or a crate that keeps per-task state in one, such as `tracing`'s current
//!   span) must not be held across such a call. Per-coroutine state belongs in [`Context`].
//! - **Fit the stack.** Coroutine stacks are fixed-size (128 KiB unless configured; see
//!   [`Config::stack_size`] and [`Builder::stack_size`]); an overflow hits the guard page
//!   under the stack and ends the process. Deep recursion belongs on a coroutine spawned with
//!   a larger stack.
//! - **Do not block the OS thread.** `std::thread::sleep`, std locks held long, blocking file
//!   or DNS I/O stall every coroutine on that worker thread: use `may::coroutine::sleep`, the
//!   toolkit here and `may::net`.
//!
//! Breaking the first two is undefined behaviour or a crash, which is why may marks spawn
//! unsafe; this crate chooses to document rather than to make every spawn site `unsafe`.
//!
//! Build with `panic = "unwind"`: may cancels coroutines by unwinding them.
//!
//! # Worker coroutines
//!
//! A coroutine of this crate whose task has ended does not end with it: it parks, and the next
//! [`spawn`] with the same stack size (and no name) hands its task to it, which costs a wake-up
//! instead of a new coroutine. [`Config::idle_coroutines`] bounds how many wait (256 by
//! default, 0 turns it off); [`stats`] counts them.
//!
//! Every task is a coroutine of its own all the same: its own [`id`] and [`parent_id`], an
//! empty [`Context`], its own defers, its own [`JoinHandle`] — whatever the task before it on
//! the same worker did, panicked or was cancelled. What a task shares with the worker's other
//! tasks is may's per-coroutine state, as a thread pool's jobs share their thread's
//! `thread_local!`s:
//!
//! - a `may::coroutine_local!` value set by one task is seen by the next; keep per-task
//!   state in [`Context`] (or reset the local before the task ends);
//! - `may::coroutine::current()` names the worker coroutine, so cancelling through it can reach
//!   a later task: cancel a task with [`JoinHandle::cancel`], which never reaches past its task.
//!   (A worker found cancelled through such a handle while it waits retires, and a task already
//!   handed to it moves to a new coroutine.)
//!
//! A worker whose task was cancelled retires rather than waits: may cannot undo a cancellation.
//!
//! # Timers
//!
//! [`timer`] and [`timer_with_closing`] return a [`coordinator::Timer`] whose every callback
//! call runs as a [`scope`] of this crate, so [`Context`] and [`defer`](crate::defer()) work
//! in timer callbacks; in the callbacks of a plain `coordinator::Timer` they panic.

#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(feature = "tokio")]
pub mod bridge;
mod completion;
mod config;
mod context;
mod context_store;
mod coroutine;
mod defer;
mod deferred;
mod frame;
pub mod inherit;
pub mod offload;
mod panic;
mod pool;
mod reaper;
mod sync;
mod task;
mod task_state;
mod timer;
pub mod toolkit;
mod workers;

#[cfg(feature = "tokio")]
pub use crate::bridge::{block_on, block_on_timeout};
pub use crate::config::{Config, ConfigError, configure};
pub use crate::context::{AnyContextKey, Context, ContextKey};
pub use crate::coroutine::{
    Builder, JoinHandle, OpenScope, Stats, id, in_coroutine, parent_id, retire_coroutine, scope,
    scope_open, spawn, stats,
};
pub use crate::defer::{NotInCoroutine, defer, try_defer};
pub use crate::offload::{OffloadError, offload, offload_timeout};
pub use crate::panic::{Panic, is_cancelled, panic_message};
pub use crate::timer::{timer, timer_with_closing};
pub use crate::toolkit::{
    Barrier, BarrierToken, Channel, Concurrent, KeyedMutexGuard, Locker, LockerGuard, Mutex,
    Parallel, ParallelError, PopError, PushError, TaskError, TaskFailure, WaitGroup,
    WaitGroupError, Waiter, WaiterError,
};
pub use crate::workers::{
    ShutdownReport, Worker, WorkerError, WorkerPool, WorkerSettings, Workers, WorkersError,
};

/// Spawns a coroutine running the closure; the same as [`spawn`].
///
/// ```
/// let handle = runtime::go!(|| "done");
/// assert_eq!(handle.join().unwrap(), "done");
/// ```
#[macro_export]
macro_rules! go {
    ($f:expr) => {
        $crate::spawn($f)
    };
}
