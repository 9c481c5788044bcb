//! [`Channel`]: a bounded, closable, multi-producer multi-consumer queue.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use coordinator::{WaitList, WaitOutcome};
use parking_lot::Mutex;

use super::timeout::deadline_after;

/// A bounded queue between any number of producers and consumers, coroutines and threads alike.
///
/// Use it to hand values from one coroutine to another with back-pressure: [`push`](Self::push)
/// waits while the buffer is full, [`pop`](Self::pop) waits while it is empty, each with an
/// optional timeout. [`close`](Self::close) ends the stream: pushes fail from then on, values
/// already buffered can still be popped, and once the buffer is empty pops fail with
/// [`PopError::Closed`]. Clones share the same channel.
///
/// A capacity of 0 is treated as 1: this channel is always buffered (as Swoole's is), there is
/// no rendezvous mode.
///
/// Waiting pushers and poppers are served in arrival order: a push wakes the longest-waiting
/// popper, a pop wakes the longest-waiting pusher, a close wakes everyone.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use runtime::{Channel, PopError};
///
/// let channel = Channel::new(2);
/// let producer = channel.clone();
/// runtime::spawn(move || {
///     for word in ["hello", "coroutine", "world"] {
///         producer.push(word, None).unwrap(); // waits while two words are buffered
///     }
///     producer.close();
/// });
///
/// let mut words = Vec::new();
/// loop {
///     match channel.pop(Some(Duration::from_secs(10))) {
///         Ok(word) => words.push(word),
///         Err(PopError::Closed) => break,
///         Err(PopError::Timeout) => panic!("the producer stalled"),
///     }
/// }
/// assert_eq!(words, ["hello", "coroutine", "world"]);
/// ```
pub struct Channel<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    state: Mutex<State<T>>,
    capacity: usize,
    /// Parked in `pop`, waiting for a value or the close.
    poppers: WaitList,
    /// Parked in `push`, waiting for room or the close.
    pushers: WaitList,
}

// Who notifies whom
//
// A push wakes a popper and a pop wakes a pusher, but only when one may be waiting: each side
// counts, in the channel's state, the callers that found it unready and so are parked or about
// to park on their wait list. A caller adds itself under the state lock in the very check that
// sends it to park (the wait list's `ready`, which runs under the list's lock, before the
// caller is put on the list), and takes itself off in the next state critical section after
// its wait, or when its wait unwinds. So while a caller is on a list it is counted. The other
// side reads the count in the critical section that changes the buffer: if that came before
// the waiter's check, the waiter sees the change and does not park; if after, the count is
// non-zero and the notifier calls `notify_one`, whose list lock orders it after the waiter is on
// the list. No wake-up is lost; a caller counted but already awake costs one idle `notify_one`.
struct State<T> {
    buffer: VecDeque<T>,
    closed: bool,
    /// Poppers that found the buffer empty and are parked or about to park.
    waiting_poppers: usize,
    /// Pushers that found the buffer full and are parked or about to park.
    waiting_pushers: usize,
}

/// Why [`Channel::push`] failed; either way the value is handed back.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum PushError<T> {
    /// The channel is closed.
    Closed(T),
    /// The buffer stayed full until the timeout ran out.
    Timeout(T),
}

impl<T> PushError<T> {
    /// The value that was not pushed.
    pub fn into_inner(self) -> T {
        match self {
            PushError::Closed(value) | PushError::Timeout(value) => value,
        }
    }

    /// Whether the push failed because the channel is closed.
    #[doc(alias = "isClosing")]
    pub fn is_closed(&self) -> bool {
        matches!(self, PushError::Closed(_))
    }

    /// Whether the push failed because the timeout ran out.
    #[doc(alias = "isTimeout")]
    pub fn is_timeout(&self) -> bool {
        matches!(self, PushError::Timeout(_))
    }
}

// By hand, so that the error is `Debug` (and an `Error`) whatever the value type.
impl<T> fmt::Debug for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Closed(_) => f.write_str("Closed(..)"),
            PushError::Timeout(_) => f.write_str("Timeout(..)"),
        }
    }
}

impl<T> fmt::Display for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Closed(_) => f.write_str("push on a closed channel"),
            PushError::Timeout(_) => f.write_str("push timed out: the channel stayed full"),
        }
    }
}

