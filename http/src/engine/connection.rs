//! One connection's loop: read a request, call the service, write the response — with
//! keep-alive, pipelining, `100 Continue`, and every limit and timeout of the engine.

use std::io::{self, Read, Write};
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::{Buf, Bytes, BytesMut};
use http::header::{self, HeaderMap};
use http::{Method, StatusCode};
use may::net::TcpStream;

use crate::engine::body_reader::{BodyError, BodyReader, Returned, Streaming, gone};
use crate::engine::incoming::{Addresses, Incoming, ReadBody, Request};
use crate::engine::lifeline::Armed;
use crate::engine::registry::{ConnState, Deadline, EngineShared, Registration};
use crate::engine::service::{BoxError, Response, Service};
use crate::engine::stack_probe::StackProbe;
use crate::engine::upgrade::{OnUpgrade, ServingMark, Upgraded};
use crate::engine::wire::body::{Body, BodyWriter, Kind};
use crate::engine::wire::decode::{
    ChunkedDecoder, DecodeError, Framing, Head, HeadInput, decode_head,
};
use crate::engine::wire::encode::{self, CONTINUE};
use crate::engine::wire::header_maps;

/// The read buffer's size while a connection is idle; it grows for larger heads and shrinks
/// back once they are consumed.
const INITIAL_READ_BUFFER: usize = 1024;
/// A read buffer grown past this shrinks back to [`INITIAL_READ_BUFFER`] as soon as what it
/// holds fits, also while the client pipelines; a smaller one only once the connection is
/// idle, so that heads of a few KiB do not make each request shrink and regrow it.
const SHRINK_ABOVE: usize = 4 * INITIAL_READ_BUFFER;
/// Bodies at least this large are written straight from the handler's bytes, not copied into
/// the output buffer.
const DIRECT_WRITE: usize = 16 * 1024;
/// The output buffer is released after a response larger than this.
const KEPT_OUTPUT_BUFFER: usize = 64 * 1024;
/// The read buffer's size while lingering after a refusal: what the client still sends is
/// read in pieces this large and discarded.
const LINGER_BUFFER: usize = 16 * 1024;

/// Received bytes not yet consumed, at the front of a buffer that reads fill in place.
///
/// `data` is initialised up to its capacity (zeroed once per allocation), so that a read can
/// fill its free tail as a plain `&mut [u8]`; `data[..end]` is unread. A request head is split
/// off the front as shared [`Bytes`] that its target and header values slice, with no copy.
/// Once the buffer is full, its consumed front is reclaimed in place when nothing split off it
/// is still alive; otherwise (a handler kept a header value, which pins the buffer it came
/// from) the unread rest moves to a fresh buffer.
struct ReadBuffer {
    data: BytesMut,
    end: usize,
    /// The size the buffer is made room in: it grows for larger heads, and goes back to
    /// [`INITIAL_READ_BUFFER`] once they are consumed.
    size: usize,
}

impl ReadBuffer {
    fn new() -> Self {
        ReadBuffer {
            data: BytesMut::zeroed(INITIAL_READ_BUFFER),
            end: 0,
            size: INITIAL_READ_BUFFER,
        }
    }

    /// No memory at all, for a connection that reads no more requests (handed over to an
    /// upgrade's callback).
    fn released() -> Self {
        ReadBuffer {
            data: BytesMut::new(),
            end: 0,
            size: INITIAL_READ_BUFFER,
        }
    }

    fn filled(&self) -> &[u8] {
        &self.data[..self.end]
    }

    fn is_empty(&self) -> bool {
        self.end == 0
    }

    fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end);
        self.data.advance(n);
        self.end -= n;
    }

    /// Moves up to `n` unread bytes out.
    fn take(&mut self, n: usize) -> BytesMut {
        let n = n.min(self.end);
        self.end -= n;
        self.data.split_to(n)
    }

    /// Moves every unread byte out.
    fn take_all(&mut self) -> BytesMut {
        self.take(self.end)
    }

    /// Reads once from `source`, first making room if the buffer is full: growing it up to
    /// `limit` bytes when what is unread fills its whole size.
    fn read_from(&mut self, source: &mut impl Read, limit: usize) -> io::Result<usize> {
        if self.size > SHRINK_ABOVE && self.end < INITIAL_READ_BUFFER {
            // What grew the buffer has been consumed and the rest fits the initial size:
            // back to it now, not only once the connection is idle — a client that keeps
            // pipelining would otherwise keep a large head's buffer for good.
            self.shrink();
        } else if self.end == self.data.len() {
            if self.end >= self.size {
                self.size = (self.size * 2).min(limit.max(self.size + 1));
            }
            self.make_room();
        } else if self.end == 0 && self.data.len() < self.size / 2 {
            // Empty, but what was taken off its front has shrunk it: back to its whole size
            // (in place, nothing to copy), or a batch of pipelined requests that would have
            // fitted would take two reads.
            self.make_room();
        }
        let n = source.read(&mut self.data[self.end..])?;
        self.end += n;
        Ok(n)
    }

    /// Makes the buffer `size` bytes long again, keeping what is unread at its front.
    fn make_room(&mut self) {
        self.data.truncate(self.end);
        if !self.data.try_reclaim(self.size - self.end) {
            let mut fresh = BytesMut::with_capacity(self.size);
            fresh.extend_from_slice(&self.data);
            self.data = fresh;
        }
        self.data.resize(self.data.capacity(), 0);
    }

    /// Goes back to [`INITIAL_READ_BUFFER`], keeping what is unread (which must fit), in
    /// fresh memory: reclaiming the old buffer in place would keep its large allocation.
    fn shrink(&mut self) {
        debug_assert!(self.end <= INITIAL_READ_BUFFER);
        self.size = INITIAL_READ_BUFFER;
        let mut fresh = BytesMut::with_capacity(INITIAL_READ_BUFFER);
        fresh.extend_from_slice(self.filled());
        fresh.resize(INITIAL_READ_BUFFER, 0);
        self.data = fresh;
    }

    /// Puts `bytes` back in front of what is unread (what a streamed body's reader read past
    /// the body's end).
    fn put_back(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.size = self.size.max(bytes.len() + self.end);
        let mut data = BytesMut::with_capacity(self.size);
        data.extend_from_slice(bytes);
        data.extend_from_slice(self.filled());
        self.end = data.len();
        data.resize(data.capacity(), 0);
        self.data = data;
    }

    /// The whole buffer as scratch space, at least `len` bytes long, discarding what is
    /// unread.
    fn scratch(&mut self, len: usize) -> &mut [u8] {
        self.end = 0;
        if self.data.len() < len {
            self.data = BytesMut::zeroed(len);
        }
        &mut self.data[..]
    }

    /// Gives back memory a large request needed, once nothing is buffered.
    fn shrink_when_empty(&mut self) {
        if self.is_empty() && self.size > INITIAL_READ_BUFFER {
            self.shrink();
        }
    }
}

