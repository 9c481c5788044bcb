//! [`WaitGroup`]: wait until a counted set of tasks has finished.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use coordinator::{WaitList, WaitOutcome};
use parking_lot::Mutex;

use super::timeout::deadline_after;

/// A counter of pending tasks that callers can wait on until it drops to zero.
///
/// Use it to wait for a batch of coroutines or threads you started yourself: [`add`](Self::add)
/// before starting each, [`done`](Self::done) when each finishes, [`wait`](Self::wait) for all.
/// Clones share the same counter. Once a `wait` has returned, the group can be used for the next
/// batch.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use runtime::WaitGroup;
///
/// let group = WaitGroup::new();
/// for _ in 0..4 {
///     group.add(1);
///     let group = group.clone();
///     runtime::spawn(move || {
///         // ... the task's work ...
///         group.done().unwrap();
///     });
/// }
/// assert!(group.wait(Some(Duration::from_secs(10))));
/// assert_eq!(group.count(), 0);
/// ```
#[derive(Clone, Default)]
pub struct WaitGroup {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
    waiters: WaitList,
}

#[derive(Default)]
struct State {
    count: usize,
    /// Bumped each time the count reaches zero. A waiter released by that moment must return
    /// `true` even if the group is reused (count raised again) before it gets to run.
    generation: u64,
}

/// The error of [`WaitGroup::done`] called when the counter is already zero: more `done` calls
/// than `add`ed tasks, a bug in the caller. The counter is left at zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WaitGroupError;

impl fmt::Display for WaitGroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WaitGroup::done called with the counter at zero (more done than add)")
    }
}

impl std::error::Error for WaitGroupError {}

impl WaitGroup {
    /// A group with a count of zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `n` pending tasks.
    ///
    /// # Panics
    ///
    /// When the count would overflow `usize`.
    pub fn add(&self, n: usize) {
        let mut state = self.inner.state.lock();
        state.count = state
            .count
            .checked_add(n)
            .expect("WaitGroup counter overflow");
    }

    /// Marks one task done; the last one wakes every waiter.
    ///
    /// # Errors
    ///
    /// [`WaitGroupError`] when the count is already zero; the count stays zero.
    pub fn done(&self) -> Result<(), WaitGroupError> {
        {
            let mut state = self.inner.state.lock();
            if state.count == 0 {
                return Err(WaitGroupError);
            }
            state.count -= 1;
            if state.count > 0 {
                return Ok(());
            }
            state.generation = state.generation.wrapping_add(1);
        }
        // Notified after the state lock is released: waiters re-check the state under the wait
        // list's lock, which this call takes, so none can miss the change.
        self.inner.waiters.notify_all();
        Ok(())
    }

    /// Waits until the count is zero; `true` once it is, `false` when `timeout` ran out first.
    /// `None` waits as long as it takes.
    ///
    /// Returns `true` at once when the count is already zero.
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let started = {
            let state = self.inner.state.lock();
            if state.count == 0 {
                return true;
            }
            state.generation
        };
        let reached = || {
            let state = self.inner.state.lock();
            state.count == 0 || state.generation != started
        };
        let deadline = deadline_after(timeout);
        loop {
            match self.inner.waiters.wait(deadline, reached) {
                WaitOutcome::Ready => return true,
                WaitOutcome::Notified => {}
                // What is visible now decides: the count may have reached zero just as time ran
                // out.
                WaitOutcome::TimedOut => return reached(),
            }
        }
    }

    /// The number of pending tasks.
    pub fn count(&self) -> usize {
        self.inner.state.lock().count
    }

    /// How many callers are parked in [`wait`](Self::wait) right now (timed-out waits are not
    /// counted: they leave at once).
    pub fn waiters(&self) -> usize {
        self.inner.waiters.len()
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitGroup")
            .field("count", &self.count())
            .field("waiters", &self.waiters())
            .finish()
    }
}
