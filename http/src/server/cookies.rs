//! Cookies (feature `cookies`): the request's cookies as an extractor ([`CookieJar`], and the
//! [`SignedCookieJar`] and [`PrivateCookieJar`] that check or decrypt them with a [`Key`]),
//! `Set-Cookie` from a handler that returns its jar beside its body, and [`Cookies`] for code
//! anywhere in the request. Parsing, formatting, signing and encryption are the `cookie`
//! crate's, whose [`Cookie`], [`Key`] and [`SameSite`] are re-exported here, and the crate
//! itself as [`cookie`] (for `cookie::time::Duration`, a `Max-Age`).

use std::convert::Infallible;

use http::header::{self, HeaderValue};

use crate::engine::{Request, Response};
use crate::server::extract::{FromRequest, MissingState, State};
use crate::server::request_context::RequestContext;
use crate::server::response::IntoResponse;

pub use ::cookie;
pub use cookie::{Cookie, Key, SameSite};

/// The request's cookies, from all its `Cookie` header lines, and the cookies to set.
///
/// Taken as a handler's argument, it holds what the client sent; [`add`](Self::add) and
/// [`remove`](Self::remove) change it, and returned beside the body — `(jar, body)` — its
/// changes become the response's `Set-Cookie` headers, one per cookie. A pair that does not
/// parse (no `=`, an empty name) is skipped, never a rejection: a client's stray cookie must
/// not break the page. Values are percent-decoded when read and percent-encoded when set.
///
/// ```
/// use hyperf_http::server::{Cookie, CookieJar, Router};
///
/// let mut router = Router::new();
/// router.get("/visit", |jar: CookieJar| {
///     let visits: u32 = jar.get("visits").and_then(|c| c.value().parse().ok()).unwrap_or(0);
///     let jar = jar
///         .add(Cookie::build(("visits", (visits + 1).to_string())).path("/").http_only(true))
///         .add(Cookie::new("theme", "dark"));
///     (jar, format!("visit {}", visits + 1))
/// }).unwrap();
///
/// router.post("/logout", |jar: CookieJar| {
///     // Same path (and domain) as when it was set, or the browser keeps it.
///     (jar.remove(Cookie::build("session").path("/")), "bye")
/// }).unwrap();
/// ```
///
/// The same jar works outside a server:
///
/// ```
/// use hyperf_http::server::{Cookie, CookieJar, IntoResponse};
/// use hyperf_http::header::SET_COOKIE;
///
/// let jar = CookieJar::new().add(Cookie::new("a", "1")).add(Cookie::new("b", "two words"));
/// let response = (jar, "ok").into_response();
/// let set: Vec<_> = response.headers().get_all(SET_COOKIE).iter().collect();
/// assert_eq!(set.len(), 2);
/// assert!(set.iter().any(|value| *value == "b=two%20words"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct CookieJar {
    jar: cookie::CookieJar,
}

impl CookieJar {
    /// An empty jar (a handler usually takes the request's instead).
    pub fn new() -> Self {
        Self::default()
    }

    /// The cookies of `headers`' `Cookie` lines.
    pub fn from_headers(headers: &http::HeaderMap) -> Self {
        let mut jar = cookie::CookieJar::new();
        for cookie in request_cookies(headers) {
            jar.add_original(cookie);
        }
        CookieJar { jar }
    }

    /// The cookie called `name`: as the client sent it, or as added since; `None` once
    /// removed.
    pub fn get(&self, name: &str) -> Option<&Cookie<'static>> {
        self.jar.get(name)
    }

    /// Adds `cookie` (replacing one of that name): the response sets it.
    #[must_use = "the jar with the cookie added is returned: return it beside the body"]
    // The `cookie` crate's name (and axum-extra's); a jar is no sum.
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, cookie: impl Into<Cookie<'static>>) -> Self {
        self.jar.add(cookie);
        self
    }

    /// Removes the cookie `cookie` names: the response sets it empty and expired, which
    /// makes the browser drop it. Give it the path and domain it was set with (a browser keeps
    /// a cookie whose removal names another path): `Cookie::build("session").path("/")`. A
    /// removal is sent even for a cookie the request did not carry (it may be scoped to
    /// another path).
    #[must_use = "the jar with the removal is returned: return it beside the body"]
    pub fn remove(mut self, cookie: impl Into<Cookie<'static>>) -> Self {
        remove(&mut self.jar, cookie.into());
        self
    }

    /// All the cookies: the request's and those added, less those removed.
    pub fn iter(&self) -> impl Iterator<Item = &Cookie<'static>> {
        self.jar.iter()
    }

    /// Sets the jar's changes on `response`, a `Set-Cookie` line each.
    fn set_on(&self, response: &mut Response) {
        for value in set_cookie_values(&self.jar) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
}