impl HeadInput for ReadBuffer {
    fn unread(&self) -> &[u8] {
        self.filled()
    }

    fn take_shared(&mut self, length: usize) -> Bytes {
        self.take(length).freeze()
    }
}

/// A response's header map while its head and body are written; recycled when dropped.
struct Recycled(HeaderMap);

impl Drop for Recycled {
    fn drop(&mut self) {
        header_maps::recycle(std::mem::take(&mut self.0));
    }
}

/// A request as `Connection::next_request` hands it to `serve_one`.
struct Arrived {
    /// The request, lent to the service through its `Incoming`.
    request: Option<Request>,
    /// The head's bytes as received.
    raw_head: Bytes,
    /// Kept for the response (no body for `HEAD`).
    method: Method,
    version: http::Version,
    /// Whether the head lets the connection serve another request.
    keep_alive: bool,
}

/// Why a connection loop ends early.
enum Stop {
    /// The client closed, timed out between requests, or the socket failed: nothing more can
    /// be said to it.
    Gone,
    /// The request was refused (also one that timed out part way): answer with this status,
    /// then close after a lingering close.
    Refuse(DecodeError),
}

impl Stop {
    /// Why a read of a request begun returned end-of-stream: the client closed, or the
    /// request timed out (the timer thread shut the read side down) and gets a `408`.
    fn ended(state: &ConnState) -> Self {
        if state.timed_out() {
            Stop::Refuse(DecodeError::TIMED_OUT)
        } else {
            Stop::Gone
        }
    }
}

impl From<io::Error> for Stop {
    fn from(_: io::Error) -> Self {
        Stop::Gone
    }
}

pub(crate) struct Connection {
    // Declared first, so dropped first — also when unwinding: the connection leaves the
    // engine's registry before its socket closes (see `ConnState::fd`).
    registration: Registration,
    stream: TcpStream,
    /// The client's end of the socket and ours, handed to each request.
    addresses: Addresses,
    shared: Arc<EngineShared>,
    state: Arc<ConnState>,
    input: ReadBuffer,
    output: Vec<u8>,
    /// The scopes of requests whose responses wait in `output` (pipelined, sent in one batch):
    /// each ends — its defers run — once its response has been written.
    unsent: Vec<runtime::OpenScope>,
    /// A streamed body was left unread: the close after the response lingers, so that the
    /// client reads the response instead of a reset.
    unread_body: bool,
    /// The body of the request being served, as the service has read it so far.
    body: RequestBody,
    /// Set once a `101` response carrying an [`OnUpgrade`] is written: the connection then
    /// hands its socket over to it instead of serving another request.
    upgrade: Option<OnUpgrade>,
}

/// Where the body of the request being served is: the service reads it through its
/// [`Incoming`] ([`ReadBody`]), and the connection settles the rest after the call.
enum RequestBody {
    /// Not read (yet).
    Unread {
        framing: Framing,
        expect_continue: bool,
    },
    /// Read whole, or none to read.
    Taken,
    /// Handed to a reader.
    Streamed(BodyReader),
    /// Reading it failed: the connection answers with this and closes.
    Failed(Stop),
}

impl Connection {
    pub(crate) fn new(
        registration: Registration,
        stream: TcpStream,
        peer: SocketAddr,
        shared: Arc<EngineShared>,
        state: Arc<ConnState>,
    ) -> Self {
        // Asked of the socket (one system call per connection, in its own coroutine rather
        // than the accept loop): a listener on `0.0.0.0` does not know which of the host's
        // addresses a client reached.
        let local = stream.local_addr().unwrap_or(peer);
        Connection {
            registration,
            stream,
            addresses: Addresses { peer, local },
            shared,
            state,
            input: ReadBuffer::new(),
            output: Vec::new(),
            unsent: Vec::new(),
            unread_body: false,
            body: RequestBody::Taken,
            upgrade: None,
        }
    }

