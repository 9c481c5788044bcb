//! Size limits, timeouts and the connection limit, configured small so that the tests are fast.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Client, TIMEOUT, answer, echo_body, eventually, get, pause, start_with};
use hyperf_http::{Body, BoxError, EngineConfig, Limits, Request, Response, StatusCode};

/// Small limits: a 1 KiB head, 8 fields, a 256-byte target, a 1 KiB body.
fn small_limits() -> EngineConfig {
    EngineConfig::default().limits(
        Limits::default()
            .max_head_bytes(1024)
            .max_headers(8)
            .max_uri_bytes(256)
            .max_body_bytes(1024),
    )
}

/// Short timeouts, checked every 20 ms.
fn short_timeouts() -> EngineConfig {
    EngineConfig::default()
        .request_timeout(Duration::from_millis(300))
        .keep_alive_timeout(Duration::from_millis(300))
        .write_timeout(Duration::from_millis(300))
        .timer_tick(Duration::from_millis(20))
}

/// A generous bound for a timeout of a few hundred milliseconds to have fired.
const CLOSED_WITHIN: Duration = Duration::from_secs(5);

#[test]
fn head_larger_than_max_head_bytes_is_refused_with_431() {
    let engine = start_with(small_limits(), answer("served"));
    let mut client = Client::connect(engine.local_addr());
    let padding = "a".repeat(2000);
    client.send_lossy(format!(
        "GET / HTTP/1.1\r\nHost: test\r\nX-Padding: {padding}\r\n\r\n"
    ));
    let reply = client.response();
    reply.assert_status(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert!(reply.closes());
    client.assert_closed();
}

#[test]
fn unterminated_head_larger_than_max_head_bytes_is_refused_with_431() {
    let engine = start_with(small_limits(), answer("served"));
    let mut client = Client::connect(engine.local_addr());
    // The head never ends: the engine must not wait for its end to refuse it.
    client.send_lossy(format!(
        "GET / HTTP/1.1\r\nHost: test\r\nX-Padding: {}",
        "a".repeat(2000)
    ));
    client
        .response()
        .assert_status(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    client.assert_closed();
}

#[test]
fn more_header_fields_than_max_headers_is_refused_with_431() {
    let engine = start_with(small_limits(), answer("served"));
    let mut client = Client::connect(engine.local_addr());
    let fields: String = (0..9).map(|n| format!("X-Field-{n}: {n}\r\n")).collect();
    client.send(format!("GET / HTTP/1.1\r\nHost: test\r\n{fields}\r\n"));
    let reply = client.response();
    reply.assert_status(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    client.assert_closed();
}

#[test]
fn max_headers_fields_are_accepted() {
    let engine = start_with(small_limits(), answer("served"));
    let mut client = Client::connect(engine.local_addr());
    let fields: String = (0..7).map(|n| format!("X-Field-{n}: {n}\r\n")).collect();
    let reply = client.exchange(format!("GET / HTTP/1.1\r\nHost: test\r\n{fields}\r\n"));
    reply.assert_status(StatusCode::OK);
}

#[test]
fn target_longer_than_max_uri_bytes_is_refused_with_414() {
    let engine = start_with(small_limits(), answer("served"));
    let mut client = Client::connect(engine.local_addr());
    let path = format!("/{}", "p".repeat(300));
    client.send(get(&path));
    let reply = client.response();
    reply.assert_status(StatusCode::URI_TOO_LONG);
    assert!(reply.closes());
    client.assert_closed();
}

#[test]
fn content_length_above_max_body_bytes_is_refused_with_413_before_the_body_is_sent() {
    let engine = start_with(small_limits(), echo_body());
    let mut client = Client::connect(engine.local_addr());
    // Headers only: the refusal must not wait for the body.
    client.send("POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 2048\r\n\r\n");
    let reply = client.response();
    reply.assert_status(StatusCode::PAYLOAD_TOO_LARGE);
    assert!(reply.closes());
    client.assert_closed();
}

#[test]
fn content_length_above_max_body_bytes_is_refused_instead_of_continued() {
    let engine = start_with(small_limits(), echo_body());
    let mut client = Client::connect(engine.local_addr());
    client.send(
        "POST / HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 2048\r\n\r\n",
    );
    // The first response is the refusal, not `100 Continue`.
    client
        .response()
        .assert_status(StatusCode::PAYLOAD_TOO_LARGE);
    client.assert_closed();
}

#[test]
fn body_of_exactly_max_body_bytes_is_accepted() {
    let engine = start_with(small_limits(), echo_body());
    let mut client = Client::connect(engine.local_addr());
    let body = "b".repeat(1024);
    let reply = client.exchange(format!(
        "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 1024\r\n\r\n{body}"
    ));
    reply.assert_status(StatusCode::OK);
    assert_eq!(reply.text(), body);
}

#[test]
fn chunked_body_above_max_body_bytes_is_refused_with_413() {
    let engine = start_with(small_limits(), echo_body());
    let mut client = Client::connect(engine.local_addr());
    let chunk = "c".repeat(1000);
    client.send("POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n");
    client.send(format!("3e8\r\n{chunk}\r\n"));
    // 1000 + 100 bytes: past the limit at the second chunk's size line.
    client.send_lossy(format!("64\r\n{}\r\n0\r\n\r\n", &chunk[..100]));
    let reply = client.response();
    reply.assert_status(StatusCode::PAYLOAD_TOO_LARGE);
    assert!(reply.closes());
    client.assert_closed();
}

#[test]
fn stalled_partial_head_is_answered_408_then_closed() {
    let engine = start_with(short_timeouts(), answer("served"));
    let mut client = Client::connect(engine.local_addr());
    let started = Instant::now();
    client.send("GET / HTTP/1.1\r\nHost: te");
    let reply = client.response();
    reply.assert_status(StatusCode::REQUEST_TIMEOUT);
    assert!(reply.closes(), "a 408 must announce the close: {reply:?}");
    client.assert_closed();
    assert!(
        started.elapsed() < CLOSED_WITHIN,
        "closed after {:?}",
        started.elapsed()
    );
    assert_eq!(engine.requests(), 0);
}

#[test]
fn connection_that_sends_nothing_is_closed_after_the_request_timeout_with_no_bytes() {
    let engine = start_with(short_timeouts(), answer("served"));
    let mut client = Client::connect(engine.local_addr());
    let started = Instant::now();
    client.assert_closed();
    assert!(started.elapsed() < CLOSED_WITHIN);
}

#[test]
fn head_trickled_byte_by_byte_is_answered_408_after_the_request_timeout() {
    let engine = start_with(short_timeouts(), answer("served"));
    let mut dripper = TcpStream::connect(engine.local_addr()).unwrap();
    dripper.set_read_timeout(Some(TIMEOUT)).unwrap();
    // Every pause is shorter than the request timeout; the head as a whole takes longer.
    let started = Instant::now();
    dripper
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\nX-Slow: ")
        .unwrap();
    let mut closed = false;
    while started.elapsed() < CLOSED_WITHIN {
        if dripper.write_all(b"a").is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        closed,
        "a trickled head was still read after {CLOSED_WITHIN:?}"
    );
    // The 408 arrived before the engine stopped reading; the trickle that followed it may
    // have been met with a reset, which leaves what was received readable.
    let (answer, _) = read_until_closed(&mut dripper);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408 "), "got {answer:?}");
    // The engine still serves others.
    let mut client = Client::connect(engine.local_addr());
    assert_eq!(client.exchange(get("/")).text(), "served");
}

#[test]
fn stalled_body_is_answered_408_then_closed() {
    let engine = start_with(short_timeouts(), echo_body());
    let mut client = Client::connect(engine.local_addr());
    let started = Instant::now();
    client.send("POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\nhalf");
    let reply = client.response();
    reply.assert_status(StatusCode::REQUEST_TIMEOUT);
    assert!(reply.closes(), "a 408 must announce the close: {reply:?}");
    client.assert_closed();
    assert!(started.elapsed() < CLOSED_WITHIN);
    assert_eq!(engine.requests(), 0);
}

#[test]
fn stalled_chunked_body_is_answered_408_then_closed() {
    let engine = start_with(short_timeouts(), echo_body());
    let mut client = Client::connect(engine.local_addr());
    client.send("POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nha");
    let reply = client.response();
    reply.assert_status(StatusCode::REQUEST_TIMEOUT);
    assert!(reply.closes());
    client.assert_closed();
}

#[test]
fn idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout_with_no_bytes() {
    let engine = start_with(short_timeouts(), answer("served"));
    let mut client = Client::connect(engine.local_addr());
    let reply = client.exchange(get("/"));
    assert!(!reply.closes());
    let answered = Instant::now();
    client.assert_closed();
    let idle = answered.elapsed();
    assert!(idle < CLOSED_WITHIN, "closed after {idle:?}");
    eventually(CLOSED_WITHIN, "the engine forgets the connection", || {
        engine.connections() == 0
    });
}

#[test]
fn streamed_response_slower_than_the_write_timeout_is_not_cut() {
    let engine = start_with(
        short_timeouts(),
        |_: Request| -> Result<Response, BoxError> {
            Ok(Response::new(Body::stream(|out| {
                // Six pauses of half the write timeout: the whole stream outlasts it, but no
                // write ever stalls.
                for n in 0..6 {
                    pause(Duration::from_millis(150));
                    write!(out, "{n}")?;
                }
                Ok(())
            })))
        },
    );
    let mut client = Client::connect(engine.local_addr());
    let reply = client.exchange(get("/"));
    assert_eq!(reply.text(), "012345");
    assert_eq!(client.exchange(get("/")).text(), "012345");
}

#[test]
fn client_that_stops_reading_is_closed_after_the_write_timeout() {
    let engine = start_with(
        short_timeouts(),
        |_: Request| -> Result<Response, BoxError> {
            // Far more than the socket buffers on both sides hold.
            Ok(Response::new(vec![b'x'; 64 * 1024 * 1024].into()))
        },
    );
    let mut client = Client::connect(engine.local_addr());
    client.send(get("/"));
    eventually(CLOSED_WITHIN, "the engine gives up on the client", || {
        engine.requests() == 1 && engine.connections() == 0
    });
}

#[test]
fn connections_past_max_connections_wait_until_one_closes() {
    let engine = start_with(EngineConfig::default().max_connections(2), answer("served"));
    let mut first = Client::connect(engine.local_addr());
    let mut second = Client::connect(engine.local_addr());
    assert_eq!(first.exchange(get("/")).text(), "served");
    assert_eq!(second.exchange(get("/")).text(), "served");
    assert_eq!(engine.connections(), 2);

    let mut third = Client::connect(engine.local_addr());
    third.send(get("/third"));
    // A behaviour defined by something not happening: the third waits while both are open.
    third.assert_silent_for(Duration::from_millis(300));
    assert_eq!(engine.connections(), 2);

    drop(first);
    let reply = third.response();
    reply.assert_status(StatusCode::OK);
    assert_eq!(second.exchange(get("/")).text(), "served");
}

/// Reads what the server sends until it closes, a reset counting as the close; whether it
/// ended in a reset.
fn read_until_closed(stream: &mut TcpStream) -> (Vec<u8>, bool) {
    let mut seen = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return (seen, false),
            Ok(n) => seen.extend_from_slice(&chunk[..n]),
            Err(error) if error.kind() == ErrorKind::ConnectionReset => return (seen, true),
            Err(error) => panic!("reading from the server failed: {error}"),
        }
    }
}
