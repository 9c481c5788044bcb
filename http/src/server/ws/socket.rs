//! [`WebSocket`]: the socket a WebSocket handler owns, and [`WsSender`], its sending half for
//! other coroutines.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use runtime::Channel;
use tungstenite::error::ProtocolError;
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tungstenite::{Bytes, Message};

use crate::engine::Upgraded;

/// A WebSocket's limits and timeouts, set in code on the
/// [`WebSocketUpgrade`](crate::server::ws::WebSocketUpgrade).
///
/// ```
/// use std::time::Duration;
/// use hyperf_http::server::ws::WsConfig;
///
/// let config = WsConfig::new()
///     .max_message_size(256 * 1024)
///     .max_frame_size(64 * 1024)
///     .idle_timeout(Some(Duration::from_secs(30)))
///     .close_timeout(Duration::from_secs(2));
/// assert_eq!(config.get_max_message_size(), 256 * 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsConfig {
    max_message_size: usize,
    max_frame_size: usize,
    idle_timeout: Option<Duration>,
    close_timeout: Duration,
    write_timeout: Duration,
    stop_poll: Duration,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            max_message_size: 1 << 20,
            max_frame_size: 1 << 20,
            idle_timeout: Some(Duration::from_secs(60)),
            close_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            stop_poll: Duration::from_secs(5),
        }
    }
}

impl WsConfig {
    /// The defaults: messages and frames up to 1 MiB, 60 s idle timeout, 5 s close timeout,
    /// 10 s write timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// The largest message (all its frames) the client may send; larger ones end the
    /// connection with close `1009` (message too big).
    ///
    /// It also bounds what a socket keeps: tungstenite's read buffer grows to the largest
    /// message received and is not shrunk while the socket lives, so a client that sends one
    /// message at the limit makes its socket hold about this much until it closes. With many
    /// sockets, keep it near the largest message the application expects.
    #[must_use]
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// The largest frame the client may send; larger ones end the connection with `1009`.
    #[must_use]
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// After this long without a frame from the client, [`recv`](WebSocket::recv) sends a
    /// ping; after as long again without one, it closes with `1001` and returns
    /// [`WsError::IdleTimeout`]. `None`: no idle timeout.
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// How long a close waits for the client's close reply before the socket is shut down.
    #[must_use]
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// How long one write to the client may stall before it fails (at least 1 ms).
    #[must_use]
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How often a waiting [`recv`](WebSocket::recv) looks whether the server is stopping
    /// (5 s by default). A stop does not wait for it: it sends the close `1001` at once (within
    /// the engine's timer tick), and the client's answer ends `recv`. The look is for a client
    /// that does not answer: its `recv` then ends within this interval plus the close
    /// timeout, or at the end of the stop's grace if that comes first. Each look wakes the
    /// connection's coroutine, which for thousands of idle sockets is CPU spent all the time.
    #[must_use]
    pub fn stop_poll(mut self, interval: Duration) -> Self {
        self.stop_poll = interval.max(Duration::from_millis(1));
        self
    }

    /// The largest message accepted.
    pub fn get_max_message_size(&self) -> usize {
        self.max_message_size
    }
}

/// The size of the buffer `tungstenite` reads the client's frames into. It stays resident for
/// as long as the socket is open (`tungstenite` zero-fills it before each read), so it is most
/// of an idle WebSocket's heap: 1 KiB, as the engine's own read buffer, rather than 8 KiB
/// (7 KiB less per idle connection, measured by `--bench ws`). A larger message is read in
/// 1 KiB pieces into its own buffer, which `tungstenite` sizes from the frame's length.
const READ_BUFFER: usize = 1024;

/// The reason of the close `1001` a stopping server sends.
const SHUTTING_DOWN: &str = "server shutting down";

/// Why a WebSocket's [`recv`](WebSocket::recv) or send ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum WsError {
    /// The connection is closed (the close handshake is done, or the client went away).
    Closed,
    /// The server is stopping: a close `1001` was sent and the client's reply awaited.
    ShuttingDown,
    /// The client stayed silent past the idle timeout and did not answer a ping.
    IdleTimeout,
    /// The client sent a message or frame over the limits: closed with `1009`.
    TooLarge,
    /// The client broke the protocol (invalid frame, text not UTF-8): closed with an error
    /// code.
    Protocol(String),
    /// The socket failed.
    Io(io::Error),
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WsError::Closed => f.write_str("the WebSocket is closed"),
            WsError::ShuttingDown => f.write_str("the server is stopping"),
            WsError::IdleTimeout => f.write_str("the client stayed silent too long"),
            WsError::TooLarge => f.write_str("the client sent a message over the limit"),
            WsError::Protocol(error) => write!(f, "WebSocket protocol error: {error}"),
            WsError::Io(error) => write!(f, "WebSocket I/O error: {error}"),
        }
    }
}

