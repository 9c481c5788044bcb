//! Request decoding: the head (with `httparse`) and its validation per RFC 9112, and chunked
//! bodies. Pure functions over byte buffers, so they can be fuzzed without a socket.

use std::mem::MaybeUninit;

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri, Version};

use crate::engine::config::Limits;
use crate::engine::wire::header_maps;

/// Why a request was refused: the status to answer with (the connection is closed after it)
/// and a short reason for the logs (never sent to the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DecodeError {
    /// The status the engine answers with.
    pub(crate) status: StatusCode,
    /// What was wrong, for logs and tests.
    pub(crate) reason: &'static str,
}

impl DecodeError {
    /// A request whose head (or body) the client stopped sending part way, past the request
    /// timeout.
    pub(crate) const BODY_TOO_LARGE: DecodeError =
        DecodeError::new(StatusCode::PAYLOAD_TOO_LARGE, "body larger than the limit");

    pub(crate) const TIMED_OUT: DecodeError =
        DecodeError::new(StatusCode::REQUEST_TIMEOUT, "request timed out part way");

    const fn new(status: StatusCode, reason: &'static str) -> Self {
        DecodeError { status, reason }
    }

    const fn bad(reason: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, reason)
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.status, self.reason)
    }
}

impl std::error::Error for DecodeError {}

/// How the request's body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A decoded and validated request head.
#[derive(Debug)]
pub(crate) struct Head {
    /// The method.
    pub(crate) method: Method,
    /// The request target.
    pub(crate) uri: Uri,
    /// HTTP/1.0 or HTTP/1.1.
    pub(crate) version: Version,
    /// The header fields, in order.
    pub(crate) headers: HeaderMap,
    /// How the body is framed.
    pub(crate) framing: Framing,
    /// Whether the connection may serve another request after this one.
    pub(crate) keep_alive: bool,
    /// Whether the client waits for `100 Continue` before sending the body.
    pub(crate) expect_continue: bool,
    /// The head's bytes, which the target and the header values slice.
    pub(crate) raw: Bytes,
}

/// Where a request head's bytes come from: what is received and unread, and a way to take the
/// head off its front as shared bytes that its target and header values then slice.
pub(crate) trait HeadInput {
    /// The bytes received and not yet consumed.
    fn unread(&self) -> &[u8];
    /// Removes the first `length` unread bytes and returns them as shared bytes.
    fn take_shared(&mut self, length: usize) -> Bytes;
}