impl FromRequest for CookieJar {
    type Rejection = Infallible;

    fn from_request(request: &mut Request) -> Result<Self, Infallible> {
        Ok(Self::from_headers(request.headers()))
    }
}

/// The request's cookies signed with a [`Key`] (HMAC-SHA256), and the signed cookies to set:
/// a client can read their values but not change them. [`get`](Self::get) returns a cookie
/// only if its signature checks — a tampered or unsigned one is as if absent.
///
/// The key is the server's (or the router's) [`State`] of type [`Key`]: register one, the
/// same in every process that serves the site, kept secret. Without one, the extractor fails
/// with [`MissingState`] (a `500`: a server fault).
///
/// ```
/// use hyperf_http::server::{Cookie, Key, Router, SignedCookieJar};
///
/// let mut router = Router::new();
/// // In production, a key of 64 bytes from your secrets (`Key::from`), not a new one per start.
/// router.state(Key::generate());
/// router.post("/login", |jar: SignedCookieJar| {
///     (jar.add(Cookie::build(("user", "ada")).path("/").http_only(true)), "welcome")
/// }).unwrap();
/// router.get("/me", |jar: SignedCookieJar| match jar.get("user") {
///     Some(user) => format!("hello, {}", user.value()),
///     None => "who are you?".to_string(),
/// }).unwrap();
/// ```
#[derive(Clone)]
pub struct SignedCookieJar {
    jar: cookie::CookieJar,
    key: Key,
}

/// The request's cookies encrypted with a [`Key`] (AES-256-GCM), and the encrypted cookies to
/// set: a client can neither read nor change their values. [`get`](Self::get) returns a
/// cookie's decrypted value, and nothing for one that does not decrypt.
///
/// The key is the server's (or the router's) [`State`] of type [`Key`], as for
/// [`SignedCookieJar`].
///
/// ```
/// use hyperf_http::server::{Cookie, Key, PrivateCookieJar, Router};
///
/// let mut router = Router::new();
/// router.state(Key::generate());
/// router.post("/cart/{item}", |hyperf_http::server::Path(item): hyperf_http::server::Path<String>, jar: PrivateCookieJar| {
///     let cart = match jar.get("cart") {
///         Some(cart) => format!("{},{item}", cart.value()),
///         None => item,
///     };
///     (jar.add(Cookie::build(("cart", cart.clone())).path("/")), cart)
/// }).unwrap();
/// ```
#[derive(Clone)]
pub struct PrivateCookieJar {
    jar: cookie::CookieJar,
    key: Key,
}