    /// Serves requests until the client leaves, a request is refused, or the engine stops;
    /// then looks how deep the connection's stack went (`stack_probe`): a coroutine that went
    /// deep ends rather than be reused with those pages resident.
    pub(crate) fn serve(self: Box<Self>, service: &dyn Service) {
        let entry = 0u8;
        let probe = StackProbe::for_current(std::ptr::addr_of!(entry) as usize);
        let shared = Arc::clone(&self.shared);
        let armed = Armed::arm(&shared, self.registration.id(), self.stream.as_raw_fd());
        let serving = ServingMark::enter(&shared, &self.state);
        self.serve_until_closed(service);
        drop(serving);
        drop(armed);
        let Some(probe) = probe else { return };
        let deepest = probe.deepest_written();
        shared.stack_high_water.record(deepest);
        if probe.is_deep(deepest) {
            runtime::retire_coroutine();
        }
        if probe.is_near_full(deepest) {
            log::warn!(
                "a connection's coroutine wrote {} KiB or more into its {} KiB stack: raise \
                 EngineConfig::stack_size before a deeper request overflows it",
                deepest / 1024,
                probe.stack_size() / 1024
            );
        }
    }

    fn serve_until_closed(mut self: Box<Self>, service: &dyn Service) {
        let mut first = true;
        loop {
            match self.serve_one(service, first) {
                Ok(true) => first = false,
                Ok(false) | Err(Stop::Gone) => break,
                Err(Stop::Refuse(error)) => {
                    log::debug!("request refused: {error}");
                    let date = self.shared.date.get();
                    encode::write_simple(&mut self.output, error.status, true, &date);
                    if self.flush().is_ok()
                        && self.stream.shutdown(std::net::Shutdown::Write).is_ok()
                    {
                        self.linger();
                    }
                    return;
                }
            }
        }
        let flushed = self.flush().is_ok();
        if let Some(upgrade) = self.upgrade.take() {
            if flushed {
                self.hand_over(upgrade);
            }
            let _ = self.stream.shutdown(std::net::Shutdown::Both);
            return;
        }
        let shut = self.stream.shutdown(std::net::Shutdown::Write).is_ok();
        if self.unread_body && flushed && shut {
            self.linger();
        }
    }

    /// After a `101` with an [`OnUpgrade`]: the socket, with what the client sent past the
    /// request head, goes to the callback, on this coroutine. The request deadlines are
    /// disarmed first (the timer thread must not end the new protocol's reads as a request
    /// timing out), and the connection is not idle, so a stop does not shut its read side
    /// down: the callback learns of it through [`Upgraded::is_stopping`].
    fn hand_over(&mut self, upgrade: OnUpgrade) {
        self.state.clear_deadline();
        self.state.idle.store(false, Ordering::SeqCst);
        let stream = match self.stream.try_clone() {
            Ok(stream) => stream,
            Err(error) => {
                log::debug!("upgraded socket not handed over: {error}");
                return;
            }
        };
        // The callback may hold the socket for hours: what served HTTP is given back first,
        // so that an idle upgraded connection keeps only its protocol's own state. What the
        // client sent past the head is copied out: a slice of the read buffer would keep the
        // whole buffer alive.
        let unread = BytesMut::from(self.input.filled());
        self.input = ReadBuffer::released();
        self.output = Vec::new();
        self.unsent = Vec::new();
        let socket = Upgraded::new(
            stream,
            unread,
            self.addresses.peer,
            Arc::clone(&self.shared),
            Arc::clone(&self.state),
        );
        match catch_unwind(AssertUnwindSafe(|| runtime::scope(|| upgrade.run(socket)))) {
            Ok(()) => {}
            Err(payload) if runtime::is_cancelled(&payload) => resume_unwind(payload),
            Err(payload) => log::error!(
                "an upgraded connection's handler panicked: {}",
                runtime::panic_message(&payload)
            ),
        }
    }

    /// The lingering close after a refusal, once the answer is written and the sending side
    /// shut down: reads and discards what the client still sends, until it closes, for at
    /// most the linger's time and bytes. Closing with unread input would make the kernel
    /// reset the connection, which can destroy the answer before the client has read it.
    ///
    /// Bounded: the timer thread shuts the read side down at the linger's deadline (from then
    /// on reads return what is already buffered, then end-of-stream; the kernel resets a
    /// connection shut down both ways when more arrives), and the bytes are counted. Marked
    /// idle, so that a stopping engine shuts the read side down at its next tick too.
    fn linger(&mut self) {
        let config = &self.shared.config;
        let mut left = config.linger_bytes;
        if left == 0 || config.linger_timeout.is_zero() {
            return;
        }
        self.state.idle.store(true, Ordering::SeqCst);
        self.extend_deadline(config.linger_timeout, Deadline::Read);
        let buffer = self.input.scratch(LINGER_BUFFER);
        while left > 0
            && self.state.deadline_pending()
            && !self.state.winding_down(&self.shared.stopping)
        {
            let wanted = left.min(buffer.len());
            match self.stream.read(&mut buffer[..wanted]) {
                Ok(0) | Err(_) => break,
                Ok(read) => left -= read,
            }
        }
        self.state.clear_deadline();
    }

