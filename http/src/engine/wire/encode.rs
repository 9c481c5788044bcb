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
    /// `connection: upgrade`: a `101 Switching Protocols`, after which the connection speaks
    /// another protocol.
    Upgrade,
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
    // Room for everything but the handler's fields at once: the writes below then only copy.
    out.reserve(HEAD_WITHOUT_FIELDS);
    write_status_line(out, status);
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
        // One copy of the whole line.
        let mut line = [0; DATE_LINE_LEN];
        line[..6].copy_from_slice(b"date: ");
        line[6..6 + DATE_LEN].copy_from_slice(date);
        line[6 + DATE_LEN..].copy_from_slice(b"\r\n");
        out.extend_from_slice(&line);
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
        Persistence::Upgrade => out.extend_from_slice(b"connection: upgrade\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

/// The length of `date: <IMF-fixdate>\r\n`.
const DATE_LINE_LEN: usize = 6 + DATE_LEN + 2;

/// The most a head takes besides the handler's fields: the longest status line (the longest
/// reason phrase is under 40 bytes), the date, the framing and the connection's persistence,
/// and the empty line.
const HEAD_WITHOUT_FIELDS: usize = 64 + DATE_LINE_LEN + 40 + 24 + 2;

/// Appends the status line of `status`: whole for the most common statuses, else built from
/// the code and the canonical reason.
fn write_status_line(out: &mut Vec<u8>, status: StatusCode) {
    let whole: &[u8] = match status {
        StatusCode::OK => b"HTTP/1.1 200 OK\r\n",
        StatusCode::NO_CONTENT => b"HTTP/1.1 204 No Content\r\n",
        StatusCode::NOT_MODIFIED => b"HTTP/1.1 304 Not Modified\r\n",
        StatusCode::NOT_FOUND => b"HTTP/1.1 404 Not Found\r\n",
        _ => return build_status_line(out, status),
    };
    out.extend_from_slice(whole);
}

fn build_status_line(out: &mut Vec<u8>, status: StatusCode) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_line_is_the_one_built_from_its_code_and_reason() {
        for code in 100..1000 {
            let status = StatusCode::from_u16(code).unwrap();
            let (mut written, mut built) = (Vec::new(), Vec::new());
            write_status_line(&mut written, status);
            build_status_line(&mut built, status);
            assert_eq!(written, built, "{status}");
        }
    }

    #[test]
    fn a_head_ends_with_the_date_the_framing_and_an_empty_line() {
        let mut out = Vec::new();
        let date = *b"Mon, 07 Dec 2026 09:00:00 GMT";
        write_head(
            &mut out,
            StatusCode::OK,
            &HeaderMap::new(),
            Framing::Length(5),
            Persistence::Close,
            &date,
        );
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\ndate: Mon, 07 Dec 2026 09:00:00 GMT\r\ncontent-length: 5\r\nconnection: close\r\n\r\n"
        );
    }
}