/// Decodes the request head at the front of `input`: `Ok(None)` while it is incomplete, and
/// once it is complete, the head, taken off `input`.
///
/// The head is parsed in place first, noting where each part lies; only then is it taken off
/// `input` (the parse borrows what `take_shared` must change), and its target and header
/// values become slices of the taken bytes, with no copy.
pub(crate) fn decode_head(
    input: &mut impl HeadInput,
    limits: &Limits,
) -> Result<Option<Head>, DecodeError> {
    let mut spans_on_stack = [FieldSpan::default(); STACK_HEADERS];
    let mut spans_on_heap = Vec::new();
    let (length, method, version, target, fields) = {
        let buf = input.unread();
        // Most requests fit in a few header slots on the stack (deep stacks cost every
        // connection memory); a request with more is parsed again with all `max_headers`
        // slots on the heap. Slots are filled by the parser, never read uninitialised.
        let mut on_stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_HEADERS];
        let mut on_heap = Vec::new();
        let mut request = httparse::Request::new(&mut []);
        let mut parsed = request
            .parse_with_uninit_headers(buf, &mut on_stack[..STACK_HEADERS.min(limits.max_headers)]);
        if matches!(parsed, Err(httparse::Error::TooManyHeaders))
            && limits.max_headers > STACK_HEADERS
        {
            on_heap.resize_with(limits.max_headers, MaybeUninit::uninit);
            request = httparse::Request::new(&mut []);
            parsed = request.parse_with_uninit_headers(buf, &mut on_heap);
        }
        let length = match parsed {
            Ok(httparse::Status::Complete(length)) => length,
            Ok(httparse::Status::Partial) => {
                check_partial(buf, limits)?;
                return Ok(None);
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(DecodeError::new(
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "too many header fields",
                ));
            }
            Err(httparse::Error::Version) if names_a_version(buf) => {
                return Err(DecodeError::new(
                    StatusCode::HTTP_VERSION_NOT_SUPPORTED,
                    "not HTTP/1.0 or HTTP/1.1",
                ));
            }
            Err(_) => return Err(DecodeError::bad("malformed request line or header field")),
        };
        // Spans are 32-bit (half the stack to clear per request): no head may be longer.
        if length > limits.max_head_bytes || u32::try_from(length).is_err() {
            return Err(DecodeError::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "request head too large",
            ));
        }
        // A complete parse has a method and a target.
        let (Some(method), Some(path)) = (request.method, request.path) else {
            return Err(DecodeError::bad("malformed request line"));
        };
        if path.len() > limits.max_uri_bytes {
            return Err(DecodeError::new(
                StatusCode::URI_TOO_LONG,
                "request target too long",
            ));
        }
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| DecodeError::bad("invalid method"))?;
        let version = match request.version {
            Some(0) => Version::HTTP_10,
            _ => Version::HTTP_11,
        };
        let fields = request.headers.len();
        let spans = if fields <= STACK_HEADERS {
            &mut spans_on_stack[..fields]
        } else {
            spans_on_heap.resize(fields, FieldSpan::default());
            &mut spans_on_heap[..]
        };
        for (span, field) in spans.iter_mut().zip(request.headers.iter()) {
            *span = FieldSpan {
                name: Span::of(field.name.as_bytes(), buf),
                value: Span::of(field.value, buf),
            };
        }
        (
            length,
            method,
            version,
            Span::of(path.as_bytes(), buf),
            fields,
        )
    };
    let spans = if fields <= STACK_HEADERS {
        &spans_on_stack[..fields]
    } else {
        &spans_on_heap[..]
    };
    let shared = input.take_shared(length);
    let uri = Uri::from_maybe_shared(target.slice(&shared))
        .map_err(|_| DecodeError::bad("invalid request target"))?;
    let mut fields = Fields::default();
    let mut headers = header_maps::take(spans.len());
    for span in spans {
        let name = HeaderName::from_bytes(&shared[span.name.range()])
            .map_err(|_| DecodeError::bad("invalid header field name"))?;
        let value = HeaderValue::from_maybe_shared(span.value.slice(&shared))
            .map_err(|_| DecodeError::bad("invalid header field value"))?;
        fields.note(&name, &value)?;
        headers.append(name, value);
    }
    let framing = fields.framing(version)?;
    let keep_alive = match version {
        Version::HTTP_10 => fields.keep_alive && !fields.close,
        _ => !fields.close,
    };
    if version == Version::HTTP_11 && fields.hosts != 1 {
        return Err(DecodeError::bad("HTTP/1.1 needs exactly one Host field"));
    }
    if fields.hosts > 1 {
        return Err(DecodeError::bad("more than one Host field"));
    }
    Ok(Some(Head {
        method,
        uri,
        version,
        headers,
        framing,
        keep_alive,
        expect_continue: fields.expect_continue && version == Version::HTTP_11,
        raw: shared,
    }))
}

/// The header fields of `head`, a whole request head that [`decode_head`] accepted: parsed
/// again, with the target and values slicing `head`. Empty should `head` not be one.
pub(crate) fn header_fields(head: &Bytes) -> HeaderMap {
    // Limits that a head accepted under any configuration is within.
    let lines = head.iter().filter(|&&b| b == b'\n').count();
    let limits = Limits::default()
        .max_head_bytes(head.len())
        .max_uri_bytes(head.len())
        .max_headers(lines);
    let mut input = head.clone();
    match decode_head(&mut input, &limits) {
        Ok(Some(decoded)) => decoded.headers,
        _ => HeaderMap::new(),
    }
}

