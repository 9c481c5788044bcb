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

struct State<T> {
    buffer: VecDeque<T>,
    closed: bool,
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
        loop {
            value = match inner.try_push(value) {
                Ok(()) => {
                    inner.poppers.notify_one();
                    return Ok(());
                }
                Err(PushError::Closed(value)) => return Err(PushError::Closed(value)),
                Err(PushError::Timeout(value)) => value,
            };
            let can_push = || {
                let state = inner.state.lock();
                state.closed || state.buffer.len() < inner.capacity
            };
            if inner.pushers.wait(deadline, can_push) == WaitOutcome::TimedOut {
                // One last try: room may have appeared just as time ran out.
                return match inner.try_push(value) {
                    Ok(()) => {
                        inner.poppers.notify_one();
                        Ok(())
                    }
                    Err(error) => Err(error),
                };
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
        loop {
            match inner.try_pop() {
                Err(PopError::Timeout) => {}
                popped => return popped,
            }
            let can_pop = || {
                let state = inner.state.lock();
                state.closed || !state.buffer.is_empty()
            };
            if inner.poppers.wait(deadline, can_pop) == WaitOutcome::TimedOut {
                // One last try: a value may have arrived just as time ran out.
                return inner.try_pop();
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
    /// Pushes if there is room. `Timeout` here only means "full": the caller decides to wait.
    fn try_push(&self, value: T) -> Result<(), PushError<T>> {
        let mut state = self.state.lock();
        if state.closed {
            Err(PushError::Closed(value))
        } else if state.buffer.len() >= self.capacity {
            Err(PushError::Timeout(value))
        } else {
            state.buffer.push_back(value);
            Ok(())
        }
    }

    /// Pops if there is a value, and wakes a pusher for the room it made. `Timeout` here only
    /// means "empty and open": the caller decides to wait.
    fn try_pop(&self) -> Result<T, PopError> {
        let popped = {
            let mut state = self.state.lock();
            match state.buffer.pop_front() {
                Some(value) => Ok(value),
                None if state.closed => Err(PopError::Closed),
                None => Err(PopError::Timeout),
            }
        };
        if popped.is_ok() {
            self.pushers.notify_one();
        }
        popped
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
