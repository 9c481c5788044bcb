//! [`WaitList`]: the wait queue under every blocking primitive of this project.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use parking_lot::Mutex;

use crate::deadline::{self, Expire};

/// A FIFO queue of parked waiters — may coroutines, OS threads and async tasks alike — with
/// timeouts that are always honoured and waiters that always remove themselves.
///
/// Use it to build a blocking primitive (a latch, a channel, a semaphore) that must work the same
/// from a coroutine, a thread and a future. It is the condition-variable pattern, with the list's
/// own lock as the mutex: a waiter checks its condition *under the list lock* before it parks; a
/// notifier first makes the condition true, then calls [`notify_one`](Self::notify_one) or
/// [`notify_all`](Self::notify_all), which take the same lock. So no wake-up can fall between
/// the check and the park.
///
/// Why not may's own primitives: a timed-out waiter on `may::sync::SyncFlag`, `Semphore` or
/// `mpmc` stays queued forever, and in a coroutine may loses sub-millisecond timeouts and,
/// rarely, any timeout. Here every wait deregisters itself when it returns, unwinds (may's
/// cancellation) or is dropped (a future), and coroutine timeouts come from a deadline thread of
/// this crate rather than from may's timer.
///
/// # Example
///
/// A one-shot flag built on a `WaitList`:
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use std::time::{Duration, Instant};
/// use coordinator::{WaitList, WaitOutcome};
///
/// struct Flag { set: AtomicBool, waiters: WaitList }
///
/// let flag = Arc::new(Flag { set: AtomicBool::new(false), waiters: WaitList::new() });
/// let setter = Arc::clone(&flag);
/// let thread = std::thread::spawn(move || {
///     setter.set.store(true, Ordering::Release);
///     setter.waiters.notify_all();
/// });
///
/// let deadline = Instant::now() + Duration::from_secs(10);
/// while !flag.set.load(Ordering::Acquire) {
///     let outcome = flag.waiters.wait(Some(deadline), || flag.set.load(Ordering::Acquire));
///     assert_ne!(outcome, WaitOutcome::TimedOut);
/// }
/// thread.join().unwrap();
/// assert!(flag.waiters.is_empty());
/// ```
pub struct WaitList {
    queue: Mutex<Queue>,
}

/// How a call to [`WaitList::wait`] or [`WaitList::poll_wait`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaitOutcome {
    /// The condition already held when checked under the lock; the caller did not park.
    Ready,
    /// A notifier woke this waiter. The condition may be false again by now (another waiter
    /// may have consumed what the notifier made available): check it and wait again if needed.
    Notified,
    /// The deadline passed before a notification.
    TimedOut,
}

/// The state an async wait keeps between polls; hold it in your future and pass it to
/// [`WaitList::poll_wait`], and to [`WaitList::cancel`] from the future's `Drop`.
#[derive(Default)]
pub struct AsyncWait {
    registration: Option<(u64, Arc<WaitCell>)>,
}

impl fmt::Debug for AsyncWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncWait")
            .field("registered", &self.registration.is_some())
            .finish()
    }
}

/// Keys grow monotonically, so the map's order is arrival order: `notify_one` is FIFO.
#[derive(Default)]
struct Queue {
    next_key: u64,
    waiters: BTreeMap<u64, Arc<WaitCell>>,
}

impl Queue {
    fn push(&mut self, cell: Arc<WaitCell>) -> u64 {
        let key = self.next_key;
        self.next_key += 1;
        self.waiters.insert(key, cell);
        key
    }
}

impl WaitList {
    /// An empty list.
    pub const fn new() -> Self {
        WaitList {
            queue: Mutex::new(Queue {
                next_key: 0,
                waiters: BTreeMap::new(),
            }),
        }
    }

    /// Parks the current coroutine or thread until notified or until `deadline` (`None`: no
    /// deadline), unless `ready` — called once, under the list lock — returns `true`.
    ///
    /// A deadline that has already passed returns [`WaitOutcome::TimedOut`] without parking.
    /// In a coroutine a cancellation (`may`'s `cancel`) unwinds out of this call; the waiter is
    /// deregistered on the way out and a notification it had already received is passed on to
    /// the next waiter, so `notify_one` is never lost.
    pub fn wait(&self, deadline: Option<Instant>, ready: impl FnOnce() -> bool) -> WaitOutcome {
        let (key, cell) = {
            let mut queue = self.queue.lock();
            if ready() {
                return WaitOutcome::Ready;
            }
            if deadline.is_some_and(|d| d <= Instant::now()) {
                return WaitOutcome::TimedOut;
            }
            let cell = Arc::new(WaitCell::for_current_context());
            (queue.push(Arc::clone(&cell)), cell)
        };
        let mut registration = Registration {
            list: self,
            key,
            cell: &cell,
            finished: false,
        };
        let outcome = cell.park_until(deadline);
        registration.finished = true;
        outcome
    }

    /// The async form of [`wait`](Self::wait), without a deadline (use your executor's timer
    /// around the future for one). Checks `ready` under the list lock; registers `cx`'s waker
    /// (or refreshes it) when not ready.
    pub fn poll_wait(
        &self,
        wait: &mut AsyncWait,
        cx: &mut Context<'_>,
        ready: impl FnOnce() -> bool,
    ) -> Poll<WaitOutcome> {
        let mut queue = self.queue.lock();
        if ready() {
            if let Some((key, _)) = wait.registration.take() {
                queue.waiters.remove(&key);
            }
            return Poll::Ready(WaitOutcome::Ready);
        }
        match &wait.registration {
            Some((key, cell)) => {
                if cell.state() == NOTIFIED {
                    queue.waiters.remove(key);
                    wait.registration = None;
                    return Poll::Ready(WaitOutcome::Notified);
                }
                cell.set_waker(cx.waker());
            }
            None => {
                let cell = Arc::new(WaitCell::for_task(cx.waker().clone()));
                let key = queue.push(Arc::clone(&cell));
                wait.registration = Some((key, cell));
            }
        }
        Poll::Pending
    }

