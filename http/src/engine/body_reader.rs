//! [`BodyReader`]: a request body read as it arrives, for routes that stream their bodies
//! ([`BodyPolicy::Streamed`](crate::BodyPolicy::Streamed)) instead of receiving them whole.
//!
//! The protocol between the connection and the reader, around one request:
//!
//! 1. the connection reads the head, asks the service for the body's policy, and for a
//!    streamed body moves what it has buffered past the head, a clone of its socket and the
//!    body's framing into a [`Streaming`] shared with the reader (the request's body is empty;
//!    the reader is in its extensions);
//! 2. while the handler runs, only the reader touches the socket's read side: each `read`
//!    sends `100 Continue` first if the client waits for it, then reads with the connection's
//!    read deadline (the request timeout, a pause at most) and the route's body limit;
//! 3. when the handler returns, the connection takes the `Streaming` back (a reader kept past
//!    the request reads nothing more: its reads fail): a finished body gives back what was read
//!    past it (the next pipelined request); an unfinished one is drained up to
//!    [`EngineConfig::drain_bytes`](crate::EngineConfig::drain_bytes), else the connection
//!    closes after the response.

use std::error::Error;
use std::fmt;
use std::io::{self, Read, Write};
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use http::StatusCode;
use may::net::TcpStream;
use parking_lot::Mutex;

use crate::engine::registry::{ConnState, Deadline, EngineShared};
use crate::engine::wire::decode::{ChunkedDecoder, DecodeError};
use crate::engine::wire::encode::CONTINUE;

/// The most a single socket read of a streamed body takes in.
const PIECE: usize = 16 * 1024;

/// A request body read as it arrives: a [`Read`] that ends where the body ends, for both
/// `Content-Length` and `chunked` bodies. It is in the request's extensions when the service
/// asked for a [streamed](crate::BodyPolicy::Streamed) body (the server's routes do with
/// `stream_body`); take it with `request.extensions_mut().remove::<BodyReader>()` or, in a
/// server handler, as an extractor.
///
/// The first read sends `100 Continue` to a client that waits for it. A pause longer than the
/// request timeout, a body past the route's limit, malformed chunked framing or a client that
/// leaves make reads fail with an [`io::Error`] holding a [`BodyError`] (whose status the
/// server answers with). A body the handler does not read to its end is drained after it
/// returns (up to [`EngineConfig::drain_bytes`](crate::EngineConfig::drain_bytes)), else the
/// connection closes after the response. The reader works during its request only: kept past
/// it, its reads fail.
#[derive(Clone)]
pub struct BodyReader {
    shared: Arc<Mutex<Option<Source>>>,
}

/// Where a reader's bytes come from.
enum Source {
    /// The connection's socket, during its request.
    Socket(Streaming),
    /// A body already in memory: an [`Incoming`](crate::Incoming) made from a request, as
    /// tests and in-process callers build one.
    Memory(Bytes),
}

impl fmt::Debug for BodyReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyReader").finish_non_exhaustive()
    }
}

/// Why a streamed body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyError {
    status: StatusCode,
    reason: &'static str,
}

impl BodyError {
    pub(crate) fn new(status: StatusCode, reason: &'static str) -> Self {
        BodyError { status, reason }
    }

    /// A body larger than its limit: `413`.
    pub(crate) fn too_large() -> Self {
        DecodeError::BODY_TOO_LARGE.into()
    }

    /// The status a client is answered with: `413` past the limit, `408` after too long a
    /// pause, `400` for malformed framing or a body cut short.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// What was wrong.
    pub fn reason(&self) -> &str {
        self.reason
    }

    fn into_io(self) -> io::Error {
        let kind = match self.status {
            StatusCode::REQUEST_TIMEOUT => io::ErrorKind::TimedOut,
            StatusCode::PAYLOAD_TOO_LARGE => io::ErrorKind::InvalidData,
            _ => io::ErrorKind::UnexpectedEof,
        };
        io::Error::new(kind, self)
    }
}

impl From<DecodeError> for BodyError {
    fn from(error: DecodeError) -> Self {
        BodyError::new(error.status, error.reason)
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request body: {} ({})", self.reason, self.status)
    }
}

impl Error for BodyError {}

