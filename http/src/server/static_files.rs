//! [`ServeDir`]: files of a folder as routes — content types, validators and `304`, byte
//! ranges, `index.html`, precompressed siblings — read on the offload pool and streamed.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};

use crate::engine::{Body, BoxError, Request, Response};
use crate::server::compression::{AcceptEncoding, Coding, vary_on_accept_encoding};
use crate::server::extract::Handler;
use crate::server::request_context::params;
use crate::server::routing::{RouteError, Router};

/// Serves the files under a folder: a route handler, registered with
/// [`Router::static_dir`] or on a pattern of your own whose `{path}` parameter holds the file's
/// path under the folder.
///
/// ```
/// use hyperf_http::server::{Router, ServeDir, ServerSpec};
/// use hyperf_http::{Bytes, Request, Service};
///
/// let public = std::env::temp_dir().join(format!("serve-dir-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&public).unwrap();
/// std::fs::write(public.join("hello.txt"), "hello").unwrap();
///
/// let mut router = Router::new();
/// // `GET /static/hello.txt` serves `hello.txt`; `/static/` would serve `index.html`.
/// router.static_dir("/static", public.as_path()).unwrap();
/// // The same on a pattern of your own (its parameter must be called `path`):
/// router
///     .get("/assets/{path:.+}", ServeDir::new(&public).cache_control("public, max-age=3600"))
///     .unwrap();
///
/// let service = ServerSpec::new("http", "127.0.0.1", 0).router(router).into_service();
/// for path in ["/static/hello.txt", "/assets/hello.txt"] {
///     let mut request = Request::new(Bytes::new());
///     *request.uri_mut() = path.parse().unwrap();
///     let response = service.call(request.into()).unwrap();
///     assert_eq!(response.body().as_bytes(), Some(&b"hello"[..]));
///     assert_eq!(response.headers()["content-type"], "text/plain; charset=utf-8");
/// }
/// # std::fs::remove_dir_all(&public).unwrap();
/// ```
///
/// # What a request gets
///
/// - `200` with the file, its `Content-Type` from its extension (a small table: web, image,
///   font, media and archive types; `application/octet-stream` otherwise; text types with
///   `charset=utf-8`), `ETag` (from its size and modification time), `Last-Modified` and
///   `Accept-Ranges: bytes`. Files up to 64 KiB are read whole and sent with
///   `Content-Length`; larger ones are streamed (chunked) in pieces of
///   [`chunk_size`](Self::chunk_size), each read on the offload pool: memory stays flat
///   whatever the file's size. A `HEAD` gets the same headers and no body.
/// - `304` when `If-None-Match` matches the `ETag` (weak comparison, `*` too), or, without
///   `If-None-Match`, when the file has not changed since `If-Modified-Since`.
/// - `206` with `Content-Range` for one satisfiable `Range: bytes=…` (`a-b`, `a-`, `-n`),
///   unless `If-Range` names another version (a different strong `ETag`, or a date other than
///   `Last-Modified`), which gets the whole file. `416` with `Content-Range: bytes */len` when
///   the range starts past the end. Several ranges, or a malformed `Range`, get the whole file
///   (`200`): multipart ranges are not served.
/// - A folder: with the path ending in `/`, its `index.html` ([`index_file`](Self::index_file));
///   without it, `301` to the same path with `/` (so that the page's relative links resolve
///   against the folder), the query kept.
/// - A precompressed sibling: when the client accepts `br` (or `gzip`) and `file.br` (or
///   `file.gz`) exists next to `file`, that is sent instead, with `Content-Encoding`, the
///   original's `Content-Type` and an `ETag` of its own; any file with a sibling gets
///   `Vary: Accept-Encoding`. Ranges apply to the bytes sent, the encoded ones here.
/// - `404` for anything else: a missing file, and any path that would leave the folder —
///   `..` segments (also percent-encoded: `%2e%2e`, `..%2f`), backslashes, NUL, and symbolic
///   links whose target is outside the folder (paths are resolved with `canonicalize` and
///   must stay under the folder's own canonical path). Links that stay inside are followed.
///   Hidden files (`.name`) are served like any other: keep what must not be public out of
///   the folder.
///
/// Every file-system call (resolving, `open`, metadata, each read) runs on the offload pool
/// ([`runtime::offload()`]), never on a worker. Put [`Compression`](crate::server::Compression)
/// in front to compress what has no precompressed sibling: it leaves `206` responses and
/// precompressed files alone.
#[derive(Debug, Clone)]
pub struct ServeDir {
    root: PathBuf,
    index: Option<Arc<str>>,
    precompressed: Vec<Coding>,
    chunk_size: usize,
    cache_control: Option<HeaderValue>,
}