impl HeadInput for Bytes {
    fn unread(&self) -> &[u8] {
        self
    }

    fn take_shared(&mut self, length: usize) -> Bytes {
        self.split_to(length)
    }
}

/// Header slots tried on the stack first.
const STACK_HEADERS: usize = 24;

/// Where a part of the head lies in it: offsets within a head of at most `u32::MAX` bytes.
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// Where `part`, a subslice of `head`, lies in it (`head` is no longer than `u32::MAX`).
    fn of(part: &[u8], head: &[u8]) -> Self {
        let start = part.as_ptr() as usize - head.as_ptr() as usize;
        Span {
            start: start as u32,
            end: (start + part.len()) as u32,
        }
    }

    fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    fn slice(self, head: &Bytes) -> Bytes {
        head.slice(self.range())
    }
}

/// Where a header field's name and value lie in the head.
#[derive(Debug, Clone, Copy, Default)]
struct FieldSpan {
    name: Span,
    value: Span,
}

/// Whether the request line ends in a well-formed `HTTP/x.y`: then a version httparse refuses is
/// unsupported (`505`); anything else in its place is a malformed request line (`400`).
fn names_a_version(buf: &[u8]) -> bool {
    // httparse skips empty lines before the request line.
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let line = buf[start..]
        .split(|&b| b == b'\n')
        .next()
        .unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut words = line.split(|&b| b == b' ');
    let (Some(_method), Some(_target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return false;
    };
    matches!(version, [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
        if major.is_ascii_digit() && minor.is_ascii_digit())
}

/// Limits that can be judged before the head is complete.
fn check_partial(buf: &[u8], limits: &Limits) -> Result<(), DecodeError> {
    if buf.len() > limits.max_head_bytes {
        return Err(DecodeError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request head too large",
        ));
    }
    // A request line still without its end, longer than any allowed target could make it.
    let line_end = buf.iter().position(|&b| b == b'\n');
    if line_end.is_none() && buf.len() > limits.max_uri_bytes + REQUEST_LINE_SLACK {
        return Err(DecodeError::new(
            StatusCode::URI_TOO_LONG,
            "request target too long",
        ));
    }
    Ok(())
}

/// Room for the method, the version and the spaces around a request target.
const REQUEST_LINE_SLACK: usize = 64;

/// What the framing and connection-management fields said.
#[derive(Default)]
struct Fields {
    hosts: usize,
    content_length: Option<u64>,
    /// The transfer codings, in order, across every `Transfer-Encoding` field.
    codings: Vec<Bytes>,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
}

impl Fields {
    fn note(&mut self, name: &HeaderName, value: &HeaderValue) -> Result<(), DecodeError> {
        if name == header::HOST {
            self.hosts += 1;
        } else if name == header::CONTENT_LENGTH {
            let length = parse_content_length(value.as_bytes())?;
            if self.content_length.is_some_and(|seen| seen != length) {
                return Err(DecodeError::bad("conflicting Content-Length fields"));
            }
            self.content_length = Some(length);
        } else if name == header::TRANSFER_ENCODING {
            for coding in value.as_bytes().split(|&b| b == b',') {
                let coding = coding.trim_ascii();
                if coding.is_empty() {
                    continue;
                }
                self.codings.push(Bytes::copy_from_slice(coding));
            }
        } else if name == header::CONNECTION {
            for option in value.as_bytes().split(|&b| b == b',') {
                let option = option.trim_ascii();
                self.close |= option.eq_ignore_ascii_case(b"close");
                self.keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name == header::EXPECT {
            if !value
                .as_bytes()
                .trim_ascii()
                .eq_ignore_ascii_case(b"100-continue")
            {
                return Err(DecodeError::new(
                    StatusCode::EXPECTATION_FAILED,
                    "unsupported expectation",
                ));
            }
            self.expect_continue = true;
        }
        Ok(())
    }

    fn framing(&self, version: Version) -> Result<Framing, DecodeError> {
        if !self.codings.is_empty() {
            if self.content_length.is_some() {
                return Err(DecodeError::bad(
                    "both Content-Length and Transfer-Encoding",
                ));
            }
            if version == Version::HTTP_10 {
                return Err(DecodeError::bad("Transfer-Encoding in an HTTP/1.0 request"));
            }
            let chunked = |c: &Bytes| c.eq_ignore_ascii_case(b"chunked");
            let last_is_chunked = self.codings.last().is_some_and(chunked);
            if !last_is_chunked || self.codings.iter().filter(|c| chunked(c)).count() > 1 {
                return Err(DecodeError::bad("chunked is not the final transfer coding"));
            }
            if self.codings.len() > 1 {
                return Err(DecodeError::new(
                    StatusCode::NOT_IMPLEMENTED,
                    "unsupported transfer coding",
                ));
            }
            return Ok(Framing::Chunked);
        }
        // The length is checked against the body's limit once the service has said how it
        // reads the body (a streamed route has a limit of its own).
        match self.content_length {
            None | Some(0) => Ok(Framing::Empty),
            Some(length) => Ok(Framing::Length(length)),
        }
    }
}

fn parse_content_length(value: &[u8]) -> Result<u64, DecodeError> {
    let invalid = DecodeError::bad("invalid Content-Length");
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(invalid);
    }
    value.iter().try_fold(0u64, |n, &digit| {
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(digit - b'0')))
            .ok_or(invalid)
    })
}

