//! The request id on the requests that fail: behind the `RequestId` middleware, a rejection, an
//! `HttpError`, a handler's error, a panic, a 404 and a 405 carry the request's id, and their
//! access line the same id, over a socket.

mod server_common;

use hyperf_http::server::{
    ACCESS_LOG_TARGET, AccessLog, AccessLogFormat, HttpError, Json, Query, RequestId, Router,
    RunningServer,
};
use hyperf_http::{BoxError, Request, StatusCode};
use serde::Deserialize;
use server_common::{Reply, TIMEOUT, connect_to, request, server, spec, start, stop, within};
use test_support::{messages_of, record_logs};

/// The one access line whose target mentions `marker` (each test requests a target of its
/// own), as JSON.
fn access_line(marker: &str) -> serde_json::Value {
    let lines = messages_of(ACCESS_LOG_TARGET, marker);
    assert_eq!(lines.len(), 1, "{lines:?}");
    serde_json::from_str(&lines[0]).expect("a JSON access line")
}

#[derive(Deserialize)]
struct Paging {
    #[allow(dead_code)]
    page: Option<u32>,
}

#[derive(Deserialize)]
struct User {
    name: String,
}

/// Routes that fail every way a request can: extractors' rejections, an `HttpError`, a plain
/// error, a panic; `/only-get` answers `GET` alone (a `POST` is a 405).
fn failing_routes() -> Router {
    let mut router = Router::new();
    router
        .get("/query", |Query(_): Query<Paging>| "paged")
        .unwrap();
    router
        .post("/json", |Json(user): Json<User>| user.name)
        .unwrap();
    router
        .get(
            "/http-error",
            |_: Request| -> Result<&'static str, BoxError> {
                Err(Box::new(HttpError::new(StatusCode::CONFLICT, "taken")))
            },
        )
        .unwrap();
    router
        .get("/failure", |_: Request| -> Result<&'static str, BoxError> {
            Err("the database is down".into())
        })
        .unwrap();
    router
        .get("/panic", |_: Request| -> &'static str {
            panic!("out of cheese")
        })
        .unwrap();
    router.get("/only-get", |_: Request| "got").unwrap();
    router
}

/// A server with [`failing_routes`], a global `RequestId` and a JSON-lines access log.
fn serve() -> RunningServer {
    record_logs();
    let spec = spec("http")
        .router(failing_routes())
        .middleware_with_priority(RequestId::new(), 100)
        .access_log(AccessLog::new(AccessLogFormat::JsonLines));
    start(server().server(spec))
}

/// Sends `raw` to a new server and returns its reply.
fn exchange(raw: String) -> Reply {
    let running = serve();
    let mut client = connect_to(&running, "http");
    let reply = within(TIMEOUT, move || client.exchange(raw));
    stop(running);
    reply
}

/// A request carrying the client's id `id`.
fn with_id(method: &str, target: &str, id: &str) -> String {
    request(method, target, &[("X-Request-Id", id)])
}

fn post_with_id(target: &str, id: &str, content_type: &str, body: &str) -> String {
    format!(
        "POST {target} HTTP/1.1\r\nHost: test\r\nX-Request-Id: {id}\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// The reply's status and its one `X-Request-Id`.
fn status_and_id(reply: &Reply) -> (u16, &str) {
    assert_eq!(reply.count("x-request-id"), 1, "{reply:?}");
    (reply.status, reply.header("x-request-id").unwrap())
}

#[test]
fn a_client_id_comes_back_on_a_400_rejection() {
    let reply = exchange(with_id("GET", "/query?page=two", "trace-400"));
    assert_eq!(status_and_id(&reply), (400, "trace-400"));
}

#[test]
fn a_client_id_comes_back_on_a_415_rejection() {
    let reply = exchange(post_with_id("/json", "trace-415", "text/plain", "{}"));
    assert_eq!(status_and_id(&reply), (415, "trace-415"));
}

#[test]
fn a_client_id_comes_back_on_a_422_rejection() {
    let reply = exchange(post_with_id(
        "/json",
        "trace-422",
        "application/json",
        r#"{"age":3}"#,
    ));
    assert_eq!(status_and_id(&reply), (422, "trace-422"));
}

#[test]
fn a_client_id_comes_back_on_an_http_error() {
    let reply = exchange(with_id("GET", "/http-error", "trace-http-error"));
    assert_eq!(status_and_id(&reply), (409, "trace-http-error"));
}

#[test]
fn a_client_id_comes_back_on_a_handler_error_500() {
    let reply = exchange(with_id("GET", "/failure", "trace-failure"));
    assert_eq!(status_and_id(&reply), (500, "trace-failure"));
}

#[test]
fn a_client_id_comes_back_on_a_panic_500() {
    let reply = exchange(with_id("GET", "/panic", "trace-panic"));
    assert_eq!(status_and_id(&reply), (500, "trace-panic"));
}

#[test]
fn a_client_id_comes_back_on_a_404() {
    let reply = exchange(with_id("GET", "/nowhere", "trace-404"));
    assert_eq!(status_and_id(&reply), (404, "trace-404"));
}

#[test]
fn a_client_id_comes_back_on_a_405() {
    let reply = exchange(with_id("POST", "/only-get", "trace-405"));
    assert_eq!(status_and_id(&reply), (405, "trace-405"));
}

#[test]
fn a_generated_id_comes_back_on_a_failure() {
    let reply = exchange(request("GET", "/failure?generated", &[]));
    let (status, id) = status_and_id(&reply);
    assert_eq!(status, 500);
    assert_eq!(id.len(), 32, "{id:?}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id:?}");
}

#[test]
fn an_invalid_client_id_is_replaced_on_a_failure() {
    let reply = exchange(with_id("GET", "/failure", "not*valid"));
    let (status, id) = status_and_id(&reply);
    assert_eq!(status, 500);
    assert_ne!(id, "not*valid");
    assert_eq!(id.len(), 32, "{id:?}");
}

#[test]
fn the_access_line_of_a_failure_carries_the_client_id() {
    let reply = exchange(with_id(
        "GET",
        "/failure?logged_client_id_marker",
        "trace-in-the-log",
    ));
    assert_eq!(status_and_id(&reply), (500, "trace-in-the-log"));
    let line = access_line("logged_client_id_marker");
    assert_eq!(line["status"], 500);
    assert_eq!(line["request_id"], "trace-in-the-log");
}

#[test]
fn the_access_line_of_a_panic_carries_the_generated_id_of_its_response() {
    let reply = exchange(request("GET", "/panic?logged_generated_id_marker", &[]));
    let (status, id) = status_and_id(&reply);
    assert_eq!(status, 500);
    let line = access_line("logged_generated_id_marker");
    assert_eq!(line["status"], 500);
    assert_eq!(line["request_id"], id);
}