/// Files up to this size are read whole and sent with `Content-Length`.
const WHOLE_FILE_LIMIT: u64 = 64 * 1024;

impl ServeDir {
    /// The files under `root` (relative to the process's working folder unless absolute).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ServeDir {
            root: root.into(),
            index: Some(Arc::from("index.html")),
            precompressed: vec![Coding::Brotli, Coding::Gzip],
            chunk_size: 64 * 1024,
            cache_control: None,
        }
    }

    /// The file served for a folder (`index.html` by default); `None`: folders are `404`.
    pub fn index_file(mut self, name: Option<&str>) -> Self {
        self.index = name.map(Arc::from);
        self
    }

    /// Whether `file.br` and `file.gz` are served in place of `file` to clients that accept
    /// them (on by default).
    pub fn precompressed(mut self, enabled: bool) -> Self {
        self.precompressed = if enabled {
            vec![Coding::Brotli, Coding::Gzip]
        } else {
            Vec::new()
        };
        self
    }

    /// The size of each read of a streamed file (64 KiB by default; at least 4 KiB).
    pub fn chunk_size(mut self, bytes: usize) -> Self {
        self.chunk_size = bytes.max(4096);
        self
    }

    /// A `Cache-Control` value for every file response (`200`, `206`, `304`); none by default.
    ///
    /// # Panics
    ///
    /// When `value` is not a valid header value.
    pub fn cache_control(mut self, value: &str) -> Self {
        let value = HeaderValue::from_str(value).expect("a valid Cache-Control value");
        self.cache_control = Some(value);
        self
    }

    /// Answers `request`, whose route parameter `path` (empty when the route has none) is the
    /// file's path under the folder.
    fn serve(&self, request: &Request) -> Result<Response, BoxError> {
        let params = params(request);
        let raw = params.get("path").unwrap_or_default();
        let Some(relative) = relative_path(raw) else {
            return Ok(not_found());
        };
        let accept = AcceptEncoding::of(request.headers());
        let mut acceptable: Vec<(Coding, u16)> = self
            .precompressed
            .iter()
            .map(|&coding| {
                let weight = accept.as_ref().map_or(0, |a| a.weight(coding));
                (coding, weight)
            })
            .filter(|&(_, weight)| weight > 0)
            .collect();
        // Highest weight first; the server's order (brotli first) on a tie.
        acceptable.sort_by_key(|&(_, weight)| std::cmp::Reverse(weight));
        let lookup = Lookup {
            root: self.root.clone(),
            relative,
            is_folder_path: request.uri().path().ends_with('/'),
            index: self.index.clone(),
            siblings: self.precompressed.clone(),
            acceptable: acceptable.into_iter().map(|(coding, _)| coding).collect(),
        };
        let found = runtime::offload(move || lookup.resolve())
            .map_err(|panic| io::Error::other(runtime::panic_message(&panic).to_string()))??;
        match found {
            Found::Missing => Ok(not_found()),
            Found::Folder => Ok(redirect_to_folder(request)),
            Found::File(file) => self.respond(request, file),
        }
    }

    fn respond(&self, request: &Request, found: FoundFile) -> Result<Response, BoxError> {
        let FoundFile {
            file,
            len,
            modified,
            content_type,
            encoding,
            has_siblings,
        } = found;
        let etag = entity_tag(len, modified, encoding);
        let last_modified = httpdate::fmt_http_date(modified);
        let mut headers = HeaderMap::new();
        headers.insert(header::ETAG, HeaderValue::from_str(&etag)?);
        headers.insert(
            header::LAST_MODIFIED,
            HeaderValue::from_str(&last_modified)?,
        );
        if has_siblings {
            vary_on_accept_encoding(&mut headers);
        }
        if let Some(value) = &self.cache_control {
            headers.insert(header::CACHE_CONTROL, value.clone());
        }
        let request_headers = request.headers();
        let safe = matches!(*request.method(), Method::GET | Method::HEAD);
        if safe && not_modified(request_headers, &etag, modified) {
            return Ok(with_headers(
                StatusCode::NOT_MODIFIED,
                headers,
                Body::empty(),
            ));
        }
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        if let Some(coding) = encoding {
            headers.insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_static(coding.token()),
            );
        }
        let range = match request_headers.get(header::RANGE) {
            Some(range) if safe && if_range_holds(request_headers, &etag, modified) => {
                parse_range(range.as_bytes(), len)
            }
            _ => Ranged::Whole,
        };
        let (status, start, count) = match range {
            Ranged::Whole => (StatusCode::OK, 0, len),
            Ranged::Part { first, last } => {
                let content_range = format!("bytes {first}-{last}/{len}");
                headers.insert(
                    header::CONTENT_RANGE,
                    HeaderValue::from_str(&content_range)?,
                );
                (StatusCode::PARTIAL_CONTENT, first, last - first + 1)
            }
            Ranged::Unsatisfiable => {
                headers.remove(header::CONTENT_ENCODING);
                headers.insert(
                    header::CONTENT_RANGE,
                    HeaderValue::from_str(&format!("bytes */{len}"))?,
                );
                return Ok(with_headers(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    headers,
                    Body::empty(),
                ));
            }
        };
        let body = if count <= WHOLE_FILE_LIMIT {
            let bytes = runtime::offload(move || read_part(file, start, count))
                .map_err(|panic| io::Error::other(runtime::panic_message(&panic).to_string()))??;
            Body::from(bytes)
        } else {
            stream_part(file, start, count, self.chunk_size)
        };
        Ok(with_headers(status, headers, body))
    }
}

