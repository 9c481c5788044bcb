//! [`Waiter`]: run a closure in a fresh coroutine and wait for its value, with a timeout.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::Duration;

use super::channel::{Channel, PopError};
use crate::panic::{Panic, is_cancellation, panic_message};

/// Runs a closure in a new coroutine and waits for its value, giving up after a timeout.
///
/// Use it to bound a call that may hang — a query to a slow backend — or to run code with a
/// clean slate: the closure gets its own coroutine, so its own [`Context`](crate::Context) (empty)
/// and its own [`defer`](crate::defer()) stack, which run when it ends. A panic in the closure
/// comes back as [`WaiterError::Panicked`]; on timeout the closure keeps running in its
/// coroutine and its value, when it comes, is dropped.
///
/// For a closure that can fail, return a `Result`: it comes back unchanged inside the `Ok`.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use runtime::{Waiter, WaiterError};
///
/// let answer = Waiter::wait(|| 6 * 7, Some(Duration::from_secs(10)));
/// assert_eq!(answer.unwrap(), 42);
///
/// let stuck = Waiter::wait(
///     || may::coroutine::sleep(Duration::from_secs(60)),
///     Some(Duration::from_millis(5)),
/// );
/// assert!(matches!(stuck, Err(WaiterError::Timeout)));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Waiter;

/// Why [`Waiter::wait`] has no value.
#[non_exhaustive]
pub enum WaiterError {
    /// The closure did not finish within the timeout; it goes on running.
    Timeout,
    /// The closure panicked; this is its panic payload (re-raise it with
    /// [`std::panic::resume_unwind`] to propagate the panic).
    Panicked(Panic),
    /// The closure's coroutine was cancelled before the closure returned.
    Cancelled,
}

impl WaiterError {
    /// The panic message, for [`Panicked`](Self::Panicked).
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            WaiterError::Panicked(payload) => Some(panic_message(payload)),
            _ => None,
        }
    }
}

impl fmt::Debug for WaiterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaiterError::Timeout => f.write_str("Timeout"),
            WaiterError::Panicked(payload) => f
                .debug_tuple("Panicked")
                .field(&panic_message(payload))
                .finish(),
            WaiterError::Cancelled => f.write_str("Cancelled"),
        }
    }
}

impl fmt::Display for WaiterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaiterError::Timeout => f.write_str("the waited-for coroutine did not finish in time"),
            WaiterError::Panicked(payload) => write!(
                f,
                "the waited-for coroutine panicked: {}",
                panic_message(payload)
            ),
            WaiterError::Cancelled => f.write_str("the waited-for coroutine was cancelled"),
        }
    }
}

impl std::error::Error for WaiterError {}

impl Waiter {
    /// Runs `f` in a new coroutine and waits for its value up to `timeout` (`None`: as long as
    /// it takes). Parks the caller, a coroutine or a thread.
    ///
    /// # Errors
    ///
    /// [`WaiterError::Timeout`] when `f` has not returned in time (it keeps running),
    /// [`WaiterError::Panicked`] when it panicked, [`WaiterError::Cancelled`] when its coroutine
    /// was cancelled.
    pub fn wait<F, T>(f: F, timeout: Option<Duration>) -> Result<T, WaiterError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // Capacity 1 and one push: the child never waits. A `JoinHandle` has no timed join.
        let outcome = Channel::<Result<T, Panic>>::new(1);
        let sender = outcome.clone();
        crate::spawn(move || {
            // Closes the channel however the child ends, so a cancelled child is not waited
            // for until the timeout.
            let _closer = CloseOnDrop(&sender);
            match catch_unwind(AssertUnwindSafe(f)) {
                Err(payload) if is_cancellation(&payload) => resume_unwind(payload),
                result => {
                    // Cannot fail: capacity 1, this is the only push, and the close comes after.
                    let _ = sender.push(result, Some(Duration::ZERO));
                }
            }
        });
        match outcome.pop(timeout) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(payload)) => Err(WaiterError::Panicked(payload)),
            Err(PopError::Timeout) => Err(WaiterError::Timeout),
            Err(PopError::Closed) => Err(WaiterError::Cancelled),
        }
    }
}

struct CloseOnDrop<'a, T>(&'a Channel<T>);

impl<T> Drop for CloseOnDrop<'_, T> {
    fn drop(&mut self) {
        self.0.close();
    }
}
