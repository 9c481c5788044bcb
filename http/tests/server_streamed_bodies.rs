//! Streamed request bodies: a route that reads its body as it arrives (`Content-Length` and
//! `chunked`), `100 Continue` only once the handler reads, the route's own limit, the body
//! timeout, and what becomes of a body the handler leaves unread.

mod server_common;

use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

use hyperf_http::server::{Router, ServerSpec};
use hyperf_http::{BodyReader, Bytes, EngineConfig, Limits, Request};
use server_common::{Client, TIMEOUT, connect_to, request, server, spec, start, stop, within};

/// Reads `body` to its end: its length and a checksum of its bytes.
fn consume(mut body: BodyReader) -> std::io::Result<String> {
    let mut buffer = [0u8; 4096];
    let (mut total, mut sum) = (0u64, 0u64);
    loop {
        match body.read(&mut buffer)? {
            0 => return Ok(format!("{total} {sum}")),
            read => {
                total += read as u64;
                sum = buffer[..read]
                    .iter()
                    .fold(sum, |sum, &byte| sum.wrapping_add(u64::from(byte)));
            }
        }
    }
}

fn checksum(bytes: &[u8]) -> String {
    let sum = bytes
        .iter()
        .fold(0u64, |sum, &byte| sum.wrapping_add(u64::from(byte)));
    format!("{} {sum}", bytes.len())
}

/// `/upload` streams (up to `max_bytes`), `/ignore` streams and reads nothing, `/buffered`
/// receives its body whole.
fn routes(max_bytes: u64) -> Router {
    let mut router = Router::new();
    router
        .post("/upload", consume)
        .unwrap()
        .stream_body(max_bytes);
    router
        .post("/ignore", |_: BodyReader| "ignored")
        .unwrap()
        .stream_body(0);
    router
        .post("/buffered", |body: Bytes| checksum(&body))
        .unwrap();
    router
}

fn serve(router: Router, engine: EngineConfig) -> (hyperf_http::server::RunningServer, Client) {
    let running = start(server().server(spec("http").router(router).engine(engine)));
    let client = connect_to(&running, "http");
    (running, client)
}

fn data(length: usize) -> Vec<u8> {
    (0..length).map(|n| (n * 7 % 251) as u8).collect()
}

fn post_head(path: &str, length: usize, extra: &str) -> String {
    format!("POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {length}\r\n{extra}\r\n")
}

