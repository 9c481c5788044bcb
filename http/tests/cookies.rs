//! Cookies over a socket: the `CookieJar` extractor (every `Cookie` line, malformed pairs
//! skipped), several `Set-Cookie` on one response, removal, signed cookies that a client
//! cannot change, private cookies it cannot read, and `Set-Cookie` set through the request
//! context on a `304` and on the exception handlers' error responses.
#![cfg(feature = "cookies")]

mod server_common;

use hyperf_http::server::{
    Cookie, CookieJar, Cookies, HttpError, Key, Path, PrivateCookieJar, Router, RunningServer,
    SignedCookieJar,
};
use hyperf_http::{BoxError, StatusCode};
use server_common::{Reply, connect_to, get, request, server, spec, start, stop};

fn routes() -> Router {
    let mut router = Router::new();
    // The names and values the request carried, sorted: `a=1;c=3`.
    router
        .get("/echo", |jar: CookieJar| {
            let mut pairs: Vec<String> = jar
                .iter()
                .map(|c| format!("{}={}", c.name(), c.value()))
                .collect();
            pairs.sort();
            pairs.join(";")
        })
        .unwrap();
    // Three cookies: two from the returned jar, one through the request context.
    router
        .get("/set", |jar: CookieJar| {
            Cookies::add(Cookie::build(("locale", "fr")).path("/"));
            let jar = jar
                .add(
                    Cookie::build(("session", "s3cr3t"))
                        .path("/")
                        .http_only(true)
                        .secure(true),
                )
                .add(Cookie::new("greeting", "hello world"));
            (jar, "set")
        })
        .unwrap();
    router
        .post("/logout", |jar: CookieJar| {
            (jar.remove(Cookie::build("session").path("/")), "bye")
        })
        .unwrap();
    router
        .post(
            "/login/{name}",
            |Path(name): Path<String>, jar: SignedCookieJar| {
                (jar.add(Cookie::build(("user", name)).path("/")), "welcome")
            },
        )
        .unwrap();
    router
        .get("/me", |jar: SignedCookieJar| match jar.get("user") {
            Some(user) => format!("hello, {}", user.value()),
            None => "anonymous".to_string(),
        })
        .unwrap();
    router
        .post(
            "/secret/{text}",
            |Path(text): Path<String>, jar: PrivateCookieJar| {
                (jar.add(Cookie::new("secret", text)), "kept")
            },
        )
        .unwrap();
    router
        .get("/secret", |jar: PrivateCookieJar| {
            jar.get("secret")
                .map_or("none".to_string(), |c| c.value().to_string())
        })
        .unwrap();
    // Set through the request context, then not modified, or failing.
    router
        .get("/cached", || {
            Cookies::add(Cookie::new("seen", "1"));
            StatusCode::NOT_MODIFIED
        })
        .unwrap();
    router
        .get("/conflict", || -> Result<&'static str, BoxError> {
            Cookies::add(Cookie::new("attempt", "1"));
            Err(Box::new(HttpError::new(StatusCode::CONFLICT, "taken")))
        })
        .unwrap();
    router
        .get("/boom", || -> Result<&'static str, BoxError> {
            Cookies::remove(Cookie::build("session").path("/"));
            Err("the database is down".into())
        })
        .unwrap();
    // Reads the request's cookie from code that has no jar.
    router
        .get("/locale", || {
            Cookies::get("locale").map_or("en".to_string(), |c| c.value().to_string())
        })
        .unwrap();
    router
}

fn serve(key: Option<Key>) -> RunningServer {
    let mut spec = spec("http").router(routes());
    if let Some(key) = key {
        spec = spec.state(key);
    }
    start(server().server(spec))
}

/// Each request's reply, on one server with a key.
fn replies(requests: &[String]) -> Vec<Reply> {
    let running = serve(Some(Key::generate()));
    let mut client = connect_to(&running, "http");
    let replies = requests.iter().map(|r| client.exchange(r)).collect();
    stop(running);
    replies
}

fn set_cookies(reply: &Reply) -> Vec<&str> {
    reply
        .headers
        .iter()
        .filter(|(name, _)| name == "set-cookie")
        .map(|(_, value)| value.as_str())
        .collect()
}

/// `name=value` of the `Set-Cookie` of `name`, as a browser sends it back.
fn pair_of<'a>(reply: &'a Reply, name: &str) -> &'a str {
    set_cookies(reply)
        .into_iter()
        .find(|value| value.starts_with(&format!("{name}=")))
        .map(|value| value.split(';').next().unwrap())
        .unwrap_or_else(|| panic!("no Set-Cookie of {name} in {reply:?}"))
}

fn with_cookie(method: &str, path: &str, cookie: &str) -> String {
    request(method, path, &[("Cookie", cookie)])
}

#[test]
fn several_set_cookie_headers_on_one_response() {
    let replies = replies(&[get("/set")]);
    let reply = replies[0].assert_status(StatusCode::OK);
    let mut set = set_cookies(reply);
    set.sort_unstable();
    assert_eq!(
        set,
        [
            "greeting=hello%20world",
            "locale=fr; Path=/",
            "session=s3cr3t; HttpOnly; Secure; Path=/",
        ]
    );
}