impl Handler<Request> for ServeDir {
    fn call(&self, request: Request) -> Result<Response, BoxError> {
        self.serve(&request)
    }
}

impl From<PathBuf> for ServeDir {
    fn from(root: PathBuf) -> Self {
        ServeDir::new(root)
    }
}

impl From<&Path> for ServeDir {
    fn from(root: &Path) -> Self {
        ServeDir::new(root)
    }
}

impl From<&str> for ServeDir {
    fn from(root: &str) -> Self {
        ServeDir::new(root)
    }
}

impl From<String> for ServeDir {
    fn from(root: String) -> Self {
        ServeDir::new(root)
    }
}

impl Router {
    /// Serves the files of a folder under `prefix` ([`ServeDir`]; a path or a `ServeDir`):
    /// `GET` (and so `HEAD`) on `prefix` and every path below it. `prefix` itself (without a
    /// trailing `/`) is redirected to `prefix/`, which serves the folder's `index.html`.
    ///
    /// ```no_run
    /// use hyperf_http::server::{Router, ServeDir};
    ///
    /// let mut router = Router::new();
    /// router.static_dir("/static", "public").unwrap();
    /// router.static_dir("/docs", ServeDir::new("target/doc").index_file(None)).unwrap();
    /// ```
    ///
    /// The routes are `prefix` and `prefix{path:/.*}` (`/{path:.*}` for the prefix `/`): a
    /// route registered later under the prefix conflicts with them.
    pub fn static_dir(
        &mut self,
        prefix: &str,
        serve: impl Into<ServeDir>,
    ) -> Result<(), RouteError> {
        let serve = serve.into();
        let prefix = prefix.trim_end_matches('/');
        if prefix.is_empty() {
            self.get("/{path:.*}", serve)?;
        } else {
            self.get(prefix, serve.clone())?;
            self.get(&format!("{prefix}{{path:/.*}}"), serve)?;
        }
        Ok(())
    }
}