fn chunked(body: &[u8], piece: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in body.chunks(piece) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

const CHUNKED_HEAD: &str = "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";

#[test]
fn a_content_length_body_is_read_as_it_arrives() {
    let (running, mut client) = serve(routes(0), EngineConfig::default());
    let body = data(300_000);
    client.send(post_head("/upload", body.len(), ""));
    client.send(&body);
    let reply = client.response();
    assert_eq!((reply.status, reply.text()), (200, checksum(&body)));
    stop(running);
}

#[test]
fn a_chunked_body_is_read_to_its_end() {
    let (running, mut client) = serve(routes(0), EngineConfig::default());
    let body = data(200_000);
    client.send(CHUNKED_HEAD).send(chunked(&body, 7_000));
    let reply = client.response();
    assert_eq!((reply.status, reply.text()), (200, checksum(&body)));
    stop(running);
}

#[test]
fn a_request_pipelined_after_a_chunked_body_is_served() {
    let (running, mut client) = serve(routes(0), EngineConfig::default());
    let body = data(1_000);
    let mut bytes = CHUNKED_HEAD.as_bytes().to_vec();
    bytes.extend(chunked(&body, 300));
    bytes.extend(post_head("/buffered", 3, "").as_bytes());
    bytes.extend(b"abc");
    client.send(bytes);
    assert_eq!(client.response().text(), checksum(&body));
    assert_eq!(client.response().text(), checksum(b"abc"));
    stop(running);
}

#[test]
fn continue_is_sent_once_the_handler_reads() {
    let (running, mut client) = serve(routes(0), EngineConfig::default());
    client.send(post_head("/upload", 5, "Expect: 100-continue\r\n"));
    assert_eq!(client.response().status, 100);
    client.send("hello");
    let reply = client.response();
    assert_eq!((reply.status, reply.text()), (200, checksum(b"hello")));
    stop(running);
}

#[test]
fn a_handler_that_does_not_read_gets_no_continue_sent_and_the_connection_closes() {
    let (running, mut client) = serve(routes(0), EngineConfig::default());
    client.send(post_head("/ignore", 5, "Expect: 100-continue\r\n"));
    let reply = client.response();
    assert_eq!((reply.status, reply.text()), (200, "ignored".to_string()));
    assert!(
        reply.closes(),
        "the body never came: the connection cannot go on"
    );
    client.assert_closed();
    stop(running);
}

#[test]
fn an_unread_body_within_the_drain_bound_is_drained_and_the_connection_kept() {
    let (running, mut client) = serve(routes(0), EngineConfig::default());
    let body = data(10_000);
    client
        .send(post_head("/ignore", body.len(), ""))
        .send(&body);
    let reply = client.response();
    assert!(!reply.closes());
    assert_eq!(reply.text(), "ignored");
    let next = client.exchange(request("POST", "/buffered", &[("Content-Length", "0")]));
    assert_eq!(next.text(), checksum(b""));
    stop(running);
}

#[test]
fn an_unread_body_past_the_drain_bound_closes_the_connection_after_the_response() {
    let (running, mut client) = serve(routes(0), EngineConfig::default().drain_bytes(1_024));
    let body = data(100_000);
    client
        .send(post_head("/ignore", body.len(), ""))
        .send(&body);
    let reply = client.response();
    assert_eq!(reply.text(), "ignored");
    assert!(reply.closes());
    client.assert_closed();
    stop(running);
}

#[test]
fn a_content_length_past_the_routes_limit_is_refused_with_413() {
    let (running, mut client) = serve(routes(100), EngineConfig::default());
    client.send(post_head("/upload", 101, ""));
    let reply = client.response();
    assert_eq!(reply.status, 413);
    stop(running);
}

#[test]
fn a_chunked_body_past_the_routes_limit_is_answered_413() {
    let (running, mut client) = serve(routes(1_000), EngineConfig::default());
    client
        .send(CHUNKED_HEAD)
        .send_lossy(chunked(&data(5_000), 500));
    let reply = client.response();
    assert_eq!(reply.status, 413);
    assert!(reply.closes());
    stop(running);
}

#[test]
fn a_route_without_a_limit_takes_a_body_past_the_engines() {
    let engine = EngineConfig::default().limits(Limits::default().max_body_bytes(1_024));
    let (running, mut client) = serve(routes(0), engine);
    let body = data(64 * 1024);
    client
        .send(post_head("/upload", body.len(), ""))
        .send(&body);
    assert_eq!(client.response().text(), checksum(&body));
    // The engine's limit still holds for the routes that buffer their bodies.
    client.send(post_head("/buffered", 2_000, ""));
    assert_eq!(client.response().status, 413);
    stop(running);
}

#[test]
fn a_slow_uploader_trips_the_body_timeout_with_408() {
    let engine = EngineConfig::default()
        .request_timeout(Duration::from_millis(200))
        .timer_tick(Duration::from_millis(10));
    let (running, mut client) = serve(routes(0), engine);
    client.send(post_head("/upload", 1_000, "")).send(data(100));
    // Nothing more is sent: the handler's next read waits past the request timeout.
    let reply = within(TIMEOUT, move || client.response());
    assert_eq!(reply.status, 408);
    assert!(reply.closes());
    stop(running);
}

#[test]
fn a_reader_kept_past_its_request_reads_nothing_more() {
    static KEPT: Mutex<Option<BodyReader>> = Mutex::new(None);
    let mut router = Router::new();
    router
        .post("/keep", |body: BodyReader| {
            *KEPT.lock().unwrap() = Some(body);
            "kept"
        })
        .unwrap()
        .stream_body(0);
    router
        .get("/use-kept", |_: Request| {
            let mut kept = KEPT
                .lock()
                .unwrap()
                .take()
                .expect("kept by the first request");
            let mut buffer = [0u8; 8];
            match kept.read(&mut buffer) {
                Ok(read) => format!("read {read}"),
                Err(_) => "failed".to_string(),
            }
        })
        .unwrap();
    let (running, mut client) = serve(router, EngineConfig::default());
    client.send(post_head("/keep", 3, "")).send("abc");
    assert_eq!(client.response().text(), "kept");
    assert_eq!(
        client.exchange(request("GET", "/use-kept", &[])).text(),
        "failed"
    );
    stop(running);
}

#[test]
fn a_body_reader_on_a_route_that_buffers_is_a_500() {
    let mut router = Router::new();
    router.post("/", |_: BodyReader| "never").unwrap();
    let service = ServerSpec::new("http", "127.0.0.1", 0)
        .router(router)
        .into_service();
    let response = hyperf_http::Service::call(
        &*service,
        {
            let mut request = Request::new(Bytes::new());
            *request.method_mut() = hyperf_http::Method::POST;
            request
        }
        .into(),
    )
    .unwrap();
    assert_eq!(response.status(), 500);
}

#[test]
fn a_streamed_route_sees_an_empty_body_as_the_end() {
    let (running, mut client) = serve(routes(0), EngineConfig::default());
    let reply = client.exchange(request("POST", "/upload", &[("Content-Length", "0")]));
    assert_eq!(reply.text(), checksum(b""));
    stop(running);
}
