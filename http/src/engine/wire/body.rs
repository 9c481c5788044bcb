//! [`Body`]: a response body — nothing, bytes, or a stream written by the handler.

use std::fmt;
use std::io::{self, Write};

use bytes::Bytes;

/// The body of a [`Response`](crate::Response).
///
/// A full body is sent with `Content-Length`. A streamed body is sent with
/// `Transfer-Encoding: chunked` (to an HTTP/1.0 client: unframed, then the connection closes):
/// the engine sends the headers first, then calls the stream's writer, whose every
/// [`write`](Write::write) goes out as one chunk.
///
/// ```
/// use std::io::Write;
/// use hyperf_http::{Body, Response};
///
/// let full = Response::new(Body::from("hello"));
/// let streamed = Response::new(Body::stream(|out| {
///     for n in 0..3 {
///         writeln!(out, "line {n}")?;
///     }
///     Ok(())
/// }));
/// # let _ = (full, streamed);
/// ```
#[derive(Default)]
pub struct Body {
    pub(crate) kind: Kind,
}

type Writer = Box<dyn FnOnce(&mut BodyWriter<'_>) -> io::Result<()> + Send>;

#[derive(Default)]
pub(crate) enum Kind {
    #[default]
    Empty,
    Full(Bytes),
    Stream(Writer),
}

impl Body {
    /// No body.
    pub fn empty() -> Self {
        Self::default()
    }

    /// A body written by `writer` after the headers have been sent.
    pub fn stream(
        writer: impl FnOnce(&mut BodyWriter<'_>) -> io::Result<()> + Send + 'static,
    ) -> Self {
        Body {
            kind: Kind::Stream(Box::new(writer)),
        }
    }

    /// The writer of a streamed body (to wrap it in another); `None` for a body of bytes.
    pub(crate) fn into_writer(self) -> Option<Writer> {
        match self.kind {
            Kind::Stream(writer) => Some(writer),
            Kind::Empty | Kind::Full(_) => None,
        }
    }

    /// The body's bytes, unless it is streamed.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match &self.kind {
            Kind::Empty => Some(&[]),
            Kind::Full(bytes) => Some(bytes),
            Kind::Stream(_) => None,
        }
    }

    /// Whether the body is streamed.
    pub fn is_stream(&self) -> bool {
        matches!(self.kind, Kind::Stream(_))
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Empty => f.write_str("Body::Empty"),
            Kind::Full(bytes) => f.debug_tuple("Body::Full").field(&bytes.len()).finish(),
            Kind::Stream(_) => f.write_str("Body::Stream"),
        }
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Body {
            kind: Kind::Full(bytes),
        }
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Self {
        Bytes::from_static(text.as_bytes()).into()
    }
}

impl From<&'static [u8]> for Body {
    fn from(bytes: &'static [u8]) -> Self {
        Bytes::from_static(bytes).into()
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Bytes::from(text).into()
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Bytes::from(bytes).into()
    }
}

impl From<()> for Body {
    fn from((): ()) -> Self {
        Body::empty()
    }
}

/// Where a streamed body is written: each `write` goes to the client as one chunk.
pub struct BodyWriter<'a> {
    pub(crate) out: &'a mut dyn Write,
    pub(crate) chunked: bool,
    pub(crate) written: u64,
}

impl BodyWriter<'_> {
    /// Bytes of body written so far.
    pub fn written(&self) -> u64 {
        self.written
    }
}

impl Write for BodyWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            // An empty chunk would end the body.
            return Ok(0);
        }
        if self.chunked {
            write!(self.out, "{:x}\r\n", data.len())?;
            self.out.write_all(data)?;
            self.out.write_all(b"\r\n")?;
        } else {
            self.out.write_all(data)?;
        }
        self.written += data.len() as u64;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl fmt::Debug for BodyWriter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyWriter")
            .field("chunked", &self.chunked)
            .field("written", &self.written)
            .finish()
    }
}