    /// One request and its response; `Ok(true)` when the connection can serve another.
    fn serve_one(&mut self, service: &dyn Service, first: bool) -> Result<bool, Stop> {
        let Arrived {
            mut request,
            raw_head,
            method,
            version,
            mut keep_alive,
        } = match self.next_request(first) {
            Ok(Some(arrived)) => arrived,
            Ok(None) => return Ok(false),
            Err(stop) => return Err(stop),
        };
        self.state.clear_deadline();
        // Each request lives as a coroutine of its own (id, context, defers) that ends once its
        // response has been written to the socket — for a pipelined request, once the batch
        // holding its response has been.
        let (written, scope) = runtime::scope_open(|| {
            let response = self.call_service(service, &mut request, &raw_head);
            keep_alive &= self.settle_body()?;
            self.shared.requests.fetch_add(1, Ordering::Relaxed);
            // Winding down or draining: requests the client has already sent are still
            // answered — those buffered here and those waiting in the socket — then the
            // connection closes.
            keep_alive &= !((self.state.winding_down(&self.shared.stopping)
                || self.shared.draining.load(Ordering::Relaxed))
                && self.input.is_empty()
                && !self.socket_has_input());
            keep_alive &= !asks_to_close(response.headers());
            self.write_response(response, &method, version, keep_alive)
        });
        self.unsent.push(scope);
        let keep_alive = written?;
        // Pipelined responses are batched while more requests are buffered, but only up to
        // the bound: a client that pipelines many requests and never reads would otherwise
        // make the connection hold every response (tens of megabytes) instead of blocking on
        // the socket, where the write timeout bounds it.
        if !keep_alive
            || self.input.is_empty()
            || self.output.len() > self.shared.config.max_buffered_output
        {
            self.flush()?;
        }
        Ok(keep_alive)
    }

    /// The next request, its head read and made a [`Request`]; `None` when the client left
    /// (or timed out) between requests. Out of line, so that the decoded head and the request
    /// made of it are not both in `serve_one`'s frame while the service runs below it (every
    /// connection's deepest stack stays resident while it is idle).
    #[inline(never)]
    fn next_request(&mut self, first: bool) -> Result<Option<Arrived>, Stop> {
        // Matched rather than `?`, as in `read_head`: one copy of the head fewer.
        let head = match self.read_head(first) {
            Ok(Some(head)) => head,
            Ok(None) => return Ok(None),
            Err(stop) => return Err(stop),
        };
        // The service reads the body, as it decides (`Incoming::read_body`).
        self.body = RequestBody::Unread {
            framing: head.framing,
            expect_continue: head.expect_continue,
        };
        let (method, version, keep_alive) = (head.method.clone(), head.version, head.keep_alive);
        // Held in an `Option` that the scope's closure borrows, not owned by the closure: the
        // scope moves its closure (into its `catch_unwind`), and a closure holding the
        // ~250-byte request cost a copy of it each time.
        let (request, raw_head) = into_request(head);
        Ok(Some(Arrived {
            request,
            raw_head,
            method,
            version,
            keep_alive,
        }))
    }

    /// Reads until a complete head is buffered; `None` when the client left (or timed out)
    /// between requests.
    fn read_head(&mut self, first: bool) -> Result<Option<Head>, Stop> {
        let shared = Arc::clone(&self.shared);
        let limits = &shared.config.limits;
        let mut started_at: Option<u64> = None;
        loop {
            if !self.input.is_empty() {
                // Matched rather than `map_err(..)?`: that built the ~230-byte head into a
                // temporary result and copied it out once more.
                match decode_head(&mut self.input, limits) {
                    Ok(Some(head)) => {
                        self.state.idle.store(false, Ordering::SeqCst);
                        return Ok(Some(head));
                    }
                    Ok(None) => {}
                    Err(refused) => return Err(Stop::Refuse(refused)),
                }
            }
            // About to block: what is answered so far goes out first (pipelined responses).
            self.flush()?;
            let now = self.shared.now_millis();
            // Nothing of a request yet (also on a new connection): a stopping engine closes it.
            let idle = self.input.is_empty();
            self.state.idle.store(idle, Ordering::SeqCst);
            if idle {
                // Even when winding down, read on: a request the client sent before the stop
                // may be waiting in the socket. The timer thread shuts the read side down,
                // after which the socket yields that request or end-of-stream.
                self.input.shrink_when_empty();
            }
            let deadline = if idle && !first {
                now + millis(self.shared.config.keep_alive_timeout)
            } else {
                // The head's time counts from its first byte (or the connection's start).
                *started_at.get_or_insert(now) + millis(self.shared.config.request_timeout)
            };
            self.state.set_deadline(deadline, Deadline::Read);
            let limit = limits.max_head_bytes + 1;
            let read = self.input.read_from(&mut self.stream, limit)?;
            if read == 0 {
                // Closed by the client, or its read side by the timer thread at the deadline:
                // between requests, without a word; part way through a head, with a `408`.
                return if idle {
                    Ok(None)
                } else {
                    Err(Stop::ended(&self.state))
                };
            }
        }
    }

    /// Once the service has returned: what is left of the request's body is settled —
    /// taken back from its reader, or read and discarded if the service never read it.
    /// Whether the connection can serve another request; the refusal if reading the body
    /// failed.
    fn settle_body(&mut self) -> Result<bool, Stop> {
        match std::mem::replace(&mut self.body, RequestBody::Taken) {
            RequestBody::Taken
            | RequestBody::Unread {
                framing: Framing::Empty,
                ..
            } => Ok(true),
            RequestBody::Streamed(reader) => Ok(self.take_body_back(&reader)),
            RequestBody::Unread {
                framing,
                expect_continue,
            } => {
                let reader = self.stream_body(framing, expect_continue, 0)?;
                Ok(self.take_body_back(&reader))
            }
            RequestBody::Failed(stop) => Err(stop),
        }
    }