/// The path under the folder that `raw` (a route parameter, still percent-encoded) names, or
/// `None` when it could leave the folder or is not a path at all.
fn relative_path(raw: &str) -> Option<PathBuf> {
    if raw.contains('\\') {
        return None;
    }
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()?;
    if decoded.contains('\\') || decoded.contains('\0') {
        return None;
    }
    let mut relative = PathBuf::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => return None,
            _ => {
                // Exactly one plain component: no root, prefix (`C:`) or parent in disguise.
                let mut components = Path::new(segment).components();
                match (components.next(), components.next()) {
                    (Some(Component::Normal(_)), None) => relative.push(segment),
                    _ => return None,
                }
            }
        }
    }
    Some(relative)
}

/// What the offload pool is asked to find.
struct Lookup {
    root: PathBuf,
    relative: PathBuf,
    /// Whether the request's path ends in `/`.
    is_folder_path: bool,
    index: Option<Arc<str>>,
    /// The precompressed siblings looked for (for `Vary`).
    siblings: Vec<Coding>,
    /// Those the client accepts, preferred first.
    acceptable: Vec<Coding>,
}

enum Found {
    Missing,
    /// A folder asked for without a trailing `/`.
    Folder,
    File(FoundFile),
}

struct FoundFile {
    file: File,
    len: u64,
    modified: SystemTime,
    content_type: &'static str,
    encoding: Option<Coding>,
    has_siblings: bool,
}

impl Lookup {
    /// Blocking: runs on the offload pool.
    fn resolve(self) -> io::Result<Found> {
        let Ok(root) = self.root.canonicalize() else {
            return Ok(Found::Missing);
        };
        let Some(mut path) = inside(&root, &root.join(&self.relative)) else {
            return Ok(Found::Missing);
        };
        // An unreadable entry (a permission error, a link raced away) is as good as missing.
        let Ok(mut metadata) = std::fs::metadata(&path) else {
            return Ok(Found::Missing);
        };
        if metadata.is_dir() {
            if !self.is_folder_path {
                return Ok(Found::Folder);
            }
            let Some(index) = &self.index else {
                return Ok(Found::Missing);
            };
            let Some(index) = inside(&root, &path.join(&**index)) else {
                return Ok(Found::Missing);
            };
            path = index;
            let Ok(index_metadata) = std::fs::metadata(&path) else {
                return Ok(Found::Missing);
            };
            metadata = index_metadata;
        }
        if !metadata.is_file() {
            return Ok(Found::Missing);
        }
        let content_type = content_type(&path);
        let sibling = |coding: Coding| {
            let mut name = path.clone().into_os_string();
            name.push(match coding {
                Coding::Brotli => ".br",
                Coding::Gzip => ".gz",
            });
            inside(&root, Path::new(&name)).filter(|p| p.is_file())
        };
        let has_siblings = self
            .siblings
            .iter()
            .any(|&coding| sibling(coding).is_some());
        let mut encoding = None;
        if has_siblings {
            for &coding in &self.acceptable {
                if let Some(found) = sibling(coding) {
                    path = found;
                    encoding = Some(coding);
                    break;
                }
            }
        }
        let Ok(file) = File::open(&path) else {
            return Ok(Found::Missing);
        };
        let metadata = file.metadata()?;
        Ok(Found::File(FoundFile {
            len: metadata.len(),
            modified: metadata.modified().unwrap_or(UNIX_EPOCH),
            file,
            content_type,
            encoding,
            has_siblings,
        }))
    }
}

