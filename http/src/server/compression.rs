//! Content codings: what a client accepts (`Accept-Encoding`, always compiled: static files
//! pick precompressed siblings with it) and, with feature `compression`, [`Compression`], the
//! middleware that compresses response bodies with gzip or brotli.

// Without the middleware, only the static files' choice of a precompressed sibling reads
// these, and not all of them.
#![cfg_attr(not(feature = "compression"), allow(dead_code))]

use http::HeaderMap;
use http::header::{self, HeaderValue};

/// A content coding the server can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    Brotli,
    Gzip,
}

impl Coding {
    /// Its token in `Accept-Encoding` and `Content-Encoding`.
    pub(crate) fn token(self) -> &'static str {
        match self {
            Coding::Brotli => "br",
            Coding::Gzip => "gzip",
        }
    }
}

/// A parsed `Accept-Encoding`: the weights (in thousandths) of what the server cares about.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct AcceptEncoding {
    brotli: Option<u16>,
    gzip: Option<u16>,
    identity: Option<u16>,
    star: Option<u16>,
}

impl AcceptEncoding {
    /// The request's `Accept-Encoding` (every field of that name, as one list). `None` when
    /// there is none, or when it is malformed: a malformed one is ignored, as if absent, and
    /// the response is sent as is.
    pub(crate) fn of(headers: &HeaderMap) -> Option<Self> {
        let mut fields = headers.get_all(header::ACCEPT_ENCODING).iter().peekable();
        fields.peek()?;
        let mut accept = AcceptEncoding::default();
        for field in fields {
            let text = field.to_str().ok()?;
            for element in text.split(',') {
                let element = element.trim();
                if element.is_empty() {
                    // Empty list elements are allowed (`gzip, , br`).
                    continue;
                }
                let mut pieces = element.split(';');
                let coding = pieces.next().unwrap_or_default().trim();
                if coding.is_empty() || !coding.bytes().all(is_token_byte) {
                    return None;
                }
                let mut weight = 1000;
                for parameter in pieces {
                    let (name, value) = parameter.split_once('=')?;
                    if !name.trim().eq_ignore_ascii_case("q") {
                        return None;
                    }
                    weight = parse_weight(value.trim())?;
                }
                let slot = if coding.eq_ignore_ascii_case("br") {
                    &mut accept.brotli
                } else if coding.eq_ignore_ascii_case("gzip")
                    || coding.eq_ignore_ascii_case("x-gzip")
                {
                    &mut accept.gzip
                } else if coding.eq_ignore_ascii_case("identity") {
                    &mut accept.identity
                } else if coding == "*" {
                    &mut accept.star
                } else {
                    continue;
                };
                // A coding listed twice: the first weight counts.
                slot.get_or_insert(weight);
            }
        }
        Some(accept)
    }

    /// The weight of `coding`: its own, else that of `*`, else 0 (not acceptable).
    pub(crate) fn weight(&self, coding: Coding) -> u16 {
        let own = match coding {
            Coding::Brotli => self.brotli,
            Coding::Gzip => self.gzip,
        };
        own.or(self.star).unwrap_or(0)
    }

    /// Whether the client refuses an unencoded body: `identity;q=0`, or `*;q=0` without
    /// `identity` listed.
    pub(crate) fn refuses_identity(&self) -> bool {
        match self.identity {
            Some(weight) => weight == 0,
            None => self.star == Some(0),
        }
    }