/// How the rest of the body is framed.
enum Remaining {
    /// This many bytes of a `Content-Length` body.
    Length(u64),
    /// A chunked body, and the data it decoded that the handler has not read yet.
    Chunked(ChunkedDecoder, BytesMut),
}

/// The state of one streamed body, shared by the reader and its connection.
pub(crate) struct Streaming {
    stream: TcpStream,
    /// Bytes read from the socket and not yet decoded: the body's, and past a chunked body's
    /// end the next requests'.
    buffered: BytesMut,
    remaining: Remaining,
    send_continue: bool,
    failed: bool,
    /// Where socket reads land before chunked decoding (allocated on the first such read).
    scratch: Vec<u8>,
    engine: Arc<EngineShared>,
    state: Arc<ConnState>,
}

/// What the connection learns when it takes a body back from its reader.
pub(crate) enum Returned {
    /// The body was read to its end; these bytes came after it.
    Finished(BytesMut),
    /// The body was not read to its end, and the connection can still be kept if the rest is
    /// drained.
    Unfinished(Streaming),
    /// The body cannot be finished (a read failed, the client never got its `100 Continue`,
    /// or the reader is busy elsewhere): close after the response.
    Lost,
}

impl BodyReader {
    pub(crate) fn new(streaming: Streaming) -> Self {
        BodyReader {
            shared: Arc::new(Mutex::new(Some(Source::Socket(streaming)))),
        }
    }

    /// A reader of `body`, already in memory.
    pub(crate) fn in_memory(body: Bytes) -> Self {
        BodyReader {
            shared: Arc::new(Mutex::new(Some(Source::Memory(body)))),
        }
    }

    /// Gives the rest of the body up (its request was cut short): the connection will not
    /// read it, and closes after the response. Never waits for a reader busy elsewhere.
    pub(crate) fn abandon(&self) {
        if let Some(mut guard) = self.shared.try_lock()
            && let Some(Source::Socket(streaming)) = guard.as_mut()
        {
            streaming.failed = true;
        }
    }

    /// Ends the reader's part: what its connection gets back once the handler has returned.
    pub(crate) fn take_back(&self) -> Returned {
        // A reader moved to another coroutine may be mid-read: never wait for it.
        let Some(mut guard) = self.shared.try_lock() else {
            return Returned::Lost;
        };
        let Some(Source::Socket(streaming)) = guard.take() else {
            return Returned::Lost;
        };
        if streaming.failed {
            Returned::Lost
        } else if streaming.is_done() {
            Returned::Finished(streaming.buffered)
        } else if streaming.send_continue {
            // The client still waits for a `100 Continue` before it sends the body.
            Returned::Lost
        } else {
            Returned::Unfinished(streaming)
        }
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut guard = self.shared.lock();
        let source = guard.as_mut().ok_or_else(|| {
            io::Error::other("the request this body belonged to has been answered")
        })?;
        let streaming = match source {
            Source::Socket(streaming) => streaming,
            Source::Memory(bytes) => {
                let read = bytes.len().min(buf.len());
                buf[..read].copy_from_slice(&bytes[..read]);
                bytes.advance(read);
                return Ok(read);
            }
        };
        match streaming.read(buf) {
            Ok(read) => Ok(read),
            Err(error) => {
                streaming.failed = true;
                Err(error.into_io())
            }
        }
    }
}

impl Streaming {
    /// A streamed `Content-Length` body of `length` bytes, after `buffered` of it was read.
    pub(crate) fn with_length(
        stream: TcpStream,
        buffered: BytesMut,
        length: u64,
        send_continue: bool,
        engine: Arc<EngineShared>,
        state: Arc<ConnState>,
    ) -> Self {
        Streaming {
            stream,
            buffered,
            remaining: Remaining::Length(length),
            send_continue,
            failed: false,
            scratch: Vec::new(),
            engine,
            state,
        }
    }

    /// A streamed chunked body of at most `max_bytes` (0: unlimited), with `buffered` read.
    pub(crate) fn chunked(
        stream: TcpStream,
        buffered: BytesMut,
        max_bytes: u64,
        send_continue: bool,
        engine: Arc<EngineShared>,
        state: Arc<ConnState>,
    ) -> Self {
        let limit = match max_bytes {
            0 => usize::MAX,
            bytes => usize::try_from(bytes).unwrap_or(usize::MAX),
        };
        Streaming {
            stream,
            buffered,
            remaining: Remaining::Chunked(ChunkedDecoder::with_body_limit(limit), BytesMut::new()),
            send_continue,
            failed: false,
            scratch: Vec::new(),
            engine,
            state,
        }
    }

