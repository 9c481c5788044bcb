//! [`WaitList`]: the wait queue under every blocking primitive of this project.

use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::deadline::{self, Expire};
use crate::sync::{self, Arc, AtomicU8, Blocker, Mutex, Ordering};

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

/// The registered waiters in arrival order, so `notify_one` is FIFO.
///
/// A ring buffer rather than a map: the common wait registers at the back and is taken from the
/// front, both O(1) and without allocating once the buffer has grown. Keys grow monotonically,
/// so the buffer is sorted by key and a waiter that leaves from the middle (a timeout, a
/// withdrawn future) is found by binary search and leaves a hole (`None`). Holes at either end
/// are trimmed at once; when holes outnumber the waiters the buffer is compacted, so a long-lived
/// waiter at the front cannot make the holes behind it pile up. Each removal thus costs
/// O(log n) amortised.
struct Queue {
    next_key: u64,
    slots: VecDeque<(u64, Option<Arc<WaitCell>>)>,
    /// How many slots hold a waiter.
    live: usize,
}

impl Queue {
    const EMPTY: Queue = Queue {
        next_key: 0,
        slots: VecDeque::new(),
        live: 0,
    };

    fn push(&mut self, cell: Arc<WaitCell>) -> u64 {
        let key = self.next_key;
        self.next_key += 1;
        self.slots.push_back((key, Some(cell)));
        self.live += 1;
        key
    }

    /// Takes the longest-waiting waiter out.
    fn pop_first(&mut self) -> Option<Arc<WaitCell>> {
        while let Some((_, slot)) = self.slots.pop_front() {
            if let Some(cell) = slot {
                self.live -= 1;
                return Some(cell);
            }
        }
        None
    }

    /// Takes the waiter registered under `key` out, if it is still here.
    fn remove(&mut self, key: u64) -> Option<Arc<WaitCell>> {
        let index = self.slots.binary_search_by_key(&key, |(k, _)| *k).ok()?;
        let cell = self.slots[index].1.take()?;
        self.live -= 1;
        while self.slots.front().is_some_and(|(_, slot)| slot.is_none()) {
            self.slots.pop_front();
        }
        while self.slots.back().is_some_and(|(_, slot)| slot.is_none()) {
            self.slots.pop_back();
        }
        if self.slots.len() - self.live > self.live {
            self.slots.retain(|(_, slot)| slot.is_some());
        }
        Some(cell)
    }

    /// Takes every waiter out, in arrival order.
    fn take_all(&mut self) -> impl Iterator<Item = Arc<WaitCell>> + use<> {
        self.live = 0;
        std::mem::take(&mut self.slots)
            .into_iter()
            .filter_map(|(_, slot)| slot)
    }

    fn len(&self) -> usize {
        self.live
    }
}