impl std::error::Error for WsError {}

/// The writing side, shared by the socket and its senders: whole frames are written under
/// its lock (a coroutine lock: a slow client parks the writer's coroutine, not a thread).
struct Writer {
    socket: Upgraded,
    /// A close frame has been written: no data frame may follow.
    closed: bool,
    /// A write failed, perhaps part way through a frame: nothing more may be written, and
    /// the socket has been shut down, so that the reading side ends too.
    broken: bool,
}

impl Writer {
    /// After a failed write: the stream may end inside a frame, so nothing follows it, and the
    /// socket is shut down both ways — a `recv` blocked on it ends rather than go on reading a
    /// client nothing can be sent to.
    fn break_off(&mut self) {
        self.closed = true;
        self.broken = true;
        let _ = self.socket.shutdown(std::net::Shutdown::Both);
    }
}

type SharedWriter = Arc<WriterLock>;

/// The writer's lock, held while a whole frame is written: a coroutine that waits for it
/// parks (a slow client parks the writers' coroutines, never a thread). Who may write is a
/// token in a one-slot channel; the `parking_lot` lock around the writer is only ever taken by
/// the token's holder, so it is never contended. may's own mutex would do the same, but it
/// allocates its wait queue, 2.1 KiB, when it is made: that was 9 % of an idle WebSocket.
struct WriterLock {
    token: Channel<()>,
    writer: parking_lot::Mutex<Writer>,
}

impl WriterLock {
    fn new(writer: Writer) -> Self {
        let token = Channel::new(1);
        token
            .push((), Some(Duration::ZERO))
            .expect("an empty one-slot channel takes one value");
        WriterLock {
            token,
            writer: parking_lot::Mutex::new(writer),
        }
    }

    fn lock(&self) -> WriterGuard<'_> {
        // The channel is never closed, so the wait only ends with the token.
        self.token
            .pop(None)
            .expect("the writer's token channel is never closed");
        WriterGuard {
            writer: Some(self.writer.lock()),
            token: &self.token,
        }
    }
}

/// The writer while its token is held; dropping it (also when unwinding) hands the token on.
struct WriterGuard<'a> {
    writer: Option<parking_lot::MutexGuard<'a, Writer>>,
    token: &'a Channel<()>,
}

impl std::ops::Deref for WriterGuard<'_> {
    type Target = Writer;

    fn deref(&self) -> &Writer {
        self.writer.as_ref().expect("held until dropped")
    }
}

impl std::ops::DerefMut for WriterGuard<'_> {
    fn deref_mut(&mut self) -> &mut Writer {
        self.writer.as_mut().expect("held until dropped")
    }
}

impl Drop for WriterGuard<'_> {
    fn drop(&mut self) {
        // The writer first: the next holder takes its lock as soon as it has the token.
        self.writer = None;
        let _ = self.token.push((), Some(Duration::ZERO));
    }
}

/// Whether the unmasked frames in `bytes` (whole, as the server writes them) hold a close.
fn holds_close(mut bytes: &[u8]) -> bool {
    while bytes.len() >= 2 {
        if bytes[0] & 0x0f == 0x8 {
            return true;
        }
        let (header, length): (usize, usize) = match bytes[1] & 0x7f {
            126 if bytes.len() >= 4 => (4, usize::from(u16::from_be_bytes([bytes[2], bytes[3]]))),
            127 if bytes.len() >= 10 => {
                let mut length = [0u8; 8];
                length.copy_from_slice(&bytes[2..10]);
                (
                    10,
                    usize::try_from(u64::from_be_bytes(length)).unwrap_or(usize::MAX),
                )
            }
            126 | 127 => return false,
            short => (2, usize::from(short)),
        };
        bytes = bytes
            .get(header.saturating_add(length)..)
            .unwrap_or_default();
    }
    false
}