/// The methods the signed and the private jar share; `$view` is the `cookie` jar's view
/// (`signed`/`private`) of the same name.
macro_rules! keyed_jar {
    ($jar:ident, $view:ident, $view_mut:ident, $what:literal) => {
        impl $jar {
            /// A jar of the cookies of `headers`' `Cookie` lines, checked with `key`.
            pub fn from_headers(headers: &http::HeaderMap, key: Key) -> Self {
                let CookieJar { jar } = CookieJar::from_headers(headers);
                $jar { jar, key }
            }

            #[doc = concat!("The cookie called `name`, ", $what, "; `None` if it is")]
            /// missing, removed, or does not check.
            pub fn get(&self, name: &str) -> Option<Cookie<'static>> {
                self.jar.$view(&self.key).get(name)
            }

            #[doc = concat!("Adds `cookie`, ", $what, " (replacing one of that name): the")]
            /// response sets it.
            #[must_use = "the jar with the cookie added is returned: return it beside the body"]
            #[allow(clippy::should_implement_trait)]
            pub fn add(mut self, cookie: impl Into<Cookie<'static>>) -> Self {
                self.jar.$view_mut(&self.key).add(cookie);
                self
            }

            /// Removes the cookie `cookie` names, as [`CookieJar::remove`] does.
            #[must_use = "the jar with the removal is returned: return it beside the body"]
            pub fn remove(mut self, cookie: impl Into<Cookie<'static>>) -> Self {
                remove(&mut self.jar, cookie.into());
                self
            }

            /// The jar's cookies as sent, unchecked (their values are the signed or encrypted
            /// text): to see which names the request carries.
            pub fn raw(&self) -> impl Iterator<Item = &Cookie<'static>> {
                self.jar.iter()
            }

            fn set_on(&self, response: &mut Response) {
                for value in set_cookie_values(&self.jar) {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
            }
        }

        impl FromRequest for $jar {
            type Rejection = MissingState;

            fn from_request(request: &mut Request) -> Result<Self, MissingState> {
                let State(key) = State::<Key>::from_request(request)?;
                Ok(Self::from_headers(request.headers(), key))
            }
        }

        impl std::fmt::Debug for $jar {
            /// The cookies' names only: their values are secrets, and so is the key.
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let names: Vec<&str> = self.jar.iter().map(|c| c.name()).collect();
                f.debug_struct(stringify!($jar))
                    .field("cookies", &names)
                    .finish_non_exhaustive()
            }
        }
    };
}

keyed_jar!(SignedCookieJar, signed, signed_mut, "signed");
keyed_jar!(PrivateCookieJar, private, private_mut, "encrypted");

/// `(jar, value)`: the value's response, with the jar's changes as `Set-Cookie` headers
/// (added to any the value's response has).
macro_rules! jar_responses {
    ($($jar:ident),+) => {
        $(
            impl<T: IntoResponse> IntoResponse for ($jar, T) {
                fn into_response(self) -> Response {
                    let mut response = self.1.into_response();
                    self.0.set_on(&mut response);
                    response
                }
            }

            /// An empty `200` with the jar's changes as `Set-Cookie` headers.
            impl IntoResponse for $jar {
                fn into_response(self) -> Response {
                    (self, ()).into_response()
                }
            }
        )+
    };
}

jar_responses!(CookieJar, SignedCookieJar, PrivateCookieJar);

/// Cookies of the current request, from any code it runs (a service, a guard), without a
/// jar passed down: the `Set-Cookie` headers go through the
/// [`RequestContext`]'s response draft, so the request's response carries them whatever it
/// turns out to be — the handler's, a `304`, or the exception handlers' answer to an error.
///
/// ```
/// use hyperf_http::server::{Cookie, Cookies, Router};
///
/// fn remember_locale(locale: &str) {
///     Cookies::add(Cookie::build(("locale", locale.to_string())).path("/"));
/// }
///
/// let mut router = Router::new();
/// router.get("/fr", || {
///     remember_locale("fr");
///     "bonjour"
/// }).unwrap();
/// router.get("/locale", || Cookies::get("locale").map_or("en".to_string(), |c| c.value().to_string())).unwrap();
/// ```
#[derive(Debug)]
pub struct Cookies {
    _private: (),
}

