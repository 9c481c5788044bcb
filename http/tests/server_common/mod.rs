//! The client side of the server's integration tests: start named servers on random loopback
//! ports, talk to them in raw bytes, record what ran in which order, and bound every wait.
#![allow(dead_code, unreachable_pub)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyperf_http::server::{Next, RunningServer, Server, ServerSpec, StopReports};
use hyperf_http::{BoxError, Request, Response};

/// How long any single wait may last: a hang fails the test instead of blocking the run.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A server for one test: two workers, no signal handling, coordinators of its own (so tests
/// can run side by side in one process).
pub fn server() -> Server {
    Server::new()
        .worker_num(2)
        .handle_signals(false)
        .process_coordinators(false)
}

/// A server named `name` on a free loopback port.
pub fn spec(name: &str) -> ServerSpec {
    ServerSpec::new(name, "127.0.0.1", 0)
}

/// Starts `server`, which must start.
pub fn start(server: Server) -> RunningServer {
    server.start().expect("the server starts")
}

/// Shuts `server` down gracefully and waits (boundedly) until it has.
pub fn stop(server: RunningServer) -> StopReports {
    server.shutdown();
    within(TIMEOUT, "the server shuts down", move || server.wait())
}

/// Runs `f` on a thread of its own and returns its result; fails the test if it takes longer
/// than `limit` (the thread is abandoned).
pub fn within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done, outcome) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(f());
    });
    match outcome.recv_timeout(limit) {
        Ok(value) => value,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("timed out waiting until {what}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: the thread panicked"),
    }
}

/// Polls `condition` every millisecond until it holds; fails the test after `limit`.
pub fn eventually(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Things recorded, in the order they happened, from any thread or coroutine.
#[derive(Debug)]
pub struct Log<T>(Arc<Mutex<Vec<T>>>);

impl<T> Clone for Log<T> {
    fn clone(&self) -> Self {
        Log(Arc::clone(&self.0))
    }
}

impl<T> Default for Log<T> {
    fn default() -> Self {
        Log(Arc::new(Mutex::new(Vec::new())))
    }
}

impl<T: Clone> Log<T> {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `entry`.
    pub fn push(&self, entry: T) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
    }

    /// What was recorded so far.
    pub fn entries(&self) -> Vec<T> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Takes what was recorded so far, leaving the log empty.
    pub fn take(&self) -> Vec<T> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Defines middlewares — one distinct type each, as Hyperf's are classes — that record their
/// name in a `Log<&'static str>` and call the rest of the chain.
#[macro_export]
macro_rules! recording_middlewares {
    ($($name:ident),+ $(,)?) => {
        $(
            struct $name($crate::server_common::Log<&'static str>);

            impl ::hyperf_http::server::Middleware for $name {
                fn process(
                    &self,
                    request: ::hyperf_http::Request,
                    next: ::hyperf_http::server::Next<'_>,
                ) -> ::std::result::Result<::hyperf_http::Response, ::hyperf_http::BoxError> {
                    self.0.push(stringify!($name));
                    next.run(request)
                }
            }
        )+
    };
}

/// A middleware (a closure) that records `name` and calls the rest of the chain.
pub fn recording(
    log: &Log<&'static str>,
    name: &'static str,
) -> impl Fn(Request, Next<'_>) -> Result<Response, BoxError> + Send + Sync + 'static {
    let log = log.clone();
    move |request, next: Next<'_>| {
        log.push(name);
        next.run(request)
    }
}

/// A response as it came over the wire.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The header fields in order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked when it was chunked.
    pub body: Vec<u8>,
}

impl Reply {
    /// The value of the only (or first) field called `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(field, _)| *field == name)
            .map(|(_, value)| value.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("a UTF-8 body")
    }

    /// Whether the response says the connection closes after it.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|value| value.eq_ignore_ascii_case("close"))
    }
}

/// Why no complete response could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cut {
    /// The connection ended before any byte of the response.
    Closed,
    /// The connection ended inside the response, after these bytes.
    Partial(Vec<u8>),
}

/// A raw client connection; every read is bounded by [`TIMEOUT`].
#[derive(Debug)]
pub struct Client {
    stream: TcpStream,
    /// Bytes read from the socket and not yet consumed.
    buffered: Vec<u8>,
}