/// What `tungstenite` reads from and writes to: reads from the upgraded socket, writes
/// buffered until a flush writes them whole under the writer's lock.
struct WsStream {
    reader: Upgraded,
    pending: Vec<u8>,
    writer: SharedWriter,
    /// The read timeout last set on `reader`: setting one is a system call, made only when it
    /// changes (a waiting `recv` sets the same poll interval turn after turn).
    read_timeout: Option<Duration>,
}

impl WsStream {
    fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        if self.read_timeout != Some(timeout) {
            self.reader.set_read_timeout(Some(timeout))?;
            self.read_timeout = Some(timeout);
        }
        Ok(())
    }
}

impl Read for WsStream {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buffer)
    }
}

impl Write for WsStream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut writer = self.writer.lock();
        if writer.broken {
            self.pending.clear();
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        if writer.closed {
            // A close has gone out (the stop's goodbye, said from another coroutine, which
            // tungstenite does not know of): nothing may follow it, not even its reply to the
            // client's close.
            self.pending.clear();
            return Ok(());
        }
        let closes = holds_close(&self.pending);
        let written = writer.socket.write_all(&self.pending);
        self.pending.clear();
        writer.closed |= closes;
        if written.is_err() {
            writer.break_off();
        }
        written
    }
}

/// An open WebSocket, owned by the handler's coroutine: [`recv`](Self::recv) and
/// [`send`](Self::send) block that coroutine only. Pings are answered, the close handshake
/// is done, and limits, the idle timeout and a stopping server are handled inside `recv`.
pub struct WebSocket {
    inner: tungstenite::WebSocket<WsStream>,
    writer: SharedWriter,
    config: WsConfig,
    protocol: Option<String>,
    origin: Option<String>,
    peer: SocketAddr,
    last_heard: Instant,
    ping_sent: Option<Instant>,
}

impl WebSocket {
    pub(crate) fn new(
        upgraded: Upgraded,
        config: WsConfig,
        protocol: Option<String>,
        origin: Option<String>,
    ) -> io::Result<Self> {
        let mut socket = upgraded.try_clone()?;
        socket.set_write_timeout(Some(config.write_timeout))?;
        let writer = Arc::new(WriterLock::new(Writer {
            socket,
            closed: false,
            broken: false,
        }));
        // A stop says goodbye at once, rather than at `recv`'s next look: the client's close
        // in answer wakes `recv`, and idle sockets need not poll often. Weak: the connection
        // holds the hook, and the writer holds the connection's socket.
        let goodbye = Arc::downgrade(&writer);
        upgraded.on_wind_down(move || {
            if let Some(writer) = goodbye.upgrade() {
                // The timer thread runs this: the write, which may wait on a slow client,
                // goes to a coroutine of its own.
                let spawned = runtime::Builder::new()
                    .name("ws-goodbye")
                    .spawn(move || say_goodbye(&writer));
                if let Err(error) = spawned {
                    log::debug!("WebSocket goodbye not sent at the stop: {error}");
                }
            }
        });
        let peer = upgraded.peer_addr();
        let stream = WsStream {
            reader: upgraded,
            pending: Vec::new(),
            writer: Arc::clone(&writer),
            read_timeout: None,
        };
        let limits = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .write_buffer_size(0)
            .max_message_size(Some(config.max_message_size))
            .max_frame_size(Some(config.max_frame_size));
        Ok(WebSocket {
            inner: tungstenite::WebSocket::from_raw_socket(stream, Role::Server, Some(limits)),
            writer,
            config,
            protocol,
            origin,
            peer,
            last_heard: Instant::now(),
            ping_sent: None,
        })
    }

    /// The subprotocol selected in the handshake.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The handshake's `Origin`.
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// The address of the connection's other end.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// A sending half for other coroutines (clone it freely): whole frames, never
    /// interleaved with this socket's own.
    pub fn sender(&self) -> WsSender {
        WsSender {
            writer: Arc::clone(&self.writer),
        }
    }

