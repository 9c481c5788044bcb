//! A raw HTTP/1.1 client: it writes whatever bytes a test gives it and reads each response
//! back exactly as the server framed it, so a test sees what went over the wire.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// How long any single read or write may block: a hang fails the test instead of stalling
/// the run.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A response as it came over the wire.
#[derive(Debug, Clone)]
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

    /// Asserts the status (a number, or the `http` crate's `StatusCode`).
    #[track_caller]
    pub fn assert_status(&self, status: impl Into<u16>) -> &Self {
        assert_eq!(self.status, status.into(), "unexpected response: {self:?}");
        self
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

/// A raw client connection; every read and write is bounded by a timeout of 10 s.
#[derive(Debug)]
pub struct Client {
    stream: TcpStream,
    /// Bytes read from the socket and not yet consumed.
    buffered: Vec<u8>,
}

impl Client {
    /// Connects to `address`.
    pub fn connect(address: impl ToSocketAddrs) -> Client {
        let stream = TcpStream::connect(address).expect("connect to the server");
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            buffered: Vec::new(),
        }
    }

    /// The client's end of the connection, as the server sees it as its peer.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.stream
            .local_addr()
            .expect("a connected socket has an address")
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

    /// Writes `bytes`, tolerating a connection the server has already closed or reset (it may
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
    #[track_caller]
    pub fn response(&mut self) -> Reply {
        self.read_response(false)
            .unwrap_or_else(|cut| panic!("no complete response: {}", describe(&cut)))
    }

    /// Reads one whole response, or says how the connection ended before it was complete.
    pub fn try_response(&mut self) -> Result<Reply, Cut> {
        self.read_response(false)
    }

    /// Reads one response to a `HEAD` request: its head only, whatever its framing says.
    #[track_caller]
    pub fn head_response(&mut self) -> Reply {
        self.read_response(true)
            .unwrap_or_else(|cut| panic!("no complete response head: {}", describe(&cut)))
    }

    /// Reads exactly `n` bytes.
    #[track_caller]
    pub fn read_exact(&mut self, n: usize) -> Vec<u8> {
        if let Err(cut) = self.fill_to(n, &[]) {
            panic!("the connection ended before {n} bytes: {}", describe(&cut));
        }
        self.buffered.drain(..n).collect()
    }

    /// Reads everything until the server closes the connection.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        while self.fill() > 0 {}
        std::mem::take(&mut self.buffered)
    }

    /// Asserts that the server closes the connection without sending anything more.
    #[track_caller]
    pub fn assert_closed(&mut self) {
        let rest = self.read_to_close();
        assert!(
            rest.is_empty(),
            "expected the connection to close, got more bytes: {:?}",
            String::from_utf8_lossy(&rest)
        );
    }

    /// Asserts that no byte arrives and the connection stays open for `bound`: a short wait,
    /// only for behaviours defined by something not happening.
    #[track_caller]
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

    /// Closes the client's sending side (the server reads end-of-stream).
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
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default().to_owned();
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
            let size = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16)
                .unwrap_or_else(|_| panic!("malformed chunk size line {line:?}"));
            if size == 0 {
                // Trailer fields, up to the empty line.
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

fn describe(cut: &Cut) -> String {
    match cut {
        Cut::Closed => "the connection closed before any byte".to_string(),
        Cut::Partial(seen) => format!(
            "the connection ended after {:?}",
            String::from_utf8_lossy(seen)
        ),
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