impl<T> std::error::Error for PushError<T> {}

/// Why [`Channel::pop`] returned no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PopError {
    /// The channel is closed and every buffered value has been popped.
    Closed,
    /// The buffer stayed empty until the timeout ran out.
    Timeout,
}

impl fmt::Display for PopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PopError::Closed => f.write_str("pop on a closed and drained channel"),
            PopError::Timeout => f.write_str("pop timed out: the channel stayed empty"),
        }
    }
}

impl std::error::Error for PopError {}

impl<T> Channel<T> {
    /// An open, empty channel buffering up to `capacity` values (0 is treated as 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Channel {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    // Grown on demand: a large capacity reserves nothing up front.
                    buffer: VecDeque::new(),
                    closed: false,
                    waiting_poppers: 0,
                    waiting_pushers: 0,
                }),
                capacity,
                poppers: WaitList::new(),
                pushers: WaitList::new(),
            }),
        }
    }

    /// Appends `value`, waiting while the buffer is full, up to `timeout` (`None`: as long as
    /// it takes; `Some(Duration::ZERO)`: not at all).
    ///
    /// # Errors
    ///
    /// [`PushError::Closed`] when the channel is closed (also when it closes during the wait),
    /// [`PushError::Timeout`] when the buffer stayed full; both hand the value back.
    pub fn push(&self, value: T, timeout: Option<Duration>) -> Result<(), PushError<T>> {
        let inner = &*self.inner;
        let deadline = deadline_after(timeout);
        let mut value = value;
        let mut waited = Waited::none(inner, Side::Pushers);
        loop {
            value = match inner.try_push(value, waited.take()) {
                Ok(()) => return Ok(()),
                Err(PushError::Closed(value)) => return Err(PushError::Closed(value)),
                Err(PushError::Timeout(value)) => value,
            };
            let can_push = || {
                let mut state = inner.state.lock();
                let ready = state.closed || state.buffer.len() < inner.capacity;
                if !ready {
                    state.waiting_pushers += 1;
                    waited.counted = true;
                }
                ready
            };
            if inner.pushers.wait(deadline, can_push) == WaitOutcome::TimedOut {
                // One last try: room may have appeared just as time ran out.
                return inner.try_push(value, waited.take());
            }
        }
    }

    /// Takes the oldest value, waiting while the buffer is empty, up to `timeout` (`None`: as
    /// long as it takes; `Some(Duration::ZERO)`: not at all).
    ///
    /// # Errors
    ///
    /// [`PopError::Closed`] when the channel is closed and empty, [`PopError::Timeout`] when
    /// it stayed empty (and open) until the timeout ran out.
    pub fn pop(&self, timeout: Option<Duration>) -> Result<T, PopError> {
        let inner = &*self.inner;
        let deadline = deadline_after(timeout);
        let mut waited = Waited::none(inner, Side::Poppers);
        loop {
            match inner.try_pop(waited.take()) {
                Err(PopError::Timeout) => {}
                popped => return popped,
            }
            let can_pop = || {
                let mut state = inner.state.lock();
                let ready = state.closed || !state.buffer.is_empty();
                if !ready {
                    state.waiting_poppers += 1;
                    waited.counted = true;
                }
                ready
            };
            if inner.poppers.wait(deadline, can_pop) == WaitOutcome::TimedOut {
                // One last try: a value may have arrived just as time ran out.
                return inner.try_pop(waited.take());
            }
        }
    }

    /// Closes the channel and wakes every waiting pusher and popper. Values already buffered
    /// stay poppable. Idempotent.
    pub fn close(&self) {
        {
            let mut state = self.inner.state.lock();
            if state.closed {
                return;
            }
            state.closed = true;
        }
        self.inner.poppers.notify_all();
        self.inner.pushers.notify_all();
    }

    /// Whether [`close`](Self::close) has been called.
    #[doc(alias = "isClosing")]
    pub fn is_closed(&self) -> bool {
        self.inner.state.lock().closed
    }

    /// How many values are buffered.
    #[doc(alias = "getLength", alias = "length")]
    pub fn len(&self) -> usize {
        self.inner.state.lock().buffer.len()
    }

    /// Whether no value is buffered.
    #[doc(alias = "isEmpty")]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the buffer holds `capacity` values (a push would wait).
    #[doc(alias = "isFull")]
    pub fn is_full(&self) -> bool {
        self.len() >= self.inner.capacity
    }

    /// How many values the buffer holds at most (at least 1).
    #[doc(alias = "getCapacity")]
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// How many callers are parked in [`pop`](Self::pop) right now (a timed-out pop is not:
    /// it leaves at once).
    #[doc(alias = "consumer_num")]
    pub fn waiting_poppers(&self) -> usize {
        self.inner.poppers.len()
    }

    /// How many callers are parked in [`push`](Self::push) right now (a timed-out push is
    /// not: it leaves at once).
    #[doc(alias = "producer_num")]
    pub fn waiting_pushers(&self) -> usize {
        self.inner.pushers.len()
    }
}