    /// The coding of `offered` (in the server's order of preference) to use: the acceptable
    /// one of highest weight, the earlier on a tie; `None` when none is acceptable or the
    /// client weighs `identity` higher than all of them.
    pub(crate) fn choose(&self, offered: &[Coding]) -> Option<Coding> {
        let mut best: Option<(Coding, u16)> = None;
        for &coding in offered {
            let weight = self.weight(coding);
            if weight > 0 && best.is_none_or(|(_, top)| weight > top) {
                best = Some((coding, weight));
            }
        }
        let (coding, weight) = best?;
        match self.identity {
            Some(identity) if identity > weight => None,
            _ => Some(coding),
        }
    }
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in thousandths.
fn parse_weight(text: &str) -> Option<u16> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (text, ""),
    };
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for (i, digit) in fraction.bytes().enumerate() {
        thousandths += u16::from(digit - b'0') * [100, 10, 1][i];
    }
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// RFC 9110's `tchar`.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Adds `Accept-Encoding` to the response's `Vary` (unless it is there already, or `*`).
pub(crate) fn vary_on_accept_encoding(headers: &mut HeaderMap) {
    let listed = headers.get_all(header::VARY).iter().any(|value| {
        value.to_str().is_ok_and(|text| {
            text.split(',').any(|name| {
                let name = name.trim();
                name == "*" || name.eq_ignore_ascii_case("accept-encoding")
            })
        })
    });
    if !listed {
        headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
}

#[cfg(feature = "compression")]
pub use self::middleware::Compression;

#[cfg(feature = "compression")]
mod middleware {
    use std::io::{self, Write};

    use brotli::CompressorWriter;
    use bytes::Bytes;
    use flate2::Compression as GzipLevel;
    use flate2::write::GzEncoder;
    use http::header::{self, HeaderMap, HeaderValue};
    use http::{Method, StatusCode};

    use super::{AcceptEncoding, Coding, vary_on_accept_encoding};
    use crate::engine::{Body, BodyWriter, BoxError, Request, Response};
    use crate::server::middleware::{Middleware, Next};

    /// Compresses response bodies with brotli (`br`) or gzip, whichever the client's
    /// `Accept-Encoding` weighs higher (brotli on a tie), as a middleware.
    ///
    /// ```
    /// use hyperf_http::server::{Compression, Router, ServerSpec};
    ///
    /// let mut router = Router::new();
    /// router.get("/", || "hello ".repeat(1000)).unwrap();
    /// let spec = ServerSpec::new("http", "127.0.0.1", 9501)
    ///     .middleware(Compression::new().min_size(256))
    ///     .router(router);
    /// # let _ = spec;
    /// ```
    ///
    /// # What is compressed
    ///
    /// A response is compressed when the client accepts `br` or `gzip` (a weight above 0,
    /// named or through `*`; a higher weight on `identity` keeps the body as it is) and:
    ///
    /// - its `Content-Type` is on the [allow-list](Self::content_types) (by default text,
    ///   JSON, JavaScript, XML, SVG, WebAssembly; a response without one is not compressed);
    /// - a body of bytes has at least [`min_size`](Self::min_size) bytes (1 KiB by default)
    ///   and shrinks; a [streamed](Body::stream) body always qualifies;
    /// - it is none of: a `HEAD` request's, a `204`, `304`, `206` or any response with
    ///   `Content-Range`, one with `Content-Encoding` already (a precompressed file is never
    ///   compressed twice), `text/event-stream` (server-sent events are passed through
    ///   untouched so that no event waits in a compressor), `Cache-Control: no-transform`.
    ///
    /// A response that qualifies gets `Vary: Accept-Encoding` whether or not this client's
    /// body is compressed, so that caches keep the variants apart. A compressed one gets
    /// `Content-Encoding`, loses `Content-Length` (the engine frames the new body) and
    /// `Accept-Ranges` (byte ranges of the compressed body are not served), and its `ETag`, if
    /// strong, becomes weak (`W/"…"`): the bytes differ from the identity body's.
    ///
    /// A malformed `Accept-Encoding` is ignored: the body goes out as it is. A client that
    /// refuses `identity` (`identity;q=0`, or `*;q=0` without `identity`) and accepts neither
    /// coding gets `406 Not Acceptable` before the handler runs; one that refuses `identity`
    /// and accepts a coding gets it even below the minimum size or off the allow-list.
    ///
    /// # Streamed bodies
    ///
    /// A streamed body is compressed as it streams: each `write` of the handler's writer is
    /// compressed and flushed (a deflate sync flush, a brotli flush) and sent as one chunk, so
    /// a slow stream's data is never held back in the compressor, and memory stays bounded by
    /// the compressor's window (32 KiB for gzip; 256 KiB for brotli, whose window this
    /// middleware caps at 2^18 bytes) plus one write. The price: every flush ends a block, so
    /// many tiny writes compress worse (a few bytes of overhead each) than one large one. Write in
    /// pieces of a few KiB, or buffer, where ratio matters more than latency.
    ///
    /// Compressing runs on the offload pool ([`runtime::offload()`]): the compressors need more
    /// stack than a connection's coroutine has, and CPU work should not hold a worker. The
    /// defaults, gzip level 6 and brotli quality 4, are fast settings that still shrink text
    /// several times; a streamed write waits for its turn on the pool like any offloaded call.
    #[derive(Debug, Clone)]
    pub struct Compression {
        min_size: usize,
        content_types: Vec<String>,
        codings: Vec<Coding>,
        gzip_level: u32,
        brotli_quality: u32,
    }

    impl Compression {
        /// The default minimum size of a body of bytes to compress: 1 KiB.
        pub const DEFAULT_MIN_SIZE: usize = 1024;

        /// The default allow-list: see [`content_types`](Self::content_types).
        pub const DEFAULT_CONTENT_TYPES: &'static [&'static str] = &[
            "text/*",
            "application/json",
            "application/javascript",
            "application/xml",
            "application/wasm",
            "image/svg+xml",
            "+json",
            "+xml",
        ];

        /// brotli and gzip, bodies from 1 KiB, the default allow-list.
        pub fn new() -> Self {
            Compression {
                min_size: Self::DEFAULT_MIN_SIZE,
                content_types: Self::DEFAULT_CONTENT_TYPES
                    .iter()
                    .map(|&t| t.to_owned())
                    .collect(),
                codings: vec![Coding::Brotli, Coding::Gzip],
                gzip_level: 6,
                brotli_quality: 4,
            }
        }

        /// Bodies of bytes shorter than `bytes` are sent as they are (below a few hundred
        /// bytes, compression saves less than it costs). Streamed bodies have no size to
        /// compare and are always compressed.
        pub fn min_size(mut self, bytes: usize) -> Self {
            self.min_size = bytes;
            self
        }

        /// The media types to compress, replacing the list: `type/*` (every subtype, e.g.
        /// `text/*`), `+suffix` (every structured-syntax subtype, e.g. `+json` for
        /// `application/problem+json`), or an exact type (`application/json`); compared
        /// without parameters and case. `text/event-stream` is never compressed.
        pub fn content_types<I, S>(mut self, types: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            self.content_types = types
                .into_iter()
                .map(|t| t.into().to_ascii_lowercase())
                .collect();
            self
        }

        /// Whether to offer gzip (on by default).
        pub fn gzip(mut self, enabled: bool) -> Self {
            self.set_offered(Coding::Gzip, enabled);
            self
        }

        /// Whether to offer brotli (on by default).
        pub fn brotli(mut self, enabled: bool) -> Self {
            self.set_offered(Coding::Brotli, enabled);
            self
        }

        /// The gzip level, 0 (stored) to 9 (smallest); 6 by default.
        pub fn gzip_level(mut self, level: u32) -> Self {
            self.gzip_level = level.min(9);
            self
        }

        /// The brotli quality, 0 to 11 (smallest, and slow: meant for precompressing);
        /// 4 by default.
        pub fn brotli_quality(mut self, quality: u32) -> Self {
            self.brotli_quality = quality.min(11);
            self
        }

        fn set_offered(&mut self, coding: Coding, enabled: bool) {
            self.codings.retain(|&c| c != coding);
            if enabled {
                self.codings.push(coding);
                // The server's preference on a tie: brotli first.
                self.codings.sort_by_key(|&c| c != Coding::Brotli);
            }
        }

        /// Whether `response` may be compressed at all (`forced`: the client refuses
        /// identity, so the allow-list does not apply).
        fn qualifies(&self, response: &Response, forced: bool) -> bool {
            let status = response.status();
            if status == StatusCode::NO_CONTENT
                || status == StatusCode::NOT_MODIFIED
                || status == StatusCode::PARTIAL_CONTENT
                || status.is_informational()
            {
                return false;
            }
            let headers = response.headers();
            if headers.contains_key(header::CONTENT_ENCODING)
                || headers.contains_key(header::CONTENT_RANGE)
                || has_no_transform(headers)
            {
                return false;
            }
            let Some(essence) = media_type(headers) else {
                return false;
            };
            if essence == "text/event-stream" {
                return false;
            }
            forced || self.allows(&essence)
        }

        fn allows(&self, essence: &str) -> bool {
            self.content_types.iter().any(|allowed| {
                if let Some(suffix) = allowed.strip_prefix('+') {
                    essence
                        .split_once('/')
                        .is_some_and(|(_, subtype)| subtype.ends_with(&format!("+{suffix}")))
                } else if let Some(kind) = allowed.strip_suffix("/*") {
                    essence.split_once('/').is_some_and(|(top, _)| top == kind)
                } else {
                    essence == allowed
                }
            })
        }
    }

    impl Default for Compression {
        fn default() -> Self {
            Self::new()
        }
    }

    impl Middleware for Compression {
        fn process(&self, request: Request, next: Next<'_>) -> Result<Response, BoxError> {
            let accept = AcceptEncoding::of(request.headers());
            let chosen = accept.as_ref().and_then(|a| a.choose(&self.codings));
            let forced = accept
                .as_ref()
                .is_some_and(AcceptEncoding::refuses_identity);
            if forced && chosen.is_none() {
                return Ok(not_acceptable());
            }
            let head = request.method() == Method::HEAD;
            let mut response = next.run(request)?;
            if head || !self.qualifies(&response, forced) {
                return Ok(response);
            }
            vary_on_accept_encoding(response.headers_mut());
            let Some(coding) = chosen else {
                return Ok(response);
            };
            let body = std::mem::take(response.body_mut());
            if body.is_stream() {
                let writer = body.into_writer().expect("a streamed body has a writer");
                let (gzip_level, brotli_quality) = (self.gzip_level, self.brotli_quality);
                *response.body_mut() = Body::stream(move |out: &mut BodyWriter<'_>| {
                    let encoder =
                        offloaded(move || Ok(Encoder::new(coding, gzip_level, brotli_quality)))?;
                    let mut held = Held(Some(encoder));
                    {
                        let mut sink = Compressing {
                            encoder: &mut held,
                            out: &mut *out,
                        };
                        let mut plain = BodyWriter {
                            out: &mut sink,
                            chunked: false,
                            written: 0,
                        };
                        writer(&mut plain)?;
                    }
                    let encoder = held.0.take().expect("held until finished");
                    let tail = offloaded(move || encoder.finish())?;
                    out.write_all(&tail)
                });
            } else {
                let bytes = body.as_bytes().unwrap_or_default();
                if bytes.is_empty() || (bytes.len() < self.min_size && !forced) {
                    *response.body_mut() = body;
                    return Ok(response);
                }
                let plain = Bytes::copy_from_slice(bytes);
                let (gzip_level, brotli_quality) = (self.gzip_level, self.brotli_quality);
                let compressed = offloaded(move || {
                    let mut encoder = Encoder::new(coding, gzip_level, brotli_quality);
                    encoder.write_all(&plain)?;
                    encoder.finish()
                })?;
                if compressed.len() >= bytes.len() && !forced {
                    *response.body_mut() = body;
                    return Ok(response);
                }
                *response.body_mut() = Body::from(compressed);
            }
            mark_encoded(response.headers_mut(), coding);
            Ok(response)
        }
    }

    /// `406`: the client accepts neither an unencoded body nor a coding of ours.
    fn not_acceptable() -> Response {
        let mut response = Response::new(Body::from("Not Acceptable"));
        *response.status_mut() = StatusCode::NOT_ACCEPTABLE;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        vary_on_accept_encoding(headers);
        response
    }

    /// The `Content-Type` without parameters, lower-cased.
    fn media_type(headers: &HeaderMap) -> Option<String> {
        let text = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
        let essence = text.split(';').next().unwrap_or_default().trim();
        (!essence.is_empty()).then(|| essence.to_ascii_lowercase())
    }

    fn has_no_transform(headers: &HeaderMap) -> bool {
        headers.get_all(header::CACHE_CONTROL).iter().any(|value| {
            value.to_str().is_ok_and(|text| {
                text.split(',')
                    .any(|directive| directive.trim().eq_ignore_ascii_case("no-transform"))
            })
        })
    }

    /// The headers of a body now encoded with `coding`.
    fn mark_encoded(headers: &mut HeaderMap, coding: Coding) {
        headers.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static(coding.token()),
        );
        headers.remove(header::CONTENT_LENGTH);
        headers.remove(header::ACCEPT_RANGES);
        if let Some(tag) = headers.get(header::ETAG)
            && !tag.as_bytes().starts_with(b"W/")
        {
            let mut weak = b"W/".to_vec();
            weak.extend_from_slice(tag.as_bytes());
            if let Ok(weak) = HeaderValue::from_bytes(&weak) {
                headers.insert(header::ETAG, weak);
            }
        }
    }

    /// A compressor writing into memory, taken out after each flush.
    enum Encoder {
        Gzip(GzEncoder<Vec<u8>>),
        Brotli(Box<CompressorWriter<Vec<u8>>>),
    }

    /// brotli's window: 2^18 bytes (256 KiB), a bound on each stream's memory.
    const BROTLI_WINDOW_BITS: u32 = 18;

    impl Encoder {
        fn new(coding: Coding, gzip_level: u32, brotli_quality: u32) -> Self {
            match coding {
                Coding::Gzip => {
                    Encoder::Gzip(GzEncoder::new(Vec::new(), GzipLevel::new(gzip_level)))
                }
                Coding::Brotli => Encoder::Brotli(Box::new(CompressorWriter::new(
                    Vec::new(),
                    16 * 1024,
                    brotli_quality,
                    BROTLI_WINDOW_BITS,
                ))),
            }
        }

        /// The compressed bytes produced so far and not yet taken.
        fn output(&mut self) -> &mut Vec<u8> {
            match self {
                Encoder::Gzip(encoder) => encoder.get_mut(),
                Encoder::Brotli(encoder) => encoder.get_mut(),
            }
        }

        /// Ends the stream: what is left of it.
        fn finish(self) -> io::Result<Vec<u8>> {
            match self {
                Encoder::Gzip(encoder) => encoder.finish(),
                // Writing into memory cannot fail: brotli's own finish reports nothing.
                Encoder::Brotli(encoder) => Ok(encoder.into_inner()),
            }
        }
    }

    impl Write for Encoder {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            match self {
                Encoder::Gzip(encoder) => encoder.write(data),
                Encoder::Brotli(encoder) => encoder.write(data),
            }
        }

        fn flush(&mut self) -> io::Result<()> {
            match self {
                Encoder::Gzip(encoder) => encoder.flush(),
                Encoder::Brotli(encoder) => encoder.flush(),
            }
        }
    }

    /// Runs `work` on the offload pool: the compressors' stack frames (brotli's above all)
    /// are far larger than a connection coroutine's stack, and compressing is CPU work that
    /// should not hold a worker.
    fn offloaded<T: Send + 'static>(
        work: impl FnOnce() -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        runtime::offload(work)
            .map_err(|panic| io::Error::other(runtime::panic_message(&panic).to_string()))?
    }

    /// A streamed body's encoder between writes. Dropped with the encoder inside (the body's
    /// writer failed, or panicked): brotli's drop finishes its stream, which needs a large
    /// stack, so the drop happens on a thread of its own.
    struct Held(Option<Encoder>);

    impl Drop for Held {
        fn drop(&mut self) {
            if let Some(encoder) = self.0.take() {
                let dropped = std::thread::Builder::new()
                    .name("compression-drop".into())
                    .spawn(move || drop(encoder));
                if let Err(error) = dropped {
                    log::error!("could not drop a compressor off the coroutine: {error}");
                }
            }
        }
    }

    /// What a streamed body's writer writes into: each write compressed and flushed on the
    /// offload pool, and sent on as one chunk.
    struct Compressing<'a, 'b> {
        encoder: &'a mut Held,
        out: &'a mut BodyWriter<'b>,
    }

    impl Write for Compressing<'_, '_> {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            if data.is_empty() {
                return Ok(0);
            }
            let mut encoder = self.encoder.0.take().expect("held between writes");
            let plain = data.to_vec();
            let (encoder, compressed) = offloaded(move || {
                encoder.write_all(&plain)?;
                encoder.flush()?;
                let compressed = std::mem::take(encoder.output());
                Ok((encoder, compressed))
            })?;
            self.encoder.0 = Some(encoder);
            if !compressed.is_empty() {
                self.out.write_all(&compressed)?;
            }
            Ok(data.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            self.out.flush()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Option<AcceptEncoding> {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, value.parse().unwrap());
        AcceptEncoding::of(&headers)
    }

    const BOTH: &[Coding] = &[Coding::Brotli, Coding::Gzip];

    #[test]
    fn weights_choose_and_ties_go_to_the_servers_order() {
        assert_eq!(
            accept("gzip, br").unwrap().choose(BOTH),
            Some(Coding::Brotli)
        );
        assert_eq!(
            accept("gzip;q=1, br;q=0.5").unwrap().choose(BOTH),
            Some(Coding::Gzip)
        );
        assert_eq!(
            accept("br;q=0, gzip").unwrap().choose(BOTH),
            Some(Coding::Gzip)
        );
        assert_eq!(
            accept("*;q=0.2").unwrap().choose(BOTH),
            Some(Coding::Brotli)
        );
        assert_eq!(accept("identity").unwrap().choose(BOTH), None);
        assert_eq!(accept("gzip;q=0.5, identity").unwrap().choose(BOTH), None);
        assert_eq!(accept("").unwrap().choose(BOTH), None);
        assert_eq!(
            accept("GZIP;Q=0.500").unwrap().choose(BOTH),
            Some(Coding::Gzip)
        );
    }

    #[test]
    fn identity_is_refused_only_explicitly() {
        assert!(accept("identity;q=0").unwrap().refuses_identity());
        assert!(accept("*;q=0").unwrap().refuses_identity());
        assert!(!accept("*;q=0, identity").unwrap().refuses_identity());
        assert!(!accept("gzip").unwrap().refuses_identity());
    }

    #[test]
    fn malformed_fields_are_ignored() {
        for bad in [
            "gzip;q=2",
            "gzip;q=0.1234",
            "gzip;level=1",
            "gz ip",
            "gzip;q",
            "br;q=1.5",
        ] {
            assert_eq!(accept(bad), None, "{bad}");
        }
        assert_eq!(AcceptEncoding::of(&HeaderMap::new()), None);
    }

    #[test]
    fn vary_is_added_once() {
        let mut headers = HeaderMap::new();
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        vary_on_accept_encoding(&mut headers);
        vary_on_accept_encoding(&mut headers);
        let values: Vec<_> = headers.get_all(header::VARY).iter().collect();
        assert_eq!(values, ["Origin", "accept-encoding"]);
    }
}