/// `path` resolved (links followed), if that exists and is under `root` (canonical).
fn inside(root: &Path, path: &Path) -> Option<PathBuf> {
    let resolved = path.canonicalize().ok()?;
    resolved.starts_with(root).then_some(resolved)
}

/// A strong validator from the file's size and modification time (and coding).
fn entity_tag(len: u64, modified: SystemTime, encoding: Option<Coding>) -> String {
    let since = modified.duration_since(UNIX_EPOCH).unwrap_or_default();
    let suffix = match encoding {
        None => "",
        Some(Coding::Brotli) => "-br",
        Some(Coding::Gzip) => "-gz",
    };
    format!(
        "\"{len:x}-{:x}.{:x}{suffix}\"",
        since.as_secs(),
        since.subsec_nanos()
    )
}

fn seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Whether the client's copy is current: `If-None-Match` (weak comparison), else
/// `If-Modified-Since`.
fn not_modified(headers: &HeaderMap, etag: &str, modified: SystemTime) -> bool {
    if headers.contains_key(header::IF_NONE_MATCH) {
        return headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .any(|tag| tag == "*" || opaque(tag) == opaque(etag));
    }
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| httpdate::parse_http_date(value).ok())
        .is_some_and(|since| seconds(modified) <= seconds(since))
}

/// An entity tag without its weakness prefix.
fn opaque(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

/// Whether a `Range` applies: no `If-Range`, or one naming this version (a strong `ETag`
/// equal to ours, or exactly our `Last-Modified` date).
fn if_range_holds(headers: &HeaderMap, etag: &str, modified: SystemTime) -> bool {
    let Some(value) = headers.get(header::IF_RANGE) else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let value = value.trim();
    if value.starts_with('"') || value.starts_with("W/") {
        return value == etag;
    }
    httpdate::parse_http_date(value).is_ok_and(|date| seconds(date) == seconds(modified))
}

#[derive(Debug, PartialEq, Eq)]
enum Ranged {
    Whole,
    Part { first: u64, last: u64 },
    Unsatisfiable,
}

/// One `bytes` range of a body of `len` bytes. Other units, several ranges and malformed
/// values are ignored (the whole body).
fn parse_range(value: &[u8], len: u64) -> Ranged {
    let Ok(value) = std::str::from_utf8(value) else {
        return Ranged::Whole;
    };
    let value = value.trim();
    let Some(spec) = value
        .get(..6)
        .filter(|unit| unit.eq_ignore_ascii_case("bytes="))
        .map(|_| value[6..].trim())
    else {
        return Ranged::Whole;
    };
    if spec.contains(',') {
        return Ranged::Whole;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Ranged::Whole;
    };
    let number = |text: &str| {
        let text = text.trim();
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse::<u64>().ok())
            .flatten()
    };
    if first.trim().is_empty() {
        let Some(suffix) = number(last) else {
            return Ranged::Whole;
        };
        if suffix == 0 || len == 0 {
            return Ranged::Unsatisfiable;
        }
        return Ranged::Part {
            first: len.saturating_sub(suffix),
            last: len - 1,
        };
    }
    let Some(first) = number(first) else {
        return Ranged::Whole;
    };
    let last = if last.trim().is_empty() {
        u64::MAX
    } else {
        match number(last) {
            Some(last) if last >= first => last,
            _ => return Ranged::Whole,
        }
    };
    if first >= len {
        return Ranged::Unsatisfiable;
    }
    Ranged::Part {
        first,
        last: last.min(len - 1),
    }
}

/// Blocking: `count` bytes of `file` from `start`.
fn read_part(mut file: File, start: u64, count: u64) -> io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::with_capacity(count as usize);
    file.take(count).read_to_end(&mut bytes)?;
    if (bytes.len() as u64) < count {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the file shrank while being served",
        ));
    }
    Ok(bytes)
}