    /// Hands a body framed as `framing` to a [`BodyReader`] (after checking its length
    /// against `max_bytes`, 0 for no limit): the handler reads it as it arrives.
    fn stream_body(
        &mut self,
        framing: Framing,
        expect_continue: bool,
        max_bytes: u64,
    ) -> Result<BodyReader, Stop> {
        let stream = self.stream.try_clone()?;
        let engine = Arc::clone(&self.shared);
        let state = Arc::clone(&self.state);
        let streaming = match framing {
            Framing::Empty => {
                Streaming::with_length(stream, BytesMut::new(), 0, false, engine, state)
            }
            Framing::Length(length) => {
                if max_bytes != 0 && length > max_bytes {
                    return Err(Stop::Refuse(DecodeError::BODY_TOO_LARGE));
                }
                let wanted = usize::try_from(length).unwrap_or(usize::MAX);
                let buffered = self.input.take(wanted);
                let send_continue = expect_continue && (buffered.len() as u64) < length;
                self.flush_before_continue(send_continue)?;
                Streaming::with_length(stream, buffered, length, send_continue, engine, state)
            }
            Framing::Chunked => {
                // The chunked framing says where the body ends only as it is decoded: the
                // reader takes everything buffered and gives back what follows the body.
                let buffered = self.input.take_all();
                let send_continue = expect_continue && buffered.is_empty();
                self.flush_before_continue(send_continue)?;
                Streaming::chunked(stream, buffered, max_bytes, send_continue, engine, state)
            }
        };
        Ok(BodyReader::new(streaming))
    }

    /// Writes the responses to earlier pipelined requests before a streamed body's reader may
    /// send `100 Continue`: the reader writes it straight to the socket, and an interim
    /// response must not overtake a final response to an earlier request.
    fn flush_before_continue(&mut self, send_continue: bool) -> Result<(), Stop> {
        if send_continue && !self.output.is_empty() {
            self.flush()?;
        }
        Ok(())
    }

    /// Takes a streamed body back from its reader once the handler has returned; whether the
    /// connection can serve another request.
    fn take_body_back(&mut self, reader: &BodyReader) -> bool {
        let after = match reader.take_back() {
            Returned::Finished(after) => Some(after),
            Returned::Unfinished(streaming) => streaming.drain(self.shared.config.drain_bytes),
            Returned::Lost => None,
        };
        self.state.clear_deadline();
        match after {
            Some(after) => {
                self.input.put_back(&after);
                true
            }
            None => {
                self.unread_body = true;
                false
            }
        }
    }

    fn read_body(&mut self, framing: Framing, expect_continue: bool) -> Result<Bytes, Stop> {
        match framing {
            Framing::Empty => Ok(Bytes::new()),
            Framing::Length(length) => {
                if length > self.shared.config.limits.max_body_bytes as u64 {
                    return Err(Stop::Refuse(DecodeError::BODY_TOO_LARGE));
                }
                let length = usize::try_from(length).map_err(|_| Stop::Gone)?;
                let buffered = self.input.take(length);
                if buffered.len() == length {
                    // Received with the head: shared with the read buffer, not copied.
                    return Ok(buffered.freeze());
                }
                // Zeroed once; reads then fill it in place.
                let mut body = vec![0; length];
                let mut filled = buffered.len();
                body[..filled].copy_from_slice(&buffered);
                if filled < length && expect_continue {
                    self.send_continue()?;
                }
                while filled < length {
                    self.extend_deadline(self.shared.config.request_timeout, Deadline::Read);
                    let read = self.stream.read(&mut body[filled..])?;
                    if read == 0 {
                        return Err(Stop::ended(&self.state));
                    }
                    filled += read;
                }
                Ok(Bytes::from(body))
            }
            Framing::Chunked => {
                let shared = Arc::clone(&self.shared);
                let limits = &shared.config.limits;
                let mut decoder = ChunkedDecoder::new();
                let mut body = BytesMut::new();
                let mut asked_to_continue = !expect_continue;
                loop {
                    let used = decoder
                        .decode(self.input.filled(), &mut body, limits)
                        .map_err(Stop::Refuse)?;
                    self.input.consume(used);
                    if decoder.is_done() {
                        return Ok(body.freeze());
                    }
                    if !asked_to_continue {
                        self.send_continue()?;
                        asked_to_continue = true;
                    }
                    self.extend_deadline(self.shared.config.request_timeout, Deadline::Read);
                    let limit = INITIAL_READ_BUFFER.max(limits.max_head_bytes + 1);
                    if self.input.read_from(&mut self.stream, limit)? == 0 {
                        return Err(Stop::ended(&self.state));
                    }
                }
            }
        }
    }

    /// Whether bytes from the client wait in the socket, unread. Never blocks: may's sockets
    /// are non-blocking underneath (may parks the coroutine itself on `WouldBlock`).
    fn socket_has_input(&self) -> bool {
        // SAFETY: the descriptor is this connection's socket, open as long as `self.stream`,
        // and only borrowed for this call.
        let fd = unsafe { BorrowedFd::borrow_raw(self.stream.as_raw_fd()) };
        let mut byte = [MaybeUninit::<u8>::uninit(); 1];
        matches!(socket2::SockRef::from(&fd).peek(&mut byte), Ok(n) if n > 0)
    }

    fn send_continue(&mut self) -> Result<(), Stop> {
        // Behind the responses to earlier pipelined requests, in the same output.
        self.output.extend_from_slice(CONTINUE);
        self.flush()
    }

