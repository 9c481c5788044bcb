//! [`Coordinator`]: a one-shot latch that stays released.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::wait_list::{AsyncWait, WaitList, WaitOutcome};

/// A cheap-to-clone handle to a one-shot latch: waiters park until someone calls
/// [`resume`](Self::resume), and from then on every wait returns at once.
///
/// Use it to gate work on an event that happens once: "the worker has started", "the worker
/// is exiting". Waiting works the same from a may coroutine (parks the coroutine, not its
/// thread), a plain OS thread and async code ([`resumed`](Self::resumed)). Named,
/// process-wide coordinators come from [`CoordinatorManager::until`](crate::CoordinatorManager::until).
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use coordinator::Coordinator;
///
/// let started = Coordinator::new();
/// let gate = started.clone();
/// let worker = std::thread::spawn(move || {
///     assert!(gate.r#yield()); // parks until `resume`
///     "served"
/// });
///
/// assert!(!started.yield_timeout(Duration::from_millis(1)), "nobody resumed it yet");
/// started.resume();
/// assert_eq!(worker.join().unwrap(), "served");
/// assert!(started.is_closing());
/// ```
#[derive(Clone)]
pub struct Coordinator {
    latch: LatchRef,
}

/// The latch's state: the released flag is the fast path, the wait list the slow one.
pub(crate) struct Latch {
    released: AtomicBool,
    waiters: WaitList,
}

impl Latch {
    pub(crate) fn new() -> Self {
        Latch {
            released: AtomicBool::new(false),
            waiters: WaitList::new(),
        }
    }
}

/// Latches of the [`CoordinatorManager`](crate::CoordinatorManager) live for the whole process,
/// so handing one out costs no reference count (an `Arc` clone contended by every request
/// thread would cost more than the whole lookup); latches made by [`Coordinator::new`] are
/// reference counted as usual.
#[derive(Clone)]
enum LatchRef {
    Shared(Arc<Latch>),
    Static(&'static Latch),
}

impl Deref for LatchRef {
    type Target = Latch;

    #[inline]
    fn deref(&self) -> &Latch {
        match self {
            LatchRef::Shared(latch) => latch,
            LatchRef::Static(latch) => latch,
        }
    }
}

impl Coordinator {
    /// A new latch, not yet resumed, not registered under any name.
    pub fn new() -> Self {
        Coordinator {
            latch: LatchRef::Shared(Arc::new(Latch::new())),
        }
    }

    pub(crate) fn from_static(latch: &'static Latch) -> Self {
        Coordinator {
            latch: LatchRef::Static(latch),
        }
    }

    /// Waits until the coordinator is resumed; returns `true`.
    ///
    /// Returns at once, without parking, when it already was. (`yield` is a reserved word in
    /// Rust, hence the raw identifier; Hyperf calls this `yield()`.)
    ///
    /// In a coroutine that is cancelled while it waits, the cancellation unwinds out of this
    /// call and the waiter is removed from the coordinator.
    #[inline]
    pub fn r#yield(&self) -> bool {
        self.is_closing() || self.wait(None)
    }

    /// Waits until the coordinator is resumed or `timeout` runs out; returns whether it was
    /// resumed.
    ///
    /// `Duration::ZERO` is a poll (the same as [`is_closing`](Self::is_closing)). Every positive
    /// timeout is honoured, also below a millisecond and also in a coroutine (may on its own
    /// would wait forever there). A timeout too large to represent waits forever.
    #[doc(alias = "yield")]
    #[inline]
    pub fn yield_timeout(&self, timeout: Duration) -> bool {
        if self.is_closing() || timeout.is_zero() {
            return self.is_closing();
        }
        self.wait(Instant::now().checked_add(timeout))
    }

    #[cold]
    fn wait(&self, deadline: Option<Instant>) -> bool {
        let released = || self.latch.released.load(Ordering::Acquire);
        match self.latch.waiters.wait(deadline, released) {
            WaitOutcome::Ready | WaitOutcome::Notified => true,
            // Resumed or not, the answer is what is visible now: a `false` here means the resume
            // had not happened when the wait ended.
            WaitOutcome::TimedOut => self.is_closing(),
        }
    }

    /// Releases the latch and wakes every waiter: coroutines, threads and async tasks.
    ///
    /// Idempotent: later calls do nothing. Once it has returned, every wait returns `true` at
    /// once.
    pub fn resume(&self) {
        // Whoever flips the flag wakes the waiters; the wait list's lock orders this after every
        // waiter that saw the flag down and registered.
        if !self.latch.released.swap(true, Ordering::AcqRel) {
            self.latch.waiters.notify_all();
        }
    }

    /// Whether the coordinator has been resumed (Hyperf's `isClosing`).
    #[doc(alias = "isClosing")]
    #[inline]
    pub fn is_closing(&self) -> bool {
        self.latch.released.load(Ordering::Acquire)
    }

    /// The same wait for async code, on any executor: the future completes once the coordinator
    /// is resumed. It owns a handle, so it can be moved into a spawned task.
    ///
    /// Dropping the future before it completes removes its waiter. For a timeout, wrap it in
    /// your executor's timeout (e.g. `tokio::time::timeout`).
    ///
    /// ```
    /// use coordinator::Coordinator;
    ///
    /// let ready = Coordinator::new();
    /// let resumer = ready.clone();
    /// std::thread::spawn(move || resumer.resume());
    /// futures_executor::block_on(ready.resumed());
    /// assert!(ready.is_closing());
    /// ```
    pub fn resumed(&self) -> Resumed {
        Resumed {
            coordinator: self.clone(),
            wait: AsyncWait::default(),
        }
    }

    /// How many waiters (coroutines, threads and async tasks) are parked on it right now.
    ///
    /// A waiter that timed out, was cancelled or whose future was dropped is not counted.
    pub fn waiters(&self) -> usize {
        self.latch.waiters.len()
    }

    /// Whether two handles refer to the same latch.
    pub fn ptr_eq(&self, other: &Coordinator) -> bool {
        std::ptr::eq::<Latch>(&*self.latch, &*other.latch)
    }
}

impl Default for Coordinator {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Coordinator")
            .field("is_closing", &self.is_closing())
            .field("waiters", &self.waiters())
            .finish()
    }
}

/// The future returned by [`Coordinator::resumed`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct Resumed {
    coordinator: Coordinator,
    wait: AsyncWait,
}

impl Future for Resumed {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.coordinator.is_closing() {
            this.coordinator.latch.waiters.cancel(&mut this.wait);
            return Poll::Ready(());
        }
        let latch = &*this.coordinator.latch;
        let released = || latch.released.load(Ordering::Acquire);
        // Only `resume` notifies, and it releases first: any outcome but pending means resumed.
        latch
            .waiters
            .poll_wait(&mut this.wait, cx, released)
            .map(drop)
    }
}

impl Drop for Resumed {
    fn drop(&mut self) {
        self.coordinator.latch.waiters.cancel(&mut self.wait);
    }
}