impl<T> Inner<T> {
    /// Pushes if there is room, and wakes a popper if one may be waiting. `Timeout` here only
    /// means "full": the caller decides to wait. `waited`: the caller is a counted waiting
    /// pusher, to be uncounted.
    fn try_push(&self, value: T, waited: bool) -> Result<(), PushError<T>> {
        let mut state = self.state.lock();
        state.waiting_pushers -= usize::from(waited);
        if state.closed {
            Err(PushError::Closed(value))
        } else if state.buffer.len() >= self.capacity {
            Err(PushError::Timeout(value))
        } else {
            state.buffer.push_back(value);
            let popper_waits = state.waiting_poppers > 0;
            drop(state);
            if popper_waits {
                self.poppers.notify_one();
            }
            Ok(())
        }
    }

    /// Pops if there is a value, and wakes a pusher for the room it made if one may be
    /// waiting. `Timeout` here only means "empty and open": the caller decides to wait.
    /// `waited`: the caller is a counted waiting popper, to be uncounted.
    fn try_pop(&self, waited: bool) -> Result<T, PopError> {
        let (popped, pusher_waits) = {
            let mut state = self.state.lock();
            state.waiting_poppers -= usize::from(waited);
            let popped = match state.buffer.pop_front() {
                Some(value) => Ok(value),
                None if state.closed => Err(PopError::Closed),
                None => Err(PopError::Timeout),
            };
            let pusher_waits = popped.is_ok() && state.waiting_pushers > 0;
            (popped, pusher_waits)
        };
        if pusher_waits {
            self.pushers.notify_one();
        }
        popped
    }
}

/// Which wait list a caller waits on.
#[derive(Clone, Copy)]
enum Side {
    Poppers,
    Pushers,
}

/// Whether a push or pop is counted as waiting (see "Who notifies whom"). The next state
/// critical section takes the count back (`take`); a wait that unwinds (a cancelled coroutine)
/// takes it back when this is dropped.
struct Waited<'a, T> {
    inner: &'a Inner<T>,
    side: Side,
    counted: bool,
}

impl<'a, T> Waited<'a, T> {
    fn none(inner: &'a Inner<T>, side: Side) -> Self {
        Waited {
            inner,
            side,
            counted: false,
        }
    }

    /// Whether the caller was counted; it no longer is once this has been passed on.
    fn take(&mut self) -> bool {
        std::mem::take(&mut self.counted)
    }
}

impl<T> Drop for Waited<'_, T> {
    fn drop(&mut self) {
        if self.counted {
            let mut state = self.inner.state.lock();
            match self.side {
                Side::Poppers => state.waiting_poppers -= 1,
                Side::Pushers => state.waiting_pushers -= 1,
            }
        }
    }
}

impl<T> Clone for Channel<T> {
    fn clone(&self) -> Self {
        Channel {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> fmt::Debug for Channel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (len, closed) = {
            let state = self.inner.state.lock();
            (state.buffer.len(), state.closed)
        };
        f.debug_struct("Channel")
            .field("len", &len)
            .field("capacity", &self.inner.capacity)
            .field("closed", &closed)
            .field("waiting_poppers", &self.waiting_poppers())
            .field("waiting_pushers", &self.waiting_pushers())
            .finish()
    }
}