    /// Calls the service with the request in `request` (taken out of it), turning an error or
    /// a panic into a `500`.
    fn call_service(
        &mut self,
        service: &dyn Service,
        request: &mut Option<Request>,
        head: &Bytes,
    ) -> Response {
        // Borrowed by the closure, as in `serve_one`: `catch_unwind` moves its closure, and one
        // owning the request copied it each time.
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let addresses = self.addresses;
            service.call(Incoming::on_connection(request, head, addresses, self))
        }));
        match outcome {
            Ok(Ok(response)) => response,
            failed => internal_error(failed),
        }
    }

    fn write_response(
        &mut self,
        response: Response,
        method: &Method,
        version: http::Version,
        keep_alive: bool,
    ) -> Result<bool, Stop> {
        let (mut parts, body) = response.into_parts();
        // Back to the pool once written, for the next request's head.
        let headers = Recycled(std::mem::take(&mut parts.headers));
        let sends_body = *method != Method::HEAD && !encode::status_has_no_body(parts.status);
        let no_body = encode::status_has_no_body(parts.status);
        let date = self.shared.date.get();
        // Only a request whose body was settled, on HTTP/1.1, is upgraded: otherwise the
        // bytes after the head are not the new protocol's.
        if parts.status == StatusCode::SWITCHING_PROTOCOLS
            && version == http::Version::HTTP_11
            && !self.unread_body
        {
            if let Some(upgrade) = parts.extensions.remove::<OnUpgrade>() {
                encode::write_head(
                    &mut self.output,
                    parts.status,
                    &headers.0,
                    encode::Framing::NoBody,
                    encode::Persistence::Upgrade,
                    &date,
                );
                self.upgrade = Some(upgrade);
                return Ok(false);
            }
        }
        match body.kind {
            Kind::Empty | Kind::Full(_) => {
                let bytes = match body.kind {
                    Kind::Full(bytes) => bytes,
                    _ => Bytes::new(),
                };
                let framing = if no_body {
                    encode::Framing::NoBody
                } else {
                    encode::Framing::Length(bytes.len())
                };
                encode::write_head(
                    &mut self.output,
                    parts.status,
                    &headers.0,
                    framing,
                    encode::Persistence::of(version, keep_alive),
                    &date,
                );
                if sends_body {
                    if bytes.len() >= DIRECT_WRITE {
                        self.flush()?;
                        self.write_all(&bytes)?;
                    } else {
                        self.output.extend_from_slice(&bytes);
                    }
                }
                Ok(keep_alive)
            }
            Kind::Stream(writer) => {
                let chunked = encode::can_chunk(version);
                // Without chunked framing, the end of the body is the end of the connection.
                let keep_alive = keep_alive && chunked;
                let framing = match (no_body, chunked) {
                    (true, _) => encode::Framing::NoBody,
                    (false, true) => encode::Framing::Chunked,
                    (false, false) => encode::Framing::UntilClose,
                };
                encode::write_head(
                    &mut self.output,
                    parts.status,
                    &headers.0,
                    framing,
                    encode::Persistence::of(version, keep_alive),
                    &date,
                );
                self.flush()?;
                if !sends_body {
                    return Ok(keep_alive);
                }
                let mut socket = TimedWrites {
                    stream: &mut self.stream,
                    shared: &self.shared,
                    state: &self.state,
                };
                let mut out = BodyWriter {
                    out: &mut socket,
                    chunked,
                    written: 0,
                };
                match catch_unwind(AssertUnwindSafe(|| writer(&mut out))) {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => {
                        log::debug!("streamed body ended early: {error}");
                        return Ok(false);
                    }
                    Err(payload) if runtime::is_cancelled(&payload) => resume_unwind(payload),
                    Err(payload) => {
                        // The head is out: all that can be done is to cut the body short.
                        log::error!("body stream panicked: {}", runtime::panic_message(&payload));
                        return Ok(false);
                    }
                }
                if chunked {
                    self.output.extend_from_slice(b"0\r\n\r\n");
                }
                Ok(keep_alive)
            }
        }
    }

    fn extend_deadline(&self, by: std::time::Duration, kind: Deadline) {
        let deadline = self.shared.now_millis() + millis(by);
        self.state.set_deadline(deadline, kind);
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        self.extend_deadline(self.shared.config.write_timeout, Deadline::Write);
        self.stream.write_all(bytes)?;
        self.state.clear_deadline();
        Ok(())
    }

    /// Writes what is buffered, then ends the scopes of the requests it answered.
    fn flush(&mut self) -> Result<(), Stop> {
        let mut written = Ok(());
        if !self.output.is_empty() {
            let output = std::mem::take(&mut self.output);
            written = self.write_all(&output);
            self.output = output;
            self.output.clear();
            if self.output.capacity() > KEPT_OUTPUT_BUFFER {
                self.output = Vec::new();
            }
        }
        // Their responses are on the wire (or the client is gone): the requests end now.
        for scope in self.unsent.drain(..) {
            scope.end();
        }
        written
    }
}

/// The service reads the body through the connection: how it does is recorded for
/// `settle_body`, a failure included.
impl ReadBody for Connection {
    fn read_whole(&mut self) -> Result<Bytes, BodyError> {
        let (framing, expect_continue) = self.unread_body()?;
        let read = self.read_body(framing, expect_continue);
        self.state.clear_deadline();
        match read {
            Ok(body) => {
                self.body = RequestBody::Taken;
                Ok(body)
            }
            Err(stop) => Err(self.failed(stop)),
        }
    }

