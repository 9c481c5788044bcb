//! [`Cors`]: a middleware that answers CORS preflights and lets browsers read the responses of
//! the origins it allows.

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderName, HeaderValue};
use http::{Method, StatusCode};

use crate::engine::{Body, BoxError, Request, Response};
use crate::server::middleware::{Middleware, Next};

/// Cross-origin resource sharing: which other sites' pages may call this server from a
/// browser, and what they may send and read, as the Fetch standard's CORS protocol says.
///
/// - A **preflight** (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered
///   here, with `204`, before routing: a route that answers `GET` alone does not `405` it, and
///   no handler runs. Its allow headers are set only when the origin, the requested method and
///   every requested header are allowed; otherwise the `204` has none and the browser refuses
///   the request it was about to send.
/// - Any other request runs as usual; when its `Origin` is allowed, the response (a success,
///   the router's `404`/`405`, an extractor's rejection, a handler's error or panic answered by
///   the exception handlers) carries `Access-Control-Allow-Origin` and, as configured,
///   `Access-Control-Allow-Credentials` and `Access-Control-Expose-Headers`. A disallowed
///   origin gets no CORS header: its page cannot read the response.
/// - Whenever the answer depends on the request's `Origin` (any configuration but
///   [`allow_any_origin`](CorsBuilder::allow_any_origin)), every response says
///   `Vary: Origin`, so that a cache does not hand one origin's answer to another.
///
/// With credentials (cookies, HTTP authentication) allowed, the origin is echoed, never `*`
/// (browsers refuse `*` then), and allowing credentials for any origin is refused by
/// [`CorsBuilder::build`]: it would let every site act as the logged-in user.
/// [`allow_any_method`](CorsBuilder::allow_any_method) and
/// [`allow_any_header`](CorsBuilder::allow_any_header) echo what the preflight asks for, rather
/// than `*` (which does not cover `Authorization`, and means nothing with credentials).
///
/// Register it as a global middleware (preflights to paths without an `OPTIONS` route only
/// reach global middlewares), with a high priority, so that it wraps the others and their
/// failures too:
///
/// ```
/// use std::time::Duration;
/// use hyperf_http::server::{Cors, Router, ServerSpec};
/// use hyperf_http::{Bytes, Method, Request, Service, StatusCode, header};
///
/// let cors = Cors::builder()
///     .allow_origins(["https://app.example.com", "https://admin.example.com"])
///     .allow_methods([Method::GET, Method::POST, Method::DELETE])
///     .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
///     .expose_headers([header::HeaderName::from_static("x-request-id")])
///     .allow_credentials(true)
///     .max_age(Duration::from_secs(600))
///     .build()
///     .expect("a valid CORS configuration");
/// let mut router = Router::new();
/// router.get("/api/me", || "ada").unwrap();
/// let spec = ServerSpec::new("http", "127.0.0.1", 0)
///     .router(router)
///     .middleware_with_priority(cors, 90);
///
/// // A browser's preflight for a `DELETE` with a JSON body, run without sockets.
/// let service = spec.into_service();
/// let mut request = Request::new(Bytes::new());
/// *request.method_mut() = Method::OPTIONS;
/// *request.uri_mut() = "/api/me".parse().unwrap();
/// let headers = request.headers_mut();
/// headers.insert(header::ORIGIN, "https://app.example.com".parse().unwrap());
/// headers.insert(header::ACCESS_CONTROL_REQUEST_METHOD, "DELETE".parse().unwrap());
/// headers.insert(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type".parse().unwrap());
/// let response = service.call(request.into()).unwrap();
/// assert_eq!(response.status(), StatusCode::NO_CONTENT);
/// assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example.com");
/// assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
/// ```
///
/// Origins can also be chosen by a function (any subdomain, say) or all allowed:
///
/// ```
/// use hyperf_http::server::{Cors, CorsError};
///
/// let previews = Cors::builder()
///     .allow_origin_fn(|origin| origin.starts_with("https://") && origin.ends_with(".preview.example.com"))
///     .build()
///     .unwrap();
/// let public = Cors::builder().allow_any_origin().build().unwrap();
/// let refused = Cors::builder().allow_any_origin().allow_credentials(true).build();
/// assert_eq!(refused.unwrap_err(), CorsError::CredentialsWithAnyOrigin);
/// # let _ = (previews, public);
/// ```
///
/// Every value of `Cors` is the same middleware (its [identity](Middleware#identity) is the
/// type): in a sorted chain a second one is dropped, so configure one per server.
#[derive(Clone)]
pub struct Cors {
    origins: Origins,
    methods: Allowed<Method>,
    headers: Allowed<HeaderName>,
    credentials: bool,
    max_age: Option<HeaderValue>,
    expose: Option<HeaderValue>,
}

