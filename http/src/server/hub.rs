//! [`Hub`]: topics (rooms) to which any coroutine, on any worker, publishes, and from which
//! every subscriber — a WebSocket's or an SSE stream's coroutine — receives through a bounded
//! queue of its own.
//!
//! ```
//! use hyperf_http::server::{Hub, Overflow};
//!
//! let hub: Hub<String> = Hub::new(16, Overflow::DropOldest);
//! let lobby = hub.subscribe("lobby");
//! assert_eq!(hub.publish("lobby", "hello".to_string()), 1);
//! assert_eq!(hub.publish("kitchen", "unheard".to_string()), 0);
//! assert_eq!(lobby.recv().as_deref(), Some("hello"));
//! drop(lobby);
//! assert_eq!(hub.subscribers("lobby"), 0);
//! ```
//!
//! A publisher never waits for a subscriber: delivering is a push into each subscriber's
//! queue (a short lock each). A subscriber that does not keep up fills its queue, and then
//! [`Overflow`] says what happens — its oldest message is dropped (counted in
//! [`Subscription::dropped`]), or the subscription is closed (its next `recv` after the
//! buffered messages returns `None`, and its connection should end). Either way its memory is
//! bounded and the other subscribers are not slowed.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use runtime::{Channel, PopError, PushError};

/// What a full subscriber queue does with the next message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Overflow {
    /// Drop the oldest queued message to make room (the subscriber misses messages but
    /// stays subscribed).
    #[default]
    DropOldest,
    /// Close the subscription: the subscriber receives what is queued, then `None`.
    Close,
}

/// Topics of subscribers, cheap to clone (all clones are the same hub): register it as
/// state and publish from any handler, coroutine or thread.
pub struct Hub<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    topics: Mutex<HashMap<String, Vec<Arc<Slot<T>>>>>,
    capacity: usize,
    overflow: Overflow,
    next_id: AtomicU64,
}

/// One subscriber's queue.
struct Slot<T> {
    id: u64,
    queue: Channel<T>,
    dropped: AtomicU64,
}

impl<T> Clone for Hub<T> {
    fn clone(&self) -> Self {
        Hub {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> fmt::Debug for Hub<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("topics", &self.inner.topics.lock().len())
            .field("capacity", &self.inner.capacity)
            .field("overflow", &self.inner.overflow)
            .finish()
    }
}

impl<T: Clone + Send + 'static> Hub<T> {
    /// A hub whose subscribers each queue up to `capacity` messages (at least 1), `overflow`
    /// saying what a full queue does.
    pub fn new(capacity: usize, overflow: Overflow) -> Self {
        Hub {
            inner: Arc::new(Inner {
                topics: Mutex::new(HashMap::new()),
                capacity: capacity.max(1),
                overflow,
                next_id: AtomicU64::new(0),
            }),
        }
    }

    /// Subscribes to `topic`: every message published to it from now on is queued for the
    /// subscription, until it is dropped.
    pub fn subscribe(&self, topic: &str) -> Subscription<T> {
        let slot = Arc::new(Slot {
            id: self.inner.next_id.fetch_add(1, Ordering::Relaxed),
            queue: Channel::new(self.inner.capacity),
            dropped: AtomicU64::new(0),
        });
        self.inner
            .topics
            .lock()
            .entry(topic.to_string())
            .or_default()
            .push(Arc::clone(&slot));
        Subscription {
            slot,
            hub: Arc::downgrade(&self.inner),
            topic: topic.to_string(),
        }
    }

    /// Queues `message` for every subscriber of `topic`, without waiting for any; how many
    /// subscribers it was queued for (a closed subscription's is not).
    pub fn publish(&self, topic: &str, message: T) -> usize {
        let slots: Vec<Arc<Slot<T>>> = match self.inner.topics.lock().get(topic) {
            Some(slots) => slots.clone(),
            None => return 0,
        };
        let mut delivered = 0;
        for slot in &slots {
            if self.deliver(slot, message.clone()) {
                delivered += 1;
            }
        }
        delivered
    }

    /// Subscribers of `topic` right now.
    pub fn subscribers(&self, topic: &str) -> usize {
        self.inner.topics.lock().get(topic).map_or(0, Vec::len)
    }

    fn deliver(&self, slot: &Slot<T>, message: T) -> bool {
        let mut message = message;
        loop {
            match slot.queue.push(message, Some(Duration::ZERO)) {
                Ok(()) => return true,
                Err(PushError::Closed(_)) => return false,
                Err(PushError::Timeout(back)) => match self.inner.overflow {
                    Overflow::DropOldest => {
                        // Make room; the subscriber may have made some meanwhile, in which
                        // case nothing is dropped.
                        if slot.queue.pop(Some(Duration::ZERO)).is_ok() {
                            slot.dropped.fetch_add(1, Ordering::Relaxed);
                        }
                        message = back;
                    }
                    Overflow::Close => {
                        slot.queue.close();
                        return false;
                    }
                },
            }
        }
    }
}