    fn read_streamed(&mut self, max_bytes: u64) -> Result<BodyReader, BodyError> {
        let (framing, expect_continue) = self.unread_body()?;
        match self.stream_body(framing, expect_continue, max_bytes) {
            Ok(reader) => {
                self.body = RequestBody::Streamed(reader.clone());
                Ok(reader)
            }
            Err(stop) => Err(self.failed(stop)),
        }
    }
}

impl Connection {
    /// How the body still to be read is framed; an error if it was read already (an
    /// `Incoming` is consumed by its read, so only a service holding on to the connection
    /// another way could ask twice).
    fn unread_body(&self) -> Result<(Framing, bool), BodyError> {
        match self.body {
            RequestBody::Unread {
                framing,
                expect_continue,
            } => Ok((framing, expect_continue)),
            _ => Err(BodyError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the body was read already",
            )),
        }
    }

    /// Records that reading the body failed with `stop`, and what the service is told.
    fn failed(&mut self, stop: Stop) -> BodyError {
        let error = match &stop {
            Stop::Refuse(refused) => BodyError::from(*refused),
            Stop::Gone => gone(),
        };
        self.body = RequestBody::Failed(stop);
        error
    }
}

/// The `500` of a service that failed or panicked (logged here). Out of line, and `cold`: its
/// locals stay out of `call_service`'s frame, which is part of every connection's deepest
/// stack.
#[cold]
#[inline(never)]
fn internal_error(failed: std::thread::Result<Result<Response, BoxError>>) -> Response {
    match failed {
        Ok(Ok(response)) => return response,
        Ok(Err(error)) => log::error!("handler failed: {error}"),
        // A cancellation must go on unwinding the coroutine.
        Err(payload) if runtime::is_cancelled(&payload) => resume_unwind(payload),
        Err(payload) => log::error!("handler panicked: {}", runtime::panic_message(&payload)),
    }
    let mut response = Response::new(Body::from("Internal Server Error"));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The socket as a streamed body writes to it: each write may stall for the write timeout at
/// most, while the pauses between writes (the handler producing its data) are not bounded.
struct TimedWrites<'a> {
    stream: &'a mut TcpStream,
    shared: &'a EngineShared,
    state: &'a ConnState,
}

impl Write for TimedWrites<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let deadline = self.shared.now_millis() + millis(self.shared.config.write_timeout);
        self.state.set_deadline(deadline, Deadline::Write);
        let written = self.stream.write(data);
        self.state.clear_deadline();
        written
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX / 2)
}

/// The request of `head`, its body not read yet (in an `Option`, for `serve_one`), and the
/// head's bytes.
fn into_request(head: Head) -> (Option<Request>, Bytes) {
    let mut request = Request::new(Bytes::new());
    *request.method_mut() = head.method;
    *request.uri_mut() = head.uri;
    *request.version_mut() = head.version;
    *request.headers_mut() = head.headers;
    (Some(request), head.raw)
}

