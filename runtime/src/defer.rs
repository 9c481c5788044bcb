//! `defer`: work registered now, run when the current coroutine ends.

use crate::frame::with_frame;

/// Registers `f` to run when the current coroutine ends — on return, on panic and on
/// cancellation — after the coroutine's body and before its [`Context`](crate::Context) is
/// released (so `f` can still read it).
///
/// Defers run last-in, first-out; a defer registered while defers run goes on the same stack
/// and runs next. Each runs isolated: a panicking defer is logged and the others still run.
///
/// This is Hyperf's (and Go's) coroutine-scoped `defer`, not a scope guard: `f` runs when the
/// *coroutine* ends, not when the enclosing block does. For the end of a block, use a guard
/// value with a `Drop` impl (e.g. the `scopeguard` crate).
///
/// After a cancellation, a defer that blocks is cut short at its first blocking call (may
/// unwinds again there).
///
/// # Panics
///
/// Outside a coroutine spawned by this crate (a plain thread, or a coroutine spawned with may
/// directly — such as a callback of a plain [`coordinator::Timer`]; use [`timer`](crate::timer())
/// for one whose callbacks can defer): there is no coroutine end to run `f` at, and dropping
/// it silently would lose work. Use [`try_defer`] to handle that case yourself.
///
/// # Example
///
/// ```
/// use std::sync::{Arc, Mutex};
///
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let in_coroutine = Arc::clone(&log);
/// runtime::spawn(move || {
///     let on_end = Arc::clone(&in_coroutine);
///     runtime::defer(move || on_end.lock().unwrap().push("deferred"));
///     in_coroutine.lock().unwrap().push("body");
/// })
/// .join()
/// .unwrap();
/// assert_eq!(*log.lock().unwrap(), ["body", "deferred"]);
/// ```
pub fn defer(f: impl FnOnce() + 'static) {
    if let Err(NotInCoroutine) = try_defer(f) {
        panic!(
            "runtime::defer called outside a coroutine spawned by runtime::spawn: \
             there is no coroutine end to run it at (in a coordinator::Timer callback, \
             make the timer with runtime::timer())"
        );
    }
}

/// Like [`defer`], but outside a coroutine of this crate returns an error (and drops `f`)
/// instead of panicking.
pub fn try_defer(f: impl FnOnce() + 'static) -> Result<(), NotInCoroutine> {
    with_frame(|frame| match frame {
        Some(frame) => {
            frame.push_defer(f);
            Ok(())
        }
        None => Err(NotInCoroutine),
    })
}

/// The error of [`try_defer`] and of context access outside a coroutine of this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotInCoroutine;

impl std::fmt::Display for NotInCoroutine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not in a coroutine spawned by runtime::spawn")
    }
}

impl std::error::Error for NotInCoroutine {}

/// Registers the block to run when the current coroutine ends; see [`defer`](crate::defer()).
///
/// ```
/// runtime::spawn(|| {
///     runtime::defer! { println!("coroutine done"); }
///     println!("working");
/// })
/// .join()
/// .unwrap();
/// ```
#[macro_export]
macro_rules! defer {
    ($($body:tt)*) => {
        $crate::defer(move || { $($body)* })
    };
}
