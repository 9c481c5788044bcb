//! Clients that try to make the engine hold memory or misorder what it sends: many pipelined
//! requests whose responses are never read, and `100 Continue` behind pipelined responses.

mod common;
mod server_common;

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Client, answer, echo_body, start_with};
use hyperf_http::server::{Router, ServerConfig};
use hyperf_http::{BodyReader, BoxError, EngineConfig, Request, Response};

/// The body of each response: below the size the engine writes straight from the handler's
/// bytes, so every response goes through the connection's output buffer.
const BODY: usize = 16_000;

/// The body answered to `/n`: `n` in five digits, repeated to [`BODY`] bytes, so a response
/// in the wrong place or cut short shows.
fn numbered_body(n: usize) -> Vec<u8> {
    format!("{n:05}")
        .into_bytes()
        .into_iter()
        .cycle()
        .take(BODY)
        .collect()
}

/// Answers `/n` with [`numbered_body`]`(n)`.
fn numbered(request: Request) -> Result<Response, BoxError> {
    let n: usize = request.uri().path()[1..].parse()?;
    Ok(Response::new(numbered_body(n).into()))
}

/// `count` GETs of `/0`, `/1`, ... in one piece.
fn pipelined_gets(count: usize) -> Vec<u8> {
    (0..count)
        .flat_map(|n| format!("GET /{n} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes())
        .collect()
}

#[test]
fn many_pipelined_responses_past_the_output_bound_all_arrive_intact_and_in_order() {
    let engine = start_with(EngineConfig::default(), numbered);
    let mut client = Client::connect(engine.local_addr());
    // 500 responses, 8 MB: more than the socket buffers hold, so the server blocks writing
    // while the client is not reading yet.
    let count = 500;
    client.send(pipelined_gets(count));
    for n in 0..count {
        let reply = client.response();
        assert_eq!(reply.status, 200, "response {n}");
        assert!(reply.body == numbered_body(n), "response {n}'s body");
    }
}

#[test]
fn a_connection_holds_no_more_unwritten_responses_than_the_output_bound_allows() {
    let bound = 40 * 1024;
    // Requests answered so far, and those whose responses have been written to the socket:
    // a request's scope ends, and its defers run, once its response is on the wire.
    let answered = Arc::new(AtomicUsize::new(0));
    let written = Arc::new(AtomicUsize::new(0));
    let most_unwritten = Arc::new(AtomicUsize::new(0));
    let service = {
        let (answered, written, most_unwritten) = (
            Arc::clone(&answered),
            Arc::clone(&written),
            Arc::clone(&most_unwritten),
        );
        move |request: Request| -> Result<Response, BoxError> {
            // All on the connection's coroutine: no other request runs in between.
            let unwritten = answered.load(Ordering::SeqCst) - written.load(Ordering::SeqCst);
            most_unwritten.fetch_max(unwritten, Ordering::SeqCst);
            answered.fetch_add(1, Ordering::SeqCst);
            let written = Arc::clone(&written);
            runtime::defer(move || {
                written.fetch_add(1, Ordering::SeqCst);
            });
            numbered(request)
        }
    };
    let engine = start_with(EngineConfig::default().max_buffered_output(bound), service);
    let mut client = Client::connect(engine.local_addr());
    // About 30 requests fit each 1 KiB the engine reads: without the bound, the responses to
    // all of them wait in the output buffer until the next read.
    let count = 300;
    client.send(pipelined_gets(count));
    for n in 0..count {
        assert!(client.response().body == numbered_body(n), "response {n}");
    }
    // The output held at most `bound` bytes of earlier responses when the next response was
    // added to it: with responses of more than BODY bytes, at most bound / BODY of them.
    let most = most_unwritten.load(Ordering::SeqCst);
    assert!(
        most <= bound / BODY,
        "{most} responses of {BODY} bytes waited unwritten, past the bound of {bound} bytes"
    );
    assert_eq!(answered.load(Ordering::SeqCst), count);
}

#[test]
fn continue_for_a_streamed_body_goes_out_after_the_response_to_an_earlier_pipelined_request() {
    let mut router = Router::new();
    router.get("/first", |_: Request| "first answer").unwrap();
    router
        .post(
            "/upload",
            |mut body: BodyReader| -> std::io::Result<String> {
                let mut text = String::new();
                body.read_to_string(&mut text)?;
                Ok(format!("uploaded {text}"))
            },
        )
        .unwrap()
        .stream_body(0);
    let running = server_common::start(
        server_common::server().server(server_common::spec("http").router(router)),
    );
    let mut client = server_common::connect_to(&running, "http");
    client.send(
        "GET /first HTTP/1.1\r\nHost: t\r\n\r\n\
         POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    );
    let first = client.response();
    assert_eq!(
        (first.status, first.text()),
        (200, "first answer".to_string())
    );
    assert_eq!(client.response().status, 100);
    client.send("hello");
    assert_eq!(client.response().text(), "uploaded hello");
    server_common::stop(running);
}

#[test]
fn continue_for_a_buffered_body_goes_out_after_the_response_to_an_earlier_pipelined_request() {
    let engine = start_with(EngineConfig::default(), echo_body());
    let mut client = Client::connect(engine.local_addr());
    client.send(
        "GET /first HTTP/1.1\r\nHost: t\r\n\r\n\
         POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    );
    let first = client.response();
    assert_eq!((first.status, first.body.len()), (200, 0));
    assert_eq!(client.response().status, 100);
    client.send("hello");
    assert_eq!(client.response().text(), "hello");
}

#[test]
fn a_connection_pipelining_after_a_large_head_is_served() {
    let engine = start_with(EngineConfig::default(), answer("served"));
    let mut client = Client::connect(engine.local_addr());
    // A 60 KB head grows the read buffer; the requests behind it are read into the shrunk
    // buffer, while the connection never goes idle.
    let mut bytes = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(60_000)
    )
    .into_bytes();
    bytes.extend(pipelined_gets(200));
    client.send(bytes);
    for n in 0..=200 {
        assert_eq!(client.response().text(), "served", "response {n}");
    }
}

#[test]
fn max_buffered_output_is_read_from_the_settings() {
    let config = ServerConfig::from_toml(
        "[settings]\nmax_buffered_output = 4096\n\
         [[servers]]\nname = \"http\"\nhost = \"127.0.0.1\"\nport = 0\n",
    )
    .unwrap();
    assert_eq!(
        config.spec("http").unwrap().engine_config(),
        Some(&EngineConfig::default().max_buffered_output(4096))
    );
}