/// A subscriber's end: messages published to its topic, in order, through its bounded queue.
/// Dropping it unsubscribes.
pub struct Subscription<T> {
    slot: Arc<Slot<T>>,
    hub: Weak<Inner<T>>,
    topic: String,
}

/// Closes a [`Subscription`] from elsewhere ([`Subscription::closer`]); cheap to clone.
pub struct SubscriptionCloser<T> {
    slot: Arc<Slot<T>>,
}

impl<T> SubscriptionCloser<T> {
    /// Closes the subscription: nothing more is queued for it, and its `recv` returns what is
    /// queued, then `None` (a waiting one wakes). Idempotent.
    pub fn close(&self) {
        self.slot.queue.close();
    }
}

impl<T> Clone for SubscriptionCloser<T> {
    fn clone(&self) -> Self {
        SubscriptionCloser {
            slot: Arc::clone(&self.slot),
        }
    }
}

impl<T> fmt::Debug for SubscriptionCloser<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriptionCloser")
            .field("closed", &self.slot.queue.is_closed())
            .finish()
    }
}

/// Why [`Subscription::recv_timeout`] returned no message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// Nothing arrived in time.
    Timeout,
    /// The subscription was closed (its queue overflowed under [`Overflow::Close`]) and
    /// everything queued has been received.
    Closed,
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Timeout => f.write_str("no message in time"),
            RecvError::Closed => f.write_str("the subscription is closed"),
        }
    }
}

impl std::error::Error for RecvError {}

impl<T> Subscription<T> {
    /// The next message, waiting (the coroutine parks) as long as it takes; `None` once the
    /// subscription is closed and drained.
    pub fn recv(&self) -> Option<T> {
        self.slot.queue.pop(None).ok()
    }

    /// The next message, waiting up to `timeout`.
    ///
    /// # Errors
    ///
    /// [`RecvError::Timeout`], or [`RecvError::Closed`] once closed and drained.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvError> {
        self.slot
            .queue
            .pop(Some(timeout))
            .map_err(|error| match error {
                PopError::Timeout => RecvError::Timeout,
                PopError::Closed => RecvError::Closed,
            })
    }

    /// The next message if one is queued.
    pub fn try_recv(&self) -> Option<T> {
        self.slot.queue.pop(Some(Duration::ZERO)).ok()
    }

    /// Messages dropped so far because the queue was full ([`Overflow::DropOldest`]).
    pub fn dropped(&self) -> u64 {
        self.slot.dropped.load(Ordering::Relaxed)
    }

    /// Whether the subscription was closed: by an overflow ([`Overflow::Close`]), or through
    /// a [`SubscriptionCloser`].
    pub fn is_closed(&self) -> bool {
        self.slot.queue.is_closed()
    }

    /// A handle that closes this subscription from another coroutine: its `recv` then returns
    /// what is queued, then `None`, without waiting for a message that may never come. The
    /// way for a WebSocket's handler to end the coroutine forwarding the room's messages once
    /// the socket is done, instead of that coroutine polling whether it is.
    ///
    /// ```
    /// use hyperf_http::server::{Hub, Overflow};
    ///
    /// let hub: Hub<String> = Hub::new(16, Overflow::DropOldest);
    /// let lobby = hub.subscribe("lobby");
    /// let closer = lobby.closer();
    /// hub.publish("lobby", "hello".to_string());
    /// // The forwarder waits for messages until the subscription is closed.
    /// let forwarder = std::thread::spawn(move || {
    ///     let mut forwarded = Vec::new();
    ///     while let Some(message) = lobby.recv() {
    ///         forwarded.push(message);
    ///     }
    ///     forwarded
    /// });
    /// closer.close();
    /// assert_eq!(forwarder.join().unwrap(), ["hello"]);
    /// ```
    pub fn closer(&self) -> SubscriptionCloser<T> {
        SubscriptionCloser {
            slot: Arc::clone(&self.slot),
        }
    }

    /// The topic subscribed to.
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        self.slot.queue.close();
        let Some(hub) = self.hub.upgrade() else {
            return;
        };
        let mut topics = hub.topics.lock();
        if let Some(slots) = topics.get_mut(&self.topic) {
            slots.retain(|slot| slot.id != self.slot.id);
            if slots.is_empty() {
                topics.remove(&self.topic);
            }
        }
    }
}

impl<T> fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("topic", &self.topic)
            .field("queued", &self.slot.queue.len())
            .field("dropped", &self.dropped())
            .finish()
    }
}