    /// The next message: text, binary, a ping (already answered) or pong, or the client's
    /// close (already answered; the next call returns [`WsError::Closed`]).
    ///
    /// # Errors
    ///
    /// [`WsError::Closed`] once closed or when the client went away;
    /// [`WsError::ShuttingDown`] when the server stops (after a close `1001` and the client's
    /// reply, or the close timeout); [`WsError::IdleTimeout`], [`WsError::TooLarge`] (after a
    /// close `1009`), [`WsError::Protocol`], [`WsError::Io`].
    pub fn recv(&mut self) -> Result<Message, WsError> {
        loop {
            if self.inner.get_ref().reader.is_stopping() {
                self.close_and_wait(CloseCode::Away, SHUTTING_DOWN);
                return Err(WsError::ShuttingDown);
            }
            let wait = self.next_wait();
            self.inner
                .get_mut()
                .set_read_timeout(wait)
                .map_err(WsError::Io)?;
            let read = self.inner.read();
            let _ = self.inner.get_mut().flush();
            match read {
                Ok(Message::Close(_)) if self.inner.get_ref().reader.is_stopping() => {
                    // The client's answer to the stop's goodbye: the handshake is done.
                    let _ = self
                        .inner
                        .get_ref()
                        .reader
                        .shutdown(std::net::Shutdown::Both);
                    return Err(WsError::ShuttingDown);
                }
                Ok(message) => {
                    self.last_heard = Instant::now();
                    self.ping_sent = None;
                    return Ok(message);
                }
                Err(tungstenite::Error::Io(error)) if is_timeout(&error) => self.on_silence()?,
                Err(error) => return Err(self.failed(error)),
            }
        }
    }

    /// Sends `message` (a `Message::Close` closes as [`close`](Self::close) does, without
    /// waiting).
    ///
    /// # Errors
    ///
    /// [`WsError::Closed`] after a close; [`WsError::Io`] when the client is gone.
    pub fn send(&mut self, message: Message) -> Result<(), WsError> {
        match message {
            // Framed here, as a sender does, not by tungstenite: its write buffer would keep
            // the capacity of the largest message ever sent for as long as the socket lives.
            Message::Text(_) | Message::Binary(_) | Message::Ping(_) => {
                write_message(&self.writer, message)
            }
            // A close and a pong belong to tungstenite's state of the connection.
            message => {
                let sent = self.inner.send(message);
                let _ = self.inner.get_mut().flush();
                sent.map_err(|error| self.failed(error))
            }
        }
    }

    /// Sends a text message.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn send_text(&mut self, text: impl Into<String>) -> Result<(), WsError> {
        self.send(Message::text(text.into()))
    }

    /// Closes with `code` and `reason`, waits for the client's close reply (within the close
    /// timeout), then shuts the socket down.
    pub fn close(mut self, code: CloseCode, reason: &str) {
        self.close_and_wait(code, reason);
    }

    /// How long the next read may wait: until the server's stop is looked at again, or the
    /// idle timeout's next step.
    fn next_wait(&self) -> Duration {
        let mut wait = self.config.stop_poll;
        if let Some(idle) = self.config.idle_timeout {
            let since = self.ping_sent.unwrap_or(self.last_heard);
            let left = idle.saturating_sub(since.elapsed());
            // In whole milliseconds, rounded up (as may keeps them): far from the idle
            // deadline the wait is the poll interval, the same turn after turn.
            let millis = u64::try_from(left.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
            let left = Duration::from_millis(millis);
            wait = wait.min(left);
        }
        wait.max(Duration::from_millis(1))
    }

    /// A read timed out: pings a silent client, closes one that did not answer.
    fn on_silence(&mut self) -> Result<(), WsError> {
        let Some(idle) = self.config.idle_timeout else {
            return Ok(());
        };
        match self.ping_sent {
            None if self.last_heard.elapsed() >= idle => {
                self.ping_sent = Some(Instant::now());
                self.send(Message::Ping(Bytes::new()))
            }
            Some(sent) if sent.elapsed() >= idle => {
                self.close_and_wait(CloseCode::Away, "idle");
                Err(WsError::IdleTimeout)
            }
            _ => Ok(()),
        }
    }

    /// The error `error` ends the socket with: closing with the matching code first.
    fn failed(&mut self, error: tungstenite::Error) -> WsError {
        match error {
            tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
                WsError::Closed
            }
            tungstenite::Error::Capacity(_) => {
                self.close_now(CloseCode::Size, "message too big");
                WsError::TooLarge
            }
            tungstenite::Error::Utf8(error) => {
                self.close_now(CloseCode::Invalid, "text not UTF-8");
                WsError::Protocol(error)
            }
            // The client went away without a close (or a sender's failed write shut the
            // socket down): nothing can be said to it.
            tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
                WsError::Closed
            }
            tungstenite::Error::Protocol(error) => {
                self.close_now(CloseCode::Protocol, "protocol error");
                WsError::Protocol(error.to_string())
            }
            tungstenite::Error::Io(error) => WsError::Io(error),
            other => WsError::Protocol(other.to_string()),
        }
    }

    /// Sends a close and shuts the socket down without waiting for the reply (after an
    /// error of the client's).
    fn close_now(&mut self, code: CloseCode, reason: &str) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = self.inner.close(Some(frame));
        let _ = self.inner.get_mut().flush();
        let _ = self
            .inner
            .get_ref()
            .reader
            .shutdown(std::net::Shutdown::Both);
    }

    /// Sends a close and reads (discarding messages) until the client's close arrives or
    /// the close timeout runs out; then shuts the socket down.
    fn close_and_wait(&mut self, code: CloseCode, reason: &str) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        if self.inner.close(Some(frame)).is_ok() {
            let _ = self.inner.get_mut().flush();
            let deadline = Instant::now() + self.config.close_timeout;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                let _ = self
                    .inner
                    .get_mut()
                    .set_read_timeout(left.max(Duration::from_millis(1)));
                match self.inner.read() {
                    Ok(Message::Close(_)) => break,
                    Ok(_) => {}
                    Err(tungstenite::Error::Io(error)) if is_timeout(&error) => {}
                    Err(_) => break,
                }
            }
            let _ = self.inner.get_mut().flush();
        }
        let _ = self
            .inner
            .get_ref()
            .reader
            .shutdown(std::net::Shutdown::Both);
    }
}