#[test]
fn every_cookie_line_is_read_and_malformed_pairs_are_ignored() {
    let replies = replies(&[
        request(
            "GET",
            "/echo",
            &[("Cookie", "; junk; a=1; =x; b"), ("Cookie", "c=3")],
        ),
        with_cookie("GET", "/echo", "v=t%20w%3B; ;;"),
    ]);
    assert_eq!(replies[0].assert_status(StatusCode::OK).text(), "a=1;c=3");
    assert_eq!(replies[1].assert_status(StatusCode::OK).text(), "v=t w;");
}

#[test]
fn non_utf8_cookie_bytes_are_ignored() {
    let running = serve(None);
    let mut client = connect_to(&running, "http");
    let mut raw = b"GET /echo HTTP/1.1\r\nHost: test\r\nCookie: a=1\r\n".to_vec();
    raw.extend_from_slice(b"Cookie: d=\xff\xfe; e=5\r\n\r\n");
    let reply = client.exchange(raw);
    stop(running);
    reply.assert_status(StatusCode::OK);
    // The pair that is not UTF-8 goes, its neighbour stays.
    assert_eq!(reply.text(), "a=1;e=5");
}

#[test]
fn a_removed_cookie_is_set_expired() {
    let replies = replies(&[
        with_cookie("POST", "/logout", "session=s3cr3t"),
        // Even when the request did not carry it.
        request("POST", "/logout", &[]),
    ]);
    for reply in &replies {
        let set = set_cookies(reply.assert_status(StatusCode::OK));
        assert_eq!(set.len(), 1, "{set:?}");
        assert!(set[0].starts_with("session=;"), "{}", set[0]);
        assert!(set[0].contains("Path=/"), "{}", set[0]);
        assert!(set[0].contains("Max-Age=0"), "{}", set[0]);
        assert!(set[0].contains("Expires="), "{}", set[0]);
    }
}

#[test]
fn a_signed_cookie_comes_back_and_a_tampered_one_does_not() {
    let running = serve(Some(Key::generate()));
    let mut client = connect_to(&running, "http");
    let login = client.exchange(request("POST", "/login/ada", &[]));
    let signed = pair_of(&login, "user").to_string();
    // The value is readable (signed, not encrypted) but prefixed with its signature.
    assert!(signed.ends_with("ada"), "{signed}");
    let me = client.exchange(with_cookie("GET", "/me", &signed));
    assert_eq!(me.text(), "hello, ada");
    let tampered = format!("{}eve", signed.strip_suffix("ada").unwrap());
    let forged = client.exchange(with_cookie("GET", "/me", &tampered));
    assert_eq!(forged.text(), "anonymous");
    let unsigned = client.exchange(with_cookie("GET", "/me", "user=ada"));
    assert_eq!(unsigned.text(), "anonymous");
    stop(running);
    // Another key (another deployment's) does not accept it either.
    let other = serve(Some(Key::generate()));
    let reply = connect_to(&other, "http").exchange(with_cookie("GET", "/me", &signed));
    stop(other);
    assert_eq!(reply.text(), "anonymous");
}

#[test]
fn a_private_cookie_round_trips_unreadable() {
    let running = serve(Some(Key::generate()));
    let mut client = connect_to(&running, "http");
    let kept = client.exchange(request("POST", "/secret/hunter2", &[]));
    let private = pair_of(&kept, "secret").to_string();
    assert!(!private.contains("hunter2"), "{private}");
    let back = client.exchange(with_cookie("GET", "/secret", &private));
    assert_eq!(back.text(), "hunter2");
    // One byte changed: it no longer decrypts.
    let mut bytes = private.into_bytes();
    let last = bytes.len() - 3;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    let changed = String::from_utf8(bytes).unwrap();
    let refused = client.exchange(with_cookie("GET", "/secret", &changed));
    assert_eq!(refused.text(), "none");
    stop(running);
}

#[test]
fn a_keyed_jar_without_a_key_is_a_server_fault() {
    let running = serve(None);
    let reply = connect_to(&running, "http").exchange(get("/me"));
    stop(running);
    reply.assert_status(StatusCode::INTERNAL_SERVER_ERROR);
}

#[test]
fn cookies_set_through_the_context_survive_a_304_and_errors() {
    let replies = replies(&[get("/cached"), get("/conflict"), get("/boom")]);
    replies[0].assert_status(StatusCode::NOT_MODIFIED);
    assert_eq!(set_cookies(&replies[0]), ["seen=1"]);
    replies[1].assert_status(StatusCode::CONFLICT);
    assert_eq!(set_cookies(&replies[1]), ["attempt=1"]);
    replies[2].assert_status(StatusCode::INTERNAL_SERVER_ERROR);
    let set = set_cookies(&replies[2]);
    assert_eq!(set.len(), 1);
    assert!(set[0].starts_with("session=;"), "{}", set[0]);
}

#[test]
fn code_without_a_jar_reads_the_requests_cookies() {
    let replies = replies(&[
        with_cookie("GET", "/locale", "theme=dark; locale=de"),
        get("/locale"),
    ]);
    assert_eq!(replies[0].text(), "de");
    assert_eq!(replies[1].text(), "en");
}