impl Client {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect to the server");
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            buffered: Vec::new(),
        }
    }

    /// Connects to server `name` of `server`.
    pub fn to(server: &RunningServer, name: &str) -> Client {
        Client::connect(server.local_addr(name).expect("a server of that name"))
    }

    /// Writes `bytes` whole.
    pub fn send(&mut self, bytes: impl AsRef<[u8]>) -> &mut Self {
        self.stream
            .write_all(bytes.as_ref())
            .expect("write to the server");
        self
    }

    /// Writes `bytes` whole; whether the socket took them all.
    pub fn try_send(&mut self, bytes: impl AsRef<[u8]>) -> bool {
        self.stream.write_all(bytes.as_ref()).is_ok()
    }

    /// Sends `request` and reads its response.
    pub fn exchange(&mut self, request: impl AsRef<[u8]>) -> Reply {
        self.send(request);
        self.response()
    }

    /// Reads one whole response (framed by `Content-Length`, `chunked`, or the close).
    pub fn response(&mut self) -> Reply {
        self.read_response(false)
            .unwrap_or_else(|cut| panic!("no complete response: {cut:?}"))
    }

    /// Reads one whole response, or says how the connection ended before it was complete.
    pub fn try_response(&mut self) -> Result<Reply, Cut> {
        self.read_response(false)
    }

    /// Reads one response to a `HEAD` request: its head only, whatever its framing says.
    pub fn head_response(&mut self) -> Reply {
        self.read_response(true)
            .unwrap_or_else(|cut| panic!("no complete response head: {cut:?}"))
    }

    /// Reads everything until the server closes the connection.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        while self.fill() > 0 {}
        std::mem::take(&mut self.buffered)
    }

    /// Asserts that no byte arrives and the connection stays open for `bound`: a short wait,
    /// only for behaviours defined by something not happening.
    pub fn assert_silent_for(&mut self, bound: Duration) {
        assert!(
            self.buffered.is_empty(),
            "unread bytes: {:?}",
            self.buffered
        );
        self.stream.set_read_timeout(Some(bound)).unwrap();
        let mut byte = [0u8; 1];
        let outcome = self.stream.read(&mut byte);
        self.stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        match outcome {
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Ok(0) => panic!("the connection closed within {bound:?}"),
            Ok(_) => panic!("bytes arrived within {bound:?}"),
            Err(error) => panic!("the connection failed within {bound:?}: {error}"),
        }
    }

    /// Reads once more into the buffer; 0 at end of stream (a reset counts as the end).
    fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(n) => {
                self.buffered.extend_from_slice(&chunk[..n]);
                n
            }
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                ) =>
            {
                0
            }
            Err(error) => panic!("reading from the server failed: {error}"),
        }
    }

    /// Buffers until `needed` bytes are there; the cut if the connection ends first.
    fn fill_to(&mut self, needed: usize, consumed: &[u8]) -> Result<(), Cut> {
        while self.buffered.len() < needed {
            if self.fill() == 0 {
                return Err(self.cut(consumed));
            }
        }
        Ok(())
    }

    fn cut(&mut self, consumed: &[u8]) -> Cut {
        let mut seen = consumed.to_vec();
        seen.append(&mut self.buffered);
        if seen.is_empty() {
            Cut::Closed
        } else {
            Cut::Partial(seen)
        }
    }

    fn read_response(&mut self, head_only: bool) -> Result<Reply, Cut> {
        let head_end = loop {
            if let Some(at) = find(&self.buffered, b"\r\n\r\n") {
                break at + 4;
            }
            if self.fill() == 0 {
                return Err(self.cut(&[]));
            }
        };
        let head: Vec<u8> = self.buffered.drain(..head_end).collect();
        let text = String::from_utf8(head.clone()).expect("an ASCII response head");
        let mut lines = text.trim_end_matches("\r\n").split("\r\n");
        let status_line = lines.next().unwrap();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("malformed status line {status_line:?}"));
        let headers = lines
            .map(|line| {
                let (name, value) = line
                    .split_once(':')
                    .unwrap_or_else(|| panic!("malformed header line {line:?}"));
                (name.to_ascii_lowercase(), value.trim().to_owned())
            })
            .collect();
        let mut reply = Reply {
            status,
            headers,
            body: Vec::new(),
        };
        if head_only || (100..200).contains(&status) || status == 204 || status == 304 {
            return Ok(reply);
        }
        if reply
            .header("transfer-encoding")
            .is_some_and(|coding| coding.eq_ignore_ascii_case("chunked"))
        {
            reply.body = self.read_chunked(&head)?;
        } else if let Some(length) = reply.header("content-length") {
            let length: usize = length.parse().expect("a decimal Content-Length");
            self.fill_to(length, &head)?;
            reply.body = self.buffered.drain(..length).collect();
        } else {
            reply.body = self.read_to_close();
        }
        Ok(reply)
    }

    fn read_chunked(&mut self, head: &[u8]) -> Result<Vec<u8>, Cut> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line(head)?;
            let size = line.split(';').next().unwrap().trim();
            let size = usize::from_str_radix(size, 16)
                .unwrap_or_else(|_| panic!("malformed chunk size line {line:?}"));
            if size == 0 {
                while !self.read_line(head)?.is_empty() {}
                return Ok(body);
            }
            self.fill_to(size + 2, head)?;
            body.extend(self.buffered.drain(..size));
            let end: Vec<u8> = self.buffered.drain(..2).collect();
            assert_eq!(end, b"\r\n", "chunk data not followed by CRLF");
        }
    }

    fn read_line(&mut self, head: &[u8]) -> Result<String, Cut> {
        loop {
            if let Some(at) = find(&self.buffered, b"\r\n") {
                let line: Vec<u8> = self.buffered.drain(..at + 2).collect();
                return Ok(String::from_utf8_lossy(&line[..at]).into_owned());
            }
            if self.fill() == 0 {
                return Err(self.cut(head));
            }
        }
    }
}

/// Where `needle` first occurs in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// A minimal `GET` of `path` on HTTP/1.1.
pub fn get(path: &str) -> String {
    request("GET", path, &[])
}

/// A request without a body, with extra header fields.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> String {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text
}
