//! Response heads: status line, the handler's headers, and the framing the engine owns.

use http::header::{self, HeaderMap};
use http::{StatusCode, Version};

use crate::engine::wire::date::DATE_LEN;

/// How the response body is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `Content-Length: n` (also for `HEAD`, with the length the `GET` would have).
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither: the body runs until the connection closes (streams to HTTP/1.0 clients).
    UntilClose,
    /// A status that never has a body (1xx, 204, 304).
    NoBody,
}

/// What a response says of the connection's persistence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Persistence {
    /// Nothing: an HTTP/1.1 connection persists unless told otherwise.
    Implied,
    /// `connection: keep-alive`: an HTTP/1.0 client closes the connection without it.
    KeepAlive,
    /// `connection: close`.
    Close,
}

impl Persistence {
    /// What to say to a client of `version` whose connection persists if `keep_alive`.
    pub(crate) fn of(version: Version, keep_alive: bool) -> Self {
        match (keep_alive, version) {
            (false, _) => Persistence::Close,
            (true, Version::HTTP_10) => Persistence::KeepAlive,
            (true, _) => Persistence::Implied,
        }
    }
}

/// Whether `status` forbids a body (and its framing headers).
pub(crate) fn status_has_no_body(status: StatusCode) -> bool {
    status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
}

/// Appends a response head to `out`. Framing headers and `Connection` are the engine's: any
/// the handler set are replaced, so what the head says always matches what is sent.
pub(crate) fn write_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    framing: Framing,
    persistence: Persistence,
    date: &[u8; DATE_LEN],
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut has_date = false;
    for (name, value) in headers {
        if name == header::CONTENT_LENGTH
            || name == header::TRANSFER_ENCODING
            || name == header::CONNECTION
        {
            continue;
        }
        has_date |= name == header::DATE;
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !has_date {
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(date);
        out.extend_from_slice(b"\r\n");
    }
    match framing {
        Framing::Length(length) => {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(itoa::Buffer::new().format(length).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::UntilClose | Framing::NoBody => {}
    }
    match persistence {
        Persistence::Implied => {}
        Persistence::KeepAlive => out.extend_from_slice(b"connection: keep-alive\r\n"),
        Persistence::Close => out.extend_from_slice(b"connection: close\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

/// A complete response with a fixed text body, for the engine's own answers (errors, `100
/// Continue` is separate).
pub(crate) fn write_simple(
    out: &mut Vec<u8>,
    status: StatusCode,
    close: bool,
    date: &[u8; DATE_LEN],
) {
    let body = status.canonical_reason().unwrap_or("Error");
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    write_head(
        out,
        status,
        &headers,
        Framing::Length(body.len()),
        if close {
            Persistence::Close
        } else {
            Persistence::Implied
        },
        date,
    );
    out.extend_from_slice(body.as_bytes());
}

/// The interim response sent before reading a body the client holds back.
pub(crate) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Whether a response to a request of `version` may use chunked framing.
pub(crate) fn can_chunk(version: Version) -> bool {
    version != Version::HTTP_10
}
