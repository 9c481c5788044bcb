//! [`Concurrent`]: fire-and-forget coroutines with a cap on how many run at once.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::time::Duration;

use super::slots::Slots;
use super::timeout::deadline_after;
use crate::panic::{is_cancellation, panic_message};

/// Starts each task in its own coroutine, with at most `limit` of them running at once:
/// [`create`](Self::create) waits while the limit is reached.
///
/// Use it to bound background work that nobody waits for one by one — sending notifications,
/// warming caches, writing logs to a remote sink — so a burst cannot start thousands of
/// coroutines at once. A task that panics is logged (`log::error!`) and frees its slot like any
/// other. Clones share the same limit and the same running tasks.
///
/// A limit of 0 is treated as 1.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::time::Duration;
/// use runtime::Concurrent;
///
/// let concurrent = Concurrent::new(2);
/// let sent = Arc::new(AtomicUsize::new(0));
/// for _ in 0..5 {
///     let sent = Arc::clone(&sent);
///     // The third call waits until one of the first two tasks has finished.
///     concurrent.create(move || {
///         sent.fetch_add(1, Ordering::SeqCst);
///     });
/// }
/// assert!(concurrent.wait_idle(Some(Duration::from_secs(10))));
/// assert_eq!(sent.load(Ordering::SeqCst), 5);
/// ```
#[derive(Clone)]
pub struct Concurrent {
    slots: Arc<Slots>,
}

impl Concurrent {
    /// At most `limit` tasks at once (0 is treated as 1).
    pub fn new(limit: usize) -> Self {
        Concurrent {
            slots: Slots::new(limit.max(1)),
        }
    }

    /// Runs `f` in a new coroutine, first waiting (parking the caller) while `limit` tasks run.
    ///
    /// Do not call it from one of this `Concurrent`'s own tasks while it may be full: the task
    /// would wait for a slot that only its own end can free.
    pub fn create<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        let slot = self
            .slots
            .acquire(None)
            .expect("a wait without a deadline cannot time out");
        crate::spawn(move || {
            // The slot is dropped however the task ends: return, panic or cancellation.
            let _slot = slot;
            if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
                if is_cancellation(&payload) {
                    // may must see its cancellation unwind out of the coroutine.
                    resume_unwind(payload);
                }
                log::error!("a Concurrent task panicked: {}", panic_message(&payload));
            }
        });
    }

    /// Waits until no task runs, up to `timeout` (`None`: as long as it takes); whether none
    /// runs. Tasks created meanwhile are waited for too.
    pub fn wait_idle(&self, timeout: Option<Duration>) -> bool {
        self.slots.wait_idle(deadline_after(timeout))
    }

    /// How many tasks run right now.
    #[doc(alias = "getLength", alias = "getRunningCoroutineCount")]
    pub fn length(&self) -> usize {
        self.slots.taken()
    }

    /// The most tasks that run at once.
    #[doc(alias = "getLimit")]
    pub fn limit(&self) -> usize {
        self.slots.limit()
    }

    /// Whether `limit` tasks run (a [`create`](Self::create) would wait).
    #[doc(alias = "isFull")]
    pub fn is_full(&self) -> bool {
        self.length() >= self.limit()
    }

    /// Whether no task runs.
    #[doc(alias = "isEmpty")]
    pub fn is_empty(&self) -> bool {
        self.length() == 0
    }
}

impl fmt::Debug for Concurrent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Concurrent")
            .field("limit", &self.limit())
            .field("length", &self.length())
            .finish()
    }
}