    /// Withdraws an async wait (call it from your future's `Drop`). A notification the wait had
    /// received but not yet consumed is passed on to the next waiter.
    pub fn cancel(&self, wait: &mut AsyncWait) {
        if let Some((key, cell)) = wait.registration.take() {
            self.deregister(key, &cell, false);
        }
    }

    /// Wakes the longest-waiting waiter that has not timed out. Returns whether one was woken.
    pub fn notify_one(&self) -> bool {
        loop {
            let Some((_, cell)) = self.queue.lock().waiters.pop_first() else {
                return false;
            };
            // The lock is released before waking: a wake-up may run arbitrary code (a waker).
            if cell.notify() {
                return true;
            }
        }
    }

    /// Wakes every waiter registered now. Returns how many were woken.
    ///
    /// The waiters are taken out of the list under the lock and woken one by one after it is
    /// released, iteratively: waking a million waiters needs no more stack than waking one.
    pub fn notify_all(&self) -> usize {
        let waiters = std::mem::take(&mut self.queue.lock().waiters);
        waiters.into_values().filter(|cell| cell.notify()).count()
    }

    /// How many waiters are registered right now.
    pub fn len(&self) -> usize {
        self.queue.lock().waiters.len()
    }

    /// Whether no waiter is registered right now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn deregister(&self, key: u64, cell: &WaitCell, consumed: bool) {
        self.queue.lock().waiters.remove(&key);
        if !consumed && cell.state() == NOTIFIED {
            self.notify_one();
        }
    }
}

impl Default for WaitList {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for WaitList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitList")
            .field("waiters", &self.len())
            .finish()
    }
}

/// Removes a blocking waiter from its list however the wait ends — normally or by unwinding.
struct Registration<'a> {
    list: &'a WaitList,
    key: u64,
    cell: &'a WaitCell,
    finished: bool,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.list.deregister(self.key, self.cell, self.finished);
    }
}

const WAITING: u8 = 0;
const NOTIFIED: u8 = 1;
const TIMED_OUT: u8 = 2;

/// One parked waiter. Its state leaves `WAITING` exactly once — to `NOTIFIED` by a notifier or
/// to `TIMED_OUT` by the deadline — and only the side that wins that race wakes it.
pub(crate) struct WaitCell {
    state: AtomicU8,
    wake: Wake,
}

enum Wake {
    /// A may coroutine or an OS thread: may's `Blocker` parks either correctly, and checks for
    /// cancellation when it parks a coroutine.
    Blocker(may::sync::Blocker),
    Task(Mutex<Waker>),
}

impl WaitCell {
    fn for_current_context() -> Self {
        WaitCell {
            state: AtomicU8::new(WAITING),
            wake: Wake::Blocker(may::sync::Blocker::new(false)),
        }
    }

    fn for_task(waker: Waker) -> Self {
        WaitCell {
            state: AtomicU8::new(WAITING),
            wake: Wake::Task(Mutex::new(waker)),
        }
    }

    fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    fn set_waker(&self, waker: &Waker) {
        if let Wake::Task(current) = &self.wake {
            let mut current = current.lock();
            if !current.will_wake(waker) {
                current.clone_from(waker);
            }
        }
    }

    fn notify(&self) -> bool {
        self.finish(NOTIFIED)
    }

    /// Ends the wait as timed out, unless a notifier got there first; returns who won.
    fn time_out(&self) -> bool {
        self.finish(TIMED_OUT)
    }

    fn finish(&self, to: u8) -> bool {
        let won = self
            .state
            .compare_exchange(WAITING, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if won {
            match &self.wake {
                Wake::Blocker(blocker) => blocker.unpark(),
                Wake::Task(waker) => waker.lock().wake_by_ref(),
            }
        }
        won
    }

    fn park_until(self: &Arc<Self>, deadline: Option<Instant>) -> WaitOutcome {
        let Wake::Blocker(blocker) = &self.wake else {
            unreachable!("blocking waits always use a blocker cell")
        };
        if may::coroutine::is_coroutine() {
            // may's own coroutine timer can lose a timeout and is blind below 1 ms; our deadline
            // thread ends the wait instead. The guard withdraws the deadline however we leave.
            let _deadline = deadline.map(|at| deadline::schedule(at, Arc::<Self>::clone(self)));
            loop {
                match self.state() {
                    NOTIFIED => return WaitOutcome::Notified,
                    TIMED_OUT => return WaitOutcome::TimedOut,
                    // Unwinds here if the coroutine is cancelled.
                    _ => blocker.park(None).ok(),
                };
            }
        }
        loop {
            match self.state() {
                NOTIFIED => return WaitOutcome::Notified,
                TIMED_OUT => return WaitOutcome::TimedOut,
                _ => {}
            }
            // Threads time out correctly with a condition variable, at any resolution.
            let remaining = match deadline {
                None => None,
                Some(at) => match at.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => {
                        self.time_out();
                        continue;
                    }
                },
            };
            blocker.park(remaining).ok();
        }
    }
}

impl Expire for WaitCell {
    /// The deadline thread times the waiter out; if a notifier won the race, nothing happens.
    fn expire(&self) {
        self.time_out();
    }
}
