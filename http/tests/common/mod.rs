//! The client side of the engine's integration tests: start an engine on a random loopback
//! port, send it raw bytes, and read its answers back byte for byte.
#![allow(dead_code, unreachable_pub)]

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use hyperf_http::{BoxError, Engine, EngineConfig, Request, Response, Service, StatusCode};

/// How long any single read may block: a hang fails the test instead of blocking the run.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Starts an engine with the default configuration on `127.0.0.1:0`.
pub fn start(service: impl Service) -> Engine {
    start_with(EngineConfig::default(), service)
}

/// Starts an engine with `config` on `127.0.0.1:0`.
pub fn start_with(config: EngineConfig, service: impl Service) -> Engine {
    Engine::start("127.0.0.1:0", config, service).expect("the engine starts")
}

/// A handler that answers every request with `body` and a 200.
pub fn answer(body: &'static str) -> impl Service {
    move |_: Request| -> Result<Response, BoxError> { Ok(Response::new(body.into())) }
}

/// A handler that answers with the request's path.
pub fn echo_path() -> impl Service {
    |request: Request| -> Result<Response, BoxError> {
        Ok(Response::new(request.uri().path().to_owned().into()))
    }
}

/// A handler that answers with the request's body.
pub fn echo_body() -> impl Service {
    |request: Request| -> Result<Response, BoxError> {
        Ok(Response::new(request.into_body().into()))
    }
}

/// A response as it came over the wire.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The status line's version, e.g. `HTTP/1.1`.
    pub version: String,
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

    /// How many fields are called `name`.
    pub fn count(&self, name: &str) -> usize {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(field, _)| *field == name)
            .count()
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

    /// Asserts the status.
    pub fn assert_status(&self, status: StatusCode) -> &Self {
        assert_eq!(
            self.status,
            status.as_u16(),
            "unexpected response: {self:?}"
        );
        self
    }
}

/// A raw client connection with a read timeout.
#[derive(Debug)]
pub struct Client {
    stream: TcpStream,
    /// Bytes read from the socket and not yet consumed.
    buffered: Vec<u8>,
}

impl Client {
    /// Connects to `engine`.
    pub fn connect(engine: &Engine) -> Client {
        let stream = TcpStream::connect(engine.local_addr()).expect("connect to the engine");
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            buffered: Vec::new(),
        }
    }

    /// Writes `bytes` whole.
    pub fn send(&mut self, bytes: impl AsRef<[u8]>) -> &mut Self {
        self.stream
            .write_all(bytes.as_ref())
            .expect("write to the engine");
        self
    }

    /// Writes `bytes`, tolerating a connection the engine has already closed or reset (it may
    /// refuse a request before the client is done sending it).
    pub fn send_lossy(&mut self, bytes: impl AsRef<[u8]>) -> &mut Self {
        let _ = self.stream.write_all(bytes.as_ref());
        self
    }

    /// Sends `request` and reads its response.
    pub fn exchange(&mut self, request: impl AsRef<[u8]>) -> Reply {
        self.send(request);
        self.response()
    }

    /// Reads one whole response (framed by `Content-Length`, `chunked`, or the close).
    pub fn response(&mut self) -> Reply {
        self.read_response(false)
    }

    /// Reads one response to a `HEAD` request: its head only, whatever its framing says.
    pub fn head_response(&mut self) -> Reply {
        self.read_response(true)
    }

    /// Reads exactly `n` bytes.
    pub fn read_exact(&mut self, n: usize) -> Vec<u8> {
        while self.buffered.len() < n {
            assert!(
                self.fill() > 0,
                "connection closed before {n} bytes arrived"
            );
        }
        self.buffered.drain(..n).collect()
    }

    /// Reads everything until the engine closes the connection.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        while self.fill() > 0 {}
        std::mem::take(&mut self.buffered)
    }

    /// Asserts that the engine closes the connection (within [`TIMEOUT`]) without sending
    /// anything more.
    pub fn assert_closed(&mut self) {
        let rest = self.read_to_close();
        assert!(
            rest.is_empty(),
            "expected the connection to close, got more bytes: {:?}",
            String::from_utf8_lossy(&rest)
        );
    }

    /// Asserts that nothing arrives and the connection stays open for `bound`: a short wait,
    /// only for behaviours that are defined by something not happening.
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

    /// Closes the client's sending side (the engine reads end-of-stream).
    pub fn shutdown_write(&mut self) {
        self.stream.shutdown(std::net::Shutdown::Write).unwrap();
    }

    /// Reads once more into the buffer; 0 at end of stream (a reset counts as the end).
    fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(n) => {
                self.buffered.extend_from_slice(&chunk[..n]);
                n
            }
            Err(error) if error.kind() == ErrorKind::ConnectionReset => 0,
            Err(error) => panic!("reading from the engine failed: {error}"),
        }
    }

    fn read_response(&mut self, head_only: bool) -> Reply {
        let head_end = loop {
            if let Some(at) = find(&self.buffered, b"\r\n\r\n") {
                break at + 4;
            }
            assert!(
                self.fill() > 0,
                "connection closed before a complete response head; got {:?}",
                String::from_utf8_lossy(&self.buffered)
            );
        };
        let head: Vec<u8> = self.buffered.drain(..head_end).collect();
        let head = String::from_utf8(head).expect("an ASCII response head");
        let mut lines = head.trim_end_matches("\r\n").split("\r\n");
        let status_line = lines.next().unwrap();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap().to_owned();
        let status = parts
            .next()
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
            version,
            headers,
            body: Vec::new(),
        };
        let bodiless = head_only || (100..200).contains(&status) || status == 204 || status == 304;
        if bodiless {
            return reply;
        }
        if reply
            .header("transfer-encoding")
            .is_some_and(|coding| coding.eq_ignore_ascii_case("chunked"))
        {
            reply.body = self.read_chunked();
        } else if let Some(length) = reply.header("content-length") {
            let length = length.parse().expect("a decimal Content-Length");
            reply.body = self.read_exact(length);
        } else {
            reply.body = self.read_to_close();
        }
        reply
    }

    fn read_chunked(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line();
            let size = line.split(';').next().unwrap().trim();
            let size = usize::from_str_radix(size, 16)
                .unwrap_or_else(|_| panic!("malformed chunk size line {line:?}"));
            if size == 0 {
                // Trailer fields, up to the empty line.
                while !self.read_line().is_empty() {}
                return body;
            }
            body.extend(self.read_exact(size));
            assert_eq!(
                self.read_exact(2),
                b"\r\n",
                "chunk data not followed by CRLF"
            );
        }
    }

    fn read_line(&mut self) -> String {
        loop {
            if let Some(at) = find(&self.buffered, b"\r\n") {
                let line: Vec<u8> = self.buffered.drain(..at + 2).collect();
                return String::from_utf8_lossy(&line[..at]).into_owned();
            }
            assert!(self.fill() > 0, "connection closed inside a chunked body");
        }
    }
}

/// Where `needle` first occurs in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Polls `condition` every millisecond until it holds; fails the test after `limit`.
pub fn eventually(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits `duration` in a handler's coroutine without blocking its worker thread. Built on the
/// coordinator's timed wait, which always wakes (may's own timed park can lose its wake-up).
pub fn pause(duration: Duration) {
    coordinator::Coordinator::new().yield_timeout(duration);
}

/// A minimal `GET` of `path` on HTTP/1.1.
pub fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n")
}