/// Decodes a chunked body incrementally: feed it bytes as they arrive.
#[derive(Debug, Default)]
pub(crate) struct ChunkedDecoder {
    state: ChunkState,
    /// The chunk size read so far.
    size: u64,
    /// Bytes of the current size line seen so far (bounded).
    line: usize,
    /// Body bytes produced so far.
    total: usize,
    /// Trailer bytes seen so far.
    trailer: usize,
    /// The most body bytes allowed, when not the engine's `max_body_bytes`.
    body_limit: Option<usize>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Reading the chunk size (hex digits).
    #[default]
    Size,
    /// After the size: a chunk extension, up to CR.
    Extension,
    /// Expecting LF after the size line's CR.
    SizeLf,
    /// Inside chunk data; this many bytes left.
    Data(u64),
    /// Expecting CR after chunk data.
    DataCr,
    /// Expecting LF after chunk data.
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    /// Inside a trailer line, up to CR.
    Trailer,
    /// Expecting LF after a trailer line's CR.
    TrailerLf,
    /// Expecting the final LF.
    EndLf,
    /// The body is complete.
    Done,
}

/// The longest chunk-size line (size, extensions) accepted.
const MAX_SIZE_LINE: usize = 4096;

impl ChunkedDecoder {
    /// A decoder at the start of a body, limited by the engine's `max_body_bytes`.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// A decoder at the start of a body of at most `limit` bytes of data.
    pub(crate) fn with_body_limit(limit: usize) -> Self {
        ChunkedDecoder {
            body_limit: Some(limit),
            ..Self::default()
        }
    }