impl Cookies {
    /// The current request's cookie called `name` (`None` outside a request).
    pub fn get(name: &str) -> Option<Cookie<'static>> {
        Self::jar().get(name).cloned()
    }

    /// The current request's cookies, as received (empty outside a request).
    pub fn jar() -> CookieJar {
        RequestContext::request()
            .map(|head| CookieJar::from_headers(head.headers()))
            .unwrap_or_default()
    }

    /// Sets `cookie` on the current request's response.
    pub fn add(cookie: impl Into<Cookie<'static>>) {
        Self::append(&CookieJar::new().add(cookie).jar);
    }

    /// Sets `cookie` on the current request's response, signed with `key`.
    pub fn add_signed(key: &Key, cookie: impl Into<Cookie<'static>>) {
        let mut jar = cookie::CookieJar::new();
        jar.signed_mut(key).add(cookie);
        Self::append(&jar);
    }

    /// Sets `cookie` on the current request's response, encrypted with `key`.
    pub fn add_private(key: &Key, cookie: impl Into<Cookie<'static>>) {
        let mut jar = cookie::CookieJar::new();
        jar.private_mut(key).add(cookie);
        Self::append(&jar);
    }

    /// Has the browser drop the cookie `cookie` names, as [`CookieJar::remove`] does.
    pub fn remove(cookie: impl Into<Cookie<'static>>) {
        Self::append(&CookieJar::new().remove(cookie).jar);
    }

    fn append(jar: &cookie::CookieJar) {
        for value in set_cookie_values(jar) {
            RequestContext::append_response_header(header::SET_COOKIE, value);
        }
    }
}

/// The cookies of every `Cookie` line of `headers`, percent-decoded; malformed pairs (and
/// pairs that are not UTF-8) skipped, the others of their line kept.
fn request_cookies(headers: &http::HeaderMap) -> impl Iterator<Item = Cookie<'static>> + '_ {
    headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|line| line.as_bytes().split(|&byte| byte == b';'))
        .filter_map(|pair| std::str::from_utf8(pair).ok())
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| Cookie::parse_encoded(pair.to_owned()).ok())
}

/// Removes `cookie`'s name from `jar` so that its delta holds a removal, even when the request
/// did not carry the cookie.
fn remove(jar: &mut cookie::CookieJar, cookie: Cookie<'static>) {
    if jar.get(cookie.name()).is_none() {
        jar.add_original(Cookie::new(cookie.name().to_owned(), ""));
    }
    jar.remove(cookie);
}

/// The `Set-Cookie` values of `jar`'s changes. A cookie that does not make a header value (a
/// control character in its path or domain) is left out, with an error-level log line.
fn set_cookie_values(jar: &cookie::CookieJar) -> impl Iterator<Item = HeaderValue> + '_ {
    jar.delta().filter_map(
        |cookie| match HeaderValue::try_from(cookie.encoded().to_string()) {
            Ok(value) => Some(value),
            Err(_) => {
                log::error!(
                    "cookie {:?} left out: it makes no valid Set-Cookie value",
                    cookie.name()
                );
                None
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[&str]) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        for line in lines {
            headers.append(header::COOKIE, HeaderValue::from_str(line).unwrap());
        }
        headers
    }

    #[test]
    fn every_line_is_read_and_malformed_pairs_are_skipped() {
        let jar = CookieJar::from_headers(&headers(&["a=1; junk; =x; b=t%20w", "c=3"]));
        let mut names: Vec<&str> = jar.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(jar.get("b").unwrap().value(), "t w");
    }

    #[test]
    fn a_removal_is_sent_for_a_cookie_the_request_did_not_carry() {
        let jar = CookieJar::new().remove(Cookie::build("gone").path("/"));
        let values: Vec<HeaderValue> = set_cookie_values(&jar.jar).collect();
        assert_eq!(values.len(), 1);
        let value = values[0].to_str().unwrap();
        assert!(value.starts_with("gone=;"), "{value}");
        assert!(value.contains("Max-Age=0"), "{value}");
        assert!(jar.get("gone").is_none());
    }

    #[test]
    fn a_signed_cookie_checks_and_a_changed_one_does_not() {
        let key = Key::generate();
        let signed = SignedCookieJar::from_headers(&http::HeaderMap::new(), key.clone())
            .add(Cookie::new("user", "ada"));
        let value = set_cookie_values(&signed.jar).next().unwrap();
        let sent = value.to_str().unwrap().to_owned();
        let good = SignedCookieJar::from_headers(&headers(&[&sent]), key.clone());
        assert_eq!(good.get("user").unwrap().value(), "ada");
        let forged = sent.replace("ada", "eve");
        let bad = SignedCookieJar::from_headers(&headers(&[&forged]), key);
        assert!(bad.get("user").is_none());
    }
}