/// Which origins are allowed.
#[derive(Clone)]
enum Origins {
    Any,
    /// Serialised origins, lower-cased.
    List(Vec<HeaderValue>),
    Predicate(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

/// Which methods or headers a preflight may ask for: any (echoed), or those listed.
#[derive(Debug, Clone)]
enum Allowed<T> {
    Any,
    List(Vec<T>),
}

const VARY_PREFLIGHT: &str =
    "origin, access-control-request-method, access-control-request-headers";

impl Cors {
    /// A configuration to build: no origin, the methods `GET`, `HEAD` and `POST`, no request
    /// header beyond the CORS-safelisted ones, no credentials, no max-age, no exposed header.
    pub fn builder() -> CorsBuilder {
        CorsBuilder {
            origins: Origins::List(Vec::new()),
            methods: Allowed::List(vec![Method::GET, Method::HEAD, Method::POST]),
            headers: Allowed::List(Vec::new()),
            credentials: false,
            max_age: None,
            expose: Vec::new(),
            invalid_origin: None,
        }
    }

    fn allows_origin(&self, origin: &HeaderValue) -> bool {
        match &self.origins {
            Origins::Any => true,
            Origins::List(origins) => origins.contains(origin),
            Origins::Predicate(allows) => origin.to_str().is_ok_and(|origin| allows(origin)),
        }
    }

    /// Whether the answer depends on the request's `Origin`.
    fn varies_by_origin(&self) -> bool {
        !matches!(self.origins, Origins::Any)
    }

    /// `Access-Control-Allow-Origin` (and `-Credentials`) for an allowed `origin`.
    fn allow_origin(&self, origin: &HeaderValue, headers: &mut Vec<(HeaderName, HeaderValue)>) {
        let value = if matches!(self.origins, Origins::Any) && !self.credentials {
            HeaderValue::from_static("*")
        } else {
            origin.clone()
        };
        headers.push((header::ACCESS_CONTROL_ALLOW_ORIGIN, value));
        if self.credentials {
            headers.push((
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            ));
        }
    }

    /// The CORS headers of the response to a request that is not a preflight.
    fn actual_headers(&self, origin: Option<&HeaderValue>) -> Vec<(HeaderName, HeaderValue)> {
        let mut headers = Vec::new();
        if self.varies_by_origin() {
            headers.push((header::VARY, HeaderValue::from_static("origin")));
        }
        if let Some(origin) = origin.filter(|origin| self.allows_origin(origin)) {
            self.allow_origin(origin, &mut headers);
            if let Some(expose) = &self.expose {
                headers.push((header::ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone()));
            }
        }
        headers
    }

    /// The answer to a preflight from `origin`.
    fn preflight(&self, request: &Request, origin: &HeaderValue) -> Response {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        let mut headers = vec![(header::VARY, HeaderValue::from_static(VARY_PREFLIGHT))];
        if let Some(allow) = self.preflight_allows(request, origin) {
            headers.extend(allow);
        }
        set(&mut response, headers);
        response
    }

    /// The allow headers of a preflight whose origin, method and headers are all allowed.
    fn preflight_allows(
        &self,
        request: &Request,
        origin: &HeaderValue,
    ) -> Option<Vec<(HeaderName, HeaderValue)>> {
        if !self.allows_origin(origin) {
            return None;
        }
        let asked = request.headers();
        let method = asked.get(header::ACCESS_CONTROL_REQUEST_METHOD)?;
        let method = Method::from_bytes(method.as_bytes()).ok()?;
        let requested = requested_headers(asked)?;
        let mut headers = Vec::new();
        self.allow_origin(origin, &mut headers);
        let methods = match &self.methods {
            Allowed::Any => HeaderValue::from_str(method.as_str()).ok()?,
            // The CORS-safelisted methods need no listing: browsers send them anyway.
            Allowed::List(methods) if methods.contains(&method) || is_safelisted(&method) => {
                HeaderValue::from_str(&join(methods.iter().map(Method::as_str))).ok()?
            }
            Allowed::List(_) => return None,
        };
        if !methods.is_empty() {
            headers.push((header::ACCESS_CONTROL_ALLOW_METHODS, methods));
        }
        let allowed_headers = match &self.headers {
            Allowed::Any => join(requested.iter().map(HeaderName::as_str)),
            Allowed::List(names) if requested.iter().all(|name| names.contains(name)) => {
                join(names.iter().map(HeaderName::as_str))
            }
            Allowed::List(_) => return None,
        };
        if !allowed_headers.is_empty() {
            let value = HeaderValue::from_str(&allowed_headers).ok()?;
            headers.push((header::ACCESS_CONTROL_ALLOW_HEADERS, value));
        }
        if let Some(max_age) = &self.max_age {
            headers.push((header::ACCESS_CONTROL_MAX_AGE, max_age.clone()));
        }
        Some(headers)
    }
}

impl fmt::Debug for Cors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origins: &dyn fmt::Debug = match &self.origins {
            Origins::Any => &"any",
            Origins::List(origins) => origins,
            Origins::Predicate(_) => &"a function",
        };
        f.debug_struct("Cors")
            .field("origins", origins)
            .field("methods", &self.methods)
            .field("headers", &self.headers)
            .field("credentials", &self.credentials)
            .field("max_age", &self.max_age)
            .field("expose", &self.expose)
            .finish()
    }
}