/// A body streaming `count` bytes of `file` from `start`, one read of up to `chunk` bytes on
/// the offload pool per chunk sent: one buffer, reused, whatever the file's size.
fn stream_part(file: File, start: u64, count: u64, chunk: usize) -> Body {
    Body::stream(move |out| {
        let mut file = file;
        let mut buffer = Vec::with_capacity(chunk);
        let mut remaining = count;
        let mut position = start;
        while remaining > 0 {
            let want = remaining.min(chunk as u64);
            let (returned_file, returned_buffer, read) = runtime::offload(move || {
                let mut buffer = buffer;
                buffer.clear();
                let read = file
                    .seek(SeekFrom::Start(position))
                    .and_then(|_| (&mut file).take(want).read_to_end(&mut buffer));
                (file, buffer, read)
            })
            .map_err(|panic| io::Error::other(runtime::panic_message(&panic).to_string()))?;
            (file, buffer) = (returned_file, returned_buffer);
            let read = read? as u64;
            if read == 0 {
                // The file shrank: end the body short (the connection closes).
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file shrank while being served",
                ));
            }
            io::Write::write_all(out, &buffer)?;
            remaining -= read;
            position += read;
        }
        Ok(())
    })
}

fn with_headers(status: StatusCode, headers: HeaderMap, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

fn not_found() -> Response {
    let mut response = Response::new(Body::from("Not Found"));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// `301` to the request's path with a `/` added (its query kept).
fn redirect_to_folder(request: &Request) -> Response {
    let uri = request.uri();
    // `//host/…` would be a protocol-relative URL to another site.
    let path = format!("/{}/", uri.path().trim_start_matches('/'));
    let location = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// The `Content-Type` of a file, from its extension.
fn content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match extension.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "txt" => "text/plain; charset=utf-8",
        "md" => "text/markdown; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "pdf" => "application/pdf",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "wav" => "audio/wav",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "tar" => "application/x-tar",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_could_leave_the_folder_are_refused() {
        for raw in [
            "/../x",
            "/%2e%2e/x",
            "/..%2fx",
            "/a/%2E%2E/%2e%2E/x",
            "/a\\..\\b",
            "/a%5c..%5cb",
            "/a%00b",
            "/%ff",
        ] {
            assert_eq!(relative_path(raw), None, "{raw}");
        }
        assert_eq!(
            relative_path("//etc/./passwd"),
            Some(PathBuf::from("etc/passwd"))
        );
        assert_eq!(relative_path("/a%20b/c"), Some(PathBuf::from("a b/c")));
        assert_eq!(relative_path(""), Some(PathBuf::new()));
    }

    #[test]
    fn ranges_parse_as_rfc_9110_says() {
        assert_eq!(
            parse_range(b"bytes=0-9", 100),
            Ranged::Part { first: 0, last: 9 }
        );
        assert_eq!(
            parse_range(b"bytes=90-", 100),
            Ranged::Part {
                first: 90,
                last: 99
            }
        );
        assert_eq!(
            parse_range(b"bytes=-10", 100),
            Ranged::Part {
                first: 90,
                last: 99
            }
        );
        assert_eq!(
            parse_range(b"bytes=-500", 100),
            Ranged::Part { first: 0, last: 99 }
        );
        assert_eq!(
            parse_range(b"bytes=50-500", 100),
            Ranged::Part {
                first: 50,
                last: 99
            }
        );
        assert_eq!(parse_range(b"bytes=100-", 100), Ranged::Unsatisfiable);
        assert_eq!(parse_range(b"bytes=-0", 100), Ranged::Unsatisfiable);
        for ignored in [
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=5-1",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes",
        ] {
            assert_eq!(
                parse_range(ignored.as_bytes(), 100),
                Ranged::Whole,
                "{ignored}"
            );
        }
    }
}