    fn is_done(&self) -> bool {
        match &self.remaining {
            Remaining::Length(left) => *left == 0,
            Remaining::Chunked(decoder, data) => decoder.is_done() && data.is_empty(),
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, BodyError> {
        if buf.is_empty() || self.is_done() {
            return Ok(0);
        }
        if std::mem::take(&mut self.send_continue) {
            self.write_continue()?;
        }
        loop {
            match &mut self.remaining {
                Remaining::Length(left) => {
                    let wanted = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
                    let read = if self.buffered.is_empty() {
                        read_with_deadline(
                            &mut self.stream,
                            &mut buf[..wanted],
                            &self.engine,
                            &self.state,
                        )?
                    } else {
                        let read = wanted.min(self.buffered.len());
                        buf[..read].copy_from_slice(&self.buffered[..read]);
                        self.buffered.advance(read);
                        read
                    };
                    *left -= read as u64;
                    return Ok(read);
                }
                Remaining::Chunked(decoder, data) => {
                    if !data.is_empty() {
                        let read = data.len().min(buf.len());
                        buf[..read].copy_from_slice(&data[..read]);
                        data.advance(read);
                        return Ok(read);
                    }
                    if decoder.is_done() {
                        return Ok(0);
                    }
                    if !self.buffered.is_empty() {
                        let used =
                            decoder.decode(&self.buffered, data, &self.engine.config.limits)?;
                        self.buffered.advance(used);
                        if used > 0 {
                            continue;
                        }
                    }
                    if self.scratch.is_empty() {
                        self.scratch = vec![0; PIECE];
                    }
                    let read = read_with_deadline(
                        &mut self.stream,
                        &mut self.scratch,
                        &self.engine,
                        &self.state,
                    )?;
                    self.buffered.extend_from_slice(&self.scratch[..read]);
                }
            }
        }
    }

    /// Reads and discards the rest of the body, up to `bound` bytes of it; `Some` with what
    /// came after the body once it is done.
    pub(crate) fn drain(mut self, bound: usize) -> Option<BytesMut> {
        let mut discarded = 0usize;
        let mut sink = vec![0u8; PIECE];
        while !self.is_done() {
            if discarded >= bound {
                return None;
            }
            let wanted = sink.len().min(bound - discarded);
            match self.read(&mut sink[..wanted]) {
                Ok(0) if self.is_done() => break,
                Ok(0) | Err(_) => return None,
                Ok(read) => discarded += read,
            }
        }
        Some(self.buffered)
    }

    /// Writes `100 Continue` straight to the socket. It cannot overtake a response to an
    /// earlier pipelined request: the connection writes those before it hands the socket to a
    /// reader that is to send one.
    fn write_continue(&mut self) -> Result<(), BodyError> {
        let deadline = self.engine.now_millis() + millis(self.engine.config.write_timeout);
        self.state.set_deadline(deadline, Deadline::Write);
        let written = self.stream.write_all(CONTINUE);
        self.state.clear_deadline();
        written.map_err(|_| gone())
    }
}

/// One read from the socket within the request timeout; the end of the stream is an error
/// (the body is not complete).
fn read_with_deadline(
    stream: &mut TcpStream,
    buf: &mut [u8],
    engine: &EngineShared,
    state: &ConnState,
) -> Result<usize, BodyError> {
    let deadline = engine.now_millis() + millis(engine.config.request_timeout);
    state.set_deadline(deadline, Deadline::Read);
    let read = stream.read(buf);
    state.clear_deadline();
    match read {
        Ok(0) if state.timed_out() => Err(DecodeError::TIMED_OUT.into()),
        Ok(0) | Err(_) => Err(gone()),
        Ok(read) => Ok(read),
    }
}

pub(crate) fn gone() -> BodyError {
    BodyError::new(
        StatusCode::BAD_REQUEST,
        "the client closed before the body's end",
    )
}

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX / 2)
}
