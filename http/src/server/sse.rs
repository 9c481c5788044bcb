//! Server-sent events: an [`Sse`] response streams [`Event`]s that a producer coroutine sends,
//! with keep-alive comments while it is silent, over the streamed response body.
//!
//! ```
//! use std::time::Duration;
//! use hyperf_http::server::{Event, LastEventId, Router, Sse};
//!
//! let mut router = Router::new();
//! router.get("/ticks", |LastEventId(last): LastEventId| {
//!     // Resume after the last event the client saw (it sends `Last-Event-ID` on reconnect).
//!     let start = last.and_then(|id| id.parse::<u64>().ok()).map_or(0, |id| id + 1);
//!     Sse::new(move |events| {
//!         for n in start.. {
//!             let event = Event::data(format!("tick {n}")).id(n.to_string()).event("tick");
//!             if events.send(event).is_err() {
//!                 return; // the client went away, or the server stops
//!             }
//!             if n >= start + 2 { return; }
//!         }
//!     })
//!     .keep_alive(Some(Duration::from_secs(15)))
//! }).unwrap();
//! ```
//!
//! The producer runs in a coroutine of its own and hands events over through a bounded
//! buffer; the connection's coroutine writes them. When a write fails (the client is gone) or
//! the server stops, the stream ends and the producer's next [`send`](SseSender::send) fails.
//! Keep-alive comments (`:` lines) go out after each silent interval, so a vanished client is
//! noticed within about two intervals even when no event is produced. At a stop the stream
//! ends at once (within the engine's timer tick, 100 ms), inside the stop's grace. (On a
//! route with a time limit, the limit ends the stream instead.)

use std::fmt::{self, Write as _};
use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{self, HeaderValue};
use parking_lot::Mutex;
use runtime::{Channel, PopError, PushError};

use crate::engine::{Body, Request, Response, connection_stopping, on_connection_wind_down};
use crate::server::extract::FromRequest;
use crate::server::response::IntoResponse;

/// One server-sent event: `data` (its lines each sent as a `data:` field), and optionally an
/// `event` name, an `id` and a `retry` delay for the client's reconnection.
///
/// ```
/// use std::time::Duration;
/// use hyperf_http::server::Event;
///
/// let event = Event::data("line one\nline two").event("note").id("7").retry(Duration::from_secs(3));
/// assert_eq!(event.as_str(), "event: note\nid: 7\nretry: 3000\ndata: line one\ndata: line two\n\n");
/// assert_eq!(Event::comment("hi").as_str(), ": hi\n\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    event: Option<String>,
    id: Option<String>,
    retry: Option<Duration>,
    data: Option<String>,
    comment: Option<String>,
    text: String,
}

/// `value` on one line: a CR or LF would start another field.
fn one_line(value: &str) -> String {
    value.replace(['\r', '\n'], " ")
}

impl Event {
    fn empty() -> Self {
        Event {
            event: None,
            id: None,
            retry: None,
            data: None,
            comment: None,
            text: String::new(),
        }
    }

    /// An event carrying `data` (several lines are several `data:` fields, joined by the
    /// client with newlines).
    pub fn data(data: impl Into<String>) -> Self {
        let mut event = Self::empty();
        event.data = Some(data.into());
        event.render();
        event
    }

    /// A comment (clients ignore it): what keep-alives are.
    pub fn comment(text: impl Into<String>) -> Self {
        let mut event = Self::empty();
        event.comment = Some(text.into());
        event.render();
        event
    }

    /// The event's name (`event:`); clients dispatch on it (`message` when absent).
    #[must_use]
    pub fn event(mut self, name: impl AsRef<str>) -> Self {
        self.event = Some(one_line(name.as_ref()));
        self.render();
        self
    }

    /// The event's id (`id:`): the client sends the last one it saw as `Last-Event-ID` when
    /// it reconnects.
    #[must_use]
    pub fn id(mut self, id: impl AsRef<str>) -> Self {
        // A NUL makes clients ignore the field.
        self.id = Some(one_line(id.as_ref()).replace('\0', ""));
        self.render();
        self
    }

    /// How long the client waits before reconnecting (`retry:`, in milliseconds).
    #[must_use]
    pub fn retry(mut self, delay: Duration) -> Self {
        self.retry = Some(delay);
        self.render();
        self
    }

    /// The event as sent on the wire, ending with its blank line.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn render(&mut self) {
        let mut text = String::new();
        if let Some(comment) = &self.comment {
            for line in comment.lines() {
                let _ = writeln!(text, ": {line}");
            }
            if comment.is_empty() {
                text.push_str(":\n");
            }
        }
        if let Some(event) = &self.event {
            let _ = writeln!(text, "event: {event}");
        }
        if let Some(id) = &self.id {
            let _ = writeln!(text, "id: {id}");
        }
        if let Some(retry) = self.retry {
            let _ = writeln!(text, "retry: {}", retry.as_millis());
        }
        if let Some(data) = &self.data {
            // Every line break form ends a line for the client: each line its own field.
            for line in data.split("\r\n").flat_map(|l| l.split(['\r', '\n'])) {
                let _ = writeln!(text, "data: {line}");
            }
        }
        text.push('\n');
        self.text = text;
    }
}