impl WaitList {
    /// An empty list.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        WaitList {
            queue: Mutex::new(Queue::EMPTY),
        }
    }

    /// An empty list (loom's mutex cannot be made in a `const fn`).
    #[cfg(loom)]
    pub fn new() -> Self {
        WaitList {
            queue: Mutex::new(Queue::EMPTY),
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
        // Asked once: may answers from a thread-local, and the wait needs it three times.
        let coroutine = sync::in_coroutine();
        let (key, cell) = {
            let mut queue = self.queue.lock();
            if ready() {
                return WaitOutcome::Ready;
            }
            if deadline.is_some_and(|d| d <= Instant::now()) {
                return WaitOutcome::TimedOut;
            }
            let cell = WaitCell::for_current_context(coroutine);
            (queue.push(Arc::clone(&cell)), cell)
        };
        // Declared before the registration, so dropped after it when a cancellation unwinds.
        let mut held = HeldCell {
            cell: Some(cell),
            coroutine,
        };
        let cell = held.cell.as_ref().expect("just stored");
        let mut registration = Registration {
            list: self,
            key,
            cell,
            finished: false,
        };
        let outcome = WaitCell::park_until(cell, deadline, coroutine);
        registration.finished = true;
        drop(registration);
        // An unwinding (cancelled) wait skips this; `HeldCell` disposes of the cell.
        WaitCell::recycle(held.cell.take().expect("still held"), coroutine);
        outcome
    }

    /// The async form of [`wait`](Self::wait), without a deadline (use your executor's timer
    /// around the future for one). Checks `ready` under the list lock; registers `cx`'s waker
    /// (or refreshes it) when not ready.
    ///
    /// A re-poll may pass another waker than the last one (a future moved to another task, a
    /// `select!` polling it from a new branch): a notification that arrives at any point wakes
    /// the waker of the latest poll, or that poll itself returns
    /// [`Notified`](WaitOutcome::Notified). When `ready` holds on a re-poll, the wait is
    /// withdrawn: a notification not yet delivered to it goes to the next waiter instead, and
    /// one already delivered counts as consumed by this waiter, which returns
    /// [`Ready`](WaitOutcome::Ready).
    pub fn poll_wait(
        &self,
        wait: &mut AsyncWait,
        cx: &mut Context<'_>,
        ready: impl FnOnce() -> bool,
    ) -> Poll<WaitOutcome> {
        let mut queue = self.queue.lock();
        if ready() {
            if let Some((key, cell)) = wait.registration.take() {
                queue.remove(key);
                drop(queue);
                // The waiter goes on with its condition met: a notification it already had is
                // spent on it; one in flight finds it withdrawn and moves on.
                cell.withdraw();
            }
            return Poll::Ready(WaitOutcome::Ready);
        }
        match &wait.registration {
            Some((key, cell)) => {
                if let Some(ended) = cell.set_waker(cx.waker()) {
                    queue.remove(*key);
                    wait.registration = None;
                    return Poll::Ready(ended);
                }
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
    /// received but not yet consumed is passed on to the next waiter; one still on its way finds
    /// the wait withdrawn and goes to the next waiter itself.
    pub fn cancel(&self, wait: &mut AsyncWait) {
        if let Some((key, cell)) = wait.registration.take() {
            self.deregister(key, &cell, false);
        }
    }

    /// Wakes the longest-waiting waiter that has neither timed out nor withdrawn. Returns
    /// whether one was woken.
    pub fn notify_one(&self) -> bool {
        loop {
            let Some(cell) = self.queue.lock().pop_first() else {
                return false;
            };
            // The list lock is released before waking: a wake-up may run arbitrary code (a
            // waker), and the cell wakes outside its own lock too.
            if WaitCell::notify(cell) {
                return true;
            }
        }
    }

    /// Wakes every waiter registered now. Returns how many were woken.
    ///
    /// The waiters are taken out of the list under the lock and woken one by one after it is
    /// released, iteratively: waking a million waiters needs no more stack than waking one.
    pub fn notify_all(&self) -> usize {
        let waiters = self.queue.lock().take_all();
        waiters.map(WaitCell::notify).filter(|&won| won).count()
    }

    /// How many waiters are registered right now.
    pub fn len(&self) -> usize {
        self.queue.lock().len()
    }

    /// Whether no waiter is registered right now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes a waiter. Unless it has `consumed` its outcome, it is also withdrawn: a
    /// notifier that already took it off the list but has not delivered yet then fails and
    /// wakes the next waiter, and a notification delivered but not consumed is passed on here.
    fn deregister(&self, key: u64, cell: &WaitCell, consumed: bool) {
        // A notifier takes a cell off the list before it notifies it, so a consumed
        // notification means there is nothing to remove: the lock is not taken.
        if consumed && cell.state() == NOTIFIED {
            return;
        }
        self.queue.lock().remove(key);
        if !consumed && cell.withdraw() == NOTIFIED {
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

/// A blocking wait's cell, until the wait gives it back for reuse. When a cancellation unwinds a
/// coroutine out of its wait, the cell is not dropped there but handed to another thread to drop
/// (`sync::drop_elsewhere`), because of a may defect (0.3.51):
///
/// A coroutine unparked just as it parks is resumed by may *inside* `Park::subscribe`, on the
/// scheduler's stack, while a guard there keeps the park's `wait_kernel` flag set. If it was
/// also cancelled, it unwinds from that resumption; should it drop the last reference to the
/// park (our cell's `Blocker`), `Park::drop` waits for `wait_kernel` to clear with
/// `yield_now()` — which, in a cancelled coroutine, returns without switching out. `subscribe`
/// lower on the same stack never gets to clear the flag: the coroutine spins forever and its
/// worker thread with it. (`runtime/tests/may_cancel_spin.rs` reproduces it with may alone; the
/// stress tests in `runtime/tests/cancel_race.rs` hung before this.) On another thread the same
/// drop waits only until the coroutine next switches out, when `subscribe` returns.
struct HeldCell {
    cell: Option<Arc<WaitCell>>,
    coroutine: bool,
}

impl Drop for HeldCell {
    fn drop(&mut self) {
        if let Some(cell) = self.cell.take()
            && self.coroutine
            && std::thread::panicking()
        {
            sync::drop_elsewhere(cell);
        }
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

// The life of a `WaitCell`
//
// A cell is made for one wait and is in one of four states:
//
//   WAITING ── a notifier (`notify`) ───────────────────────────────> NOTIFIED
//   WAITING ── the deadline thread, or a thread waiter's own clock ──> TIMED_OUT
//   WAITING ── the waiter withdrawing (`withdraw`) ─────────────────> CANCELLED
//
// - Only these three transitions exist, each a compare-exchange from WAITING, so the state
//   leaves WAITING exactly once and the three end states are final. Exactly one party wins.
// - A notifier or the deadline that wins wakes the waiter; one that loses does nothing (a
//   notifier that loses goes on to the next waiter). The waiter withdraws when it leaves
//   without consuming an outcome — a dropped future, an unwinding (cancelled) coroutine, a
//   re-poll that finds its condition true — and wakes nobody: it is not parked. A withdraw
//   that loses to NOTIFIED learns that it holds a notification to pass on or consume.
// - The waker. A blocking cell's `Blocker` is fixed for the cell's life, and an `unpark`
//   before the `park` makes the park return at once; the waiter re-reads the state after each
//   park. So "exchange, then unpark" cannot lose a wake-up, and needs no lock.
//   An async cell's waker changes with every poll. It lives under the cell's `task` lock, and
//   every exchange out of WAITING on an async cell is made under that lock too:
//     * a re-poll (`set_waker`): lock; if the state is not WAITING, return it; else store the
//       new waker; unlock;
//     * a notifier (`finish`): lock; exchange WAITING -> NOTIFIED; take the waker; unlock;
//       wake it.
//   The two critical sections are ordered: if the notifier's comes first the re-poll sees
//   NOTIFIED and completes; if the re-poll's comes first the notifier takes the waker the
//   re-poll stored. No notification is lost, whichever waker the task polled with last.
// - Wakers are woken, and replaced ones dropped, after the cell's lock is released: a waker
//   may run arbitrary code, even poll the future again. Lock order: the list lock, then the
//   cell's lock (a re-poll); a notifier holds at most one of them at a time.
const WAITING: u8 = 0;
const NOTIFIED: u8 = 1;
const TIMED_OUT: u8 = 2;
const CANCELLED: u8 = 3;

// Reusing a blocking cell
//
// A blocking wait would allocate its cell (and may's `Park` inside it) every time; instead each
// OS thread keeps the cell of its last finished wait as a spare, one for coroutines and one for
// threads (may's `Blocker` is made for one or the other), and the next wait there takes it.
//
// - A cell is recycled only through `Arc::get_mut`, after the wait has deregistered and dropped
//   its deadline guard: it succeeds only if the waiter holds the sole reference, so no notifier
//   that popped the cell, no deadline about to expire it and no list still holds it. Whoever
//   else touched the cell did so before dropping their reference, and `get_mut` synchronises
//   with that drop, so the reset back to WAITING cannot be seen — or undone — by a party of the
//   old wait. When `get_mut` fails the cell is dropped, as every cell was before.
// - The party that ends a wait (a notifier, the deadline thread) drops its reference to the
//   cell right after its exchange and before it unparks, holding the `Blocker` through an `Arc`
//   of its own: the waiter runs as soon as it is unparked, and would otherwise find the cell
//   still shared and drop it (most thread waits did so, measured in `tests/wait_allocations.rs`).
// - What a party of the old wait can leave behind is therefore an unpark token: that unpark may
//   come after the waiter has seen NOTIFIED, returned and begun its next wait on the cell. The
//   next wait then returns from one park at once, re-reads WAITING and parks again.
// - may's coroutine cancellation keeps a reference to the `Park` a cancelled coroutine last
//   parked on; a late cancel of that coroutine may wake whoever parks on the recycled cell now.
//   That too is one spurious return from `park`, absorbed by the same loop.
// - A spare is taken and given back within one wait of one coroutine or thread, and a coroutine
//   that moves to another worker thread gives it back there: the cells are not tied to a thread.
//   A wait that unwinds (a cancelled coroutine) drops its cell.
//
// `--cfg loom` model-checks this (the `loom_model` tests below): a stale deadline of a
// recycled cell never times out its next wait, no notification is lost across reuse, and a
// timed-out wait leaves its list. Each model fails when its rule is broken on purpose: resetting
// a cell that is still shared, trusting one unpark without re-reading the state, skipping the
// deregistration of a timed-out wait.

/// This thread's spare blocking cells, by the kind of waiter they park.
#[derive(Default)]
struct SpareCells {
    coroutine: Cell<Option<Arc<WaitCell>>>,
    thread: Cell<Option<Arc<WaitCell>>>,
}

impl SpareCells {
    fn of_kind(&self, coroutine: bool) -> &Cell<Option<Arc<WaitCell>>> {
        if coroutine {
            &self.coroutine
        } else {
            &self.thread
        }
    }
}

sync::thread_local! {
    static SPARE_CELLS: SpareCells = SpareCells::default();
}

/// One parked waiter; see "The life of a `WaitCell`" above for its states.
pub(crate) struct WaitCell {
    state: AtomicU8,
    wake: Wake,
}

enum Wake {
    /// A may coroutine or an OS thread: may's `Blocker` parks either correctly, and checks for
    /// cancellation when it parks a coroutine.
    ///
    /// Behind an `Arc` of its own so a notifier can let go of the cell before it unparks (see
    /// `finish`).
    Blocker(Arc<Blocker>),
    /// An async task: the waker of its latest poll, until a notifier takes it.
    Task(Mutex<Option<Waker>>),
}

impl WaitCell {
    /// A blocking cell for the calling coroutine (`coroutine`) or thread, in state WAITING:
    /// this thread's spare of the right kind, or a new one.
    fn for_current_context(coroutine: bool) -> Arc<Self> {
        let spare = SPARE_CELLS
            .try_with(|spare| spare.of_kind(coroutine).take())
            .ok()
            .flatten();
        spare.unwrap_or_else(|| {
            Arc::new(WaitCell {
                state: AtomicU8::new(WAITING),
                wake: Wake::Blocker(Arc::new(Blocker::new(false))),
            })
        })
    }

    /// Keeps a finished blocking wait's cell as this thread's spare, if nobody else can still
    /// reach it (see "Reusing a blocking cell"); drops it otherwise. Call it from the coroutine
    /// or thread that waited on it.
    fn recycle(mut cell: Arc<Self>, coroutine: bool) {
        let Some(exclusive) = Arc::get_mut(&mut cell) else {
            return;
        };
        // Relaxed is enough: no other reference exists, and handing the cell to another party
        // later (pushing it on a list under its lock) publishes the store.
        exclusive.state.store(WAITING, Ordering::Relaxed);
        // A thread that is exiting has no spare slot any more; the cell is then dropped here.
        let _ = SPARE_CELLS.try_with(|spare| spare.of_kind(coroutine).set(Some(cell)));
    }

    fn for_task(waker: Waker) -> Self {
        WaitCell {
            state: AtomicU8::new(WAITING),
            wake: Wake::Task(Mutex::new(Some(waker))),
        }
    }

    fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    /// Moves the state from WAITING to `to`; whether this call did.
    fn leave_waiting(&self, to: u8) -> bool {
        self.state
            .compare_exchange(WAITING, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// A re-poll's waker: stored if the wait is still on, else the outcome it ended with.
    fn set_waker(&self, waker: &Waker) -> Option<WaitOutcome> {
        let Wake::Task(slot) = &self.wake else {
            unreachable!("async waits always use a task cell")
        };
        let mut current = slot.lock();
        match self.state() {
            WAITING => {}
            NOTIFIED => return Some(WaitOutcome::Notified),
            TIMED_OUT => return Some(WaitOutcome::TimedOut),
            _ => unreachable!("a withdrawn wait is not polled again"),
        }
        if current.as_ref().is_some_and(|w| w.will_wake(waker)) {
            return None;
        }
        let replaced = current.replace(waker.clone());
        drop(current);
        drop(replaced);
        None
    }

    fn notify(this: Arc<Self>) -> bool {
        Self::finish(this, NOTIFIED)
    }

    /// Ends the wait as timed out, unless a notifier got there first; returns who won.
    fn time_out(this: Arc<Self>) -> bool {
        Self::finish(this, TIMED_OUT)
    }

    /// Ends the wait with `to` and wakes the waiter, if the wait was still on. Takes the
    /// caller's reference to the cell and drops it before waking a blocking waiter: the waiter
    /// may run the moment it is unparked, and finds the cell its own to reuse only once every
    /// other reference is gone.
    fn finish(this: Arc<Self>, to: u8) -> bool {
        match &this.wake {
            Wake::Blocker(blocker) => {
                if !this.leave_waiting(to) {
                    return false;
                }
                let blocker = Arc::clone(blocker);
                drop(this);
                blocker.unpark();
                true
            }
            Wake::Task(slot) => {
                let waker = {
                    let mut slot = slot.lock();
                    if !this.leave_waiting(to) {
                        return false;
                    }
                    slot.take()
                };
                if let Some(waker) = waker {
                    waker.wake();
                }
                true
            }
        }
    }

    /// The waiter leaves without consuming an outcome. Returns the state it found: WAITING if
    /// it withdrew the wait (nobody will wake it now), else the outcome that ended it first.
    fn withdraw(&self) -> u8 {
        match &self.wake {
            Wake::Blocker(_) => match self.leave_waiting(CANCELLED) {
                true => WAITING,
                false => self.state(),
            },
            Wake::Task(slot) => {
                let mut slot = slot.lock();
                if self.leave_waiting(CANCELLED) {
                    let waker = slot.take();
                    drop(slot);
                    drop(waker);
                    WAITING
                } else {
                    self.state()
                }
            }
        }
    }

    fn park_until(this: &Arc<Self>, deadline: Option<Instant>, coroutine: bool) -> WaitOutcome {
        let Wake::Blocker(blocker) = &this.wake else {
            unreachable!("blocking waits always use a blocker cell")
        };
        if coroutine {
            // may's own coroutine timer can lose a timeout and is blind below 1 ms; our deadline
            // thread ends the wait instead. The guard withdraws the deadline however we leave.
            let _deadline = deadline.map(|at| deadline::schedule(at, Arc::<Self>::clone(this)));
            loop {
                match this.state() {
                    NOTIFIED => return WaitOutcome::Notified,
                    TIMED_OUT => return WaitOutcome::TimedOut,
                    // Unwinds here if the coroutine is cancelled.
                    _ => blocker.park(None).ok(),
                };
            }
        }
        loop {
            match this.state() {
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
                        WaitCell::time_out(Arc::clone(this));
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
    #[cfg(not(loom))]
    fn expire(self: Arc<Self>) {
        WaitCell::time_out(self);
    }

    /// The same for the model's deadline thread.
    #[cfg(loom)]
    fn expire(this: Arc<Self>) {
        WaitCell::time_out(this);
    }
}

#[cfg(all(test, not(loom)))]
mod queue_tests {
    use std::task::Waker;

    use super::*;

    fn cell() -> Arc<WaitCell> {
        Arc::new(WaitCell::for_task(Waker::noop().clone()))
    }

    /// Pushes `n` fresh cells; returns each key beside its cell.
    fn filled(queue: &mut Queue, n: usize) -> Vec<(u64, Arc<WaitCell>)> {
        (0..n)
            .map(|_| {
                let cell = cell();
                (queue.push(Arc::clone(&cell)), cell)
            })
            .collect()
    }

    #[test]
    fn pop_first_takes_waiters_in_arrival_order() {
        let mut queue = Queue::EMPTY;
        let pushed = filled(&mut queue, 5);
        for (_, cell) in &pushed {
            assert!(Arc::ptr_eq(&queue.pop_first().unwrap(), cell));
        }
        assert!(queue.pop_first().is_none());
        assert_eq!(queue.len(), 0);
    }

    #[test]
    fn a_waiter_removed_from_the_middle_is_skipped_and_the_order_kept() {
        let mut queue = Queue::EMPTY;
        let pushed = filled(&mut queue, 4);
        assert!(Arc::ptr_eq(
            &queue.remove(pushed[1].0).unwrap(),
            &pushed[1].1
        ));
        assert_eq!(queue.len(), 3);
        for index in [0, 2, 3] {
            assert!(Arc::ptr_eq(&queue.pop_first().unwrap(), &pushed[index].1));
        }
        assert!(queue.pop_first().is_none());
    }

    #[test]
    fn removing_a_key_that_already_left_finds_nothing() {
        let mut queue = Queue::EMPTY;
        let pushed = filled(&mut queue, 2);
        queue.pop_first();
        assert!(queue.remove(pushed[0].0).is_none());
        assert!(queue.remove(pushed[1].0).is_some());
        assert!(queue.remove(pushed[1].0).is_none());
        assert!(queue.remove(99).is_none());
        assert_eq!(queue.len(), 0);
    }

    #[test]
    fn holes_between_long_lived_waiters_never_outnumber_the_waiters() {
        let mut queue = Queue::EMPTY;
        let _first = filled(&mut queue, 1);
        let mut tail = filled(&mut queue, 1).remove(0);
        for _ in 0..10_000 {
            // The newest waiter stays; the one before it leaves from the middle.
            let newest = filled(&mut queue, 1).remove(0);
            queue.remove(tail.0).unwrap();
            tail = newest;
            assert_eq!(queue.len(), 2);
            assert!(
                queue.slots.len() <= 2 * queue.len(),
                "{} slots",
                queue.slots.len()
            );
        }
    }

    #[test]
    fn take_all_empties_the_queue_in_arrival_order() {
        let mut queue = Queue::EMPTY;
        let pushed = filled(&mut queue, 3);
        queue.remove(pushed[1].0);
        let taken: Vec<_> = queue.take_all().collect();
        assert_eq!(taken.len(), 2);
        assert!(Arc::ptr_eq(&taken[0], &pushed[0].1));
        assert!(Arc::ptr_eq(&taken[1], &pushed[2].1));
        assert_eq!(queue.len(), 0);
        assert!(queue.pop_first().is_none());
    }
}

/// The model check of the wait queue: `RUSTFLAGS="--cfg loom" cargo test -p hyperf-coordinator --lib
/// loom --release`. Each model explores every interleaving of its threads (a lost wake-up shows
/// as loom's deadlock report); the deadline thread is the stand-in of `deadline_model.rs`,
/// firing at whatever point of the run loom chooses.
#[cfg(all(test, loom))]
mod loom_model {
    use std::task::Waker;
    use std::time::{Duration, Instant};

    use loom::sync::atomic::AtomicBool;
    use loom::thread;

    use super::*;

    /// A condition and its list, used the way every primitive uses a `WaitList`: make the
    /// condition true, then notify.
    #[derive(Default)]
    struct Event {
        set: AtomicBool,
        waiters: WaitList,
    }

    impl Event {
        fn set(&self) -> bool {
            self.set.store(true, Ordering::Release);
            self.waiters.notify_one()
        }

        fn is_set(&self) -> bool {
            self.set.load(Ordering::Acquire)
        }

        fn wait(&self, deadline: Option<Instant>) -> WaitOutcome {
            self.waiters.wait(deadline, || self.is_set())
        }
    }

    fn far_deadline() -> Option<Instant> {
        Some(Instant::now() + Duration::from_secs(3600))
    }

    /// Two unset events, and a thread that waits on the first (until `first_deadline`) and
    /// then on the second without a deadline, so its second wait reuses the first one's cell.
    /// The thread returns the second wait's outcome and whether the second event was set when
    /// that wait returned.
    fn two_waits_in_a_row(
        first_deadline: Option<Instant>,
    ) -> (
        Arc<Event>,
        Arc<Event>,
        thread::JoinHandle<(WaitOutcome, bool)>,
    ) {
        let (first, second) = (Arc::new(Event::default()), Arc::new(Event::default()));
        let waiter = {
            let (first, second) = (Arc::clone(&first), Arc::clone(&second));
            thread::spawn(move || {
                first.wait(first_deadline);
                let outcome = second.wait(None);
                (outcome, second.is_set())
            })
        };
        (first, second, waiter)
    }

    #[test]
    fn loom_notify_racing_the_deadline_ends_the_wait_exactly_once() {
        loom::model(|| {
            let event = Arc::new(Event::default());
            let waiter = {
                let event = Arc::clone(&event);
                thread::spawn(move || event.wait(far_deadline()))
            };
            let notifier = {
                let event = Arc::clone(&event);
                thread::spawn(move || event.set())
            };
            deadline::expire_due();
            let outcome = waiter.join().unwrap();
            let woke_someone = notifier.join().unwrap();
            assert_eq!(woke_someone, outcome == WaitOutcome::Notified);
            assert!(event.waiters.is_empty());
        });
    }

    #[test]
    fn loom_a_timed_out_wait_leaves_the_list() {
        loom::model(|| {
            let event = Arc::new(Event::default());
            let ended = Arc::new(AtomicBool::new(false));
            let waiter = {
                let (event, ended) = (Arc::clone(&event), Arc::clone(&ended));
                thread::spawn(move || {
                    let outcome = event.wait(far_deadline());
                    ended.store(true, Ordering::Release);
                    outcome
                })
            };
            // Nobody notifies: the deadline fires (again and again, until the wait has
            // registered it) and is the only way out.
            while !ended.load(Ordering::Acquire) {
                deadline::expire_due();
                thread::yield_now();
            }
            assert_eq!(waiter.join().unwrap(), WaitOutcome::TimedOut);
            assert!(event.waiters.is_empty());
        });
    }

    #[test]
    fn loom_a_stale_deadline_never_times_out_the_next_wait_on_a_recycled_cell() {
        loom::model(|| {
            // The second wait has no deadline: only the second event may end it.
            let (first, second, waiter) = two_waits_in_a_row(far_deadline());
            // The second event is set after the first wait's deadline has fired, so the stale
            // deadline can reach the second wait whenever the first ends before it fires.
            let deadlines = {
                let second = Arc::clone(&second);
                thread::spawn(move || {
                    deadline::expire_due();
                    second.set();
                })
            };
            first.set();
            assert_ne!(waiter.join().unwrap().0, WaitOutcome::TimedOut);
            deadlines.join().unwrap();
        });
    }

    #[test]
    fn loom_a_recycled_cell_waits_for_its_own_notification() {
        loom::model(|| {
            let (first, second, waiter) = two_waits_in_a_row(None);
            first.set();
            second.set();
            let (outcome, second_was_set) = waiter.join().unwrap();
            // A leftover unpark of the first wait must not end the second one.
            assert!(
                second_was_set,
                "the second wait ended as {outcome:?} before its event"
            );
        });
    }

    #[test]
    fn loom_a_withdrawn_async_wait_passes_its_notification_on() {
        loom::model(|| {
            let event = Arc::new(Event::default());
            let withdrawing = {
                let event = Arc::clone(&event);
                thread::spawn(move || {
                    let mut wait = AsyncWait::default();
                    let mut cx = Context::from_waker(Waker::noop());
                    let _ = event
                        .waiters
                        .poll_wait(&mut wait, &mut cx, || event.is_set());
                    event.waiters.cancel(&mut wait);
                })
            };
            let blocking = {
                let event = Arc::clone(&event);
                // Ends only if the one notification reaches it, directly or passed on.
                thread::spawn(move || event.wait(None))
            };
            event.set();
            withdrawing.join().unwrap();
            assert_ne!(blocking.join().unwrap(), WaitOutcome::TimedOut);
            assert!(event.waiters.is_empty());
        });
    }
}