impl Middleware for Cors {
    fn process(&self, request: Request, next: Next<'_>) -> Result<Response, BoxError> {
        let origin = request.headers().get(header::ORIGIN).cloned();
        if let Some(origin) = &origin {
            let preflight = request.method() == Method::OPTIONS
                && request
                    .headers()
                    .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
            if preflight {
                return Ok(self.preflight(&request, origin));
            }
        }
        let headers = self.actual_headers(origin.as_ref());
        if headers.is_empty() {
            return next.run(request);
        }
        // A panic below: the guard has the pipeline set the headers on the `500` it answers.
        let on_panic = OnPanic {
            headers: &headers,
            next,
        };
        let outcome = next.run(request);
        std::mem::forget(on_panic);
        match outcome {
            Ok(mut response) => {
                set(&mut response, headers);
                Ok(response)
            }
            // The exception handlers answer after this middleware: the pipeline sets the
            // headers on their response, so that the page can read the error.
            Err(error) => {
                for (name, value) in headers {
                    next.set_on_final_response(name, value);
                }
                Err(error)
            }
        }
    }
}

/// Dropped only while a panic unwinds through [`Cors::process`] (forgotten otherwise).
struct OnPanic<'a> {
    headers: &'a [(HeaderName, HeaderValue)],
    next: Next<'a>,
}

impl Drop for OnPanic<'_> {
    fn drop(&mut self) {
        for (name, value) in self.headers {
            self.next.set_on_final_response(name.clone(), value.clone());
        }
    }
}

/// Sets `headers` on `response`: `Vary` added beside any the response has, the others
/// replacing theirs.
fn set(response: &mut Response, headers: Vec<(HeaderName, HeaderValue)>) {
    for (name, value) in headers {
        if name == header::VARY {
            let present = response.headers().get_all(header::VARY).iter().any(|vary| {
                vary.to_str().is_ok_and(|vary| {
                    vary.split(',').any(|token| {
                        token.trim() == "*" || token.trim().eq_ignore_ascii_case("origin")
                    })
                })
            });
            if !present {
                response.headers_mut().append(name, value);
            }
        } else {
            response.headers_mut().insert(name, value);
        }
    }
}