/// Senders fail from now on: whatever ended the socket, nothing more goes out on it.
impl Drop for WebSocket {
    fn drop(&mut self) {
        self.writer.lock().closed = true;
    }
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("peer", &self.peer)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Sends on a [`WebSocket`] from any coroutine (its handler's waits in `recv`): text, binary
/// or ping frames, each written whole. Fails once the socket has closed.
#[derive(Clone)]
pub struct WsSender {
    writer: SharedWriter,
}

impl WsSender {
    /// Sends `message` (text, binary or ping; a close or pong is refused: those are the
    /// socket's own).
    ///
    /// # Errors
    ///
    /// [`WsError::Closed`] once a close has been sent or received; [`WsError::Io`] when the
    /// client is gone or stalls past the write timeout; [`WsError::Protocol`] for a close
    /// or pong.
    pub fn send(&self, message: Message) -> Result<(), WsError> {
        write_message(&self.writer, message)
    }

    /// Sends a text message.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn send_text(&self, text: impl Into<String>) -> Result<(), WsError> {
        self.send(Message::text(text.into()))
    }

    /// Whether the socket has closed (a send would fail).
    pub fn is_closed(&self) -> bool {
        self.writer.lock().closed
    }
}

/// The stop's close `1001`, written as one frame under the writer's lock unless a close went
/// out before.
fn say_goodbye(writer: &WriterLock) {
    let frame = Frame::close(Some(CloseFrame {
        code: CloseCode::Away,
        reason: SHUTTING_DOWN.into(),
    }));
    // Already closed, or the client gone: nothing more to say either way.
    let _ = write_frame(writer, frame);
}

/// Frames a text, binary or ping `message` and writes it whole (see [`write_frame`]): a
/// socket that once sent a large message keeps no buffer of its size.
fn write_message(writer: &SharedWriter, message: Message) -> Result<(), WsError> {
    let frame = match message {
        Message::Text(text) => Frame::message(text, OpCode::Data(Data::Text), true),
        Message::Binary(bytes) => Frame::message(bytes, OpCode::Data(Data::Binary), true),
        Message::Ping(bytes) => Frame::ping(bytes),
        _ => return Err(WsError::Protocol("only text, binary and ping".into())),
    };
    write_frame(writer, frame)
}

/// Writes `frame` whole under the writer's lock, from a buffer of its own that is freed once
/// written, unless a close went out before; a close frame marks the writer closed.
fn write_frame(writer: &WriterLock, frame: Frame) -> Result<(), WsError> {
    let closes = frame.header().opcode == OpCode::Control(Control::Close);
    let mut bytes = Vec::new();
    frame
        .format(&mut bytes)
        .map_err(|error| WsError::Protocol(error.to_string()))?;
    let mut writer = writer.lock();
    if writer.closed {
        return Err(WsError::Closed);
    }
    match writer.socket.write_all(&bytes) {
        Ok(()) => {
            writer.closed |= closes;
            Ok(())
        }
        Err(error) => {
            writer.break_off();
            Err(WsError::Io(error))
        }
    }
}

impl fmt::Debug for WsSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WsSender")
    }
}