    /// Whether the final chunk and the trailer have been read.
    pub(crate) fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Consumes bytes from `input`, appending chunk data to `body`; returns how many bytes of
    /// `input` were consumed. Stops at the end of the body: the rest of `input` belongs to the
    /// next request.
    pub(crate) fn decode(
        &mut self,
        input: &[u8],
        body: &mut BytesMut,
        limits: &Limits,
    ) -> Result<usize, DecodeError> {
        let mut at = 0;
        while at < input.len() && self.state != ChunkState::Done {
            let byte = input[at];
            match self.state {
                ChunkState::Data(left) => {
                    let take = usize::try_from(left)
                        .unwrap_or(usize::MAX)
                        .min(input.len() - at);
                    body.put_slice(&input[at..at + take]);
                    at += take;
                    self.state = match left - take as u64 {
                        0 => ChunkState::DataCr,
                        rest => ChunkState::Data(rest),
                    };
                    continue;
                }
                ChunkState::Size => match hex_digit(byte) {
                    Some(digit) => {
                        self.line += 1;
                        if self.line > 16 {
                            return Err(DecodeError::bad("chunk size too large"));
                        }
                        // At most 16 hex digits: this cannot overflow.
                        self.size = self.size * 16 + u64::from(digit);
                    }
                    None if self.line == 0 => return Err(DecodeError::bad("missing chunk size")),
                    None if byte == b'\r' => self.state = ChunkState::SizeLf,
                    None if byte == b';' || byte == b' ' || byte == b'\t' => {
                        self.state = ChunkState::Extension;
                    }
                    None => return Err(DecodeError::bad("invalid chunk size")),
                },
                ChunkState::Extension => {
                    self.line += 1;
                    if self.line > MAX_SIZE_LINE {
                        return Err(DecodeError::bad("chunk extension too long"));
                    }
                    match byte {
                        b'\r' => self.state = ChunkState::SizeLf,
                        b'\n' => return Err(DecodeError::bad("bare LF in a chunk size line")),
                        _ => {}
                    }
                }
                ChunkState::SizeLf => {
                    if byte != b'\n' {
                        return Err(DecodeError::bad("chunk size line not ended by CRLF"));
                    }
                    let size = std::mem::take(&mut self.size);
                    self.line = 0;
                    if size == 0 {
                        self.state = ChunkState::TrailerStart;
                    } else {
                        self.total = self
                            .total
                            .saturating_add(usize::try_from(size).unwrap_or(usize::MAX));
                        if self.total > self.body_limit.unwrap_or(limits.max_body_bytes) {
                            return Err(DecodeError::new(
                                StatusCode::PAYLOAD_TOO_LARGE,
                                "body larger than the limit",
                            ));
                        }
                        self.state = ChunkState::Data(size);
                    }
                }
                ChunkState::DataCr => {
                    if byte != b'\r' {
                        return Err(DecodeError::bad("chunk data not followed by CRLF"));
                    }
                    self.state = ChunkState::DataLf;
                }
                ChunkState::DataLf => {
                    if byte != b'\n' {
                        return Err(DecodeError::bad("chunk data not followed by CRLF"));
                    }
                    self.state = ChunkState::Size;
                }
                ChunkState::TrailerStart => {
                    self.state = if byte == b'\r' {
                        ChunkState::EndLf
                    } else {
                        self.count_trailer(limits)?;
                        ChunkState::Trailer
                    };
                }
                ChunkState::Trailer => {
                    self.count_trailer(limits)?;
                    match byte {
                        b'\r' => self.state = ChunkState::TrailerLf,
                        b'\n' => return Err(DecodeError::bad("bare LF in a trailer field")),
                        _ => {}
                    }
                }
                ChunkState::TrailerLf => {
                    if byte != b'\n' {
                        return Err(DecodeError::bad("trailer field not ended by CRLF"));
                    }
                    self.state = ChunkState::TrailerStart;
                }
                ChunkState::EndLf => {
                    if byte != b'\n' {
                        return Err(DecodeError::bad("chunked body not ended by CRLF"));
                    }
                    self.state = ChunkState::Done;
                }
                ChunkState::Done => {}
            }
            at += 1;
        }
        Ok(at)
    }

    fn count_trailer(&mut self, limits: &Limits) -> Result<(), DecodeError> {
        self.trailer += 1;
        if self.trailer > limits.max_head_bytes {
            return Err(DecodeError::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "trailer too large",
            ));
        }
        Ok(())
    }
}

fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}
