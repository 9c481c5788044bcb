//! Startup and shutdown gating for may coroutines, OS threads and async tasks.
//!
//! A server must not serve a request before its worker has finished starting, and background
//! loops must stop sleeping the moment the worker begins to exit. Both are one-shot events that
//! many parties wait on: a [`Coordinator`] is a latch for such an event, and the
//! [`CoordinatorManager`] names them process-wide, as Hyperf's `CoordinatorManager` does.
//!
//! ```
//! use std::time::Duration;
//! use coordinator::{CoordinatorManager, constants::{WORKER_EXIT, WORKER_START}};
//!
//! // Requests, in coroutines, park until the worker has started.
//! let requests: Vec<_> = (0..4)
//!     .map(|n| {
//!         may::go!(move || {
//!             CoordinatorManager::until(WORKER_START).r#yield();
//!             n * 10
//!         })
//!     })
//!     .collect();
//!
//! // A background loop on a thread: one round of work, then an interruptible sleep.
//! let background = std::thread::spawn(|| {
//!     let mut rounds = 0;
//!     loop {
//!         rounds += 1; // ... flush metrics, refresh a cache ...
//!         if CoordinatorManager::until(WORKER_EXIT).yield_timeout(Duration::from_secs(5)) {
//!             return rounds; // the worker is exiting: stop at once
//!         }
//!     }
//! });
//!
//! // The worker finishes its start callbacks, then opens the gate.
//! CoordinatorManager::until(WORKER_START).resume();
//! let served: Vec<i32> = requests.into_iter().map(|r| r.join().unwrap()).collect();
//! assert_eq!(served, [0, 10, 20, 30]);
//!
//! // Shutdown: the loop wakes now, not in five seconds.
//! CoordinatorManager::until(WORKER_EXIT).resume();
//! assert!(background.join().unwrap() >= 1);
//! ```
//!
//! # What is in the crate
//!
//! - [`Coordinator`] — the latch: `r#yield`,
//!   [`yield_timeout`](Coordinator::yield_timeout), [`resume`](Coordinator::resume),
//!   [`is_closing`](Coordinator::is_closing), [`resumed`](Coordinator::resumed) for async code.
//! - [`CoordinatorManager`] — `until(name)` and `clear(name)`; names in [`constants`].
//! - [`Timer`] — callbacks after a delay, on an interval or at shutdown, ended by a coordinator;
//!   [`Timer::with_runner`] decides what surrounds each callback call (the `runtime` crate's
//!   `runtime::timer()` makes each one a runtime scope, with `Context` and `defer`).
//! - [`WaitList`] — the wait queue the latch is built on, for building other primitives.
//!
//! # Guarantees that may's own primitives do not give
//!
//! - Every positive timeout is honoured, in coroutines too: may treats a timeout under one
//!   millisecond as "forever" in a coroutine and can, under load, lose a coroutine's timeout
//!   altogether. Coroutine timeouts here come from a deadline thread of this crate.
//! - A waiter that times out, is cancelled (may's `cancel`) or whose future is dropped is removed
//!   at once ([`Coordinator::waiters`] proves it), so an interruptible-sleep loop can run for the
//!   life of a server. `resume` wakes waiters iteratively: no stack depth grows with their number.
//! - A resumed coordinator costs one atomic load to check.
//!
//! # Using it with may
//!
//! The crate does not configure may: the program does, once, before its first coroutine
//! (`may::config().set_workers(..)`, and `set_worker_pin(false)` on shared hosts).
//! Build with `panic = "unwind"` (the default): may cancels a coroutine by unwinding it, and
//! with `panic = "abort"` every cancellation would abort the process.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod constants;
mod coordinator;
// The model check (`--cfg loom`) replaces the deadline thread with a stand-in it can drive.
#[cfg_attr(loom, path = "deadline_model.rs")]
mod deadline;
mod manager;
mod sync;
mod timer;
mod wait_list;

pub use crate::coordinator::{Coordinator, Resumed};
pub use crate::manager::CoordinatorManager;
pub use crate::timer::{TickControl, Timer, TimerCall, TimerId, TimerStats};
pub use crate::wait_list::{AsyncWait, WaitList, WaitOutcome};
