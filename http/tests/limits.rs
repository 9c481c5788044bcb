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

/// The head of a request whose declared body (1 MiB) is far past `small_limits`' 1 KiB.
const HUGE_POST: &[u8] = b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 1048576\r\n\r\n";

/// Connects, sends `HUGE_POST` and reads its refusal up to the engine's close of its sending
/// side (the engine lingers on: it still reads).
fn refused_connection(engine: &hyperf_http::Engine) -> TcpStream {
    let mut stream = TcpStream::connect(engine.local_addr()).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream.write_all(HUGE_POST).unwrap();
    let (answer, reset) = read_until_closed(&mut stream);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413 "), "got {answer:?}");
    assert!(!reset, "the refusal ended in a reset");
    stream
}

/// Writes `chunk` again and again (pausing `pause` between writes) until the engine cuts the
/// connection; how many bytes it took. Fails if the engine has not cut it within `TIMEOUT`.
fn send_until_cut(stream: &mut TcpStream, chunk: &[u8], pause: Duration) -> usize {
    let started = Instant::now();
    let mut sent = 0;
    while started.elapsed() < TIMEOUT {
        match stream.write(chunk) {
            Ok(n) if n > 0 => sent += n,
            _ => return sent,
        }
        std::thread::sleep(pause);
    }
    panic!("still sending after {TIMEOUT:?} ({sent} bytes)");
}

#[test]
fn body_sent_in_full_past_max_body_bytes_gets_its_413_read_not_a_reset() {
    // A linger long and large enough to take the whole body: the engine reads it all.
    let config = small_limits()
        .linger_timeout(TIMEOUT)
        .linger_bytes(2 * 1024 * 1024);
    let engine = start_with(config, echo_body());
    let mut reader = TcpStream::connect(engine.local_addr()).unwrap();
    reader.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut writer = reader.try_clone().unwrap();
    writer.set_write_timeout(Some(TIMEOUT)).unwrap();
    // The client writes its whole body without waiting for an answer, then its end.
    let sender = std::thread::spawn(move || {
        writer.write_all(HUGE_POST)?;
        writer.write_all(&vec![b'x'; 1024 * 1024])?;
        writer.shutdown(std::net::Shutdown::Write)
    });
    let (answer, reset) = read_until_closed(&mut reader);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 413 "),
        "got {answer:?} (reset: {reset})"
    );
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n"),
        "got {answer:?}"
    );
    assert!(!reset, "the answer ended in a reset");
    // Every byte of the body was taken while the engine answered, and the close that followed
    // was orderly: no reset reached the client.
    sender
        .join()
        .unwrap()
        .expect("the whole body is sent, then the client's end");
    eventually(CLOSED_WITHIN, "the engine closes the connection", || {
        engine.connections() == 0
    });
    assert!(
        reader.take_error().unwrap().is_none(),
        "the connection was reset"
    );
}

#[test]
fn client_sending_forever_after_a_refusal_is_cut_off_at_the_linger_bytes() {
    // A linger far longer than the test: only its byte bound can end it.
    let config = small_limits()
        .linger_timeout(Duration::from_secs(600))
        .linger_bytes(16 * 1024);
    let engine = start_with(config, echo_body());
    let mut client = refused_connection(&engine);
    send_until_cut(&mut client, &[b'x'; 4096], Duration::ZERO);
    eventually(CLOSED_WITHIN, "the engine closes the connection", || {
        engine.connections() == 0
    });
}

#[test]
fn client_sending_forever_after_a_refusal_is_cut_off_at_the_linger_timeout() {
    // No byte bound to speak of: only the linger's time can end it.
    let linger = Duration::from_millis(300);
    let config = small_limits()
        .linger_timeout(linger)
        .linger_bytes(usize::MAX)
        .timer_tick(Duration::from_millis(20));
    let engine = start_with(config, echo_body());
    let started = Instant::now();
    let mut client = refused_connection(&engine);
    send_until_cut(&mut client, &[b'x'; 1024], Duration::from_millis(5));
    let lingered = started.elapsed();
    assert!(lingered >= linger, "cut off after {lingered:?}");
    eventually(CLOSED_WITHIN, "the engine closes the connection", || {
        engine.connections() == 0
    });
}