/// The names in the request's `Access-Control-Request-Headers` lines, lower-cased; `None` if
/// one is not a header name.
fn requested_headers(headers: &http::HeaderMap) -> Option<Vec<HeaderName>> {
    let mut names = Vec::new();
    for line in headers.get_all(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        for name in line.to_str().ok()?.split(',') {
            let name = name.trim();
            if !name.is_empty() {
                names.push(HeaderName::from_bytes(name.as_bytes()).ok()?);
            }
        }
    }
    Some(names)
}

/// `GET`, `HEAD` and `POST`: methods a page may send cross-origin without a preflight's leave.
fn is_safelisted(method: &Method) -> bool {
    [Method::GET, Method::HEAD, Method::POST].contains(method)
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

/// A [`Cors`] being configured; [`build`](Self::build) checks it.
#[must_use = "a CORS configuration does nothing until built and registered"]
pub struct CorsBuilder {
    origins: Origins,
    methods: Allowed<Method>,
    headers: Allowed<HeaderName>,
    credentials: bool,
    max_age: Option<Duration>,
    expose: Vec<HeaderName>,
    /// The first origin given that is not one.
    invalid_origin: Option<String>,
}

impl CorsBuilder {
    /// Allows `origin` (`https://app.example.com`, with a port if not the scheme's own:
    /// what browsers send in `Origin`), besides those allowed so far; replaces
    /// [`allow_any_origin`](Self::allow_any_origin) or a function.
    pub fn allow_origin(self, origin: &str) -> Self {
        self.allow_origins([origin])
    }

    /// Allows each of `origins`, besides those allowed so far (see
    /// [`allow_origin`](Self::allow_origin)).
    pub fn allow_origins<'a>(mut self, origins: impl IntoIterator<Item = &'a str>) -> Self {
        let mut list = match self.origins {
            Origins::List(list) => list,
            _ => Vec::new(),
        };
        for origin in origins {
            match parse_origin(origin) {
                Some(value) => list.push(value),
                None => {
                    self.invalid_origin.get_or_insert_with(|| origin.to_owned());
                }
            }
        }
        self.origins = Origins::List(list);
        self
    }

    /// Allows the origins for which `allows(origin)` is true (the `Origin` header as sent,
    /// such as `https://app.example.com`; a value that is not text is refused unasked).
    pub fn allow_origin_fn(
        mut self,
        allows: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.origins = Origins::Predicate(Arc::new(allows));
        self
    }

    /// Allows every origin: responses say `Access-Control-Allow-Origin: *`. For public data
    /// only; refused with credentials.
    pub fn allow_any_origin(mut self) -> Self {
        self.origins = Origins::Any;
        self
    }

    /// The methods a preflight may ask for (replacing the default `GET`, `HEAD`, `POST`; those
    /// three are allowed anyway, as browsers send them without asking).
    pub fn allow_methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.methods = Allowed::List(methods.into_iter().collect());
        self
    }

    /// Any method a preflight asks for (the answer echoes it).
    pub fn allow_any_method(mut self) -> Self {
        self.methods = Allowed::Any;
        self
    }

    /// The request headers a preflight may ask for (`Content-Type` for JSON, `Authorization`,
    /// your own `X-…`).
    pub fn allow_headers(mut self, headers: impl IntoIterator<Item = HeaderName>) -> Self {
        self.headers = Allowed::List(headers.into_iter().collect());
        self
    }

    /// Any request header a preflight asks for (the answer echoes them).
    pub fn allow_any_header(mut self) -> Self {
        self.headers = Allowed::Any;
        self
    }

    /// Whether pages may send credentials (cookies, HTTP authentication) and read the
    /// responses to them: `Access-Control-Allow-Credentials: true`. Off by default.
    pub fn allow_credentials(mut self, allow: bool) -> Self {
        self.credentials = allow;
        self
    }

    /// How long a browser may cache a preflight's answer (`Access-Control-Max-Age`, whole
    /// seconds; browsers cap it, Chromium at 2 hours). None by default: browsers then cache it
    /// for 5 seconds.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// The response headers pages may read besides the CORS-safelisted ones
    /// (`Access-Control-Expose-Headers`).
    pub fn expose_headers(mut self, headers: impl IntoIterator<Item = HeaderName>) -> Self {
        self.expose = headers.into_iter().collect();
        self
    }

    /// The middleware, or why the configuration is refused: an origin that is not one, or
    /// credentials with any origin.
    pub fn build(self) -> Result<Cors, CorsError> {
        if let Some(origin) = self.invalid_origin {
            return Err(CorsError::InvalidOrigin(origin));
        }
        if self.credentials && matches!(self.origins, Origins::Any) {
            return Err(CorsError::CredentialsWithAnyOrigin);
        }
        let expose = (!self.expose.is_empty())
            .then(|| join(self.expose.iter().map(HeaderName::as_str)))
            .map(|names| HeaderValue::from_str(&names).expect("header names make a header value"));
        let max_age = self.max_age.map(|age| HeaderValue::from(age.as_secs()));
        Ok(Cors {
            origins: self.origins,
            methods: self.methods,
            headers: self.headers,
            credentials: self.credentials,
            max_age,
            expose,
        })
    }
}