/// Whether the handler's response asks for the connection to close.
fn asks_to_close(headers: &HeaderMap) -> bool {
    headers.get_all(header::CONNECTION).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|option| option.trim_ascii().eq_ignore_ascii_case(b"close"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `bytes` into `buffer` until all of them are in.
    fn fill(buffer: &mut ReadBuffer, mut bytes: &[u8], limit: usize) {
        while !bytes.is_empty() {
            buffer.read_from(&mut bytes, limit).unwrap();
        }
    }

    #[test]
    fn a_head_taken_off_the_buffer_keeps_its_bytes_while_the_buffer_refills() {
        let mut buffer = ReadBuffer::new();
        fill(
            &mut buffer,
            &[b'a'; INITIAL_READ_BUFFER],
            INITIAL_READ_BUFFER,
        );
        let head = buffer.take_shared(100);
        fill(&mut buffer, &[b'b'; 100], INITIAL_READ_BUFFER);
        assert_eq!(&head[..], &[b'a'; 100][..]);
        assert_eq!(buffer.filled().len(), INITIAL_READ_BUFFER);
        assert!(
            buffer.filled()[..INITIAL_READ_BUFFER - 100]
                .iter()
                .all(|&b| b == b'a')
        );
        assert!(
            buffer.filled()[INITIAL_READ_BUFFER - 100..]
                .iter()
                .all(|&b| b == b'b')
        );
    }

    #[test]
    fn a_full_buffer_reuses_its_memory_once_nothing_taken_off_it_is_alive() {
        let mut buffer = ReadBuffer::new();
        let start = buffer.data.as_ptr();
        fill(
            &mut buffer,
            &[b'a'; INITIAL_READ_BUFFER],
            INITIAL_READ_BUFFER,
        );
        drop(buffer.take_shared(INITIAL_READ_BUFFER - 10));
        fill(&mut buffer, b"b", INITIAL_READ_BUFFER);
        assert_eq!(buffer.data.as_ptr(), start);
        assert_eq!(buffer.filled(), b"aaaaaaaaaab");
    }

    #[test]
    fn an_empty_buffer_shrunk_by_what_was_taken_reads_into_its_whole_size_again() {
        let mut buffer = ReadBuffer::new();
        let start = buffer.data.as_ptr();
        fill(&mut buffer, &[b'a'; 600], INITIAL_READ_BUFFER);
        drop(buffer.take_shared(600));
        // What a read may fill now is all of it, in the same memory.
        let mut batch: &[u8] = &[b'b'; INITIAL_READ_BUFFER];
        assert_eq!(
            buffer.read_from(&mut batch, INITIAL_READ_BUFFER).unwrap(),
            INITIAL_READ_BUFFER
        );
        assert_eq!(buffer.data.as_ptr(), start);
    }

    #[test]
    fn a_buffer_full_of_unread_bytes_grows_up_to_the_limit() {
        let mut buffer = ReadBuffer::new();
        let limit = INITIAL_READ_BUFFER + 500;
        fill(&mut buffer, &[b'a'; INITIAL_READ_BUFFER + 100], limit);
        assert_eq!(buffer.data.len(), limit);
        fill(&mut buffer, &[b'a'; 400], limit);
        assert_eq!(buffer.filled().len(), limit);
        let mut more: &[u8] = b"more";
        buffer.read_from(&mut more, limit).unwrap();
        assert_eq!(buffer.filled().len(), limit + 1);
    }

    #[test]
    fn a_drained_buffer_shrinks_back_to_its_initial_size() {
        let mut buffer = ReadBuffer::new();
        fill(&mut buffer, &[b'a'; 3000], 4000);
        assert!(buffer.data.len() > INITIAL_READ_BUFFER);
        buffer.consume(3000);
        buffer.shrink_when_empty();
        assert_eq!(buffer.data.len(), INITIAL_READ_BUFFER);
    }

    /// A buffer grown to 4,000 bytes by a 2,500-byte head, which is taken off it, and
    /// `after` (at most 1,500 bytes) left unread.
    fn grown_by_a_large_head(after: &[u8]) -> (ReadBuffer, Bytes) {
        let mut buffer = ReadBuffer::new();
        fill(&mut buffer, &[b'h'; 6000], 8000);
        fill(&mut buffer, after, 8000);
        assert_eq!(buffer.data.len(), 8000);
        // Kept alive, as a handler keeping a header value keeps it.
        let head = buffer.take_shared(6000);
        (buffer, head)
    }

    #[test]
    fn a_buffer_grown_by_a_head_of_a_few_kib_keeps_its_size_while_requests_keep_coming() {
        let mut buffer = ReadBuffer::new();
        fill(&mut buffer, &[b'h'; 1500], 8000);
        drop(buffer.take_shared(1500));
        let grown = buffer.size;
        fill(&mut buffer, b"GET /b", 8000);
        // No shrink and regrow for every request of a client whose heads are 1.5 KiB.
        assert_eq!(buffer.size, grown);
    }

    #[test]
    fn a_grown_buffer_shrinks_once_the_unread_rest_fits_while_requests_keep_coming() {
        let (mut buffer, _head) = grown_by_a_large_head(b"GET /a HTTP/1.1\r\n");
        // The next request's rest arrives: the buffer is not empty at any point.
        fill(&mut buffer, b"\r\nGET /b", 8000);
        assert_eq!(buffer.filled(), b"GET /a HTTP/1.1\r\n\r\nGET /b");
        assert_eq!(buffer.size, INITIAL_READ_BUFFER);
        assert_eq!(buffer.data.len(), INITIAL_READ_BUFFER);
        // Fresh memory, not the large allocation reclaimed.
        assert_eq!(buffer.data.capacity(), INITIAL_READ_BUFFER);
    }

    #[test]
    fn a_grown_buffer_stays_grown_while_its_unread_bytes_do_not_fit_the_initial_size() {
        let (mut buffer, _head) = grown_by_a_large_head(&[b'n'; 1500]);
        drop(buffer.take_shared(10));
        fill(&mut buffer, &[b'n'; 100], 8000);
        // 1,590 bytes unread: more than the initial size holds.
        assert_eq!(buffer.filled().len(), 1590);
        assert_eq!(buffer.size, 8000);
        // Once the unread rest fits, the next read shrinks it.
        drop(buffer.take_shared(1000));
        fill(&mut buffer, b"x", 8000);
        assert_eq!(buffer.filled().len(), 591);
        assert_eq!(buffer.data.len(), INITIAL_READ_BUFFER);
    }

    #[test]
    fn a_head_larger_than_the_initial_size_still_grows_the_buffer_after_a_shrink() {
        let (mut buffer, _head) = grown_by_a_large_head(b"");
        fill(&mut buffer, &[b'a'; 2500], 8000);
        assert_eq!(buffer.filled(), &[b'a'; 2500][..]);
        assert!(buffer.size >= 2500);
    }

    #[test]
    fn bytes_put_back_come_before_what_is_unread() {
        let mut buffer = ReadBuffer::new();
        fill(&mut buffer, b"GET / HTTP/1.1\r\n", INITIAL_READ_BUFFER);
        buffer.put_back(b"back");
        assert_eq!(buffer.filled(), b"backGET / HTTP/1.1\r\n");
        fill(&mut buffer, b"more", INITIAL_READ_BUFFER);
        assert_eq!(buffer.filled(), b"backGET / HTTP/1.1\r\nmore");
    }

    #[test]
    fn a_body_taken_whole_leaves_the_next_request_unread() {
        let mut buffer = ReadBuffer::new();
        fill(&mut buffer, b"helloGET", INITIAL_READ_BUFFER);
        assert_eq!(&buffer.take(5)[..], b"hello");
        assert_eq!(&buffer.take(100)[..], b"GET");
        assert!(buffer.is_empty());
    }
}