/// The producer's end of an [`Sse`] stream. Dropping it (the producer returning) ends the
/// stream once what was sent is written.
pub struct SseSender {
    channel: Channel<Event>,
    ending: Arc<Ending>,
}

/// A callback of [`SseSender::on_close`].
type OnClose = Box<dyn FnOnce() + Send>;

/// What runs when a stream ends: the callbacks of [`SseSender::on_close`].
struct Ending {
    /// `None` once the stream has ended (a callback given later runs at once).
    callbacks: Mutex<Option<Vec<OnClose>>>,
}

impl Ending {
    fn new() -> Self {
        Ending {
            callbacks: Mutex::new(Some(Vec::new())),
        }
    }

    /// Runs every callback, once; later ones run as they are given.
    fn end(&self) {
        let callbacks = self.callbacks.lock().take().unwrap_or_default();
        // Run outside the lock: a callback may register another.
        for callback in callbacks {
            callback();
        }
    }
}

/// The stream has ended: the client went away, or the server stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseClosed;

impl fmt::Display for SseClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the event stream has ended (client gone or server stopping)")
    }
}

impl std::error::Error for SseClosed {}

impl SseSender {
    /// Sends `event`, waiting while the buffer is full (the client reads slowly).
    ///
    /// # Errors
    ///
    /// [`SseClosed`] once the stream has ended.
    pub fn send(&self, event: Event) -> Result<(), SseClosed> {
        self.channel.push(event, None).map_err(|_| SseClosed)
    }

    /// [`send`](Self::send), waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`SseClosed`] once the stream has ended; the event back if the buffer stayed full.
    pub fn send_timeout(&self, event: Event, timeout: Duration) -> Result<(), SendTimeoutError> {
        self.channel
            .push(event, Some(timeout))
            .map_err(|error| match error {
                PushError::Closed(_) => SendTimeoutError::Closed,
                PushError::Timeout(event) => SendTimeoutError::Timeout(Box::new(event)),
            })
    }

    /// Whether the stream has ended (a send would fail).
    pub fn is_closed(&self) -> bool {
        self.channel.is_closed()
    }

    /// Runs `callback` once the stream has ended — the client went away (noticed at the next
    /// write, an event or a keep-alive comment), the server stops, or the producer is done —
    /// on the coroutine that wrote the stream; at once if it has already ended. The way for a
    /// producer waiting on something else (a hub subscription) to be woken when nobody reads
    /// any more, instead of polling [`is_closed`](Self::is_closed):
    ///
    /// ```
    /// use hyperf_http::server::{Event, Hub, Overflow, Sse};
    ///
    /// let hub: Hub<String> = Hub::new(64, Overflow::DropOldest);
    /// let room = hub.subscribe("lobby");
    /// let stream = Sse::new(move |events| {
    ///     let closer = room.closer();
    ///     events.on_close(move || closer.close()); // ends the wait below
    ///     while let Some(line) = room.recv() {
    ///         if events.send(Event::data(line)).is_err() {
    ///             return;
    ///         }
    ///     }
    /// });
    /// ```
    pub fn on_close(&self, callback: impl FnOnce() + Send + 'static) {
        let mut callbacks = self.ending.callbacks.lock();
        match callbacks.as_mut() {
            Some(waiting) => waiting.push(Box::new(callback)),
            None => {
                drop(callbacks);
                callback();
            }
        }
    }
}

impl Drop for SseSender {
    fn drop(&mut self) {
        self.channel.close();
    }
}

impl fmt::Debug for SseSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseSender")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Why [`SseSender::send_timeout`] did not send.
#[derive(Debug)]
pub enum SendTimeoutError {
    /// The stream has ended.
    Closed,
    /// The buffer stayed full: the event back.
    Timeout(Box<Event>),
}

type Producer = Box<dyn FnOnce(SseSender) + Send>;

/// A `text/event-stream` response whose events a producer coroutine sends.
///
/// ```
/// use hyperf_http::server::{Event, Router, Sse};
///
/// let mut router = Router::new();
/// router.get("/countdown", || {
///     Sse::new(|events| {
///         for n in (0..3).rev() {
///             if events.send(Event::data(n.to_string())).is_err() {
///                 return; // the client went away, or the server stops
///             }
///         }
///     })
/// }).unwrap();
/// ```
///
/// The producer runs in a coroutine of its own once the head is written, and hands events
/// over through a bounded buffer ([`buffer`](Self::buffer)); the connection's coroutine writes
/// them. When a write fails (the client is gone) or the server stops, the stream ends and the
/// producer's next [`send`](SseSender::send) fails. Keep-alive comments (`:` lines) go out
/// after each silent [interval](Self::keep_alive), so a vanished client is noticed within
/// about two intervals even when nothing is produced. At a stop the stream ends at once
/// (within the engine's timer tick, 100 ms), inside the stop's grace; on a route with a time
/// limit, the limit ends it instead. A producer that waits for something else
/// (a [`Hub`](crate::server::Hub) subscription) should wait with a timeout and look at
/// [`SseSender::is_closed`] between waits, so that it ends with the stream.
pub struct Sse {
    producer: Producer,
    keep_alive: Option<Duration>,
    buffer: usize,
    stop_poll: Duration,
}