impl fmt::Debug for CorsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CorsBuilder").finish_non_exhaustive()
    }
}

/// `origin` as browsers serialise it in `Origin` (`scheme://host[:port]`, lower-cased), or
/// `null`; `None` for anything else (a path, a trailing slash, `*`).
fn parse_origin(origin: &str) -> Option<HeaderValue> {
    let origin = origin.to_ascii_lowercase();
    if origin != "null" {
        let (scheme, host) = origin.split_once("://")?;
        let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        let host_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.:[]_".contains(c));
        if !scheme_ok || !host_ok {
            return None;
        }
    }
    HeaderValue::from_str(&origin).ok()
}

/// Why a [`CorsBuilder`] was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorsError {
    /// Credentials were allowed for any origin: every site could act as the logged-in user
    /// (and browsers refuse `*` with credentials). List the origins, or use a function.
    CredentialsWithAnyOrigin,
    /// This is not an origin as browsers send it (`scheme://host[:port]`, no path, no
    /// trailing slash), so no request would match it.
    InvalidOrigin(String),
}

impl fmt::Display for CorsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorsError::CredentialsWithAnyOrigin => write!(
                f,
                "CORS: credentials cannot be allowed for any origin; list the origins or use a function"
            ),
            CorsError::InvalidOrigin(origin) => write!(
                f,
                "CORS: {origin:?} is not an origin (scheme://host[:port], no path, no trailing slash)"
            ),
        }
    }
}

impl Error for CorsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked_and_lower_cased() {
        assert_eq!(
            parse_origin("https://App.Example.com:8443").unwrap(),
            "https://app.example.com:8443"
        );
        assert!(parse_origin("null").is_some());
        for bad in [
            "*",
            "https://a.com/",
            "https://a.com/x",
            "a.com",
            "https://",
            "https://a b",
        ] {
            assert!(parse_origin(bad).is_none(), "{bad}");
        }
        let error = Cors::builder()
            .allow_origin("https://a.com/")
            .build()
            .unwrap_err();
        assert_eq!(error, CorsError::InvalidOrigin("https://a.com/".into()));
    }

    #[test]
    fn requested_headers_are_split_trimmed_and_lower_cased() {
        let mut headers = http::HeaderMap::new();
        headers.append(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            HeaderValue::from_static("Content-Type , X-Token"),
        );
        headers.append(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            HeaderValue::from_static("authorization"),
        );
        let names = requested_headers(&headers).unwrap();
        assert_eq!(names, ["content-type", "x-token", "authorization"]);
        headers.append(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            HeaderValue::from_static("bad name"),
        );
        assert!(requested_headers(&headers).is_none());
    }
}
