//! Timers whose callbacks are runtime scopes: `Context` and `defer` work in them.

use coordinator::constants::WORKER_EXIT;
use coordinator::{Coordinator, CoordinatorManager, Timer};

use crate::config;
use crate::coroutine::scope;

/// A [`coordinator::Timer`] bound to the process-wide [`WORKER_EXIT`] coordinator (as it is at
/// this call), whose every callback call runs as a scope of this crate: see
/// [`timer_with_closing`].
#[doc(alias = "Timer")]
pub fn timer() -> Timer {
    timer_with_closing(CoordinatorManager::until(WORKER_EXIT))
}

/// A [`coordinator::Timer`] whose timers end when `closing` is resumed, and whose every
/// callback call runs as a [`scope`](crate::scope()) of its own.
///
/// A plain coordinator timer runs its callbacks in raw may coroutines, where [`Context`]
/// and [`defer`](crate::defer()) are not available (they panic). Here each call — each
/// `after` or `until` call, and each single tick of a `tick` — gets what a coroutine of this
/// crate gets: a fresh [`id`](crate::id()) (its [`parent_id`](crate::parent_id()) is `0`),
/// an empty [`Context`], and its own defers, which run when the call returns (or panics),
/// before its context is released. Nothing carries over from one tick to the next.
///
/// Everything else is the coordinator timer's contract: `clear`, `clear_all`, `stats`, the
/// closing run with `is_closing = true`; a panicking callback is logged and counted (its
/// defers still run first) and the timer goes on. Calls run on the timer's coroutines, which
/// are not counted in [`stats`](crate::stats()).
///
/// [`Context`]: crate::Context
///
/// # Example
///
/// ```
/// use std::sync::mpsc;
/// use std::time::Duration;
/// use coordinator::{Coordinator, TickControl};
/// use runtime::{Context, ContextKey, defer};
///
/// static RUN: ContextKey<u32> = ContextKey::new("run");
///
/// let closing = Coordinator::new();
/// let timer = runtime::timer_with_closing(closing.clone());
/// let (events, received) = mpsc::channel();
/// let mut runs = 0;
/// timer.tick(Duration::from_millis(1), move |_| {
///     assert!(Context::get(&RUN).is_none(), "each tick starts with an empty context");
///     runs += 1;
///     Context::set(&RUN, runs);
///     let events = events.clone();
///     defer! { events.send(Context::get(&RUN).unwrap()).unwrap(); }
///     if runs == 2 { TickControl::Stop } else { TickControl::Continue }
/// });
/// assert_eq!(received.recv().unwrap(), 1); // sent by the first tick's defer
/// assert_eq!(received.recv().unwrap(), 2);
/// ```
pub fn timer_with_closing(closing: Coordinator) -> Timer {
    // The timer spawns may coroutines: the runtime's configuration must be applied first.
    config::mark_started();
    Timer::with_runner(closing, |call| scope(|| call.run()))
}