impl Sse {
    /// A stream whose events `producer` sends, run in a coroutine of its own once the
    /// response's head is written. Keep-alive comments every 15 s, a buffer of 16 events.
    pub fn new(producer: impl FnOnce(SseSender) + Send + 'static) -> Self {
        Sse {
            producer: Box::new(producer),
            keep_alive: Some(Duration::from_secs(15)),
            buffer: 16,
            stop_poll: Duration::from_secs(5),
        }
    }

    /// A comment sent after each `interval` without an event (`None`: never), so that proxies
    /// keep the connection and a vanished client is noticed.
    #[must_use]
    pub fn keep_alive(mut self, interval: Option<Duration>) -> Self {
        self.keep_alive = interval.map(|i| i.max(Duration::from_millis(1)));
        self
    }

    /// How many events the producer may be ahead of the client (at least 1).
    #[must_use]
    pub fn buffer(mut self, events: usize) -> Self {
        self.buffer = events.max(1);
        self
    }

    /// How often a silent stream looks whether the server is stopping (5 s by default). A
    /// stop does not wait for it: on an engine's connection the stream ends at once (within
    /// the engine's timer tick); the look is a fallback.
    #[must_use]
    pub fn stop_poll(mut self, interval: Duration) -> Self {
        self.stop_poll = interval.max(Duration::from_millis(1));
        self
    }
}

impl fmt::Debug for Sse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sse")
            .field("keep_alive", &self.keep_alive)
            .field("buffer", &self.buffer)
            .finish_non_exhaustive()
    }
}

impl IntoResponse for Sse {
    fn into_response(self) -> Response {
        let Sse {
            producer,
            keep_alive,
            buffer,
            stop_poll,
        } = self;
        let body = Body::stream(move |out| {
            let channel = Channel::new(buffer);
            let ending = Arc::new(Ending::new());
            let sender = SseSender {
                channel: channel.clone(),
                ending: Arc::clone(&ending),
            };
            drop(runtime::spawn(move || producer(sender)));
            // A stop ends the stream at once (the engine's timer thread closes the channel,
            // which wakes the writer below), not at its next look.
            let stopper = channel.clone();
            on_connection_wind_down(Some(Box::new(move || stopper.close())));
            // Whatever ends the stream — also a panic or the cancellation at a stop's grace —
            // the producer's next send fails, and what it asked to be told of the end runs.
            let _ended = Ended {
                channel: channel.clone(),
                ending,
            };
            write_events(out, &channel, keep_alive, stop_poll)
        });
        let mut response = Response::new(body);
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        // nginx buffers responses unless told not to.
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
        response
    }
}

/// Ends a stream when dropped: closes its channel, then runs its `on_close` callbacks.
struct Ended {
    channel: Channel<Event>,
    ending: Arc<Ending>,
}

impl Drop for Ended {
    fn drop(&mut self) {
        // The connection may go on serving requests: a later stop has nothing to end here.
        on_connection_wind_down(None);
        self.channel.close();
        self.ending.end();
    }
}

/// Writes the producer's events as they come, and keep-alives in its silences, until it is
/// done, a write fails, or the server stops.
fn write_events(
    out: &mut dyn Write,
    channel: &Channel<Event>,
    keep_alive: Option<Duration>,
    stop_poll: Duration,
) -> io::Result<()> {
    let mut last_write = Instant::now();
    loop {
        if connection_stopping() {
            return Ok(());
        }
        let mut wait = stop_poll;
        if let Some(interval) = keep_alive {
            wait = wait.min(interval.saturating_sub(last_write.elapsed()));
        }
        match channel.pop(Some(wait.max(Duration::from_millis(1)))) {
            Ok(event) => {
                out.write_all(event.as_str().as_bytes())?;
                out.flush()?;
                last_write = Instant::now();
            }
            Err(PopError::Closed) => return Ok(()),
            Err(PopError::Timeout) => {
                if keep_alive.is_some_and(|interval| last_write.elapsed() >= interval) {
                    out.write_all(b":\n\n")?;
                    out.flush()?;
                    last_write = Instant::now();
                }
            }
        }
    }
}

/// The `Last-Event-ID` the client sent when reconnecting to an event stream (`None` on a
/// first connection), as an extractor.
///
/// ```
/// use hyperf_http::server::{LastEventId, Router};
///
/// let mut router = Router::new();
/// router.get("/events", |LastEventId(last): LastEventId| {
///     format!("resuming after {}", last.unwrap_or_default())
/// }).unwrap();
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LastEventId(pub Option<String>);

impl FromRequest for LastEventId {
    type Rejection = std::convert::Infallible;

    fn from_request(request: &mut Request) -> Result<Self, Self::Rejection> {
        Ok(LastEventId(
            request
                .headers()
                .get("last-event-id")
                .and_then(|value| value.to_str().ok())
                .map(str::to_string),
        ))
    }
}
